"""Bit-for-bit reproducibility: results depend on (scenario, seed, paths) alone.

Every random number is keyed by the seed and the global path index, so neither the
executor (threads, processes, any ``concurrent.futures.Executor``), nor the chunk size, nor
the order in which chunks finish may change a single bit of the per-path samples.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

import simpool

#: Everything the kernel can do at once: binomial and per-loan cohorts, t copula, Beta LGD
#: (including a cohort big enough for the normal approximation of the LGD sum), two
#: correlated sectors, three years with persistent factors, and an empty cohort.
MIXED = {
    "title": "mixed",
    "simulation": {"paths": 10_000, "seed": 5, "start_year": 2025, "horizon_years": 3},
    "model": {"copula": "t", "dof": 5.0, "sectors": ["opto", "bio"],
              "sector_correlation": [[1.0, 0.4], [0.4, 1.0]], "factor_persistence": 0.6},
    "cohorts": [
        {"name": "big", "loans": 5000, "exposure": 1e6, "pd": 0.08, "lgd": 0.45, "lgd_std": 0.2,
         "rho": 0.15, "sector": "opto"},
        {"name": "small", "loans": 40, "exposure": 2.5e5, "pd": 0.03, "lgd": 0.6, "rho": 0.2,
         "sector": "bio"},
        {"name": "tape_like", "loans": 60, "exposure": 7e5, "pd": 0.05, "lgd": 0.5, "lgd_std": 0.15,
         "rho": 0.12, "sector": "opto", "mode": "loans"},
        {"name": "tape_like_2", "loans": 25, "exposure": 3e5, "pd": 0.02, "lgd": 0.7, "rho": 0.3,
         "sector": "bio", "mode": "loans"},
        {"name": "empty", "loans": 0, "exposure": 1.0, "pd": 0.1, "lgd": 0.5, "rho": 0.1,
         "sector": "bio"},
    ],
    "report": {"levels": [0.99, 0.999], "exceedance": [1e8]},
}
PATHS = 12_000
SEED = 5


@pytest.fixture(scope="module")
def sc():
    return simpool.load_scenario(MIXED)


def arrays(res) -> dict[str, np.ndarray]:
    """Every per-path output reachable through the public API, by measure and year."""
    out = {}
    from simpool.analysis.results import SCALARS

    for m in res.measures:
        out[(m, None)] = res.samples(m)
        if m in SCALARS:  # one figure per path (fiscal NPV, pending amounts)
            continue
        for y in res.years:
            out[(m, y)] = res.samples(m, year=y)
    return out


def assert_identical(a, b, what=""):
    a, b = arrays(a), arrays(b)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, (what, k)
        assert np.array_equal(a[k], b[k]), f"{what}: {k} differs at {np.flatnonzero(a[k] != b[k])[:10]}"


@pytest.fixture(scope="module")
def reference(sc):
    res = simpool.simulate(sc, paths=PATHS, seed=SEED)
    # the scenario is not degenerate: every year has defaults and losses
    for y in res.years:
        assert res.samples("defaults", year=y).sum() > 0
    return res


# --------------------------------------------------------------------------- executors and chunks


@pytest.mark.parametrize("chunk_size", [1000, 4097, None])
@pytest.mark.parametrize("workers", [1, 2])
def test_thread_pools_and_chunk_sizes(sc, reference, workers, chunk_size):
    with ThreadPoolExecutor(max_workers=workers) as ex:
        res = simpool.simulate(sc, paths=PATHS, seed=SEED, executor=ex, chunk_size=chunk_size)
    assert_identical(reference, res, f"{workers} threads, chunk {chunk_size}")


@pytest.mark.parametrize("chunk_size", [1000, 4097, None, PATHS, 10 * PATHS])
def test_default_executor_and_chunk_sizes(sc, reference, chunk_size):
    assert_identical(reference, simpool.simulate(sc, paths=PATHS, seed=SEED, chunk_size=chunk_size),
                     f"default executor, chunk {chunk_size}")


def test_single_path_chunks(sc):
    """chunk_size 1: every path its own chunk."""
    a = simpool.simulate(sc, paths=300, seed=SEED, chunk_size=1)
    b = simpool.simulate(sc, paths=300, seed=SEED, chunk_size=300)
    assert_identical(a, b, "chunk 1")


def test_process_pool(sc, reference):
    """Two spawned worker processes (fresh interpreters: they import simpool and load the
    numba cache themselves) give the same bits as threads."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as ex:
        res = simpool.simulate(sc, paths=3000, seed=SEED, executor=ex, chunk_size=700)
    ref = simpool.simulate(sc, paths=3000, seed=SEED)
    assert_identical(ref, res, "process pool")
    assert np.array_equal(res.samples("gross"), reference.samples("gross")[:3000])


def test_scenario_seed_equals_explicit_seed(sc):
    """simulation.seed / simulation.paths in the scenario are the same as passing them."""
    a = simpool.simulate(sc.model_copy(update={"simulation": sc.simulation.model_copy(
        update={"seed": SEED, "paths": 2000})}))
    b = simpool.simulate(sc, paths=2000, seed=SEED)
    assert_identical(a, b, "scenario seed")


# --------------------------------------------------------------------------- chunk completion order


class DeferredExecutor(Executor):
    """Queues submitted work and runs *all* of it, in a chosen order, the first time anyone
    waits on a future (or at shutdown).

    This is what a batch scheduler or a busy cluster does: results are asked for in
    submission order, but the work finishes in whatever order the workers happened to take
    it. ``order`` is ``"reverse"`` (last chunk first) or ``"shuffle"`` (a seeded permutation).
    ``ran`` records the first path of each chunk in the order it actually ran.
    """

    def __init__(self, order: str = "reverse", rng_seed: int = 0):
        self._order = order
        self._rng = random.Random(rng_seed)
        self._queue: list = []
        self._lock = threading.Lock()
        self.ran: list[int] = []

    def submit(self, fn, /, *args, **kwargs):
        fut = _DrainingFuture(self)
        with self._lock:
            self._queue.append((fut, fn, args, kwargs))
        return fut

    def drain(self):
        with self._lock:
            batch, self._queue = self._queue, []
        if self._order == "reverse":
            batch.reverse()
        else:
            self._rng.shuffle(batch)
        for fut, fn, args, kwargs in batch:
            if not fut.set_running_or_notify_cancel():
                continue
            self.ran.append(args[2])  # run_chunk(inputs, seed, path0, n_paths)
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # pragma: no cover - surfaced by result()
                fut.set_exception(exc)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self.drain()


class _DrainingFuture(Future):
    def __init__(self, executor: DeferredExecutor):
        super().__init__()
        self._executor = executor

    def result(self, timeout=None):
        if not self.done():
            self._executor.drain()
        return super().result(timeout)


@pytest.mark.parametrize("order", ["reverse", "shuffle"])
def test_chunk_completion_order_does_not_matter(sc, reference, order):
    ex = DeferredExecutor(order, rng_seed=3)
    res = simpool.simulate(sc, paths=PATHS, seed=SEED, executor=ex, chunk_size=1000)
    starts = list(range(0, PATHS, 1000))
    assert sorted(ex.ran) == starts and ex.ran != starts  # really out of order
    if order == "reverse":
        assert ex.ran == starts[::-1]
    assert_identical(reference, res, f"{order} completion")


def test_progress_sees_every_path(sc, reference):
    seen = []
    res = simpool.simulate(sc, paths=PATHS, seed=SEED, chunk_size=4097,
                           progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, PATHS)  # the chunks have started
    assert seen[-1] == (PATHS, PATHS)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert_identical(reference, res, "with progress")


# --------------------------------------------------------------------------- seeds and path keying


def test_repeated_runs_are_identical(sc, reference):
    import pandas as pd

    with ThreadPoolExecutor(max_workers=2) as ex:
        again = simpool.simulate(sc, paths=PATHS, seed=SEED, executor=ex, chunk_size=333)
    assert_identical(reference, again, "rerun")
    pd.testing.assert_frame_equal(reference.summary(), again.summary(), check_exact=True)


def test_different_seeds_differ_and_are_uncorrelated(sc, reference):
    """Different seeds give different samples; neighbouring seeds are not correlated path
    by path (|r| < 5 / sqrt(n), the 5-SE bound of a correlation under independence)."""
    base = reference.samples("gross")
    for seed in (SEED + 1, 0, 2**63 - 1):
        other = simpool.simulate(sc, paths=PATHS, seed=seed).samples("gross")
        assert not np.array_equal(base, other), seed
        r = np.corrcoef(base, other)[0, 1]
        assert abs(r) < 5.0 / np.sqrt(PATHS), (seed, r)


@pytest.mark.parametrize(("k", "chunk_size"), [(1, None), (777, None), (777, 500), (4097, 4096)])
def test_first_k_paths_equal_a_k_path_run(sc, reference, k, chunk_size):
    """Global path keying: path i is the same in every run that contains it."""
    short = simpool.simulate(sc, paths=k, seed=SEED, chunk_size=chunk_size)
    a, b = arrays(reference), arrays(short)
    for key in a:
        assert np.array_equal(a[key][:k], b[key]), key


def test_paths_are_not_shifted_copies(sc, reference):
    """Neighbouring paths are distinct draws (the path index really enters the key)."""
    g = reference.samples("gross")
    assert len(np.unique(g)) > 0.9 * g.size
    assert not np.array_equal(g[1:], g[:-1])
