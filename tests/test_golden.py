"""Golden tables: every shipped scenario's key figures at a fixed seed (tests/golden/*.csv).

Each table is re-checked in-process with the tolerance of :mod:`simpool.testing.golden`
(``max(1e-9, 1e-9 |golden|, 0.5 se)``: see its docstring for why not bit-exact). Regenerate a
table, after reviewing why it moved, with ``python -m simpool.testing.golden --update scenarios/x.toml``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from simpool import golden
from simpool.errors import ScenarioError

SCENARIOS = golden.shipped_scenarios()
IDS = [p.relative_to(golden.SCENARIO_DIR).as_posix() for p in SCENARIOS]
BASE = golden.SCENARIO_DIR / "hubei_base.toml"
WORKED = golden.SCENARIO_DIR / "examples" / "worked_4222.toml"

_computed: dict = {}


def computed(scenario: Path, paths: int | None = None) -> golden.Computed:
    """One simulation per scenario and path count for the whole module."""
    if paths is None:
        _, meta = golden.golden_files(scenario)
        paths = json.loads(meta.read_text(encoding="utf-8"))["paths"] if meta.is_file() \
            else golden.DEFAULT_PATHS
    key = (Path(scenario).resolve(), paths)
    if key not in _computed:
        _computed[key] = golden.compute(scenario, paths)
    return _computed[key]


# --------------------------------------------------------------------------- the shipped tables
@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_golden_table_matches(scenario):
    try:
        comp = computed(scenario)
    except ScenarioError as e:
        pytest.fail(f"{golden.shown(scenario)} does not load:\n" + "\n".join(map(str, e.problems)))
    res = golden.check(scenario, computed=comp)
    assert res.ok, "\n" + res.report()


def test_every_shipped_scenario_has_a_golden_table():
    assert BASE in SCENARIOS and WORKED in SCENARIOS
    missing = [s for s in SCENARIOS if not all(p.is_file() for p in golden.golden_files(s))]
    assert not missing, "scenarios without a golden table (.csv and .json); create them with:\n" \
        + "\n".join(f"    {golden.update_command(s)}" for s in missing)


def test_every_golden_table_has_a_scenario():
    orphans = golden.orphan_goldens()
    assert not orphans, "golden tables whose scenario is gone (delete them, and their .json):\n" \
        + "\n".join(f"    {golden.shown(o)}" for o in orphans)
    for j in golden.GOLDEN_DIR.glob("*.json"):
        assert j.with_suffix(".csv").is_file(), f"{golden.shown(j)} without its .csv"


# --------------------------------------------------------------------------- the check itself
def _copy_golden(scenario: Path, tmp_path: Path) -> tuple[Path, list[golden.Figure]]:
    csv_path, json_path = golden.golden_files(scenario)
    shutil.copy(json_path, tmp_path / json_path.name)
    return tmp_path / csv_path.name, golden.read_golden(csv_path)


def _write(path: Path, figures) -> None:
    path.write_text(golden.figures_csv(figures), encoding="utf-8")


def _check(scenario: Path, tmp_path: Path) -> golden.CheckResult:
    return golden.check(scenario, golden_dir=tmp_path, computed=computed(scenario))


def _replace(figs, i, **kw):
    figs = list(figs)
    figs[i] = figs[i]._replace(**kw)
    return figs


def test_perturbed_golden_value_is_detected(tmp_path):
    path, figs = _copy_golden(BASE, tmp_path)
    i = next(i for i, f in enumerate(figs) if f.measure == "gross" and f.statistic == "EL"
             and f.year is None)
    g = figs[i]
    assert g.se > 0

    _write(path, figs)
    assert _check(BASE, tmp_path).ok

    # within half a standard error: accepted
    _write(path, _replace(figs, i, value=g.value + 0.4 * g.se))
    assert _check(BASE, tmp_path).ok

    # beyond it: detected, with a readable table and the command that regenerates
    _write(path, _replace(figs, i, value=g.value + 0.6 * g.se))
    res = _check(BASE, tmp_path)
    assert not res.ok
    assert [((d.key[1], d.key[4]), d.column) for d in res.diffs] == [(("gross", "EL"), "value")]
    report = res.report()
    assert "python -m simpool.testing.golden --update scenarios/hubei_base.toml" in report
    assert "gross" in report and "EL" in report and "diff/se" in report

    # a standard error off by a factor 3 either way (the band is +-50% of the golden se)
    for factor in (3.0, 0.4):
        _write(path, _replace(figs, i, se=factor * g.se))
        assert [d.column for d in _check(BASE, tmp_path).diffs] == ["se"]


def test_exact_figures_nan_and_rows_are_checked(tmp_path):
    path, figs = _copy_golden(WORKED, tmp_path)
    # the worked example is exact: bank EL 14, SE 0; a 1e-6 relative change is detected
    i = next(i for i, f in enumerate(figs) if f.measure == "bank" and f.statistic == "EL")
    assert figs[i].value == 14.0 and figs[i].se == 0.0
    _write(path, _replace(figs, i, value=14.0 * (1 + 1e-6)))
    assert [d.column for d in _check(WORKED, tmp_path).diffs] == ["value"]
    _write(path, _replace(figs, i, value=14.0 * (1 + 1e-10)))
    assert _check(WORKED, tmp_path).ok

    # a number where the figure is NaN, and NaN where it is a number
    _write(path, _replace(figs, i, value=math.nan))
    assert [d.why for d in _check(WORKED, tmp_path).diffs] == ["golden is NaN"]
    comp = computed(WORKED)
    new = _replace(comp.figures, i, value=math.nan)
    assert [d.why for d in golden.compare(figs, new)] == ["became NaN"]
    assert golden.compare(_replace(figs, i, value=math.nan), new) == []

    # a vanished row and a new row
    _write(path, figs[:i] + figs[i + 1:])
    assert [d.why for d in _check(WORKED, tmp_path).diffs] == ["new row"]
    assert [d.why for d in golden.compare(figs, comp.figures[:i] + comp.figures[i + 1:])] \
        == ["row missing"]

    # no table at all
    path.unlink()
    res = _check(WORKED, tmp_path)
    assert res.missing and not res.ok
    assert "python -m simpool.testing.golden --update scenarios/examples/worked_4222.toml" in res.report()


def test_table_round_trips_exactly(tmp_path):
    figs = computed(BASE).figures
    path = tmp_path / "t.csv"
    _write(path, figs)
    back = golden.read_golden(path)
    assert len(back) == len(figs)
    for a, b in zip(figs, back):
        assert a.key == b.key
        for col in ("param", "value", "se"):
            x, y = getattr(a, col), getattr(b, col)
            assert (math.isnan(x) and math.isnan(y)) or x == y


def test_golden_names():
    assert golden.golden_stem(WORKED) == "examples__worked_4222"
    csv_path, json_path = golden.golden_files(BASE)
    assert (csv_path.name, json_path.name) == ("hubei_base.csv", "hubei_base.json")


# --------------------------------------------------------------------------- the command
def test_command_update_check_and_skip(tmp_path, monkeypatch, capsys):
    """End to end on a scratch tree: write, check, detect a change, skip what does not load."""
    sdir, gdir = tmp_path / "scenarios", tmp_path / "golden"
    (sdir / "examples").mkdir(parents=True)
    shutil.copy(WORKED, sdir / "examples" / WORKED.name)
    (sdir / "broken.toml").write_text("[simulation]\npaths = -1\n", encoding="utf-8")
    monkeypatch.setattr(golden, "SCENARIO_DIR", sdir)
    monkeypatch.setattr(golden, "GOLDEN_DIR", gdir)

    assert golden.main(["--update", "--paths", "500"]) == golden.EXIT_BAD_INPUT
    out = capsys.readouterr()
    assert "examples__worked_4222.csv" in out.out and "broken.toml: does not load" in out.err
    assert sorted(p.name for p in gdir.iterdir()) == ["examples__worked_4222.csv",
                                                      "examples__worked_4222.json"]
    assert json.loads((gdir / "examples__worked_4222.json").read_text())["paths"] == 500

    target = sdir / "examples" / WORKED.name
    assert golden.main([str(target)]) == golden.EXIT_OK
    out = capsys.readouterr().out
    assert ": ok (" in out and "figures, 500 paths" in out

    csv_path = gdir / "examples__worked_4222.csv"
    csv_path.write_text(csv_path.read_text().replace(",bank,,ultimate,EL,,14.0,", ",bank,,ultimate,EL,,15.0,"))
    assert golden.main([str(target)]) == golden.EXIT_MISMATCH
    out = capsys.readouterr().out
    assert "1 DIFFERENCE(S)" in out and "--update" in out

    # a whole-tree check also reports the broken file, and a table without a scenario
    (gdir / "gone.csv").write_text(",".join(golden.COLUMNS) + "\n")
    assert golden.main([]) == golden.EXIT_MISMATCH
    out = capsys.readouterr()
    assert "gone.csv: golden table without a scenario" in out.out
    assert "broken.toml: does not load" in out.err

    assert golden.main(["--paths", "10"]) == golden.EXIT_BAD_INPUT
    assert golden.main([str(WORKED)]) == golden.EXIT_BAD_INPUT   # not under the scenario folder
