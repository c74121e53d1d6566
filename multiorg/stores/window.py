"""A rate-limit window shared by every pod: a token bucket that can go into debt.

Pacing (``router: {pacing: true}``) spends an org's token window as the vendor counts it. The
window lives in the state store, one per (org, model), so every pod spends the same one: the
store applies :func:`spend` atomically (under a lock in memory, as one Lua script in Redis —
one round trip per send).

The bucket holds at most ``ceiling`` tokens and refills at ``rate`` tokens a second. A request
of ``take`` tokens is admitted when the bucket holds them; otherwise, with ``reserve``, it takes
them anyway — the level goes below zero by what is missing, and the request waits for them
(the next request then waits that much longer: waiting requests leave at the window's rate, in
order) — or, without ``reserve``, nothing is taken and the caller learns how long it would wait.
A negative ``take`` gives tokens back (a reservation not used). ``at_most`` caps the level (a
vendor's remaining-tokens header: its count of every client's spending).

This module is the reference: :class:`~multiorg.stores.redis.RedisStore`'s script computes the
same, and both are tested against it.
"""

from __future__ import annotations

from typing import NamedTuple

# tuple.__new__: a NamedTuple's generated __new__ is a Python-level call, and spend runs once per send
_new = tuple.__new__


class Window(NamedTuple):
    """A bucket's level (tokens; negative: owed to waiting requests) as of ``at``."""

    level: float
    at: float


class Spent(NamedTuple):
    """What :func:`spend` answers: how long the request waits (0: send now) and the level after."""

    wait: float
    level: float


def spend(
    window: Window | None,
    now: float,
    *,
    rate: float,
    ceiling: float,
    take: float = 0.0,
    reserve: bool = False,
    at_most: float | None = None,
) -> tuple[Spent, Window | None]:
    """Apply one operation to ``window`` (None: never used, full) at ``now``; returns the answer
    and the window to store (None: nothing changed)."""
    changed = False
    if window is None:
        level = ceiling
    else:
        level = window.level
        if now > window.at:
            level += (now - window.at) * rate
        else:
            now = window.at  # (a pod whose clock is behind: the window does not refill twice)
        if level > ceiling:
            level = ceiling
    if at_most is not None and at_most < level:
        level, changed = at_most, True
    wait = 0.0
    if take < 0.0:  # a reservation given back
        level -= take
        changed = True
    elif take > 0.0:
        if level < take:
            wait = (take - level) / rate
            if not reserve:
                return _new(Spent, (wait, level)), (_new(Window, (level, now)) if changed else None)
        level -= take
        changed = True
    return _new(Spent, (wait, level)), (_new(Window, (level, now)) if changed else None)
