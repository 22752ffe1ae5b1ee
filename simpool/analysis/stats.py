"""Monte Carlo risk statistics of a loss sample, with their Monte Carlo standard errors.

A sample is a 1-D array ``L`` of ``n`` path losses (yuan, losses positive), optionally with
importance-sampling likelihood-ratio weights ``w`` (one per path, ``E_Q[w] = 1`` under the
sampling measure ``Q``).  A quantity ``E_P[f(L)]`` is estimated by ``mean(w * f(L))`` -- the
plain (not self-normalised) importance-sampling estimator.  Without weights, or with weights
that are all exactly 1, every function returns the textbook unweighted estimator.

Estimators (``n`` paths, ``s`` = sample standard deviation with ``ddof=1``)
---------------------------------------------------------------------------
``EL`` / ``mean``
    ``mean(w L)``; SE ``sd(w L, ddof=1) / sqrt(n)``.
``std``
    Unweighted: ``s = sd(L, ddof=1)``; SE by the delta method
    ``sqrt((m4 - s^4) / (4 s^2 n))`` with ``m4 = mean((L - mean L)^4)``.
    Weighted: ``s^2 = sum(w (L - mu)^2) / (n - 1)`` with ``mu = mean(w L)`` (the IS estimate of
    ``E_P[(L - EL)^2]``, with the ``n/(n-1)`` correction so unit weights give ``ddof=1``); SE
    ``sqrt((mean(w^2 (L - mu)^4) - s^4) / (4 s^2 n))`` -- the same delta method, with the IS
    second moment ``E_Q[w^2 (L-mu)^4] = E_P[w (L-mu)^4]`` in place of ``m4``.  A negative
    radicand (possible for tiny ``n``) is clipped to 0; ``s = 0`` gives SE 0.
``VaR_a``
    Unweighted: the order statistic ``L_(k)``, ``k = ceil(round(a n, 9))`` -- the smallest
    sample loss ``l`` with ``F_n(l) >= a`` (the rounding makes ``0.999 * 1000`` give 999).
    Weighted (tail form, better for importance sampling, where the weights are designed to
    resolve the tail): the smallest sample loss ``l`` with
    ``(1/n) sum w_i 1{L_i > l} <= round((1 - a) n, 9) / n``.  With unit weights the tail form
    and the CDF form pick the same order statistic.
    SE from the binomial band: ``(VaR_{a+h} - VaR_{a-h}) / 2`` with levels clipped to [0, 1]
    (level 0 = smallest loss, level 1 = largest); unweighted ``h = sqrt(a (1-a) / n)``, weighted
    ``h`` = SE of the IS estimate of ``P(L > VaR)``, i.e. ``sd(w 1{L > VaR}, ddof=1)/sqrt(n)``
    (if no path lies strictly above VaR, ``1{L >= VaR}`` is used instead so the band is not
    degenerate).
``ES_a``
    Unweighted: mean of the worst ``m = ceil(round((1 - a) n, 9))`` losses (Acerbi--Tasche;
    in floating point ``ceil((1 - 0.999) * 1000)`` is 2, hence the rounding).
    Weighted: ``VaR + sum(w (L - VaR)^+) / ((1 - a) n)`` (Acerbi / Rockafellar--Uryasev form).
    SE (both): ``sd(w (L - VaR)^+, ddof=1) / ((1 - a) sqrt(n))``.
``P(L>x)`` / ``prob``
    ``mean(w 1{event})``, with a strict ``L > x`` for exceedances; SE
    ``sd(w 1{event}, ddof=1) / sqrt(n)`` (unweighted: ``sqrt(p (1-p) / (n-1))``).

Edge cases: ``n = 1`` gives SE ``nan`` everywhere (and ``std`` value ``nan``); unweighted
all-equal losses give SE 0.  Empty input, non-1-D input, NaN/inf, negative weights, weights
of the wrong shape and levels outside the open interval (0, 1) raise ``ValueError``.

``describe`` sorts the sample once (``np.sort``, or one ``argsort`` when weighted) and reuses
it for every level and threshold, so it stays ``O(n log n)`` on 1e6--1e7 paths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "Estimate",
    "expected",
    "mean",
    "std",
    "var",
    "es",
    "exceedance",
    "prob",
    "ratio",
    "describe",
]

_NAN = float("nan")


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo estimate and its standard error.

    Attributes
    ----------
    statistic : str
        ``"EL"``, ``"std"``, ``"VaR"``, ``"ES"``, ``"P(L>x)"``, ``"mean"`` or ``"prob"``.
    param : float
        Level ``a`` for VaR/ES, threshold ``x`` for ``P(L>x)``, ``nan`` otherwise.
    value : float
        The estimate.
    se : float
        Its Monte Carlo standard error (``nan`` when ``n = 1``).
    """

    statistic: str
    param: float
    value: float
    se: float


# --------------------------------------------------------------------------- validation


def _as_sample(x: ArrayLike, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_weights(weights: ArrayLike | None, n: int) -> np.ndarray | None:
    """Validated weights, or ``None`` when absent or all exactly 1 (unweighted path)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},), got {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("weights contain NaN or infinite values")
    if (w < 0).any():
        raise ValueError("weights must be non-negative")
    if (w == 1.0).all():
        return None
    return w


def _as_level(level: float) -> float:
    try:
        a = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}") from None
    if not (0.0 < a < 1.0):  # also rejects nan
        raise ValueError(f"level must be in the open interval (0, 1), got {level!r}")
    return a


def _as_threshold(threshold: float) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a number, got {threshold!r}") from None
    if math.isnan(t):
        raise ValueError("threshold is NaN")
    return t


def _as_mask(mask: ArrayLike) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 1:
        raise ValueError(f"mask must be a 1-D array, got shape {m.shape}")
    if m.size == 0:
        raise ValueError("mask is empty")
    if m.dtype != np.bool_:
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be boolean (or contain only 0 and 1)")
        m = m.astype(np.bool_)
    return m


# --------------------------------------------------------------------------- kernels


def _mean_se(y: np.ndarray) -> tuple[float, float]:
    """Sample mean and its SE ``sd(y, ddof=1)/sqrt(n)``; exact value and SE 0 if constant."""
    n = y.size
    if n == 1:
        return float(y[0]), _NAN
    lo, hi = y.min(), y.max()
    if lo == hi:
        return float(lo), 0.0
    return float(y.mean()), float(y.std(ddof=1)) / math.sqrt(n)


def _sparse_mean_se(y: np.ndarray, n: int) -> tuple[float, float]:
    """Mean and SE of a length-``n`` vector whose entries are ``y`` plus ``n - len(y)`` zeros.

    Two-pass (centred) sums, so it is as accurate as ``np.std`` without materialising zeros.
    """
    t = y.size
    total = float(y.sum())
    m = total / n
    if n == 1:
        return m, _NAN
    ss = float(((y - m) ** 2).sum()) + (n - t) * m * m
    return m, math.sqrt(max(ss, 0.0) / (n - 1)) / math.sqrt(n)


def _count_mean_se(t: int, n: int) -> tuple[float, float]:
    """Mean and SE of ``t`` ones and ``n - t`` zeros: ``p`` and ``sqrt(p(1-p)/(n-1))``."""
    p = t / n
    if n == 1:
        return p, _NAN
    return p, math.sqrt(t * (n - t) / (n * (n - 1.0)) / n)


def _std(x: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    n = x.size
    if n == 1:
        return _NAN, _NAN
    if w is None:
        if x.min() == x.max():
            return 0.0, 0.0
        mu = x.mean()
        d2 = x - mu
        d2 *= d2
        s2 = float(d2.sum()) / (n - 1)
        d2 *= d2
        m4 = float(d2.mean())
    else:
        mu = float(np.dot(w, x)) / n
        d2 = x - mu
        d2 *= d2
        wd2 = w * d2
        s2 = float(wd2.sum()) / (n - 1)
        wd2 *= wd2  # w^2 (x - mu)^4
        m4 = float(wd2.mean())
    s = math.sqrt(s2)
    if s == 0.0:
        return 0.0, 0.0
    rad = (m4 - s2 * s2) / (4.0 * s2 * n)
    return s, math.sqrt(max(rad, 0.0))


#: Samples above this size sort only their upper part when the levels asked for allow it.
PARTIAL_SORT_MIN = 4096


class _Sorted:
    """A sample sorted once, with the weights permuted alongside, reused across levels.

    Unweighted, with ``below`` > 0 (the lowest level any figure will read), only the order
    statistics from about ``below x n`` up are sorted (``np.partition`` then a sort of the
    upper part: the same values at those positions as a full sort, at a fraction of its cost
    for tail levels); a figure reading below them sorts the rest first. Positions under
    ``k0`` hold the smaller values, unsorted.
    """

    __slots__ = ("xs", "ws", "n", "_top", "k0")

    def __init__(self, x: np.ndarray, w: np.ndarray | None, below: float = 0.0):
        self.n = x.size
        self.k0 = 0
        if w is None:
            k0 = int(below * self.n) - 2
            if below > 0.0 and self.n >= PARTIAL_SORT_MIN and k0 > 0:
                self.xs = np.partition(x, k0)
                self.xs[k0:].sort()
                self.k0 = k0
            else:
                self.xs = np.sort(x)
            self.ws = None
        else:
            order = np.argsort(x)
            self.xs = x[order]
            self.ws = w[order]
            del order
        self._top: np.ndarray | None = None

    def _need(self, index: int) -> None:
        """Sort the rest when position ``index`` is below the sorted part."""
        if index < self.k0:
            self.xs[:self.k0].sort()
            self.k0 = 0

    def top_sums(self) -> np.ndarray:
        """``C[t]`` = total weight of the ``t`` largest positions (``C[0] = 0``); monotone."""
        if self._top is None:
            c = np.empty(self.n, dtype=np.float64)
            c[0] = 0.0
            np.cumsum(self.ws[:0:-1], out=c[1:])
            self._top = c
        return self._top

    # -- VaR ------------------------------------------------------------------------
    def quantile(self, level: float) -> float:
        """VaR at ``level`` in [0, 1] (level 0 = smallest loss, level 1 = largest)."""
        n = self.n
        if self.ws is None:
            k = math.ceil(round(level * n, 9))
            k = min(max(k, 1), n)
            self._need(k - 1)
            return float(self.xs[k - 1])
        # tail form: smallest position j with  sum_{i > j} ws[i] <= (1 - level) n.
        # Positions above j number t = n - 1 - j; the largest feasible t gives the smallest j.
        thr = round((1.0 - level) * n, 9)
        t = int(np.searchsorted(self.top_sums(), thr, side="right")) - 1
        return float(self.xs[n - 1 - t])

    def var(self, level: float) -> Estimate:
        n = self.n
        v = self.quantile(level)
        if n == 1:
            return Estimate("VaR", level, v, _NAN)
        if self.ws is None:
            h = math.sqrt(level * (1.0 - level) / n)
        else:
            j = int(np.searchsorted(self.xs, v, side="right"))
            if j == n:  # nothing strictly above VaR: use P(L >= VaR) for the band width
                j = int(np.searchsorted(self.xs, v, side="left"))
            _, h = _sparse_mean_se(self.ws[j:], n)
        hi = self.quantile(min(level + h, 1.0))
        lo = self.quantile(max(level - h, 0.0))
        return Estimate("VaR", level, v, (hi - lo) / 2.0)

    # -- ES -------------------------------------------------------------------------
    def es(self, level: float) -> Estimate:
        n = self.n
        v = self.quantile(level)
        j = int(np.searchsorted(self.xs, v, side="right"))
        excess = self.xs[j:] - v
        if self.ws is not None:
            excess *= self.ws[j:]
        mean_excess, se_excess = _sparse_mean_se(excess, n)
        tail = 1.0 - level
        if self.ws is None:
            m = math.ceil(round(tail * n, 9))
            m = min(max(m, 1), n)
            self._need(n - m)
            # the mean of the m worst is >= VaR; rounding (m equal losses) may put it a hair
            # below, and ES below VaR reads as an error
            value = max(float(self.xs[n - m :].mean()), v)
        else:
            value = v + mean_excess / tail
        return Estimate("ES", level, value, se_excess / tail)

    # -- exceedance -----------------------------------------------------------------
    def exceedance(self, threshold: float) -> Estimate:
        n = self.n
        if self.ws is None and self.k0 > 0 and not threshold >= self.xs[self.k0]:
            # below the sorted part: count directly (the unsorted part is not searchable)
            return Estimate("P(L>x)", threshold,
                            *_count_mean_se(int(np.count_nonzero(self.xs > threshold)), n))
        j = int(np.searchsorted(self.xs, threshold, side="right"))
        if self.ws is None:
            p, se = _count_mean_se(n - j, n)
        else:
            p, se = _sparse_mean_se(self.ws[j:], n)
        return Estimate("P(L>x)", threshold, p, se)


def _prob(mask: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    n = mask.size
    if w is None:
        return _count_mean_se(int(np.count_nonzero(mask)), n)
    return _sparse_mean_se(w[mask], n)


# --------------------------------------------------------------------------- public API


def expected(x: ArrayLike, weights: ArrayLike | None = None) -> Estimate:
    """Expected loss ``EL = mean(w L)`` with SE ``sd(w L, ddof=1)/sqrt(n)``."""
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    value, se = _mean_se(arr if w is None else w * arr)
    return Estimate("EL", _NAN, value, se)


def mean(x: ArrayLike, weights: ArrayLike | None = None) -> Estimate:
    """Mean of any per-path quantity, ``mean(w x)``, with SE ``sd(w x, ddof=1)/sqrt(n)``."""
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    value, se = _mean_se(arr if w is None else w * arr)
    return Estimate("mean", _NAN, value, se)


def std(x: ArrayLike, weights: ArrayLike | None = None) -> Estimate:
    """Standard deviation of the loss with a delta-method SE (see the module docstring).

    Unweighted: ``sd(L, ddof=1)``.  Weighted: ``sqrt(sum(w (L - mu)^2) / (n - 1))`` with
    ``mu = mean(w L)``.  ``n = 1`` gives value and SE ``nan``.
    """
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    value, se = _std(arr, w)
    return Estimate("std", _NAN, value, se)


def var(x: ArrayLike, level: float, weights: ArrayLike | None = None) -> Estimate:
    """Value-at-risk at ``level``: the smallest sample loss with ``F_n(l) >= level``.

    Weighted samples use the tail form ``(1/n) sum w 1{L > l} <= 1 - level``.
    """
    a = _as_level(level)
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    return _Sorted(arr, w).var(a)


def es(x: ArrayLike, level: float, weights: ArrayLike | None = None) -> Estimate:
    """Expected shortfall at ``level`` (worst-``m`` mean; Acerbi form when weighted)."""
    a = _as_level(level)
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    return _Sorted(arr, w).es(a)


def exceedance(x: ArrayLike, threshold: float, weights: ArrayLike | None = None) -> Estimate:
    """``P(L > threshold)`` (strict) as ``mean(w 1{L > threshold})`` with its SE."""
    t = _as_threshold(threshold)
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)
    p, se = _prob(arr > t, w)
    return Estimate("P(L>x)", t, p, se)


def prob(mask: ArrayLike, weights: ArrayLike | None = None) -> Estimate:
    """Probability of a per-path event (boolean ``mask``) as ``mean(w 1{mask})`` with SE."""
    m = _as_mask(mask)
    w = _as_weights(weights, m.size)
    p, se = _prob(m, w)
    return Estimate("prob", _NAN, p, se)


def ratio(num: ArrayLike, den: ArrayLike, weights: ArrayLike | None = None) -> Estimate:
    """Ratio of two expectations ``E[num] / E[den]`` (e.g. public cost per loan-year), with the
    delta-method SE ``sd(w (num - R den), ddof=1) / (sqrt(n) |mean(w den)|)``; ``nan`` when
    ``E[den]`` is estimated as 0."""
    a = _as_sample(num, "num")
    b = _as_sample(den, "den")
    if a.size != b.size:
        raise ValueError(f"num and den need the same number of paths, got {a.size} and {b.size}")
    w = _as_weights(weights, a.size)
    if w is not None:
        a, b = w * a, w * b
    mb = float(b.mean())
    if mb == 0.0:
        return Estimate("ratio", _NAN, _NAN, _NAN)
    r = float(a.mean()) / mb
    if a.size == 1:
        return Estimate("ratio", _NAN, r, _NAN)
    resid = a - r * b
    se = float(resid.std(ddof=1)) / (math.sqrt(a.size) * abs(mb)) if resid.min() != resid.max() \
        else 0.0
    return Estimate("ratio", _NAN, r, se)


def describe(
    x: ArrayLike,
    levels: Sequence[float] | Iterable[float] = (0.95, 0.99, 0.999),
    thresholds: Sequence[float] | Iterable[float] = (),
    weights: ArrayLike | None = None,
) -> list[Estimate]:
    """All statistics at once, sorting the sample only once.

    Returns ``[EL, std, VaR_a1, ES_a1, VaR_a2, ES_a2, ..., P(L>x1), P(L>x2), ...]``.
    """
    lv = [_as_level(a) for a in levels]
    th = [_as_threshold(t) for t in thresholds]
    arr = _as_sample(x)
    w = _as_weights(weights, arr.size)

    el, el_se = _mean_se(arr if w is None else w * arr)
    s, s_se = _std(arr, w)
    out = [Estimate("EL", _NAN, el, el_se), Estimate("std", _NAN, s, s_se)]
    if lv or th:
        # the lowest level read: each VaR's SE reads the quantiles at level -/+ its band
        below = min((a - 2.0 * math.sqrt(a * (1.0 - a) / arr.size) - 1e-6 for a in lv),
                    default=1.0) if w is None else 0.0
        srt = _Sorted(arr, w, max(below, 0.0))
        for a in lv:
            out.append(srt.var(a))
            out.append(srt.es(a))
        for t in th:
            out.append(srt.exceedance(t))
    return out


def named(est: Estimate, statistic: str, param: float = float("nan")) -> Estimate:
    """``est`` relabelled as ``statistic`` (with ``param``): a mean read as a probability, a
    share or a named figure."""
    return Estimate(statistic, param, est.value, est.se)
