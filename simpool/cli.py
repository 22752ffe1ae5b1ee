"""Command line: ``simpool run | report | sweep | compare | solve | sensitivity | validate | show | compile``.

Exit codes: 0 success, 1 runtime or I/O error (with a clear message), 2 bad input (every
problem printed as ``file:line: dotted.path: message``), 130 interrupted.

Heavy modules (numpy, numba, pandas, scipy) are imported only by the commands that need
them, so ``simpool --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="simpool",
        description="Monte Carlo simulator for credit-guarantee and risk-compensation pools.",
        epilog="Exit codes: 0 ok, 1 runtime/I-O error, 2 bad input, 130 interrupted.",
    )
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add_set(sp):
        sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a scenario key, e.g. cohorts.ip_pledge.pd=0.03 or model.copula=t "
                             "(value parsed as TOML, else a string); repeatable")
        sp.add_argument("--stress", action="append", default=[], metavar="YEAR=QUANTILE",
                        help="fix every systematic factor of YEAR at its QUANTILE, e.g. 2026=0.01 "
                             "(a 1-in-100 bad year); repeatable; replaces the file's [[stress]]")

    def add_exec(sp, threads=True):
        if threads:
            sp.add_argument("--threads", type=int, help="worker threads (default: all cores)")
        sp.add_argument("--dask", metavar="ADDRESS",
                        help="run the path chunks on Dask: 'local' starts a LocalCluster, "
                             "tcp://host:port joins a scheduler (needs simpool[dask])")
        sp.add_argument("--dask-workers", type=int, help="worker processes of --dask local")
        sp.add_argument("--max-memory", metavar="SIZE",
                        help="most memory the run may use, e.g. 8G or 512M (default: what is "
                             "available); a run estimated above it stops at once (exit 2)")

    run = sub.add_parser("run", help="simulate a scenario and write its summary",
                         description="Simulate a scenario file; write summary.csv, the resolved "
                                     "scenario and a provenance file to --out, and print the summary.")
    run.add_argument("file", help="scenario file (TOML)")
    run.add_argument("--paths", type=int, help="Monte Carlo paths (default: simulation.paths)")
    run.add_argument("--seed", type=int, help="seed (default: simulation.seed)")
    run.add_argument("--out", help="output folder (default: simpool-out/<scenario name>)")
    add_exec(run)
    run.add_argument("--chunk-size", type=int, help="paths per chunk (never changes results)")
    run.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    run.add_argument("--importance-sampling", choices=["none", "shift", "shift_twist"],
                     help="importance sampling for tail figures (same as "
                          "--set importance_sampling.method=...)")
    run.add_argument("--is-target", metavar="YUAN",
                     help='loss level the importance sampler aims at, e.g. 5e8 or "5亿"')
    run.add_argument("--target-se", action="append", default=[], metavar="FIGURE=SE",
                     help="run paths in batches until this figure's standard error is at most "
                          "SE, e.g. net/EL=2e7 or 'pool:provincial_sme/P(depleted by year)@2029"
                          "=0.002' (--paths is the first batch); repeatable")
    run.add_argument("--max-paths", type=int, default=10_000_000,
                     help="most paths in all with --target-se (default 10,000,000)")
    run.add_argument("--format", default="csv", metavar="LIST",
                     help="tables to write: csv (default), parquet, xlsx; comma-separated")
    add_set(run)

    rep = sub.add_parser(
        "report", help="one self-contained HTML report (plots embedded), optionally with what-ifs",
        description="Simulate a scenario (and --compare what-ifs on common random numbers) and "
                    "write one HTML file: headline figures with standard errors, plots, the "
                    "assumptions marked as such, the resolved scenario.")
    rep.add_argument("file", help="scenario file (TOML)")
    rep.add_argument("--compare", nargs="+", default=[], metavar="WHATIF",
                     help="what-if scenario files compared with the base")
    rep.add_argument("--out", help="the HTML file (default: simpool-out/<name>-report.html)")
    rep.add_argument("--pdf", action="store_true", help="also write the plots as a PDF beside it")
    rep.add_argument("--paths", type=int, help="Monte Carlo paths (default: simulation.paths)")
    rep.add_argument("--seed", type=int, help="seed (default: simulation.seed)")
    rep.add_argument("--quiet", action="store_true", help="print nothing but errors")
    add_exec(rep)
    add_set(rep)

    sw = sub.add_parser(
        "sweep", help="run a grid of what-if variants (or several files) into one table",
        description="Expand the scenario's [sweep] table and --sweep flags into a cross product "
                    "of variants (every variant validated first), run them on the same seed "
                    "and paths, and write one tidy table with a variant column. Each finished "
                    "variant is written at once: rerun the same command to resume.")
    sw.add_argument("files", nargs="+", help="scenario files (TOML); each with its own [sweep]")
    sw.add_argument("--sweep", dest="sweeps", action="append", default=[], metavar="KEY=V1,V2",
                    help="add an axis, e.g. pools.provincial_sme.cash=5亿,10亿; repeatable "
                         "(the axes form a cross product)")
    sw.add_argument("--paths", type=int, help="paths per variant (default: the scenario's)")
    sw.add_argument("--seed", type=int, help="seed of every variant (default: the scenario's)")
    sw.add_argument("--out", help="output folder (default: simpool-out/<name>-sweep)")
    sw.add_argument("--fresh", action="store_true",
                    help="start afresh in an output folder made by a different batch")
    sw.add_argument("--format", default="csv", metavar="LIST",
                    help="tables to write: csv (default), parquet, xlsx; comma-separated")
    add_exec(sw)
    sw.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    add_set(sw)

    cmp_ = sub.add_parser(
        "compare", help="what-ifs against a base on common random numbers",
        description="Run a base scenario and what-ifs on the same seed and paths (common random "
                    "numbers) and report each figure's difference with the standard error of "
                    "the difference (batch means), in compare.csv and a plot.")
    cmp_.add_argument("base", help="base scenario (TOML)")
    cmp_.add_argument("whatifs", nargs="+", help="what-if scenarios (TOML)")
    cmp_.add_argument("--paths", type=int, help="paths (default: the base's)")
    cmp_.add_argument("--seed", type=int, help="seed (default: the base's)")
    cmp_.add_argument("--out", help="output folder (default: simpool-out/<base>-compare)")
    cmp_.add_argument("--format", default="csv", metavar="LIST",
                      help="tables to write: csv (default), parquet, xlsx; comma-separated")
    cmp_.add_argument("--no-plot", action="store_true", help="do not draw compare.png")
    add_exec(cmp_)
    cmp_.add_argument("--quiet", action="store_true", help="print no table")
    add_set(cmp_)

    sol = sub.add_parser(
        "solve", help="find the lever value at which a figure meets a target",
        description="Goal-seek one lever (a dotted key, as for --set) so that one summary figure "
                    "equals a target, on common random numbers with a bracketing root finder; "
                    "reports the answer and the range of lever values within --z standard "
                    "errors of the target. Example: the smallest pool with P(depleted by 2029) "
                    "<= 5%%: --lever pools.provincial_sme.cash --bracket 1亿,100亿 --measure "
                    "pool:provincial_sme --statistic 'P(depleted by year)' --year 2029 --target 0.05")
    sol.add_argument("file", help="scenario file (TOML)")
    sol.add_argument("--lever", required=True, metavar="KEY", help="dotted key of the lever")
    sol.add_argument("--bracket", required=True, metavar="LOW,HIGH",
                     help='lever values that bracket the answer, e.g. 1e8,1e10 or "1亿,100亿"')
    sol.add_argument("--measure", required=True, help="summary measure, e.g. pool:provincial_sme")
    sol.add_argument("--statistic", required=True, help="summary statistic, e.g. 'P(depleted by year)'")
    sol.add_argument("--year", type=int, help="calendar year of the figure (default: whole horizon)")
    sol.add_argument("--param", type=float, help="the row's param (level or threshold) if needed")
    sol.add_argument("--target", required=True, help="target value of the figure")
    sol.add_argument("--z", type=float, default=1.96, help="width of the answer's range in SE")
    sol.add_argument("--paths", type=int, help="paths per evaluation (default: the scenario's)")
    sol.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    sol.add_argument("--out", help="output folder (default: simpool-out/<name>-solve)")
    sol.add_argument("--quiet", action="store_true", help="print only the answer")
    add_exec(sol)
    add_set(sol)

    sen = sub.add_parser(
        "sensitivity", help="tornado (one-at-a-time) and Sobol sensitivity of one figure",
        description="Move each real-valued lever of the scenario by +/- --delta (one at a time, "
                    "common random numbers) and rank the swings of one summary figure; with "
                    "--sobol K, Sobol indices (SALib) of the top K levers.")
    sen.add_argument("file", help="scenario file (TOML)")
    sen.add_argument("--measure", required=True, help="summary measure, e.g. fiscal or bank")
    sen.add_argument("--statistic", required=True, help="summary statistic, e.g. NPV or EL")
    sen.add_argument("--year", type=int, help="calendar year of the figure (default: whole horizon)")
    sen.add_argument("--param", type=float, help="the row's param (level or threshold) if needed")
    sen.add_argument("--delta", type=float, default=0.2, help="relative move of each lever (0.2)")
    sen.add_argument("--levers", help="comma-separated levers (default: every real-valued key)")
    sen.add_argument("--sobol", type=int, default=0, metavar="K",
                     help="also Sobol indices of the top K levers (K >= 2)")
    sen.add_argument("--sobol-samples", type=int, default=32, metavar="N",
                     help="Saltelli base samples (a power of 2; N x (K + 2) runs)")
    sen.add_argument("--paths", type=int, help="paths per run (default: the scenario's)")
    sen.add_argument("--seed", type=int, help="seed (default: the scenario's)")
    sen.add_argument("--out", help="output folder (default: simpool-out/<name>-sensitivity)")
    sen.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    add_exec(sen)
    add_set(sen)

    val = sub.add_parser("validate", help="check scenario files and report every problem",
                         description="Validate scenario files (and their loan tapes) without simulating.")
    val.add_argument("files", nargs="+", help="scenario files (TOML)")
    add_set(val)

    show = sub.add_parser("show", help="print the fully resolved scenario (TOML)",
                          description="Print the scenario with every default filled in and money in yuan.")
    show.add_argument("file", help="scenario file (TOML)")
    add_set(show)

    sub.add_parser("compile", help="compile the kernels into the numba cache now",
                   description="Compile every simulation kernel (or load it from the numba "
                               "cache), so that the first run does not pay it: once per "
                               "simpool version and machine. The cache is specific to the "
                               "CPU: run it where the simulations run (e.g. on new cluster "
                               "workers), or share NUMBA_CACHE_DIR between identical machines.")
    return p


#: The ``--stress`` texts of the command being run (main() sets it): problems in the
#: ``stress`` table then name the flag that wrote it, not ``--set`` or the file.
_STRESS_FLAGS: list[str] = []


def _located(prob):
    """``prob``, relabelled to the ``--stress YEAR=QUANTILE`` it came from if any."""
    import dataclasses
    import re

    m = re.match(r"stress\.(\d+)(?:\.(.*))?$", prob.path)
    if not _STRESS_FLAGS or not m or int(m.group(1)) >= len(_STRESS_FLAGS):
        return prob
    return dataclasses.replace(prob, file=f"--stress {_STRESS_FLAGS[int(m.group(1))]}",
                               line=None, path=m.group(2) or "")


def _warn(message: str) -> None:
    """A warning about the command's settings, on stderr."""
    print(f"simpool: warning: {message}", file=sys.stderr)


def _show_warning(original, message, category, filename, lineno, file=None, line=None) -> None:
    """warnings.showwarning: simpool's own warnings as ``simpool: warning: ...`` lines."""
    from .errors import SimpoolWarning

    if issubclass(category, SimpoolWarning):
        _warn(str(message))
    else:
        original(message, category, filename, lineno, file, line)


def _print_problems(problems, stream=None) -> None:
    stream = stream or sys.stderr
    for prob in problems:
        print(str(_located(prob)), file=stream)


def _load(file: str, overrides: list[str], paths: int | None = None):
    """Load a scenario and print its warnings; ``paths``: the path count the command will
    run (``--paths``), which the few-paths warning is about instead of the file's."""
    from .scenario.core import load_scenario, paths_warnings, scenario_warnings

    sc = load_scenario(file, overrides)
    _print_problems(paths_warnings(scenario_warnings(sc), paths))
    return sc


def _cmd_validate(args) -> int:
    from .errors import ScenarioError

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
    from .engine._jit import cache_dir
    from .analysis.simulation import precompile

    print("compiling the kernels (or loading them from the cache) ...", file=sys.stderr)
    done = precompile(log=lambda line: print(f"  {line}", file=sys.stderr))
    where = cache_dir() or "nowhere (no writable cache directory: compiled in memory only)"
    print(f"{len(done)} kernel variants ready in {sum(t for _, t in done):.1f} s; cache: {where}")
    return EXIT_OK


def _cmd_show(args) -> int:
    from .scenario.core import resolved_toml

    sc = _load(args.file, args.overrides)
    sys.stdout.write(resolved_toml(sc))
    return EXIT_OK


#: Seconds after the chunks start, with none finished and no kernel compiled, after which
#: the bar says the kernels are compiling
COMPILE_HINT_AFTER_S = 1.0
COMPILE_HINT = "compiling the kernels (once per simpool version and machine; cached after)"
#: tqdm's minimum seconds between redraws
BAR_MININTERVAL = 0.1


def _kernels_compiled() -> bool:
    """Whether this process holds the simulation kernels compiled (or loaded from the cache)."""
    from .engine.fundkernels import fund_chunk
    from .engine.waterfall import waterfall_chunk

    return bool(waterfall_chunk.signatures or fund_chunk.signatures)


def _progress_bar(total: int, quiet: bool, compile_hint: bool = True):
    """A tqdm bar on a terminal, nothing otherwise. Returns (callback, close).

    The engine calls back with 0 done when the chunks start (after planning). A cold numba
    cache then makes the first chunk wait ~20 s for compilation: when none has finished after
    :data:`COMPILE_HINT_AFTER_S` and this process holds no compiled kernel, the bar says so
    instead of sitting at 0 as if stuck. ``compile_hint=False`` where the chunks run
    elsewhere (Dask workers), since this process then never compiles.
    """
    if quiet or not sys.stderr.isatty():
        return None, lambda: None
    import threading

    from tqdm import tqdm

    bar = tqdm(total=total, unit="path", unit_scale=True, desc="simulating", file=sys.stderr,
               leave=False, mininterval=BAR_MININTERVAL)
    lock = threading.Lock()
    state = {"timer": None, "hinted": False, "finished_one": False}

    def hint() -> None:
        with lock:
            if state["finished_one"] or _kernels_compiled():
                return
            state["hinted"] = True
            bar.set_description_str(COMPILE_HINT)

    def update(done: int, _total: int) -> None:
        with lock:
            if done == 0:  # the chunks have started
                if compile_hint and state["timer"] is None and not state["finished_one"]:
                    timer = threading.Timer(COMPILE_HINT_AFTER_S, hint)
                    timer.daemon = True
                    state["timer"] = timer
                    timer.start()
                return
            state["finished_one"] = True
            if state["timer"] is not None:
                state["timer"].cancel()
            if state["hinted"]:
                state["hinted"] = False
                bar.set_description_str("simulating", refresh=False)
            bar.update(done - bar.n)

    def close() -> None:
        with lock:
            state["finished_one"] = True
            if state["timer"] is not None:
                state["timer"].cancel()
        bar.close()

    return update, close


def _formats(text: str) -> tuple[str, ...] | None:
    from .outputs.batch import FORMATS

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
    for name in ("paths", "threads", "chunk_size", "dask_workers"):
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
        from .engine.cluster import check_address

        why = check_address(dask)
        if why:
            print(f"--dask: {why}", file=sys.stderr)
            return False
    args.max_memory_bytes = None
    if getattr(args, "max_memory", None) is not None:
        from .engine.memory import parse_size

        try:
            args.max_memory_bytes = parse_size(args.max_memory)
        except ValueError as e:
            print(f"--max-memory: {e}", file=sys.stderr)
            return False
    return True


def _cmd_sweep(args) -> int:
    from .outputs.batch import run_batch
    from .errors import UsageError
    from .outputs.outdir import OutputFolder
    from .scenario.core import paths_warnings, scenario_warnings
    from .scenario.sweep import expand

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
    from .engine.cluster import open_executor

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
        print(f"{len(variants)} variants, {len(table):,} rows: "
              f"{', '.join(str(out / f'summary.{f}') for f in formats)}")
    return EXIT_OK


def _cmd_compare(args) -> int:
    import io
    import json

    from .analysis.compare import compare
    from .analysis.headline import headline
    from .outputs.batch import table_files
    from .outputs.outdir import OutputFolder
    from .outputs.plots import save_compare_chart
    from .scenario.core import resolved_toml
    from .scenario.units import format_yuan

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    formats = _formats(args.format)
    if formats is None:
        return EXIT_BAD_INPUT
    base = _load(args.base, args.overrides, args.paths)
    whatifs = [_load(f, args.overrides, args.paths) for f in args.whatifs]
    _warn_mismatched_years(base, whatifs)
    out = Path(args.out) if args.out else Path("simpool-out") / f"{base.name}-compare"
    from .engine.cluster import open_executor

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
        rows = headline(table)
        print(f"{base.name} vs {', '.join(w.name for w in whatifs)}: "
              f"{meta['paths']:,} paths, seed {meta['seed']}, common random numbers")
        print(f"  {'what-if':<24} {'measure':<28} {'statistic':<30} {'base':>12} {'what-if':>12} "
              f"{'difference':>12} {'± se':>10}")
        for _, r in rows.iterrows():
            fmt = (lambda v: f"{v:.4%}") if str(r.statistic).startswith("P(") or \
                r.statistic == "subsidy rate" else format_yuan
            if r.statistic == "loans per yuan of public money":
                fmt = (lambda v: f"{v:,.2f}")
            print(f"  {r.scenario:<24} {r.measure:<28} {r.statistic:<30} {fmt(r.base):>12} "
                  f"{fmt(r.whatif):>12} {fmt(r['diff']):>12} {fmt(r.se_diff):>10}")
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_report(args) -> int:
    from .engine.cluster import open_executor
    from .analysis.simulation import simulate
    from .outputs.files import atomic_write_bytes
    from .outputs.report import build_html, write_pdf

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    sc = _load(args.file, args.overrides, args.paths)
    whatifs = [_load(f, args.overrides, args.paths) for f in args.compare]
    _warn_mismatched_years(sc, whatifs)
    out = Path(args.out) if args.out else Path("simpool-out") / f"{sc.name}-report.html"
    if out.suffix.lower() not in (".html", ".htm"):
        print(f"--out: names the HTML file, e.g. report.html, got {out}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from .outputs.outdir import check_writable_file

    check_writable_file(out)
    paths = args.paths or sc.simulation.paths
    with open_executor(args.threads, args.dask, args.dask_workers) as executor:
        # the plots draw pools' balances and guarantors' leverage path by path
        res = simulate(sc, paths=paths, seed=args.seed, executor=executor, keep="all",
                       max_memory=args.max_memory_bytes, warn=_warn)
        comparison = None
        if whatifs:
            from .analysis.compare import compare

            comparison = compare(sc, whatifs, paths=paths, seed=res.seed, executor=executor,
                                 max_memory=args.max_memory_bytes)
    page = build_html(res, res.summary_rows(), comparison=comparison, argv=sys.argv)
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

    from ._version import __version__
    from .scenario.core import load_scenario, resolved_toml

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
    from .outputs.outdir import OutputFolder
    from .analysis.solve import Figure, solve
    from .scenario.units import parse_money

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
    fig = Figure(args.measure, args.statistic, args.year, args.param)

    def log(x, v, se):
        if not args.quiet:
            print(f"  {args.lever} = {x:.6g}: {v:.6g} ± {se:.3g}", file=sys.stderr)

    from .engine.cluster import open_executor

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
                                     "year": fig.year, "param": fig.param},
              "target": sol.target, "achieved": sol.achieved, "se": sol.se,
              "evaluations": [{"lever": x, "value": v, "se": s} for x, v, s in sol.evaluations],
              "scenario": args.file, "overrides": args.overrides, "command_line": sys.argv}
    files = _input_files(args.file, args.overrides)
    files["solve.json"] = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    folder.replace_set(files, marker="solve.json")


def _cmd_sensitivity(args) -> int:
    import io

    from .outputs.batch import table_files
    from .outputs.outdir import OutputFolder
    from .analysis.sensitivity import plot_tornado, sobol, tornado, tornado_table
    from .analysis.solve import Figure

    if not _check_counts(args):
        return EXIT_BAD_INPUT
    fig = Figure(args.measure, args.statistic, args.year, args.param)
    only = [k.strip() for k in args.levers.split(",") if k.strip()] if args.levers else None
    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="lever", desc="tornado", leave=False)

    def progress(i, n, key):
        if bar is not None:
            bar.total = n
            bar.update(i - bar.n)

    from .engine.cluster import open_executor

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
        plot_tornado(table, fig, buf)
        files["tornado.png"] = buf.getvalue()
        files.update(_input_files(args.file, args.overrides, delta=args.delta, figure=str(fig),
                                  paths=args.paths, seed=args.seed))
        written = folder.replace_set(files, marker="provenance.json")
    files = [p for p in written if p.suffix in (".csv", ".png")]
    if not args.quiet:
        print(f"{fig}: base {f0:.6g} ± {se0:.3g}; levers moved by ±{args.delta:g}")
        for _, r in table.head(15).iterrows():
            print(f"  {r.lever:<50} {r.figure_low:>14.6g} {r.figure_high:>14.6g}  swing {r.swing:.4g}")
        if "sobol" in tables:
            print("Sobol indices (first order, total, 95% confidence):")
            for _, r in tables["sobol"].iterrows():
                print(f"  {r.lever:<50} S1 {r.S1:.3f} ± {r.S1_conf:.3f}   ST {r.ST:.3f} ± {r.ST_conf:.3f}")
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def _cmd_run(args) -> int:
    import time

    from .analysis.simulation import simulate
    from .outputs.outdir import OutputFolder
    from .outputs.files import format_summary, write_run

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
    from .engine.cluster import open_executor

    targets = []
    for text in args.target_se:
        from .errors import UsageError
        from .analysis.solve import parse_figure

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
            from .analysis.simulation import simulate_until

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
            from .outputs.batch import table_files

            tables = table_files({"summary": res.summary()}, extra)
        files = write_run(out, res, rows, argv=sys.argv, wall_s=time.time() - t0, tables=tables,
                          folder=folder)
    if not args.quiet:
        print(format_summary(res, rows))
        print(f"\nwrote {', '.join(str(f) for f in files)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simpool`` command; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse exits 2 on bad usage, 0 on --help
        return int(e.code or 0)
    if args.version:
        from ._version import __version__

        print(f"simpool {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    _STRESS_FLAGS[:] = getattr(args, "stress", None) or []
    if getattr(args, "stress", None):
        entries = []
        for text in args.stress:
            year, _, q = text.partition("=")
            try:
                entries.append(f"{{year = {int(year)}, quantile = {float(q)!r}, name = \"--stress {text}\"}}")
            except ValueError:
                print(f"--stress: expected YEAR=QUANTILE, e.g. 2026=0.01, got {text!r}", file=sys.stderr)
                return EXIT_BAD_INPUT
        args.overrides.append(f"stress=[{', '.join(entries)}]")
    from .errors import ScenarioError, SimpoolError, UsageError

    handler = {"run": _cmd_run, "report": _cmd_report, "sweep": _cmd_sweep, "compare": _cmd_compare, "solve": _cmd_solve,
               "sensitivity": _cmd_sensitivity,
               "validate": _cmd_validate,
               "show": _cmd_show, "compile": _cmd_compile}[args.command]
    import functools
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.showwarning = functools.partial(_show_warning, warnings.showwarning)
            return handler(args)
    except ScenarioError as e:
        _print_problems(e.problems + e.warnings)
        return EXIT_BAD_INPUT
    except UsageError as e:
        print(f"simpool: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("simpool: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SimpoolError as e:
        print(f"simpool: {e}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as e:
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        print(f"simpool: I/O error{where}: {e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as e:  # noqa: BLE001 - last line of defence: a message, not a traceback
        if args.debug:
            raise
        print(f"simpool: internal error: {type(e).__name__}: {e} (rerun with --debug for a traceback)",
              file=sys.stderr)
        return EXIT_ERROR


def entry() -> None:
    """The ``simpool`` command and ``python -m simpool``: :func:`main`, then exit.

    Before the interpreter shuts down, every live object is moved to the garbage collector's
    permanent generation (``gc.freeze``): the process is ending, and the final collections over
    numba's and pandas' hundreds of thousands of objects would otherwise take 0.2-0.4 s of the
    command's wall time. Files are closed and flushed by then; nothing waits on a finalizer.
    """
    code = main()
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
