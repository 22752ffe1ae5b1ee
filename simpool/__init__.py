"""simpool: Monte Carlo simulator for credit-guarantee and risk-compensation pools.

Public API::

    sc = simpool.load_scenario("scenarios/hubei_base.toml")
    res = simpool.simulate(sc, paths=1_000_000, seed=1)
    res.samples("gross")        # (paths,) gross credit loss over the horizon, yuan
    res.summary()               # tidy table with Monte Carlo standard errors
"""

from .engine import simulate
from .errors import Problem, ScenarioError, SimpoolError
from .scenario import Scenario, load_scenario

__version__ = "0.1.0"
__all__ = ["simulate", "load_scenario", "Scenario", "ScenarioError", "SimpoolError", "Problem",
           "__version__"]
