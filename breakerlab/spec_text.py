"""Values written back as *input* text — a ``--grid`` label, a counterexample's ``faults:`` entry —
in the units the scenario format and ``--grid`` parse (``90`` → ``1m30s``, ``0.4`` → ``40%``).

Not for display: figures a person reads go through :mod:`reports.format`. These must parse back
to the same value, so the ``*_spec`` helpers fall back to the plain number when text would round.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faults.units import factor, rate, signed_duration
from multiorg.units import seconds

__all__ = ["duration_spec", "duration_text", "factor_spec", "rate_spec", "signed_duration_spec", "value_text"]


def duration_text(v: float) -> str:
    """``30`` → ``30s``, ``90`` → ``1m30s``, ``3600`` → ``1h``, ``0.25`` → ``250ms`` (what
    :func:`multiorg.units.seconds` reads back)."""
    if v != v or v in (float("inf"), float("-inf")):
        return str(v)
    if v == 0:
        return "0s"
    if 0 < abs(v) < 1:
        return f"{v * 1000:g}ms"
    if v != int(v) or v < 60:
        return f"{v:g}s"
    out, rest = "", int(v)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def value_text(v: Any) -> str:
    """A parameter value as ``--grid`` takes it: ``true``, ``2.5``, ``count+time``, ``threshold``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "+".join(map(value_text, v))
    return str(v)


def _exact(text: str, parse: Callable[[str], Any], value: float) -> bool:
    try:
        return float(parse(text)) == float(value)
    except (ValueError, TypeError):
        return False


def duration_spec(x: float) -> str | float:
    """``5400`` → ``"1h30m"``; the number itself when text would not read back exactly."""
    text = duration_text(float(x))
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
