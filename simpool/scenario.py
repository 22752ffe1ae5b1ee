"""Scenario files: load TOML (or a dict), apply ``--set`` overrides, validate once.

The typed models below are the public contract of a scenario file. Validation collects
every problem at once and reports each as ``file:line: dotted.path: message``; unknown keys
are errors (with "did you mean"), values outside typical or policy ranges are warnings.

Money accepts yuan as a number or a string with Chinese units (``"10亿"``, ``"500万"``), always
echoed back as plain yuan in the resolved scenario. Shares and rates are fractions, rates are
per year, ``rho`` is the asset correlation (Basel convention), never the factor loading.
"""

from __future__ import annotations

import math
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .errors import Problem, ProblemList, ScenarioError, did_you_mean
from .fund import Fund, Outcomes, Stage
from .tomlpos import format_path, line_of, locate_keys
from .policy import (
    Bank,
    Government,
    Guarantor,
    InsurancePool,
    Insurer,
    Policy,
    Pool,
    Reguarantor,
    Sharing,
)
from .scenario_base import Fraction, Money, Strict

__all__ = [
    "Scenario",
    "Simulation",
    "Model",
    "Cohort",
    "Portfolio",
    "Report",
    "ImportanceSampling",
    "load_scenario",
    "apply_overrides",
    "resolved_dict",
]


_Strict = Strict


class Simulation(_Strict):
    """How many paths, which seed, which years."""

    paths: int = Field(100_000, ge=1, le=10**10, description="Monte Carlo paths")
    seed: int = Field(20240808, ge=0, lt=2**63, description="seed: fixes every result bit for bit")
    start_year: int = Field(2025, ge=1900, le=2200, description="first simulated calendar year")
    horizon_years: int = Field(1, ge=1, le=100, description="years simulated, annual steps")


class Model(_Strict):
    """The default model: copula and systematic (sector) factors."""

    copula: Literal["gaussian", "t"] = "gaussian"
    dof: float = Field(4.0, gt=2.0, le=1e6, description="degrees of freedom of the t copula")
    sectors: list[str] = Field(default_factory=lambda: ["tech"], min_length=1)
    sector_correlation: list[list[float]] | None = Field(
        None, description="correlation matrix of the sector factors (default: identity)")
    factor_persistence: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="AR(1) coefficient of the sector factors from one year to the next")

    @field_validator("sectors")
    @classmethod
    def _unique_sectors(cls, v: list[str]) -> list[str]:
        dup = sorted({s for s in v if v.count(s) > 1})
        if dup:
            raise ValueError(f"sector names must be unique; repeated: {', '.join(dup)}")
        if any(not s.strip() for s in v):
            raise ValueError("sector names must be non-empty")
        return v

    @field_validator("sector_correlation")
    @classmethod
    def _check_correlation(cls, m: list[list[float]] | None, info: ValidationInfo):
        if m is None:
            return m
        sectors = info.data.get("sectors")
        if sectors is None:  # the sectors themselves are invalid: reported there
            return m
        n = len(sectors)
        if len(m) != n or any(len(row) != n for row in m):
            raise ValueError(
                f"must be a {n}x{n} matrix (one row and column per sector)")
        for i in range(n):
            if abs(m[i][i] - 1.0) > 1e-12:
                raise ValueError(f"the diagonal must be 1, got {m[i][i]} at [{i}][{i}]")
            for j in range(n):
                if not -1.0 <= m[i][j] <= 1.0:
                    raise ValueError(f"entries must be in [-1, 1], got {m[i][j]}")
                if abs(m[i][j] - m[j][i]) > 1e-12:
                    raise ValueError(f"must be symmetric: [{i}][{j}] != [{j}][{i}]")
        if n > 1 and _min_eigenvalue(m) < -1e-10:
            raise ValueError("must be positive semi-definite (a valid correlation matrix)")
        return m


def _min_eigenvalue(m: list[list[float]]) -> float:
    import numpy as np  # noqa: PLC0415  (scenario stays numpy-free except this check)

    return float(np.linalg.eigvalsh(np.asarray(m, dtype=float)).min())


class Cohort(_Strict):
    """A group of identical loans."""

    name: str = Field(min_length=1)
    loans: int = Field(ge=0, le=10**12, description="number of loans")
    exposure: Money = Field(description="yuan at default, per loan")
    pd: Fraction = Field(description="annual probability of default")
    lgd: Fraction = Field(description="ultimate loss given default, fraction of exposure")
    lgd_std: float = Field(0.0, ge=0.0, allow_inf_nan=False,
                           description="standard deviation of a Beta-distributed LGD (0 = fixed)")
    rho: float = Field(ge=0.0, lt=1.0, allow_inf_nan=False, description="asset correlation")
    sector: str | None = Field(None, description="sector factor (default: the only sector)")
    mode: Literal["binomial", "loans"] = Field(
        "binomial", description="binomial: one conditional binomial draw per path-year; "
                                "loans: one draw per loan (slow twin, for checks)")
    product: Literal["credit", "guaranteed", "insured"] = Field(
        "credit", description="route of its losses (POLICY.md)")
    bank: str | None = Field(None, description="lending bank (default: the only bank)")
    guarantor: str | None = Field(None, description="guarantor of guaranteed loans")
    pool: str | None = Field(None, description="risk-compensation pool covering credit loans")
    insurer: str | None = Field(None, description="insurer of insured loans")
    first_loan: bool = Field(False, description="first loans get the pool's first-loan bonus")
    term_years: int | None = Field(None, ge=1, le=100,
                                   description="loans mature after this many years (default: none)")
    amortization: Literal["bullet", "linear"] = Field(
        "bullet", description="bullet: full exposure until maturity; linear: 1/term a year")
    growth: float = Field(0.0, ge=-1.0, le=10.0,
                          description="new lending grows the book by this rate a year "
                                      "(the plan's target: 0.20 [S])")
    rollover: bool = Field(True, description="matured loans are replaced by new ones")

    @model_validator(mode="after")
    def _book_needs_binomial(self) -> "Cohort":
        if self.mode == "loans" and (self.term_years is not None or self.growth):
            raise ValueError("term_years and growth need mode = \"binomial\" (single-loan "
                             "cohorts and tapes are a static book)")
        return self

    @field_validator("exposure")
    @classmethod
    def _exposure_ok(cls, v: float) -> float:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"must be a finite amount >= 0 yuan, got {v}")
        return v

    @model_validator(mode="after")
    def _lgd_std_ok(self) -> "Cohort":
        if self.lgd_std > 0 and self.lgd_std ** 2 >= self.lgd * (1 - self.lgd):
            raise ValueError(
                f"lgd_std must be below sqrt(lgd*(1-lgd)) = {math.sqrt(self.lgd * (1 - self.lgd)):.4g} "
                f"for a Beta LGD with mean {self.lgd}, got {self.lgd_std}")
        return self


class Portfolio(_Strict):
    """Optional loan tape: one row per loan (see :mod:`simpool.loantape`)."""

    loans_file: str | None = Field(None, description="CSV or Parquet file, relative to the scenario")
    encoding: str | None = Field(None, description="text encoding of a CSV tape (default: detect)")
    default_sector: str | None = Field(None, description="sector of tape rows without a sector column")
    bank: str | None = Field(None, description="bank of the tape's loans")
    guarantor: str | None = Field(None, description="guarantor of the tape's guaranteed loans")
    pool: str | None = Field(None, description="pool covering the tape's credit loans")
    insurer: str | None = Field(None, description="insurer of the tape's insured loans")


class Report(_Strict):
    """Which statistics the summary reports."""

    levels: list[float] = Field(default_factory=lambda: [0.95, 0.99, 0.999], min_length=1)
    exceedance: list[Money] = Field(default_factory=list, description="thresholds x of P(L > x), yuan")
    guarantee_balance_target: Money = Field(
        5e10, ge=0.0, description="the plan's guarantee balance target, yuan [S: 500亿]")
    guarantee_balance_year: int = Field(2026, description="...by the end of this year [S]")
    borrower_growth_target: float = Field(
        0.70, ge=0.0, description="the plan's target: borrowers +70% by the end of "
                                  "guarantee_balance_year [S]; one loan per borrower [A]")
    depletion_target: float = Field(
        0.05, ge=0.0, lt=1.0,
        description="target depletion probability for the pools' required top-up (0 = none)")

    @field_validator("levels")
    @classmethod
    def _levels_ok(cls, v: list[float]) -> list[float]:
        for a in v:
            if not 0.0 < a < 1.0:
                raise ValueError(f"confidence levels must be in (0, 1), got {a}")
        return sorted(set(v))


class ImportanceSampling(_Strict):
    """Importance sampling for tail figures (see :mod:`simpool.importance`)."""

    method: Literal["none", "shift", "shift_twist"] = Field(
        "none", description="none: plain Monte Carlo; shift: Glasserman-Li mean shift of the "
                            "factors; shift_twist: plus exponential twisting of default "
                            "probabilities (one-year horizons)")
    target: Money | None = Field(
        None, description="loss level (yuan) the sampler aims at; default: about the 99.9% VaR")
    shift: list[float] | None = Field(
        None, description="explicit mean shift of the factor normals, one per sector, every year")
    defensive: float = Field(
        0.1, ge=0.0, lt=1.0,
        description="share of paths drawn from the original model (defensive mixture): "
                    "bounds the likelihood ratio by 1/defensive")

    @field_validator("target")
    @classmethod
    def _target_ok(cls, v: float | None) -> float | None:
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise ValueError(f"must be a positive amount in yuan, got {v}")
        return v


class Stress(_Strict):
    """A deterministic stress: the systematic factors of one calendar year fixed."""

    name: str = Field("", description="label, e.g. \"1-in-100 bad year\"")
    year: int = Field(description="calendar year whose factors are fixed")
    quantile: float | None = Field(
        None, gt=0.0, lt=1.0, description="the factors' quantile: 0.01 is a 1-in-100 bad year")
    z: float | None = Field(None, ge=-10.0, le=10.0, allow_inf_nan=False,
                            description="or the factor value itself (standard normal units)")
    sectors: list[str] | None = Field(None, description="sectors fixed (default: all)")

    @model_validator(mode="after")
    def _one_level(self) -> "Stress":
        if (self.quantile is None) == (self.z is None):
            raise ValueError("give exactly one of quantile (e.g. 0.01) or z (e.g. -2.33)")
        return self


class Scenario(_Strict):
    """A validated scenario. Build it with :func:`load_scenario`."""

    title: str = ""
    description: str = ""
    simulation: Simulation = Field(default_factory=Simulation)
    model: Model = Field(default_factory=Model)
    cohorts: list[Cohort] = Field(default_factory=list)
    portfolio: Portfolio = Field(default_factory=Portfolio)
    report: Report = Field(default_factory=Report)
    importance_sampling: ImportanceSampling = Field(default_factory=ImportanceSampling)
    policy: Policy = Field(default_factory=Policy)
    government: Government = Field(default_factory=Government)
    banks: list[Bank] = Field(default_factory=list)
    guarantors: list[Guarantor] = Field(default_factory=list)
    reguarantor: Reguarantor = Field(default_factory=Reguarantor)
    pools: list[Pool] = Field(default_factory=list)
    insurers: list[Insurer] = Field(default_factory=list)
    insurance_pool: InsurancePool = Field(default_factory=InsurancePool)
    funds: list[Fund] = Field(default_factory=list, description="government angel funds (FUNDS.md)")
    stress: list[Stress] = Field(
        default_factory=list, description="deterministic stresses of the systematic factors")
    sweep: dict[str, Any] = Field(
        default_factory=dict,
        description="what-if grid: dotted key = [values]; `simpool sweep` runs the cross product")

    _source: str = PrivateAttr("<dict>")
    _base_dir: str = PrivateAttr(".")
    _tape: Any = PrivateAttr(None)
    _warnings: list = PrivateAttr(default_factory=list)

    @property
    def source(self) -> str:
        """File the scenario came from (``<dict>`` for a dict)."""
        return self._source

    @property
    def tape(self):
        """The validated loan tape (:class:`simpool.loantape.LoanTape`) or None."""
        return self._tape

    @property
    def years(self) -> list[int]:
        """Calendar years simulated."""
        s = self.simulation
        return list(range(s.start_year, s.start_year + s.horizon_years))

    @property
    def name(self) -> str:
        """Short name: the file stem, or the title for a dict."""
        if self._source.startswith("<"):
            return self.title or "scenario"
        return Path(self._source).stem

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        names = [c.name for c in self.cohorts]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"cohort names must be unique; repeated: {', '.join(dup)}")
        return self


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------

_MODEL_AT = {
    "simulation": Simulation,
    "model": Model,
    "cohorts": Cohort,
    "portfolio": Portfolio,
    "report": Report,
    "importance_sampling": ImportanceSampling,
    "policy": Policy,
    "government": Government,
    "banks": Bank,
    "guarantors": Guarantor,
    "reguarantor": Reguarantor,
    "pools": Pool,
    "insurers": Insurer,
    "insurance_pool": InsurancePool,
    "funds": Fund,
    "stress": Stress,
}
_ARRAYS = ("cohorts", "banks", "guarantors", "pools", "insurers", "funds")


def _model_for(parent: tuple) -> type[BaseModel] | None:
    """The pydantic model class of the table at ``parent`` (for did-you-mean)."""
    if not parent:
        return Scenario
    cls = _MODEL_AT.get(parent[0])
    if parent[0] == "stress":
        return Stress if len(parent) == 2 else None
    if parent[0] == "funds" and len(parent) > 2:
        tail = tuple("#" if isinstance(x, int) else x for x in parent[2:])
        return {("outcomes",): Outcomes, ("stages", "#"): Stage,
                ("stages", "#", "outcomes"): Outcomes}.get(tail)
    if parent[0] in _ARRAYS:
        return cls if len(parent) == 2 else None
    if parent == ("policy", "sharing"):
        return Sharing
    return cls if len(parent) == 1 else None


def _cohort_names(raw: dict) -> dict[str, list[str | None]]:
    """Element names of the named arrays (cohorts, banks, ...), for error paths."""
    out = {}
    for key in _ARRAYS:
        items = raw.get(key)
        if isinstance(items, list):
            out[key] = [c.get("name") if isinstance(c, dict) and isinstance(c.get("name"), str)
                        else None for c in items]
    return out


def _parse_toml_value(text: str) -> Any:
    """Parse a ``--set`` value as TOML, falling back to the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: list[str] | dict[str, Any] | None,
                    problems: ProblemList | None = None) -> tuple[dict, set[tuple]]:
    """Apply ``dotted.key=value`` overrides to a raw scenario dict (in place).

    Cohorts are addressed by name (``cohorts.ip_pledge.pd=0.03``) or index
    (``cohorts.0.pd=0.03``). Values are parsed as TOML, falling back to a string
    (``model.copula=t``). Returns the dict and the set of overridden key paths.
    """
    problems = problems if problems is not None else ProblemList()
    touched: set[tuple] = set()
    if not overrides:
        return raw, touched
    items = overrides.items() if isinstance(overrides, dict) else []
    if not isinstance(overrides, dict):
        parsed = []
        for text in overrides:
            if "=" not in text:
                problems.error("--set", None, text,
                               "expected dotted.key=value, e.g. cohorts.ip_pledge.pd=0.03")
                continue
            key, value = text.split("=", 1)
            parsed.append((key.strip(), _parse_toml_value(value.strip())))
        items = parsed
    for key, value in items:
        parts = [p for p in key.split(".")]
        if not key or any(not p for p in parts):
            problems.error("--set", None, key, "empty key; expected dotted.key=value")
            continue
        node: Any = raw
        loc: list[str | int] = []
        ok = True
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                idx = _find_element(node, part)
                if idx is None:
                    names = [e.get("name") for e in node if isinstance(e, dict)]
                    problems.error("--set", None, key,
                                   f"no element named '{part}' in {'.'.join(map(str, loc))}"
                                   f"{did_you_mean(part, [n for n in names if n])}"
                                   f"; known: {', '.join(str(n) for n in names) or 'none'}")
                    ok = False
                    break
                node = node[idx]
                loc.append(idx)
            elif isinstance(node, dict):
                if part not in node:
                    node[part] = {} if not parts[i + 1].isdigit() else []
                node = node[part]
                loc.append(part)
            else:
                problems.error("--set", None, key,
                               f"'{'.'.join(map(str, loc))}' is a value, not a table")
                ok = False
                break
        if not ok:
            continue
        last = parts[-1]
        if isinstance(node, dict):
            node[last] = value
            loc.append(last)
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
            loc.append(int(last))
        else:
            problems.error("--set", None, key, "cannot set this key")
            continue
        touched.add(tuple(loc))
    return raw, touched


def _find_element(node: list, part: str) -> int | None:
    for i, e in enumerate(node):
        if isinstance(e, dict) and e.get("name") == part:
            return i
    if part.isdigit() and int(part) < len(node):
        return int(part)
    return None


_PLAIN = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be true or false",
    "too_short": "must have at least {min_length} item(s)",
    "missing": "required key is missing",
}


def _pydantic_message(err: dict) -> str:
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    if typ in _PLAIN:
        try:
            msg = _PLAIN[typ].format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if typ != "missing" and "input" in err and "got " not in msg:
        value = err["input"]
        if not isinstance(value, (dict, list)):
            msg = f"{msg}, got {value!r}"
    return msg


def _problems_from_validation(exc: ValidationError, file: str, index: dict, names: dict,
                              touched: set[tuple]) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        # pydantic puts union/literal branch tags in loc; keep only real keys and indices
        loc = tuple(x for x in loc if isinstance(x, int) or not x.startswith("["))
        if err["type"] == "extra_forbidden":
            cls = _model_for(loc[:-1])
            allowed = list(cls.model_fields) if cls is not None else []
            message = f"unknown key '{loc[-1]}'{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                message += f"; allowed: {', '.join(allowed)}"
        else:
            message = _pydantic_message(err)
        if any(loc[: len(t)] == t for t in touched):
            src, line = "--set", None
        else:
            src, line = index.at(loc)
        out.append(Problem(src, line, format_path(loc, names), message))
    return out


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
    for i, f in enumerate(sc.funds):
        stages = f.stage_list()
        mean_ticket = sum(share * ticket for _, share, ticket, _ in stages)
        planned = f.deals_per_year * f.investment_years * mean_ticket
        loc = ("funds", i, "deals_per_year")
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
    if sc.simulation.paths < 1000:
        loc = ("simulation", "paths")
        out.append(Problem(*index.at(loc), "simulation.paths",
                           f"{sc.simulation.paths} paths give very wide standard errors", "warning"))
    return out


def _cross_reference(sc: Scenario, file: str, index: dict, names: dict, problems: ProblemList) -> None:
    sectors = sc.model.sectors
    for i, c in enumerate(sc.cohorts):
        if c.sector is None:
            if len(sectors) == 1:
                c.sector = sectors[0]
            else:
                loc = ("cohorts", i)
                problems.error(*index.at(loc), format_path(loc, names) + ".sector",
                               f"required when there are several sectors; one of: {', '.join(sectors)}")
        elif c.sector not in sectors:
            loc = ("cohorts", i, "sector")
            problems.error(*index.at(loc), format_path(loc, names),
                           f"unknown sector '{c.sector}'{did_you_mean(c.sector, sectors)}; "
                           f"model.sectors are: {', '.join(sectors)}")
    ds = sc.portfolio.default_sector
    if ds is not None and ds not in sectors:
        loc = ("portfolio", "default_sector")
        problems.error(*index.at(loc), "portfolio.default_sector",
                       f"unknown sector '{ds}'{did_you_mean(ds, sectors)}; "
                       f"model.sectors are: {', '.join(sectors)}")
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
    if not sc.cohorts and sc.portfolio.loans_file is None and not sc.funds:
        problems.error(*index.at(("cohorts",)), "cohorts",
                       "the scenario is empty: add [[cohorts]], portfolio.loans_file or [[funds]]")
    _check_funds(sc, index, names, problems)
    _check_stress(sc, index, names, problems)


def _check_stress(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """Stress years inside the simulated years, sectors known, no importance sampling."""
    start = sc.simulation.start_year
    rows = max([sc.simulation.horizon_years] + [f.investment_years for f in sc.funds])
    seen = set()
    for i, st in enumerate(sc.stress):
        if not start <= st.year < start + rows:
            problems.error(*index.at(("stress", i, "year")), f"stress.{i}.year",
                           f"must be a simulated year, {start}..{start + rows - 1}, got {st.year}")
        for s in st.sectors or []:
            if s not in sc.model.sectors:
                problems.error(*index.at(("stress", i, "sectors")), f"stress.{i}.sectors",
                               f"unknown sector '{s}'{did_you_mean(s, sc.model.sectors)}; "
                               f"model.sectors are: {', '.join(sc.model.sectors)}")
        for s in st.sectors or sc.model.sectors:
            if (st.year, s) in seen:
                problems.error(*index.at(("stress", i)), f"stress.{i}",
                               f"sector '{s}' is fixed twice in {st.year}")
            seen.add((st.year, s))
    if sc.stress and sc.importance_sampling.method != "none":
        problems.error(*index.at(("importance_sampling", "method")), "importance_sampling.method",
                       "importance sampling and [[stress]] exclude each other: a stress fixes "
                       "the factors the sampler would shift")


def _check_funds(sc: Scenario, index, names: dict, problems: ProblemList) -> None:
    """Funds: market sector, start year; importance sampling does not cover them."""
    sectors = sc.model.sectors
    for i, f in enumerate(sc.funds):
        where = format_path(("funds", i), names)
        if f.sector is None:
            f.sector = sectors[0]
        elif f.sector not in sectors:
            problems.error(*index.at(("funds", i, "sector")), f"{where}.sector",
                           f"unknown sector '{f.sector}'{did_you_mean(f.sector, sectors)}; "
                           f"model.sectors are: {', '.join(sectors)}")
        if f.start_year is None:
            f.start_year = sc.simulation.start_year
        elif f.start_year != sc.simulation.start_year:
            problems.error(*index.at(("funds", i, "start_year")), f"{where}.start_year",
                           f"must be the simulation's start_year ({sc.simulation.start_year}) "
                           "for now: the fund's vintages share the credit model's factor years")
    if sc.funds and sc.importance_sampling.method != "none":
        problems.error(*index.at(("importance_sampling", "method")), "importance_sampling.method",
                       "importance sampling does not cover [[funds]] yet: use method = \"none\" "
                       "for scenarios with funds")


def _check_routes(sc: Scenario, file: str, index: dict, names: dict, problems: ProblemList) -> None:
    """Names of banks, guarantors, pools and insurers must exist; defaults filled in."""
    for key in _ARRAYS[1:]:
        seen = [e.name for e in getattr(sc, key)]
        dup = sorted({n for n in seen if seen.count(n) > 1})
        if dup:
            problems.error(*index.at((key,)), key, f"names must be unique; repeated: {', '.join(dup)}")
    if not sc.banks:
        sc.banks = [Bank(name="bank")]
    registry = {"bank": [b.name for b in sc.banks], "guarantor": [g.name for g in sc.guarantors],
                "pool": [p.name for p in sc.pools], "insurer": [i.name for i in sc.insurers]}
    table = {"bank": "banks", "guarantor": "guarantors", "pool": "pools", "insurer": "insurers"}

    def resolve(holder, loc: tuple, field: str, needed: bool) -> None:
        known = registry[field]
        value = getattr(holder, field)
        where = format_path(loc, names)
        if value is None:
            if needed and len(known) == 1:
                setattr(holder, field, known[0])
            elif needed:
                problems.error(*index.at(loc), f"{where}.{field}",
                               f"required: name one of [[{table[field]}]]"
                               + (f" ({', '.join(known)})" if known else " (none is defined)"))
        elif value not in known:
            problems.error(*index.at(loc + (field,)), f"{where}.{field}",
                           f"unknown {field} '{value}'{did_you_mean(value, known)}; "
                           f"[[{table[field]}]] are: {', '.join(known) or 'none'}")

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


def read_raw(source: str | os.PathLike) -> dict:
    """The raw data of a scenario file with its ``extends`` chain merged (not validated)."""
    raw, _ = _read_with_extends(Path(source), str(source), [])
    return raw


def load_scenario(source: str | os.PathLike | dict, overrides: list[str] | dict | None = None,
                  *, load_tape: bool = True) -> Scenario:
    """Load and validate a scenario from a TOML file or a dict of the same shape.

    Parameters
    ----------
    source : path or dict
        A TOML scenario file, or a dict with the same keys.
    overrides : list of "dotted.key=value" strings, or dict {dotted.key: value}
        Applied before validation (``--set`` on the command line).
    load_tape : bool
        Read and validate ``portfolio.loans_file`` (default True).

    Raises
    ------
    ScenarioError
        With every problem found, each as ``file:line: dotted.path: message``.
    """
    problems = ProblemList()
    if isinstance(source, dict):
        import copy

        raw = copy.deepcopy(source)
        file, base_dir = "<dict>", os.getcwd()
        layers = [(file, {}, raw)]
    else:
        file = str(source)
        base_dir = str(Path(source).resolve().parent)
        raw, layers = _read_with_extends(Path(source), file, [])
    index = _Locator(layers)
    raw, touched = apply_overrides(raw, overrides, problems)
    names = _cohort_names(raw)
    index.merged_names = names
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from_validation(exc, file, index, names, touched))
        raise ScenarioError(_sorted(problems.problems)) from None
    sc._source = file
    sc._base_dir = base_dir
    _cross_reference(sc, file, index, names, problems)
    problems.extend(_warnings(sc, file, index, names))
    if load_tape and sc.portfolio.loans_file is not None and not problems.errors:
        _load_tape(sc, file, index, problems)
    if problems.errors:
        raise ScenarioError(_sorted(problems.problems))
    sc._warnings = _sorted(problems.warnings)
    return sc


#: Arrays of tables merged by ``name`` when a scenario ``extends`` another.
_NAMED_ARRAYS = ("cohorts", "banks", "guarantors", "pools", "insurers", "funds")


def _read_toml(path: Path, shown: str) -> tuple[dict, dict]:
    """Parse one TOML file: (data, key->line index); file problems raise ScenarioError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(shown, None, "", "is a directory, not a scenario file")]) from None
    except OSError as e:
        raise ScenarioError([Problem(shown, None, "", f"cannot read: {e.strerror or e}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError([Problem(shown, None, "",
                                     f"not UTF-8 text (byte {e.start}): save the scenario as UTF-8")]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        import re

        m = re.search(r"\(at line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        msg = str(e).split(" (at line")[0].split(" (at end of document)")[0]
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {msg}")]) from None
    return raw, locate_keys(text)


def _read_with_extends(path: Path, shown: str, chain: list[Path]) -> tuple[dict, list]:
    """Read ``path`` and the files it ``extends``; return (merged data, layers child-first).

    ``extends = "base.toml"`` (relative to the file) makes a what-if hold only its
    differences: tables merge key by key, arrays of named tables (cohorts, banks,
    guarantors, pools, insurers) merge element by element by ``name``, anything else in the
    child replaces the base's value.
    """
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p.name) for p in chain + [resolved])
        raise ScenarioError([Problem(shown, None, "extends", f"circular extends: {cycle}")])
    raw, index = _read_toml(path, shown)
    layers = [(shown, index, raw)]
    base_name = raw.pop("extends", None)
    if base_name is None:
        return raw, layers
    if not isinstance(base_name, str) or not base_name.strip():
        raise ScenarioError([Problem(shown, line_of(index, ("extends",)), "extends",
                                     "must be the path of a scenario file, relative to this one")])
    base_path = path.parent / base_name
    base_shown = str(Path(shown).parent / base_name)
    if not base_path.is_file():
        raise ScenarioError([Problem(shown, line_of(index, ("extends",)), "extends",
                                     f"base scenario not found: {base_shown}")])
    base_raw, base_layers = _read_with_extends(base_path, base_shown, chain + [resolved])
    tape = base_raw.get("portfolio", {}).get("loans_file") if isinstance(base_raw.get("portfolio"), dict) else None
    if isinstance(tape, str) and not Path(tape).is_absolute():
        # a base's loan tape stays relative to the base file
        base_raw["portfolio"]["loans_file"] = os.path.relpath(base_path.parent / tape, path.parent)
    return _merge(base_raw, raw), layers + base_layers


def _merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value)
        elif key in _NAMED_ARRAYS and isinstance(old, list) and isinstance(value, list):
            merged = list(old)
            for item in value:
                name = item.get("name") if isinstance(item, dict) else None
                at = next((i for i, e in enumerate(merged)
                           if isinstance(e, dict) and name is not None and e.get("name") == name), None)
                if at is None:
                    merged.append(item)
                else:
                    merged[at] = _merge(merged[at], item)
            out[key] = merged
        else:
            out[key] = value
    return out


class _Locator:
    """Where a key of the merged scenario was written: (file, line), child file first."""

    def __init__(self, layers: list):
        self.layers = layers
        self.merged_names: dict = {}

    def at(self, loc: tuple) -> tuple[str, int | None]:
        for file, index, raw in self.layers:
            local = self._translate(loc, raw)
            if local is not None:
                return file, line_of(index, local)
        file, index, _ = self.layers[0]
        return file, line_of(index, loc)

    def _translate(self, loc: tuple, raw) -> tuple | None:
        """``loc`` in the merged data → the same key in one layer (None if not there)."""
        node = raw
        out: list = []
        for i, part in enumerate(loc):
            if isinstance(part, int):
                if not isinstance(node, list):
                    return tuple(out) if out else None
                key = loc[i - 1] if i else None
                name = (self.merged_names.get(key) or [None] * (part + 1))
                name = name[part] if part < len(name) else None
                j = next((k for k, e in enumerate(node) if isinstance(e, dict) and name is not None
                          and e.get("name") == name), None) if name is not None else \
                    (part if part < len(node) else None)
                if j is None:
                    return None
                node = node[j]
                out.append(j)
            else:
                if not isinstance(node, dict) or part not in node:
                    return tuple(out) if out and len(self.layers) == 1 else None
                node = node[part]
                out.append(part)
        return tuple(out)


def _sorted(problems: list[Problem]) -> list[Problem]:
    """Problems in file order: by file, then line (unlocated last), stable otherwise."""
    return sorted(problems, key=lambda p: (p.file, p.line is None, p.line or 0))


def scenario_warnings(sc: Scenario) -> list[Problem]:
    """Warnings found when the scenario was loaded."""
    return list(sc._warnings)


def _load_tape(sc: Scenario, file: str, index: dict, problems: ProblemList) -> None:
    from .loantape import read_loan_tape

    p = Path(sc.portfolio.loans_file)
    full = p if p.is_absolute() else Path(sc._base_dir) / p
    try:
        tape = read_loan_tape(full, shown_as=str(Path(file).parent / p) if not file.startswith("<") else str(p),
                              encoding=sc.portfolio.encoding,
                              default_sector=sc.portfolio.default_sector or
                              (sc.model.sectors[0] if len(sc.model.sectors) == 1 else None),
                              sectors=sc.model.sectors)
    except ScenarioError as e:
        problems.extend(e.problems)
        problems.extend(e.warnings)
        return
    problems.extend(getattr(tape, "warnings", ()))
    sc._tape = tape


def resolved_dict(sc: Scenario) -> dict:
    """The fully resolved scenario as plain data (money in yuan, defaults filled in)."""

    def drop_none(x):
        if isinstance(x, dict):
            return {k: drop_none(v) for k, v in x.items() if v is not None}
        if isinstance(x, list):
            return [drop_none(v) for v in x]
        return x

    return drop_none(sc.model_dump(mode="python"))


def resolved_toml(sc: Scenario) -> str:
    """The fully resolved scenario as TOML text."""
    import tomli_w

    header = (f"# Resolved scenario (every default filled in, money in yuan)\n"
              f"# source: {sc.source}\n")
    return header + tomli_w.dumps(resolved_dict(sc))
