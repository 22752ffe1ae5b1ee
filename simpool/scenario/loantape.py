"""Read a loan tape: one row per loan, from CSV or Parquet, validated all at once.

A scenario names its tape with ``[portfolio] loans_file = "loans.csv"`` (resolved
relative to the scenario file by the caller) and, optionally, ``encoding = "gbk"``.
:func:`read_loan_tape` reads it into a :class:`LoanTape` of NumPy arrays, or raises
:class:`~simpool.errors.ScenarioError` listing every problem found, each with its file,
line and column.

Columns
-------
=========== ======== =================================================================
field       required what it holds
=========== ======== =================================================================
exposure    yes      exposure at default in yuan; finite, >= 0
pd          yes      annual default probability, in [0, 1]
lgd         yes      loss given default (mean, a fraction), in [0, 1]
rho         yes      asset correlation with the loan's sector factor, in [0, 1)
sector      yes [1]_ systematic factor name (string)
name        no       loan id; default ``row<N>`` (N = 1-based position in the tape)
lgd_std     no       std of a Beta-distributed LGD, >= 0 (default 0: fixed LGD); when
                     > 0 it must be below ``sqrt(lgd * (1 - lgd))``
product     no       ``credit`` (default), ``guaranteed`` or ``insured``; see
                     ``PRODUCT_ALIASES`` for the Chinese names accepted
=========== ======== =================================================================

.. [1] ``sector`` may be left out when the caller passes ``default_sector``.

A tape has one row per loan: a ``count``/``loans`` column (or 笔数, 贷款笔数, 户数) is
an error -- describe groups of identical loans with ``[[cohorts]]`` in the scenario.
Blank cells in the optional columns take the default; blank cells in required columns
are errors. Cells that pandas reads as missing (``NA``, ``N/A``, ``#N/A``, ``null``,
``NaN``, ...) count as blank. Rows where every recognised column is blank (the blank or
``,,,,`` rows that spreadsheets leave behind) are skipped.

Checks of the tape as a whole
-----------------------------
* **Total rows.** A row that an Excel sheet adds under the loans is an error ("line N
  looks like a total row (合计): delete it from the tape"), and its blank or summed cells
  are not reported again. A row is a total row when one of its text cells (in any column
  of a CSV file, known or not; in the recognised columns of a Parquet file) contains 合计,
  总计 or 小计, or is ``total``, ``subtotal``, ``sum`` or ``grand total`` (any case, an
  optional colon); or when the tape has at least 3 rows and the row's exposure is positive
  and equal to the sum of all the other rows' exposures while the row is also blank where
  a total row is (its ``name`` and ``sector`` cells, those the tape has, and at least one
  required cell), so that it could not be a valid loan anyway. Any other row whose
  exposure is that sum is kept, with a warning. A row blank in every recognised column is
  skipped before this check (a label such as 小计 alone under an unknown column, with no
  amount, cannot be read as a loan).
* **Duplicate loan ids.** When the ``name`` column is an id column (``name``, ``loan_id``,
  ``id``, 借据号, 借据编号, 贷款编号, 编号), an id on several rows is an error listing its
  lines: each row is one loan and would be counted once per row. Pass
  ``allow_duplicate_ids=True`` (``portfolio.allow_duplicate_ids = true``) to accept them.
  Borrower-name columns (借款人, 企业名称) may repeat (one borrower, several loans) and are
  not checked.
* **Amounts in 万元 read as yuan.** When the exposure header carries no unit, a median loan
  below 1万 (10,000 yuan) or above 10亿 yuan is a warning that names the fix, e.g. write
  the header as ``贷款余额(万元)``.
* **Products.** ``product`` values are matched case-insensitively (after NFKC) against
  ``PRODUCT_ALIASES``; any other value is an error listing the accepted ones.

Typical ranges of pd, rho and lgd are checked by :func:`simpool.scenario.load_scenario`
(the same warnings as for ``[[cohorts]]``), using :attr:`LoanTape.line`.

Header names (``COLUMN_ALIASES``)
---------------------------------
Headers are matched after Unicode NFKC normalisation (full-width letters, digits and
brackets become ASCII), stripping a byte-order mark and surrounding whitespace, and
case-folding; runs of spaces or hyphens count as ``_`` (so ``"LGD Std"`` is
``lgd_std``). Besides the field name itself these headers are accepted:

=========== ==================================================
field       also accepted
=========== ==================================================
exposure    敞口, 风险敞口, 违约风险暴露, 贷款余额, 余额, 金额
pd          违约概率, 违约率, PD
lgd         违约损失率, LGD
rho         资产相关性, 相关性, 相关系数
sector      行业, 所属行业, 板块
name        loan_id, id, 借据号, 借据编号, 贷款编号, 编号 (id columns), 借款人,
            企业名称 (borrower columns)
lgd_std     违约损失率标准差
product     产品, 产品类型
=========== ==================================================

Two columns that map to the same field are an error, except for ``name``: a tape that
has, say, both 贷款编号 and 借款人 uses the one listed first above (an id column before a
borrower column) and warns. Unknown columns are ignored with one warning that lists them.

Product values (``PRODUCT_ALIASES``)
------------------------------------
=========== ==================================================
product     also accepted
=========== ==================================================
credit      信用, 信用贷款, 信用贷
guaranteed  guarantee, 担保, 担保贷款, 融资担保
insured     insurance, 保险, 保证保险, 贷款保证保险, 信用保证保险
=========== ==================================================

Units
-----
* Money cells may be plain numbers (``1500000``, ``1,500,000``) or carry a Chinese unit:
  ``150万``, ``1.5亿``, ``0.15千万``, ``1.5百万``, optionally followed by ``元`` and
  preceded by ``¥``.
* Probability cells (pd, lgd, rho, lgd_std) may be percentages: ``2%`` is 0.02 (``‰``
  is per mille).
* A header may carry a unit in brackets, ASCII or full-width: ``贷款余额(万元)``,
  ``exposure (亿元)``, ``违约概率（%）``. Plain numbers in that column are then in that
  unit; a cell that writes its own unit (``500万``, ``2%``) keeps it. Money units:
  元, 千元, 万元, 百万元, 千万元, 亿元 (also without 元, and yuan/CNY/RMB); probability
  units: %, ‰. Any other bracketed note is ignored on probability and text columns and
  an error on ``exposure`` (a misread unit there would silently scale every loan).

Files and encodings
-------------------
``.csv`` and ``.txt`` (comma-separated; a header with tabs or semicolons but no commas
switches to that separator), ``.tsv`` (tab-separated), ``.parquet`` / ``.pq``. Text is
read as UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), or else
GB18030 -- a superset of GBK/GB2312, what Chinese Excel writes as "CSV". An explicit
``encoding`` overrides the guess (``gbk``, ``gb2312`` and ``cp936`` are read as GB18030).
Workbooks (.xlsx/.xls) and other binary files renamed ``.csv`` are reported as such. A row
with more fields than the header is an error (typically an unquoted ``1,000,000``);
trailing empty fields are fine.

Line numbers count physical lines of the file: the header is line 1 and the first data
row is line 2; a quoted field that spans several lines is accounted for. Parquet
problems have no line; their message ends with the 1-based ``(row N)`` instead.
"""

from __future__ import annotations

import codecs
import decimal
import csv
import io
import math
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Problem, ProblemList, ScenarioError, did_you_mean
from .units import MAX_YUAN

__all__ = ["COLUMN_ALIASES", "ID_HEADERS", "PRODUCT_ALIASES", "LoanTape", "read_loan_tape"]

#: Accepted header names besides the field name itself, per field (matched after
#: NFKC normalisation, stripping and case-folding; see the module docstring).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "exposure": ("敞口", "风险敞口", "违约风险暴露", "贷款余额", "余额", "金额"),
    "pd": ("违约概率", "违约率", "PD"),
    "lgd": ("违约损失率", "LGD"),
    "rho": ("资产相关性", "相关性", "相关系数"),
    "sector": ("行业", "所属行业", "板块"),
    "name": ("loan_id", "id", "借据号", "借据编号", "贷款编号", "编号", "借款人", "企业名称"),
    "lgd_std": ("违约损失率标准差",),
    "product": ("产品", "产品类型"),
}

#: Headers of the ``name`` field that hold loan ids (checked for duplicates); the other
#: ``name`` headers hold borrower names, which may repeat.
ID_HEADERS: tuple[str, ...] = ("name", "loan_id", "id", "借据号", "借据编号", "贷款编号", "编号")

#: Accepted ``product`` values besides the product name itself (matched after NFKC
#: normalisation, stripping and case-folding).
PRODUCT_ALIASES: dict[str, tuple[str, ...]] = {
    "credit": ("信用", "信用贷款", "信用贷"),
    "guaranteed": ("guarantee", "担保", "担保贷款", "融资担保"),
    "insured": ("insurance", "保险", "保证保险", "贷款保证保险", "信用保证保险"),
}

_FIELDS = ("exposure", "pd", "lgd", "rho", "lgd_std", "sector", "name", "product")
_REQUIRED = ("exposure", "pd", "lgd", "rho", "sector")
_NUMERIC = ("exposure", "pd", "lgd", "rho", "lgd_std")
_TEXT = ("sector", "name", "product")
_PROB_LIKE = ("pd", "lgd", "rho", "lgd_std")
_COUNT_COLUMNS = ("count", "loans", "n_loans", "num_loans", "笔数", "贷款笔数", "户数")
_CSV_EXTS = (".csv", ".txt", ".tsv")
_PARQUET_EXTS = (".parquet", ".pq")

_MONEY_UNITS = {
    "元": 1.0, "yuan": 1.0, "cny": 1.0, "rmb": 1.0,
    "千元": 1e3, "万": 1e4, "万元": 1e4, "百万": 1e6, "百万元": 1e6,
    "千万": 1e7, "千万元": 1e7, "亿": 1e8, "亿元": 1e8,
}
_PROB_UNITS = {"%": 0.01, "百分比": 0.01, "‰": 0.001}
_CELL_MONEY_MULT = {"万": 1e4, "亿": 1e8, "千万": 1e7, "百万": 1e6}

# Cell patterns (RE2 syntax, applied with pyarrow after NFKC normalisation and trimming).
_NUM = r"[+-]?(?:(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity))"
_MONEY_PATTERN = rf"^¥?\s*(?P<num>{_NUM})\s*(?P<mult>千万|百万|万|亿)?\s*(?P<yuan>元)?$"
_PROB_PATTERN = rf"^(?P<num>{_NUM})\s*(?P<pct>%|‰)?$"
_UNIT_HEADER_RE = re.compile(r"(?P<base>.*?)\s*[(\[]\s*(?P<unit>[^()\[\]]*?)\s*[)\]]")  # "x (unit)"
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f\x7f]")


def _norm_header(h: object) -> str:
    s = unicodedata.normalize("NFKC", str(h)).replace("\ufeff", "").strip().casefold()
    return re.sub(r"[\s\-]+", "_", s)


def _header_key(h: object) -> str:
    """The normalised header less any bracketed unit: ``'贷款编号（单位：户）'`` -> ``'贷款编号'``."""
    text = unicodedata.normalize("NFKC", str(h)).replace("\ufeff", "").strip()
    m = _UNIT_HEADER_RE.fullmatch(text)
    return _norm_header(m.group("base")) if m else _norm_header(h)


_HEADER_TO_FIELD: dict[str, str] = {}
for _f, _aliases in COLUMN_ALIASES.items():
    for _a in (_f, *_aliases):
        _HEADER_TO_FIELD[_norm_header(_a)] = _f
_NAME_PRIORITY = {_norm_header(a): i for i, a in enumerate(("name", *COLUMN_ALIASES["name"]))}
_ID_KEYS = frozenset(_norm_header(a) for a in ID_HEADERS)
_PRODUCT_OF: dict[str, str] = {_norm_header(a): p for p, aliases in PRODUCT_ALIASES.items()
                               for a in (p, *aliases)}
_PRODUCTS_LISTED = "; ".join(f"{p} ({', '.join(a)})" for p, a in PRODUCT_ALIASES.items())

# A text cell of a total row: contains 合计/总计/小计, or is "total", "subtotal", "sum",
# "grand total" (RE2, applied to NFKC-normalised, trimmed cells, ignoring case).
_TOTAL_PATTERN = r"合计|总计|小计|^(?:grand[\s_]*|sub[\s_-]*)?(?:total|sum)s?\s*:?$"
_TOTAL_WORD_RE = re.compile(_TOTAL_PATTERN, re.IGNORECASE)
_PLAUSIBLE_MEDIAN = (1e4, 1e9)  # yuan: a median loan outside -> warn about the unit


@dataclass(frozen=True, eq=False)
class LoanTape:
    """A validated loan tape: parallel arrays, one element per loan (read-only).

    Attributes
    ----------
    file : str
        The file as shown in messages.
    name : numpy.ndarray
        Loan ids (object array of ``str``).
    exposure, pd, lgd, rho, lgd_std : numpy.ndarray
        ``float64``; exposure in yuan, the rest fractions.
    sector, product : numpy.ndarray
        NumPy ``str`` arrays; ``product`` is ``"credit"``, ``"guaranteed"`` or ``"insured"``.
    warnings : tuple of Problem
        Warnings found while reading (e.g. unknown columns ignored).
    line : numpy.ndarray or None
        ``int64``: the 1-based physical line of each loan's row in a CSV file; -1 where it
        is not known (Parquet).
    row : numpy.ndarray or None
        ``int64``: the 1-based position of each loan's row among the file's data rows
        (blank rows included), as ``(row N)`` in Parquet messages.
    """

    file: str
    name: np.ndarray
    exposure: np.ndarray
    pd: np.ndarray
    lgd: np.ndarray
    rho: np.ndarray
    lgd_std: np.ndarray
    sector: np.ndarray
    product: np.ndarray
    warnings: tuple[Problem, ...] = field(default=())
    line: np.ndarray | None = None
    row: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.exposure.shape[0])

    def first_line(self, loans: Sequence[int] | np.ndarray) -> int | None:
        """The line of the first of ``loans`` (positions in the tape), or None if unknown."""
        if self.line is None or len(loans) == 0:
            return None
        line = int(self.line[int(loans[0])])
        return line if line > 0 else None

    def locate(self, loans: Sequence[int] | np.ndarray, limit: int = 5) -> str:
        """Where ``loans`` (positions in the tape) are, for messages: ``"lines 3, 7, 9, ..."``
        (CSV) or ``"rows 2, 5"`` (Parquet); at most ``limit`` of them, then ``...``."""
        loans = np.asarray(loans, dtype=np.int64)
        shown = loans[: max(1, limit)]
        lines = None if self.line is None else self.line[shown]
        if lines is not None and (lines > 0).all():
            word, nums = "line", lines
        else:
            rows = shown + 1 if self.row is None else self.row[shown]
            word, nums = "row", rows
        text = ", ".join(str(int(x)) for x in nums)
        more = ", ..." if len(loans) > len(shown) else ""
        return f"{word}{'s' if len(loans) > 1 else ''} {text}{more}"

    def __repr__(self) -> str:
        return f"LoanTape(file={self.file!r}, loans={len(self)})"


# ----------------------------------------------------------------------------- helpers


def _fmt(v: object) -> str:
    try:
        v = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if math.isfinite(v) and v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def _short(s: object, limit: int = 60) -> str:
    text = str(s)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_cells(cells: pa.Array | pa.ChunkedArray, money: bool
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse text cells as money (``'1.2亿'``, ``'1,000,000元'``) or fractions (``'2%'``).

    Vectorised with pyarrow. Returns ``(values, explicit, blank)``: values are NaN where a
    cell does not parse; ``explicit`` marks cells that carry their own unit (万, 元, %...);
    ``blank`` marks cells that are empty or whitespace.
    """
    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(cells.cast(pa.string()), form="NFKC"))
    blank = pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)
    m = pc.extract_regex(text, _MONEY_PATTERN if money else _PROB_PATTERN)
    ok = pc.fill_null(m.is_valid(), False)
    num = pc.if_else(ok, pc.replace_substring(m.field("num"), ",", ""), "0")
    values = pc.cast(num, pa.float64()).to_numpy(zero_copy_only=False).copy()
    if money:
        mult = m.field("mult").to_numpy(zero_copy_only=False)
        unit = m.field("yuan").to_numpy(zero_copy_only=False)
        factor = np.ones(len(values))
        for word, f in _CELL_MONEY_MULT.items():
            factor[mult == word] = f
        explicit = (mult != "") | (unit != "")
    else:
        pct = m.field("pct").to_numpy(zero_copy_only=False)
        factor = np.ones(len(values))
        for sign, f in _PROB_UNITS.items():
            factor[pct == sign] = f
        explicit = pct != ""
    ok = ok.to_numpy(zero_copy_only=False)
    values = np.where(ok, _scaled(values, factor), np.nan)
    return values, np.asarray(explicit & ok, dtype=bool), np.asarray(blank, dtype=bool)


def _parse_money_cell(cell: str) -> tuple[float, bool] | None:
    """``'1.2亿'`` -> ``(1.2e8, True)``; the flag says the cell carried its own unit."""
    values, explicit, _ = _parse_cells(pa.array([cell]), money=True)
    return None if np.isnan(values[0]) else (float(values[0]), bool(explicit[0]))


@dataclass
class _Numeric:
    values: np.ndarray  # float64, NaN where missing or unparsed
    missing: np.ndarray  # bool
    unparsed: np.ndarray  # bool
    cell: Callable[[int], object]  # raw cell text/value at a row
    unit: np.ndarray | None  # bool: a unit (from the cell or the header) was applied

    def take(self, rows: np.ndarray) -> "_Numeric":
        cell = self.cell
        return _Numeric(self.values[rows], self.missing[rows], self.unparsed[rows],
                        lambda i: cell(int(rows[i])),
                        None if self.unit is None else self.unit[rows])


def _scaled(v: np.ndarray, factor: float | np.ndarray) -> np.ndarray:
    """``v * factor``, dividing for factors below 1 so that 7% is exactly 0.07, not 0.07000..01."""
    factor = np.asarray(factor, dtype=np.float64)
    small = factor < 1
    divisor = np.round(1 / np.where(small, factor, 1.0))
    return np.where(small, v / divisor, v * factor)


def _coerce_numeric(s: pd.Series, money: bool, scale: float) -> _Numeric:
    """Convert one column to float64, vectorised; unit-bearing text such as ``'500万'`` or
    ``'2%'`` is parsed with pyarrow regexes, and only cells that are text at all are."""
    n = len(s)
    cell = s.iat.__getitem__
    if s.dtype.kind in "iuf":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(v)
        if scale != 1.0:
            v = _scaled(v, scale)
        return _Numeric(v, missing, np.zeros(n, bool), cell,
                        None if scale == 1.0 else np.ones(n, bool))
    if s.dtype.kind not in "OSU" and not isinstance(s.dtype, pd.StringDtype):
        # booleans, dates, ... (Parquet): never a number
        missing = s.isna().to_numpy(dtype=bool)
        return _Numeric(np.full(n, np.nan), missing, ~missing, cell, None)
    missing = np.array(s.isna().to_numpy(dtype=bool), copy=True)
    explicit = np.zeros(n, bool)
    if isinstance(s.dtype, pd.StringDtype):
        cells = pa.array(s.array)
        try:  # all plain numbers: one fast cast
            v = pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            v, explicit, blank = _parse_cells(cells, money)
            missing |= blank
    else:  # object: a mix of numbers and text (pandas reads a CSV in chunks)
        obj = s.to_numpy(dtype=object)
        is_text = np.fromiter((isinstance(x, str) for x in obj), dtype=bool, count=n)
        v = np.full(n, np.nan)
        for i in np.flatnonzero(~is_text & ~missing):  # numbers (rare: mixed chunks)
            x = obj[i]
            if isinstance(x, (int, float, decimal.Decimal, np.number)) and not isinstance(
                    x, (bool, np.bool_)):
                v[i] = float(x)
        text = np.flatnonzero(is_text)
        if text.size:
            values, expl, blank = _parse_cells(pa.array(obj[text].tolist(), type=pa.string()),
                                               money)
            v[text] = values
            explicit[text] = expl
            missing[text[blank]] = True
    unparsed = np.isnan(v) & ~missing
    if scale != 1.0:
        v = np.where(explicit, v, _scaled(v, scale))
    return _Numeric(v, missing, unparsed, cell, explicit if scale == 1.0 else np.ones(n, bool))


@dataclass
class _Text:
    """A text column, factorised: cell i is ``uniq[codes[i]]``; blank cells have code -1."""

    codes: np.ndarray  # int64
    uniq: np.ndarray  # object array of stripped str

    @property
    def missing(self) -> np.ndarray:
        return self.codes < 0

    def take(self, rows: np.ndarray) -> "_Text":
        return _Text(self.codes[rows], self.uniq)

    def value(self, i: int) -> str:
        return str(self.uniq[self.codes[i]])

    def values(self, fill: str) -> np.ndarray:
        """Object array of str, ``fill`` for blank cells."""
        return np.append(self.uniq, np.array([fill], dtype=object))[self.codes]

    def str_array(self, fill: str) -> np.ndarray:
        """NumPy str array, ``fill`` for blank cells."""
        return np.array([*self.uniq, fill], dtype=str)[self.codes]


def _text_values(s: pd.Series) -> _Text:
    """Factorise a text column, stripping whitespace; blank and NA cells are missing."""
    if s.dtype.kind == "f":  # e.g. numeric codes in Parquet
        codes, uniques = pd.factorize(s.to_numpy(dtype=np.float64, na_value=np.nan))
        uniq = np.array([_fmt(u) for u in uniques], dtype=object)
    elif isinstance(s.dtype, pd.StringDtype):  # vectorised strip, then factorise
        codes, uniques = pd.factorize(s.str.strip())
        uniq = np.asarray(uniques, dtype=object)
    else:
        codes, uniques = pd.factorize(s)
        uniq = np.array([str(u).strip() for u in uniques], dtype=object)
    codes = np.array(codes, dtype=np.int64, copy=True)
    empty = np.flatnonzero(uniq == "") if len(uniq) else np.zeros(0, np.int64)
    if empty.size:
        codes[np.isin(codes, empty)] = -1
    return _Text(codes, uniq)


# ----------------------------------------------------------------------------- sources


class _Locator:
    """Maps 0-based data-row positions to (line, message suffix)."""

    def __init__(self, lines: np.ndarray | None):
        self._lines = lines  # first line of each record (record 0 = header); None: no lines

    def locate(self, row: int) -> tuple[int | None, str]:
        if self._lines is None:
            return None, f" (row {row + 1})"
        k = row + 1
        return (int(self._lines[k]) if k < len(self._lines) else None), ""

    def lines_of(self, rows: np.ndarray | int) -> np.ndarray:
        """Line of each 0-based data row (vectorised; an int n: rows 0 to n-1); -1 where
        unknown."""
        if isinstance(rows, (int, np.integer)):
            if self._lines is not None and len(self._lines) > rows:
                return np.array(self._lines[1 : rows + 1], dtype=np.int64)
            rows = np.arange(rows, dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64)
        if self._lines is None:
            return np.full(len(rows), -1, dtype=np.int64)
        k = rows + 1
        ok = k < len(self._lines)
        return np.where(ok, self._lines[np.where(ok, k, 0)], -1).astype(np.int64)

    def where(self, row: int) -> str:
        """``"line N"`` or ``"row N"`` for messages that name the row themselves."""
        line, _ = self.locate(row)
        return f"line {line}" if line is not None else f"row {row + 1}"


def _scan_records(data: bytes, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """First line and number of fields of each CSV record (record 0 is the header).

    Vectorised: a newline or separator is part of a quoted field exactly when an odd number
    of quote characters precede it (doubled quotes inside a field cancel out).
    """
    a = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(a == 10)
    seps = np.flatnonzero(a == ord(sep))
    term = nl
    if b'"' in data:
        quotes = np.flatnonzero(a == 34)
        term = nl[np.searchsorted(quotes, nl) % 2 == 0]
        seps = seps[np.searchsorted(quotes, seps) % 2 == 0]
    nrec = len(term) + (0 if len(term) and term[-1] == len(data) - 1 else 1)
    lines = np.empty(nrec, dtype=np.int64)
    lines[0] = 1
    if term is nl:
        lines[1:] = np.arange(2, nrec + 1)
    else:
        lines[1:] = 1 + np.searchsorted(nl, term[: nrec - 1], side="right")
    bounds = np.empty(nrec + 1, dtype=np.int64)  # separators before each record's start
    bounds[0] = 0
    bounds[1:nrec] = np.searchsorted(seps, term[: nrec - 1])
    bounds[nrec] = len(seps)
    return lines, np.diff(bounds) + 1


def _scan_records_slow(data: bytes, sep: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Like :func:`_scan_records`, with the csv module (for unusual quoting)."""
    reader = csv.reader(_iter_lines(data.decode("utf-8")), delimiter=sep)
    lines: list[int] = []
    counts: list[int] = []
    start = 1
    try:
        for rec in reader:
            lines.append(start)
            counts.append(max(len(rec), 1))
            start = reader.line_num + 1
    except csv.Error:
        return None
    return np.asarray(lines, dtype=np.int64), np.asarray(counts, dtype=np.int64)


def _iter_lines(text: str):
    pos, n = 0, len(text)
    while pos < n:
        j = text.find("\n", pos)
        if j < 0:
            yield text[pos:]
            return
        yield text[pos : j + 1]
        pos = j + 1


@dataclass
class _Table:
    headers: list[str]
    # load(positions, text_positions): columns by position, or None if unreadable; sets nrows
    load: Callable[[list[int], set[int]], dict[int, pd.Series] | None]
    nrows: int
    locator: _Locator
    header_line: int | None
    all_columns_cheap: bool = False  # loading every column costs nothing more (CSV)


def _decode(raw: bytes, encoding: str | None, shown: str, probs: ProblemList
            ) -> tuple[str, bool] | None:
    """Decode the file (BOM dropped) -> (text, whether the bytes were UTF-8), or report why not."""
    utf8 = False
    if raw.startswith(b"PK\x03\x04"):
        probs.error(shown, None, "", "this is a zip archive (an Excel .xlsx workbook?), not a "
                    "CSV file; save the sheet as CSV (Excel: Save As > CSV UTF-8) or Parquet")
        return None
    if raw.startswith(b"\xd0\xcf\x11\xe0"):
        probs.error(shown, None, "", "this is an Excel .xls workbook, not a CSV file; save "
                    "the sheet as CSV (Excel: Save As > CSV UTF-8) or Parquet")
        return None
    if raw.startswith(b"PAR1"):
        probs.error(shown, None, "", "this is a Parquet file; give it a .parquet extension")
        return None
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
            codecs.getincrementaldecoder(codec)  # bytes-to-text codecs only
            "".encode(codec)
        except (LookupError, TypeError, ValueError):
            probs.error(shown, None, "", f"unknown encoding {encoding!r} in portfolio.encoding; "
                        "use e.g. \"utf-8\", \"gbk\" or \"gb18030\"")
            return None
        codec = {"gbk": "gb18030", "gb2312": "gb18030", "utf-8": "utf-8-sig"}.get(codec, codec)
        try:
            text = raw.decode(codec)
            utf8 = codec == "utf-8-sig"
        except UnicodeDecodeError as e:
            line = raw.count(b"\n", 0, e.start) + 1
            probs.error(shown, line, "", f"cannot decode the file as {encoding!r} (byte "
                        f"0x{raw[e.start]:02x} is not valid there); check portfolio.encoding")
            return None
        except (UnicodeError, ValueError, TypeError, LookupError) as e:
            # codecs such as punycode or idna raise a plain UnicodeError, without a position
            probs.error(shown, None, "", f"cannot decode the file as {encoding!r} ({_short(e, 120)}); "
                        "check portfolio.encoding")
            return None
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            text = None
    elif b"\x00" in raw:
        text = None
    else:
        try:
            text = raw.decode("utf-8-sig")
            utf8 = True
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                text = None
            if text is not None and _CONTROL_RE.search(text[:65536]):
                text = None
    if text is None:
        if b"\x00" in raw[:65536] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            probs.error(shown, None, "", "this does not look like a text (CSV) file: it "
                        "contains NUL bytes; save the loan tape as CSV or Parquet")
        else:
            probs.error(shown, None, "", "cannot decode the file as UTF-8 or GBK; set "
                        "portfolio.encoding (e.g. \"gbk\")")
        return None
    text = text.lstrip("\ufeff")
    sample = text[:65536]
    if sample and len(_CONTROL_RE.findall(sample)) > max(1, len(sample) // 1000):
        probs.error(shown, None, "", "this does not look like a text (CSV) file: it contains "
                    "control characters; save the loan tape as CSV or Parquet")
        return None
    return text, utf8


def _read_csv(raw: bytes, ext: str, encoding: str | None, shown: str, probs: ProblemList,
              max_reported: int) -> _Table | None:
    decoded = _decode(raw, encoding, shown, probs)
    if decoded is None:
        return None
    text, reuse = decoded
    if "\n" not in text and "\r" in text:  # classic-Mac line ends
        text, reuse = text.replace("\r", "\n"), False
    if not text or text.isspace():
        return _Table([], lambda positions, text_positions: {}, 0, _Locator(None), None)
    first_line = text[: text.find("\n")] if "\n" in text else text
    if ext == ".tsv":
        sep = "\t"
    elif "," not in first_line and "\t" in first_line:
        sep = "\t"
    elif "," not in first_line and "\t" not in first_line and ";" in first_line:
        sep = ";"
    else:
        sep = ","
    reader = csv.reader(_iter_lines(text), delimiter=sep)
    try:
        headers = next(reader)
    except (csv.Error, StopIteration) as e:
        probs.error(shown, 1, "", f"cannot read the header line: {e}")
        return None
    if reuse:  # the file is UTF-8 already: hand pandas its bytes, less any BOM
        data = raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw
    else:
        data = text.encode("utf-8")
    del text
    nfields = len(headers)
    internal = [f"c{i}" for i in range(nfields)]

    def read(counts: np.ndarray, text_positions: set[int]) -> pd.DataFrame | str:
        # Name enough columns for the widest row, so pandas never drops or shifts fields.
        width = max(nfields, int(counts.max(initial=0)))
        names = internal + [f"x{j}" for j in range(nfields, width)]
        dtype = {names[i]: str for i in range(width) if i >= nfields or i in text_positions}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pd.read_csv(io.BytesIO(data), sep=sep, header=None, skiprows=1, names=names,
                                   index_col=False, skip_blank_lines=False, dtype=dtype,
                                   encoding="utf-8", quotechar='"')
        except pd.errors.ParserError as e:
            return str(e)

    def load(positions: list[int], text_positions: set[int]) -> dict[int, pd.Series] | None:
        lines, counts = _scan_records(data, sep)
        try:
            df = read(counts, text_positions)
            if isinstance(df, str) or len(df) != len(lines) - 1:
                slow = _scan_records_slow(data, sep)  # unusual quoting: ask the csv module
                if slow is not None:
                    lines, counts = slow
                    if isinstance(df, str) or len(df.columns) < int(counts.max()):
                        df = read(counts, text_positions)
        except Exception as e:  # noqa: BLE001 - never a traceback for a bad file
            probs.error(shown, None, "", f"cannot parse the file as CSV: {_short(e, 200)}")
            return None
        if isinstance(df, str) and "EOF inside string" in df:
            probs.error(shown, int(lines[-1]), "", 'a quoted field is never closed: this row has '
                        'a " without its closing "')
            return None
        if isinstance(df, str):
            probs.error(shown, None, "", f"cannot parse the file as CSV: {_short(df, 200)}")
            return None
        located = len(df) == len(lines) - 1
        if len(df.columns) > nfields:  # rows with values beyond the header (not just ",,")
            extra = np.zeros(len(df), bool)
            for c in df.columns[nfields:]:
                extra |= df[c].str.strip().fillna("").to_numpy(dtype=object) != ""
            rows = np.flatnonzero(extra)
            if rows.size:
                hint = ("; is there an unquoted separator in a value (e.g. 1,000,000)? quote "
                        "the value or drop the thousands separators" if sep == "," else "")
                cap = max(0, max_reported)
                for r in rows[:cap]:
                    line = int(lines[r + 1]) if located else None
                    count = f"{int(counts[r + 1])} fields" if located else "more fields"
                    where = "" if located else f" (row {r + 1})"
                    probs.error(shown, line, "", f"this row has {count} but the header has "
                                f"{nfields}{hint}{where}")
                if rows.size > cap:
                    probs.error(shown, None, "", f"... and {rows.size - cap} more rows with too "
                                "many fields")
                return None
        table.nrows = len(df)
        table.locator = _Locator(lines if located else None)
        return {i: df[internal[i]] for i in positions}

    table = _Table(list(headers), load, 0, _Locator(None), 1, all_columns_cheap=True)
    return table


def _read_parquet(path: Path, shown: str, probs: ProblemList) -> _Table | None:
    try:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
        nrows = pf.metadata.num_rows
    except Exception as e:  # noqa: BLE001
        probs.error(shown, None, "", f"not a readable Parquet file: {_short(e, 200)}")
        return None

    def load(positions: list[int], text_positions: set[int]) -> dict[int, pd.Series] | None:
        out: dict[int, pd.Series] = {}
        try:
            tbl = pf.read(columns=[names[i] for i in positions])
        except Exception as e:  # noqa: BLE001
            probs.error(shown, None, "", f"cannot read the Parquet file: {_short(e, 200)}")
            return None
        for j, i in enumerate(positions):
            col = tbl.column(j)
            t = col.type
            if pa.types.is_dictionary(t):
                col = col.cast(t.value_type)
                t = t.value_type
            if pa.types.is_decimal(t):
                col = col.cast(pa.float64())
            s = col.to_pandas()
            if isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype(object)
            out[i] = s.reset_index(drop=True)
        return out

    return _Table(names, load, nrows, _Locator(None), None)


# ----------------------------------------------------------------------------- header


@dataclass
class _Column:
    pos: int
    header: str
    scale: float = 1.0
    unit: str | None = None  # the unit written in the header's brackets, if any


def _map_header(table: _Table, shown: str, probs: ProblemList, has_default_sector: bool
                ) -> tuple[dict[str, _Column], list[int], set[str]]:
    """Map header positions to fields. Returns (fields, unnamed positions, blocked fields)."""
    line = table.header_line
    found: dict[str, list[_Column]] = {}
    unknown: list[str] = []
    unnamed: list[int] = []
    blocked: set[str] = set()
    for pos, header in enumerate(table.headers):
        key = _norm_header(header)
        if not key:
            unnamed.append(pos)
            continue
        if key.startswith("__index_level_"):  # pandas index stored in Parquet
            continue
        if key in _HEADER_TO_FIELD:
            found.setdefault(_HEADER_TO_FIELD[key], []).append(_Column(pos, header))
            continue
        m = _UNIT_HEADER_RE.fullmatch(unicodedata.normalize("NFKC", str(header)).strip())
        base = _norm_header(m.group("base")) if m else ""
        if m and base in _HEADER_TO_FIELD:
            fld = _HEADER_TO_FIELD[base]
            unit = re.sub(r"^单位\s*:?\s*", "", m.group("unit").strip().casefold())
            col = _Column(pos, header, unit=unit)
            if fld == "exposure":
                if unit in _MONEY_UNITS:
                    col.scale = _MONEY_UNITS[unit]
                else:
                    probs.error(shown, line, "", f"column {header!r}: unknown unit {unit!r} for "
                                "exposure; use 元, 千元, 万元, 百万元, 千万元 or 亿元")
                    blocked.add(fld)
            elif fld in _PROB_LIKE:
                if unit in _PROB_UNITS:
                    col.scale = _PROB_UNITS[unit]
                elif unit in _MONEY_UNITS:
                    probs.error(shown, line, "", f"column {header!r}: {fld} is a fraction, "
                                f"not an amount of money; use plain fractions or %")
                    blocked.add(fld)
            found.setdefault(fld, []).append(col)
            continue
        if key in _COUNT_COLUMNS:
            probs.error(shown, line, "", f"column {header!r} is not allowed: a loan tape has one "
                        "row per loan; describe groups of identical loans with [[cohorts]] in "
                        "the scenario instead")
            continue
        unknown.append(" ".join(str(header).split()))  # one line in messages

    fields: dict[str, _Column] = {}
    for fld in _FIELDS:
        cols = found.get(fld, [])
        if len(cols) > 1 and fld == "name":
            cols = sorted(cols, key=lambda c: _NAME_PRIORITY.get(_header_key(c.header), 99))
            others = ", ".join(repr(c.header) for c in cols[1:])
            probs.warn(shown, line, "", f"using column {cols[0].header!r} for the loan name; "
                       f"ignoring {others}")
            cols = cols[:1]
        if len(cols) > 1:
            listed = " and ".join(repr(c.header) for c in cols)
            probs.error(shown, line, "", f"columns {listed} {'both' if len(cols) == 2 else 'all'} "
                        f"give {fld}; keep only one")
            blocked.add(fld)
        elif cols and fld not in blocked:
            fields[fld] = cols[0]
    for fld in _REQUIRED:
        if fld in found or (fld == "sector" and has_default_sector):
            continue
        hint = did_you_mean(fld, unknown)
        if not hint:
            for cand in unknown:
                close = did_you_mean(_norm_header(cand), [_norm_header(a) for a in
                                                         (fld, *COLUMN_ALIASES[fld])])
                if close:
                    hint = f" (did you mean {cand!r}?)"
                    break
        aliases = ", ".join(COLUMN_ALIASES[fld])
        probs.error(shown, line, "", f"missing required column {fld!r}{hint}; also accepted: "
                    f"{aliases}")
    if unknown:
        absent = [a for f in _FIELDS if f not in found for a in (f, *COLUMN_ALIASES[f])]
        described = ", ".join(f"{h!r}{did_you_mean(h, absent)}" for h in unknown[:30])
        more = f" and {len(unknown) - 30} more" if len(unknown) > 30 else ""
        probs.warn(shown, line, "", f"ignoring unknown columns: {described}{more}")
    return fields, unnamed, blocked


# ----------------------------------------------------------------------------- values


_RANGE = {
    "exposure": "must be a finite amount in yuan >= 0",
    "pd": "must be a probability in [0, 1]",
    "lgd": "must be a fraction in [0, 1]",
    "rho": "must be in [0, 1)",
    "lgd_std": "must be a finite number >= 0",
}


def _in_range(fld: str, v: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if fld == "exposure":
            return np.isfinite(v) & (v >= 0) & (v <= MAX_YUAN)
        if fld in ("pd", "lgd"):
            return (v >= 0) & (v <= 1)
        if fld == "rho":
            return (v >= 0) & (v < 1)
        return np.isfinite(v) & (v >= 0)


class _Reporter:
    def __init__(self, shown: str, probs: ProblemList, locator: _Locator, keep: np.ndarray | None,
                 max_reported: int):
        self.shown, self.probs, self.locator = shown, probs, locator
        self.keep = keep  # tape position -> table row
        self.max = max(0, int(max_reported))

    def _row(self, i: int) -> int:
        return int(self.keep[i]) if self.keep is not None else int(i)

    def line(self, i: int) -> int | None:
        """Line of the loan at tape position ``i`` (None where unknown)."""
        return self.locator.locate(self._row(i))[0]

    def where(self, i: int) -> str:
        """``"line N"`` (or ``"row N"``) of the loan at tape position ``i``."""
        return self.locator.where(self._row(i))

    def listing(self, positions: np.ndarray, limit: int = 10) -> str:
        """``"lines 2, 5, 9"`` (or ``"rows ..."``) of the loans at ``positions``."""
        shown = [int(i) for i in positions[:limit]]
        nums: list = [self.line(i) for i in shown]
        word = "line"
        if any(n is None for n in nums):
            word, nums = "row", [self._row(i) + 1 for i in shown]
        more = ", ..." if len(positions) > limit else ""
        return f"{word}{'s' if len(positions) > 1 else ''} {', '.join(map(str, nums))}{more}"

    def report(self, fld: str, bad: np.ndarray, message: Callable[[int], str]) -> None:
        rows = np.flatnonzero(bad)
        for i in rows[: self.max]:
            row = int(self.keep[i]) if self.keep is not None else int(i)
            line, suffix = self.locator.locate(row)
            self.probs.error(self.shown, line, fld, message(int(i)) + suffix)
        if len(rows) > self.max:
            self.probs.error(self.shown, None, fld,
                             f"... and {len(rows) - self.max} more rows with bad {fld!r}")


def _numeric_message(fld: str, num: _Numeric, v: np.ndarray, money: bool
                     ) -> Callable[[int], str]:
    def message(i: int) -> str:
        cell = num.cell(i)
        if num.missing[i]:
            return "missing value"
        if num.unparsed[i]:
            allowed = ("yuan, e.g. 1500000, 150万 or 1.5亿" if money
                       else "a number, e.g. 0.02 or 2%")
            return f"not a number: {_short(cell)!r} (expected {allowed})"
        text = f"{_RANGE[fld]}, got {_fmt(v[i])}"
        if fld == "exposure" and math.isfinite(v[i]) and v[i] > MAX_YUAN:
            text = f"must be at most {MAX_YUAN:.0e} yuan (1,000万亿), got {_fmt(v[i])}"
        raw = (cell if isinstance(cell, str) else _fmt(cell)).strip()
        unit = num.unit is not None and bool(num.unit[i])
        if unit or raw != _fmt(v[i]):
            text += f" (cell {_short(raw)!r})"
        if fld in _PROB_LIKE and 1 < v[i] <= 100 and not unit:
            text += "; write percentages with a % sign, e.g. 2%"
        return text

    return message


# ----------------------------------------------------------------------------- main


def _not_a_file(p: Path) -> str | None:
    """Why ``p`` cannot be read as a loan tape (None: a regular file). Never raises, never
    blocks (a FIFO named ``loans.csv`` would hang a plain read)."""
    import stat

    if "\x00" in str(p):
        return "the file name contains a NUL character"
    try:
        mode = p.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"file not found (looked for {os.path.abspath(p)})"
    except (OSError, RuntimeError, ValueError) as e:
        return f"cannot open the file: {getattr(e, 'strerror', None) or e}"
    if stat.S_ISDIR(mode):
        return ("is a directory, not a file; portfolio.loans_file must name a .csv or .parquet "
                "file")
    if not stat.S_ISREG(mode):
        return ("is not a regular file (a pipe, socket or device?); portfolio.loans_file must "
                "name a .csv or .parquet file")
    return None


def read_loan_tape(path: str | os.PathLike, *, shown_as: str | None = None,
                   encoding: str | None = None, default_sector: str | None = None,
                   sectors: Sequence[str] | None = None, max_reported: int = 20,
                   allow_duplicate_ids: bool = False) -> LoanTape:
    """Read and validate a loan tape (CSV or Parquet); see the module docstring.

    Parameters
    ----------
    path : str or os.PathLike
        The tape, already resolved (e.g. relative to the scenario file).
    shown_as : str, optional
        How to name the file in problems (default ``str(path)``).
    encoding : str, optional
        Text encoding of a CSV (``portfolio.encoding``); default: UTF-8, else GB18030.
        Ignored for Parquet.
    default_sector : str, optional
        Sector of every loan when the tape has no ``sector`` column.
    sectors : sequence of str, optional
        The sector names the scenario defines; other ``sector`` values are errors.
    max_reported : int
        Bad cells reported per column before one ``... and N more`` line.
    allow_duplicate_ids : bool
        Accept a loan id on several rows (``portfolio.allow_duplicate_ids``); by default
        that is an error, when the ``name`` column is an id column.

    Returns
    -------
    LoanTape

    Raises
    ------
    ScenarioError
        With every problem found (warnings attached as ``.warnings``).
    """
    shown = shown_as or str(path)
    probs = ProblemList()
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in _CSV_EXTS + _PARQUET_EXTS:
        hint = "; save Excel workbooks as CSV" if ext in (".xlsx", ".xls", ".xlsm") else ""
        probs.error(shown, None, "", f"unsupported file type {p.suffix or '(none)'!r}; a loan tape "
                    f"must be {', '.join(_CSV_EXTS + _PARQUET_EXTS)}{hint}")
        raise ScenarioError(probs.problems)
    why = _not_a_file(p)
    if why is not None:
        probs.error(shown, None, "", why)
        raise ScenarioError(probs.problems)

    if ext in _PARQUET_EXTS:
        table = _read_parquet(p, shown, probs)
    else:
        try:
            raw = p.read_bytes()
        except OSError as e:
            probs.error(shown, None, "", f"cannot read the file: {e.strerror or e}")
            raise ScenarioError(probs.problems) from None
        table = _read_csv(raw, ext, encoding, shown, probs, max_reported)
    if table is None:
        raise ScenarioError(probs.problems)
    if not table.headers:  # empty file
        probs.error(shown, None, "", "the loan tape has no loans")
        raise ScenarioError(probs.problems)

    fields, unnamed, blocked = _map_header(table, shown, probs, default_sector is not None)
    used = {c.pos for c in fields.values()}
    text_positions = {c.pos for f, c in fields.items() if f in _TEXT}
    text_positions |= set(range(len(table.headers))) - used
    # A total row may carry its label (合计) in any column: load them all where that is free.
    wanted = set(range(len(table.headers))) if table.all_columns_cheap else used | set(unnamed)
    columns = table.load(sorted(wanted), text_positions)
    if columns is None:  # the file could not be parsed at all
        raise ScenarioError(probs.problems)
    nrows = table.nrows

    # Convert every recognised column.
    numeric: dict[str, _Numeric] = {}
    texts: dict[str, _Text] = {}
    for fld, col in fields.items():
        s = columns[col.pos]
        if fld in _NUMERIC:
            numeric[fld] = _coerce_numeric(s, fld == "exposure", col.scale)
        else:
            texts[fld] = _text_values(s)

    # Skip rows where every recognised column is blank.
    keep: np.ndarray | None = None
    masks = [n.missing for n in numeric.values()] + [t.missing for t in texts.values()]
    if masks and nrows:
        blank = np.logical_and.reduce(masks)
        if blank.any():
            keep = np.flatnonzero(~blank)
            nrows = len(keep)
            numeric = {f: n.take(keep) for f, n in numeric.items()}
            texts = {f: t.take(keep) for f, t in texts.items()}

    # Drop total rows (合计 ...) with one error each, so that their cells are not checked.
    if nrows:
        text_at = {fields[f].pos: f for f in texts}
        total = _total_rows(nrows, columns, text_at, numeric, texts, keep,
                            _Reporter(shown, probs, table.locator, keep, max_reported))
        if total.any():
            kept = np.flatnonzero(~total)
            keep = kept if keep is None else keep[kept]
            nrows = len(kept)
            numeric = {f: n.take(kept) for f, n in numeric.items()}
            texts = {f: t.take(kept) for f, t in texts.items()}
    for pos in unnamed:
        s = columns.get(pos)
        if s is not None and len(s):
            has = s.notna().to_numpy(dtype=bool)
            if (has if keep is None else has[keep]).any():
                probs.warn(shown, table.header_line, "", f"ignoring column {pos + 1}: it has "
                           "values but no header")

    if nrows == 0:
        if not probs.errors:
            probs.error(shown, None, "", "the loan tape has no loans")
        raise ScenarioError(probs.problems)

    rep = _Reporter(shown, probs, table.locator, keep, max_reported)
    out: dict[str, np.ndarray] = {}
    for fld in _NUMERIC:
        num = numeric.get(fld)
        if num is None:
            out[fld] = np.zeros(nrows) if fld == "lgd_std" else np.full(nrows, np.nan)
        else:
            out[fld] = _check_numeric(fld, num, out, rep)
    if "exposure" in numeric and fields["exposure"].unit is None:
        _check_median_exposure(numeric["exposure"], out["exposure"], fields["exposure"].header,
                               shown, table.header_line, probs)
    out["sector"] = _check_sector(texts.get("sector"), nrows, default_sector, sectors, rep)
    name = texts.get("name")
    if name is None:
        out["name"] = np.array([f"row{i}" for i in range(1, nrows + 1)], dtype=object)
    else:
        if not allow_duplicate_ids and _header_key(fields["name"].header) in _ID_KEYS:
            _check_duplicate_ids(name, fields["name"].header, rep)
        values = name.values("")
        for i in np.flatnonzero(name.missing):
            values[i] = f"row{i + 1}"
        out["name"] = values
    out["product"] = _check_product(texts.get("product"), nrows, rep)

    probs.raise_if_errors()
    rows = keep if keep is not None else np.arange(nrows, dtype=np.int64)
    out["line"] = table.locator.lines_of(rows if keep is not None else nrows)
    out["row"] = np.asarray(rows, dtype=np.int64) + 1
    for arr in out.values():
        arr.setflags(write=False)
    return LoanTape(file=shown, name=out["name"], exposure=out["exposure"], pd=out["pd"],
                    lgd=out["lgd"], rho=out["rho"], lgd_std=out["lgd_std"], sector=out["sector"],
                    product=out["product"], warnings=tuple(probs.warnings), line=out["line"],
                    row=out["row"])


def _check_numeric(fld: str, num: _Numeric, done: dict[str, np.ndarray], rep: "_Reporter"
                   ) -> np.ndarray:
    """Report bad cells of one numeric column; return its values (lgd_std blanks -> 0)."""
    v = num.values
    if fld == "lgd_std":  # optional: blank means the default
        v = np.where(num.missing, 0.0, v)
        num = _Numeric(v, np.zeros(len(v), bool), num.unparsed, num.cell, num.unit)
    ok = _in_range(fld, v)
    bad = num.missing | num.unparsed | ~ok
    message = _numeric_message(fld, num, v, fld == "exposure")
    if fld == "lgd_std" and "lgd" in done:
        lgd = done["lgd"]
        with np.errstate(invalid="ignore"):
            infeasible = ok & (v > 0) & _in_range("lgd", lgd) & ~(v * v < lgd * (1 - lgd))
        bad |= infeasible
        base = message

        def message(i: int) -> str:
            if not infeasible[i]:
                return base(i)
            if lgd[i] in (0.0, 1.0):
                return (f"must be 0 when lgd is {_fmt(lgd[i])} (a Beta LGD needs 0 < lgd < 1), "
                        f"got {_fmt(v[i])}")
            bound = math.sqrt(lgd[i] * (1 - lgd[i]))
            return (f"must be below sqrt(lgd*(1-lgd)) = {bound:.4g} for a Beta LGD with mean "
                    f"{_fmt(lgd[i])}, got {_fmt(v[i])}")

    rep.report(fld, bad, message)
    return v


def _check_sector(text: _Text | None, nrows: int, default_sector: str | None,
                  sectors: Sequence[str] | None, rep: "_Reporter") -> np.ndarray:
    allowed = list(sectors) if sectors is not None else None
    if text is None:
        if default_sector is None:  # already reported as a missing column
            return np.full(nrows, "", dtype=str)
        if allowed is not None and default_sector not in allowed:
            hint = did_you_mean(default_sector, allowed)
            rep.probs.error(rep.shown, None, "sector", f"default sector {default_sector!r} is "
                            f"not one of the scenario's sectors{hint}")
        return np.full(nrows, str(default_sector))
    bad = text.missing
    if allowed is not None:
        known = set(allowed)
        unknown = [j for j, u in enumerate(text.uniq) if u and u not in known]
        if unknown:
            bad = bad | np.isin(text.codes, unknown)
    listed = ", ".join(allowed[:12]) + (", ..." if len(allowed) > 12 else "") if allowed else ""

    def message(i: int) -> str:
        if text.codes[i] < 0:
            return "missing value"
        value = text.value(i)
        return (f"unknown sector {_short(value)!r}{did_you_mean(value, allowed or ())}; the "
                f"scenario's sectors are: {listed}")

    rep.report("sector", bad, message)
    return text.str_array("")


# ----------------------------------------------------------------------------- whole-tape checks


def _total_word_mask(s: pd.Series) -> np.ndarray | None:
    """Cells of a column that look like a total row's label (合计, Total, ...); None for a
    column that holds no text. Vectorised (pyarrow regex)."""
    if s.dtype.kind in "biufcmM":
        return None
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    try:
        if isinstance(s.dtype, pd.StringDtype):
            cells = pa.array(s.array)
        else:
            cells = pa.array(s.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        # a mix of text and numbers (or booleans, bytes...): their text is good enough here
        obj = s.to_numpy(dtype=object)
        text = np.where(pd.isna(obj), None, obj.astype(str))
        cells = pa.array(text, type=pa.string())
    if cells.null_count == len(cells):
        return None
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(cells.cast(pa.string()), form="NFKC"))
    hit = pc.match_substring_regex(text, _TOTAL_PATTERN, ignore_case=True)
    return np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)


def _total_label(columns: dict[int, pd.Series], row: int) -> str:
    """The total word in a row's cells (``'合计'``, ``'Total'``)."""
    for s in columns.values():
        cell = s.iat[row]
        if isinstance(cell, str):
            m = _TOTAL_WORD_RE.search(unicodedata.normalize("NFKC", cell).strip())
            if m:
                return m.group(0).strip()
    return "合计"


def _total_rows(nrows: int, columns: dict[int, pd.Series], text_at: dict[int, str],
                numeric: dict[str, _Numeric], texts: dict[str, _Text], keep: np.ndarray | None,
                rep: _Reporter) -> np.ndarray:
    """Find the rows an Excel sheet adds under the loans (合计, 小计, a grand total);
    report each as an error and return their mask (over the tape's ``nrows`` rows).
    ``columns`` are the table's columns by position; ``text_at`` names the positions of the
    factorised ``texts``, whose distinct values are looked at instead of every cell."""
    word = np.zeros(nrows, bool)
    for pos, s in columns.items():
        t = texts.get(text_at.get(pos, ""))
        if t is not None and 4 * len(t.uniq) < len(s):  # few distinct values: look at those
            hit = _total_word_mask(pd.Series(t.uniq, dtype=object))
            if hit is not None and hit.any():
                word |= np.append(hit, False)[t.codes]
            continue
        hit = _total_word_mask(s)
        if hit is not None and hit.any():
            word |= hit if keep is None else hit[keep]

    # A grand total without a label: the exposure is the sum of all the other rows'.
    sums = np.zeros(nrows, bool)
    ex = numeric.get("exposure")
    v = ex.values if ex is not None else np.full(nrows, np.nan)
    cand = ~word & np.isfinite(v)
    others = int(np.count_nonzero(cand)) - 1
    if ex is not None:
        if others >= 2:
            whole = float(np.sum(v[cand]))
            if math.isfinite(whole) and whole > 0:
                with np.errstate(invalid="ignore"):
                    sums = cand & (v > 0) & np.isclose(2 * v, whole, rtol=1e-9, atol=0.5)

    total = word.copy()
    for i in np.flatnonzero(sums):
        # A total only if the row is blank where a total row is (no name, no sector) and
        # is missing a required cell: then it was an error anyway, and this says why.
        if _blank_like_a_total(int(i), numeric, texts):
            total[i] = True
        else:
            rep.probs.warn(rep.shown, rep.line(i), "exposure",
                           f"{_fmt(v[i])} is the sum of all the other rows' exposures: if "
                           f"{rep.where(i)} is a total row, delete it from the tape")

    rows = np.flatnonzero(total)
    for i in rows[: rep.max]:
        i = int(i)
        if word[i]:
            table_row = int(keep[i]) if keep is not None else i
            why = _total_label(columns, table_row)
        else:
            why = f"its exposure, {_fmt(v[i])}, is the sum of the other {others} rows'"
        rep.probs.error(rep.shown, rep.line(i), "",
                        f"{rep.where(i)} looks like a total row ({why}): delete it from the tape")
    if len(rows) > rep.max:
        rep.probs.error(rep.shown, None, "", f"... and {len(rows) - rep.max} more total rows")
    return total


def _blank_like_a_total(i: int, numeric: dict[str, _Numeric], texts: dict[str, _Text]) -> bool:
    """Whether row ``i`` is blank in its name and sector cells (those the tape has) and in at
    least one required cell, as a total row is (so it is not a valid loan in any case)."""
    if any(not t.missing[i] for f, t in texts.items() if f in ("name", "sector")):
        return False
    if "sector" in texts:
        return True
    return any(bool(n.missing[i]) for f, n in numeric.items() if f in _REQUIRED)


def _check_duplicate_ids(name: _Text, header: str, rep: _Reporter) -> None:
    """An id on several rows: one error per id, listing its lines."""
    codes = name.codes
    valid = codes[codes >= 0]
    if not valid.size:
        return
    counts = np.bincount(valid, minlength=len(name.uniq))
    dup = np.flatnonzero(counts > 1)
    if not dup.size:
        return
    rows = np.flatnonzero(np.isin(codes, dup))
    rows = rows[np.argsort(codes[rows], kind="stable")]  # grouped by id, in tape order
    grouped = codes[rows]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[starts[1:], len(rows)]
    order = np.argsort(rows[starts], kind="stable")  # ids by first appearance
    for g in order[: rep.max]:
        members = rows[starts[g] : ends[g]]
        k = len(members)
        rep.probs.error(rep.shown, rep.line(int(members[1])), "name",
                        f"loan id {_short(name.value(int(members[0])))!r} (column {header!r}) is "
                        f"on {k} rows ({rep.listing(members)}): each row is one loan, so it would "
                        f"be counted {k} times; remove the repeated rows, or set "
                        "portfolio.allow_duplicate_ids = true if they are different loans")
    if len(dup) > rep.max:
        rep.probs.error(rep.shown, None, "name", f"... and {len(dup) - rep.max} more loan ids "
                        "on several rows")


def _check_median_exposure(num: _Numeric, v: np.ndarray, header: str, shown: str,
                           line: int | None, probs: ProblemList) -> None:
    """Warn when plain numbers under a unit-less exposure header give an implausible median
    loan in yuan (typically amounts in 万元 read as yuan: every loan 10,000x too small)."""
    plain = ~num.missing & ~num.unparsed & _in_range("exposure", v)
    if num.unit is not None:
        plain &= ~num.unit  # cells such as '500万' carry their own unit
    if not plain.any():
        return
    med = float(np.median(v[plain]))
    lo, hi = _PLAUSIBLE_MEDIAN
    shown_header = " ".join(str(header).split())
    sep = " " if shown_header.isascii() else ""
    if 0 < med < lo:
        unit = "万元" if med >= 1 else "亿元"
        probs.warn(shown, line, "exposure",
                   f"the median loan is {_fmt(med)} yuan: if the amounts are in {unit}, write "
                   f"the header as {shown_header}{sep}({unit}) (plain numbers are read as yuan)")
    elif med > hi:
        probs.warn(shown, line, "exposure",
                   f"the median loan is {_fmt(med)} yuan, over 10亿 yuan: check the amounts and "
                   f"the unit of column {shown_header!r} (plain numbers are read as yuan; a unit "
                   f"goes in the header, e.g. {shown_header}{sep}(万元))")


def _check_product(text: _Text | None, nrows: int, rep: _Reporter) -> np.ndarray:
    """Map product values (``担保``, ``Insured``, ...) to ``credit``/``guaranteed``/``insured``;
    unknown values are errors. Blank cells are ``credit``."""
    if text is None:
        return np.full(nrows, "credit")
    canon = [_PRODUCT_OF.get(_norm_header(u)) for u in text.uniq]
    unknown = [j for j, c in enumerate(canon) if c is None]
    if unknown:
        accepted = list(_PRODUCT_OF)

        def message(i: int) -> str:
            value = text.value(i)
            hint = did_you_mean(_norm_header(value), accepted)
            return f"unknown product {_short(value)!r}{hint}; allowed: {_PRODUCTS_LISTED}"

        rep.report("product", np.isin(text.codes, unknown), message)
    mapped = np.array([c or "" for c in canon] + ["credit"], dtype=str)
    return mapped[text.codes]
