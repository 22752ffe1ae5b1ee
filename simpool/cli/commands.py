"""The commands: one ``_cmd_<name>(args) -> exit code`` each, and what they share.

Each command checks its flags, loads its scenarios (every problem at once), takes its output
folder (:class:`~simpool.outputs.outdir.OutputFolder`: checked and locked before anything is
simulated), simulates and writes its files as one set. Heavy modules are imported inside the
commands, so ``simpool --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .console import _print_problems, _progress_bar, _warn

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _load(file: str, overrides: list[str], paths: int | None = None):
    """Load a scenario and print its warnings; ``paths``: the path count the command will
    run (``--paths``), which the few-paths warning is about instead of the file's."""
    from ..scenario.checks import paths_warnings, scenario_warnings
    from ..scenario.load import load_scenario

    sc = load_scenario(file, overrides)
    _print_problems(paths_warnings(scenario_warnings(sc), paths))
    return sc


def _cmd_validate(args) -> int:
    from ..errors import ScenarioError

    bad = 0
    for f in args.files:
        try:
            sc = _load(f, args.overrides)
        except ScenarioError as e:
            _print_problems(e.problems + e.warnings)
            bad += 1
            continue
        n_tape = len(sc.tape) if sc.tape is not None else 0
        n = sum(c.loans for c in sc.cohorts) + n_tape
        funds = f", {len(sc.funds)} fund{'s' if len(sc.funds) != 1 else ''}" if sc.funds else ""
        print(f"{f}: ok ({len(sc.cohorts)} cohorts, {n_tape:,} tape loans, {n:,} loans in all"
              f"{funds}, years {sc.years[0]}-{sc.years[-1]})")
    return EXIT_BAD_INPUT if bad else EXIT_OK


def _cmd_compile(args) -> int:
    from ..engine._jit import cache_dir
    from ..analysis.simulation import precompile

    print("compiling the kernels (or loading them from the cache) ...", file=sys.stderr)
    done = precompile(log=lambda line: print(f"  {line}", file=sys.stderr))
    where = cache_dir() or "nowhere (no writable cache directory: compiled in memory only)"
    print(f"{len(done)} kernel variants ready in {sum(t for _, t in done):.1f} s; cache: {where}")
    return EXIT_OK


def _cmd_show(args) -> int:
    from ..scenario.load import resolved_toml

    sc = _load(args.file, args.overrides)
    sys.stdout.write(resolved_toml(sc))
    return EXIT_OK


def _formats(text: str) -> tuple[str, ...] | None:
    from ..outputs.batch import FORMATS

    items = tuple(x.strip().lower() for x in text.split(",") if x.strip())
    bad = [x for x in items if x not in FORMATS]
    if bad or not items:
        print(f"--format: unknown {', '.join(bad) or 'empty list'}; choose from "
              f"{', '.join(FORMATS)} (comma-separated)", file=sys.stderr)
        return None
    return items


def _check_counts(args) -> bool:
    """Check the numeric and executor flags a command shares (message and False if bad);
    sets ``args.max_memory_bytes``."""
    for name in ("paths", "threads", "chunk_size", "dask_workers", "targets_paths"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            print(f"--{name.replace('_', '-')}: must be >= 1, got {v}", file=sys.stderr)
            return False
    if getattr(args, "seed", None) is not None and not 0 <= args.seed < 2**63:
        print(f"--seed: must be in [0, 2**63), got {args.seed}", file=sys.stderr)
        return False
    dask = getattr(args, "dask", None)
    if getattr(args, "dask_workers", None) is not None and dask != "local":
        print("--dask-workers: only with --dask local (a scheduler's workers are its own)",
              file=sys.stderr)
        return False
    if dask is not None:
        from ..engine.cluster import check_address

        why = check_address(dask)
        if why:
            print(f"--dask: {why}", file=sys.stderr)
            return False
    args.max_memory_bytes = None
    if getattr(args, "max_memory", None) is not None:
        from ..engine.memory import parse_size

        try:
            args.max_memory_bytes = parse_size(args.max_memory)
        except ValueError as e:
            print(f"--max-memory: {e}", file=sys.stderr)
            return False
    return True


def _cmd_sweep(args) -> int:
    from ..outputs.batch import run_batch
    from ..errors import UsageError
    from ..outputs.outdir import OutputFolder
    from ..scenario.checks import paths_warnings, scenario_warnings
    from ..scenario.sweep import expand

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    formats = _formats(args.format)
    if formats is None:
        return EXIT_BAD_INPUT
    variants = expand(args.files, args.sweeps, args.overrides)
    for flag, key in (("--paths", "simulation.paths"), ("--seed", "simulation.seed")):
        swept = any(key in v.params for v in variants)
        if swept and getattr(args, flag[2:]) is not None:
            raise UsageError(f"{flag} sets every variant's {key}, which the sweep varies; drop "
                             f"{flag} or the {key} axis")
    seen = set()
    for v in variants:  # each warning once, not once per variant
        for w in paths_warnings(scenario_warnings(v.scenario), args.paths):
            if str(w) not in seen:
                seen.add(str(w))
                print(str(w), file=sys.stderr)
    name = Path(args.files[0]).stem + ("-sweep" if len(args.files) == 1 else "-batch")
    out = Path(args.out) if args.out else Path("simpool-out") / name
    from ..engine.cluster import open_executor

    show = not args.quiet and sys.stderr.isatty()

    def report(i: int, label: str, skipped: bool) -> None:
        if not args.quiet and not show:
            print(f"[{i + 1}/{len(variants)}] {label}{' (done before, skipped)' if skipped else ''}",
                  file=sys.stderr)

    def note(msg: str) -> None:
        print(f"simpool: {msg}", file=sys.stderr)

    with OutputFolder(out, "sweep") as folder, \
            open_executor(args.threads, args.dask, args.dask_workers) as executor:
        table = run_batch(variants, out, paths=args.paths, seed=args.seed, fresh=args.fresh,
                          formats=formats, executor=executor, progress=show, on_variant=report,
                          folder=folder, log=note, max_memory=args.max_memory_bytes)
    if not args.quiet:
        print(_sweep_headline(table))
        print(f"{len(variants)} variants, {len(table):,} rows: "
              f"{', '.join(str(out / f'summary.{f}') for f in formats)}")
    return EXIT_OK


#: The figures a sweep prints per variant: (measure, statistic, basis)
SWEEP_HEADLINE = (("net", "EL", "cash"), ("gross", "EL", "ultimate"), ("fiscal", "NPV", "cash"),
                  ("public_money", "NPV", "cash"))


def _sweep_headline(table) -> str:
    """One line per variant: its whole-horizon net and gross EL and fiscal and public-money
    NPV, money in 万/亿 (every figure: summary.csv)."""
    from ..analysis.labels import label, language
    from ..outputs.files import _columns, _ljust, _rjust
    from ..scenario.units import format_yuan

    lang = language()
    whole = table[table.year.isna()]
    if "product" in whole:
        whole = whole[whole["product"].fillna("") == ""]
    heads = [label(m, st, basis=b, lang=lang).replace(": ", " ").replace("：", "")
             for m, st, b in SWEEP_HEADLINE]
    width = max(24, *(_columns(h) + 2 for h in heads))
    lines = ["  " + _ljust("情景" if lang == "zh" else "variant", 40)
             + "".join(_rjust(h, width) for h in heads)]
    key = "variant" if "variant" in whole else "scenario"
    for name, part in whole.groupby(key, sort=False):
        cells = []
        for m, st, b in SWEEP_HEADLINE:
            r = part[(part.measure == m) & (part.statistic == st)]
            if "basis" in r and len(r) > 1:
                r = r[r["basis"] == b]
            cells.append(f"{format_yuan(r.value.iloc[0])} ± {format_yuan(r.se.iloc[0])}"
                         if len(r) else "")
        lines.append("  " + f"{str(name)[:40]:<40}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)


def format_comparison(rows, scenario) -> str:
    """The headline rows of a comparison (:func:`simpool.analysis.headline.headline`) as a
    text table: the period, the figure's label (Chinese under --lang zh), base, what-if,
    difference and its standard error under common random numbers, each in the figure's own
    format (万/亿, %, counts)."""
    from ..analysis.headline import format_value
    from ..analysis.labels import label, language
    from ..outputs.files import _ljust, _rjust

    lang = language(None, scenario)
    zh = lang == "zh"
    heads = (("期间", "情景", "指标：统计量", "基准", "情景值", "差值", "± 差值标准误") if zh else
             ("period", "what-if", "figure", "base", "what-if", "difference", "± se"))
    widths = (10, 24, 64, 14, 14, 14, 12)
    lines = ["  " + " ".join(_ljust(h, w) if i < 3 else _rjust(h, w)
                             for i, (h, w) in enumerate(zip(heads, widths)))]
    lines.append("  " + "-" * (sum(widths) + len(widths) - 1))
    for _, r in rows.iterrows():
        whole = str(r.year) in ("<NA>", "nan", "None")
        period = ("全部年份" if zh else "all years") if whole else str(r.year)
        product = r["product"] if isinstance(r["product"], str) else ""
        basis = r["basis"] if isinstance(r["basis"], str) else ""
        text = label(r.measure, r.statistic, r.param, product, basis, lang)
        cells = [format_value(v, r.statistic, r.measure) for v in
                 (r.base, r.whatif, r["diff"], r.se_diff)]
        lines.append("  " + " ".join([_ljust(period, 10), _ljust(str(r.scenario)[:24], 24),
                                      _ljust(text, 64)]
                                     + [f"{c:>{w}}" for c, w in zip(cells, widths[3:])]))
    return "\n".join(lines)


def _cmd_compare(args) -> int:
    import io
    import json

    from ..analysis.compare import compare
    from ..analysis.headline import headline
    from ..outputs.batch import table_files
    from ..outputs.outdir import OutputFolder
    from ..outputs.plots import save_compare_chart
    from ..scenario.load import resolved_toml

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    formats = _formats(args.format)
    if formats is None:
        return EXIT_BAD_INPUT
    base = _load(args.base, args.overrides, args.paths)
    whatifs = [_load(f, args.overrides, args.paths) for f in args.whatifs]
    _warn_mismatched_years(base, whatifs)
    out = Path(args.out) if args.out else Path("simpool-out") / f"{base.name}-compare"
    from ..engine.cluster import open_executor

    with OutputFolder(out, "compare") as folder:
        with open_executor(args.threads, args.dask, args.dask_workers) as executor:
            table = compare(base, whatifs, paths=args.paths, seed=args.seed, executor=executor,
                            max_memory=args.max_memory_bytes)
        files = table_files({"compare": table}, formats)
        for sc in [base] + whatifs:
            files[f"{sc.name}.resolved.toml"] = resolved_toml(sc).encode("utf-8")
        if not args.no_plot:
            buf = io.BytesIO()
            save_compare_chart(table, buf)
            files["compare.png"] = buf.getvalue()
        meta = {"base": args.base, "whatifs": args.whatifs, "overrides": args.overrides,
                "paths": args.paths or base.simulation.paths,
                "seed": base.simulation.seed if args.seed is None else args.seed,
                "command_line": sys.argv}
        files["provenance.json"] = (json.dumps(meta, indent=2, ensure_ascii=False)
                                    + "\n").encode("utf-8")
        written = folder.replace_set(files, marker="provenance.json")
    files = [p for p in written if p.name != "provenance.json"]
    if not args.quiet:
        print(f"{base.label} vs {', '.join(w.label for w in whatifs)}: "
              f"{meta['paths']:,} paths, seed {meta['seed']}, common random numbers")
        print(format_comparison(headline(table), base))
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_report(args) -> int:
    from ..engine.cluster import open_executor
    from ..analysis.simulation import simulate
    from ..outputs.files import atomic_write_bytes
    from ..outputs.report import build_html, write_pdf

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    sc = _load(args.file, args.overrides, args.paths)
    whatifs = [_load(f, args.overrides, args.paths) for f in args.compare]
    _warn_mismatched_years(sc, whatifs)
    out = Path(args.out) if args.out else Path("simpool-out") / f"{sc.name}-report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        print(f"--out: names the HTML file, e.g. report.html, got {out}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from ..outputs.outdir import check_writable_file

    check_writable_file(out)
    paths = args.paths or sc.simulation.paths

    def step(text):  # one line a step where no bar shows (a log, a pipe)
        if not args.quiet:
            print(f"report: {text}", file=sys.stderr, flush=True)
    with open_executor(args.threads, args.dask, args.dask_workers) as executor:
        # the plots draw pools' balances and guarantors' leverage path by path
        step(f"simulating {sc.label}, {paths:,} paths ...")
        res = simulate(sc, paths=paths, seed=args.seed, executor=executor, keep="all",
                       max_memory=args.max_memory_bytes, warn=_warn)
        comparison = None
        if whatifs:
            from ..analysis.compare import compare

            step(f"comparing {len(whatifs)} what-if(s) on common random numbers ...")
            comparison = compare(sc, whatifs, paths=paths, seed=res.seed, executor=executor,
                                 max_memory=args.max_memory_bytes)
        found = None
        if args.targets:
            from ..analysis.targets import targets

            step("the plan's targets: searching the levers ...")
            found = targets(args.file, args.overrides, paths=args.targets_paths,
                            seed=res.seed, executor=executor, max_memory=args.max_memory_bytes)
    step("writing the page (tables and plots) ...")
    page = build_html(res, res.summary_rows(), comparison=comparison, argv=sys.argv,
                      targets=found)
    atomic_write_bytes(out, page.encode("utf-8"))
    files = [out]
    if args.pdf:
        pdf = out.with_suffix(".pdf")
        tmp = out.with_name(f".{pdf.name}.tmp.pdf")
        write_pdf(res, tmp, comparison)
        tmp.replace(pdf)
        files.append(pdf)
    if not args.quiet:
        print(f"wrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _input_files(file: str, overrides: list[str], **extra) -> dict[str, bytes]:
    """The resolved base scenario and a provenance record to go beside a command's results."""
    import json

    from .._version import __version__
    from ..scenario.load import load_scenario, resolved_toml

    sc = load_scenario(file, overrides)
    prov = {"simpool": __version__, "scenario_file": file, "overrides": overrides,
            "command_line": sys.argv, **extra}
    return {"scenario.resolved.toml": resolved_toml(sc).encode("utf-8"),
            "provenance.json": (json.dumps(prov, indent=2, ensure_ascii=False, default=str)
                                + "\n").encode()}


def _warn_mismatched_years(base, others) -> None:
    """What-ifs on other years than the base: their rows by year do not line up."""
    for sc in others:
        a, b = base.simulation, sc.simulation
        if (a.start_year, a.horizon_years) != (b.start_year, b.horizon_years):
            print(f"simpool: warning: {sc.source} simulates {b.start_year}-"
                  f"{b.start_year + b.horizon_years - 1}, the base {base.source} {a.start_year}-"
                  f"{a.start_year + a.horizon_years - 1}: figures of years only one of them has "
                  "are compared with nothing, and whole-horizon figures cover different years",
                  file=sys.stderr)


def _cmd_solve(args) -> int:
    from ..outputs.outdir import OutputFolder
    from ..analysis.solve import Figure, solve
    from ..scenario.units import parse_money

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    try:
        low, high = (parse_money(x.strip()) for x in args.bracket.split(","))
    except (ValueError, TypeError):
        print(f"--bracket: expected LOW,HIGH (numbers or amounts like 5亿), got {args.bracket!r}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        target = float(args.target)
    except ValueError:
        print(f"--target: expected a number, got {args.target!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    fig = Figure(args.measure, args.statistic, args.year, args.param, args.product, args.basis)

    def log(x, v, se):
        if not args.quiet:
            print(f"  {args.lever} = {x:.6g}: {v:.6g} ± {se:.3g}", file=sys.stderr)

    from ..engine.cluster import open_executor

    out = Path(args.out) if args.out else Path("simpool-out") / f"{Path(args.file).stem}-solve"
    with OutputFolder(out, "solve") as folder:
        with open_executor(args.threads, args.dask, args.dask_workers) as executor:
            sol = solve(args.file, args.lever, low, high, fig, target, overrides=args.overrides,
                        paths=args.paths, seed=args.seed, z=args.z, log=log, executor=executor,
                        max_memory=args.max_memory_bytes)
        _write_solve(folder, sol, fig, args)
    print(str(sol))
    return EXIT_OK


def _write_solve(folder, sol, fig, args) -> None:
    import json

    record = {"lever": sol.lever, "value": sol.value, "low": sol.low, "high": sol.high,
              "z": sol.z, "figure": {"measure": fig.measure, "statistic": fig.statistic,
                                     "year": fig.year, "param": fig.param,
                                     "product": fig.product, "basis": fig.basis},
              "target": sol.target, "achieved": sol.achieved, "se": sol.se,
              "evaluations": [{"lever": x, "value": v, "se": s} for x, v, s in sol.evaluations],
              "scenario": args.file, "overrides": args.overrides, "command_line": sys.argv}
    # the resolved scenario holds the solved value (re-running it reproduces the answer)
    files = _input_files(args.file, list(args.overrides or []) + [f"{sol.lever}={sol.value!r}"],
                         solved={sol.lever: sol.value})
    files["solve.json"] = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    folder.replace_set(files, marker="solve.json")


def _cmd_targets(args) -> int:
    import io

    from ..analysis.targets import GRID, fmt_lever, format_targets, tables, targets
    from ..engine.cluster import open_executor
    from ..outputs.outdir import OutputFolder

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    only = [k.strip() for k in args.levers.split(",") if k.strip()] if args.levers else None
    _load(args.file, args.overrides, args.paths)

    def log(lever, x, ev):
        if args.quiet:
            return
        what = "base" if lever is None else f"{lever.label} = {fmt_lever(lever, x)}"
        ps = ", ".join(f"{k} {p:.1%}" for k, (p, _) in ev.reached.items())
        print(f"  {what}: P(reached) {ps}", file=sys.stderr)

    out = Path(args.out) if args.out else Path("simpool-out") / f"{Path(args.file).stem}-targets"
    with OutputFolder(out, "targets") as folder:
        with open_executor(args.threads, args.dask, args.dask_workers) as executor:
            res = targets(args.file, args.overrides, paths=args.paths or 3000, seed=args.seed,
                          executor=executor, max_memory=args.max_memory_bytes, log=log,
                          only=only)
        text = format_targets(res)
        t, lv = tables(res)
        files = _input_files(args.file, list(args.overrides or []), paths=res.paths,
                             seed=res.seed, grid=GRID)
        for name, df in (("targets.csv", t), ("targets_levers.csv", lv)):
            buf = io.StringIO()
            df.to_csv(buf, index=False)
            files[name] = buf.getvalue().encode("utf-8")
        files["targets.txt"] = (text + "\n").encode("utf-8")
        folder.replace_set(files, marker="targets.csv")
    print(text)
    print(f"\nwrote {out / 'targets.csv'}, {out / 'targets_levers.csv'}, {out / 'targets.txt'}")
    return EXIT_OK


def _cmd_sensitivity(args) -> int:
    import io

    from ..outputs.batch import table_files
    from ..outputs.outdir import OutputFolder
    from ..analysis.sensitivity import sobol, tornado, tornado_table
    from ..outputs.plots import save_tornado_chart
    from ..analysis.solve import Figure

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    fig = Figure(args.measure, args.statistic, args.year, args.param, args.product, args.basis)
    only = [k.strip() for k in args.levers.split(",") if k.strip()] if args.levers else None
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="lever", desc="tornado", leave=False)

    def progress(i, n, key):
        if bar is not None:
            bar.total = n
            bar.update(i - bar.n)
        elif not args.quiet:  # not a terminal (a log, a pipe): one line a step
            print(f"sensitivity: {i}/{n} runs done{f' ({key})' if key else ''}",
                  file=sys.stderr, flush=True)

    from ..engine.cluster import open_executor

    if args.sobol == 1 or args.sobol < 0:
        print("--sobol: needs K >= 2 levers", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = Path(args.out) if args.out else Path("simpool-out") / f"{Path(args.file).stem}-sensitivity"
    with OutputFolder(out, "sensitivity") as folder, \
            open_executor(args.threads, args.dask, args.dask_workers) as executor:
        try:
            f0, se0, swings = tornado(args.file, fig, delta=args.delta, only=only,
                                      overrides=args.overrides, paths=args.paths, seed=args.seed,
                                      progress=progress, executor=executor,
                                      max_memory=args.max_memory_bytes)
        finally:
            if bar is not None:
                bar.close()
        table = tornado_table(f0, se0, swings)
        tables = {"tornado": table}
        if args.sobol:
            top = [s.lever for s in swings if s.swing > 0][: args.sobol]
            st, runs = sobol(args.file, fig, top, delta=args.delta, samples=args.sobol_samples,
                             overrides=args.overrides, paths=args.paths, seed=args.seed,
                             executor=executor, max_memory=args.max_memory_bytes)
            tables["sobol"] = st
        files = table_files(tables, ("csv",))
        buf = io.BytesIO()
        save_tornado_chart(table, fig, buf)
        files["tornado.png"] = buf.getvalue()
        files.update(_input_files(args.file, args.overrides, delta=args.delta, figure=str(fig),
                                  paths=args.paths, seed=args.seed))
        written = folder.replace_set(files, marker="provenance.json")
    files = [p for p in written if p.suffix in (".csv", ".png")]
    if not args.quiet:
        from ..analysis.headline import format_value

        def fv(v):
            return format_value(v, fig.statistic, fig.measure)
        print(f"{fig}: base {fv(f0)} ± {fv(se0)}; levers moved by ±{args.delta:g}")
        for _, r in table.head(15).iterrows():
            print(f"  {r.lever:<50} {fv(r.figure_low):>14} {fv(r.figure_high):>14}  "
                  f"swing {fv(r.swing)}")
        if "sobol" in tables:
            print("Sobol indices (first order, total, 95% confidence):")
            for _, r in tables["sobol"].iterrows():
                print(f"  {r.lever:<50} S1 {r.S1:.3f} ± {r.S1_conf:.3f}   ST {r.ST:.3f} ± {r.ST_conf:.3f}")
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_run(args) -> int:
    import time

    from ..analysis.simulation import simulate
    from ..outputs.outdir import OutputFolder
    from ..outputs.files import format_summary, write_run

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    if args.max_paths < 1:
        print(f"--max-paths: must be >= 1, got {args.max_paths}", file=sys.stderr)
        return EXIT_BAD_INPUT
    formats = _formats(args.format)
    if formats is None:
        return EXIT_BAD_INPUT
    overrides = list(args.overrides)
    if args.importance_sampling:
        overrides.append(f"importance_sampling.method={args.importance_sampling}")
    if args.is_target:
        overrides.append(f"importance_sampling.target={args.is_target}")
    sc = _load(args.file, overrides, args.paths)
    paths = args.paths or sc.simulation.paths
    out = Path(args.out) if args.out else Path("simpool-out") / sc.name
    from ..engine.cluster import open_executor

    targets = []
    for text in args.target_se:
        from ..errors import UsageError
        from ..analysis.solve import parse_figure

        fig_text, eq, value = text.rpartition("=")
        try:
            targets.append((parse_figure(fig_text), float(value)))
        except ValueError:
            raise UsageError(f"--target-se: expected FIGURE=SE, e.g. net/EL=2e7, got {text!r}") from None
        if not eq or not targets[-1][1] > 0:
            raise UsageError(f"--target-se: the standard error must be > 0, got {text!r}")
    t0 = time.time()
    with OutputFolder(out, "run") as folder, \
            open_executor(args.threads, args.dask, args.dask_workers) as executor:
        if targets:
            from ..analysis.simulation import simulate_until

            def log(msg):
                if not args.quiet:
                    print(msg, file=sys.stderr)

            res = simulate_until(sc, targets, paths=paths, max_paths=args.max_paths,
                                 seed=args.seed, executor=executor, chunk_size=args.chunk_size,
                                 log=log, keep="summary", max_memory=args.max_memory_bytes,
                                 warn=_warn)
            if not res.target_se_met:
                print(f"simpool: warning: --max-paths {args.max_paths:,} reached before every "
                      "--target-se was met", file=sys.stderr)
        else:
            update, close = _progress_bar(paths, args.quiet, compile_hint=not args.dask)
            try:
                res = simulate(sc, paths=paths, seed=args.seed, executor=executor,
                               chunk_size=args.chunk_size, progress=update, keep="summary",
                               max_memory=args.max_memory_bytes, warn=_warn)
            finally:
                close()
        rows = res.summary_rows()  # no pandas unless another format needs it
        extra = tuple(f for f in formats if f != "csv")
        tables = {}
        if extra:
            from ..outputs.batch import table_files

            tables = table_files({"summary": res.summary()}, extra)
        files = write_run(out, res, rows, argv=sys.argv, wall_s=time.time() - t0, tables=tables,
                          folder=folder)
    if not args.quiet:
        print(format_summary(res, rows))
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_calibrate(args) -> int:
    from ..analysis.calibrate import calibrate
    from ..outputs.calibration import format_table, to_csv, to_json, to_toml
    from ..outputs.files import atomic_write_bytes
    from ..scenario.history import read_history

    history = read_history(args.file)
    for w in getattr(history, "warnings", []):
        print(f"simpool: warning: {w}", file=sys.stderr)
    fits, how = calibrate(history, intervals=not args.no_intervals)
    if args.format == "json":
        print(to_json(fits))
    elif args.format == "csv":
        sys.stdout.write(to_csv(fits))
    else:
        print(format_table(fits, how, args.file))
    if args.out:
        atomic_write_bytes(Path(args.out), to_csv(fits).encode("utf-8-sig"))
    if args.toml:
        text = to_toml(fits, how, args.file)
        if args.toml == "-":
            if args.format == "json":
                print("--toml -: standard output holds the JSON; give --toml a file",
                      file=sys.stderr)
                return EXIT_BAD_INPUT
            sys.stdout.write(text)
        else:
            atomic_write_bytes(Path(args.toml), text.encode("utf-8"))
    return EXIT_OK


#: The handler of each command.
HANDLERS = {"targets": _cmd_targets, "run": _cmd_run, "report": _cmd_report, "sweep": _cmd_sweep,
            "compare": _cmd_compare, "solve": _cmd_solve, "sensitivity": _cmd_sensitivity,
            "validate": _cmd_validate, "show": _cmd_show, "compile": _cmd_compile,
            "calibrate": _cmd_calibrate}
