"""simpool: Monte Carlo simulator for credit-guarantee and risk-compensation pools.

Public API::

    sc = simpool.load_scenario("scenarios/hubei_base.toml")
    res = simpool.simulate(sc, paths=1_000_000, seed=1)
    res.samples("gross")        # (paths,) gross credit loss over the horizon, yuan
    res.summary()               # tidy table with Monte Carlo standard errors

The package follows the pipeline (ARCHITECTURE.md): ``scenario`` (files to a validated
Scenario) -> ``engine`` (plan, numba kernels, chunks over an executor) -> ``analysis``
(Results, statistics, what-ifs) -> ``outputs`` (files, report, plots) and ``cli``;
``testing`` holds the fuzzer and the golden tables. Names are imported lazily so that
``simpool --help`` does not pay for numba and pandas; old module paths (``simpool.plots``,
``simpool.fundkernels``, ...) still import (:mod:`simpool._moved`).
"""

from __future__ import annotations

from ._moved import install as _install_moved
from ._version import __version__

_install_moved()

_LAZY = {
    "simulate": ("analysis.simulation", "simulate"),
    "load_scenario": ("scenario.load", "load_scenario"),
    "Scenario": ("scenario.schema", "Scenario"),
    "Results": ("analysis.results", "Results"),
    "ScenarioError": ("errors", "ScenarioError"),
    "SimpoolError": ("errors", "SimpoolError"),
    "Problem": ("errors", "Problem"),
    "readable": ("analysis.headline", "readable"),
}
__all__ = [*_LAZY, "__version__", "scenarios_dir", "example"]


def scenarios_dir():
    """The folder of simpool's scenario files (``hubei_base.toml``, ``whatif/``, ...): the
    ``SIMPOOL_SCENARIOS`` environment variable when set, else ``scenarios/`` of the checkout
    simpool runs from (an editable install), else the copy a regular install (wheel) carries
    inside the package. A notebook that finds its scenarios here runs wherever it is copied."""
    import os
    from pathlib import Path

    env = os.environ.get("SIMPOOL_SCENARIOS")
    if env:
        d = Path(env).expanduser()
        if not (d / "hubei_base.toml").is_file():
            raise FileNotFoundError(f"SIMPOOL_SCENARIOS={env}: no hubei_base.toml there")
        return d.resolve()
    here = Path(__file__).resolve().parent
    for d in (here.parent / "scenarios", here / "scenarios"):
        if (d / "hubei_base.toml").is_file():
            return d
    raise FileNotFoundError(
        "simpool's scenario files are neither beside this installation nor inside it (a wheel "
        "built by simpool's backend carries them): set SIMPOOL_SCENARIOS to the scenarios/ "
        "folder of a simpool checkout")


def example(name: str = "hubei_base"):
    """The path of a shipped scenario by name: ``"hubei_base"``, ``"angel_fund"``,
    ``"whatif/fee_half"``, ``"examples/worked_4222"`` (``.toml`` optional)."""
    d = scenarios_dir()
    f = d / (name if name.endswith(".toml") else f"{name}.toml")
    if not f.is_file():
        known = sorted(str(p.relative_to(d).with_suffix("")) for p in d.rglob("*.toml"))
        raise FileNotFoundError(f"no scenario {name!r}; shipped: {', '.join(known)}")
    return f


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
