"""The command line: exit codes, output files, messages (in-process through main(argv))."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simpool.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "hubei_base.toml"
BAD = Path(__file__).parent / "data" / "bad"

SMALL = """
[simulation]
paths = 2000
seed = 5
horizon_years = 2

[[cohorts]]
name = "ip_pledge"
loans = 300
exposure = "100万"
pd = 0.03
lgd = 0.5
rho = 0.15

[report]
exceedance = ["500万"]
"""


@pytest.fixture
def small(tmp_path):
    f = tmp_path / "small.toml"
    f.write_text(SMALL, encoding="utf-8")
    return f


def test_run_writes_summary_resolved_and_provenance(small, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(small), "--out", str(out), "--set", "cohorts.ip_pledge.pd=0.04"]) == 0
    printed = capsys.readouterr().out
    assert "small (--set cohorts.ip_pledge.pd=0.04): 2,000 paths, seed 5" in printed and "VaR 0.999" in printed
    raw = (out / "summary.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    df = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    assert list(df.columns) == ["scenario", "year", "measure", "product", "basis", "statistic", "param",
                                "value", "se", "unit", "label"]
    assert set(df["year"].dropna().astype(int)) == {2025, 2026}
    whole = df[(df.measure == "gross") & (df.statistic == "EL") & df.year.isna()
               & df["product"].isna()]
    assert whole["basis"].tolist() == ["ultimate"]  # the gross loss is an ultimate figure
    el = whole["value"].item()
    # independent check: E[loss] = n * exposure * lgd * (1 - (1 - pd)^2) over two years
    exact = 300 * 1e6 * 0.5 * (1 - 0.96 ** 2)
    se = whole["se"].item()
    assert abs(el - exact) < 5 * se
    resolved = (out / "scenario.resolved.toml").read_text(encoding="utf-8")
    assert "pd = 0.04" in resolved and "exposure = 1000000.0" in resolved
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["seed"] == 5 and prov["paths"] == 2000 and prov["years"] == [2025, 2026]
    assert "--set" in prov["command_line"] or prov["command_line"]
    assert len(prov["scenario_sha256"]) == 64
    assert {"numpy", "numba", "python"} <= set(prov["versions"])


def test_summary_csv_is_what_pandas_writes():
    """summary.csv is written without pandas; its text must be pandas' to_csv of summary()."""
    import math

    from simpool.outputs.files import summary_csv
    from simpool.analysis.results import SummaryRow

    odd = [0.1, 1e-5, 1e-4, 123456789.0, 1e16, 1.2345678901234567e15, -0.0, 2.0 / 3.0, math.inf,
           -math.inf, math.nan, 5e-324, 1.7976931348623157e308, 0.0, 1e22, 12.5]
    rows = [SummaryRow(f"s{i % 2}", None if i % 3 == 0 else 2025 + i, "pool:a,b" if i == 4 else "net",
                       "guaranteed" if i % 4 == 1 else "", ("cash", "ultimate", "")[i % 3],
                       'say "hi"' if i == 5 else "EL", odd[i], odd[-1 - i], odd[(i * 7) % len(odd)])
            for i in range(len(odd))]
    df = pd.DataFrame({
        "scenario": [r.scenario for r in rows],
        "year": pd.array([r.year if r.year is not None else pd.NA for r in rows], dtype="Int64"),
        "measure": [r.measure for r in rows], "product": [r.product for r in rows],
        "basis": [r.basis for r in rows], "statistic": [r.statistic for r in rows],
        "param": [r.param for r in rows], "value": [r.value for r in rows], "se": [r.se for r in rows]})
    from simpool.analysis.labels import label, unit

    df["unit"] = [unit(r.measure, r.statistic) for r in rows]
    df["label"] = [label(r.measure, r.statistic, r.param, r.product, r.basis) for r in rows]
    assert summary_csv(rows, "en") == df.to_csv(index=False)
    assert summary_csv([]) == pd.DataFrame(columns=list(SummaryRow._fields) + ["unit", "label"]
                                           ).to_csv(index=False)


@pytest.mark.parametrize("name", ["hubei_base.toml", "angel_fund.toml"])
def test_summary_rows_are_the_summary_table(name):
    from simpool.analysis.simulation import simulate
    from simpool.outputs.files import summary_csv

    res = simulate(ROOT / "scenarios" / name, paths=500, seed=11)
    rows, df = res.summary_rows(), res.summary()
    assert len(rows) == len(df) > 50
    assert summary_csv(rows) == df.to_csv(index=False)
    assert rows[0]["value"] == rows[0].value == df["value"].iloc[0]
    assert [str(t) for t in df.dtypes][1:] == ["Int64"] + [df.dtypes["scenario"]] * 4 + [
        "float64", "float64", "float64"] + [df.dtypes["scenario"]] * 2
    assert df["year"].isna().sum() == sum(r.year is None for r in rows) > 0


def test_run_does_not_import_pandas(small, tmp_path):
    """pandas costs a third of a second to import: `simpool run` writing CSV does without it."""
    code = ("import sys; from simpool.cli import main; rc = main(['run', sys.argv[1], '--out', "
            "sys.argv[2], '--quiet']); print(rc, 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(small), str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=600)
    assert done.stdout.split() == ["0", "False"], done.stderr
    assert (tmp_path / "o" / "summary.csv").exists()


def test_run_is_reproducible_across_threads_and_chunks(small, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(small), "--out", str(a), "--threads", "1", "--quiet"]) == 0
    assert main(["run", str(small), "--out", str(b), "--threads", "2", "--chunk-size", "333",
                 "--quiet"]) == 0
    assert (a / "summary.csv").read_bytes() == (b / "summary.csv").read_bytes()


def test_bad_input_exit_2_no_traceback(capsys):
    assert main(["validate", str(BAD / "bad_values.toml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "bad_values.toml:13: cohorts.credit.pd: must be <= 1.0, got 1.5" in err


def test_validate_many_files(capsys):
    assert main(["validate", str(BASE), str(BAD / "unknown_keys.toml")]) == 2
    out, err = capsys.readouterr()
    assert "hubei_base.toml: ok (8 cohorts, 0 tape loans, 52,225 loans in all" in out
    assert "unknown key 'seeed'" in err
    assert main(["validate", str(BASE)]) == 0


def test_bad_flags(small, capsys):
    assert main(["run", str(small), "--paths", "0"]) == 2
    assert "--paths: must be >= 1" in capsys.readouterr().err
    assert main(["run", str(small), "--seed", "-1"]) == 2
    assert main(["run"]) == 2  # argparse usage error
    assert main([]) == 2
    assert main(["run", str(small), "--set", "nonsense"]) == 2


def test_show_prints_resolved(capsys):
    assert main(["show", str(BASE), "--set", "model.copula=t"]) == 0
    out = capsys.readouterr().out
    assert 'copula = "t"' in out and "exposure = 2500000.0" in out


def test_interrupt_exit_130(small, monkeypatch, capsys):
    import simpool.engine.runner
    import simpool.analysis.simulation

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(simpool.analysis.simulation, "run_paths", boom)
    assert main(["run", str(small), "--quiet"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_io_error_exit_1(small, capsys, monkeypatch):
    import simpool.engine.runner
    import simpool.analysis.simulation

    def never(*a, **k):
        raise AssertionError("simulated although --out cannot be written")

    monkeypatch.setattr(simpool.analysis.simulation, "run_paths", never)
    assert main(["run", str(small), "--out", "/dev/full/out", "--quiet"]) == 1
    err = capsys.readouterr().err
    # found before simulating, and the message names the folder (not a temporary file)
    assert err.startswith("simpool: --out: cannot create the folder /dev/full/out")
    assert "Traceback" not in err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("simpool ")


def test_console_script_and_module_entry_points(small, tmp_path):
    r = subprocess.run([sys.executable, "-m", "simpool", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "validate" in r.stdout
    r = subprocess.run([sys.executable, "-m", "simpool", "validate", str(BAD / "cross_refs.toml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown sector 'optoelectronic'" in r.stderr
    assert "Traceback" not in r.stderr
    # a whole run through the command's exit path: every line printed, every file written
    r = subprocess.run([sys.executable, "-m", "simpool", "run", str(small), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("small: 2,000 paths") and r.stdout.rstrip().endswith("provenance.json")
    assert len((tmp_path / "o" / "summary.csv").read_text(encoding="utf-8-sig").splitlines()) > 20
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"simpool": "simpool.cli:entry"}


class _Tty:
    """stderr as a terminal (tqdm writes to it; the text is kept)."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def _wait_for(cond, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("compiled, local", [(False, True), (True, True), (False, False)])
def test_the_progress_bar_says_when_the_kernels_compile(monkeypatch, compiled, local):
    """On a cold numba cache the first chunk waits ~20 s: the bar names the reason instead of
    sitting at 0, until the first chunk finishes. Not when the kernels are compiled already,
    nor when the chunks run on Dask workers (local=False)."""
    import threading

    from simpool.cli import console as cli

    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(cli, "COMPILE_HINT_AFTER_S", 0.05)
    monkeypatch.setattr(cli, "BAR_MININTERVAL", 0)
    asked = threading.Event()

    def kernels_compiled():
        asked.set()
        return compiled

    monkeypatch.setattr(cli, "_kernels_compiled", kernels_compiled)
    update, close = cli._progress_bar(1000, quiet=False, compile_hint=local)
    update(0, 1000)  # the engine: chunks started
    hinted = lambda: any(cli.COMPILE_HINT in t for t in tty.text)  # noqa: E731
    if compiled or not local:
        assert asked.wait(5.0) if local else not asked.wait(0.3)
        threading.Event().wait(0.1)
        assert not hinted()
    else:
        assert _wait_for(hinted)
    update(500, 1000)
    assert "simulating" in tty.text[-1] and cli.COMPILE_HINT not in tty.text[-1]
    update(1000, 1000)
    close()
    assert cli._progress_bar(10, quiet=True)[0] is None


def test_the_compile_hint_never_follows_a_finished_chunk(monkeypatch):
    """Once a chunk has finished the timer is cancelled: the hint cannot overwrite progress."""
    from simpool.cli import console as cli

    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(cli, "COMPILE_HINT_AFTER_S", 0.05)
    monkeypatch.setattr(cli, "_kernels_compiled", lambda: False)
    update, close = cli._progress_bar(1000, quiet=False)
    update(0, 1000)
    update(100, 1000)  # before the timer fires
    import time

    time.sleep(0.2)
    assert not any(cli.COMPILE_HINT in t for t in tty.text)
    close()


def test_kernels_compiled_is_false_until_the_first_run(small):
    """In a new process: no kernel before the first simulate(), the waterfall kernel after."""
    code = ("import simpool; from simpool.cli import console as cli; print(cli._kernels_compiled()); "
            f"simpool.simulate(simpool.load_scenario({str(small)!r}), paths=100); "
            "print(cli._kernels_compiled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_provenance_tells_the_truth(tmp_path):
    """provenance.json: which simpool (git commit or installed version), the effective paths
    and seed, the --set/--stress changes and a label that says so; the resolved scenario
    holds the run's paths and seed and lists the changes, and reruns the same figures."""
    import json

    out = tmp_path / "o"
    assert main(["run", str(BASE), "--paths", "300", "--seed", "5", "--set",
                 "cohorts.kv_credit.pd=0.03", "--stress", "2026=0.01", "--out", str(out),
                 "--quiet"]) == 0
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert (prov["paths"], prov["seed"]) == (300, 5)
    src = prov["simpool_source"]
    assert src["version"] and ("git_commit" in src or "installed" in src)
    assert prov["overrides"][0] == "cohorts.kv_credit.pd=0.03"
    assert prov["scenario_label"] == ("hubei_base (--set cohorts.kv_credit.pd=0.03; "
                                      "--stress 2026=0.01)")
    text = (out / "scenario.resolved.toml").read_text(encoding="utf-8")
    assert "# changed by --set: cohorts.kv_credit.pd=0.03" in text
    assert "paths = 300\n" in text and "seed = 5\n" in text
    again = tmp_path / "again"
    (tmp_path / "r.toml").write_text(text, encoding="utf-8")
    assert main(["run", str(tmp_path / "r.toml"), "--out", str(again), "--quiet"]) == 0
    a = (out / "summary.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    b = (again / "summary.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    strip = lambda rows: [r.split(",", 1)[1] for r in rows]  # noqa: E731 (the scenario column)
    assert strip(a) == strip(b)
