"""Shared building blocks of the scenario models: strict tables, money and fractions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .units import parse_money


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
