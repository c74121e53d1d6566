"""The one error for code that reaches past the simulation: the network, another thread, the wall
clock, a lock held across a simulated wait. Raised by the virtual-time asyncio loop
(:mod:`sim.aio`) and by the wall-clock patches (:mod:`sim.wallclock`), so a caller catches one
class whichever caught the escape."""

from __future__ import annotations

__all__ = ["EscapeError"]


class EscapeError(RuntimeError):
    """The router reached past the simulation: the network, another thread, the wall clock, a lock
    across a wait. Its message is one line naming the call and where it came from."""
