"""Plots, the HTML report and notebook display (simpool.outputs.plots, simpool.outputs.report)."""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

from simpool import load_scenario, plots, simulate  # noqa: E402
from simpool.cli import main  # noqa: E402
from simpool.analysis.compare import compare  # noqa: E402
from simpool.outputs.report import assumptions, build_html  # noqa: E402
from simpool.analysis.sensitivity import tornado, tornado_table  # noqa: E402
from simpool.analysis.solve import Figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOTH = ROOT / "scenarios" / "whatif" / "hubei_with_angel_fund.toml"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def res():
    return simulate(load_scenario(BOTH), paths=1500)


def _render(fig, path: Path) -> bytes:
    """Save to PNG, failing on any missing glyph (CJK text must render)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
        fig.savefig(path, dpi=60)
    matplotlib.pyplot.close(fig)
    return path.read_bytes()


def _labelled(fig) -> bool:
    ax = fig.axes[0]
    return bool(ax.get_title()) and bool(ax.get_xlabel()) and bool(ax.get_ylabel())


def test_every_standard_plot_renders_labelled(res, tmp_path):
    figs = plots.standard_figures(res)
    expected = {"who_pays", "loss_net", "loss_bank", "loss_government", "pool_provincial_credit",
                "pool_knowledge_value", "pool_insurance_pool", "pool_survival",
                "leverage_hubei_tech_guarantors", "fund_hubei_angel", "public_money"}
    assert set(figs) == expected
    for name, fig in figs.items():
        assert _labelled(fig), name
        assert _render(fig, tmp_path / f"{name}.png").startswith(PNG), name


def test_money_axes_use_wan_and_yi(res, tmp_path):
    fig = plots.who_pays(res)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert any("亿" in t for t in labels), labels
    _render(fig, tmp_path / "w.png")


def test_comparison_and_tornado_charts(tmp_path):
    base = load_scenario(ROOT / "scenarios" / "hubei_base.toml")
    fee = load_scenario(ROOT / "scenarios" / "whatif" / "fee_half.toml")
    table = compare(base, [fee], paths=1000)
    assert _render(plots.compare_chart(table), tmp_path / "c.png").startswith(PNG)
    fig = Figure("gross", "EL")
    f0, se0, swings = tornado(str(ROOT / "scenarios" / "hubei_base.toml"), fig, paths=300,
                              only=["cohorts.kv_credit.pd", "pools.knowledge_value.cash"])
    assert _render(plots.tornado_chart(tornado_table(f0, se0, swings), fig),
                   tmp_path / "t.png").startswith(PNG)


def test_a_full_cjk_font_never_drops_a_character(tmp_path):
    """The font is the full Noto Sans CJK SC installed with simpool: every character of
    GB 2312's level-1 hanzi (3,755, the common ones) and the title that the old 290-glyph
    subset cut short are drawn; a character no font has is named in a warning, not dropped."""
    import warnings

    import matplotlib

    from simpool.errors import SimpoolWarning

    path = plots.cjk_font_path()
    assert path is not None and path.endswith("NotoSansCJKsc-Regular.otf")
    level1 = bytes(b for hi in range(0xB0, 0xD8) for lo in range(0xA1, 0xFF)
                   for b in (hi, lo) if not (hi == 0xD7 and lo > 0xF9)).decode("gb2312")
    assert len(level1) == 3755 and plots.missing_glyphs(level1) == ""
    title = "湖北科技担保压力测试（光电子违约率上调）"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Glyph ... missing" and ours
        assert plots.text(title) == title
        _, plt = plots._mpl()
        fig, ax = plt.subplots()
        ax.set_title(plots.text(title))
        fig.savefig(tmp_path / "t.png")
        plt.close(fig)
    assert matplotlib.rcParams["font.family"][1] == plots.setup_fonts()
    with pytest.warns(SimpoolWarning, match="no available font can draw"):
        assert plots.text("fund \U000F0000") == "fund \U000F0000"  # a private-use character


def test_report_is_one_self_contained_file(res, tmp_path):
    page = build_html(res, res.summary_rows(), argv=["simpool", "report"])
    for anchor in ("id='headline'", "id='public-money'", "id='plots'", "id='assumptions'",
                   "id='scenario'"):
        assert anchor in page, anchor
    imgs = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(imgs) == 11  # the public-money chart sits in its own section
    section = page[page.index("id='public-money'"):page.index("id='plots'")]
    for level in ("provincial", "city", "district", "all levels"):
        assert f"<td class='l'>{level}</td>" in section, level
    assert "99% VaR" in section and "alt='public money'" in section
    assert all(base64.b64decode(b)[:8] == PNG for b in imgs)
    assert "src='http" not in page and "<script" not in page  # nothing to fetch
    assert "P(breach, fund)" in page and "&plusmn; se" in page
    tags = {t for _, _, t, _ in assumptions(res.scenario)}
    assert tags == {"A", "S"}
    assert page.count("class='l tag-A'") >= 10


def test_cli_report_with_whatifs_and_pdf(tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(ROOT / "scenarios" / "hubei_base.toml"), "--compare",
                 str(ROOT / "scenarios" / "whatif" / "fee_half.toml"), "--paths", "800",
                 "--out", str(out), "--pdf", "--quiet"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "id='whatifs'" in page and "fee_half" in page
    assert out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert main(["report", str(ROOT / "scenarios" / "hubei_base.toml"), "--out",
                 str(tmp_path / "r.txt"), "--paths", "500", "--quiet"]) == 2


def test_results_display_in_a_notebook(res):
    h = res._repr_html_()
    assert h.count("<tr>") > 10 and "P(breach, fund)" in h and "亿" in h


def test_report_and_sensitivity_say_each_step_off_a_terminal(tmp_path, capsys):
    """Not on a terminal (a log, a pipe: pytest's capture), the long commands print one line
    a step instead of a bar, and nothing with --quiet."""
    assert main(["report", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"),
                 "--paths", "200", "--out", str(tmp_path / "r.html")]) == 0
    err = capsys.readouterr().err
    assert "report: simulating worked_4222, 200 paths ..." in err
    assert "report: writing the page" in err
    assert main(["sensitivity", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"),
                 "--measure", "gross", "--statistic", "EL", "--paths", "200",
                 "--levers", "cohorts.one_loan.lgd", "--out", str(tmp_path / "s")]) == 0
    err = capsys.readouterr().err
    assert "sensitivity: " in err and "runs done" in err
    assert main(["report", str(ROOT / "scenarios" / "examples" / "worked_4222.toml"),
                 "--paths", "200", "--out", str(tmp_path / "q.html"), "--quiet"]) == 0
    assert "report:" not in capsys.readouterr().err
