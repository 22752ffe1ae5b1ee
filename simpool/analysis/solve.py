"""Goal-seeking: the value of one lever at which a figure meets a target.

Every evaluation runs the scenario with the lever set (``--set`` semantics) on the same seed
and paths, so the figure is one fixed function of the lever (common random numbers) and a
bracketing root finder (scipy's Brent method) applies. The answer's uncertainty is the range
of lever values whose figure is within ``z`` standard errors of the target: the roots of
figure(x) = target -/+ z se, found the same way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import ScenarioError, UsageError


@dataclass
class Figure:
    """A row of the summary: measure, statistic, calendar year (None = whole horizon), param,
    programme (None: all) and basis (None: the row's only basis, or ``cash`` where a loss
    has both, as :meth:`Results.samples` defaults)."""

    measure: str
    statistic: str
    year: int | None = None
    param: float | None = None
    product: str | None = None
    basis: str | None = None

    def pick(self, summary) -> tuple[float, float]:
        """(value, se) of this figure in a summary table; SimpoolError if absent."""
        t = summary[(summary.measure == self.measure) & (summary.statistic == self.statistic)]
        t = t[t.year.isna()] if self.year is None else t[t.year == self.year]
        if self.param is not None:
            t = t[(t.param - self.param).abs() <= 1e-12 * max(1.0, abs(self.param))]
        if "product" in t:
            t = t[t["product"] == (self.product or "")]
            if self.basis is not None:
                t = t[t["basis"] == self.basis]
            elif len(t) > 1:
                t = t[t["basis"] != "ultimate"]
        if len(t) != 1:
            have = summary[summary.measure == self.measure].statistic.unique().tolist()
            hint = (f"; statistics of {self.measure}: {', '.join(map(str, have))}" if have
                    else f"; measures: {', '.join(summary.measure.unique()[:40])}")
            raise UsageError(f"figure {self} {'is ambiguous (give --param)' if len(t) > 1 else 'not in the summary'}{hint}")
        return float(t.value.iloc[0]), float(t.se.iloc[0])

    def __str__(self) -> str:
        s = f"{self.measure} / {self.statistic}"
        if self.year is not None:
            s += f" / {self.year}"
        if self.param is not None:
            s += f" (param {self.param:g})"
        if self.product:
            s += f" [{self.product}]"
        if self.basis:
            s += f" ({self.basis})"
        return s


_LABEL = re.compile(r"^(?P<m>[^\[\]()]+?)\s*(?:\[(?P<p>\w+)\])?\s*(?:\((?P<b>cash|ultimate)\))?$")


def parse_figure(text: str) -> Figure:
    """``measure/statistic[/param][@year]`` -> Figure, e.g. ``net/EL``, ``gross/VaR/0.999``,
    ``pool:knowledge_value/P(depleted by year)@2029``; the measure as the console labels it
    names a programme and a basis: ``bank [guaranteed] (ultimate)/EL``. UsageError when
    malformed."""
    body, _, year = text.partition("@")
    label, _, rest = body.partition("/")
    m = _LABEL.match(label.strip())
    product = basis = None
    if m and (m["p"] or m["b"]):
        body = m["m"] + "/" + rest
        product, basis = m["p"], m["b"]
    parts = [p.strip() for p in body.split("/")]
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"figure {text!r}: expected measure/statistic[/param][@year], e.g. "
                         "net/EL or gross/VaR/0.999 or pool:knowledge_value/P(depleted by year)@2029")
    try:
        param = float(parts[2]) if len(parts) == 3 else None
        yr = int(year) if year else None
    except ValueError:
        raise UsageError(f"figure {text!r}: the param must be a number and the year an integer") from None
    return Figure(parts[0], parts[1], yr, param, product, basis)


@dataclass
class Solution:
    lever: str
    value: float  # the lever at which the figure meets the target
    low: float  # range of lever values within z SE of the target
    high: float
    figure: Figure
    target: float
    achieved: float  # the figure at ``value``
    se: float  # its standard error
    z: float
    evaluations: list = field(default_factory=list)  # (lever, figure, se)

    def __str__(self) -> str:
        from .headline import format_value
        from ..scenario.units import format_yuan

        f = self.figure

        def fig(v):
            return format_value(v, f.statistic, f.measure)

        def lev(v):  # money levers (>= 1万) in 万/亿, others as numbers
            return format_yuan(v) if abs(v) >= 1e4 else f"{v:.6g}"
        return (f"{self.lever} = {lev(self.value)} (range {lev(self.low)} .. {lev(self.high)}: "
                f"figure within {self.z:g} SE of the target); {f} = {fig(self.achieved)} "
                f"± {fig(self.se)} (target {fig(self.target)}); {len(self.evaluations)} runs")


def solve(file, lever: str, low: float, high: float, figure: Figure, target: float, *,
          overrides: list[str] | None = None, paths: int | None = None, seed: int | None = None,
          xtol: float | None = None, z: float = 1.96, executor=None, log=None,
          max_memory: int | None = None) -> Solution:
    """Find the lever value in [low, high] where ``figure`` equals ``target``.

    The figure must cross the target inside the bracket (it is monotone for the levers
    analysts ask about: pool size, top-up, leverage cap). ``xtol`` defaults to 1e-4 of the
    bracket.
    """
    from scipy.optimize import brentq

    from .simulation import simulate
    from ..scenario.load import load_scenario

    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise UsageError(f"--bracket must be two finite numbers low < high, got {low}, {high}")
    base = load_scenario(file, overrides)
    paths = int(paths or base.simulation.paths)
    seed = int(base.simulation.seed if seed is None else seed)
    xtol = xtol if xtol is not None else 1e-4 * (high - low)
    cache: dict[float, tuple[float, float]] = {}
    tables: dict = {}  # the summaries at the bracket's ends
    evaluations = []

    def evaluate(x: float) -> tuple[float, float]:
        if x not in cache:
            try:
                sc = load_scenario(file, list(overrides or []) + [f"{lever}={x!r}"])
            except ScenarioError as e:
                raise ScenarioError([p.__class__(p.file, p.line, p.path,
                                                 f"{p.message} (at {lever} = {x:g})", p.severity)
                                     for p in e.problems]) from None
            res = simulate(sc, paths=paths, seed=seed, executor=executor, keep="summary",
                           max_memory=max_memory)
            table = res.summary()
            if x in (low, high):
                tables[x] = table
            cache[x] = figure.pick(table)
            evaluations.append((x, *cache[x]))
            if log:
                log(x, *cache[x])
        return cache[x]

    f_lo, _ = evaluate(low)
    f_hi, _ = evaluate(high)
    if (f_lo - target) * (f_hi - target) > 0:
        # the end nearer the target: what stops the lever there
        near = low if abs(f_lo - target) < abs(f_hi - target) else high
        why = binding_constraints(tables[near])
        because = (f"; at {lever} = {near:g}: " + "; ".join(why) + " (the lever cannot move the "
                   "figure past what binds: relax it, or widen --bracket)") if why else \
            "; nothing binds at either end: widen --bracket"
        raise NotBracketed(f"the target {target:g} is not bracketed: {figure} is {f_lo:.6g} at "
                           f"{lever} = {low:g} and {f_hi:.6g} at {high:g}{because}")

    def root(level: float) -> float:
        g_lo, g_hi = evaluate(low)[0] - level, evaluate(high)[0] - level
        if g_lo == 0.0:
            return low
        if g_hi == 0.0:
            return high
        if g_lo * g_hi > 0:  # the shifted level lies outside the bracket's range
            return low if abs(g_lo) < abs(g_hi) else high
        return brentq(lambda x: evaluate(x)[0] - level, low, high, xtol=xtol, maxiter=100)

    x = root(target)
    achieved, se = evaluate(x)
    band = [root(target - z * se), root(target + z * se)] if se > 0 else [x, x]
    return Solution(lever, x, min(band), max(band), figure, target, achieved, se, z, evaluations)


class NotBracketed(UsageError):
    """The target lies outside the figure's range over the bracket (the message names what
    binds at the nearer end)."""


def _who(entity: str) -> str:
    """``guarantor:hubei`` -> ``the guarantor hubei's``."""
    role, _, name = entity.partition(":")
    role = role.replace("_", " ")
    return f"the {role} {name}'s" if name else f"the {role}'s"


def binding_constraints(summary, share: float = 0.5) -> list[str]:
    """What binds in a run (its summary table): each constraint that removed new lending
    (largest first, from the first year it did), and each cap, pool or fund that binds or
    runs dry in at least ``share`` of the paths of some year, e.g. "the guarantor
    hubei_tech_guarantors's leverage cap binds from 2026 (removes 35.2亿 of new lending)"."""
    from ..scenario.units import format_yuan

    out = []
    removed = summary[summary.measure == "lending_removed"]
    found = []
    for label, rows in removed.groupby("statistic", sort=False):
        whole = rows[rows.year.isna()]
        total = float(whole.value.iloc[0]) if len(whole) else 0.0
        se = float(whole.se.iloc[0]) if len(whole) else 0.0
        if total <= max(2.0 * se, 1e-9 * max(1.0, total)) or total <= 0.0:
            continue
        by_year = rows[rows.year.notna() & (rows.value > 0)]
        first = int(by_year.year.min()) if len(by_year) else None
        entity, _, what = label.removeprefix("by ").partition(" ")
        found.append((total, f"{_who(entity)} {what} binds"
                      + (f" from {first}" if first is not None else "")
                      + f" (removes {format_yuan(total)} of new lending)"))
    out.extend(text for _, text in sorted(found, key=lambda t: -t[0]))
    checks = (("national_fund", "P(cap binds)", "the national fund's payout cap binds"),
              ("government", "P(government fund exhausted by year)",
               "the government's fund runs dry"))
    for measure, statistic, text in checks:
        rows = summary[(summary.measure == measure) & (summary.statistic == statistic)
                       & summary.year.notna() & (summary.value >= share)]
        if len(rows):
            out.append(f"{text} from {int(rows.year.min())} (in {rows.value.iloc[0]:.0%} of "
                       "paths that year)")
    dep = summary[summary.measure.str.startswith("pool:")
                  & (summary.statistic == "P(depleted by year)") & summary.year.notna()
                  & (summary.value >= share)]
    for measure, rows in dep.groupby("measure", sort=False):
        out.append(f"the pool {measure[5:]} runs dry by {int(rows.year.min())}")
    return out
