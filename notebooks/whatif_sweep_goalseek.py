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
# # What-if sweeps and goal-seeking
#
# A grid of pool sizes and guarantee fees, run on the same random draws (so the differences
# between variants are precise), resumable from its output folder; then the starting net
# assets at which the guarantor's insolvency probability falls to 1%. Paths: `SIMPOOL_PATHS`.

# %%
import os
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

import simpool
from simpool.outputs.batch import run_batch
from simpool.outputs.plots import setup_fonts
from simpool.scenario.units import format_yuan, parse_money
from simpool.analysis.solve import Figure, solve
from simpool.scenario.sweep import expand

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
BASE = simpool.example("hubei_base")  # found through the package: runs wherever copied
setup_fonts()  # Chinese units (万, 亿) on matplotlib axes

variants = expand([str(BASE)], ["pools.knowledge_value.cash=10亿,25亿,50亿",
                                "guarantors.hubei_tech_guarantors.fee_rate=0.005,0.01"])
out = Path(tempfile.mkdtemp()) / "sweep"
table = run_batch(variants, out, paths=max(1000, PATHS // 4))
print(f"{len(variants)} variants, {len(table):,} rows in {out}")

# %%
fiscal = table[(table.measure == "fiscal") & (table.statistic == "NPV")]
fiscal.pivot(index="pools.knowledge_value.cash", columns="guarantors.hubei_tech_guarantors.fee_rate",
             values="value").map(format_yuan)  # fiscal cost NPV, yuan shown as 万/亿

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for fee, part in fiscal.groupby("guarantors.hubei_tech_guarantors.fee_rate"):
    cash = [parse_money(c) / 1e8 for c in part["pools.knowledge_value.cash"]]
    ax.errorbar(cash, part.value / 1e8, yerr=1.96 * part.se / 1e8, marker="o", capsize=3,
                label=f"guarantee fee {float(fee):.1%}")
ax.set_xlabel("provincial SME pool, starting cash (亿 yuan)")
ax.set_ylabel("fiscal cost, NPV (亿 yuan)")
ax.set_title("Fiscal cost across the sweep (95% error bars)")
ax.legend();

# %% [markdown]
# Running the same grid again into the same folder skips every finished variant: a killed
# sweep resumes where it stopped.

# %%
again = run_batch(variants, out, paths=max(1000, PATHS // 4))
assert again.equals(table)

# %% [markdown]
# ## Goal-seek: the guarantor's capital at which P(insolvent by 2029) = 1%

# %%
res = simpool.simulate(BASE, paths=max(2000, PATHS // 4))
sol = solve(BASE, "guarantors.hubei_tech_guarantors.net_assets", 5e8, 1e10,
            Figure("guarantor:hubei_tech_guarantors", "P(insolvent by year)", 2029), 0.01,
            paths=max(2000, PATHS // 4))
print(sol)
