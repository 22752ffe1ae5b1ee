"""The batch workflow under misuse (issue 18, items 1-6 and 12): each test runs the command
that gave a silent wrong number, lost a file or found a bad folder too late, and checks the
fix. Subprocesses are real ``python -m simpool`` processes (locks are per process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simpool import load_scenario, simulate
from simpool.cli import main
from simpool.outputs.outdir import LOCK, MANIFEST

ROOT = Path(__file__).resolve().parents[1]

BASE = """
title = "misuse base"
[simulation]
paths = 400
seed = 5
horizon_years = 2
[[cohorts]]
name = "c"
loans = 400
exposure = "100万"
pd = 0.03
lgd = 0.5
rho = 0.15
pool = "p"
[[pools]]
name = "p"
cash = "2000万"
"""


@pytest.fixture
def base(tmp_path) -> Path:
    p = tmp_path / "base.toml"
    p.write_text(BASE, encoding="utf-8")
    return p


def _gross_el(df: pd.DataFrame) -> pd.Series:
    rows = df[(df.measure == "gross") & (df.statistic == "EL") & df.year.isna()
              & df["product"].fillna("").eq("")]  # all programmes (not one of them)
    return rows.set_index("variant")["value"] if "variant" in df else rows["value"]


def _start(args, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simpool", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, **(env or {})})


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the process ended (exit {proc.returncode}) before {path} appeared: {err}")
        if time.time() > end:
            proc.kill()
            pytest.fail(f"{path} did not appear")
        time.sleep(0.02)


# ------------------------------------------------------------------ 1. seed and paths axes


def test_a_seed_and_paths_sweep_runs_each_variant_with_its_own(tmp_path, base, capsys):
    out = tmp_path / "o"
    assert main(["sweep", str(base), "--sweep", "simulation.seed=1,2,3",
                 "--sweep", "simulation.paths=300,1000", "--out", str(out), "--quiet"]) == 0
    table = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    el = _gross_el(table)
    assert len(el) == 6 and el.nunique() == 6  # before the fix: one figure six times
    for i, (seed, paths) in enumerate([(s, p) for s in (1, 2, 3) for p in (300, 1000)]):
        direct = simulate(load_scenario(base), paths=paths, seed=seed).summary()
        want = _gross_el(direct).iloc[0]
        label = f"simulation.seed={seed}, simulation.paths={paths}"
        assert el[label] == want
        prov = json.loads((out / "variants" / f"{i:04d}.json").read_text())
        assert (prov["seed"], prov["paths"]) == (seed, paths)
        resolved = (out / "variants" / f"{i:04d}.resolved.toml").read_text()
        assert f"seed = {seed}\n" in resolved and f"paths = {paths}\n" in resolved


def test_paths_flag_and_a_paths_axis_conflict(tmp_path, base, capsys):
    code = main(["sweep", str(base), "--sweep", "simulation.paths=[300, 700]", "--paths", "500",
                 "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
    assert "--paths sets every variant's simulation.paths" in capsys.readouterr().err


def test_run_resolved_scenario_says_the_paths_and_seed_run(tmp_path, base):
    out = tmp_path / "r"
    assert main(["run", str(base), "--paths", "250", "--seed", "9", "--out", str(out),
                 "--quiet"]) == 0
    resolved = (out / "scenario.resolved.toml").read_text()
    assert "paths = 250\n" in resolved and "seed = 9\n" in resolved
    prov = json.loads((out / "provenance.json").read_text())
    assert (prov["paths"], prov["seed"]) == (250, 9)


def test_the_few_paths_warning_is_about_the_paths_run(tmp_path, base, capsys):
    assert main(["run", str(base), "--paths", "5000", "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    assert "very wide standard errors" not in capsys.readouterr().err  # the file says 400
    big = tmp_path / "big.toml"
    big.write_text(BASE.replace("paths = 400", "paths = 50000"), encoding="utf-8")
    assert main(["run", str(big), "--paths", "300", "--out", str(tmp_path / "b"),
                 "--quiet"]) == 0
    assert "--paths: warning: 300 paths give very wide standard errors" in capsys.readouterr().err


# ------------------------------------------------------------------ 2. thousands separators


def test_a_number_with_thousands_separators_is_refused(tmp_path, base, capsys):
    out = tmp_path / "o"
    code = main(["sweep", str(base), "--sweep", "cohorts.c.exposure=1,500,000", "--out",
                 str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "1,500,000 reads as one number" in err and "3 variants" in err
    assert "1500000" in err and "1_500_000" in err and "150万" in err
    assert not (out / "summary.csv").exists()


def test_commas_still_separate_values_and_a_toml_array_works(tmp_path, base):
    out = tmp_path / "o"
    assert main(["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03", "--sweep",
                 "cohorts.c.exposure=[1_500_000, 2e6]", "--out", str(out), "--quiet"]) == 0
    variants = pd.read_csv(out / "variants.csv", encoding="utf-8-sig")
    assert len(variants) == 4
    assert sorted(set(variants["cohorts.c.exposure"])) == [1_500_000, 2_000_000]
    assert sorted(set(variants["cohorts.c.pd"])) == [0.02, 0.03]
    assert main(["sweep", str(base), "--sweep", "cohorts.c.loans=1,2", "--out",
                 str(tmp_path / "o2"), "--quiet"]) == 0  # "1,2" is two values


# ------------------------------------------------------------------ 3. folders: lock, kinds, sets


SLOW_SWEEP = ["--sweep", "cohorts.c.pd=0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08",
              "--paths", "2000", "--quiet"]


def test_two_sweeps_on_one_folder_one_waits_out(tmp_path, base):
    out = tmp_path / "o"
    # the holder pauses at its first variant, long enough for the other to start even on a
    # loaded machine
    env = {"SIMPOOL_TEST_PAUSE_WRITE": "0000.csv:6"}
    first = _start(["sweep", str(base), *SLOW_SWEEP, "--out", str(out)], env)
    second = _start(["sweep", str(base), *SLOW_SWEEP, "--out", str(out)], env)
    codes = sorted([first.wait(120), second.wait(120)])
    errs = first.stderr.read() + second.stderr.read()
    assert codes == [0, 1], errs
    assert "is being written by another simpool command (pid " in errs
    assert "sweep" in errs.split("pid ", 1)[1]  # names the holder's command
    table = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert len(_gross_el(table)) == 8
    assert not list(out.rglob("*.tmp")) and not (out / LOCK).exists()


def test_fresh_on_a_folder_another_sweep_is_writing_is_refused(tmp_path, base):
    out = tmp_path / "o"
    writer = _start(["sweep", str(base), *SLOW_SWEEP, "--out", str(out)],
                    {"SIMPOOL_TEST_PAUSE_WRITE": "0002.csv:3"})
    _wait_for(out / "variants" / "0001.csv", writer)
    other = BASE.replace("pd = 0.03", "pd = 0.09")
    (tmp_path / "other.toml").write_text(other, encoding="utf-8")
    code = main(["sweep", str(tmp_path / "other.toml"), "--sweep", "cohorts.c.lgd=0.4,0.6",
                 "--fresh", "--out", str(out), "--quiet"])
    assert code == 1
    assert writer.wait(120) == 0, writer.stderr.read()
    table = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    el = _gross_el(table)
    assert len(el) == 8 and el.is_monotonic_increasing  # every row is the writer's batch


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path, base):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK).write_text(json.dumps({"pid": 999_999_999, "command": ["simpool", "run"]}))
    assert main(["run", str(base), "--out", str(out), "--quiet"]) == 0
    victim = _start(["sweep", str(base), *SLOW_SWEEP, "--out", str(tmp_path / "s")],
                    {"SIMPOOL_TEST_PAUSE_WRITE": "0001.csv:30"})
    _wait_for(tmp_path / "s" / "variants" / "0000.csv", victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)
    assert main(["sweep", str(base), *SLOW_SWEEP, "--out", str(tmp_path / "s")]) == 0


def test_a_run_replaces_its_files_as_one_set(tmp_path, base):
    out = tmp_path / "r"
    assert main(["run", str(base), "--format", "csv,parquet,xlsx", "--out", str(out),
                 "--quiet"]) == 0
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(base), "--seed", "8", "--out", str(out), "--quiet"]) == 0
    assert not (out / "summary.parquet").exists() and not (out / "summary.xlsx").exists()
    assert (out / "notes.txt").read_text() == "mine"  # never simpool's: untouched
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["kind"] == "run" and manifest["complete"] is True
    assert set(manifest["files"]) == {"summary.csv", "scenario.resolved.toml", "provenance.json"}


def test_a_run_killed_before_its_summary_leaves_no_old_summary(tmp_path, base):
    out = tmp_path / "r"
    assert main(["run", str(base), "--out", str(out), "--quiet"]) == 0
    proc = _start(["run", str(base), "--seed", "77", "--out", str(out), "--quiet"],
                  {"SIMPOOL_TEST_PAUSE_WRITE": "summary.csv:60"})
    for line in proc.stderr:
        if line.startswith("simpool-test-pause:"):
            break
    else:
        pytest.fail(f"never paused (exit {proc.wait()})")
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert json.loads((out / "provenance.json").read_text())["seed"] == 77
    assert not (out / "summary.csv").exists()  # the old one is not paired with it
    assert json.loads((out / MANIFEST).read_text())["complete"] is False
    assert main(["run", str(base), "--seed", "77", "--out", str(out), "--quiet"]) == 0
    assert (out / "summary.csv").exists()


@pytest.mark.parametrize("first,second", [("run", "sweep"), ("sweep", "run")])
def test_a_folder_holds_one_kind_of_result(tmp_path, base, capsys, monkeypatch, first, second):
    out = tmp_path / "o"
    cmd = {"run": ["run", str(base)], "sweep": ["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03"]}
    assert main(cmd[first] + ["--out", str(out), "--quiet"]) == 0
    before = (out / "summary.csv").read_bytes()
    import simpool.engine.runner
    import simpool.analysis.simulation

    monkeypatch.setattr(simpool.analysis.simulation, "run_paths", lambda *a, **k: pytest.fail("simulated"))
    assert main(cmd[second] + ["--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"holds the results of a {first}" in err and "choose another --out" in err
    assert (out / "summary.csv").read_bytes() == before


# ------------------------------------------------------------------ 4. --fresh deletes only ours


def test_fresh_deletes_only_what_simpool_wrote(tmp_path, base):
    out = tmp_path / "o"
    args = ["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03", "--out", str(out), "--quiet"]
    assert main(args) == 0
    mine = [out / "variants" / "0099.csv", out / "variants" / "notes.md",
            out / "summary.backup.csv", out / "variants.old"]
    for p in mine:
        p.write_text("the analyst's own file")
    assert main(["sweep", str(base), "--sweep", "cohorts.c.pd=0.04,0.05", "--fresh", "--out",
                 str(out), "--quiet"]) == 0
    for p in mine:
        assert p.read_text() == "the analyst's own file"
    table = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert set(table.variant) == {"cohorts.c.pd=0.04", "cohorts.c.pd=0.05"}


def test_foreign_files_never_block_a_sweep(tmp_path, base):
    out = tmp_path / "o"
    (out / "variants").mkdir(parents=True)
    (out / "variants" / "0000.csv").write_text("not simpool's")
    (out / "batch.json").write_text("{}")
    assert main(["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03", "--out", str(out),
                 "--quiet"]) == 0
    table = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert len(_gross_el(table)) == 2


# ------------------------------------------------------------------ 5. edited variant files


def test_a_variant_resaved_by_excel_is_rerun_not_combined(tmp_path, base, capsys):
    out = tmp_path / "o"
    args = ["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03,0.04", "--out", str(out),
            "--quiet"]
    assert main(args) == 0
    original = (out / "summary.csv").read_bytes()
    v1 = out / "variants" / "0001.csv"
    df = pd.read_csv(v1, encoding="utf-8-sig")
    df["value"] = df["value"].round(-3)  # Excel's rounding, saved as GBK with a Chinese label
    df.loc[0, "measure"] = "总损失"
    v1.write_bytes(df.to_csv(index=False).encode("gbk"))
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "0001.csv was changed after simpool wrote it" in err and "rerunning variant 1" in err
    assert (out / "summary.csv").read_bytes() == original


def test_a_variant_file_deleted_is_rerun(tmp_path, base):
    out = tmp_path / "o"
    args = ["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03", "--out", str(out), "--quiet"]
    assert main(args) == 0
    original = (out / "summary.csv").read_bytes()
    (out / "variants" / "0000.json").unlink()
    assert main(args) == 0
    assert (out / "summary.csv").read_bytes() == original


# ------------------------------------------------------------------ 6. xlsx text stays text


def test_xlsx_writes_text_as_text(tmp_path):
    import openpyxl

    f = tmp_path / "=1+1.toml"
    f.write_text(BASE, encoding="utf-8")
    out = tmp_path / "o"
    assert main(["sweep", str(f), "--sweep", "model.copula=gaussian,t",
                 "--sweep", 'title=["=HYPERLINK(\\"x\\")", "@SUM(A1)", "+1", "-1"]',
                 "--format", "xlsx", "--out", str(out), "--quiet"]) == 0
    wb = openpyxl.load_workbook(out / "summary.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert "=1+1" in texts and '=HYPERLINK("x")' in texts and "@SUM(A1)" in texts
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    # swept numbers stay numbers
    assert main(["sweep", str(f), "--sweep", "cohorts.c.pd=0.005,0.01", "--format", "xlsx",
                 "--out", str(tmp_path / "n"), "--quiet"]) == 0
    ws = openpyxl.load_workbook(tmp_path / "n" / "summary.xlsx")["variants"]
    header = [c.value for c in ws[1]]
    col = header.index("cohorts.c.pd")
    assert [r[col].value for r in ws.iter_rows(min_row=2)] == [0.005, 0.01]


# ------------------------------------------------------------------ 12. unusable --out first


@pytest.mark.parametrize("command", ["run", "compare", "solve", "sensitivity", "sweep", "report"])
@pytest.mark.parametrize("bad", ["a file", "read-only"])
def test_an_unusable_out_is_found_before_simulating(tmp_path, base, capsys, monkeypatch,
                                                    command, bad):
    import simpool.engine.runner
    import simpool.analysis.simulation

    if bad == "read-only" and os.geteuid() == 0:
        target = Path("/proc/self")  # root can write anywhere else
    elif bad == "read-only":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = ro / "out"
    else:
        target = tmp_path / "file"
        target.write_text("x")
    if command == "report":
        target = target / "r.html"
    monkeypatch.setattr(simpool.analysis.simulation, "run_paths", lambda *a, **k: pytest.fail("simulated"))
    args = {"run": ["run", str(base)], "compare": ["compare", str(base), str(base)],
            "solve": ["solve", str(base), "--lever", "pools.p.cash", "--bracket", "1e6,1e8",
                      "--measure", "pool:p", "--statistic", "P(depleted by year)", "--year",
                      "2026", "--target", "0.05"],
            "sensitivity": ["sensitivity", str(base), "--measure", "gross", "--statistic", "EL"],
            "sweep": ["sweep", str(base), "--sweep", "cohorts.c.pd=0.02,0.03"],
            "report": ["report", str(base)]}[command]
    code = main(args + ["--out", str(target), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert str(target.parent if command == "report" else target) in err or \
        str(target) in err
    assert ".tmp" not in err and "Traceback" not in err


# ------------------------------------------------------------------ smaller items


def test_compare_warns_when_the_years_differ(tmp_path, base, capsys):
    other = tmp_path / "later.toml"
    other.write_text(BASE.replace("horizon_years = 2", "horizon_years = 3"), encoding="utf-8")
    assert main(["compare", str(base), str(other), "--out", str(tmp_path / "c"), "--quiet",
                 "--no-plot"]) == 0
    err = capsys.readouterr().err
    assert "simulates 2025-2027, the base" in err and "2025-2026" in err
