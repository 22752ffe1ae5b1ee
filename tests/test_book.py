"""The loan book over time: maturity, amortisation, new lending, rollover (binomial cohorts)."""

from __future__ import annotations

import numpy as np
import pytest

import simpool
from simpool.errors import ScenarioError


def run(cohort, horizon=4, paths=20_000, seed=3, **extra):
    base = {"name": "c", "loans": 1000, "exposure": 1.0, "pd": 0.05, "lgd": 1.0, "rho": 0.0}
    base.update(cohort)
    d = {"simulation": {"paths": paths, "seed": seed, "horizon_years": horizon}, "cohorts": [base],
         "policy": {"claim_lag_days": 0, "recovery_timing": "immediate"}}
    d.update(extra)
    return simpool.simulate(simpool.load_scenario(d))


def mean_se(x):
    return x.mean(), x.std(ddof=1) / np.sqrt(len(x))


def test_static_book_unchanged_by_default():
    res = run({})
    bal = res._raw["segment_balance"][:, :, 0]
    d = res._raw["defaults"]
    # balance at the start of each year = loans alive x exposure
    alive = 1000 - np.concatenate([np.zeros((len(d), 1)), np.cumsum(d, axis=1)[:, :-1]], axis=1)
    np.testing.assert_array_equal(bal, alive)


def test_maturity_without_rollover_ends_defaults():
    res = run({"term_years": 2, "rollover": False})
    d = res._raw["defaults"]
    assert d[:, 2:].sum() == 0 and d[:, :2].sum() > 0
    assert np.all(res._raw["segment_balance"][:, 2:, 0] == 0)
    assert np.all(res._raw["segment_balance_end"][:, 1, 0] == 0)  # matured at the end of year 2


def test_growth_adds_vintages_with_the_expected_defaults():
    res = run({"growth": 0.2}, horizon=3)
    # vintages: 1000 at the start, round(1000 x 0.2) = 200 in year 2, round(1000 x 0.24) = 240 in year 3
    # rho = 0: each alive loan defaults with pd 0.05 each year, independently
    p = 0.05
    expect = [1000 * p, (1000 * (1 - p) + 200) * p, (1000 * (1 - p) ** 2 + 200 * (1 - p) + 240) * p]
    d = res._raw["defaults"]
    for y in range(3):
        m, se = mean_se(d[:, y].astype(float))
        assert abs(m - expect[y]) < 5 * se, (y, m, expect[y])
    bal = res._raw["segment_balance"][:, :, 0]
    np.testing.assert_array_equal(bal[:, 1], 1000 - d[:, 0] + 200)


def test_linear_amortisation_lowers_exposure_at_default():
    res = run({"term_years": 4, "amortization": "linear", "rollover": False})
    ead = res._raw["segment_ead"][:, :, 0]
    d = res._raw["defaults"]
    for y, factor in enumerate([1.0, 0.75, 0.5, 0.25]):
        np.testing.assert_allclose(ead[:, y], d[:, y] * factor)
    np.testing.assert_allclose(res._raw["loss"], ead)  # lgd 1


def test_rollover_keeps_the_book_and_draws_fresh_vintages():
    res = run({"term_years": 1})
    bal = res._raw["segment_balance"][:, :, 0]
    d = res._raw["defaults"]
    # term 1: each year's vintage matures at the year end and is replaced by a new vintage
    # of the planned size (1000 loans): defaults are not replaced
    np.testing.assert_array_equal(bal[:, 1:], 1000)
    m, se = mean_se(d[:, 3].astype(float))
    assert abs(m - 50) < 5 * se


def test_book_options_need_binomial_mode():
    with pytest.raises(ScenarioError, match="term_years, growth, borrowers and new_borrowers need mode"):
        run({"mode": "loans", "growth": 0.2, "loans": 10})


def test_guarantee_balance_target_probability():
    d = {"simulation": {"paths": 2000, "seed": 1, "horizon_years": 3, "start_year": 2025},
         "cohorts": [{"name": "g", "loans": 1000, "exposure": 5e7, "pd": 0.02, "lgd": 0.5, "rho": 0.1,
                      "product": "guaranteed", "growth": 0.2}],
         "guarantors": [{"name": "g", "net_assets": 1e10}],
         "report": {"guarantee_balance_target": "500亿", "guarantee_balance_year": 2026}}
    res = simpool.simulate(simpool.load_scenario(d))
    df = res.summary()
    rows = df[df.measure == "guarantee_balance"]
    # the end of 2026 is the start of 2027: the year's new lending (booked at its end) is in
    bal_end_2026 = res._raw["segment_balance"][:, 2, 0]
    assert rows[rows.statistic == "end of year"]["value"].item() == pytest.approx(bal_end_2026.mean())
    # (1000 + 200 loans, less the defaults) + 240 new loans, x 5e7: about 7e10 > 5e10
    assert rows[rows.statistic.str.startswith("P(>=")]["value"].item() == 1.0
    # the last year has no next start: its survivors (the one-year loans renewed)
    res3 = simpool.simulate(simpool.load_scenario({**d, "report": {**d["report"],
                                                                   "guarantee_balance_year": 2027}}))
    rows = res3.summary()
    rows = rows[rows.measure == "guarantee_balance"]
    assert rows[rows.statistic == "end of year"]["value"].item() == pytest.approx(
        res3._raw["segment_balance_end"][:, 2, 0].mean())


def feedback_run(cohort, feedback=True, horizon=3, policy=None, **extra):
    base = {"name": "c", "loans": 100, "exposure": 1.0, "pd": 0.0, "lgd": 1.0, "rho": 0.0, "growth": 1.0}
    base.update(cohort)
    d = {"simulation": {"paths": 20, "seed": 1, "horizon_years": horizon}, "cohorts": [base],
         "policy": {"claim_lag_days": 0, "recovery_timing": "immediate", "lending_feedback": feedback,
                    **(policy or {})}}
    d.update(extra)
    return simpool.simulate(simpool.load_scenario(d))


FLAT = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}


def test_guarantor_leverage_cap_throttles_new_guarantees():
    """The cap binds on the weighted liability (POLICY.md): loans of 1 yuan to small firms
    weigh 0.75, and under 4222 the guarantor's own share is 0.4 (its 0.2 and the government's
    0.2; the bank's and the re-guarantors' are not its liability): 0.3 per yuan lent."""
    g = [{"name": "g", "net_assets": 15.0, "leverage_cap": 5, **FLAT}]
    no_fees = {"reguarantor": {"fee_rate": 0.0},
               "policy": {"national_fund_fee_rate": 0.0, "national_fund_fee_rate_small": 0.0}}
    res = feedback_run({"product": "guaranteed"}, guarantors=g, **no_fees)
    # room 5 x 15 = 75: year 2 book 100 (30) + 100 new (30) fits; year 3 book 200 (60) leaves
    # 15 for 200 planned (60): a quarter made (50), 150 removed by the guarantor's cap
    np.testing.assert_array_equal(res._raw["segment_balance"][:, :, 0], [[100, 200, 250]] * 20)
    np.testing.assert_allclose(res._raw["lending_removed"][:, :, 0], [[0, 0, 150]] * 20)
    np.testing.assert_allclose(res._raw["lending_removed"][:, :, 1:], 0.0)
    free = feedback_run({"product": "guaranteed"}, feedback=False, guarantors=g, **no_fees)
    np.testing.assert_array_equal(free._raw["segment_balance"][:, :, 0], [[100, 200, 400]] * 20)
    lev = free._raw["guarantor_leverage"][0, :, 0]
    np.testing.assert_allclose(lev, [30 / 15, 60 / 15, 120 / 15])
    # a large loan (above 500万) weighs 1; not a small or micro firm: weighs 1
    big = feedback_run({"product": "guaranteed", "exposure": 6e6}, feedback=False,
                       guarantors=[{**g[0], "net_assets": 1.2e9}], **no_fees)
    np.testing.assert_allclose(big._raw["guarantor_leverage"][0, 0, 0], 100 * 6e6 * 0.4 / 1.2e9)
    firm = feedback_run({"product": "guaranteed", "small_micro": False}, feedback=False,
                        guarantors=g, **no_fees)
    np.testing.assert_allclose(firm._raw["guarantor_leverage"][0, 0, 0], 40 / 15)


def test_pool_leverage_target_stops_new_eligible_lending():
    pools = [{"name": "p", "cash": 10.0, "leverage_target": 10}]
    res = feedback_run({"pool": "p"}, pools=pools)
    np.testing.assert_array_equal(res._raw["segment_balance"][:, :, 0], [[100, 100, 100]] * 20)
    res = feedback_run({"pool": "p"}, pools=[{**pools[0], "leverage_target": None}])
    np.testing.assert_array_equal(res._raw["segment_balance"][:, :, 0], [[100, 200, 400]] * 20)


def test_npl_breach_slows_lending():
    banks = [{"name": "b", "growth_slowdown_after_breach": 0.5}]
    res = feedback_run({"pd": 1.0}, horizon=2, banks=banks)
    # every loan defaults each year: NPL 100% > tolerance, so next year's 100 new loans -> 50
    np.testing.assert_array_equal(res._raw["segment_ead"][:, :, 0], [[100, 50]] * 20)


def test_loans_outstanding_and_the_borrower_target():
    # growth 0.2 from 1000 loans with pd 0: 1000, 1200 then 1440 outstanding at the year ends
    # (a year's new loans arrive at its start); 10 single loans that all default in year one
    # add nothing
    d = {"simulation": {"paths": 50, "seed": 1, "horizon_years": 3, "start_year": 2025},
         "cohorts": [{"name": "c", "loans": 1000, "exposure": 1.0, "pd": 0.0, "lgd": 1.0, "rho": 0.0,
                      "growth": 0.2},
                     {"name": "gone", "loans": 10, "exposure": 1.0, "pd": 1.0, "lgd": 1.0, "rho": 0.0,
                      "mode": "loans"}],
         "report": {"guarantee_balance_year": 2026, "borrower_growth_target": 0.1}}
    res = simpool.simulate(simpool.load_scenario(d))
    np.testing.assert_array_equal(res._raw["loans_outstanding"], [[1000, 1200, 1440]] * 50)
    df = res.summary()
    rows = df[df.measure == "borrowers"]
    # the end of 2026 is the start of 2027, with the 240 loans of 2026's growth: 1440 borrowers
    # (one loan each); the 10 single loans defaulted in 2025
    assert rows[rows.statistic == "end of year"]["value"].item() == 1440
    np.testing.assert_array_equal(res._raw["borrowers"], [[1010, 1200, 1440, 1440]] * 50)
    # 1440 >= 1.1 x 1010 on every path
    assert rows[rows.statistic.str.startswith("P(>=")]["value"].item() == 1.0
