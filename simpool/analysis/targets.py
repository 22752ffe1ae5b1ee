"""The plan's targets as simulated questions: how likely each is reached, what stops it, and
the smallest change of each lever that reaches it.

Targets (the plan, 总体要求 and (九); :class:`simpool.scenario.schema.Report`): the guarantee
balance at least ``guarantee_balance_target`` (500亿) at the end of
``guarantee_balance_year`` (2026); borrowers up ``borrower_growth_target`` (+70%) on the start
book's; the loan balance up ``loan_growth_target`` (+20%) a year on average from the base
(the start book is the end of the year before ``start_year``). Each is a summary row
``P(>= ...)`` of measure ``guarantee_balance``, ``borrowers`` or ``loan_balance``
(:mod:`simpool.analysis.features`, "end of year": after the year's new lending).

Levers (supply and demand): a capital injection into each guarantor (yuan a year), the
national fund's credit line (when the scenario has one that stops lending), each
compensation pool's starting cash, and demand (every cohort's ``growth`` and
``new_borrowers`` times a factor). For each lever and target, the smallest value in the
lever's range at which P(reached) >= 50% and >= 90% is found by bisection on a grid of
``GRID`` + 1 values over the range; every evaluation runs the scenario on the same seed and
paths (common random numbers), so P(reached) is one non-decreasing function of the lever up
to Monte Carlo noise, and evaluations are shared between targets and levels. The public
money each answer costs is the change of the run's public money (NPV, by level of
government; :class:`simpool.analysis.ledger.Ledger`) against the base, plus the lever's own
cash where the ledger does not see it (a pool's added starting cash, at the pool's levels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: The targets: (key, summary measure, what it means)
TARGETS = (
    ("guarantee_balance", "guarantee_balance", "tech-guarantee balance"),
    ("borrowers", "borrowers", "tech-SME borrowers"),
    ("loan_balance", "loan_balance", "tech-SME loan balance"),
)
#: P(reached) levels the levers are solved for
LEVELS = (0.5, 0.9)
#: intervals of the grid a lever's range is bisected on
GRID = 64


@dataclass
class Lever:
    """One lever: the ``--set`` keys it moves, its range and what it costs outside the ledger."""

    name: str  # short id, e.g. "pool_cash:knowledge_value"
    label: str  # what a reader sees
    unit: str  # "yuan", "yuan a year", "x demand"
    base: float
    high: float
    sets: object  # x -> list of "key=value" overrides
    direct: object = None  # x -> {level: yuan} of public money the ledger does not book
    why_not: str | None = None  # set when the lever cannot act in this scenario


@dataclass
class Evaluation:
    """One run at one lever value: P(reached) and SE per target, public money NPV per level."""

    x: float
    reached: dict  # target key -> (P, se)
    value: dict  # target key -> (mean at the target year, goal)
    public: dict  # level -> NPV (yuan), all public money (budget and state-owned capital)
    binding: list  # texts of what binds (simpool.analysis.solve.binding_constraints)
    removed: dict = field(default_factory=dict)  # year -> [(constraint, yuan)]


@dataclass
class Answer:
    target: str
    lever: str
    level: float
    x: float | None  # the smallest lever value found (None: not reached in range)
    p: float = math.nan
    se: float = math.nan
    cost: dict = field(default_factory=dict)  # level -> yuan (NPV change + direct)
    why: str = ""


def _levels_of(level) -> dict:
    """A Level (a name or {level: share}) as {level: share}."""
    if isinstance(level, str):
        return {level: 1.0}
    if isinstance(level, dict):
        return {str(k): float(v) for k, v in level.items()}
    return {}


def levers(sc) -> list[Lever]:
    """The levers of scenario ``sc`` with their ranges [A: wide enough to show where each
    stops helping]: injections up to the guarantor's net assets a year, a credit line and
    pool cash up to 5x the base's (pool cash from 0: up to 100亿), demand up to 4x."""
    out = []
    for g in sc.guarantors:
        na = max(float(g.net_assets), 1e8)
        base = float(g.capital_injection)
        out.append(Lever(
            f"capital_injection:{g.name}", f"capital injection into {g.name}", "yuan a year",
            base, base + na,
            lambda x, n=g.name: [f"guarantors.{n}.capital_injection={x!r}"]))
    pol = sc.policy
    line = pol.national_fund_credit_line
    why = None
    if line is None:
        why = "the scenario sets no national-fund credit line (policy.national_fund_credit_line)"
    elif pol.national_fund_credit_line_mode != "stop":
        why = ("beyond its line the national fund's share shifts to the guarantors "
               "(national_fund_credit_line_mode = \"shift\"): the line never stops lending")
    base = float(line or 0.0)
    out.append(Lever("credit_line", "national-fund credit line", "yuan", base,
                     max(5.0 * base, 1e9),
                     lambda x: [f"policy.national_fund_credit_line={x!r}"], why_not=why))
    for p in sc.pools:
        base = float(p.cash)
        share = _levels_of(p.level)
        out.append(Lever(
            f"pool_cash:{p.name}", f"starting cash of the pool {p.name}", "yuan", base,
            5.0 * base if base > 0 else 1e10,
            lambda x, n=p.name: [f"pools.{n}.cash={x!r}"],
            direct=lambda x, b=base, s=share: {lv: (x - b) * w for lv, w in s.items()}))
    cohorts = [c for c in sc.cohorts if c.mode == "binomial"]

    def demand(x, cs=cohorts):
        sets = []
        for c in cs:
            if c.growth:
                sets.append(f"cohorts.{c.name}.growth={c.growth * x!r}")
            if c.new_borrowers:
                sets.append(f"cohorts.{c.name}.new_borrowers={int(round(c.new_borrowers * x))}")
        return sets
    why = None if any(c.growth or c.new_borrowers for c in cohorts) else \
        "no cohort has growth or new_borrowers to scale"
    out.append(Lever("demand", "demand (every cohort's growth and new borrowers) x", "x demand",
                     1.0, 4.0, demand, why_not=why))
    return out


def _public_npv(summary) -> dict:
    rows = summary[summary.measure.str.startswith("public_money:") & (summary.statistic == "NPV")
                   & summary.year.isna()]
    if "basis" in rows:
        rows = rows[rows["basis"].fillna("cash") == "cash"]
    if "product" in rows:
        rows = rows[rows["product"].fillna("") == ""]
    return {m.split(":", 1)[1]: float(v) for m, v in zip(rows.measure, rows.value)}


def _removed_by_year(summary) -> dict:
    rows = summary[(summary.measure == "lending_removed") & summary.year.notna()
                   & (summary.value > 0)]
    out: dict = {}
    for year, st, v in zip(rows.year, rows.statistic, rows.value):
        out.setdefault(int(year), []).append((st.removeprefix("by "), float(v)))
    for y in out:
        out[y].sort(key=lambda t: -t[1])
    return out


def evaluate(summary, sc) -> tuple[dict, dict]:
    """(reached, value) of the targets in one run's summary: {key: (P, se)} and
    {key: (mean at the target year, goal)}; a target the run cannot state is left out."""
    year = sc.report.guarantee_balance_year
    reached, value = {}, {}
    for key, measure, _ in TARGETS:
        rows = summary[(summary.measure == measure) & (summary.year == year)]
        p = rows[rows.statistic.str.startswith("P(")]
        m = rows[rows.statistic == "end of year"]
        if len(p) == 1 and len(m) == 1:
            reached[key] = (float(p.value.iloc[0]), float(p.se.iloc[0]))
            value[key] = (float(m.value.iloc[0]), float(p.param.iloc[0]))
    return reached, value


def base_of(summary, sc) -> Evaluation:
    """The targets' figures of one run (its summary table), no lever moved."""
    from .solve import binding_constraints

    reached, value = evaluate(summary, sc)
    return Evaluation(math.nan, reached, value, _public_npv(summary),
                      binding_constraints(summary), _removed_by_year(summary))


def goals(sc) -> dict:
    """{target key: (label, the goal in words)} of scenario ``sc``."""
    rep = sc.report
    year = rep.guarantee_balance_year
    text = {
        "guarantee_balance": f">= {_yuan(rep.guarantee_balance_target)} by the end of {year}",
        "borrowers": f"+{rep.borrower_growth_target:.0%} on the base by the end of {year}",
        "loan_balance": f"+{rep.loan_growth_target:.0%} a year from the base "
                        f"({sc.years[0] - 1}) to the end of {year}",
    }
    return {k: (label, text[k]) for k, _, label in TARGETS}


class Search:
    """Runs of one scenario at lever values, cached: ``run(lever, x) -> Evaluation``."""

    def __init__(self, file, overrides=None, paths=3000, seed=None, executor=None,
                 max_memory=None, log=None):
        from ..scenario.load import load_scenario

        self.file = file
        self.overrides = list(overrides or [])
        self.base_sc = load_scenario(file, self.overrides)
        self.paths = int(paths)
        self.seed = int(self.base_sc.simulation.seed if seed is None else seed)
        self.executor = executor
        self.max_memory = max_memory
        self.log = log
        self.cache: dict = {}
        self.runs = 0

    def run(self, lever: Lever | None, x: float | None) -> Evaluation:
        from ..scenario.load import load_scenario
        from .simulation import simulate
        from .solve import binding_constraints

        key = (None, None) if lever is None or x == lever.base else (lever.name, float(x))
        if key in self.cache:
            return self.cache[key]
        sets = [] if key[0] is None else lever.sets(x)
        sc = load_scenario(self.file, self.overrides + sets)
        res = simulate(sc, paths=self.paths, seed=self.seed, executor=self.executor,
                       keep="summary", max_memory=self.max_memory)
        summary = res.summary()
        reached, value = evaluate(summary, sc)
        ev = Evaluation(x if lever is not None else math.nan, reached, value,
                        _public_npv(summary), binding_constraints(summary),
                        _removed_by_year(summary))
        self.cache[key] = ev
        self.runs += 1
        if self.log:
            self.log(lever, x, ev)
        return ev


#: the constraints that can hold back each target (prefixes of lending_removed labels)
RELEVANT = {"guarantee_balance": ("guarantor:", "reguarantor", "national_fund", "bank:")}


def why_short(ev: Evaluation, target: str) -> str:
    """Why a run falls short of a target: the constraints on its lending there, largest
    first, or that none binds (the demand is too small)."""
    from ..scenario.units import format_yuan

    prefixes = RELEVANT.get(target)
    totals: dict = {}
    for rows in ev.removed.values():
        for what, v in rows:
            if prefixes is None or what.startswith(prefixes):
                totals[what] = totals.get(what, 0.0) + v
    mean, goal = ev.value[target]
    shown = (lambda v: f"{v:,.0f}") if target == "borrowers" else format_yuan
    gap = f"expected {shown(mean)} against {shown(goal)}"
    if not totals:
        return f"{gap}, and nothing holds its lending back: the demand is too small"
    top = sorted(totals.items(), key=lambda t: -t[1])[:2]
    return f"{gap}; " + "; ".join(f"{w} removes {format_yuan(v)}" for w, v in top)


def _grid(lever: Lever, k: int) -> float:
    return lever.base + (lever.high - lever.base) * k / GRID


def smallest(search: Search, lever: Lever, target: str, level: float, base: Evaluation) -> Answer:
    """The smallest lever value on the grid at which P(target reached) >= level."""
    if lever.why_not:
        return Answer(target, lever.name, level, None, why=lever.why_not)
    if target not in base.reached:
        return Answer(target, lever.name, level, None, why="the scenario does not state it")
    if base.reached[target][0] >= level:
        p, se = base.reached[target]
        return Answer(target, lever.name, level, lever.base, p, se, {},
                      "reached without a change")
    top = search.run(lever, _grid(lever, GRID))
    if top.reached[target][0] < level:
        p = top.reached[target][0]
        return Answer(target, lever.name, level, None, p, top.reached[target][1],
                      why=f"P = {p:.1%} at {fmt_lever(lever, lever.high)} (the top of its range): "
                          + why_short(top, target))
    lo, hi = 0, GRID
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if search.run(lever, _grid(lever, mid)).reached[target][0] >= level:
            hi = mid
        else:
            lo = mid
    x = _grid(lever, hi)
    ev = search.run(lever, x)
    p, se = ev.reached[target]
    cost = {lv: ev.public.get(lv, 0.0) - base.public.get(lv, 0.0)
            for lv in set(ev.public) | set(base.public)}
    for lv, v in (lever.direct(x) if lever.direct else {}).items():
        cost[lv] = cost.get(lv, 0.0) + v
    return Answer(target, lever.name, level, x, p, se, cost)


def fmt_lever(lever: Lever, x: float) -> str:
    from ..scenario.units import format_yuan

    if lever.unit == "x demand":
        return f"{x:.3g}x demand"
    if lever.unit == "yuan a year":
        return f"{format_yuan(x)} a year"
    return format_yuan(x)


@dataclass
class TargetsResult:
    base: Evaluation
    levers: list
    answers: list
    paths: int
    seed: int
    runs: int
    targets: dict  # key -> (label, goal text)
    years: list = field(default_factory=list)  # the simulated calendar years


def targets(file, overrides=None, paths: int = 3000, seed: int | None = None, executor=None,
            max_memory=None, log=None, only: list[str] | None = None) -> TargetsResult:
    """P(reached) of the plan's targets in scenario ``file``, what binds each year, and the
    smallest change of each lever that reaches each target with P >= 50% and >= 90%."""
    search = Search(file, overrides, paths, seed, executor, max_memory, log)
    sc = search.base_sc
    unknown = [x for x in (only or []) if x not in {lv.name for lv in levers(sc)}
               and x not in {lv.name.split(":")[0] for lv in levers(sc)}]
    if unknown:
        from ..errors import UsageError

        raise UsageError(f"--levers: unknown lever {', '.join(unknown)}; levers of this "
                         f"scenario: {', '.join(lv.name for lv in levers(sc))} (or a kind: "
                         "capital_injection, credit_line, pool_cash, demand)")
    base = search.run(None, None)
    lv = [x for x in levers(sc) if not only or x.name in only or x.name.split(":")[0] in only]
    answers = []
    for lever in lv:
        for key, _, _ in TARGETS:
            for level in LEVELS:
                answers.append(smallest(search, lever, key, level, base))
    return TargetsResult(base, lv, answers, search.paths, search.seed, search.runs, goals(sc),
                         list(sc.years))


def _yuan(x: float) -> str:
    from ..scenario.units import format_yuan

    return format_yuan(x)


def tables(res: TargetsResult):
    """(targets table, levers table) as pandas DataFrames (money in yuan)."""
    import pandas as pd

    rows = []
    for key, (label, goal) in res.targets.items():
        if key not in res.base.reached:
            continue
        p, se = res.base.reached[key]
        mean, g = res.base.value[key]
        rows.append({"target": key, "label": label, "goal": goal, "goal_value": g,
                     "expected_at_target_year": mean, "p_reached": p, "se": se})
    t = pd.DataFrame(rows)
    lrows = []
    for a in res.answers:
        lever = next(x for x in res.levers if x.name == a.lever)
        row = {"target": a.target, "lever": a.lever, "lever_label": lever.label,
               "unit": lever.unit, "level": a.level, "base_value": lever.base,
               "value": a.x if a.x is not None else math.nan,
               "change": (a.x - lever.base) if a.x is not None else math.nan,
               "p_reached": a.p, "se": a.se, "why_not": a.why}
        for lvl, v in sorted(a.cost.items()):
            row[f"public_money_npv_change:{lvl}"] = v
        lrows.append(row)
    return t, pd.DataFrame(lrows)


def format_targets(res: TargetsResult) -> str:
    """The console text: targets, what binds each year, and the lever table."""
    from ..scenario.units import format_yuan

    lines = [f"the plan's targets ({res.paths:,} paths, seed {res.seed}; {res.runs} runs)", ""]
    lines.append(f"  {'target':<26} {'goal':<52} {'expected':>12} {'P(reached)':>16}")
    for key, (label, goal) in res.targets.items():
        if key not in res.base.reached:
            lines.append(f"  {label:<26} {goal:<52} {'(not stated by this scenario)':>30}")
            continue
        p, se = res.base.reached[key]
        mean, _ = res.base.value[key]
        shown = f"{mean:,.0f}" if key == "borrowers" else format_yuan(mean)
        lines.append(f"  {label:<26} {goal:<52} {shown:>12} {p:>8.1%} ± {se:.1%}")
    lines += ["", "  what binds (new lending each constraint removed, by the year it would have "
                  "started):"]
    for year in res.years:
        rows = res.base.removed.get(year)
        if not rows and year == res.years[0]:
            lines.append(f"    {year}: the start book (no new lending is decided before it)")
            continue
        if not rows:
            lines.append(f"    {year}: nothing binds (the planned lending, the demand, is made)")
            continue
        parts = [f"{what} {format_yuan(v)}" for what, v in rows]
        lines.append(f"    {year}: " + "; ".join(parts) + f" (binding: {rows[0][0]})")
    lines += ["", "  the smallest change of each lever that reaches each target (P >= 50% / "
                  ">= 90%), and the public money it costs (NPV change, by level):"]
    for key, (label, _) in res.targets.items():
        lines.append(f"  {label}:")
        for lever in res.levers:
            for a in res.answers:
                if a.lever != lever.name or a.target != key:
                    continue
                head = f"    {lever.label}, P >= {a.level:.0%}:"
                if a.x is None:
                    lines.append(f"{head} not reached: {a.why}")
                elif not a.cost:
                    lines.append(f"{head} {a.why} (P = {a.p:.1%} ± {a.se:.1%})")
                else:
                    cost = ", ".join(f"{lv} {format_yuan(v)}" for lv, v in sorted(a.cost.items())
                                     if abs(v) >= 0.5)
                    lines.append(f"{head} {fmt_lever(lever, a.x)} (from "
                                 f"{fmt_lever(lever, lever.base)}; P = {a.p:.1%} ± {a.se:.1%}); "
                                 f"public money: {cost or 'no change'}")
    step = ", ".join(f"{x.label}: {fmt_lever(x, (x.high - x.base) / GRID).strip()}"
                     for x in res.levers if not x.why_not)
    lines += ["", f"  (each answer is the smallest value on a grid of {GRID} steps: {step}; "
                  "public money is NPV at policy.discount_rate, budget and state-owned capital)"]
    return "\n".join(lines)
