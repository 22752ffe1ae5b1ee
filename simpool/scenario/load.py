"""Scenario files: load TOML (or a dict), follow ``extends``, apply ``--set``, validate once.

:func:`load_scenario` is the way in: it reads the file and the files it ``extends``
(merged table by table, named arrays element by element), applies ``--set`` overrides
(:func:`apply_overrides`), validates the tables (:mod:`.schema`), runs the checks of the
whole scenario (:mod:`.checks`) and reads the loan tape (:mod:`.loantape`, one read shared
by every scenario that names the same file). Validation collects every problem at once and
reports each as ``file:line: dotted.path: message``; unknown keys are errors (with "did you
mean"), values outside typical or policy ranges are warnings. :func:`resolved_toml` writes
the scenario back with every default filled in and money in yuan.
"""

from __future__ import annotations

import os
import re
import tomllib
import weakref
from contextlib import suppress as _suppress
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, ProblemList, ScenarioError, did_you_mean
from .checks import (
    _check_names,
    _check_sizes,
    _check_sweep,
    _check_tape_routes,
    _cross_reference,
    _tape_typical_warnings,
    _warnings,
)
from .locate import (
    _bool_problems,
    _cohort_names,
    _Locator,
    _problems_from_validation,
    _q,
    _sorted,
    _where,
)
from .schema import _ARRAYS, Scenario, _listing
from .tomlpos import format_path, line_of, locate_keys

__all__ = ["load_scenario", "read_raw", "apply_overrides", "resolved_dict", "resolved_toml"]


def load_scenario(source: str | os.PathLike | dict, overrides: list[str] | dict | None = None,
                  *, load_tape: bool = True) -> Scenario:
    """Load and validate a scenario from a TOML file or a dict of the same shape.

    Parameters
    ----------
    source : path or dict
        A TOML scenario file, or a dict with the same keys.
    overrides : list of "dotted.key=value" strings, or dict {dotted.key: value}
        Applied before validation (``--set`` on the command line).
    load_tape : bool
        Read and validate ``portfolio.loans_file`` (default True).

    Raises
    ------
    ScenarioError
        With every problem found, each as ``file:line: dotted.path: message``.
    """
    problems = ProblemList()
    if isinstance(source, dict):
        import copy

        raw = copy.deepcopy(source)
        file, base_dir = "<dict>", os.getcwd()
        layers = [(file, {}, raw, {})]
    else:
        file = str(source)
        base_dir = str(_safe_resolve(Path(source)).parent)
        raw, layers = _read_with_extends(Path(source), file, [])
    index = _Locator(layers)
    raw, touched = apply_overrides(raw, overrides, problems)
    names = _cohort_names(raw)
    index.merged_names = names
    for loc, message in _bool_problems(raw, Scenario, ()):
        problems.error(*_where(loc, index, touched), format_path(loc, names), message)
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems_from_validation(exc, file, index, names, touched))
        raise ScenarioError(_sorted(problems.problems)) from None
    sc._source = file
    sc._base_dir = base_dir
    if overrides:
        sc._overrides = [f"{k}={v}" for k, v in overrides.items()] \
            if isinstance(overrides, dict) else [str(o) for o in overrides]
    _cross_reference(sc, file, index, names, problems)
    _check_sizes(sc, index, names, touched, problems)
    _check_names(sc, index, names, touched, problems)
    problems.extend(_warnings(sc, file, index, names))
    if not problems.errors:
        _check_sweep(raw, index, touched, problems, load_scenario)
    if load_tape and sc.portfolio.loans_file is not None and not problems.errors:
        _load_tape(sc, file, index, problems)
    if problems.errors:
        raise ScenarioError(_sorted(problems.problems))
    sc._warnings = _sorted(problems.warnings)
    return sc


def read_raw(source: str | os.PathLike) -> dict:
    """The raw data of a scenario file with its ``extends`` chain merged (not validated)."""
    raw, _ = _read_with_extends(Path(source), str(source), [])
    return raw


# ---------------------------------------------------------------------------
# --set overrides
# ---------------------------------------------------------------------------

def _parse_toml_value(text: str) -> Any:
    """Parse a ``--set`` value as TOML, falling back to the raw string."""
    if _nesting_line(text) is not None:
        return text
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError, RecursionError, KeyError):
        # ValueError: an integer of more than 4300 digits; KeyError: "1\nw = 2" sets no v
        return text


def apply_overrides(raw: dict, overrides: list[str] | dict[str, Any] | None,
                    problems: ProblemList | None = None) -> tuple[dict, set[tuple]]:
    """Apply ``dotted.key=value`` overrides to a raw scenario dict (in place).

    Cohorts are addressed by name (``cohorts.ip_pledge.pd=0.03``) or index
    (``cohorts.0.pd=0.03``). Values are parsed as TOML, falling back to a string
    (``model.copula=t``). Returns the dict and the set of overridden key paths.
    """
    problems = problems if problems is not None else ProblemList()
    touched: set[tuple] = set()
    if not overrides:
        return raw, touched
    items = overrides.items() if isinstance(overrides, dict) else []
    if not isinstance(overrides, dict):
        parsed = []
        for text in overrides:
            if "=" not in text:
                problems.error("--set", None, text,
                               "expected dotted.key=value, e.g. cohorts.ip_pledge.pd=0.03")
                continue
            key, value = text.split("=", 1)
            parsed.append((key.strip(), _parse_toml_value(value.strip())))
        items = parsed
    for key, value in items:
        parts = [p for p in key.split(".")]
        if not key or any(not p for p in parts):
            problems.error("--set", None, key, "empty key; expected dotted.key=value")
            continue
        node: Any = raw
        loc: list[str | int] = []
        ok = True
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list):
                idx = _find_element(node, part)
                if idx is None:
                    names = [e.get("name") for e in node if isinstance(e, dict)]
                    problems.error("--set", None, key,
                                   f"no element named {_q(part)} in {'.'.join(map(str, loc))}"
                                   f"{did_you_mean(part, [n for n in names if n])}"
                                   f"; known: {_listing(n for n in names) or 'none'}")
                    ok = False
                    break
                node = node[idx]
                loc.append(idx)
            elif isinstance(node, dict):
                if part not in node:
                    if not loc and part in _ARRAYS:
                        problems.error("--set", None, key,
                                       f"no element named '{parts[i + 1]}' in {part}; known: none")
                        ok = False
                        break
                    node[part] = {} if not parts[i + 1].isdigit() else []
                node = node[part]
                loc.append(part)
            else:
                problems.error("--set", None, key,
                               f"'{'.'.join(map(str, loc))}' is a value, not a table")
                ok = False
                break
        if not ok:
            continue
        last = parts[-1]
        if isinstance(node, dict):
            node[last] = value
            loc.append(last)
        elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
            loc.append(int(last))
        else:
            problems.error("--set", None, key, "cannot set this key")
            continue
        touched.add(tuple(loc))
    return raw, touched


def _find_element(node: list, part: str) -> int | None:
    for i, e in enumerate(node):
        if isinstance(e, dict) and e.get("name") == part:
            return i
    if part.isdigit() and int(part) < len(node):
        return int(part)
    return None


# ---------------------------------------------------------------------------
# TOML files and extends
# ---------------------------------------------------------------------------

#: Arrays of tables merged by ``name`` when a scenario ``extends`` another.
_NAMED_ARRAYS = ("cohorts", "banks", "guarantors", "pools", "insurers", "funds", "payers",
                 "guidance_funds", "sub_funds")


def _safe_resolve(path: Path) -> Path:
    """``path.resolve()``, or its absolute form when it cannot be resolved (a symlink loop)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(path))


def _not_a_file(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be read as a file (None: a regular file). Never raises."""
    import stat

    if "\x00" in str(path):
        return "the file name contains a NUL character"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "file not found" if what == "scenario" else f"{what} not found"
    except NotADirectoryError:
        return "file not found" if what == "scenario" else f"{what} not found"
    except (OSError, RuntimeError, ValueError) as e:
        return f"cannot open the file: {getattr(e, 'strerror', None) or e}"
    if stat.S_ISDIR(mode):
        return "is a directory, not a scenario file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe, socket or device?); name a TOML file"
    return None


#: Nesting deeper than this is refused before tomllib (which would exhaust the stack).
_MAX_NESTING = 100


_NESTING_TOKENS = re.compile(r'"""|\'\'\'|\\.|["\'#\n\[\]{}]', re.DOTALL)


def _nesting_line(text: str) -> int | None:
    """The first line where brackets or braces nest deeper than ``_MAX_NESTING`` (a rough
    scan that skips strings and comments), or None."""
    if text.count("[") + text.count("{") <= _MAX_NESTING:
        return None
    depth, line, quote, comment = 0, 1, "", False
    for m in _NESTING_TOKENS.finditer(text):
        t = m.group()
        if t == "\n":
            line += 1
            comment = False
            if quote in ('"', "'"):
                quote = ""
        elif comment:
            continue
        elif quote:
            if t == quote:
                quote = ""
        elif t == "#":
            comment = True
        elif t in ('"', "'", '"""', "\'\'\'"):
            quote = t
        elif t in "[{":
            depth += 1
            if depth > _MAX_NESTING:
                return line
        elif t in "]}":
            depth = max(0, depth - 1)
    return None


def _read_toml(path: Path, shown: str) -> tuple[dict, dict]:
    """Parse one TOML file: (data, key->line index); file problems raise ScenarioError."""
    why = _not_a_file(path, "scenario")
    if why is not None:
        raise ScenarioError([Problem(shown, None, "", why)])
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(shown, None, "", "file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(shown, None, "", "is a directory, not a scenario file")]) from None
    except (OSError, ValueError) as e:
        raise ScenarioError([Problem(shown, None, "",
                                     f"cannot read: {getattr(e, 'strerror', None) or e}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ScenarioError([Problem(shown, None, "",
                                     f"not UTF-8 text (byte {e.start}): save the scenario as UTF-8")]) from None
    deep = _nesting_line(text)
    if deep is not None:
        raise ScenarioError([Problem(shown, deep, "", f"invalid TOML: arrays or tables nested "
                                                      f"more than {_MAX_NESTING} deep")])
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+)", str(e))
        line = int(m.group(1)) if m else None
        msg = str(e).split(" (at line")[0].split(" (at end of document)")[0]
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {msg}")]) from None
    except (ValueError, RecursionError, MemoryError) as e:
        # e.g. an integer of more than 4300 digits (int() refuses it), or deep nesting
        m = re.search(r"[0-9_]{4000,}", text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        msg = ("an integer with too many digits" if m else
               f"cannot be parsed ({type(e).__name__})")
        raise ScenarioError([Problem(shown, line, "", f"invalid TOML: {msg}")]) from None
    return raw, locate_keys(text)


def _read_with_extends(path: Path, shown: str, chain: list[Path]) -> tuple[dict, list]:
    """Read ``path`` and the files it ``extends``; return (merged data, layers child-first).

    ``extends = "base.toml"`` (relative to the file) makes a what-if hold only its
    differences: tables merge key by key, arrays of named tables (cohorts, banks,
    guarantors, pools, insurers) merge element by element by ``name``, anything else in the
    child replaces the base's value.

    Each layer is ``(shown file, key->line index, raw data, origins)``: ``origins[key][i]``
    maps layer number -> element index of the merged named array ``key``'s element ``i``.
    """
    resolved = _safe_resolve(path)
    if resolved in chain:
        cycle = " -> ".join(str(p.name) for p in chain + [resolved])
        raise ScenarioError([Problem(shown, None, "extends", f"circular extends: {cycle}")])
    raw, index = _read_toml(path, shown)
    base_name = raw.pop("extends", None)
    if base_name is None:
        origins = {k: [{0: i} for i in range(len(v))] for k, v in raw.items()
                   if k in _NAMED_ARRAYS and isinstance(v, list)}
        return raw, [(shown, index, raw, origins)]
    line = line_of(index, ("extends",))
    if not isinstance(base_name, str) or not base_name.strip():
        raise ScenarioError([Problem(shown, line, "extends",
                                     "must be the path of a scenario file, relative to this one")])
    if "\x00" in base_name:
        raise ScenarioError([Problem(shown, line, "extends",
                                     "the file name contains a NUL character")])
    base_path = path.parent / base_name
    base_shown = str(Path(shown).parent / base_name)
    if _safe_resolve(base_path) in chain + [resolved]:
        cycle = " -> ".join(str(p.name) for p in chain + [resolved, _safe_resolve(base_path)])
        raise ScenarioError([Problem(shown, line, "extends", f"circular extends: {cycle}")])
    why = _not_a_file(base_path, "base scenario")
    if why is not None:
        if why.endswith("not found"):
            why = f"base scenario not found: {base_shown}"
        else:
            why = f"base scenario {base_shown}: {why}"
        raise ScenarioError([Problem(shown, line, "extends", why)])
    base_raw, base_layers = _read_with_extends(base_path, base_shown, chain + [resolved])
    tape = base_raw.get("portfolio", {}).get("loans_file") if isinstance(base_raw.get("portfolio"), dict) else None
    if isinstance(tape, str) and "\x00" not in tape and not Path(tape).is_absolute():
        # a base's loan tape stays relative to the base file
        base_raw["portfolio"]["loans_file"] = os.path.relpath(base_path.parent / tape, path.parent)
    base_origins = base_layers[0][3]
    merged, origins = _merge_tracked(base_raw, raw, base_origins)
    layers = [(shown, index, raw, origins)] + [(f, i, r, {}) for f, i, r, _ in base_layers]
    return merged, layers


def _merge_tracked(base: dict, child: dict, base_origins: dict) -> tuple[dict, dict]:
    """:func:`_merge`, and where each element of the merged named arrays comes from."""
    merged = _merge(base, child)
    origins: dict = {}
    for key in _NAMED_ARRAYS:
        value = merged.get(key)
        if not isinstance(value, list):
            continue
        old = base.get(key)
        new = child.get(key)
        if isinstance(old, list) and isinstance(new, list):
            prov = [{k + 1: v for k, v in o.items()} for o in base_origins.get(key, [])]
            prov += [{} for _ in range(len(old) - len(prov))]
            index = _name_index(old)
            for j, item in enumerate(new):
                name = item.get("name") if isinstance(item, dict) else None
                at = _find_named(old, index, name)
                if at is None:
                    prov.append({0: j})
                else:
                    prov[at][0] = j
        elif isinstance(new, list):
            prov = [{0: j} for j in range(len(new))]
        else:
            prov = [{k + 1: v for k, v in o.items()} for o in base_origins.get(key, [])]
        if len(prov) == len(value):
            origins[key] = prov
    return merged, origins


def _find_named(items: list, index: dict, name: Any) -> int | None:
    """Position of the first table named ``name`` (``index``: name -> first position)."""
    if name is None:
        return None
    try:
        return index.get(name)
    except TypeError:  # an unhashable "name" (a list, a table): compare one by one
        return next((i for i, e in enumerate(items)
                     if isinstance(e, dict) and e.get("name") == name), None)


def _name_index(items: list) -> dict:
    out: dict = {}
    for i, e in enumerate(items):
        if isinstance(e, dict) and e.get("name") is not None:
            with _suppress(TypeError):
                out.setdefault(e["name"], i)
    return out


def _merge(base: dict, child: dict) -> dict:
    out = dict(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge(old, value)
        elif key in _NAMED_ARRAYS and isinstance(old, list) and isinstance(value, list):
            merged = list(old)
            index = _name_index(merged)
            for item in value:
                name = item.get("name") if isinstance(item, dict) else None
                at = _find_named(merged, index, name)
                if at is None:
                    merged.append(item)
                    if name is not None:
                        with _suppress(TypeError):
                            index.setdefault(name, len(merged) - 1)
                else:
                    merged[at] = _merge(merged[at], item)
            out[key] = merged
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------------------
# The loan tape
# ---------------------------------------------------------------------------

#: Loan tapes read, while any scenario holds them: the variants of a sweep (and the what-ifs
#: of a comparison) share one read-only copy of a tape instead of reading it once each.
_TAPES: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()


def _tape_key(full: Path, options: dict) -> tuple | None:
    """What identifies a tape read: the file (device, inode, size, modification time) and
    the reader's options; None when the file cannot be looked at (the reader says why)."""
    try:
        st = full.stat()
    except (OSError, ValueError):
        return None
    return (str(full), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns,
            tuple(sorted(options.items())))


def _load_tape(sc: Scenario, file: str, index: dict, problems: ProblemList) -> None:
    from .loantape import read_loan_tape

    if "\x00" in sc.portfolio.loans_file:
        problems.error(*index.at(("portfolio", "loans_file")), "portfolio.loans_file",
                       "the file name contains a NUL character")
        return
    p = Path(sc.portfolio.loans_file)
    full = p if p.is_absolute() else Path(sc._base_dir) / p
    options = dict(shown_as=str(Path(file).parent / p) if not file.startswith("<") else str(p),
                   encoding=sc.portfolio.encoding,
                   default_sector=sc.portfolio.default_sector or
                   (sc.model.sectors[0] if len(sc.model.sectors) == 1 else None),
                   sectors=tuple(sc.model.sectors),
                   allow_duplicate_ids=sc.portfolio.allow_duplicate_ids)
    key = _tape_key(full, options)
    tape = _TAPES.get(key) if key is not None else None
    try:
        if tape is None:
            tape = read_loan_tape(full, **options)
            if key is not None:
                _TAPES[key] = tape
    except ScenarioError as e:
        problems.extend(e.problems)
        problems.extend(e.warnings)
        return
    problems.extend(getattr(tape, "warnings", ()))
    problems.extend(_tape_typical_warnings(tape))
    sc._tape = tape
    _check_tape_routes(sc, index, problems)


# ---------------------------------------------------------------------------
# The resolved scenario
# ---------------------------------------------------------------------------

def resolved_dict(sc: Scenario) -> dict:
    """The fully resolved scenario as plain data (money in yuan, defaults filled in)."""

    def drop_none(x):
        if isinstance(x, dict):
            return {k: drop_none(v) for k, v in x.items() if v is not None}
        if isinstance(x, list):
            return [drop_none(v) for v in x]
        return x

    return drop_none(sc.model_dump(mode="python"))


def resolved_toml(sc: Scenario, paths: int | None = None, seed: int | None = None) -> str:
    """The fully resolved scenario as TOML text; ``paths`` and ``seed``: what a run actually
    used (``--paths``, ``--seed``), written in place of the file's so that the text reruns it."""
    import tomli_w

    header = (f"# Resolved scenario (every default filled in, money in yuan)\n"
              f"# source: {sc.source}\n")
    for o in sc.overrides:
        header += f"# changed by --set: {o}\n"
    d = resolved_dict(sc)
    if paths is not None:
        d["simulation"]["paths"] = int(paths)
    if seed is not None:
        d["simulation"]["seed"] = int(seed)
    return header + tomli_w.dumps(d)
