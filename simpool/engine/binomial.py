"""Exact binomial distribution for numba kernels: pmf, CDF and inversion of one uniform.

``binom_inv(u, n, p)`` returns min{k : F(k) >= u} for K ~ Binomial(n, p), by inversion of a
single uniform. The map is monotone in ``u`` and in ``p``, so common random numbers stay
monotone when a parameter moves (comparisons and goal-seeking rely on it).

Cost: about 0.2 us a draw whatever n, 10^3 to 10^9 loans (``python benchmarks/run.py --only
binomial``: 170-205 ns at each of n = 10^3, 10^4, 10^6, 10^9, for PDs log-uniform on
[0.005, 0.1] and for conditional PDs uniform on (0, 1); slowest / fastest n 1.03-1.2 over
runs on a shared 2-core VM. The continued fraction used before cost 0.23, 0.39, 1.8 and
7.9 us for those PDs, 34x from n = 10^3 to 10^9).

Method, for p <= 1/2 (p > 1/2 by the mirror K = n - Binomial(n, 1 - p)):

* small mean (n p < 12 and u <= 1/2): sum the pmf from 0;
* small variance (n p q < 50): start from a Cornish-Fisher guess, evaluate the exact CDF there
  (term by term when the tail is short: below the mean up to k = 1000, above it up to 32
  standard deviations; else the regularised incomplete beta by continued fraction) and walk
  a few steps with pmf ratios; above the median work with the survival function, so
  upper-tail quantiles keep full relative accuracy;
* otherwise the tail at the guess comes from Temme's uniform asymptotic expansion of the
  regularised incomplete beta function I_x(a, b), F(k) = I_{1-p}(n - k, k + 1), as in
  DiDonato & Morris's ``basym`` (TOMS 708; R's ``pbeta``): I = (2/sqrt(pi)) exp(-f - bcorr)
  (J_0 + sum_j d_j w^j J_j) with f the deviance, J_j built on erfc(sqrt f), and w^2 ~
  1 / (n p q): the terms shrink faster the larger n, so the cost is O(1) in n (a few pairs
  of terms at 10^4 loans, usually one at 10^9). Two things keep it exact:

  - no rounded 1 - p or n p enters: lambda = (n + 1) p - (k + 1) is formed with the product
    taken exactly (Dekker's two-product) and the deviance f by Loader's bd0 series on that
    exact difference. Rounding costs ~1e-11 relative at n = 1e9: the continued fraction at
    x = 1 - p was off by up to 3e-11 in the lower tail there, scipy by up to 7e-12, Loader's
    pmf (n p rounded) by 6e-12. The pmf for the walk comes from the same exponential;
  - the series is cut as soon as Y(k) = F(k) - u (upper half: v - S(k)) and the neighbour's
    Y, one pmf away, keep their sign with a margin of 10 times the last pair of terms (the
    remainder was at most 2.1 times it over a grid of n, p and |z| <= 12) plus 2e-13 of the
    tail (the series runs on until that holds or it reaches 1e-16); only a u within ~1e-13
    of a CDF value fails it (none in 8e7 random draws; the tests put u on CDF values), and
    that draw is redone with exact comparisons. Where the series does not converge (a beta
    parameter min(n - k, k + 1) < 40, or beyond ~6 sd at moderate variance: ~0.1% of draws
    at n = 10^4, none at 10^9) the sums and continued fraction above take over.

  The answer is the exact quantile unless u lies within ~1e-13 relative of a CDF value; on
  13.2 million random draws (n = 30 to 10^9, p log-uniform and uniform, both tails) it
  equalled the continued-fraction inversion's draw for draw.

Accuracy: ``binom_cdf``/``binom_sf`` to ~3e-14 relative in either tail out to 9 sd for n up
to 1e9 (~1e-13 at 12 sd; tests against a 60-digit reference), the expansion's pmf to ~5e-15.
The pmf ``binom_pmf`` uses Loader's saddle-point expansion (``stirlerr``/``bd0``, as in R's
``dbinom``): ~1e-15 relative for moderate n, but it rounds n p, which costs ~1e-11 at n = 1e9
(``lgamma`` differences would lose 8 digits).

References:

* A. R. DiDonato, A. H. Morris, "Algorithm 708: Significant digit computation of the
  incomplete beta function ratios", ACM TOMS 18(3), 360-373 (1992),
  https://doi.org/10.1145/131766.131776 (``basym``, ``bcorr``; R's src/nmath/toms708.c).
* N. M. Temme, "Incomplete Laplace integrals: uniform asymptotic expansion with application
  to the incomplete beta function", SIAM J. Math. Anal. 18(6), 1638-1663 (1987); N. M. Temme,
  "Special Functions" (Wiley, 1996), section 11.3.3; DLMF section 8.18(ii),
  https://dlmf.nist.gov/8.18
* C. Loader, "Fast and accurate computation of binomial probabilities" (2000),
  http://www.herine.net/stat/software/dbinom.html
* T. J. Dekker, "A floating-point technique for extending the available precision",
  Numer. Math. 18, 224-242 (1971), https://doi.org/10.1007/BF01397083
"""

from __future__ import annotations

import math

import numpy as np
from ._jit import jit

from .rng import norm_ppf

_LN_2PI = 1.8378770664093454836
# stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n) for n = 0..15 (exact values, Loader 2000).
_SFERR = np.array([
    0.0,
    0.0810614667953272582196702,
    0.0413406959554092940938221,
    0.02767792568499833914878929,
    0.02079067210376509311152277,
    0.01664469118982119216319487,
    0.01387612882307074799874573,
    0.01189670994589177009505572,
    0.010411265261972096497478567,
    0.009255462182712732917728637,
    0.008330563433362871256469318,
    0.007573675487951840794972024,
    0.006942840107209529865664152,
    0.006408994188004207068439631,
    0.005951370112758847735624416,
    0.005554733551962801371038690,
])
_S0 = 1.0 / 12.0
_S1 = 1.0 / 360.0
_S2 = 1.0 / 1260.0
_S3 = 1.0 / 1680.0
_S4 = 1.0 / 1188.0


@jit()
def stirlerr(n):
    """Error of Stirling's formula for log(n!), n a non-negative integer (as float)."""
    if n <= 15.0:
        return _SFERR[int(n)]
    nn = n * n
    if n > 500.0:
        return (_S0 - _S1 / nn) / n
    if n > 80.0:
        return (_S0 - (_S1 - _S2 / nn) / nn) / n
    if n > 35.0:
        return (_S0 - (_S1 - (_S2 - _S3 / nn) / nn) / nn) / n
    return (_S0 - (_S1 - (_S2 - (_S3 - _S4 / nn) / nn) / nn) / nn) / n


@jit()
def bd0(x, np_):
    """Deviance term x log(x/np) + np - x, computed without cancellation."""
    if abs(x - np_) < 0.1 * (x + np_):
        v = (x - np_) / (x + np_)
        s = (x - np_) * v
        ej = 2.0 * x * v
        v = v * v
        j = 1
        while j < 1000:
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
            j += 1
        return s
    return x * math.log(x / np_) + np_ - x


@jit("float64(int64, int64, float64)")
def binom_pmf(k, n, p):
    """P(K = k) for K ~ Binomial(n, p); k, n integers (as int64), 0 <= p <= 1."""
    q = 1.0 - p
    if k < 0 or k > n:
        return 0.0
    if p == 0.0:
        return 1.0 if k == 0 else 0.0
    if q == 0.0:
        return 1.0 if k == n else 0.0
    nf = float(n)
    if k == 0:
        if n == 0:
            return 1.0
        lc = -bd0(nf, nf * q) - nf * p if p < 0.1 else nf * math.log(q)
        return math.exp(lc)
    if k == n:
        lc = -bd0(nf, nf * p) - nf * q if q < 0.1 else nf * math.log(p)
        return math.exp(lc)
    x = float(k)
    lc = stirlerr(nf) - stirlerr(x) - stirlerr(nf - x) - bd0(x, nf * p) - bd0(nf - x, nf * q)
    lf = _LN_2PI + math.log(x) + math.log1p(-x / nf)
    return math.exp(lc - 0.5 * lf)


@jit()
def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    fpmin = 1e-300
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < fpmin:
        d = fpmin
    d = 1.0 / d
    h = d
    for m in range(1, 1_000_000):
        m2 = 2.0 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        if abs(d) < fpmin:
            d = fpmin
        c = 1.0 + aa / c
        if abs(c) < fpmin:
            c = fpmin
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        if abs(d) < fpmin:
            d = fpmin
        c = 1.0 + aa / c
        if abs(c) < fpmin:
            c = fpmin
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


#: Below the mean, CDFs at k <= this are summed term by term (exact for any p); the continued
#: fraction at x = 1 - p would lose sqrt(n / p) ulps to the rounding of 1 - p.
_DIRECT_SUM_MAX = 1000


@jit()
def _cdf_direct(k, n, p):
    """(P(K <= k), P(K = k)) by summing the pmf downwards from k (for k below the mean)."""
    f0 = binom_pmf(k, n, p)
    f = f0
    acc = f
    r = (1.0 - p) / p
    for j in range(k, 0, -1):
        f *= j / (n - j + 1.0) * r
        acc += f
        if f < 1e-17 * acc:
            break
    return acc, f0


#: Above the mean, survival functions of laws with a standard deviation up to this are
#: summed term by term (about 9 sd of terms reach 1e-17 of the sum): cheaper than the
#: continued fraction, whose steps chain two divisions each (n = 2000, p = 0.02: 289 -> 210
#: ns a draw; sd 44: 1008 -> 884 ns).
_SF_DIRECT_SD_MAX = 32.0


@jit()
def _sf_direct(k, n, p):
    """(P(K > k), P(K = k)) by summing the pmf upwards from k + 1 (for k above the mean)."""
    f0 = binom_pmf(k, n, p)
    f = f0
    acc = 0.0
    r = p / (1.0 - p)
    for j in range(k, n):
        f *= (n - j) / (j + 1.0) * r
        acc += f
        if f < 1e-17 * acc:
            break
    return acc, f0


@jit()
def _tail(k, n, p):
    """(t, upper, pmf(k)) for 0 <= k < n, 0 < p < 1: the smaller-error tail of
    K ~ Binomial(n, p), and P(K = k) computed on the way.

    ``upper`` False: t = P(K <= k) (below the mean: direct sum or I_{1-p}(n-k, k+1));
    ``upper`` True: t = P(K > k) (above it: I_p(k+1, n-k)). The incomplete-beta prefactor
    x^a (1-x)^b / (a B(a, b)) equals pmf(k) * p exactly: one pmf, accurate to ~1e-15.
    """
    a = float(n - k)
    b = float(k + 1)
    x = 1.0 - p
    if x < (a + 1.0) / (a + b + 2.0):
        if k <= _DIRECT_SUM_MAX:
            t, f = _cdf_direct(k, n, p)
            return t, False, f
        f = binom_pmf(k, n, p)
        return f * p * _betacf(a, b, x), False, f
    if n * p * x <= _SF_DIRECT_SD_MAX * _SF_DIRECT_SD_MAX:
        t, f = _sf_direct(k, n, p)
        if f > 0.0:
            return t, True, f
    f = binom_pmf(k, n, p)
    return f * p * (a / b) * _betacf(b, a, p), True, f


@jit()
def _cdf_sf_pmf(k, n, p):
    """(P(K <= k), P(K > k), P(K = k)) for 0 <= k <= n, 0 < p < 1: each tail from the
    smaller-error one (:func:`_tail`), and the pmf computed on the way."""
    if k >= n:
        return 1.0, 0.0, binom_pmf(k, n, p)
    ok = False
    if k > 0 and n * p * (1.0 - p) >= _TEMME_VAR_MIN:
        ok, t, upper, f = _temme_tail(k, n, p)
    if not ok:
        t, upper, f = _tail(k, n, p)
    if upper:
        return max(0.0, 1.0 - t), min(1.0, t), f
    return min(1.0, t), max(0.0, 1.0 - t), f


@jit()
def binom_cdf(k, n, p):
    """P(K <= k) for K ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    return _cdf_sf_pmf(k, n, p)[0]


@jit()
def binom_sf(k, n, p):
    """P(K > k) for K ~ Binomial(n, p), accurate in the upper tail (no 1 - CDF there)."""
    if k < 0:
        return 1.0
    if k >= n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return _cdf_sf_pmf(k, n, p)[1]


@jit()
def _guess(u, v, n, p):
    """Cornish-Fisher start for the inversion at u (v = 1 - u), clipped to [0, n]."""
    q = 1.0 - p
    mu = n * p
    sd = math.sqrt(mu * q)
    z = norm_ppf(u) if u <= 0.5 else -norm_ppf(v)
    z = min(max(z, -38.0), 38.0)
    g = math.floor(mu + sd * z + (z * z - 1.0) * (q - p) / 6.0)
    return int(min(max(g, 0.0), float(n)))


# --------------------------------------------------------------------------------------
# Large variance: Temme's uniform asymptotic expansion of the incomplete beta function
# --------------------------------------------------------------------------------------

_SQRT_2PI = 2.5066282746310002
_E0 = 1.1283791670955126  # 2 / sqrt(pi)
_E1 = 0.35355339059327373  # 2 ** -1.5
_SPLIT = 134217729.0  # 2 ** 27 + 1 (Veltkamp splitting)

#: The expansion is used when Var K = n p q is at least this (below it the pmf sums of
#: :func:`_binom_inv_direct` are as cheap) ...
_TEMME_VAR_MIN = 50.0
#: ... and at an evaluation point with both beta parameters min(n - k, k + 1) at least this
#: (the expansion's small parameter is 1 / min: it converges to 1e-16 within 20 terms from
#: here out to ~6 sd; further out a series that stops converging sends the draw to the exact
#: pmf sums / continued fraction) ...
_TEMME_AB_MIN = 40.0
#: ... and a deviance f below this (|z| < ~25: erfc(sqrt f) exp(f) stays finite).
_TEMME_F_MAX = 600.0
#: Terms of the expansion (TOMS 708 ``num``; must be even).
_TEMME_NUM = 20
#: Truncation error bound: this times the last pair of terms (while they still decrease).
_TEMME_SAFETY = 10.0


@jit()
def _lambda_exact(m, p, b):
    """m p - b, with the product m p taken exactly (Dekker's two-product, Veltkamp splits).

    In the asymptotic expansion the distance of k + 1 from (n + 1) p is squared and divided by
    the variance: rounding m p (~1e8 at n = 1e9, p = 0.1) would cost ~1e-11 relative in the
    tails. m is integer-valued (< 2**53); b = k + 1.
    """
    x = m * p
    t = _SPLIT * m
    mh = t - (t - m)
    ml = m - mh
    t = _SPLIT * p
    ph = t - (t - p)
    pl = p - ph
    err = ml * pl - (((x - mh * ph) - ml * ph) - mh * pl)
    return (x - b) + err


@jit()
def _bd0_diff(x, d):
    """x log(x / (x - d)) - d = bd0(x, x - d) for d < x, the difference d given exactly.

    Loader's series in v = d / (2x - d) for |v| < 0.1 (a fixed number of terms chosen by
    |v|, Horner, no divisions), else the closed form (cancellation costs at most ~10x eps).
    """
    s2 = 2.0 * x - d
    if abs(d) >= 0.1 * s2:
        return -x * math.log1p(-d / x) - d
    v = d / s2
    v2 = v * v
    # x log(x/(x-d)) - d = d v + 2 x v (v^2/3 + v^4/5 + ...): terms to < 1e-17 relative
    if v2 < 2.5e-6:
        poly = v2 * (1.0 / 3.0 + v2 * (1.0 / 5.0 + v2 * (1.0 / 7.0)))
    elif v2 < 1e-3:
        poly = v2 * (1.0 / 3.0 + v2 * (1.0 / 5.0 + v2 * (1.0 / 7.0 + v2 * (
            1.0 / 9.0 + v2 * (1.0 / 11.0 + v2 * (1.0 / 13.0 + v2 * (1.0 / 15.0)))))))
    else:
        poly = v2 * (1.0 / 3.0 + v2 * (1.0 / 5.0 + v2 * (1.0 / 7.0 + v2 * (
            1.0 / 9.0 + v2 * (1.0 / 11.0 + v2 * (1.0 / 13.0 + v2 * (1.0 / 15.0 + v2 * (
                1.0 / 17.0 + v2 * (1.0 / 19.0 + v2 * (1.0 / 21.0))))))))))
    return d * v + 2.0 * x * v * poly


@jit()
def _temme_sum(aa, bb, f, pre, yfac, y0, gap_dn, gap_up, err0, full):
    """Temme's expansion of I_x(aa, bb) (DiDonato & Morris, TOMS 708 ``basym``), lambda >= 0:
    I = pre * S with S = J0 + sum of terms; f the deviance, pre = (2/sqrt(pi)) exp(-f - bcorr).

    The series stops once its last terms are small against what the caller decides with it:
    Y = y0 + yfac * pre * S (the signed distance of the CDF or survival function from the
    uniform) must keep its sign with margin (err0 + 4 |last terms|), and so must Y - gap_dn
    and Y + gap_up (the neighbours' distances, one pmf away). ``full``: run to 1e-16.
    Returns (S, error bound on pre * S, converged).
    """
    if aa < bb:
        h = aa / bb
        r1 = (bb - aa) / bb
        w0 = 1.0 / math.sqrt(aa * (1.0 + h))
    else:
        h = bb / aa
        r1 = (bb - aa) / aa
        w0 = 1.0 / math.sqrt(bb * (1.0 + h))
    r0 = 1.0 / (1.0 + h)
    z0 = math.sqrt(f)
    z = z0 / (2.0 * _E1)
    z2 = f + f
    a0 = np.empty(4 * (_TEMME_NUM + 1))  # a0, b0, c, d of TOMS 708, one allocation
    ob = _TEMME_NUM + 1
    oc = 2 * ob
    od = 3 * ob
    a0[0] = (2.0 / 3.0) * r1
    a0[oc] = -0.5 * a0[0]
    a0[od] = -a0[oc]
    j0 = (0.5 / _E0) * math.exp(f) * math.erfc(z0)
    j1 = _E1
    s = j0 + a0[od] * w0 * j1
    sh = 1.0
    h2 = h * h
    hn = 1.0
    w = w0
    znm1 = z
    zn = z2
    prev = math.inf
    for nn in range(2, _TEMME_NUM + 1, 2):
        hn *= h2
        a0[nn - 1] = 2.0 * r0 * (1.0 + h * hn) / (nn + 2.0)
        np1 = nn + 1
        sh += hn
        a0[np1 - 1] = 2.0 * r1 * sh / (nn + 3.0)
        for i in range(nn, np1 + 1):
            r = -0.5 * (i + 1.0)
            a0[ob] = r * a0[0]
            for m in range(2, i + 1):
                bsum = 0.0
                for j in range(1, m):
                    bsum += (j * r - (m - j)) * a0[j - 1] * a0[ob + m - j - 1]
                a0[ob + m - 1] = r * a0[m - 1] + bsum / m
            a0[oc + i - 1] = a0[ob + i - 1] / (i + 1.0)
            dsum = 0.0
            for j in range(1, i):
                dsum += a0[od + i - j - 1] * a0[oc + j - 1]
            a0[od + i - 1] = -(dsum + a0[oc + i - 1])
        j0 = _E1 * znm1 + (nn - 1.0) * j0
        j1 = _E1 * zn + nn * j1
        znm1 *= z2
        zn *= z2
        w *= w0
        t0 = a0[od + nn - 1] * w * j0
        w *= w0
        t1 = a0[od + np1 - 1] * w * j1
        s += t0 + t1
        last = abs(t0) + abs(t1)
        if last >= prev:  # the asymptotic series has stopped converging
            return s, math.inf, False
        prev = last
        if last <= 1e-16 * s:  # full precision: the caller decides or calls it a tie
            return s, 0.0 if full else _TEMME_SAFETY * pre * last, True
        if not full:
            e = err0 + _TEMME_SAFETY * pre * last
            y = y0 + yfac * pre * s
            if abs(y) > e and abs(y - gap_dn if y >= 0.0 else y + gap_up) > e:
                return s, _TEMME_SAFETY * pre * last, True
    return s, math.inf, False


@jit()
def _side(y, e, full):
    """1 if y >= 0 is certain (|y| > e; ``full``: exact comparison), 0 if y < 0 is, else -1."""
    if full:
        return 1 if y >= 0.0 else 0
    if y > e:
        return 1
    if y < -e:
        return 0
    return -1


@jit()
def _temme_setup(k, n, p):
    """The tail of K ~ Binomial(n, p) at 0 < k < n that Temme's expansion gives, set up.

    Returns (ok, upper, aa, bb, f, pre, pmf): the tail is P(K <= k) = I_{1-p}(n - k, k + 1)
    (upper False) or P(K > k) = I_p(k + 1, n - k) (upper True), whichever has lambda >= 0
    (the smaller one, up to O(1/sd)); it equals pre * S with S from :func:`_temme_sum`
    (parameters aa, bb, deviance f); pmf = P(K = k) from the same exponential. ok False:
    outside the expansion's domain (a parameter below _TEMME_AB_MIN, or f > _TEMME_F_MAX).
    """
    a = float(n - k)
    b = float(k + 1)
    lm = _lambda_exact(float(n) + 1.0, p, b)  # lambda of TOMS 708 for I_{1-p}(n - k, k + 1)
    upper = lm < 0.0
    if upper:
        aa, bb, lm = b, a, -lm
    else:
        aa, bb = a, b
    if min(aa, bb) < _TEMME_AB_MIN:
        return False, upper, aa, bb, 0.0, 0.0, 0.0
    f = _bd0_diff(aa, lm) + _bd0_diff(bb, -lm)
    if f > _TEMME_F_MAX:
        return False, upper, aa, bb, f, 0.0, 0.0
    g = math.exp(-f - (stirlerr(a) + stirlerr(b) - stirlerr(a + b)))
    # x^a y^b / B(a, b) = g sqrt(ab / (a + b)) / sqrt(2 pi) and x^a y^b / (a B(a, b)) = pmf(k) p
    fk = g * math.sqrt(b / (a * (a + b))) / (_SQRT_2PI * p)
    return True, upper, aa, bb, f, _E0 * g, fk


@jit()
def _temme_tail(k, n, p):
    """(ok, tail, upper, pmf): the tail at k (as :func:`_tail`) and P(K = k) by Temme's
    expansion to full precision, for 0 < k < n; ok False where it does not apply."""
    ok, upper, aa, bb, f, pre, fk = _temme_setup(k, n, p)
    if not ok:
        return False, 0.0, upper, 0.0
    s, _, conv = _temme_sum(aa, bb, f, pre, 0.0, 0.0, 0.0, 0.0, 0.0, True)
    return conv, pre * s, upper, fk


@jit()
def _binom_inv_temme(u, v, n, p, full):
    """Inversion at u (v = 1 - u exactly) for p <= 1/2 and n p q >= _TEMME_VAR_MIN, with the
    tail at the Cornish-Fisher guess from Temme's expansion (cost independent of n).

    Returns k; -1 when a comparison was too close to call at the expansion's working accuracy
    (run again with ``full``); -2 when the expansion does not apply here (the caller uses the
    exact sums / continued fraction).
    """
    k = _guess(u, v, n, p)
    if k <= 0 or k >= n:
        return -2
    ok, upper, aa, bb, f, pre, fk = _temme_setup(k, n, p)
    if not ok:
        return -2
    r = p / (1.0 - p)
    lower_half = u <= 0.5
    # Y(k) = F(k) - u (lower half) or v - S(k) (upper half): k is the answer iff Y(k) >= 0 >
    # Y(k - 1) = Y(k) - pmf(k); Y(k + 1) = Y(k) + pmf(k + 1). The tail T = pre * S is
    # F(k) (upper False) or S(k) (upper True).
    if lower_half:
        if upper:  # Y = (1 - T) - u
            y0, yfac = 1.0 - u, -1.0
        else:  # Y = T - u
            y0, yfac = -u, 1.0
    else:
        if upper:  # Y = v - T
            y0, yfac = v, -1.0
        else:  # Y = v - (1 - T)
            y0, yfac = v - 1.0, 1.0
    tgt = u if lower_half else v
    fup = fk * (n - k) / (k + 1.0) * r  # pmf(k + 1)
    err0 = 0.0 if full else 2e-13 * tgt + 5e-16
    s, err, ok = _temme_sum(aa, bb, f, pre, yfac, y0, fk, fup, err0, full)
    if not ok:  # the series stopped converging before the comparisons were settled
        return -2
    y = y0 + yfac * pre * s
    e = 0.0 if full else err0 + err + 2e-13 * pre * s
    c = _side(y, e, full)
    if c < 0:
        return -1
    if c == 1:  # walk down while Y(k - 1) >= 0
        while k > 0:
            yd = y - fk
            c = _side(yd, e, full)
            if c < 0:
                return -1
            if c == 0:
                return k
            y = yd
            fk *= k / (n - k + 1.0) / r
            k -= 1
        return 0
    while k < n:  # walk up until Y(k) >= 0
        fk *= (n - k) / (k + 1.0) * r
        k += 1
        y += fk
        c = _side(y, e, full)
        if c < 0:
            return -1
        if c == 1:
            return k
        if fk == 0.0:
            return -2
    return n


@jit()
def _binom_inv_direct(u, v, n, p):
    """Inversion at u (v = 1 - u, given exactly by the caller) for p <= 0.5.

    Lower half by the CDF, upper half by the survival function: working with
    P(K > k) <= v keeps full relative accuracy in the upper tail, so quantiles at
    u = 1 - 1e-15 are right.
    """
    q = 1.0 - p
    r = p / q
    if u <= 0.5:
        if n * p < 12.0:
            # sum the pmf from 0: F reaches u <= 1/2 long before rounding matters
            f = binom_pmf(0, n, p)
            cdf = f
            k = 0
            while cdf < u and k < n:
                f *= (n - k) / (k + 1.0) * r
                k += 1
                cdf += f
            return k
        k = _guess(u, v, n, p)
        cdf, _, f = _cdf_sf_pmf(k, n, p)
        if cdf >= u:
            while k > 0:
                below = cdf - f
                if below < u:
                    break
                f *= k / (n - k + 1.0) / r
                k -= 1
                cdf = below
            return k
        while cdf < u and k < n:
            f *= (n - k) / (k + 1.0) * r
            k += 1
            cdf += f
        return k
    k = _guess(u, v, n, p)
    _, sf, f = _cdf_sf_pmf(k, n, p)
    if sf <= v:
        # walk down while P(K > k - 1) = sf + pmf(k) still <= v
        while k > 0:
            above = sf + f
            if above > v:
                break
            f *= k / (n - k + 1.0) / r
            k -= 1
            sf = above
        return k
    while sf > v and k < n:
        f *= (n - k) / (k + 1.0) * r
        k += 1
        sf -= f
        if f == 0.0:  # underflow far in the tail: re-evaluate exactly
            _, sf, f = _cdf_sf_pmf(k, n, p)
            if f == 0.0:
                break
    return k


@jit()
def _binom_inv_low(u, v, n, p):
    """Inversion at u (v = 1 - u, given exactly by the caller) for p <= 0.5."""
    if n * p * (1.0 - p) >= _TEMME_VAR_MIN and not (u <= 0.5 and n * p < 12.0):
        k = _binom_inv_temme(u, v, n, p, False)
        if k == -1:
            k = _binom_inv_temme(u, v, n, p, True)
        if k >= 0:
            return k
    return _binom_inv_direct(u, v, n, p)


@jit()
def binom_inv(u, n, p):
    """Smallest k with P(K <= k) >= u, K ~ Binomial(n, p), for u in (0, 1).

    Monotone non-decreasing in u, and in p except for u within ~1e-13 of a step of the CDF
    (where rounding can reverse the order by one). p <= 0 gives 0, p >= 1 gives n. The CDF
    and survival function are accurate to ~3e-14 relative for n up to 1e9 (see tests); the
    cost, ~0.2 us, does not grow with n (module docstring).
    """
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        # K = n - Binomial(n, 1 - p) evaluated at 1 - u: equal to the inversion except on
        # the null set u == F(k); keeps every evaluation on the p <= 1/2 side.
        # 1 - u may round to 1 for tiny u; its exact complement u is passed along
        return n - _binom_inv_low(1.0 - u, u, n, 1.0 - p)
    return _binom_inv_low(u, 1.0 - u, n, p)
