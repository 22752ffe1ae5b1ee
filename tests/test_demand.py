"""The demand side of the book: start borrowers, first-time borrowers, repeat borrowers'
growth, and the borrowers and balance that result once the supply side (the constraints) has
had its say. Expected values are computed by hand from the rules of
:func:`simpool.engine.plan.vintages` (docstring) and, with defaults, from the binomial law."""

from __future__ import annotations

import math

import numpy as np
import pytest

import simpool
from simpool.engine.plan import vintages
from simpool.errors import ScenarioError

DEMAND = {"name": "c", "loans": 1000, "borrowers": 400, "exposure": 2.0, "pd": 0.0, "lgd": 1.0,
          "rho": 0.0, "growth": 0.1, "term_years": 2, "new_borrowers": 50,
          "new_borrower_growth": 0.2, "loans_per_new_borrower": 2}

#: by hand: (loans, borrowers per loan) of the vintages of years 0..3
#: y1: growth round(1000 x 0.1) = 100 repeat loans (no new borrowers), nothing matured,
#:     50 first-time borrowers x 2 loans = 100: 200 loans, 50 borrowers
#: y2: growth round(1000 x 0.11) = 110, the start book's 1000 rolled over (400 borrowers),
#:     round(50 x 1.2) = 60 new borrowers x 2 = 120: 1230 loans, 460 borrowers
#: y3: growth round(1000 x 0.121) = 121, year 1's 200 rolled over (50 borrowers),
#:     round(50 x 1.44) = 72 x 2 = 144: 465 loans, 122 borrowers
HAND = [(1000, 400 / 1000), (200, 50 / 200), (1230, 460 / 1230), (465, 122 / 465)]


def scenario(cohort=None, horizon=4, paths=200, seed=11, **extra):
    c = dict(DEMAND)
    c.update(cohort or {})
    d = {"simulation": {"paths": paths, "seed": seed, "horizon_years": horizon,
                        "start_year": 2025},
         "cohorts": [c], "policy": {"claim_lag_days": 0, "recovery_timing": "immediate"},
         "report": {"guarantee_balance_year": 2026}}
    d.update(extra)
    return simpool.load_scenario(d)


def test_vintages_follow_the_demand_rules():
    sc = scenario()
    got = [(v["loans"], v["borrowers_per_loan"]) for v in vintages(list(enumerate(sc.cohorts)), 4)]
    assert [n for n, _ in got] == [n for n, _ in HAND]
    np.testing.assert_allclose([b for _, b in got], [b for _, b in HAND], rtol=1e-15)


def test_without_new_borrowers_growth_adds_borrowers_at_the_start_ratio():
    sc = scenario({"new_borrowers": None, "term_years": None})
    got = vintages(list(enumerate(sc.cohorts)), 3)
    # growth 0.1: 100 then 110 new loans, each at the start book's 0.4 borrowers a loan
    assert [v["loans"] for v in got] == [1000, 100, 110]
    assert [v["borrowers_per_loan"] for v in got] == [0.4, 0.4, 0.4]


def test_borrowers_and_balance_with_no_defaults():
    res = simpool.simulate(scenario())
    b = res._raw["borrowers"]
    bal = res._raw["loan_balance_end"]
    # at the start of each year, the vintages on the book: 400; 400 + 50; 50 + 460 (the start
    # book matured); 460 + 122; at the end of the last year: 460 (maturing, renewed) + 122
    np.testing.assert_allclose(b, [[400, 450, 510, 582, 582]] * 200, rtol=1e-12)
    # balance: exposure 2 yuan a loan, renewed loans at full exposure
    np.testing.assert_allclose(bal, [[2000, 2400, 2860, 3390]] * 200, rtol=1e-12)
    assert res.borrowers_at_start == 400
    df = res.summary()
    row = df[(df.measure == "borrowers") & (df.statistic == "end of year")]
    assert row.value.item() == pytest.approx(510)  # the end of 2026 = the start of 2027
    # borrowers +70% by 2026: 510 < 1.7 x 400 = 680 on every path; balance +20% a year from
    # the 2024 base (the start book): 2 x (200 + 1230) = 2860 < 1.2^2 x 2000 = 2880
    p_b = df[(df.measure == "borrowers") & df.statistic.str.startswith("P(")]
    p_l = df[(df.measure == "loan_balance") & df.statistic.str.startswith("P(")]
    assert (p_b.value.item(), p_l.value.item()) == (0.0, 0.0)
    assert (p_b.param.item(), p_l.param.item()) == pytest.approx((680, 2880))
    assert p_l.statistic.item() == "P(>= 1.44 x start)"
    # demand that reaches both: 200 first-time borrowers (400 loans) in 2026
    df = simpool.simulate(scenario({"new_borrowers": 200, "growth": 0.3})).summary()
    p_b = df[(df.measure == "borrowers") & df.statistic.str.startswith("P(")]
    p_l = df[(df.measure == "loan_balance") & df.statistic.str.startswith("P(")]
    # start of 2027: year 1's 700 loans (200 new borrowers) and year 2's 1000 rolled (400
    # borrowers) + 390 repeat + 480 first (240 borrowers): 840 >= 680 borrowers and
    # 2 x 2570 >= 2880 yuan
    assert (p_b.value.item(), p_l.value.item()) == (1.0, 1.0)


def test_borrowers_and_balance_grow_at_different_rates():
    """Repeat demand only: the balance grows, borrowers do not."""
    res = simpool.simulate(scenario({"new_borrowers": 0, "term_years": None}, horizon=3))
    np.testing.assert_allclose(res._raw["borrowers"][0], [400, 400, 400, 400])
    np.testing.assert_allclose(res._raw["loan_balance_end"][0], [2000, 2200, 2420])


def test_expected_borrowers_under_defaults_match_the_binomial_law():
    """One year, correlated defaults: E[borrowers at the year's end] = n (1 - pd) x ratio
    whatever rho (each loan survives with probability 1 - pd); the test's tolerance is 4 SE."""
    res = simpool.simulate(scenario({"pd": 0.03, "rho": 0.15, "term_years": None},
                                    horizon=1, paths=20_000))
    b = res._raw["borrowers"][:, 1]  # at the end of the (only) year
    expect = 1000 * (1 - 0.03) * 0.4
    se = b.std(ddof=1) / math.sqrt(len(b))
    assert abs(b.mean() - expect) < 4 * se, (b.mean(), expect, se)
    # and the path's count is the survivors x 0.4 exactly
    np.testing.assert_allclose(b, (1000 - res._raw["defaults"][:, 0]) * 0.4, rtol=1e-12)


def test_supply_cuts_first_time_borrowers_with_the_rest():
    """A guaranteed cohort whose guarantor's leverage cap allows half the planned new loans:
    the new vintage (rollover + growth + first-time borrowers) is cut pro rata, and so are its
    borrowers [A: a constraint does not choose between new and repeat borrowers]."""
    d = {"simulation": {"paths": 20, "seed": 1, "horizon_years": 2, "start_year": 2025},
         "cohorts": [{"name": "g", "loans": 100, "borrowers": 50, "exposure": 1.0, "pd": 0.0,
                      "lgd": 1.0, "rho": 0.0, "product": "guaranteed", "guarantor": "gu",
                      "new_borrowers": 100, "small_micro": False}],
         "guarantors": [{"name": "gu", "net_assets": 60.0, "leverage_cap": 1.0,
                         "fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}],
         "reguarantor": {"fee_rate": 0.0},
         "policy": {"claim_lag_days": 0, "recovery_timing": "immediate",
                    "lending_feedback": True, "national_fund_fee_rate": 0.0,
                    "national_fund_fee_rate_small": 0.0},
         "report": {"guarantee_balance_year": 2026}}
    res = simpool.simulate(simpool.load_scenario(d))
    # 4222: the guarantor's liability is its 0.2 and the government's 0.2 of each yuan (weight
    # 1, not small): room 60 - 0.4 x 100 on the book = 20 of the 40 the 100 first-time loans
    # need: half are made (one-year loans, all renewed: 100 + 50 on the book in year 2)
    np.testing.assert_allclose(res._raw["segment_balance"][:, 1, 0], 150)
    np.testing.assert_allclose(res._raw["borrowers"][:, 1], 50 + 50)
    np.testing.assert_allclose(res._raw["lending_removed"][:, 1].sum(axis=1), 50)


@pytest.mark.parametrize("cohort, msg", [
    ({"borrowers": 1001}, "borrowers (1001) must be at most loans (1000)"),
    ({"borrowers": 0}, "borrowers must be at least 1"),
    ({"new_borrowers": -1}, "cohorts.c.new_borrowers: must be >= 0, got -1"),
    ({"loans_per_new_borrower": 0}, "cohorts.c.loans_per_new_borrower: must be >= 1"),
    ({"mode": "loans", "term_years": None, "growth": 0.0, "new_borrowers": None},
     "borrowers and new_borrowers need mode"),
])
def test_bad_demand_inputs_name_the_field(cohort, msg):
    with pytest.raises(ScenarioError) as e:
        scenario(cohort)
    text = str(e.value)
    assert msg in text and "cohorts" in text


def test_a_book_too_large_is_an_error_at_validation_naming_the_key():
    """The planned vintages are checked when the scenario loads (validate says so, not the
    run), and the message names new_borrowers or growth, whichever makes the loans."""
    with pytest.raises(ScenarioError) as e:
        scenario({"new_borrowers": 10**12})
    text = str(e.value)
    assert "cohorts.c.new_borrowers" in text and "above the 1e+12 loans" in text
    assert "lower new_borrowers" in text
    with pytest.raises(ScenarioError) as e:
        scenario({"loans": 10**12, "borrowers": None, "growth": 2.0, "new_borrowers": None})
    assert "cohorts.c.growth" in str(e.value) and "lower growth" in str(e.value)
