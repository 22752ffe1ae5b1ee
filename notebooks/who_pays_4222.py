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
# # The "4222" split: who pays for a guaranteed-loan default?
#
# The plan shares every default of a guaranteed tech loan between the national financing
# guarantee fund, the provincial re-guarantor, the guarantor, the bank and the government
# (POLICY.md). This notebook follows one default through the split, then asks what each
# party loses over five years, in a normal year and a bad one, and how the alternative
# splits compare. Paths come from `SIMPOOL_PATHS` (default 20,000).

# %%
import os

import matplotlib.pyplot as plt

import simpool
from simpool import plots
from simpool.analysis.compare import compare, headline

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
SCEN = simpool.scenarios_dir()  # found through the package: runs wherever copied

# %% [markdown]
# ## One default, by hand
# The worked example holds one guaranteed loan of 100 yuan that defaults for sure, with a
# 70% ultimate loss (30 yuan recovered at once): each of the five parties bears 14 yuan.

# %%
worked = simpool.simulate(SCEN / "examples" / "worked_4222.toml", paths=100)
for p in worked.parties:
    print(f"{p:>18}: {worked.samples(p, basis='ultimate').mean():8.2f} yuan")
print(f"{'sum':>18}: {sum(worked.samples(p, basis='ultimate').mean() for p in worked.parties):8.2f}"
      " yuan = exposure - recoveries = gross loss")

# %% [markdown]
# ## The Hubei book over five years

# %%
res = simpool.simulate(SCEN / "hubei_base.toml", paths=PATHS)
res

# %% [markdown]
# What each party finally bears of the guaranteed loans' losses (the 4222 split read
# directly, `basis="ultimate"`: claims and recoveries still pending in 2029 included), and
# its cash within the horizon beside it. The national fund bears less than its 20% where
# its payout cap binds: the rest moved to the others (`P(cap binds)` below).

# %%
import pandas as pd
from simpool.scenario.units import format_yuan

gross = res.samples("gross", product="guaranteed").mean()
pd.DataFrame({p: {"ultimate": format_yuan(res.samples(p, basis="ultimate", product="guaranteed").mean()),
                  "share of gross": f"{res.samples(p, basis='ultimate', product='guaranteed').mean() / gross:.1%}",
                  "cash in 2025-2029": format_yuan(res.samples(p, product="guaranteed").mean())}
              for p in res.product_parties("guaranteed")}).T

# %%
s = res.summary()
simpool.readable(s[(s.measure == "national_fund") & (s.statistic == "P(cap binds)")])

# %%
plots.who_pays(res);  # ultimate, by year of default

# %% [markdown]
# A normal year and a bad one: the bank's and the government's ultimate loss
# distributions, with the 99% VaR and ES marked.

# %%
plots.loss_distribution(res, "bank", basis="ultimate");
plots.loss_distribution(res, "government", basis="ultimate");

# %% [markdown]
# ## Other splits on the same draws
# National tech "4222" (the national fund takes 40%) and Hubei "4321" against the base,
# on common random numbers: each difference comes with the standard error *of the
# difference*.

# %%
base = simpool.load_scenario(SCEN / "hubei_base.toml")
alts = [simpool.load_scenario(SCEN / "whatif" / f) for f in ("national_tech_4222.toml", "hubei_4321.toml")]
table = compare(base, alts, paths=PATHS)
h = headline(table)
simpool.readable(h[(h.statistic == "EL") & (h.basis == "ultimate")])

# %%
plots.compare_chart(table);
plt.show()
