"""The engine: split paths into chunks, run the kernel on any executor, gather the rows.

Random numbers are keyed by the seed and the *global* path index, so the result depends on
(scenario, seed, paths) alone: never on the chunk size, the number of threads, processes or
workers. The default executor is a thread pool over all cores (the kernels release the GIL);
any :class:`concurrent.futures.Executor` works, including a Dask cluster's
(:class:`simpool.engine.cluster.DaskExecutor`, which reruns the chunks of a lost worker).
Workers receive only plain arrays (:class:`~simpool.engine.plan.KernelInputs`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Callable

import numpy as np

from .inputs import FundOutputs, KernelInputs, Outputs, SubFundOutputs

#: Default paths per chunk: big enough to amortise the call, small enough to balance load.
DEFAULT_CHUNK = 8192

#: Most bytes one chunk's per-path arrays may take (its outputs and per-segment scratch);
#: the default chunk size shrinks below DEFAULT_CHUNK for scenarios with many segments and
#: years, so that memory grows with paths x (parties, years), not chunk x segments.
CHUNK_BYTES = 64 * 2**20


def output_shapes(inputs: KernelInputs, keep_segments: bool = True) -> dict[str, tuple]:
    """Per-path outputs of :func:`run_chunk`: ``{name: (shape after the path axis, dtype)}``.

    The one list of them: :func:`run_chunk` allocates from it and the memory estimate
    (:mod:`simpool.engine.memory`) counts from it, so an output added here enters both.
    """
    from .waterfall import N_PARTIES

    H = inputs.n_years
    wf = inputs.waterfall
    S = wf.n_segments
    NB, NG, NP, NI = (len(wf.bank_names), len(wf.guarantor_names), len(wf.pool_names),
                      len(wf.insurer_names))
    f8, i8 = np.float64, np.int64
    out = {
        "loss": ((H,), f8), "defaults": ((H,), i8), "logw": ((), f8),
        "party": ((H, N_PARTIES), f8), "entity": ((H, NB + NG + NP + NI), f8),
        "net": ((H,), f8), "pool_balance": ((H + 1, NP + 1), f8),
        "pool_unpaid": ((H, NP + 1), f8), "pool_suspended": ((H, NP), f8),
        "guarantor_net_assets": ((H + 1, NG + 1), f8), "guarantor_leverage": ((H, NG + 1), f8),
        "npl": ((H, NB), f8), "nf_payout_rate": ((H,), f8),
        "pending": ((2,), f8), "loans_outstanding": ((H,), f8), "borrowers": ((H + 1,), f8),
        "loan_balance_end": ((H,), f8), "pool_npl": ((H, NP), f8),
        "party_ultimate": ((H, N_PARTIES), f8), "entity_ultimate": ((H, NB + NG + NP + NI), f8),
        "product_party": ((H, 2, 3, N_PARTIES), f8),
        "nf_rate_precap": ((H,), f8), "nf_binds": ((H,), f8), "nf_moved": ((H,), f8),
        "nf_line_moved": ((H,), f8), "gov_moved": ((H,), f8), "gov_exhausted": ((H,), f8),
        "gov_balance": ((H + 1,), f8), "premium_subsidy": ((H,), f8),
        "insurer_loss_ratio": ((H, NI), f8), "insurer_suspended": ((H, NI), f8),
        "pool_bank_npl": ((H, NP, NB), f8), "product_balance": ((H, 3), f8),
        "bank_balance": ((H, NB), f8), "pool_eligible": ((H, NP), f8),
        "lending_removed": ((H, NG + 1 + 2 * NP + NI + NB + 1), f8),
        "public_flows": ((H, len(wf.ledger_columns)), f8),
        # small aggregates of the per-segment arrays, whatever the number of segments
        "guarantor_balance": ((H, NG), f8), "guarantee_balance_end": ((H,), f8),
    }
    if inputs.funds:
        from .fundkernels import N_FIGURES

        for f in inputs.funds:
            out[f"fund:{f.name}:figures"] = ((N_FIGURES,), f8)
            out[f"fund:{f.name}:gov_cash"] = ((f.life,), f8)
            out[f"fund:{f.name}:market"] = ((f.inv_years,), f8)
            out[f"fund:{f.name}:proceeds"] = ((f.life,), f8)
    if inputs.sub_funds:
        from .fofkernels import N_SUB_FIGURES

        for f in inputs.sub_funds:
            n_lp, n_st = len(f.params.shares), len(f.params.st_cum)
            out[f"sub:{f.name}:figures"] = ((N_SUB_FIGURES,), f8)
            out[f"sub:{f.name}:lp_cash"] = ((n_lp, f.life), f8)
            for k in ("nav", "invested", "proceeds"):
                out[f"sub:{f.name}:{k}"] = ((f.life,), f8)
            out[f"sub:{f.name}:category"] = ((2, n_st), f8)
    for name in SEGMENT_OUTPUTS:  # scratch of the kernel; kept when they fit (keep_segments)
        out[name] = ((H, S), f8)
    return out


#: Per-segment outputs (exposure at default, loss, balance at the start and the end of each
#: year, per path, year and segment): the kernel's scratch, kept only when asked for and small.
SEGMENT_OUTPUTS = ("segment_ead", "segment_loss", "segment_balance", "segment_balance_end")


def run_chunk(inputs: KernelInputs, seed: int, path0: int, n_paths: int,
              keep_segments: bool = True, reducer: Callable | None = None) -> dict:
    """Simulate one chunk of paths: credit defaults, then the policy waterfall.

    A module-level function of plain arguments, so process pools and Dask can ship it.
    Returns the chunk's rows of every per-path output (:func:`output_shapes`), or, with a
    ``reducer``, what ``reducer(outputs, path0)`` makes of them (the outputs a run keeps and
    its share of the summary's block moments: :class:`simpool.analysis.results.Reducer`), so that a
    worker sends back only that.
    """
    from .rng import seed_key
    from .waterfall import waterfall_chunk

    wf = inputs.waterfall
    out = {name: np.zeros((n_paths,) + shape, dtype)
           for name, (shape, dtype) in output_shapes(inputs).items()}
    skey = np.uint64(seed_key(np.uint64(seed)))  # keep it uint64 across the Python boundary
    model = inputs.model
    # None when there is no exponential twist: numba then never compiles it
    twist = (model.twist_x, model.twist_scale) if model.twist_x > 0.0 else None
    waterfall_chunk(skey, path0, model, inputs.book, twist, wf.routes, wf.banks, wf.guarantors,
                    wf.pools, wf.insurance, wf.public, wf.ledger,
                    Outputs(**{name: out[name] for name in Outputs._fields}))
    routes = wf.routes
    seg_bal = out["segment_balance"]
    for g in range(len(wf.guarantor_names)):
        out["guarantor_balance"][:, :, g] = seg_bal[:, :, routes.guarantor == g].sum(axis=2)
    out["guarantee_balance_end"][:] = \
        out["segment_balance_end"][:, :, routes.product == 1].sum(axis=2)
    for f in inputs.funds:  # angel funds: same keys, same factor paths
        from .fundkernels import fund_chunk

        fund_chunk(skey, path0, n_paths, model.chol, model.phi,
                   _fixed_for(inputs, f.inv_years), f.params,
                   FundOutputs(**{k: out[f"fund:{f.name}:{k}"] for k in FundOutputs._fields}))
    for f in inputs.sub_funds:  # guidance funds' sub-funds: same keys, same factor paths
        from .fofkernels import subfund_chunk

        subfund_chunk(skey, path0, n_paths, model.chol, model.phi,
                      _fixed_for(inputs, f.inv_years), f.params,
                      SubFundOutputs(**{k: out[f"sub:{f.name}:{k}"]
                                        for k in SubFundOutputs._fields}))
    if not keep_segments:  # per-segment detail (risk contributions) only when it fits
        for name in SEGMENT_OUTPUTS:
            del out[name]
    if reducer is not None:
        return reducer(out, path0)
    return out


def _fixed_for(inputs: KernelInputs, years: int) -> np.ndarray:
    """Stressed factors for ``years`` vintage years (NaN beyond the credit horizon)."""
    fixed_z = inputs.model.fixed_z
    out = np.full((max(years, 1), fixed_z.shape[1]), np.nan)
    k = min(years, fixed_z.shape[0])
    out[:k] = fixed_z[:k]
    return out


def inputs_bytes(inputs: KernelInputs) -> int:
    """Bytes of the planned inputs' arrays (what each worker process receives)."""
    total = 0
    wf = inputs.waterfall
    groups = [inputs.model, inputs.book] + ([wf.routes, wf.banks, wf.guarantors, wf.pools,
                                             wf.insurance, wf.public] if wf is not None else [])
    for g in groups + [f.params for f in inputs.funds + inputs.sub_funds]:
        total += sum(v.nbytes for v in g if isinstance(v, np.ndarray))
    return total


def chunk_bounds(paths: int, chunk_size: int) -> list[tuple[int, int]]:
    """(first path, number of paths) of each chunk."""
    return [(p, min(chunk_size, paths - p)) for p in range(0, paths, chunk_size)]


def bytes_per_path(shapes: dict[str, tuple], names=None) -> int:
    """Bytes one path takes in the outputs ``names`` (default: all) of ``shapes``
    (:func:`output_shapes`)."""
    total = 0
    for name, (shape, dtype) in shapes.items():
        if names is None or name in names:
            total += int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    return total


def chunk_bytes_per_path(inputs: KernelInputs, extra: int = 0) -> int:
    """Bytes :func:`run_chunk` allocates per path (every output, per-segment scratch
    included), plus ``extra`` (what a reducer makes of them)."""
    return bytes_per_path(output_shapes(inputs)) + extra


def default_workers() -> int:
    """Threads of the default executor: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


#: Per-segment outputs (exposure at default, loss and balances per path, year and segment)
#: are kept only while they take at most this many bytes.
KEEP_SEGMENTS_BYTES = 2**30


def default_chunk_size(inputs: KernelInputs, paths: int, chunk_size: int | None = None,
                       extra: int = 0, warn: Callable[[str], None] | None = None) -> int:
    """Paths per chunk: ``chunk_size`` when given, else enough chunks to balance the load;
    either way at most :data:`CHUNK_BYTES` of per-path arrays per chunk (an explicit size
    above that is shrunk, with a warning through ``warn``: 2,000 cohorts over 50 years take
    8 MB a path)."""
    per_path = chunk_bytes_per_path(inputs, extra)
    cap = max(1, CHUNK_BYTES // per_path)
    if chunk_size is None:
        workers = default_workers()
        chunk_size = max(256, min(DEFAULT_CHUNK, -(-paths // (4 * workers))))
        return max(1, min(chunk_size, cap))
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if chunk_size > cap and chunk_size > 1:
        if warn is not None:
            warn(f"--chunk-size {chunk_size:,}: a path of this scenario takes "
                 f"{per_path / 2**20:,.1f} MiB of arrays, so a chunk may hold at most {cap:,} "
                 f"paths ({CHUNK_BYTES // 2**20} MiB); using {cap:,}")
        return cap
    return chunk_size


def run_paths(inputs: KernelInputs, seed: int, paths: int, *, executor: Executor | None = None,
              chunk_size: int | None = None, keep_segments: bool | None = None,
              progress: Callable[[int, int], None] | None = None,
              first_path: int = 0, reducer: Callable | None = None,
              sink: Callable[[int, dict], None] | None = None,
              warn: Callable[[str], None] | None = None) -> dict[str, np.ndarray] | None:
    """Run paths ``first_path .. first_path + paths - 1`` of ``inputs``; return the raw
    per-path arrays (row i = path first_path + i). Runs of consecutive path ranges
    concatenate to exactly the run of their union.

    With a ``reducer`` (see :func:`run_chunk`) each chunk's reduced result goes to
    ``sink(first path of the chunk, result)`` as it arrives, in path order, and nothing is
    returned: memory then holds what the sink keeps, not every output of every path.

    Returns
    -------
    dict of per-path arrays (first axis = paths): ``loss`` and ``defaults`` (paths, years),
    ``logw`` (paths,) log likelihood ratios, and the waterfall's outputs (``party``,
    ``entity``, ``net``, ``pool_balance``, ...; see :func:`output_shapes`).
    """
    if paths < 1:
        raise ValueError(f"paths must be >= 1, got {paths}")
    if keep_segments is None:
        size = 4 * 8 * paths * inputs.n_years * inputs.waterfall.n_segments
        keep_segments = size <= KEEP_SEGMENTS_BYTES
    extra = getattr(reducer, "bytes_per_path", 0)
    chunk_size = default_chunk_size(inputs, paths, chunk_size, extra, warn)
    bounds = chunk_bounds(paths, chunk_size)
    result: dict[str, np.ndarray] = {}
    own = executor is None
    if own:
        executor = ThreadPoolExecutor(max_workers=default_workers())
    share = getattr(executor, "share", None)  # Dask: the inputs go to each worker once
    shipped = share(inputs) if share is not None else inputs
    futures = []
    try:
        futures = [(p0, executor.submit(run_chunk, shipped, seed, first_path + p0, n,
                                        keep_segments, reducer))
                   for p0, n in bounds]
        if progress is not None:
            progress(0, paths)  # the chunks have started
        done = 0
        for k in range(len(futures)):
            p0, fut = futures[k]
            part = fut.result()
            futures[k] = (p0, None)  # drop the finished chunk: no second copy of the results
            del fut
            n = bounds[k][1]
            if sink is not None:
                sink(first_path + p0, part)
            else:
                for name, arr in part.items():
                    if name not in result:
                        result[name] = np.empty((paths,) + arr.shape[1:], arr.dtype)
                    result[name][p0:p0 + n] = arr
            del part
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
    return None if sink is not None else result


class ResultStore:
    """Collects a run's reduced chunks (:class:`simpool.analysis.results.Reducer`): the kept per-path
    outputs, each in one array of ``capacity`` rows allocated at its first chunk (memory the
    rows never reach is never touched: it stays virtual), and the block moments."""

    def __init__(self, reducer, capacity: int):
        from .moments import MomentStore

        self.capacity = int(capacity)
        self.arrays: dict[str, np.ndarray] = {}
        self.moments = MomentStore(reducer.features.n_features, reducer.features.is_prob,
                                   self.capacity)
        self.paths = 0

    def add(self, path0: int, part: dict) -> None:
        kept = part["kept"]
        n = len(kept["logw"])
        for name, arr in kept.items():
            dst = self.arrays.get(name)
            if dst is None:
                dst = self.arrays[name] = np.empty((self.capacity,) + arr.shape[1:], arr.dtype)
            dst[path0:path0 + n] = arr
        self.moments.add(part["moments"])
        self.paths = max(self.paths, path0 + n)

    def raw(self, paths: int) -> dict[str, np.ndarray]:
        """The kept outputs of paths ``0 .. paths - 1`` (views)."""
        return {name: arr[:paths] for name, arr in self.arrays.items()}
