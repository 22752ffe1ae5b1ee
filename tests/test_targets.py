"""The plan's targets as questions (:mod:`simpool.analysis.targets`): books with no defaults,
so that whether a target is reached is decided by the demand and the constraints alone and the
smallest lever value is computed by hand from the rules of POLICY.md."""

from __future__ import annotations

import math

import pytest

from simpool.analysis.targets import GRID, format_targets, tables, targets
from simpool.cli.main import main

FLAT = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}


def guaranteed_book(net_assets=20e8, target="400亿"):
    """1000 guaranteed loans of 1000万, doubling demand, one-year loans renewed; the
    guarantor's liability is 0.4 a yuan (4222: its 0.2 and the government's; weight 1, not
    small; tickets within the national fund's 3000万 borrower cap, so its 0.2 stays its own)."""
    return {
        "simulation": {"paths": 40, "seed": 3, "horizon_years": 3, "start_year": 2025},
        "cohorts": [{"name": "g", "loans": 1000, "exposure": 1e7, "pd": 0.0, "lgd": 1.0,
                     "rho": 0.0, "product": "guaranteed", "guarantor": "gu", "growth": 1.0,
                     "small_micro": False}],
        "guarantors": [{"name": "gu", "net_assets": net_assets, "leverage_cap": 5, **FLAT,
                        "support_payer": "city_budget"}],
        "reguarantor": {"net_assets": 1e12, "fee_rate": 0.0},
        "policy": {"national_fund_fee_rate": 0.0, "national_fund_fee_rate_small": 0.0,
                   "lending_feedback": True, "discount_rate": 0.0},
        "report": {"guarantee_balance_target": target, "guarantee_balance_year": 2026}}


def answer(res, target, lever, level):
    return next(a for a in res.answers if a.target == target and a.lever.startswith(lever)
                and a.level == level)


def test_capital_injection_that_lifts_the_leverage_cap_by_hand():
    """Room at the decision for 2027's loans (end of 2026's second year): 5 x (20亿 + 2X) of
    liability against 0.4 x 200亿 on the book and 0.4 x 200亿 planned: all of it is lent when
    X >= 6亿 a year. The grid over [0, 20亿] steps 0.3125亿: the first point above is 6.25亿
    (at 5.9375亿, 1984 of the 2000 loans: 398.4亿 < 400亿)."""
    res = targets(guaranteed_book(), paths=40, only=["capital_injection"])
    assert res.base.reached["guarantee_balance"] == (0.0, 0.0)
    assert res.base.value["guarantee_balance"] == pytest.approx((250e8, 400e8))
    for level in (0.5, 0.9):
        a = answer(res, "guarantee_balance", "capital_injection", level)
        assert a.x == pytest.approx(6.25e8) and a.p == 1.0
        # public money: the injection, three years of it, from the city budget (discount 0)
        assert a.cost["city"] == pytest.approx(3 * 6.25e8, rel=1e-12)
    assert (20e8 / GRID) == pytest.approx(0.3125e8)


def test_demand_lever_by_hand():
    """No binding constraint: the balance at the end of 2026 is 100亿 (1 + g)^2 with g = the
    base growth 1.0 times the factor m. 500亿 needs m >= 1.2361; the grid over [1, 4] (step
    3/64): m = 1.234375 makes 1000 + 1234 + 2758 = 4992 loans of 1000万, m = 1.28125 5204."""
    res = targets(guaranteed_book(net_assets=1e12, target="500亿"), paths=40, only=["demand"])
    a = answer(res, "guarantee_balance", "demand", 0.5)
    assert a.x == pytest.approx(1.28125)
    assert res.base.value["guarantee_balance"][0] == pytest.approx(400e8)


def test_pool_cash_by_hand_and_its_direct_cost():
    """A credit book of 100 loans of 1亿 doubling, under a pool with leverage target 10 and
    10亿 of cash: 2027's 200 planned loans (200亿) fit beside the 200亿 on the book when the
    cash is at least 40亿. The loan balance target (+100% a year: 400亿 at the end of 2026)
    needs exactly that; the grid over [10亿, 50亿] has 40亿 on it. The added 30亿 is public
    money at the pool's level (not in the ledger's flows)."""
    d = {"simulation": {"paths": 40, "seed": 3, "horizon_years": 3, "start_year": 2025},
         "cohorts": [{"name": "c", "loans": 100, "exposure": 1e8, "pd": 0.0, "lgd": 1.0,
                      "rho": 0.0, "growth": 1.0, "pool": "p"}],
         "pools": [{"name": "p", "cash": "10亿", "share": 0.5, "leverage_target": 10,
                    "interest_rate": 0.0, "level": "provincial"}],
         "policy": {"lending_feedback": True, "discount_rate": 0.0},
         "report": {"loan_growth_target": 1.0, "guarantee_balance_year": 2026}}
    res = targets(d, paths=40, only=["pool_cash"])
    assert "guarantee_balance" not in res.base.reached  # no guaranteed loans: not stated
    a = answer(res, "loan_balance", "pool_cash", 0.9)
    assert a.x == pytest.approx(40e8)
    assert a.cost == pytest.approx({"provincial": 30e8})
    # the base: nothing lent beyond the start book's room (10 x 10亿 = 100亿 on the book)
    assert res.base.removed[2026] == [("pool:p leverage target", pytest.approx(100e8))]
    g = answer(res, "guarantee_balance", "pool_cash", 0.5)
    assert g.x is None and "does not state" in g.why


def test_a_target_no_lever_reaches_says_why():
    """The guaranteed target with only a pool lever and no pool on the guaranteed book: the
    guarantor's cap holds the lending back at the top of the range too."""
    res = targets(guaranteed_book(), paths=40, only=["demand"])
    a = answer(res, "guarantee_balance", "demand", 0.9)
    assert a.x is None
    assert "the top of its range" in a.why and "guarantor:gu leverage cap removes" in a.why
    line = answer(targets(guaranteed_book(), paths=40, only=["credit_line"]),
                  "guarantee_balance", "credit_line", 0.5)
    assert line.x is None and "no national-fund credit line" in line.why
    text = format_targets(res)
    assert "not reached" in text and "2025: the start book" in text
    t, lv = tables(res)
    assert list(t.target) == ["guarantee_balance", "borrowers", "loan_balance"]
    assert math.isnan(lv[lv.target == "guarantee_balance"].value.iloc[-1])


def test_targets_command(tmp_path, capsys):
    import tomllib  # noqa: F401  (the scenario is written as TOML below)

    f = tmp_path / "g.toml"
    f.write_text("""
[simulation]
paths = 40
seed = 3
horizon_years = 3
start_year = 2025

[[cohorts]]
name = "g"
loans = 1000
exposure = 1e7
pd = 0.0
lgd = 1.0
rho = 0.0
product = "guaranteed"
guarantor = "gu"
growth = 1.0
small_micro = false

[[guarantors]]
name = "gu"
net_assets = 2e9
leverage_cap = 5
fee_rate = 0.0
investment_yield = 0.0
operating_cost_rate = 0.0

[reguarantor]
net_assets = 1e12
fee_rate = 0.0

[policy]
national_fund_fee_rate = 0.0
national_fund_fee_rate_small = 0.0
lending_feedback = true

[report]
guarantee_balance_target = "400亿"
""", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["targets", str(f), "--paths", "40", "--levers", "capital_injection",
                 "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "tech-guarantee balance" in text and "6.25亿 a year" in text
    assert {p.name for p in out.iterdir()} >= {"targets.csv", "targets_levers.csv",
                                                "targets.txt", "scenario.resolved.toml",
                                                "provenance.json"}
    # --set like run: a larger guarantor needs no injection
    assert main(["targets", str(f), "--paths", "40", "--levers", "capital_injection",
                 "--set", "guarantors.gu.net_assets=1e12", "--out", str(out), "--quiet"]) == 0
    assert "reached without a change" in capsys.readouterr().out
    assert main(["targets", str(f), "--paths", "0"]) == 2
    assert main(["targets", str(tmp_path / "missing.toml")]) == 2


def test_report_section_of_the_targets(tmp_path):
    """The report states P(reached) and what binds from its own run, and the levers' table
    with --targets."""
    import json  # noqa: F401

    from simpool.analysis.simulation import simulate
    from simpool.outputs.report import build_html
    from simpool.scenario.load import load_scenario

    d = guaranteed_book()
    res = simulate(load_scenario(d), paths=40, keep="all")
    page = build_html(res, res.summary_rows())
    assert "The plan's targets" in page and "tech-guarantee balance" in page
    assert "guarantor:gu leverage cap" in page  # what binds in 2027
    assert "simpool report --targets" in page
    found = targets(d, paths=40, only=["capital_injection"])
    page = build_html(res, res.summary_rows(), targets=found)
    assert "6.25亿 a year" in page and "city" in page
