"""Checks shared by the kinds that run commands of their own (``sweep``, ``folders``,
``taperows``): an output folder's invariants around one command (the manifest and its
checksums, no temporary or lock file, foreign files untouched), the located messages of a
refusal with the expected needles, and summary tables compared row by row.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from .core import Case, _check_messages


_MANIFEST = "simpool-manifest.json"
_LOCK = ".simpool.lock"
#: Flags a ``simpool: --flag ...`` usage message may name (it is located at the flag).
_USAGE_FLAGS = ("--paths", "--seed", "--out", "--sweep", "--format", "--fresh", "--set",
                "--stress", "--threads", "--chunk-size")
#: Columns of a summary table (``summary.csv`` of a run, ``variants/NNNN.csv`` of a sweep).
_ROW_COLS = ("scenario", "year", "measure", "product", "basis", "statistic", "param", "value",
             "se")


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` as ``{relative posix path: bytes}`` (empty if absent)."""
    out: dict[str, bytes] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(folder).as_posix()] = p.read_bytes()
    return out


def _manifest_of(snap: dict[str, bytes]) -> dict | None:
    """The manifest in a snapshot when simpool can read it (a dict with a ``files`` dict)."""
    raw = snap.get(_MANIFEST)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        return None
    return data


def _is_tmp(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(".tmp") or ".tmp." in name


def _diff(a: dict[str, bytes], b: dict[str, bytes]) -> str:
    gone = sorted(set(a) - set(b))
    new = sorted(set(b) - set(a))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = [f"{what} {names[:4]}" for what, names in (("removed", gone), ("added", new),
                                                        ("changed", changed)) if names]
    return "; ".join(parts) or "no difference"


def _run_names(formats: tuple[str, ...]) -> set[str]:
    """The files a ``run`` writes (summary.csv always; other tables on request)."""
    return ({"summary.csv", "scenario.resolved.toml", "provenance.json"}
            | {f"summary.{f}" for f in formats if f != "csv"})


def _sweep_names(n: int, formats: tuple[str, ...]) -> set[str]:
    """The files a ``sweep`` of ``n`` variants writes."""
    names = {"batch.json"} | {f"variants/{i:04d}.{ext}" for i in range(n)
                              for ext in ("csv", "json", "resolved.toml")}
    for f in formats:
        names |= {"summary.xlsx"} if f == "xlsx" else {f"summary.{f}", f"variants.{f}"}
    return names


def _check_folder(before: dict[str, bytes], after: dict[str, bytes], rc: int | None, kind: str,
                  names: set[str] | None = None, lock_held: bool = False) -> str | None:
    """The invariants of an output folder around one command.

    Always: no temporary file; no lock file left (``lock_held``: the holder's lock file
    untouched). A refused command (rc != 0) changes nothing. After exit 0: the manifest is
    readable, of ``kind``, complete, lists exactly ``names`` (when given), and every listed
    file is there with the listed SHA-256 and size; every other file was there before,
    unlisted by the previous manifest (a file simpool did not write), and is byte-identical;
    no such foreign file is deleted or changed unless simpool wrote its own file of that name
    (then listed).
    """
    tmp = [r for r in after if _is_tmp(r)]
    if tmp:
        return f"temporary files left behind: {tmp[:4]}"
    if lock_held:
        if after.get(_LOCK) != before.get(_LOCK):
            return "the lock file of the process holding the folder was changed"
    elif _LOCK in after:
        return f"{_LOCK} left behind after the command"
    if rc != 0:
        a = {k: v for k, v in after.items() if k != _LOCK}
        b = {k: v for k, v in before.items() if k != _LOCK}
        return None if a == b else f"a refused command changed the folder: {_diff(b, a)}"
    old = _manifest_of(before)
    listed_before = set(old["files"]) if old is not None else set()
    foreign = {r for r in before if r not in (_MANIFEST, _LOCK) and r not in listed_before}
    man = _manifest_of(after)
    if man is None:
        return "exit 0 but no readable simpool-manifest.json"
    if man.get("kind") != kind:
        return f"the manifest says kind {man.get('kind')!r}, expected {kind!r}"
    if man.get("complete") is not True:
        return f"the manifest says complete = {man.get('complete')!r} after exit 0"
    files = man["files"]
    for name, entry in files.items():
        if name not in after:
            return f"the manifest lists {name}, which is not in the folder"
        data = after[name]
        if not isinstance(entry, dict) or entry.get("sha256") != hashlib.sha256(data).hexdigest():
            return f"the manifest's sha256 of {name} is not the file's"
        if entry.get("bytes") != len(data):
            return f"the manifest says {name} has {entry.get('bytes')} bytes, it has {len(data)}"
    for r, data in after.items():
        if r == _MANIFEST or r in files:
            continue
        if r in foreign and before[r] == data:
            continue
        if r in foreign:
            return f"a file simpool did not write was changed: {r}"
        return f"{r} is not in the manifest, and was not in the folder before"
    for r in sorted(foreign):
        if r not in after:
            return f"a file simpool did not write was deleted: {r}"
    if names is not None and set(files) != names:
        extra, lacking = sorted(set(files) - names), sorted(names - set(files))
        return (f"the manifest lists {extra[:4]} that this command does not write"
                if extra else f"the manifest lacks {lacking[:4]}")
    return None


def _check_flag_messages(case: Case, root: Path, err: str, needles: list[str]) -> str | None:
    """Exit 2: every line located (``file[:line]: ...``, a flag, or ``simpool: --flag ...``)
    and every needle in some line (``^needle``: some line starts with it)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if not lines:
        return "exit 2 but nothing on stderr"
    rest = []
    for ln in lines:
        if "Traceback" in ln or "internal error" in ln:
            return f"internal error: {ln[:200]}"
        if ln.startswith("simpool: "):
            head = ln[len("simpool: "):].split(" ")[0].split(":")[0]
            if head in _USAGE_FLAGS or ln.startswith("simpool: warning:"):
                continue
            return f"unlocated message: {ln[:200]}"
        rest.append(ln)
    if rest:
        failure = _check_messages(case, root, "\n".join(rest))
        if failure is not None:
            return failure
    for n in needles:
        n = n.replace("{root}", str(root))
        if n.startswith("^"):
            ok = any(ln.startswith(n[1:]) for ln in lines)
        else:
            ok = any(n in ln for ln in lines)
        if not ok:
            return f"no message {'starting with' if n.startswith('^') else 'holding'} {n.lstrip('^')[:160]!r}"
    return None


def _read_table(data: bytes):
    import pandas as pd

    df = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig",
                     dtype={"product": str, "basis": str})
    for col in ("product", "basis"):  # an empty cell is "" (all programmes; not a loss)
        if col in df:
            df[col] = df[col].fillna("")
    return df


def _rows_differ(a, b, cols: tuple[str, ...] = _ROW_COLS) -> str | None:
    """None when the summary rows ``a`` and ``b`` (DataFrames) are the same, else how not."""
    import numpy as np
    import pandas as pd

    if len(a) != len(b):
        return f"{len(a)} rows against {len(b)}"
    for c in cols:
        if c not in a.columns or c not in b.columns:
            return f"no column {c!r}"
        if c in ("year", "param", "value", "se"):
            x = pd.to_numeric(a[c], errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(b[c], errors="coerce").to_numpy(dtype=float)
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = np.array(a[c].fillna("").astype(str).tolist()) == \
                np.array(b[c].fillna("").astype(str).tolist())
        if not same.all():
            k = int(np.flatnonzero(~same)[0])
            return (f"{c} differs on row {k + 1} ({a['measure'].iloc[k]}/{a['statistic'].iloc[k]}):"
                    f" {a[c].iloc[k]!r} against {b[c].iloc[k]!r}")
    return None


def _toml_value(value: Any) -> str:
    """A ``--set`` / ``--sweep`` value text that TOML reads back as ``value``."""
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()
