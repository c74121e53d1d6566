"""Human units of the scenario format (``0.2%``, ``2M``, ``1M/day``, ``5x``, ``2d 6h``).

The parsers live in :mod:`faults.units` — ``sim`` imports ``faults``, never the other way at
import time, and both packages need them; this module re-exports them for ``sim`` users.
"""

from faults.units import count, duration, factor, rate, seconds, volume

__all__ = ["count", "duration", "factor", "rate", "seconds", "volume"]
