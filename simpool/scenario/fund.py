"""Scenario tables of the government angel fund (``[[funds]]``; FUNDS.md states the model).

Facts from the plan are marked [S], assumptions [A]; every assumption is a field with a
documented default. Outcome presets are parameter sets calibrated to named public data
points (FUNDS.md, "Presets"); explicit keys override a preset.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .public import Kind, Level
from .base import Fraction, Money, Strict

#: Deal-outcome presets: total-loss and partial-loss probabilities, Pareto tail index and
#: truncation, with the targets each matches (tests/test_fund_outcomes.py checks them).
OUTCOME_PRESETS = {
    # Wiltbank (2007) angel exits: 52% below 1x (35% total loss, DOMAIN.md), 7% above 10x;
    # alpha solves 0.48 x P_tail(m > 10) = 0.07 with cap 200. Its mean is then 3.75x.
    "wiltbank_tail": {"p_loss": 0.35, "p_partial": 0.17, "alpha": 0.8011, "cap": 200.0},
    # Wiltbank (2007): 52% below 1x and a 2.6x mean; alpha solves
    # 0.17 x 0.5 + 0.48 x E[tail] = 2.6 with cap 200. Then 4.5% of deals are above 10x.
    "wiltbank_mean": {"p_loss": 0.35, "p_partial": 0.17, "alpha": 1.0097, "cap": 200.0},
    # Correlation Ventures: 65% of VC deals lose money; alpha = 1.1, the top of DOMAIN's
    # 0.85-1.1 range, cap 100 [A]. Mean 1.53x: a harsher world for the what-ifs.
    "vc_harsh": {"p_loss": 0.45, "p_partial": 0.20, "alpha": 1.1, "cap": 100.0},
}
#: The targets each preset reproduces: (statistic, value), statistic in
#: {"P(m<1)", "P(m>10)", "mean"}.
PRESET_TARGETS = {
    "wiltbank_tail": (("P(m<1)", 0.52), ("P(m>10)", 0.07)),
    "wiltbank_mean": (("P(m<1)", 0.52), ("mean", 2.6)),
    "vc_harsh": (("P(m<1)", 0.65),),
}
OutcomePreset = Literal["wiltbank_tail", "wiltbank_mean", "vc_harsh"]


class Outcomes(Strict):
    """Distribution of a deal's multiple: P(total loss), P(partial loss), truncated Pareto."""

    preset: OutcomePreset | None = Field(
        None, description="start from a calibrated parameter set; explicit keys override it")
    p_loss: Fraction = Field(0.35, description="probability of a total loss (m = 0) [A]")
    p_partial: Fraction = Field(0.17, description="probability of 0 < m < 1 (uniform) [A]")
    alpha: float = Field(1.0097, gt=0.05, le=10.0, allow_inf_nan=False,
                         description="Pareto index of the tail above 1x (0.85-1.1 [A])")
    cap: float = Field(200.0, gt=1.0, le=1e6, allow_inf_nan=False,
                       description="largest multiple: the tail is always truncated")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data):
        if isinstance(data, dict) and isinstance(data.get("preset"), str) \
                and data["preset"] in OUTCOME_PRESETS:
            return {**OUTCOME_PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _probabilities_ok(self) -> "Outcomes":
        if self.p_loss + self.p_partial >= 1.0:
            raise ValueError(f"p_loss + p_partial must be below 1 (the rest is the tail above "
                             f"1x), got {self.p_loss + self.p_partial:g}")
        return self

    def tail_mean(self) -> float:
        a, c = self.alpha, self.cap
        if abs(a - 1.0) < 1e-9:
            return math.log(c) / (1.0 - 1.0 / c)
        return a / (a - 1.0) * (1.0 - c ** (1.0 - a)) / (1.0 - c ** -a)

    def mean(self) -> float:
        """Expected multiple (closed form)."""
        return 0.5 * self.p_partial + (1.0 - self.p_loss - self.p_partial) * self.tail_mean()

    def prob_above(self, x: float) -> float:
        """P(m > x) for x >= 1 (closed form)."""
        if x >= self.cap:
            return 0.0
        a, c = self.alpha, self.cap
        return (1.0 - self.p_loss - self.p_partial) * (x ** -a - c ** -a) / (1.0 - c ** -a)

    def prob_below(self, x: float) -> float:
        """P(m < x) for 0 < x <= 1 (closed form)."""
        return self.p_loss + self.p_partial * min(max(x, 0.0), 1.0)


class Stage(Strict):
    """A stage of the fund's deals (seed, angel, ...): its share of deals, ticket, outcomes."""

    name: str = Field(min_length=1)
    share: Fraction = Field(description="share of the fund's deals")
    ticket: Money = Field(description="investment per deal, yuan")
    outcomes: Outcomes | None = Field(None, description="default: the fund's outcomes")


class Fund(Strict):
    """A government angel fund (天使投资) with the plan's tolerance and profit concession."""

    name: str = Field(min_length=1)
    size: Money = Field(description="committed capital, yuan")
    government_share: float = Field(
        ge=0.0, allow_inf_nan=False,
        description="share of the capital from public money: at most 90% [S]")
    start_year: int | None = Field(None, description="first calendar year (default: the "
                                                     "simulation's start_year)")
    life_years: int = Field(10, ge=1, le=30, description="fund life, years [S: 10]")
    investment_years: int = Field(5, ge=1, le=30, description="years in which deals are made [A]")
    deals_per_year: int = Field(ge=0, le=1_000_000, description="deals attempted each year")
    ticket: Money | None = Field(None, description="investment per deal, yuan (without stages)")
    stages: list[Stage] = Field(default_factory=list,
                                description="stage mix; default one stage with `ticket`")
    outcomes: Outcomes = Field(default_factory=lambda: Outcomes(preset="wiltbank_mean"),
                               description="deal outcomes (default preset wiltbank_mean)")
    deal_correlation: float = Field(
        0.2, ge=0.0, lt=1.0, allow_inf_nan=False,
        description="deals' loading rho on the market factor of their vintage year [A]")
    sector: str | None = Field(None, description="market factor: a model sector (default the first)")
    exit_mean_years: float = Field(3.5, gt=0.0, le=30.0, description="mean exit time [S: 3.5]")
    exit_shape: float = Field(2.0, gt=0.0, le=100.0, description="Gamma shape of exit times [A]")
    management_fee: float = Field(0.02, ge=0.0, le=0.05,
                                  description="of committed capital, every year of the life [A]")
    carry: float = Field(0.2, ge=0.0, lt=1.0, description="manager's carried interest [A: 20%]")
    hurdle: float = Field(0.08, ge=0.0, le=0.5, description="LPs' preferred return a year [A: 8%]")
    catch_up: bool = Field(False, description="manager's full catch-up after the hurdle")
    profit_concession: Fraction = Field(
        1.0, description="share of the government's profit ceded to private LPs [S: up to 100%]")
    first_loss: Fraction = Field(
        0.0, description="government absorbs the first losses up to this share of paid-in "
                         "capital (Shenzhen style; 0 = none) [A]")
    tolerance: Fraction = Field(0.5, description="loss tolerance [S: 50%]")
    tolerance_basis: Literal["fund", "portfolio_weighted", "per_project"] = Field(
        "fund", description="headline basis of the tolerance (all three are reported)")
    discount_rate: float = Field(0.03, ge=-0.05, le=0.5, description="for the fiscal NPV [A]")
    level: Level = Field("provincial", description="the level of government whose money it "
                                                   "is (a level or a split) [A: a provincial "
                                                   "guidance fund]")
    kind: Kind = Field("budget", description="budget money (fiscal) or soe (state-owned "
                                             "capital) [A]")

    @field_validator("government_share")
    @classmethod
    def _public_cap(cls, v: float) -> float:
        if v > 0.9:
            raise ValueError(f"must be <= 0.9: the plan caps fiscal and state-owned capital at "
                             f"90% of a fund [S], got {v}")
        if 0.0 < v < 1e-3:
            raise ValueError(f"must be 0 or at least 0.001 (a tenth of a percent): the "
                             f"government's loss ratio divides by its paid-in, got {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "Fund":
        if self.first_loss > 0 and self.government_share == 0:
            raise ValueError("first_loss needs a government_share > 0: first-loss protection is "
                             "paid by the government, whose loss ratio is relative to its paid-in")
        if self.investment_years > self.life_years:
            raise ValueError(f"investment_years ({self.investment_years}) must not exceed "
                             f"life_years ({self.life_years})")
        if self.management_fee * self.life_years >= 1.0:
            raise ValueError(f"management_fee x life_years = "
                             f"{self.management_fee * self.life_years:g} leaves nothing to invest")
        if not self.stages:
            if self.ticket is None:
                raise ValueError("needs a ticket (yuan per deal) or a list of stages")
            if not self.ticket > 0:
                raise ValueError(f"ticket must be > 0 yuan, got {self.ticket}")
        else:
            if self.ticket is not None:
                raise ValueError("give either ticket or stages (each stage has its ticket)")
            total = sum(s.share for s in self.stages)
            if abs(total - 1.0) > 1e-9:
                raise ValueError(f"stage shares must sum to 1, got {total:.6g}")
            names = [s.name for s in self.stages]
            dup = sorted(n for n, k in Counter(names).items() if k > 1)
            if dup:
                raise ValueError(f"stage names must be unique; repeated: {', '.join(dup)}")
            for s in self.stages:
                if not s.ticket > 0:
                    raise ValueError(f"stage '{s.name[:60]}': ticket must be > 0 yuan, got {s.ticket}")
        if not self.size > 0 or not math.isfinite(self.size):
            raise ValueError(f"size must be a positive amount of yuan, got {self.size}")
        return self

    @property
    def investable(self) -> float:
        """Capital available for deals: size less the management fees of the life, yuan."""
        return self.size * (1.0 - self.management_fee * self.life_years)

    def stage_list(self) -> list[tuple[str, float, float, Outcomes]]:
        """(name, share, ticket, outcomes) of every stage (one when there are none)."""
        if not self.stages:
            return [("all", 1.0, float(self.ticket), self.outcomes)]
        return [(s.name, s.share, s.ticket, s.outcomes or self.outcomes) for s in self.stages]
