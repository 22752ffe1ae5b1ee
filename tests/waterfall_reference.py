"""Slow, obviously-correct plain-Python reference of the policy waterfall (a test helper, not
a test module).

Written from ``POLICY.md`` and the field documentation of :mod:`simpool.engine.inputs` alone,
never from ``simpool.engine.waterfall`` or ``simpool.engine.waterfall_plan`` (the code under
test); used by ``test_waterfall_reference.py``. One path at a time, year by year, with plain
Python loops over floats: no numpy arithmetic, no numba.

What it consumes
----------------
* the waterfall's input groups ``wf`` (:class:`simpool.engine.inputs.WaterfallInputs`, as a
  run keeps them in ``res._wf``): routes, banks, guarantors, pools, insurance, public;
* the loan book ``book`` (:class:`simpool.engine.inputs.Book`) for the planned new vintages
  (``c_start``, ``c_seg``, ``c_n``, ``c_exposure``, ``c_amort``) that the lending feedback
  scales;
* one path's credit outputs: ``segment_ead``, ``segment_loss``, ``segment_balance``,
  ``segment_balance_end`` ((H, S) each). They already contain the engine's throttling of new
  vintages: they are "the book that happened" and are taken as given; everything else
  (including the throttle factors and ``lending_removed``) is recomputed here.

Readings of POLICY.md chosen here where it leaves room (each is marked ``READING`` where it
is used). Where the spec allows more than one reading, the one that agrees with the engine
was kept, and the test module's docstring says so; ``readings`` (keyword arguments of
:func:`reference_path`) switch the three points where the engine departs from a clear
sentence of the spec (findings F1-F3 of the test module).

R1  Lags. A payment due ``L`` years after a default (``L = lag_claim`` for the first payer's
    claim payment and for a compensation pool's payment; ``L = lag_claim + lag_reimb`` for
    reimbursements, by the national fund, the re-guarantor, the government, and by the
    tech-insurance pool) falls ``floor(L)`` years after the default year for a share
    ``f = 1 - frac(L)`` of the year's defaults and one year later for the rest.
R2  Insolvent guarantor (step 7): "the others reimburse the bank directly" at the time they
    would have reimbursed the guarantor (``lag_claim + lag_reimb``).
R3  Insolvency is tested at the start of every year (steps 6 and 7: "net assets <= 0 at the
    start of the year"): net assets back above 0 make a guarantor solvent again.
    (``insolvency_absorbing=True``: "from then on" read as for the rest of the path.)
R4  Payout cap, ``reallocate``: the excess of each segment goes to *that segment's*
    re-guarantor, guarantor and government pro rata to their amounts after steps 1-3 (all to
    the guarantor when they hold none). A base of 0 with a positive part binds (part > cap x
    0); its pre-cap rate is then reported as 0 ("0 when the base is 0").
R5  The credit line's ``C`` is the whole start-of-year balance of the guaranteed segments
    with a positive national-fund share (not that share of it); the payout base (either
    basis) is scaled by ``K/C``.
R6  Government: the year's payment is ``min(part, annual_cap, cash)``, taken from the fund at
    the default; the fund gets no recoveries back; "exhausted" when the part exceeded the
    cash and the cash was at most the annual cap (when cash and cap are equal and both
    limit the payment, the cash counts: the fund is empty).
R7  Pools (compensation and insurance): a year's payments are decided against the cash at
    the start of the year (after its top-up) less what the pool still owes from earlier
    years' decisions; payments leave the cash when they are paid (after their lag),
    recoveries enter it when received, interest is ``interest x cash`` at the year's end
    after the year's flows. A compensation pool's claims are ``share x EAD``; with a
    corridor, only the part of the year's eligible EAD between ``a x B`` and ``b x B``
    (spread over the segments pro rata). The cumulative cap's "losses borne so far" are the
    pool's eligible EAD up to and including this year, "what it paid" its payments decided
    so far. Unpaid claims are only what the cash (less what it owes) could not pay: the
    annual and cumulative caps lower the claim itself (they are not depletion).
R8  Insurance pool: the premium subsidy is paid at once (in the year) from the cash left
    after the year's claim decisions; its unpaid part adds to ``pool_unpaid``. The pool's
    payment to an insurer is spread over that insurer's segments pro rata to its claims. A
    loss ratio of claims over no premium is +inf (0 without claims).
R9  Balance sheets: ``NA`` moves by the formula of "Guarantor and re-guarantor balance
    sheets" with ``B`` at the start of the year and the party's (entity's) cash loss of the
    year; the re-guarantee fees are ``reg_fee_rate x B`` (all the guarantor's guaranteed
    segments) plus ``nf_fee_rate x balance`` of its segments with a national-fund share.
    Weighted liability of a guarantor: ``weight x (guarantor + government shares) x
    balance``; of the re-guarantor: ``weight x reguarantor share x balance``; leverage with
    net assets <= 0 is +inf.
R10 NPL stock (banks and pools) counts the defaults' EAD; a denominator of 0 gives a ratio
    of 0. A pool's overall ratio sums each cooperating bank's stock (with that bank's
    ``write_off_years``).
R11 Lending feedback (only with ``routes.feedback``; without it nothing is scaled, not even
    by a pool's NPL stop or an insurer's suspension, which are still reported): the
    constraints use the state at the end of the year (net assets after the year, pool cash
    after interest and before next year's top-up, loans outstanding at the year's end =
    ``segment_balance_end``) and the *planned* new vintages (``c_n x c_exposure``); the
    factor of a constraint is ``clip((limit - outstanding) / planned new, 0, 1)``; a pool
    whose ``leverage_target`` is none (1e300 in the plan) has no limit. A vintage's removal
    goes to the constraint with the smallest factor (ties: a pool's NPL stop before its
    leverage target; the guarantor, the re-guarantor, the credit line in that order), and
    the slowdown removes ``slowdown x`` what is left. Removed lending is ``planned volume x
    (1 - factor)``.
R12 An insurer stays suspended for the rest of the path (``insurer_suspended`` is 1 from the
    year whose loss ratio was above the limit on); a pool's ``pool_suspended`` is 1 in a
    year whose end leaves at least one of its banks above ``stop_npl``.
R13 ``pending`` = [payments, recoveries] due after the horizon. Recoveries: all not received
    within the horizon. Payments (POLICY.md does not define the figure): per year after the
    horizon and per entity (per party for those without entities), its net payment of that
    year (payments less reimbursements received) when positive, summed.
R14 ``public_flows`` (POLICY.md "Public money" and "The 四补"): per ledger column
    (``wf.ledger_columns``, the plan's (payer, flow, recipient)), the interest subsidy
    ``rate x max(balance at the year's start - EAD / 2, 0)`` in the cohort's first years,
    the premium subsidy ``rate x premium_rate x balance``, and each guarantor's (the
    re-guarantor's) 四补: fee subsidy, injection, payout compensation ``rate x max(net
    payouts, 0)``, business reward ``rate x`` small-loan balance, then the top-up to the
    starting net assets (restore) or to ``liability / top_up_leverage`` (leverage).
"""

from __future__ import annotations

import math

# party columns (simpool.scenario.policy.PARTIES)
BANK, GUAR, REG, NF, GOV, CPOOL, INS, IPOOL = range(8)
N_PARTIES = 8
# columns of routes.shares
S_NF, S_REG, S_GUAR, S_BANK, S_GOV = range(5)
CREDIT, GUARANTEED, INSURED = 0, 1, 2

OUTPUT_NAMES = (
    "party", "entity", "net", "party_ultimate", "entity_ultimate", "product_party",
    "pool_balance", "pool_unpaid", "pool_npl", "pool_bank_npl", "pool_suspended",
    "guarantor_net_assets", "guarantor_leverage", "npl", "nf_rate_precap", "nf_binds",
    "nf_payout_rate", "nf_moved", "nf_line_moved", "gov_moved", "gov_exhausted", "gov_balance",
    "premium_subsidy", "insurer_loss_ratio", "insurer_suspended", "public_flows", "pending",
    "lending_removed", "product_balance", "bank_balance", "pool_eligible")


def zeros(*shape):
    """Nested lists of 0.0."""
    if len(shape) == 1:
        return [0.0] * shape[0]
    return [zeros(*shape[1:]) for _ in range(shape[0])]


def split_lag(lag_years: float):
    """POLICY.md "Time and money conventions": a payment due ``lag`` after a default falls
    ``floor(lag)`` years after the default year for a share ``f = 1 - frac(lag)`` of the
    year's defaults, one year after that for the rest. Returns [(years later, share)]."""
    k = math.floor(lag_years)
    f = 1.0 - (lag_years - k)
    return [(k, f), (k + 1, 1.0 - f)]


def clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


class _Ledger:
    """Cash of the parties and entities by year, and what falls after the horizon."""

    def __init__(self, H, NB, NG, NP, NI):
        self.H = H
        self.NB, self.NG, self.NP = NB, NG, NP
        self.party = zeros(H, N_PARTIES)
        self.entity = zeros(H, NB + NG + NP + NI)
        self.product = zeros(H, 3, N_PARTIES)
        self.pending_recoveries = 0.0
        self.after = {}  # (year, party, entity) -> net payments due after the horizon (R13)

    def entity_col(self, party, s_bank, s_guar, s_pool, s_ins):
        """The entity column of a party for a segment (None when it has none)."""
        if party == BANK and s_bank >= 0:
            return s_bank
        if party == GUAR and s_guar >= 0:
            return self.NB + s_guar
        if party == CPOOL and s_pool >= 0:
            return self.NB + self.NG + s_pool
        if party == INS and s_ins >= 0:
            return self.NB + self.NG + self.NP + s_ins
        return None

    def book(self, year, party, ent, product, amount):
        """Book a payment ``amount`` (a loss: paid, positive; received, negative) to
        ``year``, or to the payments pending after the horizon."""
        if year >= self.H:
            key = (year, party, ent)
            self.after[key] = self.after.get(key, 0.0) + amount
            return
        self.party[year][party] += amount
        self.product[year][product][party] += amount
        if ent is not None:
            self.entity[year][ent] += amount


def reference_path(wf, book, seg_ead, seg_loss, seg_bal, seg_bal_end, *,
                   yield_after_payouts=True, insolvency_absorbing=False,
                   ) -> dict:
    """Every waterfall output of one path (the shapes of :class:`simpool.engine.inputs.Outputs`
    without the path axis, as nested lists), from that path's credit outputs (H x S each).

    Also returns ``throttle``: {vintage index: factor} of the new vintages scaled by the
    lending feedback (after the bank slowdown).
    """
    r, bk, gu, po, ins, pub = wf.routes, wf.banks, wf.guarantors, wf.pools, wf.insurance, wf.public
    H = len(seg_ead)
    S = len(r.product)
    NB, NG, NP, NI = len(wf.bank_names), len(wf.guarantor_names), len(wf.pool_names), len(wf.insurer_names)
    ead = [[float(x) for x in row] for row in seg_ead]
    lossv = [[float(x) for x in row] for row in seg_loss]
    bal = [[float(x) for x in row] for row in seg_bal]
    bal_end = [[float(x) for x in row] for row in seg_bal_end]

    product = [int(x) for x in r.product]
    s_bank = [int(x) for x in r.bank]
    s_guar = [int(x) for x in r.guarantor]
    s_pool = [int(x) for x in r.pool]
    s_ins = [int(x) for x in r.insurer]
    shares = [[float(x) for x in row] for row in r.shares]
    pool_share = [float(x) for x in r.pool_share]
    renewed = [bool(x) for x in r.renewed]
    weight = [float(x) for x in r.weight]
    nf_fee = [float(x) for x in r.nf_fee_rate]
    prem_rate = [float(x) for x in r.premium_rate]
    rec = [float(x) for x in r.recoveries]
    lag_claim = float(r.lag_claim)
    lag_reimb_total = float(r.lag_claim) + float(r.lag_reimb)
    claim_split = split_lag(lag_claim)
    reimb_split = split_lag(lag_reimb_total)

    led = _Ledger(H, NB, NG, NP, NI)
    out = {
        "party_ultimate": zeros(H, N_PARTIES), "entity_ultimate": zeros(H, NB + NG + NP + NI),
        "product_ultimate": zeros(H, 3, N_PARTIES),
        "pool_balance": zeros(H + 1, NP + 1), "pool_unpaid": zeros(H, NP + 1),
        "pool_npl": zeros(H, NP), "pool_bank_npl": zeros(H, NP, NB), "pool_suspended": zeros(H, NP),
        "guarantor_net_assets": zeros(H + 1, NG + 1), "guarantor_leverage": zeros(H, NG + 1),
        "npl": zeros(H, NB), "nf_rate_precap": zeros(H), "nf_binds": zeros(H),
        "nf_payout_rate": zeros(H), "nf_moved": zeros(H), "nf_line_moved": zeros(H),
        "gov_moved": zeros(H), "gov_exhausted": zeros(H), "gov_balance": zeros(H + 1),
        "premium_subsidy": zeros(H), "insurer_loss_ratio": zeros(H, NI),
        "insurer_suspended": zeros(H, NI), "lending_removed": zeros(H, NG + 1 + 2 * NP + NI + NB + 1),
        "product_balance": zeros(H, 3), "bank_balance": zeros(H, NB), "pool_eligible": zeros(H, NP),
        "net": zeros(H),
    }
    throttle = {}
    led_cols = list(wf.ledger_columns)
    public_flows = zeros(H, len(led_cols))
    lg = wf.ledger

    # ---- state -----------------------------------------------------------------------
    na = [float(x) for x in gu.net_assets0]          # guarantors' net assets
    na_reg = float(gu.reg_net_assets0)
    insolvent = [False] * NG
    insolvent_reg = False
    pool_cash = [float(x) for x in po.cash0]
    pool_due = [zeros(H + 3) for _ in range(NP)]     # decided payments, by the year paid
    pool_in = [zeros(H + 3) for _ in range(NP)]      # recoveries, by the year received
    pool_cum_loss = [0.0] * NP
    pool_cum_paid = [0.0] * NP
    ipool_cash = float(ins.pool_cash0)
    ipool_due = zeros(H + 3)
    ipool_in = zeros(H + 3)
    gov_cash = float(pub.gov_cash0)
    nf_suspended = False                             # this year (after a binding year)
    insurer_stopped = [False] * NI
    for g in range(NG):
        out["guarantor_net_assets"][0][g] = na[g]
    out["guarantor_net_assets"][0][NG] = na_reg
    for p in range(NP):
        out["pool_balance"][0][p] = pool_cash[p]
    out["pool_balance"][0][NP] = ipool_cash
    out["gov_balance"][0] = gov_cash

    def schedule(y, split, amount, payer, payer_ent, receiver, receiver_ent, prod):
        """A transfer of ``amount`` from ``payer`` to ``receiver`` for defaults of year y,
        spread by ``split`` (R1). Returns [(year, amount)] (for pools' cash)."""
        flows = []
        for k, f in split:
            a = amount * f
            if a == 0.0:
                continue
            t = y + k
            flows.append((t, a))
            led.book(t, payer, payer_ent, prod, a)
            led.book(t, receiver, receiver_ent, prod, -a)
        return flows

    def recoveries(y, R, party, ent, prod):
        """Recoveries ``R`` (of a party's final share) of defaults of year y, received along
        the recovery schedule ("Products and routes"); returns [(year, amount)]."""
        flows = []
        got = 0.0
        for j, q in enumerate(rec):
            a = R * q
            if a == 0.0:
                continue
            if y + j < H:
                led.book(y + j, party, ent, prod, -a)
                got += a
                flows.append((y + j, a))
        led.pending_recoveries += R - got
        return flows

    def ent_of(party, s):
        return led.entity_col(party, s_bank[s], s_guar[s], s_pool[s], s_ins[s])

    def book_ultimate(y, s, party, amount):
        out["party_ultimate"][y][party] += amount
        out["product_ultimate"][y][product[s]][party] += amount
        e = ent_of(party, s)
        if e is not None:
            out["entity_ultimate"][y][e] += amount

    ead_hist = []  # defaults' EAD by year (NPL stock)

    for y in range(H):
        b0, b1, E, Lo = bal[y], bal_end[y], ead[y], lossv[y]
        ead_hist.append(E)

        # ---- start of the year ---------------------------------------------------------
        if y > 0:  # top-ups and budgets "each year after the first"
            for p in range(NP):
                pool_cash[p] += float(po.top_up[p])
            ipool_cash += float(ins.top_up)
            gov_cash += float(pub.gov_budget)
        # READING R3: insolvent in a year that starts with NA <= 0 (steps 6 and 7); with
        # ``insolvency_absorbing``, from then on for the rest of the path
        for g in range(NG):
            insolvent[g] = na[g] <= 0.0 or (insolvency_absorbing and insolvent[g])
        insolvent_reg = na_reg <= 0.0 or (insolvency_absorbing and insolvent_reg)

        # balances at the start of the year (Outputs: lending)
        for s in range(S):
            out["product_balance"][y][product[s]] += b0[s]
            if s_bank[s] >= 0:
                out["bank_balance"][y][s_bank[s]] += b0[s]
            if product[s] == CREDIT and s_pool[s] >= 0:
                out["pool_eligible"][y][s_pool[s]] += b0[s]

        # leverage at the start of the year ("Leverage as regulated"), R9
        g_liab = [0.0] * NG
        g_bal = [0.0] * NG         # B of each guarantor
        g_nf_fee = [0.0] * NG
        reg_liab = 0.0
        reg_bal = 0.0
        for s in range(S):
            if product[s] != GUARANTEED:
                continue
            own = shares[s][S_GUAR] + shares[s][S_GOV]
            g = s_guar[s]
            g_liab[g] += weight[s] * own * b0[s]
            g_bal[g] += b0[s]
            if shares[s][S_NF] > 0.0:
                g_nf_fee[g] += nf_fee[s] * b0[s]
            reg_liab += weight[s] * shares[s][S_REG] * b0[s]
            reg_bal += b0[s]
        for g in range(NG):
            out["guarantor_leverage"][y][g] = g_liab[g] / na[g] if na[g] > 0.0 else math.inf
        out["guarantor_leverage"][y][NG] = reg_liab / na_reg if na_reg > 0.0 else math.inf

        # ---- guaranteed loans ("Sharing of a guaranteed loan", steps 1-7) ----------------
        amt = {}  # segment -> [nf, reg, guar, bank, gov] amounts of EAD
        for s in range(S):
            if product[s] == GUARANTEED:
                amt[s] = [shares[s][k] * E[s] for k in range(5)]  # 1. borrower cap: in shares

        def reallocate(a, x):
            """READING R4: ``x`` to the re-guarantor, guarantor and government pro rata to their
            amounts, all to the guarantor if they hold none."""
            o = a[S_REG] + a[S_GUAR] + a[S_GOV]
            if o > 0.0:
                wr, wg, wv = a[S_REG] / o, a[S_GUAR] / o, a[S_GOV] / o
                a[S_REG] += x * wr
                a[S_GUAR] += x * wg
                a[S_GOV] += x * wv
            else:
                a[S_GUAR] += x

        # 2. credit line (READING R5)
        K = float(pub.nf_line)
        C = sum(b0[s] for s in amt if shares[s][S_NF] > 0.0)
        line_ratio = K / C if C > K else 1.0
        if line_ratio < 1.0:
            for s, a in amt.items():
                m = a[S_NF] * (1.0 - line_ratio)
                a[S_NF] -= m
                a[S_GUAR] += m
                out["nf_line_moved"][y] += m
        # 3. suspension (only with national_fund_excess = "suspend")
        if nf_suspended:
            for s, a in amt.items():
                x = a[S_NF]
                a[S_NF] = 0.0
                reallocate(a, x)
                out["nf_moved"][y] += x
        # 4. payout-rate cap
        base = 0.0
        for s in amt:
            if bool(pub.nf_released):
                released = b0[s] if renewed[s] else b0[s] - b1[s]
            else:
                released = b0[s]
            base += released * shares[s][S_NF]
        base *= line_ratio
        part = sum(a[S_NF] for a in amt.values())
        cap = float(pub.nf_cap_rate)
        out["nf_rate_precap"][y] = part / base if base > 0.0 else 0.0
        binds = part > cap * base
        next_suspended = False
        if binds:
            out["nf_binds"][y] = 1.0
            if bool(pub.nf_suspend):
                next_suspended = True  # pays in full now, covers nothing next year
            else:
                scale = cap * base / part
                for s, a in amt.items():
                    x = a[S_NF] * (1.0 - scale)
                    a[S_NF] -= x
                    reallocate(a, x)
                    out["nf_moved"][y] += x
        nf_paid = sum(a[S_NF] for a in amt.values())
        out["nf_payout_rate"][y] = nf_paid / base if base > 0.0 else 0.0
        nf_suspended = next_suspended
        # 5. government (R6)
        G = sum(a[S_GOV] for a in amt.values())
        gov_cap = float(pub.gov_cap)
        paid = min(G, gov_cap, gov_cash)
        if G > gov_cash and gov_cash <= gov_cap:  # READING R6: the cash bound (the cap too, maybe)
            out["gov_exhausted"][y] = 1.0
        keep = paid / G if G > 0.0 else 1.0
        for s, a in amt.items():
            moved = a[S_GOV] * (1.0 - keep)
            a[S_GOV] -= moved
            a[S_GUAR] += moved
        out["gov_moved"][y] = G - paid
        gov_cash -= paid
        # 6. insolvent re-guarantor, 7. insolvent guarantor
        for s, a in amt.items():
            if insolvent_reg:
                a[S_GUAR] += a[S_REG]
                a[S_REG] = 0.0
            if insolvent[s_guar[s]]:
                a[S_BANK] += a[S_GUAR]
                a[S_GUAR] = 0.0
        # cash and ultimate losses of the guaranteed segments
        for s, a in amt.items():
            if E[s] == 0.0:
                continue
            R = E[s] - Lo[s]
            eb, eg = ent_of(BANK, s), ent_of(GUAR, s)
            led.book(y, BANK, eb, GUARANTEED, E[s])  # the loan defaults on the bank
            others = ((NF, a[S_NF]), (REG, a[S_REG]), (GOV, a[S_GOV]))
            if not insolvent[s_guar[s]]:
                # the guarantor pays the bank EAD - bank share after the claim lag; the others
                # reimburse the guarantor after the further reimbursement lag
                schedule(y, claim_split, E[s] - a[S_BANK], GUAR, eg, BANK, eb, GUARANTEED)
                for party, x in others:
                    schedule(y, reimb_split, x, party, None, GUAR, eg, GUARANTEED)
            else:
                for party, x in others:  # READING R2: directly to the bank, same timing
                    schedule(y, reimb_split, x, party, None, BANK, eb, GUARANTEED)
            for party, k in ((BANK, S_BANK), (GUAR, S_GUAR), (REG, S_REG), (NF, S_NF), (GOV, S_GOV)):
                sh = a[k] / E[s]
                recoveries(y, R * sh, party, ent_of(party, s), GUARANTEED)
                book_ultimate(y, s, party, Lo[s] * sh)

        # ---- insured loans (the tech-insurance pool and insurers) ----------------------
        claims = [0.0] * NI
        premium = [0.0] * NI
        for s in range(S):
            if product[s] == INSURED and s_ins[s] >= 0:
                # an insured segment's shares are [0, 0, insurer, bank, 0] (the insurer in the
                # guarantor's column: test_routes_follow_the_spec checks the plan's values)
                claims[s_ins[s]] += shares[s][S_GUAR] * E[s]
                premium[s_ins[s]] += prem_rate[s] * b0[s]
        due = [0.0] * NI
        for i in range(NI):
            if ins.mode == 0:
                due[i] = float(ins.beta) * max(0.0, claims[i] - float(ins.theta) * premium[i])
            elif ins.mode == 1:
                due[i] = float(ins.beta) * claims[i]
        # READING R7: the cash at the start of the year less what it owes from earlier years
        owed = sum(ipool_due[t] for t in range(y, H + 3))
        available = max(0.0, ipool_cash - owed)
        total_due = sum(due)
        ratio = min(1.0, available / total_due) if total_due > 0.0 else 1.0
        ipaid = [d * ratio for d in due]
        unpaid = total_due - sum(ipaid)
        subsidy = float(ins.subsidy) * sum(premium)        # READING R8: paid now, after the claims
        sub_paid = min(subsidy, max(0.0, available - sum(ipaid)))
        unpaid += subsidy - sub_paid
        ipool_cash -= sub_paid
        out["premium_subsidy"][y] = sub_paid
        out["pool_unpaid"][y][NP] = unpaid
        for i in range(NI):
            if premium[i] > 0.0:
                lr = claims[i] / premium[i]
            else:  # claims over no premium: +inf
                lr = 0.0 if claims[i] == 0.0 else math.inf
            out["insurer_loss_ratio"][y][i] = lr
            if lr > float(ins.suspend_loss_ratio[i]):
                insurer_stopped[i] = True                  # for the rest of the path (R12)
            out["insurer_suspended"][y][i] = 1.0 if insurer_stopped[i] else 0.0
        for s in range(S):
            if product[s] != INSURED or E[s] == 0.0:
                continue
            i = s_ins[s]
            a_ins = shares[s][S_GUAR] * E[s]
            a_bank = shares[s][S_BANK] * E[s]
            p_s = ipaid[i] * a_ins / claims[i] if (i >= 0 and claims[i] > 0.0) else 0.0
            R = E[s] - Lo[s]
            eb, ei = ent_of(BANK, s), ent_of(INS, s)
            led.book(y, BANK, eb, INSURED, E[s])
            schedule(y, claim_split, a_ins, INS, ei, BANK, eb, INSURED)
            for t, x in schedule(y, reimb_split, p_s, IPOOL, None, INS, ei, INSURED):
                ipool_due[t] += x
            for party, x in ((BANK, a_bank), (INS, a_ins - p_s), (IPOOL, p_s)):
                sh = x / E[s]
                for t, v in recoveries(y, R * sh, party, ent_of(party, s), INSURED):
                    if party == IPOOL:
                        ipool_in[t] += v
                book_ultimate(y, s, party, Lo[s] * sh)

        # ---- credit loans and risk-compensation pools ----------------------------------
        pay = {}  # segment -> pool payment
        for p in range(NP):
            segs = [s for s in range(S) if product[s] == CREDIT and s_pool[s] == p]
            Lp = sum(E[s] for s in segs)
            Bp = sum(b0[s] for s in segs)
            corr = 1.0
            if float(po.corridor_b[p]) > 0.0:  # (corridor_b <= 0: no corridor)
                inside = max(0.0, min(Lp, float(po.corridor_b[p]) * Bp) - float(po.corridor_a[p]) * Bp)
                corr = inside / Lp if Lp > 0.0 else 0.0
            claim = {s: pool_share[s] * E[s] * corr for s in segs}
            T = sum(claim.values())
            pool_cum_loss[p] += Lp
            cum_room = max(0.0, float(po.cum_share[p]) * pool_cum_loss[p] - pool_cum_paid[p])
            owed = sum(pool_due[p][t] for t in range(y, H + 3))
            available = max(0.0, pool_cash[p] - owed)
            paid = min(T, float(po.annual_cap[p]), cum_room, available)
            pool_cum_paid[p] += paid
            # READING R7: only what the cash limit cut off is unpaid (the annual and the
            # cumulative caps lower the claim itself)
            out["pool_unpaid"][y][p] = min(T, float(po.annual_cap[p]), cum_room) - paid
            ratio = paid / T if T > 0.0 else 0.0
            for s in segs:
                pay[s] = claim[s] * ratio
        for s in range(S):
            if product[s] != CREDIT or E[s] == 0.0:
                continue
            p = s_pool[s]
            p_s = pay.get(s, 0.0)
            R = E[s] - Lo[s]
            eb, ep = ent_of(BANK, s), ent_of(CPOOL, s)
            led.book(y, BANK, eb, CREDIT, E[s])
            if p >= 0:
                for t, x in schedule(y, claim_split, p_s, CPOOL, ep, BANK, eb, CREDIT):
                    pool_due[p][t] += x
            for party, x in ((BANK, E[s] - p_s), (CPOOL, p_s)):
                sh = x / E[s]
                for t, v in recoveries(y, R * sh, party, ent_of(party, s), CREDIT):
                    if party == CPOOL:
                        pool_in[p][t] += v
                book_ultimate(y, s, party, Lo[s] * sh)

        # ---- end of the year: pools' cash (READING R7) ----------------------------------
        for p in range(NP):
            pool_cash[p] += pool_in[p][y] - pool_due[p][y]
            pool_cash[p] += float(po.interest[p]) * pool_cash[p]
            out["pool_balance"][y + 1][p] = pool_cash[p]
        ipool_cash += ipool_in[y] - ipool_due[y]
        ipool_cash += float(ins.interest) * ipool_cash
        out["pool_balance"][y + 1][NP] = ipool_cash
        out["gov_balance"][y + 1] = gov_cash

        # ---- "Guarantor and re-guarantor balance sheets" (READING R9; finding F1) -----
        # and "The 四补" (READING R14)
        def pay(col, amount):
            if int(col) >= 0:
                public_flows[y][int(col)] += amount

        def four_supports(k, na_now, na_start, cash_loss, fee_subsidy, injection, small_bal, liab):
            cols = [int(c) for c in lg.g_col[k]]
            comp = float(lg.comp_rate[k]) * max(cash_loss, 0.0)
            reward = float(lg.reward_rate[k]) * small_bal
            after = na_now + comp + reward
            rule = int(lg.top_up_rule[k])
            top = 0.0
            if rule == 1:
                top = max(na_start - after, 0.0)
            elif rule == 2:
                top = max(liab / float(lg.top_up_leverage[k]) - after, 0.0)
            for c, amount in zip(cols, (fee_subsidy, injection, top, comp, reward)):
                pay(c, amount)
            return after + top

        small_reg = 0.0
        for g in range(NG):
            cash_loss = led.entity[y][NB + g]
            reg_fees = float(gu.reg_fee_rate) * g_bal[g] + g_nf_fee[g]
            yield_base = na[g] - cash_loss if yield_after_payouts else na[g]
            na[g] += (float(gu.yield_rate[g]) * yield_base
                      + (float(gu.fee_rate[g]) - float(gu.cost_rate[g]) + float(gu.subsidy_rate[g])) * g_bal[g]
                      + float(gu.injection[g]) - reg_fees - cash_loss)
            small = sum(b0[s] * float(lg.small_share[s]) for s in range(S)
                        if product[s] == GUARANTEED and s_guar[s] == g)
            small_reg += small
            na[g] = four_supports(g, na[g], float(gu.net_assets0[g]), cash_loss,
                                  float(gu.subsidy_rate[g]) * g_bal[g], float(gu.injection[g]),
                                  small, g_liab[g])
            out["guarantor_net_assets"][y + 1][g] = na[g]
        cash_loss = led.party[y][REG]
        yield_base = na_reg - cash_loss if yield_after_payouts else na_reg
        na_reg += (float(gu.reg_yield_rate) * yield_base
                   + (float(gu.reg_fee_rate) - float(gu.reg_cost_rate) + float(gu.reg_subsidy_rate)) * reg_bal
                   + float(gu.reg_injection) - cash_loss)
        na_reg = four_supports(NG, na_reg, float(gu.reg_net_assets0), cash_loss,
                               float(gu.reg_subsidy_rate) * reg_bal, float(gu.reg_injection),
                               small_reg, reg_liab)
        out["guarantor_net_assets"][y + 1][NG] = na_reg

        # ---- interest and premium subsidies ("Public money", READING R14) --------------
        for s in range(S):
            if int(lg.isub_col[s]) >= 0 and y < int(lg.isub_years[s]):
                pay(lg.isub_col[s], float(lg.isub_rate[s]) * max(b0[s] - 0.5 * E[s], 0.0))
            if int(lg.psub_col[s]) >= 0:
                pay(lg.psub_col[s], float(lg.psub_rate[s]) * prem_rate[s] * b0[s])

        # ---- NPL ratios (stock; "Banks' NPL tolerance", circuit breakers; READING R10) --
        stock_bank = [0.0] * NB
        stock_pool_bank = [[0.0] * NB for _ in range(NP)]
        for s in range(S):
            b = s_bank[s]
            if b < 0:
                continue
            w = int(bk.write_off_years[b])
            st = sum(ead_hist[t][s] for t in range(max(0, y - w + 1), y + 1)) if w > 0 else 0.0
            stock_bank[b] += st
            if product[s] == CREDIT and s_pool[s] >= 0:
                stock_pool_bank[s_pool[s]][b] += st
        breach = [False] * NB
        for b in range(NB):
            d = out["bank_balance"][y][b]
            out["npl"][y][b] = stock_bank[b] / d if d > 0.0 else 0.0
            breach[b] = out["npl"][y][b] > float(bk.npl_tolerance[b])
        stopped = [[False] * NB for _ in range(NP)]
        for p in range(NP):
            d = out["pool_eligible"][y][p]
            out["pool_npl"][y][p] = sum(stock_pool_bank[p]) / d if d > 0.0 else 0.0
            for b in range(NB):
                db = sum(b0[s] for s in range(S)
                         if product[s] == CREDIT and s_pool[s] == p and s_bank[s] == b)
                ratio_b = stock_pool_bank[p][b] / db if db > 0.0 else 0.0
                out["pool_bank_npl"][y][p][b] = ratio_b
                stopped[p][b] = ratio_b > float(po.stop_npl[p])
            out["pool_suspended"][y][p] = 1.0 if any(stopped[p]) else 0.0

        # ---- "Feedback into lending": next year's new vintages (READING R11) --------------
        if y + 1 < H and bool(r.feedback):
            new = [v for v in range(len(book.c_n)) if int(book.c_start[v]) == y + 1]
            vol = {v: float(book.c_n[v]) * float(book.c_exposure[v]) * float(book.c_amort[v][y + 1])
                   for v in new}
            seg_of = {v: int(book.c_seg[v]) for v in new}
            # guarantors' and the re-guarantor's leverage caps
            f_guar = [1.0] * NG
            for g in range(NG):
                out_l = sum(weight[s] * (shares[s][S_GUAR] + shares[s][S_GOV]) * b1[s]
                            for s in range(S) if product[s] == GUARANTEED and s_guar[s] == g)
                new_l = sum(weight[seg_of[v]] * (shares[seg_of[v]][S_GUAR] + shares[seg_of[v]][S_GOV]) * vol[v]
                            for v in new if product[seg_of[v]] == GUARANTEED and s_guar[seg_of[v]] == g)
                if new_l > 0.0:
                    f_guar[g] = clip01((float(gu.leverage_cap[g]) * na[g] - out_l) / new_l)
            out_l = sum(weight[s] * shares[s][S_REG] * b1[s] for s in range(S) if product[s] == GUARANTEED)
            new_l = sum(weight[seg_of[v]] * shares[seg_of[v]][S_REG] * vol[v]
                        for v in new if product[seg_of[v]] == GUARANTEED)
            f_reg = clip01((float(gu.reg_leverage_cap) * na_reg - out_l) / new_l) if new_l > 0.0 else 1.0
            # the national fund's credit line, mode "stop"
            f_line = 1.0
            if bool(pub.nf_line_stop):
                out_c = sum(b1[s] for s in range(S) if product[s] == GUARANTEED and shares[s][S_NF] > 0.0)
                new_c = sum(vol[v] for v in new
                            if product[seg_of[v]] == GUARANTEED and shares[seg_of[v]][S_NF] > 0.0)
                if new_c > 0.0:
                    f_line = clip01((K - out_c) / new_c)
            # pools' leverage targets
            f_pool = [1.0] * NP
            for p in range(NP):
                out_e = sum(b1[s] for s in range(S) if product[s] == CREDIT and s_pool[s] == p)
                new_e = sum(vol[v] for v in new if product[seg_of[v]] == CREDIT and s_pool[seg_of[v]] == p)
                target = float(po.leverage_target[p])
                if target >= 1e299:
                    continue  # leverage_target = none: no limit (policy.Pool.leverage_target)
                if new_e > 0.0:
                    f_pool[p] = clip01((target * pool_cash[p] - out_e) / new_e)
            # columns of lending_removed (simpool.engine.inputs.removed_columns)
            col_guar = 0
            col_reg = NG
            col_pool_lev = NG + 1
            col_pool_stop = NG + 1 + NP
            col_ins = NG + 1 + 2 * NP
            col_bank = NG + 1 + 2 * NP + NI
            col_line = NG + 1 + 2 * NP + NI + NB
            for v in new:
                s = seg_of[v]
                cands = []  # (factor, column), in column order
                if product[s] == GUARANTEED:
                    cands.append((f_guar[s_guar[s]], col_guar + s_guar[s]))
                    if shares[s][S_REG] > 0.0:
                        cands.append((f_reg, col_reg))
                    if bool(pub.nf_line_stop) and shares[s][S_NF] > 0.0:
                        cands.append((f_line, col_line))
                elif product[s] == CREDIT and s_pool[s] >= 0:
                    p = s_pool[s]
                    if s_bank[s] >= 0 and stopped[p][s_bank[s]]:
                        cands.append((0.0, col_pool_stop + p))
                    cands.append((f_pool[p], col_pool_lev + p))
                elif product[s] == INSURED and s_ins[s] >= 0:
                    if insurer_stopped[s_ins[s]]:
                        cands.append((0.0, col_ins + s_ins[s]))
                # the smallest factor; a tie goes to the first listed (READING: the NPL stop
                # before the pool's leverage target; then the guarantor, the re-guarantor, the line)
                cands.sort(key=lambda fc: fc[0])  # (stable)
                f = 1.0
                if cands and cands[0][0] < 1.0:
                    f = cands[0][0]
                    out["lending_removed"][y + 1][cands[0][1]] += vol[v] * (1.0 - f)
                b = s_bank[s]
                if b >= 0 and breach[b] and float(bk.slowdown[b]) > 0.0:
                    out["lending_removed"][y + 1][col_bank + b] += vol[v] * f * float(bk.slowdown[b])
                    f *= 1.0 - float(bk.slowdown[b])
                throttle[v] = f

    # ---- outputs ---------------------------------------------------------------------
    out["party"] = led.party
    out["entity"] = led.entity
    out["net"] = [sum(row) for row in led.party]
    out["product_party"] = [[led.product[y], out["product_ultimate"][y]] for y in range(H)]
    del out["product_ultimate"]
    # READING R13: pending payments = over the years after the horizon, each entity's (party's)
    # net payment of that year when positive (payments less reimbursements received)
    pending_payments = sum(max(0.0, x) for x in led.after.values())
    out["pending"] = [pending_payments, led.pending_recoveries]
    out["public_flows"] = public_flows
    out["throttle"] = throttle
    return out


def reference_waterfall(wf, book, raw, paths=None, **readings) -> dict:
    """:func:`reference_path` over ``paths`` (default all) of a run's ``raw`` outputs (kept
    with ``keep="all"``): {output name: numpy array with a leading path axis}, and
    ``throttle``: a list of {vintage: factor} per path."""
    import numpy as np

    n = raw["segment_ead"].shape[0]
    paths = range(n) if paths is None else paths
    rows = [reference_path(wf, book, raw["segment_ead"][i], raw["segment_loss"][i],
                           raw["segment_balance"][i], raw["segment_balance_end"][i], **readings)
            for i in paths]
    H = raw["segment_ead"].shape[1]
    NB, NG, NP, NI = len(wf.bank_names), len(wf.guarantor_names), len(wf.pool_names), len(wf.insurer_names)
    NE = NB + NG + NP + NI
    shapes = {  # (nested lists lose their trailing axes when one of them is empty)
        "party": (H, 8), "entity": (H, NE), "net": (H,), "party_ultimate": (H, 8),
        "entity_ultimate": (H, NE), "product_party": (H, 2, 3, 8), "pool_balance": (H + 1, NP + 1),
        "pool_unpaid": (H, NP + 1), "pool_npl": (H, NP), "pool_bank_npl": (H, NP, NB),
        "pool_suspended": (H, NP), "guarantor_net_assets": (H + 1, NG + 1),
        "guarantor_leverage": (H, NG + 1), "npl": (H, NB), "nf_rate_precap": (H,), "nf_binds": (H,),
        "nf_payout_rate": (H,), "nf_moved": (H,), "nf_line_moved": (H,), "gov_moved": (H,),
        "gov_exhausted": (H,), "gov_balance": (H + 1,), "premium_subsidy": (H,),
        "insurer_loss_ratio": (H, NI), "insurer_suspended": (H, NI), "public_flows": (H, len(wf.ledger_columns)), "pending": (2,),
        "lending_removed": (H, NG + 1 + 2 * NP + NI + NB + 1), "product_balance": (H, 3),
        "bank_balance": (H, NB), "pool_eligible": (H, NP)}
    res = {name: np.array([row[name] for row in rows], dtype=float).reshape((len(rows),) + shapes[name])
           for name in OUTPUT_NAMES}
    res["throttle"] = [row["throttle"] for row in rows]

    return res
