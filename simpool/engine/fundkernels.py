"""numba kernels of the angel fund (FUNDS.md): deal outcomes, the waterfall, IRR, one chunk.

Plain arrays in, plain arrays out, like :mod:`simpool.engine.kernels`. Random numbers follow the
credit side's conventions: keyed by the seed and the *global* path index, so results do not
depend on chunking or threads. The market factor of vintage year v is the credit model's
sector factor Z_v of the same path (same keys, same AR(1) recursion), so one bad year hits
loans and startups together.
"""

from __future__ import annotations

import math

import numpy as np
from ._jit import jit

from .kernels import _draw_factors
from .rng import draw, gamma_variate, norm_cdf, norm_ppf, path_year_key, uniform

# random-number streams of the fund (the credit side uses 0..5)
STREAM_DEAL = 6  # the deal's idiosyncratic normal
STREAM_EXIT = 7  # sub-key of its exit time (Gamma)
STREAM_STAGE = 8  # its stage
#: counters of fund f start at f * FUND_STRIDE (deals per year < FUND_STRIDE)
FUND_STRIDE = 1 << 24

# rows of the waterfall's output
W_GOV_CALL, W_GOV_DIST, W_PRIV_CALL, W_PRIV_DIST, W_CARRY, W_FIRST_LOSS = 0, 1, 2, 3, 4, 5

# columns of the per-path figures of fund_chunk (FIGURES names them)
FIGURES = (
    "gov_paid_in",          # government capital called, yuan
    "gov_distributions",    # government distributions net of first-loss paid, yuan
    "gov_loss_ratio",       # 1 - gov_distributions / gov_paid_in
    "gov_tvpi",             # gov_distributions / gov_paid_in
    "fiscal_cost",          # NPV of calls - distributions + first loss, yuan
    "private_paid_in",
    "private_distributions",  # incl. the concession and the first-loss transfer
    "private_tvpi",
    "private_irr",
    "private_tvpi_no_concession",
    "private_irr_no_concession",
    "concession_cost",      # government distributions forgone (NPV), yuan
    "carry",                # manager's carried interest, yuan
    "fees",                 # management fees, yuan
    "deals",                # deals funded
    "invested",             # capital invested in deals, yuan
    "proceeds",             # exit proceeds, yuan
    "portfolio_loss_ratio",  # sum ticket x max(0, 1 - m) / sum ticket
    "project_breach_share",  # share of deals with 1 - m > tolerance
    "first_loss_paid",      # government's first-loss compensation, yuan
)
N_FIGURES = len(FIGURES)


@jit()
def deal_multiple(u, p_loss, p_partial, alpha, cap, partial_min=0.0):
    """Multiple of a deal's ticket at quantile ``u`` of the outcome mixture (FUNDS.md).

    Total loss below ``p_loss``, a uniform partial loss on (``partial_min``, 1) up to
    ``p_loss + p_partial``, then a Pareto(alpha) tail from 1x truncated at ``cap``.
    Non-decreasing in u. (``partial_min`` = 0 is the original law, bit for bit.)
    """
    if u < p_loss:
        return 0.0
    if u < p_loss + p_partial:
        return partial_min + (1.0 - partial_min) * ((u - p_loss) / p_partial)
    v = (u - p_loss - p_partial) / (1.0 - p_loss - p_partial)
    v = min(max(v, 0.0), 1.0)
    return min((1.0 - v * (1.0 - cap ** -alpha)) ** (-1.0 / alpha), cap)


@jit()
def tail_mean(alpha, cap):
    """Mean of the Pareto(alpha) tail on [1, cap] (truncated)."""
    if abs(alpha - 1.0) < 1e-9:
        return math.log(cap) / (1.0 - 1.0 / cap)
    return alpha / (alpha - 1.0) * (1.0 - cap ** (1.0 - alpha)) / (1.0 - cap ** -alpha)


@jit()
def fund_waterfall(calls, proceeds, gov_share, hurdle, carry, catch_up, concession, first_loss,
                   out):
    """Whole-fund (European) distribution waterfall, year by year (FUNDS.md).

    Parameters
    ----------
    calls, proceeds : (L,) float64
        LP capital called at the start of each year, exit proceeds at its end (yuan).
    gov_share, hurdle, carry, concession, first_loss : float
        Government share of the LP capital, preferred return (per year), manager's carry,
        share of the government's profit ceded to the private LPs, first-loss protection
        (fraction of the LPs' paid-in the government absorbs first).
    catch_up : bool
        Full catch-up of the manager after the preferred return.
    out : (6, L) float64
        Filled with: government calls, government distributions (after the concession),
        private calls, private distributions (after the concession), manager's carry, and
        the first-loss transfer government -> private LPs (last year).
    """
    L = calls.shape[0]
    g = gov_share
    owed = 0.0  # the LPs' hurdle account: capital + preferred return still owed
    lp_paid = 0.0
    lp_dist = 0.0
    gp = 0.0
    gov_dist_gross = 0.0  # before the concession
    gov_total = 0.0  # the government's paid-in over the whole life: returned before profit
    for t in range(L):
        gov_total += g * calls[t]
    for t in range(L):
        out[W_CARRY, t] = 0.0
        out[W_FIRST_LOSS, t] = 0.0
        k = calls[t]
        owed += k
        lp_paid += k
        out[W_GOV_CALL, t] = g * k
        out[W_PRIV_CALL, t] = (1.0 - g) * k
        owed *= 1.0 + hurdle
        c = proceeds[t]
        x = min(c, owed)  # 1. capital and preferred return
        owed -= x
        c -= x
        lp = x
        if catch_up and c > 0.0 and carry > 0.0:  # 2. the manager catches up
            profit = max(lp_dist + lp - lp_paid, 0.0)
            need = max(carry / (1.0 - carry) * profit - gp, 0.0)
            y = min(c, need)
            gp += y
            out[W_CARRY, t] += y
            c -= y
        lp += (1.0 - carry) * c  # 3. the split
        gp += carry * c
        out[W_CARRY, t] += carry * c
        lp_dist += lp
        # pro rata, then the concession of the government's profit (above its total paid-in)
        d_gov = g * lp
        profit_part = max(0.0, gov_dist_gross + d_gov - max(gov_dist_gross, gov_total))
        gov_dist_gross += d_gov
        ceded = concession * profit_part
        out[W_GOV_DIST, t] = d_gov - ceded
        out[W_PRIV_DIST, t] = (1.0 - g) * lp + ceded
    if L > 0 and first_loss > 0.0 and lp_dist < lp_paid:
        out[W_FIRST_LOSS, L - 1] = (1.0 - g) * min(lp_paid - lp_dist, first_loss * lp_paid)


@jit()
def npv(rate, calls, dists):
    """Investor's NPV at ``rate``: distributions (end of year) less calls (start of year)."""
    acc = 0.0
    f = 1.0  # (1 + rate)^-t
    d = 1.0 / (1.0 + rate)
    for t in range(calls.shape[0]):
        acc += dists[t] * f * d - calls[t] * f
        f *= d
    return acc


@jit()
def irr(calls, dists):
    """Annual IRR of calls at the start of each year and distributions at its end.

    Bisection of the NPV on (-1, 100]; -1.0 when nothing comes back, 100.0 (a cap) when the
    NPV is still positive there, NaN when nothing was called.
    """
    if calls.sum() <= 0.0:
        return np.nan
    if dists.sum() <= 0.0:
        return -1.0
    lo = -1.0 + 1e-12
    hi = 100.0
    if npv(hi, calls, dists) > 0.0:
        return hi
    if npv(lo, calls, dists) < 0.0:  # cannot happen with positive distributions
        return -1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if npv(mid, calls, dists) > 0.0:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


@jit(inline="always")
def _invest_vintage(key, v, m_v, base, fund, project_tolerance, invested, gross_loss, deals,
                    breaches, calls, proceeds, nav, cat_invested, cat_proceeds):
    """Make vintage ``v``'s deals of one path (FUNDS.md, "Timeline"): each deal's stage,
    ticket, multiple (loading ``fund.rho`` on the vintage's market factor ``m_v``) and exit
    year, until the investable capital is used. Adds the tickets to ``calls[v]`` and the exit
    proceeds to ``proceeds``; with a non-empty ``nav`` (life,) each deal's mark at the end of
    every year it is held (linear from cost at investment to its exit value); with non-empty
    ``cat_*`` (stages,) the invested capital and proceeds per stage. Returns the running
    (invested, gross_loss, deals, breaches of ``project_tolerance``, full)."""
    st_cum, st_ticket = fund.st_cum, fund.st_ticket
    life = calls.shape[0]
    n_st = st_cum.shape[0]
    sq = math.sqrt(fund.rho)
    sq1 = math.sqrt(1.0 - fund.rho)
    scale = fund.exit_mean / fund.exit_shape
    full = False
    for j in range(fund.deals_per_year):
        cnt = base + j
        us = uniform(key, STREAM_STAGE, cnt)
        s = n_st - 1
        for k in range(n_st):
            if us < st_cum[k]:
                s = k
                break
        ticket = st_ticket[s]
        if invested + ticket > fund.investable * (1.0 + 1e-12):
            full = True
            break
        invested += ticket
        calls[v] += ticket
        deals += 1
        x = sq * m_v + sq1 * norm_ppf(uniform(key, STREAM_DEAL, cnt))
        m = deal_multiple(norm_cdf(x), fund.st_p_loss[s], fund.st_p_partial[s],
                          fund.st_alpha[s], fund.st_cap[s], fund.st_partial_min[s])
        tx = gamma_variate(draw(key, STREAM_EXIT, cnt), 0, fund.exit_shape) * scale
        t_exit = min(v + int(math.floor(tx)), life - 1)
        proceeds[t_exit] += m * ticket
        gross_loss += ticket * max(0.0, 1.0 - m)
        if 1.0 - m > project_tolerance:
            breaches += 1
        if nav.shape[0] > 0:
            held = t_exit - v + 1  # years to the end of the exit year
            for t in range(v, t_exit):
                nav[t] += ticket * (1.0 + (m - 1.0) * (t - v + 1) / held)
        if cat_invested.shape[0] > 0:
            cat_invested[s] += ticket
            cat_proceeds[s] += m * ticket
    return invested, gross_loss, deals, breaches, full


@jit(nogil=True)
def fund_chunk(skey, path0, n_paths, chol, phi, fixed_z, fund, out):
    """Simulate one fund on paths ``path0 .. path0 + n_paths - 1``.

    ``fund``: :class:`~simpool.engine.inputs.FundParams`; ``out``:
    :class:`~simpool.engine.inputs.FundOutputs` (``figures``, ``gov_cash``, ``market``,
    ``proceeds``, rows ``0 .. n_paths - 1``); ``chol`` and ``phi``: the credit model's factors.

    ``fixed_z`` (>= inv_years, S): stressed factor values, NaN where drawn (as the credit
    side). Stages (arrays st_*, one per stage): cumulative share of deals, ticket (yuan), outcome
    parameters. ``sector``: index of the market factor. Outputs, row = path of the chunk:
    ``out_fig`` (n, N_FIGURES) per FIGURES; ``out_gov_cash`` (n, life) the government's net
    cash out per year (calls - distributions + first loss, yuan); ``out_market`` (n,
    inv_years) the market factor of each vintage; ``out_proceeds`` (n, life) exit proceeds.
    """
    fund_id, life, inv_years = fund.fund_id, fund.life, fund.inv_years
    fee_per_year, sector, gov_share = fund.fee_per_year, fund.sector, fund.gov_share
    hurdle, carry, catch_up, concession = fund.hurdle, fund.carry, fund.catch_up, fund.concession
    first_loss, tolerance, discount = fund.first_loss, fund.tolerance, fund.discount
    out_fig, out_gov_cash, out_market, out_proceeds = (out.figures, out.gov_cash, out.market,
                                                       out.proceeds)
    n_sec = chol.shape[0]
    z = np.zeros(n_sec)
    z_prev = np.zeros(n_sec)
    eta = np.zeros(n_sec)
    no_shift = np.zeros((max(inv_years, 1), n_sec))
    calls = np.zeros(life)
    proceeds = np.zeros(life)
    wf = np.zeros((6, life))
    wf0 = np.zeros((6, life))
    priv_in = np.zeros(life)
    priv_out = np.zeros(life)
    no_nav = np.zeros(0)
    no_cat = np.zeros(0)
    base = fund_id * FUND_STRIDE
    for ip in range(n_paths):
        path = path0 + ip
        for t in range(life):
            calls[t] = fee_per_year
            proceeds[t] = 0.0
        invested = 0.0
        gross_loss = 0.0
        deals = 0
        breaches = 0
        full = False
        for v in range(inv_years):
            key = path_year_key(skey, path, v)
            _draw_factors(key, v, chol, phi, no_shift, False, z_prev, eta, z, fixed_z)
            m_v = z[sector]
            out_market[ip, v] = m_v
            if full:
                continue
            invested, gross_loss, deals, breaches, full = _invest_vintage(
                key, v, m_v, base, fund, tolerance, invested, gross_loss, deals, breaches,
                calls, proceeds, no_nav, no_cat, no_cat)
        fund_waterfall(calls, proceeds, gov_share, hurdle, carry, catch_up, concession,
                       first_loss, wf)
        fund_waterfall(calls, proceeds, gov_share, hurdle, carry, catch_up, 0.0,
                       first_loss, wf0)
        gov_paid = 0.0
        gov_dist = 0.0
        fiscal = 0.0
        forgone = 0.0
        carry_sum = 0.0
        fl = 0.0
        total = 0.0
        f = 1.0
        d = 1.0 / (1.0 + discount)
        for t in range(life):
            gov_paid += wf[W_GOV_CALL, t]
            gov_dist += wf[W_GOV_DIST, t] - wf[W_FIRST_LOSS, t]
            net_out = wf[W_GOV_CALL, t] - wf[W_GOV_DIST, t] + wf[W_FIRST_LOSS, t]
            out_gov_cash[ip, t] = net_out
            out_proceeds[ip, t] = proceeds[t]
            fiscal += wf[W_GOV_CALL, t] * f - (wf[W_GOV_DIST, t] - wf[W_FIRST_LOSS, t]) * f * d
            forgone += (wf0[W_GOV_DIST, t] - wf[W_GOV_DIST, t]) * f * d
            carry_sum += wf[W_CARRY, t]
            fl += wf[W_FIRST_LOSS, t]
            total += proceeds[t]
            f *= d
        priv_paid = 0.0
        priv_dist = 0.0
        priv_dist0 = 0.0
        for t in range(life):
            priv_in[t] = wf[W_PRIV_CALL, t]
            priv_out[t] = wf[W_PRIV_DIST, t] + wf[W_FIRST_LOSS, t]
            priv_paid += priv_in[t]
            priv_dist += priv_out[t]
        r_with = irr(priv_in, priv_out)
        for t in range(life):
            priv_out[t] = wf0[W_PRIV_DIST, t] + wf0[W_FIRST_LOSS, t]
            priv_dist0 += priv_out[t]
        r_without = irr(priv_in, priv_out)
        row = out_fig[ip]
        row[0] = gov_paid
        row[1] = gov_dist
        row[2] = 1.0 - gov_dist / gov_paid if gov_paid > 0.0 else 0.0
        row[3] = gov_dist / gov_paid if gov_paid > 0.0 else np.nan
        row[4] = fiscal
        row[5] = priv_paid
        row[6] = priv_dist
        row[7] = priv_dist / priv_paid if priv_paid > 0.0 else np.nan
        row[8] = r_with
        row[9] = priv_dist0 / priv_paid if priv_paid > 0.0 else np.nan
        row[10] = r_without
        row[11] = forgone
        row[12] = carry_sum
        row[13] = fee_per_year * life
        row[14] = deals
        row[15] = invested
        row[16] = total
        row[17] = gross_loss / invested if invested > 0.0 else 0.0
        row[18] = breaches / deals if deals > 0 else 0.0
        row[19] = fl
        # continue the factor recursion is not needed: later years do not drive deals
