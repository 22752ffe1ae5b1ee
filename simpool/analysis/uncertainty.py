"""Estimation risk in a run's summary ([model.uncertainty], issue 25): the tails with the
parameters fixed (a second run on the same seed) beside those with parameter risk, and the
share of ES that parameter uncertainty adds."""

from __future__ import annotations

import math

import numpy as np

from .stats import Estimate, describe, named as _named


def rows(res) -> list:
    """With [model.uncertainty] (and its ``compare``): the whole horizon's gross and net
    loss with the parameters fixed (the same paths and seed) beside the figures with
    parameter risk, and the share of ES that parameter uncertainty adds,
    1 - ES(fixed) / ES (its SE by the delta method on the two ES estimates' influence
    functions, paired path by path: the runs share their random numbers)."""
    fixed = getattr(res, "without_uncertainty", None)
    if fixed is None or not res.has_credit:
        return []
    levels = res.scenario.report.levels
    out = []
    for m, basis in (("gross", "ultimate"), ("net", "cash")):
        if m == "net" and res._wf is None:
            continue
        kw = {} if m == "gross" else {"basis": basis}
        xa = res.samples(m, **kw)
        xb = fixed.samples(m, **kw)
        a = {(e.statistic, e.param): e for e in describe(
            xa, levels=levels, thresholds=(), weights=res.weights)}
        b = {(e.statistic, e.param): e for e in describe(
            xb, levels=levels, thresholds=(), weights=fixed.weights)}
        for (st, p), e in b.items():
            if st in ("EL", "VaR", "ES"):
                out.append((None, m, _named(e, f"{st} (fixed parameters)", p), "", basis))
        for lv in levels:
            es, ef = a.get(("ES", lv)), b.get(("ES", lv))
            if es is None or ef is None or not es.value > 0:
                continue
            share = 1.0 - ef.value / es.value
            out.append((None, m, Estimate("parameter uncertainty share of ES", lv, share,
                                          _share_se(xa, xb, lv, es.value, ef.value)),
                        "", basis))
    return out


def _share_se(xa: np.ndarray, xb: np.ndarray, level: float, es_a: float, es_b: float) -> float:
    """Standard error of 1 - ES_b / ES_a at ``level`` for two samples of the same paths:
    each ES's influence function VaR + (x - VaR)+ / (1 - level) - ES, their covariance path
    by path, and the delta method."""
    n = len(xa)

    def psi(x, es_v):
        v = np.quantile(x, level)
        return v + np.maximum(x - v, 0.0) / (1.0 - level) - es_v

    pa, pb = psi(xa, es_a), psi(xb, es_b)
    cov = np.cov(np.vstack([pa, pb])) / n
    g = np.array([es_b / es_a ** 2, -1.0 / es_a])
    return float(math.sqrt(max(g @ cov @ g, 0.0)))
