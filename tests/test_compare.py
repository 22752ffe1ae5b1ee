"""Comparisons on common random numbers (simpool.analysis.compare, ``simpool compare``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simpool import load_scenario, simulate
from simpool.cli import main
from simpool.analysis.compare import compare, difference_table, subset

BASE = {
    "title": "cmp",
    "simulation": {"paths": 6000, "seed": 12, "horizon_years": 2},
    "cohorts": [{"name": "a", "loans": 2000, "exposure": 1e6, "pd": 0.03, "lgd": 0.5,
                 "rho": 0.15, "pool": "p"},
                {"name": "b", "loans": 1000, "exposure": 2e6, "pd": 0.02, "lgd": 0.4,
                 "rho": 0.2, "product": "guaranteed", "guarantor": "g"}],
    "pools": [{"name": "p", "cash": 3e8}],
    "guarantors": [{"name": "g", "net_assets": 5e8}],
}


def sc(**changes):
    d = {k: (list(v) if isinstance(v, list) else v) for k, v in BASE.items()}
    return load_scenario(d, [f"{k}={v}" for k, v in changes.items()])


@pytest.fixture(scope="module")
def small_change():
    return compare(sc(), [sc(**{"cohorts.a.pd": 0.033})])


def row(table, measure, statistic="EL", year=None, param=None, product="", basis=None):
    t = table[(table.measure == measure) & (table.statistic == statistic)
              & (table["product"] == product)]
    if basis is not None:
        t = t[t.basis == basis]
    t = t[t.year.isna()] if year is None else t[t.year == year]
    if param is not None:
        t = t[np.isclose(t.param, param)]
    assert len(t) == 1, (measure, statistic, year, param, len(t))
    return t.iloc[0]


def test_difference_is_whatif_minus_base(small_change):
    t = small_change
    np.testing.assert_allclose(t["diff"], t["whatif"] - t["base"], equal_nan=True)
    b = simulate(sc()).summary()
    g = row(b, "gross").value
    assert row(t, "gross").base == g


def test_crn_difference_is_far_more_precise(small_change):
    """A 10% PD change: the SE of the difference is well below either run's SE and far
    below the SE two independent runs would give."""
    for measure, basis in (("gross", "ultimate"), ("net", "cash"), ("bank", "cash"),
                           ("bank", "ultimate"), ("compensation_pool", "ultimate")):
        r = row(small_change, measure, basis=basis)
        assert r["diff"] > 0
        assert r.se_diff < 0.5 * min(r.se_base, r.se_whatif), measure
        assert r.se_diff < 0.35 * math.hypot(r.se_base, r.se_whatif), measure
        assert abs(r["diff"]) > 4 * r.se_diff, measure  # the change is resolved


def test_batch_means_match_the_analytic_standard_error():
    """Against a what-if with no loss at all, diff = -base: the batch-means SE of the
    difference must then equal the run's analytic SE (within the ~16% noise of 20 batches)."""
    t = compare(sc(), [sc(**{"cohorts.a.pd": 0.0, "cohorts.b.pd": 0.0})])
    for measure, basis in (("gross", "ultimate"), ("net", "cash"), ("bank", "cash"),
                           ("bank", "ultimate")):
        r = row(t, measure, basis=basis)
        assert r.whatif == 0.0
        assert 0.6 < r.se_diff / r.se_base < 1.4, (measure, r.se_diff, r.se_base)


def test_same_seed_and_paths_required():
    a = simulate(sc(), paths=1000, seed=1)
    b = simulate(sc(), paths=1000, seed=2)
    with pytest.raises(ValueError, match="same seed and paths"):
        difference_table(a, b)


def test_identical_scenarios_differ_by_exactly_zero():
    t = compare(sc(), [sc()], paths=2000)
    assert (t["diff"].fillna(0) == 0).all()
    assert (t["se_diff"].fillna(0) == 0).all()


def test_subset_is_the_runs_of_those_paths():
    res = simulate(sc(), paths=3000)
    part = subset(res, 1000, 2500)
    np.testing.assert_array_equal(part.samples("net"), res.samples("net")[1000:2500])
    alone = simulate(sc(), paths=2500)  # same seed: paths 0..2499 are the same paths
    np.testing.assert_array_equal(subset(alone, 1000, 2500).samples("net"),
                                  part.samples("net"))


def test_cli_compare_writes_table_and_plot(tmp_path):
    import tomli_w

    base = tmp_path / "base.toml"
    base.write_bytes(tomli_w.dumps(BASE).encode())
    w = tmp_path / "w.toml"
    w.write_text('extends = "base.toml"\n[[cohorts]]\nname = "a"\npd = 0.04\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["compare", str(base), str(w), "--paths", "2000", "--out", str(out),
                 "--quiet", "--format", "csv,xlsx"]) == 0
    t = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    assert {"scenario", "base", "whatif", "diff", "se_diff"} <= set(t.columns)
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "compare.xlsx").exists() and (out / "w.resolved.toml").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('extends = "base.toml"\n[[cohorts]]\nname = "a"\npd = 4\n', encoding="utf-8")
    assert main(["compare", str(base), str(bad), "--out", str(tmp_path / "o2"), "--quiet"]) == 2


def test_compare_prints_the_runs_headline_table(small_change, capsys):
    """compare's headline rows are the run's (one rule: analysis.headline.is_headline), not
    only the EL rows, and its console prints each in the figure's format: money in 万/亿,
    probabilities in %, with the difference and its SE; Chinese under --lang zh."""
    from simpool.analysis.headline import format_value, headline, headline_rows
    from simpool.cli.commands import format_comparison

    res = simulate(sc(), paths=500)
    run_rows = {(r["measure"], r["statistic"], r["product"], r["basis"], r.year is None)
                for r in headline_rows(res, res.summary_rows())}
    h = headline(small_change)
    cmp_rows = {(r.measure, r.statistic, r["product"] or "", r.basis or "", pd.isna(r.year))
                for _, r in h.iterrows()}
    assert cmp_rows == run_rows
    assert not set(h.statistic) <= {"EL"}  # more than the EL rows
    text = format_comparison(h, sc())
    depl = h[h.statistic.str.startswith("P(depleted")].iloc[0]
    line = next(ln for ln in text.splitlines() if "P(depleted by year)" in ln)
    assert f"{depl.base:.3%}" in line and f"{depl.whatif:.3%}" in line
    gross = row(small_change, "gross", basis="ultimate")
    line = next(ln for ln in text.splitlines() if "gross (ultimate): EL" in ln)
    assert format_value(gross["diff"], "EL", "gross") in line and "万" in line
    import simpool.analysis.labels as labels

    before = labels.FLAG[0]
    labels.FLAG[0] = "zh"
    try:
        zh = format_comparison(h, sc())
    finally:
        labels.FLAG[0] = before
    assert "总损失（最终）：预期损失" in zh and "差值标准误" in zh
