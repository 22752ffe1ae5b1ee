"""The engine: split paths into chunks, run the kernel on any executor, gather the rows.

Random numbers are keyed by the seed and the *global* path index, so the result depends on
(scenario, seed, paths) alone: never on the chunk size, the number of threads, processes or
workers. The default executor is a thread pool over all cores (the kernels release the GIL);
any :class:`concurrent.futures.Executor` works, including a Dask cluster's
(:class:`simpool.cluster.DaskExecutor`, which reruns the chunks of a lost worker).
Workers receive only plain arrays (:class:`~simpool.model.KernelInputs`).
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Callable

import numpy as np

from .model import KernelInputs, plan

#: Default paths per chunk: big enough to amortise the call, small enough to balance load.
DEFAULT_CHUNK = 8192

#: Most bytes one chunk's per-path arrays may take (its outputs and per-segment scratch);
#: the default chunk size shrinks below DEFAULT_CHUNK for scenarios with many segments and
#: years, so that memory grows with paths x (parties, years), not chunk x segments.
CHUNK_BYTES = 64 * 2**20


def run_chunk(inputs: KernelInputs, seed: int, path0: int, n_paths: int,
              keep_segments: bool = True) -> dict[str, np.ndarray]:
    """Simulate one chunk of paths: credit defaults, then the policy waterfall.

    A module-level function of plain arguments, so process pools and Dask can ship it.
    Returns the chunk's rows of every per-path output (see :data:`OUTPUTS`).
    """
    from .rng import seed_key
    from .waterfall import N_PARTIES, waterfall_chunk

    H = inputs.n_years
    wf = inputs.waterfall
    S = wf.n_segments
    out = {
        "loss": np.zeros((n_paths, H)),
        "defaults": np.zeros((n_paths, H), np.int64),
        "logw": np.zeros(n_paths),
    }
    seg_ead = np.zeros((n_paths, H, S))
    seg_loss = np.zeros((n_paths, H, S))
    seg_bal = np.zeros((n_paths, H, S))
    seg_bal_end = np.zeros((n_paths, H, S))
    skey = np.uint64(seed_key(np.uint64(seed)))  # keep it uint64 across the Python boundary
    static = np.ones(S, np.bool_)  # segments of single loans: a static book
    static[np.unique(inputs.c_seg)] = False
    NB, NG, NP, NI = (len(wf.bank_names), len(wf.guarantor_names), len(wf.pool_names),
                      len(wf.insurer_names))
    out.update(
        party=np.zeros((n_paths, H, N_PARTIES)),
        entity=np.zeros((n_paths, H, NB + NG + NP + NI)),
        net=np.zeros((n_paths, H)),
        pool_balance=np.zeros((n_paths, H + 1, NP + 1)),
        pool_unpaid=np.zeros((n_paths, H, NP + 1)),
        pool_suspended=np.zeros((n_paths, H, NP)),
        guarantor_net_assets=np.zeros((n_paths, H + 1, NG + 1)),
        guarantor_leverage=np.zeros((n_paths, H, NG)),
        npl=np.zeros((n_paths, H, NB)),
        nf_payout_rate=np.zeros((n_paths, H)),
        fiscal=np.zeros(n_paths),
        pending=np.zeros((n_paths, 2)),
        loans_outstanding=np.zeros((n_paths, H)),
        pool_npl=np.zeros((n_paths, H, NP)),
    )
    # None when there is no exponential twist: numba then never compiles it
    twist = (inputs.twist_x, inputs.twist_scale) if inputs.twist_x > 0.0 else None
    waterfall_chunk(skey, path0, inputs.kernel_args(), twist, static, wf.g_lev_cap, wf.p_lev_target,
                    wf.bk_slowdown, wf.feedback, out["loss"], out["defaults"], out["logw"],
                    seg_ead, seg_loss, seg_bal, seg_bal_end, *wf.kernel_args(),
                    out["party"], out["entity"], out["net"], out["pool_balance"],
                    out["pool_unpaid"], out["pool_suspended"], out["guarantor_net_assets"],
                    out["guarantor_leverage"], out["npl"], out["nf_payout_rate"], out["fiscal"],
                    out["pending"], out["loans_outstanding"], out["pool_npl"])
    # small aggregates the summary needs, whatever the number of segments
    guaranteed = wf.s_product == 1
    g_bal = np.zeros((n_paths, H, NG))
    for g in range(NG):
        g_bal[:, :, g] = seg_bal[:, :, wf.s_guar == g].sum(axis=2)
    out["guarantor_balance"] = g_bal
    out["guarantee_balance_end"] = seg_bal_end[:, :, guaranteed].sum(axis=2)
    for f in inputs.funds:  # angel funds: same keys, same factor paths
        from .fundkernels import N_FIGURES, fund_chunk

        fig = np.zeros((n_paths, N_FIGURES))
        cash = np.zeros((n_paths, f.life))
        market = np.zeros((n_paths, f.inv_years))
        proceeds = np.zeros((n_paths, f.life))
        (fid, life, inv, dpy, investable, fee, sector, st_cum, st_ticket, st_pl, st_pp, st_a,
         st_cap, rho, shape, mean, g, hurdle, carry, catch_up, conc, fl, tol, disc) = f.kernel_args()
        fund_chunk(skey, path0, n_paths, fid, inputs.chol, inputs.phi, _fixed_for(inputs, inv), life, inv, dpy,
                   investable, fee, sector, st_cum, st_ticket, st_pl, st_pp, st_a, st_cap, rho,
                   shape, mean, g, hurdle, carry, catch_up, conc, fl, tol, disc,
                   fig, cash, market, proceeds)
        out[f"fund:{f.name}:figures"] = fig
        out[f"fund:{f.name}:gov_cash"] = cash
        out[f"fund:{f.name}:market"] = market
        out[f"fund:{f.name}:proceeds"] = proceeds
    if keep_segments:  # per-segment detail (risk contributions), when it fits in memory
        out["segment_ead"] = seg_ead
        out["segment_loss"] = seg_loss
        out["segment_balance"] = seg_bal
        out["segment_balance_end"] = seg_bal_end
    return out


def _fixed_for(inputs: KernelInputs, years: int) -> np.ndarray:
    """Stressed factors for ``years`` vintage years (NaN beyond the credit horizon)."""
    n_sec = inputs.chol.shape[0]
    out = np.full((max(years, 1), n_sec), np.nan)
    k = min(years, inputs.fixed_z.shape[0])
    out[:k] = inputs.fixed_z[:k]
    return out


def chunk_bounds(paths: int, chunk_size: int) -> list[tuple[int, int]]:
    """(first path, number of paths) of each chunk."""
    return [(p, min(chunk_size, paths - p)) for p in range(0, paths, chunk_size)]


def chunk_bytes_per_path(inputs: KernelInputs) -> int:
    """Bytes :func:`run_chunk` allocates per path (float64/int64 arrays, all outputs)."""
    from .waterfall import N_PARTIES

    H = inputs.n_years
    wf = inputs.waterfall
    S = wf.n_segments
    NB, NG, NP, NI = (len(wf.bank_names), len(wf.guarantor_names), len(wf.pool_names),
                      len(wf.insurer_names))
    per_year = (4 * S + N_PARTIES + NB + NG + NP + NI + 3 * (NP + 1) + 2 * NG + NB + 8
                + NG + 1)
    per_path = H * per_year + (H + 1) * (NP + 1 + NG + 1) + 4
    if inputs.funds:
        from .fundkernels import N_FIGURES

        for f in inputs.funds:
            per_path += N_FIGURES + 2 * f.life + f.inv_years
    return 8 * per_path


def default_workers() -> int:
    """Threads of the default executor: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


#: Per-segment outputs (exposure at default, loss and balances per path, year and segment)
#: are kept only while they take at most this many bytes.
KEEP_SEGMENTS_BYTES = 2**30


def run_paths(inputs: KernelInputs, seed: int, paths: int, *, executor: Executor | None = None,
              chunk_size: int | None = None, keep_segments: bool | None = None,
              progress: Callable[[int, int], None] | None = None,
              first_path: int = 0) -> dict[str, np.ndarray]:
    """Run paths ``first_path .. first_path + paths - 1`` of ``inputs``; return the raw
    per-path arrays (row i = path first_path + i). Runs of consecutive path ranges
    concatenate to exactly the run of their union.

    Returns
    -------
    dict of per-path arrays (first axis = paths): ``loss`` and ``defaults`` (paths, years),
    ``logw`` (paths,) log likelihood ratios, and the waterfall's outputs (``party``,
    ``entity``, ``net``, ``pool_balance``, ...; see :func:`run_chunk`).
    """
    if paths < 1:
        raise ValueError(f"paths must be >= 1, got {paths}")
    if keep_segments is None:
        size = 4 * 8 * paths * inputs.n_years * inputs.waterfall.n_segments
        keep_segments = size <= KEEP_SEGMENTS_BYTES
    if chunk_size is None:
        workers = default_workers()
        chunk_size = max(256, min(DEFAULT_CHUNK, -(-paths // (4 * workers))))
        chunk_size = max(1, min(chunk_size, CHUNK_BYTES // chunk_bytes_per_path(inputs)))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    bounds = chunk_bounds(paths, chunk_size)
    result: dict[str, np.ndarray] = {}
    own = executor is None
    if own:
        executor = ThreadPoolExecutor(max_workers=default_workers())
    futures = []
    try:
        futures = [(p0, executor.submit(run_chunk, inputs, seed, first_path + p0, n, keep_segments))
                   for p0, n in bounds]
        if progress is not None:
            progress(0, paths)  # the chunks have started
        done = 0
        for k in range(len(futures)):
            p0, fut = futures[k]
            part = fut.result()
            futures[k] = (p0, None)  # drop the finished chunk: no second copy of the results
            del fut
            n = len(part["logw"])
            for name, arr in part.items():
                if name not in result:
                    result[name] = np.empty((paths,) + arr.shape[1:], arr.dtype)
                result[name][p0:p0 + n] = arr
            done += n
            if progress is not None:
                progress(done, paths)
    except BaseException:
        for _, fut in futures:
            if fut is not None:
                fut.cancel()
        raise
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    return result


def simulate(scenario, paths: int | None = None, seed: int | None = None, *,
             executor: Executor | None = None, chunk_size: int | None = None,
             overrides: list[str] | dict | None = None,
             progress: Callable[[int, int], None] | None = None):
    """Simulate a scenario and return its :class:`~simpool.results.Results`.

    Parameters
    ----------
    scenario : Scenario, dict or path
        A validated scenario, or anything :func:`simpool.load_scenario` accepts.
    paths, seed : int, optional
        Override ``simulation.paths`` and ``simulation.seed``.
    executor : concurrent.futures.Executor, optional
        Where the chunks run (default: a thread pool over all cores).
    chunk_size : int, optional
        Paths per chunk; never changes the result.
    overrides : list of "dotted.key=value", optional
        Applied when ``scenario`` is a dict or path.
    progress : callable(done, total), optional
        Called with done = 0 once the chunks are submitted (planning is over), then after
        each finished chunk.
    """
    from .results import Results
    from .scenario import Scenario, load_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, overrides)
    paths = sc.simulation.paths if paths is None else int(paths)
    seed = sc.simulation.seed if seed is None else int(seed)
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    sc = as_run(sc, paths, seed)
    t0 = time.perf_counter()
    inputs = plan(sc)
    t1 = time.perf_counter()
    raw = run_paths(inputs, seed, paths, executor=executor, chunk_size=chunk_size, progress=progress)
    t2 = time.perf_counter()
    return Results(sc, seed=seed, paths=paths, raw=raw,
                   timing={"plan_s": t1 - t0, "simulate_s": t2 - t1},
                   n_loans=inputs.n_loans_total, importance=inputs.is_info,
                   waterfall=inputs.waterfall)


def as_run(sc, paths: int, seed: int):
    """``sc`` with ``simulation.paths`` and ``.seed`` set to what is run (a copy when they
    differ), so that a result's resolved scenario and provenance say what produced it."""
    if sc.simulation.paths == paths and sc.simulation.seed == seed:
        return sc
    return sc.model_copy(update={"simulation": sc.simulation.model_copy(
        update={"paths": int(paths), "seed": int(seed)})})


def merge_raw(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate the raw arrays of consecutive path ranges."""
    keys = [k for k in parts[0] if all(k in p for p in parts)]
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def simulate_until(scenario, targets: list[tuple], *, paths: int | None = None,
                   max_paths: int = 10_000_000, seed: int | None = None,
                   executor: Executor | None = None, chunk_size: int | None = None,
                   log: Callable[[str], None] | None = None):
    """Run paths in batches until every target's standard error is at most its value.

    ``targets``: (Figure, max_se) pairs (:class:`simpool.solve.Figure`). The first batch has
    ``paths`` paths (default the scenario's); each next batch is sized from SE ~ 1/sqrt(n)
    (at most 8x the paths so far), up to ``max_paths`` in all. Path i is the same path
    whatever the batches, so the result equals one run of the final path count.
    """
    from .results import Results

    from .scenario import Scenario, load_scenario

    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    seed = sc.simulation.seed if seed is None else int(seed)
    n = int(paths or sc.simulation.paths)
    t0 = time.perf_counter()
    inputs = plan(sc)
    t1 = time.perf_counter()
    parts = [run_paths(inputs, seed, n, executor=executor, chunk_size=chunk_size)]
    done = n
    while True:
        res = Results(as_run(sc, done, seed), seed=seed, paths=done,
                      raw=merge_raw(parts) if len(parts) > 1 else parts[0],
                      timing={"plan_s": t1 - t0, "simulate_s": time.perf_counter() - t1},
                      n_loans=inputs.n_loans_total, importance=inputs.is_info,
                      waterfall=inputs.waterfall)
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
        parts = [res._raw, run_paths(inputs, seed, more, executor=executor, chunk_size=chunk_size,
                                     first_path=done)]
        done += more


#: One small scenario per compiled kernel variant, for :func:`precompile`: the credit and
#: policy-waterfall kernel; the same with the importance-sampling twist (its own signature);
#: the government-fund kernel. Any scenario of a variant compiles the same code (the plan
#: hands the kernels one form of argument: simpool.model.kernel_form).
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
    }),
)


def precompile(log: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """Compile every kernel variant into the numba cache now, or load it from there.

    ``pip install`` runs this (build_backend/simpool_build.py); without it the first run of
    a simpool version on a machine pays the compilation inside its first simulation (about
    17, 13 and 3 s for the three variants on two cores). numba's cache is specific to the
    CPU and the numba version it was compiled with and lives in
    :func:`simpool._jit.cache_dir` (``NUMBA_CACHE_DIR`` when set): run this on the machines
    that will simulate when the install could not compile, e.g. cluster workers sharing an
    install made elsewhere, or on one of identical machines sharing ``NUMBA_CACHE_DIR``. Returns
    ``(variant, seconds)`` pairs; ``log`` gets one line per variant as it finishes.
    """
    from .scenario import load_scenario

    out = []
    for name, spec in PRECOMPILE_VARIANTS:
        t0 = time.perf_counter()
        simulate(load_scenario(spec))
        dt = time.perf_counter() - t0
        out.append((name, dt))
        if log:
            log(f"{name}: {dt:.1f} s")
    return out
