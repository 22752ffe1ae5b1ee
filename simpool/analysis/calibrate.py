"""Parameters from default histories: ``simpool calibrate`` (maximum likelihood of the Vasicek
binomial mixture, :mod:`simpool.engine.vasicek`).

Per segment:

* **pd and rho** maximise the likelihood of the annual default counts with independent years
  (the stationary factor is N(0, 1) every year whatever its persistence, so this is a
  consistent composite likelihood when the factor is persistent). Standard errors from the
  observed information (the numerical Hessian of the log-likelihood at the maximum, on the
  natural scale); 95% intervals from the profile likelihood: the values where twice the drop
  of the profile log-likelihood reaches chi2(1, 0.95) = 3.841 (a bound where rho reaches 0 or
  pd its limit is the boundary itself). A maximum on the boundary rho = 0 has no standard
  error (NaN).
* **phi** (the factor's AR(1) persistence), with at least :data:`MIN_YEARS_PHI` consecutive
  years: the hidden-Markov likelihood on a grid of the factor, maximised over phi given the
  segment's pd and rho; its standard error and profile interval are conditional on them.
* **the factors' correlation between segments**: the correlation of the segments' posterior
  mean factors E[Z_t | D_t] over their common years; with no more years than segments the
  sample matrix is singular and is shrunk towards the identity (Ledoit-Wolf intensity), said
  in the output; with fewer than 3 common years it is not estimable (None).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import ndtr, ndtri

from ..engine.vasicek import emissions, loglik_ar1, loglik_iid

#: Gauss-Hermite nodes of the adaptive quadrature
GH_NODES = 16
#: chi-square(1) 95% quantile: twice the profile drop at the interval's ends
CHI2_95 = 3.841458820694124
#: consecutive years needed to estimate the persistence
MIN_YEARS_PHI = 10
RHO_BOUNDS = (1e-6, 0.95)
PHI_BOUNDS = (-0.95, 0.95)
#: the factor grid of the persistence's likelihood: points, half-width, sub-points per cell
PHI_GRID = (61, 5.5, 5)

_GX, _GW = np.polynomial.hermite.hermgauss(GH_NODES)


@dataclass
class Estimate1:
    """One parameter: estimate, standard error, 95% interval (low, high)."""

    value: float
    se: float
    ci: tuple[float, float]


@dataclass
class SegmentFit:
    """A segment's estimates."""

    segment: str
    years: int
    defaults: int
    loans: int
    pd: Estimate1
    rho: Estimate1
    phi: Estimate1 | None = None
    loglik: float = math.nan
    notes: list[str] = field(default_factory=list)
    factor_corr: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = {"segment": self.segment, "years": self.years, "pd": self.pd.value,
               "pd_se": self.pd.se, "pd_ci": list(self.pd.ci), "rho": self.rho.value,
               "rho_se": self.rho.se, "rho_ci": list(self.rho.ci)}
        if self.phi is not None:
            out.update(phi=self.phi.value, phi_se=self.phi.se, phi_ci=list(self.phi.ci))
        out["factor_corr"] = self.factor_corr
        out["notes"] = self.notes
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


def loglik(d, n, pd: float, rho: float) -> float:
    """Log-likelihood of default counts ``d`` of ``n`` loans, independent years."""
    return loglik_iid(np.asarray(d, float), np.asarray(n, float), float(ndtri(pd)), float(rho),
                      _GX, _GW)


def _fit_pd_rho(d, n):
    """Maximum likelihood (pd, rho) and the maximum."""
    d = np.asarray(d, float)
    n = np.asarray(n, float)
    pbar = min(max(d.sum() / n.sum(), 0.5 / n.sum()), 1 - 0.5 / n.sum())

    def nll(x):
        pd = ndtr(x[0])
        rho = RHO_BOUNDS[0] + (RHO_BOUNDS[1] - RHO_BOUNDS[0]) * ndtr(x[1])
        return -loglik_iid(d, n, float(ndtri(pd)), float(rho), _GX, _GW)

    # start: probit of the yearly rates has variance rho / (1 - rho) (binomial noise aside)
    rates = np.clip(d / n, 0.5 / n, 1 - 0.5 / n)
    v = float(np.var(ndtri(rates))) if len(d) > 1 else 0.0
    r_start = min(max(v / (1 + v), 0.01), 0.5)
    best = None
    for r0 in (r_start, 0.05 if r_start > 0.1 else 0.25):
        x0 = [ndtri(pbar), ndtri((r0 - RHO_BOUNDS[0]) / (RHO_BOUNDS[1] - RHO_BOUNDS[0]))]
        res = optimize.minimize(nll, x0, method="Nelder-Mead",
                                options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000})
        if best is None or res.fun < best.fun - 1e-9:
            best = res
        if best.fun <= res.fun + 1e-6 and r0 == r_start and abs(best.x[1]) < 2.5:
            break  # an interior maximum from the moment start: no second start
    pd = float(ndtr(best.x[0]))
    rho = float(RHO_BOUNDS[0] + (RHO_BOUNDS[1] - RHO_BOUNDS[0]) * ndtr(best.x[1]))
    return pd, rho, -float(best.fun)


def _hessian_se(f, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Standard errors from the numerical Hessian of the log-likelihood ``f`` at ``x`` (NaN
    where the information is not positive definite)."""
    k = len(x)
    H = np.zeros((k, k))
    f0 = f(x)
    for i in range(k):
        for j in range(i, k):
            ei = np.eye(k)[i] * steps[i]
            ej = np.eye(k)[j] * steps[j]
            if i == j:
                H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / steps[i] ** 2
            else:
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * steps[i] * steps[j])
    try:
        cov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        return np.full(k, np.nan)
    var = np.diag(cov)
    return np.where(var > 0, np.sqrt(np.abs(var)), np.nan)


def _profile_interval(prof, x_hat: float, ll_hat: float, lo: float, hi: float,
                      guess: tuple[float, float] | None = None) -> tuple:
    """(low, high): where 2 (ll_hat - prof(x)) = CHI2_95 on each side of x_hat within [lo, hi]
    (the bound itself where the drop stays smaller). ``guess``: points near each end (from
    the standard error) that narrow the root's bracket when they lie beyond it."""
    target = ll_hat - CHI2_95 / 2

    def side(end, near):
        a = x_hat
        if near is not None and math.isfinite(near) and min(x_hat, end) < near < max(x_hat, end):
            if prof(near) < target:
                end = near  # the root lies between the estimate and the guess
            else:
                a = near  # ... or beyond the guess
        if prof(end) >= target:
            return end
        return optimize.brentq(lambda x: prof(x) - target, min(a, end), max(a, end),
                               xtol=1e-4 * max(abs(x_hat), 1e-3), rtol=1e-5)

    g = guess or (None, None)
    return side(lo, g[0]), side(hi, g[1])


def fit_segment(name: str, years, d, n, intervals: bool = True) -> SegmentFit:
    """Estimates of one segment's pd, rho (and phi with enough consecutive years)."""
    d = np.asarray(d, float)
    n = np.asarray(n, float)
    years = np.asarray(years)
    pd, rho, ll = _fit_pd_rho(d, n)
    notes = []
    c_of = lambda p: float(ndtri(p))  # noqa: E731

    def ll2(x):
        p, r = x
        if not (0 < p < 1 and RHO_BOUNDS[0] <= r < 1):
            return -np.inf
        return loglik_iid(d, n, c_of(p), r, _GX, _GW)

    on_boundary = rho < 1e-4
    se = _hessian_se(ll2, np.array([pd, rho]),
                     np.array([max(pd * 1e-3, 1e-7), max(min(rho, 1 - rho) * 1e-2, 1e-5)]))
    pd_se = float(se[0])
    rho_se = math.nan if on_boundary else float(se[1])
    if on_boundary:
        notes.append("rho at its lower bound (no more spread than binomial noise): no standard "
                     "error; the interval is from the profile likelihood")
    pd_ci = rho_ci = (math.nan, math.nan)
    if intervals:
        def prof_pd(p):
            r = optimize.minimize_scalar(lambda r: -ll2((p, r)), bounds=RHO_BOUNDS,
                                         method="bounded", options={"xatol": 1e-4})
            return -r.fun

        def prof_rho(r):
            z = optimize.minimize_scalar(lambda x: -ll2((float(ndtr(x)), r)),
                                         bounds=(ndtri(pd) - 3, ndtri(pd) + 3),
                                         method="bounded", options={"xatol": 1e-4})
            return -z.fun

        pmin = 0.01 / n.sum()
        def wald(x, se, k):  # the ends of a Wald interval on the log scale, k SE wide
            if not (math.isfinite(se) and se > 0):
                return None
            return (x * math.exp(-k * se / x), x * math.exp(k * se / x))

        pd_ci = _profile_interval(prof_pd, pd, ll, max(pmin, pd / 50), min(0.999, pd * 10 + 0.05),
                                  wald(pd, pd_se, 2.2))
        rho_ci = _profile_interval(prof_rho, rho, ll, RHO_BOUNDS[0], RHO_BOUNDS[1],
                                   wald(rho, rho_se, 2.2))
        if rho_ci[0] <= RHO_BOUNDS[0]:  # the interval reaches rho = 0
            rho_ci = (0.0, rho_ci[1])
    fit = SegmentFit(name, len(d), int(d.sum()), int(n.sum()), Estimate1(pd, pd_se, pd_ci),
                     Estimate1(rho, rho_se, rho_ci), loglik=ll, notes=notes)
    consecutive = len(years) >= MIN_YEARS_PHI and np.all(np.diff(years) == 1)
    if consecutive:
        fit.phi = _fit_phi(d, n, pd, rho, intervals)
        fit.notes.append("phi given the segment's pd and rho (its standard error and interval "
                         "are conditional on them)")
    elif len(years) < MIN_YEARS_PHI:
        fit.notes.append(f"phi not estimated: {len(years)} years (needs {MIN_YEARS_PHI} "
                         f"consecutive)")
    else:
        fit.notes.append("phi not estimated: the years are not consecutive")
    return fit


def _phi_loglik(d, n, pd, rho):
    G, half, sub = PHI_GRID
    grid = np.linspace(-half, half, G)
    logE = np.empty((len(d), G))
    emissions(d, n, float(ndtri(pd)), float(rho), grid, sub, logE)
    return lambda phi: loglik_ar1(logE, grid, float(phi))


def _fit_phi(d, n, pd, rho, intervals: bool) -> Estimate1:
    f = _phi_loglik(d, n, pd, rho)
    res = optimize.minimize_scalar(lambda p: -f(p), bounds=PHI_BOUNDS, method="bounded",
                                   options={"xatol": 1e-6})
    phi, ll = float(res.x), -float(res.fun)
    h = 1e-3
    curv = (f(phi + h) - 2 * ll + f(phi - h)) / h ** 2 if abs(phi) < PHI_BOUNDS[1] - h else -1.0
    se = 1 / math.sqrt(-curv) if curv < 0 else math.nan
    ci = _profile_interval(f, phi, ll, *PHI_BOUNDS) if intervals else (math.nan, math.nan)
    return Estimate1(phi, se, ci)


def posterior_factor(d, n, pd: float, rho: float) -> np.ndarray:
    """E[Z_t | D_t] per year under the fitted model (independent years), by quadrature on a
    fine grid."""
    z = np.linspace(-8, 8, 1601)
    c = ndtri(pd)
    p = ndtr((c - math.sqrt(rho) * z) / math.sqrt(1 - rho))
    p = np.clip(p, 1e-300, 1 - 1e-16)
    d = np.asarray(d, float)[:, None]
    n = np.asarray(n, float)[:, None]
    logw = d * np.log(p) + (n - d) * np.log1p(-p) - 0.5 * z ** 2
    w = np.exp(logw - logw.max(axis=1, keepdims=True))
    return (w * z).sum(axis=1) / w.sum(axis=1)


def factor_correlations(history, fits: list[SegmentFit]) -> tuple[np.ndarray | None, str]:
    """The segments' factor correlation matrix from their posterior mean factors over the
    common years, and how it was obtained."""
    names = [s.name for s in history.segments]
    if len(names) < 2:
        return None, "one segment"
    common = set(history.segments[0].years.tolist())
    for s in history.segments[1:]:
        common &= set(s.years.tolist())
    common = sorted(common)
    if len(common) < 3:
        return None, f"not estimable: {len(common)} common years"
    Z = []
    for s, f in zip(history.segments, fits):
        idx = np.isin(s.years, common)
        Z.append(posterior_factor(s.defaults[idx], s.loans[idx], f.pd.value, f.rho.value))
    Z = np.array(Z)  # (S, T)
    S, T = Z.shape
    X = (Z - Z.mean(axis=1, keepdims=True))
    sd = X.std(axis=1, keepdims=True)
    sd[sd == 0] = 1.0
    X = X / sd
    sample = X @ X.T / T
    if S < T:
        return sample, f"sample correlation of posterior mean factors over {T} common years"
    # Ledoit-Wolf shrinkage towards the identity
    pi = sum(np.sum((np.outer(x, x) - sample) ** 2) for x in X.T) / T
    gamma = np.sum((sample - np.eye(S)) ** 2)
    delta = min(1.0, max(0.0, pi / T / gamma)) if gamma > 0 else 1.0
    shrunk = delta * np.eye(S) + (1 - delta) * sample
    return shrunk, (f"{S} segments and {T} common years: the sample matrix is singular; shrunk "
                    f"towards the identity with intensity {delta:.2f} (Ledoit-Wolf)")


def calibrate(history, intervals: bool = True, threads: int | None = None
              ) -> tuple[list[SegmentFit], str]:
    """Fit every segment of a :class:`simpool.scenario.history.History` (on ``threads``
    threads, default all cores: the likelihood kernels release the GIL); returns the fits
    (with their factor correlations filled in) and how the correlations were obtained."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, min(threads or os.cpu_count() or 1, len(history.segments)))
    with ThreadPoolExecutor(workers) as pool:
        fits = list(pool.map(lambda s: fit_segment(s.name, s.years, s.defaults, s.loans,
                                                   intervals), history.segments))
    corr, how = factor_correlations(history, fits)
    for i, f in enumerate(fits):
        if corr is None:
            f.factor_corr = {}
        else:
            f.factor_corr = {history.segments[j].name: round(float(corr[i, j]), 6)
                             for j in range(len(fits)) if j != i}
    return fits, how


def method_of_moments(d, n) -> tuple[float, float]:
    """(pd, rho) by the method of moments: the mean default rate, and the rho whose bivariate
    normal probability Phi2(c, c; rho) matches the mean of DR^2 less its binomial part."""
    from scipy.stats import multivariate_normal

    d = np.asarray(d, float)
    n = np.asarray(n, float)
    r = d / n
    pd = r.mean()
    # E[DR^2] = E[p^2] + E[p (1 - p)] / n  =>  E[p^2] = (E[DR^2] - pd / n) / (1 - 1 / n)
    m2 = np.mean((r ** 2 - r / n) / (1 - 1 / n))
    c = ndtri(pd)

    def gap(rho):
        return multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([c, c]) - m2

    if gap(1e-6) >= 0:
        return float(pd), 0.0
    return float(pd), float(optimize.brentq(gap, 1e-6, 0.99, xtol=1e-8))
