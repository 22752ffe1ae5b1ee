"""Importance sampling for the tail (Glasserman & Li 2005, "Importance sampling for
portfolio credit risk", Management Science 51(11)).

Two layers, both unbiased (every path carries its likelihood ratio, and every statistic in
:mod:`simpool.analysis.stats` uses it):

* ``shift``: the independent factor normals eta are drawn from N(mu, I) instead of N(0, I);
  likelihood ratio ``exp(-mu.eta + |mu|^2 / 2)``. ``mu`` maximises
  ``F(mu) - |mu|^2 / 2`` where ``F(mu) = min_theta (psi(theta; Z) - theta x)`` is the log of
  the conditional tail bound ``P(L > x | Z) <= exp(F)`` at ``Z = chol mu`` (the mode of the
  zero-variance sampling density, to a first approximation).
* ``shift_twist``: in addition, given the factors, each obligor's default probability is
  exponentially twisted so that the conditional mean loss is ``x`` (one-year horizons);
  likelihood ratio ``exp(-theta sum c_i D_i + psi(theta))``.

Each path comes from the original model with probability ``defensive`` (default 0.1) and from
the shifted/twisted one otherwise (a defensive mixture, Hesterberg 1995): the likelihood
ratio is then at most 1/defensive, so statistics of the body of the distribution (EL, low
quantiles, exceedance of levels below the target) stay unbiased with bounded variance.

``x`` (``importance_sampling.target``) is the loss level the sampler aims at. By default it
is the conditional expected loss in the factor scenario at the 99.9% quantile along the
direction of steepest expected loss: roughly the 99.9% VaR of a granular portfolio.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .inputs import KernelInputs

#: Default quantile of the factor scenario that sets the automatic target.
AUTO_TARGET_LEVEL = 0.999


def _obligors(inputs: KernelInputs):
    """Per-obligor-group arrays: threshold, sqrt(rho), 1/sqrt(1-rho), sector, c (yuan), count."""
    bk = inputs.book
    sector_of_loan = np.repeat(bk.b_sector, np.diff(bk.b_start))
    thresh = np.concatenate([bk.c_thresh, bk.l_thresh])
    sr = np.concatenate([bk.c_sqrt_rho, bk.l_sqrt_rho])
    isd = np.concatenate([bk.c_inv_sd, bk.l_inv_sd])
    sec = np.concatenate([bk.c_sector, sector_of_loan]).astype(np.int64)
    c = np.concatenate([bk.c_exposure * bk.c_lgd, bk.l_exposure * bk.l_lgd])
    n = np.concatenate([bk.c_n.astype(float), np.ones(len(bk.l_id))])
    return thresh, sr, isd, sec, c, n


def conditional_pd(inputs: KernelInputs, eta: np.ndarray) -> np.ndarray:
    """Conditional default probabilities given independent factor normals ``eta`` (W = 1)."""
    from scipy.special import ndtr

    thresh, sr, isd, sec, _, _ = _obligors(inputs)
    z = inputs.model.chol @ np.asarray(eta, float)
    return ndtr((thresh - sr * z[sec]) * isd)


def log_tail_bound(inputs: KernelInputs, eta: np.ndarray, x: float) -> float:
    """F = min over theta >= 0 of psi(theta) - theta x, at factors eta (<= 0)."""
    from .kernels import _psi, solve_twist

    _, _, _, _, c, n = _obligors(inputs)
    scale = float(c.max()) if len(c) and c.max() > 0 else 1.0
    p = conditional_pd(inputs, eta)
    cs = c / scale
    theta = solve_twist(p, cs, n, x / scale)
    psi, _, _ = _psi(theta, p, cs, n)
    return float(psi - theta * x / scale)


def auto_target(inputs: KernelInputs, level: float = AUTO_TARGET_LEVEL) -> float:
    """Conditional expected loss at the ``level`` factor scenario (yuan)."""
    from scipy.special import ndtri, ndtr

    thresh, sr, isd, sec, c, n = _obligors(inputs)
    s = inputs.model.chol.shape[0]
    # sensitivity of the expected loss to each independent factor normal at eta = 0
    dens = np.exp(-0.5 * (thresh * isd) ** 2) / np.sqrt(2 * np.pi)
    g_z = np.zeros(s)
    np.add.at(g_z, sec, n * c * dens * sr * isd)
    g_eta = inputs.model.chol.T @ g_z
    norm = np.linalg.norm(g_eta)
    d = g_eta / norm if norm > 0 else np.ones(s) / np.sqrt(s)
    eta = ndtri(1.0 - level) * d  # negative along the loss-increasing direction
    z = inputs.model.chol @ eta
    return float(np.sum(n * c * ndtr((thresh - sr * z[sec]) * isd)))


def choose_shift(inputs: KernelInputs, x: float) -> np.ndarray:
    """The Glasserman-Li mean shift mu (one per sector) for target loss ``x``."""
    from scipy.optimize import minimize, minimize_scalar

    s = inputs.model.chol.shape[0]

    def objective(mu):
        mu = np.atleast_1d(mu)
        return -(log_tail_bound(inputs, mu, x) - 0.5 * float(mu @ mu))

    if s == 1:
        r = minimize_scalar(objective, bounds=(-12.0, 2.0), method="bounded",
                            options={"xatol": 1e-6})
        return np.array([float(r.x)])
    start = np.full(s, -2.0 / np.sqrt(s))
    r = minimize(objective, start, method="Nelder-Mead",
                 options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 4000})
    return np.asarray(r.x, float)


def configure(inputs: KernelInputs, method: str, target: float | None,
              shift: list[float] | None, horizon_years: int,
              defensive: float = 0.1) -> tuple[KernelInputs, dict]:
    """Kernel inputs with the chosen shift (and twist); and a dict describing the choice."""
    if method == "none":
        return inputs, {"method": "none"}
    info: dict = {"method": method, "defensive": defensive}
    x = None
    if target is not None or shift is None or method == "shift_twist":
        x = float(target) if target is not None else auto_target(inputs)
        x = min(x, 0.999 * inputs.max_loss) if inputs.max_loss > 0 else x
        info["target"] = x
    if shift is not None:
        mu = np.asarray(shift, float)
    else:
        mu = choose_shift(inputs, x)
    info["shift"] = [float(v) for v in mu]
    if not np.any(mu) and method == "shift":
        import warnings

        from ..errors import SimpoolWarning

        why = ("the explicit importance_sampling.shift is zero" if shift is not None else
               f"the search found a zero shift for the target {x:,.0f} yuan (the loss is already "
               "likely at that level, or it is unreachable)")
        warnings.warn(f"importance sampling does nothing: {why}; the run is plain Monte Carlo "
                      "(raise importance_sampling.target, or give a negative shift)",
                      SimpoolWarning, stacklevel=2)
    n_years = inputs.n_years
    new_shift = np.zeros((n_years, len(mu)))
    if shift is not None:
        new_shift[:] = mu  # an explicit shift applies to every year
    else:
        new_shift[0] = mu  # the automatic shift aims at the first (only) year
    changes = {"shift": np.ascontiguousarray(new_shift), "is_on": True, "defensive": float(defensive)}
    if method == "shift_twist":
        _, _, _, _, c, _ = _obligors(inputs)
        changes["twist_x"] = float(x)
        changes["twist_scale"] = float(c.max()) if len(c) and c.max() > 0 else 1.0
    return dataclasses.replace(inputs, model=inputs.model._replace(**changes)), info
