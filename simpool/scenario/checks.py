"""Checks of a validated scenario beyond its tables' own: what needs the whole scenario.

Cross-references (sectors, banks, guarantors, pools, insurers; the defaults filled in when
there is only one), funds and stresses, sizes (amounts and loan books small enough for
exact sums), names fit for result tables, the ``[sweep]`` table's variants, and the loan
tape's products and routes. Warnings: values outside typical ranges (``_TYPICAL``, for
``[[cohorts]]`` and tape loans alike), fees above the plan's, funds that cannot invest as
planned, implausibly big loan books, few paths (:data:`FEW_PATHS`, :func:`paths_warnings`).
:func:`~simpool.scenario.load.load.load_scenario` runs them, each problem located with
:mod:`.locate`.
"""

from __future__ import annotations

import math
import types
from typing import Annotated, Any, Callable, Union, get_args, get_origin

from pydantic import BaseModel

from ..errors import Problem, ProblemList, ScenarioError, did_you_mean
from .locate import _Locator, _q, _show_value, _unwrap, _where
from .policy import Bank
from .schema import _ARRAYS, Scenario, _listing, _repeated
from .tomlpos import format_path
from .units import MAX_YUAN

__all__ = ["FEW_PATHS", "paths_warnings", "scenario_warnings"]


# ---------------------------------------------------------------------------
# Warnings
# ---------------------------------------------------------------------------

_TYPICAL = {
    # (low, high, why): outside -> a warning, not an error
    "pd": (0.0, 0.2, "typical annual PD of tech-SME loans is 0.02 (base) to 0.08 (stress)"),
    "rho": (0.03, 0.3, "the Basel IRB range for SMEs is 0.10 to 0.24"),
    "lgd": (0.1, 0.9, "typical ultimate LGD is 0.3 to 0.8"),
}


def _warnings(sc: Scenario, file: str, index: dict, names: dict) -> list[Problem]:
    out = []
    for i, g in enumerate(sc.guarantors):
        if g.fee_rate > 0.01:
            loc = ("guarantors", i, "fee_rate")
            out.append(Problem(*index.at(loc), format_path(loc, names),
                               f"{g.fee_rate} is above the plan's 1% a year guarantee fee "
                               "(allowed \"in principle\" only)", "warning"))
    for i, c in enumerate(sc.cohorts):
        for key, (lo, hi, why) in _TYPICAL.items():
            v = getattr(c, key)
            if not lo <= v <= hi:
                loc = ("cohorts", i, key)
                out.append(Problem(*index.at(loc), format_path(loc, names),
                                   f"{v} is outside the typical range [{lo}, {hi}]: {why}",
                                   "warning"))
    if sc.model.copula == "t" and not 3.0 <= sc.model.dof <= 100.0:
        loc = ("model", "dof")
        out.append(Problem(*index.at(loc), "model.dof",
                           f"{sc.model.dof} degrees of freedom is unusual for a t copula "
                           "(typical 3 to 30; large values are nearly Gaussian)", "warning"))
    for path, f in sc.deal_funds():
        stages = f.stage_list()
        mean_ticket = sum(share * ticket for _, share, ticket, _ in stages)
        planned = f.deals_per_year * f.investment_years * mean_ticket
        loc = (*path, "deals_per_year")
        if planned > 1.05 * f.investable:
            out.append(Problem(*index.at(loc), format_path(loc, names),
                               f"{f.deals_per_year} deals a year for {f.investment_years} years "
                               f"need about {planned:,.0f} yuan but {f.investable:,.0f} yuan can "
                               "be invested (size less fees): the fund stops dealing early",
                               "warning"))
        elif planned < 0.5 * f.investable:
            out.append(Problem(*index.at(loc), format_path(loc, names),
                               f"the planned deals invest about {planned:,.0f} yuan, under half "
                               f"of the {f.investable:,.0f} yuan investable", "warning"))
    if sc.simulation.paths < FEW_PATHS:
        loc = ("simulation", "paths")
        out.append(Problem(*index.at(loc), "simulation.paths",
                           f"{sc.simulation.paths} paths give very wide standard errors", "warning"))
    return out


#: Fewer paths than this draw a warning: the standard errors are too wide to read.
FEW_PATHS = 1000


def paths_warnings(warnings: list[Problem], paths: int | None) -> list[Problem]:
    """A scenario's ``warnings`` with the few-paths warning about the path count a command
    actually runs: ``paths`` (``--paths``) when given, else the file's."""
    if paths is None:
        return list(warnings)
    out = [w for w in warnings if w.path != "simulation.paths"]
    if paths < FEW_PATHS:
        out.append(Problem("--paths", None, "", f"{paths} paths give very wide standard errors",
                           "warning"))
    return out


def scenario_warnings(sc: Scenario) -> list[Problem]:
    """Warnings found when the scenario was loaded."""
    return list(sc._warnings)


# ---------------------------------------------------------------------------
# Cross-references: sectors, routes, funds, stresses
# ---------------------------------------------------------------------------

def _cross_reference(sc: Scenario, file: str, index: dict, names: dict, problems: ProblemList) -> None:
    sectors = sc.model.sectors
    for i, c in enumerate(sc.cohorts):
        if c.sector is None:
            if len(sectors) == 1:
                c.sector = sectors[0]
            else:
                loc = ("cohorts", i)
                problems.error(*index.at(loc), format_path(loc, names) + ".sector",
                               f"required when there are several sectors; one of: {_listing(sectors)}")
        elif c.sector not in sectors:
            loc = ("cohorts", i, "sector")
            problems.error(*index.at(loc), format_path(loc, names),
                           f"unknown sector {_q(c.sector)}{did_you_mean(c.sector, sectors)}; "
                           f"model.sectors are: {_listing(sectors)}")
    ds = sc.portfolio.default_sector
    if ds is not None and ds not in sectors:
        loc = ("portfolio", "default_sector")
        problems.error(*index.at(loc), "portfolio.default_sector",
                       f"unknown sector {_q(ds)}{did_you_mean(ds, sectors)}; "
                       f"model.sectors are: {_listing(sectors)}")
    _check_routes(sc, file, index, names, problems)
    imp = sc.importance_sampling
    if imp.shift is not None and len(imp.shift) != len(sectors):
        loc = ("importance_sampling", "shift")
        problems.error(*index.at(loc), "importance_sampling.shift",
                       f"needs one value per sector ({len(sectors)}), got {len(imp.shift)}")
    if imp.method != "none" and sc.simulation.horizon_years > 1:
        loc = ("importance_sampling", "method")
        if imp.method == "shift_twist":
            problems.error(*index.at(loc), "importance_sampling.method",
                           "shift_twist needs horizon_years = 1; use method = \"shift\" with an "
                           "explicit importance_sampling.shift for longer horizons")
        elif imp.shift is None:
            problems.error(*index.at(loc), "importance_sampling.method",
                           "the automatic shift needs horizon_years = 1; give "
                           "importance_sampling.shift (one value per sector, used every year)")
    if not sc.cohorts and sc.portfolio.loans_file is None and not sc.deal_funds():
        problems.error(*index.at(("cohorts",)), "cohorts",
                       "the scenario is empty: add [[cohorts]], portfolio.loans_file, [[funds]] "
                       "or [[guidance_funds]]")
    _check_funds(sc, index, names, problems)
    _check_uncertainty(sc, index, names, problems)
    _check_payers(sc, index, names, problems)
    _check_stress(sc, index, names, problems)
    _check_vintages(sc, index, names, problems)


def _check_vintages(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """A cohort's planned vintage above the loans a cohort may hold is an error here (not
    first when the run plans its book), naming the key behind it."""
    from .book import too_large

    for i, c in enumerate(sc.cohorts):
        if c.mode != "binomial":
            continue
        bad = too_large(c, sc.simulation.horizon_years)
        if bad is not None:
            loc = ("cohorts", i, bad[1])
            problems.error(*index.at(loc), format_path(loc, names), bad[2])


def _check_uncertainty(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """[model.uncertainty]: the source read (calibrate's JSON), cohorts and sectors known,
    only binomial cohorts, the Gaussian copula, no importance sampling; resolves
    ``sc._spreads``."""
    import json
    from pathlib import Path

    u = sc.model.uncertainty
    sc._spreads = {}
    if u is None:
        return
    where = ("model", "uncertainty")
    cohorts = {c.name: c for c in sc.cohorts}
    spread: dict[str, tuple[float, float, str]] = {}
    if u.source is not None:
        p = Path(u.source)
        full = p if p.is_absolute() else Path(sc._base_dir) / p
        try:
            data = json.loads(full.read_text(encoding="utf-8-sig"))
            rows = [(str(o["segment"]), float(o.get("pd_se") or 0.0),
                     float(o.get("rho_se") or 0.0)) for o in data]
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
            problems.error(*index.at((*where, "source")), "model.uncertainty.source",
                           f"cannot read {u.source!r} as the JSON of `simpool calibrate "
                           f"--format json` (a list of objects with segment, pd_se, rho_se): "
                           f"{getattr(e, 'strerror', None) or e}")
            rows = []
        for name, pd_sd, rho_sd in rows:
            if name in cohorts:
                spread[name] = (pd_sd, rho_sd, f"cohort:{name}")
            else:
                problems.warn(*index.at((*where, "source")), "model.uncertainty.source",
                              f"segment {_q(name)} of {u.source} names no cohort; cohorts: "
                              f"{_listing(list(cohorts))}")
    for name, ps in u.cohorts.items():
        if name not in cohorts:
            problems.error(*index.at((*where, "cohorts", name)),
                           f"model.uncertainty.cohorts.{name}",
                           f"unknown cohort {_q(name)}{did_you_mean(name, list(cohorts))}; "
                           f"cohorts: {_listing(list(cohorts))}")
            continue
        spread[name] = (ps.pd_sd, ps.rho_sd, f"cohort:{name}")
    for sector, ps in u.sectors.items():
        if sector not in sc.model.sectors:
            problems.error(*index.at((*where, "sectors", sector)),
                           f"model.uncertainty.sectors.{sector}",
                           f"unknown sector {_q(sector)}{did_you_mean(sector, sc.model.sectors)}"
                           f"; model.sectors are: {_listing(sc.model.sectors)}")
            continue
        for c in sc.cohorts:
            if c.sector == sector and c.name not in u.cohorts:
                spread[c.name] = (ps.pd_sd, ps.rho_sd, f"sector:{sector}")
    out = {}
    for name, (pd_sd, rho_sd, group) in spread.items():
        c = cohorts[name]
        if pd_sd <= 0 and rho_sd <= 0:
            continue
        if c.mode != "binomial":
            problems.error(*index.at((*where,)), "model.uncertainty",
                           f"cohort {_q(name)} is simulated loan by loan (mode = \"loans\"); "
                           "parameter uncertainty covers binomial cohorts only")
            continue
        if not (0 < c.pd < 1 and 0 < c.rho < 1):
            problems.error(*index.at((*where,)), "model.uncertainty",
                           f"cohort {_q(name)}: pd and rho must lie strictly between 0 and 1 "
                           f"to be drawn around (pd {c.pd:g}, rho {c.rho:g})")
            continue
        out[name] = (pd_sd / (c.pd * (1 - c.pd)), rho_sd / (c.rho * (1 - c.rho)), group)
    if out and sc.model.copula != "gaussian":
        problems.error(*index.at(("model", "copula")), "model.copula",
                       "parameter uncertainty ([model.uncertainty]) needs the Gaussian copula")
    if out and sc.importance_sampling.method != "none":
        problems.error(*index.at(("importance_sampling", "method")),
                       "importance_sampling.method", "parameter uncertainty "
                       "([model.uncertainty]) and importance sampling do not combine: use "
                       "method = \"none\"")
    sc._spreads = out


def _check_stress(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """Stress years inside the simulated years, sectors known, no importance sampling."""
    start = sc.simulation.start_year
    rows = max([sc.simulation.horizon_years] + [f.investment_years for _, f in sc.deal_funds()])
    seen = set()
    for i, st in enumerate(sc.stress):
        if not start <= st.year < start + rows:
            problems.error(*index.at(("stress", i, "year")), f"stress.{i}.year",
                           f"must be a simulated year, {start}..{start + rows - 1}, got {st.year}")
        for s in st.sectors or []:
            if s not in sc.model.sectors:
                problems.error(*index.at(("stress", i, "sectors")), f"stress.{i}.sectors",
                               f"unknown sector {_q(s)}{did_you_mean(s, sc.model.sectors)}; "
                               f"model.sectors are: {_listing(sc.model.sectors)}")
        for s in st.sectors or sc.model.sectors:
            if (st.year, s) in seen:
                problems.error(*index.at(("stress", i)), f"stress.{i}",
                               f"sector {_q(s)} is fixed twice in {st.year}")
            seen.add((st.year, s))
    if sc.stress and sc.importance_sampling.method != "none":
        problems.error(*index.at(("importance_sampling", "method")), "importance_sampling.method",
                       "importance sampling and [[stress]] exclude each other: a stress fixes "
                       "the factors the sampler would shift")


def _check_funds(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """Funds: market sector, start year; importance sampling does not cover them."""
    sectors = sc.model.sectors
    for path, f in sc.deal_funds():
        where = format_path(path, names)
        if f.sector is None:
            f.sector = sectors[0]
        elif f.sector not in sectors:
            problems.error(*index.at((*path, "sector")), f"{where}.sector",
                           f"unknown sector {_q(f.sector)}{did_you_mean(f.sector, sectors)}; "
                           f"model.sectors are: {_listing(sectors)}")
        if f.start_year is None:
            f.start_year = sc.simulation.start_year
        elif f.start_year != sc.simulation.start_year:
            problems.error(*index.at((*path, "start_year")), f"{where}.start_year",
                           f"must be the simulation's start_year ({sc.simulation.start_year}) "
                           "for now: the fund's vintages share the credit model's factor years")
    if sc.deal_funds() and sc.importance_sampling.method != "none":
        problems.error(*index.at(("importance_sampling", "method")), "importance_sampling.method",
                       "importance sampling does not cover [[funds]] or [[guidance_funds]] yet: "
                       "use method = \"none\" for scenarios with funds")
    taken = {f.name: ("funds", i) for i, f in enumerate(sc.funds)}
    for g, gf in enumerate(sc.guidance_funds):
        if gf.name in taken:
            problems.error(*index.at(("guidance_funds", g, "name")),
                           f"{format_path(('guidance_funds', g), names)}.name",
                           f"{_q(gf.name)} is already the name of a fund; funds and guidance "
                           "funds need distinct names")
        taken[gf.name] = ("guidance_funds", g)


def _check_payers(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """Public money's payers (POLICY.md, "Public money"): names unique across the public
    entities and the budgets; every subsidy, reward and 四补 names a budget payer."""
    from .public import BUILTIN_PAYERS, budget_payers

    public = (["national_fund", "government", "insurance_pool"] + list(BUILTIN_PAYERS)
              + [sc.reguarantor.name] + [p.name for p in sc.pools]
              + [g.name for g in sc.guarantors if g.level is not None]
              + [f.name for f in sc.funds] + [g.name for g in sc.guidance_funds]
              + [n for g in sc.guidance_funds for n in g.public_lp_tags()])
    taken = set(public)
    for i, p in enumerate(sc.payers):
        if p.name in taken:
            problems.error(*index.at(("payers", i, "name")), f"{format_path(('payers', i), names)}.name",
                           f"{_q(p.name)} is already the name of a public entity or built-in "
                           f"payer; give the budget another name")
    clash = _repeated([n for n in public if n not in BUILTIN_PAYERS]
                      + [n for n in BUILTIN_PAYERS])
    for n in clash:
        problems.error(*index.at(()), "names",
                       f"{_q(n)} names two public payers (pools, state guarantors, funds, the "
                       f"re-guarantor and the built-in payers need distinct names)")
    allowed = budget_payers(sc)
    allowed_set = set(allowed)

    def check(value: str, loc: tuple, field: str) -> None:
        if value in allowed_set:
            return
        where = f"{format_path(loc, names)}.{field}" if loc else field
        why = (" pays from its own money and cannot pay subsidies; " if value in taken
               else f"{did_you_mean(value, allowed)}; ")
        problems.error(*index.at(loc + (field,)), where,
                       f"unknown budget payer {_q(value)}{why}budget payers are: "
                       f"{_listing(allowed, 20)} (or add a [[payers]] table)")

    for i, c in enumerate(sc.cohorts):
        if c.interest_subsidy_rate > 0 or "interest_subsidy_payer" in c.model_fields_set:
            check(c.interest_subsidy_payer, ("cohorts", i), "interest_subsidy_payer")
        if c.premium_subsidy_rate > 0 or "premium_subsidy_payer" in c.model_fields_set:
            check(c.premium_subsidy_payer, ("cohorts", i), "premium_subsidy_payer")
            if c.product != "insured" and c.premium_subsidy_rate > 0:
                problems.error(*index.at(("cohorts", i, "premium_subsidy_rate")),
                               f"{format_path(('cohorts', i), names)}.premium_subsidy_rate",
                               "only insured loans pay a premium; set product = \"insured\" "
                               "or remove the premium subsidy")
    for i, g in enumerate(sc.guarantors):
        check(g.support_payer, ("guarantors", i), "support_payer")
    check(sc.reguarantor.support_payer, ("reguarantor",), "support_payer")
    if sc.rewards.institutions > 0 or "payer" in sc.rewards.model_fields_set:
        check(sc.rewards.payer, ("rewards",), "payer")


def _check_routes(sc: Scenario, file: str, index: dict, names: dict, problems: ProblemList) -> None:
    """Names of banks, guarantors, pools and insurers must exist; defaults filled in."""
    for key in _ARRAYS[1:]:
        seen = [e.name for e in getattr(sc, key)]
        dup = _repeated(seen)
        if dup:
            problems.error(*index.at((key,)), key, f"names must be unique; repeated: {_listing(dup)}")
    if not sc.banks:
        sc.banks = [Bank(name="bank")]
    registry = {"bank": [b.name for b in sc.banks], "guarantor": [g.name for g in sc.guarantors],
                "pool": [p.name for p in sc.pools], "insurer": [i.name for i in sc.insurers]}
    table = {"bank": "banks", "guarantor": "guarantors", "pool": "pools", "insurer": "insurers"}

    known_sets = {k: set(v) for k, v in registry.items()}

    def resolve(holder, loc: tuple, field: str, needed: bool) -> None:
        known = registry[field]
        value = getattr(holder, field)
        if value is not None and value in known_sets[field]:
            return
        where = format_path(loc, names)
        if value is None:
            if needed and len(known) == 1:
                setattr(holder, field, known[0])
            elif needed:
                problems.error(*index.at(loc), f"{where}.{field}",
                               f"required: name one of [[{table[field]}]]"
                               + (f" ({_listing(known)})" if known else " (none is defined)"))
        elif value not in known:
            problems.error(*index.at(loc + (field,)), f"{where}.{field}",
                           f"unknown {field} {_q(value)}{did_you_mean(value, known)}; "
                           f"[[{table[field]}]] are: {_listing(known) or 'none'}")

    holders = [(c, ("cohorts", i), c.product) for i, c in enumerate(sc.cohorts)]
    if sc.portfolio.loans_file is not None:
        holders.append((sc.portfolio, ("portfolio",), None))
    for holder, loc, product in holders:
        resolve(holder, loc, "bank", True)
        tape = product is None
        if holder.guarantor is not None or product == "guaranteed" or (tape and sc.guarantors):
            resolve(holder, loc, "guarantor", product == "guaranteed")
        if holder.insurer is not None or product == "insured" or (tape and sc.insurers):
            resolve(holder, loc, "insurer", product == "insured")
        if holder.pool is not None:
            resolve(holder, loc, "pool", False)


# ---------------------------------------------------------------------------
# Sizes and names
# ---------------------------------------------------------------------------

#: Most loans a cohort's book may hold in any year (growth included).
MAX_BOOK_LOANS = 10**12
#: Most loans of cohorts with mode = "loans" (each is drawn one by one, in memory).
MAX_SINGLE_LOANS = 10_000_000


def _is_money(ann: Any) -> bool:
    from .base import _money

    if get_origin(ann) is Annotated:
        if any(getattr(m, "func", None) is _money for m in get_args(ann)[1:]):
            return True
        return _is_money(get_args(ann)[0])
    if get_origin(ann) in (Union, types.UnionType):
        return any(_is_money(a) for a in get_args(ann))
    return False


_MONEY_FIELDS: dict[type, list[tuple[str, bool, bool]]] = {}


def _money_fields(cls: type) -> list[tuple[str, bool, bool]]:
    """(field, is money, is a list of money) of a model class, cached."""
    from .base import _money

    out = _MONEY_FIELDS.get(cls)
    if out is None:
        out = []
        for name, f in cls.model_fields.items():
            ann = f.annotation
            money = _is_money(ann) or any(getattr(m, "func", None) is _money for m in f.metadata)
            elem = get_args(_unwrap(ann)) if get_origin(_unwrap(ann)) is list else ()
            out.append((name, money, bool(elem) and _is_money(elem[0])))
        _MONEY_FIELDS[cls] = out
    return out


def _amounts(model: BaseModel, loc: tuple) -> list[tuple[tuple, float]]:
    """(loc, value) of every amount of money in a validated model, recursively."""
    out: list[tuple[tuple, float]] = []
    for name, money, list_money in _money_fields(type(model)):
        value = getattr(model, name, None)
        if isinstance(value, BaseModel):
            out.extend(_amounts(value, loc + (name,)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, BaseModel):
                    out.extend(_amounts(v, loc + (name, i)))
                elif list_money and isinstance(v, float):
                    out.append((loc + (name, i), v))
        elif money and isinstance(value, float):
            out.append((loc + (name,), value))
    return out


def _check_sizes(sc: "Scenario", index: "_Locator", names: dict, touched: set[tuple],
                 problems: ProblemList) -> None:
    """Amounts and loan counts small enough for finite, exact sums."""
    for loc, v in _amounts(sc, ()):
        if abs(v) > MAX_YUAN:
            problems.error(*_where(loc, index, touched), format_path(loc, names),
                           f"must be at most {MAX_YUAN:.0e} yuan (1,000万亿) in size, got {v:.6g}")
    years = sc.simulation.horizon_years
    single = 0
    for i, c in enumerate(sc.cohorts):
        if c.mode == "loans":
            single += c.loans
            continue
        try:
            book = c.loans * (1.0 + c.growth) ** (years - 1)
        except OverflowError:
            book = math.inf
        if book > MAX_BOOK_LOANS:
            key = "growth" if c.growth > 0 and c.loans <= MAX_BOOK_LOANS else "loans"
            loc = ("cohorts", i, key)
            problems.error(*_where(loc, index, touched), format_path(loc, names),
                           f"the book grows to about {book:.3g} loans by year {years}: at most "
                           f"{MAX_BOOK_LOANS:.0e} (lower loans, growth or horizon_years)")
    _check_book_size(sc, index, names, touched, problems)
    if single > MAX_SINGLE_LOANS:
        i = max((k for k, c in enumerate(sc.cohorts) if c.mode == "loans"),
                key=lambda k: sc.cohorts[k].loans)
        loc = ("cohorts", i, "loans")
        problems.error(*_where(loc, index, touched), format_path(loc, names),
                       f"cohorts with mode = \"loans\" hold {single:,} loans, drawn one by one: "
                       f"at most {MAX_SINGLE_LOANS:,}; use mode = \"binomial\" for large cohorts")


#: A loan book above this many yuan in a year draws a warning (10万亿: more than a whole
#: province's bank loans; such amounts are implausible for one programme).
BIG_BOOK_YUAN = 1e13


def _check_book_size(sc: "Scenario", index: "_Locator", names: dict, touched: set[tuple],
                     problems: ProblemList) -> None:
    """Warn when the cohorts' planned book (loans x exposure, with growth) passes
    :data:`BIG_BOOK_YUAN` in some year: typically a growth rate compounding over a long horizon."""
    years = sc.simulation.horizon_years
    worst = (0.0, 0, None)  # (book, year index, cohort index of the largest share)
    for y in range(years):
        book, top, top_i = 0.0, 0.0, None
        for i, c in enumerate(sc.cohorts):
            try:
                part = c.loans * c.exposure * ((1.0 + c.growth) ** y if c.mode == "binomial" else 1.0)
            except OverflowError:
                part = math.inf
            book += part
            if part > top:
                top, top_i = part, i
        if book > worst[0]:
            worst = (book, y, top_i)
    book, y, i = worst
    if book > BIG_BOOK_YUAN and i is not None:
        c = sc.cohorts[i]
        loc = ("cohorts", i, "growth" if c.growth > 0 else "loans")
        shown = f"{book / 1e12:,.0f}万亿 yuan" if math.isfinite(book) else "an infinite amount"
        problems.warn(*_where(loc, index, touched), format_path(loc, names),
                      f"the loan book reaches about {shown} ({book:.3g}) in "
                      f"{sc.simulation.start_year + y}: above {BIG_BOOK_YUAN:.0e} yuan (10万亿), "
                      "more than a whole province's bank loans; check growth, loans, exposure "
                      "and horizon_years")


def _bad_chars(text: str) -> str | None:
    """The first control character (or lone surrogate) of ``text``, shown, or None."""
    import unicodedata

    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return repr(ch)
    return None


def _named_values(model: BaseModel, loc: tuple):
    """(loc, text) of every name and sector name in a validated model, recursively."""
    for field in type(model).model_fields:
        value = getattr(model, field, None)
        if field in ("name", "sector", "default_sector") and isinstance(value, str):
            yield loc + (field,), value
        elif field == "sectors" and isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, str):
                    yield loc + (field, i), v
        elif isinstance(value, BaseModel):
            yield from _named_values(value, loc + (field,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, BaseModel):
                    yield from _named_values(v, loc + (field, i))


def _check_names(sc: "Scenario", index: "_Locator", names: dict, touched: set[tuple],
                 problems: ProblemList) -> None:
    """Names label rows of the results (CSV, Parquet, Excel): no control characters."""
    import unicodedata

    for loc, text in _named_values(sc, ()):
        bad = _bad_chars(text)
        if bad is not None:
            shown = "".join(repr(ch)[1:-1] if unicodedata.category(ch) in ("Cc", "Cs") else ch
                            for ch in text[:60])
            problems.error(*_where(loc, index, touched), format_path(loc, names),
                           f"must not contain control characters, got {bad} in '{shown}'")


# ---------------------------------------------------------------------------
# The [sweep] table
# ---------------------------------------------------------------------------

def _sweep_axes(table: dict, loc: tuple = ("sweep",), prefix: str = ""):
    """(dotted key, loc in the raw data, values) of a ``[sweep]`` table, as ``simpool sweep``
    reads it (nested tables are dotted keys)."""
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):  # as simpool sweep reads it: an empty table adds no axis
            yield from _sweep_axes(v, loc + (k,), key)
        else:
            yield key, loc + (k,), v


#: Sweeps with at most this many variants have every variant validated (as ``simpool sweep``
#: does); larger ones have each value validated with the other axes at their first value.
_MAX_SWEEP_VARIANTS = 64
#: Problems reported from a sweep table at most.
_MAX_SWEEP_PROBLEMS = 20


def _check_sweep(raw: dict, index: "_Locator", touched: set[tuple], problems: ProblemList,
                 load: Callable[..., Any]) -> None:
    """``[sweep]``: each axis a non-empty list of values, and its variants valid scenarios.

    ``load`` is :func:`~simpool.scenario.load.load.load_scenario`, which calls this check: it is
    passed in so that this module stays below the loader."""
    import itertools

    table = raw.get("sweep")
    if not isinstance(table, dict) or not table:
        return
    base = {k: v for k, v in raw.items() if k != "sweep"}
    axes = []
    for key, loc, values in _sweep_axes(table):
        src, line = _where(loc, index, touched)
        if not isinstance(values, list) or not values:
            problems.error(src, line, format_path(loc),
                           "must be a non-empty list of values, e.g. [0.02, 0.03]")
        elif any(not p for p in key.split(".")):
            problems.error(src, line, format_path(loc), "empty part in the dotted key")
        else:
            axes.append((key, loc, values))
    if not axes or problems.errors:
        return
    n = math.prod(len(v) for _, _, v in axes)
    if n <= _MAX_SWEEP_VARIANTS:
        combos = itertools.product(*(v for _, _, v in axes))
    else:
        firsts = [v[0] for _, _, v in axes]
        combos = ((*firsts[:i], x, *firsts[i + 1:]) for i, (_, _, v) in enumerate(axes) for x in v)
    seen: set = set()
    reported = 0
    for combo in combos:
        try:
            load(base, {k: v for (k, _, _), v in zip(axes, combo)}, load_tape=False)
        except ScenarioError as e:
            for p in e.problems:
                axis = next((i for i, (k, _, _) in enumerate(axes) if p.file == "--set" and (
                    p.path == k or p.path.startswith(k + ".") or k.startswith(p.path + "."))),
                            None)
                if axis is None and p.file == "--set":
                    axis = next((i for i, (k, _, _) in enumerate(axes)
                                 if k.split(".")[-1] == p.path.split(".")[-1]), None)
                if axis is not None:
                    key, loc, _ = axes[axis]
                    text = f"value {_show_value(combo[axis])}: "
                    if p.path and p.path != key:
                        text += f"{p.path}: "
                else:
                    loc = ("sweep",)
                    label = ", ".join(f"{k}={_show_value(v)}" for (k, _, _), v in zip(axes, combo))
                    text = f"variant {label}: " + (f"{p.path}: " if p.path else "")
                dedupe = (loc, p.path, p.message)
                if dedupe in seen:
                    continue
                seen.add(dedupe)
                problems.error(*_where(loc, index, touched), format_path(loc), text + p.message)
                reported += 1
                if reported >= _MAX_SWEEP_PROBLEMS:
                    return


# ---------------------------------------------------------------------------
# The loan tape
# ---------------------------------------------------------------------------

def _tape_typical_warnings(tape) -> list[Problem]:
    """The ``_TYPICAL`` warnings of ``[[cohorts]]``, for the tape's loans: one per field,
    naming how many loans are outside the range and where the first few are."""
    import numpy as np

    out = []
    n = len(tape)
    for key, (lo, hi, why) in _TYPICAL.items():
        v = np.asarray(getattr(tape, key), dtype=float)
        outside = np.flatnonzero(~((v >= lo) & (v <= hi)))
        k = int(outside.size)
        if not k:
            continue
        values = ", ".join(f"{float(x):g}" for x in v[outside[:5]]) + (", ..." if k > 5 else "")
        verb = "has" if k == 1 else "have"
        out.append(Problem(tape.file, tape.first_line(outside), key,
                           f"{k:,} of {n:,} loan{'s' if n > 1 else ''} {verb} {key} outside the "
                           f"typical range [{lo}, {hi}] ({tape.locate(outside)}: {values}): {why}",
                           "warning"))
    return out


def _check_tape_routes(sc: Scenario, index: dict, problems: ProblemList) -> None:
    """Guaranteed (insured) rows of the tape need ``portfolio.guarantor`` (``.insurer``):
    named, or else the only one defined."""
    import numpy as np

    products = np.asarray(sc.tape.product, str)
    for product, field, table in (("guaranteed", "guarantor", "guarantors"),
                                  ("insured", "insurer", "insurers")):
        count = int(np.count_nonzero(products == product))
        if count == 0 or getattr(sc.portfolio, field) is not None:
            continue
        known = [x.name for x in getattr(sc, table)]
        if len(known) == 1:  # as for cohorts: the only one defined
            setattr(sc.portfolio, field, known[0])
            continue
        problems.error(*index.at(("portfolio",)), f"portfolio.{field}",
                       f"required: the loan tape {sc.tape.file} has {count} {product} loan"
                       f"{'s' if count > 1 else ''}; name their {field}, one of [[{table}]]"
                       + (f" ({_listing(known)})" if known else " (none is defined)"))
