"""Slow, obviously-correct twin of simpool's model (a test helper, not a test module).

Everything here is written from the *definitions* in the docstrings of ``simpool.engine.rng`` and
``simpool.engine.kernels``, never by calling simpool's numba code:

* SplitMix64 ``mix64``, ``seed_key``, ``path_year_key``, ``draw``, ``to_unit`` with Python
  integers masked to 64 bits;
* the normal inverse is ``scipy.special.ndtri``, Phi is ``scipy.special.ndtr``;
* the conditional binomial is ``scipy.stats.binom.ppf`` (simpool inverts p > 1/2 through
  the mirror ``n - inv(1 - u, n, 1 - p)``; equal almost surely);
* Gamma variates follow the same Marsaglia--Tsang steps (so the same uniforms are used);
* the loop over paths / years / sectors / cohorts / loans is written out plainly, and every
  alive loan is tested with ``U < p_i`` directly (no screening buckets).

Input is a scenario dict of the shape :func:`simpool.load_scenario` takes (cohorts only; no
loan tape), a seed and a number of paths. Output: ``loss`` (paths, years), ``defaults``
(paths, years), ``logw`` (paths,).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
M1 = 0xBF58476D1CE4E5B9
M2 = 0x94D049BB133111EB
YEAR_MULT = 0xD1B54A32D192ED03
SEED_SALT = 0x5851F42D4C957F2D

STREAM_LOAN = 0
STREAM_FACTOR = 1
STREAM_CHI2 = 2
STREAM_COHORT = 3
STREAM_LGD = 4

BETA_SUM_EXACT_MAX = 256


# --------------------------------------------------------------------------- random numbers

def mix64(z: int) -> int:
    """SplitMix64 finaliser (Stafford Mix13) on Python ints."""
    z &= MASK
    z = ((z ^ (z >> 30)) * M1) & MASK
    z = ((z ^ (z >> 27)) * M2) & MASK
    return z ^ (z >> 31)


def _unxorshift(x: int, s: int) -> int:
    """Inverse of x -> x ^ (x >> s) on 64 bits."""
    y = x
    for _ in range(64 // s + 1):
        y = x ^ (y >> s)
    return y & MASK


def unmix64(x: int) -> int:
    """Inverse of :func:`mix64` (it is a bijection of 64-bit words)."""
    x = _unxorshift(x & MASK, 31)
    x = (x * pow(M2, -1, 1 << 64)) & MASK
    x = _unxorshift(x, 27)
    x = (x * pow(M1, -1, 1 << 64)) & MASK
    return _unxorshift(x, 30)


def seed_key(seed: int) -> int:
    return mix64((seed & MASK) ^ SEED_SALT)


def path_year_key(skey: int, path: int, year: int) -> int:
    k = mix64((skey + (path + 1) * GOLDEN) & MASK)
    return mix64(k ^ (((year + 1) * YEAR_MULT) & MASK))


def draw(key: int, stream: int, j: int) -> int:
    ctr = ((stream << 40) + j + 1) & MASK
    return mix64((key + ctr * GOLDEN) & MASK)


def to_unit(x: int) -> float:
    # the same IEEE double operations as the definition ((x >> 11) + 0.5) / 2**53,
    # clamped to the largest double below 1 (the top value would round up to 1.0)
    return min((float(x >> 11) + 0.5) * (1.0 / 9007199254740992.0), 1.0 - 2.0**-53)


def uniform(key: int, stream: int, j: int) -> float:
    return to_unit(draw(key, stream, j))


def gamma_variate(key: int, stream: int, a: float) -> float:
    """Gamma(a, 1) by Marsaglia--Tsang (boost U**(1/a) for a < 1), uniforms 0, 1, 2, ..."""
    boost = 1.0
    j = 0
    if a < 1.0:
        boost = uniform(key, stream, j) ** (1.0 / a)
        j += 1
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = float(special.ndtri(uniform(key, stream, j)))
        u = uniform(key, stream, j + 1)
        j += 2
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        if u < 1.0 - 0.0331 * x ** 4:
            return d * v * boost
        if math.log(u) < 0.5 * x * x + d * (1.0 - v + math.log(v)):
            return d * v * boost


def beta_variate(key: int, a: float, b: float) -> float:
    g1 = gamma_variate(key, 0, a)
    g2 = gamma_variate(key, 1, b)
    return g1 / (g1 + g2)


def binom_inv(u: float, n: int, p: float) -> int:
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    return int(stats.binom.ppf(u, n, p))


# --------------------------------------------------------------------------- the model

def _beta_ab(mean: float, sd: float) -> tuple[float, float]:
    if sd <= 0:
        return 0.0, 0.0
    nu = mean * (1 - mean) / sd ** 2 - 1.0
    return mean * nu, (1 - mean) * nu


def _threshold(pd: float, copula: str, dof: float) -> float:
    if copula == "t":
        return float(stats.t.ppf(pd, dof))
    return float(special.ndtri(pd))


def simulate(scenario: dict, seed: int, paths: int, shift=None) -> dict:
    """Simulate ``paths`` paths of ``scenario`` with the twin; returns loss, defaults, logw."""
    model = scenario.get("model", {})
    copula = model.get("copula", "gaussian")
    dof = float(model.get("dof", 4.0))
    sectors = list(model.get("sectors", ["tech"]))
    n_sec = len(sectors)
    corr = model.get("sector_correlation")
    corr = np.eye(n_sec) if corr is None else np.asarray(corr, float)
    chol = np.linalg.cholesky(corr)
    phi = float(model.get("factor_persistence", 0.0))
    n_years = int(scenario.get("simulation", {}).get("horizon_years", 1))
    shift = np.zeros((n_years, n_sec)) if shift is None else \
        np.broadcast_to(np.asarray(shift, float), (n_years, n_sec))

    def sector_of(c):
        s = c.get("sector")
        return 0 if s is None else sectors.index(s)

    cohorts = scenario["cohorts"]
    binom = [c for c in cohorts if c.get("mode", "binomial") == "binomial"]
    # single loans in the order simpool numbers them: cohorts in "loans" mode, row by row
    loans = []
    for c in cohorts:
        if c.get("mode", "binomial") == "loans":
            for _ in range(int(c["loans"])):
                loans.append(c)
    n_loans = len(loans)

    l_thresh = np.array([_threshold(c["pd"], copula, dof) for c in loans])
    l_rho = np.array([float(c["rho"]) for c in loans])
    l_sec = np.array([sector_of(c) for c in loans], dtype=int)
    l_exp = np.array([float(c["exposure"]) for c in loans])
    l_lgd = np.array([float(c["lgd"]) for c in loans])
    l_ab = [_beta_ab(float(c["lgd"]), float(c.get("lgd_std", 0.0))) for c in loans]

    out_loss = np.zeros((paths, n_years))
    out_def = np.zeros((paths, n_years), dtype=np.int64)
    out_logw = np.zeros(paths)
    skey = seed_key(seed)
    for path in range(paths):
        logw = 0.0
        z_prev = np.zeros(n_sec)
        alive_c = [int(c["loans"]) for c in binom]
        dead = np.zeros(n_loans, dtype=bool)
        for y in range(n_years):
            key = path_year_key(skey, path, y)
            # sector factors
            eta = np.empty(n_sec)
            for s in range(n_sec):
                m = shift[y, s]
                eta[s] = special.ndtri(uniform(key, STREAM_FACTOR, s)) + m
                if m != 0.0:
                    logw += -m * eta[s] + 0.5 * m * m
            corr_eta = chol @ eta
            z = corr_eta if y == 0 else phi * z_prev + math.sqrt(1.0 - phi * phi) * corr_eta
            z_prev = z
            sw = 1.0
            if copula == "t":
                w = 2.0 * gamma_variate(key, STREAM_CHI2, 0.5 * dof) / dof  # chi2_nu / nu
                sw = math.sqrt(w)
            loss = 0.0
            ndef = 0
            # binomial cohorts
            for ci, c in enumerate(binom):
                n_alive = alive_c[ci]
                if n_alive == 0:
                    continue
                rho = float(c["rho"])
                thr = _threshold(c["pd"], copula, dof)
                p = float(special.ndtr((thr * sw - math.sqrt(rho) * z[sector_of(c)]) / math.sqrt(1 - rho)))
                k = binom_inv(uniform(key, STREAM_COHORT, ci), n_alive, p)
                if k == 0:
                    continue
                alive_c[ci] -= k
                ndef += k
                a, b = _beta_ab(float(c["lgd"]), float(c.get("lgd_std", 0.0)))
                if a <= 0:
                    loss += k * float(c["exposure"]) * float(c["lgd"])
                else:
                    ckey = draw(key, STREAM_LGD, n_loans + ci)
                    # the first min(k, 256) LGDs exactly; the rest by a normal approximation
                    # g(m) = m mean + sqrt(m) sd N, as max(g(1), g(m)) clipped to [0, m]
                    acc = sum(beta_variate(draw(ckey, 2, j), a, b)
                              for j in range(min(k, BETA_SUM_EXACT_MAX)))
                    m = k - BETA_SUM_EXACT_MAX
                    if m > 0:
                        mean, sd = float(c["lgd"]), float(c["lgd_std"])
                        zz = float(special.ndtri(uniform(ckey, 3, 0)))
                        g = max(m * mean + math.sqrt(m) * sd * zz, mean + sd * zz)
                        acc += min(max(g, 0.0), float(m))
                    loss += float(c["exposure"]) * acc
            # single loans: every alive loan, U < p_i
            if n_loans:
                p = special.ndtr((l_thresh * sw - np.sqrt(l_rho) * z[l_sec]) / np.sqrt(1.0 - l_rho))
                for i in range(n_loans):
                    if dead[i]:
                        continue
                    if not uniform(key, STREAM_LOAN, i) < p[i]:
                        continue
                    dead[i] = True
                    ndef += 1
                    a, b = l_ab[i]
                    if a <= 0:
                        loss += l_exp[i] * l_lgd[i]
                    else:
                        loss += l_exp[i] * beta_variate(draw(key, STREAM_LGD, i), a, b)
            out_loss[path, y] = loss
            out_def[path, y] = ndef
        out_logw[path] = logw
    return {"loss": out_loss, "defaults": out_def, "logw": out_logw}
