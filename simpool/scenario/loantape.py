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

Typical ranges of pd, rho and lgd are checked by :func:`simpool.scenario.load.load_scenario`
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

Modules
-------
:mod:`.tapefile` reads the file (decoding, CSV and Parquet, line numbers, the header and
its units), :mod:`.tapecells` turns cells into values and checks each cell; this module
holds :class:`LoanTape`, :func:`read_loan_tape` and the checks of the tape as a whole
(total rows, duplicate ids, the median loan, products).
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Problem, ProblemList, ScenarioError, did_you_mean
from .tapecells import (
    _check_numeric,
    _check_sector,
    _coerce_numeric,
    _fmt,
    _in_range,
    _Numeric,
    _Reporter,
    _short,
    _Text,
    _text_values,
)
from .tapefile import (
    _CSV_EXTS,
    _ID_KEYS,
    _NUMERIC,
    _PARQUET_EXTS,
    _REQUIRED,
    _TEXT,
    COLUMN_ALIASES,
    ID_HEADERS,
    _header_key,
    _map_header,
    _norm_header,
    _not_a_file,
    _read_csv,
    _read_parquet,
)

__all__ = ["COLUMN_ALIASES", "ID_HEADERS", "PRODUCT_ALIASES", "LoanTape", "read_loan_tape"]

#: Accepted ``product`` values besides the product name itself (matched after NFKC
#: normalisation, stripping and case-folding).
PRODUCT_ALIASES: dict[str, tuple[str, ...]] = {
    "credit": ("信用", "信用贷款", "信用贷"),
    "guaranteed": ("guarantee", "担保", "担保贷款", "融资担保"),
    "insured": ("insurance", "保险", "保证保险", "贷款保证保险", "信用保证保险"),
}

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
