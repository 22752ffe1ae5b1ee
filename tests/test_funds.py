"""The angel fund end to end: validation, closed forms, an independent numpy twin, the joint
market factor with the credit side, conservation, reproducibility and the what-if levers.

Monte Carlo comparisons use fixed seeds and 4-standard-error tolerances.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from scipy import special

from simpool import load_scenario, simulate
from simpool.errors import ScenarioError
from simpool.scenario.fund import OUTCOME_PRESETS
from simpool.engine.fundkernels import FIGURES

ROOT = Path(__file__).resolve().parents[1]
WILT = OUTCOME_PRESETS["wiltbank_mean"]


def fund(**kw) -> dict:
    base = {"name": "f", "size": 1e9, "government_share": 0.8, "deals_per_year": 10,
            "ticket": 1e7}
    base.update(kw)
    return base


def scenario(*funds, paths=20_000, seed=3, **extra) -> dict:
    sc = {"simulation": {"paths": paths, "seed": seed}, "funds": list(funds)}
    sc.update(extra)
    return sc


def problems(sc: dict) -> str:
    with pytest.raises(ScenarioError) as e:
        load_scenario(sc)
    return str(e.value)


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("change, message", [
    ({"government_share": 0.95}, "funds.f.government_share: must be <= 0.9: the plan caps"),
    ({"profit_concession": 1.5}, "funds.f.profit_concession: must be <= 1"),
    ({"tolerance_basis": "deal"}, "funds.f.tolerance_basis: must be one of"),
    ({"investment_years": 12}, "investment_years (12) must not exceed life_years (10)"),
    ({"management_fee": 0.05, "life_years": 20, "investment_years": 5}, "leaves nothing to invest"),
    ({"ticket": None}, "needs a ticket"),
    ({"ticket": 0}, "ticket must be > 0"),
    ({"sector": "biotech"}, "funds.f.sector: unknown sector 'biotech'"),
    ({"stages": [{"name": "a", "share": 0.5, "ticket": 1e6}], "ticket": None},
     "stage shares must sum to 1"),
    ({"outcomes": {"preset": "unicorns"}}, "funds.f.outcomes.preset: must be one of"),
    ({"outcomes": {"alpah": 1.0}}, "unknown key 'alpah' (did you mean 'alpha'?)"),
    ({"start_year": 2030}, "funds.f.start_year: must be the simulation's start_year"),
    ({"deals_per_year": -1}, "funds.f.deals_per_year: must be >= 0"),
])
def test_bad_fund_tables_are_clear_errors(change, message):
    f = fund(**change)
    f = {k: v for k, v in f.items() if v is not None}
    assert message in problems(scenario(f))


def test_importance_sampling_is_refused_with_funds():
    sc = scenario(fund(), importance_sampling={"method": "shift", "shift": [1.0]})
    assert "importance sampling does not cover [[funds]]" in problems(sc)


def test_errors_point_at_the_file_and_line(tmp_path):
    p = tmp_path / "f.toml"
    p.write_text('[[funds]]\nname = "a"\nsize = "1亿"\ngovernment_share = 0.95\n'
                 'deals_per_year = 5\nticket = "100万"\n', encoding="utf-8")
    msg = problems(str(p))
    assert f"{p}:4: funds.a.government_share: must be <= 0.9" in msg


def test_deal_flow_warnings():
    sc = load_scenario(scenario(fund(deals_per_year=100)))
    from simpool.scenario import scenario_warnings

    assert any("the fund stops dealing early" in w.message for w in scenario_warnings(sc))
    sc = load_scenario(scenario(fund(deals_per_year=1)))
    assert any("under half" in w.message for w in scenario_warnings(sc))


def test_money_in_chinese_units_and_presets_resolved():
    sc = load_scenario(scenario(fund(size="10亿", ticket="500万", outcomes={"preset": "vc_harsh"})))
    f = sc.funds[0]
    assert f.size == 1e9 and f.ticket == 5e6
    assert (f.outcomes.p_loss, f.outcomes.alpha, f.outcomes.cap) == (0.45, 1.1, 100.0)
    assert f.sector == "tech" and f.start_year == 2025


# ------------------------------------------------------------------ closed forms

def simple(tol=0.5, **kw):
    """One deal per path, no fees, hurdle, carry or concession, one-year life: LR_g = 1 - m."""
    return fund(deals_per_year=1, ticket=1e6, size=1e6, life_years=1, investment_years=1,
                management_fee=0.0, hurdle=0.0, carry=0.0, profit_concession=0.0,
                deal_correlation=0.0, tolerance=tol, **kw)


@pytest.mark.parametrize("tol", [0.3, 0.5, 0.7])
def test_breach_probability_of_one_deal_is_exact(tol):
    res = simulate(load_scenario(scenario(simple(tol), paths=100_000)))
    exact = WILT["p_loss"] + WILT["p_partial"] * (1.0 - tol)  # P(m < 1 - tol)
    s = res.summary()
    for stat in (f"P(loss ratio>{tol:g}, fund)", f"P(loss ratio>{tol:g}, portfolio_weighted)",
                 f"P(project loss>{tol:g})"):
        row = s[(s.measure == "fund:f") & (s.statistic == stat)].iloc[0]
        assert abs(row.value - exact) < 4 * math.sqrt(exact * (1 - exact) / 100_000), stat
    m = res.samples("fund:f:proceeds") / 1e6
    np.testing.assert_allclose(res.samples("fund:f:gov_loss_ratio"), 1.0 - m, atol=1e-12)
    np.testing.assert_allclose(res.samples("fund:f:portfolio_loss_ratio"), np.maximum(0, 1 - m),
                               atol=1e-12)


def test_loss_ratio_of_many_independent_deals_matches_a_numpy_twin():
    """50 deals a year for 2 years, rho = 0.3, no fees/carry/hurdle/concession, life 1 year
    after the last vintage: LR_g = 1 - sum(m) / deals. The twin draws its own normals."""
    rho, n_dpy, years, paths = 0.3, 50, 2, 40_000
    f = fund(deals_per_year=n_dpy, ticket=1e6, size=1e8, life_years=2, investment_years=years,
             management_fee=0.0, hurdle=0.0, carry=0.0, profit_concession=0.0,
             deal_correlation=rho, tolerance=0.5)
    res = simulate(load_scenario(scenario(f, paths=paths, seed=17)))
    lr = res.samples("fund:f:gov_loss_ratio")
    rng = np.random.default_rng(2024)
    z = rng.standard_normal((paths, years, 1))
    eps = rng.standard_normal((paths, years, n_dpy))
    u = special.ndtr(math.sqrt(rho) * z + math.sqrt(1 - rho) * eps)
    p0, p1, a, cap = WILT["p_loss"], WILT["p_partial"], WILT["alpha"], WILT["cap"]
    v = np.clip((u - p0 - p1) / (1 - p0 - p1), 0, 1)
    m = np.where(u < p0, 0.0, np.where(u < p0 + p1, (u - p0) / p1,
                                       np.minimum((1 - v * (1 - cap ** -a)) ** (-1 / a), cap)))
    lr_twin = 1.0 - m.reshape(paths, -1).mean(axis=1)
    for stat in (np.mean, lambda x: np.mean(x > 0.2), lambda x: np.mean(x > 0.4)):
        a1, a2 = stat(lr), stat(lr_twin)
        se = math.sqrt(np.var(lr if stat is np.mean else lr > 0) / paths * 0 +
                       (np.var(lr) if stat is np.mean else a1 * (1 - a1)) / paths +
                       (np.var(lr_twin) if stat is np.mean else a2 * (1 - a2)) / paths)
        assert abs(a1 - a2) < 4 * se + 1e-12, (a1, a2, se)


def test_market_factor_is_the_credit_factor():
    """With a 10^7-loan cohort the year's loss fraction pins down Z_y; the fund records the
    same Z_y as its vintage factor (one bad year hits loans and startups together)."""
    pd_, rho = 0.02, 0.2
    sc = scenario(fund(investment_years=2, life_years=3), paths=400, seed=9,
                  cohorts=[{"name": "lhp", "loans": 10_000_000, "exposure": 1.0, "pd": pd_,
                            "lgd": 1.0, "rho": rho}],
                  model={"sectors": ["tech"], "factor_persistence": 0.5})
    sc["simulation"]["horizon_years"] = 2
    res = simulate(load_scenario(sc))
    market = res._raw["fund:f:market"]
    c = special.ndtri(pd_)
    alive = np.full(res.paths, 1e7)
    for y, year in enumerate(res.years):
        loss = res.samples("gross", year)
        frac = np.clip(loss / alive, 1e-12, 1 - 1e-12)
        q = special.ndtri(frac)
        z_from_credit = (c - math.sqrt(1 - rho) * q) / math.sqrt(rho)
        # binomial noise of the fraction, carried through dz/dfrac (delta method), 5 sd
        sd_frac = np.sqrt(frac * (1 - frac) / alive)
        tol = 5 * math.sqrt(1 - rho) / math.sqrt(rho) * sd_frac / (np.exp(-q * q / 2) / math.sqrt(2 * math.pi))
        ok = frac > 1e-5
        assert ok.mean() > 0.95
        assert np.all(np.abs(market[ok, y] - z_from_credit[ok]) < tol[ok] + 1e-9)
        assert np.median(tol[ok]) < 0.02  # the check is sharp: z is known to 0.02
        alive = alive - loss


def test_bad_vintages_lose_more():
    res = simulate(load_scenario(scenario(fund(deal_correlation=0.5), paths=4000)))
    lr = res.samples("fund:f:gov_loss_ratio")
    mkt = res._raw["fund:f:market"].mean(axis=1)
    assert np.corrcoef(lr, mkt)[0, 1] < -0.3


# ------------------------------------------------------------------ conservation, figures

@pytest.fixture(scope="module")
def rich():
    f = fund(stages=[{"name": "seed", "share": 0.3, "ticket": 5e6},
                     {"name": "angel", "share": 0.7, "ticket": 1.2e7,
                      "outcomes": {"preset": "vc_harsh"}}],
             ticket=None, catch_up=True, first_loss=0.2, profit_concession=0.5)
    f2 = fund(name="g", government_share=0.5, outcomes={"preset": "wiltbank_tail"})
    return simulate(load_scenario(scenario(f, f2, paths=5000)))


@pytest.mark.parametrize("name", ["f", "g"])
def test_every_yuan_of_proceeds_is_accounted_for(rich, name):
    s = rich.samples
    total = (s(f"fund:{name}:gov_distributions") + s(f"fund:{name}:private_distributions")
             + s(f"fund:{name}:carry"))
    np.testing.assert_allclose(total, s(f"fund:{name}:proceeds"), rtol=1e-12, atol=1e-3)
    paid = s(f"fund:{name}:gov_paid_in") + s(f"fund:{name}:private_paid_in")
    np.testing.assert_allclose(paid, s(f"fund:{name}:fees") + s(f"fund:{name}:invested"), rtol=1e-12)
    # government net cash over the life = paid-in - distributions (net of first loss)
    np.testing.assert_allclose(s(f"fund:{name}:gov_cash"),
                               s(f"fund:{name}:gov_paid_in") - s(f"fund:{name}:gov_distributions"),
                               rtol=1e-9, atol=1e-3)


def test_figures_are_consistent(rich):
    s = rich.samples
    np.testing.assert_allclose(s("fund:f:gov_tvpi"), 1 - s("fund:f:gov_loss_ratio"), atol=1e-12)
    assert np.all(s("fund:f:first_loss_paid") >= 0)
    assert np.all(s("fund:f:concession_cost") >= -1e-6)
    assert np.all(s("fund:f:private_tvpi") >= s("fund:f:private_tvpi_no_concession") - 1e-12)
    assert np.all((s("fund:f:private_irr") >= -1) & (s("fund:f:private_irr") <= 100))
    assert set(np.unique(s("fund:g:deals"))) == {50.0}
    assert np.all(s("fund:f:invested") <= 1e9 * (1 - 0.02 * 10) + 1e-3)
    # stage mix: about 30% of deals of 5e6 and 70% of 1.2e7
    d, inv = s("fund:f:deals"), s("fund:f:invested")
    share_seed = (1.2e7 * d - inv) / (1.2e7 - 5e6) / d
    assert abs(share_seed.mean() - 0.3) < 0.01


def test_public_cash_adds_the_funds(rich):
    total = sum(rich.samples("public_cash", y) for y in rich.calendar_years)
    np.testing.assert_allclose(rich.samples("public_cash"), total, rtol=1e-9, atol=1e-3)
    both = rich.samples("fund:f:gov_cash", 2027) + rich.samples("fund:g:gov_cash", 2027)
    np.testing.assert_allclose(rich.samples("public_cash", 2027), both)
    assert rich.calendar_years == list(range(2025, 2035))
    with pytest.raises(KeyError, match="outside fund"):
        rich.samples("fund:f:gov_cash", 2040)
    with pytest.raises(KeyError, match="unknown fund figure"):
        rich.samples("fund:f:irr")


def test_summary_has_the_fund_figures(rich):
    s = rich.summary()
    f = s[s.measure == "fund:f"]
    for stat in ("P(breach, fund)", "P(loss ratio>0.5, fund)", "P(project loss>0.5)",
                 "government TVPI", "private IRR uplift (mean)", "concession cost (NPV)",
                 "deals funded", "private IRR (median)"):
        assert stat in set(f.statistic), stat
    # (1 / government_share is a ratio of inputs, not a simulated figure: not a summary row)
    assert "leverage of public money" not in set(f.statistic)
    # the funds' public cash is public money, per calendar year of their lives
    assert set(s[s.measure == "public_money"].year.dropna()) == set(range(2025, 2035))
    assert "gross" not in set(s.measure)  # no credit portfolio: no credit rows
    assert s.value.notna().all()


# ------------------------------------------------------------------ levers, reproducibility

def test_levers_move_the_figures_the_right_way():
    """Common random numbers: the same deals, only the lever differs."""
    def run(**kw):
        return simulate(load_scenario(scenario(fund(**kw), paths=3000, seed=8)))

    c0, c1 = run(profit_concession=0.0), run(profit_concession=1.0)
    assert np.array_equal(c0.samples("fund:f:proceeds"), c1.samples("fund:f:proceeds"))
    assert np.all(c1.samples("fund:f:gov_distributions") <= c0.samples("fund:f:gov_distributions") + 1e-6)
    assert np.all(c1.samples("fund:f:private_distributions") >= c0.samples("fund:f:private_distributions") - 1e-6)
    np.testing.assert_array_equal(c0.samples("fund:f:private_tvpi"),
                                  c0.samples("fund:f:private_tvpi_no_concession"))
    # with 100% concession the government never gets more than its capital back
    assert np.all(c1.samples("fund:f:gov_tvpi") <= 1 + 1e-12)
    fl = run(first_loss=0.3)
    base = run()
    assert np.all(fl.samples("fund:f:gov_loss_ratio") >= base.samples("fund:f:gov_loss_ratio") - 1e-12)
    harsh = run(outcomes={"preset": "vc_harsh"})
    assert harsh.samples("fund:f:gov_loss_ratio").mean() > base.samples("fund:f:gov_loss_ratio").mean()


def test_bit_identical_for_any_chunking_and_threads():
    sc = load_scenario(scenario(fund(), fund(name="g", deals_per_year=3), paths=3000))
    ref = simulate(sc)
    for ex, cs in ((ThreadPoolExecutor(1), 1000), (ThreadPoolExecutor(2), 257), (None, 3000)):
        got = simulate(sc, executor=ex, chunk_size=cs)
        for name in FIGURES:
            for fname in ("f", "g"):
                np.testing.assert_array_equal(got.samples(f"fund:{fname}:{name}"),
                                              ref.samples(f"fund:{fname}:{name}"))
    # two funds draw different deals
    assert not np.array_equal(ref._raw["fund:f:proceeds"][:, :3], ref._raw["fund:g:proceeds"][:, :3])


def test_adding_a_fund_does_not_change_the_credit_side():
    base = {"simulation": {"paths": 2000, "seed": 4},
            "cohorts": [{"name": "c", "loans": 1000, "exposure": 1e6, "pd": 0.03, "lgd": 0.5,
                         "rho": 0.15}]}
    a = simulate(load_scenario(base))
    b = simulate(load_scenario({**base, "funds": [fund()]}))
    np.testing.assert_array_equal(a.samples("gross"), b.samples("gross"))
    assert "fund:f" in set(b.summary().measure) and "gross" in set(b.summary().measure)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").rglob("angel*.toml")),
                         ids=lambda p: p.name)
def test_shipped_fund_scenarios_run(path):
    """The single fund (examples/angel_single_fund) and the guidance fund over its sub-funds
    (angel_fund and its what-ifs) run, with every figure finite."""
    res = simulate(load_scenario(path), paths=500)
    if path.stem == "angel_single_fund":
        assert res.funds == ["hubei_angel"] and res.guidance_funds == []
    else:
        assert res.funds == [] and res.guidance_funds == ["hubei_angel_guidance"]
    assert res.summary().value.notna().all()


def test_tiny_public_share_and_first_loss_without_public_money_are_errors():
    """Regression (generated scenarios): a government share of 5e-324 with first-loss
    protection made the loss ratio 1 - (-fl) / 5e-324 = inf."""
    assert "must be 0 or at least 0.001" in problems(scenario(fund(government_share=5e-324)))
    assert "first_loss needs a government_share > 0" in problems(
        scenario(fund(government_share=0.0, first_loss=0.2)))
    res = simulate(load_scenario(scenario(fund(government_share=0.001, first_loss=0.5),
                                          paths=500)))
    assert np.isfinite(res.samples("fund:f:gov_loss_ratio")).all()
