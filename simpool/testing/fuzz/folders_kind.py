"""The ``folders`` kind: commands run one after another into one ``--out`` folder (a run and
a sweep, foreign files, a bogus manifest, stale and live locks, ``--fresh``, files edited as a
user would, ``--format`` changed between reruns). After every command the folder's invariants
hold, a refusal changes nothing, and a finished command's summary.csv is byte-identical to the
same command's into an empty folder.
"""

from __future__ import annotations

import contextlib
import csv as _csv
import io
import json
import os
import random
from pathlib import Path
from typing import Callable

from .checks import (_LOCK, _MANIFEST, _check_flag_messages, _check_folder, _run_names,
                     _snapshot, _sweep_names)
from .core import Case, _call_main
from .sources import _SYN_SWEEP, Source


#: Files a user (not simpool) leaves in an output folder: (name, bytes).
_FOREIGN_FILES = (
    ("notes.txt", "给领导的说明：不要删除\n".encode("utf-8")),
    ("README.md", b"# board pack, do not delete\n"),
    ("data/keep.csv", b"a,b\n1,2\n"),
    ("sub/deeper/x.bin", bytes(range(256))),
    ("variants/0000.csv", b"junk,1\n"),
    ("variants/0000.csv", "\ufeffscenario,year,measure,statistic,param,value,se\n"
                          "pool,,gross,EL,,1.0,0.0\n".encode("utf-8")),
    ("variants/0099.csv", b"scenario,value\nx,1\n"),
    ("variants/0000.json", b'{"fingerprint": "bogus"}\n'),
    ("batch.json", b"{bogus"),
    ("batch.json", b'{"fingerprint": "x", "variants": []}\n'),
    ("summary.parquet", b"PAR1" + bytes(40) + b"PAR1"),
    ("summary.csv", b"scenario,year\nold,2020\n"),
    ("provenance.json", b"{}\n"),
    ("summary.xlsx", b"not a workbook"),
    ("variants.csv", "说明\n".encode("gbk")),
)
_BOGUS_MANIFESTS = (b"", b"{", b"[]", b'"x"', b'{"files": 5}', b'{"kind": "run", "files": {}}',
                    b'{"kind": "sweep"}', b"\xff\xfe\x00", b"null", b'{"files": []}')
_STALE_LOCKS = (b'{"pid": 999999999, "command": ["simpool", "run"], "started_utc": '
                b'"2020-01-01T00:00:00+00:00", "kind": "run"}\n', b"", b"garbage\x00\xff",
                b'{"pid": 1}')


def _plant(items: list[tuple[str, bytes]]) -> Callable[[Path], list[str]]:
    def before(out: Path) -> list[str]:
        for name, data in items:
            p = out / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        return []

    return before


def _edit(rng: random.Random, name: str, how: str) -> Callable[[Path], list[str]]:
    """Change a file simpool wrote, as a user would (Excel re-saving as GBK or with CRLF,
    rounded values, an appended row, truncation, deletion); returns the needles of the
    message the next command must print (the file named, 'changed') when it is a variant's
    csv or json that really changed."""

    def before(out: Path) -> list[str]:
        p = out / name
        old = p.read_bytes()
        text = old.decode("utf-8-sig")
        if how == "delete":
            p.unlink()
            return []
        if how == "gbk":
            new = text.encode("gbk", "replace")
        elif how == "excel":
            new = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
        elif how == "round":
            rows = list(_csv.reader(io.StringIO(text)))
            for row in rows[1:]:
                for j, cell in enumerate(row):
                    with contextlib.suppress(ValueError):
                        if j and "." in cell:
                            row[j] = f"{float(cell):.3g}"
            buf = io.StringIO()
            _csv.writer(buf, lineterminator="\n").writerows(rows)
            new = ("\ufeff" + buf.getvalue()).encode("utf-8")
        elif how == "append":
            new = old + b"pool,,gross,EL,,1.0,0.0\n"
        elif how == "truncate":
            new = old[: len(old) // 2]
        else:  # "json": a value changed by hand
            new = old.replace(b'"seed":', b'"seed": 0, "was_seed":', 1) if b'"seed":' in old \
                else old + b" "
        if new == old:
            return []
        p.write_bytes(new)
        if name.startswith("variants/") and name.endswith((".csv", ".json", ".toml")):
            return [name.rsplit("/", 1)[-1], "changed"]
        if name == "batch.json":
            return ["batch.json"]
        return []

    return before


def gen_folders(rng: random.Random, srcs: list[Source], choice: int | None = None) -> Case | None:
    """Shared and reused output folders: commands run one after another into one ``--out``
    (a run and a sweep, foreign files, a bogus manifest, stale and live locks, ``--fresh``,
    edited files, changing ``--format``). After each command the folder invariants hold
    (:func:`_check_folder`), a refusal changes nothing, and a finished command's
    summary.csv is byte-identical to the same command's into an empty folder."""
    choice = rng.randrange(8) if choice is None else choice
    stem = rng.choice(["pool", "担保池", "grid"])
    entry = f"w/{stem}.toml"
    files = {entry: _SYN_SWEEP.encode("utf-8")}
    pds = [0.01, 0.02, 0.03, 0.05, 0.08]

    def axis(avoid: str | None = None) -> str:
        while True:
            a = "cohorts.a.pd=" + ",".join(map(str, sorted(rng.sample(pds, rng.randrange(1, 4)))))
            if a != avoid:
                return a

    def fmts() -> tuple[str, ...]:
        return ("csv",) + tuple(f for f in ("parquet", "xlsx") if rng.random() < 0.3)

    def cmd(kind: str, **kw) -> dict:
        st = {"cmd": kind, "formats": fmts(), "expect": 0, "needles": [], "fresh": False}
        if kind == "sweep":
            st["axis"] = axis()
        st.update(kw)
        return st

    def foreign(k: int) -> list[tuple[str, bytes]]:
        picked: dict[str, bytes] = {}
        for name, data in rng.sample(_FOREIGN_FILES, k):
            picked.setdefault(name, data)
        return list(picked.items())

    kinds = ["run", "sweep"]
    rng.shuffle(kinds)
    steps: list[dict] = []
    if choice == 0:  # a run into a sweep's folder, or a sweep into a run's: refused
        first = cmd(kinds[0])
        steps = [first, cmd(kinds[1], expect=2, needles=["--out"])]
        if rng.random() < 0.5:
            steps.append(dict(first, formats=fmts()))
        label = f"{kinds[1]} into a {kinds[0]}'s folder"
    elif choice == 1:  # foreign files, a bogus manifest, a stale lock: no effect
        items = foreign(rng.randrange(2, 6))
        if rng.random() < 0.4:
            items.append((_MANIFEST, rng.choice(_BOGUS_MANIFESTS)))
        if rng.random() < 0.4:
            items.append((_LOCK, rng.choice(_STALE_LOCKS)))
        first = cmd(kinds[0], before=_plant(items))
        steps = [first]
        if rng.random() < 0.5:
            steps.append(dict(first, formats=fmts(), before=None))
        label = f"{kinds[0]} into a folder with {', '.join(n for n, _ in items)}"
    elif choice == 2:  # --fresh deletes only what simpool wrote
        first = cmd("sweep")
        other = axis(avoid=first["axis"])
        safe = [(n, d) for n, d in _FOREIGN_FILES if n in ("notes.txt", "README.md", "data/keep.csv",
                                                            "sub/deeper/x.bin", "variants/0099.csv")]
        items = rng.sample(safe, rng.randrange(1, len(safe) + 1))
        steps = [first]
        if rng.random() < 0.5:
            steps.append(cmd("sweep", axis=other, expect=1, needles=["--fresh"],
                             before=_plant(items)))
        same = rng.random() < 0.25
        steps.append(cmd("sweep", axis=first["axis"] if same else other, fresh=True,
                         before=_plant(items) if len(steps) == 1 else None))
        label = f"sweep --fresh {'(same batch) ' if same else ''}with foreign files"
    elif choice == 3:  # a sweep's file edited, then the same sweep again
        first = cmd("sweep")
        n = first["axis"].count(",") + 1
        i = rng.randrange(n)
        name, how = rng.choice(
            [(f"variants/{i:04d}.csv", h) for h in ("gbk", "excel", "round", "append", "truncate",
                                                    "delete")]
            + [(f"variants/{i:04d}.json", "json"), (f"variants/{i:04d}.json", "delete"),
               (f"variants/{i:04d}.resolved.toml", "append"),
               ("batch.json", "json"), ("summary.csv", "round"), ("variants.csv", "gbk")])
        steps = [first, dict(first, formats=first["formats"], before=_edit(rng, name, how))]
        label = f"sweep, {name} edited ({how}), the same sweep again"
    elif choice == 4:  # a run's file edited, then the same run again
        first = cmd("run")
        name, how = rng.choice([("summary.csv", "round"), ("summary.csv", "gbk"),
                                ("provenance.json", "json"), ("scenario.resolved.toml", "delete"),
                                ("summary.csv", "delete")])
        steps = [first, dict(first, before=_edit(rng, name, how))]
        label = f"run, {name} edited ({how}), the same run again"
    elif choice == 5:  # --format changes between reruns
        kind = kinds[0]
        first = cmd(kind)
        steps = [first] + [dict(first, formats=fmts()) for _ in range(rng.randrange(1, 3))]
        label = f"{kind} --format " + " then ".join(",".join(s["formats"]) for s in steps)
    elif choice == 6:  # another process holds the folder: exit 1 naming it; then it is free
        first = cmd(kinds[0])
        held = dict(first, expect=1, needles=[f"pid {os.getpid()}"], hold=True)
        steps = ([first] if rng.random() < 0.5 else []) + [held, dict(first, formats=fmts())]
        label = f"{kinds[0]} into a folder another process holds"
    else:  # the manifest made unreadable between two commands of any kinds
        first = cmd(kinds[0])
        cut = rng.choice(["truncate", "bogus"])
        second = cmd(rng.choice(["run", "sweep"]), before=_break_manifest(rng, cut),
                     needles=["unreadable"])
        steps = [first, second]
        label = f"{first['cmd']}, manifest {cut}, then {second['cmd']}"

    def run(root: Path, case: Case) -> tuple[int | None, str, str | None]:
        out = root / "_out"
        entry_path = str(root / entry)
        refs: dict[tuple, bytes] = {}
        log = []
        rc: int | None = None
        for k, st in enumerate(steps):
            out.mkdir(parents=True, exist_ok=True)
            needles = list(st["needles"])
            if st.get("before") is not None:
                needles += st["before"](out)
            lock_fd = _hold_lock(out) if st.get("hold") else None
            before = _snapshot(out)
            argv = _folder_argv(st, entry_path, out)
            try:
                rc, _, err, _, fail = _call_main(argv, 60.0)
                after = _snapshot(out)
            finally:
                if lock_fd is not None:
                    _release_lock(out, lock_fd)
            log.append(f"$ simpool {' '.join(argv[:1] + argv[2:])}\n{err}")
            where = f"step {k + 1} ({st['cmd']}{' --fresh' if st['fresh'] else ''})"
            if fail is not None:
                return rc, "\n".join(log), f"{where}: {fail}"
            if "internal error" in err or "Traceback" in err:
                return rc, "\n".join(log), f"{where}: internal error: {err.strip()[-300:]}"
            if rc != st["expect"]:
                return rc, "\n".join(log), (f"{where}: exit {rc}, expected {st['expect']}: "
                                            f"{err.strip()[-300:]}")
            failure = None
            if rc == 2:
                failure = _check_flag_messages(case, root, err, [])
            if failure is None:
                n_var = st["axis"].count(",") + 1 if st["cmd"] == "sweep" else 0
                names = (_run_names(st["formats"]) if st["cmd"] == "run"
                         else _sweep_names(n_var, st["formats"]))
                failure = _check_folder(before, after, rc, st["cmd"], names,
                                        lock_held=bool(st.get("hold")))
            if failure is None and rc == 0:
                key = (st["cmd"], st.get("axis"))
                if key not in refs:
                    ref = root / f"_ref{len(refs)}"
                    rrc, _, rerr, _, rfail = _call_main(
                        _folder_argv(dict(st, fresh=False), entry_path, ref), 60.0)
                    if rfail is not None or rrc != 0:
                        return rc, "\n".join(log), (f"{where}: the same command into an empty "
                                                    f"folder fails: {rfail or rerr[-300:]}")
                    refs[key] = (ref / "summary.csv").read_bytes()
                if after.get("summary.csv") != refs[key]:
                    failure = "summary.csv is not that of the same command into an empty folder"
            for n in needles if failure is None else []:
                if n == "unreadable" and _json_ok(before.get(_MANIFEST)):
                    continue
                if n not in err:
                    failure = f"no message holding {n!r}"
                    break
            if failure is not None:
                return rc, "\n".join(log), f"{where}: {failure}"
        return rc, "\n".join(log), None

    return Case("folders", f"{label}"[:300], files, entry, steps=run, no_run=True, timeout=60.0)


def _json_ok(data: bytes | None) -> bool:
    try:
        json.loads((data or b"").decode("utf-8"))
        return True
    except (UnicodeDecodeError, ValueError):
        return False


def _folder_argv(st: dict, entry: str, out: Path) -> list[str]:
    argv = [st["cmd"], entry]
    if st["cmd"] == "sweep":
        argv += ["--sweep", st["axis"]]
    argv += ["--paths", "50", "--out", str(out), "--quiet", "--format", ",".join(st["formats"])]
    return argv + (["--fresh"] if st["fresh"] else [])


def _break_manifest(rng: random.Random, how: str) -> Callable[[Path], list[str]]:
    def before(out: Path) -> list[str]:
        p = out / _MANIFEST
        data = p.read_bytes()
        # (truncated by at least its closing "}\n": one byte less is still a whole manifest)
        p.write_bytes(data[: rng.randrange(max(1, len(data) - 2))] if how == "truncate"
                      else rng.choice([m for m in _BOGUS_MANIFESTS if m != b'{"kind": "run", "files": {}}']))
        return []

    return before


def _hold_lock(out: Path) -> int:
    """Take the folder's lock as another simpool process would (flock on a fresh open file
    description conflicts even within this process)."""
    import fcntl

    fd = os.open(out / _LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": ["simpool", "fuzz"],
                              "started_utc": "2026-01-01T00:00:00+00:00"}).encode() + b"\n", 0)
    return fd


def _release_lock(out: Path, fd: int) -> None:
    import fcntl

    with contextlib.suppress(OSError):
        os.unlink(out / _LOCK)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
