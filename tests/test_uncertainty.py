"""Estimation risk in a run: ``[model.uncertainty]`` (issue 25, item 2).

Independent numbers: in the large-portfolio limit the loss fraction is LGD x
Phi((Phi^-1(pd) - sqrt(rho) Z) / sqrt(1 - rho)) with pd itself logit-normal, whose quantiles
are computed here by quadrature over pd and root-finding (no simpool code); and a spread of
zero is the run without uncertainty, bit for bit.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize
from scipy.special import expit, logit, ndtr, ndtri

import simpool
from simpool.cli import main
from simpool.errors import ScenarioError

LOANS, EXPOSURE, LGD, PD, RHO = 200_000, 1e5, 0.5, 0.02, 0.12


def scenario(unc=None, paths=20_000, **model):
    d = {"title": "unc", "simulation": {"paths": paths, "seed": 5, "horizon_years": 1},
         "cohorts": [{"name": "a", "loans": LOANS, "exposure": EXPOSURE, "pd": PD, "lgd": LGD,
                      "rho": RHO}]}
    if unc is not None or model:
        d["model"] = dict(model)
        if unc is not None:
            d["model"]["uncertainty"] = unc
    return simpool.load_scenario(d)


def mixture_quantile(q, pd_sd):
    """The q-quantile of the large-portfolio loss fraction when logit(pd) ~ N(logit(PD),
    (pd_sd / (PD (1 - PD)))^2): P(X <= x) = E_pd Phi((sqrt(1-rho) Phi^-1(x/LGD) - c(pd)) /
    sqrt(rho)) by Gauss-Hermite over the logit."""
    s = pd_sd / (PD * (1 - PD))
    gx, gw = np.polynomial.hermite_e.hermegauss(80)
    gw = gw / gw.sum()
    c = ndtri(expit(logit(PD) + s * gx))

    def cdf(x):
        return float(np.sum(gw * ndtr((math.sqrt(1 - RHO) * ndtri(x / LGD) - c) / math.sqrt(RHO))))

    return optimize.brentq(lambda x: cdf(x) - q, 1e-9, LGD * (1 - 1e-12), xtol=1e-12)


def test_the_tail_matches_the_mixture_law():
    """VaR 99% and ES 99% of the gross loss with pd uncertain (sd 0.006) against the
    large-portfolio mixture, within 4 SE and the binomial granularity of 200,000 loans."""
    res = simpool.simulate(scenario({"cohorts": {"a": {"pd_sd": 0.006}}}), keep="all")
    s = res.summary()
    ead = LOANS * EXPOSURE
    row = s[(s.measure == "gross") & s.year.isna() & (s.statistic == "VaR")
            & np.isclose(s.param, 0.99) & (s["product"] == "")].iloc[0]
    want = mixture_quantile(0.99, 0.006) * ead
    assert abs(row.value - want) < 4 * row.se + 0.01 * want, (row.value, want, row.se)
    # ES 99%: the mean of the quantiles above 0.99
    us = 0.99 + 0.01 * (np.arange(200) + 0.5) / 200
    es_want = np.mean([mixture_quantile(u, 0.006) for u in us]) * ead
    es = s[(s.measure == "gross") & s.year.isna() & (s.statistic == "ES")
           & np.isclose(s.param, 0.99) & (s["product"] == "")].iloc[0]
    assert abs(es.value - es_want) < 4 * es.se + 0.01 * es_want, (es.value, es_want, es.se)
    # and without the uncertainty the same paths give the Vasicek quantile
    fixed = s[(s.measure == "gross") & (s.statistic == "VaR (fixed parameters)")
              & np.isclose(s.param, 0.99)].iloc[0]
    vas = LGD * ndtr((ndtri(PD) + math.sqrt(RHO) * ndtri(0.99)) / math.sqrt(1 - RHO)) * ead
    assert abs(fixed.value - vas) < 4 * fixed.se + 0.01 * vas
    share = s[(s.measure == "gross") & (s.statistic == "parameter uncertainty share of ES")
              & np.isclose(s.param, 0.99)].iloc[0]
    assert share.value == pytest.approx(1 - fixed_es(s) / es.value)
    assert share.value > 4 * share.se  # pd uncertainty of +-0.6 points adds to the tail


def fixed_es(s):
    return s[(s.measure == "gross") & (s.statistic == "ES (fixed parameters)")
             & np.isclose(s.param, 0.99)].iloc[0].value


def test_zero_spread_is_the_run_without_uncertainty_and_chunking_does_not_matter():
    base = simpool.simulate(scenario(paths=3000))
    zero = simpool.simulate(scenario({"cohorts": {"a": {"pd_sd": 0.0, "rho_sd": 0.0}}},
                                     paths=3000))
    np.testing.assert_array_equal(base.samples("gross"), zero.samples("gross"))
    sc = scenario({"cohorts": {"a": {"pd_sd": 0.004, "rho_sd": 0.03}}, "compare": False},
                  paths=3000)
    a = simpool.simulate(sc, chunk_size=256)
    b = simpool.simulate(sc, chunk_size=1000)
    np.testing.assert_array_equal(a.samples("gross"), b.samples("gross"))
    assert not np.array_equal(a.samples("gross"), base.samples("gross"))
    assert not hasattr(a, "without_uncertainty")  # compare = false: one run


@pytest.mark.parametrize("unc, model, words", [
    ({"cohorts": {"b": {"pd_sd": 0.01}}}, {}, "unknown cohort 'b'"),
    ({"sectors": {"fintech": {"pd_sd": 0.01}}}, {}, "unknown sector 'fintech'"),
    ({"cohorts": {"a": {"pd_sd": 0.01}}}, {"copula": "t"}, "needs the Gaussian copula"),
    ({"source": "nowhere.json"}, {}, "cannot read 'nowhere.json'"),
])
def test_bad_uncertainty_is_named(unc, model, words):
    with pytest.raises(ScenarioError, match=words):
        scenario(unc, **model)


def test_from_calibrate_output(tmp_path, capsys):
    """history -> simpool calibrate --format json -> [model.uncertainty] source: the cohort
    named like the segment draws its pd and rho with the estimates' standard errors."""
    rng = np.random.default_rng(4)
    z = rng.standard_normal(12)
    p = ndtr((ndtri(PD) - math.sqrt(RHO) * z) / math.sqrt(1 - RHO))
    rows = ["year,segment,defaults,loans"] + [f"{2010 + t},a,{k},3000" for t, k in
                                              enumerate(rng.binomial(3000, p))]
    (tmp_path / "h.csv").write_text("\n".join(rows), encoding="utf-8")
    assert main(["calibrate", str(tmp_path / "h.csv"), "--format", "json"]) == 0
    fit = capsys.readouterr().out
    (tmp_path / "fit.json").write_text(fit, encoding="utf-8")
    (tmp_path / "sc.toml").write_text(
        '[simulation]\npaths = 2000\nhorizon_years = 1\n'
        '[model.uncertainty]\nsource = "fit.json"\n'
        f'[[cohorts]]\nname = "a"\nloans = 1000\nexposure = 1e6\npd = {PD}\nlgd = 0.5\n'
        f'rho = {RHO}\n', encoding="utf-8")
    sc = simpool.load_scenario(tmp_path / "sc.toml")
    f = json.loads(fit)[0]
    pd_sd, rho_sd, group = sc._spreads["a"]
    assert pd_sd == pytest.approx(f["pd_se"] / (PD * (1 - PD)))
    assert rho_sd == pytest.approx(f["rho_se"] / (RHO * (1 - RHO)))
    res = simpool.simulate(sc)
    assert "parameter uncertainty share of ES" in set(res.summary().statistic)
