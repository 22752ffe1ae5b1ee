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
# # Public money: what does the plan cost each level of government, per year?
#
# A finance office budgets by year and by level of government. This notebook reads the
# ledger of public money (POLICY.md, "Public money"): every public cash flow of the Hubei
# plan with its payer, the payer's level (central, provincial, city, district) and kind
# (budget money, or state-owned capital such as the national fund's), and asks what each
# level pays in a normal year and in a bad one. Paths come from `SIMPOOL_PATHS` (default
# 20,000).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import simpool
from simpool import plots
from simpool.scenario.units import format_yuan

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
SCEN = simpool.scenarios_dir()  # found through the package: runs wherever copied

res = simpool.simulate(SCEN / "hubei_base.toml", paths=PATHS)
print("levels:", res.fiscal_levels)

# %% [markdown]
# ## Who pays what
# Each line of the ledger: payer, flow, level and kind, with its expected cash per year.
# Budget money is the fiscal cost; state-owned capital (`soe`) is public money that is not
# budget money. A co-funded line (the knowledge-value pool, province:city 1:1) appears once
# per level with its share.

# %%
ledger = res.public_ledger()
table = (ledger.groupby(["kind", "level", "payer", "flow"]).expected.sum() / 1e8).round(3)
table.rename("expected, 亿 yuan over the horizon (cash)")

# %% [markdown]
# ## A normal year and a bad one, per level
# The expected outlay of each level in each year, and the outlay of a bad year: the 99%
# value-at-risk of that year's cash, the budget a level would need to cover 99 years in 100.

# %%
rows = []
for level in res.fiscal_levels:
    for year in res.years:
        x = res.fiscal(level=level, year=year)  # budget money, cash, yuan per path
        rows.append((level, year, x.mean(), np.quantile(x, 0.99)))
print(f"{'level':<12}{'year':>6}{'normal (mean)':>18}{'bad (99% VaR)':>18}")
for level, year, m, v in rows:
    print(f"{level:<12}{year:>6}{format_yuan(m):>18}{format_yuan(v):>18}")

# %%
fig = plots.public_money(res)
plt.show()

# %% [markdown]
# ## Whole horizon: NPV, subsidy rate, leverage
# The NPV of each level's budget money at the scenario's discount rate; the subsidy rate is
# the NPV of public cost per yuan-year of lending supported (all programmes, both discounted
# the same way), and the leverage of public money its inverse for all public money (budget
# and state-owned capital). Every figure carries its Monte Carlo standard error.

# %%
s = res.summary()
whole = s[s.year.isna() & s.measure.str.match(r"^(fiscal|public_money)(:|$)")
          & s.statistic.isin(["NPV", "subsidy rate", "leverage of public money"])]
simpool.readable(whole)

# %% [markdown]
# ## A what-if moves only its payer's lines
# Give every knowledge-value loan a 1-point interest subsidy (not only first loans): the
# cost falls on the payer of the subsidy (province and city, 1:1); the central level's
# figures do not move.

# %%
kv = simpool.simulate(SCEN / "whatif" / "kv_interest_subsidy.toml", paths=PATHS)
for level in res.fiscal_levels:
    a, b = res.fiscal_npv(level=level).mean(), kv.fiscal_npv(level=level).mean()
    print(f"{level:<12} NPV {format_yuan(a):>12} -> {format_yuan(b):>12}")
