"""Plain-Python reference for a guidance fund's split of a sub-fund's LP cash flows among its
investors (FUNDS.md, "Fund of funds"), written from the spec alone, independently of
``simpool.engine.fofkernels``. Generic arithmetic: runs on floats or ``fractions.Fraction``.

The spec, per year t (calls at the start, distributions at the end):

* every investor i gets shares[i] x the LPs' call and distribution (shares[0] the guidance
  fund, the last the private LPs);
* profit concession (goals met): the guidance fund keeps its distributions up to a floor and
  cedes ``c`` x the rest. The floor is its paid-in over the whole life plus a base return:
  each year, before that year's distribution, ``b`` x (its paid-in to date - its
  distributions to date, before the concession, if positive) is added. The ceded amount goes
  ``to_gp`` to the manager and the rest to the private LPs;
* buy-back (goals met): at the end of year N the private LPs buy the stake when
  shares[0] x NAV_N exceeds the price, sum over its calls s <= N of call_s x (1 + b x (N - s
  + 1)) less its distributions to date (not below 0). The price is a private call and a
  guidance distribution of that year; from year N + 1 its calls and distributions are the
  private LPs'.
"""

from __future__ import annotations


def reference_split(calls, dist, shares, mode, c, b, to_gp, buyback_year, nav, goal_met):
    """(calls by investor, distributions by investor, manager's part, bought back): lists."""
    L, n = len(calls), len(shares)
    zero = 0 * shares[0]
    g = shares[0]
    C = [[s * k for k in calls] for s in shares]
    D = [[s * d for d in dist] for s in shares]
    gp = [zero] * L
    floor_left = sum((g * k for k in calls), zero)
    paid = got = zero
    sold = False
    for t in range(L):
        if sold:
            C[-1][t] += C[0][t]
            C[0][t] = zero
            D[-1][t] += D[0][t]
            D[0][t] = zero
            continue
        paid += C[0][t]
        d = D[0][t]
        if goal_met and mode == "profit" and c > 0:
            floor_left += b * max(zero, paid - got)
            kept = min(d, floor_left)
            floor_left -= kept
            ceded = c * (d - kept)
            D[0][t] = d - ceded
            gp[t] = to_gp * ceded
            D[-1][t] += (1 - to_gp) * ceded
        got += d
        if goal_met and mode == "buyback" and t == buyback_year - 1:
            price = sum((g * calls[s] * (1 + b * (t - s + 1)) for s in range(t + 1)), zero) - got
            price = max(price, zero)
            if g * nav[t] > price:
                D[0][t] += price
                C[-1][t] += price
                sold = True
    return C, D, gp, sold
