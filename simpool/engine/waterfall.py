"""The policy waterfall kernel: route each path's defaults through the parties, year by year.

Input per path: exposure at default ``D`` and gross (ultimate) loss ``G`` of every segment
(a group of loans sharing one route) in every year, from the credit kernel. Output per path:
each party's and entity's net loss per year in cash (paid for credit losses minus received)
and ultimately (what it finally bears of each year's defaults), pool and government-fund
balances, guarantor net assets and weighted leverage, NPL stocks, the national fund's payout
rate before and after its cap, the new lending each constraint removed, and public money
outside the credit losses (interest and premium subsidies, the guarantors' 四补) by ledger
column; the ledger itself (payers, levels, NPV) is assembled by
:mod:`simpool.analysis.ledger`.
POLICY.md states the rules; the comments below say where each one lives.

Conservation by construction: every cash flow is scheduled as a pair (payer +x, payee -x)
except the bank's loss of the exposure at default (+D) and recoveries (-R, received by the
parties in proportion to what each bore), so in every path and year the parties' cash sums
to ``D - recoveries received``; and each default's ultimate loss ``G`` is split by the same
final shares, so the parties' ultimate losses sum to the gross loss.

Entities (columns of the flow schedule): banks, guarantors, compensation pools, insurers,
then four singletons: provincial re-guarantor, national fund, government, insurance pool.
Segment products: 0 credit, 1 guaranteed, 2 insured (the insurer is the first payer, in the
guarantor's column of the shares: bank and insurer share an insured loss, no one else).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ._jit import jit
from .kernels import credit_state, credit_step, mixture_logw, path_parameters
from .publicflows import support, subsidies
from .rng import STREAM_MIX, path_year_key, uniform

# products
CREDIT, GUARANTEED, INSURED = 0, 1, 2
# share columns
SH_NF, SH_RG, SH_G, SH_B, SH_GOV = 0, 1, 2, 3, 4
# party (role) columns of the outputs, as simpool.scenario.policy.PARTIES
P_BANK, P_GUAR, P_REG, P_NF, P_GOV, P_POOL, P_INS, P_IPOOL = 0, 1, 2, 3, 4, 5, 6, 7
N_PARTIES = 8
HUGE = 1e300
# the path's scalars (State.x)
X_REG_NA, X_IPOOL, X_GOV, X_R_ALL, X_NF_SUSPENDED, X_K_IP = 0, 1, 2, 4, 5, 6


class State(NamedTuple):
    """A path's policy state and the year's scratch (one per chunk, reset per path)."""

    sched: np.ndarray  # (T, E) cash due by year and entity (claims, reimbursements)
    recov: np.ndarray  # (T, E) recoveries by year and entity
    sched_p: np.ndarray  # (T, 8, 3) the same by party and product
    recov_p: np.ndarray  # (T, 8, 3)
    ult: np.ndarray  # (8, 3) the year's defaults' ultimate loss by party and product
    ult_e: np.ndarray  # (E,) ... by entity
    amt: np.ndarray  # (S, 5) the year's split of each segment's defaults
    role: np.ndarray  # (E,) party of each entity column
    na: np.ndarray  # (NG,) guarantors' net assets
    cash: np.ndarray  # (NP,) pools' cash
    cum_loss: np.ndarray  # (NP,) eligible losses so far
    cum_paid: np.ndarray  # (NP,) paid so far
    pool_loss: np.ndarray  # (NP,) the year's eligible losses
    pool_rule: np.ndarray  # (NP,) what the rule pays before cash
    pool_k: np.ndarray  # (NP,) share of the rule paid
    ins_claims: np.ndarray  # (NI,) the insurers' losses of the year
    ins_premium: np.ndarray  # (NI,) their earned premium
    ins_paid: np.ndarray  # (NI,) what the insurance pool's rule pays them
    ins_stopped: np.ndarray  # (NI,) bool: new insured lending stopped
    g_bal: np.ndarray  # (NG,) guaranteed balance at the start of the year
    g_fees: np.ndarray  # (NG,) re-guarantee fees the guarantor pays this year
    g_liab: np.ndarray  # (NG + 1,) weighted liability at the start of the year (re-guarantor last)
    g_small: np.ndarray  # (NG + 1,) guaranteed balance in loans of at most small_loan_limit
    insolvent: np.ndarray  # (NG,) bool
    elig: np.ndarray  # (NP,) eligible balance at the start of the year
    bk_bal: np.ndarray  # (NB,) balance at the start of the year
    bk_def: np.ndarray  # (NB,) the year's defaults
    bk_hist: np.ndarray  # (NB, H) defaults by year (the NPL stock until written off)
    pb_bal: np.ndarray  # (NP, NB) eligible balance at the start of the year per pool and bank
    pb_def: np.ndarray  # (NP, NB) the year's eligible defaults per pool and bank
    pb_hist: np.ndarray  # (NP, NB, H)
    pb_stopped: np.ndarray  # (NP, NB) bool: the bank gets no new eligible loans
    cum_ead: np.ndarray  # (S,) single-loan segments: defaults so far
    thr: np.ndarray  # (C,) next vintage's share of its planned loans
    x: np.ndarray  # the path's scalars (X_*)


@jit()
def _new_state(H, S, NB, NG, NP, NI, C):
    E = NB + NG + NP + NI + 4
    T = H + 3  # schedule rows: the horizon plus two years of lags beyond it
    role = np.empty(E, np.int64)
    role[:NB] = P_BANK
    role[NB:NB + NG] = P_GUAR
    role[NB + NG:NB + NG + NP] = P_POOL
    role[NB + NG + NP:E - 4] = P_INS
    role[E - 4] = P_REG
    role[E - 3] = P_NF
    role[E - 2] = P_GOV
    role[E - 1] = P_IPOOL
    return State(np.zeros((T, E)), np.zeros((T, E)), np.zeros((T, N_PARTIES, 3)),
                 np.zeros((T, N_PARTIES, 3)), np.zeros((N_PARTIES, 3)), np.zeros(E),
                 np.zeros((S, 5)), role, np.zeros(NG), np.zeros(NP), np.zeros(NP), np.zeros(NP),
                 np.zeros(NP), np.zeros(NP), np.zeros(NP), np.zeros(NI), np.zeros(NI),
                 np.zeros(NI), np.zeros(NI, np.bool_), np.zeros(NG), np.zeros(NG),
                 np.zeros(NG + 1), np.zeros(NG + 1), np.zeros(NG, np.bool_), np.zeros(NP), np.zeros(NB), np.zeros(NB),
                 np.zeros((NB, H)), np.zeros((NP, NB)), np.zeros((NP, NB)), np.zeros((NP, NB, H)),
                 np.zeros((NP, NB), np.bool_), np.zeros(S), np.ones(C), np.zeros(8))


@jit(nogil=True)
def waterfall_chunk(skey, path0, model, book, twist, routes, banks, guarantors, pools, insurance,
                    public, ledger, out):
    """Simulate the paths of a chunk: credit and waterfall year by year, with feedback.

    The groups are those of :mod:`simpool.engine.inputs`: ``model`` and ``book`` (the credit
    model: for each path and year :func:`simpool.engine.kernels.credit_step` draws the
    defaults of every segment), ``routes`` (each segment's route, weights, fees, lags,
    recoveries), ``banks``, ``guarantors`` (and the re-guarantor), ``pools``, ``insurance``,
    ``public`` (national fund, government), ``ledger`` (subsidies and the 四补); ``out``
    (:class:`~simpool.engine.inputs.Outputs`) gets rows ``0 .. n - 1`` for paths
    ``path0 ..``. ``twist`` is None, or (twist_x, twist_scale) under an exponential twist, so
    that numba compiles the twist only for scenarios that use it. Each year's defaults are
    split (phase 1: shares, the national fund's line and cap, the government's fund,
    insolvency, the insurance pool, the compensation pools), their cash scheduled and their
    ultimate loss allocated (phase 2), the year's cash booked; then, when
    ``routes.feedback``, next year's new loans are scaled down by the constraints that bind
    (:func:`_feedback`). Money in yuan, lags in years.
    """
    n, H, S = out.segment_ead.shape
    NB = banks.npl_tolerance.shape[0]
    NG = guarantors.net_assets0.shape[0]
    NP = pools.cash0.shape[0]
    NI = insurance.suspend_loss_ratio.shape[0]
    n_coh = book.c_n.shape[0]
    st = _new_state(H, S, NB, NG, NP, NI, n_coh)
    cs = credit_state(model, book)
    for ip in range(n):
        path = path0 + ip
        logr = 0.0
        use_is = model.is_on and \
            uniform(path_year_key(skey, path, 0), STREAM_MIX, 0) >= model.defensive
        _reset_path(ip, book, cs, guarantors, pools, insurance, public, st, out)
        path_parameters(path_year_key(skey, path, 0), book, cs)
        for y in range(H):
            # ---- credit: new vintages (throttled by last year's state), then defaults ----
            if y > 0:
                for c in range(n_coh):
                    if book.c_start[c] == y and st.thr[c] < 1.0:
                        cs.alive[c] = int(math.floor(book.c_n[c] * st.thr[c] + 0.5))
            logr += credit_step(path_year_key(skey, path, y), ip, y, model, book, twist, cs,
                                use_is, out)
            for s in range(S):
                if routes.static[s]:  # single loans: a static book less its defaults
                    out.segment_balance[ip, y, s] = routes.balance0[s] - st.cum_ead[s]
                    st.cum_ead[s] += out.segment_ead[ip, y, s]
                    out.segment_balance_end[ip, y, s] = routes.balance0[s] - st.cum_ead[s]
                    out.loan_balance_end[ip, y] += out.segment_balance_end[ip, y, s]
            if y > 0:
                for p in range(NP):
                    st.cash[p] += pools.top_up[p]
                st.x[X_IPOOL] += insurance.top_up
                st.x[X_GOV] += public.gov_budget
            reg = _balances(ip, y, routes, guarantors, public, ledger, st, out)
            _split(ip, y, routes, public, st, out, reg)
            _insurance_pool(ip, y, routes, insurance, st, out)
            _pools(ip, y, routes, pools, st, out)
            _schedule_year(ip, y, routes, st, out)
            _book_year(ip, y, routes, guarantors, pools, insurance, ledger, st, out, reg)
            _npl(ip, y, routes, banks, pools, st, out)
            if routes.feedback and y + 1 < H:
                _feedback(ip, y, book, routes, banks, guarantors, pools, public, st, out)
        out.logw[ip] = mixture_logw(model.defensive, logr) if model.is_on else 0.0
        _pending(ip, H, st, out)


@jit(inline="always")
def _reset_path(ip, book, cs, guarantors, pools, insurance, public, st, out):
    """A path's state at the start: the book as planned, the balance sheets as given."""
    for c in range(book.c_n.shape[0]):
        cs.alive[c] = book.c_n[c]
        st.thr[c] = 1.0
    if cs.track:
        cs.dead[:] = False
    cs.cum_l[0] = 0
    st.cum_ead.fill(0.0)
    st.sched.fill(0.0)
    st.recov.fill(0.0)
    st.sched_p.fill(0.0)
    st.recov_p.fill(0.0)
    st.cum_loss.fill(0.0)
    st.cum_paid.fill(0.0)
    st.bk_hist.fill(0.0)
    st.pb_hist.fill(0.0)
    st.x.fill(0.0)
    st.ins_stopped.fill(False)
    st.pb_stopped.fill(False)
    st.na[:] = guarantors.net_assets0
    st.cash[:] = pools.cash0
    st.x[X_REG_NA] = guarantors.reg_net_assets0
    st.x[X_IPOOL] = insurance.pool_cash0
    st.x[X_GOV] = public.gov_cash0
    NP, NG = st.cash.shape[0], st.na.shape[0]
    out.pool_balance[ip, 0, :NP] = st.cash
    out.pool_balance[ip, 0, NP] = st.x[X_IPOOL]
    out.guarantor_net_assets[ip, 0, :NG] = st.na
    out.guarantor_net_assets[ip, 0, NG] = st.x[X_REG_NA]
    out.gov_balance[ip, 0] = st.x[X_GOV]


@jit()
def _released(ip, y, s, routes, out):
    """What of segment ``s``'s balance was released in year ``y`` (解保: repaid, matured or
    paid out); one-year loans renewed each year release the whole of it."""
    if routes.renewed[s]:
        return out.segment_balance[ip, y, s]
    return max(out.segment_balance[ip, y, s] - out.segment_balance_end[ip, y, s], 0.0)


@jit(inline="always")
def _balances(ip, y, routes, guarantors, public, ledger, st, out):
    """Balances at the start of year ``y`` by bank, guarantor, pool, insurer and product;
    leverage on the weighted liability; insolvency. Returns (the national fund's payout
    base, the re-guaranteed balance, the balance the national fund covers)."""
    NG = st.na.shape[0]
    st.g_bal[:] = 0.0
    st.g_fees[:] = 0.0
    st.bk_bal[:] = 0.0
    st.bk_def[:] = 0.0
    st.pb_def[:] = 0.0
    st.pb_bal[:] = 0.0
    st.elig[:] = 0.0
    st.ins_premium[:] = 0.0
    g_liab = st.g_liab
    g_liab[:] = 0.0
    st.g_small[:] = 0.0
    nf_base = 0.0
    reg_bal = 0.0
    reg_liab = 0.0
    nf_cover = 0.0
    for s in range(routes.product.shape[0]):
        b = out.segment_balance[ip, y, s]
        prod = routes.product[s]
        st.bk_bal[routes.bank[s]] += b
        out.product_balance[ip, y, prod] += b
        if prod == GUARANTEED:
            g = routes.guarantor[s]
            w = routes.weight[s]
            st.g_bal[g] += b
            # the weighted liability: the bank's and the re-guarantors' shares are not the
            # guarantor's [S]; the government's compensation does not reduce it [A]
            g_liab[g] += b * w * (routes.shares[s, SH_G] + routes.shares[s, SH_GOV])
            # re-guarantee fees, paid by the guarantor: provincial, and national where the
            # national fund takes part [S: 财金〔2024〕60号]
            st.g_fees[g] += b * guarantors.reg_fee_rate
            if routes.shares[s, SH_NF] > 0.0:
                st.g_fees[g] += b * routes.nf_fee_rate[s]
            reg_bal += b
            reg_liab += b * w * routes.shares[s, SH_RG]
            small = b * ledger.small_share[s]
            st.g_small[g] += small
            st.g_small[NG] += small
            if routes.shares[s, SH_NF] > 0.0:
                nf_cover += b
            base = _released(ip, y, s, routes, out) if public.nf_released else b
            nf_base += base * routes.shares[s, SH_NF]
        elif prod == INSURED:
            st.ins_premium[routes.insurer[s]] += b * routes.premium_rate[s]
        elif routes.pool[s] >= 0:
            st.elig[routes.pool[s]] += b
            st.pb_bal[routes.pool[s], routes.bank[s]] += b
    out.bank_balance[ip, y, :] = st.bk_bal
    out.pool_eligible[ip, y, :] = st.elig
    for g in range(NG):
        na = st.na[g]
        out.guarantor_leverage[ip, y, g] = g_liab[g] / na if na > 0.0 else np.inf
        st.insolvent[g] = na <= 0.0
    reg_na = st.x[X_REG_NA]
    g_liab[NG] = reg_liab
    out.guarantor_leverage[ip, y, NG] = reg_liab / reg_na if reg_na > 0.0 else np.inf
    return nf_base, reg_bal, nf_cover


@jit(inline="always")
def _split(ip, y, routes, public, st, out, reg):
    """Phase 1: the nominal split of each segment's defaults; the national fund's credit line
    and payout cap; the government's fund; insolvent re-guarantor and guarantors."""
    nf_base, _, nf_cover = reg
    S = routes.product.shape[0]
    amt = st.amt
    # the national fund's credit line: it covers at most nf_line of the balance [S]
    k_line = min(1.0, public.nf_line / nf_cover) if nf_cover > public.nf_line else 1.0
    nf_base *= k_line
    nf_total = 0.0
    moved = 0.0
    line_moved = 0.0
    suspended = st.x[X_NF_SUSPENDED] > 0.0
    for s in range(S):
        d = out.segment_ead[ip, y, s]
        amt[s, :] = 0.0
        if d <= 0.0:
            continue
        b = routes.bank[s]
        st.bk_def[b] += d
        prod = routes.product[s]
        if prod == CREDIT:
            amt[s, SH_B] = d
            if routes.pool[s] >= 0:
                st.pb_def[routes.pool[s], b] += d
            continue
        for j in range(5):
            amt[s, j] = routes.shares[s, j] * d
        if prod != GUARANTEED:
            continue
        if k_line < 1.0:  # beyond the line its share falls on the guarantor [A]
            x = amt[s, SH_NF] * (1.0 - k_line)
            amt[s, SH_NF] -= x
            amt[s, SH_G] += x
            line_moved += x
        if suspended:
            moved += amt[s, SH_NF]
            _reallocate(amt, s, amt[s, SH_NF])
            amt[s, SH_NF] = 0.0
        nf_total += amt[s, SH_NF]
    # ---- the national fund's payout-rate cap, measured before it binds -------------------
    nf_cap = public.nf_cap_rate * nf_base
    out.nf_rate_precap[ip, y] = nf_total / nf_base if nf_base > 0.0 else 0.0
    binds = nf_total > nf_cap
    out.nf_binds[ip, y] = 1.0 if binds else 0.0
    st.x[X_NF_SUSPENDED] = 0.0
    if binds:
        if public.nf_suspend:  # pays in full this year, covers no new default next year
            st.x[X_NF_SUSPENDED] = 1.0
        else:
            k = nf_cap / nf_total
            for s in range(S):
                if amt[s, SH_NF] > 0.0:
                    excess = amt[s, SH_NF] * (1.0 - k)
                    amt[s, SH_NF] -= excess
                    moved += excess
                    _reallocate(amt, s, excess)
    nf_paid = 0.0
    for s in range(S):
        nf_paid += amt[s, SH_NF]
    out.nf_payout_rate[ip, y] = nf_paid / nf_base if nf_base > 0.0 else 0.0
    out.nf_moved[ip, y] = moved
    out.nf_line_moved[ip, y] = line_moved
    # ---- the government: its fund's cash and annual cap -----------------------------------
    gov_total = 0.0
    for s in range(S):
        gov_total += amt[s, SH_GOV]
    gov = st.x[X_GOV]
    gov_pay = min(gov_total, public.gov_cap, max(gov, 0.0))
    k_gov = gov_pay / gov_total if gov_total > 0.0 else 1.0
    for s in range(S):
        if amt[s, SH_GOV] > 0.0:
            short = amt[s, SH_GOV] * (1.0 - k_gov)
            amt[s, SH_GOV] -= short
            amt[s, SH_G] += short  # what the government cannot pay stays with the guarantor [A]
    out.gov_moved[ip, y] = gov_total - gov_pay
    # exhausted: its cash, not its annual cap, was what it could not pay beyond
    out.gov_exhausted[ip, y] = 1.0 if gov_pay < gov_total and max(gov, 0.0) <= public.gov_cap \
        else 0.0
    st.x[X_GOV] = gov - gov_pay
    out.gov_balance[ip, y + 1] = st.x[X_GOV]
    # ---- an insolvent re-guarantor's or guarantor's share --------------------------------
    reg_insolvent = st.x[X_REG_NA] <= 0.0
    for s in range(S):
        if routes.product[s] != GUARANTEED:
            continue
        if reg_insolvent and amt[s, SH_RG] > 0.0:
            amt[s, SH_G] += amt[s, SH_RG]
            amt[s, SH_RG] = 0.0
        if st.insolvent[routes.guarantor[s]]:
            amt[s, SH_B] += amt[s, SH_G]  # the insolvent guarantor's share falls on the bank
            amt[s, SH_G] = 0.0


@jit(inline="always")
def _insurance_pool(ip, y, routes, insurance, st, out):
    """The insurance pool compensates the insurers' losses by its mode (stop-loss above
    theta x earned premium, or a quota share), limited by its cash; its premium subsidy is a
    transfer from its cash (not a credit loss). An insurer whose loss ratio passes its
    suspension level writes no new insured loans from next year."""
    NI = st.ins_claims.shape[0]
    NP = st.cash.shape[0]
    st.ins_claims[:] = 0.0
    for s in range(routes.product.shape[0]):
        if routes.product[s] == INSURED:
            st.ins_claims[routes.insurer[s]] += st.amt[s, SH_G]
    total = 0.0
    premium = 0.0
    for i in range(NI):
        if insurance.mode == 0:
            st.ins_paid[i] = insurance.beta * max(0.0, st.ins_claims[i]
                                                  - insurance.theta * st.ins_premium[i])
        elif insurance.mode == 1:
            st.ins_paid[i] = insurance.beta * st.ins_claims[i]
        else:
            st.ins_paid[i] = 0.0
        total += st.ins_paid[i]
        premium += st.ins_premium[i]
        # claims over no premium: an infinite loss ratio (0 without claims)
        ratio = st.ins_claims[i] / st.ins_premium[i] if st.ins_premium[i] > 0.0 else \
            (np.inf if st.ins_claims[i] > 0.0 else 0.0)
        out.insurer_loss_ratio[ip, y, i] = ratio
        if ratio > insurance.suspend_loss_ratio[i]:
            st.ins_stopped[i] = True  # (for the rest of the path)
        out.insurer_suspended[ip, y, i] = 1.0 if st.ins_stopped[i] else 0.0
    avail = max(st.x[X_IPOOL] - _committed(st.sched, y, st.sched.shape[1] - 1), 0.0)
    k = min(1.0, avail / total) if total > 0.0 else 1.0
    st.x[X_K_IP] = k  # (read by _schedule_year: the share of the rule paid)
    short = total * (1.0 - k)
    want = insurance.subsidy * premium
    sub = min(want, max(avail - total * k, 0.0))
    st.x[X_IPOOL] -= sub  # the subsidy is paid this year, outside the credit-loss flows
    out.premium_subsidy[ip, y] = sub
    out.pool_unpaid[ip, y, NP] = short + want - sub


@jit(inline="always")
def _pools(ip, y, routes, pools, st, out):
    """The compensation pools: one rule, presets are parameter sets (POLICY.md)."""
    NP = st.cash.shape[0]
    st.pool_loss[:] = 0.0
    st.pool_rule[:] = 0.0
    for s in range(routes.product.shape[0]):
        p = routes.pool[s]
        if routes.product[s] == CREDIT and p >= 0 and st.amt[s, SH_B] > 0.0:
            st.pool_loss[p] += st.amt[s, SH_B]
            st.pool_rule[p] += routes.pool_share[s] * st.amt[s, SH_B]
    NB = st.bk_bal.shape[0]
    NG = st.na.shape[0]
    for p in range(NP):
        rule = st.pool_rule[p]
        if rule > 0.0 and pools.corridor_b[p] > 0.0:
            lo = pools.corridor_a[p] * st.elig[p]
            hi = pools.corridor_b[p] * st.elig[p]
            inside = max(0.0, min(st.pool_loss[p], hi) - lo)
            rule *= inside / st.pool_loss[p]
        st.cum_loss[p] += st.pool_loss[p]
        cap = min(pools.annual_cap[p], max(0.0, pools.cum_share[p] * st.cum_loss[p]
                                               - st.cum_paid[p]))
        want = min(rule, cap)
        avail = max(st.cash[p] - _committed(st.sched, y, NB + NG + p), 0.0)
        pay = min(want, avail)
        out.pool_unpaid[ip, y, p] = want - pay
        st.cum_paid[p] += pay
        st.pool_k[p] = pay / st.pool_rule[p] if st.pool_rule[p] > 0.0 else 0.0


@jit(inline="always")
def _schedule_year(ip, y, routes, st, out):
    """Phase 2: schedule the cash of the year's defaults, and allocate their ultimate loss by
    each party's final share."""
    NB = st.bk_bal.shape[0]
    NG = st.na.shape[0]
    NP = st.cash.shape[0]
    E = st.sched.shape[1]
    e_guar, e_pool, e_ins = NB, NB + NG, NB + NG + NP
    e_reg, e_nf, e_gov, e_ipool = E - 4, E - 3, E - 2, E - 1
    lag = routes.lag_claim
    lag2 = routes.lag_claim + routes.lag_reimb
    st.ult[:] = 0.0
    st.ult_e[:] = 0.0
    amt = st.amt
    k_ip = st.x[X_K_IP]
    for s in range(routes.product.shape[0]):
        d = out.segment_ead[ip, y, s]
        if d <= 0.0:
            continue
        g_loss = out.segment_loss[ip, y, s]
        r_total = d - g_loss  # ultimate recoveries
        st.x[X_R_ALL] += r_total
        lf = g_loss / d  # what is finally lost of each yuan borne
        prod = routes.product[s]
        bank = routes.bank[s]
        _cash(st, y, bank, prod, d, 0.0)  # the bank loses the exposure at default
        if prod == CREDIT:
            p = routes.pool[s]
            pay = 0.0
            if p >= 0 and st.pool_rule[p] > 0.0:
                pay = st.pool_k[p] * routes.pool_share[s] * amt[s, SH_B]
            if pay > 0.0:
                _cash(st, y, e_pool + p, prod, pay, lag)
                _cash(st, y, bank, prod, -pay, lag)
                _recover(st, y, e_pool + p, prod, r_total * pay / d, routes.recoveries)
                _ultimate(st, e_pool + p, prod, pay * lf)
            _recover(st, y, bank, prod, r_total * (d - pay) / d, routes.recoveries)
            _ultimate(st, bank, prod, (d - pay) * lf)
            continue
        if prod == GUARANTEED:
            first = e_guar + routes.guarantor[s]
            solvent = not st.insolvent[routes.guarantor[s]]
        else:
            first = e_ins + routes.insurer[s]
            solvent = True
        others = amt[s, SH_NF] + amt[s, SH_RG] + amt[s, SH_GOV]
        own = amt[s, SH_G]
        ipay = 0.0
        i = routes.insurer[s]
        if prod == INSURED and st.ins_claims[i] > 0.0:
            ipay = own * k_ip * st.ins_paid[i] / st.ins_claims[i]
        if solvent:
            # the first payer pays the bank d - bank share after the claim lag ...
            _cash(st, y, first, prod, d - amt[s, SH_B], lag)
            _cash(st, y, bank, prod, -(d - amt[s, SH_B]), lag)
            payee = first
        else:
            payee = bank  # ... or, insolvent, the others pay the bank directly
        # ... and is reimbursed after the reimbursement lag
        _cash(st, y, e_nf, prod, amt[s, SH_NF], lag2)
        _cash(st, y, e_reg, prod, amt[s, SH_RG], lag2)
        _cash(st, y, e_gov, prod, amt[s, SH_GOV], lag2)
        _cash(st, y, e_ipool, prod, ipay, lag2)
        _cash(st, y, payee, prod, -(others + ipay), lag2)
        # recoveries, and the ultimate loss, in proportion to what each finally bears
        for col, borne in ((bank, amt[s, SH_B]), (first, own - ipay), (e_nf, amt[s, SH_NF]),
                           (e_reg, amt[s, SH_RG]), (e_gov, amt[s, SH_GOV]), (e_ipool, ipay)):
            _recover(st, y, col, prod, r_total * borne / d, routes.recoveries)
            _ultimate(st, col, prod, borne * lf)


@jit()
def _cash(st, row0, col, prod, amount, lag):
    """Book ``amount`` for entity ``col`` ``lag`` years after defaults spread uniformly over
    year ``row0``."""
    if amount == 0.0:
        return
    whole = math.floor(lag)
    frac = lag - whole
    r = row0 + int(whole)
    party = st.role[col]
    st.sched[r, col] += amount * (1.0 - frac)
    st.sched_p[r, party, prod] += amount * (1.0 - frac)
    if frac > 0.0:
        st.sched[r + 1, col] += amount * frac
        st.sched_p[r + 1, party, prod] += amount * frac


@jit()
def _recover(st, y, col, prod, amount, recoveries):
    """Spread ``amount`` of recoveries over the years after default year ``y``."""
    if amount == 0.0:
        return
    T = st.recov.shape[0]
    party = st.role[col]
    for j in range(recoveries.shape[0]):
        t = y + j
        if t >= T:
            break
        st.recov[t, col] += amount * recoveries[j]
        st.recov_p[t, party, prod] += amount * recoveries[j]


@jit()
def _ultimate(st, col, prod, amount):
    st.ult[st.role[col], prod] += amount
    st.ult_e[col] += amount


@jit(inline="always")
def _book_year(ip, y, routes, guarantors, pools, insurance, ledger, st, out, reg):
    """The year's cash by party, entity and product; the ultimate losses; balance sheets
    (fees and income are not credit losses: balance sheets only) with the 四补; the year's
    interest and premium subsidies."""
    _, reg_bal, _ = reg
    NB = st.bk_bal.shape[0]
    NG = st.na.shape[0]
    NP = st.cash.shape[0]
    E = st.sched.shape[1]
    e_guar, e_pool, e_reg, e_ipool = NB, NB + NG, E - 4, E - 1
    net = 0.0
    for e in range(E):
        flow = st.sched[y, e] - st.recov[y, e]
        party = st.role[e]
        out.party[ip, y, party] += flow
        net += flow
        if e < e_reg:
            out.entity[ip, y, e] = flow
            out.entity_ultimate[ip, y, e] = st.ult_e[e]
        if party == P_GUAR:
            st.na[e - e_guar] -= flow
        elif party == P_POOL:
            st.cash[e - e_pool] -= flow
        elif e == e_reg:
            st.x[X_REG_NA] -= flow
        elif e == e_ipool:
            st.x[X_IPOOL] -= flow
        # (the government's payments were taken from its fund when committed)
    out.net[ip, y] = net
    for party in range(N_PARTIES):
        for prod in range(3):
            out.product_party[ip, y, 0, prod, party] = st.sched_p[y, party, prod] \
                - st.recov_p[y, party, prod]
            out.product_party[ip, y, 1, prod, party] = st.ult[party, prod]
            out.party_ultimate[ip, y, party] += st.ult[party, prod]
    # guarantors: fee income, yield, costs, re-guarantee fees paid, then the 四补
    for g in range(NG):
        na = st.na[g]
        income = na * guarantors.yield_rate[g] + (guarantors.fee_rate[g]
                                                  - guarantors.cost_rate[g]) * st.g_bal[g]
        st.na[g] = na + income - st.g_fees[g] + support(
            ip, y, g, guarantors.subsidy_rate[g] * st.g_bal[g], guarantors.injection[g],
            st.sched[y, e_guar + g] - st.recov[y, e_guar + g], na + income - st.g_fees[g],
            guarantors.net_assets0[g], ledger, st, out)
    reg_na = st.x[X_REG_NA]
    after = reg_na + reg_na * guarantors.reg_yield_rate + (
        guarantors.reg_fee_rate - guarantors.reg_cost_rate) * reg_bal
    st.x[X_REG_NA] = after + support(
        ip, y, NG, guarantors.reg_subsidy_rate * reg_bal, guarantors.reg_injection,
        st.sched[y, e_reg] - st.recov[y, e_reg], after, guarantors.reg_net_assets0, ledger,
        st, out)
    subsidies(ip, y, routes, ledger, out)
    for p in range(NP):
        st.cash[p] += st.cash[p] * pools.interest[p]
        out.pool_balance[ip, y + 1, p] = st.cash[p]
    st.x[X_IPOOL] += st.x[X_IPOOL] * insurance.interest
    out.pool_balance[ip, y + 1, NP] = st.x[X_IPOOL]
    for g in range(NG):
        out.guarantor_net_assets[ip, y + 1, g] = st.na[g]
    out.guarantor_net_assets[ip, y + 1, NG] = st.x[X_REG_NA]


@jit()
def _stock(hist, y, years):
    """Non-performing stock at the end of year ``y``: the defaults of the last ``years``
    years (written off after that)."""
    acc = 0.0
    for k in range(max(0, y - years + 1), y + 1):
        acc += hist[k]
    return acc


@jit(inline="always")
def _npl(ip, y, routes, banks, pools, st, out):
    """NPL ratios at the year's end: each bank's non-performing stock (defaults not yet
    written off) over its loans outstanding at the year's start (the book the defaults came
    from: loans maturing at the year's end and rolled over would otherwise empty the
    denominator) [A]; and each pool's per cooperating bank, whose stop level stops that bank's
    new eligible loans."""
    NB = st.bk_bal.shape[0]
    NP = st.cash.shape[0]
    for b in range(NB):
        st.bk_hist[b, y] = st.bk_def[b]
        stock = _stock(st.bk_hist[b], y, banks.write_off_years[b])
        out.npl[ip, y, b] = stock / st.bk_bal[b] if st.bk_bal[b] > 0.0 else 0.0
    for p in range(NP):
        stock_p = 0.0
        any_stopped = False
        for b in range(NB):
            st.pb_hist[p, b, y] = st.pb_def[p, b]
            stock = _stock(st.pb_hist[p, b], y, banks.write_off_years[b])
            ratio = stock / st.pb_bal[p, b] if st.pb_bal[p, b] > 0.0 else 0.0
            out.pool_bank_npl[ip, y, p, b] = ratio
            st.pb_stopped[p, b] = ratio > pools.stop_npl[p]
            any_stopped = any_stopped or st.pb_stopped[p, b]
            stock_p += stock
        out.pool_npl[ip, y, p] = stock_p / st.elig[p] if st.elig[p] > 0.0 else 0.0
        out.pool_suspended[ip, y, p] = 1.0 if any_stopped else 0.0


@jit(inline="always")
def _feedback(ip, y, book, routes, banks, guarantors, pools, public, st, out):
    """Next year's new loans (the vintages starting in y + 1), scaled down so that each
    guarantor's weighted liability stays within its leverage cap x net assets, the
    re-guarantor's within its cap, each pool's eligible lending within its leverage target x
    cash, and the national fund's covered balance within its line (mode stop); none for a bank
    a pool has stopped, nor for an insurer whose lending stopped; a bank above its NPL
    tolerance lends its slowdown less. Each removal is booked to the constraint behind it
    (``out.lending_removed`` of year y + 1)."""
    NB = st.bk_bal.shape[0]
    NG = st.na.shape[0]
    NP = st.cash.shape[0]
    NI = st.ins_claims.shape[0]
    g_room = np.zeros(NG)
    g_new = np.zeros(NG)
    p_room = np.zeros(NP)
    p_new = np.zeros(NP)
    for g in range(NG):
        g_room[g] = guarantors.leverage_cap[g] * max(st.na[g], 0.0)
    r_room = guarantors.reg_leverage_cap * max(st.x[X_REG_NA], 0.0)
    r_new = 0.0
    line_room = public.nf_line
    line_new = 0.0
    for p in range(NP):  # (a target of HUGE is none: no limit, whatever the cash)
        p_room[p] = HUGE if pools.leverage_target[p] >= HUGE else \
            pools.leverage_target[p] * max(st.cash[p], 0.0)
    for s in range(routes.product.shape[0]):
        e = out.segment_balance_end[ip, y, s]
        if routes.product[s] == GUARANTEED:
            w = routes.weight[s]
            g_room[routes.guarantor[s]] -= e * w * (routes.shares[s, SH_G]
                                                    + routes.shares[s, SH_GOV])
            r_room -= e * w * routes.shares[s, SH_RG]
            if routes.shares[s, SH_NF] > 0.0:
                line_room -= e
        if routes.product[s] == CREDIT and routes.pool[s] >= 0:
            p_room[routes.pool[s]] -= e
    n_coh = book.c_n.shape[0]
    for c in range(n_coh):
        if book.c_start[c] == y + 1:
            s = book.c_seg[c]
            vol = book.c_n[c] * book.c_exposure[c] * book.c_amort[c, y + 1]
            if routes.product[s] == GUARANTEED:
                w = routes.weight[s]
                g_new[routes.guarantor[s]] += vol * w * (routes.shares[s, SH_G]
                                                         + routes.shares[s, SH_GOV])
                r_new += vol * w * routes.shares[s, SH_RG]
                if routes.shares[s, SH_NF] > 0.0:
                    line_new += vol
            if routes.product[s] == CREDIT and routes.pool[s] >= 0:
                p_new[routes.pool[s]] += vol
    # columns of lending_removed (simpool.engine.inputs.removed_columns)
    c_reg = NG
    c_plev = NG + 1
    c_pstop = c_plev + NP
    c_ins = c_pstop + NP
    c_bank = c_ins + NI
    c_line = c_bank + NB
    removed = out.lending_removed[ip, y + 1]
    for c in range(n_coh):
        if book.c_start[c] != y + 1:
            continue
        s = book.c_seg[c]
        prod = routes.product[s]
        f = 1.0
        col = -1
        if prod == GUARANTEED:
            g = routes.guarantor[s]
            if g_new[g] > 0.0 and max(0.0, g_room[g]) / g_new[g] < f:
                f, col = max(0.0, g_room[g]) / g_new[g], g
            if r_new > 0.0 and max(0.0, r_room) / r_new < f:
                f, col = max(0.0, r_room) / r_new, c_reg
            if public.nf_line_stop and line_new > 0.0 and routes.shares[s, SH_NF] > 0.0 and \
                    max(0.0, line_room) / line_new < f:
                f, col = max(0.0, line_room) / line_new, c_line
        elif prod == CREDIT and routes.pool[s] >= 0:
            p = routes.pool[s]
            if p_new[p] > 0.0 and max(0.0, p_room[p]) / p_new[p] < f:
                f, col = max(0.0, p_room[p]) / p_new[p], c_plev + p
            if st.pb_stopped[p, routes.bank[s]]:
                f, col = 0.0, c_pstop + p
        elif prod == INSURED and st.ins_stopped[routes.insurer[s]]:
            f, col = 0.0, c_ins + routes.insurer[s]
        vol = book.c_n[c] * book.c_exposure[c] * book.c_amort[c, y + 1]
        if col >= 0:
            removed[col] += vol * (1.0 - f)
        b = routes.bank[s]
        if out.npl[ip, y, b] > banks.npl_tolerance[b] and banks.slowdown[b] > 0.0:
            removed[c_bank + b] += vol * f * banks.slowdown[b]
            f *= 1.0 - banks.slowdown[b]
        st.thr[c] = f


@jit(inline="always")
def _pending(ip, H, st, out):
    """Claims and reimbursements due after the horizon; recoveries still to come."""
    T, E = st.sched.shape
    pend_pay = 0.0
    received = 0.0
    for t in range(T):
        for e in range(E):
            if t >= H and st.sched[t, e] > 0.0:
                pend_pay += st.sched[t, e]
            if t < H:
                received += st.recov[t, e]
    out.pending[ip, 0] = pend_pay
    out.pending[ip, 1] = st.x[X_R_ALL] - received


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
def _committed(sched, y, col):
    """Payments already scheduled for ``col`` from year ``y`` on (committed, not yet paid)."""
    acc = 0.0
    for t in range(y, sched.shape[0]):
        if sched[t, col] > 0.0:
            acc += sched[t, col]
    return acc
