"""Loan tapes, the file: bytes to a table of raw columns, and its header to fields.

The first half of reading a loan tape (:mod:`.loantape` is the second): refuse what is not a
tape (workbooks, directories, pipes), decode the text (UTF-8, UTF-16 with BOM, else
GB18030; ``portfolio.encoding``), pick the separator, scan the records for the physical
line of each row (quoted fields that span lines included), and read CSV with pandas or
Parquet with pyarrow into a :class:`_Table` whose columns load on demand. The header is
mapped to fields through ``COLUMN_ALIASES`` (after NFKC normalisation), with the unit a
header may carry in brackets (``贷款余额(万元)``, ``违约概率（%）``).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import ProblemList, did_you_mean

__all__ = ["COLUMN_ALIASES", "ID_HEADERS"]

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

_FIELDS = ("exposure", "pd", "lgd", "rho", "lgd_std", "sector", "name", "product")
_REQUIRED = ("exposure", "pd", "lgd", "rho", "sector")
_NUMERIC = ("exposure", "pd", "lgd", "rho", "lgd_std")
_TEXT = ("sector", "name", "product")
_PROB_LIKE = ("pd", "lgd", "rho", "lgd_std")
_COUNT_COLUMNS = ("count", "loans", "n_loans", "num_loans", "笔数", "贷款笔数", "户数")
_CSV_EXTS = (".csv", ".txt", ".tsv")
_PARQUET_EXTS = (".parquet", ".pq")

#: Units a header may carry in brackets: money (exposure) and probability units.
_MONEY_UNITS = {
    "元": 1.0, "yuan": 1.0, "cny": 1.0, "rmb": 1.0,
    "千元": 1e3, "万": 1e4, "万元": 1e4, "百万": 1e6, "百万元": 1e6,
    "千万": 1e7, "千万元": 1e7, "亿": 1e8, "亿元": 1e8,
}
_PROB_UNITS = {"%": 0.01, "百分比": 0.01, "‰": 0.001}

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


def _short(s: object, limit: int = 60) -> str:
    text = str(s)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


# ----------------------------------------------------------------------------- the file


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
