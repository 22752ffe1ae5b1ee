"""The policy waterfall kernel: route each path's defaults through the parties, year by year.

Input per path: exposure at default ``D`` and gross (ultimate) loss ``G`` of every segment
(a group of loans sharing one route) in every year, from the credit kernel. Output per path:
each party's and entity's net loss per year (cash paid for credit losses minus cash
received), pool balances, guarantor net assets, NPL ratios, fiscal cost. POLICY.md states the
rules; the comments below say where each one lives.

Conservation by construction: every flow is scheduled as a pair (payer +x, payee -x) except
the bank's loss of the exposure at default (+D) and recoveries (-R, received by the parties
in proportion to what each bore), so in every path and year the parties sum to
``D - recoveries received``.

Entities (columns of the flow schedule): banks, guarantors, compensation pools, insurers,
then four singletons: provincial re-guarantor, national fund, government, insurance pool.
"""

from __future__ import annotations

import math

import numpy as np
from ._jit import jit

from .kernels import credit_state, credit_step, mixture_logw
from .rng import STREAM_MIX, path_year_key, uniform

# products
CREDIT, GUARANTEED, INSURED = 0, 1, 2
# share columns
SH_NF, SH_RG, SH_G, SH_B, SH_GOV = 0, 1, 2, 3, 4
# party (role) columns of the outputs, as simpool.scenario.policy.PARTIES
P_BANK, P_GUAR, P_REG, P_NF, P_GOV, P_POOL, P_INS, P_IPOOL = 0, 1, 2, 3, 4, 5, 6, 7
N_PARTIES = 8
HUGE = 1e300


@jit()
def _schedule(sched, row0, col, amount, lag):
    """Book ``amount`` for ``col`` ``lag`` years after defaults spread uniformly over year row0."""
    if amount == 0.0:
        return
    whole = math.floor(lag)
    frac = lag - whole
    r = row0 + int(whole)
    sched[r, col] += amount * (1.0 - frac)
    if frac > 0.0:
        sched[r + 1, col] += amount * frac


@jit(nogil=True)
def waterfall_chunk(skey, path0, model, book, twist, routes, banks, guarantors, pools, insurance,
                    public, out):
    """Simulate the paths of a chunk: credit and waterfall year by year, with feedback.

    The groups are those of :mod:`simpool.engine.inputs`: ``model`` and ``book`` (the credit
    model: for each path and year :func:`simpool.engine.kernels.credit_step` draws the
    defaults of every segment), ``routes`` (each segment's route, lags, recoveries),
    ``banks``, ``guarantors`` (and the re-guarantor), ``pools``, ``insurance``, ``public``
    (national fund, government, discounting); ``out`` (:class:`~simpool.engine.inputs.Outputs`)
    gets rows ``0 .. n - 1`` for paths ``path0 ..``. ``twist`` is None, or
    (twist_x, twist_scale) under an exponential twist, so that numba compiles the twist only
    for scenarios that use it. The waterfall routes each year's defaults; then, when
    ``routes.feedback``, the new loans of next year's vintages are scaled down so that each
    guarantor's guarantees stay within its leverage cap x net assets, each pool's eligible
    lending within its leverage target x cash, and a bank that breached its NPL tolerance
    lends its slowdown less. Money in yuan, lags in years.
    """
    seg_ead, seg_loss = out.segment_ead, out.segment_loss
    seg_bal, seg_bal_end = out.segment_balance, out.segment_balance_end
    out_party, out_entity, out_net = out.party, out.entity, out.net
    out_pool_bal, out_pool_unpaid, out_pool_susp = out.pool_balance, out.pool_unpaid, out.pool_suspended
    out_guar_na, out_guar_lev, out_npl = out.guarantor_net_assets, out.guarantor_leverage, out.npl
    out_nf_rate, out_fiscal, out_pending = out.nf_payout_rate, out.fiscal, out.pending
    out_pool_npl, out_logw = out.pool_npl, out.logw
    s_product, s_bank, s_guar = routes.product, routes.bank, routes.guarantor
    s_pool, s_ins, s_share = routes.pool, routes.insurer, routes.shares
    s_pool_share, s_balance0, s_static = routes.pool_share, routes.balance0, routes.static
    lag_claim, lag_reimb, recov_sched = routes.lag_claim, routes.lag_reimb, routes.recoveries
    feedback = routes.feedback
    bk_tolerance, bk_slowdown = banks.npl_tolerance, banks.slowdown
    g_na0, g_fee, g_subsidy = guarantors.net_assets0, guarantors.fee_rate, guarantors.subsidy_rate
    g_injection, g_yield, g_cost = guarantors.injection, guarantors.yield_rate, guarantors.cost_rate
    g_lev_cap = guarantors.leverage_cap
    r_na0, r_fee, r_subsidy = (guarantors.reg_net_assets0, guarantors.reg_fee_rate,
                               guarantors.reg_subsidy_rate)
    r_injection, r_yield, r_cost = (guarantors.reg_injection, guarantors.reg_yield_rate,
                                    guarantors.reg_cost_rate)
    p_cash0, p_top_up, p_interest = pools.cash0, pools.top_up, pools.interest
    p_annual_cap, p_cum_share = pools.annual_cap, pools.cum_share
    p_corr_a, p_corr_b, p_stop = pools.corridor_a, pools.corridor_b, pools.stop_npl
    p_lev_target = pools.leverage_target
    i_premium, ip_cash0, ip_mode = insurance.premium_rate, insurance.pool_cash0, insurance.mode
    ip_beta, ip_theta, ip_pi = insurance.beta, insurance.theta, insurance.pi
    ip_top_up, ip_interest = insurance.top_up, insurance.interest
    nf_cap_rate, nf_suspend_mode = public.nf_cap_rate, public.nf_suspend
    gov_cash0, gov_budget, gov_cap = public.gov_cash0, public.gov_budget, public.gov_cap
    discount = public.discount
    n, H, S = seg_ead.shape
    NB = bk_tolerance.shape[0]
    NG = g_na0.shape[0]
    NP = p_cash0.shape[0]
    NI = i_premium.shape[0]
    e_bank = 0
    e_guar = NB
    e_pool = NB + NG
    e_ins = NB + NG + NP
    e_reg = e_ins + NI
    e_nf = e_reg + 1
    e_gov = e_reg + 2
    e_ipool = e_reg + 3
    E = e_reg + 4
    T = H + 3  # schedule rows: the horizon plus two years of lags beyond it
    role = np.empty(E, np.int64)
    role[e_bank:e_guar] = P_BANK
    role[e_guar:e_pool] = P_GUAR
    role[e_pool:e_ins] = P_POOL
    role[e_ins:e_reg] = P_INS
    role[e_reg] = P_REG
    role[e_nf] = P_NF
    role[e_gov] = P_GOV
    role[e_ipool] = P_IPOOL
    sched = np.zeros((T, E))
    recov = np.zeros((T, E))
    amt = np.zeros((S, 5))
    na = np.zeros(NG)
    cash = np.zeros(NP)
    cum_loss = np.zeros(NP)
    cum_paid = np.zeros(NP)
    suspended = np.zeros(NP, np.bool_)
    pool_loss = np.zeros(NP)
    pool_rule = np.zeros(NP)
    pool_k = np.zeros(NP)
    ins_claims = np.zeros(NI)
    ins_premium = np.zeros(NI)
    ins_paid = np.zeros(NI)
    g_bal = np.zeros(NG)
    pool_bal_elig = np.zeros(NP)
    insolvent = np.zeros(NG, np.bool_)
    bk_bal = np.zeros(NB)
    bk_def = np.zeros(NB)
    c_n, c_exposure, c_seg = book.c_n, book.c_exposure, book.c_seg
    c_start, c_amort = book.c_start, book.c_amort
    is_on, defensive = model.is_on, model.defensive
    n_coh = c_n.shape[0]
    state = credit_state(model, book)
    alive_c, dead, cum_l, track = state.alive, state.dead, state.cum_l, state.track
    thr = np.ones(n_coh)
    cum_ead = np.zeros(S)
    g_room = np.zeros(NG)
    g_new = np.zeros(NG)
    p_room = np.zeros(NP)
    p_new = np.zeros(NP)
    for ip in range(n):
        path = path0 + ip
        logr = 0.0
        use_is = is_on and uniform(path_year_key(skey, path, 0), STREAM_MIX, 0) >= defensive
        for c in range(n_coh):
            alive_c[c] = c_n[c]
            thr[c] = 1.0
        if track:
            dead[:] = False
        cum_ead[:] = 0.0
        cum_l[0] = 0
        sched[:] = 0.0
        recov[:] = 0.0
        for g in range(NG):
            na[g] = g_na0[g]
        reg_na = r_na0
        for p in range(NP):
            cash[p] = p_cash0[p]
            cum_loss[p] = 0.0
            cum_paid[p] = 0.0
            suspended[p] = False
        ipool = ip_cash0
        gov = gov_cash0
        nf_suspended = False
        fiscal = 0.0
        r_all = 0.0
        for p in range(NP):
            out_pool_bal[ip, 0, p] = cash[p]
        out_pool_bal[ip, 0, NP] = ipool
        for g in range(NG):
            out_guar_na[ip, 0, g] = na[g]
        out_guar_na[ip, 0, NG] = reg_na
        for y in range(H):
            # ---- credit: new vintages (throttled by last year's state), then defaults ----
            if y > 0:
                for c in range(n_coh):
                    if c_start[c] == y and thr[c] < 1.0:
                        alive_c[c] = int(math.floor(c_n[c] * thr[c] + 0.5))
            logr += credit_step(path_year_key(skey, path, y), ip, y, model, book, twist, state,
                                use_is, out)
            for s in range(S):
                if s_static[s]:  # single loans: a static book less its defaults
                    seg_bal[ip, y, s] = s_balance0[s] - cum_ead[s]
                    cum_ead[s] += seg_ead[ip, y, s]
                    seg_bal_end[ip, y, s] = s_balance0[s] - cum_ead[s]
            disc = (1.0 + discount) ** -(y + 0.5)
            if y > 0:
                for p in range(NP):
                    cash[p] += p_top_up[p]
                ipool += ip_top_up
                gov += gov_budget
            # balances at the start of the year
            g_bal[:] = 0.0
            bk_bal[:] = 0.0
            bk_def[:] = 0.0
            ins_premium[:] = 0.0
            nf_inforce = 0.0
            reg_bal = 0.0
            pool_bal_elig[:] = 0.0
            for s in range(S):
                b = seg_bal[ip, y, s]
                bk_bal[s_bank[s]] += b
                if s_product[s] == GUARANTEED:
                    g_bal[s_guar[s]] += b
                if s_product[s] != CREDIT:
                    nf_inforce += b * s_share[s, SH_NF]
                    reg_bal += b
                if s_product[s] == INSURED:
                    ins_premium[s_ins[s]] += b * i_premium[s_ins[s]]
                if s_product[s] == CREDIT and s_pool[s] >= 0:
                    pool_bal_elig[s_pool[s]] += b
            for g in range(NG):
                out_guar_lev[ip, y, g] = g_bal[g] / na[g] if na[g] > 0.0 else np.inf
            for g in range(NG):
                insolvent[g] = na[g] <= 0.0
            reg_insolvent = reg_na <= 0.0
            # ---- phase 1: nominal split of each segment's defaults --------------------
            nf_total = 0.0
            for s in range(S):
                d = seg_ead[ip, y, s]
                for j in range(5):
                    amt[s, j] = 0.0
                if d <= 0.0:
                    continue
                bk_def[s_bank[s]] += d
                if s_product[s] == CREDIT:
                    amt[s, SH_B] = d
                    continue
                for j in range(5):
                    amt[s, j] = s_share[s, j] * d
                if nf_suspended:
                    _reallocate(amt, s, amt[s, SH_NF])
                    amt[s, SH_NF] = 0.0
                nf_total += amt[s, SH_NF]
            # ---- national-fund payout-rate cap ----------------------------------------
            nf_cap = nf_cap_rate * nf_inforce
            next_suspend = False
            if nf_total > nf_cap:
                if nf_suspend_mode:
                    next_suspend = True
                else:
                    k = nf_cap / nf_total if nf_total > 0.0 else 0.0
                    for s in range(S):
                        if amt[s, SH_NF] > 0.0:
                            excess = amt[s, SH_NF] * (1.0 - k)
                            amt[s, SH_NF] -= excess
                            _reallocate(amt, s, excess)
            nf_paid = 0.0
            for s in range(S):
                nf_paid += amt[s, SH_NF]
            out_nf_rate[ip, y] = nf_paid / nf_inforce if nf_inforce > 0.0 else 0.0
            nf_suspended = next_suspend
            # ---- government: fund cash and annual cap ---------------------------------
            gov_total = 0.0
            for s in range(S):
                gov_total += amt[s, SH_GOV]
            gov_pay = min(gov_total, gov_cap, max(gov, 0.0))
            k_gov = gov_pay / gov_total if gov_total > 0.0 else 1.0
            for s in range(S):
                if amt[s, SH_GOV] > 0.0:
                    short = amt[s, SH_GOV] * (1.0 - k_gov)
                    amt[s, SH_GOV] -= short
                    amt[s, SH_G] += short  # what the government cannot pay stays with the guarantor [A]
            gov -= gov_pay
            # ---- re-guarantor and guarantor insolvency --------------------------------
            for s in range(S):
                if s_product[s] == CREDIT:
                    continue
                if reg_insolvent and amt[s, SH_RG] > 0.0:
                    amt[s, SH_G] += amt[s, SH_RG]
                    amt[s, SH_RG] = 0.0
                if s_product[s] == GUARANTEED and insolvent[s_guar[s]]:
                    amt[s, SH_B] += amt[s, SH_G]  # the insolvent guarantor's share falls on the bank
                    amt[s, SH_G] = 0.0
            # ---- insurance pool: compensates insurers ---------------------------------
            ins_claims[:] = 0.0
            for s in range(S):
                if s_product[s] == INSURED:
                    ins_claims[s_ins[s]] += amt[s, SH_G]
            ip_total = 0.0
            for i in range(NI):
                if ip_mode == 0:
                    ins_paid[i] = ip_beta * max(0.0, ins_claims[i] - ip_theta * ins_premium[i])
                elif ip_mode == 1:
                    ins_paid[i] = ip_beta * ins_claims[i]
                else:
                    ins_paid[i] = 0.0
                ip_total += ins_paid[i]
            ip_avail = max(ipool - _pending(sched, y, T, e_ipool), 0.0)
            k_ip = min(1.0, ip_avail / ip_total) if ip_total > 0.0 else 1.0
            ip_short = ip_total * (1.0 - k_ip)
            # premium subsidy: a transfer to the insurer this year, not tied to claims
            if ip_mode == 2:
                sub_total = 0.0
                for i in range(NI):
                    sub_total += ip_pi * ins_premium[i]
                k_sub = min(1.0, max(ipool, 0.0) / sub_total) if sub_total > 0.0 else 1.0
                for i in range(NI):
                    x = ip_pi * ins_premium[i] * k_sub
                    sched[y, e_ipool] += x
                    sched[y, e_ins + i] -= x
                ip_short += sub_total * (1.0 - k_sub)
            # ---- compensation pools: one rule, presets are parameter sets --------------
            pool_loss[:] = 0.0
            pool_rule[:] = 0.0
            for s in range(S):
                p = s_pool[s]
                if s_product[s] == CREDIT and p >= 0 and amt[s, SH_B] > 0.0:
                    pool_loss[p] += amt[s, SH_B]
                    if not suspended[p]:
                        pool_rule[p] += s_pool_share[s] * amt[s, SH_B]
            for p in range(NP):
                rule = pool_rule[p]
                if rule > 0.0 and p_corr_b[p] > 0.0:
                    lo = p_corr_a[p] * pool_bal_elig[p]
                    hi = p_corr_b[p] * pool_bal_elig[p]
                    inside = max(0.0, min(pool_loss[p], hi) - lo)
                    rule *= inside / pool_loss[p]
                cum_loss[p] += pool_loss[p]
                cap = min(p_annual_cap[p], max(0.0, p_cum_share[p] * cum_loss[p] - cum_paid[p]))
                want = min(rule, cap)
                avail = max(cash[p] - _pending(sched, y, T, e_pool + p), 0.0)
                pay = min(want, avail)
                out_pool_unpaid[ip, y, p] = want - pay
                cum_paid[p] += pay
                pool_k[p] = pay / pool_rule[p] if pool_rule[p] > 0.0 else 0.0
                out_pool_susp[ip, y, p] = 1.0 if suspended[p] else 0.0
                out_pool_npl[ip, y, p] = pool_loss[p] / pool_bal_elig[p] if pool_bal_elig[p] > 0.0 else 0.0
                if p_stop[p] < 1.0 and pool_bal_elig[p] > 0.0 and pool_loss[p] / pool_bal_elig[p] > p_stop[p]:
                    suspended[p] = True  # no compensation for later defaults [A]
            out_pool_unpaid[ip, y, NP] = ip_short
            # ---- phase 2: schedule the cash flows of this year's defaults --------------
            for s in range(S):
                d = seg_ead[ip, y, s]
                if d <= 0.0:
                    continue
                r_total = d - seg_loss[ip, y, s]  # ultimate recoveries
                r_all += r_total
                bank = e_bank + s_bank[s]
                sched[y, bank] += d  # the bank loses the exposure at default
                prod = s_product[s]
                if prod == CREDIT:
                    p = s_pool[s]
                    pay = 0.0
                    if p >= 0 and pool_rule[p] > 0.0:
                        pay = pool_k[p] * s_pool_share[s] * amt[s, SH_B]
                    if pay > 0.0:
                        _schedule(sched, y, e_pool + p, pay, lag_claim)
                        _schedule(sched, y, bank, -pay, lag_claim)
                    _recover(recov, y, bank, r_total * (d - pay) / d, recov_sched, T)
                    if pay > 0.0:
                        _recover(recov, y, e_pool + p, r_total * pay / d, recov_sched, T)
                    continue
                first = e_guar + s_guar[s] if prod == GUARANTEED else e_ins + s_ins[s]
                solvent = prod == INSURED or not insolvent[s_guar[s]]
                others = amt[s, SH_NF] + amt[s, SH_RG] + amt[s, SH_GOV]
                own = amt[s, SH_G]
                ipay = 0.0
                if prod == INSURED and ins_claims[s_ins[s]] > 0.0:
                    ipay = own * k_ip * ins_paid[s_ins[s]] / ins_claims[s_ins[s]]
                if solvent:
                    # the first payer pays the bank d - bank share after the claim lag ...
                    _schedule(sched, y, first, d - amt[s, SH_B], lag_claim)
                    _schedule(sched, y, bank, -(d - amt[s, SH_B]), lag_claim)
                    payee = first
                else:
                    payee = bank  # ... or, insolvent, the others pay the bank directly
                # ... and is reimbursed after the reimbursement lag
                lag2 = lag_claim + lag_reimb
                _schedule(sched, y, e_nf, amt[s, SH_NF], lag2)
                _schedule(sched, y, e_reg, amt[s, SH_RG], lag2)
                _schedule(sched, y, e_gov, amt[s, SH_GOV], lag2)
                _schedule(sched, y, e_ipool, ipay, lag2)
                _schedule(sched, y, payee, -(others + ipay), lag2)
                # recoveries in proportion to what each finally bears
                _recover(recov, y, bank, r_total * amt[s, SH_B] / d, recov_sched, T)
                _recover(recov, y, first, r_total * (own - ipay) / d, recov_sched, T)
                _recover(recov, y, e_nf, r_total * amt[s, SH_NF] / d, recov_sched, T)
                _recover(recov, y, e_reg, r_total * amt[s, SH_RG] / d, recov_sched, T)
                _recover(recov, y, e_gov, r_total * amt[s, SH_GOV] / d, recov_sched, T)
                _recover(recov, y, e_ipool, r_total * ipay / d, recov_sched, T)
            # ---- this year's cash: outputs and balance sheets -------------------------
            net = 0.0
            for e in range(E):
                flow = sched[y, e] - recov[y, e]
                out_party[ip, y, role[e]] += flow
                net += flow
                if e < e_reg:
                    out_entity[ip, y, e] = flow
                if role[e] == P_GUAR:
                    na[e - e_guar] -= flow
                elif role[e] == P_POOL:
                    cash[e - e_pool] -= flow
                elif e == e_reg:
                    reg_na -= flow
                elif e == e_ipool:
                    ipool -= flow
                # (the government's payments were taken from its fund when committed)
                if e >= e_reg or role[e] == P_POOL:
                    fiscal += flow * disc
            out_net[ip, y] = net
            # guarantors' income and costs (fees are not credit losses: balance sheet only)
            for g in range(NG):
                income = na[g] * g_yield[g] + (g_fee[g] - g_cost[g]) * g_bal[g]
                na[g] += income + g_subsidy[g] * g_bal[g] + g_injection[g]
                fiscal += (g_subsidy[g] * g_bal[g] + g_injection[g]) * disc
            reg_na += reg_na * r_yield + (r_fee - r_cost + r_subsidy) * reg_bal + r_injection
            fiscal += (r_subsidy * reg_bal + r_injection) * disc
            for p in range(NP):
                cash[p] += cash[p] * p_interest[p]
                out_pool_bal[ip, y + 1, p] = cash[p]
            ipool += ipool * ip_interest
            out_pool_bal[ip, y + 1, NP] = ipool
            for g in range(NG):
                out_guar_na[ip, y + 1, g] = na[g]
            out_guar_na[ip, y + 1, NG] = reg_na
            for b in range(NB):
                out_npl[ip, y, b] = bk_def[b] / bk_bal[b] if bk_bal[b] > 0.0 else 0.0
            # ---- feedback: room for next year's new loans ----------------------------
            if feedback and y + 1 < H:
                g_room[:] = 0.0
                g_new[:] = 0.0
                p_room[:] = 0.0
                p_new[:] = 0.0
                for g in range(NG):
                    g_room[g] = g_lev_cap[g] * max(na[g], 0.0)
                for p in range(NP):
                    p_room[p] = p_lev_target[p] * max(cash[p], 0.0)
                for s in range(S):
                    if s_product[s] == GUARANTEED:
                        g_room[s_guar[s]] -= seg_bal_end[ip, y, s]
                    if s_product[s] == CREDIT and s_pool[s] >= 0:
                        p_room[s_pool[s]] -= seg_bal_end[ip, y, s]
                for c in range(n_coh):
                    if c_start[c] == y + 1:
                        s = c_seg[c]
                        vol = c_n[c] * c_exposure[c] * c_amort[c, y + 1]
                        if s_product[s] == GUARANTEED:
                            g_new[s_guar[s]] += vol
                        if s_product[s] == CREDIT and s_pool[s] >= 0:
                            p_new[s_pool[s]] += vol
                for c in range(n_coh):
                    if c_start[c] != y + 1:
                        continue
                    s = c_seg[c]
                    f = 1.0
                    if s_product[s] == GUARANTEED and g_new[s_guar[s]] > 0.0:
                        f = min(f, max(0.0, g_room[s_guar[s]]) / g_new[s_guar[s]])
                    if s_product[s] == CREDIT and s_pool[s] >= 0 and p_new[s_pool[s]] > 0.0:
                        f = min(f, max(0.0, p_room[s_pool[s]]) / p_new[s_pool[s]])
                    if out_npl[ip, y, s_bank[s]] > bk_tolerance[s_bank[s]]:
                        f *= 1.0 - bk_slowdown[s_bank[s]]
                    thr[c] = f
        out_logw[ip] = mixture_logw(defensive, logr) if is_on else 0.0
        out_fiscal[ip] = fiscal
        pend_pay = 0.0
        received = 0.0
        for t in range(T):
            for e in range(E):
                if t >= H and sched[t, e] > 0.0:
                    pend_pay += sched[t, e]
                if t < H:
                    received += recov[t, e]
        out_pending[ip, 0] = pend_pay  # claims and reimbursements due after the horizon
        out_pending[ip, 1] = r_all - received  # recoveries still to come


@jit()
def _reallocate(amt, s, x):
    """Move ``x`` of the national fund's part to the re-guarantor, guarantor and government
    pro rata to their shares (all to the guarantor if they hold none)."""
    w = amt[s, SH_RG] + amt[s, SH_G] + amt[s, SH_GOV]
    if w <= 0.0:
        amt[s, SH_G] += x
        return
    a_rg = amt[s, SH_RG] / w
    a_gov = amt[s, SH_GOV] / w
    amt[s, SH_RG] += x * a_rg
    amt[s, SH_GOV] += x * a_gov
    amt[s, SH_G] += x * (1.0 - a_rg - a_gov)


@jit()
def _pending(sched, y, T, col):
    """Payments already scheduled for ``col`` from year ``y`` on (committed, not yet paid)."""
    acc = 0.0
    for t in range(y, T):
        if sched[t, col] > 0.0:
            acc += sched[t, col]
    return acc


@jit()
def _recover(recov, y, col, amount, recov_sched, T):
    """Spread ``amount`` of recoveries over the years after default year ``y``."""
    if amount == 0.0:
        return
    for j in range(recov_sched.shape[0]):
        t = y + j
        if t >= T:
            break
        recov[t, col] += amount * recov_sched[j]
