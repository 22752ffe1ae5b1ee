"""The policy waterfall against hand-computed cases, conservation and an exact depletion law.

Hand cases use loans that default for certain (pd = 1) in the first year, so every path is
the same and each party's loss can be worked out on paper (POLICY.md gives the rules).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr, ndtri

import simpool
from simpool.errors import ScenarioError
from simpool.engine.waterfall_plan import recovery_schedule

ROOT = Path(__file__).resolve().parents[1]
FLAT = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}


def one_loan(product="guaranteed", exposure=100.0, lgd=0.7, horizon=1, policy=None, **extra):
    """One loan defaulting for certain in year one; lags 0, immediate recoveries."""
    pol = {"claim_lag_days": 0, "reimbursement_lag_days": 0, "recovery_timing": "immediate",
           "national_fund_payout_cap": 1.0}
    pol.update(policy or {})
    cohort = {"name": "loan", "loans": 1, "exposure": exposure, "pd": 1.0, "lgd": lgd, "rho": 0.0,
              "product": product}
    cohort.update(extra.pop("cohort", {}))
    d = {"simulation": {"paths": 50, "seed": 1, "horizon_years": horizon},
         "cohorts": [cohort], "policy": pol, "reguarantor": dict(FLAT)}
    if product == "guaranteed":
        d["guarantors"] = [{"name": "g", "net_assets": 1000.0, **FLAT}]
    if product == "insured":
        d["insurers"] = [{"name": "ins"}]
    d.update(extra)
    return simpool.simulate(simpool.load_scenario(d))


def losses(res, year=None):
    return {p: float(res.samples(p, year)[0]) for p in res.parties}


def assert_all_paths_equal(res):
    for p in res.parties:
        s = res.samples(p)
        assert np.all(s == s[0]), p


@pytest.mark.parametrize("name, expected", [
    ("worked_4222", {"bank": 14, "guarantor": 14, "reguarantor": 14, "national_fund": 14, "government": 14}),
    ("worked_4321", {"bank": 14, "guarantor": 21, "reguarantor": 14, "national_fund": 14, "government": 7}),
])
def test_worked_examples(name, expected):
    res = simpool.simulate(simpool.load_scenario(ROOT / "scenarios" / "examples" / f"{name}.toml"))
    for party, value in expected.items():
        np.testing.assert_allclose(res.samples(party), value, rtol=1e-12)
        # ultimately, and on the guaranteed programme alone, the same (every recovery is in)
        np.testing.assert_allclose(res.samples(party, basis="ultimate"), value, rtol=1e-12)
        np.testing.assert_allclose(res.samples(party, basis="ultimate", product="guaranteed"),
                                   value, rtol=1e-12)
        np.testing.assert_allclose(res.samples(party, product="credit"), 0.0, atol=0)
    np.testing.assert_allclose(res.samples("gross", product="guaranteed"), 70.0, rtol=1e-12)
    np.testing.assert_allclose(res.samples("net"), 70.0, rtol=1e-12)
    np.testing.assert_allclose(res.samples("gross"), 70.0, rtol=1e-12)


def test_national_tech_preset_and_custom_sharing():
    res = one_loan(policy={"sharing": "national_tech_4222"})
    assert losses(res) == pytest.approx({"bank": 14, "guarantor": 14, "reguarantor": 14,
                                         "national_fund": 28, "government": 0}, abs=1e-9)
    res = one_loan(policy={"sharing": {"national_fund": 0.1, "reguarantor": 0.1, "guarantor": 0.4,
                                       "bank": 0.3, "government": 0.1}})
    assert losses(res) == pytest.approx({"bank": 21, "guarantor": 28, "reguarantor": 7,
                                         "national_fund": 7, "government": 7}, abs=1e-9)


def test_sharing_validation():
    base = {"cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.1, "lgd": 0.5, "rho": 0.1}]}
    with pytest.raises(ScenarioError, match="shares must sum to 1, got 0.9"):
        simpool.load_scenario({**base, "policy": {"sharing": {
            "national_fund": 0.2, "reguarantor": 0.2, "guarantor": 0.2, "bank": 0.2, "government": 0.1}}})
    with pytest.raises(ScenarioError, match="bank share must be >= 0.2"):
        simpool.load_scenario({**base, "policy": {"sharing": {
            "national_fund": 0.3, "reguarantor": 0.2, "guarantor": 0.4, "bank": 0.1, "government": 0.0}}})
    simpool.load_scenario({**base, "policy": {"sharing": {
        "national_fund": 0.3, "reguarantor": 0.2, "guarantor": 0.4, "bank": 0.1, "government": 0.0,
        "allow_bank_below_20": True}}})
    with pytest.raises(ScenarioError, match="must be one of 'hubei_4222', 'national_tech_4222' or 'hubei_4321'"):
        simpool.load_scenario({**base, "policy": {"sharing": "hubei_4333"}})


def test_routes_need_their_entities():
    base = {"cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.1, "lgd": 0.5, "rho": 0.1,
                         "product": "guaranteed"}]}
    with pytest.raises(ScenarioError, match=r"cohorts.c.guarantor: required: name one of \[\[guarantors\]\] \(none is defined\)"):
        simpool.load_scenario(base)
    with pytest.raises(ScenarioError, match="unknown pool 'poool' \\(did you mean 'pool'\\?\\)"):
        simpool.load_scenario({"cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.1, "lgd": 0.5,
                                            "rho": 0.1, "pool": "poool"}],
                               "pools": [{"name": "pool", "cash": 1}]})


def test_borrower_cap_moves_the_national_funds_excess_to_the_guarantor():
    # exposure 100, cap 50: the national fund covers half its 20% -> 10% of the loss
    res = one_loan(policy={"national_fund_borrower_cap": 50.0})
    assert losses(res) == pytest.approx({"bank": 14, "guarantor": 21, "reguarantor": 14,
                                         "national_fund": 7, "government": 14}, abs=1e-9)


def test_payout_cap_reallocates_the_excess():
    # in force 100 x 0.2 = 20; cap 5% -> the fund pays 1 of its 20 before recoveries; the 19
    # above go to re-guarantor, guarantor and government pro rata (1/3 each); recoveries 30%
    res = one_loan(policy={"national_fund_payout_cap": 0.05})
    third = (20 + 19 / 3) * 0.7
    assert losses(res) == pytest.approx({"bank": 14, "guarantor": third, "reguarantor": third,
                                         "national_fund": 0.7, "government": third}, abs=1e-9)
    assert res._raw["nf_payout_rate"][0, 0] == pytest.approx(0.05)


def test_payout_cap_suspend_pays_in_full():
    res = one_loan(policy={"national_fund_payout_cap": 0.05, "national_fund_excess": "suspend"})
    assert losses(res)["national_fund"] == pytest.approx(14)
    assert res._raw["nf_payout_rate"][0, 0] == pytest.approx(1.0)


def test_government_annual_cap_leaves_the_rest_with_the_guarantor():
    res = one_loan(government={"annual_cap": 5.0})
    # government pays 5 of its 20 (before recoveries): 3.5 net; guarantor 20 + 15 -> 24.5
    assert losses(res) == pytest.approx({"bank": 14, "guarantor": 24.5, "reguarantor": 14,
                                         "national_fund": 14, "government": 3.5}, abs=1e-9)
    res = one_loan(government={"fund": 8.0})
    assert losses(res)["government"] == pytest.approx(8 * 0.7)


def test_insolvent_guarantor_share_falls_on_the_bank():
    d = one_loan(guarantors=[{"name": "g", "net_assets": -1.0, **FLAT}])
    assert losses(d) == pytest.approx({"bank": 28, "guarantor": 0, "reguarantor": 14,
                                       "national_fund": 14, "government": 14}, abs=1e-9)


def test_lags_move_cash_between_years():
    # claim lag half a year, reimbursement lag half a year: defaults uniform in the year, so
    # half the claim is paid in year 1 and half in year 2; all reimbursements in year 2
    res = one_loan(horizon=2, lgd=1.0, policy={"claim_lag_days": 182.5, "reimbursement_lag_days": 182.5})
    y1, y2 = losses(res, 2025), losses(res, 2026)
    assert y1 == pytest.approx({"bank": 100 - 40, "guarantor": 40, "reguarantor": 0,
                                "national_fund": 0, "government": 0}, abs=1e-9)
    assert y2 == pytest.approx({"bank": -40, "guarantor": 40 - 60, "reguarantor": 20,
                                "national_fund": 20, "government": 20}, abs=1e-9)
    assert losses(res) == pytest.approx({p: 20 for p in res.parties}, abs=1e-9)


def test_recovery_curve_and_pending():
    theta = 2.0
    sched = recovery_schedule(3, "curve", theta)
    # received by the end of year j: E_u[1 - exp(-(j + 1 - u)/theta)], u ~ U(0, 1)
    for j in range(4):
        want = 1 - theta * (math.exp(-j / theta) - math.exp(-(j + 1) / theta))
        assert sched[: j + 1].sum() == pytest.approx(want, rel=1e-12)
    res = one_loan(horizon=3, lgd=0.7, policy={"recovery_timing": "curve", "recovery_theta_years": theta})
    received = 30 * sched[:3].sum()
    assert float(res.samples("net")[0]) == pytest.approx(100 - received)
    assert float(res.samples("pending_recoveries")[0]) == pytest.approx(30 - received)
    assert float(res.samples("bank")[0]) == pytest.approx(0.2 * (100 - received))


def test_compensation_pool_pays_its_share_until_empty():
    pool = {"name": "p", "cash": 1000.0, "share": 0.4}
    res = one_loan(product="credit", cohort={"pool": "p"}, pools=[pool])
    assert losses(res) == pytest.approx({"bank": 42, "compensation_pool": 28}, abs=1e-9)
    res = one_loan(product="credit", cohort={"pool": "p", "first_loan": True}, pools=[pool])
    assert losses(res)["compensation_pool"] == pytest.approx(0.45 * 70)
    # cash 10: pays 10 of the 40 it owes; recoveries return pro rata (10%)
    res = one_loan(product="credit", cohort={"pool": "p"}, pools=[{**pool, "cash": 10.0}])
    assert losses(res) == pytest.approx({"bank": 63, "compensation_pool": 7}, abs=1e-9)
    assert res._raw["pool_unpaid"][0, 0, 0] == pytest.approx(30)
    df = res.summary()
    dep = df[(df.measure == "pool:p") & (df.statistic == "P(depleted by year)")]
    assert dep["value"].tolist() == [1.0]
    assert res.pool_balance("p")[0].tolist() == pytest.approx([10.0, 3.0])


def test_pool_corridor():
    # 100 loans of 100, all default: B = 10,000, losses 10,000; corridor [1%, 5%] -> 400 of
    # losses inside; the pool pays 40% of them = 160, and gets 30% back
    res = one_loan(product="credit", cohort={"pool": "p", "loans": 100},
                   pools=[{"name": "p", "cash": 1e6, "share": 0.4, "corridor": [0.01, 0.05]}])
    assert losses(res)["compensation_pool"] == pytest.approx(160 * 0.7)


def test_insurance_pool_modes():
    # insured: bank 30%, insurer 70% (no national fund, re-guarantor or government); the
    # insurer pays the bank 70 and the pool reimburses half of it; recoveries 30%
    res = one_loan(product="insured", insurance_pool={"mode": "quota_share", "beta": 0.5})
    assert res.parties == ["bank", "insurer", "insurance_pool"]
    assert losses(res) == pytest.approx({"bank": 21, "insurer": 24.5, "insurance_pool": 24.5},
                                        abs=1e-9)
    # stop loss: premium 2% of 100 = 2, attachment 1 x premium -> pays 0.5 x (70 - 2) = 34
    res = one_loan(product="insured", insurance_pool={"mode": "stop_loss", "beta": 0.5, "theta": 1.0})
    assert losses(res) == pytest.approx({"bank": 21, "insurer": 36 * 0.7,
                                         "insurance_pool": 34 * 0.7}, abs=1e-9)
    assert res._raw["insurer_loss_ratio"][0, 0, 0] == pytest.approx(35.0)
    res = one_loan(product="insured", insurance_pool={"mode": "none"})
    assert losses(res) == pytest.approx({"bank": 21, "insurer": 49, "insurance_pool": 0}, abs=1e-9)
    # the older spelling: mode premium_subsidy with pi = no claims paid, pi of premium
    res = one_loan(product="insured", insurance_pool={"mode": "premium_subsidy", "pi": 0.5})
    assert losses(res)["insurance_pool"] == 0.0
    assert res._raw["premium_subsidy"][0, 0] == pytest.approx(1.0)


def test_npl_breach_probability():
    res = one_loan(product="credit", banks=[{"name": "b1", "overall_npl_tolerance": 0.02, "tech_extra": 0.03}])
    df = res.summary()
    row = df[(df.measure == "bank:b1") & df.statistic.str.startswith("P(NPL>")]
    assert row["value"].tolist() == [1.0] and row["param"].tolist() == [0.05]
    row = df[(df.measure == "bank:b1") & (df.statistic == "NPL ratio (stock)")]
    assert row["value"].tolist() == [1.0]


def test_stop_npl_stops_new_loans_not_compensation():
    """A pool's stop level stops the bank's new eligible loans (POLICY.md), never its
    payments: a bank above it at a year's end lends nothing new the next year, and the pool
    keeps paying its share of every default, in every year."""
    sc = {"simulation": {"paths": 3000, "seed": 5, "horizon_years": 4},
          "cohorts": [{"name": "c", "loans": 200, "exposure": 1.0, "pd": 0.1, "lgd": 1.0, "rho": 0.2,
                       "pool": "p", "growth": 0.5}],
          "pools": [{"name": "p", "cash": 1e9, "share": 0.5, "stop_npl": 0.0,
                     "leverage_target": None}],
          "policy": {"claim_lag_days": 0, "recovery_timing": "immediate"}}
    res = simpool.simulate(simpool.load_scenario(sc))
    raw = res._raw
    pool = np.stack([res.samples("compensation_pool", y) for y in res.years], axis=1)
    d = raw["loss"]
    np.testing.assert_allclose(pool, 0.5 * d, rtol=1e-12)  # compensation goes on
    stopped = raw["pool_bank_npl"][:, :, 0, 0] > 0.0  # any default: above a stop of 0
    np.testing.assert_array_equal(raw["pool_suspended"][:, :, 0], stopped)
    removed = raw["lending_removed"][:, :, 2]  # by pool:p NPL stop (guarantors 0, reg, lev)
    for y in range(1, 4):
        planned = removed[:, y] + (res._raw["segment_balance"][:, y, 0]
                                   - res._raw["segment_balance_end"][:, y - 1, 0])
        # a stopped bank makes none of its new loans; the others all of theirs
        assert np.all(removed[stopped[:, y - 1], y] > 0)
        assert np.all(removed[~stopped[:, y - 1], y] == 0)
        np.testing.assert_allclose(planned[stopped[:, y - 1]], removed[stopped[:, y - 1], y])


def scenario_strategy():
    product = st.sampled_from(["credit", "guaranteed", "insured"])
    cohort = st.fixed_dictionaries({
        "loans": st.integers(1, 300), "exposure": st.floats(1e4, 1e7), "pd": st.floats(0.0, 0.3),
        "lgd": st.floats(0.0, 1.0), "rho": st.floats(0.0, 0.5), "product": product,
        "first_loan": st.booleans(), "pooled": st.booleans()})
    return st.fixed_dictionaries({
        "cohorts": st.lists(cohort, min_size=1, max_size=4),
        "horizon": st.integers(1, 4),
        "sharing": st.sampled_from(["hubei_4222", "national_tech_4222", "hubei_4321"]),
        "claim_lag": st.floats(0, 365), "reimb_lag": st.floats(0, 365),
        "timing": st.sampled_from(["curve", "immediate"]),
        "pool_cash": st.floats(0, 1e8), "guar_na": st.floats(-1e6, 1e8),
        "gov_cap": st.one_of(st.none(), st.floats(0, 1e7)),
        "nf_cap": st.floats(0.01, 1.0), "excess": st.sampled_from(["reallocate", "suspend"]),
        "ip_mode": st.sampled_from(["stop_loss", "quota_share", "premium_subsidy", "none"]),
        "subsidy": st.floats(0.0, 1.0),
        "corridor": st.one_of(st.none(), st.just([0.01, 0.05])),
        "basis": st.sampled_from(["released", "in_force"]),
        "line": st.one_of(st.none(), st.floats(0, 1e9)),
        "line_mode": st.sampled_from(["shift", "stop"]),
        "write_off": st.integers(0, 3),
        "suspend": st.one_of(st.none(), st.floats(0.1, 3.0)),
        "term": st.one_of(st.none(), st.integers(1, 3)),
        "growth": st.floats(0.0, 0.5),
        "stop_npl": st.one_of(st.none(), st.floats(0.0, 0.2)),
    })


@settings(max_examples=25, deadline=None)
@given(spec=scenario_strategy())
def test_conservation_and_bounds_on_generated_scenarios(spec):
    cohorts = []
    for i, c in enumerate(spec["cohorts"]):
        row = {k: c[k] for k in ("loans", "exposure", "pd", "lgd", "rho", "product")}
        row["name"] = f"c{i}"
        row["growth"] = spec["growth"]
        if spec["term"] is not None and i % 2:
            row["term_years"] = spec["term"]
        if c["product"] == "credit" and c["pooled"]:
            row["pool"] = "p"
            row["first_loan"] = c["first_loan"]
        cohorts.append(row)
    sc = simpool.load_scenario({
        "simulation": {"paths": 300, "seed": 7, "horizon_years": spec["horizon"]},
        "cohorts": cohorts,
        "guarantors": [{"name": "g", "net_assets": spec["guar_na"]}],
        "insurers": [{"name": "i", "suspend_loss_ratio": spec["suspend"]}],
        "banks": [{"name": "b", "write_off_years": spec["write_off"]}],
        "pools": [{"name": "p", "cash": spec["pool_cash"], "corridor": spec["corridor"],
                   "stop_npl": spec["stop_npl"]}],
        "government": {"annual_cap": spec["gov_cap"]},
        "insurance_pool": {"mode": spec["ip_mode"], "cash": spec["pool_cash"],
                           **({"premium_subsidy": spec["subsidy"]}
                              if spec["ip_mode"] != "premium_subsidy" else {})},
        "policy": {"sharing": spec["sharing"], "claim_lag_days": spec["claim_lag"],
                   "reimbursement_lag_days": spec["reimb_lag"], "recovery_timing": spec["timing"],
                   "national_fund_payout_cap": spec["nf_cap"], "national_fund_excess": spec["excess"],
                   "national_fund_payout_basis": spec["basis"],
                   "national_fund_credit_line": spec["line"],
                   "national_fund_credit_line_mode": spec["line_mode"]},
    })
    res = simpool.simulate(sc)
    raw = res._raw
    # rounding is relative to the flows (exposure at default), not to what is left of them
    scale = max(1.0, float(np.abs(raw["net"]).max()), float(raw["segment_ead"].sum(axis=2).max()))
    # the parties sum to net in every path and year
    np.testing.assert_allclose(raw["party"].sum(axis=2), raw["net"], atol=1e-9 * scale)
    # ultimately the parties bear the gross loss, in every path and year (POLICY.md)
    np.testing.assert_allclose(raw["party_ultimate"].sum(axis=2), raw["loss"],
                               rtol=1e-9, atol=1e-9)
    # by programme: cash and ultimate add up to the totals, and each programme's parties are
    # only those that take part in it
    pp = raw["product_party"]
    np.testing.assert_allclose(pp[:, :, 0].sum(axis=2), raw["party"], atol=1e-9 * scale)
    np.testing.assert_allclose(pp[:, :, 1].sum(axis=2), raw["party_ultimate"], atol=1e-9 * scale)
    from simpool.analysis.results import PRODUCT_PARTIES, PRODUCTS
    from simpool.scenario.policy import PARTIES
    for k, prod in enumerate(PRODUCTS):
        outside = [PARTIES.index(p) for p in PARTIES if p not in PRODUCT_PARTIES[prod]]
        assert np.all(pp[:, :, :, k, outside] == 0.0), prod
    # net = gross + recoveries still to come, over the horizon
    np.testing.assert_allclose(res.samples("net"), res.samples("gross") + res.samples("pending_recoveries"),
                               atol=1e-9 * scale)
    # no pool below zero, nothing paid by a pool beyond its share of the losses
    assert raw["pool_balance"].min() >= -1e-9 * max(1.0, spec["pool_cash"])
    assert np.all(np.isfinite(raw["party"])) and np.all(np.isfinite(raw["public_flows"]))
    assert np.all(np.isfinite(res.fiscal_npv(kind=None)))
    pool_paid = res.samples("compensation_pool") if "compensation_pool" in res.parties else np.zeros(1)
    assert np.all(pool_paid <= 0.55 * res.samples("net") + 1e-6 * scale + 1e-9)


def test_pool_depletion_matches_exact_vasicek_integrals():
    """A pool paying 40% of a granular cohort's losses (LGD 1, independent years) is depleted
    by year k iff its cumulative payout exceeds its cash. With default fractions l_k i.i.d.
    Vasicek on the surviving book, the payouts are s l1, s l2 (1 - l1), s l3 (1 - l1)(1 - l2):
    P(depleted by year k) is a (k-1)-fold integral of the Vasicek CDF, computed here by the
    midpoint rule in the quantile domain (closed-form CDF and quantile)."""
    pd, rho, share, cash, years = 0.03, 0.15, 0.4, 0.03, 3
    sc = simpool.load_scenario({
        "simulation": {"paths": 40_000, "seed": 9, "horizon_years": years},
        "cohorts": [{"name": "lhp", "loans": 10**7, "exposure": 1e-7, "pd": pd, "lgd": 1.0, "rho": rho,
                     "pool": "p"}],
        "pools": [{"name": "p", "cash": cash, "share": share, "cumulative_cap_share": 1.0}],
        "policy": {"claim_lag_days": 0, "recovery_timing": "immediate"},
    })
    res = simpool.simulate(sc)
    a = ndtri(pd)

    def cdf(x):  # Vasicek: P(l <= x)
        x = np.clip(x, 0.0, 1.0)
        with np.errstate(divide="ignore"):
            return np.where(x >= 1.0, 1.0, ndtr((math.sqrt(1 - rho) * ndtri(x) - a) / math.sqrt(rho)))

    def quantile(u):
        return ndtr((a + math.sqrt(rho) * ndtri(u)) / math.sqrt(1 - rho))

    m = 2000
    l = quantile((np.arange(m) + 0.5) / m)
    c = cash / share  # depleted iff cumulative defaulted share of the original book > c
    exact = [float(1 - cdf(c)),
             float(np.mean(1 - cdf((c - l) / (1 - l)))),
             float(np.mean(1 - cdf((c - l[:, None] - l[None, :] * (1 - l[:, None]))
                                   / ((1 - l[:, None]) * (1 - l[None, :])))))]
    df = res.summary()
    sim = df[(df.measure == "pool:p") & (df.statistic == "P(depleted by year)")]
    assert len(sim) == years
    for (_, row), want in zip(sim.iterrows(), exact):
        # 5 SE + the 10^7-loan granularity and the quadrature (both below 1e-3 here)
        assert abs(row["value"] - want) <= 5 * row["se"] + 1e-3, (row["year"], row["value"], want)


def test_pool_presets_and_npl_warnings():
    sc = simpool.load_scenario({
        "cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 1.0, "lgd": 1.0, "rho": 0.0, "pool": "kv"}],
        "pools": [{"name": "kv", "preset": "knowledge_value", "cash": 10.0, "share": 0.45}],
        "policy": {"claim_lag_days": 0, "recovery_timing": "immediate"},
        "simulation": {"paths": 10}})
    pool = sc.pools[0]
    assert (pool.share, pool.warn_npl, pool.stop_npl) == (0.45, 0.05, 0.08)  # explicit key wins
    df = simpool.simulate(sc).summary()
    rows = df[df.measure == "pool:kv"].set_index("statistic")["value"]
    # per cooperating bank (the default bank here)
    assert rows["P(bank bank NPL>0.05, warn)"] == 1.0 and rows["P(bank bank NPL>0.08, stop)"] == 1.0
    assert rows["P(a bank's new loans stopped)"] == 1.0 and rows["NPL ratio (stock)"] == 1.0


def test_fee_above_one_percent_warns():
    from simpool.scenario import scenario_warnings

    sc = simpool.load_scenario({
        "cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.02, "lgd": 0.5, "rho": 0.1,
                     "product": "guaranteed"}],
        "guarantors": [{"name": "g", "net_assets": 10, "fee_rate": 0.012}]})
    msgs = [str(p) for p in scenario_warnings(sc)]
    assert any("guarantors.g.fee_rate: warning: 0.012 is above the plan's 1% a year" in m for m in msgs)


def test_segment_detail_dropped_when_too_big(monkeypatch):
    """Per-segment outputs scale with paths x years x segments: above a memory budget they are
    not kept; the summary does not need them, and contributions say why they cannot run."""
    import simpool.engine.runner
    import simpool.analysis.simulation

    sc = simpool.load_scenario(ROOT / "scenarios" / "hubei_base.toml")
    full = simpool.simulate(sc, paths=500)
    monkeypatch.setattr(simpool.engine.runner, "KEEP_SEGMENTS_BYTES", 0)
    lean = simpool.simulate(sc, paths=500)
    assert "segment_loss" in full._raw and "segment_loss" not in lean._raw
    a, b = full.summary(), lean.summary()
    assert a.equals(b)
    with pytest.raises(ValueError, match="kept no per-segment losses"):
        lean.contributions()
