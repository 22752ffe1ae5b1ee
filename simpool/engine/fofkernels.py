"""numba kernels of the guidance fund's sub-funds (FUNDS.md, "Fund of funds").

A sub-fund invests deal by deal exactly as a single fund does (:func:`fundkernels._invest_vintage`,
the same random-number keys by fund index), runs the same whole-fund waterfall for its LPs
together (:func:`fundkernels.fund_waterfall` with no public share: the LPs' distributions and
the manager's carry), and then splits the LPs' calls and distributions among its investors
(:func:`lp_split`): the guidance fund, the other public LPs, the private LPs, with the
guidance fund's concession (profit above a floor, conditional on the policy goals, optionally
partly to the manager; or a buy-back of its stake at cost plus a base return).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from .fundkernels import (FUND_STRIDE, W_CARRY, W_PRIV_DIST, _invest_vintage, fund_waterfall,
                          irr)
from .kernels import _draw_factors
from .rng import path_year_key, uniform

STREAM_GOAL = 9  # the sub-fund's draw of "policy goals met" (counter: its fund index)

# columns of the per-path figures of subfund_chunk
SUB_FIGURES = (
    "invested",                 # capital invested in deals, yuan
    "proceeds",                 # exit proceeds, yuan
    "deals",                    # deals funded
    "project_breaches",         # deals whose loss exceeds the project tolerance
    "fees",                     # management fees, yuan
    "carry",                    # the manager's carry, with its part of the concession, yuan
    "lp_paid_in",               # all LPs' capital called, yuan
    "lp_distributions",         # all LPs' distributions, yuan
    "guidance_paid_in",         # the guidance fund's capital called, yuan
    "guidance_distributions",   # after the concession (a buy-back price included), yuan
    "guidance_distributions_no_concession",
    "concession_cost",          # NPV of the guidance fund's cash given up, yuan
    "goal_met",                 # 1 when the policy goals are met on the path
    "bought_back",              # 1 when the private LPs bought the guidance fund's stake
    "private_paid_in",          # incl. a buy-back price paid, yuan
    "private_distributions",
    "private_irr",
    "private_irr_no_concession",
    "principal_loss_ratio",     # max(0, 1 - proceeds / invested)
    "portfolio_loss_ratio",     # sum ticket x max(0, 1 - m) / invested
    "category_breach",          # 1 when a stage's loss on its principal exceeds its tolerance
    "early_share",              # share of invested capital in stages counting for the goal
)
N_SUB_FIGURES = len(SUB_FIGURES)


@jit()
def lp_split(calls, dist, shares, mode, concession, base_return, to_gp, buyback_year, nav,
             goal_met, out_calls, out_dist, out_gp):
    """Split the LPs' calls and distributions of each year among a sub-fund's investors.

    Parameters
    ----------
    calls, dist : (L,) float64
        All LPs' capital called at the start of each year and distributions at its end (after
        the manager's carry), yuan.
    shares : (n,) float64
        Commitment shares: ``shares[0]`` the guidance fund, ``shares[n-1]`` the private LPs,
        between them the other public LPs (sum 1).
    mode : int
        0: the guidance fund cedes ``concession`` x its distributions above a floor; 1: the
        private LPs may buy its stake at the end of year ``buyback_year`` (1-based).
    base_return : float
        Simple annual return of the floor and of the buy-back price. The floor starts at the
        guidance fund's paid-in over the whole life and grows each year by ``base_return`` x
        (its paid-in to date - its distributions to date before the concession, if
        positive); each year's distribution fills what is left of it first. With
        ``base_return`` = 0 the ceded amounts add up to ``concession`` x max(0,
        distributions - paid-in), the single fund's rule.
    to_gp : float
        Share of a ceded amount paid to the manager instead of the private LPs.
    nav : (L,) float64
        The portfolio's value at the end of each year; the guidance fund's stake is worth
        ``shares[0]`` x it. The private LPs buy when that exceeds the price: the guidance
        fund's calls to date each grown by ``base_return`` a year (simple), less what it has
        received; the price is paid that year (a private call, a guidance distribution), and
        from the next year the stake's calls and distributions are the private LPs'.
    goal_met : bool
        Without it there is no concession and no buy-back.
    out_calls, out_dist : (n, L) float64
        Each investor's calls and distributions.
    out_gp : (L,) float64
        The manager's part of the ceded amounts.

    Returns 1.0 when the stake was bought back, else 0.0.
    """
    L = calls.shape[0]
    n = shares.shape[0]
    P = n - 1
    g = shares[0]
    total_g = 0.0
    for t in range(L):
        total_g += g * calls[t]
    floor = total_g  # what is left of the floor
    paid = 0.0  # the guidance fund's paid-in to date
    got = 0.0  # its distributions to date, before the concession
    price_base = 0.0  # its calls grown at the base return (simple), for the buy-back
    sold = False
    for t in range(L):
        out_gp[t] = 0.0
        for i in range(n):
            out_calls[i, t] = shares[i] * calls[t]
            out_dist[i, t] = shares[i] * dist[t]
        if sold:
            out_calls[P, t] += out_calls[0, t]
            out_calls[0, t] = 0.0
            out_dist[P, t] += out_dist[0, t]
            out_dist[0, t] = 0.0
            continue
        paid += out_calls[0, t]
        d = out_dist[0, t]
        if goal_met and mode == 0 and concession > 0.0:
            floor += base_return * max(paid - got, 0.0)
            kept = min(d, floor)
            floor -= kept
            ceded = concession * (d - kept)
            out_dist[0, t] = d - ceded
            out_gp[t] = to_gp * ceded
            out_dist[P, t] += ceded - to_gp * ceded
        got += d
        if goal_met and mode == 1 and t == buyback_year - 1:
            price_base = 0.0
            for s in range(t + 1):
                price_base += g * calls[s] * (1.0 + base_return * (t - s + 1))
            price = max(price_base - got, 0.0)
            if g * nav[t] > price:
                out_dist[0, t] += price
                out_calls[P, t] += price
                sold = True
    return 1.0 if sold else 0.0


@jit()
def _npv_out(calls, dists, rate):
    """NPV of an investor's net cash out: calls at the start of year t, distributions at its
    end, discounted at ``rate``."""
    acc = 0.0
    f = 1.0
    d = 1.0 / (1.0 + rate)
    for t in range(calls.shape[0]):
        acc += calls[t] * f - dists[t] * f * d
        f *= d
    return acc


@jit(nogil=True)
def subfund_chunk(skey, path0, n_paths, chol, phi, fixed_z, fund, out):
    """Simulate one sub-fund on paths ``path0 .. path0 + n_paths - 1``.

    ``fund``: :class:`~simpool.engine.inputs.SubFundParams`; ``out``:
    :class:`~simpool.engine.inputs.SubFundOutputs` (rows ``0 .. n_paths - 1``); ``chol``,
    ``phi`` and ``fixed_z`` as :func:`~simpool.engine.fundkernels.fund_chunk`.
    """
    life, inv_years, sector = fund.life, fund.inv_years, fund.sector
    shares = fund.shares
    n_lp = shares.shape[0]
    n_st = fund.st_cum.shape[0]
    n_sec = chol.shape[0]
    z = np.zeros(n_sec)
    z_prev = np.zeros(n_sec)
    eta = np.zeros(n_sec)
    no_shift = np.zeros((max(inv_years, 1), n_sec))
    calls = np.zeros(life)
    proceeds = np.zeros(life)
    nav = np.zeros(life)
    cat_inv = np.zeros(n_st)
    cat_proc = np.zeros(n_st)
    wf = np.zeros((6, life))
    lp_calls = np.zeros(life)
    lp_dist = np.zeros(life)
    c1 = np.zeros((n_lp, life))
    d1 = np.zeros((n_lp, life))
    c0 = np.zeros((n_lp, life))
    d0 = np.zeros((n_lp, life))
    gp1 = np.zeros(life)
    gp0 = np.zeros(life)
    base = fund.fund_id * FUND_STRIDE
    for ip in range(n_paths):
        path = path0 + ip
        for t in range(life):
            calls[t] = fund.fee_per_year
            proceeds[t] = 0.0
            nav[t] = 0.0
        for s in range(n_st):
            cat_inv[s] = 0.0
            cat_proc[s] = 0.0
        invested = 0.0
        gross_loss = 0.0
        deals = 0
        breaches = 0
        full = False
        for v in range(inv_years):
            key = path_year_key(skey, path, v)
            _draw_factors(key, v, chol, phi, no_shift, False, z_prev, eta, z, fixed_z)
            if full:
                continue
            before = invested
            invested, gross_loss, deals, breaches, full = _invest_vintage(
                key, v, z[sector], base, fund, fund.project_tolerance, invested, gross_loss,
                deals, breaches, calls, proceeds, nav, cat_inv, cat_proc)
            out.invested[ip, v] = invested - before
        # the whole-fund waterfall for the LPs together (no public share), then the split
        fund_waterfall(calls, proceeds, 0.0, fund.hurdle, fund.carry, fund.catch_up, 0.0, 0.0,
                       wf)
        carry = 0.0
        total = 0.0
        for t in range(life):
            lp_calls[t] = calls[t]
            lp_dist[t] = wf[W_PRIV_DIST, t]
            carry += wf[W_CARRY, t]
            total += proceeds[t]
        goal_share = 0.0
        for s in range(n_st):
            goal_share += fund.st_goal[s] * cat_inv[s]
        early = goal_share / invested if invested > 0.0 else 0.0
        u = uniform(path_year_key(skey, path, 0), STREAM_GOAL, base)
        goal = early >= fund.goal_early_share - 1e-12 and u < fund.goal_probability
        sold = lp_split(lp_calls, lp_dist, shares, fund.mode, fund.concession, fund.base_return,
                        fund.to_gp, fund.buyback_year, nav, goal, c1, d1, gp1)
        lp_split(lp_calls, lp_dist, shares, fund.mode, 0.0, fund.base_return, 0.0,
                 fund.buyback_year, nav, False, c0, d0, gp0)
        row = out.figures[ip]
        g_in = 0.0
        g_out = 0.0
        g_out0 = 0.0
        p_in = 0.0
        p_out = 0.0
        lp_in = 0.0
        lp_out = 0.0
        for t in range(life):
            for i in range(n_lp):
                out.lp_cash[ip, i, t] = c1[i, t] - d1[i, t]
            g_in += c1[0, t]
            g_out += d1[0, t]
            g_out0 += d0[0, t]
            p_in += c1[n_lp - 1, t]
            p_out += d1[n_lp - 1, t]
            lp_in += lp_calls[t]
            lp_out += lp_dist[t]
            carry += gp1[t]
            out.nav[ip, t] = nav[t]
            out.proceeds[ip, t] = proceeds[t]
        for s in range(n_st):
            out.category[ip, 0, s] = cat_inv[s]
            out.category[ip, 1, s] = cat_proc[s]
        cat_breach = 0.0
        for s in range(n_st):
            if cat_inv[s] > 0.0 and 1.0 - cat_proc[s] / cat_inv[s] > fund.st_tolerance[s]:
                cat_breach = 1.0
        row[0] = invested
        row[1] = total
        row[2] = deals
        row[3] = breaches
        row[4] = fund.fee_per_year * life
        row[5] = carry
        row[6] = lp_in
        row[7] = lp_out
        row[8] = g_in
        row[9] = g_out
        row[10] = g_out0
        row[11] = (_npv_out(c1[0], d1[0], fund.discount)
                   - _npv_out(c0[0], d0[0], fund.discount))
        row[12] = 1.0 if goal else 0.0
        row[13] = sold
        row[14] = p_in
        row[15] = p_out
        row[16] = irr(c1[n_lp - 1], d1[n_lp - 1])
        row[17] = irr(c0[n_lp - 1], d0[n_lp - 1])
        row[18] = max(0.0, 1.0 - total / invested) if invested > 0.0 else 0.0
        row[19] = gross_loss / invested if invested > 0.0 else 0.0
        row[20] = cat_breach
        row[21] = early
