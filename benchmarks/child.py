"""Child process of the benchmark suite (compile time and peak memory need a fresh process).

Usage (prints one JSON object on its last stdout line)::

    python benchmarks/child.py first-call
    python benchmarks/child.py memory --loans N --paths P [--years Y] [--tape FILE]
    python benchmarks/child.py run-peak --scenario FILE --paths P [--dask-workers K]

``first-call``: seconds to import simpool and to run the first and second ``simulate`` of a
small scenario (the first includes numba compilation, or loading it from
``NUMBA_CACHE_DIR``).

``memory``: peak resident memory (MiB) after import, after building the scenario and after
one ``simulate``; the traced Python/numpy peak of the ``simulate`` call
(MiB, ``tracemalloc``; numba's own small per-chunk buffers are not traced); the current RSS
just before simulating. The numba code is loaded by a 1-path warm-up first, so a warm
``NUMBA_CACHE_DIR`` keeps compiler memory out of the figures.

``run-peak``: what ``simpool run FILE --paths P`` does (the summary's per-path results, the
summary rows), on threads or a Dask LocalCluster of K workers: the estimate of
:mod:`simpool.engine.memory` taken before simulating, and the peak of the resident memory of this
process plus all its descendants (the cluster's processes), sampled every 50 ms.

Peak RSS is ``VmHWM`` of ``/proc/self/status``: the high-water mark of this process's own
address space. ``getrusage(RUSAGE_SELF).ru_maxrss`` is *not* used on Linux because exec()
folds the parent's high-water mark into it (a child of a 500 MiB parent reports at least
500 MiB); it is the fallback elsewhere.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

MIB = 1024.0 * 1024.0


def _status_mib(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (``VmHWM``, ``VmRSS``) in MiB, None if absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024.0  # kB
    except OSError:  # pragma: no cover - not Linux
        pass
    return None


def _maxrss_mib() -> float:
    """Peak RSS of this process so far (MiB)."""
    hwm = _status_mib("VmHWM")
    if hwm is not None:
        return hwm
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0  # pragma: no cover


def _rss_mib() -> float:
    """Current RSS (MiB)."""
    v = _status_mib("VmRSS")
    return float("nan") if v is None else v


def first_call() -> dict:
    t0 = time.perf_counter()
    import simpool
    from simpool.analysis.simulation import simulate

    t1 = time.perf_counter()
    # numba itself, before any simpool kernel: its import, then the set-up of its typing
    # and target contexts that the first call of *any* jitted function pays once per
    # process (measured on a tiny cached kernel, seed_key)
    import numba  # noqa: F401
    import numpy as np

    t_nb = time.perf_counter()
    from simpool.engine.rng import seed_key

    seed_key(np.uint64(1))
    t_init = time.perf_counter()
    sc = {
        "title": "first call",
        "simulation": {"paths": 2000, "seed": 1, "horizon_years": 1},
        "model": {"sectors": ["a", "b"], "sector_correlation": [[1.0, 0.3], [0.3, 1.0]]},
        "cohorts": [
            {"name": "c", "loans": 1000, "exposure": 1e6, "pd": 0.02, "lgd": 0.45,
             "rho": 0.15, "sector": "a"},
            {"name": "l", "loans": 1000, "exposure": 1e6, "pd": 0.03, "lgd": 0.45,
             "rho": 0.15, "sector": "b", "mode": "loans"},
        ],
    }
    sc = simpool.load_scenario(sc)
    t2 = time.perf_counter()
    res = simulate(sc, paths=2000, seed=1)
    t3 = time.perf_counter()
    simulate(sc, paths=2000, seed=2)
    t4 = time.perf_counter()
    return {"import_s": t1 - t0, "numba_import_s": t_nb - t1, "numba_init_s": t_init - t_nb,
            "load_s": t2 - t_init, "first_call_s": t3 - t2,
            "first_plan_s": res.timing.get("plan_s"),
            "first_simulate_s": res.timing.get("simulate_s"), "second_call_s": t4 - t3,
            "compiled": _compiled_functions(), "cache_misses": _cache_misses()}


def _cache_misses() -> int:
    """Kernel signatures numba compiled in this process because its cache did not have
    them (since the import: kernels with explicit signatures compile or load then)."""
    import gc

    from numba.core.registry import CPUDispatcher

    return sum(sum(d._cache_misses.values()) for d in gc.get_objects()
               if isinstance(d, CPUDispatcher))


def _compiled_functions() -> int:
    """Compiled function bodies held by numba dispatchers now (simpool's and the numpy
    implementations they pulled in): the volume a cold start compiles, a count that timing
    noise does not blur (a copy per literal argument once made it 106 instead of 74)."""
    import gc

    from numba.core.registry import CPUDispatcher

    return sum(len(d.overloads) for d in gc.get_objects() if isinstance(d, CPUDispatcher))


def memory(loans: int, paths: int, years: int, tape: str | None) -> dict:
    import tracemalloc

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import simpool
    from common import graded_scenario, tape_scenario
    from simpool.analysis.simulation import simulate

    rss_import = _maxrss_mib()
    t0 = time.perf_counter()
    if tape:
        sc = simpool.load_scenario(tape_scenario(Path(tape), years=years))
    else:
        sc = simpool.load_scenario(graded_scenario(loans, years=years))
    load_s = time.perf_counter() - t0
    n_loans = (len(sc.tape) if sc.tape is not None else 0) + sum(c.loans for c in sc.cohorts)
    small = simpool.load_scenario(graded_scenario(20, years=years))
    simulate(small, paths=1, seed=1)  # load the compiled kernel before measuring
    maxrss_before = _maxrss_mib()
    rss_before = _rss_mib()
    tracemalloc.start()
    t1 = time.perf_counter()
    res = simulate(sc, paths=paths, seed=1)
    sim_s = time.perf_counter() - t1
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    el = float(res.samples("gross").mean())
    return {"loans": n_loans, "paths": paths, "years": years,
            "maxrss_import_mib": rss_import, "maxrss_before_mib": maxrss_before,
            "rss_before_mib": rss_before, "maxrss_after_mib": _maxrss_mib(),
            "traced_peak_mib": traced_peak / MIB, "load_s": load_s, "simulate_s": sim_s,
            "el": el}


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and every process descended from it (MiB)."""
    import os

    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / MIB
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0.0)
        todo.extend(children.get(p, []))
    return total


def run_peak(scenario: str, paths: int, dask_workers: int) -> dict:
    """``simpool run``'s work on ``scenario``: estimate, then run and summarise; the peak
    resident memory of the process tree."""
    import os
    import threading

    import simpool
    from simpool.engine.cluster import open_executor
    from simpool.analysis.simulation import prepare, simulate
    from simpool.engine.plan import plan

    sc = simpool.load_scenario(scenario)
    small = simpool.load_scenario(scenario, ["simulation.horizon_years=1"])
    simulate(small, paths=64, seed=1, keep="summary")  # load the kernels before measuring
    peak = [0.0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss_mib(os.getpid()))
            stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with open_executor(None, "local" if dask_workers else None,
                       dask_workers or None) as executor:
        inputs = plan(sc)
        _, _, est = prepare(sc, inputs, paths, keep="summary", executor=executor)
        del inputs
        res = simulate(sc, paths=paths, seed=1, keep="summary", executor=executor)
        rows = res.summary_rows()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    return {"paths": paths, "dask_workers": dask_workers, "estimate_mib": est.total / MIB,
            "estimate_here_mib": (est.total - est.parts.get("Dask processes", 0)) / MIB,
            "estimate_parts": {k: v / MIB for k, v in est.parts.items()},
            "peak_tree_mib": peak[0], "peak_self_mib": _maxrss_mib(), "wall_s": wall,
            "rows": len(rows)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("first-call")
    m = sub.add_parser("memory")
    m.add_argument("--loans", type=int, default=1000)
    m.add_argument("--paths", type=int, default=10_000)
    m.add_argument("--years", type=int, default=1)
    m.add_argument("--tape", default=None)
    r = sub.add_parser("run-peak")
    r.add_argument("--scenario", required=True)
    r.add_argument("--paths", type=int, required=True)
    r.add_argument("--dask-workers", type=int, default=0)
    a = ap.parse_args(argv)
    if a.cmd == "run-peak":
        out = run_peak(a.scenario, a.paths, a.dask_workers)
    else:
        out = first_call() if a.cmd == "first-call" else memory(a.loans, a.paths, a.years, a.tape)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
