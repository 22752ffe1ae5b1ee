"""Plots for analysts and slides (matplotlib, imported lazily).

Every function takes a :class:`~simpool.analysis.results.Results` (or a table) and returns a
matplotlib Figure; ``path=`` also saves it (PNG by extension). Money axes are formatted in
yuan with 万/亿. Chinese text renders in a full CJK font: Noto Sans CJK SC (all of GB 2312 and
far beyond; SIL Open Font License), installed with simpool by the ``mplfonts`` package; where
that is missing, a CJK font of the system (Noto Sans CJK SC, Source Han Sans SC, SimHei,
Microsoft YaHei, PingFang SC, WenQuanYi), and last the subset shipped with simpool.
:func:`cjk_font_path` says which file is used. Per-glyph fallback keeps Latin text in DejaVu
Sans. A character no font can draw is never dropped silently: :func:`text` warns
(:class:`~simpool.errors.SimpoolWarning`) naming it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SYSTEM_CJK = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "SimHei",
              "Microsoft YaHei", "PingFang SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei")
SUBSET = Path(__file__).parent / "fonts" / "simpool-cjk-subset.otf"
SUBSET_FAMILY = "simpool CJK subset"
_FONT: dict = {}

#: Colours of the parties (stable across plots).
PARTY_COLORS = {"bank": "#4C72B0", "guarantor": "#DD8452", "reguarantor": "#937860",
                "national_fund": "#8172B3", "government": "#C44E52",
                "compensation_pool": "#55A868", "insurer": "#DA8BC3", "insurance_pool": "#64B5CD"}


def _mpl():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg", force=False)
        except Exception:  # noqa: BLE001 - keep the user's backend when it cannot switch
            pass
    import matplotlib.pyplot as plt

    setup_fonts()
    return matplotlib, plt


#: The full CJK font simpool installs (package ``mplfonts``, file inside it).
PACKAGED = ("mplfonts", "fonts/NotoSansCJKsc-Regular.otf")


def packaged_cjk_font() -> Path | None:
    """The full Noto Sans CJK SC file of the ``mplfonts`` package, if installed (found
    without importing the package)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(PACKAGED[0])
    except (ImportError, ValueError):
        return None
    for base in (spec.submodule_search_locations or []) if spec else []:
        f = Path(base) / PACKAGED[1]
        if f.is_file():
            return f
    return None


def setup_fonts() -> str:
    """Choose the CJK font (once); returns its family name."""
    if "family" in _FONT:
        return _FONT["family"]
    import matplotlib
    from matplotlib import font_manager

    family = path = None
    full = packaged_cjk_font()
    if full is not None:
        try:
            font_manager.fontManager.addfont(str(full))
            family = font_manager.FontProperties(fname=str(full)).get_name()
            path = str(full)
        except Exception:  # noqa: BLE001 - an unreadable file: fall back below
            family = path = None
    if family is None:
        names = {f.name for f in font_manager.fontManager.ttflist}
        family = next((n for n in SYSTEM_CJK if n in names), None)
        if family is None and SUBSET.exists():
            font_manager.fontManager.addfont(str(SUBSET))
            family = SUBSET_FAMILY
        if family is not None:
            path = font_manager.findfont(font_manager.FontProperties(family=family),
                                         fallback_to_default=False)
    _FONT["charset"] = set()
    if family is not None:
        matplotlib.rcParams["font.family"] = ["DejaVu Sans", family]
        try:
            from matplotlib.ft2font import FT2Font

            _FONT["charset"] = set(chr(c) for c in FT2Font(path).get_charmap())
        except Exception:  # noqa: BLE001
            pass
    _FONT["family"] = family or "DejaVu Sans"
    _FONT["path"] = path
    return _FONT["family"]


def cjk_font_path() -> str | None:
    """The font file Chinese text is drawn with (None: no CJK font at all)."""
    setup_fonts()
    return _FONT.get("path")


def missing_glyphs(s: str) -> str:
    """The characters of ``s`` that neither DejaVu Sans (Latin) nor the CJK font can draw."""
    setup_fonts()
    ok = _FONT.get("charset", set())
    return "".join(dict.fromkeys(c for c in s if ord(c) >= 0x2E80 and c not in ok))


def text(s: str) -> str:
    """``s`` as given; a character no available font can draw is named in a
    :class:`~simpool.errors.SimpoolWarning` (it shows as an empty box), never dropped."""
    missing = missing_glyphs(s)
    if missing:
        import warnings

        from ..errors import SimpoolWarning

        warnings.warn(SimpoolWarning(
            f"no available font can draw {missing!r} (in {s!r}; font: "
            f"{_FONT.get('path') or 'none'}): it shows as an empty box; install simpool's "
            "dependencies (mplfonts: Noto Sans CJK SC) or a full CJK font"), stacklevel=2)
    return s


def _yuan_axis(ax, axis: str = "y") -> None:
    import matplotlib.ticker as mt

    from ..scenario.units import format_yuan

    fmt = mt.FuncFormatter(lambda v, _: format_yuan(v))
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


#: The plots' own words in Chinese, longest first (a phrase inside a longer one is replaced
#: after it); the parties' names come from the glossary. Scenario names stay as written.
PLOT_ZH = {
    "interim loss ratio on invested principal": "阶段性投资本金亏损率",
    "guidance fund": "引导基金",
    "tolerance": "容亏率",
    "median": "中位数",
    "cash loss (paid - received in the horizon)": "期内现金损失（支付减收回）",
    "ultimate loss": "最终损失",
    "loss distribution of": "损失分布：",
    "per path": "每条路径",
    "paths (log scale)": "路径数（对数刻度）",
    "who pays": "各方承担",
    "per year": "按年",
    "by year of default": "按违约年份",
    "by year paid": "按支付年份",
    "start of year": "年初",
    "year end": "年末",
    "pool cash (yuan)": "资金池余额（元）",
    "P(depleted by year end)": "P(截至年末耗尽)",
    "P(not yet depleted)": "P(尚未耗尽)",
    "survival of the pools": "资金池存续概率",
    "median": "中位数",
    "public money by level": "各级公共资金",
    "budget at risk (band: expected to 95% VaR)": "预算风险（区间：期望至95% VaR）",
    "outlay in the year (yuan, cash)": "当年支出（元，现金）",
    "expected outlay": "预期支出",
    "leverage (weighted liability / net assets)": "放大倍数（加权责任余额/净资产）",
    "leverage of": "放大倍数：",
    "government loss ratio": "政府出资亏损率",
    "What-if differences": "情景差异",
    "what-if minus base (yuan); 95% error bars from common random numbers":
        "情景减基准（元）；95%误差线（共同随机数）",
    "One-at-a-time sensitivity (tornado)": "单因素敏感性（龙卷风图）",
    "expected": "预期",
    "ultimate": "最终",
    "cash": "现金",
    "loss": "损失",
    "yuan": "元",
    "year": "年份",
    "pool": "资金池",
    "fund": "基金",
}


def _to_chinese(fig) -> None:
    """Every title, axis label and legend entry of ``fig`` in Chinese (:data:`PLOT_ZH`, the
    parties from the glossary)."""
    from ..analysis.labels import glossary

    parties = glossary()["parties"]
    phrases = sorted(PLOT_ZH.items(), key=lambda kv: -len(kv[0]))

    def tr(s: str) -> str:
        if s in parties:
            return parties[s]
        for en, zh in phrases:
            s = s.replace(en, zh)
        return s
    for ax in fig.axes:
        ax.set_title(tr(ax.get_title()))
        ax.set_xlabel(tr(ax.get_xlabel()))
        ax.set_ylabel(tr(ax.get_ylabel()))
        leg = ax.get_legend()
        if leg is not None:
            for t in leg.get_texts():
                t.set_text(tr(t.get_text()))


def _finish(fig, path):
    from ..analysis.labels import language

    if language() == "zh":
        _to_chinese(fig)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def _title(res) -> str:
    sc = res.scenario
    return text(sc.title or sc.name)


# ---------------------------------------------------------------------------- credit side

def loss_distribution(res, measure: str = "net", year: int | None = None, level: float = 0.99,
                      path=None, basis: str = "cash", product: str | None = None):
    """Histogram of a party's (or any measure's) loss per path, with EL, VaR and ES marked
    (``basis`` and ``product`` as :meth:`Results.samples`)."""
    from ..analysis import stats

    _, plt = _mpl()
    x = res.samples(measure, year, basis=basis, product=product).astype(float)
    w = res.weights
    el = stats.mean(x, w).value
    var = stats.var(x, level, w).value
    es = stats.es(x, level, w).value
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(x, bins=80, weights=w, color=PARTY_COLORS.get(measure, "#4C72B0"), alpha=0.75)
    from ..scenario.units import format_yuan

    for v, lab, style in ((el, "EL", "-"), (var, f"VaR {level:g}", "--"), (es, f"ES {level:g}", ":")):
        ax.axvline(v, color="black", ls=style, lw=1.2, label=f"{lab} {format_yuan(v)}")
    ax.set_yscale("log")
    _yuan_axis(ax, "x")
    span = f"{year}" if year is not None else f"{res.years[0]}-{res.years[-1]}"
    what = "ultimate loss" if basis == "ultimate" else "cash loss (paid - received in the horizon)"
    ax.set_xlabel(f"{measure}{f' [{product}]' if product else ''}: {what} per path, {span} (yuan)")
    ax.set_ylabel("paths (log scale)")
    ax.set_title(f"{_title(res)}: loss distribution of {measure}")
    ax.legend()
    return _finish(fig, path)


def who_pays(res, path=None, basis: str = "ultimate", product: str | None = None):
    """Stacked bars: each party's expected loss per year (``basis="ultimate"``: what it
    finally bears of the year's defaults; ``"cash"``: paid minus received in the year)."""
    _, plt = _mpl()
    years = res.years
    fig, ax = plt.subplots(figsize=(9.5, 4.5))
    bottom_pos = np.zeros(len(years))
    bottom_neg = np.zeros(len(years))
    w = res.weights
    parties = res.parties if product is None else res.product_parties(product)
    for p in parties:
        el = np.array([np.average(res.samples(p, y, basis=basis, product=product), weights=w)
                       for y in years])
        pos, neg = np.clip(el, 0, None), np.clip(el, None, 0)
        ax.bar(years, pos, bottom=bottom_pos, color=PARTY_COLORS.get(p), label=p)
        ax.bar(years, neg, bottom=bottom_neg, color=PARTY_COLORS.get(p))
        bottom_pos += pos
        bottom_neg += neg
    _yuan_axis(ax)
    ax.set_xticks(years)
    ax.set_xlabel("year")
    ax.set_ylabel(f"expected {basis} loss (yuan)"
                  + (" by year of default" if basis == "ultimate" else " by year paid"))
    ax.set_title(f"{_title(res)}: who pays{f' ({product})' if product else ''}, per year, {basis}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _finish(fig, path)


def pool_fan(res, pool: str, path=None):
    """Fan chart of a pool's cash (median, 25-75% and 5-95% bands) and the probability that it
    has run dry by each year."""
    _, plt = _mpl()
    bal = res.pool_balance(pool)
    years = [res.years[0]] + [y + 1 for y in res.years]  # start, then each year's end
    q = np.percentile(bal, [5, 25, 50, 75, 95], axis=0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(years, q[0], q[4], color="#55A868", alpha=0.2, label="5-95%")
    ax.fill_between(years, q[1], q[3], color="#55A868", alpha=0.4, label="25-75%")
    ax.plot(years, q[2], color="#2E6B3A", lw=2, label="median")
    _yuan_axis(ax)
    ax.set_xlabel("start of year")
    ax.set_ylabel("pool cash (yuan)")
    ax2 = ax.twinx()
    p = depletion_curve(res, pool)
    ax2.plot([y + 1 for y in res.years], p, color="#C44E52", marker="o", label="P(depleted by year end)")
    ax2.set_ylim(0, max(0.05, float(np.max(p)) * 1.2))
    ax2.yaxis.set_major_formatter(_percent())
    ax2.set_ylabel("P(depleted by year end)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="upper left")
    ax.set_title(f"{_title(res)}: pool {text(pool)}")
    return _finish(fig, path)


#: Colours of the levels of government.
LEVEL_COLORS = {"central": "#8172B3", "provincial": "#4C72B0", "city": "#C44E52",
                "district": "#DD8452"}


def public_money(res, path=None, kind: str | None = "budget"):
    """Public money per level of government and year: stacked expected outlays (left), and
    each level's budget at risk (right: expected outlay, 95% and 99% VaR of the year's cash).
    ``kind``: ``"budget"`` (fiscal cost, the default), ``"soe"`` or None (all public money)."""
    _, plt = _mpl()
    led = res.ledger
    years = led.years
    w = res.weights
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    bottom = np.zeros(len(years))
    for lv in res.fiscal_levels:
        a = led.by_year(lv, None, kind)
        if not a.any():
            continue
        m = (a * (w[:, None] if w is not None else 1.0)).mean(axis=0)
        c = LEVEL_COLORS.get(lv)
        ax.bar(years, m, bottom=bottom, color=c, label=lv)
        bottom += m
        q95 = [_weighted_quantile(a[:, t], 0.95, w) for t in range(len(years))]
        q99 = [_weighted_quantile(a[:, t], 0.99, w) for t in range(len(years))]
        ax2.plot(years, m, color=c, lw=2, label=f"{lv}: expected")
        ax2.fill_between(years, m, q95, color=c, alpha=0.25)
        ax2.plot(years, q99, color=c, lw=1, ls="--", label=f"{lv}: 99% VaR")
    what = {"budget": "budget money", "soe": "state-owned capital", None: "all public money"}[kind]
    for a_ in (ax, ax2):
        _yuan_axis(a_)
        a_.set_xticks(years)
        a_.set_xlabel("year")
    ax.set_ylabel(f"expected outlay, {what} (yuan, cash)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"{_title(res)}: public money by level")
    ax2.set_ylabel("outlay in the year (yuan, cash)")
    ax2.set_title("budget at risk (band: expected to 95% VaR)")
    ax2.legend(fontsize=7, loc="upper left", ncol=2)
    return _finish(fig, path)


def _weighted_quantile(x: np.ndarray, q: float, w) -> float:
    """The summary's VaR of ``x`` at level ``q`` (importance weights when present)."""
    from ..analysis.stats import var

    return var(x, q, w).value


def _percent():
    import matplotlib.ticker as mt

    return mt.PercentFormatter(1.0)


def depletion_curve(res, pool: str) -> np.ndarray:
    """P(the pool could not pay a claim in full by the end of each year): the summary's
    ``P(depleted by year)`` of each year."""
    return np.array([res.figure(f"pool:{pool}", "P(depleted by year)", y)[0] for y in res.years])


def pool_survival(res, path=None):
    """Survival curve of every pool: P(still paying in full) at the end of each year."""
    _, plt = _mpl()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    pools = list(res._wf.pool_names) + (["insurance_pool"] if "insurance_pool" in res.parties else [])
    ends = [y + 1 for y in res.years]
    lowest = 1.0
    styles = ["-", "--", ":", "-."]
    for i, p in enumerate(pools):
        surv = [1.0] + list(1 - depletion_curve(res, p))
        lowest = min(lowest, min(surv))
        ax.step([res.years[0]] + ends, surv, where="post", label=text(p), color=f"C{i}",
                ls=styles[i % len(styles)], marker="o", ms=3, lw=1.6)
    # zoom in when every pool survives almost surely, or the curves hide one another
    bottom = 0.0 if lowest < 0.8 else max(0.0, lowest - max(0.02, (1 - lowest) * 0.5))
    ax.set_ylim(bottom, 1.0 + (1.0 - bottom) * 0.02)
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel("year end")
    ax.set_ylabel("P(not yet depleted)")
    ax.set_title(f"{_title(res)}: survival of the pools")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def guarantor_leverage(res, guarantor: str, path=None):
    """Leverage (guarantees / net assets) paths: median and bands, against the cap."""
    _, plt = _mpl()
    g = list(res._wf.guarantor_names).index(guarantor)
    lev = res._need("guarantor_leverage", "leverage paths")[:, :, g].astype(float)
    lev = np.where(np.isfinite(lev), lev, np.nan)
    cap = float(res.scenario.guarantors[g].leverage_cap)
    q = np.nanpercentile(lev, [5, 25, 50, 75, 95], axis=0)
    years = res.years
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(years, q[0], q[4], color="#DD8452", alpha=0.2, label="5-95%")
    ax.fill_between(years, q[1], q[3], color="#DD8452", alpha=0.4, label="25-75%")
    ax.plot(years, q[2], color="#8C4A1E", lw=2, label="median")
    ax.axhline(cap, color="#C44E52", ls="--", label=f"cap {cap:g}x")
    top = max(cap, float(np.nanmax(q[4])) if np.isfinite(q[4]).any() else cap)
    ax.set_ylim(top=top * 1.12)
    share = np.nanmean(lev > cap, axis=0)
    for y, s in zip(years, share):
        if s > 0:
            ax.annotate(f"{s:.1%} > cap", (y, cap), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=7, color="#C44E52")
    ax.set_xticks(years)
    ax.set_xlabel("year")
    ax.set_ylabel("leverage (weighted liability / net assets)")
    ax.set_title(f"{_title(res)}: leverage of {text(guarantor)}")
    ax.legend(fontsize=8)
    return _finish(fig, path)


# ---------------------------------------------------------------------------- angel fund

def fund_loss_ratio(res, fund: str, path=None):
    """Distribution of the government's loss ratio in a fund, against its tolerance."""
    from ..analysis import stats

    _, plt = _mpl()
    f = res.scenario.funds[res.funds.index(fund)]
    lr = res.samples(f"fund:{fund}:gov_loss_ratio")
    w = res.weights
    p = stats.prob(lr > f.tolerance, w)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(lr, bins=80, weights=w, color="#8172B3", alpha=0.8)
    ax.axvline(f.tolerance, color="#C44E52", ls="--",
               label=f"tolerance {f.tolerance:.0%}: P(breach) {p.value:.2%} ± {p.se:.2%}")
    ax.axvline(float(np.average(lr, weights=w)), color="black", label="mean")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(_percent())
    ax.set_xlabel("government loss ratio 1 - (distributions - first loss) / paid-in")
    ax.set_ylabel("paths (log scale)")
    ax.set_title(f"{_title(res)}: fund {text(fund)}")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def guidance_interim(res, guidance: str, path=None):
    """Where a guidance fund stands each year: its interim loss ratio on invested principal
    (through its stakes; deals held marked from cost to exit value) as a fan of quantiles
    (5-95%, 25-75%, median), against its tolerance (FUNDS.md, "Fund of funds")."""
    from ..analysis.guidance import _guidance, _loss, interim

    _, plt = _mpl()
    gf = _guidance(res, guidance)
    value, invested = interim(res, guidance)
    lr = _loss(value, invested)
    years = [gf.sub_funds[0].start_year + t for t in range(lr.shape[1])]
    q = np.quantile(lr, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.fill_between(years, q[0], q[4], color="#8172B3", alpha=0.25, label="5-95%")
    ax.fill_between(years, q[1], q[3], color="#8172B3", alpha=0.45, label="25-75%")
    ax.plot(years, q[2], color="#8172B3", label="median")
    ax.axhline(gf.tolerance, color="#C44E52", ls="--", label=f"tolerance {gf.tolerance:.0%}")
    ax.yaxis.set_major_formatter(_percent())
    ax.set_xlabel("year")
    ax.set_ylabel("interim loss ratio on invested principal")
    ax.set_title(f"{_title(res)}: guidance fund {text(guidance)}")
    ax.legend(fontsize=8)
    return _finish(fig, path)


# ---------------------------------------------------------------------------- what-ifs

def compare_chart(table, path=None):
    """Differences of the headline figures (what-if - base) with 95% error bars."""
    from ..analysis.headline import headline

    matplotlib, plt = _mpl()
    rows = headline(table)
    rows = rows[rows.statistic.isin(["EL", "NPV"]) & (rows["product"].fillna("") == "")]
    names = list(dict.fromkeys(rows.scenario))
    measures = list(dict.fromkeys(rows.measure))
    fig, ax = plt.subplots(figsize=(9, 0.35 * max(4, len(measures) * len(names)) + 1.5))
    y = 0
    ticks, labels = [], []
    for m in measures:
        for i, s in enumerate(names):
            r = rows[(rows.measure == m) & (rows.scenario == s)]
            if r.empty:
                continue
            d, e = float(r["diff"].iloc[0]), 1.96 * float(r["se_diff"].iloc[0])
            ax.barh(y, d, xerr=e if math.isfinite(e) else None, color=f"C{i}",
                    label=text(s) if m == measures[0] else None, capsize=3)
            ticks.append(y)
            labels.append(f"{m} ({r.statistic.iloc[0]})")
            y += 1
        y += 0.5
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    _yuan_axis(ax, "x")
    ax.set_xlabel("what-if minus base (yuan); 95% error bars from common random numbers")
    ax.invert_yaxis()
    if names:
        ax.legend(loc="best", fontsize=8)
    ax.set_title("What-if differences")
    return _finish(fig, path)


def tornado_chart(table, figure, path=None, top: int = 15):
    """Tornado of one-at-a-time swings (from :func:`simpool.analysis.sensitivity.tornado_table`)."""
    matplotlib, plt = _mpl()
    t = table[table.swing.notna()].head(top)
    f0 = float(table.figure_base.iloc[0]) if len(table) else 0.0
    fig, ax = plt.subplots(figsize=(9, 0.4 * max(len(t), 3) + 1.6))
    for i, (_, r) in enumerate(t.iterrows()):
        paired = "se_diff_low" in t and any(math.isfinite(v) for v in
                                            (r.get("se_diff_low", math.nan),
                                             r.get("se_diff_high", math.nan)))
        sides = ((r.figure_low, r.se_diff_low if paired else r.se_low, "C0", "lever -delta"),
                 (r.figure_high, r.se_diff_high if paired else r.se_high, "C3", "lever +delta"))
        for val, se, color, lab in sides:
            if math.isfinite(val):
                ax.barh(i, val - f0, left=f0, color=color, alpha=0.8,
                        xerr=1.96 * se if math.isfinite(se) else None, capsize=2,
                        label=lab if i == 0 else None)
    ax.axvline(f0, color="black", lw=0.8)
    ax.set_yticks(range(len(t)))
    ax.set_yticklabels(list(t.lever), fontsize=8)
    ax.invert_yaxis()
    if abs(f0) > 1e4:
        _yuan_axis(ax, "x")
    paired_any = "se_diff_low" in t and bool(
        np.isfinite(t[["se_diff_low", "se_diff_high"]].to_numpy(float)).any())
    ax.set_xlabel(f"{figure} (95% error bar of the difference from the base, common random "
                  "numbers)" if paired_any else f"{figure} (each run's 95% error bar)")
    ax.set_title("One-at-a-time sensitivity (tornado)")
    if len(t):
        ax.legend(fontsize=8, loc="best")
    return _finish(fig, path)


def standard_figures(res) -> dict:
    """The report's figures for one run: {name: Figure}."""
    figs = {}
    if res.has_credit:
        figs["who_pays"] = who_pays(res)
        for p in ("net", "bank", "government"):
            if p == "net" or p in res.parties:
                figs[f"loss_{p}"] = loss_distribution(res, p)
        pools = list(res._wf.pool_names) + (["insurance_pool"] if "insurance_pool" in res.parties else [])
        for p in pools:
            figs[f"pool_{p}"] = pool_fan(res, p)
        if pools:
            figs["pool_survival"] = pool_survival(res)
        for g in res._wf.guarantor_names:
            figs[f"leverage_{g}"] = guarantor_leverage(res, g)
    if res.ledger.lines:
        figs["public_money"] = public_money(res)
    for f in res.funds:
        figs[f"fund_{f}"] = fund_loss_ratio(res, f)
    for g in res.guidance_funds:
        figs[f"guidance_{g}"] = guidance_interim(res, g)
    return figs


def save_compare_chart(table, path) -> None:
    """:func:`compare_chart` written to ``path`` (a file name or a binary file object, PNG)
    and closed."""
    _, plt = _mpl()
    plt.close(compare_chart(table, path))


def save_tornado_chart(table, figure, path, top: int = 15) -> None:
    """:func:`tornado_chart` of the ``top`` swings written to ``path`` (a file name or a
    binary file object, PNG) and closed."""
    _, plt = _mpl()
    plt.close(tornado_chart(table, figure, path, top))
