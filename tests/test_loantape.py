"""Tests for simpool.scenario.loantape: reading and validating loan tapes (CSV / Parquet)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simpool.errors import ScenarioError
from simpool.scenario.loantape import COLUMN_ALIASES, LoanTape, read_loan_tape
from simpool.scenario.tapecells import _parse_money_cell

HEADER = "name,exposure,pd,lgd,rho,sector\n"
GOOD = HEADER + "L1,1000000,0.02,0.45,0.12,manufacturing\nL2,2500000,0.05,0.4,0.1,software\n"


def write(tmp_path, content, name="loans.csv", encoding="utf-8"):
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_bytes(content.encode(encoding))
    return p


def problems(path, **kw):
    """Read a tape that must fail; return its error lines as str (file shown as loans.csv)."""
    kw.setdefault("shown_as", "loans.csv")
    with pytest.raises(ScenarioError) as ei:
        read_loan_tape(path, **kw)
    return [str(p) for p in ei.value.problems]


# --------------------------------------------------------------------------- happy paths


def test_reads_a_clean_utf8_tape(tmp_path):
    tape = read_loan_tape(write(tmp_path, GOOD), shown_as="loans.csv")
    assert isinstance(tape, LoanTape)
    assert len(tape) == 2
    assert tape.file == "loans.csv"
    assert list(tape.name) == ["L1", "L2"]
    np.testing.assert_array_equal(tape.exposure, [1e6, 2.5e6])
    np.testing.assert_array_equal(tape.pd, [0.02, 0.05])
    np.testing.assert_array_equal(tape.lgd, [0.45, 0.4])
    np.testing.assert_array_equal(tape.rho, [0.12, 0.1])
    np.testing.assert_array_equal(tape.lgd_std, [0.0, 0.0])
    assert list(tape.sector) == ["manufacturing", "software"]
    assert list(tape.product) == ["credit", "credit"]
    for arr in (tape.exposure, tape.pd, tape.lgd, tape.rho, tape.lgd_std):
        assert arr.dtype == np.float64
    assert tape.sector.dtype.kind == "U" and tape.product.dtype.kind == "U"
    assert tape.warnings == ()
    with pytest.raises(ValueError):
        tape.pd[0] = 0.5  # arrays are read-only


def test_defaults_for_optional_columns(tmp_path):
    p = write(tmp_path, "exposure,pd,lgd,rho,sector,lgd_std,product,name\n"
                        "1,0.1,0.5,0.2,a,,,\n2,0.1,0.5,0.2,a,0.1,guarantee,X\n")
    tape = read_loan_tape(p)
    assert list(tape.name) == ["row1", "X"]
    assert list(tape.product) == ["credit", "guaranteed"]  # 'guarantee' is accepted
    np.testing.assert_array_equal(tape.lgd_std, [0.0, 0.1])


def test_utf8_with_bom_and_messy_headers(tmp_path):
    content = " Exposure ,PD,Lgd,RHO, Sector \n1,0.1,0.5,0.2,a\n"
    tape = read_loan_tape(write(tmp_path, content, encoding="utf-8-sig"))
    assert tape.exposure[0] == 1 and tape.sector[0] == "a"


def test_gbk_file_with_chinese_headers_is_detected(tmp_path):
    content = ("贷款编号,贷款余额,违约概率,违约损失率,资产相关性,所属行业,产品类型\n"
               "科创001,500万,2%,45%,0.12,集成电路,担保贷款\n"
               "科创002,1.2亿,0.01,0.5,0.15,生物医药,信用贷\n")
    p = write(tmp_path, content, encoding="gbk")
    tape = read_loan_tape(p)
    assert list(tape.name) == ["科创001", "科创002"]
    np.testing.assert_allclose(tape.exposure, [5e6, 1.2e8])
    np.testing.assert_allclose(tape.pd, [0.02, 0.01])
    np.testing.assert_allclose(tape.lgd, [0.45, 0.5])
    assert list(tape.sector) == ["集成电路", "生物医药"]
    assert list(tape.product) == ["guaranteed", "credit"]
    # the same with the encoding given explicitly
    tape2 = read_loan_tape(p, encoding="gbk", sectors=["集成电路", "生物医药"])
    assert list(tape2.sector) == ["集成电路", "生物医药"]


def test_all_documented_aliases_are_recognised(tmp_path):
    for field, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            cols = {"exposure": "1", "pd": "0.1", "lgd": "0.5", "rho": "0.2", "sector": "a"}
            value = cols.pop(field, {"lgd_std": "0.1", "product": "insured"}.get(field, "x"))
            header = ",".join([*cols, alias])
            row = ",".join([*cols.values(), value])
            tape = read_loan_tape(write(tmp_path, f"{header}\n{row}\n"))
            got = getattr(tape, field)[0]
            assert str(got) == value or float(got) == float(value), (field, alias)


def test_wrong_explicit_encoding_names_the_line(tmp_path):
    p = write(tmp_path, "exposure,pd,lgd,rho,sector\n1,0.1,0.5,0.2,a\n1,0.1,0.5,0.2,制造业\n",
              encoding="gbk")
    assert problems(p, encoding="utf-8") == [
        "loans.csv:3: cannot decode the file as 'utf-8' (byte 0xd6 is not valid there); "
        "check portfolio.encoding"]


def test_unknown_encoding_name(tmp_path):
    assert problems(write(tmp_path, GOOD), encoding="gbkk") == [
        "loans.csv: unknown encoding 'gbkk' in portfolio.encoding; use e.g. \"utf-8\", \"gbk\" "
        "or \"gb18030\""]


def test_non_text_codec_is_rejected(tmp_path):
    (msg,) = problems(write(tmp_path, GOOD), encoding="base64")
    assert msg.startswith("loans.csv: unknown encoding 'base64'")


def test_utf16_excel_unicode_text(tmp_path):
    content = "exposure\tpd\tlgd\trho\tsector\n1\t0.1\t0.5\t0.2\t软件\n"
    tape = read_loan_tape(write(tmp_path, content, name="loans.txt", encoding="utf-16"))
    assert list(tape.sector) == ["软件"]


# --------------------------------------------------------------------------- bad files


def test_undecodable_text(tmp_path):
    p = write(tmp_path, b"exposure,pd\n\x81\x20\x81\x20,1\n")
    assert problems(p) == ["loans.csv: cannot decode the file as UTF-8 or GBK; set "
                           "portfolio.encoding (e.g. \"gbk\")"]


def test_binary_junk_is_a_clear_error(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(20):
        junk = rng.integers(0, 256, size=int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
        msgs = problems(write(tmp_path, junk, name=f"j{i}.csv"))
        assert msgs and all(m.startswith("loans.csv") for m in msgs)


def test_zip_renamed_csv(tmp_path):
    p = tmp_path / "loans.csv"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    (msg,) = problems(p)
    assert "zip archive" in msg and "Excel" in msg


def test_parquet_bytes_in_a_csv(tmp_path):
    (msg,) = problems(write(tmp_path, b"PAR1\x00\x00junk"))
    assert msg == "loans.csv: this is a Parquet file; give it a .parquet extension"


@pytest.mark.parametrize("content", ["", "  \n\n", "exposure,pd,lgd,rho,sector\n",
                                     "exposure,pd,lgd,rho,sector",
                                     "exposure,pd,lgd,rho,sector\n,,,,\n\n"])
def test_no_loans(tmp_path, content):
    assert problems(write(tmp_path, content)) == ["loans.csv: the loan tape has no loans"]


def test_missing_file_directory_and_extension(tmp_path):
    (msg,) = problems(tmp_path / "nope.csv")
    assert msg.startswith("loans.csv: file not found (looked for ") and "nope.csv" in msg
    (tmp_path / "dir.csv").mkdir()
    (msg,) = problems(tmp_path / "dir.csv")
    assert msg.startswith("loans.csv: is a directory")
    (msg,) = problems(write(tmp_path, "x", name="loans.xlsx"))
    assert msg == ("loans.csv: unsupported file type '.xlsx'; a loan tape must be .csv, .txt, "
                   ".tsv, .parquet, .pq; save Excel workbooks as CSV")


# --------------------------------------------------------------------------- headers


def test_missing_column_with_did_you_mean(tmp_path):
    p = write(tmp_path, "exposure,pd,lgdd,rho,sector\n1000000,0.1,0.5,0.2,a\n")
    with pytest.raises(ScenarioError) as ei:
        read_loan_tape(p, shown_as="loans.csv")
    assert [str(x) for x in ei.value.problems] == [
        "loans.csv:1: missing required column 'lgd' (did you mean 'lgdd'?); also accepted: "
        "违约损失率, LGD"]
    assert [str(w) for w in ei.value.warnings] == [
        "loans.csv:1: warning: ignoring unknown columns: 'lgdd' (did you mean 'lgd'?)"]


def test_sector_column_optional_with_default_sector(tmp_path):
    p = write(tmp_path, "exposure,pd,lgd,rho\n1,0.1,0.5,0.2\n")
    assert problems(p)[0].startswith("loans.csv:1: missing required column 'sector'")
    tape = read_loan_tape(p, default_sector="general", sectors=["general"])
    assert list(tape.sector) == ["general"]
    assert problems(p, default_sector="genral", sectors=["general"]) == [
        "loans.csv: sector: default sector 'genral' is not one of the scenario's sectors "
        "(did you mean 'general'?)"]


def test_duplicate_alias_columns(tmp_path):
    p = write(tmp_path, "余额,金额,pd,lgd,rho,sector\n1,1,0.1,0.5,0.2,a\n")
    assert problems(p) == ["loans.csv:1: columns '余额' and '金额' both give exposure; keep only one"]
    p = write(tmp_path, "pd,PD,exposure,lgd,rho,sector\n0.1,0.1,1,0.5,0.2,a\n")
    assert problems(p) == ["loans.csv:1: columns 'pd' and 'PD' both give pd; keep only one"]


def test_two_name_columns_use_the_first_alias_and_warn(tmp_path):
    p = write(tmp_path, "借款人,贷款编号,exposure,pd,lgd,rho,sector\n甲公司,D-1,1000000,0.1,0.5,0.2,a\n")
    tape = read_loan_tape(p, shown_as="loans.csv")
    assert list(tape.name) == ["D-1"]
    assert [str(w) for w in tape.warnings] == [
        "loans.csv:1: warning: using column '贷款编号' for the loan name; ignoring '借款人'"]


@pytest.mark.parametrize("col", ["count", "loans", "Loans", "笔数"])
def test_count_columns_are_rejected(tmp_path, col):
    p = write(tmp_path, f"exposure,pd,lgd,rho,sector,{col}\n1,0.1,0.5,0.2,a,3\n")
    assert problems(p) == [
        f"loans.csv:1: column '{col}' is not allowed: a loan tape has one row per loan; describe "
        "groups of identical loans with [[cohorts]] in the scenario instead"]


def test_unknown_columns_are_a_warning(tmp_path):
    p = write(tmp_path, "exposure,pd,lgd,rho,sector,branch,exposure_old,lgd_stdev\n"
                        "1000000,0.1,0.5,0.2,a,x,y,0.1\n")
    tape = read_loan_tape(p, shown_as="loans.csv")
    assert [str(w) for w in tape.warnings] == [
        "loans.csv:1: warning: ignoring unknown columns: 'branch', 'exposure_old', "
        "'lgd_stdev' (did you mean 'lgd_std'?)"]
    assert tape.warnings[0].severity == "warning"


def test_header_units(tmp_path):
    content = ("贷款余额（万元）,违约概率(%),LGD,rho,sector\n"
               "500,2,45%,0.1,a\n"
               "\"1,200\",1.5%,0.5,0.1,a\n"
               "3亿元,0.5,0.5,0.1,a\n")
    tape = read_loan_tape(write(tmp_path, content))
    np.testing.assert_allclose(tape.exposure, [5e6, 1.2e7, 3e8])
    np.testing.assert_allclose(tape.pd, [0.02, 0.015, 0.005])
    p = write(tmp_path, "Exposure (亿元),PD [%],lgd,rho,sector,贷款编号（单位：户）\n"
                        "1.5,3,0.5,0.2,a,x\n")
    tape = read_loan_tape(p)
    assert tape.exposure[0] == 1.5e8 and tape.pd[0] == 0.03 and tape.name[0] == "x"
    p = write(tmp_path, "余额(美元),pd,lgd,rho,sector\n1,0.1,0.5,0.2,a\n")
    assert problems(p) == ["loans.csv:1: column '余额(美元)': unknown unit '美元' for exposure; "
                           "use 元, 千元, 万元, 百万元, 千万元 or 亿元"]


# --------------------------------------------------------------------------- values


def test_percent_and_chinese_money_strings(tmp_path):
    content = ("exposure,pd,lgd,rho,sector,lgd_std\n"
               "500万,2%,45%,12%,a,10%\n"
               "1.2亿,0.5%,0.4,0.1,a,0\n"
               "\"1,000,000\",1,0.4,0.1,a,0\n"
               "1000000元,0,0.4,0.1,a,0\n"
               "0.3千万,0,0.4,0.1,a,0\n"
               "2百万元,0,0.4,0.1,a,0\n"
               "¥5万,0,0.4,0.1,a,0\n")
    tape = read_loan_tape(write(tmp_path, content))
    np.testing.assert_allclose(tape.exposure, [5e6, 1.2e8, 1e6, 1e6, 3e6, 2e6, 5e4])
    np.testing.assert_allclose(tape.pd, [0.02, 0.005, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(tape.lgd[:2], [0.45, 0.4])
    np.testing.assert_allclose(tape.rho[0], 0.12)
    np.testing.assert_allclose(tape.lgd_std[0], 0.1)
    tape = read_loan_tape(write(tmp_path, "exposure,pd(%),lgd,rho,sector\n1,7,7%,0.7‰,a\n"))
    assert (tape.pd[0], tape.lgd[0], tape.rho[0]) == (0.07, 0.07, 0.0007)  # exact, not 0.07000..1


def test_bad_values_of_each_kind(tmp_path):
    content = HEADER + (
        "A,abc,0.02,0.45,0.12,a\n"      # line 2: exposure not a number
        "B,-5,1.5,0.45,0.12,a\n"        # line 3: exposure < 0, pd > 1
        "C,1,,0.45,1,a\n"               # line 4: pd missing, rho = 1
        "D,1,0.02,-0.1,0.12,\n"         # line 5: lgd < 0, sector missing
        "E,1,2%x,150%,0.12,a\n"         # line 6: pd not a number, lgd > 1 from a percent
        "F,inf,0.02,0.45,-0.01,a\n")    # line 7: exposure inf, rho < 0
    assert problems(write(tmp_path, content)) == [
        "loans.csv:2: exposure: not a number: 'abc' (expected yuan, e.g. 1500000, 150万 or 1.5亿)",
        "loans.csv:3: exposure: must be a finite amount in yuan >= 0, got -5",
        "loans.csv:7: exposure: must be a finite amount in yuan >= 0, got inf",
        "loans.csv:3: pd: must be a probability in [0, 1], got 1.5; write percentages with a % "
        "sign, e.g. 2%",
        "loans.csv:4: pd: missing value",
        "loans.csv:6: pd: not a number: '2%x' (expected a number, e.g. 0.02 or 2%)",
        "loans.csv:5: lgd: must be a fraction in [0, 1], got -0.1",
        "loans.csv:6: lgd: must be a fraction in [0, 1], got 1.5 (cell '150%')",
        "loans.csv:4: rho: must be in [0, 1), got 1",
        "loans.csv:7: rho: must be in [0, 1), got -0.01",
        "loans.csv:5: sector: missing value",
    ]


def test_lgd_std_checks(tmp_path):
    content = ("exposure,pd,lgd,rho,sector,lgd_std\n"
               "1,0.1,0.5,0.2,a,0.6\n1,0.1,1,0.2,a,0.1\n1,0.1,0.5,0.2,a,-1\n1,0.1,0.5,0.2,a,0.3\n")
    assert problems(write(tmp_path, content)) == [
        "loans.csv:2: lgd_std: must be below sqrt(lgd*(1-lgd)) = 0.5 for a Beta LGD with mean "
        "0.5, got 0.6",
        "loans.csv:3: lgd_std: must be 0 when lgd is 1 (a Beta LGD needs 0 < lgd < 1), got 0.1",
        "loans.csv:4: lgd_std: must be a finite number >= 0, got -1",
    ]


def test_unknown_sector_with_did_you_mean(tmp_path):
    p = write(tmp_path, GOOD.replace("software", "sofware"))
    assert problems(p, sectors=["manufacturing", "software"]) == [
        "loans.csv:3: sector: unknown sector 'sofware' (did you mean 'software'?); the "
        "scenario's sectors are: manufacturing, software"]


def test_bad_cells_are_capped_per_column(tmp_path):
    rows = "".join(f"L{i},1,{'x' if i % 2 else 0.1},0.5,0.2,a\n" for i in range(30))
    msgs = problems(write(tmp_path, HEADER + rows), max_reported=3)
    assert msgs == [
        "loans.csv:3: pd: not a number: 'x' (expected a number, e.g. 0.02 or 2%)",
        "loans.csv:5: pd: not a number: 'x' (expected a number, e.g. 0.02 or 2%)",
        "loans.csv:7: pd: not a number: 'x' (expected a number, e.g. 0.02 or 2%)",
        "loans.csv: pd: ... and 12 more rows with bad 'pd'",
    ]


def test_line_numbers_with_blank_rows_and_quoted_newlines(tmp_path):
    content = ("exposure,pd,lgd,rho,sector,name\n"
               "1,0.1,0.5,0.2,a,\"multi\nline\nname\"\n"   # lines 2-4
               "\n"                                         # line 5: skipped
               ",,,,,\n"                                    # line 6: skipped
               "2,0.1,0.5,0.2,a,\"say \"\"hi\"\"\"\n"       # line 7
               "3,0.1,0.5,2,a,z\n")                         # line 8
    assert problems(write(tmp_path, content)) == [
        "loans.csv:8: rho: must be in [0, 1), got 2; write percentages with a % sign, e.g. 2%"]
    tape = read_loan_tape(write(tmp_path, content.replace(",2,a,z", ",0.2,a,z")))
    assert list(tape.name) == ["multi\nline\nname", 'say "hi"', "z"]


def test_crlf_line_ends_and_unclosed_quote(tmp_path):
    content = 'exposure,pd,lgd,rho,sector,name\r\n1,0.1,0.5,0.2,a,"x\r\ny"\r\n\r\n2,0.1,0.5,3,a,z'
    assert problems(write(tmp_path, content)) == [
        "loans.csv:5: rho: must be in [0, 1), got 3; write percentages with a % sign, e.g. 2%"]
    content = 'exposure,pd,lgd,rho,sector,name\n1,0.1,0.5,0.2,a,x\n2,0.1,0.5,0.2,a,"z\n\n'
    assert problems(write(tmp_path, content)) == [
        'loans.csv:3: a quoted field is never closed: this row has a " without its closing "']


def test_rows_with_too_many_fields(tmp_path):
    content = HEADER + ("A,1,000,000,0.02,0.45,0.12,a\n"
                        "B,1,0.02,0.45,0.12,a,\n"        # a trailing empty field is fine
                        "C,1,0.02,0.45,0.12,a,x\n")
    hint = ("; is there an unquoted separator in a value (e.g. 1,000,000)? quote the value or "
            "drop the thousands separators")
    assert problems(write(tmp_path, content)) == [
        f"loans.csv:2: this row has 8 fields but the header has 6{hint}",
        f"loans.csv:4: this row has 7 fields but the header has 6{hint}",
    ]


def test_tsv_and_txt(tmp_path):
    content = GOOD.replace(",", "\t")
    for name in ("loans.tsv", "loans.txt"):
        tape = read_loan_tape(write(tmp_path, content, name=name))
        assert list(tape.sector) == ["manufacturing", "software"]
    p = write(tmp_path, HEADER.replace(",", "\t") + "A\t1\t7\t0.45\t0.12\ta\n", name="loans.tsv")
    assert problems(p) == ["loans.csv:2: pd: must be a probability in [0, 1], got 7; write "
                           "percentages with a % sign, e.g. 2%"]


# --------------------------------------------------------------------------- parquet


def test_parquet_round_trip_and_row_numbers(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"贷款编号": ["a", "b", "c"], "exposure": [1e6, 2e6, 3e6],
                      "违约概率": ["1%", "0.02", None], "lgd": [0.4, 0.4, 0.4],
                      "rho": [0.1, 0.1, 0.1], "行业": pa.array(["x", "y", "x"]).dictionary_encode(),
                      "extra": [1, 2, 3]})
    p = tmp_path / "loans.parquet"
    pq.write_table(table.slice(0, 2), p)
    tape = read_loan_tape(p, shown_as="loans.parquet")
    assert list(tape.name) == ["a", "b"]
    np.testing.assert_allclose(tape.pd, [0.01, 0.02])
    assert list(tape.sector) == ["x", "y"]
    assert [w.message for w in tape.warnings] == ["ignoring unknown columns: 'extra'"]
    pq.write_table(table, p)
    assert problems(p, shown_as="loans.parquet") == ["loans.parquet: pd: missing value (row 3)"]


def test_corrupt_parquet(tmp_path):
    (msg,) = problems(write(tmp_path, b"not parquet at all", name="loans.parquet"))
    assert msg.startswith("loans.csv: not a readable Parquet file")


# --------------------------------------------------------------------------- scale


def test_million_row_tape_reports_the_exact_line(tmp_path):
    n = 1_000_000
    row = b"1000000,0.02,0.45,0.12,manufacturing\n"
    bad_at = n - 7  # 0-based data row
    body = row * bad_at + b"1000000,0.02,0.45,1.12,manufacturing\n" + row * (n - bad_at - 1)
    p = write(tmp_path, b"exposure,pd,lgd,rho,sector\n" + body)
    assert problems(p) == [f"loans.csv:{bad_at + 2}: rho: must be in [0, 1), got 1.12; write "
                           "percentages with a % sign, e.g. 2%"]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=10**12))
def test_money_cell_parser(n):
    assert _parse_money_cell(f"{n:,}") == (float(n), False)
    assert _parse_money_cell(f"{n}万") == (n * 1e4, True)
    assert _parse_money_cell(f" {n} 亿元 ") == (n * 1e8, True)
    assert _parse_money_cell(f"{n},") is None
