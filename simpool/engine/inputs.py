"""The kernels' inputs as data: plain numpy arrays and scalars, frozen and picklable.

:class:`KernelInputs` (the credit model and, attached, the waterfall's and the funds' inputs)
is what :func:`simpool.engine.plan.plan` builds from a scenario and what the chunks of a run
receive, on threads, processes or Dask workers. Every array is in the one form the kernels are
compiled for (:func:`kernel_form`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


def kernel_form(value):
    """``value`` in the one form the kernels are compiled for: an array C-contiguous, aligned
    and writable (copied if it is not), a numpy scalar as the Python scalar.

    numba compiles a kernel once per signature, and a read-only or strided array, or an
    ``np.int32`` where an ``int`` was seen before, is a new signature: the whole waterfall
    kernel again (about 15 s cold, and a second entry in the cache).
    """
    if isinstance(value, np.ndarray):
        f = value.flags
        return value if f.c_contiguous and f.aligned and f.writeable else np.array(value, order="C")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def in_kernel_form(obj) -> None:
    """Put every field of the frozen dataclass ``obj`` in :func:`kernel_form` (in place)."""
    for f in fields(obj):
        v = getattr(obj, f.name)
        w = kernel_form(v)
        if w is not v:
            object.__setattr__(obj, f.name, w)


@dataclass(frozen=True)
class KernelInputs:
    """Everything :func:`simpool.kernels.simulate_chunk` needs, as plain arrays/scalars
    (in :func:`kernel_form`)."""

    n_years: int
    chol: np.ndarray
    phi: float
    is_t: bool
    dof: float
    shift: np.ndarray
    fixed_z: np.ndarray  # (n_years, S) stressed factor values, NaN = drawn
    # cohorts
    c_n: np.ndarray
    c_thresh: np.ndarray
    c_sqrt_rho: np.ndarray
    c_inv_sd: np.ndarray
    c_sector: np.ndarray
    c_exposure: np.ndarray
    c_lgd: np.ndarray
    c_lgd_sd: np.ndarray
    c_lgd_a: np.ndarray
    c_lgd_b: np.ndarray
    # single loans, sorted by bucket
    l_id: np.ndarray
    l_thresh: np.ndarray
    l_sqrt_rho: np.ndarray
    l_inv_sd: np.ndarray
    l_exposure: np.ndarray
    l_lgd: np.ndarray
    l_lgd_a: np.ndarray
    l_lgd_b: np.ndarray
    # screening buckets
    b_start: np.ndarray
    b_sector: np.ndarray
    b_thresh_hi: np.ndarray
    b_thresh_lo: np.ndarray
    b_sqrt_rho_lo: np.ndarray
    b_sqrt_rho_hi: np.ndarray
    b_inv_sd_lo: np.ndarray
    b_inv_sd_hi: np.ndarray
    b_exact: np.ndarray
    # importance sampling: exponential twist towards twist_x yuan (0 = off)
    twist_x: float = 0.0
    twist_scale: float = 1.0
    is_on: bool = False
    defensive: float = 0.0
    c_seg: np.ndarray = None  # type: ignore[assignment]
    l_seg: np.ndarray = None  # type: ignore[assignment]
    c_rng: np.ndarray = None  # type: ignore[assignment]
    c_start: np.ndarray = None  # type: ignore[assignment]
    c_end: np.ndarray = None  # type: ignore[assignment]
    c_amort: np.ndarray = None  # type: ignore[assignment]
    # bookkeeping (not passed to the kernel)
    n_loans_total: int = 0
    max_loss: float = 0.0
    is_info: dict | None = None
    waterfall: WaterfallInputs | None = None
    funds: tuple = ()  # FundInputs, one per [[funds]] table

    def __post_init__(self):
        in_kernel_form(self)

    def kernel_args(self) -> tuple:
        """Positional arguments of the kernel after (skey, path0, n_paths)."""
        skip = {"n_loans_total", "max_loss", "is_info", "waterfall", "funds"}
        return tuple(getattr(self, f.name) for f in fields(self) if f.name not in skip)


@dataclass(frozen=True)
class FundInputs:
    """Everything :func:`simpool.fundkernels.fund_chunk` needs for one fund (FUNDS.md)."""

    name: str
    fund_id: int
    life: int
    inv_years: int
    deals_per_year: int
    investable: float  # yuan
    fee_per_year: float  # yuan
    sector: int
    st_cum: np.ndarray  # cumulative stage shares
    st_ticket: np.ndarray  # yuan
    st_p_loss: np.ndarray
    st_p_partial: np.ndarray
    st_alpha: np.ndarray
    st_cap: np.ndarray
    rho: float
    exit_shape: float
    exit_mean: float
    gov_share: float
    hurdle: float
    carry: float
    catch_up: bool
    concession: float
    first_loss: float
    tolerance: float
    discount: float

    def __post_init__(self):
        in_kernel_form(self)

    def kernel_args(self) -> tuple:
        """Arguments of fund_chunk after (skey, path0, n_paths), except chol and phi."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "name")


@dataclass(frozen=True)
class WaterfallInputs:
    """Arguments of :func:`simpool.waterfall.waterfall_chunk` after the credit outputs."""

    s_product: np.ndarray
    s_bank: np.ndarray
    s_guar: np.ndarray
    s_pool: np.ndarray
    s_ins: np.ndarray
    s_share: np.ndarray
    s_pool_share: np.ndarray
    s_balance0: np.ndarray
    lag_claim: float
    lag_reimb: float
    recov_sched: np.ndarray
    nf_cap_rate: float
    nf_suspend_mode: bool
    gov_cash0: float
    gov_budget: float
    gov_cap: float
    g_na0: np.ndarray
    g_fee: np.ndarray
    g_subsidy: np.ndarray
    g_injection: np.ndarray
    g_yield: np.ndarray
    g_cost: np.ndarray
    r_na0: float
    r_fee: float
    r_subsidy: float
    r_injection: float
    r_yield: float
    r_cost: float
    p_cash0: np.ndarray
    p_top_up: np.ndarray
    p_interest: np.ndarray
    p_annual_cap: np.ndarray
    p_cum_share: np.ndarray
    p_corr_a: np.ndarray
    p_corr_b: np.ndarray
    p_stop: np.ndarray
    i_premium: np.ndarray
    ip_cash0: float
    ip_mode: int
    ip_beta: float
    ip_theta: float
    ip_pi: float
    ip_top_up: float
    ip_interest: float
    bk_tolerance: np.ndarray
    discount: float
    # lending feedback (passed separately)
    g_lev_cap: np.ndarray = None  # type: ignore[assignment]
    p_lev_target: np.ndarray = None  # type: ignore[assignment]
    bk_slowdown: np.ndarray = None  # type: ignore[assignment]
    feedback: bool = True
    # names, for results (not passed to the kernel)
    segment_names: tuple = ()
    bank_names: tuple = ()
    guarantor_names: tuple = ()
    pool_names: tuple = ()
    insurer_names: tuple = ()

    def __post_init__(self):
        in_kernel_form(self)

    def kernel_args(self) -> tuple:
        skip = {"g_lev_cap", "p_lev_target", "bk_slowdown", "feedback"}
        return tuple(getattr(self, f.name) for f in fields(self)
                     if not f.name.endswith("_names") and f.name not in skip)

    @property
    def n_segments(self) -> int:
        return len(self.s_product)

    @property
    def entity_names(self) -> list[str]:
        """Names of the per-entity output columns, as ``role:name``."""
        return ([f"bank:{n}" for n in self.bank_names] + [f"guarantor:{n}" for n in self.guarantor_names]
                + [f"compensation_pool:{n}" for n in self.pool_names]
                + [f"insurer:{n}" for n in self.insurer_names])
