"""Results of a run: per-path samples and tidy summary tables with standard errors.

``Results.samples(measure, year=None)`` gives one value per path (yuan for losses):
``gross`` (ultimate credit loss booked to the year of default), ``defaults``, ``net``
(claims minus recoveries received), each party of the waterfall (``bank``, ``guarantor``,
``reguarantor``, ``national_fund``, ``government``, ``compensation_pool``, ``insurer``,
``insurance_pool``: net loss in the year the cash moves; they sum to ``net``), one entity
(``guarantor:<name>``, ``bank:<name>``, ``compensation_pool:<name>``, ``insurer:<name>``),
``fiscal`` (NPV of public outflows), ``pending_payments`` and ``pending_recoveries`` (due
after the horizon). Angel funds (FUNDS.md): ``fund:<name>:<figure>`` for every figure of
:data:`simpool.fundkernels.FIGURES` (per path) and ``fund:<name>:gov_cash`` (the
government's net cash out, per calendar year of the fund's life); ``public_cash``: public
money's net outflow per calendar year across the credit programmes' public parties and the
funds' government cash.

``Results.summary()`` is a tidy long table, one row per
(scenario, year, measure, statistic, param) with the estimate and its Monte Carlo standard
error. ``year`` is the calendar year, or missing (``<NA>``) for the whole horizon. Every
statistic uses the importance-sampling weights when the run has them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import stats
from .policy import PARTIES

#: Measures every run provides besides the parties and entities.
BASE_MEASURES = ("gross", "defaults", "net")
_NAN = float("nan")
#: Per-path scalars (no year).
SCALARS = ("fiscal", "pending_payments", "pending_recoveries")
#: Parties whose money is public (the fiscal view).
PUBLIC_PARTIES = ("reguarantor", "national_fund", "government", "compensation_pool",
                  "insurance_pool")


class SummaryRow(NamedTuple):
    """One row of :meth:`Results.summary_rows`: the columns of :meth:`Results.summary`.

    ``year`` is the calendar year, or None for the whole horizon (``<NA>`` in the DataFrame);
    ``param`` is the statistic's parameter (level, threshold; NaN when it has none), ``value``
    and ``se`` the estimate and its Monte Carlo standard error (yuan for money). Fields read
    as attributes or, like a DataFrame row, by name: ``row["value"]``.
    """

    scenario: str
    year: int | None
    measure: str
    statistic: str
    param: float
    value: float
    se: float

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else tuple.__getitem__(self, key)

    @property
    def period(self) -> str:
        """The row's period as tables show it: the year, or "all years"."""
        return "all years" if self.year is None else str(self.year)


class Results:
    """Per-path outputs of :func:`simpool.simulate` and their statistics."""

    def __init__(self, scenario, *, seed: int, paths: int, raw: dict, timing: dict | None = None,
                 n_loans: int = 0, importance: dict | None = None, waterfall=None,
                 moments=None, keep: str = "all"):
        self.scenario = scenario
        self.seed = seed
        self.paths = paths
        self.timing = dict(timing or {})
        self.n_loans = n_loans
        self.importance = importance  # method, target and shift when importance sampling
        self._raw = raw
        self._wf = waterfall
        #: what the run kept per path: "all", or the summary's samples ("summary", plus any
        #: names asked for); the summary's means and probabilities come from block moments
        self.keep = keep
        self._moments = moments  # simpool.moments.Moments of the FeaturePlan, or None
        self._features: FeaturePlan | None = None
        self._estimates: dict | None = None
        logw = raw["logw"]
        self.weights = None if not np.any(logw) else np.exp(logw)

    def _need(self, name: str, what: str) -> np.ndarray:
        """The kept per-path output ``name``, or a KeyError saying how to keep it."""
        try:
            return self._raw[name]
        except KeyError:
            raise KeyError(f"{what}: this run kept only the summary's per-path results "
                           f"(keep={self.keep!r}); simulate with keep='all' or "
                           f"keep=['{name}'] to have them") from None

    # -- names ---------------------------------------------------------------------------
    @property
    def years(self) -> list[int]:
        """Calendar years simulated."""
        return self.scenario.years

    @property
    def parties(self) -> list[str]:
        """The waterfall's parties present in this scenario."""
        wf = self._wf
        if wf is None:
            return ["bank"]
        prods = set(int(p) for p in wf.s_product)
        present = {"bank"}
        if 1 in prods:
            present |= {"guarantor"}
        if prods & {1, 2}:
            present |= {"reguarantor", "national_fund", "government"}
        if len(wf.pool_names) and any(int(p) >= 0 for p in wf.s_pool):
            present.add("compensation_pool")
        if 2 in prods:
            present |= {"insurer", "insurance_pool"}
        return [p for p in PARTIES if p in present]

    @property
    def entities(self) -> list[str]:
        """Named entities, as ``role:name``."""
        return self._wf.entity_names if self._wf is not None else []

    @property
    def funds(self) -> list[str]:
        """Names of the scenario's angel funds."""
        return [f.name for f in self.scenario.funds]

    @property
    def has_credit(self) -> bool:
        """Whether the scenario has a loan portfolio (cohorts or a tape)."""
        return bool(self.scenario.cohorts) or self.scenario.tape is not None

    @property
    def fund_years(self) -> list[int]:
        """Calendar years covered by the funds' lives (empty without funds)."""
        years = set()
        for f in self.scenario.funds:
            years.update(range(f.start_year, f.start_year + f.life_years))
        return sorted(years)

    @property
    def calendar_years(self) -> list[int]:
        """All calendar years with cash flows: the credit horizon and the funds' lives."""
        return sorted(set(self.years if self.has_credit else []) | set(self.fund_years))

    @property
    def measures(self) -> tuple[str, ...]:
        """Names accepted by :meth:`samples`."""
        fund, extra = (), ()
        if self.funds:  # (fundkernels loads numba: only where there are funds)
            from .fundkernels import FIGURES

            fund = tuple(f"fund:{n}:{fig}" for n in self.funds for fig in FIGURES + ("gov_cash",))
            extra = ("public_cash",)
        return (BASE_MEASURES + tuple(self.parties) + tuple(self.entities) + SCALARS + fund
                + extra)

    def _year_index(self, year: int) -> int:
        years = self.years
        if year not in years:
            raise KeyError(f"year {year} was not simulated; years are {years[0]}..{years[-1]}")
        return years.index(year)

    # -- samples -------------------------------------------------------------------------
    def samples(self, measure: str = "gross", year: int | None = None) -> np.ndarray:
        """Per-path values of ``measure``: a (paths,) array (yuan for money).

        Over the whole horizon (``year=None``) or in one calendar ``year``.
        """
        raw = self._raw
        if measure.startswith("fund:") or measure == "public_cash":
            return self._fund_samples(measure, year)
        if measure in SCALARS:
            if year is not None:
                raise KeyError(f"'{measure}' is one figure per path, not per year")
            if measure == "fiscal":
                return raw["fiscal"].copy()
            return raw["pending"][:, 0 if measure == "pending_payments" else 1].copy()
        if measure == "gross":
            a = raw["loss"]
        elif measure == "defaults":
            a = self._need("defaults", "samples of 'defaults'")
        elif measure == "net":
            a = raw["net"]
        elif measure in PARTIES:
            a = raw["party"][:, :, PARTIES.index(measure)]
        elif measure in self.entities:
            a = self._need("entity", f"samples of '{measure}'")[:, :, self.entities.index(measure)]
        else:
            raise KeyError(f"unknown measure '{measure}'; available: {', '.join(self.measures)}")
        if year is None:
            return a.sum(axis=1)
        return a[:, self._year_index(year)].copy()

    def _fund_samples(self, measure: str, year: int | None) -> np.ndarray:
        from .fundkernels import FIGURES

        raw = self._raw
        if measure == "public_cash":
            years = self.calendar_years
            if year is not None and year not in years:
                raise KeyError(f"year {year} has no cash flows; years are {years[0]}..{years[-1]}")
            sel = years if year is None else [year]
            return sum((self._public_cash_in(y) for y in sel), np.zeros(self.paths))
        parts = measure.split(":")
        if len(parts) != 3 or parts[1] not in self.funds:
            raise KeyError(f"unknown measure '{measure}'; funds: {', '.join(self.funds) or 'none'}"
                           "; use fund:<name>:<figure>")
        name, fig = parts[1], parts[2]
        if fig == "gov_cash":
            cash = raw[f"fund:{name}:gov_cash"]
            if year is None:
                return cash.sum(axis=1)
            f = self.scenario.funds[self.funds.index(name)]
            t = year - f.start_year
            if not 0 <= t < f.life_years:
                raise KeyError(f"year {year} is outside fund '{name}' ({f.start_year}.."
                               f"{f.start_year + f.life_years - 1})")
            return cash[:, t].copy()
        if fig not in FIGURES:
            raise KeyError(f"unknown fund figure '{fig}'; figures: {', '.join(FIGURES)}, gov_cash")
        if year is not None:
            raise KeyError(f"'{measure}' is one figure per path, not per year")
        return raw[f"fund:{name}:figures"][:, FIGURES.index(fig)].copy()

    def _public_cash_in(self, year: int) -> np.ndarray:
        """Public money's net outflow in calendar ``year``: credit public parties + funds."""
        total = np.zeros(self.paths)
        if self.has_credit and year in self.years:
            y = self.years.index(year)
            for p in PUBLIC_PARTIES:
                if p in self.parties:
                    total += self._raw["party"][:, y, PARTIES.index(p)]
        for f in self.scenario.funds:
            t = year - f.start_year
            if 0 <= t < f.life_years:
                total += self._raw[f"fund:{f.name}:gov_cash"][:, t]
        return total

    def _fund_rows(self):
        """(year, measure, Estimate) rows of the angel funds and the combined fiscal view."""
        w = self.weights
        rows = []
        levels = self.scenario.report.levels
        for f in self.scenario.funds:
            m = f"fund:{f.name}"

            def fig(name, _f=f):
                return self.samples(f"fund:{_f.name}:{name}")

            tol = float(f.tolerance)
            lr = fig("gov_loss_ratio")
            by_basis = {
                "fund": stats.prob(lr > tol, w),
                "portfolio_weighted": stats.prob(fig("portfolio_loss_ratio") > tol, w),
                "per_project": stats.mean(fig("project_breach_share"), w),
            }
            rows.append((None, m, _named(by_basis[f.tolerance_basis],
                                         f"P(breach, {f.tolerance_basis})", tol)))
            for basis, est in by_basis.items():
                label = ("P(project loss>{:g})" if basis == "per_project"
                         else "P(loss ratio>{:g}, " + basis + ")").format(tol)
                rows.append((None, m, _named(est, label, tol)))
            for est in stats.describe(lr, levels=levels, thresholds=(), weights=w):
                rows.append((None, f"{m}:gov_loss_ratio", est))
            for est in stats.describe(fig("fiscal_cost"), levels=levels, thresholds=(), weights=w):
                rows.append((None, f"{m}:fiscal_cost", est))
            for name, label in (("gov_tvpi", "government TVPI"),
                                ("private_tvpi", "private TVPI"),
                                ("private_tvpi_no_concession", "private TVPI without concession"),
                                ("concession_cost", "concession cost (NPV)"),
                                ("gov_paid_in", "government paid-in"),
                                ("carry", "manager's carry"),
                                ("deals", "deals funded"),
                                ("proceeds", "exit proceeds"),
                                ("first_loss_paid", "first-loss paid")):
                x = fig(name)
                if np.isfinite(x).all():
                    rows.append((None, m, _named(stats.mean(x, w), label)))
            irr_with, irr_without = fig("private_irr"), fig("private_irr_no_concession")
            if np.isfinite(irr_with).all() and np.isfinite(irr_without).all():
                rows.append((None, m, _named(stats.var(irr_with, 0.5, w), "private IRR (median)")))
                rows.append((None, m, _named(stats.var(irr_without, 0.5, w),
                                             "private IRR without concession (median)")))
                rows.append((None, m, _named(stats.mean(irr_with - irr_without, w),
                                             "private IRR uplift (mean)")))
            if f.government_share > 0:
                rows.append((None, m, stats.Estimate("leverage of public money", np.nan,
                                                     1.0 / f.government_share, 0.0)))
            for t in range(f.life_years):
                year = f.start_year + t
                rows.append((year, m, _named(stats.mean(self.samples(f"{m}:gov_cash", year), w),
                                             "government net cash out")))
        if self.scenario.funds:
            for year in [None] + self.calendar_years:
                for est in stats.describe(self.samples("public_cash", year), levels=levels,
                                          thresholds=(), weights=w):
                    rows.append((year, "public_cash", est))
        return rows

    @property
    def n_loans_at_start(self) -> int:
        """Loans on the book at the start (cohorts' first vintages and tape rows)."""
        tape = self.scenario.tape
        return sum(c.loans for c in self.scenario.cohorts) + (len(tape) if tape is not None else 0)

    def pool_balance(self, name: str) -> np.ndarray:
        """Cash of a compensation pool (or ``"insurance_pool"``): (paths, years + 1), yuan,
        at the start of the first year and the end of each year."""
        names = list(self._wf.pool_names) if self._wf is not None else []
        if name == "insurance_pool":
            j = len(names)
        elif name not in names:
            raise KeyError(f"unknown pool '{name}'; pools: {', '.join(names + ['insurance_pool'])}")
        else:
            j = names.index(name)
        return self._need("pool_balance", "pool balances")[:, :, j].copy()

    def pool_depleted(self, name: str) -> np.ndarray:
        """(paths, years) bool: the pool (or ``"insurance_pool"``) left claims unpaid in that
        year or before (unpaid above :meth:`FeaturePlan.shortfall_tolerance`)."""
        names = list(self._wf.pool_names)
        j = len(names) if name == "insurance_pool" else names.index(name)
        unpaid = self._need("pool_unpaid", "pool depletion by path")[:, :, j]
        return np.logical_or.accumulate(unpaid > self._feature_plan().shortfall_tol[j], axis=1)

    def guarantor_net_assets(self, name: str) -> np.ndarray:
        """Net assets of a guarantor (or the ``"reguarantor"``): (paths, years + 1), yuan."""
        names = list(self._wf.guarantor_names)
        if name == "reguarantor":
            j = len(names)
        elif name not in names:
            raise KeyError(f"unknown guarantor '{name}'; guarantors: {', '.join(names)}")
        else:
            j = names.index(name)
        return self._need("guarantor_net_assets", "guarantor net assets")[:, :, j].copy()

    # -- statistics ----------------------------------------------------------------------
    def describe(self, measure: str = "gross", year: int | None = None,
                 levels=None, thresholds=None) -> list[stats.Estimate]:
        """Estimates (EL, std, VaR, ES, exceedance) of one measure, with standard errors."""
        rep = self.scenario.report
        levels = rep.levels if levels is None else levels
        thresholds = rep.exceedance if thresholds is None else thresholds
        return stats.describe(self.samples(measure, year).astype(float), levels=levels,
                              thresholds=thresholds, weights=self.weights)

    def _feature_plan(self) -> "FeaturePlan":
        if self._features is None:
            self._features = FeaturePlan(self.scenario, self._wf, self.n_loans_at_start)
        return self._features

    def _feature_estimates(self) -> dict[tuple, tuple[float, float, bool]]:
        """{feature key: (value, SE, finite)} of the mean-type figures (:class:`FeaturePlan`),
        from the streamed block moments, or from the kept paths when there are none."""
        if self._estimates is None:
            plan = self._feature_plan()
            mom = self._moments
            if mom is None:
                mom = plan.moments_of(self._raw)
                self._moments = mom
            self._estimates = dict(zip(plan.keys, mom.estimates()))
        return self._estimates

    def _feature_rows(self, keys) -> list:
        """(year, measure, Estimate) rows of the given feature keys, skipping a figure whose
        gate (a quantity that must be finite on every path) is not."""
        est = self._feature_estimates()
        plan = self._feature_plan()
        rows = []
        for key in keys:
            gate = plan.gates.get(key)
            if gate is not None and not est[gate][2]:
                continue
            value, se, finite = est[key]
            if not finite:
                raise ValueError(f"{key[1]} {key[2]} ({key[0] or 'all years'}): NaN or infinite "
                                 "values on some paths")
            year, measure, statistic, param, _ = key
            rows.append((year, measure, stats.Estimate(statistic, param, value, se)))
        return rows

    def figure(self, measure: str, statistic: str, year: int | None = None) -> tuple[float, float]:
        """(value, SE) of one of the summary's mean-type figures (a pool's
        ``P(depleted by year)``, a guarantor's ``net assets (end of year)``, ...)."""
        for key, (value, se, _) in self._feature_estimates().items():
            if key[0] == year and key[1] == measure and key[2] == statistic:
                return value, se
        raise KeyError(f"no figure {measure} / {statistic} / {year}")

    def unpaid_totals(self) -> np.ndarray:
        """(paths, pools + 1): each compensation pool's (and the insurance pool's) claims left
        unpaid over the horizon, yuan."""
        raw = self._raw
        if "pool_unpaid_total" in raw:
            return raw["pool_unpaid_total"]
        return self._need("pool_unpaid", "unpaid claims").sum(axis=1)

    def _policy_rows(self):
        """(year, measure, Estimate) rows of pools, guarantors, banks and public money."""
        wf = self._wf
        w = self.weights
        plan = self._feature_plan()
        rows = []
        target = self.scenario.report.depletion_target
        totals = None
        for section in plan.sections:
            rows.extend(self._feature_rows(section.keys))
            if section.pool is not None and target > 0:
                if totals is None:
                    totals = self.unpaid_totals()
                top_up = stats.var(totals[:, section.pool], 1.0 - target, w)
                rows.append((None, section.measure,
                             stats.Estimate(f"top-up for P(depleted)<={target:g}", target,
                                            top_up.value, top_up.se)))
        fiscal = self.samples("fiscal")
        rows.append((None, "fiscal", _named(stats.mean(fiscal, w), "NPV")))
        volume = float(np.sum(wf.s_balance0[wf.s_product > 0]))
        if volume > 0:
            rows.append((None, "fiscal", _named(stats.mean(fiscal / volume, w), "subsidy rate")))
        public = float(np.sum(wf.p_cash0)) + (wf.ip_cash0 if "insurance_pool" in self.parties else 0.0)
        if wf.gov_cash0 < 1e299 and "government" in self.parties:
            public += wf.gov_cash0
        if public > 0:
            loans = float(np.sum(wf.s_balance0))
            rows.append((None, "fiscal", stats.Estimate("loans per yuan of public money", np.nan,
                                                         loans / public, 0.0)))
        return rows

    def contributions(self, measure: str = "gross", level: float = 0.99, by: str = "segment",
                      event: str = "tail"):
        """Risk contributions: which cohort, sector or product drives a party's tail
        (``event="tail"``, Euler allocation of gross loss over the tail paths of ``measure``)
        or a pool's depletion (``event="pool:<name>"``). See :mod:`simpool.contributions`."""
        from .contributions import contributions

        return contributions(self, measure=measure, level=level, by=by, event=event)

    def summary_rows(self) -> list[SummaryRow]:
        """The rows of :meth:`summary` as :class:`SummaryRow` tuples, without pandas (the
        command line writes summary.csv from these; importing pandas costs a third of a
        second)."""
        rows = []
        periods = [None] + (self.years if len(self.years) > 1 else [])
        credit = self.has_credit
        for year in periods if credit else []:
            for est in self.describe("gross", year):
                rows.append((year, "gross", est))
            if self._wf is not None:
                (_, _, est), = self._feature_rows([FeaturePlan.defaults_key(year)])
            else:
                est = stats.mean(self.samples("defaults", year).astype(float), self.weights)
            rows.append((year, "defaults", est))
        if self._wf is not None and credit:
            levels = self.scenario.report.levels
            for year in periods:
                for m in ["net"] + self.parties:
                    for est in stats.describe(self.samples(m, year), levels=levels, thresholds=(),
                                              weights=self.weights):
                        rows.append((year, m, est))
            rows.extend(self._policy_rows())
        rows.extend(self._fund_rows())
        name = self.scenario.name
        return [SummaryRow(name, None if y is None else int(y), m, e.statistic, float(e.param),
                           float(e.value), float(e.se)) for y, m, e in rows]

    def summary(self):
        """Tidy pandas DataFrame: scenario, year, measure, statistic, param, value, se
        (:meth:`summary_rows` as a table; ``year`` is a nullable integer, ``<NA>`` for the
        whole horizon)."""
        import pandas as pd

        rows = self.summary_rows()
        return pd.DataFrame({
            "scenario": self.scenario.name,
            "year": pd.array([r.year if r.year is not None else pd.NA for r in rows], dtype="Int64"),
            "measure": [r.measure for r in rows],
            "statistic": [r.statistic for r in rows],
            "param": np.array([r.param for r in rows], dtype=float),
            "value": np.array([r.value for r in rows], dtype=float),
            "se": np.array([r.se for r in rows], dtype=float),
        })

    def _repr_html_(self) -> str:
        """A notebook's view: the run and its headline figures with standard errors."""
        import html

        from .report import _fmt, headline_rows

        e = html.escape
        years = self.calendar_years
        rows = [f"<p><b>{e(self.scenario.title or self.scenario.name)}</b>: {self.paths:,} paths, "
                f"seed {self.seed}, years {years[0]}&ndash;{years[-1]}</p>",
                "<table><thead><tr><th style='text-align:left'>period</th>"
                "<th style='text-align:left'>measure</th><th style='text-align:left'>statistic</th>"
                "<th>value</th><th>&plusmn; se</th></tr></thead><tbody>"]
        for r in headline_rows(self, self.summary_rows()):
            period = r.period
            st = r["statistic"] + (f" {r['param']:g}" if r["statistic"] in ("VaR", "ES") else "")
            rows.append(f"<tr><td style='text-align:left'>{period}</td>"
                        f"<td style='text-align:left'>{e(r['measure'])}</td>"
                        f"<td style='text-align:left'>{e(st)}</td>"
                        f"<td>{_fmt(r['value'], r['statistic'], r['measure'])}</td>"
                        f"<td>{_fmt(r['se'], r['statistic'], r['measure'])}</td></tr>")
        rows.append("</tbody></table><p><i>res.summary()</i> holds every year and statistic.</p>")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return (f"<Results {self.scenario.name}: {self.paths:,} paths, seed {self.seed}, "
                f"years {self.years[0]}-{self.years[-1]}>")


class _Section(NamedTuple):
    """Consecutive rows of the summary: feature keys, then (for a pool) its top-up row."""

    measure: str
    keys: list
    pool: int | None = None  # pool column of the top-up row that follows, if any


class FeaturePlan:
    """The per-path quantities behind the summary's means and probabilities.

    Each quantity is a column of :meth:`values`, computed from a chunk's per-path outputs;
    its key is the summary row it becomes, ``(year, measure, statistic, param, kind)`` with
    ``kind`` ``"mean"`` or ``"prob"`` (an indicator). The engine reduces the columns chunk by
    chunk to block moments (:mod:`simpool.moments`), so a run need not keep the outputs they
    come from; a run that kept them gives the same numbers (:meth:`moments_of`). Built from
    the scenario and the waterfall plan alone (never from the paths), so that every chunk
    computes the same columns. ``gates``: rows shown only when another quantity is finite on
    every path (a guarantor's leverage, the borrower count).
    """

    def __init__(self, scenario, wf, n_loans_at_start: int):
        # plain values only: the plan goes to every worker with the chunks
        self.years = list(scenario.years)
        self.start = float(n_loans_at_start)
        prods = set(int(p) for p in wf.s_product)
        self.has_nf = bool(prods & {1, 2})
        self.has_ipool = 2 in prods
        rep = scenario.report
        self.gb_year = rep.guarantee_balance_year
        self.gb_target = float(rep.guarantee_balance_target)
        self.borrower_target = float(rep.borrower_growth_target)
        self.guaranteed = bool((wf.s_product == 1).any())
        self.pool_names = list(wf.pool_names)
        self.pool_levels = [(p.warn_npl, p.stop_npl) for p in scenario.pools]
        self.guarantor_names = list(wf.guarantor_names)
        self.g_caps = [float(g.leverage_cap) for g in scenario.guarantors]
        self.bank_names = list(wf.bank_names)
        self.bank_tolerance = [float(t) for t in wf.bk_tolerance]
        self.nf_cap = float(scenario.policy.national_fund_payout_cap)
        cash0 = [float(c) for c in wf.p_cash0] + [float(wf.ip_cash0)]
        #: unpaid claims above this (yuan, per pool and the insurance pool) make a pool
        #: depleted: a billionth of its starting cash (at least 1e-9 yuan), far above rounding
        self.shortfall_tol = np.array([1e-9 * max(1.0, c) for c in cash0])
        self.keys: list[tuple] = []
        self.gates: dict[tuple, tuple] = {}
        self.sections: list[_Section] = []
        self.default_keys = [self.defaults_key(y) for y in self._periods()]
        self.keys.extend(self.default_keys)
        self._layout(None)
        self.is_prob = np.array([k[4] == "prob" for k in self.keys], bool)

    @staticmethod
    def defaults_key(year) -> tuple:
        return (year, "defaults", "mean", _NAN, "mean")

    def _periods(self) -> list:
        return [None] + (self.years if len(self.years) > 1 else [])

    @property
    def n_features(self) -> int:
        return len(self.keys)

    def _layout(self, raw, w=None):
        """With ``raw`` None: record the keys and sections. With a chunk's outputs: return
        its (paths, features) matrix, columns in key order."""
        cols: list = []
        years = self.years
        building = raw is None

        def emit(section, year, measure, statistic, param, kind, fn, gate=None):
            key = (year, measure, statistic, param, kind)
            if building:
                section.keys.append(key)
                self.keys.append(key)
                if gate is not None:
                    self.gates[key] = gate
            else:
                cols.append(fn())
            return key

        def section(measure, pool=None):
            sec = _Section(measure, [], pool)
            if building:
                self.sections.append(sec)
            return sec

        if not building:
            d = raw["defaults"]
            for year in self._periods():
                cols.append((d.sum(axis=1) if year is None else d[:, years.index(year)])
                            .astype(np.float64))
        nan = _NAN
        names = self.pool_names + (["insurance_pool"] if self.has_ipool else [])
        for j, name in enumerate(names):
            m = f"pool:{name}"
            sec = section(m, pool=j)
            levels = self.pool_levels[j] if j < len(self.pool_names) else None
            if not building:
                unpaid = raw["pool_unpaid"][:, :, j]
                short = unpaid > self.shortfall_tol[j]
                depleted_by = np.logical_or.accumulate(short, axis=1)
                first = np.where(short.any(axis=1), short.argmax(axis=1), -1)
            for y, year in enumerate(years):
                if levels is not None:
                    for lvl, label in zip(levels, ("warn", "stop")):
                        if lvl is not None:
                            emit(sec, year, m, f"P(NPL>{lvl:g}, {label})", float(lvl), "prob",
                                 lambda: raw["pool_npl"][:, y, j] > lvl)
                    emit(sec, year, m, "P(suspended)", nan, "mean",
                         lambda: raw["pool_suspended"][:, y, j])
                emit(sec, year, m, "P(depleted by year)", nan, "prob", lambda: depleted_by[:, y])
                emit(sec, year, m, "P(exhausted in year)", nan, "prob", lambda: first == y)
                emit(sec, year, m, "unpaid claims", nan, "mean", lambda: unpaid[:, y])
                emit(sec, year, m, "balance (end of year)", nan, "mean",
                     lambda: raw["pool_balance"][:, y + 1, j])
        for g, name in enumerate(self.guarantor_names):
            m = f"guarantor:{name}"
            sec = section(m)
            cap = self.g_caps[g]
            if not building:
                na_all = raw["guarantor_net_assets"][:, :, g]
                # insolvent by the end of year y: net assets <= 0 at the start (the waterfall
                # then moves the guarantor's share to the bank) or at any year end since
                insolvent_by = np.logical_or.accumulate(na_all <= 0.0, axis=1)[:, 1:]
                lev = raw["guarantor_leverage"][:, :, g]
            for y, year in enumerate(years):
                emit(sec, year, m, "P(insolvent by year)", nan, "prob", lambda: insolvent_by[:, y])
                emit(sec, year, m, "net assets (end of year)", nan, "mean", lambda: na_all[:, y + 1])
                lev_key = (year, m, "leverage", nan, "mean")
                emit(sec, year, m, "leverage", nan, "mean", lambda: lev[:, y], gate=lev_key)

                def rate(y=y):
                    gb = raw["guarantor_balance"][:, y, g]
                    paid = raw["entity"][:, y, len(self.bank_names) + g]
                    return np.divide(paid, gb, out=np.zeros_like(paid), where=gb > 0)

                emit(sec, year, m, "net payout rate", nan, "mean", rate)
                emit(sec, year, m, f"P(leverage>{cap:g})", cap, "prob", lambda: lev[:, y] > cap)
        for b, name in enumerate(self.bank_names):
            m = f"bank:{name}"
            sec = section(m)
            tol = self.bank_tolerance[b]
            for y, year in enumerate(years):
                emit(sec, year, m, f"P(NPL>{tol:g})", tol, "prob", lambda: raw["npl"][:, y, b] > tol)
        if self.has_nf:
            sec = section("national_fund")
            cap = self.nf_cap
            for y, year in enumerate(years):
                emit(sec, year, "national_fund", f"P(payout rate>{cap:g})", cap, "prob",
                     lambda: raw["nf_payout_rate"][:, y] > cap)
        if self.gb_year in years:
            y = years.index(self.gb_year)
            if self.guaranteed:
                sec = section("guarantee_balance")
                target = self.gb_target
                emit(sec, self.gb_year, "guarantee_balance", "end of year", nan, "mean",
                     lambda: raw["guarantee_balance_end"][:, y])
                emit(sec, self.gb_year, "guarantee_balance", f"P(>= {target:g})", target, "prob",
                     lambda: raw["guarantee_balance_end"][:, y] >= target)
            if self.start > 0:
                sec = section("borrowers")
                goal = (1.0 + self.borrower_target) * self.start
                gate = (self.gb_year, "borrowers", "end of year", nan, "mean")
                emit(sec, self.gb_year, "borrowers", "end of year", nan, "mean",
                     lambda: raw["loans_outstanding"][:, y], gate=gate)
                emit(sec, self.gb_year, "borrowers",
                     f"P(>= {1 + self.borrower_target:g} x start)", goal, "prob",
                     lambda: raw["loans_outstanding"][:, y] >= goal, gate=gate)
        if building:
            return None
        n = len(raw["logw"])
        out = np.empty((n, len(cols)))
        for j, c in enumerate(cols):
            out[:, j] = c
        return out

    #: the per-path outputs :meth:`values` reads
    SOURCES = ("defaults", "pool_unpaid", "pool_npl", "pool_suspended", "pool_balance",
               "guarantor_net_assets", "guarantor_leverage", "guarantor_balance", "entity", "npl",
               "nf_payout_rate", "guarantee_balance_end", "loans_outstanding")

    def values(self, raw: dict) -> np.ndarray:
        """(paths, features): every quantity of the plan for the paths of ``raw``."""
        return self._layout(raw)

    def moments_of(self, raw: dict):
        """Block moments of the quantities over the paths of ``raw`` (a whole run or a part
        of one), blocks counted from its first path, in slices of whole blocks."""
        from .moments import BLOCK, MomentStore, chunk_moments

        n = len(raw["logw"])
        store = MomentStore(self.n_features, self.is_prob, n)
        step = BLOCK * max(1, (64 * 2**20) // (BLOCK * 8 * max(1, self.n_features)))
        w = np.exp(raw["logw"])
        for p0 in range(0, n, step):
            part = {k: raw[k][p0:p0 + step] for k in self.SOURCES + ("logw",) if k in raw}
            store.add(chunk_moments(p0, self.values(part), w[p0:p0 + step], self.is_prob))
        return store.moments(n)


#: The per-path outputs the summary reads as samples (VaR and ES need every path); its
#: means and probabilities come from the FeaturePlan's block moments instead.
SUMMARY_SAMPLES = ("loss", "net", "party", "logw", "fiscal", "pending", "pool_unpaid_total")
#: ... and of each fund: its figures and the government's cash per year.
FUND_SAMPLES = ("figures", "gov_cash")
#: Shorthand accepted by ``keep``: the four per-segment arrays.
KEEP_ALIASES = {"segments": ("segment_ead", "segment_loss", "segment_balance",
                             "segment_balance_end")}


def summary_outputs(fund_names) -> tuple[str, ...]:
    """The outputs ``keep="summary"`` keeps (:data:`SUMMARY_SAMPLES`, the funds' samples)."""
    return SUMMARY_SAMPLES + tuple(f"fund:{n}:{x}" for n in fund_names for x in FUND_SAMPLES)


def keep_outputs(keep, shapes: dict, fund_names) -> tuple[tuple[str, ...], str]:
    """The outputs a run keeps per path, and the label of that choice.

    ``keep``: ``"all"`` (every output of :func:`simpool.engine.output_shapes`), ``"summary"``
    (only what :meth:`Results.summary` needs) or names of outputs to keep besides the
    summary's (``"segments"`` for the four per-segment arrays). ValueError for an unknown name.
    """
    summary = summary_outputs(fund_names)
    if isinstance(keep, str) and keep == "all":
        return tuple(shapes) + ("pool_unpaid_total",), "all"
    if isinstance(keep, str) and keep == "summary":
        return summary, "summary"
    if isinstance(keep, str):
        raise ValueError(f"keep must be 'all', 'summary' or a list of outputs, got {keep!r}")
    names = []
    known = set(shapes) | set(summary) | set(KEEP_ALIASES)
    for name in keep:
        if name not in known:
            raise ValueError(f"keep: unknown output {name!r}; outputs: "
                             f"{', '.join(sorted(set(shapes) | set(KEEP_ALIASES)))}")
        names.extend(KEEP_ALIASES.get(name, (name,)))
    return summary + tuple(n for n in dict.fromkeys(names) if n not in summary), \
        "summary+" + ",".join(dict.fromkeys(keep))


class Reducer:
    """What a chunk's worker sends back (:func:`simpool.engine.run_chunk`): the outputs the
    run keeps and the chunk's share of the :class:`FeaturePlan`'s block moments. Small and
    picklable: it travels with every chunk."""

    def __init__(self, features: FeaturePlan, keep: tuple[str, ...]):
        self.features = features
        self.keep = tuple(keep)
        #: bytes a path costs on top of the chunk's outputs: the feature matrix and the
        #: kept copy (for the chunk-size cap)
        self.bytes_per_path = 8 * (features.n_features + 2)

    def __call__(self, out: dict, path0: int) -> dict:
        from .moments import chunk_moments

        kept = {k: out[k] for k in self.keep if k in out}
        if "pool_unpaid_total" in self.keep:
            kept["pool_unpaid_total"] = out["pool_unpaid"].sum(axis=1)
        x = self.features.values(out)
        moments = chunk_moments(path0, x, np.exp(out["logw"]), self.features.is_prob)
        return {"kept": kept, "moments": moments}


def _named(est: stats.Estimate, statistic: str, param: float = float("nan")) -> stats.Estimate:
    return stats.Estimate(statistic, param, est.value, est.se)
