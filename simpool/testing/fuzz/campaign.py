"""A fuzzing campaign: :func:`generate` deals ``n`` cases round-robin over the kinds (the
same cases in the same order for the same seed), :func:`fuzz` runs them (a baseline run for
cases expected to behave like their source) and keeps the failing ones' files, and
:func:`counts` / :func:`format_counts` tally the outcomes per kind.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from .core import KINDS, Case, Outcome, run_case
from .folders_kind import gen_folders
from .scenario_kinds import (gen_combo, gen_extends, gen_extra, gen_extremes, gen_inflate,
                             gen_loans_file, gen_missing, gen_numbers, gen_set, gen_text,
                             gen_types)
from .sources import sources
from .sweep_kind import gen_sweep
from .tape_kinds import gen_bigtape, gen_parquet, gen_tape, gen_taperows


_SIMPLE = {"types": gen_types, "missing": gen_missing, "extra": gen_extra, "numbers": gen_numbers,
           "extremes": gen_extremes, "combo": gen_combo, "text": gen_text, "set": gen_set}
_WHOLE = {"extends": gen_extends, "loans_file": gen_loans_file, "tape": gen_tape,
          "parquet": gen_parquet, "sweep": gen_sweep, "folders": gen_folders,
          "taperows": gen_taperows}


def generate(n: int, seed: int = 0, kinds: tuple[str, ...] = KINDS, run_fraction: float = 0.05,
             bigtape_rows: int = 1_000_000, max_items: int = 20000) -> Iterator[Case]:
    """``n`` cases dealt round-robin over ``kinds`` (``bigtape``: one case at most);
    ``max_items`` caps the lists of the ``inflate`` kind."""
    rng = random.Random(seed)
    srcs = sources()
    rest = [k for k in kinds if k != "bigtape"]
    made = 0
    if "bigtape" in kinds and n > 0:
        yield gen_bigtape(rng, srcs, bigtape_rows)
        made += 1
    if not rest:
        return
    i = 0
    tries = 0
    while made < n and tries < 50 * n + 100:
        tries += 1
        kind = rest[i % len(rest)]
        if kind == "inflate":
            case = gen_inflate(rng, rng.choice(srcs), max_items)
        elif kind in _SIMPLE:
            case = _SIMPLE[kind](rng, rng.choice(srcs))
        else:
            case = _WHOLE[kind](rng, srcs)
        if case is None:
            continue
        i += 1
        case.run = (case.run or rng.random() < run_fraction) and not case.no_run
        made += 1
        yield case


def fuzz(cases: int = 2000, seed: int = 0, kinds: tuple[str, ...] = KINDS,
         run_fraction: float = 0.05, workdir: str | os.PathLike | None = None,
         keep: str | os.PathLike | None = None, bigtape_rows: int = 1_000_000,
         log: Callable[[Outcome], None] | None = None, max_items: int = 20000) -> list[Outcome]:
    """Generate and run ``cases`` cases; return every outcome (see :func:`run_case`)."""
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="simpool-fuzz-")) if own else Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    baseline: dict[str, int] = {}
    outcomes = []
    try:
        for case in generate(cases, seed, tuple(kinds), run_fraction, bigtape_rows, max_items):
            same = None
            if case.expect == "same":
                if case.entry not in baseline:
                    plain = Case(case.kind, "baseline", _baseline_files(case), case.entry)
                    baseline[case.entry] = run_case(plain, work).rc or 0
                same = baseline[case.entry]
            o = run_case(case, work, keep=False, same_rc=same)
            if o.status == "FAILURE" and keep is not None:
                dest = Path(keep) / f"{len(outcomes):05d}-{case.kind}"
                dest.mkdir(parents=True, exist_ok=True)
                for rel, data in case.files.items():
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    (dest / rel).write_bytes(data)
                (dest / "CASE.txt").write_text(
                    f"{case.label}\nargs: {case.args}\nreason: {o.reason}\n\n{o.stderr}",
                    encoding="utf-8")
            outcomes.append(o)
            if log is not None:
                log(o)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return outcomes


_SOURCE_FILES: dict[str, dict[str, bytes]] = {}


def _baseline_files(case: Case) -> dict[str, bytes]:
    if not _SOURCE_FILES:
        for s in sources():
            _SOURCE_FILES[s.entry] = s.files
    return _SOURCE_FILES.get(case.entry, case.files)


def counts(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """{kind: {"ok": n, "error": n, "FAILURE": n, "ran": n, "seconds": s}}."""
    out: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        c = out.setdefault(o.case.kind, {"ok": 0, "error": 0, "FAILURE": 0, "ran": 0,
                                         "seconds": 0.0})
        c[o.status] += 1
        c["ran"] += o.ran
        c["seconds"] += o.seconds
    return out


def format_counts(outcomes: list[Outcome]) -> str:
    rows = counts(outcomes)
    lines = [f"{'kind':<12} {'cases':>7} {'ok':>7} {'error':>7} {'FAILURE':>8} {'run':>6} "
             f"{'seconds':>8}"]
    tot = {"ok": 0, "error": 0, "FAILURE": 0, "ran": 0, "seconds": 0.0}
    for kind in KINDS:
        if kind not in rows:
            continue
        c = rows[kind]
        n = c["ok"] + c["error"] + c["FAILURE"]
        lines.append(f"{kind:<12} {n:>7} {c['ok']:>7} {c['error']:>7} {c['FAILURE']:>8} "
                     f"{c['ran']:>6} {c['seconds']:>8.1f}")
        for k in tot:
            tot[k] += c[k]
    n = tot["ok"] + tot["error"] + tot["FAILURE"]
    lines.append(f"{'all':<12} {n:>7} {tot['ok']:>7} {tot['error']:>7} {tot['FAILURE']:>8} "
                 f"{tot['ran']:>6} {tot['seconds']:>8.1f}")
    return "\n".join(lines)
