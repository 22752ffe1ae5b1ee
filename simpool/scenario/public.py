"""Who pays public money: levels of government, budget or state-owned capital, payers.

Every public cash flow of a run (POLICY.md, "Public money") is paid by a named *payer* with a
``level`` of government (``central``, ``provincial``, ``city``, ``district``; or a co-funding
split across levels, e.g. ``{provincial = 0.5, city = 0.5}``) and a ``kind``: ``budget``
(fiscal money, the fiscal cost) or ``soe`` (state-owned capital: public money, not budget
money). The scenario's public entities (the national fund, the re-guarantor, the government,
the pools, a state guarantor, the insurance pool, the angel funds) carry their own tags;
subsidies, rewards and the 四补 name a budget payer: ``government`` (the local government's
budget, not its compensation fund), a ``[[payers]]`` entry, or one of the built-in budget
payers ``central_budget``, ``provincial_budget``, ``city_budget``, ``district_budget``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from .base import Money, Strict

#: Levels of government, from the top.
LEVELS = ("central", "provincial", "city", "district")
#: Kinds of public money: fiscal (budget) money, state-owned capital.
KINDS = ("budget", "soe")
#: Budget payers every scenario has, one per level (name → level).
BUILTIN_PAYERS = {f"{lv}_budget": lv for lv in LEVELS}


def _level(v: Any) -> str | dict[str, float]:
    """A level name, or a split across levels whose shares sum to 1."""
    if isinstance(v, str):
        if v not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)} or a split like "
                             f"{{provincial = 0.5, city = 0.5}}, got {v!r}")
        return v
    if isinstance(v, dict):
        if not v:
            raise ValueError("a split across levels needs at least one level")
        out = {}
        for k, x in v.items():
            if k not in LEVELS:
                raise ValueError(f"unknown level {k!r} in the split; levels are "
                                 f"{', '.join(LEVELS)}")
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0.0 <= x <= 1.0:
                raise ValueError(f"the share of level {k!r} must be a number in [0, 1], got {x!r}")
            out[k] = float(x)
        total = sum(out.values())
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"the shares of a split across levels must sum to 1, got {total:.6g}")
        return out
    raise ValueError(f"level must be one of {', '.join(LEVELS)} or a table of shares by level, "
                     f"got {v!r}")


#: A level of government, or a co-funding split across levels (shares summing to 1).
Level = Annotated[Any, BeforeValidator(_level)]
#: Budget money or state-owned capital.
Kind = Literal["budget", "soe"]


def level_shares(level: str | dict[str, float]) -> dict[str, float]:
    """``{level: share}`` of a level or a split (shares sum to 1)."""
    return {level: 1.0} if isinstance(level, str) else dict(level)


class Payer(Strict):
    """A budget that pays subsidies, rewards or the 四补 (a finance department, a
    development zone's budget): a name, its level and kind."""

    name: str = Field(min_length=1)
    level: Level = Field(description="central, provincial, city, district, or a split across "
                                     "levels, e.g. {provincial = 0.5, city = 0.5}")
    kind: Kind = Field("budget", description="budget (fiscal money) or soe (state-owned capital)")
    description: str = ""


class Rewards(Strict):
    """Fixed rewards each year, e.g. the plan's 30万 to each of the ten tech-finance branches
    with the largest growth of tech-SME loans [S: 湖北省科技金融质效提升行动方案, 2024-08-08,
    (二): 省财政给予每家30万元奖励]."""

    institutions: int = Field(0, ge=0, le=10_000, description="institutions rewarded each year")
    amount: Money = Field(300_000.0, ge=0.0, description="reward per institution, yuan [S: 30万]")
    payer: str = Field("provincial_budget", description="who pays [S: 省财政, the provincial "
                                                        "budget]")
    years: int | None = Field(None, ge=1, le=100, description="paid in the first this many "
                                                              "simulated years (default: all)")

    def per_year(self) -> float:
        """Yuan paid in each year the rewards run."""
        return float(self.institutions) * float(self.amount)


class PayerTag(tuple):
    """(levels, kind, role) of a payer: ``{level: share}``, ``budget``/``soe``, and ``role``
    ``budget`` (pays subsidies and rewards) or the entity whose own money it is."""

    __slots__ = ()

    def __new__(cls, levels: dict, kind: str, role: str):
        return tuple.__new__(cls, (levels, kind, role))

    levels = property(lambda self: self[0])
    kind = property(lambda self: self[1])
    role = property(lambda self: self[2])


def payer_registry(sc) -> dict[str, PayerTag]:
    """Every public payer of scenario ``sc`` by name, in ledger order: the public entities
    whose own money bears credit losses (national fund, re-guarantor, government, pools, the
    insurance pool, state guarantors, angel funds), then the budget payers (the government's
    budget, ``[[payers]]``, the built-in ``<level>_budget``). The government appears once: its
    compensation fund and its budget are the same level's money."""
    reg: dict[str, PayerTag] = {}
    pol = sc.policy
    reg["national_fund"] = PayerTag(level_shares(pol.national_fund_level),
                                    pol.national_fund_kind, "entity")
    r = sc.reguarantor
    if r.level is not None:
        reg[r.name] = PayerTag(level_shares(r.level), r.kind, "entity")
    reg["government"] = PayerTag(level_shares(sc.government.level), sc.government.kind, "budget")
    for p in sc.pools:
        reg.setdefault(p.name, PayerTag(level_shares(p.level), p.kind, "entity"))
    ip = sc.insurance_pool
    reg.setdefault("insurance_pool", PayerTag(level_shares(ip.level), ip.kind, "entity"))
    for g in sc.guarantors:
        if g.level is not None:
            reg.setdefault(g.name, PayerTag(level_shares(g.level), g.kind, "entity"))
    for f in sc.funds:
        reg.setdefault(f.name, PayerTag(level_shares(f.level), f.kind, "entity"))
    for g in sc.guidance_funds:
        reg.setdefault(g.name, PayerTag(level_shares(g.level), g.kind, "entity"))
        for name, (level, kind) in g.public_lp_tags().items():
            reg.setdefault(name, PayerTag(level_shares(level), kind, "entity"))
    for p in sc.payers:
        reg.setdefault(p.name, PayerTag(level_shares(p.level), p.kind, "budget"))
    for name, lv in BUILTIN_PAYERS.items():
        reg.setdefault(name, PayerTag({lv: 1.0}, "budget", "budget"))
    return reg


def budget_payers(sc) -> list[str]:
    """Names that may pay subsidies, rewards and the 四补."""
    return [n for n, t in payer_registry(sc).items() if t.role == "budget"]
