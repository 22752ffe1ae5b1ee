"""What-if grids: a scenario's ``[sweep]`` table and ``--sweep`` flags expand into variants.

A ``[sweep]`` table maps dotted keys (the same keys as ``--set``; named arrays by name) to
lists of values; the variants are their cross product, in the order the keys are written::

    [sweep]
    "pools.knowledge_value.cash" = ["5亿", "10亿", "20亿"]
    guarantors.hubei_tech_guarantors.fee_rate = [0.005, 0.01]   # dotted keys work too

``--sweep dotted.key=v1,v2,...`` adds an axis (or replaces the file's axis of that key);
values are parsed as TOML, else kept as strings; ``--sweep key=[1_500_000, 2e6]`` (a TOML
array) also works. A list that reads as one number with thousands separators
(``1,500,000``) is refused as ambiguous. Every variant is validated before any runs:
a bad value is reported once per variant that has it, with the variant's name.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import Problem, ScenarioError


@dataclass
class Variant:
    """One scenario of a batch: its name, swept values and validated scenario."""

    label: str
    file: str
    params: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    scenario: Any = None


def flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": [1, 2]}}`` -> ``{"a.b": [1, 2]}`` (leaves are the value lists)."""
    out: dict[str, Any] = {}
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


#: A value list that reads as one number written with thousands separators: 1,500,000.
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")


def _values_of(key: str, text: str) -> list | str:
    """The values of one ``--sweep key=...`` flag, or the reason they cannot be read.

    ``v1,v2,...`` (each parsed as TOML, else kept as a string) or one TOML array
    ``[v1, v2]``. A comma list that reads as one number with thousands separators
    (``1,500,000``) is refused: it is ambiguous, and read as a list it would run 1, 500 and
    0 yuan.
    """
    from .load import _parse_toml_value

    text = text.strip()
    if text.startswith("["):
        value = _parse_toml_value(text)
        if not isinstance(value, list):
            return (f"cannot read {text!r} as a TOML array; write e.g. "
                    f"{key}=[1_500_000, 2e6] or {key}=1500000,2000000")
        if not value:
            return "the array is empty: give at least one value"
        return value
    items = [v.strip() for v in text.split(",")]
    if not any(items) or "" in items:
        return "needs a key and at least one value: key=v1,v2,..."
    if len(items) > 1 and _THOUSANDS.fullmatch(text):
        number = text.replace(",", "")
        read = ", ".join(_toml_literal(_parse_toml_value(x)) for x in items)
        wan = float(number) / 1e4
        wan_text = f"{wan:g}万" if wan >= 1 else ""
        fixes = ", ".join(x for x in (number, f"{int(float(number)):_}" if "." not in number
                                      else "", wan_text) if x)
        return (f"{text} reads as one number written with thousands separators, but commas "
                f"separate values: it would run {len(items)} variants ({read}). For the number "
                f"write {fixes}; for a list of values write a TOML array, e.g. "
                f"{key}=[{read}]")
    return [_parse_toml_value(v) for v in items]


def parse_sweep_flags(flags: list[str]) -> dict[str, list]:
    """``["a.b=1,2", "c=x,y", "d=[1_500_000, 2e6]"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"],
    "d": [1500000, 2e6]}``; ScenarioError listing every bad flag."""
    axes: dict[str, list] = {}
    problems = []
    for text in flags:
        if "=" not in text:
            problems.append(Problem("--sweep", None, text,
                                    "expected dotted.key=v1,v2,..., e.g. cohorts.a.pd=0.02,0.03"))
            continue
        key, values = text.split("=", 1)
        key = key.strip()
        if not key or any(not p for p in key.split(".")):
            problems.append(Problem("--sweep", None, text,
                                    "needs a key and at least one value: key=v1,v2,..."))
            continue
        parsed = _values_of(key, values)
        if isinstance(parsed, str):
            problems.append(Problem("--sweep", None, text, parsed))
            continue
        axes[key] = parsed
    if problems:
        raise ScenarioError(problems)
    return axes


def _toml_literal(value: Any) -> str:
    """``value`` as an inline TOML value (one line), parsing back to ``value``: the text of
    a ``--set`` and of a variant's label. Tables are inline tables (``{lgd = 0.9}``), never
    a table section whose first line would be read as the value."""
    import datetime as _dt
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(str(k), ensure_ascii=False)} = {_toml_literal(v)}"
                          for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else _toml_literal(value)


def axes_of(file: str | Path, flags: list[str] | None = None) -> dict[str, list]:
    """The sweep axes of a scenario file (its ``[sweep]`` table, then the flags).

    ScenarioError for a badly shaped table (located at its line, as ``validate`` does), an
    axis that repeats a value, or a key given by two ``--sweep`` flags."""
    from .load import load_scenario, read_raw

    raw = read_raw(file)
    table = raw.get("sweep", {})
    problems = []
    if not isinstance(table, dict):
        problems.append(Problem(str(file), None, "sweep", "must be a table of key = [values]"))
        table = {}
    axes = {}
    for key, values in flatten(table).items():
        if not isinstance(values, list) or not values:
            problems.append(Problem(str(file), None, f"sweep.{key}",
                                    "must be a non-empty list of values, e.g. [0.02, 0.03]"))
            continue
        axes[key] = values
    if problems:  # the loader says the same with the lines
        try:
            load_scenario(file, load_tape=False)
        except ScenarioError as e:
            located = [p for p in e.problems if p.path.startswith("sweep")]
            if located:
                problems = located
        raise ScenarioError(problems)
    keys = [text.split("=", 1)[0].strip() for text in flags or [] if "=" in text]
    twice = sorted({k for k in keys if k and keys.count(k) > 1})
    problems = [Problem("--sweep", None, k, "given twice: one --sweep flag per key, with every "
                        "value (key=v1,v2,...)") for k in twice]
    try:
        axes.update(parse_sweep_flags(flags or []))
    except ScenarioError as e:
        problems = e.problems + problems
    if problems:
        raise ScenarioError(problems)
    return axes


def expand(files: list[str], sweep_flags: list[str] | None = None,
           overrides: list[str] | None = None) -> list[Variant]:
    """Every variant of every file, validated. Raises ScenarioError listing all problems."""
    from .load import load_scenario

    variants: list[Variant] = []
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for file in files:
        try:
            axes = axes_of(file, sweep_flags)
        except ScenarioError as e:
            problems.extend(e.problems)
            continue
        keys = list(axes)
        for combo in itertools.product(*(axes[k] for k in keys)) if keys else [()]:
            params = dict(zip(keys, combo))
            label = ", ".join(f"{k}={_label_value(v)}" for k, v in params.items()) or "base"
            if len(files) > 1:
                label = f"{Path(file).stem}: {label}" if params else Path(file).stem
            sets = list(overrides or []) + [f"{k}={_toml_literal(v)}" for k, v in params.items()]
            sets.append("sweep={}")
            try:
                sc = load_scenario(file, sets)
            except ScenarioError as e:
                for p in e.problems:
                    where = p.file
                    if where == "--set" and any(p.path.startswith(k) for k in params):
                        where = "sweep"  # the value came from the grid, not from --set
                    problems.append(Problem(where, p.line, p.path,
                                            f"{p.message} (in variant {label})"))
                continue
            warnings.extend(getattr(sc, "_warnings", []))
            variants.append(Variant(label, str(file), params, sets, sc))
    if problems:
        raise ScenarioError(problems)
    labels = [v.label for v in variants]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        flagged = set(parse_sweep_flags(sweep_flags or []))
        for file in files:
            for key, values in axes_of(file, sweep_flags).items():
                shown = [_label_value(v) for v in values]
                again = sorted({x for x in shown if shown.count(x) > 1})
                if again:
                    where, path = (("--sweep", key) if key in flagged
                                   else (str(file), f"sweep.{key}"))
                    problems.append(Problem(where, None, path, f"repeated variant: the axis "
                                            f"repeats the value {again[0]}; give each once"))
        if not problems:
            problems = [Problem("--sweep", None, "", f"repeated variant: {d}") for d in dup]
        raise ScenarioError(problems)
    return variants
