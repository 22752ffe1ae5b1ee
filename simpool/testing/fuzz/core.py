"""The cases and running one: :class:`Case` (a fuzzed input and what must come of it),
:class:`Outcome`, :func:`run_case` (the case's files written to a scratch folder, ``simpool
validate`` and, for some cases, ``run --paths 50`` called in-process under a per-case timeout)
and the classification of what came back (the exit code, located messages at the expected
lines, complete output files, no numeric warnings). Knows nothing of how cases are made.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import tomllib
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


#: Mutation kinds, in the order cases are dealt out.
KINDS = ("types", "missing", "extra", "numbers", "extremes", "combo", "inflate", "text",
         "extends", "loans_file", "tape", "parquet", "set", "bigtape", "sweep", "folders",
         "taperows")

#: Whole-file or flag messages without a ``path`` part that are fine as they are.
_FLAG_PREFIXES = ("--set", "--stress", "--sweep", "--format", "--paths", "--seed", "--threads",
                  "--chunk-size", "sweep")


# ----------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One fuzzed input.

    ``files`` maps paths relative to the case folder to their bytes; ``entry`` is the scenario
    handed to the CLI. ``expect`` is ``"error"`` (must exit 2), ``"ok"`` (must exit 0) or None
    (either). ``at`` lists ``(file, needle)``: some problem must be reported in that file at a
    line whose text contains ``needle`` (``needle`` None: at the file without a line; an int:
    exactly that line).
    """

    kind: str
    label: str
    files: dict[str, bytes]
    entry: str
    args: list[str] = field(default_factory=list)
    expect: str | None = None
    at: list[tuple[str, Any]] = field(default_factory=list)
    run: bool = False
    setup: Callable[[Path], None] | None = None
    timeout: float = 20.0
    no_run: bool = False  # too slow to simulate even with 50 paths (e.g. 20,000 cohorts)
    #: a further check after ``validate`` is classified: ``verify(root, rc, stderr)`` ->
    #: None, or why the case fails (a message missing, two spellings that run differently)
    verify: Callable[[Path, int, str], str | None] | None = None
    #: commands of their own instead of ``validate`` (and ``run``): ``steps(root, case)`` ->
    #: ``(last exit code, stderr, None or why the case fails)`` (kinds sweep and folders)
    steps: Callable[[Path, "Case"], tuple[int | None, str, str | None]] | None = None


@dataclass
class Outcome:
    case: Case
    status: str  # "ok", "error" or "FAILURE"
    reason: str = ""
    rc: int | None = None
    stderr: str = ""
    seconds: float = 0.0
    ran: bool = False


class _Timeout(BaseException):
    """Raised in the main thread when a case runs past its time (a hang)."""


# ----------------------------------------------------------------------------- running

_LINE_RE = re.compile(r"^(?P<file>[^\n]+?)(?::(?P<line>\d+))?: (?P<rest>\S.*)$")


def _call_main(argv: list[str], timeout: float) -> tuple[int | None, str, str, list, str | None]:
    """Run ``simpool.cli.main(argv)`` in-process: (rc, stdout, stderr, warnings, failure)."""
    from ...cli import main as cli_main

    out, err = io.StringIO(), io.StringIO()
    result: dict[str, Any] = {}

    def body() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    result["rc"] = cli_main(argv)
            except _Timeout:
                raise
            except BaseException as e:  # noqa: BLE001 - that is the finding
                result["exc"] = "".join(traceback.format_exception(type(e), e, e.__traceback__))
            result["warnings"] = [w for w in caught]

    use_alarm = (threading.current_thread() is threading.main_thread()
                 and hasattr(signal, "setitimer"))
    if use_alarm:
        def on_alarm(signum, frame):
            raise _Timeout()

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            body()
        except _Timeout:
            return None, out.getvalue(), err.getvalue(), [], f"hang: no answer in {timeout:g} s"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    else:
        t = threading.Thread(target=body, daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            return None, out.getvalue(), err.getvalue(), [], f"hang: no answer in {timeout:g} s"
    if "exc" in result:
        return None, out.getvalue(), err.getvalue(), [], "exception escaped main: " + result["exc"]
    return result.get("rc"), out.getvalue(), err.getvalue(), result.get("warnings", []), None


def _resolve_file(name: str, root: Path, cwd: Path) -> Path | None:
    if name.startswith("--") or name == "sweep":
        return None
    p = Path(name)
    if not p.is_absolute():
        p = cwd / p
    try:
        return Path(os.path.normpath(p))
    except (ValueError, OSError):
        return None


def _check_messages(case: Case, root: Path, stderr: str) -> str | None:
    """None when stderr is all located problems (and the expected ones are there)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "exit 2 but nothing on stderr"
    file_lines: dict[Path, list[str]] = {}
    located: list[tuple[str, Path | None, int | None, str]] = []
    for ln in lines:
        if ln.startswith("simpool:"):
            return f"unlocated message: {ln[:200]}"
        if "Traceback" in ln:
            return "a traceback on stderr"
        m = _LINE_RE.match(ln)
        if m is None:
            return f"not shaped file[:line]: path: message: {ln[:200]}"
        name, line = m.group("file"), m.group("line")
        if name.startswith("--") and name.split(" ")[0].split(":")[0] in _FLAG_PREFIXES:
            located.append((name, None, None, m.group("rest")))
            continue
        if name in _FLAG_PREFIXES:
            located.append((name, None, None, m.group("rest")))
            continue
        path = _resolve_file(name, root, Path.cwd())
        if path is None:
            return f"message names no file: {ln[:200]}"
        n = int(line) if line else None
        if n is not None:
            if path not in file_lines:
                try:
                    body = path.read_bytes().decode("utf-8-sig", "replace")
                    if "\n" not in body:
                        body = body.replace("\r", "\n")  # classic-Mac line ends
                    file_lines[path] = body.split("\n")
                except OSError:
                    file_lines[path] = []
            text = file_lines[path]
            if text and not 1 <= n <= len(text):
                return f"line {n} is outside {name} ({len(text)} lines): {ln[:200]}"
        located.append((name, path, n, m.group("rest")))
    for want_file, needle in case.at:
        if want_file == "*":
            if not any(p is not None for _, p, _, _ in located):
                return "no problem names the input file"
            continue
        if want_file in ("--set", "--stress"):
            if not any(name.split(" ")[0] == want_file for name, _, _, _ in located):
                return f"no problem names {want_file}"
            continue
        want = Path(os.path.normpath(root / want_file))
        ok = False
        for name, p, n, rest in located:
            if p is None or p != want:
                continue
            if needle is None:
                ok = True
            elif isinstance(needle, int):
                ok = n == needle
            elif isinstance(needle, str) and needle.startswith("(row "):
                ok = needle in rest
            elif n is not None:
                ok = _line_holds(file_lines.get(p) or [], n, needle)
            if ok:
                break
        if not ok:
            where = "without a line" if needle is None else (
                f"at line {needle}" if isinstance(needle, int) else f"at a line holding {needle!r}")
            return f"expected a problem in {want_file} {where}"
    return None


def _line_holds(text: list[str], n: int, needle: str) -> bool:
    """Line ``n`` holds ``needle``, or is inside a multi-line value whose key line does."""
    if not 1 <= n <= len(text):
        return False
    for k in range(n - 1, max(-1, n - 1 - 200), -1):
        line = text[k]
        if needle in line:
            return True
        if k < n - 1 and (line.lstrip().startswith("[") and line.rstrip().endswith("]")
                          or "=" in line and not line.lstrip().startswith(
                              ("{", "[", '"', "'", "]", "}"))):
            # a header or another key: the value started below it (a line that opens with
            # "]" or "}" closes a nested value of the same multi-line value: keep walking)
            return False
    return False


def _check_run_output(out: Path, rc: int) -> str | None:
    if not out.exists():
        return None if rc != 0 else "exit 0 but no output folder"
    names = sorted(p.name for p in out.iterdir())
    tmp = [n for n in names if n.endswith(".tmp") or ".tmp." in n]
    if tmp:
        return f"temporary files left behind: {tmp}"
    if rc != 0:
        return "summary.csv written by a failed run" if "summary.csv" in names else None
    for need in ("summary.csv", "scenario.resolved.toml", "provenance.json"):
        if need not in names:
            return f"exit 0 but {need} is missing"
    try:
        import pandas as pd

        df = pd.read_csv(out / "summary.csv", encoding="utf-8-sig",
                         dtype={"product": str, "basis": str})
        if list(df.columns) != ["scenario", "year", "measure", "product", "basis", "statistic",
                                "param", "value", "se", "unit", "label"]:
            return f"summary.csv has columns {list(df.columns)}"
        if not len(df):
            return "summary.csv has no rows"
        import numpy as np

        for col in ("value", "se"):
            v = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(v)
            if bad.any():
                row = df[bad].iloc[0]
                return (f"summary.csv: {int(bad.sum())} non-finite {col}s, e.g. "
                        f"{row['measure']}/{row['statistic']} = {row[col]}")
        tomllib.loads((out / "scenario.resolved.toml").read_text(encoding="utf-8"))
        json.loads((out / "provenance.json").read_text(encoding="utf-8"))
        if "summary.parquet" in names and len(pd.read_parquet(out / "summary.parquet")) != len(df):
            return "summary.parquet and summary.csv differ in length"
        if "summary.xlsx" in names:
            import zipfile

            with zipfile.ZipFile(out / "summary.xlsx") as z:
                if z.testzip() is not None:
                    return "summary.xlsx is corrupt"
    except Exception as e:  # noqa: BLE001
        return f"unreadable output: {type(e).__name__}: {e}"
    return None


def _numeric_warnings(caught: list) -> str | None:
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            return f"numeric warning: {w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})"
    return None


def run_case(case: Case, workdir: Path, keep: bool = False, same_rc: int | None = None) -> Outcome:
    """Write the case's files under ``workdir``, run it, classify the outcome."""
    root = Path(tempfile.mkdtemp(prefix=f"{case.kind}-", dir=workdir))
    t0 = time.perf_counter()
    try:
        for rel, data in case.files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
        if case.setup is not None:
            case.setup(root)
        if case.steps is not None:
            rc, err, failure = case.steps(root, case)
            out = Outcome(case, "FAILURE" if failure is not None else ("ok" if rc == 0 else "error"),
                          reason=failure or "", rc=rc, stderr=err, ran=rc == 0)
            out.seconds = time.perf_counter() - t0
            return out
        entry = str(root / case.entry)
        rc, _, err, _, failure = _call_main(["validate", entry, *case.args], case.timeout)
        out = Outcome(case, "ok", rc=rc, stderr=err)
        if failure is None:
            failure = _classify(case, root, rc, err, same_rc)
        if failure is None and case.verify is not None and rc is not None:
            failure = case.verify(root, rc, err)
        if failure is None and case.run:
            out.ran = True
            folder = root / "_out"
            import zlib

            formats = (["--format", "csv,parquet,xlsx"]
                       if zlib.crc32(case.label.encode("utf-8", "replace")) % 3 == 0 else [])
            rrc, _, rerr, rcaught, rfail = _call_main(
                ["run", entry, "--paths", "50", "--out", str(folder), "--quiet", *formats,
                 *case.args], max(case.timeout, 60.0))
            if rfail is not None:
                failure = f"run: {rfail}"
            elif rrc != rc:
                failure = f"run exits {rrc} but validate exits {rc}: {rerr.strip()[-300:]}"
            else:
                failure = _check_run_output(folder, rrc)
                if failure is None and rrc == 2:
                    failure = _check_messages(case, root, rerr)
                if failure is None and rrc == 0:
                    failure = _numeric_warnings(rcaught)
                if failure is not None:
                    failure = f"run: {failure}"
            err = err + ("\n--- run ---\n" + rerr if rerr else "")
        if failure is not None:
            out.status, out.reason, out.stderr = "FAILURE", failure, err
        else:
            out.status = "ok" if rc == 0 else "error"
        out.seconds = time.perf_counter() - t0
        return out
    finally:
        if case.setup is not None:
            with contextlib.suppress(OSError):
                for p in root.rglob("*"):
                    if p.is_fifo():
                        p.unlink()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _classify(case: Case, root: Path, rc: int | None, err: str, same_rc: int | None) -> str | None:
    if rc == 1 or rc is None:
        return f"exit {rc}: {err.strip()[-300:]}"
    if rc not in (0, 2):
        return f"unexpected exit {rc}"
    expect = case.expect
    if expect == "same":
        expect = None if same_rc is None else ("ok" if same_rc == 0 else "error")
    if expect == "error" and rc != 2:
        return "bad input accepted (exit 0)"
    if expect == "ok" and rc != 0:
        return f"good input refused: {err.strip()[-300:]}"
    if rc == 2:
        return _check_messages(case, root, err)
    return None
