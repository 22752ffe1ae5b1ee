"""Exact binomial distribution for numba kernels: pmf, CDF and inversion of one uniform.

``binom_inv(u, n, p)`` returns min{k : F(k) >= u} for K ~ Binomial(n, p), by inversion of a
single uniform. The map is monotone in ``u`` and in ``p``, so common random numbers stay
monotone when a parameter moves (comparisons and goal-seeking rely on it). Its cost does not
grow with ``n``: for small means it sums the pmf from 0; otherwise it starts from a
Cornish-Fisher guess, evaluates the exact CDF there (term by term when the tail is short:
below the mean up to k = 1000, above it up to 32 standard deviations; else the regularised
incomplete beta by continued fraction) and walks a few steps with pmf ratios; above the median it works with the
survival function so upper-tail quantiles keep full relative accuracy. A 10-million-loan
cohort costs a few microseconds a draw.

The pmf uses Loader's saddle-point expansion (``stirlerr``/``bd0``, as in R's ``dbinom``),
accurate to ~1e-15 relative even for n ~ 1e9, where ``lgamma`` differences lose 8 digits.
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


@jit()
def _binom_inv_low(u, v, n, p):
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
def binom_inv(u, n, p):
    """Smallest k with P(K <= k) >= u, K ~ Binomial(n, p), for u in (0, 1).

    Monotone non-decreasing in u, and in p except for u within ~1e-13 of a step of the CDF
    (where rounding can reverse the order by one). p <= 0 gives 0, p >= 1 gives n. The CDF
    and survival function are accurate to ~1e-13 relative for n up to 1e7 (see tests).
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
