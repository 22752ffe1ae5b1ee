"""Compare what-ifs with a base on common random numbers.

Every scenario runs with the same seed and paths. The random numbers are keyed by (seed,
path, year, stream, counter), so loans, factors and deals that two scenarios share get the
same draws, and a figure's difference is far more precise than either figure: its standard
error is estimated by batch means (the paths cut into ``batches`` equal runs; the statistic
and the difference computed on each; SE = sd of the batch differences / sqrt(batches)),
which is exact for means and probabilities and asymptotically right for VaR and ES.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor

import numpy as np

#: Keys of a summary row.
KEY = ["year", "measure", "statistic", "param"]
#: Default number of batches for the standard errors of differences.
BATCHES = 20


def subset(res, lo: int, hi: int):
    """The Results of paths ``lo .. hi - 1`` of ``res`` (a view of its arrays)."""
    from .results import Results

    raw = {k: v[lo:hi] for k, v in res._raw.items()}
    return Results(res.scenario, seed=res.seed, paths=hi - lo, raw=raw, timing={},
                   n_loans=res.n_loans, importance=res.importance, waterfall=res._wf)


def _keyed(df):
    out = df.copy()
    out["param"] = out["param"].fillna(-1.0)  # NaN never equals NaN in a join
    out["year"] = out["year"].astype("Int64").fillna(-1)
    return out.set_index(KEY)


def difference_table(base, whatif, batches: int = BATCHES):
    """Rows of both summaries joined on their keys: base, whatif, diff and its SE."""
    import pandas as pd

    if base.paths != whatif.paths or base.seed != whatif.seed:
        raise ValueError("common random numbers need the same seed and paths")
    b_all, w_all = _keyed(base.summary()), _keyed(whatif.summary())
    joined = b_all[["value", "se"]].add_suffix("_base").join(
        w_all[["value", "se"]].add_suffix("_whatif"), how="outer")
    n = base.paths
    k = max(2, min(batches, n // 50)) if n >= 100 else 0
    diffs = []
    for j in range(k):
        lo, hi = j * n // k, (j + 1) * n // k
        bb = _keyed(subset(base, lo, hi).summary())["value"]
        ww = _keyed(subset(whatif, lo, hi).summary())["value"]
        diffs.append((ww - bb).rename(j))
    out = joined.rename(columns={"value_base": "base", "value_whatif": "whatif",
                                 "se_base": "se_base", "se_whatif": "se_whatif"})
    out["diff"] = out["whatif"] - out["base"]
    if diffs:
        d = pd.concat(diffs, axis=1).reindex(out.index)
        out["se_diff"] = d.std(axis=1, ddof=1) / math.sqrt(k)
    else:
        out["se_diff"] = np.nan
    out = out.reset_index()
    out["param"] = out["param"].where(out["param"] != -1.0, np.nan)
    out["year"] = out["year"].where(out["year"] != -1, pd.NA).astype("Int64")
    return out[KEY + ["base", "whatif", "diff", "se_diff", "se_base", "se_whatif"]]


def compare(base_sc, whatif_scs, *, paths: int | None = None, seed: int | None = None,
            executor: Executor | None = None, batches: int = BATCHES, progress=None):
    """Run the base and each what-if on common random numbers; return the tidy table.

    Columns: whatif (scenario name), year, measure, statistic, param, base, whatif value,
    diff (what-if - base), se_diff, se_base, se_whatif.
    """
    import pandas as pd

    from .engine import simulate

    paths = int(paths or base_sc.simulation.paths)
    seed = int(base_sc.simulation.seed if seed is None else seed)
    base = simulate(base_sc, paths=paths, seed=seed, executor=executor)
    if progress:
        progress(base_sc.name)
    parts = []
    for sc in whatif_scs:
        res = simulate(sc, paths=paths, seed=seed, executor=executor)
        t = difference_table(base, res, batches)
        t.insert(0, "scenario", sc.name)
        parts.append(t)
        if progress:
            progress(sc.name)
    return pd.concat(parts, ignore_index=True)


def headline(table):
    """The rows a person reads first: whole-horizon EL of each party, fiscal NPV, pools."""
    whole = table[table.year.isna()]
    keep = (whole.statistic.isin(["EL"]) & ~whole.measure.str.contains(":")) | \
        (whole.measure == "fiscal") | whole.statistic.str.startswith("P(breach") | \
        whole.measure.str.startswith("pool:") & whole.statistic.str.startswith("top-up")
    return whole[keep]


def plot(table, path) -> None:
    """Differences of the headline figures with 95% error bars (a PNG); see
    :func:`simpool.plots.compare_chart`."""
    import matplotlib.pyplot as plt

    from .plots import compare_chart

    plt.close(compare_chart(table, path))
