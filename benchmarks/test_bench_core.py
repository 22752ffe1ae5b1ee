"""pytest-benchmark versions of the core throughput cases.

    python -m pytest benchmarks --benchmark-only
    python -m pytest benchmarks --benchmark-only --benchmark-group-by=group

Each benchmark stores its work in ``extra_info`` (``obligor_paths``) and its best rate
(``obligor_paths_per_s``, from the fastest round) so saved runs can be compared. Sizes are
smaller than ``run.py``'s full run (each round well under a second); ``run.py`` prints the
ratios against the targets.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import baselines as bl
from common import (
    default_workers,
    graded_book,
    graded_scenario,
    lognormal_book,
    tape_scenario,
    write_tape,
)

N_LOANS = 10_000
PATHS = 20_000
NAIVE_PATHS = 1_000
ROUNDS = 5


def _load(sc):
    from simpool import load_scenario

    return load_scenario(sc)


def _simulate(sc, paths, **kw):
    from simpool import simulate

    return simulate(sc, paths=paths, seed=1, **kw)


@pytest.fixture(scope="session")
def graded_sc():
    """10,000 loans in 20 PD grades, loans mode."""
    sc = _load(graded_scenario(N_LOANS))
    _simulate(sc, 500)
    return sc


@pytest.fixture(scope="session")
def tape_sc(tmp_path_factory):
    """A 10,000-row loan tape with lognormal PDs around 2%."""
    path = write_tape(lognormal_book(N_LOANS), tmp_path_factory.mktemp("tape") / "tape.csv")
    sc = _load(tape_scenario(path))
    _simulate(sc, 500)
    return sc


def _record(benchmark, obligor_paths: int) -> None:
    benchmark.extra_info["obligor_paths"] = obligor_paths
    benchmark.extra_info["threads"] = default_workers()
    benchmark.extra_info["obligor_paths_per_s"] = obligor_paths / benchmark.stats.stats.min


@pytest.mark.benchmark(group="hotloop-10k-loans")
def test_engine_graded(benchmark, graded_sc):
    """Engine, 10,000 loans x 20 PD grades x PATHS paths, all cores."""
    res = benchmark.pedantic(_simulate, args=(graded_sc, PATHS), rounds=ROUNDS, warmup_rounds=1)
    assert res.paths == PATHS
    _record(benchmark, N_LOANS * PATHS)


@pytest.mark.benchmark(group="hotloop-10k-loans")
def test_engine_tape(benchmark, tape_sc):
    """Engine, 10,000-row tape with per-loan PDs x PATHS paths, all cores."""
    benchmark.pedantic(_simulate, args=(tape_sc, PATHS), rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, N_LOANS * PATHS)


@pytest.mark.benchmark(group="hotloop-10k-loans")
def test_philox_bare(benchmark):
    """Bare Philox4x32-10 loop: the same N x M uniforms, all cores."""
    assert bl.philox_kat_ok()
    bl.warm_baselines()
    w = default_workers()
    hits = benchmark.pedantic(bl.philox_count, args=(N_LOANS, PATHS), kwargs={"workers": w},
                              rounds=ROUNDS, warmup_rounds=1)
    assert abs(hits / (N_LOANS * PATHS) - bl.P_CONSUME) < 1e-3
    _record(benchmark, N_LOANS * PATHS)


@pytest.mark.benchmark(group="hotloop-10k-loans")
def test_splitmix_bare(benchmark):
    """Bare loop over simpool's own generator: the engine's limit, all cores."""
    bl.warm_baselines()
    w = default_workers()
    hits = benchmark.pedantic(bl.splitmix_count, args=(N_LOANS, PATHS), kwargs={"workers": w},
                              rounds=ROUNDS, warmup_rounds=1)
    assert abs(hits / (N_LOANS * PATHS) - bl.P_CONSUME) < 1e-3
    _record(benchmark, N_LOANS * PATHS)


@pytest.mark.benchmark(group="hotloop-10k-loans")
def test_naive_numpy(benchmark):
    """Naive textbook numpy, one thread, NAIVE_PATHS paths (its rate is linear in paths)."""
    b = graded_book(N_LOANS)
    loss = benchmark.pedantic(bl.naive_numpy_losses,
                              args=(b.pd, b.rho, b.exposure, b.lgd, b.sector, 1, NAIVE_PATHS),
                              rounds=3, warmup_rounds=0)
    assert loss.shape == (NAIVE_PATHS,)
    _record(benchmark, N_LOANS * NAIVE_PATHS)


@pytest.mark.benchmark(group="cohorts")
def test_engine_cohorts(benchmark):
    """20 binomial cohorts x 10,000 loans x 200,000 paths, all cores."""
    sc = _load(graded_scenario(200_000, mode="binomial"))
    _simulate(sc, 500)
    paths = 200_000
    benchmark.pedantic(_simulate, args=(sc, paths), rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, 200_000 * paths)
    benchmark.extra_info["obligor_paths_per_s_per_core"] = (
        benchmark.extra_info["obligor_paths_per_s"] / default_workers())


@pytest.mark.benchmark(group="threads")
@pytest.mark.parametrize("threads", [1, 2])
def test_engine_threads(benchmark, graded_sc, threads):
    """The graded book on 1 and 2 threads; results bit-identical to the default run."""
    ref = _simulate(graded_sc, PATHS)
    with ThreadPoolExecutor(max_workers=threads) as ex:
        res = benchmark.pedantic(_simulate, args=(graded_sc, PATHS),
                                 kwargs={"executor": ex}, rounds=ROUNDS, warmup_rounds=1)
        other_chunks = _simulate(graded_sc, PATHS, executor=ex, chunk_size=1234)
    for r in (res, other_chunks):
        assert np.array_equal(r.samples("gross"), ref.samples("gross"))
        assert np.array_equal(r.samples("defaults"), ref.samples("defaults"))
    _record(benchmark, N_LOANS * PATHS)
