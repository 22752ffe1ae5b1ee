"""Loan tapes as people really write them (issue 18, item 7): repeated loan ids, Excel total
rows, amounts in 万元 under a header without a unit, values outside typical ranges, and
product names in Chinese."""

from __future__ import annotations

import numpy as np
import pytest

from simpool.cli import main
from simpool.errors import ScenarioError
from simpool.scenario.loantape import PRODUCT_ALIASES, read_loan_tape
from simpool.scenario import load_scenario, scenario_warnings


def write(tmp_path, content, name="loans.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(content.encode(encoding))
    return p


def errors(path, **kw):
    kw.setdefault("shown_as", "loans.csv")
    with pytest.raises(ScenarioError) as ei:
        read_loan_tape(path, **kw)
    return [str(p) for p in ei.value.problems]


def scenario(tmp_path, extra="", loans="loans.csv"):
    p = tmp_path / "s.toml"
    p.write_text(f'[simulation]\npaths = 1000\n[portfolio]\nloans_file = "{loans}"\n{extra}',
                 encoding="utf-8")
    return p


HEAD = "exposure,pd,lgd,rho,sector"
ROW = "1000000,0.02,0.45,0.12,a"
# for scenarios: their only sector is the default one ("tech")
SHEAD = "exposure,pd,lgd,rho"
SROW = "1000000,0.02,0.45,0.12"


# --------------------------------------------------------------------------- duplicate ids


@pytest.mark.parametrize("header", ["name", "loan_id", "Loan ID", "id", "ID", "借据号", "借据编号",
                                    "贷款编号", "编号"])
def test_a_repeated_loan_id_is_an_error_listing_its_lines(tmp_path, header):
    p = write(tmp_path, f"{header},{HEAD}\nL1,{ROW}\nL2,{ROW}\nL1,{ROW}\nL3,{ROW}\nL1,{ROW}\n")
    assert errors(p) == [
        f"loans.csv:4: name: loan id 'L1' (column {header!r}) is on 3 rows (lines 2, 4, 6): "
        "each row is one loan, so it would be counted 3 times; remove the repeated rows, or set "
        "portfolio.allow_duplicate_ids = true if they are different loans"]
    tape = read_loan_tape(p, allow_duplicate_ids=True)  # the switch
    assert list(tape.name) == ["L1", "L2", "L1", "L3", "L1"] and tape.warnings == ()


def test_common_id_headers_are_the_loan_name_not_unknown_columns(tmp_path):
    for header in ("loan_id", "id", "借据号", "借据编号"):
        tape = read_loan_tape(write(tmp_path, f"{header},{HEAD}\nX-7,{ROW}\n"))
        assert list(tape.name) == ["X-7"] and tape.warnings == (), header


def test_borrower_names_may_repeat_and_an_id_column_is_preferred(tmp_path):
    p = write(tmp_path, f"借款人,{HEAD}\n甲公司,{ROW}\n甲公司,{ROW}\n")
    assert list(read_loan_tape(p).name) == ["甲公司", "甲公司"]  # one borrower, two loans
    p = write(tmp_path, f"企业名称,借据号,{HEAD}\n甲公司,J1,{ROW}\n甲公司,J2,{ROW}\n")
    tape = read_loan_tape(p, shown_as="loans.csv")
    assert list(tape.name) == ["J1", "J2"]
    assert [str(w) for w in tape.warnings] == [
        "loans.csv:1: warning: using column '借据号' for the loan name; ignoring '企业名称'"]
    p = write(tmp_path, f"借款人,借据号,{HEAD}\n甲公司,J1,{ROW}\n乙公司,J1,{ROW}\n")
    (msg,) = errors(p)
    assert msg.startswith("loans.csv:3: name: loan id 'J1' (column '借据号') is on 2 rows "
                          "(lines 2, 3)")


def test_many_repeated_ids_are_capped(tmp_path):
    rows = "".join(f"L{i % 30},{ROW}\n" for i in range(90))
    msgs = errors(write(tmp_path, f"name,{HEAD}\n{rows}"), max_reported=2)
    assert len(msgs) == 3 and msgs[-1] == "loans.csv: name: ... and 28 more loan ids on several rows"
    assert "'L0'" in msgs[0] and "(lines 2, 32, 62)" in msgs[0] and "'L1'" in msgs[1]


def test_repeated_ids_in_parquet_name_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p = tmp_path / "loans.parquet"
    pq.write_table(pa.table({"借据号": ["J1", "J2", "J1"], "exposure": [1e6] * 3, "pd": [0.02] * 3,
                             "lgd": [0.4] * 3, "rho": [0.1] * 3, "sector": ["x"] * 3}), p)
    (msg,) = errors(p, shown_as="loans.parquet")
    assert msg.startswith("loans.parquet: name: loan id 'J1' (column '借据号') is on 2 rows "
                          "(rows 1, 3)")


def test_portfolio_allow_duplicate_ids_switch(tmp_path):
    write(tmp_path, f"贷款编号,{SHEAD}\nD1,{SROW}\nD1,{SROW}\n")
    with pytest.raises(ScenarioError) as ei:
        load_scenario(scenario(tmp_path))
    (p,) = ei.value.problems
    assert (p.file.endswith("loans.csv"), p.line, p.path) == (True, 3, "name")
    sc = load_scenario(scenario(tmp_path, "allow_duplicate_ids = true\n"))
    assert len(sc.tape) == 2 and sc.portfolio.allow_duplicate_ids is True
    assert load_scenario(scenario(tmp_path), load_tape=False).portfolio.allow_duplicate_ids is False


# --------------------------------------------------------------------------- total rows


def test_excel_total_row_is_an_error_naming_its_line(tmp_path):
    content = (f"序号,借款人,{HEAD}\n"
               f"1,甲公司,{ROW}\n2,乙公司,{ROW}\n3,丙公司,{ROW}\n"
               "合计,,3000000,,,,\n")
    p = write(tmp_path, content, encoding="gbk")
    # one clear error, not 'missing value' for its blank pd, lgd, rho and sector
    assert errors(p) == ["loans.csv:5: line 5 looks like a total row (合计): delete it from the "
                         "tape"]


@pytest.mark.parametrize("label", ["合计", "总计", "本页小计", "Total", "TOTAL:", "Subtotal",
                                   "Sum", "Grand Total"])
def test_total_labels_in_a_known_column(tmp_path, label):
    p = write(tmp_path, f"name,{HEAD}\nA,{ROW}\nB,{ROW}\n{label},2000000,0.02,0.45,0.12,a\n")
    (msg,) = errors(p)
    assert msg.startswith("loans.csv:4: line 4 looks like a total row (")
    assert msg.endswith("): delete it from the tape")


def test_total_row_without_a_label_is_found_by_its_sum(tmp_path):
    content = (f"name,{HEAD}\nA,1500000,0.02,0.45,0.12,a\nB,2500000,0.03,0.45,0.12,a\n"
               f"C,1000000,0.02,0.45,0.12,a\n,5000000,,,,\n")
    assert errors(write(tmp_path, content)) == [
        "loans.csv:5: line 5 looks like a total row (its exposure, 5000000, is the sum of the "
        "other 3 rows'): delete it from the tape"]


def test_a_complete_loan_equal_to_the_sum_of_the_others_is_only_a_warning(tmp_path):
    content = (f"name,{HEAD}\nA,1000000,0.02,0.45,0.12,a\nB,2000000,0.03,0.45,0.12,a\n"
               f"C,3000000,0.02,0.45,0.12,a\n")
    tape = read_loan_tape(write(tmp_path, content), shown_as="loans.csv")
    assert len(tape) == 3
    assert [str(w) for w in tape.warnings] == [
        "loans.csv:4: exposure: warning: 3000000 is the sum of all the other rows' exposures: if "
        "line 4 is a total row, delete it from the tape"]
    # two rows are not enough to tell
    tape = read_loan_tape(write(tmp_path, f"{HEAD}\n{ROW}\n{ROW}\n"))
    assert tape.warnings == ()


def test_names_that_merely_contain_total_words_are_loans(tmp_path):
    p = write(tmp_path, f"name,{HEAD}\nTotalEnergies,{ROW}\nSummit Tech,{ROW}\n"
                        f"Consumer total care,{ROW}\n")
    assert len(read_loan_tape(p)) == 3


def test_total_row_in_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    p = tmp_path / "loans.parquet"
    pq.write_table(pa.table({"name": ["a", "b", "合计"], "exposure": [1e6, 2e6, 3e6],
                             "pd": [0.02, 0.02, None], "lgd": [0.4, 0.4, None],
                             "rho": [0.1, 0.1, None], "sector": ["x", "x", None]}), p)
    assert errors(p, shown_as="loans.parquet") == [
        "loans.parquet: row 3 looks like a total row (合计): delete it from the tape"]


# --------------------------------------------------------------------------- 万元 as yuan


def test_amounts_in_wan_under_a_header_without_unit_warn(tmp_path):
    content = "贷款余额,违约概率,违约损失率,资产相关性,行业\n150,0.02,0.45,0.12,a\n300,0.02,0.45,0.12,a\n80,0.02,0.45,0.12,a\n"
    tape = read_loan_tape(write(tmp_path, content), shown_as="loans.csv")
    assert [str(w) for w in tape.warnings] == [
        "loans.csv:1: exposure: warning: the median loan is 150 yuan: if the amounts are in 万元, "
        "write the header as 贷款余额(万元) (plain numbers are read as yuan)"]
    tape = read_loan_tape(write(tmp_path, f"{HEAD}\n0.05,0.02,0.45,0.12,a\n"), shown_as="loans.csv")
    assert [w.message for w in tape.warnings] == [
        "the median loan is 0.05 yuan: if the amounts are in 亿元, write the header as exposure "
        "(亿元) (plain numbers are read as yuan)"]
    tape = read_loan_tape(write(tmp_path, f"{HEAD}\n5000000000,0.02,0.45,0.12,a\n"))
    assert [w.message for w in tape.warnings] == [
        "the median loan is 5000000000 yuan, over 10亿 yuan: check the amounts and the unit of "
        "column 'exposure' (plain numbers are read as yuan; a unit goes in the header, e.g. "
        "exposure (万元))"]


def test_no_unit_warning_when_the_header_or_the_cells_carry_a_unit(tmp_path):
    for content in ("贷款余额(万元),pd,lgd,rho,sector\n150,0.02,0.45,0.12,a\n",
                    "贷款余额（元）,pd,lgd,rho,sector\n1500000,0.02,0.45,0.12,a\n",
                    "exposure,pd,lgd,rho,sector\n150万,0.02,0.45,0.12,a\n",
                    "exposure,pd,lgd,rho,sector\n1500000,0.02,0.45,0.12,a\n"):
        tape = read_loan_tape(write(tmp_path, content))
        assert tape.warnings == (), content
        assert tape.exposure[0] == 1.5e6


# --------------------------------------------------------------------------- typical ranges


def test_tape_values_outside_typical_ranges_warn_like_cohorts(tmp_path):
    rows = ["L1,1000000,0.5,0.45,0.12", "L2,1000000,0.02,0.45,0.12",
            "L3,1000000,0.3,0.95,0.12", "L4,1000000,0.02,0.45,0.5"]
    rows += [f"M{i},1000000,0.6,0.45,0.12" for i in range(6)]
    write(tmp_path, "name,exposure,pd,lgd,rho\n" + "\n".join(rows) + "\n")
    sc = load_scenario(scenario(tmp_path))
    got = {w.path: w for w in scenario_warnings(sc) if w.file.endswith("loans.csv")}
    assert set(got) == {"pd", "rho", "lgd"}
    assert got["pd"].line == 2 and got["pd"].severity == "warning"
    assert got["pd"].message == (
        "8 of 10 loans have pd outside the typical range [0.0, 0.2] (lines 2, 4, 6, 7, 8, ...: "
        "0.5, 0.3, 0.6, 0.6, 0.6, ...): typical annual PD of tech-SME loans is 0.02 (base) to "
        "0.08 (stress)")
    assert got["lgd"].message == (
        "1 of 10 loans has lgd outside the typical range [0.1, 0.9] (line 4: 0.95): typical "
        "ultimate LGD is 0.3 to 0.8")
    assert got["rho"].line == 5 and "(line 5: 0.5): the Basel IRB range" in got["rho"].message


def test_typical_range_warnings_in_parquet_name_rows(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"exposure": [1e6, 1e6], "pd": [0.02, 0.5], "lgd": [0.4, 0.4],
                             "rho": [0.1, 0.1]}), tmp_path / "loans.parquet")
    sc = load_scenario(scenario(tmp_path, loans="loans.parquet"))
    (w,) = [w for w in scenario_warnings(sc) if w.path == "pd"]
    assert w.line is None and "(row 2: 0.5)" in w.message


def test_validate_prints_the_tape_range_warning(tmp_path, capsys):
    write(tmp_path, f"name,{SHEAD}\nL1,1000000,0.5,0.45,0.12\n")
    assert main(["validate", str(scenario(tmp_path))]) == 0
    err = capsys.readouterr().err
    assert "loans.csv:2: pd: warning: 1 of 1 loan has pd outside the typical range" in err


# --------------------------------------------------------------------------- products


def test_products_in_chinese_and_any_case_map_to_the_routes(tmp_path):
    spellings = [(a, p) for p, aliases in PRODUCT_ALIASES.items() for a in (p, *aliases)]
    spellings += [("Credit", "credit"), ("GUARANTEED", "guaranteed"), (" Insurance ", "insured"),
                  ("", "credit")]
    rows = "".join(f"L{i},{ROW},{a}\n" for i, (a, _) in enumerate(spellings))
    tape = read_loan_tape(write(tmp_path, f"name,{HEAD},产品类型\n{rows}"))
    assert list(tape.product) == [p for _, p in spellings]
    assert tape.product.dtype.kind == "U"


def test_unknown_product_is_an_error_with_its_line_and_the_allowed_values(tmp_path):
    p = write(tmp_path, f"name,{HEAD},product\nL1,{ROW},credit\nL2,{ROW},insurd\nL3,{ROW},知识产权质押\n")
    allowed = ("allowed: credit (信用, 信用贷款, 信用贷); guaranteed (guarantee, 担保, 担保贷款, "
               "融资担保); insured (insurance, 保险, 保证保险, 贷款保证保险, 信用保证保险)")
    assert errors(p) == [
        f"loans.csv:3: product: unknown product 'insurd' (did you mean 'insured'?); {allowed}",
        f"loans.csv:4: product: unknown product '知识产权质押'; {allowed}"]


def test_validate_rejects_an_unknown_product(tmp_path, capsys):
    write(tmp_path, f"name,{SHEAD},产品\nL1,{SROW},保理\n")
    assert main(["validate", str(scenario(tmp_path))]) == 2
    assert "loans.csv:2: product: unknown product '保理'" in capsys.readouterr().err


def test_run_with_an_insured_tape_written_in_chinese(tmp_path):
    # before: `simpool validate` said ok and `simpool run` died with KeyError: '保险'
    write(tmp_path, f"name,{SHEAD},产品\nL1,{SROW},保险\nL2,{SROW},担保\nL3,{SROW},信用\n")
    scen = scenario(tmp_path, '[[insurers]]\nname = "i"\n[[guarantors]]\nname = "g"\n'
                              'net_assets = "10亿"\n')
    out = tmp_path / "o"
    assert main(["run", str(scen), "--paths", "200", "--quiet", "--out", str(out)]) == 0
    assert (out / "summary.csv").exists()
    assert main(["validate", str(scen)]) == 0
    sc = load_scenario(scen)
    assert list(sc.tape.product) == ["insured", "guaranteed", "credit"]
    assert (sc.portfolio.insurer, sc.portfolio.guarantor) == ("i", "g")


# --------------------------------------------------------------------------- lines and scale


def test_tape_line_array(tmp_path):
    content = f"name,{HEAD}\n\"a\nb\",{ROW}\n,,,,,\nc,{ROW}\n"
    tape = read_loan_tape(write(tmp_path, content))
    assert list(tape.line) == [2, 5] and list(tape.row) == [1, 3]
    assert tape.locate([0, 1]) == "lines 2, 5" and tape.first_line([1]) == 5


def test_checks_stay_vectorised_on_a_million_rows(tmp_path):
    import time

    n = 1_000_000
    ids = np.char.add("L", np.arange(n).astype(str))
    body = "\n".join(np.char.add(ids, ",1000000,0.02,0.45,0.12,a,担保")) + "\n"
    p = tmp_path / "big.csv"
    p.write_bytes((f"name,{HEAD},product\n" + body + "合计,1000000000000,,,,,\n").encode())
    t0 = time.perf_counter()
    msgs = errors(p)
    assert msgs == [f"loans.csv:{n + 2}: line {n + 2} looks like a total row (合计): delete it "
                    "from the tape"]
    assert time.perf_counter() - t0 < 30


def test_a_boolean_cell_beside_a_blank_row_is_an_error_not_a_crash(tmp_path):
    """Found by the soak fuzz: a cell pandas reads as a boolean (TRUE) in a column with a
    blank row made the total-row check crash (ArrowTypeError) instead of reporting it."""
    from simpool.cli import main

    (tmp_path / "t.csv").write_text("name;exposure;pd;lgd;rho;sector\nL1;TRUE;0.0771;0.795;"
                                    "0.198;gamma\n;;;;;\n", encoding="utf-8")
    f = tmp_path / "s.toml"
    f.write_text('[model]\nsectors = ["alpha", "beta", "gamma"]\n[portfolio]\n'
                 'loans_file = "t.csv"\n', encoding="utf-8")
    assert main(["validate", str(f)]) == 2
