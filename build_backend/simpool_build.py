"""PEP 517 build backend: setuptools', plus simpool's numba kernels compiled at install.

numba compiles the kernels the first time they run, about 20-30 s of a first simulation on
two cores. This backend moves that into ``pip install``: after setuptools has built the
(editable or regular) wheel it runs :func:`simpool.analysis.simulation.precompile` in a subprocess of the
build environment, so the numba cache is ready before the first ``simpool run``:

* editable install (``pip install -e .``): the package *is* the source tree, and the cache is
  compiled where the installed package will look for it (``simpool.engine._jit.cache_dir``:
  ``NUMBA_CACHE_DIR`` when set, else ``simpool/engine/__pycache__/numba-<hash>``);
* regular wheel (``pip install .``): compiled into a temporary folder and added to the wheel
  as ``simpool/engine/__pycache__/numba-<hash>/`` (so ``pip uninstall`` removes it too).

numba checks that a cache was made by the same numba version for the same CPU and
recompiles otherwise, so a wheel built on another machine, or a numba upgraded later, costs
one compile at the first run, never a wrong result. The kernels' cache folder is named after
a hash of their sources (``simpool.engine._jit``), so an edited kernel never loads a stale one.

Compiling never fails an install: on any error (no numba for this platform, a build without
isolation lacking a dependency, a timeout) the backend prints a warning and the kernels
compile at their first run as before. ``SIMPOOL_PRECOMPILE=0`` skips it (a quick reinstall
while developing, or packaging for another machine).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (  # noqa: F401  (re-exported hooks)
    build_sdist,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

#: The runtime dependencies ``simpool.analysis.simulation.precompile`` imports (their bounds are read
#: from pyproject.toml): the build environment gets these on top of setuptools'.
PRECOMPILE_IMPORTS = ("numpy", "numba", "scipy", "pydantic", "charset-normalizer")

#: Seconds allowed for compiling (about 35 s on two cores); past it the install goes on.
PRECOMPILE_TIMEOUT_S = 900

#: Python run in the subprocess: compile every kernel variant, print the cache folder last.
_PRECOMPILE_CODE = """\
import sys
from simpool.engine._jit import cache_dir
from simpool.analysis.simulation import precompile
precompile(log=lambda line: print('simpool: compiled', line, file=sys.stderr, flush=True))
print(cache_dir())
"""


def _enabled() -> bool:
    return os.environ.get("SIMPOOL_PRECOMPILE", "1").strip().lower() not in ("0", "no", "false")


def _precompile_requires(root: Path = Path(".")) -> list[str]:
    """The requirement strings of :data:`PRECOMPILE_IMPORTS` in pyproject.toml."""
    deps = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"]
    wanted = {n.lower() for n in PRECOMPILE_IMPORTS}
    return [d for d in deps if re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0].lower() in wanted]


def _warn(msg: str) -> None:
    print(f"simpool: {msg}", file=sys.stderr, flush=True)


def precompile_kernels(source: Path, cache_root: str | None = None,
                       timeout: float = PRECOMPILE_TIMEOUT_S) -> Path | None:
    """Compile the kernels of the package in ``source`` (the folder holding ``simpool/``) in a
    subprocess of this interpreter; ``cache_root`` becomes its NUMBA_CACHE_DIR (None: the
    caller's environment decides, as it will for the installed package). Returns the cache
    folder, or None after a warning if compiling failed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [env.get("PYTHONPATH")])])
    if cache_root is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_root)
    t0 = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", _PRECOMPILE_CODE], env=env, cwd=source,
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        _warn(f"could not compile the kernels at install ({e}); they compile at the first run")
        return None
    sys.stderr.write(done.stderr)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1]:
        _warn(f"compiling the kernels at install failed (exit {done.returncode}); they "
              f"compile at the first run")
        return None
    _warn(f"kernels compiled at install in {time.perf_counter() - t0:.0f} s into {lines[-1]}")
    return Path(lines[-1])


def add_to_wheel(wheel: Path, files: dict[str, bytes]) -> None:
    """Add ``files`` (archive name -> content) to ``wheel``, listed with their hashes in its
    RECORD as the wheel format requires."""
    tmp = wheel.with_name(wheel.name + ".part")
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        for item in zin.infolist():
            if item.filename != record:
                zout.writestr(item, zin.read(item.filename))
        lines = [ln for ln in zin.read(record).decode("utf-8").splitlines()
                 if ln and not ln.startswith(record + ",")]
        for name, data in files.items():
            zout.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            lines.append(f"{name},sha256={digest.decode()},{len(data)}")
        lines.append(f"{record},,")
        zout.writestr(record, "\n".join(lines) + "\n")
    tmp.replace(wheel)


def get_requires_for_build_wheel(config_settings=None):
    extra = _precompile_requires() if _enabled() else []
    return _setuptools.get_requires_for_build_wheel(config_settings) + extra


def get_requires_for_build_editable(config_settings=None):
    extra = _precompile_requires() if _enabled() else []
    return _setuptools.get_requires_for_build_editable(config_settings) + extra


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    if _enabled():
        precompile_kernels(Path.cwd())
    return name


def shipped_scenarios(root: Path = Path(".")) -> dict[str, bytes]:
    """The checkout's ``scenarios/`` tree (TOML files and their READMEs) as wheel entries under
    ``simpool/scenarios/``, so that :func:`simpool.scenarios_dir` and :func:`simpool.example`
    find them in a regular install too. The tree keeps its layout, so ``extends = "../..."``
    between shipped scenarios still resolves."""
    base = root / "scenarios"
    return {f"simpool/scenarios/{p.relative_to(base).as_posix()}": p.read_bytes()
            for p in sorted(base.rglob("*")) if p.is_file() and p.suffix in (".toml", ".md")}


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)
    files = shipped_scenarios(Path.cwd())
    if _enabled():
        with tempfile.TemporaryDirectory() as root:
            cache = precompile_kernels(Path.cwd(), cache_root=root)
            if cache is not None:
                files.update({f"simpool/engine/__pycache__/{cache.name}/{p.name}": p.read_bytes()
                              for p in sorted(cache.iterdir()) if p.is_file()})
    add_to_wheel(Path(wheel_directory) / name, files)
    return name
