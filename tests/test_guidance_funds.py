"""The plan's guidance fund as a fund of funds (FUNDS.md, "Fund of funds"; issue 24).

Independent references: hand-computed splits in exact fractions, the spec's reference
(``tests/fof_reference.py``) against the kernel on simulated paths (the LPs' flows from the
single fund's reference waterfall, ``tests/fund_reference.py``), conservation through both
layers, closed forms for one deal, and the ledger's levels.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction as Fr

import numpy as np
import pytest

import simpool
from simpool.engine.fofkernels import SUB_FIGURES, lp_split
from simpool.errors import ScenarioError
from simpool.scenario.fund import Outcomes

from fof_reference import reference_split
from fund_reference import reference_waterfall


def kernel_split(calls, dist, shares, mode, c, b, to_gp, year, nav, goal):
    L, n = len(calls), len(shares)
    oc, od, gp = np.zeros((n, L)), np.zeros((n, L)), np.zeros(L)
    sold = lp_split(np.array(calls, float), np.array(dist, float), np.array(shares, float),
                    0 if mode == "profit" else 1, c, b, to_gp, year, np.array(nav, float),
                    goal, oc, od, gp)
    return oc, od, gp, sold == 1.0


# ---------------------------------------------------------------- hand-computed splits

SHARES = [Fr(3, 10), Fr(2, 10), Fr(5, 10)]  # guidance, a city fund, private LPs
CALLS = [Fr(100), Fr(0), Fr(0)]
DIST = [Fr(0), Fr(50), Fr(250)]


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_full_concession_above_principal(impl):
    """c = 1, no base return: the guidance fund keeps exactly its paid-in (30 of its 15 + 75)
    and the private LPs get the other 60; the city fund is untouched."""
    args = (CALLS, DIST, SHARES, "profit", Fr(1), Fr(0), Fr(0), 0, [0, 0, 0], True)
    C, D, gp, sold = reference_split(*args) if impl == "reference" else kernel_split(
        *[[float(x) for x in a] if isinstance(a, list) else float(a) if isinstance(a, Fr)
          else a for a in args])
    assert [float(x) for x in D[0]] == [0, 15, 15]
    assert [float(x) for x in D[1]] == [0, 10, 50]
    assert [float(x) for x in D[2]] == [0, 25, 185]
    assert not sold and all(float(x) == 0 for x in gp)


def test_floor_with_base_return_and_a_share_to_the_manager():
    """b = 10%, c = 50%, 20% of the ceded to the GP, by hand: floor 30 + 3 (year 0) + 3 (year
    1) + 1.5 (year 2, on 30 - 15 outstanding) = 37.5; year 2's 75 keeps the 22.5 left of it,
    cedes 26.25 of 52.5: 5.25 to the GP, 21 to the private LPs."""
    C, D, gp, _ = reference_split(CALLS, DIST, SHARES, "profit", Fr(1, 2), Fr(1, 10), Fr(1, 5),
                                  0, [0, 0, 0], True)
    assert D[0] == [0, 15, Fr("48.75")] and gp == [0, 0, Fr("5.25")]
    assert D[2] == [0, 25, 125 + 21]
    oc, od, kgp, _ = kernel_split([100, 0, 0], [0, 50, 250], [0.3, 0.2, 0.5], "profit", 0.5,
                                  0.1, 0.2, 0, [0, 0, 0], True)
    np.testing.assert_allclose(od[0], [0, 15, 48.75], rtol=1e-14)
    np.testing.assert_allclose(kgp, [0, 0, 5.25], rtol=1e-14)


@pytest.mark.parametrize("impl", ["reference", "kernel"])
def test_no_concession_when_the_goals_are_missed(impl):
    args = ([100, 0, 0], [0, 50, 250], [0.3, 0.2, 0.5], "profit", 1.0, 0.0, 0.0, 0, [0] * 3,
            False)
    C, D, gp, _ = reference_split(*args) if impl == "reference" else kernel_split(*args)
    np.testing.assert_allclose(D[0], [0, 15, 75])


@pytest.mark.parametrize("nav1, sold", [(200, True), (100, False)])
def test_buy_back_at_cost_plus_base_return(nav1, sold):
    """Buy-back at the end of year 2 with b = 5%: price 30 x 1.10 + 3 x 1.05 - 6 received =
    30.15; the stake is worth 0.3 x NAV: 60 (bought) or 30 (not)."""
    calls, dist, shares = [100, 10, 10], [0, 20, 300], [Fr(3, 10), Fr(7, 10)]
    nav = [80, nav1, 0]
    C, D, _, got = reference_split([Fr(x) for x in calls], [Fr(x) for x in dist], shares,
                                   "buyback", Fr(0), Fr(1, 20), Fr(0), 2, nav, True)
    assert got is sold
    if sold:
        assert C[0] == [30, 3, 0] and D[0] == [0, Fr("36.15"), 0]
        assert C[1] == [70, Fr("37.15"), 10] and D[1] == [0, 14, 300]
    else:
        assert D[0] == [0, 6, 90]
    oc, od, _, ksold = kernel_split(calls, dist, [0.3, 0.7], "buyback", 0.0, 0.05, 0.0, 2, nav,
                                    True)
    assert ksold is sold
    np.testing.assert_allclose(od, np.array(D, float), rtol=1e-14)
    np.testing.assert_allclose(oc, np.array(C, float), rtol=1e-14)


def test_random_splits_match_the_reference():
    rng = np.random.default_rng(4)
    for _ in range(300):
        L = int(rng.integers(1, 12))
        n = int(rng.integers(2, 5))
        shares = rng.dirichlet(np.ones(n))
        calls = rng.exponential(10, L) * (rng.random(L) < 0.7)
        dist = rng.exponential(20, L) * (rng.random(L) < 0.6)
        nav = rng.exponential(50, L)
        mode = "profit" if rng.random() < 0.5 else "buyback"
        args = (list(calls), list(dist), list(shares), mode, float(rng.random()),
                float(rng.random() * 0.1), float(rng.random() * 0.5), int(rng.integers(1, L + 1)),
                list(nav), bool(rng.random() < 0.8))
        C, D, gp, sold = reference_split(*args)
        kc, kd, kgp, ksold = kernel_split(*args)
        assert ksold == sold
        np.testing.assert_allclose(kc, np.array(C), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(kd, np.array(D), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(kgp, np.array(gp), rtol=1e-12, atol=1e-9)
        # conservation each year: the investors' net cash and the manager's part are the
        # LPs' (a buy-back price is a private call and a guidance distribution: it nets out)
        np.testing.assert_allclose(kc.sum(axis=0) - kd.sum(axis=0) - kgp, calls - dist,
                                   rtol=1e-12, atol=1e-9)
        if not ksold:
            np.testing.assert_allclose(kd.sum(axis=0) + kgp, dist, rtol=1e-12, atol=1e-9)


# ---------------------------------------------------------------- the engine, end to end

def guidance(concession=None, max_public=0.6, **sub):
    a = {"name": "seed_a", "size": "5亿", "guidance_share": 0.3,
         "public_lps": [{"name": "wuhan_fund", "share": 0.2, "level": "city"},
                        {"name": "hubei_soe", "share": 0.1, "level": "provincial",
                         "kind": "soe"}],
         "deals_per_year": 20, "hurdle": 0.06,
         "stages": [{"name": "seed", "share": 0.5, "ticket": "300万", "tolerance": 0.6},
                    {"name": "angel", "share": 0.5, "ticket": "600万",
                     "counts_for_goal": False}]}
    a.update(sub)
    b = {"name": "angel_b", "size": "10亿", "guidance_share": 0.4, "deals_per_year": 25,
         "ticket": "800万", "life_years": 8, "catch_up": True}
    return {"title": "fof", "simulation": {"paths": 3000, "seed": 3, "start_year": 2025},
            "model": {"sectors": ["market"]},
            "guidance_funds": [{"name": "hubei_guidance", "max_public_share": max_public,
                                "concession": concession or {}, "sub_funds": [a, b]}]}


@pytest.fixture(scope="module", params=[
    {"share": 1.0},
    {"share": 0.6, "base_return": 0.04, "to_gp": 0.25, "goal_probability": 0.7,
     "goal_early_share": 0.45},
    {"mode": "buyback", "base_return": 0.05, "buyback_year": 5},
], ids=["profit", "conditional", "buyback"])
def run(request):
    sc = simpool.load_scenario(guidance(request.param))
    return request.param, sc, simpool.simulate(sc, keep="all")


def test_kernel_matches_the_references_path_by_path(run):
    """Each LP's net cash per year from the engine equals the single fund's reference
    waterfall (all LPs together) followed by the spec's split, on 40 simulated paths."""
    conc, sc, res = run
    c = sc.guidance_funds[0].concession
    for s in sc.guidance_funds[0].sub_funds:
        key = f"sub:hubei_guidance:{s.name}"
        raw = {k: res._raw[f"{key}:{k}"] for k in ("figures", "lp_cash", "nav", "invested",
                                                    "proceeds")}
        shares = [s.guidance_share] + [lp.share for lp in s.public_lps]
        shares.append(1.0 - sum(shares))
        fee = s.management_fee * s.size
        for p in range(40):
            calls = list(fee + raw["invested"][p])
            wf = reference_waterfall(calls, list(raw["proceeds"][p]), 0.0, s.hurdle, s.carry,
                                     s.catch_up, 0.0, 0.0)
            goal = bool(raw["figures"][p, SUB_FIGURES.index("goal_met")])
            C, D, gp, sold = reference_split(calls, wf["priv_dist"], shares, c.mode, c.share,
                                             c.base_return, c.to_gp, c.buyback_year,
                                             list(raw["nav"][p]), goal)
            np.testing.assert_allclose(raw["lp_cash"][p], np.array(C) - np.array(D),
                                       rtol=1e-9, atol=1e-3)
            assert raw["figures"][p, SUB_FIGURES.index("bought_back")] == float(sold)
            carry = sum(wf["carry"]) + sum(gp)
            assert raw["figures"][p, SUB_FIGURES.index("carry")] == pytest.approx(carry,
                                                                                  rel=1e-9)


def test_conservation_through_both_layers(run):
    """Exit proceeds = the investors' distributions + the manager's carry (its part of the
    concession included); every investor's calls add to the LPs' (a buy-back price moves
    money between LPs only); the guidance fund's figures are its LP column's."""
    _, sc, res = run
    for s in sc.guidance_funds[0].sub_funds:
        f = res._raw[f"sub:hubei_guidance:{s.name}:figures"]
        cash = res._raw[f"sub:hubei_guidance:{s.name}:lp_cash"]
        col = {k: f[:, SUB_FIGURES.index(k)] for k in SUB_FIGURES}
        dists = col["lp_paid_in"] - cash.sum(axis=(1, 2))
        np.testing.assert_allclose(dists + col["carry"], col["proceeds"], rtol=1e-9)
        np.testing.assert_allclose(dists, col["lp_distributions"] - (col["carry"] - (
            col["proceeds"] - col["lp_distributions"])), rtol=1e-9, atol=1e-3)
        np.testing.assert_allclose(cash[:, 0, :].sum(axis=1),
                                   col["guidance_paid_in"] - col["guidance_distributions"],
                                   rtol=1e-9, atol=1e-3)
        assert np.all(col["lp_paid_in"] == pytest.approx(col["invested"] + col["fees"]))


def test_goal_condition_and_early_share(run):
    conc, sc, res = run
    s = sc.guidance_funds[0].sub_funds[0]
    f = res._raw["sub:hubei_guidance:seed_a:figures"]
    cat = res._raw["sub:hubei_guidance:seed_a:category"]
    early = f[:, SUB_FIGURES.index("early_share")]
    np.testing.assert_allclose(early, cat[:, 0, 0] / cat[:, 0, :].sum(axis=1), rtol=1e-12)
    goal = f[:, SUB_FIGURES.index("goal_met")].astype(bool)
    need = conc.get("goal_early_share", 0.0)
    assert not goal[early < need - 1e-12].any()
    p = conc.get("goal_probability", 1.0)
    eligible = early >= need - 1e-12
    rate = goal[eligible].mean()
    assert abs(rate - p) <= 4 * math.sqrt(max(p * (1 - p), 1e-12) / eligible.sum()) + 1e-12
    cost = f[:, SUB_FIGURES.index("concession_cost")]
    assert np.all(cost[~goal] == 0.0)


def test_ledger_counts_budget_money_by_level(run):
    """The guidance fund's cash is provincial budget money, the city fund's city budget, the
    state-owned capital public money but not budget money."""
    from simpool.analysis.guidance import guidance_cash, public_lp_cash

    _, sc, res = run
    np.testing.assert_allclose(res.fiscal(level="city"),
                               public_lp_cash(res, "hubei_guidance", "wuhan_fund").sum(axis=1))
    np.testing.assert_allclose(res.fiscal(level="provincial"),
                               guidance_cash(res, "hubei_guidance").sum(axis=1))
    np.testing.assert_allclose(res.fiscal(level="provincial", kind="soe"),
                               public_lp_cash(res, "hubei_guidance", "hubei_soe").sum(axis=1))
    np.testing.assert_allclose(res.samples("fund:hubei_guidance:provincial:cash"),
                               guidance_cash(res, "hubei_guidance").sum(axis=1))


def test_summary_measures_of_sub_funds_and_the_provincial_fund(run):
    conc, sc, res = run
    s = res.summary()
    assert {"fund:hubei_guidance:sub:seed_a", "fund:hubei_guidance:sub:angel_b",
            "fund:hubei_guidance:provincial"} <= set(s.measure)
    prov = s[s.measure == "fund:hubei_guidance:provincial"]
    assert {"P(breach)", "P(breach, principal)", "P(breach, paid_in)", "P(breach, category)",
            "P(breach, category seed)", "share of projects over tolerance",
            "government TVPI", "concession cost (NPV)"} <= set(prov.statistic)
    years = prov[prov.statistic == "interim loss ratio (end of year)"].year
    assert list(years) == list(range(2025, 2035))
    if conc.get("mode") == "buyback":
        assert "P(bought back)" in set(s[s.measure == "fund:hubei_guidance:sub:seed_a"].statistic)
    # the guidance fund's loss ratio is read through its stakes
    lr = res.samples("fund:hubei_guidance:provincial:loss_ratio")
    paid = sum(res.samples(f"fund:hubei_guidance:sub:{n}:guidance_paid_in")
               for n in ("seed_a", "angel_b"))
    got = sum(res.samples(f"fund:hubei_guidance:sub:{n}:guidance_distributions")
              for n in ("seed_a", "angel_b"))
    np.testing.assert_allclose(lr, 1 - got / paid)


# ---------------------------------------------------------------- one deal, closed forms

def one_deal(outcomes, tol, cat_tol, project_tol, paths=40_000):
    sub = {"name": "one", "size": 1e6, "guidance_share": 0.5, "deals_per_year": 1,
           "life_years": 1, "investment_years": 1, "management_fee": 0.0, "hurdle": 0.0,
           "carry": 0.0, "deal_correlation": 0.0, "tolerance": tol,
           "project_tolerance": project_tol,
           "stages": [{"name": "seed", "share": 1.0, "ticket": 1e6, "tolerance": cat_tol,
                       "outcomes": outcomes}]}
    return {"simulation": {"paths": paths, "seed": 9},
            "guidance_funds": [{"name": "g", "concession": {"share": 0.0},
                                "sub_funds": [sub]}]}


def test_tolerance_bases_for_one_deal_against_the_closed_form():
    """One deal, no fees: loss on invested principal = 1 - m, so P(breach at t) =
    P(m < 1 - t) = p_loss + p_partial (1 - t - partial_min) / (1 - partial_min) for each
    basis with its own threshold (fund 50%, category 30%, project 80%)."""
    oc = {"p_loss": 0.3, "p_partial": 0.3, "partial_min": 0.2, "alpha": 1.1, "cap": 50.0}
    res = simpool.simulate(simpool.load_scenario(one_deal(oc, 0.5, 0.3, 0.8)))
    law = Outcomes(**oc)
    s = res.summary()
    sub = s[s.measure == "fund:g:sub:one"].set_index("statistic")
    n = res.paths
    for stat, t in (("P(breach, principal)", 0.5), ("P(breach, category seed)", 0.3),
                    ("share of projects over tolerance", 0.8)):
        want = law.prob_below(1.0 - t)
        assert abs(sub.loc[stat, "value"] - want) < 4 * math.sqrt(want * (1 - want) / n), stat
    prov = s[s.measure == "fund:g:provincial"].set_index("statistic")
    want = law.prob_below(0.5)
    assert abs(prov.loc["P(breach, principal)", "value"] - want) < 4 * math.sqrt(
        want * (1 - want) / n)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("change, words", [
    ({"max_public": 0.4}, "public share 0.6 (guidance_share + public_lps) exceeds "
                          "max_public_share 0.4"),
    ({"guidance_share": 0.75}, "the plan caps fiscal and state-owned capital at 90%"),
    ({"concession": {"mode": "buyback", "buyback_year": 12}}, "must fall within sub-fund"),
    ({"guidance_share": 0.0}, "guidance_share must be at least 0.001"),
])
def test_bad_guidance_funds_are_named(change, words):
    kw = dict(change)
    conc = kw.pop("concession", None)
    mp = kw.pop("max_public", 0.9)
    with pytest.raises(ScenarioError, match=re.escape(words)):
        simpool.load_scenario(guidance(conc, max_public=mp, **kw))


def test_plain_funds_keep_their_rules():
    with pytest.raises(ScenarioError, match="a category tolerance belongs to a guidance fund"):
        simpool.load_scenario({"funds": [{"name": "f", "size": 1e8, "government_share": 0.5,
                                          "deals_per_year": 2, "stages": [
                                              {"name": "s", "share": 1.0, "ticket": 1e6,
                                               "tolerance": 0.3}]}]})


def test_interim_fan_and_report_in_chinese(monkeypatch, tmp_path):
    """The guidance fund's interim fan draws every character in Chinese, and the report of the
    shipped angel_fund carries its measures with Chinese labels."""
    import warnings

    from simpool.cli import main
    from simpool.errors import SimpoolWarning
    from simpool.outputs import plots

    res = simpool.simulate(simpool.example("angel_fund"), paths=500)
    monkeypatch.setenv("SIMPOOL_LANG", "zh")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")
        warnings.simplefilter("error", SimpoolWarning)
        fig = plots.guidance_interim(res, "hubei_angel_guidance")
        fig.savefig(tmp_path / "f.png")
    ax = fig.axes[0]
    assert "引导基金" in ax.get_title() and ax.get_ylabel() == "阶段性投资本金亏损率"
    lines = ax.get_lines()
    median = [ln for ln in lines if ln.get_label() in ("median", "中位数")][0]
    assert len(median.get_xdata()) == 10  # the ten years of the sub-funds' life
    out = tmp_path / "r.html"
    assert main(["report", str(simpool.example("angel_fund")), "--paths", "500", "--out",
                 str(out), "--quiet"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "省级天使投资引导基金 hubei_angel_guidance" in page and "P(投资本金亏损超出容亏率)" in page


def test_overrides_and_unknown_keys_reach_the_sub_funds(tmp_path):
    sc = simpool.load_scenario(simpool.example("angel_fund"), [
        "guidance_funds.hubei_angel_guidance.concession.share=50%",
        "guidance_funds.hubei_angel_guidance.sub_funds.seed_fund.guidance_share=0.3"])
    gf = sc.guidance_funds[0]
    assert gf.concession.share == 0.5 and gf.sub_funds[0].guidance_share == 0.3
    assert gf.sub_funds[1].guidance_share == 0.3 and len(gf.sub_funds) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "%s"\n[[guidance_funds]]\nname = "hubei_angel_guidance"\n'
                   '[[guidance_funds.sub_funds]]\nname = "seed_fund"\nguidance_shar = 0.2\n'
                   % simpool.example("angel_fund").as_posix(), encoding="utf-8")
    with pytest.raises(ScenarioError) as e:
        simpool.load_scenario(bad)
    text = "\n".join(map(str, e.value.problems))
    assert "bad.toml:6" in text and "guidance_shar" in text and "did you mean 'guidance_share'" in text
