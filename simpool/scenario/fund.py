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
    # Chinese early-stage deals (FUNDS.md, "Presets"; CALIBRATION.md): 31% of ~24,500 seed and
    # angel companies dead and 45% raising a next round [S: IT桔子, 2022 中国天使投资行业报告,
    # to 2022-05], so ~24% "zombies" that exit by transfer or buy-back below cost: p_partial
    # 0.25 [S-derived], partial_min 0.1 [A: a buy-back or transfer returns part]; p_loss 0.40
    # [A: above the 31%, which is right-censored]; a 1.79x mean, the TVPI of Chinese VC funds
    # of vintages 1997-2018 [S: eFront, "Looking at Chinese venture capital fund
    # distributions"]; cap 100 [A: VC IPO exits "mostly below 30x", three above 50x in 2012,
    # S: 清科 via 经济参考报 2012-12-28]; alpha solves the mean. Then 3.3% of deals are above 10x.
    "china_early": {"p_loss": 0.40, "p_partial": 0.25, "partial_min": 0.1, "alpha": 0.98901,
                    "cap": 100.0},
}
#: The targets each preset reproduces: (statistic, value), statistic in
#: {"P(m<1)", "P(m>10)", "mean"}.
PRESET_TARGETS = {
    "wiltbank_tail": (("P(m<1)", 0.52), ("P(m>10)", 0.07)),
    "wiltbank_mean": (("P(m<1)", 0.52), ("mean", 2.6)),
    "vc_harsh": (("P(m<1)", 0.65),),
    "china_early": (("P(m<1)", 0.65), ("mean", 1.79)),
}
OutcomePreset = Literal["wiltbank_tail", "wiltbank_mean", "vc_harsh", "china_early"]


class Outcomes(Strict):
    """Distribution of a deal's multiple: P(total loss), P(partial loss), truncated Pareto."""

    preset: OutcomePreset | None = Field(
        None, description="start from a calibrated parameter set; explicit keys override it")
    p_loss: Fraction = Field(0.35, description="probability of a total loss (m = 0) [A]")
    p_partial: Fraction = Field(
        0.17, description="probability of a partial loss, m uniform on (partial_min, 1) [A]")
    partial_min: Fraction = Field(
        0.0, description="lowest multiple of a partial loss (0: today's law, uniform on (0, 1)) "
                         "[A]")
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
        if self.partial_min >= 1.0:
            raise ValueError(f"partial_min must be below 1 (a partial loss returns less than "
                             f"1x), got {self.partial_min:g}")
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
        return (0.5 * (1.0 + self.partial_min) * self.p_partial
                + (1.0 - self.p_loss - self.p_partial) * self.tail_mean())

    def prob_above(self, x: float) -> float:
        """P(m > x) for x >= 1 (closed form)."""
        if x >= self.cap:
            return 0.0
        a, c = self.alpha, self.cap
        return (1.0 - self.p_loss - self.p_partial) * (x ** -a - c ** -a) / (1.0 - c ** -a)

    def prob_below(self, x: float) -> float:
        """P(m < x) for 0 < x <= 1 (closed form)."""
        lo = self.partial_min
        return self.p_loss + self.p_partial * min(max((x - lo) / (1.0 - lo), 0.0), 1.0)


class Stage(Strict):
    """A stage of the fund's deals (seed, angel, ...): its share of deals, ticket, outcomes."""

    name: str = Field(min_length=1)
    share: Fraction = Field(description="share of the fund's deals")
    ticket: Money = Field(description="investment per deal, yuan")
    outcomes: Outcomes | None = Field(None, description="default: the fund's outcomes")
    tolerance: Fraction | None = Field(
        None, description="loss tolerance of this category on its invested principal (e.g. "
                          "seed 50%, angel 40%, industry 30% [S: Guangzhou development zone]); "
                          "default the fund's. Sub-funds of a guidance fund only")
    counts_for_goal: bool = Field(
        True, description="deals of this stage count towards the guidance fund's policy goal "
                          "(provincial early-stage firms) [A]")


class FundTerms(Strict):
    """What every fund that invests deal by deal has (a plain ``[[funds]]`` fund and a
    guidance fund's sub-fund): size, life, deals, stages and outcomes, exits, fee, carry,
    hurdle."""

    name: str = Field(min_length=1)
    size: Money = Field(description="committed capital, yuan")
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

    def _check_terms(self) -> None:
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

    @property
    def investable(self) -> float:
        """Capital available for deals: size less the management fees of the life, yuan."""
        return self.size * (1.0 - self.management_fee * self.life_years)

    def stage_list(self) -> list[tuple[str, float, float, Outcomes]]:
        """(name, share, ticket, outcomes) of every stage (one when there are none)."""
        if not self.stages:
            return [("all", 1.0, float(self.ticket), self.outcomes)]
        return [(s.name, s.share, s.ticket, s.outcomes or self.outcomes) for s in self.stages]


class Fund(FundTerms):
    """A government angel fund (天使投资) with the plan's tolerance and profit concession: one
    fund whose public money is one investor (the single-fund model, FUNDS.md)."""

    government_share: float = Field(
        ge=0.0, allow_inf_nan=False,
        description="share of the capital from public money: at most 90% [S]")
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
        self._check_terms()
        for s in self.stages:
            if s.tolerance is not None:
                raise ValueError(f"stage '{s.name[:60]}': a category tolerance belongs to a "
                                 f"guidance fund's sub-fund ([[guidance_funds.sub_funds]]); a "
                                 f"single fund has one tolerance")
        return self


# ------------------------------------------------------------- the plan's guidance fund

class PublicLP(Strict):
    """A public limited partner of a sub-fund besides the guidance fund: a city's guidance
    fund, a district's, state-owned capital. Its money is budget money (the fiscal cost) or
    state-owned capital (public money, not budget money)."""

    name: str = Field(min_length=1)
    share: Fraction = Field(description="its share of the sub-fund's commitments")
    level: Level = Field("city", description="its level of government (or a split) [A]")
    kind: Kind = Field("budget", description="budget (fiscal money) or soe (state-owned "
                                             "capital) [A]")


class SubFund(FundTerms):
    """A sub-fund a guidance fund commits to as a limited partner (FUNDS.md, "Fund of
    funds"): its own size, terms, stage mix and life; the guidance fund's share, other public
    LPs at their levels, private LPs for the rest."""

    guidance_share: Fraction = Field(
        description="the guidance fund's share of the sub-fund's commitments")
    public_lps: list[PublicLP] = Field(
        default_factory=list, description="other public LPs (city fund, state-owned capital)")
    tolerance: Fraction = Field(
        0.5, description="loss tolerance on the sub-fund's invested principal at liquidation "
                         "[S: 50% for angel investments, the plan]; a stage's own tolerance "
                         "applies to its category")
    project_tolerance: Fraction = Field(
        1.0, description="loss tolerance of a single project [S: up to 100% for seed projects]")

    @property
    def public_share(self) -> float:
        """The guidance fund's and the other public LPs' share together."""
        return float(self.guidance_share) + sum(float(lp.share) for lp in self.public_lps)

    @model_validator(mode="after")
    def _consistent(self) -> "SubFund":
        self._check_terms()
        if self.guidance_share < 1e-3:
            raise ValueError(f"guidance_share must be at least 0.001 (the guidance fund's loss "
                             f"ratio divides by its paid-in), got {self.guidance_share}")
        names = [lp.name for lp in self.public_lps]
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"public_lps names must be unique; repeated: {', '.join(dup)}")
        if self.public_share > 0.9 + 1e-12:
            raise ValueError(f"guidance_share + public_lps shares = {self.public_share:g}: the "
                             f"plan caps fiscal and state-owned capital at 90% of a fund [S]")
        return self


class Concession(Strict):
    """The guidance fund's concession (收益让渡) to a sub-fund's private investors, "根据政策
    目标完成情况" (depending on how far the policy goals are met): ``profit`` cedes a share of
    its profit above its principal plus a base return; ``buyback`` lets the private LPs buy its
    stake at cost plus the base return. The defaults are the single fund's rule: condition
    always met, no base return, private LPs only."""

    mode: Literal["profit", "buyback"] = Field(
        "profit", description="profit: cede profit above the floor; buyback: the private LPs "
                              "may buy the stake at cost plus the base return")
    share: Fraction = Field(1.0, description="share of the profit above the floor ceded [S: up "
                                             "to 100%]")
    base_return: float = Field(
        0.0, ge=0.0, le=0.2, allow_inf_nan=False,
        description="simple annual return on the guidance fund's capital outstanding that it "
                    "keeps before ceding (the floor), and the buy-back price's return [A]")
    to_gp: Fraction = Field(0.0, description="share of the ceded profit that goes to the "
                                             "manager (GP) rather than the private LPs [A]")
    goal_probability: Fraction = Field(
        1.0, description="probability that a sub-fund meets its policy goals, drawn per path "
                         "and sub-fund [A]")
    goal_early_share: Fraction = Field(
        0.0, description="goals met only if at least this share of the sub-fund's invested "
                         "capital went to stages that count for the goal (counts_for_goal) [A]")
    buyback_year: int = Field(
        5, ge=1, le=30, description="buyback: the private LPs may buy at the end of this year "
                                    "of the sub-fund's life, if the stake's value (its share of "
                                    "the NAV) exceeds the price [A]")


class GuidanceFund(Strict):
    """The plan's guidance fund (天使/创投引导基金): a fund of funds that commits to sub-funds as
    a limited partner (FUNDS.md, "Fund of funds"). Its own figures are read through the
    sub-funds: its paid-in, distributions, loss on invested principal, concession and fiscal
    cost."""

    name: str = Field(min_length=1)
    level: Level = Field("provincial", description="its level of government [S: the "
                                                   "provincial guidance fund]")
    kind: Kind = Field("budget", description="budget (fiscal money) or soe [A]")
    max_public_share: Fraction = Field(
        0.9, description="cap on each sub-fund's public share (guidance fund and other public "
                         "LPs) [S: the plan's 90%; Shenzhen's angel mother fund 40%, "
                         "Zhengzhou 60%]")
    tolerance: Fraction = Field(
        0.5, description="loss tolerance on the guidance fund's invested principal at "
                         "liquidation, appraised for the fund as a whole [S: 50%, the plan]")
    tolerance_basis: Literal["principal", "paid_in", "category", "per_project"] = Field(
        "principal", description="the headline basis (all are reported)")
    discount_rate: float = Field(0.03, ge=-0.05, le=0.5, description="for the fiscal NPV [A]")
    concession: Concession = Field(default_factory=Concession)
    sub_funds: list[SubFund] = Field(min_length=1, max_length=100,
                                     description="the sub-funds it commits to")

    @model_validator(mode="after")
    def _consistent(self) -> "GuidanceFund":
        names = [s.name for s in self.sub_funds]
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"sub_funds names must be unique; repeated: {', '.join(dup)}")
        for s in self.sub_funds:
            if s.public_share > self.max_public_share + 1e-12:
                raise ValueError(
                    f"sub-fund '{s.name[:60]}': public share {s.public_share:g} (guidance_share "
                    f"+ public_lps) exceeds max_public_share {self.max_public_share:g}")
            if any(lp.name == self.name for lp in s.public_lps):
                raise ValueError(f"sub-fund '{s.name[:60]}': a public LP may not carry the "
                                 f"guidance fund's name '{self.name[:60]}'")
            if self.concession.mode == "buyback" and self.concession.buyback_year >= s.life_years:
                raise ValueError(f"concession.buyback_year ({self.concession.buyback_year}) "
                                 f"must fall within sub-fund '{s.name[:60]}''s life "
                                 f"({s.life_years} years)")
        return self

    def public_lp_tags(self) -> dict:
        """{name: (level, kind)} of the other public LPs across the sub-funds (first seen)."""
        out: dict = {}
        for s in self.sub_funds:
            for lp in s.public_lps:
                out.setdefault(lp.name, (lp.level, lp.kind))
        return out
