"""Counter-based random numbers for the numba kernels.

Every random number simpool draws is a pure function of (seed, global path index, year,
stream, counter): there is no generator state to split or advance. Chunks of paths can
therefore run in any order, on any number of threads or machines, and give bit-identical
results.

The construction is the SplitMix64 finaliser (Stafford's "Mix13", the output function of
Java's ``SplittableRandom`` and of numpy's seeding) used as a keyed hash:

* ``seed_key(seed)`` whitens the user seed;
* ``path_year_key(seed_key, path, year)`` hashes the global path index and the year into a
  64-bit key, one per path-year;
* ``draw(key, stream, j)`` is the j-th output of the SplitMix64 sequence started at ``key``
  in stream ``stream`` (``stream`` occupies the top bits of the counter), i.e.
  ``mix64(key + (stream * 2**40 + j + 1) * GOLDEN)``.

Within one key the outputs are exactly the SplitMix64 generator (passes BigCrush); distinct
keys are hashed, so different path-years behave as independent streams.

Streams used by the kernels (``j`` is given in brackets):
``STREAM_LOAN`` (loan index), ``STREAM_FACTOR`` (sector index), ``STREAM_CHI2`` (a counter
for the rejection sampler of the t copula's chi-square), ``STREAM_COHORT`` (cohort index),
``STREAM_LGD`` (per-loan sub-keys for stochastic LGD), ``STREAM_MIX`` (year 0 only: which
component of the importance-sampling mixture a path is drawn from).

Uniforms are ``((x >> 11) + 0.5) / 2**53`` (the top one clamped below 1): in the open
interval (0, 1), never 0 or 1, so every inversion is finite.
"""

from __future__ import annotations

import math

import numpy as np
from ._jit import jit

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_YEAR_MULT = np.uint64(0xD1B54A32D192ED03)
_SEED_SALT = np.uint64(0x5851F42D4C957F2D)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_S40 = np.uint64(40)
_ONE = np.uint64(1)
_TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53

STREAM_LOAN = 0
STREAM_FACTOR = 1
STREAM_CHI2 = 2
STREAM_COHORT = 3
STREAM_LGD = 4
STREAM_MIX = 5
#: year 0 only: a path's draws of uncertain cohort parameters (counter 2 x group + 0 for pd,
#: + 1 for rho); the funds use 6-9
STREAM_PARAM = 10


@jit()
def mix64(z):
    """SplitMix64 finaliser: a bijective 64-bit mixing function (uint64 -> uint64)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@jit()
def seed_key(seed):
    """Whiten a user seed (0 <= seed < 2**64) into a 64-bit key."""
    return mix64(np.uint64(seed) ^ _SEED_SALT)


# The helpers called with stream constants carry explicit signatures: numba would otherwise
# compile one copy per literal argument (draw(key, 3, j), draw(key, 4, j), draw(key, 3, 0) ...,
# 35 copies in all, about 3.5 s of a cold first call). LLVM still inlines them and folds
# the constants, so the kernels' code is the same. Called from Python they take a key in
# [0, 2**64) and stream and j in int64 range (other types are converted, floats truncated).
@jit("uint64(uint64, int64, int64)")
def path_year_key(skey, path, year):
    """Key of one path-year: a hash of the seed key, the global path index and the year."""
    # np.uint64(...) everywhere: a key that fits in int64 would otherwise be typed int64 and
    # numba promotes int64 (op) uint64 to float64.
    k = mix64(np.uint64(skey) + (np.uint64(path) + _ONE) * GOLDEN)
    return mix64(k ^ ((np.uint64(year) + _ONE) * _YEAR_MULT))


@jit("uint64(int64, int64)")
def counter(stream, j):
    """The key-free part of the input of :func:`draw`: ``draw(key, stream, j) ==
    mix64(key + counter(stream, j))`` (uint64, wrapping)."""
    return ((np.uint64(stream) << _S40) + np.uint64(j) + _ONE) * GOLDEN


@jit("uint64(uint64, int64, int64)")
def draw(key, stream, j):
    """The ``j``-th 64-bit output of stream ``stream`` under ``key``."""
    return mix64(np.uint64(key) + counter(stream, j))


@jit()
def counters(stream, ids):
    """:func:`counter` of numbers ``ids`` of ``stream`` (uint64 array):
    ``draw(key, stream, ids[i]) == mix64(key + counters(stream, ids)[i])``. Loops that draw
    the same numbers under every path's key precompute it: one 64-bit multiply per draw
    fewer."""
    out = np.empty(ids.shape[0], np.uint64)
    for i in range(ids.shape[0]):
        out[i] = counter(stream, ids[i])
    return out


_U_MAX = 1.0 - _TWO_M53  # largest double below 1


@jit()
def to_unit(x):
    """Map 64 random bits to a double uniform in the open interval (0, 1).

    ``((x >> 11) + 0.5) / 2**53``; the top value would round up to 1.0, so it is clamped to
    the largest double below 1.
    """
    return min((np.float64(x >> _S11) + 0.5) * _TWO_M53, _U_MAX)


_TWO_P53 = 9007199254740992  # 2**53: the number of values of x >> 11


@jit()
def unit_threshold(bound):
    """The integer T with ``to_unit(x) < bound  <=>  (x >> 11) < T`` for every 64-bit x.

    ``to_unit`` is non-decreasing in ``x >> 11``, so the uniforms below ``bound`` are exactly
    those whose top 53 bits are below T: comparing raw bits against ``T << 11`` (when
    ``T < 2**53``) gives the same decisions as comparing doubles, bit for bit, without an
    integer-to-double conversion per draw. Returns 0 when nothing is below ``bound`` and
    ``2**53`` when everything is.
    """
    if not bound > 0.0:
        return 0
    if bound <= 0.5:
        # below 1/2 the uniforms are exactly (k + 0.5) / 2**53 (k < 2**52), and B - 0.5 with
        # B = bound * 2**53 < 2**52 is exact: T = #{k >= 0 : k < B - 0.5} = ceil(B - 0.5)
        return max(int(math.ceil(bound * 9007199254740992.0 - 0.5)), 0)
    if bound > _U_MAX:
        return _TWO_P53
    t = max(int(bound * 9007199254740992.0) - 2, 0)  # at most a few steps below T
    while t < _TWO_P53 and min((np.float64(t) + 0.5) * _TWO_M53, _U_MAX) < bound:
        t += 1
    return t


@jit("float64(uint64, int64, int64)")
def uniform(key, stream, j):
    """Uniform(0, 1) number ``j`` of ``stream`` under ``key``."""
    return to_unit(draw(key, stream, j))


# ---------------------------------------------------------------------------
# Normal distribution
# ---------------------------------------------------------------------------

_SQRT1_2 = 0.7071067811865476


@jit()
def norm_cdf(x):
    """Standard normal CDF Phi(x); exact at +-inf."""
    return 0.5 * math.erfc(-x * _SQRT1_2)


# Bracketing table of Phi: _PHI_TABLE[k] = norm_cdf(PHI_GRID_LO + k * PHI_GRID_STEP), as the
# kernels compute it (the same libm erfc). Phi is increasing, so grid values on either side
# of x bound Phi(x) with no approximation error: the screening bounds of loan tapes come from
# here instead of two erfc calls per bucket and path-year.
PHI_GRID_LO = -8.5
PHI_GRID_HI = 6.0
PHI_GRID_STEP = 1.0 / 1024.0
_PHI_INV_STEP = 1024.0
_PHI_TABLE = np.array([0.5 * math.erfc(-(PHI_GRID_LO + k * PHI_GRID_STEP) * _SQRT1_2)
                       for k in range(int(round((PHI_GRID_HI - PHI_GRID_LO) * 1024.0)) + 1)])
_PHI_LAST = _PHI_TABLE.shape[0] - 1


@jit()
def phi_bracket(x):
    """(lo, hi) with ``lo <= norm_cdf(x') <= hi`` for every x' within a few ulps of x.

    Table lookups, no erfc: ``lo`` and ``hi`` are Phi at grid points at least one step
    (1/1024) below and above x. The step is far wider than the rounding of x (a division
    here, a multiplication there) and than erfc's error, so the bracket holds for the
    probability the exact test computes. The gap ``hi - lo`` is at most about
    ``5 phi(x) / 1024``. Below the grid lo = 0; above it hi = 1. NaN gives (0, 1).
    """
    t = (x - PHI_GRID_LO) * _PHI_INV_STEP
    if not t >= 2.0:  # below the grid (or NaN): Phi(x) <= Phi(grid[2])
        return 0.0, (_PHI_TABLE[3] if t < 2.0 else 1.0)
    if t >= _PHI_LAST - 3.0:  # above the grid
        return _PHI_TABLE[_PHI_LAST - 6], 1.0
    k = int(t)  # floor; at most one off the true cell when x sits on a grid point
    return _PHI_TABLE[k - 2], _PHI_TABLE[k + 3]


@jit()
def norm_ppf(p):
    """Inverse standard normal CDF (Wichura 1988, AS241 PPND16, relative error ~1e-16).

    p = 0 gives -inf and p = 1 gives +inf.
    """
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r
                         + 67265.770927008700853) * r + 45921.953931549871457) * r
                       + 13731.693765509461125) * r + 1971.5909503065514427) * r
                     + 133.14166789178437745) * r + 3.387132872796366608) / \
            (((((((r * 5226.495278852545925 + 28729.085735721942674) * r
                  + 39307.89580009271061) * r + 21213.794301586595867) * r
                + 5394.1960214247511077) * r + 687.1870074920579083) * r
              + 42.313330701600911252) * r + 1.0)
    r = p if q < 0.0 else 1.0 - p
    r = math.sqrt(-math.log(r))
    if r <= 5.0:
        r -= 1.6
        val = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                    + 0.24178072517745061177) * r + 1.27045825245236838258) * r
                  + 3.64784832476320460504) * r + 5.7694972214606914055) * r
                + 4.6303378461565452959) * r + 1.42343711074968357734) / \
            (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                  + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                + 0.68976733498510000455) * r + 1.6763848301838038494) * r
              + 2.05319162663775882187) * r + 1.0)
    else:
        r -= 5.0
        val = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                    + 0.0012426609473880784386) * r + 0.026532189526576123093) * r
                  + 0.29656057182850489123) * r + 1.7848265399172913358) * r
                + 5.4637849111641143699) * r + 6.6579046435011037772) / \
            (((((((r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                  + 1.8463183175100546818e-5) * r + 7.868691311456132591e-4) * r
                + 0.0148753612908506148525) * r + 0.13692988092273580531) * r
              + 0.59983220655588793769) * r + 1.0)
    return -val if q < 0.0 else val


@jit()
def norm_ppf_array(p):
    """Elementwise :func:`norm_ppf` of a float64 array."""
    out = np.empty_like(p)
    for i in range(p.shape[0]):
        out[i] = norm_ppf(p[i])
    return out


@jit("float64(uint64, int64, float64)")
def gamma_variate(key, stream, a):
    """Gamma(shape a, scale 1) variate from the counter stream ``stream`` under ``key``.

    Marsaglia & Tsang (2000) squeeze-rejection; for a < 1 the boost
    Gamma(a) = Gamma(a + 1) * U**(1/a). Consumes draws 0, 1, 2, ... of the stream, so the
    result depends only on (key, stream, a).
    """
    boost = 1.0
    j = 0
    if a < 1.0:
        boost = uniform(key, stream, j) ** (1.0 / a)
        j += 1
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = norm_ppf(uniform(key, stream, j))
        u = uniform(key, stream, j + 1)
        j += 2
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if u < 1.0 - 0.0331 * x * x * x * x:
            return d * v * boost
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


@jit("float64(uint64, int64, float64)")
def log_gamma_variate(key, stream, a):
    """log of :func:`gamma_variate` ``(key, stream, a)``: the same draws, the same variate,
    but finite where the variate itself underflows to 0 (shape a far below 1, where the boost
    U**(1/a) falls below the smallest double)."""
    lboost = 0.0
    j = 0
    if a < 1.0:
        lboost = math.log(uniform(key, stream, j)) / a
        j += 1
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = norm_ppf(uniform(key, stream, j))
        u = uniform(key, stream, j + 1)
        j += 2
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if u < 1.0 - 0.0331 * x * x * x * x:
            return math.log(d * v) + lboost
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return math.log(d * v) + lboost
