"""Sweeps and resumable batches (simpool.scenario.sweep, simpool.outputs.batch, ``simpool sweep``)."""

from __future__ import annotations

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
from simpool.outputs.batch import run_batch
from simpool.cli import main
from simpool.errors import ScenarioError, SimpoolError
from simpool.scenario.sweep import expand, parse_sweep_flags

BASE = """
title = "sweep base"
[simulation]
paths = 400
seed = 5
horizon_years = 2
[[cohorts]]
name = "a"
loans = 500
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


def with_sweep(tmp_path, table: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(BASE + "\n[sweep]\n" + table, encoding="utf-8")
    return p


# ------------------------------------------------------------------ grids

def test_table_and_flags_form_a_cross_product(tmp_path):
    f = with_sweep(tmp_path, '"cohorts.a.pd" = [0.02, 0.04]\npools.p.cash = ["1000万", "3000万", "5000万"]\n')
    vs = expand([str(f)])
    assert len(vs) == 6
    assert vs[0].label == "cohorts.a.pd=0.02, pools.p.cash=1000万"
    assert [(v.scenario.cohorts[0].pd, v.scenario.pools[0].cash) for v in vs][:4] == [
        (0.02, 1e7), (0.02, 3e7), (0.02, 5e7), (0.04, 1e7)]
    assert all(v.scenario.sweep == {} for v in vs)  # variants are concrete scenarios
    # a flag adds an axis; a flag on a file axis replaces it
    vs = expand([str(f)], ["cohorts.a.pd=0.05", "cohorts.a.lgd=0.4,0.6"])
    assert len(vs) == 6 and {v.scenario.cohorts[0].pd for v in vs} == {0.05}
    assert {v.scenario.cohorts[0].lgd for v in vs} == {0.4, 0.6}


def test_no_sweep_is_one_variant(base):
    vs = expand([str(base)])
    assert [v.label for v in vs] == ["base"]


def test_several_files_are_labelled_by_file(tmp_path, base):
    other = tmp_path / "other.toml"
    other.write_text(BASE.replace("pd = 0.03", "pd = 0.05"), encoding="utf-8")
    vs = expand([str(base), str(other)], ["cohorts.a.lgd=0.4,0.6"])
    assert [v.label for v in vs] == ["base: cohorts.a.lgd=0.4", "base: cohorts.a.lgd=0.6",
                                     "other: cohorts.a.lgd=0.4", "other: cohorts.a.lgd=0.6"]


def test_every_variant_is_validated_before_anything_runs(tmp_path):
    f = with_sweep(tmp_path, '"cohorts.a.pd" = [0.02, 1.5, 2.0]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(f), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    with pytest.raises(ScenarioError) as e:
        expand([str(f)])
    msgs = [str(p) for p in e.value.problems]
    assert len(msgs) == 2 and all(m.startswith("sweep: cohorts.a.pd: must be <= 1") for m in msgs)
    assert "(in variant cohorts.a.pd=1.5)" in msgs[0]


@pytest.mark.parametrize("flag, message", [
    ("cohorts.a.pd", "expected dotted.key=v1,v2"),
    ("cohorts.a.pd=", "needs a key and at least one value"),
    ("=1,2", "needs a key"),
    ("cohorts.a.pd=0.1,,0.2", "needs a key and at least one value"),
])
def test_bad_flags_are_clear_errors(flag, message):
    with pytest.raises(ScenarioError, match=message):
        parse_sweep_flags([flag])


def test_bad_sweep_table(tmp_path):
    f = with_sweep(tmp_path, '"cohorts.a.pd" = 0.02\n')
    with pytest.raises(ScenarioError, match=r"grid.toml:20: sweep.\"cohorts.a.pd\": must be a non-empty list"):
        expand([str(f)])


def test_values_keep_their_types_and_units():
    assert parse_sweep_flags(["a.b=1,2.5,true,t,5亿"]) == {"a.b": [1, 2.5, True, "t", "5亿"]}


# ------------------------------------------------------------------ batches

def test_batch_table_equals_direct_runs(tmp_path, base):
    vs = expand([str(base)], ["cohorts.a.pd=0.02,0.04"])
    table = run_batch(vs, tmp_path / "out")
    assert list(table.columns[:2]) == ["variant", "cohorts.a.pd"]
    for v, pd_ in zip(vs, (0.02, 0.04)):
        direct = simulate(load_scenario(str(base), [f"cohorts.a.pd={pd_}"])).summary()
        got = table[table.variant == v.label].drop(columns=["variant", "cohorts.a.pd"])
        got = got.reset_index(drop=True)
        pd.testing.assert_frame_equal(got, direct, check_dtype=False)


def test_formats_and_files(tmp_path, base):
    vs = expand([str(base)], ["cohorts.a.pd=0.02,0.04"])
    out = tmp_path / "out"
    table = run_batch(vs, out, formats=("csv", "parquet", "xlsx"))
    csv = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert len(csv) == len(table)
    assert (out / "summary.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM for Excel
    pq = pd.read_parquet(out / "summary.parquet")
    np.testing.assert_array_equal(pq.value.to_numpy(), table.value.to_numpy())
    sheets = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert set(sheets) == {"summary", "variants"} and len(sheets["variants"]) == 2
    for i in range(2):
        assert (out / "variants" / f"{i:04d}.resolved.toml").exists()
        assert (out / "variants" / f"{i:04d}.json").exists()


def test_resume_skips_finished_variants(tmp_path, base):
    vs = expand([str(base)], ["cohorts.a.pd=0.02,0.03,0.04"])
    out = tmp_path / "out"
    first = run_batch(vs, out)
    (out / "variants" / "0001.csv").unlink()  # as if killed before variant 1 finished
    (out / "summary.csv").unlink()
    seen = []
    again = run_batch(vs, out, on_variant=lambda i, label, skipped: seen.append(skipped))
    assert seen == [True, False, True]
    pd.testing.assert_frame_equal(first, again)


def test_a_folder_of_another_batch_is_refused(tmp_path, base):
    vs = expand([str(base)], ["cohorts.a.pd=0.02,0.04"])
    out = tmp_path / "out"
    run_batch(vs, out)
    with pytest.raises(SimpoolError, match=r"seed 5 -> 6"):
        run_batch(vs, out, seed=6)
    with pytest.raises(SimpoolError, match=r"paths 400 -> 500"):
        run_batch(vs, out, paths=500)
    other = expand([str(base)], ["cohorts.a.pd=0.02,0.04", "cohorts.a.lgd=0.6"])
    with pytest.raises(SimpoolError, match="other variants"):
        run_batch(other, out)
    changed = expand([str(base)], ["cohorts.a.pd=0.02,0.04"], ["cohorts.a.rho=0.2"])
    with pytest.raises(SimpoolError, match="the resolved inputs differ"):
        run_batch(changed, out)
    assert main(["sweep", str(base), "--sweep", "cohorts.a.pd=0.02,0.04", "--seed", "6",
                 "--out", str(out), "--quiet"]) == 1
    t = run_batch(vs, out, seed=6, fresh=True)
    assert len(t) and sorted(p.name for p in (out / "variants").glob("*.csv")) == ["0000.csv", "0001.csv"]


def test_sigkill_mid_batch_then_resume_gives_the_same_table(tmp_path, base):
    """A real kill: the sweep process dies after its second variant; the rerun completes it
    and its summary.csv is byte-identical to that of an uninterrupted run."""
    grid = ["--sweep", "cohorts.a.pd=0.01,0.02,0.03,0.04,0.05,0.06", "--paths", "100000"]
    env = dict(os.environ)
    clean = tmp_path / "clean"
    assert main(["sweep", str(base), *grid, "--out", str(clean), "--quiet"]) == 0
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "simpool", "sweep", str(base), *grid, "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "variants" / "0001.csv").exists():
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in (out / "variants").glob("*.csv"))
    assert 2 <= len(finished) < 6, finished  # killed mid-batch
    assert not (out / "summary.csv").exists()
    assert main(["sweep", str(base), *grid, "--out", str(out), "--quiet"]) == 0
    assert (out / "summary.csv").read_bytes() == (clean / "summary.csv").read_bytes()
