"""numba kernels of the correlated-default model (plain arrays in, plain arrays out).

The kernels know nothing of scenarios, files or pandas. ``simulate_chunk`` fills the rows of
one chunk of paths ``[path0, path0 + n_paths)``; every random number is keyed by the seed
and the *global* path index (see :mod:`simpool.engine.rng`), so a chunk's output does not depend
on how the paths were split.

Model, per path and year y (annual steps, a loan defaults at most once):

* sector factors ``Z_y = phi * Z_{y-1} + sqrt(1 - phi^2) * L (eta_y + shift_y)`` with
  ``L L' = sector correlation``, ``eta_y`` i.i.d. N(0, 1); ``shift_y`` is the importance-
  sampling mean shift (zero for plain Monte Carlo) and the path's log likelihood ratio
  accumulates ``-shift.eta' + |shift|^2 / 2`` where ``eta' = eta + shift``;
* Student-t copula: one ``W = chi2_nu / nu`` per path-year shared by all loans, and loan i
  defaults iff ``sqrt(rho) Z + sqrt(1 - rho) eps <= sqrt(W) c_i``, ``c_i = t_nu^-1(pd_i)``
  (Gaussian: ``W = 1``, ``c_i = Phi^-1(pd_i)``);
* conditional default probability ``p_i = Phi((sqrt(W) c_i - sqrt(rho_i) Z_s) / sqrt(1 - rho_i))``;
* loans: default iff ``U_i < p_i`` (U_i the loan's uniform for that path-year), screened
  first against a per-bucket upper bound of ``p`` so most loans cost one uniform and one
  comparison;
* cohorts of n identical loans: ``K ~ Binomial(n_alive, p)`` by inversion of one uniform.

Loss given default is deterministic (``lgd``) or Beta with the given mean and standard
deviation, drawn per defaulted loan.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from ._jit import jit
from numba.cpython.unsafe.numbers import trailing_zeros

from .binomial import binom_inv
from .rng import (
    STREAM_CHI2,
    STREAM_COHORT,
    STREAM_FACTOR,
    STREAM_LGD,
    STREAM_LOAN,
    STREAM_MIX,
    STREAM_PARAM,
    counters,
    draw,
    gamma_variate,
    log_gamma_variate,
    mix64,
    norm_cdf,
    norm_ppf,
    path_year_key,
    phi_bracket,
    to_unit,
    uniform,
    unit_threshold,
)
from .rng import _S11, _TWO_P53

# flags masked to one bit per byte are bytes 0/1; times this constant, byte j lands on bit 56 + j
_GATHER = np.uint64(0x0102040810204080)
_S56 = np.uint64(56)
_ONE64 = np.uint64(1)
_ZERO64 = np.uint64(0)
_LOW_BITS = np.uint64(0x0101010101010101)  # bit 0 of each byte
_U8_1 = np.uint8(1)
_U8_3 = np.uint8(3)

# Stochastic LGD of a cohort with K defaults in one path-year: the first min(K, 256) Beta
# LGDs are drawn exactly; the sum over the remaining m = K - 256 is drawn from its normal
# approximation g(m) = m*mu + sqrt(m)*sd*N (exact mean and variance), replaced by its running
# maximum max(g(1), g(m)) (different only when N is far in the lower tail) and clipped to
# [0, m]: the sum is then non-decreasing in m, so a cohort's loss stays monotone in K (and
# hence in pd) under common random numbers.
BETA_SUM_EXACT_MAX = 256


@jit()
def beta_variate(key, a, b):
    """Beta(a, b) variate from sub-key ``key`` (two gammas on streams 0 and 1)."""
    g1 = gamma_variate(key, 0, a)
    g2 = gamma_variate(key, 1, b)
    s = g1 + g2
    if s > 0.0:
        return g1 / s
    # both gammas underflowed (a and b far below 1: lgd_std close to its bound
    # sqrt(lgd (1 - lgd)), a Beta close to Bernoulli(lgd)); the same variates, in logs
    l1 = log_gamma_variate(key, 0, a)
    l2 = log_gamma_variate(key, 1, b)
    return 1.0 / (1.0 + math.exp(l2 - l1))


@jit()
def _beta_sum(ckey, k, mean, sd, a, b):
    """Sum of k Beta(a, b) LGDs of one cohort-path-year (see BETA_SUM_EXACT_MAX)."""
    acc = 0.0
    for j in range(min(k, BETA_SUM_EXACT_MAX)):
        acc += beta_variate(draw(ckey, 2, j), a, b)
    m = k - BETA_SUM_EXACT_MAX
    if m > 0:
        z = norm_ppf(uniform(ckey, 3, 0))
        # running maximum over m' <= m of g(m') = m' mean + sqrt(m') sd z: g falls then rises
        # in m', so that maximum is max(g(1), g(m)); it equals g(m) except in a far tail
        g = max(m * mean + math.sqrt(m) * sd * z, mean + sd * z)
        acc += min(max(g, 0.0), float(m))
    return acc


@jit()
def hit_words(n_loans):
    """Length of the screening flags: n_loans rounded up to whole 64-byte blocks (pass 2 of
    the screen reads 64 flags at a time)."""
    return ((n_loans + 63) // 64) * 64


@jit()
def _unit_below(bound):
    """An integer T with ``(x >> 11) < T  =>  to_unit(x) < bound`` (0 when bound <= 0)."""
    if not bound > 0.0:
        return 0
    return max(min(int(bound * 9007199254740992.0), _TWO_P53) - 1, 0)


# one signature: called with exact=True and with exact=False, numba would compile it twice
@jit("void(uint64, uint64[::1], int64, int64, float64, float64, boolean, uint8[::1])", nogil=True)
def _screen(key, l_ctr, lo, hi, bound, sure, exact, hit):
    """Screening flags of the loans ``lo <= i < hi`` of one bucket: the branch-free hot loop.

    Loan i's uniform is ``to_unit(mix64(key + l_ctr[i]))`` with ``l_ctr`` =
    :func:`~simpool.engine.rng.counters` (STREAM_LOAN, l_id): the numbers of :func:`~simpool.engine.rng.draw`
    bit for bit, one multiply fewer per loan.

    ``hit[i]`` gets bit 0 when ``U_i < bound`` (a candidate) and bit 1 when ``U_i < sure``
    (a certain default). Exact buckets (``exact``: bound is every loan's probability) flag
    both bits at once, comparing the raw 64-bit draws against
    :func:`~simpool.engine.rng.unit_threshold` (the same decisions as comparing the doubles,
    without a conversion per draw). Inexact ones may use any threshold at or above
    ``bound`` and at or below ``sure``: the exact test of the candidates in between follows.
    The index is unsigned: numba then emits no negative-index wraparound and LLVM
    vectorises the loop (a signed index read from an array is 5x slower; slices cost two
    reference counts each).
    """
    if exact:
        t = unit_threshold(bound)
        ts = t
    else:
        t = _TWO_P53 if bound >= 1.0 else min(int(bound * 9007199254740992.0) + 1, _TWO_P53)
        ts = _unit_below(sure)
    ulo = np.uint64(lo)
    n = hi - lo
    if t <= 0:
        for j in range(n):
            hit[ulo + np.uint64(j)] = 0
        return
    if ts >= _TWO_P53:
        for j in range(n):
            hit[ulo + np.uint64(j)] = 3
        return
    if t >= _TWO_P53:  # every loan a candidate: the sure bit decides the rest
        thr_s = np.uint64(ts) << _S11
        for j in range(n):
            i = ulo + np.uint64(j)
            hit[i] = np.uint8(1) | (np.uint8(mix64(key + l_ctr[i]) < thr_s) << _U8_1)
        return
    thr = np.uint64(t) << _S11
    if exact:
        for j in range(n):
            i = ulo + np.uint64(j)
            hit[i] = np.uint8(mix64(key + l_ctr[i]) < thr) * _U8_3
        return
    thr_s = np.uint64(ts) << _S11
    for j in range(n):
        i = ulo + np.uint64(j)
        d = mix64(key + l_ctr[i])
        hit[i] = np.uint8(d < thr) | (np.uint8(d < thr_s) << _U8_1)


@jit()
def _sure_bound(thresh_lo, sqrt_rho_lo, sqrt_rho_hi, inv_sd_lo, inv_sd_hi, sw, zs):
    """A lower bound of ``Phi((c sw - sqrt(rho) zs) / sqrt(1 - rho))`` over a bucket's loans
    (c >= thresh_lo, sqrt(rho) and 1 / sqrt(1 - rho) within their ranges), from the Phi
    table."""
    if zs > 0.0:
        num = thresh_lo * sw - sqrt_rho_hi * zs
    else:
        num = thresh_lo * sw - sqrt_rho_lo * zs
    return phi_bracket(num * (inv_sd_lo if num >= 0.0 else inv_sd_hi))[0]


@jit()
def _draw_factors(key, y, chol, phi, shift, apply_shift, z_prev, eta, z, fixed_z):
    """Fill ``z`` with the sector factors of year ``y``.

    The normals are shifted by ``shift[y]`` when ``apply_shift``; returns
    log(q/p) = shift.eta - |shift|^2 / 2 of the realised normals (q: shifted density).
    ``fixed_z[y, s]``, when not NaN, replaces the factor (deterministic stress paths); later
    years' AR(1) recursion starts from it.
    """
    n_sec = chol.shape[0]
    logr = 0.0
    for s in range(n_sec):
        m = shift[y, s]
        e = norm_ppf(uniform(key, STREAM_FACTOR, s))
        if apply_shift:
            e += m
        eta[s] = e
        if m != 0.0:
            logr += m * e - 0.5 * m * m
    innov = math.sqrt(1.0 - phi * phi)
    for s in range(n_sec):
        acc = 0.0
        for r in range(n_sec):
            acc += chol[s, r] * eta[r]
        if y == 0:
            z[s] = acc
        else:
            z[s] = phi * z_prev[s] + innov * acc
    for s in range(n_sec):
        f = fixed_z[y, s]
        if f == f:  # a stress scenario fixes this factor (NaN = drawn)
            z[s] = f
        z_prev[s] = z[s]
    return logr


@jit()
def _twisted_p(p, tc):
    """Exponentially twisted default probability p e^{tc} / (1 + p (e^{tc} - 1)), tc = theta c.

    Exact limits where the plain formula breaks down: 0 for p = 0 (0 x inf), 1 where e^{tc}
    overflows (inf / inf)."""
    if p <= 0.0:
        return 0.0
    e = math.expm1(tc)
    if e == np.inf:
        return 1.0
    return p * (e + 1.0) / (1.0 + p * e)


@jit()
def _psi(theta, p, c, n):
    """Conditional log-MGF of the loss, sum_i n_i log(1 + p_i (e^{theta c_i} - 1)), and its
    first two derivatives in theta (c in units of the twist scale)."""
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for i in range(p.shape[0]):
        if p[i] <= 0.0 or c[i] <= 0.0:
            continue
        tc = theta * c[i]
        e = math.expm1(tc)
        if e == np.inf:
            # e^{tc} overflows: log(1 + p (e^{tc} - 1)) = tc + log(p + (1 - p) e^{-tc})
            r = p[i] + (1.0 - p[i]) * math.exp(-tc)
            f0 += n[i] * (tc + math.log(r))
            pt = p[i] / r
        else:
            f0 += n[i] * math.log1p(p[i] * e)
            pt = p[i] * (e + 1.0) / (1.0 + p[i] * e)  # twisted probability
        f1 += n[i] * c[i] * pt
        f2 += n[i] * c[i] * c[i] * pt * (1.0 - pt)
    return f0, f1, f2


@jit()
def solve_twist(p, c, n, x):
    """theta >= 0 with psi'(theta) = x (0 when the conditional mean already reaches x).

    Safeguarded Newton on the increasing function psi'; c and x in units of the scale.
    psi' rises to the largest loss the obligors with p > 0 can make; a target at or above it
    (loans that cannot default, p = 0, count in the scenario's maximum loss) is lowered to
    0.999 of it, so theta stays finite.
    """
    reach = 0.0
    for i in range(p.shape[0]):
        if p[i] > 0.0 and c[i] > 0.0:
            reach += n[i] * c[i]
    if reach <= 0.0:
        return 0.0
    if x >= reach:
        x = 0.999 * reach
    _, f1, _ = _psi(0.0, p, c, n)
    if f1 >= x:
        return 0.0
    lo = 0.0
    hi = 1.0
    for _ in range(200):
        _, f1, _ = _psi(hi, p, c, n)
        if f1 >= x:
            break
        lo = hi
        hi *= 2.0
    theta = 0.5 * (lo + hi)
    for _ in range(100):
        _, f1, f2 = _psi(theta, p, c, n)
        g = f1 - x
        if g > 0.0:
            hi = theta
        else:
            lo = theta
        step = theta - g / f2 if f2 > 0.0 else 0.5 * (lo + hi)
        if not lo < step < hi:
            step = 0.5 * (lo + hi)
        if abs(step - theta) <= 1e-14 * max(1.0, theta):
            return step
        theta = step
    return theta


@jit()
def _twisted_year(key, z, sw, twist_x, scale, apply_twist, book, seg_ead, seg_loss):
    """One path-year with exponential twisting: returns (loss, defaults, log(q/p)).

    When ``apply_twist``, every obligor's conditional PD p is replaced by
    p e^{theta c} / (1 + p (e^{theta c} - 1)), c = exposure x mean LGD, with theta solving
    psi'(theta) = x (otherwise the defaults are drawn from p itself). Either way the log
    density ratio of the realised defaults, theta sum_i c_i D_i - psi(theta), is returned (the
    defensive mixture needs it for plain paths too). It depends on the default indicators
    only, so stochastic LGDs are drawn exactly as without the twist. ``book``: the loan book
    (:class:`simpool.engine.inputs.Book`); ``seg_ead``, ``seg_loss``: the path-year's rows.
    """
    c_n, c_thresh, c_sqrt_rho, c_inv_sd = book.c_n, book.c_thresh, book.c_sqrt_rho, book.c_inv_sd
    c_sector, c_exposure, c_lgd, c_lgd_sd = book.c_sector, book.c_exposure, book.c_lgd, book.c_lgd_sd
    c_lgd_a, c_lgd_b, c_seg = book.c_lgd_a, book.c_lgd_b, book.c_seg
    l_id, l_thresh, l_sqrt_rho, l_inv_sd = book.l_id, book.l_thresh, book.l_sqrt_rho, book.l_inv_sd
    l_exposure, l_lgd, l_lgd_a, l_lgd_b = book.l_exposure, book.l_lgd, book.l_lgd_a, book.l_lgd_b
    l_seg, b_start, b_sector = book.l_seg, book.b_start, book.b_sector
    n_coh = c_n.shape[0]
    n_loans = l_id.shape[0]
    m = n_coh + n_loans
    p = np.empty(m)
    cc = np.empty(m)
    nn = np.empty(m)
    for c in range(n_coh):
        p[c] = norm_cdf((c_thresh[c] * sw - c_sqrt_rho[c] * z[c_sector[c]]) * c_inv_sd[c])
        cc[c] = c_exposure[c] * c_lgd[c] / scale
        nn[c] = c_n[c]
    for b in range(b_start.shape[0] - 1):
        zs = z[b_sector[b]]
        for i in range(b_start[b], b_start[b + 1]):
            p[n_coh + i] = norm_cdf((l_thresh[i] * sw - l_sqrt_rho[i] * zs) * l_inv_sd[i])
            cc[n_coh + i] = l_exposure[i] * l_lgd[i] / scale
            nn[n_coh + i] = 1.0
    theta = solve_twist(p, cc, nn, twist_x / scale)
    psi, _, _ = _psi(theta, p, cc, nn)
    if not apply_twist:
        theta_draw = 0.0
    else:
        theta_draw = theta
    loss = 0.0
    ndef = 0
    sum_c = 0.0  # sum of c_i D_i, in units of the scale
    for c in range(n_coh):
        pt = _twisted_p(p[c], theta_draw * cc[c])
        k = binom_inv(uniform(key, STREAM_COHORT, c), c_n[c], pt)
        if k == 0:
            continue
        ndef += k
        sum_c += k * cc[c]
        if c_lgd_a[c] <= 0.0:
            lc = k * c_exposure[c] * c_lgd[c]
        else:
            lc = c_exposure[c] * _beta_sum(draw(key, STREAM_LGD, n_loans + c), k, c_lgd[c],
                                           c_lgd_sd[c], c_lgd_a[c], c_lgd_b[c])
        loss += lc
        seg_ead[c_seg[c]] += k * c_exposure[c]
        seg_loss[c_seg[c]] += lc
    for i in range(n_loans):
        j = n_coh + i
        pt = _twisted_p(p[j], theta_draw * cc[j])
        if uniform(key, STREAM_LOAN, l_id[i]) < pt:
            ndef += 1
            sum_c += cc[j]
            if l_lgd_a[i] <= 0.0:
                li = l_exposure[i] * l_lgd[i]
            else:
                li = l_exposure[i] * beta_variate(draw(key, STREAM_LGD, l_id[i]),
                                                  l_lgd_a[i], l_lgd_b[i])
            loss += li
            seg_ead[l_seg[i]] += l_exposure[i]
            seg_loss[l_seg[i]] += li
    return loss, ndef, theta * sum_c - psi


class CreditState(NamedTuple):
    """A path's credit state and scratch, reused over its years (one per chunk)."""

    z: np.ndarray  # (S,) this year's sector factors
    z_prev: np.ndarray  # (S,) last year's
    eta: np.ndarray  # (S,) the independent normals behind z
    hit: np.ndarray  # uint8 screening flags, padded to hit_words(N)
    l_ctr: np.ndarray  # (N,) the loans' draws less the key (rng.counters)
    alive: np.ndarray  # (C,) int64 loans of each cohort vintage still alive
    dead: np.ndarray  # (N,) bool single loans defaulted so far (multi-year horizons)
    cum_l: np.ndarray  # (1,) int64 single-loan defaults of the path so far
    track: bool  # remember who defaulted (a loan defaults at most once): horizons > 1 year
    c_thresh: np.ndarray  # (C,) this path's cohort thresholds (book's, or drawn: uncertainty)
    c_sqrt_rho: np.ndarray  # (C,) this path's sqrt(rho)
    c_inv_sd: np.ndarray  # (C,) this path's 1 / sqrt(1 - rho)


@jit()
def credit_state(model, book):
    """A fresh :class:`CreditState` for ``model`` and ``book`` (zeros; ``alive`` is reset
    per path by the caller)."""
    n_sec = model.chol.shape[0]
    n_loans = book.l_id.shape[0]
    return CreditState(np.zeros(n_sec), np.zeros(n_sec), np.zeros(n_sec),
                       np.zeros(hit_words(n_loans), np.uint8), counters(STREAM_LOAN, book.l_id),
                       np.zeros(book.c_n.shape[0], np.int64), np.zeros(n_loans, np.bool_),
                       np.zeros(1, np.int64), model.n_years > 1, book.c_thresh.copy(),
                       book.c_sqrt_rho.copy(), book.c_inv_sd.copy())


@jit(inline="always")
def path_parameters(key0, book, state):
    """This path's cohort parameters into ``state``: the book's, or for a cohort with
    parameter uncertainty pd and rho drawn once (logit-normal around the book's values with
    the logit standard deviations ``book.c_pd_sd``, ``book.c_rho_sd``; vintages of one group
    share the draws). ``key0``: the path's year-0 key. Gaussian copula only (validated)."""
    for c in range(book.c_n.shape[0]):
        if book.c_pd_sd[c] <= 0.0 and book.c_rho_sd[c] <= 0.0:
            state.c_thresh[c] = book.c_thresh[c]
            state.c_sqrt_rho[c] = book.c_sqrt_rho[c]
            state.c_inv_sd[c] = book.c_inv_sd[c]
            continue
        g = book.c_group[c]
        pd = norm_cdf(book.c_thresh[c])
        rho = book.c_sqrt_rho[c] * book.c_sqrt_rho[c]
        if book.c_pd_sd[c] > 0.0:
            x = math.log(pd / (1.0 - pd)) + book.c_pd_sd[c] * norm_ppf(
                uniform(key0, STREAM_PARAM, 2 * g))
            pd = 1.0 / (1.0 + math.exp(-x))
        if book.c_rho_sd[c] > 0.0:
            x = math.log(rho / (1.0 - rho)) + book.c_rho_sd[c] * norm_ppf(
                uniform(key0, STREAM_PARAM, 2 * g + 1))
            rho = 1.0 / (1.0 + math.exp(-x))
        state.c_thresh[c] = norm_ppf(min(max(pd, 1e-300), 1.0 - 1e-16))
        state.c_sqrt_rho[c] = math.sqrt(rho)
        state.c_inv_sd[c] = 1.0 / math.sqrt(1.0 - rho)


# inline="always": numba inlines credit_step's IR into its two callers instead of compiling
# and optimising it as a function of its own first (about 1 s of a 19 s cold compile)
@jit(inline="always")
def credit_step(key, ip, y, model, book, twist, state, use_is, out):
    """One path-year of the credit model: factors, then cohorts and single loans.

    ``key`` = :func:`~simpool.engine.rng.path_year_key` (seed key, path, y); ``model`` and ``book``:
    the groups of :mod:`simpool.engine.inputs`; ``state``: the path's
    :class:`CreditState`; ``use_is``: whether this path is drawn from the importance-sampling
    component; ``out``: the per-path outputs (:class:`~simpool.engine.inputs.CreditOutputs` or
    :class:`~simpool.engine.inputs.Outputs`), row ``ip``. Returns the year's contribution to
    log(q/p) of importance sampling. ``out.loans_outstanding[ip, y]`` gets the number of loans
    outstanding at the end of the year (after defaults and maturities).
    """
    chol, phi, shift, fixed_z = model.chol, model.phi, model.shift, model.fixed_z
    # the cohorts' parameters of this path (path_parameters: the book's, or drawn)
    c_n, c_thresh, c_sqrt_rho, c_inv_sd = book.c_n, state.c_thresh, state.c_sqrt_rho, state.c_inv_sd
    c_sector, c_exposure, c_lgd, c_lgd_sd = book.c_sector, book.c_exposure, book.c_lgd, book.c_lgd_sd
    c_lgd_a, c_lgd_b, c_seg, c_rng = book.c_lgd_a, book.c_lgd_b, book.c_seg, book.c_rng
    c_start, c_end, c_amort = book.c_start, book.c_end, book.c_amort
    l_id, l_thresh, l_sqrt_rho, l_inv_sd = book.l_id, book.l_thresh, book.l_sqrt_rho, book.l_inv_sd
    l_exposure, l_lgd, l_lgd_a, l_lgd_b = book.l_exposure, book.l_lgd, book.l_lgd_a, book.l_lgd_b
    l_seg, b_start, b_sector = book.l_seg, book.b_start, book.b_sector
    b_thresh_hi, b_thresh_lo, b_exact = book.b_thresh_hi, book.b_thresh_lo, book.b_exact
    b_sqrt_rho_lo, b_sqrt_rho_hi = book.b_sqrt_rho_lo, book.b_sqrt_rho_hi
    b_inv_sd_lo, b_inv_sd_hi = book.b_inv_sd_lo, book.b_inv_sd_hi
    z, z_prev, eta, hit, l_ctr = state.z, state.z_prev, state.eta, state.hit, state.l_ctr
    alive_c, dead, cum_l, track = state.alive, state.dead, state.cum_l, state.track
    out_loss, out_defaults, out_count_end = out.loss, out.defaults, out.loans_outstanding
    out_borrowers, out_bal_end = out.borrowers, out.loan_balance_end
    c_bw, c_renewed = book.c_bw, book.c_renewed
    out_seg_ead, out_seg_loss = out.segment_ead, out.segment_loss
    out_seg_bal, out_seg_bal_end = out.segment_balance, out.segment_balance_end
    n_coh = c_n.shape[0]
    n_loans = l_id.shape[0]
    n_buckets = b_sector.shape[0]
    hit64 = hit.view(np.uint64)  # hit is allocated in whole 64-byte blocks (hit_words)
    ead_row = out_seg_ead[ip, y]  # 1-D views: cheaper to index per default
    loss_row = out_seg_loss[ip, y]
    logr = _draw_factors(key, y, chol, phi, shift, use_is, z_prev, eta, z, fixed_z)
    sw = 1.0
    if model.is_t:
        sw = math.sqrt(2.0 * gamma_variate(key, STREAM_CHI2, 0.5 * model.dof) / model.dof)
    loss = 0.0
    ndef = 0
    # ``twist`` is None (numba then prunes this branch and never compiles the twist) or
    # (twist_x, twist_scale), the twist being on when twist_x > 0
    if twist is not None and y == 0 and model.twist_x > 0.0:
        for c in range(n_coh):
            if c_start[c] == 0:
                out_seg_bal[ip, y, c_seg[c]] += c_n[c] * c_exposure[c] * c_amort[c, 0]
        loss, ndef, lw = _twisted_year(key, z, sw, model.twist_x, model.twist_scale, use_is, book,
                                       out_seg_ead[ip, y], out_seg_loss[ip, y])
        out_loss[ip, y] = loss
        out_defaults[ip, y] = ndef
        out_count_end[ip, y] = np.nan  # not tracked under the twist (one-year horizons)
        out_borrowers[ip, y] = np.nan
        out_borrowers[ip, y + 1] = np.nan
        out_bal_end[ip, y] = np.nan
        return logr + lw
    # --- cohorts: one conditional binomial each ---------------------------------
    for c in range(n_coh):
        if y < c_start[c] or y >= c_end[c]:
            continue  # not yet originated, or matured
        n_alive = alive_c[c]
        ex = c_exposure[c] * c_amort[c, y]
        out_seg_bal[ip, y, c_seg[c]] += n_alive * ex
        out_borrowers[ip, y] += n_alive * c_bw[c]
        if n_alive == 0:
            continue
        p = norm_cdf((c_thresh[c] * sw - c_sqrt_rho[c] * z[c_sector[c]]) * c_inv_sd[c])
        k = binom_inv(uniform(key, STREAM_COHORT, c_rng[c]), n_alive, p)
        last = y + 1 == model.n_years
        if y + 1 < c_end[c]:
            out_seg_bal_end[ip, y, c_seg[c]] += (n_alive - k) * c_exposure[c] * c_amort[c, y + 1]
            out_count_end[ip, y] += n_alive - k
            out_bal_end[ip, y] += (n_alive - k) * c_exposure[c] * c_amort[c, y + 1]
            if last:
                out_borrowers[ip, y + 1] += (n_alive - k) * c_bw[c]
        elif c_renewed[c]:  # maturing now and renewed: the same borrowers stay, a new loan
            out_bal_end[ip, y] += (n_alive - k) * c_exposure[c]
            if last:
                out_borrowers[ip, y + 1] += (n_alive - k) * c_bw[c]
        if k == 0:
            continue
        alive_c[c] = n_alive - k
        ndef += k
        if c_lgd_a[c] <= 0.0:
            lc = k * ex * c_lgd[c]
        else:
            lc = ex * _beta_sum(
                draw(key, STREAM_LGD, n_loans + c_rng[c]), k, c_lgd[c], c_lgd_sd[c],
                c_lgd_a[c], c_lgd_b[c])
        loss += lc
        out_seg_ead[ip, y, c_seg[c]] += k * ex
        out_seg_loss[ip, y, c_seg[c]] += lc
    # --- single loans: screen with the bucket bound, then the exact test ---------
    single_alive0 = cum_l[0]  # (defaulted before this year)
    # Pass 1 per bucket is branch-free so LLVM vectorises the hashing; pass 2 visits
    # the few candidates below the bound, in one scan over all loans.
    for b in range(n_buckets):
        zs = z[b_sector[b]]
        if zs > 0.0:
            num = b_thresh_hi[b] * sw - b_sqrt_rho_lo[b] * zs
        else:
            num = b_thresh_hi[b] * sw - b_sqrt_rho_hi[b] * zs
        x = num * (b_inv_sd_hi[b] if num >= 0.0 else b_inv_sd_lo[b])
        if b_exact[b]:  # the probability itself: every candidate defaults
            _screen(key, l_ctr, b_start[b], b_start[b + 1], norm_cdf(x), 0.0, True, hit)
        else:  # an upper bound from the Phi table, and a lower one
            sure = _sure_bound(b_thresh_lo[b], b_sqrt_rho_lo[b], b_sqrt_rho_hi[b],
                               b_inv_sd_lo[b], b_inv_sd_hi[b], sw, zs)
            _screen(key, l_ctr, b_start[b], b_start[b + 1], phi_bracket(x)[1], sure, False, hit)
    # pass 2 reads the flags 64 at a time (hit is padded to whole 64-byte blocks): bit 0 of
    # each flag (candidates) and bit 1 (certain defaults) of 8 words become two 64-bit masks
    # whose set bits are visited in order (no branch per loan; one unpredictable branch per
    # block instead of one per 8 loans: 8-10% off the whole loan-level kernel, graded or
    # tape, at 2% PDs). Loans are sorted by bucket, so the bucket of a candidate that needs the
    # exact test is found by moving a pointer forward.
    b = 0
    b_end = b_start[1] if n_buckets > 0 else 0
    for blk in range((n_loans + 63) >> 6):
        m = _ZERO64
        ms = _ZERO64
        for k in range(8):
            word = hit64[(blk << 3) + k]
            sh = np.uint64(k << 3)
            m |= (((word & _LOW_BITS) * _GATHER) >> _S56) << sh
            ms |= ((((word >> _ONE64) & _LOW_BITS) * _GATHER) >> _S56) << sh
        if m == 0:
            continue
        base = blk << 6
        while m != 0:
            low = m & (~m + _ONE64)
            i = base + np.int64(trailing_zeros(m))
            m ^= low
            if track and dead[i]:
                continue
            if ms & low == 0:  # between the bounds: the exact test, bracketed first
                while i >= b_end:
                    b += 1
                    b_end = b_start[b + 1]
                u = to_unit(mix64(key + l_ctr[i]))
                zs = z[b_sector[b]]
                x = (l_thresh[i] * sw - l_sqrt_rho[i] * zs) * l_inv_sd[i]
                p_lo, p_hi = phi_bracket(x)
                if u >= p_hi or (u >= p_lo and u >= norm_cdf(x)):
                    continue
            if track:
                dead[i] = True
            ndef += 1
            if l_lgd_a[i] <= 0.0:
                li = l_exposure[i] * l_lgd[i]
            else:
                li = l_exposure[i] * beta_variate(
                    draw(key, STREAM_LGD, l_id[i]), l_lgd_a[i], l_lgd_b[i])
            loss += li
            ead_row[l_seg[i]] += l_exposure[i]
            loss_row[l_seg[i]] += li
            cum_l[0] += 1
    out_count_end[ip, y] += n_loans - cum_l[0]
    # a single loan: one borrower [A]
    out_borrowers[ip, y] += n_loans - single_alive0
    if y + 1 == model.n_years:
        out_borrowers[ip, y + 1] += n_loans - cum_l[0]
    out_loss[ip, y] = loss
    out_defaults[ip, y] = ndef
    return logr


@jit()
def mixture_logw(defensive, logr):
    """Log likelihood ratio of a path under the defensive mixture:
    -log(defensive + (1 - defensive) e^logr), computed without overflow."""
    a = math.log(defensive) if defensive > 0.0 else -np.inf
    b = math.log1p(-defensive) + logr
    hi = max(a, b)
    return -(hi + math.log(math.exp(a - hi) + math.exp(b - hi)))


@jit(nogil=True)
def simulate_chunk(skey, path0, n_paths, model, book, out):
    """Simulate paths ``path0 .. path0 + n_paths - 1`` and write their rows of the outputs.

    The credit model alone (benchmarks, the slow twin); :func:`simpool.engine.waterfall.
    waterfall_chunk` runs the same credit steps with the policy waterfall.

    Parameters: ``skey`` (uint64, :func:`simpool.engine.rng.seed_key`), ``path0`` and ``n_paths``
    (first global path index, paths in this chunk), ``model``
    (:class:`~simpool.engine.inputs.Model`), ``book`` (:class:`~simpool.engine.inputs.Book`),
    ``out`` (:class:`~simpool.engine.inputs.CreditOutputs`: rows ``0 .. n_paths - 1``). Their
    fields (C cohorts, N loans, B screening buckets, S sectors):

    n_years : int
        Years simulated.
    chol : (S, S) float64
        A square root of the sector correlation matrix (``chol @ chol.T == corr``),
        lower-triangular Cholesky when the matrix is positive definite.
    phi : float
        AR(1) persistence of the sector factors from year to year (0 = independent years).
    is_t, dof : bool, float
        Student-t copula switch and its degrees of freedom.
    shift : (n_years, S) float64
        Importance-sampling mean shift of the independent factor normals (zeros = plain MC).
    fixed_z : (n_years, S) float64
        Stress: the value of each sector factor in each year, NaN where it is drawn.
    c_* : (C,) arrays
        Cohorts: loan count, default threshold c, sqrt(rho), 1/sqrt(1 - rho), sector index,
        exposure per loan (yuan), mean LGD, LGD standard deviation, Beta parameters (a, b;
        a <= 0 means deterministic LGD).
    l_* : (N,) arrays, sorted by bucket
        Loans: original index (keys the random numbers), threshold c, sqrt(rho),
        1/sqrt(1 - rho), exposure (yuan), LGD, Beta parameters.
    b_* : (B,) arrays
        Screening buckets: first loan of each bucket (``b_start``, (B + 1,): bucket b holds
        loans ``b_start[b] .. b_start[b + 1] - 1``), sector, largest and smallest c,
        smallest and largest sqrt(rho), smallest and largest 1/sqrt(1 - rho), and whether
        all loans of the bucket share (c, rho) (then the bound is the exact probability;
        else an upper and a lower bound bracket it, from the table of
        :func:`simpool.engine.rng.phi_bracket`).
    twist_x, twist_scale : float
        Exponential twisting of the conditional default probabilities (Glasserman & Li
        2005) towards a loss of ``twist_x`` yuan in year 0 (0 = no twist; single-year
        horizons only). ``twist_scale`` (yuan) normalises exposures inside the solver.
    is_on, defensive : bool, float
        Importance sampling active; its defensive-mixture weight: each path is drawn from
        the original model with probability ``defensive`` and from the shifted/twisted one
        otherwise, so the likelihood ratio 1 / (defensive + (1 - defensive) q/p) never
        exceeds 1 / defensive (Hesterberg 1995) and body statistics stay usable.
    out.loss : (n_paths, n_years) float64
        Gross loss (sum of exposure x LGD over loans defaulting that year), yuan.
    out.defaults : (n_paths, n_years) int64
        Number of defaults in the year.
    out.logw : (n_paths,) float64
        Log likelihood ratio of each path (0 for plain Monte Carlo).
    c_seg, l_seg : (C,), (N,) int64
        Waterfall segment of each cohort and loan.
    out.segment_ead, out.segment_loss : (n_paths, n_years, n_segments) float64
        Exposure at default and gross loss of each segment, yuan (the waterfall's input).
    c_rng, c_start, c_end, c_amort : (C,), (C,), (C,), (C, n_years + 1)
        Loan-book vintages of the cohorts: the counter of each vintage's random numbers
        (the cohort's index for the first vintage, so a static book draws as before), the
        first year it is on the book, the year it has matured by, and its exposure per loan
        in each year as a fraction of ``c_exposure`` (amortisation), the last column for the
        year after the horizon (balances at the end of the last year).
    c_bw, c_renewed : (C,) float64, (C,) bool
        Borrowers per loan of each vintage, and whether its loans are renewed when they
        mature (its borrowers stay on the book).
    out.loans_outstanding, out.loan_balance_end : (n_paths, n_years) float64
        Loans on the book at the end of each year (renewals not yet counted); the cohorts'
        balance then, yuan (a loan maturing at the year's end and renewed counts as renewed,
        at its full exposure; single loans' balance is added by the waterfall kernel).
    out.borrowers : (n_paths, n_years + 1) float64
        Borrowers on the book at the start of each year (after its new lending), and at the
        end of the last year (survivors, renewals kept); a single loan is one borrower.
    out.segment_balance, out.segment_balance_end : (n_paths, n_years, n_segments) float64
        Cohorts' balance outstanding at the start of each year and at its end (after
        defaults and maturities), yuan; single-loan segments are filled in by the engine.
    """
    n_coh = book.c_n.shape[0]
    state = credit_state(model, book)
    # (twist_x, twist_scale) as for waterfall_chunk: the twist compiled in, on when twist_x > 0
    twist = (model.twist_x, model.twist_scale)
    for ip in range(n_paths):
        path = path0 + ip
        logr = 0.0  # log(q/p) of the path under the importance-sampling component
        use_is = model.is_on and uniform(path_year_key(skey, path, 0), STREAM_MIX, 0) >= model.defensive
        for c in range(n_coh):
            state.alive[c] = book.c_n[c]
        path_parameters(path_year_key(skey, path, 0), book, state)
        if state.track:
            state.dead[:] = False
        state.cum_l[0] = 0
        for y in range(model.n_years):
            logr += credit_step(path_year_key(skey, path, y), ip, y, model, book, twist, state,
                                use_is, out)
        out.logw[ip] = mixture_logw(model.defensive, logr) if model.is_on else 0.0
