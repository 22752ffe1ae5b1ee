"""Located problems: where a key of a scenario was written, and problems that say so.

Every problem is reported as ``file:line: dotted.path: message``. :class:`_Locator` finds the
file and line of a key of the merged scenario through its ``extends`` layers (child file
first; elements of the named arrays followed by name); :func:`_where` says ``--set`` when an
override wrote the key. pydantic's errors become such problems with plain messages
(:func:`_problems_from_validation`), and ``true``/``false`` where a number belongs, which
pydantic would read as 1 and 0, is caught before it (:func:`_bool_problems`).
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ..errors import Problem, did_you_mean
from .schema import _ARRAYS, _model_for
from .tomlpos import format_path, line_of


def _q(value: object, limit: int = 60) -> str:
    """``'value'`` for messages, shortened: a user's 200,000-character name stays readable."""
    text = str(value)
    return f"'{text}'" if len(text) <= limit else f"'{text[: limit - 3]}...'"


def _show_value(value: Any, limit: int = 60) -> str:
    """A value as in TOML (true, 0.5, "text"), shortened for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        digits = len(str(abs(value))) if value.bit_length() < 13000 else None
        if digits is None or digits > 30:
            return f"an integer of {digits or 'over 4300'} digits"
        return str(value)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cohort_names(raw: dict) -> dict[str, list[str | None]]:
    """Element names of the named arrays (cohorts, banks, ...), for error paths."""
    out = {}
    for key in _ARRAYS:
        items = raw.get(key)
        if isinstance(items, list):
            out[key] = [c.get("name") if isinstance(c, dict) and isinstance(c.get("name"), str)
                        else None for c in items]
    return out


# ---------------------------------------------------------------------------
# pydantic's errors as located problems
# ---------------------------------------------------------------------------

_PLAIN = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "literal_error": "must be one of {expected}",
    "int_parsing": "must be an integer",
    "int_type": "must be an integer",
    "int_from_float": "must be a whole number",
    "int_parsing_size": "must be an integer (this one is too large)",
    "bool_parsing": "must be true or false",
    "string_too_short": "must not be empty",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "bool_type": "must be true or false",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s), got {actual_length}",
    "missing": "required key is missing",
}


def _pydantic_message(err: dict) -> str:
    typ = err.get("type", "")
    msg = err.get("msg", "invalid value")
    if typ == "union_literal_or_table":
        return msg
    if typ in _PLAIN:
        try:
            msg = _PLAIN[typ].format(**err.get("ctx", {}))
        except (KeyError, IndexError):
            pass
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = err.get("input")
    if typ in ("float_type", "float_parsing", "finite_number") and isinstance(value, int) \
            and not isinstance(value, bool):
        msg = "must be a finite number (this integer is too large)"
    le = err.get("ctx", {}).get("le")
    if typ == "less_than_equal" and isinstance(le, (int, float)) and le <= 1 and \
            isinstance(value, (int, float)) and not isinstance(value, bool) and \
            1 < value <= 100 and value / 100 <= le:
        return (f"{msg}, got {_shown_input(value)}: a fraction; did you mean {value / 100:g}? "
                f"(or write \"{value:g}%\")")
    if typ != "missing" and "input" in err and "got " not in msg:
        if not isinstance(value, (dict, list)):
            msg = f"{msg}, got {_shown_input(value)}"
    return msg


def _shown_input(value: Any, limit: int = 60) -> str:
    """repr() of an offending input, shortened (a 200,000-character string, a huge int)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _show_value(value, limit)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Branch tags pydantic puts in an error's location (unions, validators), not keys.
_TAG = re.compile(r"(?:literal|function-[a-z]+|nullable|list|dict|model|union|tagged-union|"
                  r"lax-or-strict|json-or-python|default|chain|constrained-[a-z]+)\[.*\]",
                  re.DOTALL)


def _is_tag(x: object) -> bool:
    return isinstance(x, str) and (x.startswith("[") or bool(_TAG.fullmatch(x)))


def _union_errors(errors: list[dict]) -> list[dict]:
    """One message per union field: a table goes to the table branch's messages; anything
    else gets the literal branch's list of names, "or a table"."""
    tagged: dict[tuple, list[dict]] = {}
    for err in errors:
        loc = err["loc"]
        k = next((i for i, x in enumerate(loc) if _is_tag(x)), None)
        if k is not None and str(loc[k]).startswith("literal["):
            tagged.setdefault(tuple(loc[:k]), []).append(err)
    out = []
    for err in errors:
        loc = err["loc"]
        k = next((i for i, x in enumerate(loc) if _is_tag(x)), None)
        head = tuple(loc[:k]) if k is not None else None
        if head is None or head not in tagged:
            out.append(err)
            continue
        is_table = isinstance(err.get("input"), dict) or len(loc) > k + 1
        if str(loc[k]).startswith("literal["):
            siblings = [e for e in errors if e is not err and tuple(e["loc"][:k]) == head]
            if isinstance(err.get("input"), dict) and siblings:
                continue  # a table: the table branch says what is wrong with it
            err = dict(err)
            if siblings:
                text = _pydantic_message({k: v for k, v in err.items() if k != "input"})
                err["msg"] = f"{text}, or a table, got {_shown_input(err.get('input'))}"
                err["type"] = "union_literal_or_table"
            out.append(err)
        elif is_table and err.get("type") != "model_type":
            out.append(err)
    return out


def _problems_from_validation(exc: ValidationError, file: str, index: dict, names: dict,
                              touched: set[tuple]) -> list[Problem]:
    out = []
    for err in _union_errors(exc.errors()):
        # pydantic puts union/literal branch tags in loc; keep only real keys and indices
        loc = tuple(x for x in err["loc"] if not _is_tag(x))
        if err["type"] == "extra_forbidden":
            cls = _model_for(loc[:-1])
            allowed = list(cls.model_fields) if cls is not None else []
            message = f"unknown key {_q(loc[-1])}{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                message += f"; allowed: {', '.join(allowed)}"
        else:
            message = _pydantic_message(err)
        src, line = _where(loc, index, touched)
        out.append(Problem(src, line, format_path(loc, names), message))
    return out


# ---------------------------------------------------------------------------
# true/false where a number belongs
# ---------------------------------------------------------------------------

def _unwrap(ann: Any) -> Any:
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    return ann


def _admits_bool(ann: Any) -> bool:
    ann = _unwrap(ann)
    if ann is bool or ann is Any:
        return True
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        return any(_admits_bool(a) for a in get_args(ann))
    if origin is Literal:
        return any(isinstance(a, bool) for a in get_args(ann))
    return False


def _numeric_kind(ann: Any) -> str | None:
    """"an integer" / "a number" when ``ann`` is (optionally) an int or float, else None."""
    ann = _unwrap(ann)
    if get_origin(ann) in (Union, types.UnionType):
        kinds = {_numeric_kind(a) for a in get_args(ann) if a is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return {int: "an integer", float: "a number"}.get(ann)


def _bool_problems(value: Any, ann: Any, loc: tuple) -> list[tuple[tuple, str]]:
    """true/false where a number belongs: pydantic would read them as 1 and 0 (a silently
    wrong number). Returns (loc, message) pairs; other types are pydantic's to report."""
    out: list[tuple[tuple, str]] = []
    ann = _unwrap(ann)
    if isinstance(value, bool):
        kind = _numeric_kind(ann)
        if kind is not None and not _admits_bool(ann):
            out.append((loc, f"must be {kind}, got {'true' if value else 'false'}"))
        return out
    origin = get_origin(ann)
    if origin in (Union, types.UnionType):
        for a in get_args(ann):
            a = _unwrap(a)
            if (isinstance(value, dict) and isinstance(a, type) and issubclass(a, BaseModel)) or \
                    (isinstance(value, list) and get_origin(a) is list):
                return _bool_problems(value, a, loc)
        return out
    if isinstance(value, dict) and isinstance(ann, type) and issubclass(ann, BaseModel):
        for k, v in value.items():
            f = ann.model_fields.get(k) if isinstance(k, str) else None
            if f is not None:
                out.extend(_bool_problems(v, f.annotation, loc + (k,)))
    elif isinstance(value, list) and origin is list:
        elem = (get_args(ann) or (Any,))[0]
        for i, v in enumerate(value):
            out.extend(_bool_problems(v, elem, loc + (i,)))
    return out


# ---------------------------------------------------------------------------
# Where a key was written
# ---------------------------------------------------------------------------

class _Locator:
    """Where a key of the merged scenario was written: (file, line), child file first."""

    def __init__(self, layers: list):
        self.layers = [layer if len(layer) == 4 else (*layer, {}) for layer in layers]
        self.merged_names: dict = {}
        # origins of the merged named arrays, per layer number
        self.origins: dict = self.layers[0][3] if self.layers else {}

    def at(self, loc: tuple) -> tuple[str, int | None]:
        for k, (file, index, raw, _) in enumerate(self.layers):
            local = self._translate(loc, raw, k)
            if local is not None:
                return file, line_of(index, local)
        file, index, _, _ = self.layers[0]
        return file, line_of(index, loc)

    def _translate(self, loc: tuple, raw, layer: int = 0) -> tuple | None:
        """``loc`` in the merged data → the same key in one layer (None if not there)."""
        node = raw
        out: list = []
        for i, part in enumerate(loc):
            if isinstance(part, int):
                if not isinstance(node, list):
                    return tuple(out) if out else None
                key = loc[i - 1] if i else None
                origin = self.origins.get(key) if i == 1 else None
                if origin is not None and 0 <= part < len(origin):
                    j = origin[part].get(layer)
                    if j is not None and j >= len(node):
                        j = None
                else:
                    name = (self.merged_names.get(key) or [None] * (part + 1))
                    name = name[part] if part < len(name) else None
                    j = next((k for k, e in enumerate(node) if isinstance(e, dict) and name is not None
                              and e.get("name") == name), None) if name is not None else \
                        (part if part < len(node) else None)
                if j is None:
                    return None
                node = node[j]
                out.append(j)
            else:
                if not isinstance(node, dict) or part not in node:
                    return tuple(out) if out and len(self.layers) == 1 else None
                node = node[part]
                out.append(part)
        return tuple(out)


def _where(loc: tuple, index: "_Locator", touched: set[tuple]) -> tuple[str, int | None]:
    """(file, line) of a problem at ``loc``: ``--set`` when an override wrote it (or a table
    an override created), else where the scenario files hold it."""
    for t in touched:
        if loc[: len(t)] == t:
            return "--set", None
        if t[: len(loc)] == loc and index.at(loc)[1] is None:
            return "--set", None
    return index.at(loc)


def _sorted(problems: list[Problem]) -> list[Problem]:
    """Problems in file order: by file, then line (unlocated last), stable otherwise."""
    return sorted(problems, key=lambda p: (p.file, p.line is None, p.line or 0))
