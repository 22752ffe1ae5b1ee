"""Results of a run: per-path samples and tidy summary tables with standard errors.

``Results.samples(measure, year=None)`` gives one value per path (yuan for losses).
``Results.summary()`` is a tidy long table, one row per
(scenario, year, measure, statistic, param) with the estimate and its Monte Carlo standard
error. ``year`` is the calendar year, or missing (``<NA>``) for the whole horizon.
"""

from __future__ import annotations

import numpy as np

from . import stats

#: Measures every run provides.
MEASURES = ("gross", "defaults")


class Results:
    """Per-path outputs of :func:`simpool.simulate` and their statistics."""

    def __init__(self, scenario, *, seed: int, paths: int, raw: dict, timing: dict | None = None,
                 n_loans: int = 0, importance: dict | None = None):
        self.scenario = scenario
        self.seed = seed
        self.paths = paths
        self.timing = dict(timing or {})
        self.n_loans = n_loans
        self.importance = importance  # method, target and shift when importance sampling
        self._raw = raw
        logw = raw["logw"]
        self.weights = None if not np.any(logw) else np.exp(logw)

    # -- samples -------------------------------------------------------------------------
    @property
    def years(self) -> list[int]:
        """Calendar years simulated."""
        return self.scenario.years

    @property
    def measures(self) -> tuple[str, ...]:
        """Names accepted by :meth:`samples`."""
        return MEASURES

    def _year_index(self, year: int) -> int:
        years = self.years
        if year not in years:
            raise KeyError(f"year {year} was not simulated; years are {years[0]}..{years[-1]}")
        return years.index(year)

    def samples(self, measure: str = "gross", year: int | None = None) -> np.ndarray:
        """Per-path values of ``measure``: (paths,) array.

        ``gross``: credit loss (sum of exposure x LGD of defaulted loans), yuan, over the
        whole horizon or in calendar ``year``. ``defaults``: number of defaults.
        """
        if measure == "gross":
            a = self._raw["loss"]
        elif measure == "defaults":
            a = self._raw["defaults"]
        else:
            raise KeyError(f"unknown measure '{measure}'; available: {', '.join(self.measures)}")
        if year is None:
            return a.sum(axis=1) if a.shape[1] > 1 else a[:, 0].copy()
        return a[:, self._year_index(year)].copy()

    # -- statistics ----------------------------------------------------------------------
    def describe(self, measure: str = "gross", year: int | None = None,
                 levels=None, thresholds=None) -> list[stats.Estimate]:
        """Estimates (EL, std, VaR, ES, exceedance) of one measure, with standard errors."""
        rep = self.scenario.report
        levels = rep.levels if levels is None else levels
        thresholds = rep.exceedance if thresholds is None else thresholds
        return stats.describe(self.samples(measure, year).astype(float), levels=levels,
                              thresholds=thresholds, weights=self.weights)

    def summary(self):
        """Tidy pandas DataFrame: scenario, year, measure, statistic, param, value, se."""
        import pandas as pd

        rows = []
        periods = [None] + (self.years if len(self.years) > 1 else [])
        for year in periods:
            for est in self.describe("gross", year):
                rows.append((year, "gross", est))
            d = self.samples("defaults", year).astype(float)
            rows.append((year, "defaults", stats.mean(d, self.weights)))
        df = pd.DataFrame({
            "scenario": self.scenario.name,
            "year": pd.array([y if y is not None else pd.NA for y, _, _ in rows], dtype="Int64"),
            "measure": [m for _, m, _ in rows],
            "statistic": [e.statistic for _, _, e in rows],
            "param": [e.param for _, _, e in rows],
            "value": [e.value for _, _, e in rows],
            "se": [e.se for _, _, e in rows],
        })
        return df

    def __repr__(self) -> str:
        return (f"<Results {self.scenario.name}: {self.paths:,} paths, seed {self.seed}, "
                f"years {self.years[0]}-{self.years[-1]}>")
