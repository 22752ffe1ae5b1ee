"""Tests for simpool.engine.binomial: pmf, CDF and inversion of one uniform.

References: scipy.stats.binom, and where scipy itself is inaccurate (it is, in some far
tails) an exact 50-digit reference computed here with :mod:`decimal` (log-factorials by
the Stirling series, CDF by summing the pmf away from the mode). The exact reference is only
evaluated where simpool and scipy disagree beyond the tolerance, so the tests stay fast.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simpool.engine._jit import jit
from scipy import stats

from simpool import binomial as B

NS = [0, 1, 5, 30, 200, 2000, 10**5, 10**7]
PS = [1e-6, 0.01, 0.02, 0.3, 0.5, 0.7, 0.999]


# --------------------------------------------------------------------------- numba wrappers

@jit()
def _pmf_many(k, n, p):
    out = np.empty(k.size)
    for i in range(k.size):
        out[i] = B.binom_pmf(k[i], n, p)
    return out


@jit()
def _cdf_many(k, n, p):
    out = np.empty(k.size)
    for i in range(k.size):
        out[i] = B.binom_cdf(k[i], n, p)
    return out


@jit()
def _inv_many(u, n, p):
    out = np.empty(u.size, np.int64)
    for i in range(u.size):
        out[i] = B.binom_inv(u[i], n, p)
    return out


# --------------------------------------------------------------------------- exact reference

_BERNOULLI = [Fraction(1, 6), Fraction(-1, 30), Fraction(1, 42), Fraction(-1, 30), Fraction(5, 66),
              Fraction(-691, 2730), Fraction(7, 6), Fraction(-3617, 510), Fraction(43867, 798),
              Fraction(-174611, 330), Fraction(854513, 138), Fraction(-236364091, 2730),
              Fraction(8553103, 6), Fraction(-23749461029, 870), Fraction(8615841276005, 14322)]
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640629")
_PREC = 60


def _ln_factorial(m: int) -> Decimal:
    """ln(m!) to ~55 digits: Stirling series for ln Gamma(x), x >= 40, shifted below."""
    x = Decimal(m + 1)
    shift = Decimal(0)
    if m + 1 < 40:
        prod = Decimal(1)
        while x < 40:
            prod *= x
            x += 1
        shift = prod.ln()
    r = (x - Decimal("0.5")) * x.ln() - x + (2 * _PI).ln() / 2
    xp = x
    for i, b in enumerate(_BERNOULLI, start=1):
        r += Decimal(b.numerator) / Decimal(b.denominator) / (2 * i * (2 * i - 1)) / xp
        xp *= x * x
    return r - shift


def exact_pmf(k: int, n: int, p: float) -> Decimal:
    """P(K = k) for the double p taken exactly."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        if k < 0 or k > n:
            return Decimal(0)
        P = Decimal(p)
        Q = 1 - P
        if P == 0 or Q == 0:
            return Decimal(int(k == (0 if P == 0 else n)))
        lc = _ln_factorial(n) - _ln_factorial(k) - _ln_factorial(n - k) + k * P.ln() + (n - k) * Q.ln()
        return lc.exp()


def exact_cdf_sf(k: int, n: int, p: float) -> tuple[float, float]:
    """(P(K <= k), P(K > k)), each accurate to ~1e-40 relative, as floats."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        if k < 0:
            return 0.0, 1.0
        if k >= n:
            return 1.0, 0.0
        P = Decimal(p)
        Q = 1 - P
        if k <= n * p:  # sum down from k: terms fall geometrically
            f = exact_pmf(k, n, p)
            s = f
            j = k
            while j > 0 and f > s * Decimal("1e-45"):
                f = f * j / (n - j + 1) * Q / P
                j -= 1
                s += f
            return float(s), float(1 - s)
        j = k + 1
        f = exact_pmf(j, n, p)
        s = f
        while j < n and f > s * Decimal("1e-45"):
            f = f * (n - j) / (j + 1) * P / Q
            j += 1
            s += f
        return float(1 - s), float(s)


def test_exact_reference_against_fractions():
    from math import comb

    for n, p, k in [(2000, 0.3, 38), (30, 0.7, 12), (200, 0.01, 3), (5, 0.999, 2)]:
        m, d = p.as_integer_ratio()  # p = m / d exactly, d a power of two
        terms = [comb(n, j) * m**j * (d - m) ** (n - j) for j in range(n + 1)]  # times d**n
        dn = d**n
        assert float(exact_pmf(k, n, p)) == pytest.approx(float(Fraction(terms[k], dn)), rel=1e-15)
        cdf, sf = exact_cdf_sf(k, n, p)
        assert cdf == pytest.approx(float(Fraction(sum(terms[: k + 1]), dn)), rel=1e-15)
        assert sf == pytest.approx(float(Fraction(sum(terms[k + 1:]), dn)), rel=1e-15)
    # scipy is wrong by 30% here (far lower tail); simpool and the exact reference agree
    assert stats.binom.cdf(38, 2000, 0.3) == pytest.approx(8.18e-244, rel=1e-2)
    assert B.binom_cdf(38, 2000, 0.3) == pytest.approx(exact_cdf_sf(38, 2000, 0.3)[0], rel=1e-13)


# --------------------------------------------------------------------------- pmf and CDF

def k_grid(n: int, p: float) -> np.ndarray:
    """k across the support: the ends, the body every few sd, far tails, a log grid."""
    if n == 0:
        return np.array([-1, 0, 1], np.int64)
    mu = n * p
    sd = math.sqrt(n * p * (1 - p))
    ks = {-1, 0, 1, 2, 3, n - 2, n - 1, n, n + 1}
    if n <= 2000:
        ks |= set(range(0, min(n, 200) + 1))
    ks |= {int(mu + z * sd) for z in np.linspace(-40, 40, 161)}
    ks |= set(np.unique(np.geomspace(1, n, 60).astype(np.int64)).tolist())
    return np.array(sorted(k for k in ks if -1 <= k <= n + 1), np.int64)


def cond(n: int, p: float) -> float:
    """Conditioning of the CDF evaluation in p: simpool's continued fraction is evaluated at
    x = 1 - p rounded to double, and dF/dp ~ sqrt(n / (p q)) near the body."""
    return math.sqrt(n / (p * (1 - p))) if n > 0 and 0 < p < 1 else 0.0


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("p", PS)
def test_pmf(n, p):
    k = k_grid(n, p)
    got = _pmf_many(k, n, p)
    want = stats.binom.pmf(k, n, p)
    assert np.all(got >= 0)
    # relative error ~ eps * |log pmf| (the saddle-point terms are of that size)
    for i in range(k.size):
        def ok(ref):
            if ref < 1e-290:
                return got[i] < 1e-280
            return abs(got[i] - ref) <= 1e-13 * (1 + abs(math.log(ref))) * ref
        if not ok(want[i]):  # scipy may be the inaccurate one: ask the exact reference
            ref = float(exact_pmf(int(k[i]), n, p))
            assert ok(ref), (n, p, int(k[i]), got[i], ref, want[i])


def test_pmf_sums_to_one():
    for n in [1, 5, 30, 200, 2000, 10**5]:
        for p in PS:
            k = np.arange(n + 1, dtype=np.int64)
            assert _pmf_many(k, n, p).sum() == pytest.approx(1.0, abs=1e-13)


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("p", PS)
def test_cdf(n, p):
    k = k_grid(n, p)
    got = _cdf_many(k, n, p)
    want = stats.binom.cdf(k, n, p)
    want_sf = stats.binom.sf(k, n, p)
    assert np.all((got >= 0) & (got <= 1))
    assert np.all(np.diff(got) >= -1e-15 * (1 + 1e-2 * cond(n, p)))
    base = 1e-14 + 4e-16 * cond(n, p)

    def ok(i, cdf, sf):
        if cdf <= 0.5:  # lower tail: relative accuracy
            if cdf < 1e-290:
                return got[i] < 1e-280
            return abs(got[i] - cdf) <= base * (1 + abs(math.log(cdf))) * cdf
        return abs((1 - got[i]) - sf) <= base  # upper half: F is only absolutely accurate

    for i in range(k.size):
        if not ok(i, want[i], want_sf[i]):
            cdf, sf = exact_cdf_sf(int(k[i]), n, p)
            assert ok(i, cdf, sf), (n, p, int(k[i]), got[i], cdf, want[i])


@pytest.mark.parametrize("n, p", [(2000, 0.02), (500, 0.03), (40, 0.3), (30000, 0.02),
                                  (3000, 0.1), (40000, 0.3), (10**6, 0.5)])
def test_sf_upper_tail_relative_accuracy(n, p):
    """P(K > k) above the mean, relative to the exact value: the term-by-term sum (tails up
    to 32 sd wide) and the continued fraction (wider ones) alike."""
    mu = n * p
    sd = math.sqrt(n * p * (1 - p))
    ks = sorted({int(mu + z * sd) for z in np.linspace(0.05, 30, 40)} | {int(mu) + 1})
    for k in ks:
        if not mu < k < n:
            continue
        _, sf = exact_cdf_sf(k, n, p)
        got = B.binom_sf(k, n, p)
        if sf < 1e-290:
            assert got < 1e-280
            continue
        base = 1e-14 + 4e-16 * cond(n, p)  # as test_cdf: the continued fraction's conditioning
        assert abs(got - sf) <= base * (1 + abs(math.log(sf))) * sf, (n, p, k, got, sf)


def test_cdf_edges():
    assert B.binom_cdf(-1, 10, 0.3) == 0.0
    assert B.binom_cdf(10, 10, 0.3) == 1.0
    assert B.binom_cdf(11, 10, 0.3) == 1.0
    assert B.binom_cdf(0, 10, 0.0) == 1.0
    assert B.binom_cdf(9, 10, 1.0) == 0.0
    assert B.binom_cdf(0, 0, 0.3) == 1.0
    assert B.binom_pmf(0, 0, 0.3) == 1.0
    assert B.binom_pmf(0, 10, 0.0) == 1.0 and B.binom_pmf(1, 10, 0.0) == 0.0
    assert B.binom_pmf(10, 10, 1.0) == 1.0 and B.binom_pmf(9, 10, 1.0) == 0.0
    assert B.binom_pmf(-1, 10, 0.3) == 0.0 and B.binom_pmf(11, 10, 0.3) == 0.0
    # symmetric law: F(k; n, 1/2) = 1 - F(n - 1 - k; n, 1/2), and F((n-1)/2) = 1/2 for odd n
    for n in [1, 7, 31, 201, 2001, 100001]:
        assert B.binom_cdf((n - 1) // 2, n, 0.5) == pytest.approx(0.5, abs=1e-14)


def test_cdf_small_p_full_accuracy():
    for k, n, p in [(10, 10**7, 1e-6), (8, 10**7, 1e-6), (100, 10**9, 1e-7)]:
        cdf, sf = exact_cdf_sf(k, n, p)
        got = B.binom_cdf(k, n, p)
        assert abs(got - cdf) <= 1e-14 * max(cdf, 1e-300) + 1e-15, (k, n, p, got - cdf)


# --------------------------------------------------------------------------- inversion

U_EXTREME = np.array([1e-15, 1e-12, 1e-9, 1e-6, 0.5, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12, 1 - 1e-15,
                      2.0**-53, 1 - 2.0**-52])


def valid_inverse(k: int, u: float, n: int, p: float, tol: float) -> bool:
    """k = min{j : F(j) >= u'} for some u' within tol of u (exact CDF)."""
    if not 0 <= k <= n:
        return False
    below = exact_cdf_sf(k - 1, n, p)[0] if k > 0 else -1.0
    cdf, sf = exact_cdf_sf(k, n, p)
    return below < u + tol and (cdf >= u - tol or sf <= (1 - u) + tol)


@pytest.mark.parametrize("n", NS[1:])
@pytest.mark.parametrize("p", PS)
def test_inv_matches_scipy_ppf(n, p):
    g = np.random.default_rng([n, int(p * 1e6)])
    u = np.concatenate([U_EXTREME, g.random(3000), 1 - g.random(200) * 1e-9, g.random(200) * 1e-9])
    got = _inv_many(u, n, p)
    want = stats.binom.ppf(u, n, p).astype(np.int64)
    for i in np.nonzero(got != want)[0]:
        # only where u lies within 1e-12 of a CDF step (for simpool's answer)
        assert valid_inverse(int(got[i]), float(u[i]), n, p, 1e-12), (n, p, repr(u[i]), got[i], want[i])
    # such ties are rare
    assert np.count_nonzero(got != want) <= 4


def test_inv_smallest_uniform_p_above_half():
    u = 2.0**-54
    for n, p in [(10**5, 0.7), (10**7, 0.999)]:
        k = B.binom_inv(u, n, p)
        # the lower-tail quantile: F(k) >= u (relative), F(k - 1) < u
        assert exact_cdf_sf(k, n, p)[0] >= u * (1 - 1e-3), (n, p, k, stats.binom.ppf(u, n, p))
        assert exact_cdf_sf(k - 1, n, p)[0] < u * (1 + 1e-3), (n, p, k, stats.binom.ppf(u, n, p))


def test_inv_extreme_tails_relative():
    n, p = 10**7, 0.3
    for t in [1e-15, 1e-14]:
        u = 1 - t
        k = B.binom_inv(u, n, p)
        _, sf = exact_cdf_sf(k, n, p)
        _, sf_below = exact_cdf_sf(k - 1, n, p)
        tail = 1 - u  # exact: u = 1 - t rounded, so compare with the actual tail
        assert sf <= tail * (1 + 1e-6) and sf_below > tail * (1 - 1e-6), (t, k, sf, sf_below)


def test_inv_edge_cases():
    for u in [2.0**-53, 1e-9, 0.3, 0.5, 1 - 2.0**-52]:
        for n in [0, 1, 7, 10**7]:
            assert B.binom_inv(u, n, 0.0) == 0
            assert B.binom_inv(u, n, -0.1) == 0
            assert B.binom_inv(u, n, 1.0) == n
            assert B.binom_inv(u, n, 1.5) == n
        for p in [0.0, 0.3, 0.5, 0.7, 1.0]:
            assert B.binom_inv(u, 0, p) == 0
            assert B.binom_inv(u, -5, p) == 0
    assert B.binom_inv(0.5, 1, 0.3) == 0 and B.binom_inv(0.71, 1, 0.3) == 1
    assert B.binom_inv(0.31, 1, 0.7) == 1 and B.binom_inv(0.29, 1, 0.7) == 0  # 0.3 is a tie (null set)


def test_inv_p_half_exactly():
    # odd n: F((n - 1)/2) = 1/2 exactly, u = 1/2 is on the step (a null set: either side ok)
    for n in [1, 7, 21, 101, 10001, 10**7 + 1]:
        assert B.binom_inv(0.5, n, 0.5) in ((n - 1) // 2, (n + 1) // 2)
    # symmetry K ~ n - K: inv(u) + inv(1 - u) == n away from steps (dyadic u: 1 - u exact)
    u = np.arange(1, 4096) / 4096.0
    for n in [2, 30, 200, 2000, 10**5, 10**7]:
        a = _inv_many(u, n, 0.5)
        b = _inv_many(1 - u, n, 0.5)
        for i in np.nonzero(a + b != n)[0]:
            # u on a step, F(a) = u: then 1 - u = F(n - 1 - a) and a + b == n - 1
            assert a[i] + b[i] == n - 1
            assert abs(exact_cdf_sf(int(a[i]), n, 0.5)[0] - u[i]) <= 1e-12
        want = stats.binom.ppf(u, n, 0.5).astype(np.int64)
        for i in np.nonzero(a != want)[0]:
            assert valid_inverse(int(a[i]), float(u[i]), n, 0.5, 1e-12)


def test_inv_continuous_across_half():
    g = np.random.default_rng(5)
    u = g.random(2000)
    for n in [31, 2000, 10**5]:
        lo = _inv_many(u, n, 0.5 - 1e-12)
        mid = _inv_many(u, n, 0.5)
        hi = _inv_many(u, n, 0.5 + 1e-12)
        assert np.all(lo <= mid) and np.all(mid <= hi)
        assert np.count_nonzero(lo != hi) <= 2


# hypothesis (derandomized by the ci profile in conftest.py): monotone in u and in p. Uniforms
# as to_unit makes them (>= 2**-54; the value 2**-54 itself with p > 1/2 is the bug above,
# so start at 2**-53). A 20000-example random scan found no counterexample.
_N = st.one_of(st.integers(0, 60), st.sampled_from([200, 999, 2000, 12345, 10**5, 10**6, 10**7]))
_U = st.floats(min_value=2.0**-53, max_value=1 - 2.0**-52)
_P = st.floats(min_value=0.0, max_value=1.0)


@settings(max_examples=400)
@given(n=_N, p=_P, u1=_U, u2=_U)
def test_inv_monotone_in_u(n, p, u1, u2):
    u1, u2 = min(u1, u2), max(u1, u2)
    k1 = B.binom_inv(u1, n, p)
    k2 = B.binom_inv(u2, n, p)
    assert 0 <= k1 <= k2 <= max(n, 0)


def _near_step(u: float, n: int, p: float, ks, tol: float = 1e-12) -> bool:
    """u within tol of F(k) (p-law) for one of the k."""
    return any(abs(stats.binom.cdf(k, n, p) - u) <= tol or
               abs(stats.binom.sf(k, n, p) - (1 - u)) <= tol for k in ks)


@settings(max_examples=400)
@given(n=_N, u=_U, p1=_P, p2=_P)
def test_inv_monotone_in_p(n, u, p1, p2):
    p1, p2 = min(p1, p2), max(p1, p2)
    k1 = B.binom_inv(u, n, p1)
    k2 = B.binom_inv(u, n, p2)
    if k1 > k2:
        # rounding can reorder the two only when u sits on a CDF step (see
        # test_inv_monotone_in_p_near_steps); never by more than one
        assert k1 == k2 + 1 and _near_step(u, n, p1, [k2]) and _near_step(u, n, p2, [k2])


def test_inv_monotone_in_p_near_steps():
    """u exactly on a CDF step, p moved by a few ulps: float rounding of the CDF could reorder
    the result by one (each reversal by exactly one, within 1e-12 of the step). The continued
    fraction at x = 1 - p did, 21 times at n = 1e5, p = 0.3; Temme's expansion, with p used
    exactly (no 1 - p, n p taken exactly), leaves none on this grid."""
    reversals = 0
    for n, p in [(200, 0.01), (200, 0.02), (200, 0.5), (2000, 0.3), (10**5, 0.3), (10**9, 0.02)]:
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        step = 1 if n <= 10**5 else int(sd) // 40  # n = 1e9: every 40th step of the CDF
        for k in range(max(0, int(mu - 4 * sd)), min(n, int(mu + 6 * sd) + 1), step):
            F = float(stats.binom.cdf(k, n, p))
            if not 1e-13 < F < 1 - 1e-13:
                continue
            pp = np.unique(np.concatenate([p + np.arange(-200, 201) * 1e-16 * max(p, 0.5) * 4,
                                           np.linspace(p * 0.9999, p * 1.0001, 101)]))
            for uu in (F, np.nextafter(F, 0.0), np.nextafter(F, 1.0)):
                r = np.array([B.binom_inv(uu, n, q) for q in pp])
                d = np.diff(r)
                reversals += int(np.count_nonzero(d < 0))
                assert d.min() >= -1
                for i in np.nonzero(d < 0)[0]:
                    assert _near_step(uu, n, pp[i], [r[i + 1]]) and _near_step(uu, n, pp[i + 1], [r[i + 1]])
    assert reversals == 0


# --------------------------------------------------------------------------- exact in distribution

def _chi2_quantile_bins(k: np.ndarray, n: int, p: float, bins: int = 50) -> float:
    """p-value of a chi-square of the sample against the exact law over ~equal-mass bins."""
    edges = np.unique(stats.binom.ppf(np.linspace(0, 1, bins + 1)[1:-1], n, p).astype(np.int64))
    # bin i holds k in (edges[i-1], edges[i]]
    idx = np.searchsorted(edges, k, side="left")
    obs = np.bincount(idx, minlength=edges.size + 1)
    cdf = stats.binom.cdf(edges, n, p)
    probs = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
    return float(stats.chisquare(obs, probs * k.size).pvalue)


@pytest.fixture(scope="module")
def uniforms():
    return np.random.default_rng(20240808).random(200_000)


def test_exact_in_distribution_n1e7_p002(uniforms):
    n, p = 10**7, 0.02
    k = _inv_many(uniforms, n, p)
    m = k.size
    mean, var = n * p, n * p * (1 - p)
    assert abs(k.mean() - mean) < 5 * math.sqrt(var / m)
    # Var of the sample variance ~ (mu4 - var^2) / m, mu4 = 3 var^2 + var (1 - 6 p q)
    mu4 = 3 * var**2 + var * (1 - 6 * p * (1 - p))
    assert abs(k.var() - var) < 5 * math.sqrt((mu4 - var**2) / m)
    assert _chi2_quantile_bins(k, n, p) > 1e-4


@pytest.mark.parametrize("n,p", [(10**7, 0.7), (10**7, 1e-6), (10**5, 0.3), (50, 0.3), (3, 0.5)])
def test_exact_in_distribution_other_branches(uniforms, n, p):
    # p > 1/2 (mirror), a small mean (pmf summation), the Cornish-Fisher walk, tiny n
    u = uniforms[:100_000]
    k = _inv_many(u, n, p)
    mean, var = n * p, n * p * (1 - p)
    assert abs(k.mean() - mean) < 5 * math.sqrt(var / k.size)
    assert _chi2_quantile_bins(k, n, p, bins=min(50, n + 1)) > 1e-4


# ------------------------------------------------------------ large n: Temme's expansion
# Cohorts of up to 10^9 loans: the CDF at the Cornish-Fisher guess comes from Temme's uniform
# asymptotic expansion (TOMS 708 basym), whose cost does not grow with n. The references are
# the exact 60-digit sums above (scipy itself is off by ~1e-11 relative at n = 1e9: it rounds
# n p), evaluated at a few hundred points at most (0.01-0.6 s each at n = 1e9).

_LARGE = [(10**9, 0.02), (10**9, 0.001), (10**9, 0.97), (10**8, 0.3), (10**6, 0.3),
          (10**6, 0.005), (10**4, 0.05), (10**3, 0.1)]


@pytest.mark.parametrize("n, p", _LARGE)
def test_cdf_sf_large_n_relative_accuracy(n, p):
    """P(K <= k) and P(K > k) to ~3e-14 relative in both tails out to 9 sd (the old continued
    fraction at x = 1 - p lost ~1e-11 at n = 1e9)."""
    mu, sd = n * p, math.sqrt(n * p * (1 - p))
    for z in [-9.0, -6.3, -3.1, -1.2, -0.4, 0.0, 0.3, 1.1, 2.6, 4.4, 7.2, 9.0]:
        k = int(mu + z * sd)
        if not 0 <= k < n:
            continue
        cdf, sf = exact_cdf_sf(k, n, p)
        got_cdf, got_sf = B.binom_cdf(k, n, p), B.binom_sf(k, n, p)
        if cdf <= 0.5:
            assert abs(got_cdf - cdf) <= 1e-13 * cdf, (n, p, k, z, got_cdf / cdf - 1)
            assert abs(got_sf - sf) <= 1e-15
        else:
            assert abs(got_sf - sf) <= 1e-13 * sf, (n, p, k, z, got_sf / sf - 1)
            assert abs(got_cdf - cdf) <= 1e-15


def test_temme_pmf_and_tail_match_exact():
    """The expansion's pmf (one exponential shared with the tail) and its tail to full
    precision, where it applies; outside its domain it says so."""
    for n, p, zmax in [(10**9, 0.3, 8), (10**9, 0.01, 8), (10**7, 0.5, 8), (10**5, 0.02, 8),
                       (2000, 0.1, 5)]:  # sd 13: the series stops converging further out
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        for z in np.array([-1.0, -0.375, -0.0625, 0.0625, 0.375, 1.0]) * zmax:
            k = int(mu + z * sd)
            ok, tail, upper, pmf = B._temme_tail(k, n, p)
            assert ok, (n, p, k)
            assert pmf == pytest.approx(float(exact_pmf(k, n, p)), rel=2e-14)
            cdf, sf = exact_cdf_sf(k, n, p)
            assert tail == pytest.approx(sf if upper else cdf, rel=5e-14), (n, p, k, upper)
    ok, *_ = B._temme_tail(5, 10**4, 0.01)  # k + 1 = 6 < 40: the sums take over
    assert not ok


def _exact_quantile_brackets(n: int, p: float, zs) -> list[tuple[int, float, float]]:
    """(k, F(k), S(k)) exactly, at k near the quantiles mu + z sd."""
    mu, sd = n * p, math.sqrt(n * p * (1 - p))
    out = []
    for z in zs:
        k = int(mu + z * sd)
        if 0 <= k < n:
            out.append((k, *exact_cdf_sf(k, n, p)))
    return out


@pytest.mark.parametrize("n, p", [(10**9, 0.02), (10**9, 0.004), (10**9, 0.9), (10**6, 0.3),
                                  (10**6, 0.05), (10**3, 0.1), (10**3, 0.5)])
def test_inv_exact_at_the_steps_large_n(n, p):
    """u a hair (1e-13 relative) either side of an exact CDF value F(k): the inversion
    returns k just below it and k + 1 just above it (both halves, tails to 7 sd)."""
    zs = [-7.0, -4.2, -2.0, -0.7, 0.0, 0.4, 1.3, 3.0, 5.5]
    for k, cdf, sf in _exact_quantile_brackets(n, p, zs):
        if cdf <= 0.5:  # lower half: u near F(k), relative
            lo, hi = cdf * (1 - 1e-13), cdf * (1 + 1e-13)
        else:  # upper half: 1 - u near S(k); u is only absolutely fine near 1
            d = max(1e-13 * sf, 4e-16)
            lo, hi = 1.0 - (sf + d), 1.0 - (sf - d)
            if not (sf - d > 0 and (1 - hi) < sf < (1 - lo)):
                continue
        assert B.binom_inv(lo, n, p) == k, (n, p, k, "below")
        assert B.binom_inv(hi, n, p) == k + 1, (n, p, k, "above")


@pytest.mark.parametrize("n", [10**3, 10**6, 10**9])
@pytest.mark.parametrize("p", [0.005, 0.02, 0.1, 0.3, 0.5, 0.8, 0.999])
def test_inv_matches_ppf_large_n(n, p):
    """Against scipy's ppf over u in (0, 1) and both tails (u = 1e-12 ... 1 - 1e-12); where the
    two differ, simpool's k must be the exact quantile (60-digit CDF) within 1e-14. (scipy's
    ppf is off by hundreds at n = 1e9 for u within 1e-15 of 1, and by one near 1 - 1e-11.)"""
    g = np.random.default_rng([n % 1000003, int(p * 1e6)])
    u = np.concatenate([U_EXTREME, [1e-12, 3e-12, 1 - 1e-12, 1 - 3e-12], g.random(2000),
                        10.0 ** -g.uniform(4, 12, 100), 1 - 10.0 ** -g.uniform(4, 12, 100)])
    got = _inv_many(u, n, p)
    want = stats.binom.ppf(u, n, p).astype(np.int64)
    bad = np.nonzero(got != want)[0]
    assert bad.size <= 6, (n, p, bad.size)
    for i in bad:
        k = int(got[i])
        below = exact_cdf_sf(k - 1, n, p)
        at = exact_cdf_sf(k, n, p)
        uu = float(u[i])
        if uu <= 0.5:
            assert below[0] < uu * (1 + 1e-14) and at[0] >= uu * (1 - 1e-14), (n, p, uu, k, want[i])
        else:
            vv = 1.0 - uu
            assert below[1] > vv * (1 - 1e-14) - 2e-16 and at[1] <= vv * (1 + 1e-14) + 2e-16, \
                (n, p, uu, k, want[i])


def test_inv_monotone_fine_grids_n1e9():
    n = 10**9
    # in u: a fine grid over (0, 1) and both tails, at several p
    tail = np.geomspace(1e-15, 1e-3, 20_000)
    u = np.unique(np.concatenate([np.linspace(1e-6, 1 - 1e-6, 200_001), tail, 1 - tail]))
    for p in [1e-6, 0.005, 0.02, 0.1, 0.5, 0.9]:
        k = _inv_many(u, n, p)
        assert np.all(np.diff(k) >= 0), p
    # in p: a fine geometric grid (all regimes: small mean, sums, expansion) at fixed u,
    # and a fine linear one around p = 0.02 (steps of ~1e-10 relative)
    for uu in [1e-12, 1e-6, 0.01, 0.3, 0.5, 0.77, 1 - 1e-6, 1 - 1e-12]:
        for ps in (np.geomspace(1e-11, 1 - 1e-9, 20_001),
                   np.linspace(0.02, 0.02 * (1 + 1e-6), 10_001)):
            k = np.array([B.binom_inv(uu, n, q) for q in ps])
            assert np.all(np.diff(k) >= 0), uu


def test_temme_cheap_and_full_passes_agree():
    """The inversion first decides with the series cut short (error bound 10x its last terms)
    and re-runs to full precision (-1) only when u is too close to a CDF value to tell: both
    passes give the same k, and u placed on the expansion's own F(k) takes the second one."""
    g = np.random.default_rng(11)
    for n in [2000, 10**5, 10**9]:
        for _ in range(300):
            p = float(np.exp(g.uniform(math.log(60 / n), math.log(0.5))))
            u = float(g.random())
            cheap = B._binom_inv_temme(u, 1.0 - u, n, p, False)
            full = B._binom_inv_temme(u, 1.0 - u, n, p, True)
            if cheap >= 0:
                assert cheap == full == B.binom_inv(u, n, p), (n, p, u)
    second = 0
    for n, p in [(10**9, 0.02), (10**6, 0.3), (3000, 0.1)]:
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        for z in [-2.0, -0.5, -0.1]:
            k = int(mu + z * sd)
            ok, tail, upper, _ = B._temme_tail(k, n, p)
            assert ok and not upper
            if B._binom_inv_temme(tail, 1.0 - tail, n, p, False) == -1:
                second += 1
            assert B.binom_inv(tail, n, p) == k  # F(k) >= u = F(k): k itself
    assert second >= 6


@pytest.mark.parametrize("n, p", [(10**9, 0.02), (10**9, 0.6), (10**6, 0.004)])
def test_exact_in_distribution_large_n(uniforms, n, p):
    k = _inv_many(uniforms[:100_000], n, p)
    mean, var = n * p, n * p * (1 - p)
    assert abs(k.mean() - mean) < 5 * math.sqrt(var / k.size)
    assert _chi2_quantile_bins(k, n, p) > 1e-4
