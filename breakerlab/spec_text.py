"""Values written back as *input* text — a ``--grid`` label, a counterexample's ``faults:`` entry —
in the units the scenario format and ``--grid`` parse (``90`` → ``1m30s``, ``0.4`` → ``40%``).

The spelling itself is :mod:`reports.format`'s (``fmt_duration(v, spec=True)``, ``fmt_param``);
these must parse back to the same value, so they fall back to the plain number when text would round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faults.units import factor, rate, signed_duration
from multiorg.units import seconds
from reports.format import fmt_duration

__all__ = ["duration_spec", "factor_spec", "rate_spec", "signed_duration_spec"]


def _exact(text: str, parse: Callable[[str], Any], value: float) -> bool:
    try:
        return float(parse(text)) == float(value)
    except (ValueError, TypeError):
        return False


def duration_spec(x: float) -> str | float:
    """``5400`` → ``"1h30m"``; the number itself when text would not read back exactly."""
    text = fmt_duration(float(x), spec=True)
    return text if _exact(text, seconds, x) else float(x)


def rate_spec(x: float) -> str | float:
    """``0.4`` → ``"40%"``; the number itself when text would not read back exactly."""
    text = f"{x * 100:g}%"
    return text if _exact(text, rate, x) else x


def factor_spec(x: float) -> str | float:
    """``3`` → ``"3x"``; the number itself when text would not read back exactly."""
    text = f"{x:g}x"
    return text if _exact(text, factor, x) else x


def signed_duration_spec(x: float) -> str | float:
    """``-90`` → ``"-1m30s"``; the number itself when text would not read back exactly."""
    d = duration_spec(abs(x))
    if isinstance(d, str):
        text = ("+" if x > 0 else "-") + d
        if _exact(text, signed_duration, x):
            return text
    return x
