"""Memory (issue 18, items 8-11): estimated before simulating, compact per-path results whose
figures equal those of a run that keeps everything, chunk sizes within the byte cap, loan
tapes shared by a sweep's variants, Dask inputs sent once, and the smaller items."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import simpool
from simpool import load_scenario, simulate, stats
from simpool.cli import main
from simpool.errors import SimpoolWarning
from simpool.engine.memory import MemoryBudgetError, parse_size
from simpool.engine.moments import BLOCK, Moments

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "hubei_base.toml"

SMALL = {
    "title": "memory small",
    "simulation": {"paths": 3000, "seed": 4, "horizon_years": 3},
    "cohorts": [
        {"name": "g", "loans": 300, "exposure": 1e6, "pd": 0.04, "lgd": 0.5, "rho": 0.2,
         "product": "guaranteed", "guarantor": "gt"},
        {"name": "c", "loans": 300, "exposure": 1e6, "pd": 0.05, "lgd": 0.5, "rho": 0.2,
         "pool": "p"},
        {"name": "i", "loans": 200, "exposure": 1e6, "pd": 0.05, "lgd": 0.5, "rho": 0.2,
         "product": "insured", "insurer": "ins"},
    ],
    "guarantors": [{"name": "gt", "net_assets": 3e7}],
    "pools": [{"name": "p", "cash": 1e7, "warn_npl": 0.03, "stop_npl": 0.08}],
    "insurers": [{"name": "ins"}],
}


# ------------------------------------------------------------------ 8. the estimate


def test_a_run_too_big_for_the_memory_stops_at_once(capsys, tmp_path):
    t0 = time.perf_counter()
    room = simpool.engine.memory.current_rss() + 200 * 2**20  # this (test) process and 200 MiB
    code = main(["run", str(BASE), "--paths", "1000000", "--max-memory", str(room), "--out",
                 str(tmp_path / "o"), "--quiet"])
    took = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert code == 2 and took < 5, (code, took, err)
    assert "needs about" in err and "for 1,000,000 paths" in err and "--max-memory" in err
    assert "run at most about" in err and "per-path results" in err
    assert not (tmp_path / "o").exists()  # nothing written, no empty folder left


def test_ten_billion_paths_in_the_file_is_refused_not_a_memory_error(tmp_path, capsys):
    f = tmp_path / "huge.toml"
    f.write_text(BASE.read_text(encoding="utf-8").replace("paths = 100_000", "paths = 10_000_000_000")
                 .replace("paths = 100000", "paths = 10_000_000_000"), encoding="utf-8")
    assert "10_000_000_000" in f.read_text(encoding="utf-8")
    code = main(["run", str(f), "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "10,000,000,000 paths" in err and "MemoryError" not in err


def test_target_se_counts_its_max_paths(tmp_path, capsys):
    code = main(["run", str(BASE), "--target-se", "net/EL=1", "--max-memory", "2G", "--out",
                 str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "up to --max-paths" in err and "10,000,000 paths" in err
    assert "lower --max-paths" in err


def test_a_process_limit_is_read(tmp_path):
    """RLIMIT_AS set a little above what the process maps: the run stops with exit 2
    naming the limit, instead of dying with a MemoryError."""
    script = textwrap.dedent(f"""
        import resource, sys
        from simpool.cli import main
        from simpool.engine.memory import _status
        import simpool.engine, simpool.analysis.results, numba  # mapped before the limit
        limit = _status("VmSize") + 400 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
        sys.exit(main(["run", {str(BASE)!r}, "--paths", "2000000", "--out",
                       {str(tmp_path / "o")!r}, "--quiet"]))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "RLIMIT_AS" in proc.stderr and "run at most about" in proc.stderr


def test_parse_size():
    assert parse_size("8G") == 8 * 2**30 and parse_size("512MiB") == 512 * 2**20
    assert parse_size("1.5e9") == 1_500_000_000
    for bad in ("", "-1G", "8X", "0"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_bad_max_memory_flag(capsys):
    assert main(["run", str(BASE), "--max-memory", "lots", "--quiet"]) == 2
    assert "--max-memory: expected a size" in capsys.readouterr().err


def test_the_estimate_counts_every_kept_output():
    """Every per-path output enters the estimate: keep="all" counts output_shapes, and a new
    output (here: a fund) raises it by its size."""
    from simpool.engine.runner import bytes_per_path, output_shapes
    from simpool.analysis.simulation import prepare
    from simpool.engine.plan import plan

    sc = load_scenario(SMALL)
    inputs = plan(sc)
    _, label, est_all = prepare(sc, inputs, 10_000, keep="all")
    _, _, est_sum = prepare(sc, inputs, 10_000, keep="summary")
    shapes = output_shapes(inputs)
    assert label == "all"
    assert est_all.parts["per-path results"] >= 10_000 * bytes_per_path(shapes)
    assert est_sum.parts["per-path results"] < est_all.parts["per-path results"] / 2
    with_fund = dict(SMALL, funds=[{"name": "f", "size": 1e8, "government_share": 0.5,
                                    "deals_per_year": 2, "life_years": 4, "investment_years": 2,
                                    "stages": [{"name": "seed", "share": 1.0, "ticket": 1e6}]}])
    sc2 = load_scenario(with_fund)
    _, _, est2 = prepare(sc2, plan(sc2), 10_000, keep="summary")
    assert est2.parts["per-path results"] > est_sum.parts["per-path results"]


# ------------------------------------------------------------------ 8. compact results


def _rows(res):
    return [(r.year, r.measure, r.statistic, None if math.isnan(r.param) else r.param,
             r.value, r.se) for r in res.summary_rows()]


@pytest.mark.parametrize("extra", [{}, {"model": {"copula": "t", "dof": 5,
                                                 "factor_persistence": 0.4}}])
def test_summary_is_the_same_whatever_is_kept(extra):
    sc = load_scenario({**SMALL, **extra})
    full = simulate(sc, keep="all")
    lean = simulate(sc, keep="summary")
    assert lean.keep == "summary" and "pool_balance" not in lean._raw and "pool_balance" in full._raw
    assert _rows(full) == _rows(lean)  # bit for bit


def test_compact_results_are_independent_of_chunks_and_threads():
    from concurrent.futures import ThreadPoolExecutor

    sc = load_scenario(SMALL)
    ref = _rows(simulate(sc, keep="summary"))
    for chunk in (1, 333, BLOCK, BLOCK + 1, 5000):
        with ThreadPoolExecutor(max_workers=1 if chunk == 333 else 2) as ex:
            assert _rows(simulate(sc, keep="summary", chunk_size=chunk, executor=ex)) == ref, chunk


def test_importance_sampling_weights_in_compact_results():
    spec = {**SMALL, "simulation": {"paths": 2500, "seed": 3, "horizon_years": 1},
            "importance_sampling": {"method": "shift", "shift": [-1.0]}}
    sc = load_scenario(spec)
    full, lean = simulate(sc, keep="all"), simulate(sc, keep="summary")
    assert full.weights is not None
    assert _rows(full) == _rows(lean)


def test_block_moments_match_the_estimators_on_the_paths():
    """The moments' means and probabilities against stats.mean / stats.prob on the same
    values (an independent computation), weighted and not, across block boundaries."""
    rng = np.random.default_rng(1)
    n = 3 * BLOCK + 17
    x = np.column_stack([rng.normal(5e8, 3e7, n), rng.random(n) < 0.07, np.full(n, 2.5e9),
                         rng.exponential(1.0, n)])
    is_prob = np.array([False, True, False, False])
    for w in (np.ones(n), rng.exponential(1.0, n)):
        weighted = bool(np.any(w != 1.0))
        got = Moments.of(x, w, is_prob).estimates()
        W = w if weighted else None
        want = [stats.mean(x[:, 0], W), stats.prob(x[:, 1] > 0.5, W), stats.mean(x[:, 2], W),
                stats.mean(x[:, 3], W)]
        for (v, se, finite), e in zip(got, want):
            assert finite
            assert v == pytest.approx(e.value, rel=1e-12, abs=1e-15)
            assert se == pytest.approx(e.se, rel=1e-9, abs=1e-15)
    unweighted = Moments.of(x, np.ones(n), is_prob).estimates()
    assert unweighted[2] == (2.5e9, 0.0, True)  # a constant: exactly, SE 0
    t = int((x[:, 1] > 0.5).sum())
    assert unweighted[1][0] == t / n  # the exact count


def test_compact_results_say_what_is_missing():
    res = simulate(load_scenario(SMALL), keep="summary")
    with pytest.raises(KeyError, match="keep='all' or keep=\\['guarantor_net_assets'\\]"):
        res.guarantor_net_assets("gt")
    with pytest.raises(KeyError, match="keep=\\['entity_ultimate'\\]"):
        res.fiscal(basis="ultimate")
    assert np.isfinite(res.fiscal()).all()  # the ledger's cash is kept with the summary
    with pytest.raises(KeyError, match="keep=\\['pool_balance'\\]"):
        res.pool_balance("p")
    kept = simulate(load_scenario(SMALL), keep=["pool_balance"])
    assert kept.pool_balance("p").shape == (3000, 4)
    with pytest.raises(ValueError, match="unknown output 'nonsense'"):
        simulate(load_scenario(SMALL), keep=["nonsense"])


def test_auto_keeps_everything_when_it_is_small_and_warns_when_it_drops(monkeypatch):
    import simpool.engine.runner
    import simpool.analysis.simulation

    res = simulate(load_scenario(SMALL))
    assert res.keep == "all"
    monkeypatch.setattr(simpool.analysis.simulation, "AUTO_KEEP_ALL_SHARE", 1e-6)
    with pytest.warns(SimpoolWarning, match="keeping only the summary's per-path results"):
        res = simulate(load_scenario(SMALL))
    assert res.keep == "summary"


def test_target_se_runs_equal_one_run_in_compact_mode():
    from simpool.analysis.simulation import simulate_until
    from simpool.analysis.solve import Figure

    sc = load_scenario(SMALL)
    res = simulate_until(sc, [(Figure("net", "EL"), 1.0)], paths=700, max_paths=2900)
    assert res.paths == 2900
    one = simulate(sc, paths=2900, keep="summary")
    assert _rows(res) == _rows(one)


# ------------------------------------------------------------------ 9. chunk size cap


def test_an_explicit_chunk_size_respects_the_byte_cap(tmp_path, capsys):
    cohorts = [{"name": f"c{i}", "loans": 10, "exposure": 1e6, "pd": 0.02, "lgd": 0.5,
                "rho": 0.1} for i in range(2000)]
    f = tmp_path / "wide.toml"
    import tomli_w

    f.write_text(tomli_w.dumps({"simulation": {"paths": 60, "seed": 1, "horizon_years": 50},
                                "cohorts": cohorts}), encoding="utf-8")
    code = main(["run", str(f), "--chunk-size", "100000", "--out", str(tmp_path / "o"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--chunk-size 100,000: a path of this scenario takes" in err and "using 20" in err


# ------------------------------------------------------------------ 10. one tape per sweep


def test_a_sweep_reads_its_loan_tape_once(tmp_path, monkeypatch):
    import simpool.scenario.loantape as lt

    tape = tmp_path / "loans.csv"
    rows = ["exposure,pd,lgd,rho"] + [f"{1e6 + i},0.03,0.5,0.15" for i in range(2000)]
    tape.write_text("\n".join(rows) + "\n", encoding="utf-8")
    f = tmp_path / "s.toml"
    f.write_text('[simulation]\npaths = 300\nhorizon_years = 1\n[portfolio]\n'
                 'loans_file = "loans.csv"\n', encoding="utf-8")
    calls = []
    real = lt.read_loan_tape

    def spy(*a, **k):
        calls.append(a[0])
        return real(*a, **k)

    monkeypatch.setattr(lt, "read_loan_tape", spy)
    from simpool.scenario.sweep import expand

    variants = expand([str(f)], ["simulation.seed=1,2,3,4,5,6,7,8"])
    assert len(variants) == 8 and len(calls) == 1
    assert len({id(v.scenario.tape) for v in variants}) == 1
    assert main(["sweep", str(f), "--sweep", "simulation.seed=1,2,3,4", "--out",
                 str(tmp_path / "o"), "--quiet"]) == 0
    assert len(calls) <= 2  # the sweep read it once more at most (not once per variant)
    tape.write_text("\n".join(rows[:1000]) + "\n", encoding="utf-8")
    assert len(load_scenario(f).tape) == 999  # an edited tape is read again


# ------------------------------------------------------------------ 11. Dask


def test_dask_flags_are_checked(capsys):
    assert main(["run", str(BASE), "--dask", "local", "--dask-workers", "-1", "--quiet"]) == 2
    assert "--dask-workers: must be >= 1" in capsys.readouterr().err
    assert main(["run", str(BASE), "--dask", "bogus", "--quiet"]) == 2
    assert "--dask: expected 'local'" in capsys.readouterr().err
    assert main(["run", str(BASE), "--dask", "tcp://h:1", "--dask-workers", "2", "--quiet"]) == 2


def test_an_unreachable_scheduler_is_exit_1_naming_it(tmp_path, capsys, monkeypatch):
    import simpool.engine.cluster

    class Refused:
        def __init__(self, address, timeout=None):
            raise OSError(f"Timed out trying to connect to {address}")

    import distributed

    monkeypatch.setattr(distributed, "Client", Refused)
    assert main(["run", str(BASE), "--paths", "500", "--dask", "tcp://127.0.0.1:1",
                 "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in capsys.readouterr().err


def test_executors_with_share_get_the_inputs_once():
    """An executor with ``share`` (DaskExecutor scatters to every worker) gets the planned
    inputs once; each chunk's task carries the shared handle, not a copy."""
    from concurrent.futures import ThreadPoolExecutor

    from simpool.engine.plan import KernelInputs

    class Sharing(ThreadPoolExecutor):
        def __init__(self):
            super().__init__(max_workers=2)
            self.shared, self.args = [], []

        def share(self, obj):
            self.shared.append(obj)
            return obj

        def submit(self, fn, *args, **kw):
            self.args.append(args[0])
            return super().submit(fn, *args, **kw)

    sc = load_scenario(SMALL)
    with Sharing() as ex:
        res = simulate(sc, paths=3000, chunk_size=500, executor=ex)
    assert len(ex.shared) == 1 and isinstance(ex.shared[0], KernelInputs)
    assert len(ex.args) == 6 and all(a is ex.shared[0] for a in ex.args)
    assert _rows(res) == _rows(simulate(sc, paths=3000))


# ------------------------------------------------------------------ smaller items


def test_es_is_never_below_var_on_a_degenerate_sample():
    x = np.full(1000, 0.1 + 0.2)  # every path the same, not exactly representable
    for level in (0.9, 0.99, 0.999):
        var, es = stats.var(x, level), stats.es(x, level)
        assert es.value >= var.value
    rng = np.random.default_rng(2)
    x = np.round(rng.random(5000), 1) * 0.1
    for level in (0.5, 0.95, 0.99):
        assert stats.es(x, level).value >= stats.var(x, level).value


def test_importance_sampling_warns_when_its_shift_is_zero():
    spec = {**SMALL, "simulation": {"paths": 500, "seed": 3, "horizon_years": 1},
            "importance_sampling": {"method": "shift", "shift": [0.0]}}
    with pytest.warns(SimpoolWarning, match="importance sampling does nothing"):
        simulate(load_scenario(spec))


def test_a_book_above_1e13_yuan_warns(tmp_path, capsys):
    spec = {"simulation": {"paths": 200, "horizon_years": 50},
            "cohorts": [{"name": "a", "loans": 1000, "exposure": 1e7, "pd": 0.02, "lgd": 0.45,
                         "rho": 0.1, "growth": 0.3}]}
    sc = load_scenario(spec)
    msgs = [str(w) for w in simpool.scenario.scenario_warnings(sc)]
    assert any("cohorts.a.growth" in m and "above 1e+13 yuan" in m for m in msgs), msgs
    small = load_scenario(SMALL)
    assert not any("1e+13" in str(w) for w in simpool.scenario.scenario_warnings(small))
