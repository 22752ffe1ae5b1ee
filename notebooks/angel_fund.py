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
# # The angel fund: 50% loss tolerance and 100% profit concession
#
# The plan lets the guidance fund's angel investments lose up to 50% and cede up to 100% of
# the government's profit to private investors (FUNDS.md). How often is the tolerance
# breached, what does the concession cost the treasury, and what does it give private
# investors? Paths come from `SIMPOOL_PATHS` (default 20,000).

# %%
import os

import simpool
from simpool import plots
from simpool.analysis.compare import compare

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
SCEN = simpool.scenarios_dir()  # found through the package: runs wherever copied

res = simpool.simulate(SCEN / "angel_fund.toml", paths=PATHS)
res

# %%
plots.fund_loss_ratio(res, "hubei_angel");

# %% [markdown]
# The three tolerance bases: the fund as a whole (the plan's reading), the portfolio's gross
# losses of its losing deals, and single projects.

# %%
s = res.summary()
simpool.readable(s[(s.measure == "fund:hubei_angel") & s.statistic.str.startswith("P(")])

# %% [markdown]
# ## What the concession costs and gives
# No concession, half and all of it, on the same deals (common random numbers).

# %%
base = simpool.load_scenario(SCEN / "angel_fund.toml")
others = [simpool.load_scenario(SCEN / "whatif" / f)
          for f in ("angel_concession_0.toml", "angel_concession_50.toml", "angel_harsh.toml")]
table = compare(base, others, paths=PATHS)
keep = table.statistic.isin(["government TVPI", "private TVPI", "concession cost (NPV)",
                             "private IRR (median)", "P(breach, fund)"]) & table.year.isna()
simpool.readable(table[keep])
