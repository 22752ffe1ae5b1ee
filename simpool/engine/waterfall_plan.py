"""Plan of the policy waterfall: scenario tables → the named groups of
:mod:`simpool.engine.inputs` that :mod:`simpool.engine.waterfall` reads.

Segments are the scenario's cohorts (in order), then one per product among the loan tape's
rows. Entity order: banks, guarantors, compensation pools, insurers (as in the scenario),
then the singletons re-guarantor, national fund, government, insurance pool.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .inputs import (SUPPORT_FLOWS, Banks, Guarantors, Insurance, Ledger, Pools, Public, Routes,
                     WaterfallInputs, group)
from ..scenario.policy import PARTIES, SHARE_KEYS

PRODUCT_CODE = {"credit": 0, "guaranteed": 1, "insured": 2}
IP_MODE = {"stop_loss": 0, "quota_share": 1, "premium_subsidy": 2, "none": 2}
HUGE = 1e300


def recovery_schedule(horizon: int, timing: str, theta: float) -> np.ndarray:
    """Share of a default's recoveries received j = 0..horizon+2 years after its year.

    Defaults fall uniformly within the year; cumulative recoveries 1 - exp(-t/theta) t years
    after default, so the share received by the end of year j is the average over a uniform
    default time u of 1 - exp(-(j + 1 - u)/theta).
    """
    n = horizon + 3
    out = np.zeros(n)
    if timing == "immediate":
        out[0] = 1.0
        return out

    def cum(j: int) -> float:  # received by the end of year j after the default year
        if j < 0:
            return 0.0
        # E_u[1 - exp(-(j + 1 - u)/theta)], u ~ U(0, 1)
        return 1.0 - theta * (math.exp(-j / theta) - math.exp(-(j + 1) / theta))

    for j in range(n):
        out[j] = cum(j) - cum(j - 1)
    return out


def _shares(sc, exposures: np.ndarray, product: str) -> np.ndarray:
    """[nf, rg, g, b, gov] for a segment (``g``: the first payer, the guarantor or the
    insurer); the national fund covers each borrower up to its cap."""
    if product == "credit":
        return np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    if product == "insured":  # bank and insurer alone (政银保) [S: DOMAIN §5]
        ins = sc.policy.insured_sharing
        return np.array([0.0, 0.0, float(ins.insurer), float(ins.bank), 0.0])
    sh = sc.policy.shares()
    v = np.array([sh[k] for k in SHARE_KEYS])
    total = float(exposures.sum())
    if total > 0:
        covered = float(np.minimum(exposures, sc.policy.national_fund_borrower_cap).sum()) / total
        moved = v[0] * (1.0 - covered)
        v[0] -= moved
        v[2] += moved  # the part above the cap falls on the guarantor [A]
    return v


def _by_balance(exposures: np.ndarray, values: np.ndarray) -> float:
    """The balance-weighted mean of per-loan ``values`` (their plain mean without balance)."""
    total = float(exposures.sum())
    return float((exposures * values).sum() / total) if total > 0 else float(values.mean()) \
        if len(values) else 0.0


class _Row(NamedTuple):
    name: str
    product: str
    bank: str | None
    guarantor: str | None
    pool: str | None
    insurer: str | None
    pool_share: float
    exposures: np.ndarray  # one per loan (a cohort: its one exposure)
    balance0: float
    renewed: bool
    small_micro: bool
    premium_rate: float
    cohort: object = None  # the scenario's cohort (None: a tape segment)


def plan_waterfall(sc, tape_products: list[str], static=None) -> WaterfallInputs:
    """The waterfall's groups for scenario ``sc`` (:mod:`simpool.engine.inputs`).

    ``tape_products``: the loan tape's products, one segment each after the cohorts;
    ``static``: per segment, whether it is a static book of single loans (default: none is).
    """
    banks = [b.name for b in sc.banks]
    guars = [g.name for g in sc.guarantors]
    pools = [p.name for p in sc.pools]
    insurers = [i.name for i in sc.insurers]
    pool_by = {p.name: p for p in sc.pools}
    insurer_by = {i.name: i for i in sc.insurers}

    def premium(insurer, own):
        if own is not None:
            return float(own)
        return float(insurer_by[insurer].premium_rate) if insurer in insurer_by else 0.0

    rows: list[_Row] = []
    for c in sc.cohorts:
        share = 0.0
        if c.pool is not None and c.product == "credit":
            p = pool_by[c.pool]
            share = min(1.0, p.share + (p.first_loan_bonus if c.first_loan else 0.0))
        rows.append(_Row(c.name, c.product, c.bank, c.guarantor,
                         c.pool if c.product == "credit" else None, c.insurer, share,
                         np.full(1, c.exposure), c.loans * c.exposure,
                         c.term_years is None and c.mode == "binomial", c.small_micro,
                         premium(c.insurer, c.premium_rate) if c.product == "insured" else 0.0,
                         c))
    pf = sc.portfolio
    tape = sc.tape
    for prod in tape_products:
        mask = np.asarray(tape.product).astype(str) == prod
        ex = np.asarray(tape.exposure, float)[mask]
        pool = pf.pool if prod == "credit" else None
        share = pool_by[pool].share if pool is not None else 0.0
        rows.append(_Row(f"tape:{prod}", prod, pf.bank or banks[0], pf.guarantor, pool,
                         pf.insurer, share, ex, float(ex.sum()), False, True,
                         premium(pf.insurer, None) if prod == "insured" else 0.0))
    for row in rows:
        if row.product == "guaranteed" and row.guarantor is None:
            raise ValueError(f"segment {row.name}: guaranteed loans need a guarantor")
        if row.product == "insured" and row.insurer is None:
            raise ValueError(f"segment {row.name}: insured loans need an insurer")

    def idx(names, v):
        return names.index(v) if v is not None else -1

    pol = sc.policy
    small = pol.small_loan_limit

    def weight(row: _Row) -> float:
        """Weight of the segment's balance in a guarantor's liability (small and micro firms'
        loans of at most small_loan_limit: small_micro_weight) [S]."""
        if row.product != "guaranteed":
            return 0.0
        per_loan = np.where(row.exposures <= small, pol.small_micro_weight, 1.0) \
            if row.small_micro else np.ones(len(row.exposures))
        return _by_balance(row.exposures, per_loan)

    def nf_fee(row: _Row) -> float:
        if row.product != "guaranteed":
            return 0.0
        per_loan = np.where(row.exposures <= small, pol.national_fund_fee_rate_small,
                            pol.national_fund_fee_rate)
        return _by_balance(row.exposures, per_loan)

    g = sc.guarantors
    r = sc.reguarantor
    gov = sc.government
    ipool = sc.insurance_pool
    H = sc.simulation.horizon_years
    pools_ = sc.pools
    n = len(rows)
    routes = group(
        Routes,
        product=np.array([PRODUCT_CODE[row.product] for row in rows], np.int64),
        bank=np.array([idx(banks, row.bank) for row in rows], np.int64),
        guarantor=np.array([idx(guars, row.guarantor) if row.product == "guaranteed" else -1
                            for row in rows], np.int64),
        pool=np.array([idx(pools, row.pool) for row in rows], np.int64),
        insurer=np.array([idx(insurers, row.insurer) if row.product == "insured" else -1
                          for row in rows], np.int64),
        shares=np.array([_shares(sc, row.exposures, row.product) for row in rows],
                        float).reshape(n, 5),
        pool_share=np.array([row.pool_share for row in rows], float),
        balance0=np.array([row.balance0 for row in rows], float),
        static=np.zeros(n, np.bool_) if static is None else np.asarray(static, np.bool_),
        renewed=np.array([row.renewed for row in rows], np.bool_),
        weight=np.array([weight(row) for row in rows], float),
        nf_fee_rate=np.array([nf_fee(row) for row in rows], float),
        premium_rate=np.array([row.premium_rate for row in rows], float),
        lag_claim=pol.claim_lag_days / 365.0,
        lag_reimb=pol.reimbursement_lag_days / 365.0,
        recoveries=recovery_schedule(H, pol.recovery_timing, pol.recovery_theta_years),
        feedback=bool(pol.lending_feedback))
    bank_group = group(
        Banks,
        npl_tolerance=np.array([b.overall_npl_tolerance + b.tech_extra for b in sc.banks], float),
        slowdown=np.array([b.growth_slowdown_after_breach for b in sc.banks], float),
        write_off_years=np.array([b.write_off_years for b in sc.banks], np.int64))
    guarantor_group = group(
        Guarantors,
        net_assets0=np.array([x.net_assets for x in g], float),
        fee_rate=np.array([x.fee_rate for x in g], float),
        subsidy_rate=np.array([x.fee_subsidy_rate for x in g], float),
        injection=np.array([x.capital_injection for x in g], float),
        yield_rate=np.array([x.investment_yield for x in g], float),
        cost_rate=np.array([x.operating_cost_rate for x in g], float),
        leverage_cap=np.array([x.leverage_cap for x in g], float),
        reg_net_assets0=float(r.net_assets), reg_fee_rate=float(r.fee_rate),
        reg_subsidy_rate=float(r.fee_subsidy_rate), reg_injection=float(r.capital_injection),
        reg_yield_rate=float(r.investment_yield), reg_cost_rate=float(r.operating_cost_rate),
        reg_leverage_cap=float(r.leverage_cap))
    pool_group = group(
        Pools,
        cash0=np.array([p.cash for p in pools_], float),
        top_up=np.array([p.annual_top_up for p in pools_], float),
        interest=np.array([p.interest_rate for p in pools_], float),
        annual_cap=np.array([HUGE if p.annual_cap is None else p.annual_cap for p in pools_], float),
        cum_share=np.array([p.cumulative_cap_share for p in pools_], float),
        corridor_a=np.array([p.corridor[0] if p.corridor else 0.0 for p in pools_], float),
        corridor_b=np.array([p.corridor[1] if p.corridor else -1.0 for p in pools_], float),
        warn_npl=np.array([2.0 if p.warn_npl is None else p.warn_npl for p in pools_], float),
        stop_npl=np.array([2.0 if p.stop_npl is None else p.stop_npl for p in pools_], float),
        leverage_target=np.array([HUGE if p.leverage_target is None else p.leverage_target
                                  for p in pools_], float))
    # mode "premium_subsidy" (the older form): no claims compensation, a premium subsidy of pi
    legacy = ipool.mode == "premium_subsidy"
    insurance = group(
        Insurance,
        suspend_loss_ratio=np.array([np.inf if i.suspend_loss_ratio is None
                                     else i.suspend_loss_ratio for i in sc.insurers], float),
        pool_cash0=float(ipool.cash), mode=IP_MODE[ipool.mode], beta=float(ipool.beta),
        theta=float(ipool.theta),
        subsidy=float(ipool.pi if legacy else ipool.premium_subsidy),
        top_up=float(ipool.annual_top_up), interest=float(ipool.interest_rate))
    public = group(
        Public,
        nf_cap_rate=float(pol.national_fund_payout_cap),
        nf_suspend=pol.national_fund_excess == "suspend",
        nf_released=pol.national_fund_payout_basis == "released",
        nf_line=HUGE if pol.national_fund_credit_line is None else float(pol.national_fund_credit_line),
        nf_line_stop=pol.national_fund_credit_line_mode == "stop",
        gov_cash0=HUGE if gov.fund is None else float(gov.fund),
        gov_budget=float(gov.annual_budget),
        gov_cap=HUGE if gov.annual_cap is None else float(gov.annual_cap),
        discount=float(pol.discount_rate))
    ledger, columns = _plan_ledger(sc, rows, g, r, small)
    return WaterfallInputs(
        routes=routes, banks=bank_group, guarantors=guarantor_group, pools=pool_group,
        insurance=insurance, public=public, ledger=ledger, ledger_columns=columns,
        segment_names=tuple(row[0] for row in rows), bank_names=tuple(banks),
        guarantor_names=tuple(guars), pool_names=tuple(pools), insurer_names=tuple(insurers),
    )


TOP_UP_RULE = {"none": 0, "restore": 1, "leverage": 2}


def _plan_ledger(sc, rows: list[_Row], guarantors, reguarantor, small_limit: float):
    """The kernel's :class:`~simpool.engine.inputs.Ledger` and the (payer, flow, recipient) of
    each ``public_flows`` column: one column per payer, flow and programme for the interest
    and premium subsidies (recipient ``<product> borrowers``), per guarantor for the 四补; a
    flow that is off has none."""
    columns: list[tuple[str, str, str]] = []

    def col(payer: str, flow: str, recipient: str, on: bool) -> int:
        if not on:
            return -1
        key = (payer, flow, recipient)
        if key not in columns:
            columns.append(key)
        return columns.index(key)

    H = sc.simulation.horizon_years
    isub_rate, isub_years, isub_col, psub_rate, psub_col, small_share = [], [], [], [], [], []
    for row in rows:
        c = row.cohort
        rate = float(c.interest_subsidy_rate) if c is not None else 0.0
        isub_rate.append(rate)
        isub_years.append(H if c is None or c.interest_subsidy_years is None
                          else int(c.interest_subsidy_years))
        isub_col.append(col(c.interest_subsidy_payer, "interest subsidy",
                            f"{row.product} borrowers", rate > 0)
                        if c is not None else -1)
        prate = float(c.premium_subsidy_rate) if c is not None and row.product == "insured" else 0.0
        psub_rate.append(prate)
        psub_col.append(col(c.premium_subsidy_payer, "premium subsidy", "insured borrowers",
                            prate > 0)
                        if c is not None else -1)
        small_share.append(_by_balance(row.exposures, (row.exposures <= small_limit).astype(float))
                           if row.small_micro and row.product == "guaranteed" else 0.0)
    entities = list(guarantors) + [reguarantor]
    g_col = np.full((len(entities), len(SUPPORT_FLOWS)), -1, np.int64)
    for i, x in enumerate(entities):
        on = (x.fee_subsidy_rate > 0, x.capital_injection > 0, x.capital_top_up != "none",
              x.payout_compensation_rate > 0, x.business_reward_rate > 0)
        for k, flow in enumerate(SUPPORT_FLOWS):
            g_col[i, k] = col(x.support_payer, flow, x.name, on[k])
    ledger = group(
        Ledger,
        isub_rate=np.array(isub_rate, float), isub_years=np.array(isub_years, np.int64),
        isub_col=np.array(isub_col, np.int64), psub_rate=np.array(psub_rate, float),
        psub_col=np.array(psub_col, np.int64), small_share=np.array(small_share, float),
        g_col=g_col,
        top_up_rule=np.array([TOP_UP_RULE[x.capital_top_up] for x in entities], np.int64),
        top_up_leverage=np.array([float(x.top_up_leverage or x.leverage_cap) for x in entities],
                                 float),
        comp_rate=np.array([x.payout_compensation_rate for x in entities], float),
        reward_rate=np.array([x.business_reward_rate for x in entities], float))
    return ledger, tuple(columns)


__all__ = ["WaterfallInputs", "plan_waterfall", "recovery_schedule", "PARTIES"]
