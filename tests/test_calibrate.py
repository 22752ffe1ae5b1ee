"""``simpool calibrate``: parameters from default histories (issue 25).

Independent numbers: the year's likelihood against scipy's adaptive quadrature; the maximum
against a direct numerical maximisation written here from scipy alone (no simpool code); the
method of moments on 10^4 years; the 95% intervals' coverage over 1,000 replications of
histories simulated from known parameters.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from scipy.special import ndtr, ndtri

from simpool.analysis import calibrate as C
from simpool.cli import main
from simpool.errors import ScenarioError
from simpool.scenario.history import read_history


def simulate_history(rng, pd, rho, years, loans, phi=0.0):
    z = np.empty(years)
    z[0] = rng.standard_normal()
    for t in range(1, years):
        z[t] = phi * z[t - 1] + math.sqrt(1 - phi ** 2) * rng.standard_normal()
    p = ndtr((ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    return rng.binomial(loans, p), np.full(years, loans)


def scipy_loglik(d, n, pd, rho):
    """The Vasicek likelihood from its definition: scipy's binomial pmf integrated against the
    normal density by adaptive quadrature around the peak."""
    c = ndtri(pd)
    total = 0.0
    for dt, nt in zip(d, n):
        def f(z):
            return stats.binom.pmf(dt, nt, ndtr((c - math.sqrt(rho) * z) / math.sqrt(1 - rho))) \
                * stats.norm.pdf(z)
        rate = min(max(dt / nt, 1e-6), 1 - 1e-6)
        peak = (c - math.sqrt(1 - rho) * ndtri(rate)) / math.sqrt(rho)
        val, _ = integrate.quad(f, -12, 12, points=[min(max(peak, -11), 11)], limit=400,
                                epsabs=0, epsrel=1e-10)
        total += math.log(val)
    return total


def test_year_likelihood_matches_adaptive_quadrature():
    rng = np.random.default_rng(3)
    for pd, rho, n in [(0.02, 0.12, 5000), (0.05, 0.3, 200), (0.005, 0.02, 20000),
                       (0.1, 0.5, 50)]:
        d, nn = simulate_history(rng, pd, rho, 4, n)
        assert C.loglik(d, nn, pd, rho) == pytest.approx(scipy_loglik(d, nn, pd, rho), abs=1e-7)


def test_maximum_agrees_with_an_independent_maximisation():
    rng = np.random.default_rng(7)
    d, n = simulate_history(rng, 0.02, 0.12, 8, 3000)
    fit = C.fit_segment("a", np.arange(8), d, n)
    res = optimize.minimize(lambda x: -scipy_loglik(d, n, ndtr(x[0]), ndtr(x[1])),
                            [ndtri(0.025), ndtri(0.15)], method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
    pd_ref, rho_ref = ndtr(res.x[0]), ndtr(res.x[1])
    assert fit.pd.value == pytest.approx(pd_ref, rel=2e-4)
    assert fit.rho.value == pytest.approx(rho_ref, rel=2e-3)
    assert fit.loglik == pytest.approx(-res.fun, abs=1e-5)


def test_method_of_moments_agrees_on_a_very_long_history():
    """10^4 years: the MLE and the moments both sit on the truth, within a few SE."""
    rng = np.random.default_rng(11)
    d, n = simulate_history(rng, 0.03, 0.15, 10_000, 1000)
    fit = C.fit_segment("long", np.arange(10_000), d, n, intervals=False)
    pd_m, rho_m = C.method_of_moments(d, n)
    assert abs(fit.pd.value - pd_m) < 3 * fit.pd.se
    assert abs(fit.rho.value - rho_m) < 3 * fit.rho.se
    assert abs(fit.rho.value - 0.15) < 4 * fit.rho.se and abs(fit.pd.value - 0.03) < 4 * fit.pd.se


def test_persistence_is_recovered():
    rng = np.random.default_rng(5)
    d, n = simulate_history(rng, 0.03, 0.15, 300, 2000, phi=0.6)
    fit = C.fit_segment("ar", np.arange(300), d, n)
    assert fit.phi is not None
    assert abs(fit.phi.value - 0.6) < 4 * fit.phi.se
    assert fit.phi.ci[0] < fit.phi.value < fit.phi.ci[1]


@pytest.mark.slow
@pytest.mark.parametrize("years, loans", [(15, 5000), (8, 500)])
def test_intervals_cover_the_truth(years, loans):
    """1,000 histories from pd 0.02, rho 0.12: the 95% profile intervals cover the truth in
    92-98% of them (the binomial SE of a 95% rate over 1,000 is 0.7%)."""
    rng = np.random.default_rng(years * loans)
    hit = np.zeros(2)
    R = 1000
    for _ in range(R):
        d, n = simulate_history(rng, 0.02, 0.12, years, loans)
        f = C.fit_segment("x", np.arange(years), d, n)
        hit += [f.pd.ci[0] <= 0.02 <= f.pd.ci[1], f.rho.ci[0] <= 0.12 <= f.rho.ci[1]]
    cover = hit / R
    assert np.all((0.92 <= cover) & (cover <= 0.98)), cover


def test_factor_correlation_and_shrinkage(tmp_path):
    rng = np.random.default_rng(2)
    years = 30
    z = rng.standard_normal(years)
    rows = ["year,segment,defaults,loans"]
    for s, (pd, rho) in enumerate([(0.02, 0.2), (0.04, 0.15)]):
        p = ndtr((ndtri(pd) - math.sqrt(rho) * z) / math.sqrt(1 - rho))
        for t, k in enumerate(rng.binomial(5000, p)):
            rows.append(f"{2000 + t},s{s},{k},5000")
    f = tmp_path / "h.csv"
    f.write_text("\n".join(rows), encoding="utf-8")
    fits, how = C.calibrate(read_history(f), intervals=False)
    assert fits[0].factor_corr["s1"] > 0.9 and "30 common years" in how
    # more segments than years: shrunk, never an error
    rows = ["year,segment,defaults,loans"] + [f"{2000 + t},g{s},{rng.binomial(800, 0.03)},800"
                                              for s in range(6) for t in range(4)]
    f.write_text("\n".join(rows), encoding="utf-8")
    fits, how = C.calibrate(read_history(f), intervals=False)
    assert "shrunk" in how and all(len(x.factor_corr) == 5 for x in fits)


# ---------------------------------------------------------------- the file and the command

def test_chinese_headers_gbk_and_rates_with_percent(tmp_path):
    f = tmp_path / "h.csv"
    text = "年份,行业,违约率(%),贷款笔数\n" + "\n".join(
        f"{2015 + t},光电子,{r},1000" for t, r in enumerate([2.1, 3.4, 1.2, 5.0, 2.2]))
    f.write_bytes(text.encode("gbk"))
    h = read_history(f)
    assert h.names == ["光电子"]
    np.testing.assert_array_equal(h.segments[0].defaults, [21, 34, 12, 50, 22])
    f.write_text("year,defaults,loans\n2020,3,100\n2021,5,100\n2022,\"2\",100\n",
                 encoding="utf-8-sig")
    assert read_history(f).names == ["all"]


@pytest.mark.parametrize("body, words", [
    ("year,segment,defaults,loans\n2020,a,1,10\n2020,a,2,10\n2021,a,1,10\n2022,a,1,10\n",
     ":3: year: year 2020 appears twice in segment 'a' (lines 2 and 3)"),
    ("year,segment,defaults,loans\n2020,a,11,10\n2021,a,1,10\n2022,a,1,10\n2023,a,1,10\n",
     ":2: defaults: 11 defaults exceed the 10 loans of that year"),
    ("year,segment,defaults,loans\n2020,a,1,10\n2021,a,1,10\n",
     "segment 'a' has 2 years: pd needs at least 1 and the asset correlation at least 3"),
    ("year,segment,count\n2020,a,10\n", "missing column defaults or default_rate"),
    ("year,segment,default_rate,loans\n2020,a,1.5,10\n2021,a,0.1,10\n2022,a,0.1,10\n",
     ":2: default_rate: must be a fraction in [0, 1]"),
])
def test_bad_histories_name_the_file_and_line(tmp_path, capsys, body, words):
    f = tmp_path / "bad.csv"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(ScenarioError, match=None) as e:
        read_history(f)
    text = "\n".join(map(str, e.value.problems))
    assert words in text, text
    assert main(["calibrate", str(f)]) == 2
    assert words in capsys.readouterr().err


def test_cli_outputs(tmp_path, capsys):
    rng = np.random.default_rng(9)
    rows = ["year,segment,defaults,loans"]
    for s in ("a", "b"):
        d, n = simulate_history(rng, 0.02, 0.1, 12, 2000)
        rows += [f"{2010 + t},{s},{k},2000" for t, k in enumerate(d)]
    f = tmp_path / "h.csv"
    f.write_text("\n".join(rows), encoding="utf-8")
    assert main(["calibrate", str(f), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)  # only the JSON on stdout
    assert [o["segment"] for o in out] == ["a", "b"]
    for o in out:
        assert {"segment", "years", "pd", "pd_se", "pd_ci", "rho", "rho_se", "rho_ci", "phi",
                "phi_se", "phi_ci"} <= set(o)
        assert o["pd_ci"][0] < o["pd"] < o["pd_ci"][1] and len(o["rho_ci"]) == 2
    frag = tmp_path / "fit.toml"
    assert main(["calibrate", str(f), "--toml", str(frag), "--out", str(tmp_path / "e.csv")]) == 0
    table = capsys.readouterr().out
    assert "95% interval" in table and "factor correlation" in table
    import tomllib

    import simpool

    got = tomllib.loads(frag.read_text(encoding="utf-8"))
    assert [c["name"] for c in got["cohorts"]] == ["a", "b"]
    assert got["cohorts"][0]["pd"] == pytest.approx(out[0]["pd"], rel=1e-5)
    # the fragment extends: a scenario with cohorts of those names takes the estimates
    sc_file = tmp_path / "sc.toml"
    sc_file.write_text(
        'extends = "fit.toml"\n[simulation]\npaths = 100\n'
        '[[cohorts]]\nname = "a"\nloans = 100\nexposure = 1e6\nlgd = 0.5\n'
        '[[cohorts]]\nname = "b"\nloans = 100\nexposure = 1e6\nlgd = 0.5\n', encoding="utf-8")
    sc = simpool.load_scenario(sc_file)
    assert sc.cohorts[0].pd == pytest.approx(out[0]["pd"], rel=1e-5)
    assert sc.cohorts[1].rho == pytest.approx(out[1]["rho"], rel=1e-5)
