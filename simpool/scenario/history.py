"""Default histories for ``simpool calibrate``: a CSV of annual defaults per segment to a
validated :class:`History`.

Columns (headers in English or Chinese, after NFKC normalisation; a bracketed unit such as
``违约率(%)`` is read): ``year`` (年份, 年度), ``segment`` (分组, 板块, 行业, 产品, 客群;
optional: one segment ``all``), and either ``defaults`` (违约笔数, 违约户数, 不良笔数) with
``loans`` (贷款笔数, 笔数, 户数, 借款人数), or ``default_rate`` (违约率, 不良率, in
[0, 1], or with a ``%`` unit or cells such as ``"2.1%"``) with ``loans``. Text in UTF-8
(with or without BOM) or GBK/GB18030. Every problem is reported at once with its file and
line: a year twice in a segment, defaults above loans, a rate outside [0, 1], a missing or
non-integer count, fewer than 3 years in a segment (what can and cannot be estimated is
said).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ProblemList, ScenarioError

#: Accepted headers per column (matched after NFKC, case-folding, spaces to underscores)
HISTORY_ALIASES: dict[str, tuple[str, ...]] = {
    "year": ("年份", "年度", "年", "yr"),
    "segment": ("分组", "板块", "行业", "产品", "客群", "segment_name", "group", "sector",
                "cohort"),
    "defaults": ("违约笔数", "违约户数", "违约数", "不良笔数", "default_count", "n_defaults"),
    "loans": ("贷款笔数", "笔数", "户数", "借款人数", "贷款户数", "count", "n_loans", "obligors"),
    "default_rate": ("违约率", "不良率", "rate", "dr"),
}
_UNIT_RE = re.compile(r"(?P<base>.*?)\s*[(\[（【]\s*(?P<unit>[^()\[\]（）【】]*?)\s*[)\]）】]")
_RATE_UNITS = {"%": 0.01, "百分比": 0.01, "‰": 0.001, "": 1.0}
#: years a segment needs: 3 for pd and rho; MIN_YEARS_PHI for the persistence
MIN_YEARS = 3


def _norm(h: str) -> str:
    s = unicodedata.normalize("NFKC", h).replace("\ufeff", "").strip().casefold()
    return re.sub(r"[\s\-]+", "_", s)


_HEADER_TO_FIELD = {_norm(a): f for f, al in HISTORY_ALIASES.items() for a in (f, *al)}


@dataclass
class Segment:
    """One segment's history: calendar years, defaults and loans per year (sorted by year)."""

    name: str
    years: np.ndarray  # int
    defaults: np.ndarray  # int
    loans: np.ndarray  # int
    lines: list[int] = field(default_factory=list)  # the file's line of each year

    @property
    def rates(self) -> np.ndarray:
        return self.defaults / self.loans


@dataclass
class History:
    """A validated default history: segments in file order."""

    source: str
    segments: list[Segment]

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.segments]


def _decode(raw: bytes, shown: str, probs: ProblemList) -> str | None:
    for codec in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            continue
    probs.error(shown, None, "", "cannot decode the file as UTF-8 or GBK; save it as CSV UTF-8")
    return None


def _number(cell: str, scale: float) -> float | None:
    text = unicodedata.normalize("NFKC", cell).strip().replace(",", "")
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    elif text.endswith("‰"):
        text, scale = text[:-1].strip(), 0.001
    try:
        v = float(text)
    except ValueError:
        return None
    return v * scale if np.isfinite(v) else None


def read_history(path: str | Path) -> History:
    """Read and validate a default-history CSV; :class:`ScenarioError` lists every problem."""
    p = Path(path)
    shown = str(path)
    probs = ProblemList()
    try:
        raw = p.read_bytes()
    except OSError as e:
        probs.error(shown, None, "", f"cannot read the file: {e.strerror or e}")
        probs.raise_if_errors()
    if raw.startswith(b"PK\x03\x04") or raw.startswith(b"\xd0\xcf\x11\xe0"):
        probs.error(shown, None, "", "this is an Excel workbook, not a CSV file; save the sheet "
                    "as CSV (Excel: Save As > CSV UTF-8)")
        probs.raise_if_errors()
    text = _decode(raw, shown, probs)
    probs.raise_if_errors()
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        probs.error(shown, None, "", "the file is empty; columns: year, segment, defaults and "
                    "loans (or default_rate and loans)")
        probs.raise_if_errors()
    cols: dict[str, tuple[int, float]] = {}
    for i, h in enumerate(rows[0]):
        m = _UNIT_RE.fullmatch(unicodedata.normalize("NFKC", h).strip())
        base, unit = (m.group("base"), m.group("unit")) if m else (h, "")
        fld = _HEADER_TO_FIELD.get(_norm(base))
        if fld is None:
            continue
        if fld in cols:
            probs.error(shown, 1, fld, f"two columns give {fld} (columns {cols[fld][0] + 1} and "
                        f"{i + 1})")
            continue
        scale = _RATE_UNITS.get(unit.strip(), None) if fld == "default_rate" else 1.0
        if scale is None:
            probs.error(shown, 1, fld, f"unknown unit {unit!r} of the default rate; allowed: %, ‰ "
                        f"or none (a fraction)")
            scale = 1.0
        cols[fld] = (i, scale)
    allowed = "year, segment (optional), defaults and loans, or default_rate and loans " \
              "(Chinese headers such as 年份, 分组, 违约笔数, 贷款笔数, 违约率 are accepted)"
    if "year" not in cols or "loans" not in cols or not ({"defaults", "default_rate"} & set(cols)):
        missing = [c for c in ("year", "loans") if c not in cols]
        if not ({"defaults", "default_rate"} & set(cols)):
            missing.append("defaults or default_rate")
        probs.error(shown, 1, "", f"missing column{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}; the header has: {', '.join(rows[0])}; needs {allowed}")
        probs.raise_if_errors()
    by_segment: dict[str, dict] = {}
    for k, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue

        def cell(fld):
            i = cols[fld][0]
            return row[i] if i < len(row) else ""

        seg = cell("segment").strip() if "segment" in cols else "all"
        if not seg:
            probs.error(shown, k, "segment", "empty segment name")
            continue
        year = _number(cell("year"), 1.0)
        if year is None or year != int(year) or not 1900 <= year <= 2200:
            probs.error(shown, k, "year", f"must be a calendar year, got {cell('year')!r}")
            continue
        loans = _number(cell("loans"), 1.0)
        if loans is None or loans != int(loans) or loans < 1:
            probs.error(shown, k, "loans", f"must be a whole number of loans >= 1, got "
                        f"{cell('loans')!r}")
            continue
        if "defaults" in cols:
            d = _number(cell("defaults"), 1.0)
            if d is None or d != int(d) or d < 0:
                probs.error(shown, k, "defaults", f"must be a whole number >= 0, got "
                            f"{cell('defaults')!r}")
                continue
            if d > loans:
                probs.error(shown, k, "defaults", f"{int(d)} defaults exceed the {int(loans)} "
                            f"loans of that year")
                continue
        else:
            r = _number(cell("default_rate"), cols["default_rate"][1])
            if r is None or not 0.0 <= r <= 1.0:
                probs.error(shown, k, "default_rate", f"must be a fraction in [0, 1] (or "
                            f"written with %), got {cell('default_rate')!r}")
                continue
            d = round(r * loans)
        s = by_segment.setdefault(seg, {"years": [], "d": [], "n": [], "lines": {}})
        y = int(year)
        if y in s["lines"]:
            probs.error(shown, k, "year", f"year {y} appears twice in segment {seg!r} (lines "
                        f"{s['lines'][y]} and {k})")
            continue
        s["lines"][y] = k
        s["years"].append(y)
        s["d"].append(int(d))
        s["n"].append(int(loans))
    segments = []
    for name, s in by_segment.items():
        order = np.argsort(s["years"])
        years = np.asarray(s["years"])[order]
        if len(years) < MIN_YEARS:
            probs.error(shown, s["lines"][int(years[0])], "segment",
                        f"segment {name!r} has {len(years)} year{'s' if len(years) != 1 else ''}: "
                        f"pd needs at least 1 and the asset correlation at least {MIN_YEARS} "
                        f"(the spread of default rates across years); the persistence needs "
                        f"10 or more")
            continue
        gaps = np.diff(years)
        if np.any(gaps != 1):
            probs.warn(shown, None, "year", f"segment {name!r}: the years are not consecutive "
                       f"({years[0]}..{years[-1]}, {len(years)} years): pd and rho are "
                       f"estimated, the persistence is not")
        segments.append(Segment(name, years, np.asarray(s["d"])[order],
                                np.asarray(s["n"])[order],
                                [s["lines"][int(y)] for y in years]))
    if not by_segment and not probs.errors:
        probs.error(shown, None, "", "no data rows below the header")
    probs.raise_if_errors()
    h = History(shown, segments)
    h.warnings = probs.warnings  # type: ignore[attr-defined]
    return h


__all__ = ["History", "Segment", "read_history", "HISTORY_ALIASES", "ScenarioError"]
