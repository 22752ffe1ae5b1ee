#!/usr/bin/env python3
"""One-line-mutant mutation testing for simpool's policy waterfall (kernel and plan).

Each mutant changes one token on one code line of a target file (default:
``simpool/engine/waterfall.py`` and ``simpool/engine/waterfall_plan.py``). For every mutant the
harness writes the mutated file into a scratch copy of the repository (``simpool/``,
``tests/``, ``pyproject.toml``, ``scenarios/`` ...), runs a pytest selection against that copy
and records whether a test failed (*killed*), none did (*survived*), the run passed the
time limit (*timeout*) or pytest itself broke (*error*).

Operators (applied to one occurrence at a time; tokens come from :mod:`tokenize`, so strings
and comments are never touched; docstrings, blank lines, imports and decorators are skipped):

=============  ==========================================================
``lt_le`` ...  comparison swaps ``<``/``<=``, ``>``/``>=``, ``==``/``!=``
``add_sub`` .. binary ``+``/``-`` and ``*``/``/`` (not unary, not ``**``)
``min_max``    ``min(`` <-> ``max(`` (also ``.min(`` / ``.max(``)
``and_or``     ``and`` <-> ``or``
``not_del``    a ``not`` removed
``true_false`` ``True`` <-> ``False``
``zero_one``   the literal ``0.0`` -> ``1.0`` (``one_zero``: ``1.0`` -> ``0.0``)
``augdel``     ``x += e`` -> ``x += 0`` (``*=``, ``/=``: ``1``): the update deleted
=============  ==========================================================

A mutant's id is ``file:line:col:op`` (line and column 1-based, as editors count); mutants
whose file no longer compiles are dropped.

Kernels are numba functions; compiling the waterfall takes 30-40 s, so by default the tests
run with ``NUMBA_DISABLE_JIT=1`` (plain Python). simpool's ``@jit`` wrapper
(``simpool/engine/_jit.py``) does not work under that variable by itself (kernels declared with
explicit signatures call ``Dispatcher.compile`` at import, and ``kernels.py`` uses numba's
``trailing_zeros`` intrinsic, which cannot be called from Python): the harness loads a small
pytest plugin of its own (written into the scratch folder, see :data:`SHIM_SOURCE`) that
makes both work, without touching the package. The same plugin checks that ``simpool`` was
imported from the scratch copy, not from the editable install.

Run ``python scripts/mutation/mutate.py --help``; README.md next to this file has examples.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as _dt
import hashlib
import importlib.util
import io
import json
import keyword
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import token
import tokenize
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARGETS = ("simpool/engine/waterfall.py", "simpool/engine/waterfall_plan.py")
DEFAULT_TESTS = "tests/test_waterfall.py"
#: What the scratch copy holds (relative to the repository; missing ones are skipped).
DEFAULT_COPY = ("simpool", "tests", "pyproject.toml", "conftest.py", "scenarios")
DEFAULT_RESULTS = Path(__file__).resolve().parent / "results.jsonl"

SHIM_MODULE = "_simpool_mutation_shim"
#: Exit code of a pytest run whose ``simpool`` is not the scratch copy's.
WRONG_PACKAGE_RC = 97
WRONG_PACKAGE_MARK = "SIMPOOL-MUTATION: simpool imported from outside the scratch copy:"

#: The pytest plugin loaded into every test run (``-p _simpool_mutation_shim``).
SHIM_SOURCE = f'''\
"""pytest plugin of scripts/mutation/mutate.py (not part of simpool).

1. Under NUMBA_DISABLE_JIT=1 numba's ``njit`` returns the plain function, but
   ``simpool.engine._jit.jit`` then calls ``typeinfer.register_dispatcher(disp)`` and
   ``disp.compile(sig)`` / ``disp.disable_compile()`` for kernels with explicit signatures:
   a plain function has neither ``py_func`` nor ``compile``. ``numba.njit`` is replaced (before
   simpool imports it) by one that returns the function with those attributes as no-ops.
   ``numba.cpython.unsafe.numbers.trailing_zeros`` (an intrinsic, only callable from jitted
   code) is replaced by a Python equivalent.
2. After collection and at the end of the session: ``simpool`` must come from
   $SIMPOOL_MUTATION_SCRATCH, else the run stops with exit code {WRONG_PACKAGE_RC}.
"""

import os
import sys

from numba.core import config as _config

if _config.DISABLE_JIT:
    import numba
    import numba.cpython.unsafe.numbers as _numbers

    def _plain(fn):
        fn.py_func = fn
        fn.compile = lambda *args, **kwargs: None
        fn.disable_compile = lambda *args, **kwargs: None
        return fn

    def njit(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return _plain(args[0])
        return _plain

    def trailing_zeros(x):
        x = int(x)
        return (x & -x).bit_length() - 1 if x else 64

    numba.njit = njit
    _numbers.trailing_zeros = trailing_zeros


def _check_package():
    root = os.environ.get("SIMPOOL_MUTATION_SCRATCH")
    mod = sys.modules.get("simpool")
    if not root or mod is None:
        return
    where = os.path.realpath(getattr(mod, "__file__", None) or "?")
    if not where.startswith(os.path.realpath(root) + os.sep):
        import pytest

        sys.stderr.write("{WRONG_PACKAGE_MARK} " + where + "\\n")
        pytest.exit("{WRONG_PACKAGE_MARK} " + where, returncode={WRONG_PACKAGE_RC})


def pytest_collection_finish(session):
    _check_package()


def pytest_sessionfinish(session, exitstatus):
    _check_package()
'''


class HarnessError(RuntimeError):
    """A problem that stops the whole run (bad baseline, wrong package imported, ...)."""


class Aborted(Exception):
    """A test run killed because the harness is stopping (its outcome is not recorded)."""


# --------------------------------------------------------------------------- mutants


@dataclass(frozen=True)
class Mutant:
    """One mutant: ``original`` line ``line`` of ``file`` replaced by ``mutated``."""

    file: str  # relative to the repository, with forward slashes
    line: int  # 1-based
    col: int  # 1-based
    op: str
    original: str  # the line without its newline
    mutated: str

    @property
    def id(self) -> str:
        """Stable id ``file:line:col:op``."""
        return f"{self.file}:{self.line}:{self.col}:{self.op}"


_CMP = {"<": ("<=", "lt_le"), "<=": ("<", "le_lt"), ">": (">=", "gt_ge"),
        ">=": (">", "ge_gt"), "==": ("!=", "eq_ne"), "!=": ("==", "ne_eq")}
_ARITH = {"+": ("-", "add_sub"), "-": ("+", "sub_add"), "*": ("/", "mul_div"),
          "/": ("*", "div_mul")}
_NAMES = {"min": ("max", "min_max"), "max": ("min", "max_min"), "and": ("or", "and_or"),
          "or": ("and", "or_and"), "True": ("False", "true_false"),
          "False": ("True", "false_true")}
_NUMBERS = {"0.0": ("1.0", "zero_one"), "1.0": ("0.0", "one_zero")}
#: Augmented assignments whose update can be deleted, and the neutral right side.
_AUG_NEUTRAL = {"+=": "0", "-=": "0", "|=": "0", "^=": "0", "<<=": "0", ">>=": "0",
                "*=": "1", "/=": "1", "//=": "1", "**=": "1"}
_VALUE_KEYWORDS = {"True", "False", "None"}
_SKIP_TYPES = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
               tokenize.DEDENT, tokenize.ENCODING}


def skipped_lines(source: str) -> set[int]:
    """Lines never mutated: docstrings and other bare string statements, imports and
    decorators (every physical line of each)."""
    skip: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        spans = []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            spans.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            spans.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            spans.extend(node.decorator_list)
        for n in spans:
            skip.update(range(n.lineno, (n.end_lineno or n.lineno) + 1))
    return skip


def _is_binary(prev: tokenize.TokenInfo | None) -> bool:
    """Whether an operator after ``prev`` (the previous significant token) is binary: it
    follows an operand (a name that is not a keyword, a number, a string, a closing bracket)."""
    if prev is None:
        return False
    if prev.type == tokenize.NAME:
        return not keyword.iskeyword(prev.string) or prev.string in _VALUE_KEYWORDS
    if prev.type in (tokenize.NUMBER, tokenize.STRING):
        return True
    return prev.type == tokenize.OP and prev.string in (")", "]", "}")


def _replace(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def mutants_of(path: Path, rel: str) -> list[Mutant]:
    """All compiling one-line mutants of the file at ``path`` (``rel``: its name in ids),
    in order of line, column and operator."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    skip = skipped_lines(source)
    toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    fstring_start = getattr(token, "FSTRING_START", None)  # Python 3.12+: f-string parts
    fstring_end = getattr(token, "FSTRING_END", None)
    out: list[Mutant] = []

    def add(tok_line: int, col0: int, end_col0: int, new: str, op: str) -> None:
        text = lines[tok_line - 1]
        body = text.rstrip("\r\n")
        mutated = _replace(body, col0, end_col0, new)
        if mutated == body:
            return
        out.append(Mutant(rel, tok_line, col0 + 1, op, body, mutated))

    prev: tokenize.TokenInfo | None = None
    in_fstring = 0
    for i, tok in enumerate(toks):
        if tok.type == fstring_start:
            in_fstring += 1
        elif tok.type == fstring_end:
            in_fstring -= 1
        if tok.type in _SKIP_TYPES:
            if tok.type in (tokenize.NEWLINE,):
                prev = None
            continue
        (row, c0), (erow, c1) = tok.start, tok.end
        mutable = in_fstring == 0 and row == erow and row not in skip
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if mutable and tok.type == tokenize.OP:
            s = tok.string
            if s in _CMP:
                add(row, c0, c1, *_CMP[s])
            elif s in _ARITH and _is_binary(prev):
                add(row, c0, c1, *_ARITH[s])
            elif s in _AUG_NEUTRAL:
                _augdel(toks, i, lines, rel, out)
        elif mutable and tok.type == tokenize.NAME:
            s = tok.string
            if s in ("min", "max"):
                if nxt is not None and nxt.string == "(":
                    add(row, c0, c1, *_NAMES[s])
            elif s in _NAMES:
                add(row, c0, c1, *_NAMES[s])
            elif s == "not" and nxt is not None and nxt.start[0] == row:
                add(row, c0, nxt.start[1], "", "not_del")
        elif mutable and tok.type == tokenize.NUMBER and tok.string in _NUMBERS:
            add(row, c0, c1, *_NUMBERS[tok.string])
        prev = tok
    return [m for m in out if _compiles(lines, m, path)]


def _augdel(toks, i, lines, rel, out) -> None:
    """``x op= e`` -> ``x op= <neutral>`` when ``e`` ends on the operator's line (a trailing
    comment is kept)."""
    tok = toks[i]
    row = tok.start[0]
    last = None
    for t in toks[i + 1:]:
        if t.type in (tokenize.NEWLINE, tokenize.ENDMARKER) or \
                (t.type == tokenize.OP and t.string == ";"):
            break
        if t.type not in (tokenize.COMMENT, tokenize.NL):
            last = t
    if last is None or last.end[0] != row:
        return  # right side over several lines: not a one-line mutant
    body = lines[row - 1].rstrip("\r\n")
    mutated = body[:tok.end[1]] + " " + _AUG_NEUTRAL[tok.string] + body[last.end[1]:]
    if mutated != body:
        out.append(Mutant(rel, row, tok.start[1] + 1, "augdel", body, mutated))


def _compiles(lines: list[str], m: Mutant, path: Path) -> bool:
    return compile_ok("".join(apply_lines(lines, m)), str(path))


def apply_lines(lines: list[str], m: Mutant) -> list[str]:
    """``lines`` (with their line ends) with mutant ``m`` applied."""
    old = lines[m.line - 1]
    if old.rstrip("\r\n") != m.original:
        raise HarnessError(f"{m.id}: line {m.line} is not the mutant's original line "
                           "(the file changed since the mutants were generated)")
    ending = old[len(m.original):]
    return lines[:m.line - 1] + [m.mutated + ending] + lines[m.line:]


def compile_ok(source: str, filename: str) -> bool:
    """Whether ``source`` compiles."""
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def generate(root: Path, targets: list[str]) -> list[Mutant]:
    """The mutants of every target file (relative to ``root``), in a fixed order; ids are
    unique (a second identical id would mean a bug here)."""
    result: list[Mutant] = []
    for rel in targets:
        path = root / rel
        if not path.is_file():
            raise HarnessError(f"target {rel} not found under {root}")
        result.extend(mutants_of(path, Path(rel).as_posix()))
    ids = [m.id for m in result]
    if len(ids) != len(set(ids)):
        raise HarnessError("duplicate mutant ids")
    return result


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """Result of one pytest run."""

    status: str  # killed | survived | timeout | error
    seconds: float
    returncode: int | None
    killed_by: list[str]
    tail: str


class Workspace:
    """A scratch copy of the repository that runs one pytest selection at a time.

    ``<base>/repo`` holds the copied paths, ``<base>/support`` the pytest plugin,
    ``<base>/numba-cache`` numba's cache (``NUMBA_CACHE_DIR``), ``<base>/tmp`` ``TMPDIR``.
    """

    def __init__(self, base: Path, repo: Path, copy: list[str], python: str, tests: list[str],
                 jit: bool, timeout: float):
        self.base = base
        self.root = base / "repo"
        self.support = base / "support"
        self.cache = base / "numba-cache"
        self.python = python
        self.tests = tests
        self.jit = jit
        self.timeout = timeout
        self._keep_cache: set[str] | None = None  # None: keep everything (the baseline)
        self._proc: subprocess.Popen | None = None
        self._aborted = False
        shutil.rmtree(self.root, ignore_errors=True)  # a --scratch folder used before
        for d in (self.root, self.support, self.cache, base / "tmp"):
            d.mkdir(parents=True, exist_ok=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis",
                                        "numba-*")
        for rel in copy:
            src = repo / rel
            if src.is_dir():
                shutil.copytree(src, self.root / rel, ignore=ignore, symlinks=True)
            elif src.is_file():
                (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, self.root / rel)
        shared = repo.parent / "shared"  # reference data some tests read from ../shared
        if shared.is_dir() and not (base / "shared").exists():
            (base / "shared").symlink_to(shared, target_is_directory=True)
        (self.support / f"{SHIM_MODULE}.py").write_text(SHIM_SOURCE, encoding="utf-8")

    # -- environment and checks

    def env(self) -> dict[str, str]:
        """The test processes' environment: the scratch copy first on ``PYTHONPATH``."""
        env = dict(os.environ)
        parts = [str(self.root), str(self.support)]
        if env.get("PYTHONPATH"):
            parts.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(parts)
        env["SIMPOOL_MUTATION_SCRATCH"] = str(self.root)
        env["NUMBA_CACHE_DIR"] = str(self.cache)
        env["TMPDIR"] = str(self.base / "tmp")
        env.pop("PYTHONSAFEPATH", None)
        if self.jit:
            env.pop("NUMBA_DISABLE_JIT", None)
        else:
            env["NUMBA_DISABLE_JIT"] = "1"
        return env

    def check_import(self) -> str:
        """``import simpool`` in the test environment must find the scratch copy (not the
        editable install of the repository); returns its ``__file__``. Run from a folder
        without a package, so that only ``PYTHONPATH`` can point at the copy."""
        code = f"import {SHIM_MODULE}, simpool; print(simpool.__file__)"
        proc = subprocess.run([self.python, "-c", code], cwd=self.base / "tmp", env=self.env(),
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise HarnessError("`import simpool` fails in the scratch copy:\n"
                               + proc.stderr[-3000:])
        where = proc.stdout.strip().splitlines()[-1]
        if not os.path.realpath(where).startswith(os.path.realpath(self.root) + os.sep):
            raise HarnessError(f"simpool is imported from {where}, not from the scratch copy "
                               f"{self.root}: PYTHONPATH does not take precedence")
        return where

    def freeze_cache(self) -> None:
        """The numba cache folders present now are kept; later ones (a mutant's) are deleted
        after its run."""
        self._keep_cache = {p.name for p in self.cache.iterdir()}

    def seed_cache(self, other: "Workspace") -> None:
        """Copy ``other``'s numba cache (the unmutated kernels, compiled by the baseline)."""
        for p in other.cache.iterdir():
            if p.is_dir() and not (self.cache / p.name).exists():
                shutil.copytree(p, self.cache / p.name)
        self.freeze_cache()

    # -- one run

    def run_tests(self, first_failure: bool = True) -> Outcome:
        """Run the pytest selection once (``first_failure``: ``-x``, stop at the first
        failure; the baseline runs everything, to name every failing test)."""
        cmd = [self.python, "-m", "pytest", *(["-x"] if first_failure else []), "-q",
               "--no-header", "-rfE", "--tb=line", "--disable-warnings",
               "-p", "no:cacheprovider", "-p", SHIM_MODULE, *self.tests]
        t0 = time.monotonic()
        with tempfile.TemporaryFile("w+", dir=self.base / "tmp") as log:
            if self._aborted:
                raise Aborted()
            proc = subprocess.Popen(cmd, cwd=self.root, env=self.env(), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            self._proc = proc
            try:
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc = None
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                self._proc = None
            if self._aborted:
                raise Aborted()
            seconds = time.monotonic() - t0
            log.seek(0)
            text = log.read()
        self._tidy()
        tail = text[-4000:]
        if rc == WRONG_PACKAGE_RC or WRONG_PACKAGE_MARK in text:
            raise HarnessError(f"the tests imported simpool from outside the scratch copy:\n{tail}")
        failed = [ln.split(" ", 1)[1].split(" - ", 1)[0].strip()
                  for ln in text.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
        if rc is None:
            return Outcome("timeout", seconds, None, failed, tail)
        if rc == 0:
            return Outcome("survived", seconds, rc, [], tail)
        if rc in (1, 2):  # 1: a test failed; 2: collection/import failed (the mutant broke it)
            return Outcome("killed", seconds, rc, failed or [f"pytest exit {rc}"], tail)
        if rc < 0:  # the process crashed (a compiled kernel writing out of bounds: SIGSEGV)
            return Outcome("killed", seconds, rc, [f"crash: signal {-rc}", *failed], tail)
        return Outcome("error", seconds, rc, failed, tail)

    def abort(self) -> None:
        """Kill the run in progress (from another thread); later runs raise :class:`Aborted`."""
        self._aborted = True
        proc = self._proc
        if proc is not None:
            _kill_group(proc)

    def _tidy(self) -> None:
        shutil.rmtree(self.root / ".hypothesis", ignore_errors=True)
        if self._keep_cache is None:
            return
        for p in self.cache.iterdir():
            if p.name not in self._keep_cache:
                shutil.rmtree(p, ignore_errors=True)

    @contextlib.contextmanager
    def mutated(self, m: Mutant):
        """The scratch file of ``m`` mutated for the duration of the block, then restored
        (byte for byte); the module's cached bytecode is removed both times so that a
        same-size edit within the same second cannot be served from a stale ``.pyc``."""
        path = self.root / m.file
        original = path.read_bytes()
        lines = original.decode("utf-8").splitlines(keepends=True)
        try:
            path.write_bytes("".join(apply_lines(lines, m)).encode("utf-8"))
            _drop_pyc(path)
            yield
        finally:
            path.write_bytes(original)
            _drop_pyc(path)


def _drop_pyc(path: Path) -> None:
    for optimization in ("", 1, 2):
        with contextlib.suppress(OSError, NotImplementedError, ValueError):
            os.unlink(importlib.util.cache_from_source(str(path), optimization=optimization))


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the test process and everything it started (its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=30)


# --------------------------------------------------------------------------- results


def load_results(path: Path) -> dict[str, dict]:
    """The last record of each id in a JSON-lines results file (a torn last line, from an
    interrupted write, is ignored)."""
    records: dict[str, dict] = {}
    if not path.exists():
        return records
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and "id" in rec:
                records[rec["id"]] = rec
    return records


class ResultWriter:
    """Appends one JSON line per mutant and flushes it to disk at once (thread-safe)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, rec: dict) -> None:
        with self._lock:
            self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def record(m: Mutant, o: Outcome, mode: str, tests: str, snapshot: str) -> dict:
    """The results-file line of mutant ``m``."""
    rec = {"id": m.id, "file": m.file, "line": m.line, "col": m.col, "op": m.op,
           "original": m.original, "mutated": m.mutated, "status": o.status,
           "seconds": round(o.seconds, 2), "returncode": o.returncode,
           "killed_by": o.killed_by[:3], "mode": mode, "tests": tests,
           "snapshot": snapshot, "time": _dt.datetime.now().isoformat(timespec="seconds")}
    if o.status == "error" or (o.returncode or 0) < 0:
        rec["tail"] = o.tail[-2000:]
    return rec


def summarize(mutants: list[Mutant], results: dict[str, dict], out=sys.stdout) -> None:
    """Totals over ``mutants`` (by the results recorded for them) and the survivors."""
    done = [results[m.id] for m in mutants
            if m.id in results and results[m.id].get("original") == m.original]
    counts = {k: 0 for k in ("killed", "survived", "timeout", "error")}
    for r in done:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print("\n=== mutation results ===", file=out)
    print(f"{'mutants selected':<18}{len(mutants):>6}", file=out)
    print(f"{'run':<18}{len(done):>6}", file=out)
    for k, v in counts.items():
        print(f"{k:<18}{v:>6}", file=out)
    valid = counts["killed"] + counts["timeout"] + counts["survived"]
    if valid:
        score = (counts["killed"] + counts["timeout"]) / valid
        print(f"{'score':<18}{score:>9.1%}  (killed + timeout) / (run - error)", file=out)
    snaps = {(r.get("snapshot"), r.get("mode"), r.get("tests")) for r in done}
    if len(snaps) > 1:
        print(f"note: these records come from {len(snaps)} different (snapshot, mode, tests) "
              "combinations", file=out)
    secs = [r["seconds"] for r in done]
    if secs:
        print(f"{'seconds/mutant':<18}{sum(secs) / len(secs):>9.1f}  (max {max(secs):.1f})",
              file=out)
    for status in ("survived", "timeout", "error"):
        rows = [r for r in done if r["status"] == status]
        if not rows:
            continue
        print(f"\n--- {status} ({len(rows)}) ---", file=out)
        for r in rows:
            print(f"{r['id']}", file=out)
            print(f"    - {r['original'].strip()}", file=out)
            print(f"    + {r['mutated'].strip()}", file=out)


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="One-line-mutant mutation testing of the waterfall kernel and its plan.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("targets", nargs="*", default=list(DEFAULT_TARGETS),
                   help="files to mutate, relative to the repository")
    p.add_argument("--repo", type=Path, default=REPO, help="repository root")
    p.add_argument("--tests", default=DEFAULT_TESTS,
                   help="pytest arguments (one shell-quoted string), e.g. "
                        "\"tests/test_waterfall.py -k 'not conservation'\"")
    p.add_argument("--jit", action="store_true",
                   help="compile the kernels (default: NUMBA_DISABLE_JIT=1, plain Python)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    p.add_argument("-j", "--jobs", type=int, default=1, help="mutants run in parallel")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="only mutant ids containing PATTERN (repeatable: any of them)")
    p.add_argument("--max", type=int, default=None, metavar="N",
                   help="run at most N mutants (after --only and --resume)")
    p.add_argument("--list", action="store_true", help="list the mutants and exit")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="JSON-lines results file (appended to)")
    p.add_argument("--resume", action="store_true",
                   help="skip mutants already in the results file (same id and line)")
    p.add_argument("--copy", action="append", default=[], metavar="PATH",
                   help=f"also copy PATH into the scratch copy (always: {', '.join(DEFAULT_COPY)})")
    p.add_argument("--python", default=None,
                   help="interpreter for the tests (default: the repository's .venv, else this one)")
    p.add_argument("--scratch", type=Path, default=None,
                   help="folder for the scratch copies (default: a new temporary folder)")
    p.add_argument("--keep-scratch", action="store_true", help="do not delete the scratch copies")
    p.add_argument("--no-summary", action="store_true", help="skip the final table")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("-j must be at least 1")
    return args


def select(mutants: list[Mutant], only: list[str]) -> list[Mutant]:
    """The mutants whose id contains any of the ``only`` substrings (all without any)."""
    return [m for m in mutants if not only or any(s in m.id for s in only)]


def list_mutants(mutants: list[Mutant]) -> None:
    """Print the mutants and counts per file and operator."""
    for m in mutants:
        print(m.id)
        print(f"    - {m.original.strip()}")
        print(f"    + {m.mutated.strip()}")
    by_file: dict[str, int] = {}
    by_op: dict[str, int] = {}
    for m in mutants:
        by_file[m.file] = by_file.get(m.file, 0) + 1
        by_op[m.op] = by_op.get(m.op, 0) + 1
    print(f"\n{len(mutants)} mutants")
    for k, v in by_file.items():
        print(f"  {v:5d}  {k}")
    for k, v in sorted(by_op.items(), key=lambda kv: -kv[1]):
        print(f"  {v:5d}  {k}")


def _fingerprint(root: Path, targets: list[str]) -> str:
    """Short hash of the target files under ``root``."""
    h = hashlib.sha256()
    for rel in targets:
        h.update((root / rel).read_bytes())
    return h.hexdigest()[:12]


def snapshot_id(root: Path) -> str:
    """Short hash of every file of the scratch copy (package, tests, data): records of
    different snapshots (the repository was edited between runs) are told apart by it."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and ".hypothesis" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0: ran, 1: harness failure, 2: bad baseline)."""
    args = parse_args(argv)
    _interrupt_on_signals()
    repo = args.repo.resolve()
    targets = [Path(t).as_posix() for t in args.targets]
    mode = "jit" if args.jit else "nojit"
    try:
        if args.list:
            list_mutants(select(generate(repo, targets), args.only))
            return 0
        return _run(args, repo, targets, mode)
    except HarnessError as e:
        print(f"\nmutate.py: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mutate.py: interrupted; results so far are in the results file", file=sys.stderr)
        return 130


def _interrupt_on_signals() -> None:
    """SIGTERM and SIGHUP stop the run as Ctrl-C does: the test processes (each in a session
    of its own, so the terminal's signals do not reach them) are killed, the scratch folder
    removed. SIGINT is restored too where the shell started us with it ignored."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, handler)


def _run(args, repo: Path, targets: list[str], mode: str) -> int:
    python = args.python or (str(repo / ".venv/bin/python")
                             if (repo / ".venv/bin/python").exists() else sys.executable)
    python = shutil.which(python) or python  # absolute: the tests run in another folder
    python = str(Path(python).absolute())
    tests = shlex.split(args.tests)
    copy = list(dict.fromkeys([*DEFAULT_COPY, *args.copy]))
    made_scratch = args.scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="simpool-mutation-")) if made_scratch \
        else args.scratch.resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"scratch: {scratch}\nmode: {mode}   tests: {args.tests}   python: {python}")
    writer = None
    try:
        ws0 = Workspace(scratch / "w0", repo, copy, python, tests, args.jit, args.timeout)
        # the mutants come from the snapshot actually tested (the repository may be edited)
        mutants = select(generate(ws0.root, targets), args.only)
        snapshot = snapshot_id(ws0.root)
        print(f"{len(mutants)} mutants selected (targets {_fingerprint(ws0.root, targets)}, "
              f"snapshot {snapshot})")
        done = load_results(args.results) if args.resume else {}
        todo = [m for m in mutants
                if not (m.id in done and done[m.id].get("original") == m.original)]
        if args.resume:
            print(f"resume: {len(mutants) - len(todo)} already in {args.results}")
        if args.max is not None:
            todo = todo[:args.max]
        if not todo:
            print("nothing to run")
            if not args.no_summary:
                summarize(mutants, load_results(args.results))
            return 0
        print(f"simpool imported from {ws0.check_import()}")
        print("baseline (unmutated) ...", flush=True)
        base = ws0.run_tests(first_failure=False)
        if base.status != "survived":
            raise_baseline(base, args)
        print(f"baseline passes in {base.seconds:.1f} s")
        if args.timeout < 2 * base.seconds:
            print(f"warning: --timeout {args.timeout:.0f} s is under twice the baseline time")
        ws0.freeze_cache()
        spaces = [ws0]
        for k in range(1, min(args.jobs, len(todo))):
            ws = Workspace(scratch / f"w{k}", repo, copy, python, tests, args.jit, args.timeout)
            _same_snapshot(ws0, ws, snapshot)
            ws.seed_cache(ws0)
            ws.check_import()
            spaces.append(ws)
        writer = ResultWriter(args.results)
        _run_all(todo, spaces, writer, mode, args.tests, snapshot)
        if not args.no_summary:
            summarize(mutants, load_results(args.results))
        return 0
    finally:
        if writer is not None:
            writer.close()
        if made_scratch and not args.keep_scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def raise_baseline(base: Outcome, args) -> None:
    """Stop: the selection fails (or hangs) on the unmutated code."""
    what = {"timeout": f"does not finish within --timeout {args.timeout:.0f} s",
            "killed": "FAILS", "error": f"errors (pytest exit {base.returncode})"}[base.status]
    failing = "".join(f"\n  {t}" for t in base.killed_by)
    raise HarnessError(
        f"baseline: the selected tests ({args.tests}) {what} on the UNMUTATED code "
        f"({'jit' if args.jit else 'NUMBA_DISABLE_JIT=1'}); fix them or choose a passing "
        f"selection with --tests (e.g. -k 'not NAME').{failing}\n--- pytest output (tail) ---\n"
        f"{base.tail}")


def _same_snapshot(a: Workspace, b: Workspace, snapshot: str) -> None:
    """Every scratch copy must hold the same files (the repository may be edited meanwhile)."""
    if snapshot_id(b.root) != snapshot:
        raise HarnessError(f"the repository changed while the scratch copies were made "
                           f"({a.root} and {b.root} differ); run again")


def _run_all(todo: list[Mutant], spaces: list[Workspace], writer: ResultWriter, mode: str,
             tests: str, snapshot: str) -> None:
    """Run ``todo`` on the workspaces (one thread each), printing and recording each."""
    q: queue.Queue[tuple[int, Mutant]] = queue.Queue()
    for item in enumerate(todo, 1):
        q.put(item)
    failures: list[BaseException] = []
    stop = threading.Event()
    print_lock = threading.Lock()

    def work(ws: Workspace) -> None:
        while not stop.is_set():
            try:
                n, m = q.get_nowait()
            except queue.Empty:
                return
            try:
                with ws.mutated(m):
                    o = ws.run_tests()
            except Aborted:
                return
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                failures.append(e)
                stop.set()
                return
            writer.write(record(m, o, mode, tests, snapshot))
            with print_lock:
                by = f"  ({o.killed_by[0]})" if o.killed_by else ""
                print(f"[{n}/{len(todo)}] {o.status:<8} {o.seconds:6.1f}s  {m.id}{by}",
                      flush=True)

    threads = [threading.Thread(target=work, args=(ws,), daemon=True) for ws in spaces]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    except KeyboardInterrupt:
        stop.set()
        print("\ninterrupted: the mutants in progress are abandoned (not recorded)",
              file=sys.stderr)
        for ws in spaces:
            ws.abort()
        for t in threads:
            t.join()
        raise
    if failures:
        if isinstance(failures[0], HarnessError):
            raise failures[0]
        raise HarnessError(f"{type(failures[0]).__name__}: {failures[0]}")


if __name__ == "__main__":
    sys.exit(main())
