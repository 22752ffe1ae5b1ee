"""Sensitivity (simpool.analysis.sensitivity, ``simpool sensitivity``).

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
from simpool.analysis.sensitivity import levers, sobol, tornado
from simpool.analysis.solve import Figure

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


#: The Sobol levers: the product exposure x LGD (the simulated gross EL is exactly
#: proportional to it on common random numbers) and the pool's cash, which gross losses do
#: not depend on (indices exactly 0). Cash last, so a reversed or shifted lever order shows.
SOBOL_KEYS = ["cohorts.a.exposure", "cohorts.a.lgd", "pools.p.cash"]
SOBOL_BASE = {"cohorts.a.exposure": 1e6, "cohorts.a.lgd": 0.5, "pools.p.cash": 5e7}
#: Each lever uniform within +-50% of its value (wide, so that the product's indices sit
#: well away from 0.5: see ``_product_indices``).
SOBOL_DELTA = 0.5


def _product_indices(delta: float) -> tuple[float, float]:
    """S1 and ST of each factor of Y = U1 U2, Ui independent uniform on [1 - delta, 1 + delta]
    (mean 1, variance v = delta^2 / 3): Var Y = (1 + v)^2 - 1 = 2v + v^2, the first-order
    part of each factor is v and the interaction v^2, so S1 = 1 / (2 + v) and
    ST = (1 + v) / (2 + v)."""
    v = delta**2 / 3
    return 1 / (2 + v), (1 + v) / (2 + v)


def _saltelli(delta: float, n: int):
    """The SALib problem and Saltelli matrix for SOBOL_KEYS, built here independently of
    simpool.analysis.sensitivity: bounds value x (1 -+ delta), N = n, no second order, seed 1."""
    from SALib.sample import sobol as sample

    problem = {"num_vars": len(SOBOL_KEYS), "names": list(SOBOL_KEYS),
               "bounds": [[SOBOL_BASE[k] * (1 - delta), SOBOL_BASE[k] * (1 + delta)]
                          for k in SOBOL_KEYS]}
    return problem, sample.sample(problem, n, calc_second_order=False, seed=1)


def _recording_runner(monkeypatch, model=None):
    """Wrap simpool.analysis.sensitivity._runner: record every (lever values, figure) sobol() asks
    for; with ``model`` (lever values -> figure), answer with it instead of simulating."""
    import simpool.analysis.sensitivity as sensitivity

    real = sensitivity._runner
    calls: list[tuple[dict[str, float], float]] = []

    def runner(*args, **kwargs):
        simulate = real(*args, **kwargs)

        def run(sets):
            x = {k: float(v) for k, _, v in (s.partition("=") for s in sets)}
            value = simulate(sets) if model is None else (model(x), 0.0)
            calls.append((x, value[0]))
            return value

        return run

    monkeypatch.setattr(sensitivity, "_runner", runner)
    return calls


def test_sobol_indices_equal_salib_on_the_closed_form_of_the_same_samples(case, monkeypatch):
    """The simulated Sobol table is SALib's analysis of the exact closed form Y = exposure x
    LGD on the very same Saltelli matrix: the simulation is checked to be exactly that
    product at every sample point, and the indices (and SALib's bootstrap intervals, same
    seed) to be what SALib gives for the product, lever by lever."""
    from SALib.analyze import sobol as analyze

    calls = _recording_runner(monkeypatch)
    st, runs = sobol(str(case), EL, SOBOL_KEYS, delta=SOBOL_DELTA, samples=64)
    problem, X = _saltelli(SOBOL_DELTA, 64)
    assert runs == len(X) == len(calls) == 64 * (len(SOBOL_KEYS) + 2)
    # sobol() evaluated the Saltelli matrix of the right problem, row by row, lever by lever
    used = np.array([[x[k] for k in SOBOL_KEYS] for x, _ in calls])
    assert np.array_equal(used, X)
    # the simulated figure is c x exposure x LGD at every point (common random numbers), and
    # does not depend on the pool's cash
    y_sim = np.array([y for _, y in calls])
    y_closed = X[:, 0] * X[:, 1]
    ratio = y_sim / y_closed
    assert np.all(y_sim > 0)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    # hence the table is SALib's analysis of the closed form on the same samples
    want = analyze.analyze(problem, y_closed, calc_second_order=False, seed=1)
    assert list(st.lever) == SOBOL_KEYS
    for col in ("S1", "S1_conf", "ST", "ST_conf"):
        np.testing.assert_allclose(st[col].to_numpy(), want[col], rtol=1e-7, atol=1e-9,
                                   err_msg=col)
    # the inert lever's indices are exactly zero; the product's are not
    by = st.set_index("lever")
    assert by.loc["pools.p.cash", "S1"] == pytest.approx(0.0, abs=1e-12)
    assert by.loc["pools.p.cash", "ST"] == pytest.approx(0.0, abs=1e-12)
    assert (by.loc[SOBOL_KEYS[:2], "ST"] > 0.3).all()


#: Fixed tolerance for the indices at N = 4096 (20,480 model runs). SALib's Saltelli matrix
#: is a scrambled Sobol' sequence, so the error falls nearly as 1/N: over 20 scrambles
#: (seeds 1-20) the largest error of any index was 7e-4 for both models below. 0.005 is 7x
#: that, and 4x smaller than the product's distance from 0.5 (0.02), so indices that were
#: swapped, mislabelled, all 0.5 or taken from the wrong bounds fail. SALib's own 95%
#: intervals at this N are about 0.03 and play no part.
SOBOL_TOL = 0.005
SOBOL_N = 4096


def _product(x):
    return (x["cohorts.a.exposure"] / 1e6) * (x["cohorts.a.lgd"] / 0.5)


def _additive(x):
    # Y = 2 U1 + U2 (Ui = lever / value): no interaction, S1 = ST = 4/5 and 1/5
    return 2 * x["cohorts.a.exposure"] / 1e6 + x["cohorts.a.lgd"] / 0.5


@pytest.mark.parametrize(("model", "s1", "st"), [
    pytest.param(_product, [_product_indices(SOBOL_DELTA)[0]] * 2 + [0.0],
                 [_product_indices(SOBOL_DELTA)[1]] * 2 + [0.0], id="product"),
    pytest.param(_additive, [0.8, 0.2, 0.0], [0.8, 0.2, 0.0], id="additive-2-to-1"),
])
def test_sobol_indices_match_the_analytic_values(case, monkeypatch, model, s1, st):
    """sobol() end to end (lever ranges, sampling, analysis, the table's lever order) with
    the model replaced by a closed form of known indices, at enough samples for a fixed
    tolerance: the product (the simulated figure, symmetric in its two factors) and an
    asymmetric additive model (so that swapping exposure and LGD shows)."""
    calls = _recording_runner(monkeypatch, model)
    st_table, runs = sobol(str(case), EL, SOBOL_KEYS, delta=SOBOL_DELTA, samples=SOBOL_N)
    assert runs == len(calls) == SOBOL_N * (len(SOBOL_KEYS) + 2)
    assert list(st_table.lever) == SOBOL_KEYS
    np.testing.assert_allclose(st_table.S1.to_numpy(), s1, rtol=0, atol=SOBOL_TOL)
    np.testing.assert_allclose(st_table.ST.to_numpy(), st, rtol=0, atol=SOBOL_TOL)


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


def test_tornado_error_bars_are_the_se_of_the_difference():
    """The swings are differences on common random numbers: their SE (batch means of the
    paired runs) is far below each run's own SE when the lever moves every path alike, and
    equals an independent computation from the two runs' samples."""
    import numpy as np

    import simpool
    from simpool.analysis.sensitivity import DIFF_BATCHES, tornado
    from simpool.analysis.solve import Figure

    d = {"simulation": {"paths": 4000, "seed": 3, "horizon_years": 1},
         "cohorts": [{"name": "c", "loans": 500, "exposure": 1e6, "pd": 0.03, "lgd": 0.5,
                      "rho": 0.15}]}
    fig = Figure("gross", "EL", basis="ultimate")
    f0, se0, swings = tornado(d, fig, only=["cohorts.c.lgd"], paths=4000, seed=3)
    s = swings[0]
    assert s.se_diff_high < 0.2 * s.se_high  # the paired difference is far less noisy
    # independent: the two runs' per-path losses, batch means of the difference
    a = simpool.simulate(simpool.load_scenario(d), paths=4000, seed=3).samples("gross", basis="ultimate")
    b = simpool.simulate(simpool.load_scenario(d, ["cohorts.c.lgd=0.6"]), paths=4000,
                         seed=3).samples("gross", basis="ultimate")
    diffs = np.array([p.mean() for p in np.array_split(b - a, DIFF_BATCHES)])
    assert s.se_diff_high == pytest.approx(diffs.std(ddof=1) / np.sqrt(DIFF_BATCHES), rel=1e-9)


def test_sobol_warns_when_the_sample_is_too_small():
    from simpool.analysis.sensitivity import sobol
    from simpool.analysis.solve import Figure
    from simpool.errors import SimpoolWarning

    d = {"simulation": {"paths": 200, "seed": 3, "horizon_years": 1},
         "cohorts": [{"name": "c", "loans": 50, "exposure": 1e6, "pd": 0.03, "lgd": 0.5,
                      "rho": 0.15}]}
    with pytest.warns(SimpoolWarning, match="confidence interval is wider than the index"):
        table, _ = sobol(d, Figure("gross", "EL", basis="ultimate"),
                         ["cohorts.c.pd", "cohorts.c.rho"], samples=4, paths=200)
    assert table.too_few_samples.any()
