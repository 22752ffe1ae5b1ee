"""The figures a person reads first, and how they are written for people.

:func:`headline_rows` picks them from a run's summary (whole-horizon losses, 99% tails,
fiscal cost, pools' and guarantors' last-year risks, funds' breach probabilities);
:func:`headline` from a comparison's table; :func:`format_value` writes a figure as its
statistic reads (a probability as a percentage, money in 万/亿). Used by the notebook view of
:class:`~simpool.analysis.results.Results`, the report and the comparison plot.
"""

from __future__ import annotations

from ..scenario.units import format_yuan


def format_value(value: float, statistic: str, measure: str) -> str:
    """A figure as people read it: a probability as a percentage, money in 万/亿, ..."""
    if value != value:  # NaN
        return ""
    if statistic.startswith(("P(", "share of projects", "parameter uncertainty share")) \
            or statistic in ("subsidy rate",) \
            or "IRR" in statistic or measure.endswith(("loss_ratio", "_before_cap")) \
            or "rate" in statistic or "NPL ratio" in statistic \
            or statistic.startswith(("interim loss ratio", "loss ratio on")):
        return f"{value:.3%}"
    if "TVPI" in statistic:
        return f"{value:.3f}x"
    if statistic == "end of year" and measure == "borrowers" or statistic == "deals funded" \
            or measure == "defaults" or statistic.startswith(("loans outstanding", "borrowers")):
        return f"{value:,.0f}"  # a count (the mean over paths, to the nearest one)
    if statistic in ("leverage of public money", "loss ratio") or statistic.startswith("leverage"):
        return f"{value:,.2f}"
    return format_yuan(value)


def row_label(r) -> str:
    """A summary row's measure as tables show it, with its programme and basis:
    ``bank [guaranteed] (ultimate)``."""
    label = r["measure"]
    if r["product"]:
        label += f" [{r['product']}]"
    if r["basis"]:
        label += f" ({r['basis']})"
    return label


def is_headline(measure: str, statistic: str, param: float, product: str, basis: str,
                year, last_year) -> bool:
    """Whether a summary row is one a ministry slide carries: whole-horizon losses (each
    party's and, for the guaranteed programme, its ultimate split), the 99% tail of the net
    loss, the fiscal cost and public money, the pools', guarantors' and funds' last-year or
    whole-horizon risks, lending removed, the targets. ``year`` None (or NA) for a
    whole-horizon row; ``last_year`` the horizon's last year. One rule for the run's console
    and report (:func:`headline_rows`) and for comparisons (:func:`headline`)."""
    whole = year is None or str(year) in ("<NA>", "nan", "None", "")
    last = not whole and str(year) == str(last_year)
    st, m = statistic, measure
    if whole and st == "EL" and ":" not in m:
        return not product or (product == "guaranteed" and basis == "ultimate" and m != "gross")
    return (
        whole and st in ("VaR", "ES", "ES (fixed parameters)", "parameter uncertainty share of ES")
        and abs(param - 0.99) < 1e-12 and m == "net"
        or whole and m == "fiscal" and st in ("NPV", "subsidy rate")
        or whole and m == "public_money" and st in ("NPV", "leverage of public money")
        or whole and m.startswith("fiscal:") and st == "NPV"
        or last and st.startswith(("P(depleted", "P(insolvent", "P(government fund exhausted"))
        or whole and st.startswith("P(cap binds") or whole and m == "lending_removed"
        or whole and m.startswith("fund:") and (st.startswith("P(breach") or "TVPI" in st
                                                or "IRR" in st or "concession" in st)
        or last and m.startswith("lending:") and m.count(":") == 1
        or m in ("guarantee_balance", "borrowers", "loan_balance") and st.startswith("P(")
        or whole and m.startswith("pool:") and st.startswith("top-up"))


def headline_rows(res, rows):
    """The headline rows (:func:`is_headline`) of a run's summary (``rows``:
    :meth:`Results.summary_rows`)."""
    last = res.years[-1]
    return [r for r in rows if is_headline(r["measure"], r["statistic"], r["param"],
                                           r["product"], r["basis"], r.year, last)]


def headline(table):
    """The headline rows (:func:`is_headline`, the same as a run's) of a comparison's table
    (:func:`simpool.analysis.compare.compare`), in the table's order."""
    if not len(table):
        return table
    years = table.year.dropna()
    last = years.max() if len(years) else None
    text = lambda col: table[col].fillna("") if col in table else [""] * len(table)  # noqa: E731
    keep = [is_headline(m, st, p, pr, b, None if y is None or y != y else y, last)
            for m, st, p, pr, b, y in zip(table.measure, table.statistic, table.param,
                                          text("product"), text("basis"),
                                          table.year.astype(object).where(table.year.notna(), None))]
    return table[keep]


def _text(r, key: str) -> str:
    """A row's text field (product, basis), "" when the row lacks it or it is missing."""
    try:
        v = r[key]
    except (KeyError, IndexError):
        return ""
    return v if isinstance(v, str) else ""


def _whole(year) -> bool:
    return year is None or str(year) in ("<NA>", "nan", "None", "")


def measure_statistic(r, lang: str = "en") -> tuple[str, str]:
    """A row's (measure, statistic) as people read them: English as summary.csv names them
    (``bank [guaranteed] (ultimate)``, ``VaR 99%``, ``P(>= 500亿)``), or the glossary's Chinese label split
    at its colon (``合作银行（融资担保，最终）``, ``99% VaR``)."""
    from .labels import label

    if lang != "zh":
        head = row_label({"measure": r["measure"], "product": _text(r, "product"),
                          "basis": _text(r, "basis")})
        text = label(r["measure"], r["statistic"], r["param"], _text(r, "product"),
                     _text(r, "basis"), "en")
        return head, text[len(head) + 2:]
    text = label(r["measure"], r["statistic"], r["param"], _text(r, "product"),
                 _text(r, "basis"), "zh")
    head, _, st = text.rpartition("：")
    return head, st


#: Column heads of :func:`readable` by language
_HEADS = {
    "en": {"period": "period", "scenario": "scenario", "measure": "measure",
           "statistic": "statistic", "value": "value", "se": "± se", "base": "base",
           "whatif": "what-if value", "diff": "difference", "se_diff": "± se of difference",
           "all": "all years"},
    "zh": {"period": "期间", "scenario": "情景", "measure": "指标", "statistic": "统计量",
           "value": "数值", "se": "± 标准误", "base": "基准", "whatif": "情景值",
           "diff": "差值", "se_diff": "± 差值标准误", "all": "全部年份"},
}


def readable(table, lang: str | None = None):
    """A summary (:meth:`Results.summary`) or comparison table (:func:`compare`), or any
    selection of their rows, as people read it: the period ("all years" or the year), the
    measure and statistic as labels (Chinese under ``lang="zh"``, ``--lang`` or
    ``SIMPOOL_LANG``), and every figure as text in its own format (money in 万/亿, rates in %,
    counts whole). For display in notebooks and slides; compute with the numeric table."""
    import pandas as pd

    from .labels import language

    lang = language(lang)
    h = _HEADS[lang]
    numbers = [c for c in ("value", "se", "base", "whatif", "diff", "se_diff") if c in table]
    out = []
    for _, r in table.iterrows():
        y = r.get("year")
        row = {h["period"]: h["all"] if _whole(y) else
               str(int(y)) if isinstance(y, (int, float)) or hasattr(y, "__index__") else str(y)}
        if "scenario" in table:
            row[h["scenario"]] = r["scenario"]
        row[h["measure"]], row[h["statistic"]] = measure_statistic(r, lang)
        for c in numbers:
            row[h[c]] = format_value(r[c], r["statistic"], r["measure"])
        out.append(row)
    return pd.DataFrame(out, index=table.index,
                        columns=[h[c] for c in ("period", "scenario", "measure", "statistic",
                                                *numbers) if c != "scenario" or "scenario"
                                 in table])
