"""Scenario tables of the policy waterfall (see POLICY.md): sharing, guarantors, pools.

Every [A] assumption of ../shared/DOMAIN.md is a field here with a documented default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Fraction, Money, Strict

#: The parties of the waterfall, in the order of the kernel's outputs.
PARTIES = ("bank", "guarantor", "reguarantor", "national_fund", "government",
           "compensation_pool", "insurer", "insurance_pool")
#: The five shares of a guaranteed-loan default.
SHARE_KEYS = ("national_fund", "reguarantor", "guarantor", "bank", "government")

SHARING_PRESETS = {
    # [S] "4222" and bank >= 20%; [A] who holds which 40/20
    "hubei_4222": {"national_fund": 0.2, "reguarantor": 0.2, "guarantor": 0.2, "bank": 0.2,
                   "government": 0.2},
    "national_tech_4222": {"national_fund": 0.4, "reguarantor": 0.2, "guarantor": 0.2,
                           "bank": 0.2, "government": 0.0},
    "hubei_4321": {"national_fund": 0.2, "reguarantor": 0.2, "guarantor": 0.3, "bank": 0.2,
                   "government": 0.1},
}


class Sharing(Strict):
    """A custom split of a guaranteed-loan default over five separate parties."""

    national_fund: Fraction
    reguarantor: Fraction
    guarantor: Fraction
    bank: Fraction
    government: Fraction
    allow_bank_below_20: bool = Field(False, description="waive the rule that banks bear >= 20%")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "Sharing":
        total = sum(getattr(self, k) for k in SHARE_KEYS)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"shares must sum to 1, got {total:.6g}")
        if self.bank < 0.2 - 1e-12 and not self.allow_bank_below_20:
            raise ValueError(f"bank share must be >= 0.2 (the plan's rule), got {self.bank}; "
                             "set allow_bank_below_20 = true to waive it")
        return self

    def shares(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in SHARE_KEYS}


class Policy(Strict):
    """Sharing, lags, recoveries and national-fund caps."""

    sharing: Literal["hubei_4222", "national_tech_4222", "hubei_4321"] | Sharing = Field(
        "hubei_4222", description="preset name or a table of the five shares")
    claim_lag_days: float = Field(90.0, ge=0.0, le=365.0,
                                  description="days from default to the guarantor's payment [A]")
    reimbursement_lag_days: float = Field(
        90.0, ge=0.0, le=365.0, description="days from the claim payment to reimbursement [A]")
    recovery_timing: Literal["curve", "immediate"] = Field(
        "curve", description="curve: cumulative 1 - exp(-t/theta) after default [A]")
    recovery_theta_years: float = Field(2.0, gt=0.0, le=50.0,
                                        description="time scale of recoveries, years [A]")
    national_fund_borrower_cap: Money = Field(
        30_000_000.0, description="national-fund coverage per borrower, yuan [S]")
    national_fund_payout_cap: float = Field(
        0.05, gt=0.0, le=1.0, description="national-fund payout rate cap per year [S]")
    national_fund_excess: Literal["reallocate", "suspend"] = Field(
        "reallocate", description="above the payout cap: reallocate the excess to the others "
                                  "pro rata, or pay and suspend cover next year [A]")
    discount_rate: float = Field(0.02, ge=-0.5, le=1.0,
                                 description="discount rate of the fiscal NPV, per year [A]")
    lending_feedback: bool = Field(
        True, description="new loans shrink when a guarantor's leverage cap, a pool's leverage "
                          "target or a bank's NPL tolerance binds")

    def shares(self) -> dict[str, float]:
        if isinstance(self.sharing, str):
            return dict(SHARING_PRESETS[self.sharing])
        return self.sharing.shares()


class Government(Strict):
    """The local government's compensation fund."""

    fund: Money | None = Field(None, ge=0.0, description="cash at the start, yuan (default: unlimited)")
    annual_budget: Money = Field(0.0, ge=0.0, description="added to the fund each year, yuan")
    annual_cap: Money | None = Field(None, ge=0.0, description="most it pays in a year, yuan")


class Guarantor(Strict):
    """A guarantor's balance sheet (the provincial re-guarantor uses the same table)."""

    name: str = Field(min_length=1)
    net_assets: Money = Field(description="net assets at the start, yuan (<= 0: insolvent)")
    fee_rate: float = Field(0.01, ge=0.0, le=0.2, description="guarantee fee per year [S: <= 1%]")
    fee_subsidy_rate: float = Field(0.0, ge=0.0, le=0.2,
                                    description="fee subsidy (四补) per year, of the balance")
    capital_injection: Money = Field(0.0, ge=0.0, description="capital injected each year, yuan")
    investment_yield: float = Field(0.02, ge=-0.5, le=0.5, description="on net assets, per year")
    operating_cost_rate: float = Field(0.003, ge=0.0, le=0.2,
                                       description="operating cost per year, of the balance")
    leverage_cap: float = Field(10.0, gt=0.0, le=100.0,
                                description="guarantees at most this times net assets [A]")


class Reguarantor(Guarantor):
    name: str = "provincial_reguarantor"
    net_assets: Money = Field(5e9, description="net assets at the start, yuan [A]")


class Bank(Strict):
    """A lending bank and its NPL tolerance."""

    name: str = Field(min_length=1)
    overall_npl_tolerance: float = Field(0.03, ge=0.0, le=1.0, description="[A]")
    tech_extra: float = Field(0.03, ge=0.0, le=0.03,
                              description="extra tolerance for tech SMEs, at most 3 points [S]")
    growth_slowdown_after_breach: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of next year's new loans not made after an NPL breach [A; 0 = off]")


#: Named parameter sets of the generic pool rule (POLICY.md); explicit keys override them.
POOL_PRESETS = {
    # provincial SME credit-loan risk-compensation fund [A: shares from the 30-55% seen]
    "provincial_sme": {"share": 0.4, "first_loan_bonus": 0.05, "cumulative_cap_share": 0.8},
    # knowledge-value credit loans (创新积分贷, 人才积分贷, IP pledge): warn 5%, stop 8% [S]
    "knowledge_value": {"share": 0.5, "first_loan_bonus": 0.05, "cumulative_cap_share": 0.8,
                        "warn_npl": 0.05, "stop_npl": 0.08},
}


class Pool(Strict):
    """A risk-compensation pool (风险补偿资金池)."""

    preset: Literal["provincial_sme", "knowledge_value"] | None = Field(
        None, description="start from a named parameter set; explicit keys override it")
    name: str = Field(min_length=1)
    cash: Money = Field(ge=0.0, description="cash at the start, yuan")
    share: Fraction = Field(0.4, description="compensation share of principal losses")
    first_loan_bonus: float = Field(0.05, ge=0.0, le=0.5, description="extra share for first loans")
    corridor: list[float] | None = Field(
        None, description="[a, b]: pay only losses between a x B and b x B (B eligible balance)")
    annual_cap: Money | None = Field(None, ge=0.0, description="most it pays in a year, yuan")
    cumulative_cap_share: Fraction = Field(0.8, description="cumulative payments <= this x losses")
    warn_npl: float | None = Field(None, ge=0.0, le=1.0, description="warning NPL ratio")
    stop_npl: float | None = Field(None, ge=0.0, le=1.0,
                                   description="above it no compensation for later defaults")
    annual_top_up: Money = Field(0.0, ge=0.0, description="replenishment each year, yuan")
    interest_rate: float = Field(0.0, ge=-0.1, le=0.5, description="on idle cash, per year")
    leverage_target: float | None = Field(
        10.0, gt=0.0, description="new eligible lending stops above this x cash [A]; none = no limit")

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data):
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in POOL_PRESETS:
            return {**POOL_PRESETS[data["preset"]], **data}
        return data

    @field_validator("corridor")
    @classmethod
    def _corridor_ok(cls, v):
        if v is not None and (len(v) != 2 or not 0.0 <= v[0] < v[1] <= 1.0):
            raise ValueError("corridor must be [a, b] with 0 <= a < b <= 1")
        return v


class Insurer(Strict):
    name: str = Field(min_length=1)
    premium_rate: float = Field(0.01, ge=0.0, le=0.5, description="premium per year, of the balance")


class InsurancePool(Strict):
    """The 10亿 tech-insurance risk-compensation pool [S: size; A: rule]."""

    cash: Money = Field(1e9, ge=0.0, description="cash at the start, yuan [S: 10亿]")
    mode: Literal["stop_loss", "quota_share", "premium_subsidy"] = "stop_loss"
    beta: Fraction = Field(0.5, description="share of claims paid (stop_loss, quota_share) [A]")
    theta: float = Field(1.0, ge=0.0, description="stop-loss attachment, x earned premium [A]")
    pi: Fraction = Field(0.3, description="premium subsidy share (premium_subsidy) [A]")
    annual_top_up: Money = Field(0.0, ge=0.0)
    interest_rate: float = Field(0.0, ge=-0.1, le=0.5)

