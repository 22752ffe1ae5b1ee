"""Atomic file writes: a file is complete or absent, never half-written.

Each file is written to a temporary name in its folder (``.<name>.<pid>-XXXX.tmp``), flushed,
synced and renamed into place. A killed writer's temporary file is removed by the next write
of the same file, unless its writer (the pid in its name) is still alive.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    import glob

    return glob.escape(name)


def _test_pause(path: Path) -> None:
    """Test hook (``tests/test_faults.py``), inert unless the environment variable
    ``SIMPOOL_TEST_PAUSE_WRITE`` is set to ``PATTERN:SECONDS``: a write of a file whose name
    matches the glob ``PATTERN`` prints ``simpool-test-pause: <path>`` to stderr and sleeps
    ``SECONDS`` before touching anything, so a test can kill the process at that moment."""
    spec = os.environ.get("SIMPOOL_TEST_PAUSE_WRITE")
    if not spec:
        return
    import fnmatch
    import time

    pattern, _, seconds = spec.rpartition(":")
    if fnmatch.fnmatchcase(path.name, pattern):
        print(f"simpool-test-pause: {path}", file=sys.stderr, flush=True)
        time.sleep(float(seconds))


#: A temporary file whose writer cannot be told from its name (an older simpool's) is
#: removed as stale only when it is older than this (seconds).
STALE_TEMP_AGE_S = 3600.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or unknowable: keep its file
    return True


def _remove_stale_temps(path: Path) -> None:
    """Remove temporary files of ``path`` left by killed writers: never one whose writer (the
    pid in its name, ``.<name>.<pid>-XXXX.tmp``) is alive, this process included."""
    import re
    import time

    pattern = re.compile(rf"\.{re.escape(path.name)}\.(?:(\d+)-)?[^/]*\.tmp")
    for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        m = pattern.fullmatch(stale.name)
        if m is None:
            continue
        try:
            if m.group(1) is not None:
                if _pid_alive(int(m.group(1))):
                    continue
            elif time.time() - stale.stat().st_mtime < STALE_TEMP_AGE_S:
                continue
            stale.unlink()
        except OSError:
            pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path = Path(path)
    _test_pause(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a result file is as readable as any
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
