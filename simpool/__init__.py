"""simpool: Monte Carlo simulator for credit-guarantee and risk-compensation pools.

Public API::

    sc = simpool.load_scenario("scenarios/hubei_base.toml")
    res = simpool.simulate(sc, paths=1_000_000, seed=1)
    res.samples("gross")        # (paths,) gross credit loss over the horizon, yuan
    res.summary()               # tidy table with Monte Carlo standard errors

Names are imported lazily so that ``simpool --help`` does not pay for numba and pandas.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "simulate": ("engine", "simulate"),
    "load_scenario": ("scenario", "load_scenario"),
    "Scenario": ("scenario", "Scenario"),
    "Results": ("results", "Results"),
    "ScenarioError": ("errors", "ScenarioError"),
    "SimpoolError": ("errors", "SimpoolError"),
    "Problem": ("errors", "Problem"),
}
__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'simpool' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
