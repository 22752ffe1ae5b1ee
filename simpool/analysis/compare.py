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

from .headline import headline  # noqa: F401  (its home before; the report and plots use it)

#: Keys of a summary row.
KEY = ["year", "measure", "product", "basis", "statistic", "param"]
#: Default number of batches for the standard errors of differences.
BATCHES = 20


def _kept_everything(res) -> bool:
    from .results import FeaturePlan

    return all(k in res._raw for k in FeaturePlan.SOURCES)


def batch_bounds(res, batches: int) -> list[tuple[int, int]]:
    """Path ranges of the batches: ``batches`` equal runs of paths; for a run that kept only
    the summary's samples, runs of whole blocks of the block moments (at most one batch per
    block, at least two batches; none for fewer than two blocks)."""
    from ..engine.moments import BLOCK

    n = res.paths
    if _kept_everything(res):
        k = max(2, min(batches, n // 50)) if n >= 100 else 0
        return [(j * n // k, (j + 1) * n // k) for j in range(k)]
    nb = -(-n // BLOCK)
    k = min(batches, nb) if nb >= 2 else 0
    return [(j * nb // k * BLOCK, min(n, (j + 1) * nb // k * BLOCK)) for j in range(k)]


def subset(res, lo: int, hi: int):
    """The Results of paths ``lo .. hi - 1`` of ``res`` (a view of its arrays; for a run that
    kept only the summary's samples, ``lo`` must start a block of its block moments)."""
    from ..engine.moments import BLOCK
    from .results import Results

    raw = {k: v[lo:hi] for k, v in res._raw.items()}
    moments = None
    if not _kept_everything(res):
        if lo % BLOCK:
            raise ValueError(f"paths {lo}..{hi - 1}: a run that kept only the summary's samples "
                             f"splits into whole blocks of {BLOCK} paths")
        moments = res._moments.blocks(lo // BLOCK, -(-hi // BLOCK))
    return Results(res.scenario, seed=res.seed, paths=hi - lo, raw=raw, timing={},
                   n_loans=res.n_loans, importance=res.importance, waterfall=res._wf,
                   moments=moments, keep=res.keep)


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
    bounds = batch_bounds(base, batches)
    k = len(bounds)
    diffs = []
    for j, (lo, hi) in enumerate(bounds):
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
            executor: Executor | None = None, batches: int = BATCHES, progress=None,
            keep="auto", max_memory: int | None = None):
    """Run the base and each what-if on common random numbers; return the tidy table.

    Columns: whatif (scenario name), year, measure, statistic, param, base, whatif value,
    diff (what-if - base), se_diff, se_base, se_whatif. ``keep`` and ``max_memory`` as for
    :func:`simpool.simulate` (two runs are held at once: the base and one what-if).
    """
    import pandas as pd

    from .simulation import simulate

    paths = int(paths or base_sc.simulation.paths)
    seed = int(base_sc.simulation.seed if seed is None else seed)
    if keep == "auto":  # the base and one what-if are held at once: room for two
        from .simulation import prepare
        from ..engine.plan import plan

        _, label, _ = prepare(base_sc, plan(base_sc), 2 * paths, keep="auto", executor=executor,
                              max_memory=max_memory,
                              what=f"comparing what-ifs with {base_sc.name} (two runs at once)")
        keep = "all" if label == "all" else "summary"
    base = simulate(base_sc, paths=paths, seed=seed, executor=executor, keep=keep,
                    max_memory=max_memory)
    if progress:
        progress(base_sc.name)
    parts = []
    for sc in whatif_scs:
        res = simulate(sc, paths=paths, seed=seed, executor=executor, keep=keep,
                       max_memory=max_memory)
        t = difference_table(base, res, batches)
        t.insert(0, "scenario", sc.name)
        parts.append(t)
        if progress:
            progress(sc.name)
    return pd.concat(parts, ignore_index=True)
