"""Loan tapes, the cells: raw columns to numbers and text, and the checks of each cell.

Money cells may carry a Chinese unit (``150万``, ``1.5亿``, ``1,000,000元``) and probability
cells a percent sign (``2%``); a unit in the header scales the plain numbers of its
column. Parsing is vectorised with pyarrow regexes. :func:`_check_numeric` and
:func:`_check_sector` report bad cells through a :class:`_Reporter`, at most
``max_reported`` per column, each at its line (CSV) or ``(row N)`` (Parquet).
"""

from __future__ import annotations

import decimal
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ProblemList, did_you_mean
from .tapefile import _PROB_LIKE, _PROB_UNITS, _Locator, _short
from .units import MAX_YUAN

#: Multipliers a money cell may carry (``150万``, ``1.5亿``).
_CELL_MONEY_MULT = {"万": 1e4, "亿": 1e8, "千万": 1e7, "百万": 1e6}

# Cell patterns (RE2 syntax, applied with pyarrow after NFKC normalisation and trimming).
_NUM = r"[+-]?(?:(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf|infinity))"
_MONEY_PATTERN = rf"^¥?\s*(?P<num>{_NUM})\s*(?P<mult>千万|百万|万|亿)?\s*(?P<yuan>元)?$"
_PROB_PATTERN = rf"^(?P<num>{_NUM})\s*(?P<pct>%|‰)?$"


def _fmt(v: object) -> str:
    try:
        v = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)
    if math.isfinite(v) and v == int(v) and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


# ----------------------------------------------------------------------------- cells


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
