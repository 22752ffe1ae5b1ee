"""The ledger of public money (POLICY.md, "Public money"): hand-computed lines, conservation,
levels, what-ifs, the subsidy rate and the leverage of public money, and the errors.

Hand cases: loans default for certain (pd = 1) or never (pd = 0), lags 0, recoveries
immediate, no fees, yields or costs, so every path is the same and each line is worked out
on paper. Shares are hubei_4222's (0.2 each).
"""

from __future__ import annotations

import numpy as np
import pytest

import simpool
from simpool.errors import ScenarioError
from simpool.scenario.policy import PARTIES

FLAT = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}
NO_FEES = {"national_fund_fee_rate": 0.0, "national_fund_fee_rate_small": 0.0}
SPLIT = {"name": "split", "level": {"provincial": 0.5, "city": 0.5}}


def cohort(name, loans, pd, product="credit", exposure=100.0, **kw):
    return {"name": name, "loans": loans, "exposure": exposure, "pd": pd, "lgd": 0.7,
            "rho": 0.0, "product": product, **kw}


def scenario(cohorts, horizon=1, policy=None, guarantor=None, **extra) -> dict:
    pol = {"claim_lag_days": 0, "reimbursement_lag_days": 0, "recovery_timing": "immediate",
           "national_fund_payout_cap": 1.0, "discount_rate": 0.0, **NO_FEES, **(policy or {})}
    d = {"simulation": {"paths": 8, "seed": 3, "horizon_years": horizon},
         "cohorts": cohorts, "policy": pol, "payers": [SPLIT],
         "reguarantor": {**FLAT, "net_assets": 1e9},
         "guarantors": [{"name": "g", "net_assets": 1e9, **FLAT, **(guarantor or {})}]}
    if any(c.get("product") == "insured" for c in cohorts):
        d["insurers"] = [{"name": "ins", "premium_rate": 0.02}]
    d.update(extra)
    return d


def run(cohorts, horizon=1, paths=8, **kw):
    return simpool.simulate(simpool.load_scenario(scenario(cohorts, horizon, **kw)),
                            paths=paths, keep="all")


def one(x) -> float:
    """The value of a per-path array whose paths are all the same."""
    x = np.asarray(x)
    assert np.all(x == x[0]), x
    return float(x[0])


def line(res, payer, flow, year=None) -> float:
    """Expected cash of one ledger line (all levels), in ``year`` or summed."""
    led = res.ledger
    for i, ln in enumerate(led.lines):
        if ln.payer == payer and ln.flow == flow:
            a = led.line_flows(i)
            return one(a.sum(axis=1) if year is None else a[:, led.years.index(year)])
    raise AssertionError(f"no line {payer} / {flow}: {[l[:2] for l in led.lines]}")


# ------------------------------------------------------------------ each new flow by hand

def test_interest_subsidy_on_the_performing_balance_for_its_years():
    """10 loans of 100 that never default: 2% of 1,000 = 20 in year 1 only (years = 1), paid by
    the city; 10 loans of 100 that all default in year 1: 1% of (1,000 - 1,000 / 2) = 5, paid
    province:city 1:1."""
    res = run([cohort("ok", 10, 0.0, interest_subsidy_rate=0.02, interest_subsidy_years=1,
                      interest_subsidy_payer="city_budget"),
               cohort("bad", 10, 1.0, interest_subsidy_rate=0.01, interest_subsidy_payer="split")],
              horizon=2)
    y0, y1 = res.years
    assert line(res, "city_budget", "interest subsidy", y0) == pytest.approx(20.0)
    assert line(res, "city_budget", "interest subsidy", y1) == 0.0
    assert line(res, "split", "interest subsidy", y0) == pytest.approx(5.0)
    assert one(res.fiscal(level="provincial", payer="split", year=y0)) == pytest.approx(2.5)
    assert one(res.fiscal(level="city", year=y0)) == pytest.approx(20.0 + 2.5)
    assert "central" not in res.fiscal_levels


def test_premium_subsidy_of_first_set_insurance_is_central():
    """100 insured loans of 100 that never default, premium 2%: 80% of 200 = 160 a year,
    central budget money; the insurer's premium is the same (the subsidy pays the borrower's
    share)."""
    res = run([cohort("first_set", 100, 0.0, "insured", insurer="ins", premium_subsidy_rate=0.8,
                      premium_subsidy_payer="central_budget")], horizon=2,
              insurance_pool={"cash": 1e6})
    for y in res.years:
        assert line(res, "central_budget", "premium subsidy", y) == pytest.approx(160.0)
        assert one(res.fiscal(level="central", year=y)) == pytest.approx(160.0)
    assert one(res.fiscal(level="central")) == pytest.approx(320.0)


def test_the_four_supports_restore_a_guarantor_by_hand():
    """10 guaranteed loans of 100 default: the guarantor's 20% of the loss 700 is 140, so net
    assets 1,000 fall to 860. Its 四补: fee subsidy 1% x 1,000 = 10; injection 5; payout
    compensation 50% x 140 = 70; business reward 0.2% x 1,000 of small loans = 2; then the
    top-up back to 1,000: 53."""
    res = run([cohort("gl", 10, 1.0, "guaranteed", guarantor="g")],
              guarantor={"net_assets": 1000.0, "fee_subsidy_rate": 0.01,
                         "capital_injection": 5.0, "payout_compensation_rate": 0.5,
                         "business_reward_rate": 0.002, "capital_top_up": "restore",
                         "support_payer": "provincial_budget"},
              policy={"small_loan_limit": 100.0})  # (loans of exactly the limit are small)
    want = {"fee subsidy": 10.0, "capital injection": 5.0, "payout compensation": 70.0,
            "business reward": 2.0, "capital top-up": 53.0}
    for flow, amount in want.items():
        assert line(res, "provincial_budget", flow) == pytest.approx(amount), flow
    assert one(res.guarantor_net_assets("g")[:, -1]) == pytest.approx(1000.0)
    assert one(res.fiscal(payer="provincial_budget")) == pytest.approx(140.0)


def test_business_rewards_only_on_small_loans_to_small_and_micro_firms():
    """Reward 1% of the balance of loans of at most 100 yuan to small and micro firms: only
    the first cohort's 1,000 (the second lends 200 a loan, the third to larger firms)."""
    res = run([cohort("small", 10, 0.0, "guaranteed", guarantor="g"),
               cohort("big", 10, 0.0, "guaranteed", exposure=200.0, guarantor="g"),
               cohort("firms", 10, 0.0, "guaranteed", guarantor="g", small_micro=False)],
              guarantor={"business_reward_rate": 0.01}, policy={"small_loan_limit": 100.0})
    assert line(res, "government", "business reward") == pytest.approx(10.0)


def test_a_leverage_top_up_by_hand():
    """Net assets 100, loss 140: -40 at the year's end. Weighted liability at the start:
    0.75 (small loans) x 0.4 (guarantor + government shares) x 1,000 = 300; top_up_leverage
    0.5 tops net assets up to 600: 640."""
    res = run([cohort("gl", 10, 1.0, "guaranteed", guarantor="g")],
              guarantor={"net_assets": 100.0, "capital_top_up": "leverage", "top_up_leverage": 0.5})
    assert line(res, "government", "capital top-up") == pytest.approx(640.0)
    assert one(res.guarantor_net_assets("g")[:, -1]) == pytest.approx(600.0)


def test_rewards_are_the_plans_30wan_to_ten_institutions_from_the_province():
    res = run([cohort("ok", 10, 0.0)], horizon=3,
              rewards={"institutions": 10, "amount": "30万", "years": 2})
    y = res.years
    assert [line(res, "provincial_budget", "rewards", k) for k in y] == [3e6, 3e6, 0.0]
    assert one(res.fiscal(level="provincial")) == pytest.approx(6e6)


def test_public_entities_by_level_and_kind():
    """The 4222 split of a loss of 700: 140 each to the national fund (central, state-owned
    capital), the re-guarantor (provincial, soe), the government (city budget), a state
    guarantor (provincial, soe); the bank's 140 is not public."""
    res = run([cohort("gl", 10, 1.0, "guaranteed", guarantor="g")],
              guarantor={"level": "provincial"})
    assert one(res.fiscal(kind="soe", level="central")) == pytest.approx(140.0)
    assert one(res.fiscal(kind="soe", level="provincial")) == pytest.approx(280.0)
    assert one(res.fiscal(kind="budget")) == pytest.approx(140.0)
    assert one(res.fiscal(kind=None)) == pytest.approx(560.0)
    assert one(res.fiscal(payer="national_fund", kind=None)) == pytest.approx(140.0)
    assert res.fiscal_levels == ["central", "provincial", "city"]
    # a private guarantor (no level) is not public money
    res = run([cohort("gl", 10, 1.0, "guaranteed", guarantor="g")])
    assert one(res.fiscal(kind=None)) == pytest.approx(420.0)


def test_npv_discounts_each_year_at_mid_year():
    res = run([cohort("ok", 10, 0.0, interest_subsidy_rate=0.02)], horizon=3,
              policy={"discount_rate": 0.1})
    want = sum(20.0 * 1.1 ** -(t + 0.5) for t in range(3))
    assert one(res.fiscal_npv()) == pytest.approx(want)
    npv = res.summary().query("measure == 'fiscal' and statistic == 'NPV' and year.isna()")
    assert float(npv.value.iloc[0]) == pytest.approx(want)


def test_the_angel_funds_public_cash_is_a_line_at_its_level():
    d = scenario([cohort("ok", 10, 0.0)], horizon=2)
    d["funds"] = [{"name": "angel", "size": "1亿", "government_share": 0.5, "deals_per_year": 4,
                   "ticket": "500万", "life_years": 4, "investment_years": 2, "level": "city"}]
    d["simulation"]["paths"] = 200
    res = simpool.simulate(simpool.load_scenario(d), keep="all")
    cash = res._raw["fund:angel:gov_cash"]
    assert res.ledger.years == [2025, 2026, 2027, 2028]
    for t, y in enumerate(res.ledger.years):
        np.testing.assert_array_equal(res.fiscal(payer="angel", year=y), cash[:, t])
        np.testing.assert_array_equal(res.fiscal(level="city", year=y), cash[:, t])
    np.testing.assert_allclose(res.samples("public_cash"), cash.sum(axis=1), rtol=1e-12)


# ------------------------------------------------------------------ conservation and levels

def every_flow() -> dict:
    """Every product and every public flow, two banks, a co-funded pool, a state guarantor."""
    return {
        "simulation": {"paths": 400, "seed": 17, "horizon_years": 4},
        "cohorts": [
            cohort("g1", 200, 0.05, "guaranteed", exposure=1e6, rho=0.2, guarantor="ga",
                   growth=0.3, interest_subsidy_rate=0.01, bank="b1"),
            cohort("g2", 50, 0.04, "guaranteed", exposure=4e6, rho=0.2, guarantor="gb",
                   term_years=2, bank="b2"),
            cohort("i1", 200, 0.06, "insured", exposure=1e6, rho=0.2, insurer="ins",
                   premium_subsidy_rate=0.5, premium_subsidy_payer="central_budget", bank="b1"),
            cohort("c1", 300, 0.05, "credit", exposure=1e6, rho=0.2, pool="kv", term_years=2,
                   interest_subsidy_rate=0.02, interest_subsidy_years=2,
                   interest_subsidy_payer="split", bank="b2"),
        ],
        "banks": [{"name": "b1"}, {"name": "b2"}],
        "guarantors": [
            {"name": "ga", "net_assets": 2e7, "fee_subsidy_rate": 0.005, "capital_top_up": "restore",
             "payout_compensation_rate": 0.3, "level": "provincial", "support_payer": "split"},
            {"name": "gb", "net_assets": 3e7, "capital_injection": 1e6, "business_reward_rate": 0.002}],
        "reguarantor": {"net_assets": 5e7, "fee_subsidy_rate": 0.001},
        "pools": [{"name": "kv", "cash": 2e7, "annual_top_up": 5e6,
                   "level": {"provincial": 0.5, "city": 0.5}}],
        "insurers": [{"name": "ins"}],
        "insurance_pool": {"cash": 1e7, "premium_subsidy": 0.2},
        "government": {"fund": 3e7, "annual_budget": 1e7, "level": {"city": 0.7, "district": 0.3}},
        "payers": [SPLIT],
        "rewards": {"institutions": 10},
        "policy": {"discount_rate": 0.03},
    }


@pytest.fixture(scope="module")
def rich():
    return simpool.simulate(simpool.load_scenario(every_flow()), keep="all")


def test_payers_flows_are_the_public_parties_cash_plus_the_separate_lines(rich):
    """Conservation: all public money in every path and year = the public parties' cash
    (national fund, re-guarantor, government, pools, insurance pool, the state guarantor)
    + the insurance pool's premium subsidy + the kernel's subsidy and 四补 columns + the
    rewards, summed straight from the raw outputs."""
    raw = rich._raw
    party = raw["party"]
    ent = rich.entities
    want = (party[:, :, PARTIES.index("national_fund")] + party[:, :, PARTIES.index("reguarantor")]
            + party[:, :, PARTIES.index("government")] + party[:, :, PARTIES.index("compensation_pool")]
            + party[:, :, PARTIES.index("insurance_pool")]
            + raw["entity"][:, :, ent.index("guarantor:ga")]
            + raw["premium_subsidy"] + raw["public_flows"].sum(axis=2) + 10 * 300_000.0)
    got = np.stack([rich.fiscal(year=y, kind=None) for y in rich.years], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-3)
    # the columns: interest (2 payers), premium (central), 四补 of ga (3) and gb (2), reg (1)
    cols = rich._wf.ledger_columns
    assert len(cols) == 9 and len(set(cols)) == 9
    assert (raw["public_flows"] > 0).any(axis=(0, 1)).all()
    # budget + soe = all; soe = national fund + re-guarantor + the state guarantor
    soe = (party[:, :, PARTIES.index("national_fund")] + party[:, :, PARTIES.index("reguarantor")]
           + raw["entity"][:, :, ent.index("guarantor:ga")])
    got_soe = np.stack([rich.fiscal(year=y, kind="soe") for y in rich.years], axis=1)
    np.testing.assert_allclose(got_soe, soe, rtol=1e-12, atol=1e-3)
    np.testing.assert_allclose(rich.fiscal(kind=None),
                               rich.fiscal(kind="budget") + rich.fiscal(kind="soe"), rtol=1e-12)


def test_levels_sum_to_the_total_in_every_path_and_year(rich):
    assert rich.fiscal_levels == ["central", "provincial", "city", "district"]
    for kind in ("budget", "soe", None):
        for y in rich.years:
            total = rich.fiscal(year=y, kind=kind)
            parts = sum(rich.fiscal(level=lv, year=y, kind=kind) for lv in rich.fiscal_levels)
            np.testing.assert_allclose(parts, total, rtol=1e-9, atol=1e-6)
    # a co-funded line counts at each level by its share
    gov = rich.fiscal(payer="government")
    np.testing.assert_allclose(rich.fiscal(payer="government", level="district"), 0.3 * gov)
    # and the summary's per-level rows add up to its total
    s = rich.summary()
    npv = s[(s.statistic == "NPV") & s.year.isna()].set_index("measure").value
    assert sum(npv[f"fiscal:{lv}"] for lv in rich.fiscal_levels if f"fiscal:{lv}" in npv) \
        == pytest.approx(npv["fiscal"], rel=1e-9)


def test_a_what_if_on_one_flow_moves_only_its_payers_lines(rich):
    """Doubling c1's interest subsidy (paid by "split") changes that line alone: every other
    line is the same in every path (same seed; the subsidy feeds back into nothing)."""
    d = every_flow()
    d["cohorts"][3]["interest_subsidy_rate"] = 0.04
    other = simpool.simulate(simpool.load_scenario(d), keep="all")
    a, b = rich.ledger, other.ledger
    assert a.lines == b.lines
    moved = []
    for i, ln in enumerate(a.lines):
        if not np.array_equal(a.line_flows(i), b.line_flows(i)):
            moved.append((ln.payer, ln.flow, ln.recipient))
    assert moved == [("split", "interest subsidy", "credit borrowers")]
    np.testing.assert_allclose(b.line_flows(a.lines.index(a.lines[[l.recipient for l in a.lines]
                                                                      .index("credit borrowers")])),
                               2 * a.line_flows([l.recipient for l in a.lines].index("credit borrowers")),
                               rtol=1e-12)
    for lv in ("central", "district"):
        np.testing.assert_array_equal(other.fiscal(level=lv), rich.fiscal(level=lv))


# ------------------------------------------------------------------ rates and summary rows

def test_subsidy_rate_and_leverage_of_public_money_are_ratios_of_simulated_totals(rich):
    """subsidy rate = E[NPV of public money] / E[PV of loan-years]; leverage = its inverse
    for all public money; both recomputed here from the raw outputs, each with a delta-method
    standard error."""
    raw = rich._raw
    t = np.arange(len(rich.years))
    disc = 1.03 ** -(t + 0.5)
    loan_years = raw["product_balance"].sum(axis=2) @ disc
    s = rich.summary()
    whole = s[s.year.isna()]

    def row(measure, statistic, product=""):
        r = whole[(whole.measure == measure) & (whole.statistic == statistic)
                  & (whole["product"] == product)]
        assert len(r) == 1, (measure, statistic, product)
        return float(r.value.iloc[0]), float(r.se.iloc[0])

    budget = np.stack([rich.fiscal(year=y) for y in rich.years], axis=1) @ disc
    public = np.stack([rich.fiscal(year=y, kind=None) for y in rich.years], axis=1) @ disc
    value, se = row("fiscal", "subsidy rate")
    assert value == pytest.approx(budget.mean() / loan_years.mean(), rel=1e-12)
    r = budget.mean() / loan_years.mean()
    want_se = np.std(budget - r * loan_years, ddof=1) / np.sqrt(len(budget)) / loan_years.mean()
    assert se == pytest.approx(want_se, rel=1e-9) and se > 0
    value, _ = row("public_money", "subsidy rate")
    assert value == pytest.approx(public.mean() / loan_years.mean(), rel=1e-12)
    value, se = row("public_money", "leverage of public money")
    assert value == pytest.approx(loan_years.mean() / public.mean(), rel=1e-12) and se > 0
    # per programme: the programme's own lines over its own loan-years
    credit_ly = raw["product_balance"][:, :, 0] @ disc
    credit = sum(rich.ledger.line_flows(i) for i, ln in enumerate(rich.ledger.lines)
                 if ln.product == "credit" and ln.kind == "budget") @ disc
    value, _ = row("fiscal", "subsidy rate", "credit")
    assert value == pytest.approx(credit.mean() / credit_ly.mean(), rel=1e-12)
    assert not (whole.statistic == "loans per yuan of public money").any()


def test_summary_has_the_budget_at_risk_per_level_and_year(rich):
    s = rich.summary()
    for lv in ["fiscal"] + [f"fiscal:{x}" for x in rich.fiscal_levels]:
        for y in rich.years:
            part = s[(s.measure == lv) & (s.year == y)]
            assert set(zip(part.statistic, part.param.fillna(-1))) >= {
                ("expected outlay", -1), ("VaR", 0.95), ("VaR", 0.99), ("ES", 0.95), ("ES", 0.99)}
            assert (part.basis == "cash").all() and (part.se >= 0).all()
    x = rich.fiscal(level="city", year=rich.years[1])
    r = s[(s.measure == "fiscal:city") & (s.year == rich.years[1])]
    got = dict(zip(zip(r.statistic, r.param.fillna(-1)), r.value))
    assert got[("expected outlay", -1)] == pytest.approx(x.mean(), rel=1e-12)
    assert got[("VaR", 0.99)] == pytest.approx(np.sort(x)[int(np.ceil(0.99 * len(x))) - 1])


def test_samples_of_fiscal_per_year_and_level(rich):
    y = rich.years[1]
    np.testing.assert_array_equal(rich.samples("fiscal", year=y), rich.fiscal(year=y))
    np.testing.assert_array_equal(rich.samples("fiscal:city"), rich.fiscal(level="city"))
    np.testing.assert_array_equal(rich.samples("public_money:central", year=y),
                                  rich.fiscal(level="central", year=y, kind=None))
    assert "fiscal:district" in rich.measures and "public_money" in rich.measures
    # the ultimate basis moves only credit losses
    d = rich.fiscal(basis="ultimate") - rich.fiscal()
    led = rich.ledger
    loss = sum(led.line_flows(i, "ultimate").sum(axis=1) - led.line_flows(i).sum(axis=1)
               for i, ln in enumerate(led.lines) if ln.kind == "budget" and ln.flow == "credit losses")
    np.testing.assert_allclose(d, loss, rtol=1e-9, atol=1e-3)
    df = rich.public_ledger()
    assert set(df.columns) == {"payer", "flow", "recipient", "level", "kind", "year", "expected", "se"}
    share = df[(df.payer == "government") & (df.level == "district")].expected.sum()
    assert share == pytest.approx(0.3 * rich.fiscal(payer="government").mean(), rel=1e-9)


def test_asking_for_what_is_not_there_says_what_is(rich):
    with pytest.raises(KeyError, match="unknown level 'county'.*central, provincial"):
        rich.fiscal(level="county")
    with pytest.raises(KeyError, match="unknown payer 'nobody'.*national_fund"):
        rich.fiscal(payer="nobody")
    with pytest.raises(KeyError, match="kind must be one of budget, soe"):
        rich.fiscal(kind="private")
    with pytest.raises(KeyError, match="year 2040 has no public money"):
        rich.fiscal(year=2040)
    with pytest.raises(KeyError, match="basis"):
        rich.fiscal(basis="accrual")


# ------------------------------------------------------------------ bad scenarios

@pytest.mark.parametrize("change, where, what", [
    (lambda d: d["cohorts"][0].update(interest_subsidy_payer="treasury"),
     "cohorts.g1.interest_subsidy_payer", "unknown budget payer 'treasury'"),
    (lambda d: d["cohorts"][0].update(interest_subsidy_payer="kv"),
     "cohorts.g1.interest_subsidy_payer", "pays from its own money"),
    (lambda d: d["guarantors"][1].update(support_payer="splt"),
     "guarantors.gb.support_payer", "did you mean 'split'"),
    (lambda d: d["pools"][0].update(level={"provincial": 0.5, "city": 0.4}),
     "pools", "must sum to 1"),
    (lambda d: d["government"].update(level="county"), "government.level", "central, provincial"),
    (lambda d: d["payers"].append({"name": "kv", "level": "city"}), "payers", "already the name"),
    (lambda d: d["cohorts"][1].update(premium_subsidy_rate=0.5), "cohorts.g2.premium_subsidy_rate",
     "only insured loans"),
    (lambda d: d["rewards"].update(payer="national_fund"), "rewards.payer", "pays from its own money"),
])
def test_bad_public_money_tables_name_the_field(change, where, what):
    d = every_flow()
    change(d)
    with pytest.raises(ScenarioError) as e:
        simpool.load_scenario(d)
    text = str(e.value)
    assert where in text and what in text, text


def test_compare_carries_the_per_level_figures(rich):
    """A what-if on common random numbers: the per-level rows are in the comparison, the
    payer's levels move (province and city, 1:1) and the central level does not, exactly."""
    from simpool.analysis.compare import compare

    d = every_flow()
    d["cohorts"][3]["interest_subsidy_rate"] = 0.04
    d["title"] = "more_subsidy"
    t = compare(simpool.load_scenario(every_flow()), [simpool.load_scenario(d)], paths=400)
    npv = t[(t.statistic == "NPV") & t.year.isna()].set_index("measure")
    assert npv.loc["fiscal:central", "diff"] == 0.0
    prov, city = npv.loc["fiscal:provincial", "diff"], npv.loc["fiscal:city", "diff"]
    assert prov > 0 and prov == pytest.approx(city, rel=1e-9)
    assert npv.loc["fiscal", "diff"] == pytest.approx(prov + city, rel=1e-9)
    r = t[(t.measure == "fiscal") & (t.statistic == "subsidy rate") & (t["product"] == "")]
    assert float(r["diff"].iloc[0]) > 0 and float(r["se_diff"].iloc[0]) >= 0


def test_console_has_a_public_money_table_per_level_and_year(rich):
    from simpool.outputs.files import format_summary

    text = format_summary(rich, rich.summary_rows())
    section = text[text.index("public money, budget"):]
    rows = {line.split()[0]: line for line in section.splitlines()[2:]
            if line.strip() and not line.strip().startswith(("-", "("))}
    assert set(rows) == {"central", "provincial", "city", "district", "all"}
    for line in rows.values():  # every year's cell and the NPV, separated
        assert line.count(" ±") == len(rich.years) + 1 and "  " in line.strip()
