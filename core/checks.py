"""The shared argument checks: ints, counts, fractions, table sizes, and a short form of a bad value.

Every module of ``core`` validates its inputs with these, so one kind of mistake gets one kind of message
(``"n must be an int in 2..512, got 'x'"``). The bounds themselves live in ``core/limits.py``; the checks
never allocate.
"""

from __future__ import annotations

import math
import numbers


def is_int(value) -> bool:
    """An integer that is not a bool (numpy integers count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """A finite real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi``, else ValueError naming ``name`` and the bounds."""
    if not is_int(value) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi:,}, got {short(value)}")
    return int(value)


def check_count(name: str, value) -> int:
    """A positive int (a number of samples, positions, steps), else ValueError."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_fraction(name: str, value) -> float:
    """A number in ``[0, 1)`` (a held-out fraction), else ValueError."""
    if not is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


def check_cells(what: str, rows: int, columns: int, limit: int) -> None:
    """Refuse a ``rows x columns`` table over ``limit`` cells before it is built."""
    if rows * columns > limit:
        raise ValueError(f"{what} would have {rows:,} rows x {columns:,} positions = {rows * columns:,} "
                         f"cells; at most {limit:,} are allowed")


def check_fields(cls, d, what: str, required: tuple[str, ...] = ()) -> dict:
    """A JSON object for dataclass ``cls``: unknown or missing fields are errors (every ``from_dict``)."""
    if not isinstance(d, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(d).__name__}")
    names = {f for f in cls.__dataclass_fields__}
    unknown = sorted(str(k) for k in d if k not in names)
    if unknown:
        raise ValueError(f"unknown {what} field(s): {', '.join(unknown)}")
    missing = [k for k in required if k not in d]
    if missing:
        raise ValueError(f"{what} is missing field(s): {', '.join(missing)}")
    return d


def short(value, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (``…`` marks a cut), for messages about untrusted input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
