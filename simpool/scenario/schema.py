"""The scenario's tables: the typed models that are the public contract of a scenario file.

:class:`Scenario` holds one model per table (``[simulation]``, ``[model]``, ``[[cohorts]]``,
``[portfolio]``, ``[report]``, ``[importance_sampling]``, ``[[stress]]``; the policy tables
come from :mod:`.policy`, ``[[funds]]`` from :mod:`.fund`). Build one with
:func:`simpool.scenario.load.load.load_scenario`, which reports every problem at once.

Money accepts yuan as a number or a string with Chinese units (``"10亿"``, ``"500万"``), always
echoed back as plain yuan in the resolved scenario. Shares and rates are fractions, rates are
per year, ``rho`` is the asset correlation (Basel convention), never the factor loading.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .base import Fraction, Money, Strict
from .fund import Concession, Fund, GuidanceFund, Outcomes, PublicLP, Stage, SubFund
from .public import Payer, Rewards
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

__all__ = [
    "Scenario",
    "Simulation",
    "Model",
    "Cohort",
    "Portfolio",
    "Report",
    "ImportanceSampling",
    "Stress",
]


_Strict = Strict


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


class ParameterSpread(_Strict):
    """How uncertain a cohort's (or a sector's cohorts') pd and rho are: standard deviations,
    drawn once per path as logit-normal around the scenario's value (the logit's standard
    deviation sd / (x (1 - x)), the delta method)."""

    pd_sd: Fraction = Field(0.0, description="standard deviation of pd (e.g. calibrate's pd_se)")
    rho_sd: Fraction = Field(0.0, description="standard deviation of rho (calibrate's rho_se)")


class Uncertainty(_Strict):
    """Estimation risk in a run (``[model.uncertainty]``): each path draws the uncertain
    cohorts' pd and rho once, so every figure includes parameter risk; the summary then shows
    the headline tails with and without it (a second run on the same seed)."""

    source: str | None = Field(
        None, description="a JSON file written by `simpool calibrate --format json`: each "
                          "segment's pd_se and rho_se apply to the cohort of that name")
    cohorts: dict[str, ParameterSpread] = Field(
        default_factory=dict, description="by cohort name (overrides the source)")
    sectors: dict[str, ParameterSpread] = Field(
        default_factory=dict, description="by sector: its cohorts share one draw a path")
    compare: bool = Field(True, description="also run without parameter uncertainty (same "
                                            "seed) and report both")


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
    uncertainty: Uncertainty | None = Field(
        None, description="estimation risk: pd and rho drawn once per path ([model.uncertainty])")

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
    premium_rate: float | None = Field(
        None, ge=0.0, le=0.5, description="insured loans: premium per year, of the balance "
                                          "(default: the insurer's)")
    small_micro: bool = Field(
        True, description="borrowers are small or micro firms: a loan of at most "
                          "policy.small_loan_limit is weighted small_micro_weight in the "
                          "guarantor's weighted liability [A: tech SMEs]")
    term_years: int | None = Field(None, ge=1, le=100,
                                   description="loans mature after this many years (default: none)")
    amortization: Literal["bullet", "linear"] = Field(
        "bullet", description="bullet: full exposure until maturity; linear: 1/term a year")
    growth: float = Field(0.0, ge=-1.0, le=10.0,
                          description="new lending grows the book by this rate a year "
                                      "(the plan's target: 0.20 [S])")
    rollover: bool = Field(True, description="matured loans are replaced by new ones")
    borrowers: int | None = Field(
        None, ge=0, le=10**12,
        description="distinct borrowers of the start book counted in this cohort (default: "
                    "loans, one loan each); a borrower with loans in several cohorts is "
                    "counted in one of them [A]")
    new_borrowers: int | None = Field(
        None, ge=0, le=10**12,
        description="demand of first-time borrowers: how many enter this cohort in the second "
                    "simulated year (then growing by new_borrower_growth a year), each taking "
                    "loans_per_new_borrower loans. With it set, growth is the repeat "
                    "borrowers' demand (more loans to the same borrowers); without it every "
                    "loan growth adds is a new borrower, at the start book's loans per borrower")
    new_borrower_growth: float = Field(
        0.0, ge=-1.0, le=10.0, description="growth of the yearly inflow of new borrowers")
    loans_per_new_borrower: int = Field(
        1, ge=1, le=1000, description="loans (drawdowns) each new borrower takes")
    interest_subsidy_rate: float = Field(
        0.0, ge=0.0, le=0.2, description="interest subsidy (贴息) per year, of the performing "
                                         "balance (loans not in default), paid by "
                                         "interest_subsidy_payer [S: '301' first loans up to 2%]")
    interest_subsidy_payer: str = Field(
        "government", description="who pays it: a budget payer (POLICY.md) [A: the local "
                                  "government; the plan asks cities to issue 贴息]")
    interest_subsidy_years: int | None = Field(
        None, ge=1, le=100, description="paid in the first this many simulated years "
                                        "(default: every year)")
    premium_subsidy_rate: Fraction = Field(
        0.0, description="insured loans: share of the premium a public payer pays for the "
                         "borrower (e.g. first-set equipment insurance: 0.8, central [S])")
    premium_subsidy_payer: str = Field(
        "government", description="who pays the premium subsidy: a budget payer")

    @model_validator(mode="after")
    def _book_needs_binomial(self) -> "Cohort":
        if self.mode == "loans" and (self.term_years is not None or self.growth
                                     or self.new_borrowers or self.borrowers is not None):
            raise ValueError("term_years, growth, borrowers and new_borrowers need mode = "
                             "\"binomial\" (single-loan cohorts and tapes are a static book of "
                             "one borrower a loan)")
        return self

    @model_validator(mode="after")
    def _borrowers_ok(self) -> "Cohort":
        if self.borrowers is not None:
            if self.borrowers > self.loans:
                raise ValueError(f"borrowers ({self.borrowers}) must be at most loans "
                                 f"({self.loans}): every borrower has at least one loan")
            if self.loans > 0 and self.borrowers == 0:
                raise ValueError(f"borrowers must be at least 1 when the cohort has loans "
                                 f"({self.loans})")
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
    """Optional loan tape: one row per loan (see :mod:`simpool.scenario.loantape`)."""

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
                                  "guarantee_balance_year [S], on the start book's borrowers "
                                  "(cohorts.*.borrowers; default one loan per borrower [A])")
    loan_growth_target: float = Field(
        0.20, ge=-1.0, le=10.0,
        description="the plan's target: tech-SME loan balance +20% a year on average [S: the "
                    "plan, 总体要求], tested at the end of guarantee_balance_year against the "
                    "start book compounded from the year before start_year")
    lang: Literal["en", "zh"] | None = Field(
        None, description="language of labels (the label column, the console, the report): "
                          "en or zh; --lang and SIMPOOL_LANG take precedence (default: en)")
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
    """Importance sampling for tail figures (see :mod:`simpool.engine.importance`)."""

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
    payers: list[Payer] = Field(
        default_factory=list, description="budgets that pay subsidies, rewards and the 四补, "
                                          "with their level and kind (POLICY.md)")
    rewards: Rewards = Field(default_factory=Rewards,
                             description="fixed rewards each year (the plan's 30万 to ten "
                                         "institutions)")
    funds: list[Fund] = Field(default_factory=list, max_length=100,
                              description="government angel funds (FUNDS.md; at most 100, each "
                                          "simulated deal by deal)")
    guidance_funds: list[GuidanceFund] = Field(
        default_factory=list, max_length=20,
        description="the plan's guidance funds: funds of funds over sub-funds (FUNDS.md, "
                    "\"Fund of funds\")")
    stress: list[Stress] = Field(
        default_factory=list, description="deterministic stresses of the systematic factors")
    sweep: dict[str, Any] = Field(
        default_factory=dict,
        description="what-if grid: dotted key = [values]; `simpool sweep` runs the cross product")

    _source: str = PrivateAttr("<dict>")
    _base_dir: str = PrivateAttr(".")
    _tape: Any = PrivateAttr(None)
    _warnings: list = PrivateAttr(default_factory=list)
    _overrides: list = PrivateAttr(default_factory=list)
    #: {cohort name: (logit sd of pd, logit sd of rho, draw group)} of [model.uncertainty],
    #: resolved by the checks (the source file read, names matched)
    _spreads: dict = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """File the scenario came from (``<dict>`` for a dict)."""
        return self._source

    @property
    def tape(self):
        """The validated loan tape (:class:`simpool.scenario.loantape.LoanTape`) or None."""
        return self._tape

    def deal_funds(self) -> list[tuple[tuple, Any]]:
        """(table path, fund) of every fund simulated deal by deal, in the kernels' order: the
        ``[[funds]]``, then each guidance fund's sub-funds (``("guidance_funds", g,
        "sub_funds", k)``). A fund's index here keys its random numbers."""
        out: list = [(("funds", i), f) for i, f in enumerate(self.funds)]
        for g, gf in enumerate(self.guidance_funds):
            out += [(("guidance_funds", g, "sub_funds", k), s) for k, s in enumerate(gf.sub_funds)]
        return out

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

    @property
    def overrides(self) -> list[str]:
        """The ``--set`` (and ``--stress``) changes applied on top of the file, as given."""
        return list(self._overrides)

    @property
    def label(self) -> str:
        """The name, saying when ``--set``/``--stress`` changed the file: ``hubei_base
        (--set cohorts.kv_credit.pd=0.05; --stress 2026=0.01)``; a long list is shortened."""
        if not self._overrides:
            return self.name
        import re

        parts = []
        for o in self._overrides:
            flags = re.findall(r'name = "(--stress [^"]*)"', o) if o.startswith("stress=") else []
            parts.extend(flags or [f"--set {o}"])
        shown = "; ".join(parts)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return f"{self.name} ({shown})"

    @model_validator(mode="after")
    def _cross_checks(self) -> "Scenario":
        names = [c.name for c in self.cohorts]
        dup = _repeated(names)
        if dup:
            raise ValueError(f"cohort names must be unique; repeated: {_listing(dup)}")
        return self


# ---------------------------------------------------------------------------
# Which model a table is (for did-you-mean and the fuzzer)
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
    "guidance_funds": GuidanceFund,
    "stress": Stress,
    "payers": Payer,
    "rewards": Rewards,
}
_ARRAYS = ("cohorts", "banks", "guarantors", "pools", "insurers", "funds", "guidance_funds",
           "payers")


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
    if parent[0] == "guidance_funds" and len(parent) > 2:
        tail = tuple("#" if isinstance(x, int) else x for x in parent[2:])
        return {("concession",): Concession, ("sub_funds", "#"): SubFund,
                ("sub_funds", "#", "outcomes"): Outcomes,
                ("sub_funds", "#", "stages", "#"): Stage,
                ("sub_funds", "#", "stages", "#", "outcomes"): Outcomes,
                ("sub_funds", "#", "public_lps", "#"): PublicLP}.get(tail)
    if parent[0] in _ARRAYS:
        return cls if len(parent) == 2 else None
    if parent == ("policy", "sharing"):
        return Sharing
    return cls if len(parent) == 1 else None
