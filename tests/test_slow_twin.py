"""The numba engine against the slow, obviously-correct twin (tests/reference_model.py).

Both consume the same counter-based random numbers, so per path and year the number of
defaults must be identical and the losses equal up to summation order (~1e-12 relative).
A default decision could in principle flip when a uniform lies within a few ulps of p_i
(AS241 vs ndtri, erfc vs ndtr, division vs multiplication by 1/sd); the chance is ~1e-15
per comparison, so at these sizes none is expected and none is tolerated.
"""

from __future__ import annotations

import numpy as np
import pytest

import reference_model as ref
import simpool
import simpool.engine.plan
from simpool.engine.runner import run_paths
from simpool.engine.plan import plan

SEED = 20240808
PATHS = 300


def engine(sc_dict: dict, seed: int = SEED, paths: int = PATHS, shift=None, chunk_size=97):
    sc = simpool.load_scenario(sc_dict)
    inputs = plan(sc, shift=shift)
    # an odd chunk size: rows must not depend on how paths are split
    return run_paths(inputs, seed, paths, chunk_size=chunk_size), inputs


def assert_same(got: dict, want: dict, *, min_default_years: int = 1):
    np.testing.assert_array_equal(got["defaults"], want["defaults"])
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(got["logw"], want["logw"], rtol=1e-12, atol=1e-13)
    # the comparison means something only when there are defaults to compare
    assert int((want["defaults"] > 0).sum()) >= min_default_years


def cohort(name, loans, pd, rho, *, exposure=1e6, lgd=0.45, lgd_std=0.0, sector=None, mode="binomial"):
    c = {"name": name, "loans": loans, "exposure": exposure, "pd": pd, "lgd": lgd,
         "lgd_std": lgd_std, "rho": rho, "mode": mode}
    if sector is not None:
        c["sector"] = sector
    return c


def scenario(cohorts, *, sectors=("tech",), corr=None, phi=0.0, years=1, copula="gaussian", dof=4.0):
    model = {"copula": copula, "dof": dof, "sectors": list(sectors), "factor_persistence": phi}
    if corr is not None:
        model["sector_correlation"] = [list(map(float, r)) for r in corr]
    return {"simulation": {"paths": PATHS, "seed": SEED, "horizon_years": years},
            "model": model, "cohorts": cohorts}


# --------------------------------------------------------------------------- scenarios

def test_gaussian_one_sector():
    sc = scenario([
        cohort("a", 400, 0.02, 0.12),
        cohort("b", 60, 0.05, 0.2, exposure=2.5e5, lgd=0.6, mode="loans"),
        cohort("c", 3, 0.3, 0.05, mode="loans"),
    ])
    got, _ = engine(sc)
    want = ref.simulate(sc, SEED, PATHS)
    assert_same(got, want, min_default_years=100)
    assert not np.any(got["logw"])


def test_simulate_entry_point_matches_twin():
    sc = scenario([cohort("a", 1000, 0.03, 0.15), cohort("b", 40, 0.04, 0.1, mode="loans")])
    res = simpool.simulate(sc, paths=200, seed=7)
    want = ref.simulate(sc, 7, 200)
    np.testing.assert_array_equal(res.samples("defaults"), want["defaults"][:, 0])
    np.testing.assert_allclose(res.samples("gross"), want["loss"][:, 0], rtol=1e-12)


def test_three_sectors_correlation_ar1_four_years():
    corr = [[1.0, 0.5, 0.2], [0.5, 1.0, 0.3], [0.2, 0.3, 1.0]]
    sc = scenario([
        cohort("a", 300, 0.03, 0.15, sector="s0"),
        cohort("b", 2000, 0.01, 0.25, sector="s1"),
        cohort("c", 50, 0.08, 0.1, sector="s2", mode="loans"),
        cohort("d", 30, 0.02, 0.2, sector="s0", mode="loans"),
        cohort("e", 80, 0.6, 0.1, sector="s2"),  # p > 1/2: simpool's mirrored inversion
    ], sectors=("s0", "s1", "s2"), corr=corr, phi=0.6, years=4)
    got, _ = engine(sc)
    want = ref.simulate(sc, SEED, PATHS)
    assert_same(got, want, min_default_years=500)
    # a loan defaults at most once: cohort e (80 loans, pd 0.6) runs out of loans
    assert got["defaults"].sum(axis=1).max() <= 300 + 2000 + 50 + 30 + 80


def test_t_copula():
    sc = scenario([
        cohort("a", 500, 0.02, 0.15),
        cohort("b", 100, 0.05, 0.2, mode="loans"),
    ], copula="t", dof=5.0, years=2)
    got, _ = engine(sc)
    want = ref.simulate(sc, SEED, PATHS)
    assert_same(got, want, min_default_years=100)


def test_stochastic_lgd_loans_and_binomial():
    sc = scenario([
        cohort("bin", 600, 0.03, 0.15, lgd=0.45, lgd_std=0.25),   # k <= 256: exact Beta sum
        cohort("lo", 40, 0.05, 0.2, lgd=0.3, lgd_std=0.2, mode="loans"),
        cohort("small_a", 30, 0.1, 0.1, lgd=0.05, lgd_std=0.04, mode="loans"),  # Beta a < 1
        cohort("fixed", 20, 0.05, 0.1, lgd=0.5, mode="loans"),
    ], years=2)
    got, _ = engine(sc)
    want = ref.simulate(sc, SEED, PATHS)
    assert want["defaults"].max() <= 256
    assert_same(got, want, min_default_years=100)


def test_stochastic_lgd_normal_sum_branch():
    # more than BETA_SUM_EXACT_MAX defaults in one path-year: clipped normal sum
    sc = scenario([cohort("big", 5000, 0.2, 0.1, lgd=0.4, lgd_std=0.2)])
    got, _ = engine(sc, paths=100)
    want = ref.simulate(sc, SEED, 100)
    assert (want["defaults"] > ref.BETA_SUM_EXACT_MAX).mean() > 0.5
    assert_same(got, want, min_default_years=50)


def _heterogeneous(n_loans: int, rng: np.random.Generator, n_sec: int = 2):
    pd = np.exp(rng.uniform(np.log(0.002), np.log(0.2), n_loans))
    rho = rng.uniform(0.03, 0.3, n_loans)
    lgd = rng.uniform(0.2, 0.8, n_loans)
    cohorts = []
    for i in range(n_loans):
        cohorts.append(cohort(f"L{i}", 1, float(pd[i]), float(rho[i]),
                              exposure=float(rng.integers(1, 100)) * 1e4, lgd=float(lgd[i]),
                              lgd_std=0.1 if i % 5 == 0 else 0.0,
                              sector=f"s{i % n_sec}", mode="loans"))
    # a couple of identical rows and a pd = 0 / pd = 1 row
    cohorts.append(cohort("dup1", 1, 0.05, 0.1, sector="s0", mode="loans"))
    cohorts.append(cohort("dup2", 1, 0.05, 0.1, sector="s0", mode="loans"))
    cohorts.append(cohort("never", 1, 0.0, 0.1, sector="s1", mode="loans"))
    cohorts.append(cohort("always", 1, 1.0, 0.1, sector="s1", mode="loans"))
    cohorts.append(cohort("rho0", 1, 0.1, 0.0, sector="s0", mode="loans"))
    return cohorts


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_loan_tape_inexact_buckets(monkeypatch, copula):
    monkeypatch.setattr(simpool.engine.plan, "MAX_EXACT_BUCKETS", 4)
    rng = np.random.default_rng(1)
    sc = scenario(_heterogeneous(150, rng), sectors=("s0", "s1"),
                  corr=[[1.0, 0.4], [0.4, 1.0]], phi=0.3, years=2, copula=copula, dof=5.0)
    got, inputs = engine(sc, paths=300)
    # the plan really used binned (inexact) buckets, several per sector
    assert not inputs.book.b_exact.all()
    assert 4 < len(inputs.book.b_sector) < 155
    # loans are reordered by bucket: the kernel must key random numbers by original index
    assert not np.array_equal(inputs.book.l_id, np.arange(len(inputs.book.l_id)))
    want = ref.simulate(sc, SEED, 300)
    assert_same(got, want, min_default_years=150)
    # "always" defaults in year 0 of every path
    assert (want["defaults"][:, 0] >= 1).all()


def test_loan_tape_exact_buckets_same_answer(monkeypatch):
    # the same portfolio with exact (one per grade) buckets: identical rows
    monkeypatch.setattr(simpool.engine.plan, "MIN_LOANS_PER_EXACT_BUCKET", 1)
    rng = np.random.default_rng(1)
    sc = scenario(_heterogeneous(150, rng), sectors=("s0", "s1"),
                  corr=[[1.0, 0.4], [0.4, 1.0]], phi=0.3, years=2)
    got, inputs = engine(sc, paths=300)
    assert inputs.book.b_exact.all()
    want = ref.simulate(sc, SEED, 300)
    assert_same(got, want, min_default_years=150)


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_importance_sampling_shift(copula):
    corr = [[1.0, 0.3], [0.3, 1.0]]
    sc_dict = scenario([
        cohort("a", 500, 0.02, 0.15, sector="x"),
        cohort("b", 40, 0.03, 0.2, sector="y", mode="loans", lgd_std=0.2),
    ], sectors=("x", "y"), corr=corr, phi=0.5, years=3, copula=copula, dof=6.0)
    shift = np.array([[-1.5, -0.5], [0.0, -1.0], [-0.7, 0.0]])
    got, inputs = engine(sc_dict, shift=shift)
    np.testing.assert_array_equal(inputs.model.shift, shift)
    want = ref.simulate(sc_dict, SEED, PATHS, shift=shift)
    assert_same(got, want, min_default_years=100)
    assert np.all(got["logw"] != 0)
    # E[exp(logw)] = 1 (likelihood ratio); loose check at 300 paths
    w = np.exp(got["logw"])
    assert abs(w.mean() - 1.0) < 5 * w.std() / np.sqrt(len(w))


def test_importance_sampling_scalar_shift_broadcasts():
    sc_dict = scenario([cohort("a", 200, 0.05, 0.2)], years=2)
    got, inputs = engine(sc_dict, paths=100, shift=-1.0)
    assert inputs.model.shift.shape == (2, 1)
    want = ref.simulate(sc_dict, SEED, 100, shift=np.full((2, 1), -1.0))
    assert_same(got, want, min_default_years=50)
    # two years, shift -1 each: logw = sum_y (eta'_y + 1/2) with eta'_y = eta_y - 1
    assert np.allclose(got["logw"].mean(), -1.0, atol=0.4)


def test_twin_rng_is_simpools_rng():
    """The twin's integer SplitMix64 reproduces simpool's numba draws (sanity of the twin)."""
    from simpool import rng

    sk = ref.seed_key(SEED)
    assert sk == int(rng.seed_key(np.uint64(SEED)))
    for path, year in [(0, 0), (1, 0), (299, 3), (10**9, 99)]:
        k = ref.path_year_key(sk, path, year)
        assert k == int(rng.path_year_key(np.uint64(sk), path, year))
        for stream, j in [(0, 0), (1, 2), (4, 12345)]:
            assert ref.uniform(k, stream, j) == rng.uniform(np.uint64(k), stream, j)


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_tape_screening_bounds_equal_per_loan_exact_test(monkeypatch, tmp_path, copula):
    """A loan tape with its own PD and rho per loan, screened in binned buckets (table
    bounds, certain-default bits, bracketed exact tests) gives bit for bit the rows of the
    same tape with one exact bucket per loan (every decision ``U_i < p_i`` computed
    directly): the screening changes the work, never a decision."""
    import pandas as pd

    g = np.random.default_rng(7)
    n = 3000
    pdv = np.clip(0.02 * np.exp(1.0 * g.standard_normal(n) - 0.5), 1e-5, 0.6)
    pdv[:5] = [0.0, 1.0, 0.3, 1e-9, 0.9]
    tape = pd.DataFrame({"exposure": np.round(g.lognormal(13, 0.5, n), -2), "pd": pdv,
                         "lgd": g.uniform(0.2, 0.9, n), "rho": g.uniform(0.02, 0.4, n),
                         "sector": np.where(g.random(n) < 0.6, "s0", "s1")})
    path = tmp_path / "tape.csv"
    tape.to_csv(path, index=False, float_format="%.17g")
    model = {"copula": copula, "dof": 5.0, "sectors": ["s0", "s1"], "factor_persistence": 0.4,
             "sector_correlation": [[1.0, 0.5], [0.5, 1.0]]}
    sc = {"simulation": {"paths": 2000, "seed": SEED, "horizon_years": 3}, "model": model,
          "portfolio": {"loans_file": str(path)}}
    binned, b_inputs = engine(sc, paths=2000)
    sizes = np.diff(b_inputs.book.b_start)
    assert sizes[~b_inputs.book.b_exact].sum() > 0.9 * n and len(sizes) < 1000
    monkeypatch.setattr(simpool.engine.plan, "MAX_EXACT_BUCKETS", 10**6)
    monkeypatch.setattr(simpool.engine.plan, "MIN_LOANS_PER_EXACT_BUCKET", 1)
    exact, e_inputs = engine(sc, paths=2000)
    assert e_inputs.book.b_exact.all() and len(e_inputs.book.b_sector) == n
    np.testing.assert_array_equal(binned["defaults"], exact["defaults"])
    # the same defaults summed in another order (loans are sorted by bucket)
    for k in [k for k in binned if k != "defaults"]:
        scale = float(np.abs(exact[k]).max(initial=0.0))
        np.testing.assert_allclose(binned[k], exact[k], rtol=1e-12, atol=1e-12 * scale,
                                   err_msg=k)
    assert binned["defaults"].sum() > 100_000
