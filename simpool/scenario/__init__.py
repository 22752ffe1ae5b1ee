"""Stage 1 of the pipeline: scenario files to a validated :class:`Scenario`.

``base`` (strict tables, money and fraction types), ``units`` (``"10亿"`` to yuan and back),
``tomlpos`` (TOML key to line), ``policy`` and ``fund`` (the policy and angel-fund tables),
``schema`` (the scenario's tables), ``load`` (files, ``extends``, ``--set``, located
problems), ``checks`` (cross-references, sizes, warnings), ``loantape`` and ``tapefile``
(loan tapes), ``sweep`` (what-if grids to variants). Knows nothing of numpy beyond loan tapes
and one eigenvalue check.
"""

from __future__ import annotations

_LAZY = {name: "core" for name in (
    "Scenario", "load_scenario", "resolved_toml", "resolved_dict", "scenario_warnings",
    "read_raw", "apply_overrides", "paths_warnings", "FEW_PATHS")}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simpool.scenario' has no attribute {name!r}")
