"""Laws of the correlated-default model, checked against exact distributions and invariants.

Exact laws are computed here, independently of simpool:

* rho = 0: the loss law of independent loans by convolution of Bernoullis;
* one-factor Gaussian: P(K = k) = E_Z[Binom(k; n, p(Z))] by Gauss-Hermite quadrature;
* one-factor t: the same, integrated also over the shared mixing variable S = chi2_nu / nu
  (adaptive ``scipy.integrate.quad_vec`` over S, Gauss-Hermite over Z), with
  p(Z, S) = Phi((sqrt(S) t_nu^-1(pd) - sqrt(rho) Z) / sqrt(1 - rho)).

Tolerances are derived from Monte Carlo standard errors (stated at each use): an estimate of a
probability p from n i.i.d. paths has SE sqrt(p (1 - p) / n), a sample mean has SE
sd / sqrt(n); a check passes within K_SE = 5 SE (two-sided false-alarm rate 6e-7 per check,
and every run is deterministic: fixed seeds and a derandomized Hypothesis profile).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.polynomial.hermite_e import hermegauss
from scipy import integrate, special
from scipy import stats as sps

import simpool

K_SE = 5.0
MODES = ("binomial", "loans")


def examples(n: int) -> settings:
    """``n`` examples under the ``ci`` profile (max_examples 30), scaled with the profile
    loaded in conftest (``HYPOTHESIS_PROFILE=dev`` explores about 7x more)."""
    return settings(max_examples=max(1, round(n * settings.default.max_examples / 30)))


# --------------------------------------------------------------------------- helpers


def scenario(cohorts, *, copula="gaussian", dof=4.0, sectors=("s",), corr=None, years=1,
             phi=0.0, levels=(0.99, 0.999), exceedance=()):
    model = {"copula": copula, "dof": dof, "sectors": list(sectors), "factor_persistence": phi}
    if corr is not None:
        model["sector_correlation"] = [list(map(float, row)) for row in corr]
    cs = []
    for i, c in enumerate(cohorts):
        c = dict(c)
        c.setdefault("name", f"c{i}")
        c.setdefault("exposure", 1.0)
        c.setdefault("lgd", 1.0)
        c.setdefault("rho", 0.0)
        c.setdefault("sector", sectors[0])
        cs.append(c)
    return simpool.load_scenario({
        "simulation": {"paths": 10_000, "seed": 1, "start_year": 2025, "horizon_years": years},
        "model": model,
        "cohorts": cs,
        "report": {"levels": list(levels), "exceedance": list(exceedance)},
    })


def run(sc, paths, seed, **kw):
    return simpool.simulate(sc, paths=paths, seed=seed, **kw)


def estimate(res, statistic, param=None, measure="gross", **kw):
    for e in res.describe(measure, **kw):
        if e.statistic == statistic and (param is None or e.param == pytest.approx(param)):
            return e
    raise KeyError((statistic, param))


def mean_se(x) -> tuple[float, float]:
    x = np.asarray(x, float)
    return float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)


def binom_pmf(k, n, p):
    """Binomial pmf by logs (scipy's boost pmf overflows for p ~ 1e-300)."""
    return np.exp(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                  + special.xlogy(k, p) + special.xlog1py(n - k, -p))


def independent_law(x, pd) -> dict[float, float]:
    """Exact law {loss: probability} of independent loans with losses x_i and PDs pd_i."""
    law = {0.0: 1.0}
    for xi, p in zip(x, pd):
        nxt: dict[float, float] = {}
        for l, m in law.items():
            nxt[l] = nxt.get(l, 0.0) + m * (1.0 - p)
            l2 = round(l + xi, 9)
            nxt[l2] = nxt.get(l2, 0.0) + m * p
        law = nxt
    return law


_Z, _WZ = hermegauss(200)
_WZ = _WZ / math.sqrt(2.0 * math.pi)


def cond_pd(pd, rho, z, sqrt_s=1.0, copula="gaussian", dof=4.0):
    c = special.ndtri(pd) if copula == "gaussian" else sps.t.ppf(pd, dof)
    return special.ndtr((sqrt_s * c - math.sqrt(rho) * z) / math.sqrt(1.0 - rho))


def count_pmf_given(groups, z, sqrt_s=1.0, copula="gaussian", dof=4.0):
    """P(K = k | Z = z_j, S) for each node j: convolution over groups (n, pd, rho, sector_z)."""
    out = np.ones((1, z.size))
    for n, pd, rho, zfun in groups:
        p = cond_pd(pd, rho, zfun(z), sqrt_s, copula, dof)
        g = binom_pmf(np.arange(n + 1)[:, None], n, p[None, :])
        new = np.zeros((out.shape[0] + n, z.size))
        for k in range(n + 1):
            new[k:k + out.shape[0]] += g[k] * out
        out = new
    return out


def one_factor_count_pmf(groups, copula="gaussian", dof=4.0) -> np.ndarray:
    """Exact law of the total default count K of cohorts driven by one factor Z.

    ``groups``: (n, pd, rho) triples. Gaussian: Gauss-Hermite (200 nodes) over Z. t: also
    over S = chi2_nu / nu by adaptive quadrature (its density nu * chi2.pdf(nu s, nu)).
    """
    gs = [(n, pd, rho, lambda z: z) for n, pd, rho in groups]
    if copula == "gaussian":
        return count_pmf_given(gs, _Z) @ _WZ

    def integrand(s):
        return (count_pmf_given(gs, _Z, math.sqrt(s), "t", dof) @ _WZ) * dof * sps.chi2.pdf(dof * s, dof)

    out, _ = integrate.quad_vec(integrand, 0.0, sps.chi2.isf(1e-18, dof) / dof,
                                epsabs=1e-13, epsrel=1e-10)
    return out


def check_quadrature(pmf, mean_count):
    """The exact law's own checks: mass 1 and E[K] = sum n pd (an identity of the model)."""
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert pmf @ np.arange(pmf.size) == pytest.approx(mean_count, rel=1e-7, abs=1e-9)


def assert_pmf_matches(samples, support, pmf, label=""):
    """MC sample against an exact discrete law.

    * every sampled value is an atom of the law (support check, 1e-9 absolute);
    * per atom: |p_hat - p| <= 5 sqrt(max(p (1 - p), 1/n) / n) -- 5 binomial SEs; the 1/n
      floor keeps an atom with p << 1/n from failing on a single hit (chance ~ n p);
    * pooled chi-square: atoms with expected count < 5 merged into one bin, p-value > 1e-6.
    """
    samples = np.asarray(samples, float)
    n = samples.size
    support = np.asarray(support, float)
    pmf = np.asarray(pmf, float)
    idx = np.searchsorted(support, samples - 1e-9)
    idx = np.minimum(idx, support.size - 1)
    off = np.abs(support[idx] - samples) > 1e-9
    assert not off.any(), f"{label}: losses off the exact support, e.g. {samples[off][:5]}"
    counts = np.bincount(idx, minlength=support.size)
    phat = counts / n
    tol = K_SE * np.sqrt(np.maximum(pmf * (1.0 - pmf), 1.0 / n) / n)
    bad = np.abs(phat - pmf) > tol
    assert not bad.any(), (f"{label}: per-atom check fails at {support[bad][:8]}: "
                           f"mc {phat[bad][:8]} exact {pmf[bad][:8]} tol {tol[bad][:8]}")
    big = pmf * n >= 5.0
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(pmf[big] * n, pmf[~big].sum() * n)
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    if obs.size >= 2:
        stat = float(((obs - exp) ** 2 / exp).sum())
        pval = sps.chi2.sf(stat, obs.size - 1)
        assert pval > 1e-6, f"{label}: chi-square {stat:.1f} on {obs.size - 1} dof, p = {pval:.2e}"


# --------------------------------------------------------------------------- rho = 0: exact law

loan_st = st.tuples(
    st.integers(1, 6),                      # exposure
    st.sampled_from([0.25, 0.5, 1.0]),      # lgd: exposure x lgd on the 0.25 lattice
    st.floats(0.01, 0.3),                   # pd
    st.integers(1, 3),                      # loans in the cohort
)


@examples(20)
@given(loans=st.lists(loan_st, min_size=1, max_size=5).filter(lambda ls: 2 <= sum(x[3] for x in ls) <= 8),
       mode=st.sampled_from(MODES))
def test_rho0_is_the_independent_law(loans, mode):
    """rho = 0 (Gaussian copula): the loss law is the convolution of independent Bernoullis."""
    cohorts = [{"loans": k, "exposure": float(e), "lgd": lgd, "pd": pd, "rho": 0.0, "mode": mode}
               for e, lgd, pd, k in loans]
    res = run(scenario(cohorts), 50_000, seed=17)
    x = [e * lgd for e, lgd, _, k in loans for _ in range(k)]
    pd = [p for _, _, p, k in loans for _ in range(k)]
    law = independent_law(x, pd)
    support = np.array(sorted(law))
    assert_pmf_matches(res.samples("gross"), support, [law[s] for s in support], f"rho=0 {mode}")


@examples(15)
@given(log10_n=st.floats(0.0, 12.0), pd=st.floats(1e-6, 1.0 - 1e-6))
def test_rho0_cohort_of_any_size_is_binomial(log10_n, pd):
    """rho = 0, one binomial cohort of n loans (1 to 10^12, the largest a scenario allows),
    pd on both sides of 1/2: K ~ Binomial(n, pd) exactly. Randomised PIT
    U = F(K - 1) + V f(K), V ~ U(0, 1) independent, is U(0, 1) exactly for a discrete law;
    Kolmogorov-Smirnov p-value > 1e-6."""
    n = max(1, int(round(10.0 ** log10_n)))
    res = run(scenario([{"loans": n, "pd": pd}]), 20_000, seed=19)
    k = res.samples("defaults")
    assert k.min() >= 0 and k.max() <= n
    v = np.random.default_rng(0).uniform(size=k.size)
    u = sps.binom.cdf(k - 1, n, pd) + v * sps.binom.pmf(k, n, pd)
    assert sps.kstest(u, "uniform").pvalue > 1e-6, (n, pd)


# --------------------------------------------------------------------------- one-factor laws


@examples(12)
@given(n=st.integers(5, 60), pd=st.floats(0.01, 0.2), rho=st.floats(0.0, 0.5),
       mode=st.sampled_from(MODES))
def test_gaussian_count_law_is_mixed_binomial(n, pd, rho, mode):
    """K ~ E_Z[Binom(n, p(Z))]: defaults are conditionally independent given the factor."""
    pmf = one_factor_count_pmf([(n, pd, rho)])
    check_quadrature(pmf, n * pd)
    res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "mode": mode}]), 50_000, seed=23)
    assert_pmf_matches(res.samples("defaults"), np.arange(n + 1), pmf, f"gaussian {mode}")


@examples(8)
@given(n=st.integers(5, 40), pd=st.floats(0.01, 0.2), rho=st.sampled_from([0.0, 0.05, 0.15, 0.3]),
       dof=st.sampled_from([2.5, 3.0, 4.0, 8.0, 30.0]), mode=st.sampled_from(MODES))
def test_t_count_law_is_mixed_binomial(n, pd, rho, dof, mode):
    """t copula: K ~ E_{Z,S}[Binom(n, p(Z, S))] with one S per path shared by all loans.

    rho = 0 is included on purpose: under the t copula loans are *not* independent then
    (the shared S couples them), and the quadrature law says by how much.
    """
    pmf = one_factor_count_pmf([(n, pd, rho)], "t", dof)
    check_quadrature(pmf, n * pd)
    res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "mode": mode}], copula="t", dof=dof),
              50_000, seed=29)
    assert_pmf_matches(res.samples("defaults"), np.arange(n + 1), pmf, f"t{dof:g} {mode}")


# --------------------------------------------------------------------------- invariants

cohort_st = st.fixed_dictionaries({
    "loans": st.integers(0, 300),
    "exposure": st.sampled_from([0.0, 1.0, 2.5, 1e6]),
    "pd": st.sampled_from([0.0, 0.001, 0.02, 0.2, 0.7, 1.0]),
    "lgd": st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    "rho": st.sampled_from([0.0, 0.1, 0.4, 0.9]),
    "mode": st.sampled_from(MODES),
    "sector": st.sampled_from(["a", "b"]),
    "stochastic_lgd": st.booleans(),
})


def _with_lgd_std(c):
    c = dict(c)
    sd = 0.5 * math.sqrt(c["lgd"] * (1.0 - c["lgd"])) if c.pop("stochastic_lgd") else 0.0
    c["lgd_std"] = sd  # 0 when lgd is 0 or 1 (no Beta there)
    return c


@examples(25)
@given(cohorts=st.lists(cohort_st, min_size=1, max_size=4),
       copula=st.sampled_from(["gaussian", "t"]), years=st.integers(1, 3),
       phi=st.sampled_from([0.0, 0.6]), corr=st.sampled_from([0.0, 0.5, 1.0]))
def test_loss_bounds(cohorts, copula, years, phi, corr):
    """Per path: 0 <= loss <= sum exposure x lgd (x 1, the largest Beta LGD, if stochastic);
    0 <= defaults <= loans over the horizon, and each year's parts sum to the total."""
    cohorts = [_with_lgd_std(c) for c in cohorts]
    sc = scenario(cohorts, copula=copula, sectors=("a", "b"), corr=[[1, corr], [corr, 1]],
                  years=years, phi=phi)
    res = run(sc, 3_000, seed=31)
    cap = sum(c["loans"] * c["exposure"] * (1.0 if c["lgd_std"] > 0 else c["lgd"]) for c in cohorts)
    n = sum(c["loans"] for c in cohorts)
    loss, k = res.samples("gross"), res.samples("defaults")
    assert loss.min() >= 0.0
    assert loss.max() <= cap * (1.0 + 1e-12)
    assert k.min() >= 0 and k.max() <= n
    by_year = [res.samples("gross", year=y) for y in res.years]
    assert min(a.min() for a in by_year) >= 0.0
    np.testing.assert_allclose(np.sum(by_year, axis=0), loss, rtol=1e-12, atol=0)
    assert np.array_equal(np.sum([res.samples("defaults", year=y) for y in res.years], axis=0), k)
    # a loan that cannot default (pd 0) adds nothing; pd 1 loans all go in the first year
    sure = sum(c["loans"] for c in cohorts if c["pd"] == 1.0)
    assert (res.samples("defaults", year=res.years[0]) >= sure).all()


@examples(20)
@given(base=st.lists(st.tuples(st.integers(1, 600), st.floats(0.001, 0.4), st.floats(0.0, 0.6),
                               st.integers(1, 4), st.sampled_from([0.25, 0.5, 1.0]),
                               st.floats(0.0, 0.3)), min_size=1, max_size=3),
       mode=st.sampled_from(MODES), copula=st.sampled_from(["gaussian", "t"]),
       stochastic=st.booleans())
def test_raising_pd_never_lowers_any_path(base, mode, copula, stochastic):
    """Same seed, every pd raised (or kept): loss and defaults are >= on every path.

    By construction: the factors do not depend on pd, p(Z) increases with pd, and both the
    per-loan test U < p and the binomial inversion are monotone in p. Exposure x lgd sits on
    the 0.25 lattice so sums are exact whatever order the kernel adds loans in (the loan
    order depends on the pd grades). One year only: over several years a higher pd moves
    defaults earlier, and a binomial cohort's later draws see fewer loans alive.
    """
    def cohorts(bump):
        out = []
        for i, (n, pd, rho, e, lgd, dp) in enumerate(base):
            sd = 0.5 * math.sqrt(lgd * (1 - lgd)) if stochastic and lgd < 1 else 0.0
            out.append({"loans": n, "exposure": float(e), "lgd": lgd, "lgd_std": sd,
                        "pd": min(pd + dp, 1.0) if bump else pd, "rho": rho, "mode": mode})
        return out

    lo = run(scenario(cohorts(False), copula=copula), 5_000, seed=37)
    hi = run(scenario(cohorts(True), copula=copula), 5_000, seed=37)
    assert (hi.samples("defaults") >= lo.samples("defaults")).all()
    l_lo, l_hi = lo.samples("gross"), hi.samples("gross")
    # stochastic LGD in loans mode: the same Beta draws, summed in a possibly different
    # order (1e-12 relative); otherwise exact
    slack = 1e-12 * l_lo.max() if stochastic else 0.0
    assert (l_hi >= l_lo - slack).all()
    assert estimate(hi, "VaR", 0.999).value >= estimate(lo, "VaR", 0.999).value - slack


def test_stochastic_lgd_is_monotone_across_the_exact_sum_limit():
    """Regression: a cohort's Beta-LGD sum is exact for K <= 256 defaults and approximated
    above; when pd is nudged so that K goes 256 -> 257 the loss must not fall (it once did:
    the whole sum switched to a normal approximation with its own noise)."""
    def sc(pd):
        return scenario([{"loans": 1000, "pd": pd, "lgd": 0.5, "lgd_std": 0.2, "rho": 0.05}])

    lo, hi = run(sc(0.25), 50_000, seed=1), run(sc(0.2501), 50_000, seed=1)
    k_lo, k_hi = lo.samples("defaults"), hi.samples("defaults")
    assert ((k_lo == 256) & (k_hi == 257)).any()  # the limit is crossed on some paths
    assert (k_hi >= k_lo).all()
    assert (hi.samples("gross") >= lo.samples("gross")).all()


@examples(10)
@given(pd=st.floats(0.005, 0.1), rho=st.floats(0.02, 0.3), drho=st.floats(0.0, 0.3))
def test_raising_rho_never_lowers_var999(pd, rho, drho):
    """VaR_0.999 of a large homogeneous cohort does not fall when rho rises.

    The Vasicek quantile LGD Phi((a + sqrt(rho) b) / sqrt(1 - rho)), a = Phi^-1(pd),
    b = Phi^-1(0.999), has d/drho > 0 iff sqrt(rho) < b / (-a): always for pd >= 0.001
    (-a <= b), so pd is drawn from [0.005, 0.1]; for tiny pd and large rho it is NOT monotone.
    Tolerance: 3 combined VaR SEs (from describe) plus one lattice step.
    """
    n = 10_000

    def var999(r):
        res = run(scenario([{"loans": n, "exposure": 1.0 / n, "pd": pd, "rho": r}]), 20_000, seed=41)
        return estimate(res, "VaR", 0.999)

    v1, v2 = var999(rho), var999(rho + drho)
    tol = 3.0 * math.hypot(v1.se, v2.se) + 1.0 / n
    assert v2.value >= v1.value - tol, (v1, v2)


# --------------------------------------------------------------------------- several years


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_three_independent_years(mode, copula):
    """Persistence 0: a loan survives 3 years w.p. (1 - pd)^3 (each year's draw is a fresh,
    independent (Z, S, U), and a loan defaults at most once), so E[K_total] = n (1 - (1-pd)^3)
    and E[K_y] = n (1 - pd)^(y-1) pd; within 5 SEs (sd / sqrt(paths) of the per-path counts)."""
    n, pd, paths = 400, 0.06, 40_000
    res = run(scenario([{"loans": n, "pd": pd, "rho": 0.2, "exposure": 2.0, "lgd": 0.5, "mode": mode}],
                       copula=copula, years=3), paths, seed=43)
    total = res.samples("defaults")
    assert total.max() <= n
    m, se = mean_se(total)
    assert abs(m - n * (1 - (1 - pd) ** 3)) <= K_SE * se
    per_year = [res.samples("defaults", year=y) for y in res.years]
    for i, k in enumerate(per_year):
        m, se = mean_se(k)
        assert abs(m - n * (1 - pd) ** i * pd) <= K_SE * se, (i, m)
        # deterministic LGD: each year's loss is its defaults x exposure x lgd
        np.testing.assert_allclose(res.samples("gross", year=res.years[i]), k * 1.0, rtol=1e-12)
    assert np.array_equal(np.sum(per_year, axis=0), total)
    np.testing.assert_allclose(np.sum([res.samples("gross", year=y) for y in res.years], axis=0),
                               res.samples("gross"), rtol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_persistent_factor_year_by_year_law(mode):
    """AR(1) factors, Z_y = phi Z_(y-1) + sqrt(1 - phi^2) eta_y (stationary N(0, 1)).

    A loan's latent variables X_y = sqrt(rho) Z_y + sqrt(1 - rho) eps_y are jointly normal
    with corr(X_i, X_j) = rho phi^|i-j|, and it defaults in year y iff X_y <= a = Phi^-1(pd)
    for the first time. Hence exactly, by inclusion-exclusion over multivariate normal CDFs,
        E[K_1] = n pd,  E[K_2] = n (pd - P(X_1<=a, X_2<=a)),
        E[K_3] = n (pd - P(X_1<=a, X_3<=a) - P(X_2<=a, X_3<=a) + P(X_1<=a, X_2<=a, X_3<=a)),
    each within 5 SEs (sd / sqrt(paths) of the per-path counts). Dependent years also make
    survival more likely than (1 - pd)^3, so E[K_total] < n (1 - (1 - pd)^3).
    """
    n, pd, rho, phi, paths = 300, 0.05, 0.3, 0.8, 40_000
    res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "mode": mode}], years=3, phi=phi),
              paths, seed=47)
    a = special.ndtri(pd)
    r = lambda lag: rho * phi ** lag  # noqa: E731

    def joint(*lags_cov):
        if len(lags_cov) == 1:
            return sps.multivariate_normal(cov=[[1, lags_cov[0]], [lags_cov[0], 1]]).cdf([a, a])
        c12, c13, c23 = lags_cov
        cov = [[1, c12, c13], [c12, 1, c23], [c13, c23, 1]]
        return sps.multivariate_normal(cov=cov, abseps=1e-10, releps=1e-8).cdf([a, a, a])

    expected = [n * pd,
                n * (pd - joint(r(1))),
                n * (pd - joint(r(2)) - joint(r(1)) + joint(r(1), r(2), r(1)))]
    total = res.samples("defaults")
    assert total.max() <= n
    for y, e in zip(res.years, expected):
        m, se = mean_se(res.samples("defaults", year=y))
        assert abs(m - e) <= K_SE * se, (y, m, e)
    m, se = mean_se(total)
    assert sum(expected) < n * (1 - (1 - pd) ** 3)
    assert abs(m - sum(expected)) <= K_SE * se


def test_pd_one_defaults_everything_in_year_one_and_pd_zero_nothing():
    cohorts = [{"loans": 50, "pd": 1.0, "rho": 0.3, "exposure": 3.0, "lgd": 0.4, "mode": "binomial"},
               {"loans": 7, "pd": 1.0, "rho": 0.9, "exposure": 2.0, "lgd": 0.5, "mode": "loans"},
               {"loans": 40, "pd": 0.0, "rho": 0.3, "exposure": 5.0, "lgd": 1.0, "mode": "binomial"},
               {"loans": 9, "pd": 0.0, "rho": 0.9, "exposure": 5.0, "lgd": 1.0, "mode": "loans"}]
    for copula in ("gaussian", "t"):
        res = run(scenario(cohorts, copula=copula, years=3, phi=0.5), 2_000, seed=53)
        k = [res.samples("defaults", year=y) for y in res.years]
        assert (k[0] == 57).all() and (k[1] == 0).all() and (k[2] == 0).all()
        assert np.allclose(res.samples("gross", year=2025), 50 * 3.0 * 0.4 + 7 * 2.0 * 0.5, rtol=1e-12)
        assert (res.samples("gross", year=2026) == 0).all()


@pytest.mark.parametrize("copula", ["gaussian", "t"])
def test_pd_zero_gives_zero_loss(copula):
    cohorts = [{"loans": 10**6, "pd": 0.0, "rho": 0.5, "lgd": 0.5, "lgd_std": 0.2},
               {"loans": 100, "pd": 0.0, "rho": 0.0, "mode": "loans"}]
    res = run(scenario(cohorts, copula=copula, years=2), 5_000, seed=59)
    assert not res.samples("gross").any()
    assert not res.samples("defaults").any()
    assert estimate(res, "VaR", 0.999).value == 0.0


# --------------------------------------------------------------------------- stochastic LGD


@pytest.mark.parametrize(("mode", "n", "pd", "m", "s"), [
    ("binomial", 50, 0.1, 0.4, 0.2), ("binomial", 2000, 0.2, 0.4, 0.2), ("loans", 200, 0.1, 0.4, 0.2),
    # low mean, wide spread (s^2 close to m (1 - m)): the hardest case for an approximation
    ("binomial", 50, 0.1, 0.05, 0.2), ("binomial", 2000, 0.2, 0.05, 0.2), ("loans", 200, 0.1, 0.05, 0.2),
])
def test_stochastic_lgd_mean_and_conditional_variance(mode, n, pd, m, s):
    """Beta LGD with mean m and sd s, per defaulted loan:

    * E[loss] = n pd exposure m (5 engine SEs of EL);
    * 0 <= loss <= defaults x exposure on every path (a Beta lies in [0, 1]);
    * D = loss - K exposure m has E[D] = 0 and E[D^2] = E[K] exposure^2 s^2 (sum of K
      independent centred LGDs). n = 2000, pd = 0.2 puts K above 256, where the kernel
      approximates the sum of the LGDs beyond the 256th; an approximation must still keep
      the mean and variance exact (the kernel's own promise), or EL is biased.
    """
    e = 3.0
    res = run(scenario([{"loans": n, "pd": pd, "rho": 0.1, "exposure": e, "lgd": m, "lgd_std": s,
                         "mode": mode}]), 40_000, seed=61)
    loss, k = res.samples("gross"), res.samples("defaults")
    el = estimate(res, "EL")
    assert abs(el.value - n * pd * e * m) <= K_SE * el.se
    assert (loss >= 0).all() and (loss <= k * e * (1 + 1e-12)).all()
    d = loss - k * e * m
    md, sed = mean_se(d)
    assert abs(md) <= K_SE * sed
    m2, se2 = mean_se(d * d - k * (e * s) ** 2)
    assert abs(m2) <= K_SE * se2
    if n == 2000:
        assert k.max() > 256  # the approximation branch was exercised


@pytest.mark.parametrize("mode", MODES)
def test_beta_lgd_moments_of_a_single_loan(mode):
    """One loan, pd 0.5, rho 0: the LGD of each default (loss / exposure) has mean m and sd s
    (SE of the sd by the delta method sqrt((m4 - s^4) / (4 s^2 n)))."""
    m, s, e = 0.35, 0.25, 4.0
    res = run(scenario([{"loans": 1, "pd": 0.5, "exposure": e, "lgd": m, "lgd_std": s, "mode": mode}]),
              40_000, seed=67)
    hit = res.samples("defaults") == 1
    x = res.samples("gross")[hit] / e
    assert ((x >= 0) & (x <= 1)).all()
    assert (res.samples("gross")[~hit] == 0).all()
    mx, sex = mean_se(x)
    assert abs(mx - m) <= K_SE * sex
    sd = x.std(ddof=1)
    m4 = np.mean((x - x.mean()) ** 4)
    se_sd = math.sqrt((m4 - sd ** 4) / (4 * sd * sd * x.size))
    assert abs(sd - s) <= K_SE * se_sd


# --------------------------------------------------------------------------- t copula


@pytest.mark.parametrize("mode", MODES)
def test_t_copula_marginal_pd_and_fatter_tail(mode):
    """t copula: each loan still defaults w.p. pd (E[K] = n pd within 5 SEs), and with the
    same rho the tail is fatter than Gaussian: P(K >= k*) larger, k* the Gaussian law's 99.9%
    quantile, by more than 5 combined SEs. Both tail probabilities also match the quadrature
    laws within 5 SEs (sqrt(p (1 - p) / paths))."""
    n, pd, rho, dof, paths = 300, 0.02, 0.1, 4.0, 60_000
    exact_g = one_factor_count_pmf([(n, pd, rho)])
    exact_t = one_factor_count_pmf([(n, pd, rho)], "t", dof)
    kstar = int(np.searchsorted(np.cumsum(exact_g), 0.999))
    tail = {}
    for copula, exact in (("gaussian", exact_g), ("t", exact_t)):
        res = run(scenario([{"loans": n, "pd": pd, "rho": rho, "mode": mode}], copula=copula, dof=dof),
                  paths, seed=71)
        k = res.samples("defaults")
        m, se = mean_se(k)
        assert abs(m - n * pd) <= K_SE * se, copula
        p = float((k >= kstar).mean())
        p_exact = float(exact[kstar:].sum())
        se_p = math.sqrt(p_exact * (1 - p_exact) / paths)
        assert abs(p - p_exact) <= K_SE * se_p, (copula, p, p_exact)
        tail[copula] = (p, se_p)
    (pg, sg), (pt, st_) = tail["gaussian"], tail["t"]
    assert pt - pg > K_SE * math.hypot(sg, st_), tail


# --------------------------------------------------------------------------- sectors

TWO = [(40, 0.03, 0.2), (30, 0.08, 0.3)]


@pytest.mark.parametrize("modes", [("binomial", "binomial"), ("loans", "loans"), ("binomial", "loans")])
def test_perfectly_correlated_sectors_act_as_one(modes):
    """Sector correlation 1 (a singular matrix): the two sector factors are one factor, so
    K = K_a + K_b has the one-factor law E_Z[Binom(n_a, p_a(Z)) * Binom(n_b, p_b(Z))]; so
    does the same portfolio in a single sector. With one cohort per mode, this also checks
    that binomial cohorts and single loans read the same factor the same way."""
    exact = one_factor_count_pmf(TWO)
    check_quadrature(exact, 40 * 0.03 + 30 * 0.08)
    for sectors, corr in ((("a", "b"), [[1, 1], [1, 1]]), (("a",), None)):
        cohorts = [{"loans": n, "pd": pd, "rho": r, "mode": modes[i], "sector": sectors[i % len(sectors)]}
                   for i, (n, pd, r) in enumerate(TWO)]
        res = run(scenario(cohorts, sectors=sectors, corr=corr), 50_000, seed=73)
        assert_pmf_matches(res.samples("defaults"), np.arange(71), exact, f"{sectors} {modes}")


def test_sector_correlation_zero_is_independent_and_raising_it_fattens_the_tail():
    """Correlation 0: K_a and K_b independent, law = convolution of two one-factor laws.
    Correlation 0.9: P(K >= k*) and VaR_0.999 larger than at 0 (by > 5 combined SEs)."""
    exact0 = np.convolve(one_factor_count_pmf([TWO[0]]), one_factor_count_pmf([TWO[1]]))
    kstar = int(np.searchsorted(np.cumsum(exact0), 0.999))
    out = {}
    for corr in (0.0, 0.9):
        cohorts = [{"loans": n, "pd": pd, "rho": r, "sector": s} for (n, pd, r), s in zip(TWO, "ab")]
        res = run(scenario(cohorts, sectors=("a", "b"), corr=[[1, corr], [corr, 1]]), 60_000, seed=79)
        k = res.samples("defaults")
        if corr == 0.0:
            assert_pmf_matches(k, np.arange(71), exact0, "corr 0")
        p = float((k >= kstar).mean())
        out[corr] = (p, math.sqrt(p * (1 - p) / k.size), estimate(res, "VaR", 0.999))
    (p0, s0, v0), (p9, s9, v9) = out[0.0], out[0.9]
    assert p9 - p0 > K_SE * math.hypot(s0, s9)
    assert v9.value - v0.value > K_SE * math.hypot(v0.se, v9.se)


# --------------------------------------------------------------------------- every seed


@pytest.mark.parametrize("mode", MODES)
def test_every_seed_gives_the_right_marginal(mode):
    """Regression: the seed key once crossed into numba as int64 for about half of all seeds
    (keys < 2**63), which broke the uniforms (mean 1/4): pd 0.05 gave 0 defaults (binomial)
    or 0.1 (loans). Check a Bernoulli(0.3) marginal for many seeds, including the extremes."""
    sc = scenario([{"loans": 4, "pd": 0.3, "mode": mode}])
    for seed in [0, 1, 2, 3, 4, 5, 6, 11, 2025, 2**31, 2**63 - 1]:
        k = run(sc, 20_000, seed=seed).samples("defaults")
        m, se = mean_se(k)
        assert abs(m - 1.2) <= K_SE * se, (seed, m)


# --------------------------------------------------------------------------- screening buckets


@pytest.mark.parametrize("copula, bins", [("gaussian", 4), ("t", 4), ("gaussian", None)])
def test_inexact_screening_buckets_change_nothing(monkeypatch, copula, bins):
    """Single loans are screened against a per-bucket upper bound of p before the exact test
    U < p. With more than MAX_EXACT_BUCKETS grades the buckets mix (pd, rho) grades and the
    bound is only a bound; forcing that path (MAX_EXACT_BUCKETS = 0, coarse bins) on a small portfolio
    must leave every path bit-identical (the screen only skips loans that cannot default).
    Exposure x lgd on the 0.25 lattice keeps sums exact whatever order the loans run in."""
    import simpool.engine.plan

    rng = np.random.default_rng(5)
    cohorts = [{"loans": int(rng.integers(1, 6)), "pd": float(pd), "rho": float(rho),
                "exposure": float(rng.integers(1, 5)), "lgd": 0.5, "mode": "loans",
                "sector": "ab"[i % 2]}
               for i, (pd, rho) in enumerate(zip(
                   np.r_[0.0, 1.0, rng.uniform(0.002, 0.4, 60)],
                   np.r_[0.2, 0.2, rng.uniform(0.0, 0.6, 60)]))]
    sc = scenario(cohorts, copula=copula, sectors=("a", "b"), corr=[[1, 0.3], [0.3, 1]], years=2, phi=0.5)
    exact = run(sc, 20_000, seed=83)
    monkeypatch.setattr(simpool.engine.plan, "MAX_EXACT_BUCKETS", 0)
    monkeypatch.setattr(simpool.engine.plan, "THRESHOLD_BINS", bins)  # None: threshold_bins()
    monkeypatch.setattr(simpool.engine.plan, "RHO_BINS", 2)
    inputs = simpool.engine.plan.plan(sc)
    assert not inputs.book.b_exact.all() and len(inputs.book.b_sector) < len(cohorts)  # really mixed
    screened = run(sc, 20_000, seed=83)
    for y in exact.years:
        assert np.array_equal(exact.samples("defaults", year=y), screened.samples("defaults", year=y))
        assert np.array_equal(exact.samples("gross", year=y), screened.samples("gross", year=y))


def test_threshold_bins_grow_with_the_square_root_of_the_loans(monkeypatch):
    import simpool.engine.plan
    from simpool.engine.plan import threshold_bins

    assert [threshold_bins(n) for n in (1, 400, 10_000, 100_000, 1_000_000, 10**8)] == \
        [8, 8, 40, 126, 400, 1024]
    monkeypatch.setattr(simpool.engine.plan, "THRESHOLD_BINS", 64)
    assert threshold_bins(10**6) == 64
    monkeypatch.setattr(simpool.engine.plan, "THRESHOLD_BINS", None)


@pytest.mark.parametrize("n, gain", [(1_000, 0.5), (4_000, 0.35), (10_000, 0.3)])
def test_threshold_bins_equalise_the_exact_tests(n, gain):
    """A loan between its bucket's bounds costs an exact test: n_b (PD_hi - PD_lo) of them per
    path-year in bucket b on average. The bins equalise that count across buckets and cut the
    total of equal-count quantile bins (computed here directly) on a lognormal-PD tape to
    ``gain`` or less (a quarter at 10,000 loans)."""
    from scipy.special import ndtri

    from simpool.engine.plan import _buckets, threshold_bins

    rng = np.random.default_rng(2)
    pd = np.clip(0.02 * np.exp(0.8 * rng.standard_normal(n) - 0.32), 5e-4, 0.3)
    thresh = ndtri(pd)
    bins = threshold_bins(n)
    bucket, order, b = _buckets(np.zeros(n, np.int64), thresh, np.full(n, 0.15), pd)
    assert bucket.max() + 1 == bins and not b[6].any()
    # contiguous in the threshold: bucket k's loans all lie below bucket k + 1's
    assert (b[7][1:] > b[1][:-1]).all() and (np.diff(bucket[np.argsort(thresh)]) >= 0).all()
    assert (np.diff(bucket[order]) >= 0).all()

    def exact_tests(assign):
        return np.array([(assign == j).sum() * np.ptp(pd[assign == j]) for j in range(bins)])

    ours = exact_tests(bucket)
    edges = np.quantile(thresh, np.linspace(0, 1, bins + 1))
    quantile = exact_tests(np.searchsorted(edges[1:-1], thresh, side="right"))
    assert ours.sum() < gain * quantile.sum()
    assert ours.max() < 3.0 * np.median(ours) and quantile.max() > 10 * np.median(quantile)
    # the default (no pd given) places the bins by Phi(thresh), here the same PDs
    assert np.array_equal(_buckets(np.zeros(n, np.int64), thresh, np.full(n, 0.15))[0], bucket)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 3), st.integers(1, 6), st.integers(1, 3),
       st.integers(0, 2**32 - 1))
def test_screening_buckets_are_the_sorted_distinct_grades(n, n_sec, n_pd, n_rho, seed):
    """Bucket assignment against a plain reference: with few grades every distinct
    (sector, threshold, rho) is a bucket, numbered in lexicographic order; each bucket's
    bounds are the min and max over its loans, and the loans run in bucket order."""
    from simpool.engine.plan import MIN_LOANS_PER_EXACT_BUCKET, _buckets

    rng = np.random.default_rng(seed)
    sector = rng.integers(0, n_sec, n)
    thresh = rng.choice(np.r_[-np.inf, rng.normal(-2.0, 0.5, n_pd)], n)
    rho = rng.choice(rng.uniform(0.0, 0.5, n_rho), n)
    bucket, order, b = _buckets(sector, thresh, rho)
    rows, inverse = np.unique(np.stack([sector.astype(float), thresh, rho], axis=1), axis=0,
                              return_inverse=True)
    nb = int(bucket.max()) + 1
    if n >= MIN_LOANS_PER_EXACT_BUCKET * len(rows):
        assert np.array_equal(bucket, inverse.reshape(-1))
        assert b[6].all()  # every bucket exact
    assert np.array_equal(order, np.argsort(bucket, kind="stable"))
    for k in range(nb):
        m = bucket == k
        assert m.any() and len(set(sector[m])) == 1 and b[0][k] == sector[m][0]
        assert (b[1][k], b[7][k]) == (thresh[m].max(), thresh[m].min())
        assert (b[2][k], b[3][k]) == (np.sqrt(rho[m].min()), np.sqrt(rho[m].max()))
        assert b[6][k] == (thresh[m].min() == thresh[m].max() and rho[m].min() == rho[m].max())
