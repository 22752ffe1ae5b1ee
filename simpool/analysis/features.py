"""The summary's mean-type figures, computed chunk by chunk: :class:`FeaturePlan`, and what
a worker sends back for each chunk: :class:`Reducer`.

A figure that is a mean or a probability over paths (a pool's balance at a year's end,
``P(depleted by year)``, a guarantor's net assets, ...) needs its per-path values only until
they are averaged: the plan names each such quantity (its summary row) and computes it from a
chunk's per-path outputs; the chunk's values are reduced to block moments
(:mod:`simpool.engine.moments`) where the chunk ran, so a run keeps per path only what its
quantiles need (:func:`keep_outputs`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

_NAN = float("nan")


class _Section(NamedTuple):
    """Consecutive rows of the summary: feature keys, then (for a pool) its top-up row."""

    measure: str
    keys: list
    pool: int | None = None  # pool column of the top-up row that follows, if any


def book_at_end(raw: dict, y: int, what: str) -> np.ndarray:
    """The book at the end of year ``y``, per path: ``"balance"`` (yuan), ``"guaranteed"``
    (its guaranteed part, yuan) or ``"borrowers"``.

    In annual steps a year's new lending is booked at its end, so the book at the end of year
    y is the book at the start of year y + 1 (the next vintages, after the constraints cut
    them); for the horizon's last year it is the year's survivors, loans maturing then and
    renewed counted at their full exposure (the next year's constraints not applied). The
    start book is thus the base year's end (the year before start_year).
    """
    H = raw["product_balance"].shape[1]
    if what == "borrowers":
        return raw["borrowers"][:, y + 1]
    if y + 1 < H:
        pb = raw["product_balance"][:, y + 1]
        return pb[:, 1].copy() if what == "guaranteed" else pb.sum(axis=1)
    return (raw["guarantee_balance_end"] if what == "guaranteed" else raw["loan_balance_end"])[:, y]


def borrowers_at_start(scenario) -> int:
    """Borrowers of the start book: each cohort's ``borrowers`` (default: its loans) and one
    per tape row."""
    tape = scenario.tape
    return sum(c.loans if c.borrowers is None else c.borrowers for c in scenario.cohorts) + \
        (len(tape) if tape is not None else 0)


def balance_at_start(scenario) -> float:
    """Loan balance of the start book, yuan: cohorts' loans x exposure, and the tape's."""
    tape = scenario.tape
    total = sum(float(c.loans) * float(c.exposure) for c in scenario.cohorts)
    if tape is not None and len(tape):
        total += float(np.asarray(tape.exposure, float).sum())
    return total


class FeaturePlan:
    """The per-path quantities behind the summary's means and probabilities.

    Each quantity is a column of :meth:`values`, computed from a chunk's per-path outputs;
    its key is the summary row it becomes, ``(year, measure, statistic, param, kind)`` with
    ``kind`` ``"mean"`` or ``"prob"`` (an indicator). The engine reduces the columns chunk by
    chunk to block moments (:mod:`simpool.engine.moments`), so a run need not keep the outputs they
    come from; a run that kept them gives the same numbers (:meth:`moments_of`). Built from
    the scenario and the waterfall plan alone (never from the paths), so that every chunk
    computes the same columns. ``gates``: rows shown only when another quantity is finite on
    every path (a guarantor's leverage, the borrower count).
    """

    def __init__(self, scenario, wf, n_loans_at_start: int):
        # plain values only: the plan goes to every worker with the chunks
        self.years = list(scenario.years)
        #: the plan's targets are measured from the base: the book at the start of the
        #: horizon, i.e. at the end of the year before start_year (base_year)
        self.start = float(borrowers_at_start(scenario))
        self.balance0 = float(balance_at_start(scenario))
        self.base_year = int(self.years[0]) - 1
        prods = set(int(p) for p in wf.routes.product)
        self.has_nf = bool(prods & {1, 2})
        self.has_ipool = 2 in prods
        rep = scenario.report
        self.gb_year = rep.guarantee_balance_year
        self.gb_target = float(rep.guarantee_balance_target)
        self.borrower_target = float(rep.borrower_growth_target)
        self.loan_growth_target = float(rep.loan_growth_target)
        self.guaranteed = bool((wf.routes.product == 1).any())
        self.pool_names = list(wf.pool_names)
        self.pool_levels = [(p.warn_npl, p.stop_npl) for p in scenario.pools]
        self.guarantor_names = list(wf.guarantor_names)
        self.g_caps = [float(g.leverage_cap) for g in scenario.guarantors]
        self.bank_names = list(wf.bank_names)
        self.bank_tolerance = [float(t) for t in wf.banks.npl_tolerance]
        self.nf_cap = float(scenario.policy.national_fund_payout_cap)
        self.nf_line = scenario.policy.national_fund_credit_line is not None
        self.reg_cap = float(scenario.reguarantor.leverage_cap)
        r = wf.routes
        #: the banks lending each pool's eligible loans (its NPL stop applies per bank)
        self.pool_banks = [sorted({int(b) for b, q, prod in zip(r.bank, r.pool, r.product)
                                   if q == j and prod == 0}) for j in range(len(self.pool_names))]
        self.has_gov = self.guaranteed and float(wf.public.gov_cash0) < 1e299
        self.insurer_names = list(wf.insurer_names) if self.has_ipool else []
        self.products = [name for code, name in enumerate(("credit", "guaranteed", "insured"))
                         if code in prods]
        self.feedback = bool(r.feedback)
        from ..engine.inputs import removed_columns

        self.removed = [f"by {entity} {what}" for entity, what in removed_columns(wf)]
        cash0 = [float(c) for c in wf.pools.cash0] + [float(wf.insurance.pool_cash0)]
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
                    emit(sec, year, m, "NPL ratio (stock)", nan, "mean",
                         lambda: raw["pool_npl"][:, y, j])
                    for b in self.pool_banks[j]:
                        bank = self.bank_names[b]
                        for lvl, label in zip(levels, ("warn", "stop")):
                            if lvl is not None:
                                emit(sec, year, m, f"P(bank {bank} NPL>{lvl:g}, {label})",
                                     float(lvl), "prob",
                                     lambda b=b, lvl=lvl: raw["pool_bank_npl"][:, y, j, b] > lvl)
                    emit(sec, year, m, "P(a bank's new loans stopped)", nan, "mean",
                         lambda: raw["pool_suspended"][:, y, j])
                else:
                    emit(sec, year, m, "premium subsidy", nan, "mean",
                         lambda: raw["premium_subsidy"][:, y])
                emit(sec, year, m, "P(depleted by year)", nan, "prob", lambda: depleted_by[:, y])
                emit(sec, year, m, "P(exhausted in year)", nan, "prob", lambda: first == y)
                emit(sec, year, m, "unpaid claims", nan, "mean", lambda: unpaid[:, y])
                emit(sec, year, m, "balance (end of year)", nan, "mean",
                     lambda: raw["pool_balance"][:, y + 1, j])
        ng = len(self.guarantor_names)
        holders = [(g, f"guarantor:{name}", self.g_caps[g])
                   for g, name in enumerate(self.guarantor_names)]
        if self.guaranteed:
            holders.append((ng, "reguarantor", self.reg_cap))
        for g, m, cap in holders:
            sec = section(m)
            if not building:
                na_all = raw["guarantor_net_assets"][:, :, g]
                # insolvent by the end of year y: net assets <= 0 at the start (the waterfall
                # then moves the guarantor's share to the bank) or at any year end since
                insolvent_by = np.logical_or.accumulate(na_all <= 0.0, axis=1)[:, 1:]
                lev = raw["guarantor_leverage"][:, :, g]
            for y, year in enumerate(years):
                emit(sec, year, m, "P(insolvent by year)", nan, "prob", lambda: insolvent_by[:, y])
                emit(sec, year, m, "net assets (end of year)", nan, "mean", lambda: na_all[:, y + 1])
                lev_key = (year, m, "leverage (weighted liability)", nan, "mean")
                emit(sec, year, m, "leverage (weighted liability)", nan, "mean",
                     lambda: lev[:, y], gate=lev_key)
                if g < ng:
                    def rate(y=y, g=g):
                        gb = raw["guarantor_balance"][:, y, g]
                        paid = raw["entity"][:, y, len(self.bank_names) + g]
                        return np.divide(paid, gb, out=np.zeros_like(paid), where=gb > 0)

                    emit(sec, year, m, "net payout rate (cash)", nan, "mean", rate)
                emit(sec, year, m, f"P(leverage>{cap:g})", cap, "prob", lambda: lev[:, y] > cap)
        for b, name in enumerate(self.bank_names):
            m = f"bank:{name}"
            sec = section(m)
            tol = self.bank_tolerance[b]
            for y, year in enumerate(years):
                emit(sec, year, m, "NPL ratio (stock)", nan, "mean", lambda: raw["npl"][:, y, b])
                emit(sec, year, m, f"P(NPL>{tol:g})", tol, "prob", lambda: raw["npl"][:, y, b] > tol)
        if self.guaranteed:
            sec = section("national_fund")
            m = "national_fund"
            if not building:
                binds = raw["nf_binds"] > 0.5
            emit(sec, None, m, "P(cap binds in any year)", self.nf_cap, "prob",
                 lambda: binds.any(axis=1))
            emit(sec, None, m, "moved by the payout cap", nan, "mean",
                 lambda: raw["nf_moved"].sum(axis=1))
            if self.nf_line:
                emit(sec, None, m, "moved by the credit line", nan, "mean",
                     lambda: raw["nf_line_moved"].sum(axis=1))
            for y, year in enumerate(years):
                emit(sec, year, m, "P(cap binds)", self.nf_cap, "prob", lambda: binds[:, y])
                emit(sec, year, m, "moved by the payout cap", nan, "mean",
                     lambda: raw["nf_moved"][:, y])
                if self.nf_line:
                    emit(sec, year, m, "moved by the credit line", nan, "mean",
                         lambda: raw["nf_line_moved"][:, y])
                emit(sec, year, m, "payout rate (after the cap)", nan, "mean",
                     lambda: raw["nf_payout_rate"][:, y])
        if self.has_gov:
            sec = section("government")
            m = "government"
            if not building:
                exhausted_by = np.logical_or.accumulate(raw["gov_exhausted"] > 0.5, axis=1)
            emit(sec, None, m, "moved to the guarantor", nan, "mean",
                 lambda: raw["gov_moved"].sum(axis=1))
            for y, year in enumerate(years):
                emit(sec, year, m, "P(government fund exhausted by year)", nan, "prob",
                     lambda: exhausted_by[:, y])
                emit(sec, year, m, "moved to the guarantor", nan, "mean",
                     lambda: raw["gov_moved"][:, y])
                emit(sec, year, m, "fund balance (end of year)", nan, "mean",
                     lambda: raw["gov_balance"][:, y + 1])
        for i, name in enumerate(self.insurer_names):
            m = f"insurer:{name}"
            sec = section(m)
            for y, year in enumerate(years):
                # (shown when finite on every path: claims over no premium are infinite)
                emit(sec, year, m, "loss ratio", nan, "mean",
                     lambda: raw["insurer_loss_ratio"][:, y, i],
                     gate=(year, m, "loss ratio", nan, "mean"))
                emit(sec, year, m, "P(new loans suspended by year)", nan, "mean",
                     lambda: raw["insurer_suspended"][:, y, i])
        sec = section("lending")
        codes = {"credit": 0, "guaranteed": 1, "insured": 2}
        for y, year in enumerate(years):
            # (not tracked under the exponential twist: NaN, and the row is left out)
            key = (year, "lending", "loans outstanding (end of year)", nan, "mean")
            emit(sec, year, "lending", "loans outstanding (end of year)", nan, "mean",
                 lambda: raw["loans_outstanding"][:, y], gate=key)
            emit(sec, year, "lending", "borrowers (end of year)", nan, "mean",
                 lambda: book_at_end(raw, y, "borrowers"), gate=key)
            emit(sec, year, "lending", "balance (end of year)", nan, "mean",
                 lambda: book_at_end(raw, y, "balance"), gate=key)
            for prod in self.products:
                emit(sec, year, f"lending:{prod}", "balance (start of year)", nan, "mean",
                     lambda c=codes[prod]: raw["product_balance"][:, y, c])
            for b, name in enumerate(self.bank_names):
                emit(sec, year, f"lending:bank:{name}", "balance (start of year)", nan, "mean",
                     lambda b=b: raw["bank_balance"][:, y, b])
            for g, name in enumerate(self.guarantor_names):
                emit(sec, year, f"lending:guarantor:{name}", "balance (start of year)", nan,
                     "mean", lambda g=g: raw["guarantor_balance"][:, y, g])
            for j, name in enumerate(self.pool_names):
                emit(sec, year, f"lending:pool:{name}", "eligible balance (start of year)", nan,
                     "mean", lambda j=j: raw["pool_eligible"][:, y, j])
        if self.feedback:
            sec = section("lending_removed")
            for k, label in enumerate(self.removed):
                emit(sec, None, "lending_removed", label, nan, "mean",
                     lambda k=k: raw["lending_removed"][:, :, k].sum(axis=1))
                for y, year in enumerate(years):
                    emit(sec, year, "lending_removed", label, nan, "mean",
                         lambda k=k: raw["lending_removed"][:, y, k])
        if self.gb_year in years:
            y = years.index(self.gb_year)
            if self.guaranteed:
                sec = section("guarantee_balance")
                target = self.gb_target
                emit(sec, self.gb_year, "guarantee_balance", "end of year", nan, "mean",
                     lambda: book_at_end(raw, y, "guaranteed"))
                emit(sec, self.gb_year, "guarantee_balance", f"P(>= {target:g})", target, "prob",
                     lambda: book_at_end(raw, y, "guaranteed") >= target)
            growth = (1.0 + self.loan_growth_target) ** (self.gb_year - self.base_year)
            for measure, what, base, factor, shown in (
                    ("borrowers", "borrowers", self.start, 1.0 + self.borrower_target,
                     f"{1 + self.borrower_target:g}"),
                    ("loan_balance", "balance", self.balance0, growth, f"{growth:.4g}")):
                if base <= 0:
                    continue
                sec = section(measure)
                goal = factor * base
                gate = (self.gb_year, measure, "end of year", nan, "mean")
                emit(sec, self.gb_year, measure, "end of year", nan, "mean",
                     lambda w=what: book_at_end(raw, y, w), gate=gate)
                emit(sec, self.gb_year, measure, f"P(>= {shown} x start)", goal, "prob",
                     lambda w=what, g=goal: book_at_end(raw, y, w) >= g * (1.0 - 1e-12),
                     gate=gate)
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
               "nf_payout_rate", "guarantee_balance_end", "loans_outstanding", "borrowers", "loan_balance_end",
               "pool_bank_npl",
               "premium_subsidy", "nf_binds", "nf_moved", "nf_line_moved", "gov_exhausted",
               "gov_moved", "gov_balance", "insurer_loss_ratio", "insurer_suspended",
               "product_balance", "bank_balance", "pool_eligible", "lending_removed")

    def values(self, raw: dict) -> np.ndarray:
        """(paths, features): every quantity of the plan for the paths of ``raw``."""
        return self._layout(raw)

    def moments_of(self, raw: dict):
        """Block moments of the quantities over the paths of ``raw`` (a whole run or a part
        of one), blocks counted from its first path, in slices of whole blocks."""
        from ..engine.moments import BLOCK, MomentStore, chunk_moments

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
SUMMARY_SAMPLES = ("loss", "net", "party", "party_ultimate", "logw", "pending",
                   "pool_unpaid_total", "product_party_total", "nf_rate_precap",
                   # the ledger of public money in cash (simpool.analysis.ledger; its
                   # ultimate basis needs "entity_ultimate" too)
                   "entity", "premium_subsidy", "public_flows", "product_balance")
#: ... and of each fund: its figures and the government's cash per year.
FUND_SAMPLES = ("figures", "gov_cash")
#: Shorthand accepted by ``keep``: the four per-segment arrays.
KEEP_ALIASES = {"segments": ("segment_ead", "segment_loss", "segment_balance",
                             "segment_balance_end")}


#: every output of a guidance fund's sub-fund (all of them feed the summary)
SUB_FUND_SAMPLES = ("figures", "lp_cash", "nav", "invested", "proceeds", "category")


def summary_outputs(fund_names, sub_names=()) -> tuple[str, ...]:
    """The outputs ``keep="summary"`` keeps (:data:`SUMMARY_SAMPLES`, the funds' and the
    sub-funds' samples)."""
    return SUMMARY_SAMPLES + tuple(f"fund:{n}:{x}" for n in fund_names for x in FUND_SAMPLES) \
        + tuple(f"sub:{n}:{x}" for n in sub_names for x in SUB_FUND_SAMPLES)


def keep_outputs(keep, shapes: dict, fund_names, sub_names=()) -> tuple[tuple[str, ...], str]:
    """The outputs a run keeps per path, and the label of that choice.

    ``keep``: ``"all"`` (every output of :func:`simpool.engine.output_shapes`), ``"summary"``
    (only what :meth:`Results.summary` needs) or names of outputs to keep besides the
    summary's (``"segments"`` for the four per-segment arrays). ValueError for an unknown name.
    """
    summary = summary_outputs(fund_names, sub_names)
    if isinstance(keep, str) and keep == "all":
        return tuple(shapes) + ("pool_unpaid_total", "product_party_total"), "all"
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
        from ..engine.moments import chunk_moments

        kept = {k: out[k] for k in self.keep if k in out}
        if "pool_unpaid_total" in self.keep:
            kept["pool_unpaid_total"] = out["pool_unpaid"].sum(axis=1)
        if "product_party_total" in self.keep:
            kept["product_party_total"] = out["product_party"].sum(axis=1)
        x = self.features.values(out)
        moments = chunk_moments(path0, x, np.exp(out["logw"]), self.features.is_prob)
        return {"kept": kept, "moments": moments}
