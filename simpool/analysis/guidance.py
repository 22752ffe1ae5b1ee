"""The guidance funds' figures (FUNDS.md, "Fund of funds"), read from their sub-funds' per-path
outputs (:mod:`simpool.engine.fofkernels`).

Measures: ``fund:<guidance>:sub:<sub-fund>`` (each sub-fund), ``fund:<guidance>:provincial``
(the guidance fund's own figures, through its stakes), and per path
``fund:<guidance>:sub:<sub-fund>:<figure>`` (a :data:`SUB_FIGURES` column) and
``fund:<guidance>:provincial:<figure>`` (:data:`GUIDANCE_FIGURES`).

Bases of the tolerance (each reported, one the headline):

* ``principal``: the loss on invested principal at liquidation, for the fund as a whole,
  max(0, 1 - exit proceeds / capital invested in deals); for the guidance fund through its
  stakes (each sub-fund's proceeds and invested weighted by its share);
* ``paid_in``: its own loss ratio, 1 - distributions / paid-in (fees, carry and the
  concession included);
* ``category``: the same principal loss per stage (seed, angel, ...) against the stage's
  tolerance;
* ``per_project``: the share of projects whose loss exceeds the project tolerance.

Interim valuations: the NAV at the end of each year marks each deal held linearly from its
cost (at investment) to its exit value (at the end of its exit year) [A]; the interim loss
ratio is max(0, 1 - (proceeds to date + NAV) / invested to date).
"""

from __future__ import annotations

import numpy as np

from ..engine.fofkernels import SUB_FIGURES
from .stats import describe, mean, named as _named, prob, var

#: per-path figures of a guidance fund (``fund:<guidance>:provincial:<figure>``)
GUIDANCE_FIGURES = ("paid_in", "distributions", "loss_ratio", "principal_loss_ratio", "tvpi",
                    "fiscal_cost", "concession_cost", "project_breach_share")


def _raw(res, guidance: str, sub: str, what: str) -> np.ndarray:
    return res._need(f"sub:{guidance}:{sub}:{what}", "the guidance funds' sub-funds")


def _fig(res, guidance: str, sub: str, figure: str) -> np.ndarray:
    return _raw(res, guidance, sub, "figures")[:, SUB_FIGURES.index(figure)]


def _guidance(res, name: str):
    for g in res.scenario.guidance_funds:
        if g.name == name:
            return g
    raise KeyError(f"unknown guidance fund '{name}'; guidance funds: "
                   f"{', '.join(g.name for g in res.scenario.guidance_funds) or 'none'}")


def _life(gf) -> int:
    return max(s.life_years for s in gf.sub_funds)


def _padded(a: np.ndarray, life: int, carry_last: bool) -> np.ndarray:
    """(paths, years) ``a`` extended to ``life`` years: zeros, or its last column repeated."""
    if a.shape[1] >= life:
        return a
    fill = a[:, -1:] if carry_last else np.zeros((a.shape[0], 1))
    return np.concatenate([a, np.repeat(fill, life - a.shape[1], axis=1)], axis=1)


def interim(res, guidance: str, sub: str | None = None):
    """(value, invested) to date at the end of each year of the guidance fund's longest life,
    (paths, years) yuan: exit proceeds to date plus the NAV, and capital invested to date; of
    one sub-fund, or through the guidance fund's stakes (``sub`` None)."""
    gf = _guidance(res, guidance)
    life = _life(gf)
    value = np.zeros((res.paths, life))
    invested = np.zeros((res.paths, life))
    for s in gf.sub_funds:
        if sub is not None and s.name != sub:
            continue
        w = 1.0 if sub is not None else float(s.guidance_share)
        v = np.cumsum(_raw(res, guidance, s.name, "proceeds"), axis=1) \
            + _raw(res, guidance, s.name, "nav")
        value += w * _padded(v, life, True)
        invested += w * _padded(np.cumsum(_raw(res, guidance, s.name, "invested"), axis=1),
                                life, True)
    return value, invested


def _loss(value: np.ndarray, invested: np.ndarray) -> np.ndarray:
    """max(0, 1 - value / invested), 0 where nothing was invested."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(invested > 0, np.maximum(0.0, 1.0 - value / np.where(invested > 0,
                                                                             invested, 1.0)), 0.0)


def guidance_cash(res, guidance: str) -> np.ndarray:
    """(paths, years) the guidance fund's net cash out (calls - distributions, a buy-back
    price received included) by year of the longest sub-fund life, yuan."""
    gf = _guidance(res, guidance)
    out = np.zeros((res.paths, _life(gf)))
    for s in gf.sub_funds:
        c = _raw(res, guidance, s.name, "lp_cash")[:, 0, :]
        out[:, :c.shape[1]] += c
    return out


def public_lp_cash(res, guidance: str, lp: str) -> np.ndarray:
    """(paths, years) a public LP's net cash out across the guidance fund's sub-funds, yuan."""
    gf = _guidance(res, guidance)
    out = np.zeros((res.paths, _life(gf)))
    for s in gf.sub_funds:
        for i, x in enumerate(s.public_lps):
            if x.name == lp:
                c = _raw(res, guidance, s.name, "lp_cash")[:, 1 + i, :]
                out[:, :c.shape[1]] += c
    return out


def guidance_samples(res, guidance: str, figure: str) -> np.ndarray:
    """Per-path figure of the guidance fund (:data:`GUIDANCE_FIGURES`)."""
    gf = _guidance(res, guidance)
    subs = gf.sub_funds
    tot = {k: sum(_fig(res, guidance, s.name, k) for s in subs)
           for k in ("guidance_paid_in", "guidance_distributions", "concession_cost")}
    paid, dist = tot["guidance_paid_in"], tot["guidance_distributions"]
    if figure == "paid_in":
        return paid
    if figure == "distributions":
        return dist
    if figure == "loss_ratio":
        return 1.0 - dist / paid
    if figure == "tvpi":
        return dist / paid
    if figure == "concession_cost":
        return tot["concession_cost"]
    if figure == "principal_loss_ratio":
        w = [float(s.guidance_share) for s in subs]
        value = sum(wi * _fig(res, guidance, s.name, "proceeds") for wi, s in zip(w, subs))
        inv = sum(wi * _fig(res, guidance, s.name, "invested") for wi, s in zip(w, subs))
        return _loss(value, inv)
    if figure == "project_breach_share":
        w = [float(s.guidance_share) for s in subs]
        b = sum(wi * _fig(res, guidance, s.name, "project_breaches") for wi, s in zip(w, subs))
        d = sum(wi * _fig(res, guidance, s.name, "deals") for wi, s in zip(w, subs))
        return np.where(d > 0, b / np.where(d > 0, d, 1.0), 0.0)
    if figure == "fiscal_cost":  # each year's net cash out discounted to the start
        cash = guidance_cash(res, guidance)
        disc = (1.0 + gf.discount_rate) ** -np.arange(cash.shape[1])
        return cash @ disc
    raise KeyError(f"unknown guidance-fund figure '{figure}'; figures: "
                   f"{', '.join(GUIDANCE_FIGURES)}, cash")


def categories(res, guidance: str, sub: str | None = None) -> dict:
    """{stage name: (loss on invested principal per path, tolerance)} of one sub-fund, or
    through the guidance fund's stakes (stages of the same name pooled; a stage's tolerance
    the first sub-fund's that names it)."""
    gf = _guidance(res, guidance)
    acc: dict = {}
    for s in gf.sub_funds:
        if sub is not None and s.name != sub or not s.stages:
            continue
        w = 1.0 if sub is not None else float(s.guidance_share)
        cat = _raw(res, guidance, s.name, "category")
        for k, st in enumerate(s.stages):
            tol = float(st.tolerance if st.tolerance is not None else s.tolerance)
            inv, proc, t = acc.get(st.name, (0.0, 0.0, tol))
            acc[st.name] = (inv + w * cat[:, 0, k], proc + w * cat[:, 1, k], t)
    return {name: (_loss(proc, inv), tol) for name, (inv, proc, tol) in acc.items()}


def rows(res) -> list:
    """(year, measure, Estimate) rows of every guidance fund and its sub-funds."""
    w = res.weights
    levels = res.scenario.report.levels
    out = []
    for gf in res.scenario.guidance_funds:
        g = gf.name
        start = gf.sub_funds[0].start_year
        for s in gf.sub_funds:
            m = f"fund:{g}:sub:{s.name}"

            def f(k, _s=s):
                return _fig(res, g, _s.name, k)

            tol = float(s.tolerance)
            out.append((None, m, _named(prob(f("principal_loss_ratio") > tol, w),
                                        "P(breach, principal)", tol)))
            if s.stages:
                out.append((None, m, _named(mean(f("category_breach"), w),
                                            "P(breach, category)", tol)))
                for name, (lr, t) in categories(res, g, s.name).items():
                    out.append((None, m, _named(prob(lr > t, w), f"P(breach, category {name})",
                                                t)))
            deals = f("deals")
            share = np.where(deals > 0, f("project_breaches") / np.where(deals > 0, deals, 1), 0)
            out.append((None, m, _named(mean(share, w), "share of projects over tolerance",
                                        float(s.project_tolerance))))
            out.append((None, m, _named(mean(f("principal_loss_ratio"), w),
                                        "loss ratio on invested principal (mean)")))
            paid, pp = f("guidance_paid_in"), f("private_paid_in")
            out.append((None, m, _named(mean(f("guidance_distributions") / paid, w),
                                        "guidance fund TVPI")))
            if np.all(pp > 0):
                out.append((None, m, _named(mean(f("private_distributions") / pp, w),
                                            "private TVPI")))
            for k, label in (("concession_cost", "concession cost (NPV)"),
                             ("goal_met", "P(goals met)"), ("deals", "deals funded"),
                             ("carry", "manager's carry"), ("proceeds", "exit proceeds")):
                out.append((None, m, _named(mean(f(k), w), label)))
            if gf.concession.mode == "buyback":
                out.append((None, m, _named(mean(f("bought_back"), w), "P(bought back)")))
            a, b = f("private_irr"), f("private_irr_no_concession")
            if np.isfinite(a).all() and np.isfinite(b).all():
                out.append((None, m, _named(var(a, 0.5, w), "private IRR (median)")))
                out.append((None, m, _named(var(b, 0.5, w),
                                            "private IRR without concession (median)")))
                out.append((None, m, _named(mean(a - b, w), "private IRR uplift (mean)")))
            value, inv = interim(res, g, s.name)
            for t in range(s.life_years):
                lr = _loss(value[:, t], inv[:, t])
                year = start + t
                out.append((year, m, _named(mean(_raw(res, g, s.name, "nav")[:, t], w),
                                            "NAV (end of year)")))
                out.append((year, m, _named(mean(lr, w), "interim loss ratio (end of year)")))
                out.append((year, m, _named(prob(lr > tol, w), "P(interim loss ratio > tolerance)",
                                            tol)))
        # the guidance fund itself, through its stakes
        m = f"fund:{g}:provincial"
        tol = float(gf.tolerance)

        def gs(k, _g=g):
            return guidance_samples(res, _g, k)

        by_basis = {"principal": prob(gs("principal_loss_ratio") > tol, w),
                    "paid_in": prob(gs("loss_ratio") > tol, w)}
        cats = categories(res, g)
        if cats:
            any_cat = np.zeros(res.paths, bool)
            for lr, t in cats.values():
                any_cat |= lr > t
            by_basis["category"] = prob(any_cat, w)
        by_basis["per_project"] = mean(gs("project_breach_share"), w)
        head = gf.tolerance_basis if gf.tolerance_basis in by_basis else "principal"
        out.append((None, m, _named(by_basis[head], "P(breach)", tol)))
        for basis, est in by_basis.items():
            label = "share of projects over tolerance" if basis == "per_project" \
                else f"P(breach, {basis})"
            out.append((None, m, _named(est, label, tol)))
        for name, (lr, t) in cats.items():
            out.append((None, m, _named(prob(lr > t, w), f"P(breach, category {name})", t)))
        for k in ("loss_ratio", "principal_loss_ratio", "fiscal_cost"):
            for est in describe(gs(k), levels=levels, thresholds=(), weights=w):
                out.append((None, f"{m}:{k}", est))
        for k, label in (("tvpi", "government TVPI"), ("paid_in", "government paid-in"),
                         ("concession_cost", "concession cost (NPV)")):
            out.append((None, m, _named(mean(gs(k), w), label)))
        cash = guidance_cash(res, g)
        value, inv = interim(res, g)
        for t in range(cash.shape[1]):
            year = start + t
            out.append((year, m, _named(mean(cash[:, t], w), "government net cash out")))
            lr = _loss(value[:, t], inv[:, t])
            out.append((year, m, _named(mean(lr, w), "interim loss ratio (end of year)")))
            out.append((year, m, _named(prob(lr > tol, w), "P(interim loss ratio > tolerance)",
                                        tol)))
    return out
