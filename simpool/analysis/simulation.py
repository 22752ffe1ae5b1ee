"""Simulating a scenario: plan it, check the memory, run its chunks, hand back Results.

:func:`simulate` (the public ``simpool.simulate``) and :func:`simulate_until` (paths in
batches until standard errors are small enough) drive the engine (:mod:`simpool.engine`:
plan, kernels, chunks over any executor) and collect what the analysis needs: each chunk is
reduced where it ran to the outputs the run keeps and its share of the summary's block
moments (:class:`simpool.analysis.features.Reducer`). :func:`precompile` compiles every kernel
variant ahead of a first run (``simpool compile``, and ``pip install``).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Executor
from typing import Callable

import numpy as np

from ..engine.plan import KernelInputs, plan
from ..scenario.policy import PARTIES
from ..engine.runner import (SEGMENT_OUTPUTS, ResultStore, bytes_per_path, default_chunk_size,
                             default_workers, output_shapes, run_paths)


#: ``keep="auto"`` keeps every per-path output while that needs at most this share of the
#: memory available (else only the summary's samples).
AUTO_KEEP_ALL_SHARE = 0.25


def _executor_shape(executor) -> tuple[int, int, bool]:
    """(parallel threads here, Dask workers, whether those run on this machine)."""
    if executor is None:
        return default_workers(), 0, False
    dask = getattr(executor, "dask_workers", None)
    if dask is not None:
        return 1, max(1, int(dask)), bool(getattr(executor, "local", False))
    return int(getattr(executor, "_max_workers", default_workers())), 0, False


def prepare(sc, inputs: KernelInputs, paths: int, *, keep="auto", executor=None,
            chunk_size: int | None = None, max_memory: int | None = None,
            what: str | None = None, hint: str = ""):
    """Decide what a run of ``paths`` paths keeps and check that it fits in memory.

    Returns ``(reducer, keep label, memory estimate)``; raises
    :class:`simpool.engine.memory.MemoryBudgetError` (before anything is simulated) when the
    estimated peak is above the memory available or ``max_memory`` bytes.
    """
    import warnings

    from ..engine import memory
    from ..errors import SimpoolWarning
    from .features import FeaturePlan, Reducer, keep_outputs

    n_start = sum(c.loans for c in sc.cohorts) + (len(sc.tape) if sc.tape is not None else 0)
    features = FeaturePlan(sc, inputs.waterfall, n_start)
    shapes = output_shapes(inputs)
    if max_memory is None:
        max_memory = memory.default_max_memory()
    size = 4 * 8 * paths * inputs.n_years * inputs.waterfall.n_segments
    from ..engine.runner import KEEP_SEGMENTS_BYTES  # (read now: tests lower it)

    if size > KEEP_SEGMENTS_BYTES:  # run_paths drops them: never kept
        shapes = {k: v for k, v in shapes.items() if k not in SEGMENT_OUTPUTS}
    workers, dask_workers, local = _executor_shape(executor)
    chunk = default_chunk_size(inputs, paths, chunk_size, 8 * (features.n_features + 2))
    weighted = bool(inputs.model.is_on or inputs.model.twist_x > 0)
    funds = [f.name for f in inputs.funds]
    subs = [f.name for f in inputs.sub_funds]
    extra = {"pool_unpaid_total": ((len(inputs.waterfall.pool_names) + 1,), np.float64),
             "product_party_total": ((2, 3, len(PARTIES)), np.float64)}

    def estimate_for(names):
        kept = bytes_per_path({**shapes, **extra}, names)
        return memory.estimate(inputs, paths, kept, features.n_features, chunk, workers,
                               weighted=weighted, dask_workers=dask_workers, dask_local=local)

    if isinstance(keep, str) and keep == "auto":
        names, label = keep_outputs("all", shapes, funds, subs)
        est = estimate_for(names)
        budget, _ = memory.available_memory()
        if max_memory is not None:
            budget = max_memory if budget is None else min(budget, max_memory)
        if budget is not None and est.total - est.parts["this process now"] > \
                AUTO_KEEP_ALL_SHARE * budget:
            names, label = keep_outputs("summary", shapes, funds, subs)
            warnings.warn(f"keeping only the summary's per-path results of {sc.name} "
                          f"({paths:,} paths): every output would need {memory.gib(est.total)}; "
                          "pass keep='all' (or the outputs you need) to keep more",
                          SimpoolWarning, stacklevel=3)
            est = estimate_for(names)
    else:
        names, label = keep_outputs(keep, shapes, funds, subs)
        est = estimate_for(names)
    memory.check(est, max_memory, what or f"simulating {sc.name}", hint)
    return Reducer(features, names), label, est


def simulate(scenario, paths: int | None = None, seed: int | None = None, *,
             executor: Executor | None = None, chunk_size: int | None = None,
             overrides: list[str] | dict | None = None,
             progress: Callable[[int, int], None] | None = None,
             keep="auto", max_memory: int | None = None,
             warn: Callable[[str], None] | None = None):
    """Simulate a scenario and return its :class:`~simpool.analysis.results.Results`.

    Parameters
    ----------
    scenario : Scenario, dict or path
        A validated scenario, or anything :func:`simpool.load_scenario` accepts.
    paths, seed : int, optional
        Override ``simulation.paths`` and ``simulation.seed``.
    executor : concurrent.futures.Executor, optional
        Where the chunks run (default: a thread pool over all cores).
    chunk_size : int, optional
        Paths per chunk; never changes the result (shrunk, with a warning, when a chunk
        would hold more than :data:`CHUNK_BYTES` of arrays).
    overrides : list of "dotted.key=value", optional
        Applied when ``scenario`` is a dict or path.
    progress : callable(done, total), optional
        Called with done = 0 once the chunks are submitted (planning is over), then after
        each finished chunk.
    keep : "auto", "all", "summary" or a list of output names
        What the result keeps per path. ``"summary"``: only what :meth:`Results.summary`
        needs (the losses of each party by year, the fiscal NPV, unpaid totals, the funds'
        figures; about 430 bytes a path for ``scenarios/hubei_base.toml``); its means and
        probabilities are reduced to block moments as the chunks arrive. ``"all"``: every
        output (``pool_balance``, ``entity``, per-segment losses for risk contributions,
        ...). A list keeps those outputs besides the summary's. ``"auto"`` (default):
        ``"all"`` when that needs at most a quarter of the memory available, else
        ``"summary"`` (with a warning). The figures are the same whatever is kept.
    max_memory : int, optional
        Bytes the run may use at its peak (default: the memory available, or the
        ``SIMPOOL_MAX_MEMORY`` environment variable); a run estimated above it raises
        :class:`simpool.engine.memory.MemoryBudgetError` before simulating.
    warn : callable(str), optional
        Gets warnings about the run's settings (an explicit chunk size shrunk).
    """
    from .results import Results
    from ..scenario.load import load_scenario
    from ..scenario.schema import Scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    paths = sc.simulation.paths if paths is None else int(paths)
    seed = sc.simulation.seed if seed is None else int(seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    if paths < 1:
        raise ValueError(f"paths must be >= 1, got {paths}")
    sc = as_run(sc, paths, seed)
    t0 = time.perf_counter()
    inputs = plan(sc)
    reducer, label, est = prepare(sc, inputs, paths, keep=keep, executor=executor,
                                  chunk_size=chunk_size, max_memory=max_memory)
    t1 = time.perf_counter()
    store = ResultStore(reducer, paths)
    run_paths(inputs, seed, paths, executor=executor, chunk_size=chunk_size, progress=progress,
              reducer=reducer, sink=store.add, warn=warn)
    t2 = time.perf_counter()
    res = Results(sc, seed=seed, paths=paths, raw=store.raw(paths),
                  timing={"plan_s": t1 - t0, "simulate_s": t2 - t1},
                  n_loans=inputs.n_loans_total, importance=inputs.is_info,
                  waterfall=inputs.waterfall, moments=store.moments.moments(paths), keep=label)
    unc = sc.model.uncertainty
    if getattr(sc, "_spreads", None) and unc is not None and unc.compare:
        # the same paths with the parameters fixed at their values: common random numbers
        # (the parameters' draws use a stream of their own), so the difference is the
        # parameters' alone
        fixed = sc.model_copy()
        fixed._spreads = {}
        res.without_uncertainty = simulate(fixed, paths, seed, executor=executor,
                                           chunk_size=chunk_size, keep="summary",
                                           max_memory=max_memory, warn=warn)
    return res


def as_run(sc, paths: int, seed: int):
    """``sc`` with ``simulation.paths`` and ``.seed`` set to what is run (a copy when they
    differ), so that a result's resolved scenario and provenance say what produced it."""
    if sc.simulation.paths == paths and sc.simulation.seed == seed:
        return sc
    return sc.model_copy(update={"simulation": sc.simulation.model_copy(
        update={"paths": int(paths), "seed": int(seed)})})


def simulate_until(scenario, targets: list[tuple], *, paths: int | None = None,
                   max_paths: int = 10_000_000, seed: int | None = None,
                   executor: Executor | None = None, chunk_size: int | None = None,
                   log: Callable[[str], None] | None = None, keep="summary",
                   max_memory: int | None = None, warn: Callable[[str], None] | None = None):
    """Run paths in batches until every target's standard error is at most its value.

    ``targets``: (Figure, max_se) pairs (:class:`simpool.analysis.solve.Figure`). The first batch has
    ``paths`` paths (default the scenario's); each next batch is sized from SE ~ 1/sqrt(n)
    (at most 8x the paths so far), up to ``max_paths`` in all. Path i is the same path
    whatever the batches, so the result equals one run of the final path count. The kept
    outputs (``keep``, as for :func:`simulate`; default the summary's) are allocated once for
    ``max_paths`` and filled batch by batch (no copies); the memory check counts
    ``max_paths``.
    """
    from .results import Results
    from ..scenario.load import load_scenario
    from ..scenario.schema import Scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    seed = sc.simulation.seed if seed is None else int(seed)
    n = int(paths or sc.simulation.paths)
    max_paths = max(int(max_paths), n)
    t0 = time.perf_counter()
    inputs = plan(sc)
    reducer, label, _ = prepare(sc, inputs, max_paths, keep=keep, executor=executor,
                                chunk_size=chunk_size, max_memory=max_memory,
                                what=f"simulating {sc.name} up to --max-paths",
                                hint=" (lower --max-paths)")
    t1 = time.perf_counter()
    store = ResultStore(reducer, max_paths)
    run_paths(inputs, seed, n, executor=executor, chunk_size=chunk_size, reducer=reducer,
              sink=store.add, warn=warn)
    done = n
    while True:
        res = Results(as_run(sc, done, seed), seed=seed, paths=done, raw=store.raw(done),
                      timing={"plan_s": t1 - t0, "simulate_s": time.perf_counter() - t1},
                      n_loans=inputs.n_loans_total, importance=inputs.is_info,
                      waterfall=inputs.waterfall, moments=store.moments.moments(done),
                      keep=label)
        summary = res.summary()
        worst = 1.0
        status = []
        for fig, max_se in targets:
            _, se = fig.pick(summary)
            # an unknown SE (NaN: too few paths) or an infinite one is not met
            ratio = se / max_se if (max_se > 0 and math.isfinite(se)) else math.inf
            status.append(f"{fig}: SE {se:.4g} (target {max_se:.4g})")
            worst = max(worst, ratio)
        if log:
            log(f"{done:,} paths: " + "; ".join(status))
        if worst <= 1.0 or done >= max_paths:
            res.target_se_met = worst <= 1.0
            return res
        want = int(done * min(worst * worst * 1.1, 9.0)) + 1
        more = min(max(want - done, done // 4, 1), 8 * done, max_paths - done)
        run_paths(inputs, seed, more, executor=executor, chunk_size=chunk_size,
                  first_path=done, reducer=reducer, sink=store.add)
        done += more


#: One small scenario per compiled kernel variant, for :func:`precompile`: the credit and
#: policy-waterfall kernel; the same with the importance-sampling twist (its own signature);
#: the government-fund kernel. Any scenario of a variant compiles the same code (the plan
#: hands the kernels one form of argument: simpool.engine.plan.kernel_form).
PRECOMPILE_VARIANTS: tuple[tuple[str, dict], ...] = (
    ("credit and policy waterfall", {
        "title": "precompile: waterfall",
        "simulation": {"paths": 64, "seed": 1, "horizon_years": 2},
        "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.02, "lgd": 0.45,
                     "rho": 0.15}],
    }),
    ("waterfall with the importance-sampling twist", {
        "title": "precompile: twist",
        "simulation": {"paths": 64, "seed": 1, "horizon_years": 1},
        "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.02, "lgd": 0.45,
                     "rho": 0.15}],
        "importance_sampling": {"method": "shift_twist", "target": 5e6},
    }),
    ("government funds", {
        "title": "precompile: funds",
        "simulation": {"paths": 64, "seed": 1},
        "funds": [{"name": "f", "size": 1e8, "government_share": 0.5, "deals_per_year": 2,
                   "life_years": 4, "investment_years": 2,
                   "stages": [{"name": "seed", "share": 1.0, "ticket": 1e6}]}],
        "guidance_funds": [{"name": "g", "sub_funds": [{
            "name": "s", "size": 1e8, "guidance_share": 0.4, "deals_per_year": 2,
            "life_years": 4, "investment_years": 2,
            "stages": [{"name": "seed", "share": 1.0, "ticket": 1e6}]}]}],
    }),
)


def precompile(log: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """Compile every kernel variant into the numba cache now, or load it from there.

    ``pip install`` runs this (build_backend/simpool_build.py); without it the first run of
    a simpool version on a machine pays the compilation inside its first simulation (about
    17, 13 and 3 s for the three simulation variants on two cores), and the first
    ``simpool calibrate`` its likelihood's (a few seconds). numba's cache is specific to the
    CPU and the numba version it was compiled with and lives in
    :func:`simpool.engine._jit.cache_dir` (``NUMBA_CACHE_DIR`` when set): run this on the machines
    that will simulate when the install could not compile, e.g. cluster workers sharing an
    install made elsewhere, or on one of identical machines sharing ``NUMBA_CACHE_DIR``. Returns
    ``(variant, seconds)`` pairs; ``log`` gets one line per variant as it finishes.
    """
    from ..scenario.load import load_scenario

    out = []
    for name, spec in PRECOMPILE_VARIANTS:
        t0 = time.perf_counter()
        simulate(load_scenario(spec))
        dt = time.perf_counter() - t0
        out.append((name, dt))
        if log:
            log(f"{name}: {dt:.1f} s")
    # simpool calibrate's likelihood kernels (a small history of 10 years: phi's too)
    import numpy as np

    from .calibrate import fit_segment

    t0 = time.perf_counter()
    fit_segment("precompile", np.arange(10), np.array([3, 5, 2, 8, 4, 6, 3, 9, 5, 4]),
                np.full(10, 200), intervals=False)
    dt = time.perf_counter() - t0
    out.append(("calibration likelihood", dt))
    if log:
        log(f"calibration likelihood: {dt:.1f} s")
    return out
