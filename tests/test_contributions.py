"""Risk contributions (simpool.analysis.contributions): additivity to ES, independent references,
pool events, importance sampling, groupings and errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr, ndtri

import simpool
from simpool import stats
from simpool.analysis.contributions import contributions

ROOT = Path(__file__).resolve().parents[1]
HUBEI = ROOT / "scenarios" / "examples" / "hubei_small.toml"


#: Small pools (as the small example had them before its pools were sized to their leverage target),
#: so that depletion is a common event for knowledge_value and a rarer one for provincial_sme.
SMALL_POOLS = ["pools.provincial_sme.cash=5e8", "pools.provincial_sme.annual_top_up=1e8",
               "pools.knowledge_value.cash=3e8", "pools.knowledge_value.annual_top_up=5e7",
               "policy.lending_feedback=false"]


@pytest.fixture(scope="module")
def hubei():
    return simpool.simulate(simpool.load_scenario(HUBEI, SMALL_POOLS), paths=5000, seed=3)


def two_cohorts(a: dict, b: dict, *, corr=0.0, paths=20_000, seed=1, imp=None, sectors=("a", "b")):
    base = {"exposure": 1.0, "lgd": 1.0}
    d = {
        "simulation": {"paths": paths, "seed": seed},
        "model": {"sectors": list(sectors)},
        "cohorts": [{**base, "name": "A", **a}, {**base, "name": "B", **b}],
    }
    if len(sectors) == 2:
        d["model"]["sector_correlation"] = [[1.0, corr], [corr, 1.0]]
    if imp is not None:
        d["importance_sampling"] = imp
    return simpool.load_scenario(d)


# ------------------------------------------------------------------------------ additivity


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("by", ["segment", "sector", "product"])
def test_gross_contributions_add_up_to_es(hubei, level, by):
    df = contributions(hubei, "gross", level, by)
    es = stats.es(hubei.samples("gross"), level)
    assert df.tail_mean.sum() == pytest.approx(es.value, rel=1e-12)
    assert df.share.sum() == pytest.approx(1.0, rel=1e-12)
    # the total's SE (centred at E[L | L = VaR] ~ VaR) is close to the ES's own SE
    assert (df.se > 0).all() and (df.n_tail >= math.ceil(round((1 - level) * hubei.paths, 9))).all()
    assert df.p_event.iloc[0] == pytest.approx(math.ceil(round((1 - level) * hubei.paths, 9)) / hubei.paths)


def test_other_measures_allocate_gross_given_their_tail(hubei):
    checked = []
    for m in ["net", "bank", "guarantor", "national_fund", "compensation_pool:knowledge_value"]:
        df = contributions(hubei, m, 0.99)
        loss = hubei.samples(m)
        v = stats.var(loss, 0.99).value
        assert df.measure.iloc[0] == m and (df.tail_mean >= 0).all()
        # paths strictly above VaR are fully in; the total is E[gross | tail of m]
        assert df.n_tail.iloc[0] >= (loss > v).sum()
        if (loss == v).sum() == 1:  # no tie at VaR: the tail is the m worst paths of m
            worst = np.argsort(loss, kind="stable")[-math.ceil(round(0.01 * hubei.paths, 9)):]
            assert df.tail_mean.sum() == pytest.approx(hubei.samples("gross")[worst].mean(), rel=1e-12)
            checked.append(m)
    assert "net" in checked


def test_atom_at_var_gets_fractional_weight():
    # a small cohort: gross is lattice-valued with big atoms; ES is still matched exactly
    sc = two_cohorts({"loans": 100, "pd": 0.02, "rho": 0.1, "sector": "a"},
                     {"loans": 50, "pd": 0.05, "rho": 0.1, "sector": "a", "exposure": 2.0},
                     sectors=("a",), paths=3000)
    res = simpool.simulate(sc)
    loss = res.samples("gross")
    for level in (0.5, 0.9, 0.97):
        df = contributions(res, level=level)
        assert df.tail_mean.sum() == pytest.approx(stats.es(loss, level).value, rel=1e-12)
        m = math.ceil(round((1 - level) * res.paths, 9))
        assert df.p_event.iloc[0] == pytest.approx(m / res.paths)
        assert df.n_tail.iloc[0] > m  # the atom at VaR is shared, not tie-broken


# ------------------------------------------------------------------ independent references


def test_higher_correlation_cohort_has_larger_uplift_matching_reference():
    """Independent sectors, one large cohort each: against a NumPy simulation of the same
    model (conditional binomial given each sector's Vasicek probability)."""
    N = 1_000_000
    pa, ra, pb, rb = 0.02, 0.25, 0.03, 0.05
    res = simpool.simulate(two_cohorts({"loans": N, "pd": pa, "rho": ra, "sector": "a"},
                                       {"loans": N, "pd": pb, "rho": rb, "sector": "b"}))
    df = contributions(res, level=0.99).set_index("group")
    assert df.loc["A", "uplift"] > 1.5 * df.loc["B", "uplift"] > 1.5

    rng = np.random.default_rng(12345)
    n = 2_000_000
    z = rng.standard_normal((n, 2))
    ga = rng.binomial(N, ndtr((ndtri(pa) - math.sqrt(ra) * z[:, 0]) / math.sqrt(1 - ra))).astype(float)
    gb = rng.binomial(N, ndtr((ndtri(pb) - math.sqrt(rb) * z[:, 1]) / math.sqrt(1 - rb))).astype(float)
    worst = np.argsort(ga + gb)[-n // 100:]
    ref = {"A": ga[worst].mean(), "B": gb[worst].mean()}
    ref_uplift = {"A": ref["A"] / (N * pa), "B": ref["B"] / (N * pb)}
    for g in "AB":
        assert abs(df.loc[g, "tail_mean"] - ref[g]) < 4 * df.loc[g, "se"], (g, df.loc[g], ref[g])
        assert df.loc[g, "mean"] == pytest.approx(N * (pa if g == "A" else pb), rel=0.02)
        assert df.loc[g, "uplift"] == pytest.approx(ref_uplift[g], rel=0.1)


def test_same_factor_same_parameters_gives_exposure_proportional_shares():
    """Vasicek limit: two 10^7-loan cohorts on one factor with identical pd/rho/lgd and
    exposures 1 and 3 lose (up to binomial noise of ~1e-3 per path) the same fraction."""
    N = 10_000_000
    c = {"loans": N, "pd": 0.02, "rho": 0.15, "sector": "a"}
    res = simpool.simulate(two_cohorts(c, {**c, "exposure": 3.0}, sectors=("a",), paths=10_000))
    for level in (0.9, 0.99):
        df = contributions(res, level=level).set_index("group")
        assert df.loc["A", "share"] == pytest.approx(0.25, abs=1e-3)
        assert df.loc["B", "share"] == pytest.approx(0.75, abs=1e-3)
        assert df.loc["A", "uplift"] == pytest.approx(df.loc["B", "uplift"], rel=2e-3)
    # by sector: one group holding everything
    df = contributions(res, level=0.99, by="sector")
    assert list(df.group) == ["a"] and df.share.iloc[0] == 1.0


# ---------------------------------------------------------------------------- pool events


def test_pool_event_hubei(hubei):
    df = contributions(hubei, event="pool:knowledge_value")
    wf = hubei._wf
    assert list(df.group) == list(wf.segment_names)
    assert (df.tail_mean >= 0).all() and (df.se >= 0).all()
    j = list(wf.pool_names).index("knowledge_value")
    uncovered = [n for n, p in zip(wf.segment_names, wf.routes.pool) if p != j]
    assert uncovered  # cohorts outside the pool still take part in the correlated event
    assert (df.set_index("group").loc[uncovered, "tail_mean"] > 0).all()
    depleted = (hubei._raw["pool_unpaid"][:, :, j] > 0).any(axis=1)
    assert df.n_tail.iloc[0] == depleted.sum()
    s = hubei.summary()
    p = s[(s.measure == "pool:knowledge_value") & (s.statistic == "P(depleted by year)")
          & (s.year == hubei.years[-1])].value.iloc[0]
    assert df.p_event.iloc[0] == pytest.approx(p)
    assert df.measure.isna().all() and df.level.isna().all()
    G = hubei._raw["segment_loss"].sum(axis=1)
    np.testing.assert_allclose(df.tail_mean, G[depleted].mean(axis=0), rtol=1e-12)
    # a rarer pool event (P ~ 0.36) points to the pool's own cohorts: they rise the most,
    # above every cohort of a sector the pool does not reach (a margin of ~10 SE here)
    sme = contributions(hubei, event="pool:provincial_sme").set_index("group")
    k = list(wf.pool_names).index("provincial_sme")
    covered = [n for n, p in zip(wf.segment_names, wf.routes.pool) if p == k]
    sector = {c.name: c.sector for c in hubei.scenario.cohorts}
    elsewhere = [n for n in wf.segment_names if sector[n] not in {sector[c] for c in covered}]
    assert covered and elsewhere
    assert sme.loc[covered, "uplift"].min() > sme.loc[elsewhere, "uplift"].max() > 1


# ----------------------------------------------------------------------- importance sampling


def test_weighted_run_agrees_with_plain_run():
    a = {"loans": 200_000, "pd": 0.02, "rho": 0.2, "sector": "a"}
    b = {"loans": 200_000, "pd": 0.03, "rho": 0.08, "sector": "b"}
    plain = simpool.simulate(two_cohorts(a, b, corr=0.3, paths=20_000, seed=5))
    target = stats.var(plain.samples("gross"), 0.99).value
    imp = simpool.simulate(two_cohorts(a, b, corr=0.3, paths=20_000, seed=6,
                                       imp={"method": "shift", "target": target}))
    assert imp.weights is not None
    for level in (0.95, 0.99):
        p = contributions(plain, level=level)
        q = contributions(imp, level=level)
        # additive to the weighted ES (Acerbi form) as well
        assert q.tail_mean.sum() == pytest.approx(
            stats.es(imp.samples("gross"), level, imp.weights).value, rel=1e-12)
        assert q.p_event.iloc[0] == pytest.approx(1 - level)
        z = (p.tail_mean - q.tail_mean) / np.hypot(p.se, q.se)
        assert (np.abs(z) < 4).all(), (level, p, q)
        np.testing.assert_allclose(q["mean"], p["mean"], rtol=0.05)
    # the shifted sampler puts many more paths in the 99% tail, and sharpens it
    assert q.n_tail.iloc[0] > 5 * p.n_tail.iloc[0]
    assert (q.se < p.se).all()


# ---------------------------------------------------------------------------- groupings


def test_groupings_aggregate_segments(hubei):
    seg = contributions(hubei, "bank", 0.95, "segment").set_index("group")
    sec = contributions(hubei, "bank", 0.95, "sector").set_index("group")
    prod = contributions(hubei, "bank", 0.95, "product").set_index("group")
    cohorts = {c.name: c for c in hubei.scenario.cohorts}
    assert list(sec.index) == list(dict.fromkeys(c.sector for c in hubei.scenario.cohorts))
    for s in sec.index:
        names = [n for n in seg.index if cohorts[n].sector == s]
        assert sec.loc[s, "tail_mean"] == pytest.approx(seg.loc[names, "tail_mean"].sum(), rel=1e-12)
        assert sec.loc[s, "mean"] == pytest.approx(seg.loc[names, "mean"].sum(), rel=1e-12)
    assert list(prod.index) == ["credit", "guaranteed", "insured"]
    assert prod.loc["guaranteed", "tail_mean"] == pytest.approx(seg.loc["nev_guaranteed", "tail_mean"])
    assert list(seg.columns) == ["measure", "event", "level", "tail_mean", "share", "uplift", "se",
                                 "n_tail", "p_event", "mean"]


def test_tape_segments_take_the_tape_sector(tmp_path):
    rows = ["exposure,pd,lgd,rho,sector,product"]
    rows += ["1e6,0.05,0.5,0.2,a,credit" for _ in range(20)]
    rows += [f"2e6,0.05,0.5,0.2,{'ab'[i % 2]},guaranteed" for i in range(20)]
    (tmp_path / "loans.csv").write_text("\n".join(rows) + "\n")
    sc = simpool.load_scenario({
        "simulation": {"paths": 2000, "seed": 2},
        "model": {"sectors": ["a", "b"]},
        "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.05, "lgd": 0.5, "rho": 0.2,
                     "sector": "b"}],
        "portfolio": {"loans_file": str(tmp_path / "loans.csv"), "guarantor": "g"},
        "guarantors": [{"name": "g", "net_assets": 1e9}],
    })
    res = simpool.simulate(sc)
    seg = contributions(res, level=0.9)
    assert list(seg.group) == ["c", "tape:credit", "tape:guaranteed"]
    sec = contributions(res, level=0.9, by="sector")
    assert list(sec.group) == ["b", "a", "tape"]  # mixed-sector tape segment: "tape"
    assert sec.tail_mean.sum() == pytest.approx(seg.tail_mean.sum(), rel=1e-12)
    prod = contributions(res, level=0.9, by="product")
    assert list(prod.group) == ["credit", "guaranteed"]


# -------------------------------------------------------------------------------- errors


def test_errors(hubei):
    with pytest.raises(ValueError, match="unknown measure 'grosss'"):
        contributions(hubei, "grosss")
    with pytest.raises(ValueError, match="unknown grouping"):
        contributions(hubei, by="cohort")
    with pytest.raises(ValueError, match="unknown pool 'nope'.*knowledge_value"):
        contributions(hubei, event="pool:nope")
    with pytest.raises(ValueError, match="unknown event"):
        contributions(hubei, event="depleted")
    with pytest.raises(ValueError, match="level"):
        contributions(hubei, level=1.0)
    rich = simpool.load_scenario({
        "simulation": {"paths": 500, "seed": 1},
        "cohorts": [{"name": "c", "loans": 1000, "exposure": 1e6, "pd": 0.02, "lgd": 0.5, "rho": 0.1,
                     "pool": "p"}],
        "pools": [{"name": "p", "cash": "1000亿", "share": 0.5}],
    })
    with pytest.raises(ValueError, match="no paths in the event 'pool:p'"):
        contributions(simpool.simulate(rich), event="pool:p")
