"""Stress paths, precision targets and a Dask cluster (the what-if workflow's engine side)."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
from scipy import special

from simpool import load_scenario, simulate
from simpool.cli import main
from simpool.engine.cluster import DaskExecutor
from simpool.engine.runner import run_paths
from simpool.analysis.simulation import simulate_until
from simpool.errors import ScenarioError
from simpool.engine.plan import plan
from simpool.analysis.solve import Figure, parse_figure

LHP = {"simulation": {"paths": 300, "seed": 8, "horizon_years": 3, "start_year": 2025},
       "model": {"factor_persistence": 0.5},
       "cohorts": [{"name": "lhp", "loans": 10_000_000, "exposure": 1.0, "pd": 0.02,
                    "lgd": 1.0, "rho": 0.15}]}


# ------------------------------------------------------------------ stress paths

def test_stressed_year_has_the_vasicek_conditional_loss():
    """z fixed at Phi^-1(0.01) in 2026: every path's 2026 default rate is the conditional
    PD Phi((c - sqrt(rho) z) / sqrt(1 - rho)) up to binomial noise; 2025 is untouched."""
    q = 0.01
    sc = load_scenario({**LHP, "stress": [{"year": 2026, "quantile": q}]})
    res = simulate(sc)
    base = simulate(load_scenario(LHP))
    np.testing.assert_array_equal(res.samples("gross", 2025), base.samples("gross", 2025))
    z = special.ndtri(q)
    p = special.ndtr((special.ndtri(0.02) - math.sqrt(0.15) * z) / math.sqrt(0.85))
    alive = 1e7 - res.samples("gross", 2025)
    rate = res.samples("gross", 2026) / alive
    sd = np.sqrt(p * (1 - p) / alive)
    assert np.all(np.abs(rate - p) < 5 * sd)
    # persistence: 2027 is worse on average than the unstressed 2027
    assert res.samples("gross", 2027).mean() > 1.5 * base.samples("gross", 2027).mean()


def test_stress_by_z_and_by_sector():
    sc = load_scenario({**LHP, "model": {"sectors": ["a", "b"]},
                        "cohorts": [dict(LHP["cohorts"][0], sector="a"),
                                    dict(LHP["cohorts"][0], name="other", sector="b")],
                        "stress": [{"year": 2025, "z": -3.0, "sectors": ["a"]}]})
    inp = plan(sc)
    assert inp.model.fixed_z[0, 0] == -3.0 and np.isnan(inp.model.fixed_z[0, 1]) and np.isnan(inp.model.fixed_z[1:]).all()


@pytest.mark.parametrize("stress, message", [
    ({"year": 2030, "quantile": 0.01}, "stress.0.year: must be a simulated year, 2025..2027"),
    ({"year": 2026}, "give exactly one of quantile"),
    ({"year": 2026, "quantile": 0.01, "z": -2.0}, "give exactly one of quantile"),
    ({"year": 2026, "quantile": 1.0}, "must be < 1"),
    ({"year": 2026, "z": -2.0, "sectors": ["x"]}, "unknown sector 'x'"),
])
def test_bad_stress_entries(stress, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_scenario({**LHP, "stress": [stress]})


def test_stress_and_importance_sampling_exclude_each_other():
    with pytest.raises(ScenarioError, match="exclude each other"):
        load_scenario({**LHP, "stress": [{"year": 2025, "quantile": 0.01}],
                       "importance_sampling": {"method": "shift", "shift": [1.0]}})


def test_cli_stress_flag(tmp_path):
    import tomli_w

    f = tmp_path / "s.toml"
    f.write_bytes(tomli_w.dumps(LHP).encode())
    assert main(["run", str(f), "--stress", "2026=0.01", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "1-in" not in (tmp_path / "o" / "scenario.resolved.toml").read_text(encoding="utf-8")
    assert "quantile = 0.01" in (tmp_path / "o" / "scenario.resolved.toml").read_text(encoding="utf-8")
    assert main(["run", str(f), "--stress", "2026", "--out", str(tmp_path / "o"), "--quiet"]) == 2


@pytest.mark.parametrize("flag, where", [
    ("2026=1.5", "--stress 2026=1.5: quantile: must be < 1.0"),
    ("1999=0.01", "--stress 1999=0.01: year: must be a simulated year"),
])
def test_cli_stress_errors_name_the_flag(tmp_path, capsys, flag, where):
    import tomli_w

    f = tmp_path / "s.toml"
    f.write_bytes(tomli_w.dumps(LHP).encode())
    assert main(["validate", str(f), "--stress", "2026=0.01", "--stress", flag]) == 2
    err = capsys.readouterr().err
    assert where in err
    errors = [ln for ln in err.splitlines() if "warning:" not in ln]
    assert errors and not any(ln.startswith(("--set", str(f))) for ln in errors)


def test_shipped_bad_year_differs_from_base_only_from_2026():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "scenarios"
    b = simulate(load_scenario(root / "hubei_base.toml"), paths=1000)
    s = simulate(load_scenario(root / "whatif" / "bad_year_2026.toml"), paths=1000)
    np.testing.assert_array_equal(b.samples("gross", 2025), s.samples("gross", 2025))
    assert s.samples("gross", 2026).mean() > 3 * b.samples("gross", 2026).mean()


# ------------------------------------------------------------------ precision targets

def test_batches_of_paths_concatenate_to_one_run():
    sc = load_scenario({**LHP, "cohorts": [dict(LHP["cohorts"][0], loans=1000)]})
    inp = plan(sc)
    whole = run_paths(inp, 3, 1000)
    a = run_paths(inp, 3, 370)
    b = run_paths(inp, 3, 630, first_path=370)
    for k in whole:
        np.testing.assert_array_equal(whole[k], np.concatenate([a[k], b[k]]))


def test_target_se_stops_when_met_and_equals_one_run():
    sc = load_scenario({**LHP, "cohorts": [dict(LHP["cohorts"][0], loans=2000)]})
    fig = Figure("gross", "EL")
    one = simulate(sc, paths=500)
    se0 = fig.pick(one.summary())[1]
    target = se0 / 3  # needs about 9x the paths
    res = simulate_until(sc, [(fig, target)], paths=500)
    assert res.target_se_met
    assert fig.pick(res.summary())[1] <= target
    assert 4000 <= res.paths <= 20000
    again = simulate(sc, paths=res.paths)
    np.testing.assert_array_equal(res.samples("gross"), again.samples("gross"))
    capped = simulate_until(sc, [(fig, se0 / 100)], paths=500, max_paths=2000)
    assert capped.paths == 2000 and not capped.target_se_met


def test_figure_spec():
    assert parse_figure("gross/VaR/0.999@2026") == Figure("gross", "VaR", 2026, 0.999)
    assert parse_figure("pool:p/P(depleted by year)@2029") == Figure("pool:p", "P(depleted by year)", 2029)
    with pytest.raises(Exception, match="expected measure/statistic"):
        parse_figure("gross")


# ------------------------------------------------------------------ Dask

@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=":0")
    client = distributed.Client(c)
    yield c, client
    client.close()
    c.close()


def test_local_cluster_equals_the_thread_pool_bit_for_bit(cluster):
    from pathlib import Path

    _, client = cluster
    sc = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "hubei_base.toml")
    here = simulate(sc, paths=4000)
    there = simulate(sc, paths=4000, executor=client.get_executor(), chunk_size=700)
    assert set(here._raw) == set(there._raw)
    for k in here._raw:
        np.testing.assert_array_equal(here._raw[k], there._raw[k], err_msg=k)


def test_a_lost_worker_does_not_change_the_result(cluster):
    """Kill a worker process once some chunks are done: Dask reruns the lost chunks elsewhere
    (the nanny restarts the worker) and the numbers do not change."""
    c, client = cluster
    sc = load_scenario({**LHP, "simulation": {"paths": 40_000, "seed": 8, "horizon_years": 1},
                        "cohorts": [dict(LHP["cohorts"][0], loans=20_000, mode="loans")]})
    ref = simulate(sc)
    started = threading.Event()
    progress = {}

    def tick(done, total):
        progress["done"] = done
        if done >= 2000:
            started.set()

    out = {}

    def run():
        out["res"] = simulate(sc, executor=DaskExecutor(client), chunk_size=500, progress=tick)

    t = threading.Thread(target=run)
    t.start()
    assert started.wait(120)
    at_kill = progress["done"]
    killed = False
    for w in list(c.workers.values()):
        proc = getattr(getattr(w, "process", None), "process", None)
        if proc is not None and proc.is_alive():
            proc.kill()
            killed = True
            break
    t.join(timeout=300)
    assert killed and at_kill < 40_000, at_kill  # killed mid-run
    assert "res" in out
    np.testing.assert_array_equal(out["res"].samples("gross"), ref.samples("gross"))


def _fail(x):
    raise KeyError(f"chunk {x} failed")


def _slow(x):
    time.sleep(x)
    return x


def test_dask_executor_passes_errors_and_cancels(cluster):
    """A task's own exception reaches the caller (after the retries), not a wrapper's; a
    cancelled future cancels its task."""
    _, client = cluster
    ex = DaskExecutor(client, retries=1)
    ok = ex.submit(_slow, 0.0)
    bad = ex.submit(_fail, 3)
    assert ok.result(timeout=60) == 0.0
    with pytest.raises(KeyError, match="chunk 3 failed"):
        bad.result(timeout=60)
    long = ex.submit(_slow, 30.0)
    assert long.cancel() and long.cancelled()
    t0 = time.perf_counter()
    while long._task.status != "cancelled" and time.perf_counter() - t0 < 10:
        time.sleep(0.05)
    assert long._task.status == "cancelled"
    pending = [ex.submit(_slow, 30.0) for _ in range(2)]
    ex.shutdown(cancel_futures=True)
    assert all(f.cancelled() for f in pending)


def test_cli_dask_local(tmp_path):
    pytest.importorskip("distributed")
    import tomli_w

    f = tmp_path / "s.toml"
    f.write_bytes(tomli_w.dumps({**LHP, "cohorts": [dict(LHP["cohorts"][0], loans=1000)]}).encode())
    assert main(["run", str(f), "--dask", "local", "--dask-workers", "1", "--out",
                 str(tmp_path / "d"), "--quiet"]) == 0
    assert main(["run", str(f), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    a = (tmp_path / "d" / "summary.csv").read_text(encoding="utf-8-sig")
    b = (tmp_path / "t" / "summary.csv").read_text(encoding="utf-8-sig")
    assert a == b


def test_balance_at_the_end_of_the_last_year_is_exact():
    """Regression: the last year's end balance read one amortisation column past the array
    (garbage like 2e-297 appeared). Bullet loans without maturity: end balance = loans alive
    x exposure, exactly, on every path."""
    n, e = 3000, 1e6
    sc = load_scenario({"simulation": {"paths": 500, "seed": 4, "horizon_years": 2,
                                       "start_year": 2025},
                        "report": {"guarantee_balance_year": 2026},
                        "cohorts": [{"name": "g", "loans": n, "exposure": e, "pd": 0.05,
                                     "lgd": 0.5, "rho": 0.1, "product": "guaranteed",
                                     "guarantor": "gu"}],
                        "guarantors": [{"name": "gu", "net_assets": 1e9}]})
    res = simulate(sc)
    alive = n - res.samples("defaults")
    np.testing.assert_array_equal(res._raw["guarantee_balance_end"][:, 1], alive * e)
    row = res.summary()
    row = row[(row.measure == "guarantee_balance") & (row.statistic == "end of year")]
    assert row.value.iloc[0] == pytest.approx(alive.mean() * e)


def test_scenarios_are_found_through_the_package(tmp_path, monkeypatch):
    """A notebook copied anywhere finds the shipped scenarios: simpool.scenarios_dir() and
    simpool.example(name), whatever the current folder; SIMPOOL_SCENARIOS points elsewhere."""
    import simpool

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMPOOL_SCENARIOS", raising=False)
    d = simpool.scenarios_dir()
    assert (d / "hubei_base.toml").is_file()
    assert simpool.example("whatif/fee_half") == d / "whatif" / "fee_half.toml"
    assert simpool.example() == d / "hubei_base.toml"
    with pytest.raises(FileNotFoundError, match="no scenario 'nope'; shipped: .*hubei_base"):
        simpool.example("nope")
    monkeypatch.setenv("SIMPOOL_SCENARIOS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SIMPOOL_SCENARIOS"):
        simpool.scenarios_dir()
