"""Readable labels and units of summary rows, in English or Chinese.

summary.csv's ``measure``/``statistic``/``param`` values are what programs read and never
change with the language; :func:`label` gives what a person reads (``VaR 99%``,
``P(loss > 50亿)``, ``合作银行（融资担保，最终）: 99% VaR``) and :func:`unit` the unit of
``value`` and ``se`` (``yuan``, ``probability``, ``count``, ``ratio``, ``years``). The
Chinese terms come from one file, ``glossary.toml`` beside this module, that a reviewer can
correct. The language: ``--lang``, else the ``SIMPOOL_LANG`` environment variable, else the
scenario's ``report.lang``, else English (:func:`language`).
"""

from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from pathlib import Path

LANGS = ("en", "zh")
UNITS = ("yuan", "probability", "count", "ratio", "years")
GLOSSARY = Path(__file__).with_name("glossary.toml")


@lru_cache(maxsize=1)
def glossary() -> dict:
    """The glossary's tables (parties, kinds, levels, products, bases, statistics, words)."""
    import tomllib

    return tomllib.loads(GLOSSARY.read_text(encoding="utf-8"))


#: The command line's ``--lang`` while a command runs (set by :func:`simpool.cli.main.main`).
FLAG: list = [None]


def language(flag: str | None = None, scenario=None) -> str:
    """The language of labels: ``flag`` (``--lang``), ``SIMPOOL_LANG``, the scenario's
    ``report.lang``, else ``"en"``. An unknown value is a ValueError naming what is allowed."""
    for source, value in (("--lang", flag or FLAG[0]),
                          ("SIMPOOL_LANG", os.environ.get("SIMPOOL_LANG")),
                          ("report.lang", getattr(getattr(scenario, "report", None), "lang",
                                                  None))):
        if value:
            v = str(value).strip().lower()
            if v not in LANGS:
                raise ValueError(f"{source}: unknown language {value!r}; allowed: "
                                 f"{', '.join(LANGS)}")
            return v
    return "en"


# ----------------------------------------------------------------------------------- units

_COUNT_STATS = ("loans outstanding", "borrowers", "deals funded")
_RATIO_WORDS = ("rate", "ratio", "leverage", "TVPI", "IRR")


def unit(measure: str, statistic: str) -> str:
    """The unit of a summary row's ``value`` and ``se``."""
    if statistic.startswith("P(") or statistic == "prob":
        return "probability"
    if measure == "lending_removed":
        return "yuan"
    if measure == "defaults" or statistic.startswith(_COUNT_STATS) or \
            measure == "borrowers" and statistic == "end of year":
        return "count"
    if statistic.startswith("share of projects"):
        return "probability"  # a share of projects, a fraction like a probability
    if statistic.startswith("parameter uncertainty share"):
        return "ratio"
    if measure.endswith(("_before_cap", "loss_ratio")) or \
            any(w in statistic for w in _RATIO_WORDS):
        return "ratio"
    if "years" in statistic and "all years" not in statistic:
        return "years"
    return "yuan"


# ---------------------------------------------------------------------------------- labels

def _pct(x: float) -> str:
    s = f"{100 * x:.4g}"
    return f"{s}%"


def _money(x: float) -> str:
    from ..scenario.units import format_yuan

    return format_yuan(x)


#: Statistics built from parts: (kind, the pattern of summary.csv's text)
_PATTERNS = (
    ("at_least_yuan", r"P\(>= ([0-9.e+]+)\)"),
    ("at_least_start", r"P\(>= ([0-9.]+) x start\)"),
    ("npl", r"P\(NPL>([0-9.]+)\)"),
    ("leverage", r"P\(leverage>([0-9.]+)\)"),
    ("bank_npl", r"P\(bank (.+) NPL>([0-9.]+), (warn|stop)\)"),
    ("top_up", r"top-up for P\(depleted\)<=([0-9.]+)"),
    ("removed", r"by (\S+) (.+)"),
    ("category", r"P\(breach, category (.+)\)"),
)


def _parsed(statistic: str, param: float) -> tuple[str, tuple] | None:
    """(kind, parts) of a statistic built from parts (with its ``param`` where it has one),
    or None for a whole statistic."""
    if statistic in ("VaR", "ES") and param == param:
        return "level", (statistic, param)
    if statistic in ("VaR (fixed parameters)", "ES (fixed parameters)") and param == param:
        return "level_fixed", (statistic.split()[0], param)
    if statistic == "parameter uncertainty share of ES" and param == param:
        return "uncertainty_share", (param,)
    if statistic == "P(L>x)" and param == param:
        return "loss", (param,)
    for kind, rx in _PATTERNS:
        m = re.fullmatch(rx, statistic)
        if m:
            return kind, m.groups()
    return None


def _param_text(statistic: str, param: float) -> str:
    """The statistic with its parameter as people read it (English)."""
    got = _parsed(statistic, param)
    if got is None:
        return statistic
    kind, a = got
    return {
        "level": lambda: f"{a[0]} {_pct(a[1])}",
        "loss": lambda: f"P(loss > {_money(a[0])})",
        "at_least_yuan": lambda: f"P(>= {_money(float(a[0]))})",
        "at_least_start": lambda: f"P(>= {float(a[0]):g} x start)",
        "npl": lambda: f"P(NPL > {_pct(float(a[0]))})",
        "leverage": lambda: f"P(leverage > {float(a[0]):g})",
        "bank_npl": lambda: f"P(bank {a[0]} NPL > {_pct(float(a[1]))}, {a[2]})",
        "top_up": lambda: f"top-up for P(depleted) <= {_pct(float(a[0]))}",
        "removed": lambda: statistic,
        "category": lambda: statistic,
        "level_fixed": lambda: f"{a[0]} {_pct(a[1])} (fixed parameters)",
        "uncertainty_share": lambda: f"parameter uncertainty share of ES {_pct(a[0])}",
    }[kind]()


def _zh_statistic(statistic: str, param: float) -> str:
    """The statistic in Chinese ("" when the glossary lacks a term)."""
    g = glossary()
    st, w = g["statistics"], g["words"]
    got = _parsed(statistic, param)
    if got is None or got[0] not in ("level", "loss", "level_fixed", "uncertainty_share") \
            and statistic in st:
        return st.get(statistic, "")
    kind, a = got
    if kind == "removed":
        if a[1] not in w:
            return ""
        who = _zh_measure(a[0])
        return f"{w['by']}{who}{' ' if who[-1:].isascii() else ''}{w[a[1]]}" if who else ""
    return {
        "level": lambda: f"{_pct(a[1])} {st[a[0]]}",
        "loss": lambda: f"{w['P(loss >']} {_money(a[0])})",
        "at_least_yuan": lambda: f"{w['P(>=']} {_money(float(a[0]))})",
        "at_least_start": lambda: f"{w['P(>=']} {float(a[0]):g} {w['x start']})",
        "npl": lambda: f"{w['P(NPL >']} {_pct(float(a[0]))})",
        "leverage": lambda: f"{w['P(leverage >']} {float(a[0]):g})",
        "bank_npl": lambda: (f"P({g['kinds']['bank']} {a[0]} {w['P(NPL >'][2:]} "
                             f"{_pct(float(a[1]))}, {w[a[2]]})"),
        "top_up": lambda: w["top-up for P(depleted) <="].format(_pct(float(a[0]))),
        "category": lambda: w["P(breach, category"].format(a[0]),
        "level_fixed": lambda: f"{_pct(a[1])} {st[a[0]]}{w['fixed parameters']}",
        "uncertainty_share": lambda: w["parameter uncertainty share of ES"].format(_pct(a[0])),
    }[kind]()


def _zh_measure(measure: str) -> str:
    g = glossary()
    if measure in g["parties"]:
        return g["parties"][measure]
    kind, _, rest = measure.partition(":")
    if kind in ("fiscal", "public_money") and rest in g["levels"]:
        return f"{g['parties'][kind]}：{g['levels'][rest]}"
    if kind == "lending" and rest in g["products"]:
        return f"{g['parties']['lending']}：{g['products'][rest]}"
    if kind == "lending":
        sub, _, name = rest.partition(":")
        if sub in g["kinds"]:
            return f"{g['parties']['lending']}：{g['kinds'][sub]} {name}"
    if kind == "national_fund" and rest == "payout_rate_before_cap":
        return f"{g['parties']['national_fund']}：上限前代偿率"
    if kind == "pool" and rest == "insurance_pool":
        return g["parties"]["insurance_pool"]
    if kind == "fund" and rest.count(":") >= 1:  # a guidance fund's sub-fund or its own
        name, _, tail = rest.partition(":")
        part, _, more = tail.partition(":")
        if part == "sub":
            return f"{g['parties']['guidance_fund']} {name}：{g['words']['sub-fund']} {more}"
        if part == "provincial":
            head = f"{g['parties']['guidance_fund']} {name}"
            if more and more not in g["figures"]:
                return ""
            return head + (f"：{g['figures'][more]}" if more else "")
    if kind in g["kinds"]:
        name, _, figure = rest.partition(":")
        if figure and figure not in g["figures"]:
            return ""
        return f"{g['kinds'][kind]} {name}" + (f"：{g['figures'][figure]}" if figure else "")
    return ""


def label(measure: str, statistic: str, param: float = math.nan, product: str = "",
          basis: str = "", lang: str = "en") -> str:
    """What a person reads for a summary row: the measure (its programme and basis) and the
    statistic with its parameter, e.g. ``bank [guaranteed] (ultimate): VaR 99%`` or
    ``合作银行（融资担保，最终）：99% VaR``. Raises KeyError in Chinese for a term the
    glossary lacks (:func:`missing_terms` lists them)."""
    if lang == "zh":
        g = glossary()
        m = _zh_measure(measure)
        s = _zh_statistic(statistic, param)
        if not m or not s:
            raise KeyError(f"no Chinese for {measure!r} / {statistic!r} in {GLOSSARY.name}")
        extra = [g["products"][product]] if product else []
        extra += [g["bases"][basis]] if basis else []
        return m + (f"（{'，'.join(extra)}）" if extra else "") + f"：{s}"
    head = measure + (f" [{product}]" if product else "") + (f" ({basis})" if basis else "")
    return f"{head}: {_param_text(statistic, param)}"


def missing_terms(rows) -> list[tuple[str, str]]:
    """(measure, statistic) pairs of ``rows`` (summary rows) with no Chinese label."""
    out = []
    for r in rows:
        try:
            label(r["measure"], r["statistic"], r["param"], r["product"] or "",
                  r["basis"] or "", "zh")
        except KeyError:
            out.append((r["measure"], r["statistic"]))
    return sorted(set(out))
