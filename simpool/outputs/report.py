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
from ..analysis.headline import headline_rows, measure_statistic
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
    zh = language(None, sc) == "zh"
    made = f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC"
    parts.append(_say(
        f"<p class='note'>Scenario <code>{e(sc.source)}</code>; {res.paths:,} Monte Carlo paths, "
        f"seed {res.seed}; years {years[0]}&ndash;{years[-1]}; simpool {__version__}; "
        f"made {made}. Every figure is a Monte Carlo "
        "estimate shown with its standard error (&plusmn; se); money in yuan (万 = 10<sup>4</sup>, "
        "亿 = 10<sup>8</sup>).</p>",
        f"<p class='note'>情景文件 <code>{e(sc.source)}</code>；蒙特卡洛路径 {res.paths:,} 条，"
        f"随机种子 {res.seed}；模拟年份 {years[0]}&ndash;{years[-1]} 年；simpool {__version__}；"
        f"生成于 {made}。每个数字均为蒙特卡洛估计，并列出其标准误（&plusmn; 标准误）；金额单位为元"
        "（万 = 10<sup>4</sup>，亿 = 10<sup>8</sup>）。</p>", zh))
    parts.append("<h2 id='headline'>Headline figures</h2><table><tr><th class='l'>period</th>"
                 "<th class='l'>measure</th><th class='l'>statistic</th><th>value</th><th>&plusmn; se</th></tr>")
    for r in headline_rows(res, rows):
        period = "全部年份" if zh and r["year"] is None else r.period
        head, st = measure_statistic(r, "zh" if zh else "en")
        parts.append(f"<tr><td class='l'>{period}</td><td class='l'>{e(head)}</td>"
                     f"<td class='l'>{e(st)}</td><td>{_fmt(r['value'], r['statistic'], r['measure'])}</td>"
                     f"<td>{_fmt(r['se'], r['statistic'], r['measure'])}</td></tr>")
    parts.append(_say(
        "</table><p class='note'>A party's loss is shown on two bases: "
        "<b>ultimate</b>, what it finally bears of the horizon's defaults (claims and "
        "recoveries still pending at the end allocated by its final share; the parties' "
        "ultimate losses sum to the gross loss), and <b>cash</b>, what it paid minus what "
        "it received within the horizon (recoveries after the last year are missing, so "
        "cash can exceed ultimate). <i>[guaranteed]</i> marks one programme's losses (the "
        "4222 split). Every year and statistic: summary.csv of "
        "<code>simpool run</code>.</p>",
        "</table><p class='note'>各方损失按两种口径列示：<b>最终口径</b>，即模拟期内发生的违约"
        "最终由该方承担的部分（期末尚未完成的代偿与追偿按其最终分担比例计入；各方最终损失之和"
        "等于总损失）；<b>期内现金口径</b>，即模拟期内实际支付减去实际收回（最后一年之后的追偿"
        "未计入，故现金口径可能高于最终口径）。标注“融资担保”等业务的行只含该业务的损失（如4222"
        "分担）。各年份、各统计量的完整结果见 <code>simpool run</code> 输出的 summary.csv。</p>",
        zh))
    figures = standard_figures(res)
    parts.extend(_public_money_section(res, rows, figures.pop("public_money", None), zh))
    parts.extend(_targets_section(res, targets, zh))
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
            head, st = measure_statistic(r, "zh" if zh else "en")
            parts.append(f"<tr><td class='l'>{e(r['scenario'])}</td><td class='l'>{e(head)}</td>"
                         f"<td class='l'>{e(st)}</td><td>{f(r['base'])}</td>"
                         f"<td>{f(r['whatif'])}</td><td>{f(r['diff'])}</td><td>{f(r['se_diff'])}</td></tr>")
        parts.append("</table>")
    parts.append("<h2 id='assumptions'>Assumptions and sourced facts</h2>" + _say(
        "<p class='note'><span class='tag-A'>[A]</span> marks an assumption (a parameter to "
        "challenge), <span class='tag-S'>[S]</span> a figure stated by a public source (the "
        "Hubei plan or DOMAIN.md).</p>",
        "<p class='note'><span class='tag-A'>[A]</span> 表示假设（可质疑、可调整的参数），"
        "<span class='tag-S'>[S]</span> 表示有公开出处的数字（湖北省方案、政策文件或 DOMAIN.md"
        "所列来源）。参数名即情景文件中的键，说明为英文原文。</p>", zh)
        + "<table><tr><th class='l'>key</th><th>value</th><th class='l'></th>"
        "<th class='l'>meaning</th></tr>")
    for key, value, tag, desc in assumptions(sc):
        parts.append(f"<tr><td class='l'><code>{e(key)}</code></td><td>{e(value)}</td>"
                     f"<td class='l tag-{tag}'>[{tag}]</td><td class='l'>{e(desc)}</td></tr>")
    parts.append("</table>")
    parts.append("<h2 id='scenario'>The scenario, resolved</h2><details><summary>"
                 + _say("every key, money in yuan", "全部参数，金额单位为元", zh) + "</summary><pre>" + e(resolved_toml(sc)) + "</pre></details>")
    if argv:
        parts.append(f"<p class='note'>{_say('Command', '运行命令', zh)}: <code>{e(' '.join(argv))}</code></p>")
    parts.append("</body></html>")
    page = "\n".join(parts)
    if zh:
        for en, cn in REPORT_ZH.items():
            page = page.replace(en, cn)
    return page


def _say(en: str, zh_text: str, zh: bool) -> str:
    """The report's words in the reader's language (each note written whole in both)."""
    return zh_text if zh else en


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
    "<th class='l'>what-if</th>": "<th class='l'>情景</th>",
    "<th>base</th><th>what-if</th><th>difference</th>": "<th>基准</th><th>情景值</th><th>差值</th>",
    "<th>&plusmn; se of difference</th>": "<th>&plusmn; 差值标准误</th>",
    "<th class='l'>key</th><th>value</th>": "<th class='l'>参数</th><th>取值</th>",
    "<th class='l'>meaning</th>": "<th class='l'>说明</th>",
    "<th class='l'>lever</th>": "<th class='l'>政策杠杆</th>",
    "<th class='l'>smallest value (P reached &plusmn; se)</th>":
        "<th class='l'>最小取值（实现概率 &plusmn; 标准误）</th>",
    "<th class='l'>public money</th>": "<th class='l'>公共资金成本</th>",
}


def _public_money_section(res, rows, fig, zh: bool = False) -> list[str]:
    """The report's "public money" section: per level of government and year the expected
    budget outlay (± se) and the 99% VaR (the budget at risk), the NPV, and the chart."""
    from .files import public_money_grid

    years, grid = public_money_grid(rows)
    if not grid:
        return []
    e = html.escape
    out = ["<h2 id='public-money'>Public money</h2>" + _say(
        "<p class='note'>Budget money (the fiscal "
        "cost) by level of government, cash per year: expected outlay &plusmn; se, and the 99% "
        "VaR (the outlay of a bad year, one in a hundred); NPV over all years at the "
        "scenario's discount rate. A co-funded line counts at each level by its share; "
        "state-owned capital (the national fund's, the re-guarantor's) is in the "
        "<code>public_money</code> rows of summary.csv.</p>",
        "<p class='note'>财政预算资金（财政成本）按政府层级、按年度列示期内现金支出：期望支出 "
        "&plusmn; 标准误，以及 99% VaR（百年一遇的不利年份的支出）；净现值（NPV）按情景设定的"
        "贴现率对全部年份折现。多级政府共同出资的项目按各级出资比例分别计入；国有资本（国家融资"
        "担保基金、省再担保机构）承担的部分不属于财政预算，列于 summary.csv 的 "
        "<code>public_money</code> 各行。</p>", zh)
        + "<table><tr><th class='l'>level</th>"
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


def _targets_section(res, found=None, zh: bool = False) -> list[str]:
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
    out = ["<h2 id='targets'>The plan's targets</h2>" + _say(
        "<p class='note'>P(reached): the share of "
        "paths on which the target is met at the end of the target year (after that year's "
        "new lending), &plusmn; se. The book at the start is the base (the end of the year "
        "before the first simulated year).</p>",
        "<p class='note'>实现概率：在目标年份末（当年新增贷款投放之后）达到目标的模拟路径占比，"
        "&plusmn; 标准误。期初贷款组合即基期（首个模拟年份的上一年末）。</p>", zh)
        + "<table><tr><th class='l'>target</th><th class='l'>goal</th><th>expected</th>"
        "<th>P(reached)</th></tr>"]
    names = _target_names(sc) if zh else {}
    for key, (label, goal) in goals(sc).items():
        if key not in base.reached:
            continue
        p, se = base.reached[key]
        mean, _ = base.value[key]
        shown = f"{mean:,.0f}" if key == "borrowers" else format_yuan(mean)
        label, goal = names.get(key, (label, goal))
        out.append(f"<tr><td class='l'>{e(label)}</td><td class='l'>{e(goal)}</td>"
                   f"<td>{e(shown)}</td><td>{p:.1%} &plusmn; {se:.1%}</td></tr>")
    out.append("</table>" + _say(
        "<p class='note'>New lending each constraint removed, by the year the loans would have "
        "started (the first is the one that binds):</p>",
        "<p class='note'>各项约束按年压减的新增贷款（按贷款原定投放年份；排在第一位的即起约束"
        "作用的那一项）：</p>", zh) + "<ul>")
    for year in res.calendar_years[1:]:
        rows = base.removed.get(int(year))
        text = "; ".join(f"{_constraint(w, zh)}: {format_yuan(v)}" for w, v in rows) if rows \
            else _say(
            "nothing binds: the planned lending (the demand) is made",
            "无约束起作用：计划的新增贷款（需求）全部投放", zh)
        out.append(f"<li>{year}: {e(text)}</li>")
    out.append("</ul>")
    if found is None:
        out.append(_say(
            "<p class='note'>The smallest change of each lever that reaches each target: "
            "<code>simpool report --targets</code> or <code>simpool targets</code>.</p>",
            "<p class='note'>达到各目标所需的各政策杠杆的最小调整：见 "
            "<code>simpool report --targets</code> 或 <code>simpool targets</code>。</p>", zh))
        return out
    out.append(_say(
        f"<p class='note'>The smallest change of each lever that reaches each target "
        f"({found.paths:,} paths a run, {found.runs} runs, common random numbers), and "
        "the public money it costs (change of the NPV, by level of government; a pool's "
        "added cash included).</p>",
        f"<p class='note'>达到各目标所需的各政策杠杆的最小调整（每次运行 {found.paths:,} 条路径，"
        f"共 {found.runs} 次运行，共同随机数），及其公共资金成本（净现值的变化，按政府层级；"
        "含资金池新增注资）。</p>", zh) + "<table><tr><th class='l'>target</th><th class='l'>lever"
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


def _constraint(what: str, zh: bool) -> str:
    """A constraint that removed lending ("pool:a leverage target") in the reader's language."""
    if not zh:
        return what
    from ..analysis.labels import label

    try:
        text = label("lending_removed", f"by {what}", lang="zh")
    except KeyError:
        return what
    return text.rpartition("：")[2].removeprefix("因")


def _target_names(sc) -> dict:
    """{target key: (label, goal)} in Chinese, for the report's targets table."""
    from ..analysis.labels import glossary
    from ..scenario.units import format_yuan

    rep, g = sc.report, glossary()["parties"]
    year = rep.guarantee_balance_year
    return {
        "guarantee_balance": (g["guarantee_balance"],
                              f"{year}年末不低于{format_yuan(rep.guarantee_balance_target)}"),
        "borrowers": (g["borrowers"], f"{year}年末较基期增长{rep.borrower_growth_target:.0%}"),
        "loan_balance": (g["loan_balance"],
                         f"{sc.years[0] - 1}年末至{year}年末年均增长{rep.loan_growth_target:.0%}"),
    }


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
