"""How numbers are printed for people: one rule for tables, logs and pages."""

from __future__ import annotations

import math

__all__ = ["MISSING", "VALUE", "cell", "number"]

#: Format spec of a value in text tables.
VALUE = ".4f"
#: What stands for a value that does not exist (a skipped layer, a null of no shuffles).
MISSING = "n/a"


def number(value: float | None, spec: str = VALUE) -> str:
    """``value`` formatted with ``spec``; :data:`MISSING` for None or NaN, and never ``-0``.

    Examples
    --------
    >>> number(0.123456), number(None), number(float("nan")), number(-0.00001), number(3, "+.2f")
    ('0.1235', 'n/a', 'n/a', '0.0000', '+3.00')
    >>> number(-0.0, ".2e"), number(-1e-9, ".2e")
    ('0.00e+00', '-1.00e-09')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    text = format(value, spec)
    mantissa = text.lower().split("e")[0]
    if text.startswith("-") and not any(digit in mantissa for digit in "123456789"):
        return text[1:]  # a value that rounds to zero prints without a minus sign
    return text


def cell(value: object, spec: str = ".4g") -> str:
    """A table cell: a float by :func:`number`, None as :data:`MISSING`, a bool as yes/no,
    anything else as text.

    Examples
    --------
    >>> cell(0.000123456), cell(None), cell(12), cell("digits"), cell(True), cell(-0.0, ".3g")
    ('0.0001235', 'n/a', '12', 'digits', 'yes', '0')
    """
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None or isinstance(value, float):
        return number(value, spec)
    return str(value)
