"""The ledger of public money: every public cash flow of a run, by payer, level, kind and year.

POLICY.md ("Public money") states the rules. A *line* is one payer's one flow:

* ``credit losses`` of the public entities that bear them: the national fund, the
  re-guarantor, the government's compensation fund, each compensation pool, the insurance
  pool, each state guarantor (cash paid for credit losses less recoveries received, as
  :meth:`~simpool.analysis.results.Results.samples` with ``basis="cash"``; on
  ``basis="ultimate"`` what each finally bears of the year's defaults);
* ``premium subsidy`` the insurance pool pays the insurers;
* the kernel's ``public_flows`` columns: ``interest subsidy`` and ``premium subsidy`` paid for
  borrowers by a budget payer, and the 四补 each guarantor receives (``fee subsidy``,
  ``capital injection``, ``capital top-up``, ``payout compensation``, ``business reward``);
* ``rewards``: the fixed rewards (the plan's 30万 to ten institutions);
* ``angel fund``: each fund's public cash (calls less distributions of its public money).

Each line carries its payer's ``levels`` (``{level: share}``, a co-funded line split across
levels) and ``kind`` (``budget`` or ``soe``). Money in yuan, outlays positive, receipts
negative; years are the calendar years of the credit horizon and the funds' lives.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..scenario.public import KINDS, LEVELS, payer_registry

#: Credit-loss lines: (payer role, party column in the kernel's outputs).
_PARTY_COLUMN = {"national_fund": 3, "reguarantor": 2, "government": 4, "insurance_pool": 7}
#: Kinds accepted by :meth:`Ledger.total`: one kind, or None / "all" for both.
KIND_CHOICES = KINDS + ("all",)


class Line(NamedTuple):
    """One payer's one flow: who pays, what for, to whom, at which levels, of which kind, and
    the programme it supports (``credit``, ``guaranteed``, ``insured``; "" for none)."""

    payer: str
    flow: str
    recipient: str
    levels: dict
    kind: str
    product: str = ""


class Ledger:
    """The public-money lines of a :class:`~simpool.analysis.results.Results`, and their
    per-path cash by year (:meth:`flows`) and totals (:meth:`total`)."""

    def __init__(self, results):
        self.res = results
        sc = results.scenario
        self.registry = payer_registry(sc)
        self.years: list[int] = list(results.calendar_years)
        self.start = sc.simulation.start_year
        self.discount = float(sc.policy.discount_rate)
        self.lines: list[Line] = []
        self._source: list[tuple] = []
        self._build(sc)

    # -- the lines -----------------------------------------------------------------------
    def _add(self, payer: str, flow: str, recipient: str, source: tuple,
             product: str = "") -> None:
        tag = self.registry[payer]
        self.lines.append(Line(payer, flow, recipient, dict(tag.levels), tag.kind, product))
        self._source.append(source)

    def _build(self, sc) -> None:
        res = self.res
        wf = res._wf
        parties = res.parties if res.has_credit else []
        if res.has_credit and wf is not None:
            if "national_fund" in parties:
                self._add("national_fund", "credit losses", "", ("party", "national_fund"),
                          "guaranteed")
            r = sc.reguarantor
            if "reguarantor" in parties and r.level is not None:
                self._add(r.name, "credit losses", "", ("party", "reguarantor"), "guaranteed")
            if "government" in parties:
                self._add("government", "credit losses", "", ("party", "government"),
                          "guaranteed")
            if "compensation_pool" in parties:
                for name in wf.pool_names:
                    self._add(name, "credit losses", "",
                              ("entity", res.entities.index(f"compensation_pool:{name}")),
                              "credit")
            if "insurance_pool" in parties:
                self._add("insurance_pool", "credit losses", "", ("party", "insurance_pool"),
                          "insured")
                if sc.insurance_pool.premium_subsidy > 0 or sc.insurance_pool.mode == "premium_subsidy":
                    self._add("insurance_pool", "premium subsidy", "insurers",
                              ("premium_subsidy",), "insured")
            if "guarantor" in parties:
                for g in sc.guarantors:
                    if g.level is not None:
                        self._add(g.name, "credit losses", "",
                                  ("entity", res.entities.index(f"guarantor:{g.name}")),
                                  "guaranteed")
            for k, (payer, flow, recipient) in enumerate(wf.ledger_columns):
                product = recipient.split()[0] if recipient.endswith(" borrowers") \
                    else "guaranteed"  # (the 四补 go to guarantors)
                self._add(payer, flow, recipient, ("column", k), product)
            rw = sc.rewards
            if rw.per_year() > 0:
                self._add(rw.payer, "rewards", "institutions", ("rewards",))
        for f in sc.funds:
            self._add(f.name, "angel fund", "", ("fund", f))
        for g in sc.guidance_funds:
            self._add(g.name, "guidance fund", "", ("guidance", g, None))
            for lp in g.public_lp_tags():
                self._add(lp, "guidance fund", "", ("guidance", g, lp))

    # -- names -----------------------------------------------------------------------------
    @property
    def levels(self) -> list[str]:
        """Levels of government with a share in any line, from the top."""
        present = {lv for line in self.lines for lv, x in line.levels.items() if x > 0}
        return [lv for lv in LEVELS if lv in present]

    @property
    def payers(self) -> list[str]:
        """Payers with a line, in ledger order."""
        return list(dict.fromkeys(line.payer for line in self.lines))

    # -- per-path cash -----------------------------------------------------------------------
    def line_flows(self, i: int, basis: str = "cash") -> np.ndarray:
        """(paths, years) yuan of line ``i`` by calendar year of :attr:`years`."""
        out = np.zeros((self.res.paths, len(self.years)))
        self._add_line(i, basis, 1.0, out)
        return out

    def _add_line(self, i: int, basis: str, share: float, out: np.ndarray) -> None:
        """Add ``share`` x line ``i``'s flows to ``out`` (paths, years) in place (no
        temporary of the whole line: the ledger's totals read every line many times)."""
        res = self.res

        def put(col, values):
            if share == 1.0:
                out[:, col] += values
            else:
                out[:, col] += share * values
        src = self._source[i]
        if src[0] == "guidance":
            from .guidance import guidance_cash, public_lp_cash

            g, lp = src[1], src[2]
            cash = guidance_cash(res, g.name) if lp is None else public_lp_cash(res, g.name, lp)
            start = g.sub_funds[0].start_year
            for t in range(cash.shape[1]):
                put(self.years.index(start + t), cash[:, t])
            return
        if src[0] == "fund":
            f = src[1]
            cash = res._need(f"fund:{f.name}:gov_cash", "the funds' public cash")
            for t in range(f.life_years):
                put(self.years.index(f.start_year + t), cash[:, t])
            return
        if not res.years:
            return
        # the credit years are consecutive in the ledger's years
        cols = slice(self.years.index(res.years[0]), self.years.index(res.years[-1]) + 1)
        if src[0] == "party":
            from ..scenario.policy import PARTIES

            a = res._need("party" if basis == "cash" else "party_ultimate",
                          "the public parties' losses")
            put(cols, a[:, :, PARTIES.index(src[1])])
        elif src[0] == "entity":
            a = res._need("entity" if basis == "cash" else "entity_ultimate",
                          "the public entities' losses")
            put(cols, a[:, :, src[1]])
        elif src[0] == "premium_subsidy":
            put(cols, res._need("premium_subsidy", "the insurance pool's premium subsidy"))
        elif src[0] == "column":
            put(cols, res._need("public_flows", "the subsidies and the 四补")[:, :, src[1]])
        elif src[0] == "rewards":
            rw = res.scenario.rewards
            for t, y in enumerate(res.years):
                if rw.years is None or t < rw.years:
                    out[:, self.years.index(y)] += share * rw.per_year()

    def select(self, level: str | None = None, payer: str | None = None,
               kind: str | None = "budget", product: str | None = None) -> list[tuple[int, float]]:
        """(line index, share) of the lines of ``payer``, ``kind`` and ``product`` at
        ``level`` (the share of a co-funded line that level pays; 1 for every line with
        ``level=None``)."""
        if kind not in (None,) + KIND_CHOICES:
            raise KeyError(f"kind must be one of {', '.join(KINDS)} or None (both), got {kind!r}")
        if level is not None and level not in LEVELS:
            raise KeyError(f"unknown level {level!r}; levels are {', '.join(LEVELS)} "
                           f"(present in this run: {', '.join(self.levels) or 'none'})")
        if payer is not None and payer not in self.payers:
            raise KeyError(f"unknown payer {payer!r}; payers with public money in this run: "
                           f"{', '.join(self.payers) or 'none'}")
        sel = []
        for i, line in enumerate(self.lines):
            if kind not in (None, "all") and line.kind != kind:
                continue
            if payer is not None and line.payer != payer:
                continue
            if product is not None and line.product != product:
                continue
            share = 1.0 if level is None else line.levels.get(level, 0.0)
            if share > 0.0:
                sel.append((i, share))
        return sel

    def by_year(self, level=None, payer=None, kind="budget", basis="cash",
                product=None) -> np.ndarray:
        """(paths, years): the selected lines' cash by calendar year, yuan."""
        total = np.zeros((self.res.paths, len(self.years)))
        for i, share in self.select(level, payer, kind, product):
            self._add_line(i, basis, share, total)
        return total

    def discount_factors(self) -> np.ndarray:
        """Mid-year discount factor of each ledger year: ``(1 + r)^-(t + 1/2)``, ``t`` years
        after the start year, ``r`` = ``policy.discount_rate``."""
        t = np.array([y - self.start for y in self.years], float)
        return (1.0 + self.discount) ** -(t + 0.5)

    def total(self, level=None, payer=None, year=None, kind="budget", basis="cash",
              npv: bool = False) -> np.ndarray:
        """(paths,): the selected lines' cash in calendar ``year``, or summed over the
        ledger's years (``year=None``; discounted to the start year with ``npv``), yuan."""
        a = self.by_year(level, payer, kind, basis)
        if year is not None:
            if year not in self.years:
                raise KeyError(f"year {year} has no public money; years are "
                               f"{self.years[0]}..{self.years[-1]}" if self.years
                               else f"year {year}: this run has no public money")
            return a[:, self.years.index(year)].copy()
        if npv:
            return a @ self.discount_factors()
        return a.sum(axis=1)
