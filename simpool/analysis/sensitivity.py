"""Sensitivity of one figure to the levers: one-at-a-time (tornado) and variance-based (Sobol).

Levers are the scenario's real-valued keys (amounts, rates, shares, probabilities), found in
the resolved scenario; ``simulation``, ``report``, ``importance_sampling``, the factor model's
matrix and zero-valued keys are left out. Each lever moves by a relative ``delta`` (default
±20%) with all else fixed, on common random numbers (same seed and paths), so the swings are
differences of one fixed function, not of noise. The Sobol option uses SALib (Saltelli
sampling, Jansen/Saltelli estimators) over the top levers within the same ranges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ScenarioError, UsageError
from .solve import Figure

#: Sections that are not policy or portfolio levers.
SKIP_SECTIONS = ("simulation", "report", "importance_sampling", "sweep")
SKIP_KEYS = ("sector_correlation", "corridor", "levels", "exceedance", "shift")


def levers(sc) -> dict[str, float]:
    """The real-valued keys of a resolved scenario (named arrays addressed by name)."""
    from ..scenario.load import resolved_dict

    out: dict[str, float] = {}

    def walk(node: Any, path: list[str]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in SKIP_KEYS or (not path and k in SKIP_SECTIONS):
                    continue
                walk(v, path + [str(k)])
        elif isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, dict):
                    walk(item, path + [str(item.get("name", i))])
        elif isinstance(node, float) and not isinstance(node, bool) and node != 0.0 \
                and math.isfinite(node):
            out[".".join(path)] = node

    walk(resolved_dict(sc), [])
    return out


@dataclass
class Swing:
    lever: str
    base: float  # lever value
    low: float  # lever values tried (None when not allowed)
    high: float
    f_low: float  # figure at each (NaN when not allowed)
    f_high: float
    se_low: float
    se_high: float
    #: SE of each side's difference from the base on common random numbers (NaN where the
    #: figure has no per-path samples to pair)
    se_diff_low: float = float("nan")
    se_diff_high: float = float("nan")

    @property
    def swing(self) -> float:
        vals = [v for v in (self.f_low, self.f_high) if math.isfinite(v)]
        return max(vals) - min(vals) if len(vals) == 2 else float("nan")


#: Batches of paths for the SE of a difference of two runs (batch means, common random numbers)
DIFF_BATCHES = 25


def _batch_values(res, figure: Figure):
    """The figure in each of :data:`DIFF_BATCHES` contiguous batches of paths (None when the
    figure is not a statistic of per-path samples: EL, std, VaR, ES, P(L>x), mean)."""
    import numpy as np

    from .stats import describe

    if figure.statistic not in ("EL", "mean", "std", "VaR", "ES", "P(L>x)") or \
            res.weights is not None:
        return None
    try:
        x = res.samples(figure.measure, figure.year, basis=figure.basis or "cash",
                        product=figure.product)
    except (KeyError, ValueError, AttributeError):
        return None
    names = {"EL": 0, "mean": 0, "std": 1}
    out = []
    for part in np.array_split(np.asarray(x, float), DIFF_BATCHES):
        if figure.statistic in names:
            out.append(describe(part, levels=(), thresholds=())[names[figure.statistic]].value)
        elif figure.statistic in ("VaR", "ES"):
            e = describe(part, levels=[figure.param], thresholds=())
            out.append(e[2 if figure.statistic == "VaR" else 3].value)
        else:
            out.append(describe(part, levels=(), thresholds=[figure.param])[2].value)
    return np.array(out)


def _runner(file, overrides, paths, seed, figure: Figure, executor, max_memory=None):
    """run(sets) -> (figure, its SE, its batch values or None) of one run."""
    from .simulation import simulate
    from ..scenario.load import load_scenario

    def run(sets: list[str]):
        sc = load_scenario(file, list(overrides or []) + sets)
        res = simulate(sc, paths=paths, seed=seed, executor=executor, keep="summary",
                       max_memory=max_memory)
        return (*figure.pick(res.summary()), _batch_values(res, figure))

    return run


def _se_diff(a, b) -> float:
    """SE of the difference of two runs' figures on common random numbers, from their batch
    values: sd(batch differences) / sqrt(batches)."""
    import numpy as np

    if a is None or b is None:
        return float("nan")
    d = np.asarray(b) - np.asarray(a)
    return float(d.std(ddof=1) / math.sqrt(len(d)))


def tornado(file, figure: Figure, *, delta: float = 0.2, only: list[str] | None = None,
            overrides: list[str] | None = None, paths: int | None = None,
            seed: int | None = None, executor=None,
            progress: Callable[[int, int, str], None] | None = None,
            max_memory: int | None = None):
    """One-at-a-time swings of ``figure``; returns (base value, base se, swings sorted).
    ``max_memory``: as for :func:`simpool.simulate`, for each run."""
    from ..scenario.load import load_scenario

    if not 0 < delta < 1:
        raise UsageError(f"--delta must be in (0, 1), got {delta}")
    base_sc = load_scenario(file, overrides)
    paths = int(paths or base_sc.simulation.paths)
    seed = int(base_sc.simulation.seed if seed is None else seed)
    run = _runner(file, overrides, paths, seed, figure, executor, max_memory)
    f0, se0, b0 = run([])
    all_levers = levers(base_sc)
    if only:
        unknown = [k for k in only if k not in all_levers]
        if unknown:
            raise UsageError(f"not a real-valued lever of this scenario: {', '.join(unknown)}")
        all_levers = {k: all_levers[k] for k in only}
    swings = []
    for i, (key, v) in enumerate(all_levers.items()):
        vals = []
        for x in (v * (1 - delta), v * (1 + delta)):
            try:
                vals.append((x, *run([f"{key}={x!r}"])))
            except ScenarioError:  # outside the key's allowed range: that side is skipped
                vals.append((float("nan"), float("nan"), float("nan"), None))
        swings.append(Swing(key, v, vals[0][0], vals[1][0], vals[0][1], vals[1][1],
                            vals[0][2], vals[1][2], _se_diff(b0, vals[0][3]),
                            _se_diff(b0, vals[1][3])))
        if progress:
            progress(i + 1, len(all_levers), key)
    swings.sort(key=lambda s: -(s.swing if math.isfinite(s.swing) else -1.0))
    return f0, se0, swings


def tornado_table(f0: float, se0: float, swings: list[Swing]):
    import pandas as pd

    return pd.DataFrame([{"lever": s.lever, "value": s.base, "low": s.low, "high": s.high,
                          "figure_base": f0, "se_base": se0, "figure_low": s.f_low,
                          "se_low": s.se_low, "figure_high": s.f_high, "se_high": s.se_high,
                          "se_diff_low": s.se_diff_low, "se_diff_high": s.se_diff_high,
                          "swing": s.swing} for s in swings])


def sobol(file, figure: Figure, keys: list[str], *, delta: float = 0.2, samples: int = 32,
          overrides: list[str] | None = None, paths: int | None = None, seed: int | None = None,
          executor=None, progress: Callable[[int, int, str], None] | None = None,
          max_memory: int | None = None):
    """First-order and total Sobol indices of ``figure`` over ``keys`` (each uniform within
    ±delta of its value), by SALib; returns a DataFrame with confidence intervals."""
    import numpy as np
    import pandas as pd
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    from ..scenario.load import load_scenario

    base_sc = load_scenario(file, overrides)
    values = levers(base_sc)
    unknown = [k for k in keys if k not in values]
    if unknown:
        raise UsageError(f"not a real-valued lever of this scenario: {', '.join(unknown)}")
    if len(keys) < 2:
        raise UsageError("Sobol indices need at least two levers")
    problem = {"num_vars": len(keys), "names": list(keys),
               "bounds": [sorted([values[k] * (1 - delta), values[k] * (1 + delta)]) for k in keys]}
    n = 1 << max(2, int(math.ceil(math.log2(max(samples, 4)))))  # SALib wants a power of 2
    X = sample.sample(problem, n, calc_second_order=False, seed=1)
    paths = int(paths or base_sc.simulation.paths)
    seed = int(base_sc.simulation.seed if seed is None else seed)
    run = _runner(file, overrides, paths, seed, figure, executor, max_memory)
    Y = np.empty(len(X))
    for i, row in enumerate(X):
        try:
            Y[i] = run([f"{k}={float(x)!r}" for k, x in zip(keys, row)])[0]
        except ScenarioError as e:
            raise UsageError(f"a Sobol sample is outside a lever's allowed range ({e}); use a "
                             "smaller --delta") from None
        if progress:
            progress(i + 1, len(X), "sample")
    res = analyze.analyze(problem, Y, calc_second_order=False, seed=1)
    table = pd.DataFrame({"lever": keys, "S1": res["S1"], "S1_conf": res["S1_conf"],
                          "ST": res["ST"], "ST_conf": res["ST_conf"]})
    wide = table[(table.S1_conf > table.S1.abs()) | (table.ST_conf > table.ST.abs())]
    table["too_few_samples"] = table.lever.isin(wide.lever)
    if len(wide):
        import warnings

        from ..errors import SimpoolWarning

        warnings.warn(SimpoolWarning(
            f"Sobol indices of {', '.join(wide.lever)}: the 95% confidence interval is wider "
            f"than the index ({samples} base samples): the sample is too small to rank them; "
            "raise --sobol-samples"), stacklevel=2)
    return table, len(X)
