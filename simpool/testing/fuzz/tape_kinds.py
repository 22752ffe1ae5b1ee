"""Mutated loan tapes: CSV tapes with bad cells, damaged bytes and odd encodings (``tape``),
Parquet tapes (``parquet``), one 1,000,000-row tape with a bad row near the end (``bigtape``),
and tapes as people write them (``taperows``: repeated loan ids, Excel total rows, amounts in
万元, product names in Chinese, values outside the typical ranges), each error and warning
checked at its line, and differently spelled tapes run to the same numbers.
"""

from __future__ import annotations

import csv as _csv
import io
import math
import random
from pathlib import Path
from typing import Any, Callable

from .checks import _ROW_COLS, _read_table, _rows_differ
from .core import Case, _call_main
from .sources import TAPE_SECTORS, Source, _csv_bytes, _tape_csv


# ------------------------------------------------------------- tape, parquet, bigtape

_BAD_CELLS = {
    "exposure": ["-1", "nan", "NaN", "inf", "-inf", "abc", "", "1e400", "1,5", "5万万", "1e308",
                 "TRUE", "1e999999"],
    "pd": ["1.5", "-0.1", "150%", "nan", "", "abc", "2", "inf", "0.5.1", "1e-400x"],
    "lgd": ["1.01", "-1", "", "x", "nan", "200%"],
    "rho": ["1", "1.0", "-0.5", "", "nan", "100%"],
    "sector": ["", "unknown", "ALPHA", "alpha ", " ", "行业"],
}
_BAD_SECTORS_OK = {"alpha "}  # trailing space: stripped, a valid sector


def gen_tape(rng: random.Random, srcs: list[Source]) -> Case | None:
    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    n = rng.choice([1, 2, 5, 30, 200])
    header, rows = _tape_csv(rng, n)
    choice = rng.randrange(11)
    entry = tape_src.entry
    files = dict(tape_src.files)
    if choice <= 4:
        # bad cells at known rows; optional quoted newlines before them shift the lines
        k = rng.randrange(1, min(3, n) + 1)
        bad_rows = sorted(rng.sample(range(n), k))
        expect = "error"
        cells = []
        for r in bad_rows:
            col = rng.choice(list(_BAD_CELLS))
            cell = rng.choice(_BAD_CELLS[col])
            if col == "sector" and cell in _BAD_SECTORS_OK:
                cell = "unknown"
            rows[r][header.index(col)] = cell
            cells.append((r, col, cell))
        if rng.random() < 0.3:
            for r in range(n):
                if rng.random() < 0.2:
                    rows[r][0] = f"L{r + 1}\nsecond line"
        sep = rng.choice([",", ",", ",", "\t", ";"])
        text = _csv_bytes(header, rows, sep).decode("utf-8")
        if rng.random() < 0.3:  # blank rows in between
            lines = text.split("\n")
            i = rng.randrange(1, len(lines))
            lines.insert(i, sep * 5 if rng.random() < 0.5 else "")
            text = "\n".join(lines)
        ends = rng.random()
        if ends < 0.2:
            text = text.replace("\n", "\r\n")
        elif ends < 0.3 and "\n" not in "".join(r[0] for r in rows):
            text = text.replace("\n", "\r")  # classic Mac
        data = text.encode("utf-8")
        if rng.random() < 0.2:
            data = b"\xef\xbb\xbf" + data
        # the physical line of each bad row, found independently of simpool
        lines_of = _physical_lines(data, sep)
        at = [("synthetic/loans.csv", lines_of[r]) for r, _, _ in cells]
        label = "bad cells " + ", ".join(f"{c}={v!r} on row {r + 1}" for r, c, v in cells)
    elif choice == 5:
        variants = [
            (b"", "empty tape"), (b"\n\n\n", "blank lines only"),
            (_csv_bytes(header, []), "header only"),
            (b"\xef\xbb\xbf" + _csv_bytes(header, []), "BOM and header only"),
            (bytes(rng.randrange(256) for _ in range(500)), "binary junk"),
            (b"PK\x03\x04" + bytes(100), "a zip archive"),
            (b"PAR1" + bytes(100), "Parquet bytes"),
            (_csv_bytes(header, rows).replace(b"\n", b"\x00\n"), "NUL bytes"),
            (_csv_bytes(header, rows)[: rng.randrange(1, 30)], "truncated header"),
            (b"\xd0\xcf\x11\xe0" + bytes(100), "an .xls workbook"),
            (('"unclosed,' + ",".join(header[1:]) + "\n").encode(), "unclosed quote in the header"),
        ]
        data, label = rng.choice(variants)
        expect, at = "error", [("synthetic/loans.csv", None)]
    elif choice == 6:
        zh = ["贷款编号", "贷款余额(万元)", "违约概率(%)", "违约损失率", "资产相关性", "行业"]
        zrows = [[r[0], str(float(r[1]) / 1e4), str(float(r[2]) * 100), r[3], r[4], r[5]] for r in rows]
        text = _csv_bytes(zh, zrows).decode("utf-8")
        how = rng.choice(["gbk", "utf-8-sig", "utf-16", "utf-8"])
        data = text.encode(how)
        label, expect, at = f"Chinese headers, {how}", "ok", []
        if rng.random() < 0.5 and n > 1:
            r = rng.randrange(n)
            zrows[r][2] = "150"
            data = _csv_bytes(zh, zrows).decode("utf-8").encode(how)
            lines_of = _physical_lines(_csv_bytes(zh, zrows))
            label += f", pd 150% on row {r + 1}"
            expect, at = "error", [("synthetic/loans.csv", lines_of[r])]
    elif choice == 7:
        r = rng.randrange(n)
        rows[r] = rows[r] + ["1", "000"]
        data = _csv_bytes(header, rows)
        label, expect = f"row {r + 1} has extra fields", "error"
        at = [("synthetic/loans.csv", _physical_lines(data)[r])]
    elif choice == 8:
        r = rng.randrange(n)
        rows[r][0] = '"unclosed'
        text = _csv_bytes(header, rows).decode().replace('"""unclosed"', '"unclosed')
        data = text.encode()
        label, expect, at = f"unclosed quote on row {r + 1}", None, []
    elif choice == 9:
        # guaranteed / insured rows need a guarantor / insurer: named, or the only one defined
        product = rng.choice(["guaranteed", "insured"])
        header = header + ["product"]
        for r in range(n):
            rows[r].append(product if rng.random() < 0.5 or r == 0 else "credit")
        data = _csv_bytes(header, rows)
        text = tape_src.text
        if rng.random() < 0.5:
            table = "guarantors" if product == "guaranteed" else "insurers"
            extra = 'net_assets = "10亿"\n' if table == "guarantors" else ""
            text += f'\n[[{table}]]\nname = "only"\n{extra}'
            files[entry] = text.encode("utf-8")
            label, expect, at = f"{product} rows, one {table[:-1]} defined", "ok", []
        else:
            line = text.splitlines().index("[portfolio]") + 1
            label, expect, at = f"{product} rows and no {'guarantor' if product == 'guaranteed' else 'insurer'}", \
                "error", [(entry, line)]
    else:
        # random junk in random cells: either ok or a clean, located error
        for _ in range(rng.randrange(1, 4)):
            r, c = rng.randrange(n), rng.randrange(len(header))
            rows[r][c] = rng.choice(["", " ", "\t", "—", "1e5", "１２", "5%", "5‰", "¥100",
                                     "100元", "0x10", "1_000", "+0.1", ".5", "5.", "∞", "None",
                                     "NULL", "#N/A", "\u200b", "0.1\u00a0", "1,000,000"])
        data = _csv_bytes(header, rows)
        label, expect, at = "random cells", None, []
    files["synthetic/loans.csv"] = data
    return Case("tape", label, files, entry, expect=expect, at=at, run=False)


def _physical_lines(data: bytes, sep: str = ",") -> list[int]:
    """1-based first line of each data row of a CSV (header excluded), via the csv module."""
    text = data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    out, start = [], 1
    for i, rec in enumerate(reader):
        if i > 0 and any(x.strip() for x in rec):
            out.append(start)
        start = reader.line_num + 1
    return out


def gen_parquet(rng: random.Random, srcs: list[Source]) -> Case | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    n = rng.choice([1, 3, 50])
    header, rows = _tape_csv(rng, n)
    cols: dict[str, list] = {h: [r[i] for r in rows] for i, h in enumerate(header)}
    arrays: dict[str, Any] = {
        "name": pa.array(cols["name"]),
        "exposure": pa.array([float(x) for x in cols["exposure"]]),
        "pd": pa.array([float(x) for x in cols["pd"]]),
        "lgd": pa.array([float(x) for x in cols["lgd"]]),
        "rho": pa.array([float(x) for x in cols["rho"]]),
        "sector": pa.array(cols["sector"]),
    }
    choice = rng.randrange(9)
    expect, at = "ok", []
    label = "valid Parquet"
    r = rng.randrange(n)
    if choice == 1:
        col = rng.choice(["exposure", "pd", "lgd", "rho"])
        vals = arrays[col].to_pylist()
        vals[r] = rng.choice([math.nan, -1.0, math.inf, None] + ([1e308, 1e16] if col == "exposure"
                                                                 else [1.5, 2.0]))
        arrays[col] = pa.array(vals, type=pa.float64())
        label, expect = f"{col} = {vals[r]!r} on row {r + 1}", "error"
        at = [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 2:
        vals = arrays["sector"].to_pylist()
        vals[r] = rng.choice(["unknown", None, ""])
        arrays["sector"] = pa.array(vals, type=pa.string())
        if rng.random() < 0.5:
            arrays["sector"] = arrays["sector"].dictionary_encode()
        label, expect = f"sector {vals[r]!r} on row {r + 1}", "error"
        at = [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 3:
        vals = [str(x) for x in arrays["exposure"].to_pylist()]
        vals[r] = rng.choice(["abc", "1.5亿", "-5", "nan"])
        arrays["exposure"] = pa.array(vals)
        label = f"text exposure {vals[r]!r} on row {r + 1}"
        expect = "ok" if vals[r] == "1.5亿" else "error"
        at = [] if expect == "ok" else [("synthetic/loans.parquet", f"(row {r + 1})")]
    elif choice == 4:
        arrays["pd"] = pa.array([True] * n)
        label, expect, at = "boolean pd column", "error", [("synthetic/loans.parquet", None)]
    elif choice == 5:
        arrays = {k: v.slice(0, 0) for k, v in arrays.items()}
        label, expect, at = "no rows", "error", [("synthetic/loans.parquet", None)]
    elif choice == 6:
        import decimal

        arrays["exposure"] = pa.array([decimal.Decimal(x) for x in cols["exposure"]],
                                      type=pa.decimal128(20, 2))
        label = "decimal exposure"
    elif choice == 7:
        del arrays["rho"]
        label, expect, at = "no rho column", "error", [("synthetic/loans.parquet", None)]
    buf = io.BytesIO()
    pq.write_table(pa.table(arrays), buf)
    data = buf.getvalue()
    if choice == 8:
        how = rng.choice(["truncated", "junk", "magic"])
        data = {"truncated": data[: rng.randrange(4, max(5, len(data) - 1))],
                "junk": bytes(rng.randrange(256) for _ in range(200)),
                "magic": b"PAR1" + bytes(rng.randrange(256) for _ in range(200)) + b"PAR1"}[how]
        label, expect, at = f"{how} Parquet file", "error", [("synthetic/loans.parquet", None)]
    files = {tape_src.entry: tape_src.text.replace("loans.csv", "loans.parquet").encode("utf-8"),
             "synthetic/loans.parquet": data}
    return Case("parquet", label, files, tape_src.entry, expect=expect, at=at)


def gen_bigtape(rng: random.Random, srcs: list[Source], rows: int = 1_000_000) -> Case:
    """A ``rows``-row CSV tape with one bad cell near the end (its line must be reported)."""
    import numpy as np

    tape_src = next(s for s in srcs if s.entry == "synthetic/tape.toml")
    g = np.random.default_rng(rng.randrange(2**32))
    exposure = g.choice([100000, 1500000, 2500000], rows).astype(str)
    pd_ = np.char.mod("%.4f", g.uniform(0.005, 0.05, rows))
    lgd = np.char.mod("%.3f", g.uniform(0.2, 0.8, rows))
    rho = np.char.mod("%.3f", g.uniform(0.05, 0.25, rows))
    sector = np.array(TAPE_SECTORS)[g.integers(0, 3, rows)]
    bad = rows - 1 - rng.randrange(min(1000, rows))
    col, cell = rng.choice([("pd", "1.5"), ("exposure", "-1"), ("rho", "nan"), ("sector", "unknown"),
                            ("lgd", "abc")])
    arrays = {"exposure": exposure, "pd": pd_, "lgd": lgd, "rho": rho, "sector": sector}
    arrays[col] = arrays[col].astype(object)
    arrays[col][bad] = cell
    body = "\n".join(",".join(map(str, t)) for t in zip(arrays["exposure"], arrays["pd"],
                                                          arrays["lgd"], arrays["rho"],
                                                          arrays["sector"]))
    data = ("exposure,pd,lgd,rho,sector\n" + body + "\n").encode("utf-8")
    files = dict(tape_src.files)
    files["synthetic/loans.csv"] = data
    return Case("bigtape", f"{rows:,}-row tape, {col}={cell!r} on line {bad + 2}", files,
                tape_src.entry, expect="error", at=[("synthetic/loans.csv", bad + 2)],
                timeout=240.0)


# ----------------------------------------------------------------------------- taperows

_TAPEROWS = """\
title = "fuzz: tape rows"

[simulation]
paths = 1000

[model]
sectors = ["alpha", "beta", "gamma"]

[portfolio]
loans_file = "{tape}"
{portfolio}
{parties}"""

_ID_HEADERS = ("loan_id", "id", "借据号", "name", "借据编号", "贷款编号", "编号", "Loan ID", "ID")
_EN_HEADERS = {"exposure": "exposure", "pd": "pd", "lgd": "lgd", "rho": "rho", "sector": "sector"}
_ZH_HEADERS = {"exposure": "贷款余额", "pd": "违约概率", "lgd": "违约损失率", "rho": "资产相关性",
               "sector": "行业"}
_TOTAL_LABELS = ("合计", "总计", "小计", "本页小计", "合计：", "Total", "TOTAL:", "Subtotal", "Sum",
                 "Grand Total", "total")
_PRODUCT_SPELLINGS = {
    "credit": ("credit", "Credit", "CREDIT", "信用", "信用贷款", "信用贷", "ｃｒｅｄｉｔ", ""),
    "guaranteed": ("guaranteed", "Guaranteed", "GUARANTEED", "guarantee", "担保", "担保贷款",
                   "融资担保", " 担保 "),
    "insured": ("insured", "INSURED", "Insurance", "保险", "保证保险", "贷款保证保险", "信用保证保险"),
}
_UNKNOWN_PRODUCTS = ("贷款", "保理", "insurd", "guarantor", "担保贷", "abc", "知识产权质押", "保 险",
                     "credit card")
_OUTSIDE_TYPICAL = {"pd": ["0.25", "0.5", "0.9"], "lgd": ["0.95", "0.05", "0.99"],
                    "rho": ["0.4", "0.01", "0.6"]}


def _loan_rows(rng: random.Random, n: int) -> list[dict[str, str]]:
    prefix = rng.choice(["L", "JJ-", "借"])
    return [{"name": f"{prefix}{i + 1:04d}", "exposure": str(rng.choice([100000, 1500000, 2500000,
                                                                        8000000])),
             "pd": f"{rng.uniform(0.005, 0.08):.4f}", "lgd": f"{rng.uniform(0.2, 0.8):.3f}",
             "rho": f"{rng.uniform(0.05, 0.25):.3f}", "sector": rng.choice(TAPE_SECTORS)}
            for i in range(n)]


def _render_tape(cols: list[tuple[str, str]], rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = _csv.writer(buf, lineterminator="\n")
    w.writerow([h for h, _ in cols])
    for r in rows:
        w.writerow([r.get(k, "") for _, k in cols])
    return buf.getvalue()


def _tape_cols(rng: random.Random, id_header: str | None = None) -> list[tuple[str, str]]:
    names = rng.choice([_EN_HEADERS, _ZH_HEADERS])
    cols = [(names[f], f) for f in ("exposure", "pd", "lgd", "rho", "sector")]
    if id_header is not None:
        cols.insert(0, (id_header, "name"))
    return cols


def _encode_tape(rng: random.Random, text: str) -> tuple[bytes, str]:
    how = rng.choice(["utf-8", "utf-8", "utf-8-sig", "gbk"])
    try:
        return text.encode(how), how
    except UnicodeEncodeError:
        return text.encode("utf-8"), "utf-8"


def _expect_lines(needles: list[str]) -> Callable[[Path, int, str], str | None]:
    """A check of stderr: each needle in some line (``!needle``: in no line)."""

    def verify(root: Path, rc: int, err: str) -> str | None:
        for n in needles:
            if n.startswith("!"):
                if n[1:] in err:
                    return f"a message holds {n[1:]!r}"
            elif n not in err:
                return f"no message holding {n!r}"
        return None

    return verify


def _same_runs(a: str, b: str, what: str,
               then: Callable[[Path, int, str], str | None] | None = None
               ) -> Callable[[Path, int, str], str | None]:
    """A check that scenarios ``a`` and ``b`` (their tapes spelled differently) run to the same
    numbers (every summary column but the scenario name)."""

    def verify(root: Path, rc: int, err: str) -> str | None:
        if then is not None:
            failure = then(root, rc, err)
            if failure is not None:
                return failure
        tables = []
        for k, e in enumerate((a, b)):
            o = root / f"_same{k}"
            rrc, _, rerr, _, fail = _call_main(["run", str(root / e), "--paths", "50", "--seed",
                                                "3", "--out", str(o), "--quiet"], 60.0)
            if fail is not None or rrc != 0:
                return f"{what}: run of {e}: {fail or f'exit {rrc}: ' + rerr.strip()[-300:]}"
            tables.append(_read_table((o / "summary.csv").read_bytes()))
        d = _rows_differ(tables[0], tables[1], _ROW_COLS[1:])
        return None if d is None else f"{what}: {d}"

    return verify


def gen_taperows(rng: random.Random, srcs: list[Source], choice: int | None = None) -> Case | None:
    """Loan tapes as people write them: repeated loan ids, repeating borrower names, Excel
    total rows, amounts in 万元 under a header without unit, product names in Chinese and
    English, values outside typical ranges. Errors must be reported at the right lines with
    the right message; a tape spelled in Chinese must run to the numbers of the same tape
    spelled canonically."""
    choice = rng.randrange(7) if choice is None else choice
    entry, tape = "t/tape.toml", "t/loans.csv"
    n = rng.randrange(3, 40)
    rows = _loan_rows(rng, n)
    portfolio, parties = "", ""
    expect, at, needles = "ok", [], []
    verify = None
    extra_files: dict[str, bytes] = {}
    cols = _tape_cols(rng, rng.choice(_ID_HEADERS))

    def line(j: int) -> int:
        return j + 2  # one physical line per row, after the header

    if choice in (0, 6):  # repeated loan ids
        hdr = rng.choice(_ID_HEADERS)
        cols[0] = (hdr, "name")
        free = list(range(n))
        rng.shuffle(free)
        groups = []
        for _ in range(rng.randrange(1, min(3, n // 2) + 1)):
            k = rng.randrange(2, 4)
            if len(free) < k:
                break
            members = sorted(free[:k])
            del free[:k]
            for j in members[1:]:
                rows[j]["name"] = rows[members[0]]["name"]
            groups.append(members)
        allow = choice == 0 and rng.random() < 0.3
        if allow:
            portfolio = "allow_duplicate_ids = true\n"
            needles = ["!loan id"]
        else:
            expect = "error"
            for members in groups:
                lines = ", ".join(str(line(j)) for j in members)
                at.append((tape, line(members[1])))
                needles.append(f":{line(members[1])}: name: loan id {rows[members[0]]['name']!r} "
                               f"(column {hdr!r}) is on {len(members)} rows (lines {lines})")
        label = f"{len(groups)} repeated ids under {hdr!r}" + (", allowed" if allow else "")
        if choice == 6:  # and a total row and an unknown product
            cols.append(("product", "product"))
            for r in rows:
                r["product"] = rng.choice(["credit", "信用", ""])
            j = rng.randrange(n)
            rows[j]["product"] = rng.choice(_UNKNOWN_PRODUCTS)
            rows.append({"name": "合计", "exposure": str(sum(int(r["exposure"]) for r in rows))})
            expect = "error"
            at += [(tape, line(j)), (tape, line(n))]
            needles += [f":{line(j)}: product: unknown product",
                        f"line {line(n)} looks like a total row"]
            label += ", an unknown product and a total row"
    elif choice == 1:  # borrower names repeat: fine; an id column beside them is the name
        hdr = rng.choice(["借款人", "企业名称"])
        cols[0] = (hdr, "borrower")
        for r in rows:
            r["borrower"] = rng.choice(["甲公司", "乙公司", "丙公司"])
        needles = ["!loan id"]
        label = f"borrowers repeat under {hdr!r}"
        if rng.random() < 0.5:
            cols.insert(rng.randrange(2), ("借据号", "name"))
            needles.append("using column '借据号'")
            label += ", with a 借据号 column"
            if rng.random() < 0.4 and n >= 2:
                a, b = sorted(rng.sample(range(n), 2))
                rows[b]["name"] = rows[a]["name"]
                expect, at = "error", [(tape, line(b))]
                needles = [f":{line(b)}: name: loan id {rows[a]['name']!r} (column '借据号') is on "
                           f"2 rows (lines {line(a)}, {line(b)})"]
                label += " holding a repeated id"
    elif choice == 2:  # Excel total rows
        where = rng.choice(["end", "middle", "both"])
        extra = rng.choice([None, "备注", "序号"])
        if extra is not None:
            cols.insert(0 if extra == "序号" else len(cols), (extra, "extra"))
            for j, r in enumerate(rows):
                r["extra"] = str(j + 1) if extra == "序号" else ""
        total = sum(int(r["exposure"]) for r in rows)
        unlabelled = where == "end" and rng.random() < 0.25
        spots = {"end": [n], "middle": [rng.randrange(1, n)], "both": [rng.randrange(1, n), n]}[where]
        totals = []
        for spot in sorted(spots, reverse=True):
            row = {"exposure": str(total) if unlabelled or rng.random() < 0.6 else ""}
            if not unlabelled:
                lab = rng.choice(_TOTAL_LABELS)
                places = ["name", "sector"] + (["extra"] if extra is not None else [])
                row[rng.choice(places)] = lab
            rows.insert(spot, row)
            totals.append(row)
        # a row blank in every recognised column is skipped as blank (documented), even with
        # a total word in an unrecognised column: either way is fine for such a row
        lines_ = [line(j) for j, r in enumerate(rows) if any(r is t for t in totals)
                  and any(r.get(k) for k in ("name", "exposure", "pd", "lgd", "rho", "sector"))]
        expect = "error" if lines_ else None
        at = [(tape, ln) for ln in lines_]
        needles = [f"line {ln} looks like a total row" for ln in lines_]
        if unlabelled:
            needles.append("is the sum of the other")
        if where == "both" and rng.random() < 0.5 and not unlabelled:
            for t in totals:  # the same label in the id column twice: not a repeated id
                for k in ("sector", "extra"):
                    t.pop(k, None)
                t["name"] = "小计"
            needles.append("!loan id")
        label = (f"{'an unlabelled' if unlabelled else len(totals)} total row(s) at {where}"
                 + (f", a {extra!r} column" if extra else ""))
    elif choice == 3:  # amounts and units
        how = rng.choice(["wan", "yi", "huge", "unit", "cells", "yuan"])
        exp_col = cols.index(next(c for c in cols if c[1] == "exposure"))
        base_header = cols[exp_col][0]
        wan = [rng.choice([50, 100, 150, 300, 800, 2000, 12.5]) for _ in range(n)]
        if how == "wan":
            values = [f"{v:g}" for v in wan]
        elif how == "yi":
            values = [rng.choice(["0.05", "0.1", "0.3"]) for _ in range(n)]
        elif how == "huge":
            values = [str(rng.choice([2_000_000_000, 5_000_000_000, 9_000_000_000])) for _ in range(n)]
        elif how == "unit":
            unit = rng.choice(["(万元)", "（万元）", " (万元)", "(单位：万元)"])
            cols[exp_col] = (base_header + unit, "exposure")
            values = [f"{v:g}" for v in wan]
        elif how == "cells":
            values = [f"{v:g}万" for v in wan]
        else:
            values = [str(int(v * 10_000)) for v in wan]
        for r, v in zip(rows, values):
            r["exposure"] = v
        warned = how in ("wan", "yi", "huge")
        needles = [(":1: exposure: warning: the median loan is" if warned
                    else "!the median loan is")]
        verify = _expect_lines(needles)
        if how in ("unit", "cells") and rng.random() < 0.5:  # the same loans in yuan
            canon = [dict(r, exposure=str(int(v * 10_000))) for r, v in zip(rows, wan)]
            yuan_cols = list(cols)
            yuan_cols[exp_col] = ("exposure", "exposure")
            extra_files["t/canon.csv"] = _render_tape(yuan_cols, canon).encode("utf-8")
            verify = _same_runs(entry, "t/canon.toml", f"amounts in 万元 ({how})", verify)
        label = f"amounts: {how} under {cols[exp_col][0]!r}"
    elif choice == 4:  # product names
        pcol = rng.choice(["product", "产品", "产品类型"])
        cols.append((pcol, "product"))
        canon_of = []
        for r in rows:
            c = rng.choices(["credit", "guaranteed", "insured"], [2, 1, 1])[0]
            r["product"] = rng.choice(_PRODUCT_SPELLINGS[c])
            canon_of.append(c)
        bad = []
        if rng.random() < 0.35:
            bad = sorted(rng.sample(range(n), rng.randrange(1, min(3, n) + 1)))
            for j in bad:
                rows[j]["product"] = rng.choice(_UNKNOWN_PRODUCTS)
        need_g = any(c == "guaranteed" for j, c in enumerate(canon_of) if j not in bad)
        need_i = any(c == "insured" for j, c in enumerate(canon_of) if j not in bad)
        mode = "both" if bad else rng.choice(["both", "both", "missing", "two_named",
                                              "two_unnamed"])
        g = '[[guarantors]]\nname = "g1"\nnet_assets = "10亿"\n'
        i = '[[insurers]]\nname = "i1"\n'
        if mode == "both":
            parties = g + i
        elif mode == "missing":
            parties = rng.choice([g, i, ""])
        elif mode == "two_named":
            parties = g + g.replace("g1", "g2") + i
            portfolio = 'guarantor = "g2"\n'
        else:
            parties = g + g.replace("g1", "g2") + i
        if bad:
            expect = "error"
            at = [(tape, line(j)) for j in bad]
            needles = [f":{line(j)}: product: unknown product" for j in bad]
        elif (need_g and "g1" not in parties) or (need_i and "i1" not in parties) or \
                (need_g and mode == "two_unnamed"):
            expect = "error"
            text = _TAPEROWS.format(tape="loans.csv", portfolio=portfolio, parties=parties)
            at = [(entry, text.splitlines().index("[portfolio]") + 1)]
        elif rng.random() < 0.4:
            canon = [dict(r, product=c) for r, c in zip(rows, canon_of)]
            extra_files["t/canon.csv"] = _render_tape(cols, canon).encode("utf-8")
            verify = _same_runs(entry, "t/canon.toml", "product names")
        label = (f"products under {pcol!r}: " + ", ".join(sorted({r['product'] for r in rows}))
                 + f"; parties {mode}")
    else:  # values outside the typical ranges: warnings at the first line
        key = rng.choice(["pd", "lgd", "rho"])
        k = rng.randrange(1, min(7, n) + 1)
        picked = sorted(rng.sample(range(n), k))
        for j in picked:
            rows[j][key] = rng.choice(_OUTSIDE_TYPICAL[key])
        shown = ", ".join(str(line(j)) for j in picked[:5]) + (", ..." if k > 5 else "")
        needles = [f"loans.csv:{line(picked[0])}: {key}: warning: {k} of {n} loans "
                   f"{'has' if k == 1 else 'have'} {key} outside the typical range",
                   f"({'line' if k == 1 else 'lines'} {shown}: "]
        label = f"{k} {key} value(s) outside the typical range"

    text = _render_tape(cols, rows)
    data, enc = _encode_tape(rng, text)
    files = {entry: _TAPEROWS.format(tape="loans.csv", portfolio=portfolio,
                                     parties=parties).encode("utf-8"), tape: data}
    if "t/canon.csv" in extra_files:
        files.update(extra_files)
        files["t/canon.toml"] = _TAPEROWS.format(tape="canon.csv", portfolio=portfolio,
                                                 parties=parties).encode("utf-8")
    if verify is None and needles:
        verify = _expect_lines(needles)
    elif verify is not None and needles and choice != 3:
        verify = _chain(_expect_lines(needles), verify)
    case = Case("taperows", f"{label} ({n} loans, {enc})"[:300], files, entry, expect=expect,
                at=at, verify=verify)
    case.run = expect == "ok" and rng.random() < 0.15
    return case


def _chain(*checks: Callable[[Path, int, str], str | None]) -> Callable[[Path, int, str], str | None]:
    def verify(root: Path, rc: int, err: str) -> str | None:
        for c in checks:
            failure = c(root, rc, err)
            if failure is not None:
                return failure
        return None

    return verify
