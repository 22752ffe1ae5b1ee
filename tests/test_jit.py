"""The numba cache is keyed by the kernels' source (simpool._jit).

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

from simpool import _jit

PKG = Path(_jit.__file__).parent


def test_hash_changes_with_any_kernel_source(tmp_path):
    for name in _jit.KERNEL_SOURCES:
        shutil.copy(PKG / name, tmp_path / name)
    base = _jit.source_hash(str(tmp_path))
    assert base == _jit.source_hash()  # same bytes, same key
    for name in _jit.KERNEL_SOURCES:
        d = tmp_path / name.replace(".py", "")
        d.mkdir()
        for other in _jit.KERNEL_SOURCES:
            shutil.copy(PKG / other, d / other)
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
    out = subprocess.run([sys.executable, "-c", "from simpool._jit import cache_dir; print(cache_dir())"],
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
