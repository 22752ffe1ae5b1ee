"""numba kernels of the Vasicek (binomial mixture) likelihood of annual default counts.

A segment's defaults D_t of n_t loans in year t are Binomial(n_t, p(Z_t)) given the year's
factor Z_t ~ N(0, 1), with p(z) = Phi((c - sqrt(rho) z) / sqrt(1 - rho)), c = Phi^-1(pd)
(the one-factor model of the credit kernel). The year's likelihood is the integral over z;
it is sharply peaked when n_t is large, so it is computed by *adaptive* Gauss-Hermite
quadrature: centred at the mode of the integrand (Newton on its log) and scaled by its
curvature there, which is exact for a Gaussian integrand and accurate to many digits with
20 nodes for the binomial one (tests: against scipy's adaptive quadrature).

With persistence phi (Z_t = phi Z_{t-1} + sqrt(1 - phi^2) e_t), the likelihood is a hidden
Markov model: :func:`emissions` gives each year's binomial likelihood on a grid of z (each
cell's value averaged over sub-points, so a peaked likelihood between nodes is not missed)
and :func:`loglik_ar1` runs the forward recursion.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import jit

_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@jit()
def _log_phi_tails(u):
    """(log Phi(u), log(1 - Phi(u))), accurate in both tails."""
    p = 0.5 * math.erfc(-u / _SQRT2)
    q = 0.5 * math.erfc(u / _SQRT2)
    return math.log(max(p, 1e-300)), math.log(max(q, 1e-300))


@jit()
def _g(z, d, n, c, a, s):
    """log of the integrand without constants: d log p + (n - d) log(1 - p) - z^2 / 2."""
    lp, lq = _log_phi_tails((c - a * z) / s)
    return d * lp + (n - d) * lq - 0.5 * z * z


@jit()
def _dg(z, d, n, c, a, s):
    """(g'(z), g''(z)) of :func:`_g`, analytically: with u = (c - a z) / s, p = Phi(u) and
    p' = -(a / s) phi(u), g' = p' (d / p - (n - d) / (1 - p)) - z and
    g'' = p'' (d / p - (n - d) / (1 - p)) - p'^2 (d / p^2 + (n - d) / (1 - p)^2) - 1,
    p'' = -(a / s)^2 u phi(u)."""
    u = (c - a * z) / s
    dens = math.exp(-0.5 * u * u) / math.sqrt(2.0 * math.pi)
    p = max(0.5 * math.erfc(-u / _SQRT2), 1e-150)  # (squared below: no underflow to 0)
    q = max(0.5 * math.erfc(u / _SQRT2), 1e-150)
    k = a / s
    dp = -k * dens
    ddp = -k * k * u * dens
    m = d / p - (n - d) / q
    return dp * m - z, ddp * m - dp * dp * (d / (p * p) + (n - d) / (q * q)) - 1.0


@jit(nogil=True)
def year_loglik(d, n, c, rho, gx, gw):
    """log P(D = d) for one year: n loans, threshold c = Phi^-1(pd), asset correlation rho;
    ``gx``, ``gw``: Gauss-Hermite nodes and weights (weight exp(-x^2))."""
    a = math.sqrt(rho)
    s = math.sqrt(1.0 - rho)
    const = math.lgamma(n + 1.0) - math.lgamma(d + 1.0) - math.lgamma(n - d + 1.0)
    # the mode of the integrand: Newton on g' (g is concave), started at the z that makes
    # p(z) the observed rate, bracketed
    r = min(max((d + 0.5) / (n + 1.0), 1e-12), 1.0 - 1e-12)
    # Phi^-1(r) by bisection-free approximation: Newton on erfc is enough from 0
    lo, hi = -40.0, 40.0
    z = 0.0
    if a > 1e-12:
        # u* = Phi^-1(r); z0 = (c - s u*) / a, clipped
        t = math.sqrt(-2.0 * math.log(min(r, 1.0 - r)))
        u = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (
            1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
        if r < 0.5:
            u = -u
        z = min(max((c - s * u) / a, -8.0), 8.0)
    g2 = -1.0
    for _ in range(60):
        g1, g2 = _dg(z, d, n, c, a, s)
        if g1 > 0.0:
            lo = z
        else:
            hi = z
        znew = z - g1 / g2 if g2 < 0.0 else 0.5 * (lo + hi)
        if not (lo < znew < hi):
            znew = 0.5 * (lo + hi)
        if abs(znew - z) < 1e-10:
            z = znew
            g1, g2 = _dg(z, d, n, c, a, s)
            break
        z = znew
    sigma = 1.0 / math.sqrt(max(-g2, 1e-12))
    g0 = _g(z, d, n, c, a, s)
    if min(d, n - d) >= 3.0 and sigma < 0.5:
        # bell-shaped (at least 3 defaults and 3 survivors, and the binomial term dominates
        # the normal one): the rule is accurate to ~1e-7 with 16 nodes (tests: against
        # scipy's quadrature over random cases)
        return const - _LOG_SQRT_2PI + g0 + math.log(_gh(z, sigma, g0, d, n, c, a, s, gx, gw))
    # not bell-shaped enough for the rule (a saturated tail: few or no defaults, or all, with
    # a high rho and few loans): the trapezoid rule, step sigma / 8, walking out from the mode
    # until the integrand is below e^-40 of its peak. The integrand is smooth and its log
    # concave (g'' <= -1), so the rule converges geometrically and the walk ends within 9 of
    # the mode.
    h = min(0.05, sigma / 8.0)
    acc = 1.0
    for side in (-1.0, 1.0):
        k = 1
        while k * h < 12.0:
            v = _g(z + side * k * h, d, n, c, a, s) - g0
            acc += math.exp(v)
            if v < -40.0:
                break
            k += 1
    return const - _LOG_SQRT_2PI + g0 + math.log(acc * h)


@jit()
def _gh(z, sigma, g0, d, n, c, a, s, gx, gw):
    """The integral of exp(g - g0) by Gauss-Hermite centred at ``z`` with scale ``sigma``."""
    acc = 0.0
    for k in range(gx.shape[0]):
        zk = z + _SQRT2 * sigma * gx[k]
        acc += gw[k] * math.exp(_g(zk, d, n, c, a, s) - g0 + gx[k] * gx[k])
    return _SQRT2 * sigma * acc


@jit(nogil=True)
def loglik_iid(d, n, c, rho, gx, gw):
    """Sum over years of :func:`year_loglik` (independent years)."""
    total = 0.0
    for t in range(d.shape[0]):
        total += year_loglik(d[t], n[t], c, rho, gx, gw)
    return total


@jit()
def loglik_iid_many(d, n, c, rho, gx, gw, out):
    """:func:`loglik_iid` of many (c, rho) pairs at once into ``out``."""
    for i in range(c.shape[0]):
        out[i] = loglik_iid(d, n, c[i], rho[i], gx, gw)


@jit(nogil=True)
def emissions(d, n, c, rho, grid, sub, out):
    """log P(D_t = d_t | Z_t in cell j) on a grid of z (cell j around grid[j], averaged over
    ``sub`` equally spaced points), into ``out`` (T, G)."""
    a = math.sqrt(rho)
    s = math.sqrt(1.0 - rho)
    G = grid.shape[0]
    step = grid[1] - grid[0]
    for t in range(d.shape[0]):
        const = math.lgamma(n[t] + 1.0) - math.lgamma(d[t] + 1.0) - math.lgamma(n[t] - d[t] + 1.0)
        for j in range(G):
            m = -1e300
            vals = np.empty(sub)
            for k in range(sub):
                z = grid[j] + step * ((k + 0.5) / sub - 0.5)
                lp, lq = _log_phi_tails((c - a * z) / s)
                vals[k] = d[t] * lp + (n[t] - d[t]) * lq
                m = max(m, vals[k])
            acc = 0.0
            for k in range(sub):
                acc += math.exp(vals[k] - m)
            out[t, j] = const + m + math.log(acc / sub)


@jit(nogil=True)
def loglik_ar1(logE, grid, phi):
    """Log-likelihood of the hidden AR(1) factor: forward recursion over the grid, with the
    stationary N(0, 1) start and Gaussian transitions (rows normalised on the grid)."""
    T, G = logE.shape
    step = grid[1] - grid[0]
    sd = math.sqrt(1.0 - phi * phi)
    trans = np.empty((G, G))
    for i in range(G):
        tot = 0.0
        for j in range(G):
            x = (grid[j] - phi * grid[i]) / sd
            trans[i, j] = math.exp(-0.5 * x * x)
            tot += trans[i, j]
        for j in range(G):
            trans[i, j] /= tot
    alpha = np.empty(G)
    tot = 0.0
    for j in range(G):
        alpha[j] = math.exp(-0.5 * grid[j] * grid[j]) * step
        tot += alpha[j]
    for j in range(G):
        alpha[j] /= tot
    ll = 0.0
    nxt = np.empty(G)
    for t in range(T):
        m = -1e300
        for j in range(G):
            m = max(m, logE[t, j])
        tot = 0.0
        for j in range(G):
            alpha[j] *= math.exp(logE[t, j] - m)
            tot += alpha[j]
        ll += m + math.log(max(tot, 1e-300))
        for j in range(G):
            alpha[j] /= tot
        if t + 1 < T:
            for j in range(G):
                acc = 0.0
                for i in range(G):
                    acc += alpha[i] * trans[i, j]
                nxt[j] = acc
            for j in range(G):
                alpha[j] = nxt[j]
    return ll
