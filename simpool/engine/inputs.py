"""The kernels' inputs as data: named groups of plain arrays and scalars, frozen and picklable.

The plan (:mod:`simpool.engine.plan`, :mod:`simpool.engine.waterfall_plan`) builds one group
per kind of thing, and the kernels read them by name (``pools.cash0[p]``, not argument 47):

========================  =================================================================
group                     what it describes
========================  =================================================================
:class:`Model`            the systematic factors, the copula and importance sampling
:class:`Book`             the loan book: cohorts and their vintages (``c_``), single loans
                          (``l_``) and their screening buckets (``b_``)
:class:`Routes`           how each segment's defaults are routed (product, entities,
                          shares), when the cash moves (lags, recoveries), lending feedback
:class:`Banks`            the lending banks
:class:`Guarantors`       the guarantors' balance sheets, and the provincial re-guarantor's
                          (``reg_``)
:class:`Pools`            the risk-compensation pools
:class:`Insurance`        the insurers and the tech-insurance compensation pool
:class:`Public`           the national fund's cap, the government's fund, the discount rate
:class:`Outputs`          the per-path outputs a chunk writes (:class:`CreditOutputs`: the
                          credit model's alone)
:class:`FundParams`       one angel fund (:class:`FundOutputs`: its per-path outputs)
========================  =================================================================

numba compiles and caches ``NamedTuple``\\ s of arrays and scalars like any other argument;
the groups are flat (no group inside a group), so the kernels' signatures stay small. Every
field is in the one form the kernels are compiled for (:func:`kernel_form`): :func:`group`
builds a group that way. Adding a parameter means a field here, a value in the plan, and its
use in the kernel: nothing in between unpacks or re-orders them.

:class:`KernelInputs` holds a run's groups and bookkeeping; it is what the chunks of a run
receive, on threads, processes or Dask workers. Money is in yuan, rates per year, lags in
years.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


#: Products, in the order of the kernels' product columns.
PRODUCTS = ("credit", "guaranteed", "insured")


def removed_columns(wf) -> list[tuple[str, str]]:
    """The columns of ``Outputs.lending_removed``: (entity, constraint) in kernel order:
    each guarantor's leverage cap, the re-guarantor's, each pool's leverage target, each
    pool's NPL stop, each insurer's loss-ratio suspension, each bank's NPL slowdown, the
    national fund's credit line."""
    return ([(f"guarantor:{g}", "leverage cap") for g in wf.guarantor_names]
            + [("reguarantor", "leverage cap")]
            + [(f"pool:{p}", "leverage target") for p in wf.pool_names]
            + [(f"pool:{p}", "NPL stop") for p in wf.pool_names]
            + [(f"insurer:{i}", "loss-ratio suspension") for i in wf.insurer_names]
            + [(f"bank:{b}", "NPL slowdown") for b in wf.bank_names]
            + [("national_fund", "credit line")])


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


def group(cls, **values):
    """The NamedTuple ``cls`` with every field in :func:`kernel_form`."""
    return cls(**{k: kernel_form(v) for k, v in values.items()})


class Model(NamedTuple):
    """The systematic factors, the copula and importance sampling (S sectors)."""

    n_years: int
    chol: np.ndarray  # (S, S) a square root of the sector correlation matrix
    phi: float  # AR(1) persistence of the factors from year to year
    is_t: bool  # Student-t copula
    dof: float  # its degrees of freedom
    shift: np.ndarray  # (n_years, S) importance-sampling mean shift of the factor normals
    fixed_z: np.ndarray  # (n_years, S) stressed factor values, NaN = drawn
    is_on: bool  # importance sampling active
    defensive: float  # share of paths drawn from the original model
    twist_x: float  # exponential twist towards this loss in year 0, yuan (0: none)
    twist_scale: float  # yuan: normalises exposures inside the twist's solver


class Book(NamedTuple):
    """The loan book: C cohort vintages (binomial draws), N single loans sorted by screening
    bucket, B buckets (see :func:`simpool.engine.kernels.simulate_chunk`)."""

    c_n: np.ndarray  # (C,) loans of the vintage at origination
    c_thresh: np.ndarray  # default threshold Phi^-1(pd) (or t_nu^-1)
    c_sqrt_rho: np.ndarray
    c_inv_sd: np.ndarray  # 1 / sqrt(1 - rho)
    c_sector: np.ndarray
    c_exposure: np.ndarray  # yuan per loan
    c_lgd: np.ndarray
    c_lgd_sd: np.ndarray
    c_lgd_a: np.ndarray  # Beta parameters (a <= 0: fixed LGD)
    c_lgd_b: np.ndarray
    c_seg: np.ndarray  # waterfall segment
    c_rng: np.ndarray  # counter of the vintage's random numbers
    c_start: np.ndarray  # first year on the book
    c_end: np.ndarray  # year it has matured by
    c_amort: np.ndarray  # (C, n_years + 1) exposure as a share of c_exposure
    c_bw: np.ndarray  # (C,) borrowers per loan (simpool.engine.plan.vintages)
    c_renewed: np.ndarray  # (C,) bool: loans maturing at a year's end are renewed (same borrowers)
    c_pd_sd: np.ndarray  # (C,) standard deviation of logit(pd) drawn once a path (0: fixed)
    c_rho_sd: np.ndarray  # (C,) standard deviation of logit(rho) drawn once a path (0: fixed)
    c_group: np.ndarray  # (C,) int64 draw group: vintages (or a sector's cohorts) share draws
    l_id: np.ndarray  # (N,) original index (keys the random numbers)
    l_thresh: np.ndarray
    l_sqrt_rho: np.ndarray
    l_inv_sd: np.ndarray
    l_exposure: np.ndarray  # yuan
    l_lgd: np.ndarray
    l_lgd_a: np.ndarray
    l_lgd_b: np.ndarray
    l_seg: np.ndarray
    b_start: np.ndarray  # (B + 1,) bucket b holds loans b_start[b] .. b_start[b + 1] - 1
    b_sector: np.ndarray
    b_thresh_hi: np.ndarray
    b_thresh_lo: np.ndarray
    b_sqrt_rho_lo: np.ndarray
    b_sqrt_rho_hi: np.ndarray
    b_inv_sd_lo: np.ndarray
    b_inv_sd_hi: np.ndarray
    b_exact: np.ndarray  # every loan of the bucket has the same (threshold, rho)


class Routes(NamedTuple):
    """Per segment (S): the route of its defaults; and when the cash moves."""

    product: np.ndarray  # 0 credit, 1 guaranteed, 2 insured
    bank: np.ndarray  # entity index, or -1
    guarantor: np.ndarray
    pool: np.ndarray
    insurer: np.ndarray
    shares: np.ndarray  # (S, 5) [national fund, re-guarantor, guarantor, bank, government]
    pool_share: np.ndarray  # a compensation pool's share of the bank's loss, bonus included
    balance0: np.ndarray  # yuan outstanding at the start
    static: np.ndarray  # a segment of single loans: a static book less its defaults
    renewed: np.ndarray  # one-year loans renewed each year (no term): all released yearly
    weight: np.ndarray  # weight in the guarantor's liability (small and micro loans: 0.75)
    nf_fee_rate: np.ndarray  # national-fund re-guarantee fee, of the balance, per year
    premium_rate: np.ndarray  # insured: premium, of the balance, per year
    lag_claim: float  # years from default to the first payer's payment to the bank
    lag_reimb: float  # years from that to the others' reimbursement
    recoveries: np.ndarray  # (H + 3,) share of recoveries received 0, 1, ... years after
    feedback: bool  # next year's new loans respond to guarantors', pools' and banks' state


class Banks(NamedTuple):
    npl_tolerance: np.ndarray  # (NB,) NPL ratio (stock) the plan tolerates
    slowdown: np.ndarray  # share less lending after a breach
    write_off_years: np.ndarray  # int64: year ends a default stays non-performing


class Guarantors(NamedTuple):
    """NG guarantors' balance sheets, then the provincial re-guarantor's (``reg_``)."""

    net_assets0: np.ndarray  # (NG,) yuan
    fee_rate: np.ndarray  # of the balance, per year
    subsidy_rate: np.ndarray  # fee subsidy (四补), of the balance, per year
    injection: np.ndarray  # capital injected each year, yuan
    yield_rate: np.ndarray  # on net assets, per year
    cost_rate: np.ndarray  # operating cost, of the balance, per year
    leverage_cap: np.ndarray  # weighted liability at most this times net assets (feedback)
    reg_net_assets0: float
    reg_fee_rate: float
    reg_subsidy_rate: float
    reg_injection: float
    reg_yield_rate: float
    reg_cost_rate: float
    reg_leverage_cap: float


class Pools(NamedTuple):
    """NP risk-compensation pools."""

    cash0: np.ndarray  # yuan at the start
    top_up: np.ndarray  # yuan added each year
    interest: np.ndarray  # on idle cash, per year
    annual_cap: np.ndarray  # most paid in a year, yuan
    cum_share: np.ndarray  # cumulative payments at most this share of losses
    corridor_a: np.ndarray  # pay only losses between a x and b x the eligible balance
    corridor_b: np.ndarray  # (0: no corridor)
    warn_npl: np.ndarray  # a cooperating bank's eligible NPL ratio above this: warned (2: none)
    stop_npl: np.ndarray  # ... above this: no new eligible loans for that bank (2: none)
    leverage_target: np.ndarray  # new eligible lending stops above this x cash (feedback)


class Insurance(NamedTuple):
    """NI insurers and the tech-insurance compensation pool."""

    suspend_loss_ratio: np.ndarray  # (NI,) lending stops after a year above it (inf: never)
    pool_cash0: float  # yuan
    mode: int  # 0 stop-loss, 1 quota share, 2 none
    beta: float  # share of the insurers' losses paid (stop-loss, quota share)
    theta: float  # stop-loss attachment, x earned premium
    subsidy: float  # share of the insurers' premium the pool pays each year
    top_up: float  # yuan added each year
    interest: float  # on idle cash, per year


class Public(NamedTuple):
    """The national fund's payout cap, the government's fund, the fiscal discount rate."""

    nf_cap_rate: float  # the national fund pays at most this share of its payout base
    nf_suspend: bool  # above the cap: suspend next year (True) or cut pro rata (False)
    nf_released: bool  # payout base: guarantees released in the year (True) or in force
    nf_line: float  # the national fund's credit line, yuan of balance it covers (1e300: none)
    nf_line_stop: bool  # beyond the line: no new guaranteed loans (True) or shift its share
    gov_cash0: float  # yuan (1e300: unlimited)
    gov_budget: float  # yuan added each year
    gov_cap: float  # most paid in a year, yuan
    discount: float  # per year, for the fiscal NPV


class Ledger(NamedTuple):
    """Public money outside the credit-loss waterfall (POLICY.md, "Public money"): interest
    and premium subsidies per segment, the 四补 of each guarantor (the re-guarantor last);
    each flow is booked to a column of the ``public_flows`` output (-1: none)."""

    isub_rate: np.ndarray  # (S,) interest subsidy, of the performing balance, per year
    isub_years: np.ndarray  # (S,) int64: paid in years 0 .. isub_years - 1
    isub_col: np.ndarray  # (S,) int64
    psub_rate: np.ndarray  # (S,) insured: share of the premium a public payer pays
    psub_col: np.ndarray  # (S,) int64
    small_share: np.ndarray  # (S,) share of the balance in loans of at most small_loan_limit
    g_col: np.ndarray  # (NG + 1, 5) int64 columns of GS_* (fee subsidy ... business reward)
    top_up_rule: np.ndarray  # (NG + 1,) int64: 0 none, 1 restore net assets, 2 leverage
    top_up_leverage: np.ndarray  # (NG + 1,) the weighted leverage a top-up keeps
    comp_rate: np.ndarray  # (NG + 1,) share of the year's net payouts compensated
    reward_rate: np.ndarray  # (NG + 1,) business reward, of the small-loan balance, per year


#: The 四补 flows of a guarantor, in the order of ``Ledger.g_col``'s columns.
SUPPORT_FLOWS = ("fee subsidy", "capital injection", "capital top-up", "payout compensation",
                 "business reward")


class CreditOutputs(NamedTuple):
    """The credit model's per-path outputs (n paths, H years, S segments)."""

    loss: np.ndarray  # (n, H) gross loss, yuan
    defaults: np.ndarray  # (n, H) int64
    logw: np.ndarray  # (n,) log likelihood ratio
    segment_ead: np.ndarray  # (n, H, S) exposure at default, yuan
    segment_loss: np.ndarray  # (n, H, S) gross loss, yuan
    segment_balance: np.ndarray  # (n, H, S) outstanding at the start of the year, yuan
    segment_balance_end: np.ndarray  # (n, H, S) at its end, yuan
    loans_outstanding: np.ndarray  # (n, H) loans on the book at the end of the year
    borrowers: np.ndarray  # (n, H + 1) at the start of each year, and the end of the last
    loan_balance_end: np.ndarray  # (n, H) balance then, yuan (renewals at full exposure)


class Outputs(NamedTuple):
    """Every per-path output of the credit model and the policy waterfall (the names of
    :func:`simpool.engine.runner.output_shapes`)."""

    loss: np.ndarray
    defaults: np.ndarray
    logw: np.ndarray
    segment_ead: np.ndarray
    segment_loss: np.ndarray
    segment_balance: np.ndarray
    segment_balance_end: np.ndarray
    loans_outstanding: np.ndarray
    borrowers: np.ndarray
    loan_balance_end: np.ndarray
    party: np.ndarray  # (n, H, 8) net loss of each party, yuan
    entity: np.ndarray  # (n, H, NB + NG + NP + NI) net loss of each named entity, yuan
    net: np.ndarray  # (n, H) claims less recoveries received, yuan
    pool_balance: np.ndarray  # (n, H + 1, NP + 1) cash, the insurance pool's last
    pool_unpaid: np.ndarray  # (n, H, NP + 1) claims left unpaid, yuan
    pool_suspended: np.ndarray  # (n, H, NP) 1 when suspended
    guarantor_net_assets: np.ndarray  # (n, H + 1, NG + 1) the re-guarantor's last
    guarantor_leverage: np.ndarray  # (n, H, NG + 1) weighted liability / net assets, the re-guarantor last
    npl: np.ndarray  # (n, H, NB) NPL ratio of each bank
    nf_payout_rate: np.ndarray  # (n, H) the national fund's payout rate (after its cap)
    pending: np.ndarray  # (n, 2) payments and recoveries due after the horizon, yuan
    pool_npl: np.ndarray  # (n, H, NP) NPL ratio (stock) of each pool's eligible book
    party_ultimate: np.ndarray  # (n, H, 8) what each party finally bears of the year's defaults
    entity_ultimate: np.ndarray  # (n, H, NE) the same per named entity
    product_party: np.ndarray  # (n, H, 2, 3, 8) [cash, ultimate] x product x party
    nf_rate_precap: np.ndarray  # (n, H) the national fund's payout rate before its cap
    nf_binds: np.ndarray  # (n, H) 1 when the cap binds (the pre-cap rate is above it)
    nf_moved: np.ndarray  # (n, H) its share moved to others by the cap or a suspension, yuan
    nf_line_moved: np.ndarray  # (n, H) its share moved to guarantors beyond its line, yuan
    gov_moved: np.ndarray  # (n, H) the government's share left with guarantors, yuan
    gov_exhausted: np.ndarray  # (n, H) 1 when its fund's cash ran out that year
    gov_balance: np.ndarray  # (n, H + 1) the government fund's cash, yuan
    premium_subsidy: np.ndarray  # (n, H) paid by the insurance pool, yuan
    insurer_loss_ratio: np.ndarray  # (n, H, NI) losses / earned premium
    insurer_suspended: np.ndarray  # (n, H, NI) 1 when its new lending stops next year
    pool_bank_npl: np.ndarray  # (n, H, NP, NB) eligible NPL ratio (stock) per pool and bank
    product_balance: np.ndarray  # (n, H, 3) balance at the start of the year by product, yuan
    bank_balance: np.ndarray  # (n, H, NB) balance at the start of the year by bank, yuan
    pool_eligible: np.ndarray  # (n, H, NP) eligible balance at the start of the year, yuan
    lending_removed: np.ndarray  # (n, H, K) new lending each constraint removed, yuan
    public_flows: np.ndarray  # (n, H, L) public money outside credit losses, yuan per column


class FundParams(NamedTuple):
    """One angel fund (FUNDS.md)."""

    fund_id: int
    life: int  # years
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
    st_partial_min: np.ndarray  # lowest multiple of a partial loss, per stage
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


class FundOutputs(NamedTuple):
    """One fund's per-path outputs (n paths)."""

    figures: np.ndarray  # (n, N_FIGURES) simpool.engine.fundkernels.FIGURES
    gov_cash: np.ndarray  # (n, life) the government's net cash out per year, yuan
    market: np.ndarray  # (n, inv_years) the vintage factor of each investment year
    proceeds: np.ndarray  # (n, life) exit proceeds per year, yuan


class SubFundParams(NamedTuple):
    """One sub-fund of a guidance fund (FUNDS.md, "Fund of funds"): the deal terms of
    :class:`FundParams`, its investors' shares and the guidance fund's concession."""

    fund_id: int
    life: int  # years
    inv_years: int
    deals_per_year: int
    investable: float  # yuan
    fee_per_year: float  # yuan
    sector: int
    st_cum: np.ndarray
    st_ticket: np.ndarray
    st_p_loss: np.ndarray
    st_p_partial: np.ndarray
    st_alpha: np.ndarray
    st_cap: np.ndarray
    st_partial_min: np.ndarray
    st_tolerance: np.ndarray  # each category's tolerance on its invested principal
    st_goal: np.ndarray  # 1.0 where the stage counts for the policy goal
    rho: float
    exit_shape: float
    exit_mean: float
    hurdle: float
    carry: float
    catch_up: bool
    shares: np.ndarray  # (n_lp,) commitments: the guidance fund, other public LPs, private LPs
    tolerance: float  # on the sub-fund's invested principal
    project_tolerance: float
    mode: int  # 0 profit concession, 1 buy-back
    concession: float
    base_return: float
    to_gp: float
    goal_probability: float
    goal_early_share: float
    buyback_year: int
    discount: float


class SubFundOutputs(NamedTuple):
    """One sub-fund's per-path outputs (n paths)."""

    figures: np.ndarray  # (n, N_SUB_FIGURES) simpool.engine.fofkernels.SUB_FIGURES
    lp_cash: np.ndarray  # (n, n_lp, life) each LP's net cash out per year, yuan
    nav: np.ndarray  # (n, life) the portfolio's NAV at the end of each year, yuan
    invested: np.ndarray  # (n, life) capital invested in deals per year, yuan
    proceeds: np.ndarray  # (n, life) exit proceeds per year, yuan
    category: np.ndarray  # (n, 2, stages) invested and proceeds per stage, yuan


@dataclass(frozen=True)
class FundInputs:
    """A fund's name and its kernel parameters."""

    name: str
    params: FundParams

    @property
    def life(self) -> int:
        return self.params.life

    @property
    def inv_years(self) -> int:
        return self.params.inv_years


@dataclass(frozen=True)
class WaterfallInputs:
    """The policy waterfall's groups, and the entities' names (for results)."""

    routes: Routes
    banks: Banks
    guarantors: Guarantors
    pools: Pools
    insurance: Insurance
    public: Public
    ledger: Ledger | None = None
    #: (payer, flow, recipient) of each column of ``public_flows``
    ledger_columns: tuple = ()
    segment_names: tuple = ()
    bank_names: tuple = ()
    guarantor_names: tuple = ()
    pool_names: tuple = ()
    insurer_names: tuple = ()

    @property
    def n_segments(self) -> int:
        return len(self.routes.product)

    @property
    def entity_names(self) -> list[str]:
        """Names of the per-entity output columns, as ``role:name``."""
        return ([f"bank:{n}" for n in self.bank_names] + [f"guarantor:{n}" for n in self.guarantor_names]
                + [f"compensation_pool:{n}" for n in self.pool_names]
                + [f"insurer:{n}" for n in self.insurer_names])


@dataclass(frozen=True)
class KernelInputs:
    """A run's kernel inputs: the credit model's groups, the waterfall's and the funds', and
    bookkeeping (not passed to the kernels)."""

    model: Model
    book: Book
    waterfall: WaterfallInputs | None = None
    funds: tuple = ()  # FundInputs, one per [[funds]] table
    sub_funds: tuple = ()  # FundInputs (SubFundParams), one per guidance fund's sub-fund,
    #                        named "<guidance>:<sub-fund>"
    n_loans_total: int = 0
    max_loss: float = 0.0  # yuan: every loan defaulting at its mean LGD
    is_info: dict | None = None  # the importance-sampling choice, for provenance

    @property
    def n_years(self) -> int:
        return self.model.n_years
