"""Results of a run: per-path samples and tidy summary tables with standard errors.

``Results.samples(measure, year=None, basis="cash", product=None)`` gives one value per path
(yuan for losses): ``gross`` (ultimate credit loss booked to the year of default),
``defaults``, ``net``, each party of the waterfall (``bank``, ``guarantor``, ``reguarantor``,
``national_fund``, ``government``, ``compensation_pool``, ``insurer``, ``insurance_pool``),
one entity (``guarantor:<name>``, ``bank:<name>``, ``compensation_pool:<name>``,
``insurer:<name>``), ``pending_payments`` and ``pending_recoveries`` (due after the
horizon), and public money from the ledger (:mod:`simpool.analysis.ledger`):
``fiscal`` (budget money) and ``public_money`` (budget money and state-owned capital), each
also per level as ``fiscal:<level>``, ``public_money:<level>``: cash per calendar year,
outlays positive, summed over the years with ``year=None`` (undiscounted; the NPV is
:meth:`Results.fiscal_npv`). A party's loss has two bases:

* ``basis="cash"``: what it paid for credit losses minus what it received, in the year the
  cash moves, within the horizon (claims and recoveries after the horizon are missing: see
  ``pending_*``); the parties' cash sums to ``net``;
* ``basis="ultimate"``: what it finally bears of the defaults of each year (claims and
  recoveries still pending at the horizon allocated by its final share), booked to the year
  of default; the parties' ultimate losses sum to ``gross`` in every path.

``product`` (``guaranteed``, ``insured``, ``credit``) restricts a party's loss (and ``gross``,
``net``) to one programme. Party losses are credit losses only: fees, subsidies and fund flows
are not in them.

Angel funds (FUNDS.md): ``fund:<name>:<figure>`` for every figure of
:data:`simpool.engine.fundkernels.FIGURES` (per path) and ``fund:<name>:gov_cash`` (the
government's net cash out, per calendar year of the fund's life); ``public_cash``: the same
as ``public_money`` (all public money, per calendar year).

``Results.summary()`` is a tidy long table, one row per
(scenario, year, measure, product, basis, statistic, param) with the estimate and its Monte
Carlo standard error. ``year`` is the calendar year, or missing (``<NA>``) for the whole
horizon; ``product`` is empty for all programmes together; ``basis`` is ``cash`` or
``ultimate`` for losses (``gross`` is ultimate by definition) and empty for figures that are
not losses (probabilities, balances, ratios). Every statistic uses the importance-sampling
weights when the run has them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .stats import Estimate, describe, es, mean, named as _named, prob, ratio, var
from .features import FeaturePlan
from ..scenario.policy import PARTIES
from ..scenario.public import LEVELS as LEVELS_ORDER

#: Measures every run provides besides the parties and entities.
BASE_MEASURES = ("gross", "defaults", "net")
#: Per-path scalars (no year).
SCALARS = ("pending_payments", "pending_recoveries")
#: Public money's measures (:meth:`Results.samples`): budget money, and all public money.
PUBLIC_MEASURES = {"fiscal": "budget", "public_money": None}
#: Levels of the budget at risk in the public-money rows.
PUBLIC_LEVELS = (0.95, 0.99)
#: Bases of a party's loss (:meth:`Results.samples`).
BASES = ("cash", "ultimate")
#: Programmes, in the order of the engine's product codes.
PRODUCTS = ("credit", "guaranteed", "insured")
#: The parties that take part in each programme (by the routes' rules: POLICY.md).
PRODUCT_PARTIES = {
    "guaranteed": ("bank", "guarantor", "reguarantor", "national_fund", "government"),
    "insured": ("bank", "insurer", "insurance_pool"),
    "credit": ("bank", "compensation_pool"),
}


class SummaryRow(NamedTuple):
    """One row of :meth:`Results.summary_rows`: the columns of :meth:`Results.summary`.

    ``year`` is the calendar year, or None for the whole horizon (``<NA>`` in the DataFrame);
    ``product`` the programme ("" for all), ``basis`` "cash" or "ultimate" for a loss ("" for
    a figure that is not one); ``param`` is the statistic's parameter (level, threshold; NaN when it has none), ``value``
    and ``se`` the estimate and its Monte Carlo standard error (yuan for money). Fields read
    as attributes or, like a DataFrame row, by name: ``row["value"]``.
    """

    scenario: str
    year: int | None
    measure: str
    product: str
    basis: str
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
        self._moments = moments  # simpool.engine.moments.Moments of the FeaturePlan, or None
        self._features: FeaturePlan | None = None
        self._ledger = None
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
        present = set()
        for prod in self.products:
            present |= set(PRODUCT_PARTIES[prod])
        if not (len(wf.pool_names) and any(int(p) >= 0 for p in wf.routes.pool)):
            present.discard("compensation_pool")
        present.add("bank")
        return [p for p in PARTIES if p in present]

    @property
    def products(self) -> list[str]:
        """The programmes present in this scenario (``credit``, ``guaranteed``, ``insured``)."""
        if self._wf is None:
            return ["credit"]
        codes = set(int(p) for p in self._wf.routes.product)
        return [name for code, name in enumerate(PRODUCTS) if code in codes]

    def product_parties(self, product: str) -> list[str]:
        """The parties that take part in ``product``'s losses in this scenario."""
        return [p for p in PRODUCT_PARTIES[product] if p in self.parties]

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
    def guidance_funds(self) -> list[str]:
        """Names of the scenario's guidance funds (funds of funds)."""
        return [g.name for g in self.scenario.guidance_funds]

    @property
    def fund_years(self) -> list[int]:
        """Calendar years covered by the funds' and sub-funds' lives (empty without funds)."""
        years = set()
        for _, f in self.scenario.deal_funds():
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
            from ..engine.fundkernels import FIGURES

            fund = tuple(f"fund:{n}:{fig}" for n in self.funds for fig in FIGURES + ("gov_cash",))
            extra = ("public_cash",)
        if self.guidance_funds:
            from ..engine.fofkernels import SUB_FIGURES
            from .guidance import GUIDANCE_FIGURES

            for g in self.scenario.guidance_funds:
                fund += tuple(f"fund:{g.name}:sub:{s.name}:{fig}" for s in g.sub_funds
                              for fig in SUB_FIGURES)
                fund += tuple(f"fund:{g.name}:provincial:{fig}"
                              for fig in GUIDANCE_FIGURES + ("cash",))
            extra = ("public_cash",)
        public = tuple(f"{m}{sfx}" for m in PUBLIC_MEASURES
                       for sfx in [""] + [f":{lv}" for lv in self.fiscal_levels])
        return (BASE_MEASURES + tuple(self.parties) + tuple(self.entities) + SCALARS + public
                + fund + extra)

    def _year_index(self, year: int) -> int:
        years = self.years
        if year not in years:
            raise KeyError(f"year {year} was not simulated; years are {years[0]}..{years[-1]}")
        return years.index(year)

    # -- samples -------------------------------------------------------------------------
    def samples(self, measure: str = "gross", year: int | None = None, basis: str = "cash",
                product: str | None = None) -> np.ndarray:
        """Per-path values of ``measure``: a (paths,) array (yuan for money).

        Over the whole horizon (``year=None``) or in one calendar ``year``. ``basis``
        (``"cash"``, the default, or ``"ultimate"``) and ``product`` (``"guaranteed"``,
        ``"insured"``, ``"credit"``; None for all) apply to losses: the parties, the entities
        (basis only), ``net`` and ``gross`` (see the module's docstring).
        ``samples("bank", product="guaranteed", basis="ultimate")`` is the bank's share of the
        guaranteed loans' losses, as the 4222 split reads it.
        """
        raw = self._raw
        if basis not in BASES:
            raise KeyError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
        if product is not None and product not in PRODUCTS:
            raise KeyError(f"product must be one of {', '.join(PRODUCTS)} (or None for all), "
                           f"got {product!r}")
        if product is not None and measure not in ("gross", "net") + PARTIES:
            raise KeyError(f"'{measure}' has no figure by product; by product: gross, net and "
                           "the parties")
        if measure.split(":")[0] in PUBLIC_MEASURES or measure == "public_cash":
            kind, _, level = measure.partition(":")
            return self.fiscal(level=level or None, year=year, basis=basis,
                               kind=PUBLIC_MEASURES.get(kind))
        if measure.startswith("fund:"):
            return self._fund_samples(measure, year)
        if measure in SCALARS:
            if year is not None:
                raise KeyError(f"'{measure}' is one figure per path, not per year")
            return raw["pending"][:, 0 if measure == "pending_payments" else 1].copy()
        if product is not None:
            return self._product_samples(measure, year, basis, PRODUCTS.index(product))
        if measure == "gross":
            a = raw["loss"]
        elif measure == "defaults":
            a = self._need("defaults", "samples of 'defaults'")
        elif measure == "net":
            a = raw["net"] if basis == "cash" else raw["loss"]
        elif measure in PARTIES:
            a = raw["party"] if basis == "cash" else self._need(
                "party_ultimate", f"ultimate samples of '{measure}'")
            a = a[:, :, PARTIES.index(measure)]
        elif measure in self.entities:
            name = "entity" if basis == "cash" else "entity_ultimate"
            a = self._need(name, f"{basis} samples of '{measure}'")[:, :, self.entities.index(measure)]
        else:
            raise KeyError(f"unknown measure '{measure}'; available: {', '.join(self.measures)}")
        if year is None:
            return a.sum(axis=1)
        return a[:, self._year_index(year)].copy()

    def _product_samples(self, measure: str, year: int | None, basis: str, prod: int):
        """A party's loss (or gross, net) on one programme."""
        if measure == "gross" or (measure == "net" and basis == "ultimate"):
            # the product's parties' ultimate losses sum to its gross loss
            return self._by_party(year, 1, prod).sum(axis=1)
        a = self._by_party(year, BASES.index(basis), prod)
        return a.sum(axis=1) if measure == "net" else a[:, PARTIES.index(measure)].copy()

    def _by_party(self, year: int | None, b: int, prod: int) -> np.ndarray:
        """(paths, parties): losses on basis ``b`` and product ``prod``, from
        ``product_party`` (per year) or its horizon total (kept with the summary)."""
        raw = self._raw
        if year is None and "product_party_total" in raw:
            return raw["product_party_total"][:, b, prod, :]
        a = self._need("product_party", "samples by product")[:, :, b, prod, :]
        return a.sum(axis=1) if year is None else a[:, self._year_index(year)]

    def _fund_samples(self, measure: str, year: int | None) -> np.ndarray:
        from ..engine.fundkernels import FIGURES

        raw = self._raw
        parts = measure.split(":")
        if len(parts) > 1 and parts[1] in self.guidance_funds:
            return self._guidance_samples(parts, year)
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

    def _guidance_samples(self, parts: list[str], year: int | None) -> np.ndarray:
        """``fund:<guidance>:sub:<sub-fund>:<figure>`` or ``fund:<guidance>:provincial:<figure>``
        (``cash``: its net cash out, by ``year`` or over its life)."""
        from ..engine.fofkernels import SUB_FIGURES
        from . import guidance as gd

        g = parts[1]
        gf = gd._guidance(self, g)
        if len(parts) == 5 and parts[2] == "sub" and parts[4] in SUB_FIGURES:
            if parts[3] not in [s.name for s in gf.sub_funds]:
                raise KeyError(f"unknown sub-fund '{parts[3]}' of '{g}'; sub-funds: "
                               f"{', '.join(s.name for s in gf.sub_funds)}")
            if year is not None:
                raise KeyError(f"'{':'.join(parts)}' is one figure per path, not per year")
            return gd._fig(self, g, parts[3], parts[4]).copy()
        if len(parts) == 4 and parts[2] == "provincial":
            if parts[3] == "cash":
                cash = gd.guidance_cash(self, g)
                if year is None:
                    return cash.sum(axis=1)
                t = year - gf.sub_funds[0].start_year
                if not 0 <= t < cash.shape[1]:
                    raise KeyError(f"year {year} is outside guidance fund '{g}''s life")
                return cash[:, t].copy()
            if year is not None:
                raise KeyError(f"'{':'.join(parts)}' is one figure per path, not per year")
            return gd.guidance_samples(self, g, parts[3])
        raise KeyError(f"unknown measure '{':'.join(parts)}'; use fund:{g}:sub:<sub-fund>:"
                       f"<figure> ({', '.join(SUB_FIGURES)}) or fund:{g}:provincial:<figure> "
                       f"({', '.join(gd.GUIDANCE_FIGURES)}, cash)")

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
                "fund": prob(lr > tol, w),
                "portfolio_weighted": prob(fig("portfolio_loss_ratio") > tol, w),
                "per_project": mean(fig("project_breach_share"), w),
            }
            rows.append((None, m, _named(by_basis[f.tolerance_basis],
                                         f"P(breach, {f.tolerance_basis})", tol)))
            for basis, est in by_basis.items():
                label = ("P(project loss>{:g})" if basis == "per_project"
                         else "P(loss ratio>{:g}, " + basis + ")").format(tol)
                rows.append((None, m, _named(est, label, tol)))
            for est in describe(lr, levels=levels, thresholds=(), weights=w):
                rows.append((None, f"{m}:gov_loss_ratio", est))
            for est in describe(fig("fiscal_cost"), levels=levels, thresholds=(), weights=w):
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
                    rows.append((None, m, _named(mean(x, w), label)))
            irr_with, irr_without = fig("private_irr"), fig("private_irr_no_concession")
            if np.isfinite(irr_with).all() and np.isfinite(irr_without).all():
                rows.append((None, m, _named(var(irr_with, 0.5, w), "private IRR (median)")))
                rows.append((None, m, _named(var(irr_without, 0.5, w),
                                             "private IRR without concession (median)")))
                rows.append((None, m, _named(mean(irr_with - irr_without, w),
                                             "private IRR uplift (mean)")))
            for t in range(f.life_years):
                year = f.start_year + t
                rows.append((year, m, _named(mean(self.samples(f"{m}:gov_cash", year), w),
                                             "government net cash out")))
        return rows

    @property
    def n_loans_at_start(self) -> int:
        """Loans on the book at the start (cohorts' first vintages and tape rows)."""
        tape = self.scenario.tape
        return sum(c.loans for c in self.scenario.cohorts) + (len(tape) if tape is not None else 0)

    @property
    def borrowers_at_start(self) -> int:
        """Borrowers of the start book (the base of the plan's borrower target)."""
        from .features import borrowers_at_start

        return borrowers_at_start(self.scenario)

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
                 levels=None, thresholds=None) -> list[Estimate]:
        """Estimates (EL, std, VaR, ES, exceedance) of one measure, with standard errors."""
        rep = self.scenario.report
        levels = rep.levels if levels is None else levels
        thresholds = rep.exceedance if thresholds is None else thresholds
        return describe(self.samples(measure, year).astype(float), levels=levels,
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
            rows.append((year, measure, Estimate(statistic, param, value, se)))
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
                top_up = var(totals[:, section.pool], 1.0 - target, w)
                rows.append((None, section.measure,
                             Estimate(f"top-up for P(depleted)<={target:g}", target,
                                            top_up.value, top_up.se)))
        if "guaranteed" in self.products:  # the national fund's payout rate before its cap
            precap = self._need("nf_rate_precap", "the national fund's pre-cap payout rate")
            for y, year in enumerate(self.years):
                for est in describe(precap[:, y], levels=self.scenario.report.levels,
                                    thresholds=(), weights=w):
                    rows.append((year, "national_fund:payout_rate_before_cap", est))
        return rows

    # -- public money (simpool.analysis.ledger) ----------------------------------------------
    @property
    def ledger(self):
        """The ledger of public money (:class:`simpool.analysis.ledger.Ledger`): its lines
        (payer, flow, recipient, levels, kind) and their per-path cash."""
        if self._ledger is None:
            from .ledger import Ledger

            self._ledger = Ledger(self)
        return self._ledger

    @property
    def fiscal_levels(self) -> list[str]:
        """Levels of government whose money the run moves, from the top (e.g.
        ``["central", "provincial", "city", "district"]``)."""
        return self.ledger.levels

    def fiscal(self, level: str | None = None, payer: str | None = None,
               year: int | None = None, kind: str | None = "budget",
               basis: str = "cash") -> np.ndarray:
        """Public money per path (yuan; outlays positive, receipts negative): the lines of
        ``payer`` (None: all) and ``kind`` (``"budget"``: fiscal money, the default;
        ``"soe"``: state-owned capital; None: both) at ``level`` (None: all levels; a
        co-funded line counts at each level by its share), in calendar ``year``, or summed
        over the ledger's years with ``year=None`` (undiscounted). ``basis="ultimate"``
        books the public entities' credit losses to the year of default at their final
        shares (subsidies, rewards and fund cash are the same on both bases)."""
        if basis not in BASES:
            raise KeyError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
        return self.ledger.total(level, payer, year, kind, basis)

    def fiscal_npv(self, level: str | None = None, payer: str | None = None,
                   kind: str | None = "budget", basis: str = "cash") -> np.ndarray:
        """:meth:`fiscal` over the ledger's years discounted to the start of the first year at
        ``policy.discount_rate``, each year's cash at mid-year (yuan per path)."""
        if basis not in BASES:
            raise KeyError(f"basis must be one of {', '.join(BASES)}, got {basis!r}")
        return self.ledger.total(level, payer, None, kind, basis, npv=True)

    def loan_years(self, npv: bool = True, product: str | None = None) -> np.ndarray:
        """Per path, the balance outstanding at the start of each year (all programmes, or
        ``product``'s), summed over the horizon: loan-years of lending supported, yuan x
        years, discounted like the public money (mid-year) with ``npv``."""
        if not self.has_credit or self._wf is None:
            return np.zeros(self.paths)
        bal = self._need("product_balance", "the balance outstanding")
        bal = bal.sum(axis=2) if product is None else bal[:, :, PRODUCTS.index(product)]
        if not npv:
            return bal.sum(axis=1)
        t = np.arange(bal.shape[1], dtype=float)
        return bal @ ((1.0 + float(self.scenario.policy.discount_rate)) ** -(t + 0.5))

    def public_ledger(self, basis: str = "cash"):
        """pandas DataFrame of the ledger's expected cash: one row per line, level and year
        (payer, flow, recipient, level, kind, year, expected, se), yuan; a co-funded line
        has a row per level with its share."""
        import pandas as pd

        led = self.ledger
        w = self.weights
        rows = []
        for i, line in enumerate(led.lines):
            a = led.line_flows(i, basis)
            for lv in LEVELS_ORDER:
                share = line.levels.get(lv, 0.0)
                if share <= 0:
                    continue
                for t, year in enumerate(led.years):
                    est = mean(share * a[:, t], w)
                    rows.append((line.payer, line.flow, line.recipient, lv, line.kind, year,
                                 est.value, est.se))
        return pd.DataFrame(rows, columns=["payer", "flow", "recipient", "level", "kind", "year",
                                           "expected", "se"])

    def _public_rows(self):
        """(year, measure, Estimate) rows of public money: per kind (``fiscal``: budget;
        ``public_money``: budget and state-owned capital), in all and per level, per year the
        expected outlay, VaR and ES at 95% and 99% (the budget at risk); over the whole
        horizon the same of the horizon's cash and the NPV; the subsidy rate (NPV over the PV
        of loan-years) and the leverage of public money (loan-years per yuan, PV)."""
        led = self.ledger
        if not led.lines:
            return []
        w = self.weights
        rows = []
        disc = led.discount_factors()
        loan_years = self.loan_years() if self.has_credit else None
        for measure, kind in PUBLIC_MEASURES.items():
            if not led.select(kind=kind):
                continue
            for level in [None] + led.levels:
                if level is not None and not led.select(level=level, kind=kind):
                    continue
                m = measure if level is None else f"{measure}:{level}"
                a = led.by_year(level, None, kind, "cash")
                for year, x in [(None, a.sum(axis=1))] + [(y, a[:, t]) for t, y in
                                                          enumerate(led.years)]:
                    rows.append((year, m, _named(mean(x, w), "expected outlay"), "", "cash"))
                    if measure == "fiscal":  # (one sort for both levels and statistics)
                        for est in describe(x, levels=PUBLIC_LEVELS, thresholds=(), weights=w):
                            if est.statistic in ("VaR", "ES"):
                                rows.append((year, m, est, "", "cash"))
                npv = a @ disc
                rows.append((None, m, _named(mean(npv, w), "NPV"), "", "cash"))
                if level is None and loan_years is not None and np.any(loan_years):
                    rows.append((None, m, _named(ratio(npv, loan_years, w), "subsidy rate"),
                                 "", "cash"))
                    lev = ratio(loan_years, npv, w)
                    if measure == "public_money" and np.isfinite(lev.value):
                        # (no row where no public money was spent on any path)
                        rows.append((None, m, _named(lev, "leverage of public money"), "",
                                     "cash"))
                    for product in self.products:  # each programme's own lines and lending
                        ly = self.loan_years(product=product)
                        if np.any(ly) and led.select(kind=kind, product=product):
                            num = led.by_year(None, None, kind, "cash", product) @ disc
                            rows.append((None, m, _named(ratio(num, ly, w), "subsidy rate"),
                                         product, "cash"))
        return rows

    def contributions(self, measure: str = "gross", level: float = 0.99, by: str = "segment",
                      event: str = "tail", basis: str = "cash", product: str | None = None):
        """Risk contributions: which cohort, sector or product drives a party's tail
        (``event="tail"``, Euler allocation of gross loss over the tail paths of ``measure``)
        or a pool's depletion (``event="pool:<name>"``). See :mod:`simpool.analysis.contributions`."""
        from .contributions import contributions

        return contributions(self, measure=measure, level=level, by=by, event=event,
                             basis=basis, product=product)

    def summary_rows(self) -> list[SummaryRow]:
        """The rows of :meth:`summary` as :class:`SummaryRow` tuples, without pandas (the
        command line writes summary.csv from these; importing pandas costs a third of a
        second)."""
        rows = []  # (year, measure, Estimate[, product, basis])
        periods = [None] + (self.years if len(self.years) > 1 else [])
        credit = self.has_credit
        w = self.weights
        for year in periods if credit else []:
            for est in self.describe("gross", year):
                rows.append((year, "gross", est, "", "ultimate"))
            if self._wf is not None:
                (_, _, est), = self._feature_rows([FeaturePlan.defaults_key(year)])
            else:
                est = mean(self.samples("defaults", year).astype(float), w)
            rows.append((year, "defaults", est))
        if self._wf is not None and credit:
            levels = self.scenario.report.levels

            def losses(m, year, basis, product=None):
                x = self.samples(m, year, basis=basis, product=product)
                for est in describe(x, levels=levels, thresholds=(), weights=w):
                    rows.append((year, m, est, product or "", basis))

            for year in periods:  # ultimate first: what each party finally bears
                for m in self.parties:
                    losses(m, year, "ultimate")
                for m in ["net"] + self.parties:
                    losses(m, year, "cash")
            for product in self.products:  # by programme, over the horizon
                for est in describe(self.samples("gross", product=product), levels=levels,
                                    thresholds=(), weights=w):
                    rows.append((None, "gross", est, product, "ultimate"))
                for basis in ("ultimate", "cash"):
                    for m in self.product_parties(product):
                        losses(m, None, basis, product)
            rows.extend(self._policy_rows())
        rows.extend(self._fund_rows())
        if self.scenario.guidance_funds:
            from .guidance import rows as guidance_rows

            rows.extend(guidance_rows(self))
        rows.extend(self._public_rows())
        if getattr(self, "without_uncertainty", None) is not None:
            from .uncertainty import rows as uncertainty_rows

            rows.extend(uncertainty_rows(self))
        name = self.scenario.name
        out = []
        for r in rows:
            y, m, e = r[:3]
            product, basis = r[3:] if len(r) == 5 else ("", "")
            out.append(SummaryRow(name, None if y is None else int(y), m, product, basis,
                                  e.statistic, float(e.param), float(e.value), float(e.se)))
        return out

    def summary(self, lang: str | None = None):
        """Tidy pandas DataFrame: scenario, year, measure, product, basis, statistic, param,
        value, se (:meth:`summary_rows` as a table; ``year`` is a nullable integer, ``<NA>``
        for the whole horizon), then ``unit`` (yuan, probability, count, ratio, years) and
        ``label``, what a person reads, in ``lang`` ("en" or "zh"; default: ``SIMPOOL_LANG``,
        else the scenario's ``report.lang``, else English). Programs read the first columns,
        which never change with the language."""
        import pandas as pd

        from .labels import label, language, unit

        lang = language(lang, self.scenario)
        rows = self.summary_rows()
        return pd.DataFrame({
            "scenario": self.scenario.name,
            "year": pd.array([r.year if r.year is not None else pd.NA for r in rows], dtype="Int64"),
            "measure": [r.measure for r in rows],
            "product": [r.product for r in rows],
            "basis": [r.basis for r in rows],
            "statistic": [r.statistic for r in rows],
            "param": np.array([r.param for r in rows], dtype=float),
            "value": np.array([r.value for r in rows], dtype=float),
            "se": np.array([r.se for r in rows], dtype=float),
            "unit": [unit(r.measure, r.statistic) for r in rows],
            "label": [label(r.measure, r.statistic, r.param, r.product, r.basis, lang)
                      for r in rows],
        })

    def _repr_html_(self) -> str:
        """A notebook's view: the run and its headline figures with standard errors."""
        import html

        from .headline import format_value as _fmt
        from .headline import _HEADS, headline_rows, measure_statistic
        from .labels import language

        lang = language(None, self.scenario)
        h = _HEADS[lang]
        e = html.escape
        years = self.calendar_years
        rows = [f"<p><b>{e(self.scenario.title or self.scenario.name)}</b>: {self.paths:,} paths, "
                f"seed {self.seed}, years {years[0]}&ndash;{years[-1]}</p>",
                "<table><thead><tr>"
                + "".join(f"<th style='text-align:left'>{h[k]}</th>"
                          for k in ("period", "measure", "statistic"))
                + f"<th>{h['value']}</th><th>{e(h['se'])}</th></tr></thead><tbody>"]
        for r in headline_rows(self, self.summary_rows()):
            period = h["all"] if r.year is None else r.period
            head, st = measure_statistic(r, lang)
            rows.append(f"<tr><td style='text-align:left'>{period}</td>"
                        f"<td style='text-align:left'>{e(head)}</td>"
                        f"<td style='text-align:left'>{e(st)}</td>"
                        f"<td>{_fmt(r['value'], r['statistic'], r['measure'])}</td>"
                        f"<td>{_fmt(r['se'], r['statistic'], r['measure'])}</td></tr>")
        rows.append("</tbody></table><p><i>res.summary()</i> holds every year and statistic.</p>")
        return "\n".join(rows)

    def __repr__(self) -> str:
        return (f"<Results {self.scenario.name}: {self.paths:,} paths, seed {self.seed}, "
                f"years {self.years[0]}-{self.years[-1]}>")

