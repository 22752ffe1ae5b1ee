"""Numerical edges (issue "Robustness", item 3): every edge gives a correct answer, checked
against an independent reference, or a clear validation error; never NaN/inf, a crash, a hang
or a silently wrong number.

References, all computed here from the model's definition (README "The model", POLICY.md,
FUNDS.md), never from simpool itself:

* pd 0 / 1: nothing defaults / every loan alive defaults in the year it is on the book;
* rho 0: K ~ Binomial(n, pd) exactly (scipy), by a randomised probability integral transform;
* rho 0.999: the one-factor law P(K = k) = E_Z[Binom(k; n, p(Z))] by adaptive quadrature
  (p(Z) is a near step function there), with P(K = n) <= pd <= P(K >= 1) and the comonotone
  limit P(K = n) -> pd;
* t copula: the same law integrated also over S = chi2_nu / nu (nu 2.1 .. 1000; nu = 1000 is
  within 2e-3 of the Gaussian law in total variation) and E[K] = n pd for every nu;
* 10^7 loans: the Vasicek large-homogeneous-portfolio law of K / n (CDF, quantiles) and its
  exact first two moments E[L] = pd, E[L^2] = Phi2(a, a; rho) + (pd - Phi2) / n;
* 50 years: the planned vintages of POLICY.md, survival (1 - pd)^age, E[K_y] = pd E[N_y];
* 1e12 yuan a loan: exact float products, conservation of the waterfall to 1e-12 relative;
* LGD 0 / 1 and lgd_std at its edges (0, ~1e-324, its bound): the fixed LGD, Beta moments;
* one path: SEs unknown (NaN), never a made-up number; zero net assets: insolvent;
* one deal of an angel fund: the multiple's closed-form law (FUNDS.md) and IRR = m^(1/(t+1)) - 1.

Tolerances: 5 Monte Carlo standard errors (sd / sqrt(paths), or sqrt(p (1 - p) / paths) for a
probability), fixed seeds; two-sided false-alarm rate 6e-7 per check.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, special
from scipy import stats as sps

import simpool
from simpool.errors import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
K_SE = 5.0
MODES = ("binomial", "loans")
IMMEDIATE = {"claim_lag_days": 0, "reimbursement_lag_days": 0, "recovery_timing": "immediate"}


# --------------------------------------------------------------------------- helpers


def scenario(cohorts, *, years=1, copula="gaussian", dof=4.0, levels=(0.99, 0.999),
             exceedance=(), **extra) -> dict:
    cs = []
    for i, c in enumerate(cohorts):
        c = {"name": f"c{i}", "exposure": 1.0, "lgd": 1.0, "rho": 0.0, **c}
        cs.append(c)
    d = {"simulation": {"paths": 1000, "seed": 1, "horizon_years": years},
         "model": {"copula": copula, "dof": dof},
         "cohorts": cs, "report": {"levels": list(levels), "exceedance": list(exceedance)}}
    d.update(extra)
    return d


def run(d, paths, seed=1):
    return simpool.simulate(d, paths=paths, seed=seed)


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)


def assert_mean(x, want, label=""):
    m, se = mean_se(x)
    assert abs(m - want) <= K_SE * se + 1e-12 * abs(want), (label, m, want, se)


def assert_prob(hit, want, label=""):
    """A frequency against an exact probability: 5 binomial SEs sqrt(p (1 - p) / n)."""
    hit = np.asarray(hit, bool)
    n = hit.size
    se = math.sqrt(max(want * (1.0 - want), 1.0 / n) / n)
    assert abs(hit.mean() - want) <= K_SE * se, (label, hit.mean(), want, se)


def assert_pmf_matches(samples, pmf, label=""):
    """Counts 0..len(pmf)-1 against an exact law: per atom 5 binomial SEs (floor 1/n on the
    variance, so an atom with p << 1/n cannot fail on one hit) and a pooled chi-square
    (atoms with expected count < 5 merged) with p-value > 1e-6."""
    k = np.asarray(samples)
    n = k.size
    pmf = np.asarray(pmf, float)
    assert k.min() >= 0 and k.max() < pmf.size, label
    counts = np.bincount(k.astype(np.int64), minlength=pmf.size)
    tol = K_SE * np.sqrt(np.maximum(pmf * (1.0 - pmf), 1.0 / n) / n)
    bad = np.abs(counts / n - pmf) > tol
    assert not bad.any(), (label, np.flatnonzero(bad)[:8], (counts / n)[bad][:8], pmf[bad][:8])
    big = pmf * n >= 5.0
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(pmf[big] * n, pmf[~big].sum() * n)
    keep = exp > 0
    stat = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    assert sps.chi2.sf(stat, keep.sum() - 1) > 1e-6, (label, stat, keep.sum() - 1)


def binom_pmf(k, n, p):
    """Binomial pmf by logs, safe for p = 0 or 1 and p(Z) ~ 1e-300."""
    with np.errstate(divide="ignore"):
        return np.exp(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                      + special.xlogy(k, p) + special.xlog1py(n - k, -p))


_Z, _WZ = hermegauss(200)
_WZ = _WZ / math.sqrt(2.0 * math.pi)


def one_factor_pmf(n, pd, rho, copula="gaussian", dof=4.0):
    """Exact law of the default count of one cohort: E_{Z,S}[Binom(k; n, p(Z, S))],
    p = Phi((sqrt(S) c - sqrt(rho) Z) / sqrt(1 - rho)), c = Phi^-1(pd) or t_nu^-1(pd),
    S = chi2_nu / nu (S = 1 Gaussian). Over Z: 200-node Gauss-Hermite while p(Z) is smooth
    (rho <= 0.5), else adaptive quadrature with breakpoints where p(Z) steps (rho -> 1); over
    S: adaptive quadrature against its density nu chi2_nu(nu s)."""
    c = special.ndtri(pd) if copula == "gaussian" else sps.t.ppf(pd, dof)
    k = np.arange(n + 1)

    def given_s(s):
        if rho <= 0.5:  # p(Z) smooth: 200-node Gauss-Hermite
            p = special.ndtr((math.sqrt(s) * c - math.sqrt(rho) * _Z) / math.sqrt(1.0 - rho))
            return binom_pmf(k[:, None], n, p[None, :]) @ _WZ
        z0 = math.sqrt(s) * c / math.sqrt(rho) if rho > 0 else 0.0
        w = 8.0 * math.sqrt(1.0 - rho)  # p(Z) moves from ~0 to ~1 over a few of these

        def f(z):
            p = special.ndtr((math.sqrt(s) * c - math.sqrt(rho) * z) / math.sqrt(1.0 - rho))
            return binom_pmf(k, n, p) * math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)

        pts = sorted({max(-12.0, min(12.0, z0 + d)) for d in (-w, 0.0, w)})
        out, _ = integrate.quad_vec(f, -12.0, 12.0, points=pts, epsabs=1e-13, epsrel=1e-10)
        return out

    if copula == "gaussian":
        return given_s(1.0)
    return integrate.quad_vec(lambda s: given_s(s) * dof * sps.chi2.pdf(dof * s, dof), 0.0,
                              sps.chi2.isf(1e-16, dof) / dof, epsabs=1e-12, epsrel=1e-9,
                              points=[1.0])[0]


def planned_vintages(n0, growth, term, rollover, years):
    """New loans per year of a binomial cohort, as POLICY.md states the rule: the book at
    the start, then round(n0 ((1 + g)^y - (1 + g)^(y-1))) + the loans maturing (rollover)."""
    counts = [n0]
    for y in range(1, years):
        new = round(n0 * ((1 + growth) ** y - (1 + growth) ** (y - 1)))
        if term is not None and rollover and y - term >= 0:
            new += counts[y - term]
        counts.append(max(0, new))
    return counts


# --------------------------------------------------------------------------- pd 0 and 1


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_pd_one_defaults_every_loan_on_the_book_in_its_first_year(copula):
    """pd = 1 at the edges of everything else (rho 0.999, t with 2.1 dof, a growing book of
    one-year loans rolled over): every loan defaults in the first year it is on the book, so
    the defaults of year y are exactly the planned vintage of year y (POLICY.md's rule); pd = 0
    cohorts (one with a Beta LGD) never default, and their book is exactly the planned one."""
    growth, term, years = 0.2, 1, 6
    cohorts = [
        {"loans": 1000, "pd": 1.0, "rho": 0.999, "exposure": 3.0, "lgd": 0.4, "growth": growth,
         "term_years": term},
        {"loans": 7, "pd": 1.0, "rho": 0.999, "exposure": 2.0, "lgd": 0.5, "mode": "loans"},
        {"loans": 500, "pd": 0.0, "rho": 0.999, "exposure": 5.0, "lgd": 0.5, "lgd_std": 0.3,
         "growth": growth, "term_years": 2},
        {"loans": 9, "pd": 0.0, "rho": 0.5, "exposure": 5.0, "lgd": 1.0, "mode": "loans"},
    ]
    res = run(scenario(cohorts, years=years, copula=copula, dof=2.1, policy=IMMEDIATE), 2000, seed=3)
    planned = planned_vintages(1000, growth, term, True, years)
    assert planned[1:4] == [1200, 1440, 1728]  # the rule, by hand: 200 + 1000, 240 + 1200, ...
    for y, year in enumerate(res.years):
        k = res.samples("defaults", year)
        assert (k == planned[y] + (7 if y == 0 else 0)).all(), (year, np.unique(k))
        np.testing.assert_allclose(res.samples("gross", year),
                                   planned[y] * 3.0 * 0.4 + (7 * 2.0 * 0.5 if y == 0 else 0.0),
                                   rtol=1e-12)
    # credit loans, no pool, no lags: the bank's net loss is the gross loss
    np.testing.assert_allclose(res.samples("bank"), res.samples("gross"), rtol=1e-12)
    seg = res._raw["segment_ead"]
    assert not seg[:, :, 2:].any()  # the pd = 0 cohorts: no exposure ever defaults
    book = planned_vintages(500, growth, 2, True, years)  # two-year loans: two live vintages
    want = [5.0 * (book[y] + (book[y - 1] if y else 0)) for y in range(years)]
    assert (res._raw["segment_balance"][:, :, 2] == want).all()
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()
    assert (s[s.statistic == "EL"].se == 0).all()  # every path the same: SE exactly 0


@pytest.mark.parametrize("mode", MODES)
def test_pd_one_with_a_beta_lgd_near_its_bound(mode):
    """pd 1 and lgd_std at 0.999999 of its bound sqrt(lgd (1 - lgd)): the Beta LGD is close to
    Bernoulli(lgd). Regression: both gamma variates of the Beta underflowed to 0 and the kernel
    died with ZeroDivisionError. Now the per-default LGD lies in [0, 1], has mean lgd and
    variance lgd_std^2 (5 SEs; the SE of the variance from the sample fourth moment), and
    almost all of its mass sits at 0 or 1."""
    m = 0.3
    s = 0.999999 * math.sqrt(m * (1 - m))
    res = run(scenario([{"loans": 1, "pd": 1.0, "lgd": m, "lgd_std": s, "exposure": 1.0,
                         "mode": mode}]), 20_000, seed=5)
    x = res.samples("gross")
    assert ((x >= 0) & (x <= 1)).all()
    assert_mean(x, m)
    d2 = (x - m) ** 2
    assert_mean(d2, s * s, "variance")
    assert np.mean((x > 1e-6) & (x < 1 - 1e-6)) < 0.01
    # a cohort of 300 such loans: K = 300 > 256 mixes exact draws and the normal sum
    res = run(scenario([{"loans": 300, "pd": 1.0, "lgd": m, "lgd_std": s, "exposure": 2.0,
                         "mode": mode}]), 4000, seed=7)
    loss = res.samples("gross")
    assert ((loss >= 0) & (loss <= 600.0)).all()
    assert_mean(loss, 300 * 2.0 * m)
    assert_mean((loss - 600.0 * m) ** 2, 300 * (2.0 * s) ** 2, "variance of the sum")


@pytest.mark.parametrize("sd", [1e-9, 1e-160, 5e-324])
@pytest.mark.parametrize("mode", MODES)
def test_tiny_lgd_std_is_the_fixed_lgd(sd, mode):
    """A tiny lgd_std: a Beta with a, b ~ 1e17 (gamma variates of enormous shape), or beyond
    (sd^2 underflows): the LGD is lgd. Regression: below ~1e-155, a + b = lgd (1 - lgd) / sd^2
    overflowed to inf and every loss was NaN."""
    res = run(scenario([{"loans": 50, "pd": 0.5, "lgd": 0.45, "lgd_std": sd, "exposure": 4.0,
                         "mode": mode}]), 2000, seed=9)
    assert res.samples("defaults").sum() > 0
    np.testing.assert_allclose(res.samples("gross"), res.samples("defaults") * 4.0 * 0.45,
                               rtol=1e-6)


# --------------------------------------------------------------------------- rho 0 and 0.999


@pytest.mark.parametrize(("mode", "n", "pd"), [("binomial", 10**7, 0.02), ("binomial", 1000, 0.999),
                                               ("loans", 40, 0.3)])
def test_rho_zero_is_binomial(mode, n, pd):
    """rho 0, Gaussian copula: independent loans, K ~ Binomial(n, pd) exactly. Randomised PIT
    U = F(K - 1) + V f(K), V ~ U(0, 1), is exactly uniform; Kolmogorov-Smirnov p > 1e-6; and
    the mean within 5 SEs."""
    res = run(scenario([{"loans": n, "pd": pd, "rho": 0.0, "mode": mode}]), 20_000, seed=11)
    k = res.samples("defaults")
    assert k.min() >= 0 and k.max() <= n
    v = np.random.default_rng(0).uniform(size=k.size)
    u = sps.binom.cdf(k - 1, n, pd) + v * sps.binom.pmf(k, n, pd)
    assert sps.kstest(u, "uniform").pvalue > 1e-6
    assert_mean(k, n * pd)


@pytest.mark.parametrize("mode", MODES)
def test_rho_0999_is_the_exact_one_factor_law_near_the_comonotone_limit(mode):
    """rho 0.999: p(Z) is a near step function of Z (width ~ sqrt(1 - rho)), so most paths
    are all or nothing. The exact law (adaptive quadrature with breakpoints at the step)
    satisfies P(K = n) <= pd <= P(K >= 1) (Jensen) and P(K = n) -> pd as rho -> 1; the
    engine's counts match it atom by atom, and E[K] = n pd."""
    n, pd = 50, 0.1
    exact = one_factor_pmf(n, pd, 0.999)
    assert exact.sum() == pytest.approx(1.0, abs=1e-9)
    assert exact @ np.arange(n + 1) == pytest.approx(n * pd, rel=1e-7)
    assert exact[n] <= pd <= 1.0 - exact[0]
    assert abs(exact[n] - pd) < 0.02 and exact[1:n].sum() < 0.03  # nearly comonotone
    res = run(scenario([{"loans": n, "pd": pd, "rho": 0.999, "mode": mode}]), 50_000, seed=13)
    k = res.samples("defaults")
    assert_pmf_matches(k, exact, f"rho 0.999 {mode}")
    assert_mean(k, n * pd)
    assert_prob(k == n, exact[n], "all default")


# --------------------------------------------------------------------------- t copula


def test_t_copula_dof_at_or_below_two_is_a_clear_error():
    for dof in (2.0, 1.999, 1.0, 0.0, -3.0):
        with pytest.raises(ScenarioError, match=r"model\.dof: must be > 2"):
            simpool.load_scenario(scenario([{"loans": 10, "pd": 0.1}], copula="t", dof=dof))
    for dof in (float("nan"), float("inf")):
        with pytest.raises(ScenarioError, match=r"model\.dof: .*finite"):
            simpool.load_scenario(scenario([{"loans": 10, "pd": 0.1}], copula="t", dof=dof))


@pytest.mark.parametrize(("dof", "mode"), [(2.1, "binomial"), (2.1, "loans"), (1000.0, "binomial"),
                                           (1000.0, "loans")])
def test_t_copula_law_from_2_1_to_1000_dof(dof, mode):
    """t copula at the ends of the allowed range: the count law equals the exact mixed
    binomial (quadrature over Z and S), E[K] = n pd; at 1000 dof the law is within 2e-3 of
    the Gaussian one in total variation (checked on the exact laws), i.e. t -> Gaussian."""
    n, pd, rho = 30, 0.05, 0.2
    exact = one_factor_pmf(n, pd, rho, "t", dof)
    assert exact.sum() == pytest.approx(1.0, abs=1e-8)
    assert exact @ np.arange(n + 1) == pytest.approx(n * pd, rel=1e-6)
    tv = 0.5 * np.abs(exact - one_factor_pmf(n, pd, rho)).sum()
    assert (tv < 2e-3) if dof == 1000.0 else (tv > 0.05), tv
    res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "mode": mode}], copula="t", dof=dof),
              40_000, seed=17)
    k = res.samples("defaults")
    assert_pmf_matches(k, exact, f"t{dof:g} {mode}")
    assert_mean(k, n * pd)


@pytest.mark.parametrize("dof", [2.05, 3.0, 30.0, 1e6])
def test_t_copula_default_rate_is_pd_for_every_dof(dof):
    """Each loan's marginal PD stays pd whatever nu (the threshold is t_nu^-1(pd)):
    E[K] = n pd within 5 SEs, in a big cohort and for single loans."""
    res = run(scenario([{"loans": 2000, "pd": 0.02, "rho": 0.15},
                        {"loans": 50, "pd": 0.3, "rho": 0.3, "mode": "loans"}], copula="t", dof=dof),
              20_000, seed=19)
    k = res._raw["segment_ead"][:, 0, :]  # exposure 1: defaults per cohort
    assert_mean(k[:, 0], 2000 * 0.02, "cohort")
    assert_mean(k[:, 1], 50 * 0.3, "loans")


# --------------------------------------------------------------------------- LGD 0 and 1


@pytest.mark.parametrize("product", ["credit", "guaranteed"])
def test_lgd_zero_and_one(product):
    """LGD 0: defaults happen but nothing is lost (gross 0; with immediate recoveries every
    party's net loss is 0). LGD 1: gross = defaults x exposure exactly, no recoveries."""
    extra = {"guarantors": [{"name": "g", "net_assets": 1e9}]} if product == "guaranteed" else {}
    c = {"loans": 200, "pd": 0.1, "rho": 0.2, "exposure": 3.0, "product": product}
    if product == "guaranteed":
        c["guarantor"] = "g"
    res = run(scenario([{**c, "lgd": 0.0}], years=2, policy=IMMEDIATE, **extra), 3000, seed=23)
    assert res.samples("defaults").sum() > 0
    assert not res.samples("gross").any()
    for p in res.parties:
        np.testing.assert_allclose(res.samples(p), 0.0, atol=1e-12 * 600)
    res = run(scenario([{**c, "lgd": 1.0}], years=2, policy=IMMEDIATE, **extra), 3000, seed=23)
    np.testing.assert_array_equal(res.samples("gross"), res.samples("defaults") * 3.0)
    np.testing.assert_allclose(res.samples("net"), res.samples("gross"), rtol=1e-12)
    assert not res.samples("pending_recoveries").any()


def test_lgd_std_edges_are_clear_errors():
    for lgd, sd in ((0.0, 0.1), (1.0, 0.01), (0.5, 0.5), (0.3, 0.6)):
        with pytest.raises(ScenarioError, match="lgd_std must be below sqrt"):
            simpool.load_scenario(scenario([{"loans": 1, "pd": 0.1, "lgd": lgd, "lgd_std": sd}]))
    for sd in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ScenarioError, match=r"lgd_std"):
            simpool.load_scenario(scenario([{"loans": 1, "pd": 0.1, "lgd": 0.5, "lgd_std": sd}]))


# --------------------------------------------------------------------------- one path


#: figures with an exact standard error 0 on one path (none: every figure is simulated)
ONE_PATH_DETERMINISTIC: set = set()


@pytest.mark.parametrize("name", ["hubei_base", "whatif/hubei_with_angel_fund"])
def test_one_path_summary_says_the_standard_errors_are_unknown(name):
    """One path: no exception anywhere; every standard error is NaN (unknown, never a
    made-up 0) except for figures that are deterministic by construction; every value is
    finite except the sample standard deviation (undefined with one path, NaN); and the
    one path's value is every statistic of it (EL = VaR = ES = the sample)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = simpool.simulate(ROOT / "scenarios" / f"{name}.toml", paths=1, seed=3)
        s = res.summary()
        res.describe("net", 2026)
        res._repr_html_()
    det = s.statistic.isin(ONE_PATH_DETERMINISTIC)
    assert s[~det].se.isna().all()
    assert (s[det].se == 0).all()
    std = s.statistic == "std"
    assert s[std].value.isna().all() and np.isfinite(s[~std].value).all()
    net = float(res.samples("net")[0])
    rows = s[(s.measure == "net") & s.year.isna() & s.statistic.isin(["EL", "VaR", "ES"])]
    assert len(rows) == 1 + 2 * len(res.scenario.report.levels)
    np.testing.assert_allclose(rows.value, net, rtol=1e-12)


def test_target_se_is_not_met_by_an_unknown_se():
    """Regression: one path has no standard error (NaN); that must not count as met."""
    from simpool.analysis.simulation import simulate_until
    from simpool.analysis.solve import Figure

    res = simulate_until(scenario([{"loans": 100, "pd": 0.05, "rho": 0.1}]),
                         [(Figure("gross", "EL"), 1e-3)], paths=1, max_paths=4, seed=1)
    assert not (res.paths == 1 and res.target_se_met)
    assert res.paths == 4 and not res.target_se_met  # ran on to --max-paths


# --------------------------------------------------------------------------- 10^7 loans


def test_ten_million_loan_cohort_is_the_vasicek_limit():
    """A 10^7-loan cohort (binomial mode): the default fraction L = K / n follows the Vasicek
    law P(L <= x) = Phi((sqrt(1 - rho) Phi^-1(x) - a) / sqrt(rho)), a = Phi^-1(pd), up to the
    granularity (conditional sd of L <= 5e-5 here, far below what 20,000 paths resolve):

    * E[L] = pd and E[L^2] = Phi2(a, a; rho) + (pd - Phi2) / n (exact for any n), 5 SEs;
    * Kolmogorov-Smirnov against the Vasicek CDF, p > 1e-6;
    * VaR at 0.99 and 0.999 against the Vasicek quantile Phi((a + sqrt(rho) Phi^-1(q)) /
      sqrt(1 - rho)): 5 VaR SEs plus 3 conditional sds of L at that quantile.
    """
    n, pd, rho = 10**7, 0.02, 0.15
    res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "exposure": 1.0 / n}],
                       levels=(0.99, 0.999)), 20_000, seed=29)
    k = res.samples("defaults")
    L = k / n
    np.testing.assert_allclose(res.samples("gross"), L, rtol=1e-12)
    a = special.ndtri(pd)
    phi2 = sps.multivariate_normal(cov=[[1, rho], [rho, 1]], abseps=1e-12, releps=1e-10).cdf([a, a])
    assert_mean(L, pd, "E[L]")
    assert_mean(L * L, phi2 + (pd - phi2) / n, "E[L^2]")

    def cdf(x):
        x = np.clip(x, 1e-300, 1 - 1e-16)
        return special.ndtr((math.sqrt(1 - rho) * special.ndtri(x) - a) / math.sqrt(rho))

    assert sps.kstest(L, cdf).pvalue > 1e-6
    for est in res.describe():
        if est.statistic == "VaR":
            q = special.ndtr((a + math.sqrt(rho) * special.ndtri(est.param)) / math.sqrt(1 - rho))
            assert abs(est.value - q) <= K_SE * est.se + 3 * math.sqrt(q / n), (est, q)


# --------------------------------------------------------------------------- 50 years


def test_fifty_year_book_with_growth_maturities_and_rollover():
    """50 years, 3-year loans rolled over, 20% growth a year, 1e12 yuan a loan (balances up to
    ~1e19): no overflow, and the book is consistent path by path:

    * loans outstanding at a year's end x exposure = the balance at the end (two separate tallies);
    * next year's opening balance = this year's closing balance + the planned new vintage
      (POLICY.md's rule, recomputed here);
    * the exposure defaulting + maturing = opening - closing balance;
    and in expectation (persistence 0: a loan survives each year w.p. 1 - pd, independently
    of the book): E[N_y] = sum_v n_v (1 - pd)^(y - v) over the live vintages, E[K_y] = pd E[N_y]."""
    years, n0, pd, g, term, e = 50, 1000, 0.02, 0.2, 3, 1e12
    res = run(scenario([{"loans": n0, "pd": pd, "rho": 0.15, "exposure": e, "lgd": 0.45,
                         "growth": g, "term_years": term}], years=years, policy=IMMEDIATE), 4000, seed=31)
    raw = res._raw
    for k, v in raw.items():
        if v.dtype.kind == "f" and k != "guarantor_leverage":
            assert np.isfinite(v).all(), k
    bal, end = raw["segment_balance"][:, :, 0], raw["segment_balance_end"][:, :, 0]
    ead, k = raw["segment_ead"][:, :, 0], raw["defaults"]
    planned = planned_vintages(n0, g, term, True, years)
    assert bal.max() > 1e18
    np.testing.assert_allclose(raw["loans_outstanding"] * e, end, rtol=1e-12)
    new = np.broadcast_to(np.array(planned[1:], float) * e, end[:, :-1].shape)
    np.testing.assert_allclose(bal[:, 1:] - end[:, :-1], new, rtol=1e-12)
    np.testing.assert_array_equal(ead, k * e)
    alive = bal / e
    for y in range(years):
        live = [v for v in range(y + 1) if v + term > y]
        expect = sum(planned[v] * (1 - pd) ** (y - v) for v in live)
        assert_mean(alive[:, y], expect, f"E[N_{y}]")
        assert_mean(k[:, y] - pd * alive[:, y], 0.0, f"E[K_{y}] - pd E[N_{y}]")
        matured = bal[:, y] - ead[:, y] - end[:, y]  # exposure of the vintage maturing at y's end
        mat_v = y - term + 1
        if mat_v >= 0:
            assert (matured >= -1e-12 * bal[:, y]).all() and (matured <= planned[mat_v] * e * (1 + 1e-12)).all()
        else:
            assert (np.abs(matured) <= 1e-12 * bal[:, y]).all()
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()


def test_fifty_year_policy_waterfall_conserves_and_stays_finite():
    """The base scenario over 50 years (guarantor and pools with feedback, lags, recovery
    curve): every output finite, pools never below zero, and in every path and year the
    parties sum to net to 1e-12 of the gross flows."""
    res = simpool.simulate(ROOT / "scenarios" / "hubei_base.toml", paths=300, seed=37,
                           overrides=["simulation.horizon_years=50"])
    raw = res._raw
    for k, v in raw.items():
        if v.dtype.kind == "f" and k != "guarantor_leverage":
            assert np.isfinite(v).all(), k
    scale = np.abs(raw["party"]).sum(axis=2)
    assert (np.abs(raw["party"].sum(axis=2) - raw["net"]) <= 1e-12 * scale + 1e-300).all()
    np.testing.assert_allclose(res.samples("net"), res.samples("gross") + res.samples("pending_recoveries"),
                               rtol=1e-12)
    assert raw["pool_balance"].min() >= 0.0
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()


def test_negative_growth_runs_the_book_down_to_its_target():
    """growth g < 0: the planned book is n0 (1 + g)^y wherever maturities allow (loans are
    never called back). Regression: the negative change of a year was dropped when no loan
    matured that year, so later rollovers refilled the book (growth -1 kept a full book
    forever). Reference: an explicit book of vintages, each year topped up to the target
    only when it is below it. pd 0: the book is deterministic."""
    years = 9
    for g, term in ((-0.5, 2), (-0.5, 3), (-1.0, 2), (-0.25, 1)):
        n0 = 2**16  # n0 (1 + g)^y is an integer for y <= 8: no rounding in the target
        res = run(scenario([{"loans": n0, "pd": 0.0, "rho": 0.1, "growth": g, "term_years": term}],
                           years=years), 2, seed=1)
        book = []  # [start year, loans]
        expect = []
        for y in range(years):
            book = [(v, n) for v, n in book if v + term > y]
            if y == 0:
                book.append((0, n0))
            else:
                target = round(n0 * (1 + g) ** y)
                have = sum(n for _, n in book)
                book.append((y, max(0, target - have)))
            expect.append(sum(n for _, n in book))
        np.testing.assert_array_equal(res._raw["segment_balance"][0, :, 0], expect, err_msg=str((g, term)))
    # growth -1 without maturities: nothing new, the static book stays
    res = run(scenario([{"loans": 100, "pd": 0.0, "rho": 0.1, "growth": -1.0}], years=5), 2)
    np.testing.assert_array_equal(res._raw["segment_balance"][0, :, 0], 100)


def test_growth_that_overflows_a_cohort_is_a_clear_error():
    """Growth compounding over a long horizon beyond the 10^12 loans a cohort may hold
    (here 1000 x 11^49): a ScenarioError naming the cohort (it was an OverflowError from numpy)."""
    d = scenario([{"loans": 1000, "pd": 0.02, "rho": 0.1, "growth": 10.0}], years=50)
    with pytest.raises(ScenarioError, match=r"cohorts\.c0\.growth: .*loans.*1e\+12"):
        simpool.simulate(d, paths=10)
    run(scenario([{"loans": 1000, "pd": 0.02, "rho": 0.1, "growth": 0.2, "term_years": 1}],
                 years=100), 20)  # 1000 x 1.2^99 ~ 7e10 loans: fine


# --------------------------------------------------------------------------- 1e12 yuan a loan


def test_trillion_yuan_loans_keep_exact_sums_and_conservation():
    """1e12 yuan a loan, 10^7 loans (gross up to ~1e19 a year):

    * binomial mode, lgd 0.5: gross = defaults x 1e12 x 0.5 bit for bit (the products are
      exact in float64: no precision lost beyond rounding, nothing overflows);
    * the base scenario's whole waterfall at this scale (guarantor, re-guarantor, pools,
      insurance, lags, recovery curve, caps): the parties sum to net within 1e-12 of the gross
      flows in every path and year, and net = gross + recoveries still due to 1e-12."""
    res = run(scenario([{"loans": 10**7, "pd": 0.02, "rho": 0.15, "exposure": 1e12, "lgd": 0.5}],
                       years=2), 2000, seed=41)
    k = res.samples("defaults", 2025)
    assert (res.samples("gross", 2025) == k * 5e11).all()
    assert res.samples("gross").max() > 5e17
    assert_mean(k, 10**7 * 0.02)

    import tomllib

    d = tomllib.loads((ROOT / "scenarios" / "hubei_base.toml").read_text(encoding="utf-8"))
    for c in d["cohorts"]:
        c["exposure"] = 1e12
        c["loans"] = 10**7 if c.get("product") == "guaranteed" else 10**6
    # policy amounts at the largest a scenario allows (1e15 yuan): the guarantor is soon
    # insolvent and the pools run dry, which exercises every fallback of the waterfall
    d["guarantors"][0]["net_assets"] = 1e15
    d["reguarantor"]["net_assets"] = 1e15
    for p in d["pools"]:
        p["cash"], p["annual_top_up"] = 1e15, 1e14
    d["insurance_pool"]["cash"] = 1e15
    d["government"].update(fund=1e15, annual_budget=1e14)
    d["policy"]["national_fund_borrower_cap"] = 1e13
    res = simpool.simulate(d, paths=1000, seed=43)
    raw = res._raw
    assert raw["segment_balance"].sum(axis=2).max() > 1e19 and res.samples("gross").max() > 1e18
    scale = np.abs(raw["party"]).sum(axis=2)
    assert (np.abs(raw["party"].sum(axis=2) - raw["net"]) <= 1e-12 * scale).all()
    np.testing.assert_allclose(res.samples("net"), res.samples("gross") + res.samples("pending_recoveries"),
                               rtol=1e-12)
    np.testing.assert_allclose(raw["loss"], raw["segment_loss"].sum(axis=2), rtol=1e-12)
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()


def test_a_trillion_loans_of_a_trillion_yuan():
    """The largest book a scenario allows: 10^12 loans of 1e12 yuan (losses ~1e22): the loss
    fraction has mean pd (5 SEs), every statistic is finite."""
    n = 10**12
    res = run(scenario([{"loans": n, "pd": 0.02, "rho": 0.15, "exposure": 1e12}]), 5000, seed=47)
    assert_mean(res.samples("defaults") / n, 0.02)
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()
    assert s[s.statistic == "EL"].value.iloc[0] > 1e21


# --------------------------------------------------------------------------- adjacent edges


def test_zero_loans_zero_exposure_and_one_year_terms():
    """Cohorts of zero loans (alone or beside others), zero exposure, and one-year loans that
    are not rolled over: exact zeros, finite summaries."""
    res = run(scenario([{"loans": 0, "pd": 0.5, "rho": 0.3},
                        {"loans": 0, "pd": 0.5, "rho": 0.3, "mode": "loans"}], years=2), 200)
    assert not res.samples("gross").any() and not res.samples("defaults").any()
    assert np.isfinite(res.summary().value).all()
    res = run(scenario([{"loans": 100, "pd": 0.2, "rho": 0.3, "exposure": 0.0},
                        {"loans": 0, "pd": 0.5, "rho": 0.3, "growth": 0.5}], years=3), 2000, seed=3)
    assert not res.samples("gross").any() and res.samples("defaults").sum() > 0
    assert np.isfinite(res.summary().value).all()
    res = run(scenario([{"loans": 100, "pd": 0.1, "rho": 0.2, "term_years": 1, "rollover": False}],
                       years=3), 5000, seed=5)
    d = res._raw["defaults"]
    assert not d[:, 1:].any()
    assert_mean(d[:, 0], 10.0)
    assert not res._raw["segment_balance"][:, 1:].any()


def test_pool_with_zero_cash_pays_nothing_and_says_it_is_depleted():
    """A pool with no cash: the bank bears the whole loss, the pool's unpaid claims are its
    share (0.4 x 100 = 40), P(depleted) = 1; and it admits no new covered loans (leverage
    target x 0 cash)."""
    one = {"loans": 1, "exposure": 100.0, "pd": 1.0, "lgd": 0.7, "pool": "p"}
    res = run(scenario([one], policy=IMMEDIATE, pools=[{"name": "p", "cash": 0.0, "share": 0.4}]), 10)
    assert res.samples("bank").tolist() == [70.0] * 10
    assert not res.samples("compensation_pool").any()
    assert res._raw["pool_unpaid"][:, 0, 0].tolist() == [40.0] * 10
    s = res.summary().set_index(["measure", "statistic"])
    assert s.loc[("pool:p", "P(depleted by year)"), "value"] == 1.0
    grow = {"loans": 100, "exposure": 1.0, "pd": 0.0, "lgd": 0.7, "rho": 0.1, "pool": "p",
            "term_years": 1, "growth": 0.2}
    res = run(scenario([grow], years=3, policy=IMMEDIATE, pools=[{"name": "p", "cash": 0.0}]), 5)
    np.testing.assert_array_equal(res._raw["segment_balance"][:, :, 0], [[100.0, 0.0, 0.0]] * 5)


def test_guarantor_with_zero_net_assets_is_insolvent_from_the_start():
    """A guarantor starting with net assets 0 (no fees, no yield): it cannot pay, so its 20%
    falls on the bank (POLICY.md: the insolvent guarantor's share goes to the bank), by hand
    bank 0.7 x (20 + 20) = 28, guarantor 0, the others 0.7 x 20 = 14; and the summary says
    P(insolvent by 2025) = 1. Regression: that figure tested the year-end net assets < 0
    only, so it reported 0 for a guarantor that never paid a yuan."""
    flat = {"fee_rate": 0.0, "investment_yield": 0.0, "operating_cost_rate": 0.0}
    one = {"loans": 1, "exposure": 100.0, "pd": 1.0, "lgd": 0.7, "product": "guaranteed",
           "guarantor": "g"}
    res = run(scenario([one], policy={**IMMEDIATE, "national_fund_payout_cap": 1.0},
                       guarantors=[{"name": "g", "net_assets": 0.0, **flat}], reguarantor=flat), 20)
    got = {p: float(res.samples(p)[0]) for p in res.parties}
    assert got == pytest.approx({"bank": 28.0, "guarantor": 0.0, "reguarantor": 14.0,
                                 "national_fund": 14.0, "government": 14.0}, abs=1e-12)
    s = res.summary()
    row = s[(s.measure == "guarantor:g") & (s.statistic == "P(insolvent by year)")]
    assert row.value.tolist() == [1.0]
    # a solvent guarantor (net assets 1000) pays its share: P(insolvent) = 0
    res = run(scenario([one], policy={**IMMEDIATE, "national_fund_payout_cap": 1.0},
                       guarantors=[{"name": "g", "net_assets": 1000.0, **flat}], reguarantor=flat), 20)
    assert float(res.samples("guarantor")[0]) == pytest.approx(14.0)
    s = res.summary()
    assert s[(s.measure == "guarantor:g") & (s.statistic == "P(insolvent by year)")].value.tolist() == [0.0]


def test_a_fund_with_one_deal():
    """One deal (one year of investment, one deal a year), no fee, hurdle or carry, full
    profit concession: with m = proceeds / ticket the deal's multiple, exactly (FUNDS.md)
    government loss ratio = max(0, 1 - m), private TVPI = m + g / (1 - g) max(0, m - 1) and
    private IRR = TVPI^(1 / (t + 1)) - 1 (one call at the start of year 0, one distribution at
    the end of the exit year t); and m has the preset's closed-form law:
    P(m = 0) = p_loss, P(m < 1/2) = p_loss + p_partial / 2, P(m > 10) and E[m] (truncated
    Pareto), 5 SEs."""
    p_loss, p_partial, alpha, cap = 0.35, 0.17, 1.0097, 200.0  # wiltbank_mean
    g, ticket = 0.8, 1e7
    f = {"name": "f", "size": 1e9, "government_share": g, "deals_per_year": 1, "ticket": ticket,
         "investment_years": 1, "management_fee": 0.0, "hurdle": 0.0, "carry": 0.0}
    res = simpool.simulate({"funds": [f]}, paths=40_000, seed=53)
    assert (res.samples("fund:f:deals") == 1).all()
    proceeds = res._raw["fund:f:proceeds"]
    m = proceeds.sum(axis=1) / ticket
    np.testing.assert_allclose(res.samples("fund:f:gov_loss_ratio"), np.maximum(0, 1 - m),
                               rtol=1e-12, atol=1e-12)
    tvpi = m + g / (1 - g) * np.maximum(0.0, m - 1)
    np.testing.assert_allclose(res.samples("fund:f:private_tvpi"), tvpi, rtol=1e-12)
    t = np.argmax(proceeds > 0, axis=1)
    with np.errstate(divide="ignore"):
        irr = np.where(m > 0, np.minimum(tvpi ** (1.0 / (t + 1)) - 1.0, 100.0), -1.0)  # IRR capped at 100
    np.testing.assert_allclose(res.samples("fund:f:private_irr"), irr, rtol=0, atol=1e-9)
    assert_prob(m == 0, p_loss, "m = 0")
    assert_prob(m < 0.5, p_loss + 0.5 * p_partial, "m < 1/2")
    tail = 1 - p_loss - p_partial
    assert_prob(m > 10, tail * (10 ** -alpha - cap ** -alpha) / (1 - cap ** -alpha), "m > 10")
    mean = 0.5 * p_partial + tail * alpha / (alpha - 1) * (1 - cap ** (1 - alpha)) / (1 - cap ** -alpha)
    assert_mean(m, mean, "E[m]")
    s = res.summary()
    assert np.isfinite(s.value).all() and np.isfinite(s.se).all()
    breach = s[s.statistic == "P(breach, fund)"].value.iloc[0]
    assert breach == pytest.approx(float(np.mean(m < 0.5)))


def test_unreachable_importance_sampling_target_stays_unbiased():
    """shift_twist aimed above the largest loss the loans that can default could make (a pd-0
    cohort counts in the scenario's maximum loss). Regression: the twist parameter ran off to
    2^200, the pd-0 cohort's twisted probability became 0 x inf = NaN and the binomial draw
    returned garbage: EL 898 instead of 1. Now the twist aims at 0.999 of what is reachable;
    EL = 100 x 0.01 = 1 within 5 SEs, weights finite, the pd-0 cohort never defaults."""
    d = scenario([{"loans": 100, "pd": 0.0, "rho": 0.2, "exposure": 100.0},
                  {"loans": 100, "pd": 0.01, "rho": 0.2}],
                 importance_sampling={"method": "shift_twist", "target": 5000.0})
    res = run(d, 20_000, seed=59)
    assert res.weights is not None and np.isfinite(res.weights).all()
    assert not res._raw["segment_ead"][:, 0, 0].any()
    el = next(e for e in res.describe() if e.statistic == "EL")
    assert abs(el.value - 1.0) <= K_SE * el.se, el


def test_default_chunk_size_keeps_chunks_within_the_memory_budget(monkeypatch):
    """Many segments x years shrink the default chunk (memory ~ chunk x segments per
    chunk), and the rows stay those of any other chunking."""
    import simpool.engine.runner as eng
    from simpool.engine.plan import plan

    sc = simpool.load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "hubei_base.toml")
    inputs = plan(sc)
    per_path = eng.chunk_bytes_per_path(inputs)
    # the estimate covers what a chunk really allocates in Python (tracemalloc)
    import tracemalloc

    eng.run_chunk(inputs, 1, 0, 10)
    tracemalloc.start()
    eng.run_chunk(inputs, 1, 0, 500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert 0.5 * per_path * 500 < peak < 1.5 * per_path * 500
    monkeypatch.setattr(eng, "CHUNK_BYTES", 37 * per_path)
    sizes = []
    real = eng.run_chunk

    def spy(inputs, seed, path0, n, *rest):
        sizes.append(n)
        return real(inputs, seed, path0, n, *rest)

    monkeypatch.setattr(eng, "run_chunk", spy)
    small = eng.run_paths(inputs, 5, 400)
    assert max(sizes) == 37 and sum(sizes) == 400
    monkeypatch.setattr(eng, "run_chunk", real)
    whole = eng.run_paths(inputs, 5, 400, chunk_size=400)
    for k in whole:
        np.testing.assert_array_equal(small[k], whole[k], err_msg=k)
