"""The policy waterfall kernel against an independent plain-Python reference.

``waterfall_reference.py`` recomputes, path by path and year by year, every output of the
waterfall from POLICY.md and the field documentation of ``simpool/engine/inputs.py`` alone
(never from ``engine/waterfall.py`` or ``engine/waterfall_plan.py``), taking the credit
model's per-segment outputs of the run (``keep="all"``) as the book that happened. Every
output, every path, every year is compared (rtol 1e-9, atol 1e-6 yuan, or 1e-15 of the
path's total defaulted exposure when that is larger: float64 rounding of sums of ~1e10
yuan), with the parties' sums (ultimate = gross, cash = net), and the new vintages the
engine made (round(the reference's factor x planned loans)).

Scenarios: every product together (two banks, guarantors, pools and insurers); variants
that force each mechanism (each asserts that it fired); 8 random scenarios from a fixed-seed
numpy generator. ``test_routes_follow_the_spec`` checks the plan's per-segment inputs that
the reference takes as given (borrower cap, weights, fee and premium rates, lags, recovery
schedule) against the scenario.

Findings of the first comparison, now fixed or settled (each keeps a test below):

F1  Net assets earn their yield after the year's net payouts (POLICY.md now says so: the
    engine's reading, the conservative one); the reference's ``yield_after_payouts``.
F2  A pool with ``leverage_target = none`` and no cash lent nothing the next year (1e300 x 0
    = 0): fixed, none is no limit whatever the cash.
F3  An insurer with claims and no earned premium reported a loss ratio of 0 yet was
    suspended: fixed, its loss ratio is infinite (and its summary row is then left out).

Readings of points POLICY.md leaves open (the reference's R1-R14); those marked * were
first written otherwise and changed to the engine's after the comparison, as the spec
allows both:

* insolvency is tested at the start of every year (steps 6 and 7): net assets back above
  0 make a guarantor solvent again ("from then on" could mean for the rest of the path) *;
* ``pending_payments``: per year after the horizon and per entity (per party for those
  without one), its net payment of that year when positive, summed (a guarantor's claim
  payments net against the reimbursements it gets in the same year) *;
* ``public_flows`` (the ledger's columns outside credit losses, POLICY.md "Public money"):
  interest subsidies on the balance at the year's start less half the year's defaults,
  premium subsidies, and the 四补 in the order fee subsidy, injection, payout compensation,
  business reward, then the top-up on what they leave;
* a pool's unpaid claims are only what its cash (less what it owes) could not pay; its
  annual and cumulative caps lower the claim (no depletion) *;
* the government fund is "exhausted" also when its cash equals its annual cap and both
  limit the payment *;
* where two feedback constraints give a vintage the same factor, a pool's NPL stop takes
  the removal before its leverage target (then guarantor, re-guarantor, credit line) *;
* without ``lending_feedback`` nothing is scaled: a pool's NPL stop and an insurer's
  suspension are reported but remove no lending;
* lags, recoveries, the payout cap's reallocation, the credit line, pools' cash and the
  balance sheets: as in the reference's docstring (R1-R12).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import simpool
import waterfall_reference as wref
from simpool.engine.inputs import removed_columns
from simpool.engine.plan import plan

RTOL = 1e-9
ATOL = 1e-6
#: readings of the reference switched for every comparison (none: the spec as written)
ENGINE: dict = {}


# ------------------------------------------------------------------------------ helpers

def run(d: dict, paths: int = 60, **readings):
    """Simulate ``d`` keeping every output; return (results, reference outputs, book)."""
    res = simpool.simulate(simpool.load_scenario(d), paths=paths, keep="all")
    book = plan(res.scenario).book
    ref = wref.reference_waterfall(res._wf, book, res._raw, **{**ENGINE, **readings})
    return res, ref, book


def tolerance(raw) -> float:
    scale = float(raw["segment_ead"].sum(axis=(1, 2)).max())
    return max(ATOL, 1e-15 * scale)


def assert_matches(res, ref, book, names=wref.OUTPUT_NAMES):
    """Every output equal to the reference, the parties' sums, and the vintages made."""
    raw = res._raw
    atol = tolerance(raw)
    for name in names:
        got, want = np.asarray(raw[name], float), ref[name]
        assert got.shape == want.shape, (name, got.shape, want.shape)
        close = np.isclose(got, want, rtol=RTOL, atol=atol) | (got == want)
        if not close.all():
            idx = [tuple(int(j) for j in i) for i in np.argwhere(~close)[:5]]
            pytest.fail(f"{name}: {int((~close).sum())} of {got.size} differ, e.g. "
                        + "; ".join(f"{i}: engine {got[i]!r} reference {want[i]!r}" for i in idx))
    # POLICY.md: the parties' ultimate losses sum to gross (1e-9 relative), cash to net
    gross = raw["loss"]
    np.testing.assert_allclose(raw["party_ultimate"].sum(axis=2), gross, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(ref["party_ultimate"].sum(axis=2), gross, rtol=1e-9, atol=atol)
    np.testing.assert_allclose(raw["party"].sum(axis=2), raw["net"], rtol=1e-9, atol=atol)
    # ... and the programmes' figures to the parties' (product_party: [cash, ultimate])
    np.testing.assert_allclose(raw["product_party"].sum(axis=3),
                               np.stack([raw["party"], raw["party_ultimate"]], axis=2), rtol=1e-9, atol=atol)
    # net = new default exposure - recoveries received: over the horizon, gross + pending
    np.testing.assert_allclose(raw["net"].sum(axis=1), gross.sum(axis=1) + raw["pending"][:, 1],
                               rtol=1e-9, atol=atol)
    assert_vintages_made(res, ref, book)


def assert_vintages_made(res, ref, book):
    """The new vintages the engine made hold round(factor x planned) loans, the factor being
    the reference's (from the segment balances: start of year y less the end of year y - 1
    is the new vintage of a cohort's segment)."""
    raw = res._raw
    for i, factors in enumerate(ref["throttle"]):
        for v, f in factors.items():
            s, y = int(book.c_seg[v]), int(book.c_start[v])
            made = (raw["segment_balance"][i, y, s] - raw["segment_balance_end"][i, y - 1, s]) \
                / (book.c_exposure[v] * book.c_amort[v, y])
            assert abs(made - f * book.c_n[v]) <= 0.5 + 1e-6, (i, v, made, f, book.c_n[v])


def removed(res, constraint: str, entity: str | None = None) -> float:
    """Lending removed by a constraint over all paths and years, yuan."""
    total = 0.0
    for k, (ent, what) in enumerate(removed_columns(res._wf)):
        if what == constraint and (entity is None or ent == entity):
            total += float(res._raw["lending_removed"][..., k].sum())
    return total


# ------------------------------------------------------------------------------ scenarios

def every_product(**policy) -> dict:
    """Every product together: two banks, two guarantors, two pools, two insurers."""
    return {
        "simulation": {"paths": 100, "seed": 11, "horizon_years": 4},
        "cohorts": [
            {"name": "g_small", "loans": 120, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "guaranteed", "guarantor": "ga", "bank": "b1", "term_years": 2, "growth": 0.3},
            {"name": "g_big", "loans": 40, "exposure": 4e7, "pd": 0.06, "lgd": 0.6, "lgd_std": 0.2,
             "rho": 0.2, "product": "guaranteed", "guarantor": "gb", "bank": "b2", "small_micro": False,
             "term_years": 3, "amortization": "linear"},
            {"name": "g_tape", "loans": 25, "exposure": 2e6, "pd": 0.07, "lgd": 0.5, "rho": 0.2,
             "product": "guaranteed", "guarantor": "gb", "bank": "b1", "mode": "loans"},
            {"name": "i_a", "loans": 100, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "insured", "insurer": "ia", "bank": "b1", "premium_rate": 0.03, "growth": 0.2},
            {"name": "i_b", "loans": 80, "exposure": 2e6, "pd": 0.05, "lgd": 0.6, "rho": 0.2,
             "product": "insured", "insurer": "ib", "bank": "b2", "term_years": 1},
            {"name": "c_a", "loans": 100, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "credit", "pool": "pa", "bank": "b2", "first_loan": True, "term_years": 2},
            {"name": "c_b", "loans": 100, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "credit", "pool": "pb", "bank": "b1", "growth": 0.5},
            {"name": "c_bare", "loans": 60, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "credit", "bank": "b1"},
        ],
        "banks": [{"name": "b1", "growth_slowdown_after_breach": 0.3, "write_off_years": 2},
                  {"name": "b2", "write_off_years": 1}],
        "guarantors": [{"name": "ga", "net_assets": 1e7, "capital_injection": 2e5, "fee_subsidy_rate": 0.005},
                       {"name": "gb", "net_assets": 5e7}],
        "reguarantor": {"capital_injection": 1e6, "fee_subsidy_rate": 0.001},
        "pools": [{"name": "pa", "cash": 1e6, "annual_top_up": 3e5, "interest_rate": 0.03,
                   "corridor": [0.01, 0.2]},
                  {"name": "pb", "cash": 5e6, "annual_cap": 2e6, "leverage_target": 30}],
        "insurers": [{"name": "ia", "suspend_loss_ratio": 1.5}, {"name": "ib"}],
        "insurance_pool": {"cash": 3e6, "premium_subsidy": 0.3, "annual_top_up": 1e5, "interest_rate": 0.02},
        "government": {"fund": 5e6, "annual_budget": 1e6, "annual_cap": 4e6},
        "policy": {"national_fund_credit_line": 1.5e9, "discount_rate": 0.05, **policy},
    }


def with_(d: dict, **tables) -> dict:
    """A copy of ``d`` with tables replaced (or, for dicts given as ``key__merge``, merged)."""
    d = copy.deepcopy(d)
    for key, value in tables.items():
        if key.endswith("__merge"):
            d[key[:-7]] = {**d.get(key[:-7], {}), **value}
        else:
            d[key] = value
    return d


def guaranteed_only(n_guarantors=2, **policy) -> dict:
    gs = [{"name": f"g{k}", "net_assets": 3e7 * (k + 1)} for k in range(n_guarantors)]
    return {
        "simulation": {"paths": 100, "seed": 5, "horizon_years": 4},
        "cohorts": [
            {"name": "t1", "loans": 100, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.2,
             "product": "guaranteed", "guarantor": "g0", "bank": "b1", "term_years": 2, "growth": 0.3},
            {"name": "t2", "loans": 50, "exposure": 4e6, "pd": 0.06, "lgd": 0.6, "rho": 0.2,
             "product": "guaranteed", "guarantor": gs[-1]["name"], "bank": "b2", "term_years": 1},
            {"name": "open", "loans": 60, "exposure": 1e6, "pd": 0.06, "lgd": 0.7, "rho": 0.2,
             "product": "guaranteed", "guarantor": gs[-1]["name"], "bank": "b1", "growth": 0.2},
            {"name": "single", "loans": 30, "exposure": 1e6, "pd": 0.06, "lgd": 0.6, "rho": 0.2,
             "product": "guaranteed", "guarantor": "g0", "bank": "b2", "mode": "loans"},
        ],
        "banks": [{"name": "b1"}, {"name": "b2"}],
        "guarantors": gs,
        "policy": policy,
    }


def fires(**flags):
    return flags


def mech(res) -> dict:
    raw = res._raw
    NG = len(res._wf.guarantor_names)
    return {
        "nf_binds": bool(raw["nf_binds"].any()),
        "nf_moved": bool((raw["nf_moved"] > 0).any()),
        "line_moved": bool((raw["nf_line_moved"] > 0).any()),
        "gov_exhausted": bool(raw["gov_exhausted"].any()),
        "gov_moved": bool((raw["gov_moved"] > 0).any()),
        "gov_cap_only": bool(((raw["gov_moved"] > 0) & (raw["gov_exhausted"] == 0)).any()),
        "insurer_suspended": bool(raw["insurer_suspended"].any()),
        "pool_suspended": bool(raw["pool_suspended"].any()),
        "pool_unpaid": bool((raw["pool_unpaid"][..., :-1] > 0).any()),
        "ipool_unpaid": bool((raw["pool_unpaid"][..., -1] > 0).any()),
        "premium_subsidy": bool((raw["premium_subsidy"] > 0).any()),
        "guarantor_insolvent": bool((raw["guarantor_net_assets"][:, :-1, :NG] <= 0).any()),
        "reguarantor_insolvent": bool((raw["guarantor_net_assets"][:, :-1, NG] <= 0).any()),
        "removed_leverage_cap": removed(res, "leverage cap") > 0,
        "removed_reguarantor": removed(res, "leverage cap", "reguarantor") > 0,
        "removed_target": removed(res, "leverage target") > 0,
        "removed_npl_stop": removed(res, "NPL stop") > 0,
        "removed_suspension": removed(res, "loss-ratio suspension") > 0,
        "removed_slowdown": removed(res, "NPL slowdown") > 0,
        "removed_line": removed(res, "credit line") > 0,
        "any_removed": bool(raw["lending_removed"].any()),
        "npl_breach": bool((raw["npl"] > res._wf.banks.npl_tolerance).any()),
        # every ledger column (subsidy, 四补 flow) paid something in some path and year
        "every_public_flow": bool(raw["public_flows"].shape[-1] > 0
                                  and (raw["public_flows"] > 0).any(axis=(0, 1)).all()),
    }


SCENARIOS = {
    # (1) every product together
    "every_product": (every_product(), fires(
        nf_binds=True, line_moved=True, gov_exhausted=True, gov_cap_only=True, insurer_suspended=True,
        pool_unpaid=True, ipool_unpaid=True, premium_subsidy=True, guarantor_insolvent=True,
        removed_leverage_cap=True, removed_target=True, removed_suspension=True, removed_slowdown=True)),
    # (2) payout cap: reallocate, released base; a sharing where the others hold nothing
    "payout_cap_reallocate": (guaranteed_only(national_fund_payout_cap=0.01), fires(nf_binds=True, nf_moved=True)),
    "payout_cap_all_to_guarantor": (guaranteed_only(
        national_fund_payout_cap=0.01,
        sharing={"national_fund": 0.8, "reguarantor": 0.0, "guarantor": 0.0, "bank": 0.2, "government": 0.0}),
        fires(nf_binds=True, nf_moved=True)),
    "payout_cap_suspend_in_force": (guaranteed_only(
        national_fund_payout_cap=0.02, national_fund_excess="suspend", national_fund_payout_basis="in_force"),
        fires(nf_binds=True, nf_moved=True)),
    "credit_line_shift": (guaranteed_only(national_fund_credit_line=1.5e8), fires(line_moved=True)),
    "credit_line_stop": (guaranteed_only(national_fund_credit_line=2.2e8, national_fund_credit_line_mode="stop"),
                         fires(line_moved=True, removed_line=True)),
    "government_small_fund_annual_cap": (with_(guaranteed_only(), government={
        "fund": 1e6, "annual_budget": 5e5, "annual_cap": 8e5}), fires(gov_exhausted=True, gov_moved=True)),
    "government_annual_cap_only": (with_(guaranteed_only(), government={"annual_cap": 5e5}),
                                   fires(gov_cap_only=True)),
    "insolvent_guarantor_and_reguarantor": (with_(
        guaranteed_only(), guarantors=[{"name": "g0", "net_assets": -1.0}, {"name": "g1", "net_assets": 4e6,
                                                                             "capital_injection": 3e6}],
        reguarantor={"net_assets": 2e6, "capital_injection": 1e6}),
        fires(guarantor_insolvent=True, reguarantor_insolvent=True, removed_leverage_cap=True)),
    "reguarantor_leverage": (with_(guaranteed_only(), reguarantor={"net_assets": 2.5e6, "leverage_cap": 10.0}),
                             fires(removed_reguarantor=True)),
    "small_micro_weights": (with_(guaranteed_only(small_micro_weight=0.5, small_loan_limit=2e6),
                                  guarantors=[{"name": "g0", "net_assets": 4e6}, {"name": "g1", "net_assets": 6e6}]),
                            fires(removed_leverage_cap=True)),
    "feedback_off": (with_(guaranteed_only(small_micro_weight=0.5, lending_feedback=False,
                                           national_fund_credit_line=2.2e8, national_fund_credit_line_mode="stop"),
                           guarantors=[{"name": "g0", "net_assets": 4e6}, {"name": "g1", "net_assets": 6e6}]),
                     fires(any_removed=False, line_moved=True)),
}


# ties between feedback constraints (all factors 0), a sharing without the national fund,
# insurers without premium, a pool without cash
SCENARIOS["feedback_ties"] = (with_(
    guaranteed_only(national_fund_credit_line=1.0, national_fund_credit_line_mode="stop"),
    guarantors=[{"name": "g0", "net_assets": -1.0}, {"name": "g1", "net_assets": 1e9}],
    reguarantor={"net_assets": -1.0}),
    fires(removed_leverage_cap=True, removed_reguarantor=True, removed_line=True, reguarantor_insolvent=True))


def four_supports() -> dict:
    """Every public flow outside credit losses: interest subsidies (one for two years, one
    co-funded), a premium subsidy, and each 四补 (top-ups of both rules)."""
    d = every_product()
    d["guarantors"] = [
        {"name": "ga", "net_assets": 1e7, "capital_injection": 2e5, "fee_subsidy_rate": 0.005,
         "capital_top_up": "restore", "payout_compensation_rate": 0.3,
         "business_reward_rate": 0.002, "support_payer": "city_budget"},
        {"name": "gb", "net_assets": 5e7, "capital_top_up": "leverage", "top_up_leverage": 1.0,
         "payout_compensation_rate": 0.1, "level": "provincial", "support_payer": "split"}]
    d["reguarantor"] = {"net_assets": 5e6, "capital_injection": 1e6, "fee_subsidy_rate": 0.001,
                        "payout_compensation_rate": 0.2, "capital_top_up": "restore",
                        "business_reward_rate": 0.001}
    d["payers"] = [{"name": "split", "level": {"provincial": 0.5, "city": 0.5}}]
    extra = {"c_a": {"interest_subsidy_rate": 0.02, "interest_subsidy_years": 2,
                     "interest_subsidy_payer": "split"},
             "g_small": {"interest_subsidy_rate": 0.01},
             "i_a": {"premium_subsidy_rate": 0.8, "premium_subsidy_payer": "central_budget"}}
    for c in d["cohorts"]:
        c.update(extra.get(c["name"], {}))
    return d


SCENARIOS["four_supports"] = (four_supports(), fires(every_public_flow=True))


def edges() -> dict:
    return {
        "simulation": {"paths": 60, "seed": 3, "horizon_years": 3},
        "cohorts": [
            {"name": "i0", "loans": 100, "exposure": 1e6, "pd": 0.1, "lgd": 0.5, "rho": 0.2,
             "product": "insured", "insurer": "z", "growth": 0.2},
            {"name": "i1", "loans": 100, "exposure": 1e6, "pd": 0.0, "lgd": 0.5, "rho": 0.2,
             "product": "insured", "insurer": "q"},
            {"name": "g", "loans": 100, "exposure": 1e6, "pd": 0.1, "lgd": 0.5, "rho": 0.2,
             "product": "guaranteed", "guarantor": "g", "growth": 0.2},
            {"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.1, "lgd": 0.5, "rho": 0.2,
             "pool": "p", "growth": 0.2}],
        "insurers": [{"name": "z", "premium_rate": 0.0, "suspend_loss_ratio": 5.0},
                     {"name": "q", "premium_rate": 0.0}],
        "guarantors": [{"name": "g", "net_assets": 1e8}],
        "pools": [{"name": "p", "cash": 0.0, "leverage_target": 5.0}],
        "policy": {"sharing": {"national_fund": 0.0, "reguarantor": 0.2, "guarantor": 0.4, "bank": 0.2,
                               "government": 0.2},
                   "national_fund_credit_line": 1e7, "national_fund_credit_line_mode": "stop"}}


SCENARIOS["edges"] = (edges(), fires(insurer_suspended=True, removed_suspension=True, removed_target=True,
                                     pool_unpaid=True, nf_binds=False, line_moved=False))


def insurance(mode: str, **pool) -> dict:
    return {
        "simulation": {"paths": 100, "seed": 21, "horizon_years": 4},
        "cohorts": [
            {"name": "ia1", "loans": 150, "exposure": 1e6, "pd": 0.08, "lgd": 0.6, "rho": 0.25,
             "product": "insured", "insurer": "ia", "bank": "b1", "growth": 0.3, "term_years": 1},
            {"name": "ib1", "loans": 100, "exposure": 2e6, "pd": 0.05, "lgd": 0.8, "rho": 0.25,
             "product": "insured", "insurer": "ib", "bank": "b2", "premium_rate": 0.01},
            {"name": "ib0", "loans": 20, "exposure": 1e6, "pd": 0.05, "lgd": 0.8, "rho": 0.25,
             "product": "insured", "insurer": "ib", "bank": "b2", "premium_rate": 0.0},
        ],
        "banks": [{"name": "b1"}, {"name": "b2"}],
        "insurers": [{"name": "ia", "suspend_loss_ratio": 0.8}, {"name": "ib", "premium_rate": 0.025}],
        "insurance_pool": {"mode": mode, "cash": 6e6, "premium_subsidy": 0.4, "annual_top_up": 1e6,
                           "interest_rate": 0.03, **pool},
        "policy": {"insured_sharing": {"bank": 0.2, "insurer": 0.8}},
    }


for _mode in ("stop_loss", "quota_share", "none"):
    SCENARIOS[f"insurance_{_mode}"] = (insurance(_mode), fires(
        premium_subsidy=True, ipool_unpaid=True, insurer_suspended=True, removed_suspension=True))
SCENARIOS["insurance_premium_subsidy_mode"] = (insurance("premium_subsidy", pi=0.5, premium_subsidy=0.0),
                                               fires(premium_subsidy=True))


def pools_two_banks(**pool) -> dict:
    return {
        "simulation": {"paths": 150, "seed": 31, "horizon_years": 5},
        "cohorts": [
            {"name": "k1", "loans": 150, "exposure": 1e6, "pd": 0.06, "lgd": 0.7, "rho": 0.25,
             "pool": "kv", "bank": "b1", "term_years": 1, "growth": 0.2},
            {"name": "k2", "loans": 150, "exposure": 1e6, "pd": 0.02, "lgd": 0.7, "rho": 0.25,
             "pool": "kv", "bank": "b2", "term_years": 2, "first_loan": True},
            {"name": "k3", "loans": 80, "exposure": 5e5, "pd": 0.04, "lgd": 0.7, "rho": 0.25,
             "pool": "sme", "bank": "b2", "growth": 0.4},
        ],
        "banks": [{"name": "b1", "write_off_years": 3, "growth_slowdown_after_breach": 0.5},
                  {"name": "b2", "write_off_years": 0, "growth_slowdown_after_breach": 0.5}],
        "pools": [{"name": "kv", "preset": "knowledge_value", "cash": 3e6, "stop_npl": 0.05, "warn_npl": 0.03,
                   "annual_top_up": 5e5, "interest_rate": 0.02, **pool},
                  {"name": "sme", "preset": "provincial_sme", "cash": 4e6, "leverage_target": 12,
                   "share": 0.9, "cumulative_cap_share": 0.5, "corridor": [0.005, 0.08], "annual_cap": 1e6}],
        "policy": {"claim_lag_days": 200},
    }


SCENARIOS["pool_stop_npl_two_banks"] = (pools_two_banks(), fires(
    pool_suspended=True, removed_npl_stop=True, pool_unpaid=True, removed_slowdown=True, removed_target=True))
# the stopping pool second in the list: its own lending_removed column (not the first pool's)
_d = pools_two_banks()
_d["pools"] = _d["pools"][::-1]
SCENARIOS["pool_stop_npl_second_pool"] = (_d, fires(pool_suspended=True, removed_npl_stop=True))
# without lending feedback the stops are reported but remove nothing (reading R11)
SCENARIOS["pool_stop_npl_feedback_off"] = (
    with_(pools_two_banks(), policy__merge={"lending_feedback": False}),
    fires(pool_suspended=True, npl_breach=True, any_removed=False))
SCENARIOS["insurer_suspension_feedback_off"] = (
    with_(insurance("stop_loss"), policy__merge={"lending_feedback": False}),
    fires(insurer_suspended=True, any_removed=False))

# write-off years, lags and recoveries
for _w in (0, 1, 3):
    for _lags, _timing in (((0, 0), "immediate"), ((90, 90), "curve"), ((365, 35), "curve"),
                           ((300, 100), "immediate")):
        if _w != 1 and _lags != (90, 90):
            continue
        _d = with_(every_product(claim_lag_days=_lags[0], reimbursement_lag_days=_lags[1],
                                 recovery_timing=_timing, recovery_theta_years=1.5),
                   banks=[{"name": "b1", "write_off_years": _w, "growth_slowdown_after_breach": 0.2},
                          {"name": "b2", "write_off_years": _w}])
        _d["simulation"]["paths"] = 30
        SCENARIOS[f"writeoff{_w}_lags{_lags[0]}+{_lags[1]}_{_timing}"] = (_d, fires())


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_engine_matches_reference(name):
    d, expected = SCENARIOS[name]
    res, ref, book = run(d, paths=d["simulation"]["paths"])
    got = mech(res)
    for flag, want in expected.items():
        assert got[flag] == want, f"{name}: the scenario should make {flag} {want} (it did not)"
    assert_matches(res, ref, book)


# ------------------------------------------------------------------------------ random

def random_scenario(seed: int) -> dict:
    """A scenario with every table drawn from ``seed`` (numpy's generator: fixed, bounded)."""
    rng = np.random.default_rng(seed)
    u = rng.uniform

    def pick(xs):
        return xs[int(rng.integers(len(xs)))]

    H = int(rng.integers(1, 6))
    banks = [{"name": f"b{k}", "overall_npl_tolerance": float(u(0.0, 0.05)), "tech_extra": float(u(0, 0.03)),
              "growth_slowdown_after_breach": float(pick([0.0, u(0, 1)])),
              "write_off_years": int(rng.integers(0, 4))} for k in range(2)]
    ng, npool, ni = (int(rng.integers(1, 3)) for _ in range(3))
    guarantors = [{"name": f"g{k}", "net_assets": float(pick([u(-1e6, 0), u(1e6, 3e7), u(3e7, 3e8)])),
                   "fee_rate": float(u(0, 0.02)), "fee_subsidy_rate": float(u(0, 0.01)),
                   "capital_injection": float(pick([0.0, u(0, 5e6)])), "investment_yield": float(u(-0.02, 0.06)),
                   "operating_cost_rate": float(u(0, 0.01)), "leverage_cap": float(pick([10.0, 15.0, u(1, 20)]))}
                  for k in range(ng)]
    pools = []
    for k in range(npool):
        p = {"name": f"p{k}", "cash": float(pick([0.0, u(0, 5e6), u(5e6, 1e8)])), "share": float(u(0.2, 0.6)),
             "first_loan_bonus": float(u(0, 0.1)), "cumulative_cap_share": float(u(0.2, 1.0)),
             "annual_top_up": float(pick([0.0, u(0, 5e6)])), "interest_rate": float(u(-0.02, 0.05)),
             "leverage_target": pick([None, float(u(1, 50))])}
        if rng.random() < 0.4:
            a = float(u(0, 0.05))
            p["corridor"] = [a, float(a + u(0.01, 0.3))]
        if rng.random() < 0.4:
            p["annual_cap"] = float(u(0, 5e6))
        if rng.random() < 0.5:
            p["stop_npl"] = float(u(0.0, 0.15))
            p["warn_npl"] = float(u(0.0, 0.1))
        pools.append(p)
    insurers = [{"name": f"i{k}", "premium_rate": float(u(0, 0.05)),
                 "suspend_loss_ratio": pick([None, float(u(0.2, 3.0))])} for k in range(ni)]
    cohorts = []
    for c in range(int(rng.integers(2, 8))):
        product = pick(["credit", "guaranteed", "insured"])
        single = rng.random() < 0.15
        row = {"name": f"c{c}", "loans": int(rng.integers(1, 40 if single else 300)),
               "exposure": float(pick([u(1e5, 5e6), u(5e6, 5e7)])), "pd": float(u(0, 0.25)),
               "lgd": float(u(0.1, 1.0)), "rho": float(u(0, 0.4)), "product": product,
               "bank": pick(["b0", "b1"])}
        if rng.random() < 0.3 and 0.05 < row["lgd"] < 0.95:
            row["lgd_std"] = 0.5 * math.sqrt(row["lgd"] * (1 - row["lgd"]))
        if single:
            row["mode"] = "loans"
        else:
            if rng.random() < 0.6:
                row["term_years"] = int(rng.integers(1, 4))
                row["amortization"] = pick(["bullet", "linear"])
                row["rollover"] = bool(rng.random() < 0.8)
            row["growth"] = float(pick([0.0, u(-0.5, 0.6)]))
        if product == "guaranteed":
            row["guarantor"] = pick([g["name"] for g in guarantors])
            row["small_micro"] = bool(rng.random() < 0.7)
        elif product == "insured":
            row["insurer"] = pick([i["name"] for i in insurers])
            if rng.random() < 0.5:
                row["premium_rate"] = float(u(0, 0.05))
        elif rng.random() < 0.8:
            row["pool"] = pick([p["name"] for p in pools])
            row["first_loan"] = bool(rng.random() < 0.5)
        cohorts.append(row)
    policy = {"sharing": pick(["hubei_4222", "national_tech_4222", "hubei_4321",
                               {"national_fund": 0.3, "reguarantor": 0.0, "guarantor": 0.0, "bank": 0.5,
                                "government": 0.2}]),
              "claim_lag_days": float(pick([0.0, 90.0, 365.0, u(0, 365)])),
              "reimbursement_lag_days": float(pick([0.0, 90.0, 35.0, u(0, 365)])),
              "recovery_timing": pick(["curve", "immediate"]), "recovery_theta_years": float(u(0.3, 4)),
              "national_fund_borrower_cap": float(pick([3e7, u(1e6, 3e7)])),
              "national_fund_payout_cap": float(u(0.005, 0.3)),
              "national_fund_excess": pick(["reallocate", "suspend"]),
              "national_fund_payout_basis": pick(["released", "in_force"]),
              "national_fund_credit_line_mode": pick(["shift", "stop"]),
              "national_fund_fee_rate": float(u(0, 0.01)), "national_fund_fee_rate_small": float(u(0, 0.005)),
              "small_loan_limit": float(pick([5e6, u(1e5, 3e7)])), "small_micro_weight": float(u(0.3, 1.0)),
              "insured_sharing": pick([{"bank": 0.3, "insurer": 0.7}, {"bank": 0.2, "insurer": 0.8}]),
              "discount_rate": float(u(0, 0.08)), "lending_feedback": bool(rng.random() < 0.75)}
    if rng.random() < 0.5:
        policy["national_fund_credit_line"] = float(u(1e7, 3e9))
    gov = {}
    if rng.random() < 0.6:
        gov["fund"] = float(u(0, 3e7))
        gov["annual_budget"] = float(pick([0.0, u(0, 1e7)]))
    if rng.random() < 0.5:
        gov["annual_cap"] = float(u(0, 2e7))
    reg = {"net_assets": float(pick([5e9, u(1e6, 5e7), u(-1e6, 0)])), "fee_rate": float(u(0, 0.01)),
           "fee_subsidy_rate": float(u(0, 0.005)), "capital_injection": float(pick([0.0, u(0, 1e7)])),
           "investment_yield": float(u(0, 0.05)), "operating_cost_rate": float(u(0, 0.005)),
           "leverage_cap": float(pick([10.0, u(1, 20)]))}
    ipool = {"cash": float(pick([1e9, u(0, 2e7)])),
             "mode": pick(["stop_loss", "quota_share", "none", "premium_subsidy"]),
             "beta": float(u(0.2, 1.0)), "theta": float(u(0, 2.0)), "premium_subsidy": float(pick([0.0, u(0, 0.6)])),
             "pi": float(u(0, 0.5)), "annual_top_up": float(pick([0.0, u(0, 5e6)])),
             "interest_rate": float(u(0, 0.05))}
    # public money outside credit losses (drawn from a second generator, so that the tables
    # above are those drawn before it existed)
    r2 = np.random.default_rng(seed + 7919)
    for row in cohorts:
        if r2.random() < 0.5:
            row["interest_subsidy_rate"] = float(r2.uniform(0, 0.03))
            row["interest_subsidy_years"] = int(r2.integers(1, 6))
        if row["product"] == "insured" and r2.random() < 0.5:
            row["premium_subsidy_rate"] = float(r2.uniform(0, 1))
            row["premium_subsidy_payer"] = "central_budget"
    for x in guarantors + [reg]:
        x["capital_top_up"] = ["none", "restore", "leverage"][int(r2.integers(3))]
        x["top_up_leverage"] = float(r2.uniform(0.5, 20))
        x["payout_compensation_rate"] = float(r2.uniform(0, 0.5)) if r2.random() < 0.5 else 0.0
        x["business_reward_rate"] = float(r2.uniform(0, 0.01)) if r2.random() < 0.5 else 0.0
    return {"simulation": {"paths": 40, "seed": int(rng.integers(1, 10**6)), "horizon_years": H},
            "cohorts": cohorts, "banks": banks, "guarantors": guarantors, "pools": pools,
            "insurers": insurers, "policy": policy, "government": gov, "reguarantor": reg,
            "insurance_pool": ipool}


@pytest.mark.parametrize("seed", [2, 5, 13, 40, 59, 73, 90, 100])
def test_random_scenarios_match_reference(seed):
    d = random_scenario(seed)
    res, ref, book = run(d, paths=100)
    assert_matches(res, ref, book)


# ------------------------------------------------------------------------------ the plan's inputs

def test_routes_follow_the_spec():
    """The per-segment inputs the reference consumes, read off the scenario by POLICY.md: the
    borrower cap (step 1), small and micro weights, national-fund fee rates, premium rates,
    pool shares with the first-loan bonus, insured sharing, renewed (no-term) cohorts, lags in
    years and the recovery schedule (defaults uniform in the year, 1 - exp(-t/theta))."""
    d = every_product(claim_lag_days=120, reimbursement_lag_days=200, recovery_theta_years=1.7,
                      national_fund_borrower_cap=2e7, small_loan_limit=1e6, small_micro_weight=0.6,
                      national_fund_fee_rate=0.004, national_fund_fee_rate_small=0.002,
                      insured_sharing={"bank": 0.25, "insurer": 0.75}, sharing="hubei_4321")
    sc = simpool.load_scenario(d)
    wf = plan(sc).waterfall
    r = wf.routes
    base = {"national_fund": 0.2, "reguarantor": 0.2, "guarantor": 0.3, "bank": 0.2, "government": 0.1}
    pools = {p["name"]: p for p in d["pools"]}
    insurers = {i["name"]: i for i in d["insurers"]}
    for s, c in enumerate(d["cohorts"]):
        assert wf.segment_names[s] == c["name"]
        product = c.get("product", "credit")
        assert int(r.product[s]) == ("credit", "guaranteed", "insured").index(product)
        if product == "guaranteed":
            keep = min(1.0, 2e7 / c["exposure"])
            want = [0.2 * keep, 0.2, 0.3 + 0.2 * (1 - keep), 0.2, 0.1]
            np.testing.assert_allclose(r.shares[s], want, rtol=1e-12)
            small = c["exposure"] <= 1e6  # (g_small's loans are exactly at the limit: small)
            assert r.weight[s] == pytest.approx(0.6 if (small and c.get("small_micro", True)) else 1.0)
            assert r.nf_fee_rate[s] == pytest.approx(0.002 if small else 0.004)
            assert bool(r.renewed[s]) == ("term_years" not in c and c.get("mode") != "loans")
            assert wf.guarantor_names[int(r.guarantor[s])] == c["guarantor"]
        elif product == "insured":
            np.testing.assert_allclose(r.shares[s], [0, 0, 0.75, 0.25, 0], rtol=1e-12)
            want = c.get("premium_rate", insurers[c["insurer"]].get("premium_rate", 0.02))
            assert r.premium_rate[s] == pytest.approx(want)
            assert wf.insurer_names[int(r.insurer[s])] == c["insurer"]
        else:
            np.testing.assert_allclose(r.shares[s], [0, 0, 0, 1, 0])
            if "pool" in c:
                pool = pools[c["pool"]]
                want = pool.get("share", 0.4) + (pool.get("first_loan_bonus", 0.05) if c.get("first_loan") else 0.0)
                assert r.pool_share[s] == pytest.approx(want)
                assert wf.pool_names[int(r.pool[s])] == c["pool"]
            else:
                assert int(r.pool[s]) == -1
        assert wf.bank_names[int(r.bank[s])] == c["bank"]
        assert r.balance0[s] == pytest.approx(c["loans"] * c["exposure"])
        # inputs of other routes are zero (never a stray value the kernel might read)
        if product != "guaranteed":
            assert r.weight[s] == 0.0 and r.nf_fee_rate[s] == 0.0
        if product != "insured":
            assert r.premium_rate[s] == 0.0
        if "pool" not in c or product != "credit":
            assert r.pool_share[s] == 0.0
    assert r.lag_claim == pytest.approx(120 / 365)
    assert r.lag_reimb == pytest.approx(200 / 365)
    theta = 1.7
    for j in range(len(r.recoveries)):
        # received by the end of year j after the default year: E_u[1 - exp(-(j + 1 - u)/theta)]
        cum = 1 - theta * (math.exp(-j / theta) - math.exp(-(j + 1) / theta))
        assert float(np.sum(r.recoveries[: j + 1])) == pytest.approx(cum, rel=1e-12)
    imm = plan(simpool.load_scenario(with_(d, policy__merge={"recovery_timing": "immediate"}))).waterfall
    assert imm.routes.recoveries[0] == 1.0 and not imm.routes.recoveries[1:].any()


# ------------------------------------------------------------------------------ findings

def test_finding_yield_after_the_years_payouts():
    """F1: one year, yield 10%: NA_1 = (NA_0 - cash loss) (1 + yield) + (fee - cost + subsidy)
    B + injection - fees; the opening-balance reading differs by yield x the cash loss."""
    d = with_(guaranteed_only(), guarantors=[{"name": "g0", "net_assets": 3e7, "investment_yield": 0.1},
                                             {"name": "g1", "net_assets": 6e7, "investment_yield": 0.1}],
              reguarantor={"investment_yield": 0.1})
    res, ref, book = run(d, paths=20)
    assert_matches(res, ref, book, names=("guarantor_net_assets",))
    other = wref.reference_waterfall(res._wf, book, res._raw, yield_after_payouts=False)
    assert not np.allclose(other["guarantor_net_assets"], res._raw["guarantor_net_assets"])


def test_finding_pool_without_leverage_target_and_without_cash():
    """F2: leverage_target = none is no limit, even with no cash."""
    d = {"simulation": {"paths": 5, "seed": 1, "horizon_years": 3},
         "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.0, "lgd": 0.5, "rho": 0.1,
                      "pool": "p", "growth": 0.2}],
         "pools": [{"name": "p", "cash": 0.0, "leverage_target": None}]}
    res, ref, book = run(d, paths=5)
    assert not ref["lending_removed"].any()  # the spec: nothing removed, the book grows 20% a year
    assert_matches(res, ref, book, names=("lending_removed", "product_balance"))


def test_finding_loss_ratio_without_premium():
    """F3: claims over no premium: an infinite loss ratio, which suspends the insurer."""
    res, ref, book = run(edges(), paths=20)
    assert res._raw["insurer_suspended"][:, :, 0].any()  # suspended: its ratio was above 5
    assert np.isinf(res._raw["insurer_loss_ratio"][:, :, 0]).any()
    assert_matches(res, ref, book, names=("insurer_loss_ratio",))
