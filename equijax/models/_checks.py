"""Argument checks shared by the reference models."""

from __future__ import annotations

import math
import numbers


def check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"`{name}` (={value!r}) must be an integer >= {minimum}")
    return int(value)


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` (={value!r}) must be a bool (True or False)")
    return value


def check_positive(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < math.inf):
        raise ValueError(f"`{name}` (={value!r}) must be a positive finite number")
    return float(value)
