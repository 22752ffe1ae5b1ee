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
# The plan lets the provincial guidance fund's angel investments lose up to 50% and cede up
# to 100% of its profit to private investors, depending on how far the policy goals are met.
# The guidance fund invests as a limited partner in sub-funds (FUNDS.md, "Fund of funds";
# the single-fund model is `examples/angel_single_fund`). How often is the tolerance
# breached, where does the fund stand in year 3, 5, 7, what does the concession cost the
# treasury, and what does it give private investors? Paths come from `SIMPOOL_PATHS`
# (default 20,000).

# %%
import os

import simpool
from simpool import plots
from simpool.analysis.compare import compare

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
SCEN = simpool.scenarios_dir()  # found through the package: runs wherever copied

res = simpool.simulate(SCEN / "angel_fund.toml", paths=PATHS)
res

# %% [markdown]
# Where the provincial guidance fund stands each year: its interim loss ratio on invested
# principal through its stakes in the sub-funds (deals held are marked from cost to their
# exit value), against its 50% tolerance: the appraisal of the fund as a whole the plan asks
# for, in year 3, 5 or 7.

# %%
plots.guidance_interim(res, "hubei_angel_guidance");

# %% [markdown]
# The tolerance bases: loss on invested principal at liquidation (the fund as a whole), the
# guidance fund's own paid-in, each category (seed 50%, angel 40%, industry 30%), and single
# projects; for the guidance fund and each sub-fund.

# %%
s = res.summary()
simpool.readable(s[s.measure.str.startswith("fund:hubei_angel_guidance")
                   & s.statistic.str.startswith(("P(breach", "share of projects"))])

# %% [markdown]
# ## What the concession costs and gives
# No concession, half and all of it, on the same deals (common random numbers).

# %%
base = simpool.load_scenario(SCEN / "angel_fund.toml")
others = [simpool.load_scenario(SCEN / "whatif" / f)
          for f in ("angel_concession_0.toml", "angel_concession_50.toml", "angel_buyback.toml",
                    "angel_harsh.toml")]
table = compare(base, others, paths=PATHS)
keep = table.statistic.isin(["government TVPI", "private TVPI", "concession cost (NPV)",
                             "private IRR (median)", "P(breach)", "P(bought back)"]) \
    & table.year.isna() & table.measure.str.contains("provincial|sub:seed_fund")
simpool.readable(table[keep])
