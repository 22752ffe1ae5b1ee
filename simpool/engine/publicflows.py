"""Public money outside the credit-loss waterfall, per path and year (POLICY.md, "Public
money" and "The 四补"): the 四补 a guarantor receives at the year's end and the year's
interest and premium subsidies, each booked to its column of the ``public_flows`` output
(:class:`simpool.engine.inputs.Ledger`). Called by :mod:`simpool.engine.waterfall`."""

from __future__ import annotations

from ._jit import jit

# the guarantors' 四补 (simpool.engine.inputs.SUPPORT_FLOWS: the columns of Ledger.g_col)
GS_FEE, GS_INJECTION, GS_TOP_UP, GS_COMPENSATION, GS_REWARD = 0, 1, 2, 3, 4


@jit(inline="always")
def book(ip, y, col, amount, out):
    """Book ``amount`` yuan of public money to ledger column ``col`` (-1: no column)."""
    if col >= 0:
        out.public_flows[ip, y, col] += amount


@jit(inline="always")
def support(ip, y, g, fee_subsidy, injection, payouts, na, na0, ledger, st, out):
    """The 四补 guarantor ``g`` (``NG``: the re-guarantor) receives at the year's end, yuan:
    fee subsidy, capital injection, payout compensation (a share of the year's net payouts),
    business reward (of its small-loan balance), then the capital top-up that restores its
    starting net assets ``na0`` or keeps its weighted liability at most ``top_up_leverage``
    times its net assets. ``na``: its net assets before any of them."""
    comp = ledger.comp_rate[g] * max(payouts, 0.0)
    reward = ledger.reward_rate[g] * st.g_small[g]
    before = fee_subsidy + injection + comp + reward
    after = na + before
    rule = ledger.top_up_rule[g]
    top = 0.0
    if rule == 1:
        top = max(na0 - after, 0.0)
    elif rule == 2:
        top = max(st.g_liab[g] / ledger.top_up_leverage[g] - after, 0.0)
    book(ip, y, ledger.g_col[g, GS_FEE], fee_subsidy, out)
    book(ip, y, ledger.g_col[g, GS_INJECTION], injection, out)
    book(ip, y, ledger.g_col[g, GS_COMPENSATION], comp, out)
    book(ip, y, ledger.g_col[g, GS_REWARD], reward, out)
    book(ip, y, ledger.g_col[g, GS_TOP_UP], top, out)
    return before + top


@jit(inline="always")
def subsidies(ip, y, routes, ledger, out):
    """Interest subsidies (on the performing balance: the balance at the year's start less
    half the year's defaults, defaults falling evenly over the year) and premium subsidies
    (a share of the insured loans' premium) of year ``y``, yuan."""
    for s in range(routes.product.shape[0]):
        b = out.segment_balance[ip, y, s]
        if ledger.isub_col[s] >= 0 and y < ledger.isub_years[s]:
            performing = max(b - 0.5 * out.segment_ead[ip, y, s], 0.0)
            out.public_flows[ip, y, ledger.isub_col[s]] += ledger.isub_rate[s] * performing
        if ledger.psub_col[s] >= 0:
            out.public_flows[ip, y, ledger.psub_col[s]] += ledger.psub_rate[s] * b \
                * routes.premium_rate[s]
