"""Plain-Python reference for the angel-fund waterfall and IRR (FUNDS.md, "The distribution
waterfall (whole fund, European), per year t" and "Figures").

Written from the spec alone, independently of ``simpool.engine.fundkernels``; used by
``test_fund_waterfall.py``. No numba and no numpy: the arithmetic is generic, so it runs on
floats or on ``fractions.Fraction`` (exact, which the hand-computed cases use).

Readings of the spec chosen here (see the test module's docstring):

* P in the catch-up counts this year's tier-1 payment (it is already distributed).
* Concession: "its cumulative distributions" are the government's cumulative distributions
  *before* the concession (the same money as "the government's distribution" in that
  sentence) and "its cumulative paid-in" is its paid-in over the *whole life*. Paid-in to
  date would cede more than c x its profit whenever capital is called after the government
  is in profit (the management fee is called every year), down to losing capital at c = 1,
  against "(its profit)" and the plan's "cede up to 100% of its profits". With the life
  total the ceded amounts add up to exactly c x max(0, distributions - paid-in). (The first
  version read paid-in to date; the comparison with the kernel showed the two readings
  differ, and this one was kept for the reasons above. FUNDS.md should say which.)
* Rows 1 and 3 are after the concession but *before* the first-loss transfer, which is
  reported separately in row 5 (the Figures subtract "first-loss paid" from the
  government's distributions, and conservation holds on rows 1 + 3 + 4).
"""

from __future__ import annotations

KEYS = ("gov_call", "gov_dist", "priv_call", "priv_dist", "carry", "first_loss")


def reference_waterfall(calls, proceeds, gov_share, hurdle, carry, catch_up, concession,
                        first_loss) -> dict:
    """Return the 6 rows of the kernel's ``out`` as lists of length L (keys in ``KEYS``).

    Per year t (calls at the start, proceeds C_t at the end):

    * the hurdle account A (LP capital plus preferred return still owed) gets the call, then
      grows by (1 + hurdle) over the year;
    * tier 1, return of capital and preferred return: x = min(C, A) to the LPs;
    * tier 2, catch-up (only if ``catch_up``): the manager gets min(C, need),
      need = max(0, carry/(1 - carry) * P - K_gp), P = max(0, LPs' cumulative distributions
      (this year's x included) - LPs' cumulative paid-in), K_gp = carry paid so far;
    * tier 3, split: LPs (1 - carry) * C, manager carry * C;
    * the LPs' distribution d_t goes g * d_t to the government, (1 - g) * d_t to the private
      LPs; then the concession moves c * (the part of g * d_t that lifts the government's
      cumulative distributions above its paid-in over the whole life) to the private LPs;
    * after the last year, if the LPs' total distributions D < total paid-in K, the
      government pays the private LPs (1 - g) * min(K - D, f * K) (row 5, last year).
    """
    L = len(calls)
    g, c = gov_share, concession
    zero = 0 * gov_share
    out = {key: [zero] * L for key in KEYS}
    A = zero          # hurdle account
    lp_paid = zero    # LPs' cumulative paid-in
    lp_dist = zero    # LPs' cumulative distributions
    gp = zero         # manager's cumulative carry K_gp
    gov_paid = g * sum(calls, zero)  # government's paid-in over the whole life
    gov_gross = zero  # government's cumulative distributions before the concession
    for t in range(L):
        out["gov_call"][t] = g * calls[t]
        out["priv_call"][t] = (1 - g) * calls[t]
        lp_paid += calls[t]
        A = (A + calls[t]) * (1 + hurdle)

        C = proceeds[t]
        x = min(C, A)                                    # tier 1
        A -= x
        C -= x
        lp_dist += x
        to_gp = zero
        if catch_up:                                     # tier 2
            P = max(zero, lp_dist - lp_paid)
            need = max(zero, carry / (1 - carry) * P - gp)
            to_gp = min(C, need)
            C -= to_gp
        d = x + (1 - carry) * C                          # tier 3
        to_gp += carry * C
        lp_dist += (1 - carry) * C
        gp += to_gp
        out["carry"][t] = to_gp

        gov_before = gov_gross
        gov_gross += g * d
        profit_part = max(zero, gov_gross - gov_paid) - max(zero, gov_before - gov_paid)
        ceded = c * profit_part
        out["gov_dist"][t] = g * d - ceded
        out["priv_dist"][t] = (1 - g) * d + ceded

    if L and lp_dist < lp_paid:
        out["first_loss"][L - 1] = (1 - g) * min(lp_paid - lp_dist, first_loss * lp_paid)
    return out


def reference_npv(calls, dists, rate) -> float:
    """sum_t dist_t (1 + r)^-(t+1) - sum_t calls_t (1 + r)^-t (calls at the start of year t,
    distributions at its end); the IRR is its root."""
    v = 1.0 / (1.0 + rate)
    return sum(float(d) * v ** (t + 1) - float(k) * v ** t
               for t, (k, d) in enumerate(zip(calls, dists)))


def reference_irr(calls, dists) -> float:
    """Bisection for the root of ``reference_npv`` on (-1, 100]; -1.0 when nothing comes back.

    The NPV tends to +inf as r -> -1 (a distribution is the latest flow) and is taken to be
    negative at 100 (otherwise 100 is returned, the top of the bracket)."""
    if all(float(d) == 0.0 for d in dists):
        return -1.0
    lo, hi = -1.0, 100.0
    if reference_npv(calls, dists, hi) >= 0.0:
        return hi
    for _ in range(2000):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        try:
            positive = reference_npv(calls, dists, mid) > 0.0
        except OverflowError:  # (1 + mid)^-(t+1) beyond float range: mid is near -1
            positive = True
        if positive:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
