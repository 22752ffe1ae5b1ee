"""Plan: turn a validated :class:`~simpool.scenario.schema.Scenario` into kernel inputs.

``plan(scenario)`` returns a :class:`~simpool.engine.inputs.KernelInputs`: the named groups
of plain numpy arrays the kernels read (:mod:`simpool.engine.inputs`; picklable, sent as-is to
thread, process or Dask workers). This is the only place where
policy objects meet arrays: default thresholds (``Phi^-1(pd)`` or ``t_nu^-1(pd)``), the
square root of the sector correlation matrix, Beta parameters of stochastic LGDs, and the
screening buckets of single loans.

Single loans (loan tapes, and cohorts with ``mode = "loans"``) are sorted into screening
buckets: loans of one sector whose (threshold, rho) lie in a small box. Per path-year the
kernel computes one upper bound of the conditional PD per bucket; a loan whose uniform is
above it cannot default and costs one comparison. When a bucket holds a single (pd, rho)
grade the bound is exact and no second test is needed.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..scenario.book import MAX_COHORT_LOANS, planned, too_large  # noqa: F401 (re-exported)
from .inputs import Book, FundInputs, FundParams, KernelInputs, Model, WaterfallInputs, group

#: Exact buckets are used when a portfolio has at most this many distinct (sector, pd, rho)...
MAX_EXACT_BUCKETS = 4096
#: ...and they hold this many loans on average: a bucket costs a normal CDF and a call per
#: path-year (~35 ns), so tiny exact buckets are slower than a few threshold bins.
MIN_LOANS_PER_EXACT_BUCKET = 32
#: Otherwise, per sector: bins of the threshold (:func:`threshold_bins` of them, or this
#: many when set; placed by :func:`_threshold_bins_of`) times RHO_BINS quantile bins of rho.
THRESHOLD_BINS: int | None = None
RHO_BINS = 8
#: A bucket costs a table lookup and a call per path-year, and each loan that falls between
#: its bucket's two bounds an exact test; the second count falls as 1 / bins, so the sum is
#: least near c sqrt(loans) bins. Measured on lognormal-PD tapes, 2 threads, quantile
#: bins (best count):
#: 2,000 loans 16; 10,000 loans 32-48 (64: 8% slower); 100,000 loans 128; 1,000,000 loans
#: 400 (64: 10% slower). Results do not depend on the bins (the exact test decides).
THRESHOLD_BINS_PER_SQRT_LOAN = 0.4
THRESHOLD_BINS_RANGE = (8, 1024)
#: Fine quantile bins from which the threshold bins are formed (:func:`_threshold_bins_of`):
#: at most this many, of at least FINE_BIN_LOANS loans each on average.
FINE_BINS = 4096
FINE_BIN_LOANS = 8


def threshold_bins(n_loans: int) -> int:
    """Number of bins of the default threshold for ``n_loans`` single loans of one sector
    (``THRESHOLD_BINS`` when set)."""
    if THRESHOLD_BINS is not None:
        return THRESHOLD_BINS
    lo, hi = THRESHOLD_BINS_RANGE
    return int(min(max(round(THRESHOLD_BINS_PER_SQRT_LOAN * math.sqrt(n_loans)), lo), hi))


def plan_funds(sc) -> tuple:
    """One :class:`FundInputs` per ``[[funds]]`` table of a validated scenario."""
    sectors = {s: i for i, s in enumerate(sc.model.sectors)}
    return tuple(FundInputs(f.name, group(
        FundParams, fund_id=k, **_stage_arrays(f, sectors), gov_share=float(f.government_share),
        concession=float(f.profit_concession), first_loss=float(f.first_loss),
        tolerance=float(f.tolerance), discount=float(f.discount_rate)))
        for k, f in enumerate(sc.funds))


def _stage_arrays(f, sectors: dict) -> dict:
    """The deal terms a fund and a sub-fund share, as kernel arrays."""
    stages = f.stage_list()
    shares = np.array([s[1] for s in stages], float)
    cum = np.cumsum(shares) / shares.sum()
    cum[-1] = 1.0
    oc = [s[3] for s in stages]
    return dict(
        life=f.life_years, inv_years=f.investment_years, deals_per_year=f.deals_per_year,
        investable=float(f.investable), fee_per_year=float(f.management_fee * f.size),
        sector=sectors[f.sector], st_cum=np.ascontiguousarray(cum),
        st_ticket=np.array([s[2] for s in stages], float),
        st_p_loss=np.array([o.p_loss for o in oc], float),
        st_p_partial=np.array([o.p_partial for o in oc], float),
        st_alpha=np.array([o.alpha for o in oc], float),
        st_cap=np.array([o.cap for o in oc], float),
        st_partial_min=np.array([o.partial_min for o in oc], float),
        rho=float(f.deal_correlation), exit_shape=float(f.exit_shape),
        exit_mean=float(f.exit_mean_years), hurdle=float(f.hurdle), carry=float(f.carry),
        catch_up=bool(f.catch_up))


def plan_sub_funds(sc) -> tuple:
    """One :class:`FundInputs` (:class:`SubFundParams`) per sub-fund of every guidance fund,
    named ``<guidance>:<sub-fund>``; fund indices follow the ``[[funds]]`` (their random
    numbers are keyed by them, :meth:`Scenario.deal_funds`)."""
    from .inputs import SubFundParams

    sectors = {s: i for i, s in enumerate(sc.model.sectors)}
    out = []
    k = len(sc.funds)
    for gf in sc.guidance_funds:
        c = gf.concession
        for sf in gf.sub_funds:
            shares = [float(sf.guidance_share)] + [float(lp.share) for lp in sf.public_lps]
            shares.append(1.0 - sum(shares))
            stages = sf.stages or []
            tol = [float(s.tolerance if s.tolerance is not None else sf.tolerance)
                   for s in stages] or [float(sf.tolerance)]
            goal = [1.0 if s.counts_for_goal else 0.0 for s in stages] or [1.0]
            out.append(FundInputs(f"{gf.name}:{sf.name}", group(
                SubFundParams, fund_id=k, **_stage_arrays(sf, sectors),
                st_tolerance=np.array(tol, float), st_goal=np.array(goal, float),
                shares=np.array(shares, float), tolerance=float(sf.tolerance),
                project_tolerance=float(sf.project_tolerance),
                mode=0 if c.mode == "profit" else 1, concession=float(c.share),
                base_return=float(c.base_return), to_gp=float(c.to_gp),
                goal_probability=float(c.goal_probability),
                goal_early_share=float(c.goal_early_share), buyback_year=int(c.buyback_year),
                discount=float(gf.discount_rate))))
            k += 1
    return tuple(out)


def _spreads(sc, binom) -> dict:
    """The Book's parameter-uncertainty arrays of the cohort vintages ``binom`` (their
    cohorts): logit standard deviations of pd and rho, and the draw group (one per cohort,
    or per sector for [model.uncertainty.sectors])."""
    spreads = getattr(sc, "_spreads", None) or {}
    groups: dict[str, int] = {}
    pd_sd, rho_sd, grp = [], [], []
    for c in binom:
        a, b, g = spreads.get(c.name, (0.0, 0.0, f"cohort:{c.name}"))
        pd_sd.append(a)
        rho_sd.append(b)
        grp.append(groups.setdefault(g, len(groups)))
    return dict(c_pd_sd=np.array(pd_sd, float), c_rho_sd=np.array(rho_sd, float),
                c_group=np.array(grp, np.int64))


def stress_factors(sc) -> np.ndarray:
    """(horizon_years, S) factor values of the scenario's ``[[stress]]`` entries, NaN elsewhere.

    An entry fixes, in one calendar year, every sector factor (or those it names) at
    ``z`` or at Phi^-1(``quantile``): quantile 0.01 is a 1-in-100 bad year.
    """
    from scipy.special import ndtri

    rows = max([sc.simulation.horizon_years] + [f.investment_years for _, f in sc.deal_funds()])
    sectors = list(sc.model.sectors)
    out = np.full((rows, len(sectors)), np.nan)
    for st in getattr(sc, "stress", []) or []:
        y = st.year - sc.simulation.start_year
        value = st.z if st.z is not None else float(ndtri(st.quantile))
        for s in (st.sectors or sectors):
            out[y, sectors.index(s)] = value
    return np.ascontiguousarray(out)


def default_threshold(pd: np.ndarray, copula: str, dof: float) -> np.ndarray:
    """Latent-variable default threshold: Phi^-1(pd) (Gaussian) or t_nu^-1(pd) (t)."""
    pd = np.asarray(pd, dtype=float)
    if copula != "t":
        # AS241 in numba: no scipy import on the common path (it costs ~0.3 s)
        from .rng import norm_ppf_array

        return norm_ppf_array(np.ascontiguousarray(pd))
    from scipy import special

    if copula == "t":
        # pd 0 and 1 explicitly: stdtrit(df, 0) returns +inf in some scipy versions
        inner = (pd > 0) & (pd < 1)
        out = np.where(pd <= 0, -np.inf, np.inf)
        out[inner] = special.stdtrit(dof, pd[inner])
        return out
    raise AssertionError("unreachable")


def beta_params(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Beta (a, b) with the given mean and standard deviation; a = b = 0 (a fixed LGD) where
    sd == 0, and also where sd is so small (below ~1e-150) that a + b = mean (1 - mean) / sd^2 - 1
    would overflow: the Beta is then the fixed LGD to far below any rounding."""
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    a = np.zeros_like(mean)
    b = np.zeros_like(mean)
    m = np.flatnonzero(sd > 0)
    with np.errstate(over="ignore", divide="ignore"):
        nu = mean[m] * (1 - mean[m]) / sd[m] ** 2 - 1.0
    ok = nu < 1e300  # also drops inf (sd^2 underflowed to 0)
    m, nu = m[ok], nu[ok]
    a[m] = mean[m] * nu
    b[m] = (1 - mean[m]) * nu
    return a, b


def matrix_sqrt(corr: np.ndarray) -> np.ndarray:
    """A square root ``L`` with ``L @ L.T == corr``: Cholesky, or eigen for singular PSD."""
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(corr)
        return v * np.sqrt(np.clip(w, 0.0, None))


def _dense_rank(x: np.ndarray) -> tuple[int, np.ndarray]:
    """(number of distinct values, rank of each element among them in increasing order)."""
    u, inv = np.unique(x, return_inverse=True)
    return len(u), inv.reshape(-1).astype(np.int64)


def _threshold_bins_of(t: np.ndarray, pd: np.ndarray, bins: int) -> np.ndarray:
    """Bin (0, 1, ... in increasing ``t``) of each loan of one sector, from its default
    threshold ``t`` and its PD ``pd`` (increasing in t).

    The bins are ranges of t. A loan whose uniform falls between its bucket's two bounds
    needs the exact test: per path-year about n_b (PD_hi - PD_lo) loans of bucket b, since
    E[p(c)] = PD under either copula. Over B bins that sum is least when every bin
    contributes the same, i.e. when the bins' density along the PD axis is proportional to
    the square root of the loans' density there (quantile bins follow the density itself and
    make the sparse, wide high-PD bins dominate). So: fine quantile bins, each weighted by
    sqrt(count x PD range); their cumulative weight cut into ``bins`` equal parts. On a
    lognormal-PD tape this quarters the exact tests of quantile bins (40 bins, 10,000 loans:
    about 19 per path-year instead of 75).
    """
    n = len(t)
    order = np.argsort(t)  # ties may come in any order: they share a fine bin
    ts = t[order]
    ps = np.clip(pd[order], 0.0, 1.0)
    finite = np.isfinite(ts)
    if not finite.any():
        return np.zeros(n, np.int64)
    fin = ts[finite]  # sorted: fine quantile edges by index (np.quantile would partition again)
    n_fine = max(1, min(FINE_BINS, len(fin) // FINE_BIN_LOANS))
    fine_edges = np.unique(fin[np.linspace(0, len(fin) - 1, n_fine + 1).astype(np.int64)])
    fine = np.searchsorted(fine_edges[1:-1], ts, side="right")  # non-decreasing
    starts = np.flatnonzero(np.r_[True, np.diff(fine) != 0])
    ends = np.r_[starts[1:], n] - 1
    count = (ends - starts + 1).astype(float)
    # PD width of each fine bin: from its first loan to the next bin's first (the last bin:
    # to its last loan); PD rises with t, up to rounding in the threshold
    pd_hi = np.r_[ps[starts[1:]], ps[-1]]
    w = np.sqrt(count * np.maximum(pd_hi - ps[starts], 0.0))
    if not w.sum() > 0.0:  # one PD: spread by count
        w = count
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    coarse = np.minimum((cum * bins).astype(np.int64), bins - 1)
    _, coarse = np.unique(coarse, return_inverse=True)  # dense
    out = np.empty(n, np.int64)
    out[order] = np.repeat(coarse.reshape(-1), (ends - starts + 1))
    return out


def _buckets(sector: np.ndarray, thresh: np.ndarray, rho: np.ndarray, pd: np.ndarray | None = None):
    """Assign single loans to screening buckets.

    Returns (bucket index per loan, the loans' order sorted by bucket (stable), bucket
    arrays). Buckets are numbered in increasing (sector, threshold, rho) order; per-bucket
    bounds are reductions over the sorted loans (no per-element ``ufunc.at``). ``pd``: the
    loans' PDs (increasing in ``thresh``; default Phi(thresh)), which place the threshold
    bins (:func:`_threshold_bins_of`).
    """
    n = len(sector)
    if n == 0:
        z = np.zeros(0)
        empty = np.zeros(0, np.int64)
        return empty, empty, (empty, z, z, z, z, z, np.zeros(0, np.bool_), z)
    # the distinct (sector, threshold, rho) triples, in lexicographic order, from dense
    # ranks of each column (two steps, so that the codes fit in int64 for any tape)
    _, si = _dense_rank(sector)
    nt, ti = _dense_rank(thresh)
    nr, ri = _dense_rank(rho)
    _, st = _dense_rank(si * nt + ti)
    n_uniq, inv = _dense_rank(st * nr + ri)
    if n_uniq <= MAX_EXACT_BUCKETS and n >= MIN_LOANS_PER_EXACT_BUCKET * n_uniq:
        bucket = inv
    else:
        if pd is None:
            from scipy.special import ndtr

            pd = ndtr(thresh)
        bucket = np.empty(n, np.int64)
        next_id = 0
        for s in np.unique(sector):
            m = sector == s
            tb = _threshold_bins_of(thresh[m], pd[m], threshold_bins(int(m.sum())))
            r = rho[m]
            redges = np.unique(np.quantile(r, np.linspace(0, 1, RHO_BINS + 1)))
            rb = np.searchsorted(redges[1:-1], r, side="right")
            local = tb * (RHO_BINS + 1) + rb
            lu, linv = np.unique(local, return_inverse=True)
            bucket[m] = next_id + linv.reshape(-1)
            next_id += len(lu)
    order = np.argsort(bucket, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(bucket[order]) != 0])  # buckets are dense
    b_sector = sector[order][starts].astype(np.int64)
    t_sorted = thresh[order]
    r_sorted = rho[order]
    b_thresh_hi = np.maximum.reduceat(t_sorted, starts)
    b_thresh_lo = np.minimum.reduceat(t_sorted, starts)
    b_rho_hi = np.maximum.reduceat(r_sorted, starts)
    b_rho_lo = np.minimum.reduceat(r_sorted, starts)
    b_exact = (b_thresh_lo == b_thresh_hi) & (b_rho_lo == b_rho_hi)
    # 1 / sqrt(1 - rho) as the loans compute it, so an exact bucket's bound is bit for bit
    # each of its loans' probability
    return bucket, order, (b_sector, b_thresh_hi, np.sqrt(b_rho_lo), np.sqrt(b_rho_hi),
                           1.0 / np.sqrt(1.0 - b_rho_lo), 1.0 / np.sqrt(1.0 - b_rho_hi), b_exact,
                           b_thresh_lo)


#: Random-number counter offset of a cohort's later vintages (vintage v of cohort c: c + v * this).
VINTAGE_STRIDE = 1 << 20


def vintages(binom_cohorts: list, n_years: int, source: str = "<scenario>") -> list[dict]:
    """Expand binomial cohorts into loan-book vintages: the planned book, i.e. the demand
    (counts and borrowers per loan: :func:`simpool.scenario.book.planned`).

    With ``term_years`` T a vintage matures after T years; ``amortization = "linear"`` lowers
    its exposure by 1/T of the original each year. The supply side (constraints in the
    waterfall kernel) may lend less than this plan. A vintage above the 10^12 loans a cohort
    may hold (growth compounding over a long horizon) is an error.
    """
    from ..errors import Problem, ScenarioError

    out = []
    for rank, (index, c) in enumerate(binom_cohorts):
        term = c.term_years
        bad = too_large(c, n_years)
        if bad is not None:  # (load_scenario's checks say so first; a bare dict may not)
            raise ScenarioError([Problem(source, None, f"cohorts.{c.name}.{bad[1]}", bad[2])])
        counts, bws = planned(c, n_years)[:2]
        for v in range(n_years):
            if counts[v] == 0 and v > 0:
                continue
            end = n_years + 1 if term is None else min(v + term, n_years + 1)
            amort = []
            for y in range(n_years + 1):  # and the year after the horizon (end balances)
                age = y - v
                if term is not None and c.amortization == "linear" and age >= 0:
                    amort.append(max(0.0, 1.0 - age / term))
                else:
                    amort.append(1.0)
            out.append({"cohort": c, "segment": index, "loans": counts[v], "start": v, "end": end,
                        "amort": amort, "rng": rank + v * VINTAGE_STRIDE,
                        "borrowers_per_loan": bws[v],
                        "renewed": term is None or bool(c.rollover)})
    return out


def plan_waterfall(sc, tape_products: list[str], static=None) -> WaterfallInputs:
    from .waterfall_plan import plan_waterfall as _pw

    return _pw(sc, tape_products, static)


def plan(sc, shift: np.ndarray | None = None) -> KernelInputs:
    """Kernel inputs for scenario ``sc`` (a validated :class:`~simpool.scenario.schema.Scenario`).

    Parameters
    ----------
    shift : (horizon_years, n_sectors) array, optional
        Importance-sampling mean shift of the factor normals (default: none).
    """
    m = sc.model
    sectors = {s: i for i, s in enumerate(m.sectors)}
    n_sec = len(sectors)
    n_years = sc.simulation.horizon_years
    corr = np.eye(n_sec) if m.sector_correlation is None else np.asarray(m.sector_correlation, float)
    chol = np.ascontiguousarray(matrix_sqrt(corr))
    explicit_shift = shift is not None
    if shift is None:
        shift = np.zeros((n_years, n_sec))
    # (a broadcast view; group() copies it into kernel_form)
    shift = np.broadcast_to(np.asarray(shift, float), (n_years, n_sec))
    is_on = bool(np.any(shift != 0.0))

    binom_cohorts = [(i, c) for i, c in enumerate(sc.cohorts) if c.mode == "binomial"]
    vint = vintages(binom_cohorts, n_years, getattr(sc, "source", "<scenario>"))
    binom = [v["cohort"] for v in vint]
    c_pd = np.array([c.pd for c in binom], float)
    c_rho = np.array([c.rho for c in binom], float)
    c_lgd = np.array([c.lgd for c in binom], float)
    c_lgd_sd = np.array([c.lgd_std for c in binom], float)
    c_a, c_b = beta_params(c_lgd, c_lgd_sd)
    c_exposure = np.array([c.exposure for c in binom], float)
    c_n = np.array([v["loans"] for v in vint], np.int64)

    # single loans: the tape's rows, then cohorts in "loans" mode expanded row by row
    # waterfall segments: each cohort, then one per product of the tape's rows
    n_coh_all = len(sc.cohorts)
    tape = sc.tape
    tape_products: list[str] = []
    if tape is not None and len(tape):
        products, product_of = np.unique(np.asarray(tape.product, str), return_inverse=True)
        tape_products = [str(p) for p in products]
    c_seg = np.array([v["segment"] for v in vint], np.int64)
    parts = []
    if tape is not None and len(tape):
        names, sector_of = np.unique(np.asarray(tape.sector, str), return_inverse=True)
        sector_index = np.array([sectors[str(s)] for s in names], np.int64)
        parts.append((np.asarray(tape.exposure, float), np.asarray(tape.pd, float),
                      np.asarray(tape.lgd, float), np.asarray(tape.lgd_std, float),
                      np.asarray(tape.rho, float),
                      sector_index[sector_of.reshape(-1)],
                      n_coh_all + product_of.reshape(-1).astype(np.int64)))
    for i, c in enumerate(sc.cohorts):
        if c.mode == "loans" and c.loans > 0:
            k = c.loans
            parts.append((np.full(k, c.exposure), np.full(k, c.pd), np.full(k, c.lgd),
                          np.full(k, c.lgd_std), np.full(k, c.rho),
                          np.full(k, sectors[c.sector], np.int64), np.full(k, i, np.int64)))
    if parts:
        l_exp, l_pd, l_lgd, l_lgd_sd, l_rho, l_sec, l_seg = (np.concatenate(x) for x in zip(*parts))
    else:
        l_exp = l_pd = l_lgd = l_lgd_sd = l_rho = np.zeros(0)
        l_sec = np.zeros(0, np.int64)
        l_seg = np.zeros(0, np.int64)
    l_thresh = default_threshold(l_pd, m.copula, m.dof)
    bucket, order, b = _buckets(l_sec, l_thresh, l_rho, l_pd)
    l_a, l_b = beta_params(l_lgd, l_lgd_sd)

    def c_(x, dtype=float):
        return np.ascontiguousarray(x, dtype=dtype)

    max_loss = float(np.sum(c_n * c_exposure * c_lgd) + np.sum(l_exp * l_lgd))
    model = group(Model, n_years=n_years, chol=chol, phi=float(m.factor_persistence),
                  is_t=m.copula == "t", dof=float(m.dof), shift=shift,
                  fixed_z=stress_factors(sc), is_on=is_on, defensive=0.0, twist_x=0.0,
                  twist_scale=1.0)
    book = group(
        Book,
        c_n=c_n, c_thresh=c_(default_threshold(c_pd, m.copula, m.dof)), c_sqrt_rho=c_(np.sqrt(c_rho)),
        c_inv_sd=c_(1.0 / np.sqrt(1.0 - c_rho)),
        c_sector=np.array([sectors[c.sector] for c in binom], np.int64),
        c_exposure=c_(c_exposure), c_lgd=c_(c_lgd), c_lgd_sd=c_(c_lgd_sd), c_lgd_a=c_(c_a),
        c_lgd_b=c_(c_b), c_seg=c_seg,
        c_rng=np.array([v["rng"] for v in vint], np.int64),
        c_start=np.array([v["start"] for v in vint], np.int64),
        c_end=np.array([v["end"] for v in vint], np.int64),
        c_amort=np.ascontiguousarray(np.array([v["amort"] for v in vint], float)
                                     .reshape(len(vint), n_years + 1)),
        c_bw=c_(np.array([v["borrowers_per_loan"] for v in vint], float)),
        c_renewed=c_(np.array([v["renewed"] for v in vint], np.bool_), np.bool_),
        **_spreads(sc, binom),
        l_id=c_(order, np.int64), l_thresh=c_(l_thresh[order]), l_sqrt_rho=c_(np.sqrt(l_rho[order])),
        l_inv_sd=c_(1.0 / np.sqrt(1.0 - l_rho[order])), l_exposure=c_(l_exp[order]),
        l_lgd=c_(l_lgd[order]), l_lgd_a=c_(l_a[order]), l_lgd_b=c_(l_b[order]),
        l_seg=c_(l_seg[order], np.int64),
        b_start=c_(np.searchsorted(bucket[order], np.arange(len(b[0]) + 1)), np.int64),
        b_sector=c_(b[0], np.int64), b_thresh_hi=c_(b[1]), b_thresh_lo=c_(b[7]),
        b_sqrt_rho_lo=c_(b[2]), b_sqrt_rho_hi=c_(b[3]), b_inv_sd_lo=c_(b[4]), b_inv_sd_hi=c_(b[5]),
        b_exact=c_(b[6], np.bool_))
    n_segments = len(sc.cohorts) + len(tape_products)
    static = np.ones(n_segments, np.bool_)  # segments of single loans: a static book
    static[np.unique(c_seg)] = False
    inputs = KernelInputs(model=model, book=book,
                          waterfall=plan_waterfall(sc, tape_products, static),
                          funds=plan_funds(sc), sub_funds=plan_sub_funds(sc),
                          n_loans_total=int(c_n.sum() + len(l_exp)),
                          max_loss=max_loss)
    imp = getattr(sc, "importance_sampling", None)
    if imp is None or imp.method == "none" or explicit_shift:
        return inputs
    from .importance import configure

    inputs, info = configure(inputs, imp.method, imp.target, imp.shift, n_years, imp.defensive)
    return dataclasses.replace(inputs, is_info=info)
