"""Scenario tables of the policy waterfall (see POLICY.md): sharing, guarantors, pools.

Every [A] assumption of ../shared/DOMAIN.md is a field here with a documented default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Fraction, Money, Strict
from .public import Kind, Level

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


class InsuredSharing(Strict):
    """How the bank and the insurer share an insured loan's loss (政银保; the national fund
    and the re-guarantor take no part) [S: 3:7 is common, e.g. Yunnan's scheme]."""

    bank: Fraction = Field(0.3, description="the bank's share of the loss [S: 0.3]")
    insurer: Fraction = Field(0.7, description="the insurer's share [S: 0.7]")

    @model_validator(mode="after")
    def _sums_to_one(self) -> "InsuredSharing":
        if abs(self.bank + self.insurer - 1.0) > 1e-9:
            raise ValueError(f"bank + insurer must be 1, got {self.bank + self.insurer:.6g}")
        return self


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
    national_fund_payout_basis: Literal["released", "in_force"] = Field(
        "released", description="the payout rate's denominator: guarantees released in the "
                                "year (repaid or paid out; 解保额, the usual basis in Chinese "
                                "guarantee practice [S: DOMAIN §2]) or the in-force balance")
    national_fund_credit_line: Money | None = Field(
        None, ge=0.0, description="the national fund's credit line to the province (授信额度; "
                                  "Hubei 200亿 from 2020 [S]): the balance it covers, yuan "
                                  "(default: no line)")
    national_fund_credit_line_mode: Literal["shift", "stop"] = Field(
        "shift", description="beyond the line: its share falls on the guarantor (shift) or no "
                             "new guaranteed loans are made (stop) [A]")
    national_fund_fee_rate: float = Field(
        0.005, ge=0.0, le=0.05, description="national-fund re-guarantee fee on loans above "
                                            "small_loan_limit, per year, paid by the guarantor "
                                            "[S: <= 0.5%, 财金〔2024〕60号]")
    national_fund_fee_rate_small: float = Field(
        0.003, ge=0.0, le=0.05, description="... on loans of at most small_loan_limit "
                                            "[S: <= 0.3%, 财金〔2024〕60号]")
    small_loan_limit: Money = Field(
        5_000_000.0, ge=0.0, description="loans of at most this (yuan) are small: the lower "
                                         "national-fund fee, and the 75% weight of the "
                                         "guarantor's liability for small and micro firms [S]")
    small_micro_weight: Fraction = Field(
        0.75, description="weight of a small or micro firm's loan of at most small_loan_limit "
                          "in the guarantor's weighted liability (融资担保责任余额) [S: "
                          "融资担保责任余额计量办法, 2018]")
    insured_sharing: InsuredSharing = Field(
        default_factory=InsuredSharing, description="bank and insurer shares of an insured "
                                                    "loan's loss")
    national_fund_excess: Literal["reallocate", "suspend"] = Field(
        "reallocate", description="above the payout cap: reallocate the excess to the others "
                                  "pro rata, or pay and suspend cover next year [A]")
    discount_rate: float = Field(0.02, ge=-0.5, le=1.0,
                                 description="discount rate of the fiscal NPV, per year [A]")
    national_fund_level: Level = Field(
        "central", description="the national fund's level of government [S: 国家融资担保基金, "
                               "set up by the Ministry of Finance]")
    national_fund_kind: Kind = Field(
        "soe", description="its capital: state-owned capital (soe), not budget money [S]")
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
    level: Level = Field("city", description="who funds it [A: the 4222 government share is "
                                             "the city's and county's risk-compensation money]")
    kind: Kind = Field("budget", description="budget money [A]")


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
    leverage_cap: float = Field(
        10.0, gt=0.0, le=100.0,
        description="weighted liability (融资担保责任余额: the own share of the guaranteed "
                    "balance, small and micro loans weighted) at most this times net assets "
                    "[S: 10, or 15 for guarantors mainly serving small, micro and farm "
                    "borrowers: 融资担保公司监督管理条例 art. 15]")
    level: Level | None = Field(
        None, description="a state guarantor's owner level: its losses are public money "
                          "(state-owned capital); default none: a private guarantor")
    kind: Kind = Field("soe", description="its capital, when level is set: soe (state-owned "
                                          "capital) or budget")
    support_payer: str = Field(
        "government", description="who pays its 四补 (fee subsidies, capital injections and "
                                  "top-ups, payout compensation, business rewards): a budget "
                                  "payer (POLICY.md) [A: the local government]")
    capital_top_up: Literal["none", "restore", "leverage"] = Field(
        "none", description="四补 capital top-up at each year's end: restore the starting net "
                            "assets after losses, or keep the weighted liability at most "
                            "top_up_leverage x net assets [A]")
    top_up_leverage: float | None = Field(
        None, gt=0.0, le=100.0, description="the leverage the top-up keeps (default: leverage_cap)")
    payout_compensation_rate: Fraction = Field(
        0.0, description="四补 payout compensation (代偿补偿): share of its net payouts of "
                         "the year paid back to it [A]")
    business_reward_rate: float = Field(
        0.0, ge=0.0, le=0.1, description="四补 business reward (业务奖补), per year, of its "
                                         "guaranteed balance of loans of at most "
                                         "policy.small_loan_limit [A]")


class Reguarantor(Guarantor):
    """The provincial re-guarantor: a balance sheet like a guarantor's (its liability is its
    own share of the re-guaranteed balance). Its ``fee_rate`` is the provincial re-guarantee
    fee, paid by the guarantors."""

    name: str = "provincial_reguarantor"
    net_assets: Money = Field(5e9, description="net assets at the start, yuan [A]")
    fee_rate: float = Field(0.005, ge=0.0, le=0.2,
                            description="re-guarantee fee per year, of the re-guaranteed "
                                        "balance, paid by the guarantor [A]")
    level: Level | None = Field("provincial", description="the provincial re-guarantor's "
                                                           "owner level [S]")


class Bank(Strict):
    """A lending bank and its NPL tolerance."""

    name: str = Field(min_length=1)
    overall_npl_tolerance: float = Field(
        0.015, ge=0.0, le=1.0, description="the bank's overall NPL tolerance [A: the national "
                                           "NPL ratio, 1.5% at end-2024 (NFRA), as a proxy]")
    tech_extra: float = Field(0.03, ge=0.0, le=0.03,
                              description="extra tolerance for tech SMEs, at most 3 points [S]")
    growth_slowdown_after_breach: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of next year's new loans not made after an NPL breach [A; 0 = off]")
    write_off_years: int = Field(
        1, ge=0, le=20, description="a default stays non-performing for this many year ends "
                                    "before it is written off (核销) [A]; 0 = at once")


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
    warn_npl: float | None = Field(None, ge=0.0, le=1.0,
                                   description="warning NPL ratio of a cooperating bank's "
                                               "eligible loans (reported)")
    stop_npl: float | None = Field(
        None, ge=0.0, le=1.0, description="a cooperating bank whose eligible NPL ratio is above "
                                          "it gets no new eligible loans from the pool (熔断); "
                                          "compensation of its loans goes on")
    annual_top_up: Money = Field(0.0, ge=0.0, description="replenishment each year, yuan")
    interest_rate: float = Field(0.0, ge=-0.1, le=0.5, description="on idle cash, per year")
    leverage_target: float | None = Field(
        10.0, gt=0.0, description="new eligible lending stops above this x cash [A]; none = no limit")
    level: Level = Field("provincial", description="who funds it: a level or a split across "
                                                   "levels [A]")
    kind: Kind = Field("budget", description="budget money [A]")

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
    """An insurer of loan-guarantee insurance (贷款保证保险)."""

    name: str = Field(min_length=1)
    premium_rate: float = Field(0.02, ge=0.0, le=0.5,
                                description="premium per year, of the insured balance, for its "
                                            "cohorts that set none [A: 2%; Yunnan <= 2.7% S]")
    suspend_loss_ratio: float | None = Field(
        None, gt=0.0, description="its insured lending stops (no new loans) after a year whose "
                                  "loss ratio (its losses / earned premium) is above this "
                                  "[S: Yunnan 1.2]; default: never")


class InsurancePool(Strict):
    """The 10亿 tech-insurance risk-compensation pool [S: size; A: rule]."""

    cash: Money = Field(1e9, ge=0.0, description="cash at the start, yuan [S: 10亿]")
    mode: Literal["stop_loss", "quota_share", "premium_subsidy", "none"] = Field(
        "stop_loss", description="how it pays the insurers' losses: stop_loss (beta of the "
                                 "losses above theta x earned premium), quota_share (beta of "
                                 "all), none; premium_subsidy: none, with a premium subsidy "
                                 "of pi (the older form of premium_subsidy below)")
    beta: Fraction = Field(0.8, description="share of losses paid [A: 0.8, as Yunnan and "
                                            "Jiangmen]")
    theta: float = Field(1.2, ge=0.0, description="stop-loss attachment, x earned premium "
                                                  "[A: 1.2; Yunnan 1.2, Jiangmen 1.5 S]")
    premium_subsidy: Fraction = Field(
        0.0, description="share of the insurers' premium the pool pays each year, with any "
                         "mode (a transfer, not a credit loss) [A: 0; Jiangmen 0.5 S]")
    pi: Fraction = Field(0.3, description="premium subsidy share of mode = \"premium_subsidy\" [A]")
    annual_top_up: Money = Field(0.0, ge=0.0)
    interest_rate: float = Field(0.0, ge=-0.1, le=0.5)
    level: Level = Field("district", description="who funds it [A: the East Lake zone's pool, "
                                                 "a district-level budget]")
    kind: Kind = Field("budget", description="budget money [A]")

