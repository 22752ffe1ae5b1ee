"""Money amounts in yuan: parse ``"10亿"`` / ``"500万"`` / ``1.5e8``, and display them.

Scenario files may give money either as plain numbers (yuan) or as strings with the
usual Chinese units. :func:`parse_money` turns both into yuan as a ``float``;
:func:`format_yuan` renders an amount for people (``1.23亿``, ``4,500.0万``, ``1,234元``).

Accepted string forms (surrounding whitespace ignored, full-width characters such as
``１０亿`` or ``５００万`` normalised first):

* plain numbers: ``"150000000"``, ``"1.5e8"``, ``"5_000_000"``, ``"1,000,000"``
  (commas must group thousands: ``"1,5"`` is refused as ambiguous);
* a number followed by a unit, optionally with a space between and an optional
  trailing ``元``: ``元`` (1), ``千`` (1e3), ``万`` (1e4), ``十万`` (1e5), ``百万`` (1e6),
  ``千万`` (1e7), ``亿`` (1e8), ``十亿`` (1e9), ``百亿`` (1e10), ``千亿`` (1e11),
  ``万亿`` (1e12); the traditional ``萬`` / ``億`` are accepted too;
* an optional sign (``-`` or ``−``) and an optional leading ``¥``.

Examples
--------
>>> parse_money("10亿"), parse_money("1.5亿"), parse_money("3000万元")
(1000000000.0, 150000000.0, 30000000.0)
>>> format_yuan(123_456_789), format_yuan(45_000_000), format_yuan(1234)
('1.23亿', '4,500.0万', '1,234元')
"""

from __future__ import annotations

import math
import numbers
import re
import unicodedata
from decimal import Decimal

__all__ = ["parse_money", "format_yuan", "UNITS", "MAX_YUAN"]

#: Largest amount a scenario or loan tape may hold, yuan (1e15 = 1,000万亿, several times
#: China's GDP): beyond it sums of losses lose all precision and eventually overflow to inf.
MAX_YUAN = 1e15

#: Unit word -> yuan. A trailing ``元`` is also allowed after each of these.
UNITS: dict[str, int] = {
    "元": 1,
    "千": 10**3,
    "万": 10**4,
    "十万": 10**5,
    "百万": 10**6,
    "千万": 10**7,
    "亿": 10**8,
    "十亿": 10**9,
    "百亿": 10**10,
    "千亿": 10**11,
    "万亿": 10**12,
}

_TRADITIONAL = str.maketrans({"萬": "万", "億": "亿", "圓": "元", "−": "-"})

_NUMBER = r"""
    (?:
        \d{1,3}(?:,\d{3})+        # 1,000,000
      | \d+(?:_\d+)*              # 5000000 or 5_000_000
    )?
    (?:\.(?:\d+(?:_\d+)*)?)?       # fraction ("5." is fine, like float())
"""
_PATTERN = re.compile(
    rf"""
    \A\s*
    (?P<sign1>[+-]?)\s*¥?\s*(?P<sign2>[+-]?)\s*
    (?P<mant>{_NUMBER})
    (?P<exp>[eE][+-]?\d+)?
    \s*
    (?P<unit>{"|".join(sorted((re.escape(u) for u in UNITS if u != "元"), key=len, reverse=True))})?
    \s*
    (?P<yuan>元)?
    \s*\Z
    """,
    re.VERBOSE | re.ASCII,
)

_ALLOWED = 'expected yuan as a number or a string like "10亿", "500万", "1.5e8"'


def _fail(value: object, why: str = "") -> ValueError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    extra = f" ({why})" if why else ""
    return ValueError(f"{_ALLOWED}; got {shown}{extra}")


def parse_money(value: object) -> float:
    """Parse a money amount into yuan.

    Parameters
    ----------
    value : int, float, Decimal or str
        A number of yuan (any real number or ``Decimal``, but not ``bool``), or a
        string such as
        ``"10亿"``, ``"1.5亿"``, ``"500万"``, ``"3000万元"``, ``"1e8"``, ``"5_000_000"``,
        ``"1,000,000"``, ``" 2 亿元 "``, ``"１０亿"`` (see the module docstring for the
        full list of units).

    Returns
    -------
    float
        The amount in yuan. The sign is kept; range checks are the caller's job.
        Strings are scaled exactly (``"1.23亿"`` gives ``123000000.0``, not
        ``123000000.00000001``).

    Raises
    ------
    ValueError
        For anything else: ``bool``, NaN or infinite amounts, empty or malformed
        strings, unknown units, other types. The message lists the allowed forms.
    """
    if isinstance(value, bool):
        raise _fail(value, "a boolean is not an amount")
    if isinstance(value, (numbers.Real, Decimal)):
        try:
            result = float(value)
        except (OverflowError, ValueError, TypeError):
            raise _fail(value, "not representable as a float") from None
        if not math.isfinite(result):
            raise _fail(value, "must be finite")
        return result
    if not isinstance(value, str):
        raise _fail(value, f"type {type(value).__name__} is not allowed")

    text = unicodedata.normalize("NFKC", value).translate(_TRADITIONAL)
    if not text.strip():
        raise _fail(value, "empty string")
    m = _PATTERN.match(text)
    if m is None or not any(ch.isdigit() for ch in m.group("mant")):
        hint = "commas must separate groups of three digits" if "," in text else ""
        raise _fail(value, hint)
    if m.group("sign1") and m.group("sign2"):
        raise _fail(value, "two signs")
    negative = (m.group("sign1") or m.group("sign2")) == "-"
    digits = m.group("mant").replace(",", "").replace("_", "") + (m.group("exp") or "")
    unit = m.group("unit")
    shift = len(str(UNITS[unit])) - 1 if unit else 0
    try:
        # Shift the decimal exponent instead of multiplying: exact, so the only
        # rounding is the final, correctly rounded conversion to float.
        sign, mantissa, exponent = Decimal(digits).as_tuple()
        result = float(Decimal((sign, mantissa, int(exponent) + shift)))
    except (ArithmeticError, ValueError, TypeError):
        raise _fail(value) from None
    if not math.isfinite(result):
        raise _fail(value, "must be finite")
    return -result if negative else result


def format_yuan(x: float) -> str:
    """Render an amount of yuan for display.

    Parameters
    ----------
    x : float
        Amount in yuan.

    Returns
    -------
    str
        ``|x| >= 1e8``: ``f"{x/1e8:,.2f}亿"`` (``"1.23亿"``); ``|x| >= 1e4``:
        ``f"{x/1e4:,.1f}万"`` (``"4,500.0万"``); otherwise ``f"{x:,.0f}元"``
        (``"1,234元"``). Negative amounts get a leading ``-``; NaN and infinities are
        shown as ``"nan"``, ``"inf"``, ``"-inf"``.
    """
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 1e8:
        body = f"{a / 1e8:,.2f}亿"
    elif a >= 1e4:
        body = f"{a / 1e4:,.1f}万"
    else:
        body = f"{a:,.0f}元"
        if body == "0元":
            sign = ""  # no "-0元" for tiny negatives
    return sign + body
