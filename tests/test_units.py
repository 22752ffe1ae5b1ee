"""Tests for simpool.scenario.units: money amounts in yuan."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simpool.scenario.units import UNITS, format_yuan, parse_money

# --------------------------------------------------------------------------- parse_money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (5, 5.0),
        (1_000_000, 1e6),
        (1.5e8, 1.5e8),
        (-3.25, -3.25),
        (10**20, 1e20),
        (Fraction(3, 2), 1.5),
        (Decimal("1.5e8"), 1.5e8),  # e.g. from tomllib.loads(..., parse_float=Decimal)
    ],
)
def test_numbers_pass_through(value: object, expected: float) -> None:
    result = parse_money(value)
    assert type(result) is float
    assert result == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10亿", 1e9),
        ("1.5亿", 1.5e8),
        ("500万", 5e6),
        ("3000万元", 3e7),
        ("2亿元", 2e8),
        ("1000元", 1000.0),
        ("1千万", 1e7),
        ("5千万元", 5e7),
        ("3百万", 3e6),
        ("2百万元", 2e6),
        ("8千", 8e3),
        ("8千元", 8e3),
        ("4十万", 4e5),
        ("1.2十亿", 1.2e9),
        ("3百亿", 3e10),
        ("2千亿", 2e11),
        ("1万亿", 1e12),
        ("0.5万", 5000.0),
        (".5万", 5000.0),
        ("5.", 5.0),
        ("150000000", 1.5e8),
        ("1e8", 1e8),
        ("1.5E8", 1.5e8),
        ("2.5e-3", 0.0025),
        ("5_000_000", 5e6),
        ("1,000,000", 1e6),
        ("1,234.5", 1234.5),
        ("12,345万", 1.2345e8),
        ("1_000.000_5", 1000.0005),
        ("  10亿  ", 1e9),
        ("\t500 万 元\n", 5e6),
        ("+500万", 5e6),
        ("-500万", -5e6),
        ("- 1.5亿", -1.5e8),
        ("¥1,000", 1000.0),
        ("-¥20万", -2e5),
        ("¥-20万", -2e5),
        ("1e2万", 1e6),
        ("0", 0.0),
        ("-0", -0.0),
    ],
)
def test_strings(text: str, expected: float) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("１０亿", 1e9),  # full-width digits
        ("１．５亿", 1.5e8),  # full-width dot
        ("５００万元", 5e6),
        ("１，０００，０００", 1e6),  # full-width commas
        ("\u3000300万\u3000", 3e6),  # ideographic spaces
        ("－500万", -5e6),  # full-width minus
        ("−500万", -5e6),  # U+2212 minus sign
        ("￥1,000", 1000.0),  # full-width yen sign
        ("3萬", 3e4),  # traditional characters
        ("2億元", 2e8),
    ],
)
def test_full_width_and_traditional(text: str, expected: float) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.23亿", 123_000_000.0), ("0.1亿", 10_000_000.0), ("1.1万", 11_000.0),
     ("3.3亿", 330_000_000.0), ("0.07万", 700.0), ("1.15千万", 11_500_000.0)],
)
def test_scaling_is_exact(text: str, expected: float) -> None:
    # Naive float multiplication gives e.g. 1.1 * 1e4 == 11000.000000000002.
    assert parse_money(text) == expected


@given(
    st.decimals(min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=4,
                allow_nan=False, allow_infinity=False),
    st.sampled_from(sorted(UNITS)),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_unit_strings_match_decimal_arithmetic(d: Decimal, unit: str, suffix: bool) -> None:
    text = f"{d:f}{unit}" + ("元" if suffix and unit != "元" else "")
    assert parse_money(text) == float(d * UNITS[unit])


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=150, deadline=None)
def test_float_repr_round_trips(x: float) -> None:
    assert parse_money(x) == x
    assert parse_money(repr(x)) == x


@given(st.integers(-10**15, 10**15))
@settings(max_examples=100, deadline=None)
def test_grouped_integers(n: int) -> None:
    assert parse_money(f"{n:,}") == float(n)
    assert parse_money(f"{n:_}") == float(n)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        float("nan"),
        float("inf"),
        -float("inf"),
        10**400,
        None,
        [1],
        {"a": 1},
        b"10",
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("1e400"),
        1 + 2j,
        "",
        "   ",
        "abc",
        "nan",
        "inf",
        "-inf",
        "infinity",
        "1e400",
        "亿",
        "万元",
        "元",
        "10亿5000万",  # compound amounts are not supported
        "10 亿亿",
        "10亿万",
        "10元元",
        "10美元",
        "10 yuan",
        "$10",
        "1,5",  # European decimal comma: ambiguous
        "1,00,000",  # Indian grouping
        "1,0000",
        ",100",
        "100,",
        "1__000",
        "_1000",
        "1000_",
        "1_000,000",
        "1.2.3",
        ".",
        "e5",
        "1e",
        "1e5.5",
        "0x10",
        "--5",
        "+-5",
        "-¥-5",
        "5-",
        "5 0",
        "٥٠٠",  # Arabic-Indic digits (float() would accept them)
        "1" * 400,  # finite as Decimal, infinite as float
    ],
)
def test_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"expected yuan as a number or a string like"):
        parse_money(value)


def test_error_message_shape() -> None:
    with pytest.raises(ValueError) as info:
        parse_money("abc")
    assert str(info.value) == (
        'expected yuan as a number or a string like "10亿", "500万", "1.5e8"; got \'abc\''
    )


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(True, "boolean"), (float("nan"), "finite"), ("", "empty"), ([1], "list"),
     ("1,5", "three digits")],
)
def test_error_message_reasons(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_money(value)


def test_error_message_truncates_long_input() -> None:
    with pytest.raises(ValueError) as info:
        parse_money("x" * 1000)
    assert len(str(info.value)) < 200


@given(st.one_of(st.text(max_size=30), st.binary(max_size=10), st.none(), st.booleans(),
                 st.lists(st.integers(), max_size=2)))
@settings(max_examples=200, deadline=None)
def test_parse_money_only_raises_value_error(value: object) -> None:
    try:
        result = parse_money(value)
    except ValueError as exc:
        assert "expected yuan" in str(exc)
    else:
        assert isinstance(result, float) and math.isfinite(result)


def test_numpy_scalars_if_available() -> None:
    np = pytest.importorskip("numpy")
    assert parse_money(np.float64(2.5)) == 2.5
    assert parse_money(np.int64(7)) == 7.0
    assert parse_money(np.float32(0.5)) == 0.5
    with pytest.raises(ValueError):
        parse_money(np.bool_(True))
    with pytest.raises(ValueError):
        parse_money(np.float64("nan"))


# --------------------------------------------------------------------------- format_yuan


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (123_456_789, "1.23亿"),
        (1e8, "1.00亿"),
        (1e9, "10.00亿"),
        (1.5e12, "15,000.00亿"),
        (45_000_000, "4,500.0万"),
        (12_345, "1.2万"),
        (1e4, "1.0万"),
        (99_999_999, "10,000.0万"),
        (1234, "1,234元"),
        (1234.5, "1,234元"),  # banker's rounding of .5 by format()
        (0, "0元"),
        (0.4, "0元"),
        (9999.4, "9,999元"),
        (-1234, "-1,234元"),
        (-45_000_000, "-4,500.0万"),
        (-123_456_789, "-1.23亿"),
        (-0.0, "0元"),
        (-0.3, "0元"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-float("inf"), "-inf"),
    ],
)
def test_format_yuan(x: float, expected: str) -> None:
    assert format_yuan(x) == expected


@given(st.floats(min_value=-1e13, max_value=1e13))
@settings(max_examples=100, deadline=None)
def test_format_yuan_round_trips_approximately(x: float) -> None:
    s = format_yuan(x)
    back = parse_money(s)
    # 2 decimals of 亿 (5e5 yuan), 1 decimal of 万 (500 yuan), whole yuan (0.5)
    tol = 0.5e6 if abs(x) >= 1e8 else 500 if abs(x) >= 1e4 else 0.5
    assert abs(back - x) <= tol + 1e-9 * abs(x)
