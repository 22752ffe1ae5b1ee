# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # simpool quickstart
#
# Simulate the default scenario (a Hubei tech-SME loan book, 2025-2029), read the loss
# distribution with its Monte Carlo standard errors, and change one lever.
# The path count comes from the environment variable `SIMPOOL_PATHS` (default 20,000) so
# that the notebook runs quickly in CI.

# %%
import os

import simpool

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
SCENARIO = simpool.example("hubei_base")  # found through the package: runs wherever copied

sc = simpool.load_scenario(SCENARIO)
res = simpool.simulate(sc, paths=PATHS)
res

# %% [markdown]
# The summary is a tidy table: one row per (year, measure, statistic), with the estimate
# and its standard error. `year` is missing for the whole horizon. Compute with it;
# `simpool.readable` writes any selection of it as people read it (money in 万/亿, rates in
# %, counts whole; labels in Chinese with `SIMPOOL_LANG=zh` or `readable(..., "zh")`).

# %%
summary = res.summary()
simpool.readable(summary[summary["year"].isna() & (summary["product"] == "")])

# %% [markdown]
# Per-path samples are plain numpy arrays (yuan).

# %%
gross = res.samples("gross")
print(f"mean five-year gross loss: {gross.mean() / 1e8:.2f}亿 yuan over {len(gross):,} paths")

# %% [markdown]
# A what-if: a Student-t copula (fatter joint tails) on the same seed.

# %%
t_res = simpool.simulate(simpool.load_scenario(SCENARIO, ["model.copula=t"]), paths=PATHS)
for name, r in [("gaussian", res), ("t", t_res)]:
    es = [e for e in r.describe(levels=[0.999]) if e.statistic == "ES"][0]
    print(f"{name:>8}: ES 99.9% = {es.value / 1e8:.2f}亿 ± {es.se / 1e8:.2f}亿")
