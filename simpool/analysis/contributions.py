"""Risk contributions: which cohort, sector or product drives a tail or a pool's depletion.

``contributions(res, measure, level, by, event)`` allocates the **gross** credit loss over the
horizon to groups of waterfall segments (``by="segment"``: one cohort, or one product of the
loan tape; ``"sector"``; ``"product"``) conditionally on an event:

``event="tail"``
    The tail of ``measure`` (anything :meth:`Results.samples` accepts over the horizon:
    ``gross``, ``net``, ``bank``, ``guarantor``, ``national_fund``, ``guarantor:<name>``, ...)
    at ``level``: the paths with ``L >= VaR_level(L)`` (VaR as :func:`simpool.analysis.stats.var`,
    weighted when the run has importance-sampling weights).
``event="pool:<name>"``
    The paths where compensation pool ``<name>`` (or ``insurance_pool``) is depleted by the
    horizon: unpaid claims > 0 in some year (the tolerance of ``Results.summary``'s
    ``P(depleted by year)``, whose last-year value is this event's probability). ``measure``
    and ``level`` play no part (the table shows ``measure`` ``<NA>`` and ``level`` NaN).

Estimators
----------
``n`` paths, weights ``w_i`` (1 without importance sampling), ``G_ig`` = gross loss of group
``g`` in path ``i`` summed over the years and the group's segments, and a *tail weight*
``tau_i`` in [0, 1] per path:

* pool event: ``tau_i = 1{depleted}``;
* tail event: ``tau_i = 1`` if ``L_i > VaR``, ``tau_i = theta`` if ``L_i = VaR``, else 0,
  where ``theta`` puts exactly the tail mass of :func:`simpool.analysis.stats.es` on the paths at VaR:
  ``sum_i w_i tau_i = m`` (unweighted, ``m = ceil((1 - level) n)``, the number of worst paths
  the ES averages) or ``(1 - level) n`` (weighted; Acerbi's form). With a continuous loss one
  path sits at VaR and gets weight ``theta`` in (0, 1]; with an atom at VaR (say many paths
  where a party loses 0), every path of the atom gets the same fraction, so no arbitrary
  tie-break decides the split (Acerbi & Tasche 2002; Tasche, "Euler allocation").

``tail_mean_g = sum_i w_i tau_i G_ig / sum_i w_i tau_i``  (the Euler allocation
``E[G_g | event]``); ``share_g = tail_mean_g / sum_h tail_mean_h``;
``uplift_g = tail_mean_g / mean_g`` with ``mean_g = (1/n) sum_i w_i G_ig`` (the plain IS
estimate of ``E[G_g]``; NaN when it is 0); ``p_event = (1/n) sum_i w_i tau_i``;
``n_tail`` = number of paths with ``tau_i > 0``.

Additivity (ES). For ``measure="gross"`` the groups partition the segments and
``sum_g G_ig = L_i`` for every path, so ``sum_g tail_mean_g`` equals
``sum_i w_i tau_i L_i / sum_i w_i tau_i``, which is *exactly* ``stats.es(L, level, w)``:
unweighted, the mean of the ``m`` worst losses (the paths at VaR all have ``L = VaR``);
weighted, ``VaR + sum w (L - VaR)^+ / ((1 - level) n)``. So the contributions are the Euler
contributions to ES, and add up to it to rounding; in the continuous case this is also
``E[L | L >= VaR]``. (For another measure they add up to ``E[gross | tail of measure]``.)

Standard errors (delta method, influence function of the ratio, including the estimated
VaR): ``se_g = sd_i(w_i (G_ig - c_g) tau_i, ddof=1) / (sqrt(n) p_event)``, where

* pool event (a fixed event): ``c_g = tail_mean_g`` -- the textbook ratio-estimator SE;
* tail event: ``c_g = E[G_g | L = VaR]``, estimated as the weighted mean of ``G_g`` over the
  paths with ``L`` in ``[VaR_{level-h}, VaR_{level+h}]``, ``h`` the binomial band of
  :func:`simpool.analysis.stats.var`'s SE (unweighted ``sqrt(level (1-level) / n)``). Centring at
  ``c_g`` rather than ``tail_mean_g`` adds the first-order effect of the VaR's own error,
  ``p (1-p) (tail_mean_g - c_g)^2`` in the variance, which the fixed-event formula misses;
  with an atom at VaR the same formula holds with ``c_g`` the mean over the atom. For the
  total of ``gross`` (``c = VaR``) it is :func:`simpool.analysis.stats.es`'s SE.
"""

from __future__ import annotations

import math

import numpy as np

from .stats import _as_level, _as_weights, _Sorted

__all__ = ["contributions", "BY", "PRODUCTS"]

#: Groupings accepted by ``by``.
BY = ("segment", "sector", "product")
#: Product names by waterfall code.
PRODUCTS = ("credit", "guaranteed", "insured")
#: Columns of the returned table.
COLUMNS = ("measure", "event", "level", "group", "tail_mean", "share", "uplift", "se", "n_tail",
           "p_event", "mean")


def _segment_labels(res, by: str) -> list[str]:
    """The group of each waterfall segment."""
    wf = res._wf
    names = list(wf.segment_names)
    if by == "segment":
        return names
    if by == "product":
        return [PRODUCTS[int(p)] for p in wf.routes.product]
    # sector: a cohort's sector; a tape segment's sector if all its loans share one, else "tape"
    sc = res.scenario
    cohorts = {c.name: c for c in sc.cohorts}
    tape = sc.tape
    out = []
    for name, code in zip(names, wf.routes.product):
        if name in cohorts:
            out.append(str(cohorts[name].sector))
            continue
        label = "tape"
        if tape is not None:
            prod = PRODUCTS[int(code)]
            sectors = np.unique(np.asarray(tape.sector).astype(str)[
                np.asarray(tape.product).astype(str) == prod])
            if len(sectors) == 1:
                label = str(sectors[0])
        out.append(label)
    return out


def _pool_event(res, name: str) -> np.ndarray:
    wf = res._wf
    pools = list(wf.pool_names)
    names = pools + (["insurance_pool"] if "insurance_pool" in res.parties else [])
    if name not in names:
        raise ValueError(f"unknown pool '{name}'; pools: {', '.join(names) or '(none)'}")
    return res.pool_depleted(name)[:, -1]  # depleted by the last year, as Results.summary


def _tail_weights(loss: np.ndarray, level: float, w: np.ndarray | None):
    """(tau, VaR band (lo, hi)) of the ES-consistent tail of ``loss`` at ``level``."""
    n = loss.size
    srt = _Sorted(loss, w)
    v = srt.quantile(level)
    above = loss > v
    at = loss == v
    if w is None:
        target = float(min(max(math.ceil(round((1.0 - level) * n, 9)), 1), n))
        mass_above = float(np.count_nonzero(above))
        mass_at = float(np.count_nonzero(at))
        h = math.sqrt(level * (1.0 - level) / n)
    else:
        target = (1.0 - level) * n
        mass_above = float(w[above].sum())
        mass_at = float(w[at].sum())
        band = above if above.any() else (loss >= v)
        h = float(np.std(np.where(band, w, 0.0), ddof=1)) / math.sqrt(n) if n > 1 else 0.0
    theta = 0.0 if mass_at <= 0 else min(max((target - mass_above) / mass_at, 0.0), 1.0)
    tau = above.astype(float)
    tau[at] = theta
    lo = srt.quantile(max(level - h, 0.0))
    hi = srt.quantile(min(level + h, 1.0))
    return tau, v, (lo, hi)


def contributions(res, measure: str = "gross", level: float = 0.99, by: str = "segment",
                  event: str = "tail", basis: str = "cash", product: str | None = None):
    """Euler (conditional-expectation) allocation of gross loss to cohorts, sectors or products.

    Parameters
    ----------
    res : Results
        A run of :func:`simpool.simulate`.
    measure : str
        For ``event="tail"``: the per-path measure whose tail is allocated (any name
        :meth:`Results.samples` accepts, over the whole horizon).
    level : float
        Tail level in (0, 1) (``event="tail"`` only).
    by : {"segment", "sector", "product"}
        Groups of waterfall segments (cohorts, then one per product of the loan tape). Tape
        segments get the tape's sector when all their loans share one, else ``"tape"``.
    event : "tail" or "pool:<name>"
        Condition on the tail of ``measure``, or on the pool's depletion by the horizon.
    basis, product : str
        Of ``measure`` (as :meth:`Results.samples`): the tail of a party's ``"ultimate"``
        loss, or of its loss on one programme (``product="guaranteed"``). The measure column
        then reads ``bank [guaranteed] (ultimate)``.

    Returns
    -------
    pandas.DataFrame, one row per group in order of first appearance: ``measure``, ``event``,
    ``level``, ``group``, ``tail_mean`` (yuan, ``E[G_g | event]``), ``share`` (of the sum over
    groups), ``uplift`` (``tail_mean / mean``), ``se`` (of ``tail_mean``), ``n_tail`` (paths
    in the event), ``p_event`` (its probability), ``mean`` (``E[G_g]``, yuan). Formulas in the
    module docstring.
    """
    import pandas as pd

    if by not in BY:
        raise ValueError(f"unknown grouping by='{by}'; one of: {', '.join(BY)}")
    raw = res._raw
    if res._wf is None or "segment_loss" not in raw:
        if res.keep != "all":
            raise ValueError(f"this run kept only the summary's per-path results "
                             f"(keep={res.keep!r}); simulate with keep='all' or "
                             "keep=['segments'] for risk contributions")
        raise ValueError("this run kept no per-segment losses: with many segments (one per "
                         "cohort) and paths they would not fit in memory "
                         "(simpool.engine.KEEP_SEGMENTS_BYTES); use fewer paths, or group "
                         "single loans into a loan tape or fewer cohorts")
    n = int(raw["segment_loss"].shape[0])
    w = _as_weights(res.weights, n)

    labels = _segment_labels(res, by)
    groups = list(dict.fromkeys(labels))
    member = np.zeros((len(labels), len(groups)))
    for s, lab in enumerate(labels):
        member[s, groups.index(lab)] = 1.0
    G = raw["segment_loss"].sum(axis=1) @ member  # (paths, groups), yuan over the horizon

    if not isinstance(event, str):
        raise ValueError(f"event must be 'tail' or 'pool:<name>', got {event!r}")
    if event == "tail":
        lvl = _as_level(level)
        try:
            loss = np.asarray(res.samples(measure, basis=basis, product=product), dtype=float)
        except KeyError as exc:
            raise ValueError(exc.args[0] if exc.args else f"unknown measure '{measure}'") from None
        if not np.isfinite(loss).all():
            raise ValueError(f"measure '{measure}' has NaN or infinite values")
        tau, var, (lo, hi) = _tail_weights(loss, lvl, w)
        m_col, lvl_col = measure + (f" [{product}]" if product else "") + (
            " (ultimate)" if basis == "ultimate" and measure != "gross" else ""), lvl
    elif event.startswith("pool:"):
        tau = _pool_event(res, event[len("pool:"):]).astype(float)
        loss = None
        m_col, lvl_col = None, float("nan")
    else:
        raise ValueError(f"unknown event '{event}'; use 'tail' or 'pool:<name>'")

    wt = tau if w is None else w * tau
    mass = float(wt.sum())
    n_tail = int(np.count_nonzero(tau > 0))
    if n_tail == 0 or mass <= 0:
        raise ValueError(f"no paths in the event '{event}' ({n} paths): nothing to allocate")
    tail_mean = (wt @ G) / mass
    overall = (G.sum(axis=0) if w is None else w @ G) / n
    total = float(tail_mean.sum())
    share = tail_mean / total if total != 0 else np.full(len(groups), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        uplift = np.where(overall > 0, tail_mean / np.where(overall > 0, overall, 1.0), np.nan)

    # centre of the influence function: E[G | L = VaR] for a tail, the tail mean for an event
    if loss is not None and lo != hi:
        band = (loss >= lo) & (loss <= hi)
        bw = band.astype(float) if w is None else w * band
        centre = (bw @ G) / float(bw.sum()) if bw.sum() > 0 else tail_mean
    elif loss is not None:
        at = loss == var
        aw = at.astype(float) if w is None else w * at
        centre = (aw @ G) / float(aw.sum()) if aw.sum() > 0 else tail_mean
    else:
        centre = tail_mean
    p_event = mass / n
    if n > 1:
        y = (G - centre) * wt[:, None]
        se = y.std(axis=0, ddof=1) / (math.sqrt(n) * p_event)
    else:
        se = np.full(len(groups), np.nan)

    return pd.DataFrame({
        "measure": pd.array([m_col] * len(groups), dtype="string"),
        "event": event,
        "level": lvl_col,
        "group": groups,
        "tail_mean": tail_mean,
        "share": share,
        "uplift": uplift,
        "se": se,
        "n_tail": n_tail,
        "p_event": p_event,
        "mean": overall,
    }, columns=list(COLUMNS))
