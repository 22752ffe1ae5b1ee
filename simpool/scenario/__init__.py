"""Stage 1 of the pipeline: scenario files to a validated :class:`Scenario`.

``base`` (strict tables, money and fraction types), ``units`` (``"10亿"`` to yuan and back),
``tomlpos`` (TOML key to line), ``policy`` and ``fund`` (the policy and angel-fund tables),
``schema`` (the scenario's tables), ``load`` (files, ``extends``, ``--set``, the resolved
scenario), ``locate`` (where a problem is: file and line through ``extends`` and ``--set``;
pydantic's errors as located problems), ``checks`` (cross-references, sizes, the sweep
table, warnings), ``tapefile``, ``tapecells`` and ``loantape`` (loan tapes: the file, the
cells, the tape), ``sweep`` (what-if grids to variants). Knows nothing of numpy beyond loan
tapes and one eigenvalue check.
"""

from __future__ import annotations

_LAZY = {
    "Scenario": "schema",
    "load_scenario": "load",
    "resolved_toml": "load",
    "resolved_dict": "load",
    "read_raw": "load",
    "apply_overrides": "load",
    "scenario_warnings": "checks",
    "paths_warnings": "checks",
    "FEW_PATHS": "checks",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simpool.scenario.load' has no attribute {name!r}")
