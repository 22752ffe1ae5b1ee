"""What-if grids: a scenario's ``[sweep]`` table and ``--sweep`` flags expand into variants.

A ``[sweep]`` table maps dotted keys (the same keys as ``--set``; named arrays by name) to
lists of values; the variants are their cross product, in the order the keys are written::

    [sweep]
    "pools.provincial_sme.cash" = ["5亿", "10亿", "20亿"]
    guarantors.hubei_tech_guarantee.fee_rate = [0.005, 0.01]   # dotted keys work too

``--sweep dotted.key=v1,v2,...`` adds an axis (or replaces the file's axis of that key);
values are parsed as TOML, else kept as strings. Every variant is validated before any runs:
a bad value is reported once per variant that has it, with the variant's name.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import Problem, ScenarioError


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


def parse_sweep_flags(flags: list[str]) -> dict[str, list]:
    """``["a.b=1,2", "c=x,y"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"]}``; ScenarioError if bad."""
    from .scenario import _parse_toml_value

    axes: dict[str, list] = {}
    problems = []
    for text in flags:
        if "=" not in text:
            problems.append(Problem("--sweep", None, text,
                                    "expected dotted.key=v1,v2,..., e.g. cohorts.a.pd=0.02,0.03"))
            continue
        key, values = text.split("=", 1)
        key = key.strip()
        items = [v.strip() for v in values.split(",")]
        if not key or any(not p for p in key.split(".")) or not any(items) or "" in items:
            problems.append(Problem("--sweep", None, text,
                                    "needs a key and at least one value: key=v1,v2,..."))
            continue
        axes[key] = [_parse_toml_value(v) for v in items]
    if problems:
        raise ScenarioError(problems)
    return axes


def _toml_literal(value: Any) -> str:
    """A ``--set`` value that parses back to ``value``."""
    import tomli_w

    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def _label_value(value: Any) -> str:
    return value if isinstance(value, str) else _toml_literal(value)


def axes_of(file: str | Path, flags: list[str] | None = None) -> dict[str, list]:
    """The sweep axes of a scenario file (its ``[sweep]`` table, then the flags)."""
    from .scenario import read_raw

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
    if problems:
        raise ScenarioError(problems)
    axes.update(parse_sweep_flags(flags or []))
    return axes


def expand(files: list[str], sweep_flags: list[str] | None = None,
           overrides: list[str] | None = None) -> list[Variant]:
    """Every variant of every file, validated. Raises ScenarioError listing all problems."""
    from .scenario import load_scenario

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
        raise ScenarioError([Problem("--sweep", None, "", f"repeated variant: {d}") for d in dup])
    return variants
