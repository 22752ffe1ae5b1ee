"""The angel fund's waterfall and IRR kernels (``simpool.engine.fundkernels``) against FUNDS.md.

Three layers, none of which takes an expected value from the code under test:

* hand-computed cases (numbers worked out by hand, arithmetic in the comments), run against
  the kernel and, in exact ``Fraction`` arithmetic, against the plain-Python reference
  ``fund_reference.py`` (so the reference itself is pinned by the hand numbers);
* hypothesis: kernel == reference on random funds, and invariants read off the spec
  (conservation, pro-rata split, concession and first-loss bounds, carry bounds, scaling);
* IRR: closed cases and random conventional cash flows (NPV ~ 0 at the returned rate).

Spec readings (FUNDS.md is silent or loose on these; the reference documents them too):

* Rows 1 and 3 of ``out`` are after the concession and before the first-loss transfer, which
  is row 5 (the Figures compute "government distributions - first-loss paid").
* The catch-up's P counts this year's tier-1 payment.
* The concession compares the government's cumulative distributions *before* the concession
  with its paid-in over the *whole life* (FUNDS.md says "cumulative paid-in"; paid-in to date
  would cede more than c x the profit once capital, e.g. the yearly fee, is called after the
  government is in profit: see the case "f_concession_call_after_profit"). Then the ceded
  amounts add up to exactly c x max(0, distributions - paid-in) on every schedule.
* IRR: FUNDS.md brackets the root on (-1, 10], so 10 is the largest rate returned.
"""

from __future__ import annotations

from fractions import Fraction

import fund_reference as ref
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simpool import fundkernels as fk

KEYS = ref.KEYS
PROPS = settings(max_examples=200, deadline=None)


def kernel(calls, proceeds, g, h, k, cu, c, f):
    calls = np.asarray(calls, dtype=np.float64)
    proceeds = np.asarray(proceeds, dtype=np.float64)
    out = np.zeros((6, len(calls)))
    fk.fund_waterfall(calls, proceeds, float(g), float(h), float(k), bool(cu), float(c),
                      float(f), out)
    return dict(zip(KEYS, out))


def exact(x):
    """A float literal as the decimal it was written as (0.08 -> 2/25)."""
    return Fraction(repr(float(x)))


# --------------------------------------------------------------------------------------------
# Hand-computed cases. args = (calls, proceeds, g, hurdle, carry, catch_up, concession, f);
# expected = the six rows of out. A is the hurdle account, x the tier-1 payment, C what is left
# of the year's proceeds, d the LPs' distribution, "mgr" the manager.
# --------------------------------------------------------------------------------------------
def rows(**expected):
    """The six expected rows of a hand case, all of them named."""
    assert tuple(expected) == KEYS
    return expected


CASES = {
    # (a) gain, hurdle 8 %, carry 20 %, no catch-up, g = 0.9.
    # A = 100 * 1.08 = 108; x = 108, C = 200 - 108 = 92; split: LPs 0.8 * 92 = 73.6,
    # mgr 0.2 * 92 = 18.4; d = 108 + 73.6 = 181.6; gov 0.9 * 181.6 = 163.44, private 18.16.
    # Check: 163.44 + 18.16 + 18.4 = 200.
    "a_gain_no_catch_up": (
        ([100.0], [200.0], 0.9, 0.08, 0.2, False, 0.0, 0.0),
        rows(gov_call=[90.0], gov_dist=[163.44], priv_call=[10.0], priv_dist=[18.16],
             carry=[18.4], first_loss=[0.0])),
    # (b) the same with catch-up. x = 108, C = 92; P = 108 - 100 = 8,
    # need = 0.2/0.8 * 8 - 0 = 2 -> mgr 2, C = 90; split: LPs 72, mgr 18.
    # carry = 2 + 18 = 20 = 0.2 * (200 - 100) (full catch-up); d = 108 + 72 = 180;
    # gov 0.9 * 180 = 162, private 18. Check: 162 + 18 + 20 = 200.
    "b_gain_catch_up": (
        ([100.0], [200.0], 0.9, 0.08, 0.2, True, 0.0, 0.0),
        rows(gov_call=[90.0], gov_dist=[162.0], priv_call=[10.0], priv_dist=[18.0],
             carry=[20.0], first_loss=[0.0])),
    # (b') catch-up not completed: proceeds 109. x = 108, C = 1; need = 2 -> mgr min(1, 2) = 1,
    # C = 0, nothing to split. carry 1; d = 108; gov 97.2, private 10.8.
    "b_partial_catch_up": (
        ([100.0], [109.0], 0.9, 0.08, 0.2, True, 0.0, 0.0),
        rows(gov_call=[90.0], gov_dist=[97.2], priv_call=[10.0], priv_dist=[10.8],
             carry=[1.0], first_loss=[0.0])),
    # (c) loss: proceeds 60 < paid-in 100 (catch-up on and concession 1: neither may act).
    # A = 108; x = min(60, 108) = 60, C = 0 -> carry 0; d = 60; gov 0.9 * 60 = 54 (loses
    # 36 of 90 = 40 %), private 6 (loses 4 of 10 = 40 %): pro rata. No profit, nothing ceded.
    "c_loss": (
        ([100.0], [60.0], 0.9, 0.08, 0.2, True, 1.0, 0.0),
        rows(gov_call=[90.0], gov_dist=[54.0], priv_call=[10.0], priv_dist=[6.0],
             carry=[0.0], first_loss=[0.0])),
    # (d) proceeds exactly at the hurdle (hurdle 25 % so that every number is exact binary).
    # A = 100 * 1.25 = 125; x = 125, C = 0 -> carry 0 (catch-up: min(0, 0.25 * 25) = 0);
    # LPs get capital 100 + preferred return 25 = 125; gov 62.5, private 62.5.
    "d_at_hurdle": (
        ([100.0], [125.0], 0.5, 0.25, 0.2, True, 0.0, 0.0),
        rows(gov_call=[50.0], gov_dist=[62.5], priv_call=[50.0], priv_dist=[62.5],
             carry=[0.0], first_loss=[0.0])),
    # (d') at the hurdle after two years of compounding: A = 100 * 1.08 = 108 (year 0, nothing
    # paid), 108 * 1.08 = 116.64 (year 1) = the proceeds; x = 116.64, carry 0; gov/priv 58.32.
    "d_at_hurdle_two_years": (
        ([100.0, 0.0], [0.0, 116.64], 0.5, 0.08, 0.2, False, 0.0, 0.0),
        rows(gov_call=[50.0, 0.0], gov_dist=[0.0, 58.32], priv_call=[50.0, 0.0],
             priv_dist=[0.0, 58.32], carry=[0.0, 0.0], first_loss=[0.0, 0.0])),
    # (e) first loss f = 0.2 (f * K = 20), g = 0.9, loss smaller than f * K.
    # Proceeds 50 + 40 = 90 < hurdle account (108, then 58 * 1.08 = 62.64): all to LPs, no
    # carry. gov 45, 36; private 5, 4. D = 90, K = 100, K - D = 10 < 20:
    # transfer (1 - 0.9) * 10 = 1, in the last year only. Private: 9 + 1 = 10 = its capital
    # (made whole); government 81 - 1 = 80: it bears the whole loss of 10.
    "e_first_loss_small": (
        ([100.0, 0.0], [50.0, 40.0], 0.9, 0.08, 0.2, False, 0.0, 0.2),
        rows(gov_call=[90.0, 0.0], gov_dist=[45.0, 36.0], priv_call=[10.0, 0.0],
             priv_dist=[5.0, 4.0], carry=[0.0, 0.0], first_loss=[0.0, 1.0])),
    # (e') loss larger than f * K: proceeds 30 + 20 = 50; gov 27, 18; private 3, 2.
    # K - D = 50 > 20: transfer 0.1 * min(50, 20) = 2. Government bears 20 + 0.9 * 30 = 47
    # (= 90 - 45 + 2), private 0.1 * 30 = 3 (= 10 - 5 - 2).
    "e_first_loss_large": (
        ([100.0, 0.0], [30.0, 20.0], 0.9, 0.08, 0.2, False, 0.0, 0.2),
        rows(gov_call=[90.0, 0.0], gov_dist=[27.0, 18.0], priv_call=[10.0, 0.0],
             priv_dist=[3.0, 2.0], carry=[0.0, 0.0], first_loss=[0.0, 2.0])),
    # (f) concession on the gain of (a) with g = 0.5: d = 181.6, carry 18.4; government before
    # the concession 0.5 * 181.6 = 90.8 against paid-in 50: profit 40.8.
    # c = 0: gov 90.8, private 90.8.
    "f_concession_0": (
        ([100.0], [200.0], 0.5, 0.08, 0.2, False, 0.0, 0.0),
        rows(gov_call=[50.0], gov_dist=[90.8], priv_call=[50.0], priv_dist=[90.8],
             carry=[18.4], first_loss=[0.0])),
    # c = 0.5: ceded 0.5 * 40.8 = 20.4; gov 90.8 - 20.4 = 70.4, private 90.8 + 20.4 = 111.2.
    "f_concession_half": (
        ([100.0], [200.0], 0.5, 0.08, 0.2, False, 0.5, 0.0),
        rows(gov_call=[50.0], gov_dist=[70.4], priv_call=[50.0], priv_dist=[111.2],
             carry=[18.4], first_loss=[0.0])),
    # c = 1: ceded 40.8; gov keeps exactly its capital 50, private 90.8 + 40.8 = 131.6.
    "f_concession_full": (
        ([100.0], [200.0], 0.5, 0.08, 0.2, False, 1.0, 0.0),
        rows(gov_call=[50.0], gov_dist=[50.0], priv_call=[50.0], priv_dist=[131.6],
             carry=[18.4], first_loss=[0.0])),
    # (f') the government crosses its paid-in within a year. hurdle 0, c = 0.5, g = 0.5.
    # Year 0: A = 100, x = 30, A = 70; d = 30; gov 15 (cumulative 15 <= 50).
    # Year 1: x = 60, A = 10; d = 60; gov 30 (cumulative 45 <= 50).
    # Year 2: x = 10, C = 50: LPs 40, mgr 10; d = 50; gov 25 lifts 45 to 70, i.e. 20 above 50:
    # ceded 0.5 * 20 = 10 -> gov 15, private 25 + 10 = 35. Check: 15 + 35 + 10 = 60.
    "f_concession_crossing": (
        ([100.0, 0.0, 0.0], [30.0, 60.0, 60.0], 0.5, 0.0, 0.2, False, 0.5, 0.0),
        rows(gov_call=[50.0, 0.0, 0.0], gov_dist=[15.0, 30.0, 15.0],
             priv_call=[50.0, 0.0, 0.0], priv_dist=[15.0, 30.0, 35.0],
             carry=[0.0, 0.0, 10.0], first_loss=[0.0, 0.0, 0.0])),
    # (f'') capital called after the government is in profit (c = 1, hurdle 0, g = 0.5).
    # Year 0: A = 100, x = 100, C = 50: LPs 40, mgr 10; d = 140; government 70 before the
    # concession, below its paid-in over the life (50 + 50 = 100): nothing ceded; 70 / 70.
    # Year 1: A = 0 + 100 = 100, the same split: d = 140, mgr 10; government cumulative
    # 70 + 70 = 140, 40 above 100: ceded 40 -> gov 30, private 70 + 40 = 110.
    # Government: 70 + 30 = 100 = its capital; it cedes its whole profit 40, no more.
    # (Paid-in to date would cede 20 in year 0 and 40 in year 1: 60 > its profit.)
    "f_concession_call_after_profit": (
        ([100.0, 100.0], [150.0, 150.0], 0.5, 0.0, 0.2, False, 1.0, 0.0),
        rows(gov_call=[50.0, 50.0], gov_dist=[70.0, 30.0], priv_call=[50.0, 50.0],
             priv_dist=[70.0, 110.0], carry=[10.0, 10.0], first_loss=[0.0, 0.0])),
    # (g) calls 100 in years 0-2, proceeds 200, 300, 100 in years 3-5; hurdle 10 % compounds.
    # A: year 0: 100 * 1.1 = 110; year 1: (110 + 100) * 1.1 = 231; year 2: 331 * 1.1 = 364.1;
    # year 3: 364.1 * 1.1 = 400.51, x = 200, A = 200.51; year 4: 200.51 * 1.1 = 220.561,
    # x = 220.561, A = 0, C = 300 - 220.561 = 79.439: LPs 0.8 * 79.439 = 63.5512,
    # mgr 15.8878; d = 284.1122; year 5: A = 0, LPs 80, mgr 20.
    # g = 0.5: gov = private = 100, 142.0561, 40. Check: 564.1122 + 35.8878 = 600.
    "g_multi_year": (
        ([100.0, 100.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 200.0, 300.0, 100.0],
         0.5, 0.1, 0.2, False, 0.0, 0.0),
        rows(gov_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             gov_dist=[0.0, 0.0, 0.0, 100.0, 142.0561, 40.0],
             priv_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             priv_dist=[0.0, 0.0, 0.0, 100.0, 142.0561, 40.0],
             carry=[0.0, 0.0, 0.0, 0.0, 15.8878, 20.0], first_loss=[0.0] * 6)),
    # (g') with catch-up. Year 4: after x, LPs' cumulative distributions 200 + 220.561 =
    # 420.561, paid-in 300, P = 120.561; need = 0.25 * 120.561 = 30.14025 -> mgr; C = 79.439 -
    # 30.14025 = 49.29875: LPs 39.439, mgr 9.85975; d = 220.561 + 39.439 = 260,
    # carry 30.14025 + 9.85975 = 40 = 0.2 * (500 - 300). Year 5: P = 460 - 300 = 160,
    # need = 0.25 * 160 - 40 = 0; split 80 / 20. Total carry 60 = 0.2 * (600 - 300).
    "g_multi_year_catch_up": (
        ([100.0, 100.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 200.0, 300.0, 100.0],
         0.5, 0.1, 0.2, True, 0.0, 0.0),
        rows(gov_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             gov_dist=[0.0, 0.0, 0.0, 100.0, 130.0, 40.0],
             priv_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             priv_dist=[0.0, 0.0, 0.0, 100.0, 130.0, 40.0],
             carry=[0.0, 0.0, 0.0, 0.0, 40.0, 20.0], first_loss=[0.0] * 6)),
    # (g'') (g) with concession 0.5: government paid-in 150; before the concession it gets
    # 100 (cumulative 100), 142.0561 (cumulative 242.0561: 92.0561 above 150 -> ceded
    # 46.02805), 40 (all profit -> ceded 20). gov 100, 96.02805, 20; private 100,
    # 142.0561 + 46.02805 = 188.08415, 60.
    "g_multi_year_concession": (
        ([100.0, 100.0, 100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 200.0, 300.0, 100.0],
         0.5, 0.1, 0.2, False, 0.5, 0.0),
        rows(gov_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             gov_dist=[0.0, 0.0, 0.0, 100.0, 96.02805, 20.0],
             priv_call=[50.0, 50.0, 50.0, 0.0, 0.0, 0.0],
             priv_dist=[0.0, 0.0, 0.0, 100.0, 188.08415, 60.0],
             carry=[0.0, 0.0, 0.0, 0.0, 15.8878, 20.0], first_loss=[0.0] * 6)),
    # (h) a call after a distribution: the hurdle account restarts from the new call.
    # Year 0: A = 108, x = 108, C = 42: LPs 33.6, mgr 8.4; d = 141.6. Year 1: A = (0 + 100) *
    # 1.08 = 108, the same again. gov = private = 70.8 each year.
    "h_call_after_distribution": (
        ([100.0, 100.0], [150.0, 150.0], 0.5, 0.08, 0.2, False, 0.0, 0.0),
        rows(gov_call=[50.0, 50.0], gov_dist=[70.8, 70.8], priv_call=[50.0, 50.0],
             priv_dist=[70.8, 70.8], carry=[8.4, 8.4], first_loss=[0.0, 0.0])),
    # (h') with catch-up. Year 0: P = 8, need 2, C = 40: LPs 32, mgr 8; carry 10, d = 140.
    # Year 1: x = 108; LPs' cumulative 140 + 108 = 248, paid-in 200, P = 48;
    # need = 0.25 * 48 - 10 = 2; C = 40: LPs 32, mgr 8; carry 10, d = 140.
    "h_call_after_distribution_catch_up": (
        ([100.0, 100.0], [150.0, 150.0], 0.5, 0.08, 0.2, True, 0.0, 0.0),
        rows(gov_call=[50.0, 50.0], gov_dist=[70.0, 70.0], priv_call=[50.0, 50.0],
             priv_dist=[70.0, 70.0], carry=[10.0, 10.0], first_loss=[0.0, 0.0])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_case_kernel(name):
    args, expected = CASES[name]
    got = kernel(*args)
    for key in KEYS:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-12, atol=1e-9,
                                   err_msg=f"{name}: row {key}")


@pytest.mark.parametrize("name", list(CASES))
def test_hand_case_reference_exact(name):
    (calls, proceeds, g, h, k, cu, c, f), expected = CASES[name]
    got = ref.reference_waterfall([exact(x) for x in calls], [exact(x) for x in proceeds],
                                  exact(g), exact(h), exact(k), cu, exact(c), exact(f))
    for key in KEYS:
        assert got[key] == [exact(x) for x in expected[key]], f"{name}: row {key}"


@pytest.mark.parametrize("name", ["d_at_hurdle", "c_loss"])
def test_no_carry_is_exactly_zero(name):
    """At or below the hurdle (exact binary numbers) the manager gets exactly nothing."""
    args, _ = CASES[name]
    assert np.all(kernel(*args)["carry"] == 0.0)


def test_concession_zero_half_one_against_each_other():
    """(f): the government keeps its capital and cedes c x its profit, for c = 0, 0.5, 1."""
    base = ([100.0], [200.0], 0.5, 0.08, 0.2, False)
    profit = 40.8  # 0.5 * 181.6 - 50, see case (a) and (f)
    for c in (0.0, 0.5, 1.0):
        got = kernel(*base, c, 0.0)
        assert got["gov_dist"].sum() == pytest.approx(50.0 + (1 - c) * profit, rel=1e-12)
        assert got["priv_dist"].sum() == pytest.approx(90.8 + c * profit, rel=1e-12)


# --------------------------------------------------------------------------------------------
# Random funds
# --------------------------------------------------------------------------------------------
amount = st.one_of(st.just(0.0), st.integers(1, 1000).map(float),
                   st.floats(0.01, 1000.0, allow_nan=False, allow_infinity=False))
params = st.fixed_dictionaries({
    "g": st.one_of(st.sampled_from([0.0, 0.5, 0.9, 1.0]), st.floats(0.0, 1.0)),
    "h": st.one_of(st.sampled_from([0.0, 0.08]), st.floats(0.0, 0.3)),
    "k": st.one_of(st.sampled_from([0.0, 0.2]), st.floats(0.0, 0.5)),
    "cu": st.booleans(),
    "c": st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0)),
    "f": st.one_of(st.sampled_from([0.0, 0.2, 0.5]), st.floats(0.0, 1.0)),
})


@st.composite
def any_fund(draw):
    """Any schedule: calls and proceeds in any years (calls may follow distributions)."""
    n = draw(st.integers(1, 10))
    calls = draw(st.lists(amount, min_size=n, max_size=n))
    proceeds = draw(st.lists(amount, min_size=n, max_size=n))
    return calls, proceeds, draw(params)


@st.composite
def conventional_fund(draw):
    """Calls only in years 0..m, proceeds only in years m..L-1 (no call after a distribution;
    real paths also call the fee every year, which ``any_fund`` covers)."""
    n = draw(st.integers(1, 10))
    m = draw(st.integers(0, n - 1))
    calls = draw(st.lists(amount, min_size=m + 1, max_size=m + 1)) + [0.0] * (n - m - 1)
    proceeds = [0.0] * m + draw(st.lists(amount, min_size=n - m, max_size=n - m))
    return calls, proceeds, draw(params)


def run(fund, **override):
    calls, proceeds, p = fund
    p = {**p, **override}
    return kernel(calls, proceeds, p["g"], p["h"], p["k"], p["cu"], p["c"], p["f"])


def scale(fund):
    calls, proceeds, _ = fund
    return 1.0 + sum(calls) + sum(proceeds)


def assert_close(a, b, fund, what=""):
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * scale(fund), err_msg=what)


@PROPS
@given(st.one_of(any_fund(), conventional_fund()))
def test_kernel_equals_reference(fund):
    calls, proceeds, p = fund
    got = run(fund)
    want = ref.reference_waterfall(calls, proceeds, p["g"], p["h"], p["k"], p["cu"], p["c"],
                                   p["f"])
    for key in KEYS:
        assert_close(got[key], want[key], fund, key)


@PROPS
@given(any_fund())
def test_conservation_and_pro_rata_calls(fund):
    calls, proceeds, p = fund
    got = run(fund)
    tol = 1e-9 * scale(fund)
    # government + private + manager = the year's proceeds (first loss is not in rows 1, 3)
    assert_close(got["gov_dist"] + got["priv_dist"] + got["carry"], proceeds, fund)
    assert_close(got["gov_call"], p["g"] * np.asarray(calls), fund)
    assert_close(got["gov_call"] + got["priv_call"], calls, fund)
    for key in ("gov_dist", "priv_dist", "carry", "first_loss"):
        assert np.all(got[key] >= -tol), key
    # the LPs' total per year and the carry do not depend on g, the concession or first loss
    other = run(fund, g=1.0 - p["g"], c=1.0 - p["c"], f=1.0 - p["f"])
    assert_close(got["gov_dist"] + got["priv_dist"], other["gov_dist"] + other["priv_dist"],
                 fund)
    assert_close(got["carry"], other["carry"], fund)


@PROPS
@given(any_fund())
def test_first_loss_transfer(fund):
    calls, _, p = fund
    got = run(fund)
    K = sum(calls)
    D = float(np.sum(got["gov_dist"] + got["priv_dist"]))
    fl = got["first_loss"]
    assert np.all(fl[:-1] == 0.0)  # last year only
    expected = (1 - p["g"]) * min(max(0.0, K - D), p["f"] * K)
    assert fl[-1] == pytest.approx(expected, rel=1e-9, abs=1e-9 * scale(fund))
    assert fl[-1] <= (1 - p["g"]) * p["f"] * K + 1e-9 * scale(fund)
    # the transfer only moves money government -> private: rows 0-4 ignore f entirely
    without = run(fund, f=0.0)
    assert np.all(without["first_loss"] == 0.0)
    for key in KEYS[:5]:
        assert_close(got[key], without[key], fund, key)
    # more protection never pays less
    more = run(fund, f=min(1.0, p["f"] + 0.25))
    assert more["first_loss"][-1] >= fl[-1] - 1e-9 * scale(fund)


@PROPS
@given(conventional_fund())
def test_first_loss_shares_the_loss_as_specified(fund):
    """No concession: the government bears the first f K of the loss, the rest pro rata."""
    calls, _, p = fund
    got = run(fund, c=0.0)
    K, g, f = sum(calls), p["g"], p["f"]
    D = float(np.sum(got["gov_dist"] + got["priv_dist"]))
    loss = max(0.0, K - D)
    priv_net = got["priv_dist"].sum() + got["first_loss"].sum()
    gov_net = got["gov_dist"].sum() - got["first_loss"].sum()
    tol = 1e-9 * scale(fund)
    if loss > 0:
        assert (1 - g) * K - priv_net == pytest.approx((1 - g) * max(0.0, loss - f * K),
                                                       abs=tol)
        assert g * K - gov_net == pytest.approx(min(loss, f * K) + g * max(0.0, loss - f * K),
                                                abs=tol)


@PROPS
@given(any_fund(), st.floats(0.0, 1.0))
def test_concession_moves_money_from_government_to_private(fund, c2):
    none = run(fund, c=0.0)
    tol = 1e-9 * scale(fund)
    # without concession the LPs' distribution is split exactly pro rata
    g = fund[2]["g"]
    assert_close((1 - g) * none["gov_dist"], g * none["priv_dist"], fund)
    lo, hi = sorted((fund[2]["c"], c2))
    a, b = run(fund, c=lo), run(fund, c=hi)
    for got in (a, b):
        assert np.all(got["gov_dist"] <= none["gov_dist"] + tol)
        assert np.all(got["priv_dist"] >= none["priv_dist"] - tol)
        assert_close(got["gov_dist"] + got["priv_dist"], none["gov_dist"] + none["priv_dist"],
                     fund)
        assert_close(got["carry"], none["carry"], fund)
    assert b["gov_dist"].sum() <= a["gov_dist"].sum() + tol
    assert b["priv_dist"].sum() >= a["priv_dist"].sum() - tol


@PROPS
@given(st.one_of(any_fund(), conventional_fund()))
def test_concession_cedes_c_times_the_government_profit(fund):
    """The government keeps min(G, K_g) + (1 - c) max(0, G - K_g): its capital and 1 - c of
    its profit (G its distributions without concession, K_g its paid-in)."""
    calls, _, p = fund
    G = run(fund, c=0.0)["gov_dist"].sum()
    Kg = p["g"] * sum(calls)
    got = run(fund)
    profit = max(0.0, G - Kg)
    tol = 1e-9 * scale(fund)
    assert got["gov_dist"].sum() == pytest.approx(G - p["c"] * profit, abs=tol)
    priv0 = run(fund, c=0.0)["priv_dist"].sum()
    assert got["priv_dist"].sum() == pytest.approx(priv0 + p["c"] * profit, abs=tol)
    full = run(fund, c=1.0)
    assert full["gov_dist"].sum() == pytest.approx(min(G, Kg), abs=tol)


@PROPS
@given(any_fund())
def test_no_carry_while_proceeds_do_not_exceed_calls(fund):
    """hurdle >= 0: as long as cumulative proceeds <= cumulative calls, it all goes to LPs."""
    calls, proceeds, _ = fund
    cum_c, cum_p = np.cumsum(calls), np.cumsum(proceeds)
    got = run(fund)
    upto = np.argmax(cum_p > cum_c) if np.any(cum_p > cum_c) else len(calls)
    assert np.all(got["carry"][:upto] <= 1e-9 * scale(fund))
    if sum(proceeds) <= sum(calls) and upto == len(calls):
        assert_close(got["gov_dist"] + got["priv_dist"], proceeds, fund)


@PROPS
@given(conventional_fund())
def test_carry_bounds_conventional(fund):
    """No call after a distribution: carry <= carry% x total profit; catch-up never lowers it;
    zero when total proceeds <= total calls."""
    calls, proceeds, p = fund
    profit = max(0.0, sum(proceeds) - sum(calls))
    tol = 1e-9 * scale(fund)
    without = run(fund, cu=False)["carry"].sum()
    withcu = run(fund, cu=True)["carry"].sum()
    assert withcu <= p["k"] * profit + tol
    assert without <= p["k"] * profit + tol
    assert withcu >= without - tol
    if sum(proceeds) <= sum(calls):
        assert withcu <= tol and without <= tol
    zero_rate = run(fund, k=0.0)
    assert np.all(zero_rate["carry"] == 0.0)


@PROPS
@given(amount, amount, params)
def test_one_year_closed_form(K, C, p):
    """L = 1: excess R = C - K (1 + h); carry = k R without catch-up, min(R, k (C - K)) with."""
    assume(p["k"] < 1.0)
    fund = ([K], [C], p)
    R = max(0.0, C - K * (1 + p["h"]))
    tol = 1e-9 * (1 + K + C)
    assert run(fund, cu=False)["carry"][0] == pytest.approx(p["k"] * R, abs=tol)
    want = min(R, p["k"] * (C - K)) if R > 0 else 0.0
    assert run(fund, cu=True)["carry"][0] == pytest.approx(want, abs=tol)


@PROPS
@given(any_fund())
def test_extreme_government_shares(fund):
    all_gov = run(fund, g=1.0)
    assert np.all(all_gov["priv_call"] == 0.0)
    assert np.all(all_gov["first_loss"] == 0.0)
    assert np.all(run(fund, g=1.0, c=0.0)["priv_dist"] == 0.0)
    none_gov = run(fund, g=0.0)
    assert np.all(none_gov["gov_call"] == 0.0)
    assert np.all(none_gov["gov_dist"] == 0.0)  # no government profit, nothing to cede


@PROPS
@given(any_fund(), st.integers(1, 3))
def test_scaling_and_time_shift(fund, n_lead):
    calls, proceeds, p = fund
    got = run(fund)
    doubled = run(([2 * x for x in calls], [2 * x for x in proceeds], p))
    halved = run(([0.5 * x for x in calls], [0.5 * x for x in proceeds], p))
    for key in KEYS:
        assert_close(doubled[key], 2 * got[key], fund, key)
        assert_close(halved[key], 0.5 * got[key], fund, key)
    # leading empty years change nothing (the hurdle account is 0 then)
    shifted = run(([0.0] * n_lead + calls, [0.0] * n_lead + proceeds, p))
    for key in KEYS:
        assert np.all(shifted[key][:n_lead] == 0.0)
        assert_close(shifted[key][n_lead:], got[key], fund, key)


# --------------------------------------------------------------------------------------------
# IRR: sum_t calls_t (1 + r)^-t = sum_t dists_t (1 + r)^-(t+1)
# --------------------------------------------------------------------------------------------
IRR_CASES = [
    # 100 = 110 / (1 + r) -> r = 0.10
    ([100.0], [110.0], 0.10),
    # 100 = 121 / (1 + r)^2 -> (1 + r)^2 = 1.21 -> r = 0.10
    ([100.0, 0.0], [0.0, 121.0], 0.10),
    # 100 + 100 / (1 + r) = 231 / (1 + r)^2; at r = 0.1: 100 + 90.909... = 190.909... and
    # 231 / 1.21 = 190.909...; i.e. 121 + 110 = 231.
    ([100.0, 100.0], [0.0, 231.0], 0.10),
    # two-year annuity: 100 = 90 / (1 + r) + 90 / (1 + r)^2; at r = 0.5: 60 + 40 = 100.
    ([100.0, 0.0], [90.0, 90.0], 0.50),
    # nothing gained: 100 = 100 / (1 + r) -> r = 0
    ([100.0], [100.0], 0.0),
    # half lost in a year: 100 = 50 / (1 + r) -> r = -0.5
    ([100.0], [50.0], -0.5),
    # 100 = 55 / (1 + r) + 60.5 / (1 + r)^2; at r = 0.1: 55 / 1.1 + 60.5 / 1.21 = 50 + 50.
    ([100.0, 0.0], [55.0, 60.5], 0.10),
]


@pytest.mark.parametrize("calls,dists,rate", IRR_CASES)
def test_irr_closed_cases(calls, dists, rate):
    got = fk.irr(np.asarray(calls, dtype=np.float64), np.asarray(dists, dtype=np.float64))
    assert got == pytest.approx(rate, abs=1e-7)
    assert ref.reference_irr(calls, dists) == pytest.approx(rate, abs=1e-12)


@pytest.mark.parametrize("calls", [[100.0], [100.0, 50.0, 0.0], [0.0, 100.0, 0.0]])
def test_irr_nothing_back_is_minus_one(calls):
    dists = np.zeros(len(calls))
    assert fk.irr(np.asarray(calls, dtype=np.float64), dists) == -1.0
    assert ref.reference_irr(calls, list(dists)) == -1.0


def test_irr_bracket_top_is_100():
    """Bisection on (-1, 100] (FUNDS.md, Figures): 100 = 20000 / (1 + r) has r = 199, above
    the bracket, so the top of the bracket, 100, is returned."""
    got = fk.irr(np.array([100.0]), np.array([20000.0]))
    assert got == pytest.approx(100.0, abs=1e-7)
    assert ref.reference_irr([100.0], [20000.0]) == 100.0
    # inside the bracket: 100 = 2000 / (1 + r) -> r = 19 (a 1,900% year)
    assert fk.irr(np.array([100.0]), np.array([2000.0])) == pytest.approx(19.0, abs=1e-7)
    assert ref.reference_irr([100.0], [2000.0]) == pytest.approx(19.0, abs=1e-7)


def test_irr_nothing_called_is_nan():
    assert np.isnan(fk.irr(np.zeros(3), np.zeros(3)))


@st.composite
def conventional_flows(draw):
    """Calls in years 0..m, distributions in years m..L-1: one sign change, one root."""
    n = draw(st.integers(1, 10))
    m = draw(st.integers(0, n - 1))
    calls = draw(st.lists(amount, min_size=m + 1, max_size=m + 1))
    assume(sum(calls) > 0)
    dists = draw(st.lists(amount, min_size=n - m, max_size=n - m))
    assume(sum(dists) > 0)
    return calls + [0.0] * (n - m - 1), [0.0] * m + dists


@PROPS
@given(conventional_flows())
def test_irr_random(flows):
    calls, dists = flows
    want = ref.reference_irr(calls, dists)
    assume(-0.5 < want < 5.0)
    got = fk.irr(np.asarray(calls, dtype=np.float64), np.asarray(dists, dtype=np.float64))
    assert got == pytest.approx(want, abs=1e-6)
    size = sum(calls) + sum(dists)
    assert abs(ref.reference_npv(calls, dists, got)) <= 1e-6 * size * 2.0 ** (len(calls) + 1)


@PROPS
@given(conventional_fund())
def test_irr_of_private_lps_rises_with_concession(fund):
    """The private LPs' IRR with a concession is never below the one without it."""
    base, ceded = run(fund, c=0.0, f=0.0), run(fund, c=1.0, f=0.0)
    assume(base["priv_call"].sum() > 0)
    r0 = fk.irr(base["priv_call"], base["priv_dist"])
    r1 = fk.irr(ceded["priv_call"], ceded["priv_dist"])
    assert r1 >= r0 - 1e-9
