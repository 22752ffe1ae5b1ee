"""Faults: killed runs, Ctrl-C, a full disk. Outputs are complete or absent, never half.

Runs are real subprocesses (``python -m simpool``) killed with SIGKILL at known moments of
writing their files (the writer's test pause point, ``SIMPOOL_TEST_PAUSE_WRITE`` in
simpool/outputs/atomic.py, and a writer stopped half-way through a file) and interrupted with SIGINT;
the full disk is the kernel's /dev/full behind the writer.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from simpool.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "hubei_base.toml"
OUTPUTS = ("summary.csv", "scenario.resolved.toml", "provenance.json")


def _default_sigint() -> None:
    """In the child: SIGINT handled as usual (a shell's background job inherits it ignored,
    and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simpool", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=_default_sigint)


def _files_state(out: Path, paths: int) -> set[str]:
    """The output files present in a run folder, each checked to be complete: it ends with a
    newline, parses, and holds the whole run."""
    present = {n for n in OUTPUTS if (out / n).exists()}
    for n in present:
        data = (out / n).read_bytes()
        ends = data.endswith(b"\n")  # every output file ends with a newline
        assert ends, f"{n} is cut short ({len(data)} bytes)"
        if n == "summary.csv":
            df = pd.read_csv(out / n, encoding="utf-8-sig")
            assert len(df) > 100 and df.value.notna().all()
        elif n == "provenance.json":
            assert json.loads(data)["paths"] == paths
        else:
            tomllib.loads(data.decode("utf-8"))
    return present


PAUSE = "simpool-test-pause:"  # what simpool.outputs.atomic._test_pause prints before it sleeps

#: A ``simpool run`` whose writer stops half-way through the data of summary.csv: its
#: temporary file holds a flushed prefix, summary.csv itself must not exist.
MID_WRITE = r"""
import fnmatch, os, sys, time
from simpool.cli import entry

real_fdopen = os.fdopen

class HalfWriter:
    def __init__(self, f, name):
        self.f, self.name = f, name
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.f.__exit__(*exc)
    def __getattr__(self, attr):
        return getattr(self.f, attr)
    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        os.fsync(self.f.fileno())
        print(f"simpool-test-pause: mid-write {self.name}", file=sys.stderr, flush=True)
        time.sleep(120)
        return self.f.write(data[len(data) // 2:])

def fdopen(fd, mode="r", *args, **kwargs):
    f = real_fdopen(fd, mode, *args, **kwargs)
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    if "w" in mode and fnmatch.fnmatchcase(name, ".summary.csv.*.tmp"):
        return HalfWriter(f, name)
    return f

os.fdopen = fdopen
sys.argv[0] = "simpool"
entry()
"""

#: Where each kill lands, and the files that must then exist (each complete), given the
#: writer's order: scenario.resolved.toml, provenance.json, then summary.csv, whose presence
#: marks a finished run. ``pause``: a glob for SIMPOOL_TEST_PAUSE_WRITE (the process stops
#: before that file is touched), or None for MID_WRITE.
KILLS = [
    pytest.param("scenario.resolved.toml", set(), id="before-resolved"),
    pytest.param("provenance.json", {"scenario.resolved.toml"}, id="before-provenance"),
    pytest.param("summary.csv", {"scenario.resolved.toml", "provenance.json"},
                 id="before-summary"),
    pytest.param(None, {"scenario.resolved.toml", "provenance.json"}, id="mid-summary",
                 marks=pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                                          reason="needs /proc/self/fd")),
]


def _run_until_paused(cmd: list[str], env: dict[str, str], wait: float = 180.0) -> str:
    """Start ``cmd``, wait for its pause line on stderr, SIGKILL it there; return the line.
    Fails when the process ends, or takes longer than ``wait``, without reaching the pause."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, **env})
    lines: queue.Queue = queue.Queue()

    def pump():
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    other: list[str] = []
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no pause within {wait:.0f} s; stderr so far:\n{''.join(other)}")
            if line is None:
                proc.wait()
                pytest.fail(f"the run ended (exit {proc.returncode}) without reaching the pause "
                            f"point, so no kill landed there; stderr:\n{''.join(other)}")
            if line.startswith(PAUSE):
                break
            other.append(line)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, "killed while paused"
        return line[len(PAUSE):].strip()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(("pause", "expected"), KILLS)
def test_sigkill_while_writing_leaves_complete_or_absent_outputs(tmp_path, pause, expected):
    """``simpool run`` killed with SIGKILL at a known moment of writing its files: before
    each file (a pause point in the atomic writer, SIMPOOL_TEST_PAUSE_WRITE) and half-way
    through the data of summary.csv. Exactly the files written before the kill exist, each
    complete; nothing half-written is visible under a real name; a rerun completes the folder
    and clears the temporary file the killed writer left."""
    paths = 4_000
    out = tmp_path / "run"
    args = ["run", str(BASE), "--paths", str(paths), "--out", str(out), "--quiet"]
    if pause is None:
        where = _run_until_paused([sys.executable, "-c", MID_WRITE, *args], {})
        assert where.startswith("mid-write .summary.csv."), where
    else:
        where = _run_until_paused([sys.executable, "-m", "simpool", *args],
                                  {"SIMPOOL_TEST_PAUSE_WRITE": f"{pause}:120"})
        assert Path(where) == out / pause, where  # the kill landed where intended
    assert _files_state(out, paths) == expected
    temps = sorted(out.glob(".*.tmp")) if out.exists() else []
    if pause is None:  # the killed writer's half file, under its temporary name only
        assert [t.name.split(".")[1:3] for t in temps] == [["summary", "csv"]], temps
        partial = temps[0].read_bytes()
        assert partial
    else:
        assert not temps, temps
    # a rerun into the same folder completes it
    assert main(args) == 0
    assert _files_state(out, paths) == set(OUTPUTS)
    assert not list(out.glob(".*.tmp")), "stale temporary files are cleared by the rerun"
    if pause is None:  # the kill landed inside summary.csv's data (same seed, same figures)
        full = (out / "summary.csv").read_bytes()
        assert len(partial) < len(full) and full.startswith(partial)


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
    args = ["sweep", str(BASE), "--sweep", "pools.knowledge_value.cash=10亿,20亿,30亿,40亿,50亿,60亿",
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
    import simpool.outputs.atomic as output

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
    assert main(["sweep", str(BASE), "--sweep", "cohorts.kv_credit.pd=0.02,0.03", "--paths",
                 "300", "--out", str(tmp_path / "s"), "--quiet"]) == 1
    assert "No space left on device" in capsys.readouterr().err


def test_output_folder_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["run", str(BASE), "--paths", "300", "--out", str(f), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"--out: {f} is a file, not a folder" in err and "Traceback" not in err
