"""Golden tables: the key figures of every shipped scenario at a fixed seed, re-checked by a test.

Usage (from the repository root)::

    python -m simpool.testing.golden                          # check every shipped scenario
    python -m simpool.testing.golden scenarios/hubei_base.toml            # check one
    python -m simpool.testing.golden --update                 # regenerate every golden table
    python -m simpool.testing.golden --update scenarios/x.toml [--paths N]  # regenerate one

Every ``scenarios/**/*.toml`` is run at a fixed path count (default 20,000; ``--paths`` with
``--update`` changes it) and its own seed (``simulation.seed``). The key figures are the rows
of ``Results.summary()`` that are whole-horizon (year missing) or of the last simulated year.
They go to ``tests/golden/<path under scenarios/, "/" -> "__", no .toml>.csv`` (columns
scenario, year, measure, product, basis, statistic, param, value, se; an empty cell is NaN; floats written
with Python's shortest round-trip repr), and a sibling ``.json`` records the provenance: the
scenario file, its sha256 and that of its resolved form (``simpool show``: every default
filled in, ``extends`` merged), the path count and seed, and the library versions that
made the table. A check recomputes at the recorded path count and compares.

Tolerance. A figure matches when ``|new - golden| <= max(ABS_TOL, REL_TOL |golden|,
K_SE se)``, with ``se`` the golden's Monte Carlo standard error (``K_SE`` = 0.5, ``REL_TOL`` =
``ABS_TOL`` = 1e-9); the standard error itself must match within the same band (``K_SE`` x
golden se, i.e. +-50%: it catches a broken error estimate, not noise). A NaN golden must stay
NaN, and a golden row must not vanish nor a new row appear. Why not bit-exact: on one
installation a run is bit-reproducible (``test_reproducibility.py``), but across numpy, scipy
and numba versions the last bits of ``ndtri``/``stdtrit`` (default thresholds), LAPACK's
Cholesky/eigh (factor loadings), numpy's summation order and scipy's optimiser (importance
sampling shift) may change. Such a change flips a default decision on a path only very rarely,
and moves a figure by about one path's contribution -- far below half a standard error for
every figure estimated from more than a handful of paths -- whereas a change of the model
moves figures by many standard errors. Exact figures (standard error 0: the worked examples,
probabilities of exactly 0 or 1) must match to 1e-9 relative, as they should.

Exit codes: 0 every table matches (or was written), 1 a figure differs, a golden table is
missing or has no scenario, 2 bad input (a file outside ``scenarios/``, or scenarios that
failed to load: listed, skipped, the others still checked or written).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..analysis.results import SummaryRow

#: Repository root (the package is installed editable from it).
ROOT = Path(__file__).resolve().parents[2]
SCENARIO_DIR = ROOT / "scenarios"
GOLDEN_DIR = ROOT / "tests" / "golden"

DEFAULT_PATHS = 20_000
ABS_TOL = 1e-9
REL_TOL = 1e-9
K_SE = 0.5

COLUMNS = SummaryRow._fields  # scenario, year, measure, product, basis, statistic, param, value, se
EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


# --------------------------------------------------------------------------- files
def _dirs(golden_dir, scenario_dir) -> tuple[Path, Path]:
    """The given folders, or the repository's (looked up at call time, so tests can patch)."""
    return (Path(GOLDEN_DIR if golden_dir is None else golden_dir),
            Path(SCENARIO_DIR if scenario_dir is None else scenario_dir))


def shipped_scenarios(scenario_dir: Path | None = None) -> list[Path]:
    """Every ``*.toml`` under ``scenario_dir``, recursively, sorted (hidden files skipped)."""
    _, scenario_dir = _dirs(None, scenario_dir)
    return sorted(p for p in scenario_dir.rglob("*.toml")
                  if p.is_file() and not any(part.startswith(".")
                                             for part in p.relative_to(scenario_dir).parts))


def golden_stem(scenario: Path, scenario_dir: Path | None = None) -> str:
    """``scenarios/examples/worked_4222.toml`` -> ``examples__worked_4222``."""
    _, scenario_dir = _dirs(None, scenario_dir)
    rel = Path(scenario).resolve().relative_to(scenario_dir.resolve())
    return "__".join(rel.with_suffix("").parts)


def golden_files(scenario: Path, golden_dir: Path | None = None,
                 scenario_dir: Path | None = None) -> tuple[Path, Path]:
    """(table .csv, provenance .json) of a scenario."""
    golden_dir, scenario_dir = _dirs(golden_dir, scenario_dir)
    stem = golden_stem(scenario, scenario_dir)
    return golden_dir / f"{stem}.csv", golden_dir / f"{stem}.json"


def shown(path: Path) -> str:
    """A path as people type it: relative to the repository root when inside it."""
    p = Path(path).resolve()
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def update_command(scenario: Path) -> str:
    return f"python -m simpool.testing.golden --update {shown(scenario)}"


def orphan_goldens(golden_dir: Path | None = None, scenario_dir: Path | None = None) -> list[Path]:
    """Golden tables whose scenario file no longer exists."""
    golden_dir, scenario_dir = _dirs(golden_dir, scenario_dir)
    stems = {golden_stem(p, scenario_dir) for p in shipped_scenarios(scenario_dir)}
    return sorted(p for p in golden_dir.glob("*.csv") if p.stem not in stems)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- figures
class Figure(SummaryRow):
    """One row of a golden table: a :class:`~simpool.analysis.results.SummaryRow` with its key."""

    __slots__ = ()

    @property
    def key(self) -> tuple:
        """What identifies the figure: (year, measure, product, basis, statistic, param)."""
        return ("" if self.year is None else str(self.year), self.measure, self.product,
                self.basis, self.statistic,
                "" if math.isnan(self.param) else format(self.param, ".12g"))


def key_figures(res) -> list[Figure]:
    """Whole-horizon rows and the last year's rows of ``res.summary_rows()``."""
    last = res.years[-1]
    return [Figure(*row) for row in res.summary_rows() if row.year is None or row.year == last]


def _fmt(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


def figures_csv(figures: list[Figure]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for f in figures:
        w.writerow([f.scenario, "" if f.year is None else f.year, f.measure, f.product, f.basis,
                    f.statistic, _fmt(f.param), _fmt(f.value), _fmt(f.se)])
    return buf.getvalue()


def read_golden(path: Path) -> list[Figure]:
    """Read a golden table written by :func:`figures_csv`."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise ValueError(f"{shown(path)}: not a golden table (header must be {','.join(COLUMNS)})")
    out = []
    for i, r in enumerate(rows[1:], start=2):
        if len(r) != len(COLUMNS):
            raise ValueError(f"{shown(path)}:{i}: expected {len(COLUMNS)} cells, got {len(r)}")
        sc, year, measure, product, basis, stat, param, value, se = r
        try:
            out.append(Figure(sc, int(year) if year else None, measure, product, basis, stat,
                              *(float(x) if x else math.nan for x in (param, value, se))))
        except ValueError as e:
            raise ValueError(f"{shown(path)}:{i}: {e}") from None
    return out


# --------------------------------------------------------------------------- compute
@dataclass
class Computed:
    figures: list[Figure]
    meta: dict
    seconds: float


def load(scenario: Path):
    """Load a scenario; ``ScenarioError`` (with every problem) when it does not load."""
    from ..scenario.load import load_scenario

    return load_scenario(scenario)


def compute(scenario: Path, paths: int = DEFAULT_PATHS, sc=None) -> Computed:
    """Run a scenario at ``paths`` paths and its own seed; its key figures and provenance."""
    from .._version import __version__
    from ..outputs.files import package_versions
    from ..analysis.simulation import simulate
    from ..scenario.load import resolved_toml

    scenario = Path(scenario)
    sc = load(scenario) if sc is None else sc
    t0 = time.perf_counter()
    res = simulate(sc, paths=paths)
    figures = key_figures(res)
    seconds = time.perf_counter() - t0
    meta = {
        "scenario_file": shown(scenario),
        "scenario_sha256": _sha256(scenario.read_bytes()),
        "resolved_sha256": _sha256(resolved_toml(sc).encode()),
        "paths": int(paths),
        "seed": int(res.seed),
        "years": [res.years[0], res.years[-1]],
        "figures": len(figures),
        "regenerate": update_command(scenario) + (f" --paths {paths}" if paths != DEFAULT_PATHS else ""),
        "made_with": {"simpool": __version__, **package_versions()},
    }
    return Computed(figures, meta, seconds)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and ``os.replace``; mode 0644, like git."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_golden(scenario: Path, computed: Computed, golden_dir: Path | None = None,
                 scenario_dir: Path | None = None) -> tuple[Path, Path]:
    """Write the table and its provenance, each atomically (temporary file + rename)."""
    csv_path, json_path = golden_files(scenario, golden_dir, scenario_dir)
    atomic_write_bytes(csv_path, figures_csv(computed.figures).encode("utf-8"))
    atomic_write_bytes(json_path, (json.dumps(computed.meta, indent=2, ensure_ascii=False)
                                   + "\n").encode("utf-8"))
    return csv_path, json_path


# --------------------------------------------------------------------------- compare
@dataclass(frozen=True)
class Diff:
    key: tuple
    column: str          # "value", "se", or "row"
    golden: float
    new: float
    tol: float
    se: float
    why: str


def tolerance(golden: float, se: float, *, abs_tol: float = ABS_TOL, rel_tol: float = REL_TOL,
              k_se: float = K_SE) -> float:
    """How far a figure may move: max(abs_tol, rel_tol |golden|, k_se se)."""
    se = 0.0 if math.isnan(se) or math.isinf(se) else abs(se)
    g = 0.0 if math.isinf(golden) else abs(golden)
    return max(abs_tol, rel_tol * g, k_se * se)


def _close(g: float, n: float, tol: float) -> tuple[bool, str]:
    if math.isnan(g) or math.isnan(n):
        if math.isnan(g) and math.isnan(n):
            return True, ""
        return False, "golden is NaN" if math.isnan(g) else "became NaN"
    if math.isinf(g) or math.isinf(n):
        return (g == n), "" if g == n else "infinite"
    return abs(n - g) <= tol, ""


def compare(golden: list[Figure], new: list[Figure], *, abs_tol: float = ABS_TOL,
            rel_tol: float = REL_TOL, k_se: float = K_SE) -> list[Diff]:
    """Every figure of ``new`` that differs from ``golden`` beyond the tolerance."""
    def index(figs):
        d: dict = {}
        for f in figs:
            k = f.key
            n = 1
            while k in d:   # a repeated key (none today): keep both, in order
                n += 1
                k = (*f.key, f"#{n}")
            d[k] = f
        return d

    g_idx, n_idx = index(golden), index(new)
    diffs = []
    for k, g in g_idx.items():
        n = n_idx.get(k)
        if n is None:
            diffs.append(Diff(k, "row", g.value, math.nan, math.nan, g.se, "row missing"))
            continue
        for column in ("value", "se"):
            gv, nv = getattr(g, column), getattr(n, column)
            tol = tolerance(gv, g.se, abs_tol=abs_tol, rel_tol=rel_tol, k_se=k_se)
            ok, why = _close(gv, nv, tol)
            if not ok:
                diffs.append(Diff(k, column, gv, nv, tol, g.se, why))
    for k, n in n_idx.items():
        if k not in g_idx:
            diffs.append(Diff(k, "row", math.nan, n.value, math.nan, n.se, "new row"))
    return diffs


def format_diffs(diffs: list[Diff]) -> str:
    """A readable fixed-width table of differences."""
    head = ("year", "measure", "statistic", "param", "column", "golden", "new", "|diff|",
            "tol", "diff/se", "note")
    rows = []
    for d in diffs:
        year, measure, product, basis, stat, param = d.key[:6]
        measure += (f" [{product}]" if product else "") + (f" ({basis})" if basis else "")
        delta = abs(d.new - d.golden) if not (math.isnan(d.new) or math.isnan(d.golden)) else math.nan
        per_se = delta / d.se if d.se and not math.isnan(d.se) and not math.isnan(delta) else math.nan

        def g(x):
            return "" if math.isnan(x) and d.column == "row" else f"{x:.10g}"

        rows.append((year or "-", measure, stat, param or "-", d.column, g(d.golden), g(d.new),
                     g(delta), g(d.tol), "" if math.isnan(per_se) else f"{per_se:.3g}", d.why))
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]
    return "\n".join(lines)


# --------------------------------------------------------------------------- check
@dataclass
class CheckResult:
    scenario: Path
    diffs: list[Diff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: bool = False       # no golden table
    figures: int = 0
    paths: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.diffs

    def report(self) -> str:
        """What differs and how to regenerate, for people."""
        if self.missing:
            return (f"{shown(self.scenario)}: no golden table; create it with:\n"
                    f"    {update_command(self.scenario)}")
        lines = []
        if self.diffs:
            lines.append(f"{shown(self.scenario)}: {len(self.diffs)} difference(s) in "
                         f"{self.figures} figures at {self.paths:,} paths (tolerance "
                         f"max({ABS_TOL:g}, {REL_TOL:g}*|golden|, {K_SE:g}*se)):")
            lines.append(format_diffs(self.diffs))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.diffs:
            lines.append("If the change is intended, regenerate the table and review its diff:\n"
                         f"    {update_command(self.scenario)}")
        return "\n".join(lines)


def check(scenario: Path, golden_dir: Path | None = None, scenario_dir: Path | None = None,
          sc=None, computed: Computed | None = None) -> CheckResult:
    """Recompute a scenario at its golden's path count and compare with the golden table."""
    scenario = Path(scenario)
    csv_path, json_path = golden_files(scenario, golden_dir, scenario_dir)
    result = CheckResult(scenario)
    if not csv_path.is_file():
        result.missing = True
        return result
    golden = read_golden(csv_path)
    meta = {}
    if json_path.is_file():
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    else:
        result.notes.append(f"{shown(json_path)} missing: checking at {DEFAULT_PATHS:,} paths")
    paths = int(meta.get("paths", DEFAULT_PATHS))
    if computed is None or computed.meta["paths"] != paths:
        computed = compute(scenario, paths, sc)
    result.diffs = compare(golden, computed.figures)
    result.figures, result.paths, result.seconds = len(golden), paths, computed.seconds
    if meta:
        if meta.get("resolved_sha256") != computed.meta["resolved_sha256"]:
            result.notes.append("the scenario (resolved, extends merged) changed since the golden "
                                "table was made")
        elif meta.get("scenario_sha256") != computed.meta["scenario_sha256"]:
            result.notes.append("the scenario file changed since the golden table was made "
                                "(not its resolved form: comments or layout)")
        if meta.get("seed") not in (None, computed.meta["seed"]):
            result.notes.append(f"seed changed: golden {meta['seed']}, scenario {computed.meta['seed']}")
        made = meta.get("made_with", {})
        now = computed.meta["made_with"]
        changed = [f"{k} {made[k]} -> {now[k]}" for k in now if k in made and made[k] != now[k]]
        if changed and result.diffs:
            result.notes.append("library versions differ from the golden's: " + ", ".join(changed))
    return result


# --------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m simpool.testing.golden",
        description="Check (default) or regenerate (--update) the golden tables of the shipped "
                    "scenarios: tests/golden/*.csv.")
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="scenario files under scenarios/ (default: every scenarios/**/*.toml)")
    p.add_argument("--update", action="store_true",
                   help="recompute and write the golden tables instead of checking them")
    p.add_argument("--paths", type=int, default=None,
                   help=f"paths per scenario, with --update (default {DEFAULT_PATHS:,}); a check "
                        "uses the count recorded in the golden's .json")
    return p


def main(argv: list[str] | None = None) -> int:
    from ..errors import ScenarioError

    args = _parser().parse_args(argv)
    if args.paths is not None and not args.update:
        print("--paths: only with --update (a check uses the path count recorded in the "
              "golden's .json)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.paths is not None and args.paths < 2:
        print(f"--paths: must be >= 2, got {args.paths}", file=sys.stderr)
        return EXIT_BAD_INPUT
    paths = DEFAULT_PATHS if args.paths is None else args.paths

    bad_input = []
    if args.files:
        files = []
        root = SCENARIO_DIR.resolve()
        for f in args.files:
            p = Path(f)
            if p.suffix != ".toml" or not p.is_file() or not p.resolve().is_relative_to(root):
                bad_input.append(f"{f}: not a shipped scenario (a .toml file under {shown(SCENARIO_DIR)}/)")
            else:
                files.append(p.resolve())
    else:
        files = shipped_scenarios()

    failed_load: list[tuple[Path, str]] = []
    mismatched: list[CheckResult] = []
    n = len(files)
    for i, f in enumerate(files, start=1):
        tag = f"[{i}/{n}] {shown(f)}"
        try:
            sc = load(f)
        except (ScenarioError, OSError, ValueError) as e:
            probs = getattr(e, "problems", None)
            msg = "; ".join(str(p) for p in probs[:3]) if probs else str(e)
            failed_load.append((f, msg))
            print(f"{tag}: does not load, skipped", flush=True)
            continue
        if args.update:
            comp = compute(f, paths, sc)
            csv_path, _ = write_golden(f, comp)
            print(f"{tag}: wrote {shown(csv_path)} ({len(comp.figures)} figures, {paths:,} paths, "
                  f"seed {comp.meta['seed']}, {comp.seconds:.1f} s)", flush=True)
            continue
        res = check(f, sc=sc)
        if res.missing:
            print(f"{tag}: NO GOLDEN TABLE", flush=True)
            mismatched.append(res)
            continue
        status = "ok" if res.ok else f"{len(res.diffs)} DIFFERENCE(S)"
        print(f"{tag}: {status} ({res.figures} figures, {res.paths:,} paths, {res.seconds:.1f} s)",
              flush=True)
        if not res.ok:
            mismatched.append(res)
        elif res.notes:
            print(res.report(), flush=True)

    orphans = [] if args.files or args.update else orphan_goldens()
    for r in mismatched:
        print("\n" + r.report())
    for o in orphans:
        print(f"\n{shown(o)}: golden table without a scenario "
              f"({shown(SCENARIO_DIR / (o.stem.replace('__', '/') + '.toml'))}); delete it "
              f"(and its .json) if the scenario was removed or renamed")
    if args.update:
        for o in orphan_goldens():
            print(f"note: {shown(o)} has no scenario any more; delete it if that is intended")
    if failed_load or bad_input:
        print(f"\n{len(failed_load) + len(bad_input)} file(s) skipped:", file=sys.stderr)
        for line in bad_input:
            print(f"  {line}", file=sys.stderr)
        for f, msg in failed_load:
            print(f"  {shown(f)}: does not load: {msg}", file=sys.stderr)
    if mismatched or orphans:
        return EXIT_MISMATCH
    if failed_load or bad_input:
        return EXIT_BAD_INPUT
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
