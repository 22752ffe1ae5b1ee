"""Importance sampling: unbiased against exact values, and far lower variance in the tail.

Reference: Glasserman & Li (2005)'s 1000-obligor portfolio, PD_k = 0.01 (1 + sin(16 pi k/1000)),
exposure ceil(5k/1000)^2, LGD 1, factor loading 0.3 (rho = 0.09). Its exact loss law is
computed here independently: Gauss-Hermite quadrature over the factor of the conditional
loss pmf, built by Bernoulli convolution on the integer lattice (checked against composite
Gauss-Legendre to 1e-9 relative when this test was written).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtr, ndtri

import simpool
from simpool.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
K = 1000
k = np.arange(1, K + 1)
GL_PD = 0.01 * (1 + np.sin(16 * np.pi * k / K))
GL_EAD = np.ceil(5 * k / K) ** 2
GL_RHO = 0.09


@pytest.fixture(scope="module")
def gl_exact():
    """Exact pmf of the Glasserman-Li portfolio loss on 0..sum(EAD)."""
    ead = GL_EAD.astype(int)
    m = int(ead.sum())
    nodes, weights = hermegauss(120)
    weights = weights / math.sqrt(2 * math.pi)
    p = ndtr((ndtri(GL_PD)[None, :] - math.sqrt(GL_RHO) * nodes[:, None]) / math.sqrt(1 - GL_RHO))
    f = np.zeros((len(nodes), m + 1))
    f[:, 0] = 1.0
    for j, c in enumerate(ead):
        pj = p[:, j:j + 1]
        f[:, c:] = f[:, c:] * (1 - pj) + f[:, :m + 1 - c] * pj
        f[:, :c] *= 1 - pj
    pmf = weights @ f
    assert abs(pmf.sum() - 1) < 1e-12
    return pmf


def exact_es(pmf, alpha):
    """Acerbi-Tasche ES of a lattice law: (1/(1-a)) int_a^1 VaR_u du."""
    cdf = np.cumsum(pmf)
    v = int(np.searchsorted(cdf, alpha))
    loss = np.arange(len(pmf))
    return (float((loss[v + 1:] * pmf[v + 1:]).sum()) + v * (cdf[v] - alpha)) / (1 - alpha)


def gl_scenario(method, target=None, paths=20_000):
    imp = {"method": method}
    if target is not None:
        imp["target"] = target
    return simpool.load_scenario({
        "simulation": {"paths": paths, "seed": 11},
        "cohorts": [{"name": f"o{i}", "loans": 1, "exposure": float(GL_EAD[i]), "pd": float(GL_PD[i]),
                     "lgd": 1.0, "rho": GL_RHO, "mode": "loans"} for i in range(K)],
        "importance_sampling": imp,
    })


def est(res, statistic, param):
    for e in res.describe(levels=[0.999], thresholds=[1000.0]):
        if e.statistic == statistic and (np.isnan(param) or e.param == param):
            return e
    raise KeyError(statistic)


@pytest.mark.parametrize("method", ["shift", "shift_twist"])
def test_glasserman_li_tail_unbiased_and_100x_lower_variance(gl_exact, method):
    res = simpool.simulate(gl_scenario(method, target=1000.0))
    n = res.paths
    p_exact = float(gl_exact[1001:].sum())  # P(L > 1000), about 1.3e-4
    es_exact = exact_es(gl_exact, 0.999)
    p = est(res, "P(L>x)", 1000.0)
    es = est(res, "ES", 0.999)
    assert abs(p.value - p_exact) < 5 * p.se, (p, p_exact)
    assert abs(es.value - es_exact) < 5 * es.se, (es, es_exact)
    # variance per path: plain Monte Carlo p(1-p) against the IS estimator's n se^2
    assert p_exact * (1 - p_exact) / (n * p.se ** 2) >= 100
    # ES: the plain estimator's variance, sd((L - VaR)^+)/(1-a), from the exact law
    loss = np.arange(len(gl_exact))
    var_exact = int(np.searchsorted(np.cumsum(gl_exact), 0.999))
    excess = np.maximum(loss - var_exact, 0)
    plain_var = (float((excess ** 2 * gl_exact).sum()) - float((excess * gl_exact).sum()) ** 2) / 0.001 ** 2
    assert plain_var / (n * es.se ** 2) >= 100
    assert res.importance["method"] == method and res.importance["shift"][0] < 0


def test_weights_have_mean_one_and_shift_is_unbiased_for_vasicek():
    """A 10^7-loan cohort (Vasicek limit): P(L > x) closed form, weights average 1."""
    pd, rho, lgd = 0.01, 0.12, 0.45
    x = 0.05
    exact = ndtr((ndtri(pd) - math.sqrt(1 - rho) * ndtri(x / lgd)) / math.sqrt(rho))  # 3.25e-4
    sc = simpool.load_scenario({
        "simulation": {"paths": 20_000, "seed": 2},
        "cohorts": [{"name": "lhp", "loans": 10**7, "exposure": 1e-7, "pd": pd, "lgd": lgd, "rho": rho}],
        "importance_sampling": {"method": "shift", "target": x},
    })
    res = simpool.simulate(sc)
    w = res.weights
    assert abs(w.mean() - 1) < 5 * w.std() / math.sqrt(len(w))
    e = res.describe(levels=[0.999], thresholds=[x])[-1]
    assert e.statistic == "P(L>x)"
    assert abs(e.value - exact) < 5 * e.se + 2e-6  # + the 10^7-loan granularity
    assert exact * (1 - exact) / (res.paths * e.se ** 2) >= 100


def test_explicit_shift_multi_year_and_reproducible():
    base = {"simulation": {"paths": 5_000, "seed": 4, "horizon_years": 3},
            "cohorts": [{"name": "c", "loans": 2000, "exposure": 1.0, "pd": 0.02, "lgd": 0.5, "rho": 0.15}]}
    plain = simpool.simulate(simpool.load_scenario(base))
    sc = simpool.load_scenario({**base, "importance_sampling": {"method": "shift", "shift": [-1.0]}})
    a = simpool.simulate(sc)
    b = simpool.simulate(sc, chunk_size=777)
    assert np.array_equal(a.samples("gross"), b.samples("gross"))
    assert np.array_equal(a.weights, b.weights)
    # unbiased: the weighted EL agrees with the plain one within their standard errors
    ea, ep = a.describe()[0], plain.describe()[0]
    assert abs(ea.value - ep.value) < 5 * math.hypot(ea.se, ep.se)
    # exact EL: n * exposure * lgd * (1 - (1 - pd)^3)
    assert abs(ea.value - 2000 * 0.5 * (1 - 0.98 ** 3)) < 5 * ea.se


def test_validation_messages():
    base = {"simulation": {"horizon_years": 2},
            "cohorts": [{"name": "c", "loans": 10, "exposure": 1.0, "pd": 0.02, "lgd": 0.5, "rho": 0.15}]}
    with pytest.raises(ScenarioError, match="shift_twist needs horizon_years = 1"):
        simpool.load_scenario({**base, "importance_sampling": {"method": "shift_twist"}})
    with pytest.raises(ScenarioError, match="the automatic shift needs horizon_years = 1"):
        simpool.load_scenario({**base, "importance_sampling": {"method": "shift"}})
    with pytest.raises(ScenarioError, match=r"needs one value per sector \(1\), got 2"):
        simpool.load_scenario({**base, "importance_sampling": {"method": "shift", "shift": [-1, -1]}})
    with pytest.raises(ScenarioError, match="must be one of 'none', 'shift' or 'shift_twist'"):
        simpool.load_scenario({**base, "importance_sampling": {"method": "twist"}})


def test_importance_sampling_agrees_with_plain_sampling_on_the_waterfall():
    """The waterfall's figures under the Glasserman-Li shift (weighted) against plain Monte
    Carlo on the same scenario: each party's EL on both bases and by programme, pool
    depletion, insolvency, the national fund's cap and the government's fund agree within
    4.5 combined standard errors (the weights enter every figure, not only the loss's)."""
    plain = simpool.simulate(ROOT / "scenarios" / "hubei_base.toml", paths=20_000, seed=5,
                             overrides=["simulation.horizon_years=3"])
    shifted = simpool.simulate(
        ROOT / "scenarios" / "hubei_base.toml", paths=20_000, seed=5,
        overrides=["simulation.horizon_years=3", "importance_sampling.method=\"shift\"",
                   "importance_sampling.shift=[-0.5, -0.5, -0.5, -0.5, -0.5]"])
    assert shifted.weights is not None and plain.weights is None

    def figures(res):
        out = {}
        for r in res.summary_rows():
            loss = r.statistic == "EL" and r.measure in res.parties + ["gross", "net"]
            policy = r.statistic.startswith(("P(depleted", "P(insolvent", "P(cap binds",
                                             "P(government fund", "P(leverage"))
            if (loss and r.year is None) or (policy and r.year in (None, res.years[-1])):
                out[(r.year, r.measure, r.product, r.basis, r.statistic)] = (r.value, r.se)
        return out

    a, b = figures(plain), figures(shifted)
    assert a.keys() == b.keys() and len(a) > 40
    checked = 0
    for key, (va, sa) in a.items():
        vb, sb = b[key]
        se = math.hypot(sa, sb)
        if se == 0.0:  # a probability that is 0 (or 1) in both runs
            assert va == vb, key
            continue
        assert abs(va - vb) <= 4.5 * se, (key, va, vb, se)
        checked += 1
    assert checked > 30
