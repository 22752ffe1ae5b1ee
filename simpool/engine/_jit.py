"""``@jit``: numba's ``njit`` with an on-disk cache keyed by the kernels' source.

numba revalidates a cached function against *its own* source file only, not the functions
it calls: after an edit to ``rng.py`` (or an upgrade of simpool in place), a cached
``waterfall_chunk`` would silently keep the old generator inlined. Every kernel of simpool is
therefore cached in a directory named after a hash of all kernel sources, so that any change
recompiles them all, and that hash is also the source stamp numba checks.

The directory is ``numba-<hash>`` under ``NUMBA_CACHE_DIR`` when that is set, else under
``simpool/__pycache__`` (or the user's cache folder when the package is read-only). The cache
files lie in it directly (numba's own locators mirror the absolute path of the source
folder): a cache compiled when the package is installed (see ``build_backend/``) serves the
package wherever it ends up, as long as the numba version and the CPU are the same (numba
checks both and recompiles otherwise). Only functions decorated here use this cache: other
numba code in the same process is unaffected.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from numba import njit
from numba.core import config

try:  # numba's cache internals, for a locator of our own (numba 0.59 to at least 0.68)
    from numba.core.caching import (CompileResultCacheImpl, FunctionCache, NullCache,
                                    _CacheLocator)
except ImportError:  # pragma: no cover - a numba that moved them: its own locator (below)
    _CacheLocator = None

#: Modules whose numba functions call one another, and the kernels' argument groups
#: (simpool/engine/inputs.py): the hash covers them all.
KERNEL_SOURCES = ("_jit.py", "inputs.py", "rng.py", "binomial.py", "kernels.py", "waterfall.py",
                  "fundkernels.py", "fofkernels.py", "moments.py", "vasicek.py")


@lru_cache(maxsize=4)
def source_hash(directory: str | None = None) -> str:
    """First 16 hex digits of the SHA-256 of the kernel sources (in ``directory``, default
    this package)."""
    here = Path(directory) if directory is not None else Path(__file__).parent
    h = hashlib.sha256()
    for name in KERNEL_SOURCES:
        h.update(name.encode())
        h.update((here / name).read_bytes())
    return h.hexdigest()[:16]


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


@lru_cache(maxsize=1)
def cache_dir() -> str:
    """The cache directory of this version of the kernels (created if needed)."""
    name = f"numba-{source_hash()}"
    user = os.environ.get("NUMBA_CACHE_DIR")
    candidates = [Path(user)] if user else []
    candidates += [Path(__file__).parent / "__pycache__",
                   Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "simpool"]
    for base in candidates:
        if _writable(base / name):
            _prune(base, keep=name)
            return str(base / name)
    return ""  # nowhere to write: numba compiles in memory each time


#: Caches of other kernel versions kept beside the current one (most recently used first);
#: older ones are deleted once they are an hour old (a process of that version may still be
#: running; it would only recompile).
KEEP_OTHER_VERSIONS = 3


def _prune(base: Path, keep: str) -> None:
    """Delete stale ``numba-<hash>`` siblings of the current cache directory."""
    import shutil
    import time

    try:
        others = [p for p in base.glob("numba-*") if p.is_dir() and p.name != keep]
        others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        cutoff = time.time() - 3600
        for p in others[KEEP_OTHER_VERSIONS:]:
            if p.stat().st_mtime < cutoff:
                shutil.rmtree(p, ignore_errors=True)
    except OSError:
        pass  # a cache we cannot tidy is still a cache


if _CacheLocator is not None:

    class _KernelLocator(_CacheLocator):
        """numba cache locator: :func:`cache_dir` itself, stamped with :func:`source_hash`."""

        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno
            self._path = cache_dir()

        def get_cache_path(self):
            return self._path

        def get_source_stamp(self):
            return source_hash()

        def get_disambiguator(self):
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            if not cache_dir():
                return None
            self = cls(py_func, py_file)
            try:
                self.ensure_cache_path()
            except OSError:
                return None  # not writable after all: compile in memory
            return self

    class _KernelCacheImpl(CompileResultCacheImpl):
        _locator_classes = [_KernelLocator]

    class _KernelCache(FunctionCache):
        _impl_class = _KernelCacheImpl

else:  # pragma: no cover
    _KernelCache = None


def _cache_for(fn):
    """The cache of kernel ``fn``: :class:`_KernelCache`, or none where nothing is writable."""
    try:
        return _KernelCache(fn)
    except RuntimeError:  # no locator: no writable cache directory (_KernelLocator)
        return NullCache()


def jit(*signatures, **options):
    """Decorator: ``numba.njit(*signatures, **options)`` cached in :func:`cache_dir`.

    With ``signatures`` the function is compiled (or loaded from the cache) for exactly
    those, at decoration, and for nothing else: callers' argument types are converted.
    """

    def decorate(fn):
        if _KernelCache is not None:
            disp = njit(**options)(fn)
            disp._cache = _cache_for(fn)  # what Dispatcher.enable_caching does, with ours
        else:  # numba's own locator under cache_dir(): keyed by this folder's path
            old = config.CACHE_DIR
            config.CACHE_DIR = cache_dir()
            try:  # the dispatcher fixes its cache directory when it is created
                disp = njit(cache=bool(config.CACHE_DIR), **options)(fn)
            finally:
                config.CACHE_DIR = old
        if signatures:
            from numba.core import typeinfer

            with typeinfer.register_dispatcher(disp):  # as numba.njit(signatures) does
                for sig in signatures:
                    disp.compile(sig)
            disp.disable_compile()
        return disp

    return decorate
