"""Labels and units in English and Chinese, and tables people open in Excel (issue 23)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import simpool
from simpool.cli.main import main
from simpool.analysis.labels import glossary, label, language, missing_terms, unit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rows():
    """Every kind of summary row: the default, the loan book with an angel fund, the fund."""
    out = []
    for f in ("hubei_base.toml", "whatif/hubei_with_angel_fund.toml", "angel_fund.toml"):
        out += simpool.simulate(ROOT / "scenarios" / f, paths=300).summary_rows()
    return out


def test_every_summary_label_has_a_chinese_form(rows):
    """The glossary covers every measure and statistic the shipped scenarios report."""
    assert missing_terms(rows) == []
    zh = {label(r.measure, r.statistic, r.param, r.product, r.basis, "zh") for r in rows}
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in zh)
    g = glossary()
    for term in ("国家融资担保基金", "省再担保", "原担保机构", "合作银行", "地方政府",
                 "风险补偿资金池", "科技保险风险补偿资金池", "财政成本"):
        assert term in str(g), term


@pytest.mark.parametrize("args, en, zh", [
    (("gross", "VaR", 0.99, "", "ultimate"), "gross (ultimate): VaR 99%", "总损失（最终）：99% VaR"),
    (("gross", "P(L>x)", 5e9, "", "ultimate"), "gross (ultimate): P(loss > 50.00亿)",
     "总损失（最终）：P(损失 > 50.00亿)"),
    (("guarantee_balance", "P(>= 5e+10)", 5e10, "", ""), "guarantee_balance: P(>= 500.00亿)",
     "科技担保在保余额：P(≥ 500.00亿)"),
    (("bank", "EL", math.nan, "guaranteed", "cash"), "bank [guaranteed] (cash): EL",
     "合作银行（融资担保，期内现金）：预期损失"),
    (("fiscal:city", "NPV", math.nan, "", "cash"), "fiscal:city (cash): NPV",
     "财政成本：市级（期内现金）：净现值"),
])
def test_labels_read_as_people_write(args, en, zh):
    assert label(*args) == en and label(*args, lang="zh") == zh


@pytest.mark.parametrize("measure, statistic, u", [
    ("gross", "EL", "yuan"), ("pool:a", "P(depleted by year)", "probability"),
    ("defaults", "mean", "count"), ("borrowers", "end of year", "count"),
    ("fiscal", "subsidy rate", "ratio"), ("lending_removed", "by pool:a leverage target", "yuan"),
    ("guarantor:g", "leverage (weighted liability)", "ratio"),
    ("lending", "loans outstanding (end of year)", "count"),
])
def test_units(measure, statistic, u):
    assert unit(measure, statistic) == u


def test_language_choice(monkeypatch):
    monkeypatch.delenv("SIMPOOL_LANG", raising=False)
    sc = simpool.load_scenario({"cohorts": [{"name": "c", "loans": 1, "exposure": 1, "pd": 0.1,
                                             "lgd": 1, "rho": 0}], "report": {"lang": "zh"}})
    assert language() == "en" and language(None, sc) == "zh" and language("en", sc) == "en"
    monkeypatch.setenv("SIMPOOL_LANG", "en")
    assert language(None, sc) == "en"
    monkeypatch.setenv("SIMPOOL_LANG", "fr")
    with pytest.raises(ValueError, match="SIMPOOL_LANG: unknown language 'fr'; allowed: en, zh"):
        language()


def test_chinese_run_console_csv_and_xlsx(tmp_path, capsys, monkeypatch):
    """--lang zh: the console and the label column in Chinese, the program columns as
    before; the workbook has the summary first, number formats by unit, a frozen header,
    filters and numbers stored as numbers."""
    import openpyxl
    import pandas as pd

    monkeypatch.delenv("SIMPOOL_LANG", raising=False)
    out = tmp_path / "o"
    assert main(["run", str(ROOT / "scenarios" / "hubei_base.toml"), "--paths", "300",
                 "--lang", "zh", "--format", "csv,xlsx", "--out", str(out), "--quiet"]) == 0
    df = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    el = df[(df.measure == "gross") & (df.statistic == "EL") & df.year.isna() & df["product"].isna()]
    assert el.label.item() == "总损失（最终）：预期损失" and el.unit.item() == "yuan"
    wb = openpyxl.load_workbook(out / "summary.xlsx")
    assert wb.sheetnames[0] == "summary"
    ws = wb["summary"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    head = [c.value for c in ws[1]]
    v, u = head.index("value") + 1, head.index("unit") + 1
    formats = {}
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row):
        assert isinstance(row[v - 1].value, (int, float))
        formats.setdefault(row[u - 1].value, row[v - 1].number_format)
    assert formats["yuan"].endswith('"亿"') and formats["probability"] == "0.00%"
    assert formats["count"] == "#,##0"
    assert ws.column_dimensions["K"].width > 20  # the label column is wide enough
    monkeypatch.delenv("SIMPOOL_LANG", raising=False)
    main(["run", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"), "--paths", "100",
          "--lang", "zh", "--out", str(tmp_path / "w")])
    text = capsys.readouterr().out
    assert "全部年份" in text and "预期损失" in text and "指标" in text


def test_swept_values_are_numbers_in_the_workbook(tmp_path):
    import openpyxl

    out = tmp_path / "s"
    assert main(["sweep", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"), "--sweep",
                 "cohorts.one_loan.lgd=0.5,0.7", "--paths", "100", "--format", "csv,xlsx",
                 "--out", str(out), "--quiet"]) == 0
    wb = openpyxl.load_workbook(out / "summary.xlsx")
    ws = wb["summary"]
    head = [c.value for c in ws[1]]
    col = head.index("cohorts.one_loan.lgd") + 1
    vals = {ws.cell(row=i, column=col).value for i in range(2, ws.max_row + 1)}
    assert vals == {0.5, 0.7}


def test_one_number_format_in_sweep_solve_and_counts(tmp_path, capsys):
    """sweep prints a headline line per variant, money in 万/亿; counts print as integers."""
    from simpool.analysis.headline import format_value

    assert main(["sweep", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"), "--sweep",
                 "cohorts.one_loan.lgd=0.5,0.7", "--paths", "100", "--out", str(tmp_path / "s"),
                 "--fresh"]) == 0
    text = capsys.readouterr().out
    assert "cohorts.one_loan.lgd=0.5" in text and "cohorts.one_loan.lgd=0.7" in text
    assert "50元 ± 0元" in text and "70元 ± 0元" in text  # gross EL = 100 x lgd
    assert main(["sweep", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"), "--sweep",
                 "cohorts.one_loan.lgd=0.5,0.7", "--paths", "100", "--out", str(tmp_path / "z"),
                 "--lang", "zh"]) == 0
    text = capsys.readouterr().out
    assert "总损失（最终）预期损失" in text and "情景" in text and "70元 ± 0元" in text
    assert format_value(18535.6, "end of year", "borrowers") == "18,536"
    assert format_value(7.14015e8, "EL", "net") == "7.14亿"


def test_a_report_in_chinese(tmp_path, monkeypatch):
    """The report rendered in Chinese decodes and carries the section titles and Chinese
    labels of the headline figures; the English one is unchanged."""
    monkeypatch.delenv("SIMPOOL_LANG", raising=False)
    out = tmp_path / "r.html"
    assert main(["report", str(ROOT / "scenarios" / "hubei_base.toml"), "--paths", "300",
                 "--lang", "zh", "--out", str(out), "--quiet"]) == 0
    page = out.read_bytes().decode("utf-8")
    for title in ("主要结果", "公共资金（财政成本）", "方案目标的实现概率", "图表",
                  "假设与有出处的参数", "完整情景参数"):
        assert f">{title}</h2>" in page, title
    assert "<html lang='zh-CN'>" in page and "预期损失" in page and "各级合计" in page
    # the notes say what a figure means, whole, in Chinese (a memo, not a half-translated page)
    for words in ("最终口径", "期内现金口径", "各方最终损失之和等于总损失", "百年一遇",
                  "国有资本", "实现概率：在目标年份末", "表示假设", "风险补偿资金池 knowledge_value 放大倍数目标"):
        assert words in page, words
    import re

    prose = re.sub(r"<(pre|style|code)>.*?</\1>|<[^>]+>|data:[^']*", " ", page, flags=re.S)
    for english in ("A party's loss", "Budget money", "the share of paths", "marks an assumption",
                    "New lending each constraint", "nothing binds", "leverage target", "Command"):
        assert english not in prose, english
    en = tmp_path / "e.html"
    assert main(["report", str(ROOT / "scenarios" / "hubei_base.toml"), "--paths", "300",
                 "--out", str(en), "--quiet"]) == 0
    en_page = en.read_text(encoding="utf-8")
    assert ">Headline figures</h2>" in en_page and "A party's loss is shown on two bases" in en_page
    assert "pool:knowledge_value leverage target" in en_page and "最终口径" not in en_page


def test_plots_in_chinese(monkeypatch, tmp_path):
    """SIMPOOL_LANG=zh: the standard figures' titles, axes and legends are Chinese, and every
    character is drawn (no missing glyph)."""
    import warnings

    from simpool.outputs import plots

    res = simpool.simulate(ROOT / "scenarios" / "hubei_base.toml", paths=300)
    monkeypatch.setenv("SIMPOOL_LANG", "zh")
    from simpool.errors import SimpoolWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing")  # matplotlib's
        warnings.simplefilter("error", SimpoolWarning)  # ours: a character no font draws
        figs = plots.standard_figures(res)
        for fig in figs.values():
            fig.savefig(tmp_path / "f.png")
    who = figs["who_pays"].axes[0]
    assert "各方承担" in who.get_title() and who.get_xlabel() == "年份"
    legend = [t.get_text() for t in who.get_legend().get_texts()]
    assert "合作银行" in legend and "国家融资担保基金" in legend
    assert "资金池余额（元）" == figs["pool_knowledge_value"].axes[0].get_ylabel()
    _, plt = plots._mpl()
    plt.close("all")


def test_readable_tables_for_notebooks(monkeypatch):
    """simpool.readable: a summary or comparison selection with labels in the chosen language
    and every figure in its own format (亿/万, %, whole counts), the rows kept."""
    import pandas as pd

    monkeypatch.delenv("SIMPOOL_LANG", raising=False)
    s = pd.DataFrame({"scenario": "x", "year": [None, 2026, None],
                      "measure": ["gross", "pool:kv", "borrowers"], "product": "",
                      "basis": ["ultimate", "", ""],
                      "statistic": ["VaR", "P(depleted by year)", "end of year"],
                      "param": [0.99, float("nan"), float("nan")],
                      "value": [3.518002e9, 0.0123, 18535.6], "se": [2.5e7, 0.0011, 12.3]},
                     index=[7, 8, 9])
    en = simpool.readable(s)
    assert list(en.index) == [7, 8, 9]
    assert list(en.columns) == ["period", "scenario", "measure", "statistic", "value", "± se"]
    assert en.loc[7].tolist() == ["all years", "x", "gross (ultimate)", "VaR 99%", "35.18亿",
                                  "2,500.0万"]
    assert en.loc[8, "value"] == "1.230%" and en.loc[8, "period"] == "2026"
    assert en.loc[9, "value"] == "18,536"
    zh = simpool.readable(s, "zh")
    assert zh.loc[7].tolist() == ["全部年份", "x", "总损失（最终）", "99% VaR", "35.18亿",
                                  "2,500.0万"]
    monkeypatch.setenv("SIMPOOL_LANG", "zh")
    assert simpool.readable(s).columns[0] == "期间"
    c = s.drop(columns=["value", "se"]).assign(base=1e8, whatif=1.5e8, diff=5e7, se_diff=1e6)
    cz = simpool.readable(c)
    assert list(cz.columns[-4:]) == ["基准", "情景值", "差值", "± 差值标准误"]
    assert cz.loc[7, "差值"] == "5,000.0万"


@pytest.mark.parametrize("name", ["hubei_base", "angel_fund"])
def test_one_number_format_agrees_with_the_unit_column(name):
    """Every figure printed by run, compare, the report and notebooks (format_value) is
    written in its summary unit: yuan in 元/万/亿, probabilities in %, counts whole."""
    from simpool.analysis.headline import format_value

    s = simpool.simulate(simpool.example(name), paths=200).summary()
    for r in s.drop_duplicates(["measure", "statistic"]).itertuples():
        u, f = unit(r.measure, r.statistic), format_value(r.value, r.statistic, r.measure)
        if f == "":
            continue
        if u == "yuan":
            assert f.endswith(("元", "万", "亿")), (r.measure, r.statistic, f)
        elif u == "probability":
            assert f.endswith("%"), (r.measure, r.statistic, f)
        elif u == "count":
            assert f.replace(",", "").lstrip("-").isdigit(), (r.measure, r.statistic, f)
        else:
            assert not f.endswith(("元", "万", "亿")), (r.measure, r.statistic, f)
