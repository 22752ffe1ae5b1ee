"""Sensitivity (simpool.sensitivity, ``simpool sensitivity``).

With common random numbers the defaults of a path do not depend on exposure or LGD, so the
gross expected loss is exactly proportional to exposure x LGD: the tornado's swings and the
Sobol indices of that product have closed forms.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import tomli_w

from simpool import load_scenario
from simpool.cli import main
from simpool.errors import UsageError
from simpool.sensitivity import levers, sobol, tornado
from simpool.solve import Figure

SC = {"simulation": {"paths": 300, "seed": 2},
      "cohorts": [{"name": "a", "loans": 400, "exposure": 1e6, "pd": 0.03, "lgd": 0.5,
                   "rho": 0.15, "pool": "p"}],
      "pools": [{"name": "p", "cash": 5e7}]}
EL = Figure("gross", "EL")


@pytest.fixture
def case(tmp_path):
    f = tmp_path / "s.toml"
    f.write_bytes(tomli_w.dumps(SC).encode())
    return f


def test_levers_are_the_real_valued_policy_and_portfolio_keys(case):
    lv = levers(load_scenario(str(case)))
    assert lv["cohorts.a.pd"] == 0.03 and lv["cohorts.a.exposure"] == 1e6
    assert lv["pools.p.cash"] == 5e7 and "pools.p.share" in lv
    assert not any(k.startswith(("simulation.", "report.", "importance_sampling.")) for k in lv)
    assert "cohorts.a.loans" not in lv  # integers are counts, not levers
    assert all(v != 0 for v in lv.values())


def test_tornado_swings_are_exact_for_proportional_levers(case):
    f0, se0, swings = tornado(str(case), EL, delta=0.2,
                              only=["cohorts.a.exposure", "cohorts.a.lgd", "cohorts.a.pd", "pools.p.cash"])
    by = {s.lever: s for s in swings}
    for key in ("cohorts.a.exposure", "cohorts.a.lgd"):
        assert by[key].f_high / f0 == pytest.approx(1.2, rel=1e-12)
        assert by[key].f_low / f0 == pytest.approx(0.8, rel=1e-12)
    assert by["cohorts.a.pd"].f_high > f0 > by["cohorts.a.pd"].f_low
    assert by["pools.p.cash"].swing == 0.0  # the pool does not change gross losses
    assert swings[-1].lever == "pools.p.cash"  # ranked by swing
    assert se0 > 0


def test_out_of_range_side_is_skipped(case):
    # share 0.9 x 1.2 > 1 is not allowed: that side is reported as NaN, not an error
    f0, _, swings = tornado(str(case), EL, delta=0.2, only=["pools.p.share"],
                            overrides=["pools.p.share=0.9"])
    assert math.isnan(swings[0].f_high) and math.isfinite(swings[0].f_low)


def test_unknown_lever_is_a_usage_error(case):
    with pytest.raises(UsageError, match="not a real-valued lever"):
        tornado(str(case), EL, only=["cohorts.a.loans"])


def test_sobol_indices_of_a_product(case):
    """Y = k X1 X2, Xi uniform on [0.8, 1.2] x value: S1 = Var X / ((Var X + 1)^2 - 1) per
    lever (means normalised to 1) and ST = 1 - S1 of the other."""
    var = 0.4 ** 2 / 12
    s1 = var / ((var + 1) ** 2 - 1)
    st, runs = sobol(str(case), EL, ["cohorts.a.exposure", "cohorts.a.lgd"], samples=64)
    assert runs == 64 * 4
    for _, r in st.iterrows():
        assert abs(r.S1 - s1) < 2 * r.S1_conf + 0.05, r
        assert abs(r.ST - (1 - s1)) < 2 * r.ST_conf + 0.05, r


def test_cli_sensitivity(case, tmp_path):
    out = tmp_path / "out"
    assert main(["sensitivity", str(case), "--measure", "gross", "--statistic", "EL",
                 "--levers", "cohorts.a.exposure,cohorts.a.pd", "--out", str(out), "--quiet"]) == 0
    t = pd.read_csv(out / "tornado.csv", encoding="utf-8-sig")
    assert list(t.lever) == ["cohorts.a.pd", "cohorts.a.exposure"] or \
        list(t.lever) == ["cohorts.a.exposure", "cohorts.a.pd"]
    assert np.isfinite(t.swing).all()
    assert (out / "tornado.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "scenario.resolved.toml").exists() and (out / "provenance.json").exists()
    assert main(["sensitivity", str(case), "--measure", "gross", "--statistic", "EL",
                 "--levers", "cohorts.a.nope", "--out", str(out), "--quiet"]) == 2
    assert main(["sensitivity", str(case), "--measure", "gross", "--statistic", "EL",
                 "--delta", "1.5", "--out", str(out), "--quiet"]) == 2
