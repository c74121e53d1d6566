"""Human units of the scenario format: rates, counts, volumes and factors.

Each parser takes what a YAML file holds and returns a number, or raises ``ValueError`` with a
one-line message. Values that are not strings pass through unchanged, so pydantic reports a
wrong type (a list where a rate belongs) in its own words.

=============  ===========================================  ==============================
parser         accepts                                      gives
=============  ===========================================  ==============================
``rate``       ``0.002``, ``"0.2%"``, ``"0.002"``           a fraction (0.002)
``count``      ``2000000``, ``"2M"``, ``"10k"``, ``"1.5M"``  an int (``2_000_000``)
               ``"2_000"``, ``"2,000"``, ``"1G"``
``volume``     ``1000000``, ``"1M/day"``, ``"100k/d"``,      requests per day (a float)
               ``"50/h"``, ``"10/s"``, ``"500/min"``
``factor``     ``5``, ``"5x"``, ``"x5"``, ``"x5"``, ``"50%"``   a multiplier (5.0, 0.5)
``duration``   ``90``, ``"90s"``, ``"15m"``, ``"2d 6h"``      seconds (:func:`multiorg.units.seconds`;
                                                            ``"-1h"`` is refused as negative)
``signed_duration``  ``"-90s"``, ``"+2m"``, ``-30``            seconds, either sign
=============  ===========================================  ==============================

These live in ``faults`` (not ``sim``) because both packages use them and imports point
sim → faults: :mod:`sim.scenario` imports them from here; ``faults`` never imports ``sim``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from multiorg.units import seconds

__all__ = ["count", "duration", "factor", "rate", "seconds", "signed_duration", "volume"]

_NUM = r"[+-]?(?:\d[\d_,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_COUNT = re.compile(rf"^\s*({_NUM})\s*([kKmMgGbB]?)\s*$")
_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9}
_PER = {
    "s": 86400.0, "sec": 86400.0, "second": 86400.0,
    "m": 1440.0, "min": 1440.0, "minute": 1440.0,
    "h": 24.0, "hr": 24.0, "hour": 24.0,
    "d": 1.0, "day": 1.0,
}  # fmt: skip


def _finite(x: float, value: Any, what: str) -> float:
    if not math.isfinite(x):
        raise ValueError(f"not a {what}: {value!r} (must be finite)")
    return x


def _number(text: str) -> float:
    return float(text.replace("_", "").replace(",", ""))


def rate(value: Any) -> Any:
    """A fraction: ``0.002``, ``"0.2%"`` or ``"0.002"``. Range checks are the field's."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        if text.endswith("%"):
            return _finite(_number(text[:-1].strip()) / 100.0, value, "rate")
        return _finite(_number(text), value, "rate")
    except ValueError as e:
        if "finite" in str(e):
            raise
        raise ValueError(f"not a rate: {value!r} (use e.g. 0.2% or 0.002)") from None


def _count_float(value: str, what: str, example: str) -> float:
    m = _COUNT.match(value)
    if not m:
        raise ValueError(f"not a {what}: {value!r} (use e.g. {example})")
    try:
        x = _number(m.group(1)) * _SUFFIX[m.group(2).lower()]
    except ValueError:
        raise ValueError(f"not a {what}: {value!r} (use e.g. {example})") from None
    return _finite(x, value, what)


def count(value: Any) -> Any:
    """A whole number with an optional k/M/G suffix: ``"2M"`` → 2_000_000."""
    if not isinstance(value, str):
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    x = _count_float(value, "count", "2M, 10k or 2000")
    if not x.is_integer():
        raise ValueError(f"not a whole number: {value!r}")
    return int(x)


def volume(value: Any) -> Any:
    """Requests per day: a number (per day) or ``"<count>/<unit>"`` (``1M/day``, ``50/h``, ``10/s``)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    head, sep, unit = text.partition("/")
    if not sep:
        return _count_float(text, "volume", "1M/day, 50/h or 10/s")
    per = _PER.get(unit.strip().lower().removesuffix("s") if len(unit.strip()) > 1 else unit.strip().lower())
    if per is None:
        raise ValueError(f"not a volume: {value!r} (the unit after '/' is s, min, h or day)")
    return _count_float(head, "volume", "1M/day, 50/h or 10/s") * per


def factor(value: Any) -> Any:
    """A multiplier: ``5``, ``"5x"``, ``"x5"``, ``"x5"`` or a percentage ``"50%"`` (0.5)."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("\u00d7", "x").replace("X", "x")
    try:
        if text.endswith("%"):
            return _finite(_number(text[:-1].strip()) / 100.0, value, "factor")
        if text.startswith("x"):
            text = text[1:]
        elif text.endswith("x"):
            text = text[:-1]
        return _finite(_number(text.strip()), value, "factor")
    except ValueError as e:
        if "finite" in str(e):
            raise
        raise ValueError(f"not a factor: {value!r} (use e.g. 5x, x0.5 or 50%)") from None


def duration(value: Any) -> Any:
    """:func:`multiorg.units.seconds`, with a clear word for a negative duration (``"-1h"``)."""
    if isinstance(value, str) and value.strip().startswith("-"):
        raise ValueError(f"a duration must not be negative (got {value!r})")
    return seconds(value)


def signed_duration(value: Any) -> Any:
    """A duration that may be negative: ``"-90s"``, ``"+2m"``, ``-30``."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in "+-" and text[1:2] != "":
            sign = -1.0 if text[0] == "-" else 1.0
            return sign * seconds(text[1:].strip())
        return seconds(text)
    return value
