"""The numba cache is keyed by the kernels' source (simpool.engine._jit).

numba revalidates a cached function only against its own file: a cached waterfall kernel
would otherwise keep an old random-number generator after rng.py changed (this happened:
the stale kernel was also 1.5x slower). These tests pin the mechanism that prevents it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from simpool import _jit

KERNELS = Path(_jit.__file__).parent  # the folder of the kernel sources
PKG = KERNELS.parent  # the package


def test_hash_changes_with_any_kernel_source(tmp_path):
    for name in _jit.KERNEL_SOURCES:
        shutil.copy(KERNELS / name, tmp_path / name)
    base = _jit.source_hash(str(tmp_path))
    assert base == _jit.source_hash()  # same bytes, same key
    for name in _jit.KERNEL_SOURCES:
        d = tmp_path / name.replace(".py", "")
        d.mkdir()
        for other in _jit.KERNEL_SOURCES:
            shutil.copy(KERNELS / other, d / other)
        with open(d / name, "a", encoding="utf-8") as f:
            f.write("\n# an edit\n")
        assert _jit.source_hash(str(d)) != base, name


def test_every_kernel_caches_under_the_keyed_directory():
    from simpool import binomial, fundkernels, kernels, rng, waterfall

    where = _jit.cache_dir()
    assert where.endswith(f"numba-{_jit.source_hash()}")
    n = 0
    for mod in (rng, binomial, kernels, waterfall, fundkernels):
        for name in dir(mod):
            fn = getattr(mod, name)
            if getattr(fn, "__module__", None) == mod.__name__ and hasattr(fn, "_cache"):
                assert fn._cache._cache_path.startswith(where), (mod.__name__, name)
                n += 1
    assert n >= 30  # every kernel module was seen


def test_other_numba_code_keeps_its_own_cache_setting():
    from numba import njit
    from numba.core import config

    before = config.CACHE_DIR

    @njit(cache=True)
    def f(x):
        return x + 1

    assert config.CACHE_DIR == before
    assert not f._cache._cache_path.startswith(_jit.cache_dir())


def test_a_user_cache_dir_is_respected(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "from simpool.engine._jit import cache_dir; print(cache_dir())"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(tmp_path / f"numba-{_jit.source_hash()}")
    assert Path(out).is_dir()


def test_stale_versions_are_pruned_but_recent_ones_kept(tmp_path):
    import time

    now = time.time()
    for i in range(6):  # six other versions, the oldest two days old, one an hour ago each
        d = tmp_path / f"numba-old{i}"
        d.mkdir()
        (d / "x.nbi").write_bytes(b"")
        t = now - 86400 * 2 + i * 3600
        os.utime(d, (t, t))
    fresh = tmp_path / "numba-fresh"  # used a minute ago: kept whatever its rank
    fresh.mkdir()
    os.utime(fresh, (now - 60, now - 60))
    (tmp_path / "numba-current").mkdir()
    (tmp_path / "unrelated").mkdir()
    _jit._prune(tmp_path, keep="numba-current")
    left = sorted(p.name for p in tmp_path.iterdir())
    # the current one, the fresh one and the two most recent old ones: KEEP_OTHER_VERSIONS = 3
    assert left == ["numba-current", "numba-fresh", "numba-old4", "numba-old5", "unrelated"]


def test_stream_helpers_compile_once_whatever_the_literal_arguments():
    """draw(key, STREAM_LGD, j) and draw(key, STREAM_MIX, 0) pass literal constants; without
    the explicit signatures numba compiled a copy per literal value (35 in all)."""
    import numpy as np

    import simpool
    from simpool import binomial, rng

    sc = simpool.load_scenario({
        "title": "signatures",
        "simulation": {"paths": 50, "seed": 3, "horizon_years": 2},
        "model": {"sectors": ["a"], "copula": "t", "dof": 6},
        "cohorts": [
            {"name": "c", "loans": 400, "exposure": 1e6, "pd": 0.05, "lgd": 0.45,
             "lgd_std": 0.2, "rho": 0.15, "sector": "a"},
            {"name": "l", "loans": 300, "exposure": 1e6, "pd": 0.04, "lgd": 0.45,
             "lgd_std": 0.2, "rho": 0.15, "sector": "a", "mode": "loans"},
        ],
    })
    res = simpool.simulate(sc)
    assert res.paths == 50 and np.all(np.isfinite(res.samples("gross")))
    for fn in (rng.path_year_key, rng.counter, rng.draw, rng.uniform, rng.gamma_variate,
               rng.log_gamma_variate, binomial.binom_pmf):
        assert len(fn.signatures) == 1, (fn.__name__, fn.signatures)


def test_kernel_arguments_have_one_form():
    """Read-only, strided or numpy-scalar inputs would each compile the waterfall kernel again
    (~15 s): the plan hands the kernels one form whatever the caller passed."""
    import numba
    import numpy as np

    import simpool
    from simpool.engine.inputs import kernel_form
    from simpool.engine.plan import plan

    sc = simpool.load_scenario({
        "title": "forms",
        "simulation": {"paths": 10, "seed": 1, "horizon_years": 2},
        "model": {"sectors": ["a", "b"], "sector_correlation": [[1.0, 0.2], [0.2, 1.0]]},
        "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.02, "lgd": 0.45,
                     "rho": 0.15, "sector": "a"}],
    })
    base = plan(sc)
    shift = np.broadcast_to(np.full((1, 2), 0.5), (2, 2))  # read-only view
    assert not shift.flags.writeable
    shifted = plan(sc, shift=shift)
    def groups(inputs):
        wf = inputs.waterfall
        return (inputs.model, inputs.book, wf.routes, wf.banks, wf.guarantors, wf.pools,
                wf.insurance, wf.public)

    for inputs in (base, shifted):
        for g in groups(inputs):
            for a in g:
                if isinstance(a, np.ndarray):
                    assert a.flags.c_contiguous and a.flags.writeable and a.flags.aligned
                assert not isinstance(a, np.generic), type(a)
    for a, b in zip(groups(base), groups(shifted)):
        assert numba.typeof(a) == numba.typeof(b)
    np.testing.assert_array_equal(shifted.model.shift, np.full((2, 2), 0.5))
    # the form itself
    ro = np.arange(6.0)
    ro.setflags(write=False)
    assert kernel_form(ro).flags.writeable and np.array_equal(kernel_form(ro), ro)
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    assert kernel_form(strided).flags.c_contiguous
    ok = np.zeros(3)
    assert kernel_form(ok) is ok
    assert type(kernel_form(np.int32(3))) is int and type(kernel_form(np.float32(0.5))) is float
    assert type(kernel_form(np.bool_(True))) is bool


def test_simpool_compile_compiles_the_kernel_variants(capsys):
    from simpool.cli import main
    from simpool.engine.fundkernels import fund_chunk
    from simpool.engine.waterfall import waterfall_chunk

    assert main(["compile"]) == 0
    out = capsys.readouterr()
    assert "4 kernel variants ready" in out.out and _jit.cache_dir() in out.out
    for name in ("credit and policy waterfall", "importance-sampling twist", "government funds"):
        assert name in out.err
    twists = {str(sig[4]) for sig in waterfall_chunk.signatures}
    assert {"none", "UniTuple(float64 x 2)"} <= twists
    assert fund_chunk.signatures


def test_precompile_covers_every_shipped_scenario(monkeypatch):
    """The argument types the kernels are called with (numba compiles one body per type
    tuple) for every shipped scenario, and an importance-sampling twist, are among those of
    the precompile variants: after `simpool compile` a first run compiles nothing. Types are
    recorded at the call, so kernels compiled by earlier tests cannot hide a gap."""
    import glob

    import numba

    import simpool
    from simpool import engine, fundkernels, waterfall

    seen: dict[str, set] = {"waterfall": set(), "fund": set()}

    def spy(kind, fn):
        def call(*args):
            seen[kind].add(tuple(numba.typeof(a) for a in args))
            return fn(*args)
        return call

    monkeypatch.setattr(waterfall, "waterfall_chunk", spy("waterfall", waterfall.waterfall_chunk))
    monkeypatch.setattr(fundkernels, "fund_chunk", spy("fund", fundkernels.fund_chunk))
    engine.precompile()
    covered = {k: set(v) for k, v in seen.items()}
    assert len(covered["waterfall"]) == 2 and len(covered["fund"]) == 1
    for v in seen.values():
        v.clear()
    files = sorted(glob.glob(str(PKG.parent / "scenarios" / "**" / "*.toml"), recursive=True))
    assert len(files) >= 10
    for f in files:
        simpool.simulate(simpool.load_scenario(f), paths=20)
    twisted = simpool.load_scenario(str(PKG.parent / "scenarios" / "hubei_base.toml"), [
        "simulation.horizon_years=1", "importance_sampling.method=shift_twist",
        "importance_sampling.target=4e9"])
    simpool.simulate(twisted, paths=20)
    assert seen["waterfall"] and seen["fund"]
    for kind in seen:
        assert seen[kind] <= covered[kind], kind


def test_the_cache_serves_the_package_wherever_it_lies(tmp_path):
    """A cache compiled for the package in one folder serves a copy of it in another, with
    other file times: what a cache compiled at install (build_backend) relies on. numba's
    own locators would key it by the source folder's absolute path and miss."""
    import numpy as np

    import simpool

    spec = {"title": "moved", "simulation": {"paths": 64, "seed": 5, "horizon_years": 2},
            "cohorts": [{"name": "c", "loans": 100, "exposure": 1e6, "pd": 0.05,
                         "lgd": 0.45, "rho": 0.15}]}
    here = simpool.simulate(simpool.load_scenario(spec)).samples("gross")  # warms the cache
    copy = tmp_path / "site"
    shutil.copytree(PKG, copy / "simpool", ignore=shutil.ignore_patterns("__pycache__"))
    for f in (copy / "simpool").rglob("*.py"):
        os.utime(f, (1e9, 1e9))  # other mtimes than the compiled sources
    shutil.copytree(_jit.cache_dir(), copy / "simpool" / "engine" / "__pycache__"
                    / Path(_jit.cache_dir()).name)
    probe = f"""
import json, sys
from numba.core import event
import simpool
compiled = []
class L(event.Listener):
    def on_start(self, ev): compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev): pass
event.register("numba:compile", L())
r = simpool.simulate(simpool.load_scenario({spec!r}))
print(json.dumps({{"file": simpool.__file__, "compiled": compiled,
                   "gross": r.samples("gross").tolist()}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(copy)
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    got = __import__("json").loads(out.strip().splitlines()[-1])
    assert got["file"].startswith(str(copy))  # the copy ran, not this checkout
    assert got["compiled"] == []  # every kernel came from the copied cache
    np.testing.assert_array_equal(np.asarray(got["gross"]), here)


def test_the_stamp_numba_checks_is_the_hash_of_all_kernel_sources():
    """numba reloads a cache entry only when its index holds the same source stamp: with the
    hash of every kernel source as the stamp, an index written for other sources (a stale
    folder, a kernel edited in place) is recompiled, never run."""
    import pickle

    from simpool.engine.rng import seed_key

    seed_key(np.uint64(1))  # compiled or loaded: its index is on disk
    assert seed_key._cache._impl.locator.get_source_stamp() == _jit.source_hash()
    index = next(Path(_jit.cache_dir()).glob("rng.seed_key-*.nbi"))
    with open(index, "rb") as f:
        pickle.load(f)  # numba's version
        stamp, _ = pickle.loads(f.read())
    assert stamp == _jit.source_hash()


def test_without_numbas_cache_internals_kernels_still_cache_under_the_keyed_directory(
        monkeypatch, tmp_path):
    """A numba that moved ``numba.core.caching``'s classes gets numba's own locator under
    cache_dir() (path-specific, so no cache from the install, but still cached and keyed)."""
    from numba.core import config

    monkeypatch.setattr(_jit, "_KernelCache", None)
    monkeypatch.setattr(_jit, "cache_dir", lambda: str(tmp_path / "numba-test"))
    before = config.CACHE_DIR

    def plus_two(x):
        return x + 2

    disp = _jit.jit()(plus_two)
    assert disp(1) == 3
    assert config.CACHE_DIR == before
    assert disp._cache._cache_path.startswith(str(tmp_path / "numba-test"))
    assert type(disp._cache).__name__ == "FunctionCache"
    assert list((tmp_path / "numba-test").rglob("*.nbi"))  # it did cache


def test_an_edited_kernel_source_recompiles(tmp_path):
    """The cache key covers every kernel source where it lies now (simpool/engine/): a copy of
    the package compiles a kernel once, loads it from its cache in the next process, and
    compiles it again after one kernel file (here rng.py, which the kernel does not even call)
    is edited."""
    copy = tmp_path / "site"
    shutil.copytree(PKG, copy / "simpool", ignore=shutil.ignore_patterns("__pycache__"))
    probe = """
import json
import numpy as np
from numba.core import event
from simpool.engine._jit import cache_dir
from simpool.engine.moments import block_moments
compiled = []
class L(event.Listener):
    def on_start(self, ev): compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev): pass
event.register("numba:compile", L())
out = [np.empty((1, 2)) for _ in range(5)]
block_moments(np.ones((3, 2)), np.ones(3), np.zeros(2, np.bool_), 1024, *out)
print(json.dumps({"compiled": compiled, "cache": cache_dir()}))
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["PYTHONPATH"] = str(copy)

    def run():
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                             text=True, check=True, cwd=tmp_path).stdout
        return __import__("json").loads(out.strip().splitlines()[-1])

    first, second = run(), run()
    # (numba also compiles the numpy implementations a kernel pulls in, e.g. min)
    assert "block_moments" in first["compiled"] and second["compiled"] == []
    assert first["cache"].startswith(str(copy / "simpool" / "engine"))
    with open(copy / "simpool" / "engine" / "rng.py", "a", encoding="utf-8") as f:
        f.write("\n# an edit\n")
    third = run()
    assert "block_moments" in third["compiled"] and third["cache"] != first["cache"]
