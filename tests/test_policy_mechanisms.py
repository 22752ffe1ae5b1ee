"""Every branch of the policy waterfall against a hand-computed case (POLICY.md).

Loans default for certain (pd = 1) or never (pd = 0), so every path is the same and each
figure can be worked out on paper; lags are 0 and recoveries immediate unless a case is
about them. Shares are those of hubei_4222 (each of the five parties 0.2) unless said.
"""

from __future__ import annotations

import numpy as np
import pytest

import simpool
from simpool.engine.inputs import removed_columns

FLAT = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}
NO_FEES = {"national_fund_fee_rate": 0.0, "national_fund_fee_rate_small": 0.0}


def cohort(name, loans, pd, product="guaranteed", exposure=100.0, **kw):
    return {"name": name, "loans": loans, "exposure": exposure, "pd": pd, "lgd": 0.7, "rho": 0.0,
            "product": product, **kw}


def run(cohorts, horizon=1, policy=None, paths=10, **extra):
    pol = {"claim_lag_days": 0, "reimbursement_lag_days": 0, "recovery_timing": "immediate",
           "national_fund_payout_cap": 1.0, "discount_rate": 0.0, **NO_FEES, **(policy or {})}
    d = {"simulation": {"paths": paths, "seed": 3, "horizon_years": horizon},
         "cohorts": cohorts, "policy": pol,
         "reguarantor": {**FLAT, "fee_rate": 0.0, "net_assets": 1e9},
         "guarantors": [{"name": "g", "net_assets": 1e9, **FLAT}]}
    if any(c.get("product") == "insured" for c in cohorts):
        d["insurers"] = [{"name": "ins"}]
    d.update(extra)
    return simpool.simulate(simpool.load_scenario(d), keep="all")


def first(res, name):
    """Path 0 of a raw output (every path is the same)."""
    a = res._raw[name]
    assert np.all(a == a[:1]), name
    return a[0]


def party(res, p, basis="cash", product=None, year=None):
    x = res.samples(p, year, basis=basis, product=product)
    assert np.all(x == x[0]), p
    return float(x[0])


def removed_col(res, entity, what):
    return removed_columns(res._wf).index((entity, what))


# ---------------------------------------------------------------- the insured route
def test_insured_route_stop_loss_with_premium_subsidy():
    """10 of 100 insured loans of 100 default (EAD 1,000, loss 700). Bank 30%, insurer 70%:
    claims 700; premium 2% x 10,000 = 200 (loss ratio 3.5); stop-loss 0.8 above 1.2 x 200 =
    240: the pool pays 0.8 x 460 = 368; and a premium subsidy of 50% x 200 = 100 on top."""
    res = run([cohort("bad", 10, 1.0, "insured"), cohort("good", 90, 0.0, "insured")],
              insurance_pool={"cash": 1e6, "mode": "stop_loss", "beta": 0.8, "theta": 1.2,
                              "premium_subsidy": 0.5})
    assert res.parties == ["bank", "insurer", "insurance_pool"]
    assert party(res, "bank") == pytest.approx(0.3 * 700)
    assert party(res, "insurance_pool") == pytest.approx(368 * 0.7)
    assert party(res, "insurer") == pytest.approx((700 - 368) * 0.7)
    for p in res.parties:  # every recovery is in: cash = ultimate
        assert party(res, p, "ultimate", "insured") == pytest.approx(party(res, p))
    assert first(res, "premium_subsidy")[0] == pytest.approx(100.0)
    assert first(res, "insurer_loss_ratio")[0, 0] == pytest.approx(3.5)
    # the subsidy leaves the pool's cash and counts in the fiscal cost, not in any loss
    assert first(res, "pool_balance")[1, -1] == pytest.approx(1e6 - 368 + 0.3 * 368 - 100)
    np.testing.assert_allclose(res.samples("fiscal"), 368 * 0.7 + 100)
    # nothing of it reaches the national fund, re-guarantor or government, nor their bases
    assert first(res, "nf_rate_precap")[0] == 0.0
    assert first(res, "guarantor_leverage")[0, -1] == 0.0  # the re-guarantor's liability


def test_loss_ratio_of_a_small_premium():
    """A loan of 10 yuan: premium 0.2 yuan, claims 7: loss ratio 35 (no rounding of small
    premiums to none)."""
    res = run([cohort("bad", 1, 1.0, "insured", exposure=10.0)], insurance_pool={"mode": "none"})
    assert first(res, "insurer_loss_ratio")[0, 0] == pytest.approx(35.0)


def test_insured_sharing_is_a_table():
    res = run([cohort("bad", 1, 1.0, "insured")],
              policy={"insured_sharing": {"bank": 0.2, "insurer": 0.8}},
              insurance_pool={"mode": "none"})
    assert party(res, "bank") == pytest.approx(14.0)
    assert party(res, "insurer") == pytest.approx(56.0)
    # an insurer with no share has no claims: the bank bears it all, the pool pays nothing
    res = run([cohort("bad", 1, 1.0, "insured")],
              policy={"insured_sharing": {"bank": 1.0, "insurer": 0.0}},
              insurance_pool={"mode": "quota_share", "beta": 0.5})
    assert party(res, "bank") == pytest.approx(70.0)
    assert party(res, "insurer") == 0.0 and party(res, "insurance_pool") == 0.0


def test_insurer_suspension_stops_its_new_loans():
    """Loss ratio 3.5 > 1.2 in year one: the insurer writes none of year two's 20 new loans
    (growth 20%); lending removed 2,000 by its suspension, for good."""
    ins = [{"name": "ins", "suspend_loss_ratio": 1.2}]
    res = run([cohort("bad", 10, 1.0, "insured", growth=0.2),
               cohort("good", 90, 0.0, "insured", growth=0.2)], horizon=3, insurers=ins,
              insurance_pool={"mode": "none"})
    np.testing.assert_array_equal(first(res, "insurer_suspended")[:, 0], [1, 1, 1])
    k = removed_col(res, "insurer:ins", "loss-ratio suspension")
    removed = first(res, "lending_removed")[:, k]
    # year 2: 0.2 x 100 loans planned (2 + 18); year 3: 0.24 x 100 of growth and none matured
    np.testing.assert_allclose(removed, [0.0, 2000.0, 2400.0])
    np.testing.assert_allclose(first(res, "product_balance")[:, 2], [10000, 9000, 9000])
    # the other insurer's lending goes on: not stopped below the threshold
    ok = run([cohort("good", 90, 0.0, "insured", growth=0.2)], horizon=2, insurers=ins,
             insurance_pool={"mode": "none"})
    assert first(ok, "lending_removed").sum() == 0.0


# ---------------------------------------------------------------- the national fund
def _nf_book(term=None, **kw):
    """10 loans that default and 90 that do not, guaranteed, 100 each."""
    extra = {} if term is None else {"term_years": term}
    return [cohort("bad", 10, 1.0, **extra, **kw), cohort("good", 90, 0.0, **extra, **kw)]


@pytest.mark.parametrize("term, basis, rate", [
    (None, "released", 0.1),  # renewed one-year loans: all 10,000 released; 200 / 2,000
    (None, "in_force", 0.1),  # in force 10,000 x 0.2 = 2,000
    (3, "released", 1.0),  # three-year loans: only the 1,000 paid out released; 200 / 200
    (3, "in_force", 0.1),
])
def test_payout_rate_before_the_cap_by_basis(term, basis, rate):
    res = run(_nf_book(term), policy={"national_fund_payout_basis": basis,
                                      "national_fund_payout_cap": 0.05})
    assert first(res, "nf_rate_precap")[0] == pytest.approx(rate)
    assert first(res, "nf_binds")[0] == 1.0  # both above 5%
    cap = 0.05 * 200 / rate  # 5% of the base (base = 200 / rate)
    assert first(res, "nf_payout_rate")[0] == pytest.approx(0.05)
    assert first(res, "nf_moved")[0] == pytest.approx(200 - cap)
    # the cap's excess went to re-guarantor, guarantor and government, a third each
    third = (200 + (200 - cap) / 3) * 0.7
    assert party(res, "national_fund") == pytest.approx(cap * 0.7)
    for p in ("reguarantor", "guarantor", "government"):
        assert party(res, p) == pytest.approx(third)
    s = res.summary()
    row = s[(s.measure == "national_fund") & (s.statistic == "P(cap binds)")]
    assert row.value.tolist() == [1.0]


def test_payout_cap_not_binding():
    res = run(_nf_book(), policy={"national_fund_payout_cap": 0.15})
    assert first(res, "nf_rate_precap")[0] == pytest.approx(0.1)
    assert first(res, "nf_binds")[0] == 0.0 and first(res, "nf_moved")[0] == 0.0
    assert party(res, "national_fund") == pytest.approx(140.0)


def test_suspend_mode_pays_in_full_then_covers_nothing_for_a_year():
    res = run([cohort("bad", 1, 1.0, growth=1.0), cohort("good", 9, 0.0, growth=1.0)],
              horizon=3, policy={"national_fund_payout_cap": 0.05,
                                 "national_fund_excess": "suspend"})
    # year 1: 20 of 200 (10%) binds, paid in full; year 2: suspended (the new bad vintage's
    # defaults: one loan, all 20 moved); year 3 covered again
    np.testing.assert_allclose(first(res, "nf_binds"), [1, 0, 1])
    np.testing.assert_allclose(first(res, "nf_moved"), [0, 20, 0])
    nf = [party(res, "national_fund", "ultimate", year=y) for y in res.years]
    np.testing.assert_allclose(nf, [14, 0, 0.2 * 2 * 70])


def test_credit_line_shift_and_stop():
    """Line 5,000 on a covered balance of 10,000: the national fund covers half; half its
    part of the defaults (100 of 200) falls on the guarantor. Mode stop: next year's new
    covered loans (2 + 18 of 100, growth 20%) do not fit in the line (9,000 left > 5,000)."""
    res = run(_nf_book(growth=0.2), horizon=2, policy={"national_fund_credit_line": 5000.0})
    moved = first(res, "nf_line_moved")
    assert moved[0] == pytest.approx(100.0)
    assert party(res, "national_fund", "ultimate", year=2025) == pytest.approx(70.0)
    assert party(res, "guarantor", "ultimate", year=2025) == pytest.approx(210.0)
    assert first(res, "lending_removed").sum() == 0.0  # shift: lending goes on
    stop = run(_nf_book(growth=0.2), horizon=2, policy={"national_fund_credit_line": 5000.0,
                                                        "national_fund_credit_line_mode": "stop"})
    k = removed_col(stop, "national_fund", "credit line")
    np.testing.assert_allclose(first(stop, "lending_removed")[:, k], [0.0, 2000.0])
    assert first(stop, "product_balance")[1, 1] == pytest.approx(9000.0)


def test_borrower_cap_and_fees_follow_the_loan_size():
    """A loan above 500万 pays the national fund's 0.5% fee, one at or below it 0.3%; the
    provincial fee goes to the re-guarantor; the guarantor pays both from its net assets."""
    pol = {"national_fund_fee_rate": 0.005, "national_fund_fee_rate_small": 0.003}
    for exposure, nf_fee in ((1e6, 0.003), (6e6, 0.005)):
        res = run([cohort("good", 10, 0.0, exposure=exposure)], policy=pol,
                  reguarantor={**FLAT, "fee_rate": 0.004, "net_assets": 1e9})
        bal = 10 * exposure
        na = first(res, "guarantor_net_assets")
        assert na[1, 0] == pytest.approx(1e9 - bal * (0.004 + nf_fee))
        assert na[1, 1] == pytest.approx(1e9 + bal * 0.004)


# ---------------------------------------------------------------- the government
def test_government_fund_runs_dry():
    """Fund 30, budget 0: it owes 200 in year one (20% of 1,000), pays 30, the 170 left fall
    on the guarantor; it is exhausted from then on."""
    res = run(_nf_book(growth=0.0), horizon=2, government={"fund": 30.0})
    np.testing.assert_allclose(first(res, "gov_moved"), [170.0, 0.0])
    np.testing.assert_allclose(first(res, "gov_exhausted"), [1.0, 0.0])
    np.testing.assert_allclose(first(res, "gov_balance"), [30.0, 0.0, 0.0])
    s = res.summary()
    rows = s[(s.measure == "government") & (s.statistic == "P(government fund exhausted by year)")]
    assert rows.value.tolist() == [1.0, 1.0]  # by year: once dry, dry
    # a fund of half a yuan with a cap of 0.8: its cash, below the cap, limited it
    tiny = run(_nf_book(), government={"fund": 0.5, "annual_cap": 0.8})
    assert first(tiny, "gov_exhausted")[0] == 1.0
    assert first(tiny, "gov_moved")[0] == pytest.approx(199.5)
    # an annual cap that binds is not an exhausted fund
    capped = run(_nf_book(), government={"fund": 1e6, "annual_cap": 30.0})
    assert first(capped, "gov_exhausted")[0] == 0.0
    assert first(capped, "gov_moved")[0] == pytest.approx(170.0)


# ---------------------------------------------------------------- cash and ultimate
def test_ultimate_allocates_pending_claims_and_recoveries():
    """One loan of 100 defaults, 30 recovered along the curve (theta 2 years), claims 90
    days and reimbursements a further 180 days later, over one year: cash is what moved
    within the year; ultimately each of the five bears 14, summing to the gross 70."""
    res = run([cohort("bad", 1, 1.0)],
              policy={"claim_lag_days": 90, "reimbursement_lag_days": 180,
                      "recovery_timing": "curve", "recovery_theta_years": 2.0})
    for p in res.parties:
        assert party(res, p, "ultimate") == pytest.approx(14.0)
    assert sum(party(res, p, "ultimate") for p in res.parties) == pytest.approx(70.0)
    # cash: the bank lost 100 and got back 80 x (1 - 90/365) within the year; the
    # reimbursements (after 270 days) came for 95/365 of the year's defaults
    from simpool.engine.waterfall_plan import recovery_schedule

    got = 30 * recovery_schedule(1, "curve", 2.0)[0]
    f_claim, f_reimb = 1 - 90 / 365, 1 - 270 / 365
    assert party(res, "bank") == pytest.approx(100 - 80 * f_claim - 0.2 * got)
    assert party(res, "national_fund") == pytest.approx(20 * f_reimb - 0.2 * got)
    assert party(res, "guarantor") == pytest.approx(80 * f_claim - 60 * f_reimb - 0.2 * got)
    total_cash = sum(party(res, p) for p in res.parties)
    assert total_cash == pytest.approx(100 - got)  # = net
    assert total_cash > 70.0  # cash over one year is not the loss


# ---------------------------------------------------------------- balance sheets
def test_weighted_leverage_and_the_re_guarantor():
    """Liability = balance x weight x own share: 10,000 x 0.75 x 0.4 = 3,000 for the
    guarantor (net assets 1,000: leverage 3); 10,000 x 0.75 x 0.2 = 1,500 for the
    re-guarantor (net assets 500: leverage 3)."""
    res = run([cohort("good", 100, 0.0)],
              guarantors=[{"name": "g", "net_assets": 1000.0, **FLAT}],
              reguarantor={**FLAT, "fee_rate": 0.0, "net_assets": 500.0})
    np.testing.assert_allclose(first(res, "guarantor_leverage")[0], [3.0, 3.0])
    s = res.summary()
    rows = s[(s.measure == "reguarantor") & (s.statistic == "leverage (weighted liability)")]
    assert rows.value.tolist() == [3.0]


def test_insolvent_re_guarantor_moves_its_share_to_the_guarantor():
    """Net assets of exactly 0 are insolvent (<= 0); leverage is then infinite, also in a
    year with nothing left on the book (0 / 0)."""
    res = run([cohort("bad", 1, 1.0)], horizon=2,
              reguarantor={**FLAT, "fee_rate": 0.0, "net_assets": 0.0})
    assert party(res, "reguarantor") == 0.0
    assert party(res, "guarantor") == pytest.approx(28.0)
    assert np.isinf(first(res, "guarantor_leverage")[:, -1]).all()
    s = res.summary()
    row = s[(s.measure == "reguarantor") & (s.statistic == "P(insolvent by year)")]
    assert row.value.tolist() == [1.0, 1.0]


def test_a_re_guarantor_with_a_little_net_assets_is_solvent():
    res = run([cohort("bad", 1, 1.0)], reguarantor={**FLAT, "fee_rate": 0.0, "net_assets": 0.5})
    assert party(res, "reguarantor") == pytest.approx(14.0)
    assert party(res, "guarantor") == pytest.approx(14.0)


def test_a_guarantor_with_no_net_assets_is_insolvent():
    """Exactly 0 is insolvent: its share falls on the bank, and the others pay the bank."""
    res = run([cohort("bad", 1, 1.0)], horizon=2,
              guarantors=[{"name": "g", "net_assets": 0.0, **FLAT}])
    assert party(res, "guarantor") == 0.0
    assert party(res, "bank") == pytest.approx(28.0)
    assert np.isinf(first(res, "guarantor_leverage")[:, 0]).all()


# ---------------------------------------------------------------- NPL stock
@pytest.mark.parametrize("write_off, ratios", [
    (0, [0.0, 0.0, 0.0]),  # written off at once
    (1, [0.1, 0.0, 0.0]),  # non-performing at the end of its year only
    (2, [0.1, 1000 / 9000, 0.0]),  # and the next year's end, over the 9,000 left
])
def test_npl_is_a_stock_until_written_off(write_off, ratios):
    res = run([cohort("bad", 10, 1.0, "credit"), cohort("good", 90, 0.0, "credit")], horizon=3,
              banks=[{"name": "b", "write_off_years": write_off}])
    np.testing.assert_allclose(first(res, "npl")[:, 0], ratios)


def test_pool_stop_applies_per_cooperating_bank():
    """Bank a's eligible book has 10% NPL (stop 8%), bank b's none: a gets none of year
    two's new eligible loans, b all of its; compensation of a's defaults goes on."""
    pools = [{"name": "p", "cash": 1e6, "share": 0.5, "warn_npl": 0.05, "stop_npl": 0.08,
              "leverage_target": None}]
    res = run([cohort("a_bad", 10, 1.0, "credit", pool="p", bank="a", growth=0.2),
               cohort("a_good", 90, 0.0, "credit", pool="p", bank="a", growth=0.2),
               cohort("b_good", 100, 0.0, "credit", pool="p", bank="b", growth=0.2)],
              horizon=2, pools=pools, banks=[{"name": "a"}, {"name": "b"}])
    npl = first(res, "pool_bank_npl")[:, 0, :]
    np.testing.assert_allclose(npl[0], [0.1, 0.0])
    k = removed_col(res, "pool:p", "NPL stop")
    assert first(res, "lending_removed")[1, k] == pytest.approx(2000.0)  # a's 20 new loans
    np.testing.assert_allclose(first(res, "bank_balance")[1], [9000.0, 12000.0])
    assert party(res, "compensation_pool", "ultimate") == pytest.approx(0.5 * 700)
    s = res.summary()
    rows = s[(s.measure == "pool:p") & (s.year == 2025)].set_index("statistic").value
    assert rows["P(bank a NPL>0.08, stop)"] == 1.0 and rows["P(bank b NPL>0.08, stop)"] == 0.0


# ---------------------------------------------------------------- 4222 and 4321 by product
@pytest.mark.parametrize("sharing, expected", [
    ("hubei_4222", {"bank": 14, "guarantor": 14, "reguarantor": 14, "national_fund": 14,
                    "government": 14}),
    ("hubei_4321", {"bank": 14, "guarantor": 21, "reguarantor": 14, "national_fund": 14,
                    "government": 7}),
])
def test_worked_splits_by_product_beside_other_programmes(sharing, expected):
    """DOMAIN.md §2's worked example (EAD 100, 30% recovered) on the guaranteed programme,
    read directly by product while an insured and a credit loan default beside it."""
    res = run([cohort("g", 1, 1.0), cohort("i", 1, 1.0, "insured"),
               cohort("c", 1, 1.0, "credit")], policy={"sharing": sharing},
              insurance_pool={"mode": "none"})
    for p, v in expected.items():
        assert party(res, p, "ultimate", "guaranteed") == pytest.approx(v)
    assert party(res, "bank", "ultimate", "insured") == pytest.approx(21.0)
    assert party(res, "insurer", "ultimate", "insured") == pytest.approx(49.0)
    assert party(res, "bank", "ultimate", "credit") == pytest.approx(70.0)
    assert party(res, "bank", "ultimate") == pytest.approx(14 + 21 + 70)
    assert party(res, "national_fund", "ultimate", "insured") == 0.0


# ---------------------------------------------------------------- single loans
def test_single_loans_are_a_static_book_less_their_defaults():
    """Loans of ``mode = "loans"`` (and tapes) stay on the book until they default: the
    balance at each year's start and end is the opening balance less the exposure defaulted
    so far, and the NPL ratio and the national fund's released base read it."""
    loans = [{"name": "x", "loans": 1, "exposure": 100.0, "pd": 1.0, "lgd": 0.7, "rho": 0.0,
              "mode": "loans", "product": "credit"},
             {"name": "y", "loans": 1, "exposure": 300.0, "pd": 0.0, "lgd": 0.7, "rho": 0.0,
              "mode": "loans", "product": "credit"}]
    res = run(loans, horizon=2)
    np.testing.assert_allclose(first(res, "segment_balance").sum(axis=1), [400.0, 300.0])
    np.testing.assert_allclose(first(res, "segment_balance_end").sum(axis=1), [300.0, 300.0])
    np.testing.assert_allclose(first(res, "npl")[:, 0], [100 / 400, 0.0])
    np.testing.assert_allclose(first(res, "bank_balance")[:, 0], [400.0, 300.0])


def test_pool_rules_hold_for_amounts_below_a_yuan():
    """100 credit loans of 0.01 yuan default (B = 1 yuan): the corridor [1%, 5%] leaves 0.04
    of losses for a 40% share (0.016 paid); a cumulative cap of 50% of the losses stops a
    100% share at 0.5. No rule switches off for sums below one yuan."""
    tiny = [{"name": "c", "loans": 100, "exposure": 0.01, "pd": 1.0, "lgd": 0.7, "rho": 0.0,
             "product": "credit", "pool": "p"}]
    res = run(tiny, pools=[{"name": "p", "cash": 100.0, "share": 0.4, "corridor": [0.01, 0.05],
                            "leverage_target": None}])
    assert party(res, "compensation_pool", "ultimate") == pytest.approx(0.016 * 0.7)
    res = run(tiny, pools=[{"name": "p", "cash": 100.0, "share": 1.0, "first_loan_bonus": 0.0,
                            "cumulative_cap_share": 0.5, "leverage_target": None}])
    assert party(res, "compensation_pool", "ultimate") == pytest.approx(0.5 * 0.7)


def test_a_recovery_of_one_yuan_is_received():
    """A credit loan of 10 yuan with LGD 0.9: the bank gets its 1 yuan back (cash 9 = its
    ultimate loss, recoveries immediate)."""
    res = run([cohort("c", 1, 1.0, "credit", exposure=10.0, lgd=0.9)])
    assert party(res, "bank") == pytest.approx(9.0)
    assert party(res, "bank", "ultimate") == pytest.approx(9.0)


def test_a_bank_with_no_loans_has_no_npl():
    res = run([cohort("c", 10, 1.0, "credit", bank="a")], horizon=2,
              banks=[{"name": "a"}, {"name": "b"}])
    np.testing.assert_allclose(first(res, "npl")[:, 1], [0.0, 0.0])
    np.testing.assert_allclose(first(res, "npl")[:, 0], [1.0, 0.0])  # then nothing left: 0
    # a book below one yuan has a ratio all the same: 10 loans of 0.05, one defaults
    small = run([cohort("d", 1, 1.0, "credit", exposure=0.05),
                 cohort("e", 9, 0.0, "credit", exposure=0.05)])
    assert first(small, "npl")[0, 0] == pytest.approx(0.1)


def test_a_guaranteed_cohort_of_zero_yuan_plans_finite_shares_weights_and_fees():
    """A cohort of 0-yuan loans has no balance to weight by: its national-fund cover is the
    plain share (no borrower above the cap), its liability weight and fee the plain per-loan
    values (a 0-yuan loan is small), never 0/0."""
    res = run([cohort("zero", 10, 1.0, exposure=0.0), cohort("g", 10, 1.0)])
    r = res._wf.routes
    assert np.isfinite(r.shares).all() and np.isfinite(r.weight).all()
    np.testing.assert_allclose(r.shares[0], [0.2, 0.2, 0.2, 0.2, 0.2])
    assert r.weight[0] == pytest.approx(0.75) and r.nf_fee_rate[0] == 0.0
    assert np.isfinite(res._raw["party"]).all()
    assert party(res, "bank") == pytest.approx(0.2 * 700)


def test_a_tapes_rows_take_the_portfolios_routes_by_product(tmp_path):
    """A tape of credit, guaranteed and insured loans: one segment per product (after the
    cohorts), the portfolio's bank, pool (credit only), guarantor and insurer; the insurer's
    premium on insured rows only; tape segments are not renewed; and the losses follow:
    credit loans 40% to the pool, insured 70% to the insurer, guaranteed 4222."""
    (tmp_path / "tape.csv").write_text(
        "exposure,pd,lgd,rho,product\n" + "100,1,0.7,0,credit\n" * 2
        + "100,1,0.7,0,guaranteed\n" * 3 + "100,1,0.7,0,insured\n" * 4, encoding="utf-8")
    d = {"simulation": {"paths": 4, "seed": 3, "horizon_years": 1},
         "portfolio": {"loans_file": str(tmp_path / "tape.csv"), "pool": "p", "guarantor": "g",
                       "insurer": "ins", "bank": "second"},
         "policy": {"claim_lag_days": 0, "reimbursement_lag_days": 0, "recovery_timing": "immediate",
                    "national_fund_payout_cap": 1.0, **NO_FEES},
         "banks": [{"name": "first"}, {"name": "second"}],
         "guarantors": [{"name": "g", "net_assets": 1e9, **FLAT}],
         "reguarantor": {**FLAT, "net_assets": 1e9},
         "pools": [{"name": "p", "cash": 1e6, "share": 0.4, "first_loan_bonus": 0.0}],
         "insurers": [{"name": "ins", "premium_rate": 0.03}], "insurance_pool": {"mode": "none"}}
    res = simpool.simulate(simpool.load_scenario(d), keep="all")
    wf = res._wf
    r = wf.routes
    assert list(wf.segment_names) == ["tape:credit", "tape:guaranteed", "tape:insured"]
    assert list(r.bank) == [1, 1, 1]  # the portfolio's bank
    assert list(r.pool) == [0, -1, -1] and list(r.pool_share) == [0.4, 0.0, 0.0]
    assert list(r.premium_rate) == [0.0, 0.0, 0.03] and not r.renewed.any()
    np.testing.assert_allclose(r.balance0, [200.0, 300.0, 400.0])
    assert party(res, "compensation_pool") == pytest.approx(0.4 * 0.7 * 200)
    assert party(res, "insurer", product="insured") == pytest.approx(0.7 * 0.7 * 400)
    assert party(res, "guarantor") == pytest.approx(0.2 * 0.7 * 300)
    assert r.weight[1] == pytest.approx(0.75)  # tape borrowers are small and micro firms
    led = wf.ledger  # no subsidies on tape loans (the tape has no subsidy columns)
    assert not led.isub_rate.any() and not led.psub_rate.any()
    assert (led.isub_col == -1).all() and (led.psub_col == -1).all()
    assert list(led.small_share) == [0.0, 1.0, 0.0]
