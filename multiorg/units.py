"""Human units for durations: ``90``, ``"90s"``, ``"15m"``, ``"2d 6h"``, ``"6m0s"``, ``"250ms"``."""

from __future__ import annotations

import re
from typing import Any

_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|us|µs|ns|d|h|m|s)\s*")
_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def seconds(value: Any) -> Any:
    """Parse a duration to float seconds; values that are not strings pass through unchanged
    (so pydantic reports a wrong type in its own words)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos == 0 or pos != len(text):
        raise ValueError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2d 6h)")
    return total
