"""How numbers are printed for people: one rule for tables, logs and pages."""

from __future__ import annotations

import math

__all__ = ["MISSING", "PERCENT", "VALUE", "cell", "number", "points", "to_points"]

#: Format spec of a value in text tables.
VALUE = ".4f"
#: What stands for a value that does not exist (a skipped layer, a null of no shuffles).
MISSING = "n/a"
#: Percentage points in one: the library keeps accuracies and their changes as fractions
#: (as scikit-learn's ``accuracy_score``), people read them in points.
PERCENT = 100.0


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


def to_points(value: float) -> float:
    """A fraction (an accuracy, a change of accuracy, a relative output change) in percentage
    points, for a plot's axis; :func:`points` writes it as text.

    Examples
    --------
    >>> to_points(-0.0125)
    -1.25
    """
    return PERCENT * value


def points(value: float | None, spec: str = "+.2f") -> str:
    """A fraction (an accuracy, a change of accuracy, a relative output change) as percentage
    points, formatted by :func:`number`: the one way people read those numbers.

    Examples
    --------
    >>> points(-0.0125), points(0.972222, ".4f"), points(None), points(float("nan"))
    ('-1.25', '97.2222', 'n/a', 'n/a')
    """
    return number(None if value is None else to_points(value), spec)


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
