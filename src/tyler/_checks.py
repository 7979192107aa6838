"""Argument checks shared by the public constructors (Agent, ThreadStore)."""

from __future__ import annotations

import math
from typing import Any

from .exceptions import ConfigurationError


def is_number(value: Any) -> bool:
    """A real int or float, not NaN; bool is refused although it is an int (True is a mistake, not 1)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def check_seconds(**timeouts: Any) -> None:
    """ConfigurationError unless every value is a positive number of seconds.

    Zero is refused too: it means "fail at once" to one driver and "never time out" to another.
    """
    for label, value in timeouts.items():
        if not (is_number(value) and value > 0):
            raise ConfigurationError(f"{label} must be a positive number of seconds, got {value!r}")
