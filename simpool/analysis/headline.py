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
    if statistic.startswith("P(") or statistic in ("subsidy rate",) or "IRR" in statistic \
            or measure.endswith((":gov_loss_ratio", "_before_cap")) or "rate" in statistic \
            or "NPL ratio" in statistic:
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


def headline_rows(res, rows):
    """The rows a ministry slide carries: whole-horizon figures, each pool's and guarantor's
    last-year risks, funds' breach probabilities (``rows``: :meth:`Results.summary_rows`)."""
    last = res.years[-1]
    keep = []
    for r in rows:
        whole = r.year is None
        st, m = r["statistic"], r["measure"]
        if whole and st in ("EL",) and ":" not in m and (
                not r["product"] or (r["product"] == "guaranteed" and r["basis"] == "ultimate"
                                     and m != "gross")):
            keep.append(r)
        elif whole and st in ("VaR", "ES") and abs(r["param"] - 0.99) < 1e-12 and m == "net":
            keep.append(r)
        elif whole and m == "fiscal" and st in ("NPV", "subsidy rate") or \
                whole and m == "public_money" and st in ("NPV", "leverage of public money"):
            keep.append(r)
        elif whole and m.startswith("fiscal:") and st == "NPV":
            keep.append(r)
        elif str(r["year"]) == str(last) and (st.startswith("P(depleted")
                                              or st.startswith("P(insolvent")
                                              or st.startswith("P(government fund exhausted")):
            keep.append(r)
        elif whole and st.startswith("P(cap binds") or whole and m == "lending_removed":
            keep.append(r)
        elif whole and m.startswith("fund:") and (st.startswith("P(breach") or "TVPI" in st
                                                  or "IRR" in st or "concession" in st):
            keep.append(r)
        elif str(r["year"]) == str(last) and m.startswith("lending:") and m.count(":") == 1:
            keep.append(r)
        elif m in ("guarantee_balance", "borrowers", "loan_balance") and st.startswith("P("):
            keep.append(r)
    return keep


def headline(table):
    """The rows a person reads first: whole-horizon EL of each party, fiscal NPV, pools."""
    whole = table[table.year.isna()]
    if "product" in whole:
        whole = whole[whole["product"].fillna("") == ""]
    keep = (whole.statistic.isin(["EL"]) & ~whole.measure.str.contains(":")) | \
        ((whole.measure == "fiscal") & whole.statistic.isin(["NPV", "subsidy rate"])) | \
        ((whole.measure.str.startswith("fiscal:")) & (whole.statistic == "NPV")) | \
        whole.statistic.str.startswith("P(breach") | \
        whole.measure.str.startswith("pool:") & whole.statistic.str.startswith("top-up")
    return whole[keep]
