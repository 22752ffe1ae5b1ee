"""Tests for simpool.analysis.stats: exact order statistics, closed forms, SE coverage, IS."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from simpool import stats
from simpool.analysis.stats import Estimate

# --------------------------------------------------------------------------- helpers


def z(est: Estimate, truth: float) -> float:
    return (est.value - truth) / est.se


def normal_var(a: float) -> float:
    return float(sps.norm.ppf(a))


def normal_es(a: float) -> float:
    return float(sps.norm.pdf(sps.norm.ppf(a)) / (1 - a))


def exp_var(a: float) -> float:
    return -math.log1p(-a)


def exp_es(a: float) -> float:
    return exp_var(a) + 1.0


def shifted_normal(rng, mu: float, n: int, size=None):
    """Sample N(mu, 1) and the likelihood ratio dN(0,1)/dN(mu,1) = exp(-mu y + mu^2/2)."""
    y = rng.normal(mu, 1.0, size=(n,) if size is None else (size, n))
    return y, np.exp(-mu * y + 0.5 * mu * mu)


# --------------------------------------------------------------------------- exact cases


def test_one_to_thousand_999():
    x = np.arange(1.0, 1001.0)
    rng = np.random.default_rng(0)
    rng.shuffle(x)
    v = stats.var(x, 0.999)
    assert v == Estimate("VaR", 0.999, 999.0, v.se)
    # m = ceil(round((1 - 0.999) * 1000, 9)) = 1 worst loss (unrounded float would give 2)
    assert stats.es(x, 0.999).value == 1000.0
    # level 0.998: k = 998, worst m = 2
    assert stats.var(x, 0.998).value == 998.0
    assert stats.es(x, 0.998).value == 999.5
    assert stats.var(x, 0.95).value == 950.0
    assert stats.es(x, 0.95).value == pytest.approx(np.mean(np.arange(951.0, 1001.0)))
    # non-integer a*n: a = 0.9995 -> k = ceil(999.5) = 1000, m = ceil(0.5) = 1
    assert stats.var(x, 0.9995).value == 1000.0
    assert stats.es(x, 0.9995).value == 1000.0


def test_small_hand_array():
    x = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    # F_n(l) = l/5: smallest l with F >= a
    assert stats.var(x, 0.2).value == 1.0
    assert stats.var(x, 0.21).value == 2.0
    assert stats.var(x, 0.6).value == 3.0
    assert stats.var(x, 0.61).value == 4.0
    assert stats.var(x, 0.99).value == 5.0
    assert stats.es(x, 0.6).value == 4.5  # m = 2
    assert stats.es(x, 0.5).value == 4.0  # m = ceil(2.5) = 3
    assert stats.expected(x).value == 3.0
    assert stats.expected(x).se == pytest.approx(math.sqrt(2.5 / 5))
    assert stats.std(x).value == pytest.approx(math.sqrt(2.5))
    # m4 = mean(d^4) = (16+1+0+1+16)/5 = 6.8 ; s^4 = 6.25
    assert stats.std(x).se == pytest.approx(math.sqrt((6.8 - 6.25) / (4 * 2.5 * 5)))
    assert stats.exceedance(x, 3.0).value == 0.4
    assert stats.exceedance(x, 2.5).value == 0.6
    assert stats.exceedance(x, 5.0).value == 0.0
    assert stats.exceedance(x, 0.0).value == 1.0
    assert stats.exceedance(x, 3.0).se == pytest.approx(math.sqrt(0.4 * 0.6 / 4))


def test_lattice_with_ties():
    x = np.repeat([0.0, 1.0, 2.0], [900, 90, 10])
    np.random.default_rng(1).shuffle(x)
    # F(0) = 0.9, F(1) = 0.99, F(2) = 1
    assert stats.var(x, 0.9).value == 0.0
    assert stats.var(x, 0.9001).value == 1.0
    assert stats.var(x, 0.95).value == 1.0
    assert stats.var(x, 0.99).value == 1.0
    assert stats.var(x, 0.995).value == 2.0
    assert stats.es(x, 0.99).value == 2.0
    assert stats.es(x, 0.95).value == pytest.approx((10 * 2 + 40 * 1) / 50)
    assert stats.es(x, 0.9).value == pytest.approx((10 * 2 + 90 * 1) / 100)
    assert stats.exceedance(x, 0.0).value == pytest.approx(0.1)
    assert stats.exceedance(x, 1.0).value == pytest.approx(0.01)
    assert stats.exceedance(x, 2.0).value == 0.0
    assert stats.exceedance(x, 2.0).se == 0.0
    # binomial band for VaR_0.95: h = sqrt(.95*.05/1000) ~ 0.0069, both ends at 1 -> SE 0
    assert stats.var(x, 0.95).se == 0.0
    # VaR_0.99 band: [0.983, 0.997] -> VaR 1 and 2 -> SE 0.5
    assert stats.var(x, 0.99).se == 0.5
    # ES SE: excess (L - 1)^+ is ten ones
    e = stats.es(x, 0.95)
    assert e.se == pytest.approx(np.std(np.maximum(x - 1, 0), ddof=1) / (0.05 * math.sqrt(1000)))
    # tail-form weighted VaR on the same ties (weights 1 but forced through the tail form)
    srt = stats._Sorted(x, np.ones_like(x))
    for a in (0.9, 0.9001, 0.95, 0.99, 0.995, 0.999):
        assert srt.quantile(a) == stats.var(x, a).value
        # Acerbi form == worst-m mean when (1 - a) n is an integer, close otherwise
        exact = a != 0.9001
        tol = 1e-12 if exact else 1e-3
        assert srt.es(a).value == pytest.approx(stats.es(x, a).value, rel=tol)


def test_unweighted_textbook_formulas():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, 3.0, size=5001)
    n = x.size
    e = stats.expected(x)
    assert e.value == pytest.approx(x.mean(), rel=1e-14)
    assert e.se == pytest.approx(x.std(ddof=1) / math.sqrt(n), rel=1e-12)
    s = stats.std(x)
    sd = x.std(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    assert s.value == pytest.approx(sd, rel=1e-12)
    assert s.se == pytest.approx(math.sqrt((m4 - sd**4) / (4 * sd**2 * n)), rel=1e-10)
    xs = np.sort(x)
    for a in (0.5, 0.9, 0.95, 0.99, 0.999):
        k = math.ceil(round(a * n, 9))
        v = stats.var(x, a)
        assert v.value == xs[k - 1]
        h = math.sqrt(a * (1 - a) / n)
        hi = xs[math.ceil(round((a + h) * n, 9)) - 1]
        lo = xs[math.ceil(round((a - h) * n, 9)) - 1]
        assert v.se == pytest.approx((hi - lo) / 2)
        m = math.ceil(round((1 - a) * n, 9))
        e = stats.es(x, a)
        assert e.value == pytest.approx(xs[-m:].mean(), rel=1e-13)
        assert e.se == pytest.approx(
            np.std(np.maximum(x - v.value, 0), ddof=1) / ((1 - a) * math.sqrt(n)), rel=1e-10
        )
    for t in (0.0, 5.0, 20.0, 1e9):
        p = stats.exceedance(x, t)
        ind = (x > t).astype(float)
        assert p.value == pytest.approx(ind.mean(), abs=1e-15)
        assert p.se == pytest.approx(ind.std(ddof=1) / math.sqrt(n), abs=1e-15)


# --------------------------------------------------------------------------- closed forms


def test_large_normal_sample_vs_closed_forms():
    rng = np.random.default_rng(3)
    mu, sigma = 10.0, 2.0
    x = rng.normal(mu, sigma, size=400_000)
    out = stats.describe(x, levels=(0.95, 0.99, 0.999), thresholds=(12.0, 16.0))
    assert [e.statistic for e in out] == ["EL", "std"] + ["VaR", "ES"] * 3 + ["P(L>x)"] * 2
    assert [e.param for e in out[2:]] == [0.95, 0.95, 0.99, 0.99, 0.999, 0.999, 12.0, 16.0]
    by = {(e.statistic, None if math.isnan(e.param) else e.param): e for e in out}
    assert abs(z(by["EL", None], mu)) < 4
    assert abs(z(by["std", None], sigma)) < 4
    for a in (0.95, 0.99, 0.999):
        assert abs(z(by["VaR", a], mu + sigma * normal_var(a))) < 4
        assert abs(z(by["ES", a], mu + sigma * normal_es(a))) < 4
    for t in (12.0, 16.0):
        assert abs(z(by["P(L>x)", t], sps.norm.sf(t, mu, sigma))) < 4


def test_large_exponential_sample_vs_closed_forms():
    rng = np.random.default_rng(4)
    x = rng.exponential(1.0, size=400_000)
    assert abs(z(stats.expected(x), 1.0)) < 4
    assert abs(z(stats.std(x), 1.0)) < 4
    for a in (0.9, 0.99, 0.999):
        assert abs(z(stats.var(x, a), exp_var(a))) < 4
        assert abs(z(stats.es(x, a), exp_es(a))) < 4
    assert abs(z(stats.exceedance(x, 3.0), math.exp(-3.0))) < 4


def test_describe_matches_individual_functions():
    rng = np.random.default_rng(5)
    x = rng.lognormal(0, 1, size=10_000)
    w = rng.uniform(0.5, 1.5, size=x.size)
    for weights in (None, w):
        out = stats.describe(x, levels=(0.9, 0.99), thresholds=(1.0, 5.0), weights=weights)
        ref = [
            stats.expected(x, weights),
            stats.std(x, weights),
            stats.var(x, 0.9, weights),
            stats.es(x, 0.9, weights),
            stats.var(x, 0.99, weights),
            stats.es(x, 0.99, weights),
            stats.exceedance(x, 1.0, weights),
            stats.exceedance(x, 5.0, weights),
        ]
        assert len(out) == len(ref)
        for a, b in zip(out, ref):
            assert a.statistic == b.statistic
            assert a.param == b.param or (math.isnan(a.param) and math.isnan(b.param))
            assert a.value == pytest.approx(b.value, rel=1e-12)
            assert a.se == pytest.approx(b.se, rel=1e-9)
    assert [e.statistic for e in stats.describe(x, levels=(), thresholds=())] == ["EL", "std"]


# --------------------------------------------------------------------------- SE coverage

REPS = 200


def _zscores(samples, fn, truth):
    return np.array([z(fn(s), truth) for s in samples])


def _check_coverage(zs, tol_sd=0.2, tol_mean=0.3):
    assert np.all(np.isfinite(zs))
    assert abs(zs.std(ddof=1) - 1.0) < tol_sd, zs.std(ddof=1)
    assert abs(zs.mean()) < tol_mean, zs.mean()


def test_se_coverage_unweighted():
    rng = np.random.default_rng(6)
    samples = rng.exponential(1.0, size=(REPS, 4000))
    _check_coverage(_zscores(samples, stats.expected, 1.0))
    _check_coverage(_zscores(samples, stats.std, 1.0))
    _check_coverage(_zscores(samples, lambda s: stats.var(s, 0.95), exp_var(0.95)))
    _check_coverage(_zscores(samples, lambda s: stats.es(s, 0.95), exp_es(0.95)))
    _check_coverage(_zscores(samples, lambda s: stats.exceedance(s, 2.0), math.exp(-2.0)))
    normal = rng.normal(size=(REPS, 4000))
    _check_coverage(_zscores(normal, lambda s: stats.var(s, 0.99), normal_var(0.99)))
    _check_coverage(_zscores(normal, lambda s: stats.es(s, 0.99), normal_es(0.99)))
    _check_coverage(_zscores(normal, lambda s: prob_gt(s, 1.5), sps.norm.sf(1.5)))


def prob_gt(s, t):
    return stats.prob(s > t)


def test_se_coverage_importance_sampling():
    rng = np.random.default_rng(7)
    mu = 2.3
    ys, ws = shifted_normal(rng, mu, 2000, size=REPS)
    pairs = list(zip(ys, ws))
    for a in (0.99, 0.999):
        zv = np.array([z(stats.var(y, a, w), normal_var(a)) for y, w in pairs])
        ze = np.array([z(stats.es(y, a, w), normal_es(a)) for y, w in pairs])
        _check_coverage(zv)
        _check_coverage(ze)
    zp = np.array([z(stats.exceedance(y, 3.0, w), sps.norm.sf(3.0)) for y, w in pairs])
    _check_coverage(zp)
    # EL and std of the whole distribution: mild shift, so that the weights (tail-designed
    # above) do not make mean(w y) heavy-tailed
    ys1, ws1 = shifted_normal(rng, 0.5, 4000, size=REPS)
    _check_coverage(np.array([z(stats.expected(y, w), 0.0) for y, w in zip(ys1, ws1)]))
    _check_coverage(np.array([z(stats.std(y, w), 1.0) for y, w in zip(ys1, ws1)]))


# --------------------------------------------------------------------------- importance sampling


def test_is_rare_normal_tail():
    rng = np.random.default_rng(8)
    n = 100_000
    y, w = shifted_normal(rng, 4.0, n)
    np.testing.assert_allclose(w, np.exp(-4 * y + 8))
    p_true = sps.norm.sf(4.0)
    assert p_true == pytest.approx(3.167e-5, rel=1e-3)
    e = stats.exceedance(y, 4.0, w)
    assert abs(z(e, p_true)) < 4
    plain_se = math.sqrt(p_true * (1 - p_true) / n)
    assert e.se < plain_se / 50, (e.se, plain_se)
    # prob() on the same event agrees
    p = stats.prob(y > 4.0, w)
    assert p.statistic == "prob" and math.isnan(p.param)
    assert p.value == pytest.approx(e.value, rel=1e-12)
    assert p.se == pytest.approx(e.se, rel=1e-9)


@pytest.mark.parametrize("a", [0.99, 0.999, 0.9999])
def test_is_var_es_shifted_normal(a):
    rng = np.random.default_rng(9)
    q = normal_var(a)
    y, w = shifted_normal(rng, q, 50_000)
    v = stats.var(y, a, w)
    e = stats.es(y, a, w)
    assert abs(z(v, q)) < 4
    assert abs(z(e, normal_es(a))) < 4
    # IS must beat plain MC of the same size by a wide margin at these levels
    plain = rng.normal(size=50_000)
    assert v.se < stats.var(plain, a).se
    assert e.se < stats.es(plain, a).se / 2


# --------------------------------------------------------------------------- unit weights


def test_unit_weights_equal_unweighted():
    rng = np.random.default_rng(10)
    x = rng.weibull(1.5, size=3001) * 7
    ones = np.ones_like(x)
    assert stats.describe(x, thresholds=(3.0, 10.0), weights=ones) == stats.describe(
        x, thresholds=(3.0, 10.0)
    )
    assert stats.expected(x, ones) == stats.expected(x)
    assert stats.mean(x, ones) == stats.mean(x)
    assert stats.std(x, ones) == stats.std(x)
    assert stats.var(x, 0.97, ones) == stats.var(x, 0.97)
    assert stats.es(x, 0.97, ones) == stats.es(x, 0.97)
    assert stats.exceedance(x, 5.0, ones) == stats.exceedance(x, 5.0)
    assert stats.prob(x > 5.0, ones) == stats.prob(x > 5.0)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 400),
    milli=st.integers(1, 999),
    seed=st.integers(0, 2**32 - 1),
    lattice=st.booleans(),
)
def test_tail_form_equals_cdf_form_for_unit_weights(n, milli, seed, lattice):
    """The weighted tail-form quantile with weights 1 is the unweighted order statistic,
    and both satisfy the defining property of the empirical quantile."""
    a = milli / 1000
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 5, size=n).astype(float) if lattice else rng.normal(size=n)
    v = stats.var(x, a).value
    assert stats._Sorted(x, np.ones(n)).quantile(a) == v
    # defining property, checked by counting: F_n(v) >= a and F_n(l) < a for sample l < v
    assert np.count_nonzero(x <= v) >= a * n - 1e-9
    below = x[x < v]
    if below.size:
        assert np.count_nonzero(x <= below.max()) < a * n - 1e-9
    # tail form: (1/n) #{x > v} <= 1 - a, and not for any smaller sample value
    assert np.count_nonzero(x > v) <= (1 - a) * n + 1e-9
    # ES is the worst-m mean and at least VaR; Acerbi form with unit weights is >= VaR too
    e = stats.es(x, a)
    m = math.ceil(round((1 - a) * n, 9))
    assert e.value == pytest.approx(np.sort(x)[n - m :].mean())
    assert e.value >= v - 1e-12
    assert stats._Sorted(x, np.ones(n)).es(a).value >= v - 1e-12


def test_weighted_tail_form_definition():
    """Weighted VaR is the smallest sample value with (1/n) sum w 1{L > l} <= 1 - a."""
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(1, 60))
        x = rng.integers(0, 8, size=n).astype(float)
        w = rng.exponential(size=n)
        a = float(rng.uniform(0.05, 0.95))
        v = stats.var(x, a, w).value
        tail = lambda l: np.sum(w[x > l]) / n  # noqa: E731
        assert tail(v) <= 1 - a + 1e-12
        smaller = np.unique(x[x < v])
        assert all(tail(l) > 1 - a for l in smaller)
        # weighted ES: Acerbi form
        e = stats.es(x, a, w).value
        assert e == pytest.approx(v + np.sum(w * np.maximum(x - v, 0)) / ((1 - a) * n))


# --------------------------------------------------------------------------- edge cases


def test_n_equal_one():
    for w in (None, [2.0]):
        assert stats.expected([3.0], w).value == (3.0 if w is None else 6.0)
        assert math.isnan(stats.expected([3.0], w).se)
        assert math.isnan(stats.std([3.0], w).value)
        assert math.isnan(stats.std([3.0], w).se)
        v = stats.var([3.0], 0.9, w)
        assert v.value == 3.0 and math.isnan(v.se)
        e = stats.es([3.0], 0.9, w)
        assert math.isnan(e.se)
        assert math.isnan(stats.exceedance([3.0], 1.0, w).se)
        assert math.isnan(stats.prob([True], w).se)
    assert stats.es([3.0], 0.9).value == 3.0
    assert len(stats.describe([3.0])) == 8


def test_all_equal_losses():
    x = np.full(1000, 0.1)
    for est in stats.describe(x, thresholds=(0.0, 0.1)):
        assert est.se == 0.0, est
    assert stats.expected(x).value == 0.1
    assert stats.std(x).value == 0.0
    assert stats.var(x, 0.99).value == 0.1
    assert stats.es(x, 0.99).value == 0.1
    assert stats.exceedance(x, 0.0).value == 1.0
    assert stats.exceedance(x, 0.1).value == 0.0


def test_two_points_std_se_not_nan():
    s = stats.std([1.0, 3.0])
    assert s.value == pytest.approx(math.sqrt(2.0))
    assert s.se >= 0.0  # radicand clipped at 0


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 1.5, math.nan, math.inf, "x", None])
def test_bad_levels(bad):
    x = np.arange(10.0)
    with pytest.raises(ValueError):
        stats.var(x, bad)
    with pytest.raises(ValueError):
        stats.es(x, bad)
    with pytest.raises(ValueError):
        stats.describe(x, levels=(0.9, bad))


@pytest.mark.parametrize(
    "bad",
    [[], np.array([]), [1.0, math.nan], [1.0, math.inf], np.ones((3, 2)), 5.0],
)
def test_bad_samples(bad):
    for fn in (stats.expected, stats.mean, stats.std, stats.describe):
        with pytest.raises(ValueError):
            fn(bad)
    with pytest.raises(ValueError):
        stats.var(bad, 0.9)
    with pytest.raises(ValueError):
        stats.es(bad, 0.9)
    with pytest.raises(ValueError):
        stats.exceedance(bad, 0.0)


def test_bad_weights_thresholds_masks():
    x = np.arange(5.0)
    for w in ([1.0] * 4, [1.0, 1.0, math.nan, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0, 1.0], np.ones((5, 1))):
        with pytest.raises(ValueError):
            stats.expected(x, w)
        with pytest.raises(ValueError):
            stats.var(x, 0.5, w)
    with pytest.raises(ValueError):
        stats.exceedance(x, math.nan)
    with pytest.raises(ValueError):
        stats.describe(x, thresholds=(math.nan,))
    with pytest.raises(ValueError):
        stats.prob([])
    with pytest.raises(ValueError):
        stats.prob([0.5, 1.0])
    with pytest.raises(ValueError):
        stats.prob([True, False], [1.0])
    assert stats.prob([1, 0, 0, 1]).value == 0.5
    assert stats.prob(np.array([True, False, False, False])).value == 0.25


def test_estimate_is_frozen():
    e = stats.expected([1.0, 2.0])
    with pytest.raises(AttributeError):
        e.value = 3.0  # type: ignore[misc]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partial_sort_gives_the_full_sorts_figures(seed, monkeypatch):
    """describe() sorts only the upper part of large unweighted samples: every figure equals
    the full sort's, bit for bit, with ties, atoms at zero, low levels (which sort the rest)
    and thresholds below the sorted part."""
    import simpool.analysis.stats as st

    rng = np.random.default_rng(seed)
    x = np.where(rng.random(50_000) < 0.3, 0.0, rng.lognormal(0, 1, 50_000).round(2))
    levels = [0.5, 0.9, 0.95, 0.99, 0.999]
    thresholds = [-1.0, 0.0, 0.5, 1.0, float(np.quantile(x, 0.97)), 1e9]
    fast = st.describe(x, levels=levels, thresholds=thresholds)
    monkeypatch.setattr(st, "PARTIAL_SORT_MIN", 10**12)  # always the full sort
    full = st.describe(x, levels=levels, thresholds=thresholds)
    assert [(e.statistic, e.param, e.value, e.se) for e in fast] == \
        [(e.statistic, e.param, e.value, e.se) for e in full]
    monkeypatch.setattr(st, "PARTIAL_SORT_MIN", 4096)
    tail = st.describe(x, levels=[0.999], thresholds=[0.0])
    # (EL and std sum in another order over a sorted copy: compare the order statistics)
    assert [e.value for e in tail][2:] == [e.value for e in st.describe(
        np.sort(x), levels=[0.999], thresholds=[0.0])][2:]
    s = st._Sorted(x, None, 0.99)
    assert s.k0 > 0 and s.quantile(0.1) == np.sort(x)[math.ceil(0.1 * x.size) - 1] and s.k0 == 0
