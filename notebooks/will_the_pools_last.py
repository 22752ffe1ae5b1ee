# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Will the risk-compensation pools last?
#
# Two credit-loan pools and the 10亿 tech-insurance pool pay out as defaults arrive. This
# notebook shows their cash as fan charts, the probability that each has run dry by each
# year, what a 1-in-100 bad year does, and how large a pool must be to last to 2029 with
# 95% probability. Paths come from `SIMPOOL_PATHS` (default 20,000).

# %%
import os

import simpool
from simpool import plots
from simpool.analysis.solve import Figure, solve

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
BASE = simpool.example("hubei_base")  # found through the package: runs wherever copied

res = simpool.simulate(BASE, paths=PATHS)
s = res.summary()
simpool.readable(s[s.measure.str.startswith("pool:") & (s.statistic == "P(depleted by year)")])

# %%
plots.pool_fan(res, "knowledge_value");
plots.pool_survival(res);

# %% [markdown]
# ## A 1-in-100 bad year in 2026
# Every sector factor of 2026 is fixed at its 1% quantile; other years are drawn as usual.

# %%
bad = simpool.simulate(simpool.example("whatif/bad_year_2026"), paths=PATHS)
plots.pool_fan(bad, "knowledge_value");
for name, r in (("base", res), ("bad 2026", bad)):
    print(f"{name:>9}: P(knowledge_value depleted by 2029) = "
          f"{plots.depletion_curve(r, 'knowledge_value')[-1]:.2%}")

# %% [markdown]
# ## How big must the pool be?
# The smallest starting cash of the knowledge-value pool with P(depleted by 2029) <= 5% in
# the bad-year world, by a root finder on common random numbers; the range is the set of
# sizes within two standard errors of the target.

# %%
sol = solve(simpool.example("whatif/bad_year_2026"), "pools.knowledge_value.cash",
            1e8, 2e10, Figure("pool:knowledge_value", "P(depleted by year)", 2029), 0.05,
            paths=max(2000, PATHS // 4))
print(sol)
