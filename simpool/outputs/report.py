"""A one-file HTML report of a run (and optional what-ifs): scenario, headline figures with
standard errors, the plots (PNG embedded as base64: the file travels alone by e-mail), the
assumptions marked as such, and the resolved scenario. Optionally the same figures as a PDF
(matplotlib's PdfPages: no extra dependency).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone

from ..analysis.headline import format_value as _fmt
from ..analysis.headline import headline_rows, row_label
from ..scenario.units import format_yuan

_CSS = """
body { font-family: "Segoe UI", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei",
       Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .9em; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img { max-width: 100%; margin: .5em 0 1.5em; border: 1px solid #eee; }
.note { color: #555; font-size: .9em; } pre { background: #f7f7f7; padding: 1em; overflow-x: auto; }
.tag-A { color: #a15c00; font-weight: bold; } .tag-S { color: #216e39; font-weight: bold; }
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def assumptions(sc) -> list[tuple[str, str, str, str]]:
    """(key, value, tag, description) of every field whose description marks it [A] or [S]."""
    from pydantic import BaseModel

    out = []

    def walk(model, path: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            key = f"{path}.{name}" if path else name
            if isinstance(value, BaseModel):
                walk(value, key)
            elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
                for i, item in enumerate(value):
                    walk(item, f"{key}.{getattr(item, 'name', i) or i}")
            else:
                desc = field.description or ""
                for tag in ("A", "S"):
                    if f"[{tag}" in desc:
                        shown = format_yuan(value) if isinstance(value, float) and abs(value) >= 1e4 \
                            else str(value)
                        out.append((key, shown, tag, desc))
                        break

    walk(sc, "")
    return out


def build_html(res, rows, *, comparison=None, argv=None, targets=None) -> str:
    """The report as one HTML string (images embedded); ``rows``: :meth:`Results.summary_rows`;
    ``targets``: a :class:`simpool.analysis.targets.TargetsResult` (the levers' table of
    ``simpool targets``), or None for the targets' figures of this run alone."""
    from .._version import __version__
    from ..analysis.labels import language
    from .plots import compare_chart, standard_figures
    from ..scenario.load import resolved_toml

    sc = res.scenario
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='{'zh-CN' if language(None, res.scenario) == 'zh' else 'en'}'><head><meta charset='utf-8'>"
             f"<title>simpool report: {e(sc.title or sc.name)}</title><style>{_CSS}</style></head><body>"]
    parts.append(f"<h1>{e(sc.title or sc.name)}</h1>")
    if sc.description:
        parts.append(f"<p>{e(sc.description)}</p>")
    years = res.calendar_years
    parts.append(
        f"<p class='note'>Scenario <code>{e(sc.source)}</code>; {res.paths:,} Monte Carlo paths, "
        f"seed {res.seed}; years {years[0]}&ndash;{years[-1]}; simpool {__version__}; "
        f"made {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC. Every figure is a Monte Carlo "
        "estimate shown with its standard error (&plusmn; se); money in yuan (万 = 10<sup>4</sup>, "
        "亿 = 10<sup>8</sup>).</p>")
    parts.append("<h2 id='headline'>Headline figures</h2><table><tr><th class='l'>period</th>"
                 "<th class='l'>measure</th><th class='l'>statistic</th><th>value</th><th>&plusmn; se</th></tr>")
    from ..analysis.labels import label as _label_of

    zh = language(None, sc) == "zh"
    for r in headline_rows(res, rows):
        period = r.period
        st = r["statistic"] + (f" {r['param']:g}" if r["statistic"] in ("VaR", "ES") else "")
        if zh:  # the measure and the statistic as one Chinese label
            text = _label_of(r["measure"], r["statistic"], r["param"], r["product"], r["basis"],
                             "zh")
            head, _, st = text.rpartition("：")
            period = "全部年份" if r["year"] is None else period
        else:
            head = row_label(r)
        parts.append(f"<tr><td class='l'>{period}</td><td class='l'>{e(head)}</td>"
                     f"<td class='l'>{e(st)}</td><td>{_fmt(r['value'], r['statistic'], r['measure'])}</td>"
                     f"<td>{_fmt(r['se'], r['statistic'], r['measure'])}</td></tr>")
    parts.append("</table><p class='note'>A party's loss is shown on two bases: "
                 "<b>ultimate</b>, what it finally bears of the horizon's defaults (claims and "
                 "recoveries still pending at the end allocated by its final share; the parties' "
                 "ultimate losses sum to the gross loss), and <b>cash</b>, what it paid minus what "
                 "it received within the horizon (recoveries after the last year are missing, so "
                 "cash can exceed ultimate). <i>[guaranteed]</i> marks one programme's losses (the "
                 "4222 split). Every year and statistic: summary.csv of "
                 "<code>simpool run</code>.</p>")
    figures = standard_figures(res)
    parts.extend(_public_money_section(res, rows, figures.pop("public_money", None)))
    parts.extend(_targets_section(res, targets))
    parts.append("<h2 id='plots'>Plots</h2>")
    for name, fig in figures.items():
        parts.append(f"<img alt='{e(name)}' src='data:image/png;base64,{_png(fig)}'>")
    if comparison is not None and len(comparison):
        from ..analysis.headline import headline

        parts.append("<h2 id='whatifs'>What-ifs (common random numbers)</h2>")
        parts.append(f"<img alt='compare' src='data:image/png;base64,{_png(compare_chart(comparison))}'>")
        parts.append("<table><tr><th class='l'>what-if</th><th class='l'>measure</th>"
                     "<th class='l'>statistic</th><th>base</th><th>what-if</th><th>difference</th>"
                     "<th>&plusmn; se of difference</th></tr>")
        for _, r in headline(comparison).iterrows():
            f = lambda v: _fmt(v, r["statistic"], r["measure"])  # noqa: E731
            parts.append(f"<tr><td class='l'>{e(r['scenario'])}</td><td class='l'>{e(row_label(r))}</td>"
                         f"<td class='l'>{e(r['statistic'])}</td><td>{f(r['base'])}</td>"
                         f"<td>{f(r['whatif'])}</td><td>{f(r['diff'])}</td><td>{f(r['se_diff'])}</td></tr>")
        parts.append("</table>")
    parts.append("<h2 id='assumptions'>Assumptions and sourced facts</h2><p class='note'>"
                 "<span class='tag-A'>[A]</span> marks an assumption (a parameter to challenge), "
                 "<span class='tag-S'>[S]</span> a figure stated by a public source "
                 "(the Hubei plan or DOMAIN.md).</p><table><tr><th class='l'>key</th><th>value</th>"
                 "<th class='l'></th><th class='l'>meaning</th></tr>")
    for key, value, tag, desc in assumptions(sc):
        parts.append(f"<tr><td class='l'><code>{e(key)}</code></td><td>{e(value)}</td>"
                     f"<td class='l tag-{tag}'>[{tag}]</td><td class='l'>{e(desc)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2 id='scenario'>The scenario, resolved</h2><details><summary>every key, "
                 "money in yuan</summary><pre>" + e(resolved_toml(sc)) + "</pre></details>")
    if argv:
        parts.append(f"<p class='note'>Command: <code>{e(' '.join(argv))}</code></p>")
    parts.append("</body></html>")
    page = "\n".join(parts)
    if zh:
        for en, cn in REPORT_ZH.items():
            page = page.replace(en, cn)
    return page


#: The report's own words in Chinese (a finance office's memo): section titles, table heads and
#: the notes that say what a figure means. Figures and the scenario's own text are unchanged.
REPORT_ZH = {
    ">Headline figures</h2>": ">主要结果</h2>",
    ">Public money</h2>": ">公共资金（财政成本）</h2>",
    ">The plan's targets</h2>": ">方案目标的实现概率</h2>",
    ">Plots</h2>": ">图表</h2>",
    ">What-ifs (common random numbers)</h2>": ">情景比较（共同随机数）</h2>",
    ">Assumptions and sourced facts</h2>": ">假设与有出处的参数</h2>",
    ">The scenario, resolved</h2>": ">完整情景参数</h2>",
    "<th class='l'>period</th>": "<th class='l'>期间</th>",
    "<th class='l'>measure</th>": "<th class='l'>指标</th>",
    "<th class='l'>statistic</th>": "<th class='l'>统计量</th>",
    "<th>value</th>": "<th>数值</th>",
    "<th>&plusmn; se</th>": "<th>&plusmn; 标准误</th>",
    "<th class='l'>level</th>": "<th class='l'>层级</th>",
    "<th class='l'>target</th>": "<th class='l'>目标</th>",
    "<th class='l'>goal</th>": "<th class='l'>目标值</th>",
    "<th>expected</th>": "<th>期望值</th>",
    "<th>P(reached)</th>": "<th>实现概率</th>",
    "<td class='l'>all levels</td>": "<td class='l'>各级合计</td>",
    "<td class='l'>provincial</td>": "<td class='l'>省级</td>",
    "<td class='l'>city</td>": "<td class='l'>市级</td>",
    "<td class='l'>district</td>": "<td class='l'>区县级</td>",
    "<td class='l'>central</td>": "<td class='l'>中央</td>",
    "Every figure is a Monte Carlo estimate shown with its standard error (&plusmn; se)":
        "每个数字均为蒙特卡洛估计，并列出其标准误（&plusmn; 标准误）",
    "money in yuan": "金额单位为元",
    "A party's loss is shown on two bases": "各方损失按两种口径列示：最终口径（本期违约最终由其承担的部分）"
                                            "与期内现金口径（期内实际支付减收回）。原文",
}


def _public_money_section(res, rows, fig) -> list[str]:
    """The report's "public money" section: per level of government and year the expected
    budget outlay (± se) and the 99% VaR (the budget at risk), the NPV, and the chart."""
    from .files import public_money_grid

    years, grid = public_money_grid(rows)
    if not grid:
        return []
    e = html.escape
    out = ["<h2 id='public-money'>Public money</h2><p class='note'>Budget money (the fiscal "
           "cost) by level of government, cash per year: expected outlay &plusmn; se, and the 99% "
           "VaR (the outlay of a bad year, one in a hundred); NPV over all years at the "
           "scenario's discount rate. A co-funded line counts at each level by its share; "
           "state-owned capital (the national fund's, the re-guarantor's) is in the "
           "<code>public_money</code> rows of summary.csv.</p><table><tr><th class='l'>level</th>"
           + "".join(f"<th>{y}</th>" for y in years) + "<th>NPV</th></tr>"]
    for label, cells, npv in grid:
        text = [f"{_fmt(m, 'EL', 'fiscal')} &plusmn; {_fmt(se, 'EL', 'fiscal')}"
                f"<br><small>99% VaR {_fmt(v99, 'VaR', 'fiscal')}</small>" for m, se, v99 in cells]
        text.append(f"{_fmt(npv[0], 'NPV', 'fiscal')} &plusmn; {_fmt(npv[1], 'NPV', 'fiscal')}")
        out.append(f"<tr><td class='l'>{e(label)}</td>" + "".join(f"<td>{c}</td>" for c in text)
                   + "</tr>")
    out.append("</table>")
    if fig is not None:
        out.append(f"<img alt='public money' src='data:image/png;base64,{_png(fig)}'>")
    return out


def _targets_section(res, found=None) -> list[str]:
    """The report's "the plan's targets" section: P(reached) ± se of each target, the new
    lending each constraint removed by year and the one that binds; with ``found`` (a
    :class:`~simpool.analysis.targets.TargetsResult`), the smallest change of each lever
    that reaches each target and the public money it costs by level."""
    from ..analysis.targets import base_of, fmt_lever, goals
    from ..scenario.units import format_yuan

    sc = res.scenario
    base = base_of(res.summary(), sc) if found is None else found.base
    if not base.reached:
        return []
    e = html.escape
    out = ["<h2 id='targets'>The plan's targets</h2><p class='note'>P(reached): the share of "
           "paths on which the target is met at the end of the target year (after that year's "
           "new lending), &plusmn; se. The book at the start is the base (the end of the year "
           "before the first simulated year).</p><table><tr><th class='l'>target</th>"
           "<th class='l'>goal</th><th>expected</th><th>P(reached)</th></tr>"]
    for key, (label, goal) in goals(sc).items():
        if key not in base.reached:
            continue
        p, se = base.reached[key]
        mean, _ = base.value[key]
        shown = f"{mean:,.0f}" if key == "borrowers" else format_yuan(mean)
        out.append(f"<tr><td class='l'>{e(label)}</td><td class='l'>{e(goal)}</td>"
                   f"<td>{e(shown)}</td><td>{p:.1%} &plusmn; {se:.1%}</td></tr>")
    out.append("</table><p class='note'>New lending each constraint removed, by the year the "
               "loans would have started (the first is the one that binds):</p><ul>")
    for year in res.calendar_years[1:]:
        rows = base.removed.get(int(year))
        text = "; ".join(f"{w}: {format_yuan(v)}" for w, v in rows) if rows else             "nothing binds: the planned lending (the demand) is made"
        out.append(f"<li>{year}: {e(text)}</li>")
    out.append("</ul>")
    if found is None:
        out.append("<p class='note'>The smallest change of each lever that reaches each target: "
                   "<code>simpool report --targets</code> or <code>simpool targets</code>.</p>")
        return out
    out.append(f"<p class='note'>The smallest change of each lever that reaches each target "
               f"({found.paths:,} paths a run, {found.runs} runs, common random numbers), and "
               "the public money it costs (change of the NPV, by level of government; a pool's "
               "added cash included).</p><table><tr><th class='l'>target</th><th class='l'>lever"
               "</th><th>P &ge;</th><th class='l'>smallest value (P reached &plusmn; se)</th>"
               "<th class='l'>public money</th></tr>")
    labels = {k: v[0] for k, v in goals(sc).items()}
    for a in found.answers:
        lever = next(x for x in found.levers if x.name == a.lever)
        if a.x is None:
            what, cost = f"not reached: {a.why}", ""
        elif not a.cost:
            what, cost = a.why, ""
        else:
            what = f"{fmt_lever(lever, a.x)} ({a.p:.1%} &plusmn; {a.se:.1%})"
            cost = ", ".join(f"{lv} {format_yuan(v)}" for lv, v in sorted(a.cost.items())
                             if abs(v) >= 0.5)
        out.append(f"<tr><td class='l'>{e(labels[a.target])}</td><td class='l'>"
                   f"{e(lever.label)}</td><td>{a.level:.0%}</td><td class='l'>"
                   f"{what if a.x is not None and a.cost else e(what)}</td>"
                   f"<td class='l'>{e(cost)}</td></tr>")
    out.append("</table>")
    return out


def write_pdf(res, path, comparison=None) -> None:
    """The report's plots as a PDF (one page each), via matplotlib's PdfPages."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    from .plots import compare_chart, standard_figures

    with PdfPages(path) as pdf:
        figs = list(standard_figures(res).values())
        if comparison is not None and len(comparison):
            figs.append(compare_chart(comparison))
        for fig in figs:
            pdf.savefig(fig)
            plt.close(fig)
