"""Shared building blocks of the scenario models: strict tables, money and fractions."""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .units import parse_money

#: A rate as people write it: "2%", "2 %", "1.5‰" (per mille); the number is divided by 100
#: (1000) before validation, so it is echoed as 0.02 in resolved scenarios.
_PERCENT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([%‰])\s*$")


def percent_value(value: Any) -> float | None:
    """``"2%"`` -> 0.02, ``"1.5‰"`` -> 0.0015; None for anything else."""
    if not isinstance(value, str):
        return None
    m = _PERCENT.match(value)
    if m is None:
        return None
    return float(m[1]) / (100.0 if m[2] == "%" else 1000.0)


def _float_kind(field) -> str | None:
    """"scalar" / "list" when a field holds a float (or a list of floats) that is not money."""
    if any(isinstance(m, BeforeValidator) for m in field.metadata):
        return None  # Money (and any other pre-parsed value) parses its own strings
    ann = field.annotation
    while get_origin(ann) is Annotated:
        ann = get_args(ann)[0]
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        if len(args) != 1:
            return None
        ann = args[0]
        while get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
    if ann is float:
        return "scalar"
    if get_origin(ann) is list:
        inner = get_args(ann)[0] if get_args(ann) else None
        while get_origin(inner) is Annotated:
            inner = get_args(inner)[0]
        if inner is float:
            return "list"
    return None


def _money(v: Any) -> float:
    if isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return parse_money(v)
    raise ValueError('expected yuan as a number or a string like "10亿", "500万", "1.5e8"')


#: Yuan: a number, or a string with 万 (1e4) / 亿 (1e8), echoed back as plain yuan.
Money = Annotated[float, BeforeValidator(_money)]
#: A share or probability in [0, 1].
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Strict(BaseModel):
    """A scenario table: unknown keys are errors, defaults validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _percentages(cls, data: Any) -> Any:
        """Rates as people write them: ``"2%"`` wherever a number (not money) is expected."""
        if not isinstance(data, dict):
            return data
        out = None
        for name, value in data.items():
            field = cls.model_fields.get(name) if isinstance(name, str) else None
            if field is None or not isinstance(value, (str, list)):
                continue
            kind = _float_kind(field)
            if kind == "scalar" and isinstance(value, str):
                v = percent_value(value)
            elif kind == "list" and isinstance(value, list) and \
                    any(percent_value(x) is not None for x in value):
                v = [percent_value(x) if percent_value(x) is not None else x for x in value]
            else:
                continue
            if v is not None:
                out = dict(data) if out is None else out
                out[name] = v
        return data if out is None else out
