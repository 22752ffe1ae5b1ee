"""Plan of the policy waterfall: scenario tables → the named groups of
:mod:`simpool.engine.inputs` that :mod:`simpool.engine.waterfall` reads.

Segments are the scenario's cohorts (in order), then one per product among the loan tape's
rows. Entity order: banks, guarantors, compensation pools, insurers (as in the scenario),
then the singletons re-guarantor, national fund, government, insurance pool.
"""

from __future__ import annotations

import math

import numpy as np

from .inputs import (Banks, Guarantors, Insurance, Pools, Public, Routes, WaterfallInputs,
                     group)
from ..scenario.policy import PARTIES, SHARE_KEYS

PRODUCT_CODE = {"credit": 0, "guaranteed": 1, "insured": 2}
IP_MODE = {"stop_loss": 0, "quota_share": 1, "premium_subsidy": 2}
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
    """[nf, rg, g, b, gov] for a segment; the national fund covers each borrower up to its cap."""
    if product == "credit":
        return np.array([0.0, 0.0, 0.0, 1.0, 0.0])
    sh = sc.policy.shares()
    v = np.array([sh[k] for k in SHARE_KEYS])
    total = float(exposures.sum())
    if total > 0:
        covered = float(np.minimum(exposures, sc.policy.national_fund_borrower_cap).sum()) / total
        moved = v[0] * (1.0 - covered)
        v[0] -= moved
        v[2] += moved  # the part above the cap falls on the guarantor [A]
    return v


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
    rows = []  # (name, product, bank, guarantor, pool, insurer, pool share, exposures)
    for c in sc.cohorts:
        share = 0.0
        if c.pool is not None and c.product == "credit":
            p = pool_by[c.pool]
            share = min(1.0, p.share + (p.first_loan_bonus if c.first_loan else 0.0))
        rows.append((c.name, c.product, c.bank, c.guarantor, c.pool if c.product == "credit" else None,
                     c.insurer, share, np.full(1, c.exposure), c.loans * c.exposure))
    pf = sc.portfolio
    tape = sc.tape
    for prod in tape_products:
        mask = np.asarray(tape.product).astype(str) == prod
        ex = np.asarray(tape.exposure, float)[mask]
        pool = pf.pool if prod == "credit" else None
        share = pool_by[pool].share if pool is not None else 0.0
        rows.append((f"tape:{prod}", prod, pf.bank or banks[0], pf.guarantor, pool, pf.insurer, share, ex,
                     float(ex.sum())))
    for name, prod, _, guar, _, ins, _, _, _ in rows:
        if prod == "guaranteed" and guar is None:
            raise ValueError(f"segment {name}: guaranteed loans need a guarantor")
        if prod == "insured" and ins is None:
            raise ValueError(f"segment {name}: insured loans need an insurer")

    def idx(names, v):
        return names.index(v) if v is not None else -1

    g = sc.guarantors
    r = sc.reguarantor
    gov = sc.government
    ipool = sc.insurance_pool
    H = sc.simulation.horizon_years
    pools_ = sc.pools
    n = len(rows)
    routes = group(
        Routes,
        product=np.array([PRODUCT_CODE[row[1]] for row in rows], np.int64),
        bank=np.array([idx(banks, row[2]) for row in rows], np.int64),
        guarantor=np.array([idx(guars, row[3]) if row[1] == "guaranteed" else -1 for row in rows],
                           np.int64),
        pool=np.array([idx(pools, row[4]) for row in rows], np.int64),
        insurer=np.array([idx(insurers, row[5]) if row[1] == "insured" else -1 for row in rows],
                         np.int64),
        shares=np.array([_shares(sc, row[7], row[1]) for row in rows], float).reshape(n, 5),
        pool_share=np.array([row[6] for row in rows], float),
        balance0=np.array([row[8] for row in rows], float),
        static=np.zeros(n, np.bool_) if static is None else np.asarray(static, np.bool_),
        lag_claim=sc.policy.claim_lag_days / 365.0,
        lag_reimb=sc.policy.reimbursement_lag_days / 365.0,
        recoveries=recovery_schedule(H, sc.policy.recovery_timing, sc.policy.recovery_theta_years),
        feedback=bool(sc.policy.lending_feedback))
    bank_group = group(
        Banks,
        npl_tolerance=np.array([b.overall_npl_tolerance + b.tech_extra for b in sc.banks], float),
        slowdown=np.array([b.growth_slowdown_after_breach for b in sc.banks], float))
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
        reg_yield_rate=float(r.investment_yield), reg_cost_rate=float(r.operating_cost_rate))
    pool_group = group(
        Pools,
        cash0=np.array([p.cash for p in pools_], float),
        top_up=np.array([p.annual_top_up for p in pools_], float),
        interest=np.array([p.interest_rate for p in pools_], float),
        annual_cap=np.array([HUGE if p.annual_cap is None else p.annual_cap for p in pools_], float),
        cum_share=np.array([p.cumulative_cap_share for p in pools_], float),
        corridor_a=np.array([p.corridor[0] if p.corridor else 0.0 for p in pools_], float),
        corridor_b=np.array([p.corridor[1] if p.corridor else -1.0 for p in pools_], float),
        stop_npl=np.array([2.0 if p.stop_npl is None else p.stop_npl for p in pools_], float),
        leverage_target=np.array([HUGE if p.leverage_target is None else p.leverage_target
                                  for p in pools_], float))
    insurance = group(
        Insurance,
        premium_rate=np.array([i.premium_rate for i in sc.insurers], float),
        pool_cash0=float(ipool.cash), mode=IP_MODE[ipool.mode], beta=float(ipool.beta),
        theta=float(ipool.theta), pi=float(ipool.pi), top_up=float(ipool.annual_top_up),
        interest=float(ipool.interest_rate))
    public = group(
        Public,
        nf_cap_rate=float(sc.policy.national_fund_payout_cap),
        nf_suspend=sc.policy.national_fund_excess == "suspend",
        gov_cash0=HUGE if gov.fund is None else float(gov.fund),
        gov_budget=float(gov.annual_budget),
        gov_cap=HUGE if gov.annual_cap is None else float(gov.annual_cap),
        discount=float(sc.policy.discount_rate))
    return WaterfallInputs(
        routes=routes, banks=bank_group, guarantors=guarantor_group, pools=pool_group,
        insurance=insurance, public=public,
        segment_names=tuple(row[0] for row in rows), bank_names=tuple(banks),
        guarantor_names=tuple(guars), pool_names=tuple(pools), insurer_names=tuple(insurers),
    )


__all__ = ["WaterfallInputs", "plan_waterfall", "recovery_schedule", "PARTIES"]
