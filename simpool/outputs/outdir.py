"""Output folders that one command owns: an exclusive lock, a manifest, files replaced as a set.

Every command that writes a folder (``run``, ``sweep``, ``compare``, ``solve``, ``targets``,
``sensitivity``) opens it as an :class:`OutputFolder`:

* **Lock.** ``.simpool.lock`` in the folder is locked (``flock``, exclusive) for the whole
  command. A second writer exits at once naming the holder's pid, command and start time.
  The operating system releases the lock when its process dies, so a lock left by a killed
  process is simply taken over (the file's text only says who held it last).
* **Manifest.** ``simpool-manifest.json`` records what kind of result the folder holds
  (``run``, ``sweep``, ...), the command that wrote it, whether its last write finished,
  and every file simpool wrote with its SHA-256 and size. Only files listed there are ever
  replaced as stale or deleted (``sweep --fresh``); files simpool did not write never block
  a command and are never deleted.
* **One kind per folder.** A folder holding another kind of result (a run's summary in a
  sweep's folder, say) is refused before anything is simulated: the two would overwrite
  each other's ``summary.csv``.
* **Sets.** :meth:`OutputFolder.replace_set` writes a run's files as one set: the previous
  set's marker file (``summary.csv``) is removed first and written last, and files of the
  previous set that the new one does not have (an older ``summary.parquet``) are removed, so
  a folder never pairs new provenance with an old summary.
* **Checksums.** :meth:`OutputFolder.verified` reads a file back only when its checksum is
  the manifest's: a file edited since (a CSV re-saved by Excel) is reported, never combined.

Each file is written atomically (:func:`simpool.outputs.files.atomic_write_bytes`), then the
manifest; a kill between the two leaves a complete file the manifest does not vouch for,
which the next command treats as foreign (rewritten, never trusted).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from ..errors import SimpoolError, UsageError

MANIFEST = "simpool-manifest.json"
LOCK = ".simpool.lock"
#: Kinds of result a folder may hold (one per folder).
KINDS = ("run", "sweep", "compare", "solve", "sensitivity", "targets")


class FolderBusy(SimpoolError):
    """Another live simpool process holds the output folder."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _holder_text(lock_path: Path, wait_s: float = 1.0) -> str:
    """Who holds the lock, from the lock file (the holder writes it just after locking: a
    second command that loses a race reads it once it is there, waiting up to ``wait_s``)."""
    import time

    end = time.monotonic() + wait_s
    while True:
        try:
            info = json.loads(lock_path.read_text(encoding="utf-8"))
            cmd = " ".join(str(x) for x in info.get("command") or []) or "?"
            return f"pid {info.get('pid', '?')}, started {info.get('started_utc', '?')}: {cmd}"
        except (OSError, ValueError, AttributeError):
            if time.monotonic() > end:
                return "another process (its lock file is being written)"
            time.sleep(0.02)


def check_writable_folder(path: Path, what: str = "--out") -> Path:
    """Create ``path`` if needed and prove it can hold files, before anything is simulated:
    a :class:`~simpool.errors.SimpoolError` (exit 1) naming the folder if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SimpoolError(f"{what}: {path} is a file, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SimpoolError(f"{what}: cannot create the folder {path}: {e.strerror or e}") from None
    probe = path / f".simpool-probe-{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"x")
        probe.unlink()
    except OSError as e:
        raise SimpoolError(f"{what}: cannot write in the folder {path}: {e.strerror or e}") from None
    return path


def check_writable_file(path: Path, what: str = "--out") -> Path:
    """The folder of an output file can take it, and the name is not a folder."""
    path = Path(path)
    if path.is_dir():
        raise SimpoolError(f"{what}: {path} is a folder; name the file to write, e.g. {path / 'report.html'}")
    check_writable_folder(path.parent if str(path.parent) else Path("."), what)
    return path


class OutputFolder:
    """A folder held by one command (see the module docstring). Use as a context manager::

        with OutputFolder(out, "run") as folder:
            ... simulate ...
            folder.replace_set({"summary.csv": data, ...}, marker="summary.csv")
    """

    def __init__(self, path: str | os.PathLike, kind: str, argv: list[str] | None = None):
        if kind not in KINDS:
            raise ValueError(f"unknown output kind {kind!r}")
        self.path = Path(path)
        self.kind = kind
        self.argv = list(sys.argv if argv is None else argv)
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._fd: int | None = None
        self._created = False
        self.manifest: dict = {}

    # -- lock ------------------------------------------------------------------------------
    def __enter__(self) -> "OutputFolder":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        """Check the folder, take its lock, read its manifest, refuse another kind."""
        self._created = not self.path.exists()
        check_writable_folder(self.path)
        self._lock()
        try:
            self.manifest = self._read_manifest()
            held = self.manifest.get("kind")
            if held and held != self.kind and self.manifest.get("files"):
                cmd = " ".join(str(x) for x in self.manifest.get("command") or [])
                raise UsageError(
                    f"--out: {self.path} holds the results of a {held} ({cmd or 'simpool'}), "
                    f"not of a {self.kind}: the two would overwrite each other's files; choose "
                    "another --out")
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        lock_path = self.path / LOCK
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: no lock, say so once
            print("simpool: warning: no folder locks on this platform", file=sys.stderr)
            return
        for _ in range(20):
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise FolderBusy(f"{self.path} is being written by another simpool command "
                                     f"({_holder_text(lock_path)}); wait for it or choose "
                                     "another --out") from None
                raise
            # the holder before us may have removed the file after we opened it: then our
            # lock is on a file nobody else will open; start again on the current one
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock_path))
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                info = {"pid": os.getpid(), "command": self.argv, "started_utc": self.started,
                        "kind": self.kind}
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(info, ensure_ascii=False) + "\n").encode("utf-8"), 0)
                return
            os.close(fd)
        raise FolderBusy(f"{self.path}: could not take the folder's lock ({LOCK} keeps changing)")

    def close(self) -> None:
        if self._fd is None:
            return
        import fcntl

        try:
            os.unlink(self.path / LOCK)  # while still holding it (see _lock)
        except OSError:
            pass
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        if self._created:  # a command that wrote nothing leaves no empty folder behind
            try:
                self.path.rmdir()
            except OSError:
                pass

    # -- manifest --------------------------------------------------------------------------
    def _read_manifest(self) -> dict:
        p = self.path / MANIFEST
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, UnicodeDecodeError):
            print(f"simpool: warning: {p} is unreadable; treating every file in "
                  f"{self.path} as written by someone else", file=sys.stderr)
            return {}
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            return {}
        return data

    def _save_manifest(self, complete: bool) -> None:
        from .._version import __version__
        from .atomic import atomic_write_bytes

        self.manifest.update({"simpool": __version__, "kind": self.kind, "command": self.argv,
                              "written_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "complete": complete})
        self.manifest.setdefault("files", {})
        atomic_write_bytes(self.path / MANIFEST,
                           (json.dumps(self.manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))

    @property
    def files(self) -> dict:
        """``{relative path: {"sha256", "bytes"}}`` of the files simpool wrote here."""
        return self.manifest.setdefault("files", {})

    def owns(self, name: str) -> bool:
        """Whether the manifest lists ``name`` (a path relative to the folder)."""
        return name in self.files

    # -- files -----------------------------------------------------------------------------
    def write(self, name: str, data: bytes, *, complete: bool | None = None,
              save: bool = True) -> Path:
        """Write ``data`` to ``name`` (relative; atomically) and record it in the manifest
        (saved at once unless ``save=False``: then call :meth:`save` after a group)."""
        from .atomic import atomic_write_bytes

        target = self.path / name
        atomic_write_bytes(target, data)
        self.files[name] = {"sha256": sha256_bytes(data), "bytes": len(data)}
        if save:
            self.save(complete)
        return target

    def save(self, complete: bool | None = None) -> None:
        """Write the manifest (``complete`` unchanged when None)."""
        self._save_manifest(self.manifest.get("complete", True) if complete is None else complete)

    def remove(self, name: str) -> None:
        """Delete ``name`` if the manifest lists it (never a file simpool did not write)."""
        if name not in self.files:
            return
        try:
            (self.path / name).unlink()
        except FileNotFoundError:
            pass
        del self.files[name]

    def verified(self, name: str) -> bytes | None:
        """The bytes of ``name`` when the manifest vouches for them (same SHA-256), else None
        (absent, never written by simpool, or changed since)."""
        entry = self.files.get(name)
        if entry is None:
            return None
        try:
            data = (self.path / name).read_bytes()
        except OSError:
            return None
        return data if sha256_bytes(data) == entry.get("sha256") else None

    def changed(self, name: str) -> bool:
        """True when ``name`` is listed but its bytes are no longer the ones simpool wrote."""
        return name in self.files and (self.path / name).exists() and self.verified(name) is None

    def replace_set(self, files: dict[str, bytes], marker: str,
                    keep: tuple[str, ...] = ()) -> list[Path]:
        """Write ``files`` as the folder's one set of results.

        The previous set's ``marker`` is removed first and written last (its presence marks a
        finished set); listed files of the previous set that this one lacks are removed
        (except ``keep``). The manifest says ``complete: false`` until the marker is in place.
        """
        self.remove(marker)
        self._save_manifest(False)
        written = []
        for name, data in files.items():
            if name != marker:
                written.append(self.write(name, data, complete=False))
        written.insert(0, self.write(marker, files[marker], complete=False))
        for name in list(self.files):
            if name not in files and name not in keep:
                self.remove(name)
        self._save_manifest(True)
        return written

    def clear(self) -> int:
        """Delete every file the manifest lists (``sweep --fresh``); return how many."""
        n = 0
        for name in list(self.files):
            if (self.path / name).exists():
                n += 1
            self.remove(name)
        self._save_manifest(True)
        return n

