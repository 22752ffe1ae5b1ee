"""Faults: killed runs, Ctrl-C, a full disk. Outputs are complete or absent, never half.

Runs are real subprocesses (``python -m simpool``) killed with SIGKILL at random moments
and interrupted with SIGINT; the full disk is the kernel's /dev/full behind the writer.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from simpool.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "hubei_base.toml"
OUTPUTS = ("summary.csv", "scenario.resolved.toml", "provenance.json")


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simpool", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _complete_or_absent(out: Path, paths: int) -> str:
    """Check every output file of a run folder; return 'absent', 'partial' or 'complete'."""
    present = [n for n in OUTPUTS if (out / n).exists()]
    for n in present:
        data = (out / n).read_bytes()
        assert data, n
        if n == "summary.csv":
            df = pd.read_csv(out / n, encoding="utf-8-sig")
            assert len(df) > 100 and df.value.notna().all()
        elif n == "provenance.json":
            assert json.loads(data)["paths"] == paths
        else:
            tomllib.loads(data.decode("utf-8"))
    return "absent" if not present else ("complete" if len(present) == len(OUTPUTS) else "partial")


def test_sigkill_at_random_moments_leaves_complete_or_absent_outputs(tmp_path):
    rng = random.Random(2024)
    seen = set()
    paths = 40_000
    for k in range(4):
        out = tmp_path / f"run{k}"
        proc = _start(["run", str(BASE), "--paths", str(paths), "--out", str(out), "--quiet"])
        time.sleep(rng.uniform(0.2, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # files are written one by one, each atomically: any prefix of them may exist
        state = _complete_or_absent(out, paths)
        seen.add(state)
        # a rerun into the same folder completes it
        assert main(["run", str(BASE), "--paths", str(paths), "--out", str(out), "--quiet"]) == 0
        assert _complete_or_absent(out, paths) == "complete"
        assert not list(out.glob(".*.tmp")), "stale temporary files are cleared by the rerun"
    assert seen  # at least one kill landed (states are printed on failure)


def test_ctrl_c_stops_within_a_second_with_a_message(tmp_path):
    out = tmp_path / "big"
    proc = _start(["run", str(BASE), "--paths", "3000000", "--out", str(out)])
    time.sleep(4.0)  # import, compile or load, and well into the simulation
    assert proc.poll() is None
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    took = time.perf_counter() - t0
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert took < 2.5, took  # a second plus scheduling slack on a loaded 2-core machine
    assert not (out / "summary.csv").exists()


def test_ctrl_c_in_a_sweep_keeps_finished_variants(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", str(BASE), "--sweep", "pools.provincial_sme.cash=10亿,20亿,30亿,40亿,50亿,60亿",
            "--paths", "30000", "--out", str(out), "--quiet"]
    proc = _start(args)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / "variants" / "0000.csv").exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    done = sorted(p.name for p in (out / "variants").glob("*.csv"))
    assert done and len(done) < 6
    assert main(args) == 0
    assert len(list((out / "variants").glob("*.csv"))) == 6


def _full_disk(monkeypatch):
    """Every file simpool writes goes to /dev/full (the kernel answers ENOSPC)."""
    import simpool.output as output

    real = os.fdopen

    def fdopen(fd, mode="r", *a, **k):
        if "w" in mode:
            os.close(fd)
            return open("/dev/full", "wb", buffering=0)
        return real(fd, mode, *a, **k)

    monkeypatch.setattr(output.os, "fdopen", fdopen)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_a_clear_error(tmp_path, monkeypatch, capsys):
    _full_disk(monkeypatch)
    out = tmp_path / "o"
    assert main(["run", str(BASE), "--paths", "500", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err
    assert not (out / "summary.csv").exists()
    assert not list(out.glob(".*.tmp")), "the temporary file is removed"
    assert main(["sweep", str(BASE), "--sweep", "cohorts.opto_credit.pd=0.02,0.03", "--paths",
                 "300", "--out", str(tmp_path / "s"), "--quiet"]) == 1
    assert "No space left on device" in capsys.readouterr().err


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["run", str(BASE), "--paths", "300", "--out", str(f), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "I/O error" in err and "Traceback" not in err
