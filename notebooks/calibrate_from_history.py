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
# # From a default history to parameters, and what not knowing them does to the tail
#
# `simpool calibrate` turns annual default counts per segment into each segment's pd, asset
# correlation rho and factor persistence phi (maximum likelihood of the Vasicek binomial
# mixture), each with a standard error and a 95% profile-likelihood interval. The worked
# example is public: S&P's global speculative-grade defaults, 1981-1995 (`data/README.md`
# gives the source). Paths come from `SIMPOOL_PATHS` (default 20,000).

# %%
import os
from pathlib import Path

import numpy as np

import simpool
from simpool.analysis.calibrate import calibrate
from simpool.outputs.calibration import format_table, to_toml
from simpool.scenario.history import read_history

PATHS = int(os.environ.get("SIMPOOL_PATHS", "20000"))
FILE = "sp_speculative_grade_1981_1995.csv"
found = [p / FILE for p in (Path.cwd() / "data", Path.cwd() / "notebooks" / "data")
         if (p / FILE).is_file()]
if found:
    path = found[0]
else:  # a copied notebook: the same 15 rows (S&P, defaults; issuers implied by the rates)
    import tempfile

    path = Path(tempfile.mkdtemp()) / FILE
    path.write_text("year,segment,defaults,loans\n" + "\n".join(
        f"{1981 + t},speculative_grade,{d},{n}" for t, (d, n) in enumerate(
            [(2, 317), (15, 336), (10, 338), (12, 365), (18, 415), (30, 524), (19, 674),
             (29, 747), (35, 745), (56, 691), (65, 590), (32, 525), (14, 560), (15, 708),
             (29, 819)])), encoding="utf-8")
history = read_history(path)
fits, how = calibrate(history)
print(format_table(fits, how, "S&P speculative grade, 1981-1995"))

# %% [markdown]
# Fifteen years pin the pd to about ± 0.6 points, but the asset correlation only to a factor of
# five (the interval runs from about 0.02 to 0.13): the spread of fifteen default rates is all
# the data says about it. The fragment below can be pasted into a scenario, or extended from,
# so that cohorts of the same name take the estimates.

# %%
print(to_toml(fits, how, "sp_speculative_grade_1981_1995.csv"))

# %% [markdown]
# ## The tail at the estimate and at the ends of its interval
# A book of 1,000 loans of 1,000万 each with the fitted pd, run at the estimated rho and at the
# two ends of its 95% interval (the same seed: common random numbers). The ES 99% moves by far
# more than its Monte Carlo error: the parameter, not the simulation, is the uncertainty.

# %%
f = fits[0]
rows = []
for label, rho in (("low end", f.rho.ci[0]), ("estimate", f.rho.value), ("high end", f.rho.ci[1])):
    sc = simpool.load_scenario({
        "title": f"speculative grade, rho {rho:.3f}",
        "simulation": {"paths": PATHS, "seed": 7, "horizon_years": 1},
        "cohorts": [{"name": "speculative_grade", "loans": 1000, "exposure": "1000万",
                     "pd": f.pd.value, "lgd": 0.6, "rho": max(rho, 1e-4)}]})
    res = simpool.simulate(sc)
    es = [e for e in res.describe("gross", levels=[0.99]) if e.statistic == "ES"][0]
    rows.append((label, rho, es.value, es.se))
for label, rho, v, se in rows:
    print(f"{label:>9}: rho {rho:.3f}  ES 99% {v / 1e8:7.2f}亿 ± {se / 1e8:.2f}亿")
print(f"ratio of the ends: {rows[2][2] / rows[0][2]:.2f}")

# %% [markdown]
# The estimates as a table, and the tail against the asset correlation.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from simpool.outputs.plots import setup_fonts

setup_fonts()
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.errorbar([r[1] for r in rows], [r[2] / 1e8 for r in rows],
            yerr=[1.96 * r[3] / 1e8 for r in rows], fmt="o-", capsize=4)
ax.set_xlabel("asset correlation rho (estimate and 95% interval ends)")
ax.set_ylabel("ES 99% of the gross loss (亿)")
ax.set_title("The tail moves with the parameter the history barely pins down")
plt.show()
pd.DataFrame([{"segment": x.segment, "years": x.years, "pd": f"{x.pd.value:.3%}",
               "pd 95%": f"[{x.pd.ci[0]:.3%}, {x.pd.ci[1]:.3%}]", "rho": f"{x.rho.value:.4f}",
               "rho 95%": f"[{x.rho.ci[0]:.4f}, {x.rho.ci[1]:.4f}]",
               "phi": f"{x.phi.value:.3f}" if x.phi else ""} for x in fits])

# %% [markdown]
# ## The same book with the parameters' uncertainty in every path
# `[model.uncertainty]` reads calibrate's JSON: each path draws the cohort's pd and rho once
# around the estimates (their standard errors), so every figure carries parameter risk; the
# summary shows the tails with the parameters fixed beside them (the same paths) and the
# share of ES that not knowing the parameters adds.

# %%
import json
import tempfile

from simpool.outputs.calibration import to_json

work = Path(tempfile.mkdtemp())
(work / "fit.json").write_text(to_json(fits), encoding="utf-8")
(work / "book.toml").write_text(
    f'[simulation]\npaths = {PATHS}\nseed = 7\nhorizon_years = 1\n'
    '[model.uncertainty]\nsource = "fit.json"\n'
    f'[[cohorts]]\nname = "speculative_grade"\nloans = 1000\nexposure = "1000万"\n'
    f'pd = {f.pd.value}\nlgd = 0.6\nrho = {f.rho.value}\n', encoding="utf-8")
res = simpool.simulate(work / "book.toml")
s = res.summary()
simpool.readable(s[(s.measure == "gross") & s.year.isna() & (s["product"] == "")
                   & s.statistic.isin(["EL", "ES", "EL (fixed parameters)", "ES (fixed parameters)",
                                       "parameter uncertainty share of ES"])])
