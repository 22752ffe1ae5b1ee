"""The planned loan book of a binomial cohort: its vintages' loan counts and borrowers per loan.

The planned book is the demand (POLICY.md, "The loan book over time"): the start book, then
each year the loans growth adds, the loans that matured the year before (``rollover``) and the
first-time borrowers' loans. Pure Python on a validated cohort, shared by the scenario checks
(a book too large for the engine is an error at validation, naming the key behind it) and the
engine's plan (:func:`simpool.engine.plan.vintages`).
"""

from __future__ import annotations

from typing import NamedTuple

#: Most loans a cohort (and hence one of its vintages) may hold: the scenario's limit on
#: ``cohorts.*.loans``.
MAX_COHORT_LOANS = 10**12


class Planned(NamedTuple):
    counts: list  # loans of the vintage starting in each year (0: the start book)
    borrowers_per_loan: list  # per vintage
    first: list  # of counts: first-time borrowers' loans
    grown: list  # of counts: the loans growth adds (repeat or new borrowers)


def planned(c, n_years: int) -> Planned:
    """The vintages of binomial cohort ``c`` over ``n_years`` (see the module docstring).

    With ``growth`` g, year y >= 1 adds round(n0 ((1 + g)^y - (1 + g)^(y-1))) loans, plus
    (``rollover``) the loans that matured at the end of year y - 1, plus (``new_borrowers`` m)
    round(m (1 + gm)^(y-1)) first-time borrowers with ``loans_per_new_borrower`` loans each.
    Borrowers per loan: the start book's ``borrowers / loans``; rolled-over loans keep the
    ratio of the loans they replace; loans growth adds are repeat borrowers' (0) when the
    cohort has ``new_borrowers``, else new borrowers at the start book's ratio; first-time
    borrowers' loans 1 / ``loans_per_new_borrower``; a vintage mixing them gets the
    loan-weighted ratio. Negative growth: the shortfall that cannot be called back is carried
    forward and offsets later rollovers, the vintage's mix of borrowers kept.
    """
    term = c.term_years
    g = c.growth
    bw0 = (c.borrowers / c.loans if c.borrowers is not None else 1.0) if c.loans else 1.0
    bw_growth = 0.0 if c.new_borrowers is not None else bw0
    counts = [c.loans] + [0] * (n_years - 1)
    bws = [bw0] * n_years
    firsts = [0] * n_years
    grown = [0] * n_years
    owed = 0  # loans the shrinking target wants gone but that could not be called back
    for y in range(1, n_years):
        try:
            grow = round(c.loans * ((1 + g) ** y - (1 + g) ** (y - 1))) if g else 0
        except OverflowError:
            grow = MAX_COHORT_LOANS + 1
        rolled = 0
        rolled_b = 0.0
        if term is not None and c.rollover:
            for v in range(y):
                if v + term == y:
                    rolled += counts[v]
                    rolled_b += counts[v] * bws[v]
        first = 0
        if c.new_borrowers:
            try:
                first = round(c.new_borrowers * (1 + c.new_borrower_growth) ** (y - 1)) \
                    * c.loans_per_new_borrower
            except OverflowError:
                first = MAX_COHORT_LOANS + 1
        new = rolled + grow + first + owed
        owed = min(0, new)
        counts[y] = max(0, new)
        firsts[y] = first
        grown[y] = grow
        plan = rolled + max(grow, 0) + first
        if plan > 0:
            bws[y] = (rolled_b + max(grow, 0) * bw_growth
                      + first / c.loans_per_new_borrower) / plan
    return Planned(counts, bws, firsts, grown)


def too_large(c, n_years: int) -> tuple[int, str, str] | None:
    """(year index, key, message) when a vintage of ``c`` would hold more than
    :data:`MAX_COHORT_LOANS` loans, naming the key behind it (``new_borrowers`` when the
    first-time borrowers' loans alone pass the limit or are the larger part, else
    ``growth``); None when the book fits."""
    p = planned(c, n_years)
    for y, n in enumerate(p.counts):
        if n > MAX_COHORT_LOANS:
            if p.first[y] > MAX_COHORT_LOANS or p.first[y] > max(p.grown[y], 0):
                key = "new_borrowers"
                why = (f"{c.new_borrowers:,} new borrowers a year (growing "
                       f"{c.new_borrower_growth:g} a year) x {c.loans_per_new_borrower} loans")
                fix = "lower new_borrowers, new_borrower_growth or loans_per_new_borrower"
            else:
                key = "growth"
                why = f"growth {c.growth:g} over {n_years} years"
                fix = "lower growth or simulation.horizon_years"
            return y, key, (f"{why} makes {n:.3g} new loans in year {y + 1} of the horizon, "
                            f"above the {MAX_COHORT_LOANS:.0e} loans a cohort may hold; {fix}")
    return None
