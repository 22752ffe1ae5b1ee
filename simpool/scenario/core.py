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
import re
import tomllib
import types
import weakref
from contextlib import suppress as _suppress
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import Problem, ProblemList, ScenarioError, did_you_mean
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
from .base import Fraction, Money, Strict
from .units import MAX_YUAN

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


def _q(value: object, limit: int = 60) -> str:
    """``'value'`` for messages, shortened: a user's 200,000-character name stays readable."""
    text = str(value)
    return f"'{text}'" if len(text) <= limit else f"'{text[: limit - 3]}...'"


def _listing(names, limit: int = 12) -> str:
    """``a, b, c`` -- at most ``limit`` names, then how many more."""
    names = [str(n) for n in names]
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _repeated(items: list) -> list:
    """The items that occur more than once, sorted (linear time: lists may be long)."""
    from collections import Counter

    return sorted(str(x) for x, k in Counter(items).items() if k > 1)


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
    sectors: list[str] = Field(default_factory=lambda: ["tech"], min_length=1, max_length=1000,
                               description="systematic factors (at most 1,000: their correlation "
                                           "matrix is factorised in memory)")
    sector_correlation: list[list[float]] | None = Field(
        None, description="correlation matrix of the sector factors (default: identity)")
    factor_persistence: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="AR(1) coefficient of the sector factors from one year to the next")

    @field_validator("sectors")
    @classmethod
    def _unique_sectors(cls, v: list[str]) -> list[str]:
        dup = _repeated(v)
        if dup:
            raise ValueError(f"sector names must be unique; repeated: {_listing(dup)}")
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
        if self.lgd_std > 0 and self.lgd_std * self.lgd_std >= self.lgd * (1 - self.lgd):
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
    allow_duplicate_ids: bool = Field(
        False, description="accept a loan id on several rows of the tape (each row is one loan; "
                           "by default a repeated id is an error)")


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
    shift: list[Annotated[float, Field(ge=-10.0, le=10.0)]] | None = Field(
        None, description="explicit mean shift of the factor normals, one per sector, every "
                          "year (standard normal units, -10 to 10)")
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
    funds: list[Fund] = Field(default_factory=list, max_length=100,
                              description="government angel funds (FUNDS.md; at most 100, each "
                                          "simulated deal by deal)")
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
        dup = _repeated(names)
        if dup:
            raise ValueError(f"cohort names must be unique; repeated: {_listing(dup)}")
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
    if _nesting_line(text) is not None:
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError, RecursionError, KeyError):
        # ValueError: an integer of more than 4300 digits; KeyError: "1\nw = 2" sets no v
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
                                   f"no element named {_q(part)} in {'.'.join(map(str, loc))}"
                                   f"{did_you_mean(part, [n for n in names if n])}"
                                   f"; known: {_listing(n for n in names) or 'none'}")
                    ok = False
                    break
                node = node[idx]
                loc.append(idx)
            elif isinstance(node, dict):
                if part not in node:
                    if not loc and part in _ARRAYS:
                        problems.error("--set", None, key,
                                       f"no element named '{parts[i + 1]}' in {part}; known: none")
                        ok = False
                        break
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
    "int_parsing_size": "must be an integer (this one is too large)",
    "bool_parsing": "must be true or false",
    "string_too_short": "must not be empty",
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
    "too_long": "must have at most {max_length} item(s), got {actual_length}",
    "missing": "required key is missing",
}


def _pydantic_message(err: dict) -> str:
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    if typ == "union_literal_or_table":
        return msg
    if typ in _PLAIN:
        try:
            msg = _PLAIN[typ].format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = err.get("input")
    if typ in ("float_type", "float_parsing", "finite_number") and isinstance(value, int) \
            and not isinstance(value, bool):
        msg = "must be a finite number (this integer is too large)"
    if typ != "missing" and "input" in err and "got " not in msg:
        if not isinstance(value, (dict, list)):
            msg = f"{msg}, got {_shown_input(value)}"
    return msg


def _shown_input(value: Any, limit: int = 60) -> str:
    """repr() of an offending input, shortened (a 200,000-character string, a huge int)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _show_value(value, limit)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Branch tags pydantic puts in an error's location (unions, validators), not keys.
_TAG = re.compile(r"(?:literal|function-[a-z]+|nullable|list|dict|model|union|tagged-union|"
                  r"lax-or-strict|json-or-python|default|chain|constrained-[a-z]+)\[.*\]",
                  re.DOTALL)


def _is_tag(x: object) -> bool:
    return isinstance(x, str) and (x.startswith("[") or bool(_TAG.fullmatch(x)))


def _union_errors(errors: list[dict]) -> list[dict]:
    """One message per union field: a table goes to the table branch's messages; anything
    else gets the literal branch's list of names, "or a table"."""
    tagged: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        k = next((i for i, x in enumerate(loc) if _is_tag(x)), None)
        if k is not None and str(loc[k]).startswith("literal["):
            tagged.setdefault(tuple(loc[:k]), []).append(err)
    out = []
    for err in errors:
        loc = err["loc"]
        k = next((i for i, x in enumerate(loc) if _is_tag(x)), None)
        head = tuple(loc[:k]) if k is not None else None
        if head is None or head not in tagged:
            out.append(err)
            continue
        is_table = isinstance(err.get("input"), dict) or len(loc) > k + 1
        if str(loc[k]).startswith("literal["):
            siblings = [e for e in errors if e is not err and tuple(e["loc"][:k]) == head]
            if isinstance(err.get("input"), dict) and siblings:
                continue  # a table: the table branch says what is wrong with it
            err = dict(err)
            if siblings:
                text = _pydantic_message({k: v for k, v in err.items() if k != "input"})
                err["msg"] = f"{text}, or a table, got {_shown_input(err.get('input'))}"
                err["type"] = "union_literal_or_table"
            out.append(err)
        elif is_table and err.get("type") != "model_type":
            out.append(err)
    return out


def _problems_from_validation(exc: ValidationError, file: str, index: dict, names: dict,
                              touched: set[tuple]) -> list[Problem]:
    out = []
    for err in _union_errors(exc.errors()):
        # pydantic puts union/literal branch tags in loc; keep only real keys and indices
        loc = tuple(x for x in err["loc"] if not _is_tag(x))
        if err["type"] == "extra_forbidden":
            cls = _model_for(loc[:-1])
            allowed = list(cls.model_fields) if cls is not None else []
            message = f"unknown key {_q(loc[-1])}{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                message += f"; allowed: {', '.join(allowed)}"
        else:
            message = _pydantic_message(err)
        src, line = _where(loc, index, touched)
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
    for i, f in enumerate(sc.funds):
        where = format_path(("funds", i), names)
        if f.sector is None:
            f.sector = sectors[0]
        elif f.sector not in sectors:
            problems.error(*index.at(("funds", i, "sector")), f"{where}.sector",
                           f"unknown sector {_q(f.sector)}{did_you_mean(f.sector, sectors)}; "
                           f"model.sectors are: {_listing(sectors)}")
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


def read_raw(source: str | os.PathLike) -> dict:
    """The raw data of a scenario file with its ``extends`` chain merged (not validated)."""
    raw, _ = _read_with_extends(Path(source), str(source), [])
    return raw


def _where(loc: tuple, index: "_Locator", touched: set[tuple]) -> tuple[str, int | None]:
    """(file, line) of a problem at ``loc``: ``--set`` when an override wrote it (or a table
    an override created), else where the scenario files hold it."""
    for t in touched:
        if loc[: len(t)] == t:
            return "--set", None
        if t[: len(loc)] == loc and index.at(loc)[1] is None:
            return "--set", None
    return index.at(loc)


def _unwrap(ann: Any) -> Any:
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    return ann


def _admits_bool(ann: Any) -> bool:
    ann = _unwrap(ann)
    if ann is bool or ann is Any:
        return True
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        return any(_admits_bool(a) for a in get_args(ann))
    if origin is Literal:
        return any(isinstance(a, bool) for a in get_args(ann))
    return False


def _numeric_kind(ann: Any) -> str | None:
    """"an integer" / "a number" when ``ann`` is (optionally) an int or float, else None."""
    ann = _unwrap(ann)
    if get_origin(ann) in (Union, types.UnionType):
        kinds = {_numeric_kind(a) for a in get_args(ann) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return {int: "an integer", float: "a number"}.get(ann)


def _bool_problems(value: Any, ann: Any, loc: tuple) -> list[tuple[tuple, str]]:
    """true/false where a number belongs: pydantic would read them as 1 and 0 (a silently
    wrong number). Returns (loc, message) pairs; other types are pydantic's to report."""
    out: list[tuple[tuple, str]] = []
    ann = _unwrap(ann)
    if isinstance(value, bool):
        kind = _numeric_kind(ann)
        if kind is not None and not _admits_bool(ann):
            out.append((loc, f"must be {kind}, got {'true' if value else 'false'}"))
        return out
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        for a in get_args(ann):
            a = _unwrap(a)
            if (isinstance(value, dict) and isinstance(a, type) and issubclass(a, BaseModel)) or \
                    (isinstance(value, list) and get_origin(a) is list):
                return _bool_problems(value, a, loc)
        return out
    if isinstance(value, dict) and isinstance(ann, type) and issubclass(ann, BaseModel):
        for k, v in value.items():
            f = ann.model_fields.get(k) if isinstance(k, str) else None
            if f is not None:
                out.extend(_bool_problems(v, f.annotation, loc + (k,)))
    elif isinstance(value, list) and origin is list:
        elem = (get_args(ann) or (Any,))[0]
        for i, v in enumerate(value):
            out.extend(_bool_problems(v, elem, loc + (i,)))
    return out


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


def _check_sweep(raw: dict, index: "_Locator", touched: set[tuple], problems: ProblemList) -> None:
    """``[sweep]``: each axis a non-empty list of values, and its variants valid scenarios."""
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
            load_scenario(base, {k: v for (k, _, _), v in zip(axes, combo)}, load_tape=False)
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


def _show_value(value: Any, limit: int = 60) -> str:
    """A value as in TOML (true, 0.5, "text"), shortened for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value))) if value.bit_length() < 13000 else None
        if digits is None or digits > 30:
            return f"an integer of {digits or 'over 4300'} digits"
        return str(value)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        layers = [(file, {}, raw, {})]
    else:
        file = str(source)
        base_dir = str(_safe_resolve(Path(source)).parent)
        raw, layers = _read_with_extends(Path(source), file, [])
    index = _Locator(layers)
    raw, touched = apply_overrides(raw, overrides, problems)
    names = _cohort_names(raw)
    index.merged_names = names
    for loc, message in _bool_problems(raw, Scenario, ()):
        problems.error(*_where(loc, index, touched), format_path(loc, names), message)
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from_validation(exc, file, index, names, touched))
        raise ScenarioError(_sorted(problems.problems)) from None
    sc._source = file
    sc._base_dir = base_dir
    _cross_reference(sc, file, index, names, problems)
    _check_sizes(sc, index, names, touched, problems)
    _check_names(sc, index, names, touched, problems)
    problems.extend(_warnings(sc, file, index, names))
    if not problems.errors:
        _check_sweep(raw, index, touched, problems)
    if load_tape and sc.portfolio.loans_file is not None and not problems.errors:
        _load_tape(sc, file, index, problems)
    if problems.errors:
        raise ScenarioError(_sorted(problems.problems))
    sc._warnings = _sorted(problems.warnings)
    return sc


#: Arrays of tables merged by ``name`` when a scenario ``extends`` another.
_NAMED_ARRAYS = ("cohorts", "banks", "guarantors", "pools", "insurers", "funds")


def _safe_resolve(path: Path) -> Path:
    """``path.resolve()``, or its absolute form when it cannot be resolved (a symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def _not_a_file(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be read as a file (None: a regular file). Never raises."""
    import stat

    if "\x00" in str(path):
        return "the file name contains a NUL character"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found" if what == "scenario" else f"{what} not found"
    except NotADirectoryError:
        return "file not found" if what == "scenario" else f"{what} not found"
    except (OSError, RuntimeError, ValueError) as e:
        return f"cannot open the file: {getattr(e, 'strerror', None) or e}"
    if stat.S_ISDIR(mode):
        return "is a directory, not a scenario file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device?); name a TOML file"
    return None


#: Nesting deeper than this is refused before tomllib (which would exhaust the stack).
_MAX_NESTING = 100


_NESTING_TOKENS = re.compile(r'"""|\'\'\'|\\.|["\'#\n\[\]{}]', re.DOTALL)


def _nesting_line(text: str) -> int | None:
    """The first line where brackets or braces nest deeper than ``_MAX_NESTING`` (a rough
    scan that skips strings and comments), or None."""
    if text.count("[") + text.count("{") <= _MAX_NESTING:
        return None
    depth, line, quote, comment = 0, 1, "", False
    for m in _NESTING_TOKENS.finditer(text):
        t = m.group()
        if t == "\n":
            line += 1
            comment = False
            if quote in ('"', "'"):
                quote = ""
        elif comment:
            continue
        elif quote:
            if t == quote:
                quote = ""
        elif t == "#":
            comment = True
        elif t in ('"', "'", '"""', "\'\'\'"):
            quote = t
        elif t in "[{":
            depth += 1
            if depth > _MAX_NESTING:
                return line
        elif t in "]}":
            depth = max(0, depth - 1)
    return None


def _read_toml(path: Path, shown: str) -> tuple[dict, dict]:
    """Parse one TOML file: (data, key->line index); file problems raise ScenarioError."""
    why = _not_a_file(path, "scenario")
    if why is not None:
        raise ScenarioError([Problem(shown, None, "", why)])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(shown, None, "", "is a directory, not a scenario file")]) from None
    except (OSError, ValueError) as e:
        raise ScenarioError([Problem(shown, None, "",
                                     f"cannot read: {getattr(e, 'strerror', None) or e}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError([Problem(shown, None, "",
                                     f"not UTF-8 text (byte {e.start}): save the scenario as UTF-8")]) from None
    deep = _nesting_line(text)
    if deep is not None:
        raise ScenarioError([Problem(shown, deep, "", f"invalid TOML: arrays or tables nested "
                                                      f"more than {_MAX_NESTING} deep")])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        msg = str(e).split(" (at line")[0].split(" (at end of document)")[0]
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {msg}")]) from None
    except (ValueError, RecursionError, MemoryError) as e:
        # e.g. an integer of more than 4300 digits (int() refuses it), or deep nesting
        m = re.search(r"[0-9_]{4000,}", text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        msg = ("an integer with too many digits" if m else
               f"cannot be parsed ({type(e).__name__})")
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {msg}")]) from None
    return raw, locate_keys(text)


def _read_with_extends(path: Path, shown: str, chain: list[Path]) -> tuple[dict, list]:
    """Read ``path`` and the files it ``extends``; return (merged data, layers child-first).

    ``extends = "base.toml"`` (relative to the file) makes a what-if hold only its
    differences: tables merge key by key, arrays of named tables (cohorts, banks,
    guarantors, pools, insurers) merge element by element by ``name``, anything else in the
    child replaces the base's value.

    Each layer is ``(shown file, key->line index, raw data, origins)``: ``origins[key][i]``
    maps layer number -> element index of the merged named array ``key``'s element ``i``.
    """
    resolved = _safe_resolve(path)
    if resolved in chain:
        cycle = " -> ".join(str(p.name) for p in chain + [resolved])
        raise ScenarioError([Problem(shown, None, "extends", f"circular extends: {cycle}")])
    raw, index = _read_toml(path, shown)
    base_name = raw.pop("extends", None)
    if base_name is None:
        origins = {k: [{0: i} for i in range(len(v))] for k, v in raw.items()
                   if k in _NAMED_ARRAYS and isinstance(v, list)}
        return raw, [(shown, index, raw, origins)]
    line = line_of(index, ("extends",))
    if not isinstance(base_name, str) or not base_name.strip():
        raise ScenarioError([Problem(shown, line, "extends",
                                     "must be the path of a scenario file, relative to this one")])
    if "\x00" in base_name:
        raise ScenarioError([Problem(shown, line, "extends",
                                     "the file name contains a NUL character")])
    base_path = path.parent / base_name
    base_shown = str(Path(shown).parent / base_name)
    if _safe_resolve(base_path) in chain + [resolved]:
        cycle = " -> ".join(str(p.name) for p in chain + [resolved, _safe_resolve(base_path)])
        raise ScenarioError([Problem(shown, line, "extends", f"circular extends: {cycle}")])
    why = _not_a_file(base_path, "base scenario")
    if why is not None:
        if why.endswith("not found"):
            why = f"base scenario not found: {base_shown}"
        else:
            why = f"base scenario {base_shown}: {why}"
        raise ScenarioError([Problem(shown, line, "extends", why)])
    base_raw, base_layers = _read_with_extends(base_path, base_shown, chain + [resolved])
    tape = base_raw.get("portfolio", {}).get("loans_file") if isinstance(base_raw.get("portfolio"), dict) else None
    if isinstance(tape, str) and "\x00" not in tape and not Path(tape).is_absolute():
        # a base's loan tape stays relative to the base file
        base_raw["portfolio"]["loans_file"] = os.path.relpath(base_path.parent / tape, path.parent)
    base_origins = base_layers[0][3]
    merged, origins = _merge_tracked(base_raw, raw, base_origins)
    layers = [(shown, index, raw, origins)] + [(f, i, r, {}) for f, i, r, _ in base_layers]
    return merged, layers


def _merge_tracked(base: dict, child: dict, base_origins: dict) -> tuple[dict, dict]:
    """:func:`_merge`, and where each element of the merged named arrays comes from."""
    merged = _merge(base, child)
    origins: dict = {}
    for key in _NAMED_ARRAYS:
        value = merged.get(key)
        if not isinstance(value, list):
            continue
        old = base.get(key)
        new = child.get(key)
        if isinstance(old, list) and isinstance(new, list):
            prov = [{k + 1: v for k, v in o.items()} for o in base_origins.get(key, [])]
            prov += [{} for _ in range(len(old) - len(prov))]
            index = _name_index(old)
            for j, item in enumerate(new):
                name = item.get("name") if isinstance(item, dict) else None
                at = _find_named(old, index, name)
                if at is None:
                    prov.append({0: j})
                else:
                    prov[at][0] = j
        elif isinstance(new, list):
            prov = [{0: j} for j in range(len(new))]
        else:
            prov = [{k + 1: v for k, v in o.items()} for o in base_origins.get(key, [])]
        if len(prov) == len(value):
            origins[key] = prov
    return merged, origins


def _find_named(items: list, index: dict, name: Any) -> int | None:
    """Position of the first table named ``name`` (``index``: name -> first position)."""
    if name is None:
        return None
    try:
        return index.get(name)
    except TypeError:  # an unhashable "name" (a list, a table): compare one by one
        return next((i for i, e in enumerate(items)
                     if isinstance(e, dict) and e.get("name") == name), None)


def _name_index(items: list) -> dict:
    out: dict = {}
    for i, e in enumerate(items):
        if isinstance(e, dict) and e.get("name") is not None:
            with _suppress(TypeError):
                out.setdefault(e["name"], i)
    return out


def _merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value)
        elif key in _NAMED_ARRAYS and isinstance(old, list) and isinstance(value, list):
            merged = list(old)
            index = _name_index(merged)
            for item in value:
                name = item.get("name") if isinstance(item, dict) else None
                at = _find_named(merged, index, name)
                if at is None:
                    merged.append(item)
                    if name is not None:
                        with _suppress(TypeError):
                            index.setdefault(name, len(merged) - 1)
                else:
                    merged[at] = _merge(merged[at], item)
            out[key] = merged
        else:
            out[key] = value
    return out


class _Locator:
    """Where a key of the merged scenario was written: (file, line), child file first."""

    def __init__(self, layers: list):
        self.layers = [layer if len(layer) == 4 else (*layer, {}) for layer in layers]
        self.merged_names: dict = {}
        # origins of the merged named arrays, per layer number
        self.origins: dict = self.layers[0][3] if self.layers else {}

    def at(self, loc: tuple) -> tuple[str, int | None]:
        for k, (file, index, raw, _) in enumerate(self.layers):
            local = self._translate(loc, raw, k)
            if local is not None:
                return file, line_of(index, local)
        file, index, _, _ = self.layers[0]
        return file, line_of(index, loc)

    def _translate(self, loc: tuple, raw, layer: int = 0) -> tuple | None:
        """``loc`` in the merged data → the same key in one layer (None if not there)."""
        node = raw
        out: list = []
        for i, part in enumerate(loc):
            if isinstance(part, int):
                if not isinstance(node, list):
                    return tuple(out) if out else None
                key = loc[i - 1] if i else None
                origin = self.origins.get(key) if i == 1 else None
                if origin is not None and 0 <= part < len(origin):
                    j = origin[part].get(layer)
                    if j is not None and j >= len(node):
                        j = None
                else:
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


#: Loan tapes read, while any scenario holds them: the variants of a sweep (and the what-ifs
#: of a comparison) share one read-only copy of a tape instead of reading it once each.
_TAPES: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _tape_key(full: Path, options: dict) -> tuple | None:
    """What identifies a tape read: the file (device, inode, size, modification time) and
    the reader's options; None when the file cannot be looked at (the reader says why)."""
    try:
        st = full.stat()
    except (OSError, ValueError):
        return None
    return (str(full), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            tuple(sorted(options.items())))


def _load_tape(sc: Scenario, file: str, index: dict, problems: ProblemList) -> None:
    from .loantape import read_loan_tape

    if "\x00" in sc.portfolio.loans_file:
        problems.error(*index.at(("portfolio", "loans_file")), "portfolio.loans_file",
                       "the file name contains a NUL character")
        return
    p = Path(sc.portfolio.loans_file)
    full = p if p.is_absolute() else Path(sc._base_dir) / p
    options = dict(shown_as=str(Path(file).parent / p) if not file.startswith("<") else str(p),
                   encoding=sc.portfolio.encoding,
                   default_sector=sc.portfolio.default_sector or
                   (sc.model.sectors[0] if len(sc.model.sectors) == 1 else None),
                   sectors=tuple(sc.model.sectors),
                   allow_duplicate_ids=sc.portfolio.allow_duplicate_ids)
    key = _tape_key(full, options)
    tape = _TAPES.get(key) if key is not None else None
    try:
        if tape is None:
            tape = read_loan_tape(full, **options)
            if key is not None:
                _TAPES[key] = tape
    except ScenarioError as e:
        problems.extend(e.problems)
        problems.extend(e.warnings)
        return
    problems.extend(getattr(tape, "warnings", ()))
    problems.extend(_tape_typical_warnings(tape))
    sc._tape = tape
    _check_tape_routes(sc, index, problems)


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
