"""Org selection strategies: which healthy org serves the next attempt.

A strategy sees the candidates (orgs of the active vendor that serve the model, are not
blocked by a breaker or a retry-after, and were not already tried for this request) and the
pod's local observations (:class:`OrgStats`). It returns an index into the candidates. It never
does I/O; randomness comes from the injected RNG.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Protocol

from .clock import Rng
from .config import OrgConfig


class OrgStats:
    """What this pod has observed of each (org, model): in-flight, latency EWMA, rate-limit headroom."""

    __slots__ = ("_count_lock", "alpha", "ewma", "headroom", "in_flight")

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self.in_flight: dict[str, int] = {}
        self.ewma: dict[tuple[str, str], float] = {}
        self.headroom: dict[tuple[str, str], float] = {}
        # ``+= 1`` on a dict item is a read and a write: threads switching between them lose counts
        self._count_lock = threading.Lock()

    def started(self, org: str) -> None:
        with self._count_lock:
            self.in_flight[org] = self.in_flight.get(org, 0) + 1

    def cancelled(self, org: str) -> None:
        """An attempt that started ended without a result."""
        with self._count_lock:
            self.in_flight[org] -= 1

    def finished(self, org: str, model: str, latency: float, remaining: int | None, limit: int | None) -> None:
        self.cancelled(org)
        key = (org, model)
        prev = self.ewma.get(key)
        self.ewma[key] = latency if prev is None else prev + self.alpha * (latency - prev)
        if remaining is not None:
            self.headroom[key] = remaining / limit if limit else float(remaining)


class OrgSelector(Protocol):
    #: whether ``choose`` reads :class:`OrgStats` (the router skips keeping them otherwise)
    uses_stats: bool

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int: ...


class RoundRobin:
    """The seed's strategy: the next org in turn, among the healthy ones.

    The turn is kept as the position (in ``orgs``, the configured order) of the last org chosen,
    so the next choice is the first candidate after it — a failover from ``a`` goes to ``b``,
    and the next request continues with ``c``. (A bare counter modulo the candidate count would
    skip orgs whenever the candidate set shrinks, e.g. on a retry.) Without ``orgs`` it falls
    back to that counter.
    """

    uses_stats = False

    __slots__ = ("_known", "_last", "_next", "_rank")

    def __init__(self, orgs: Sequence[OrgConfig] = ()) -> None:
        self._next = 0
        self._rank = {o.name: i for i, o in enumerate(orgs)}
        self._last = -1
        #: (a candidate tuple, its ranks in ascending order): the router passes the same tuple on
        #: every steady-state request, so its ranks are looked up once and the turn found by
        #: bisection. One attribute, so a thread never reads one tuple's ranks for another's.
        self._known: tuple[tuple[OrgConfig, ...], list[int]] = ((), [])

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int:
        rank = self._rank
        if not rank:
            i = self._next % len(candidates)
            self._next += 1
            return i
        last = self._last
        seq, ranks = self._known
        if candidates is not seq:
            ranks = [rank.get(o.name, -1) for o in candidates]
            if type(candidates) is not tuple or ranks != sorted(ranks):
                # the first candidate after the last one chosen, else the first
                for i, r in enumerate(ranks):
                    if r > last:
                        self._last = r
                        return i
                self._last = ranks[0]
                return 0
            self._known = (candidates, ranks)
        # ascending ranks: the first one above ``last`` is found by bisection (the same choice)
        i = bisect_right(ranks, last)
        if i == len(ranks):
            i = 0
        self._last = ranks[i]
        return i


class Weighted:
    """Random in proportion to each org's weight: its configured ``weight`` (e.g. by tier), or —
    given ``capacity(org, model)`` — its rate limit for the model, so a tier-1 org (200k TPM)
    gets a tenth of a tier-2's (2M) share and no org's window is emptied while others have room.
    An org whose capacity is unknown (no limits listed) weighs the mean of the known ones."""

    uses_stats = False

    __slots__ = ("_capacity", "_known")

    def __init__(self, capacity: Callable[[OrgConfig, str], float | None] | None = None) -> None:
        self._capacity = capacity
        self._known: dict[tuple[str, str], float | None] = {}

    def _weights(self, candidates: Sequence[OrgConfig], model: str) -> list[float]:
        capacity = self._capacity
        if capacity is None:
            return [o.weight for o in candidates]
        known = self._known
        ws: list[float | None] = []
        for o in candidates:
            key = (o.name, model)
            if key not in known:
                known[key] = capacity(o, model)
            ws.append(known[key])
        have = [w for w in ws if w is not None]
        fill = sum(have) / len(have) if have else 1.0
        return [fill if w is None else w for w in ws]

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int:
        weights = self._weights(candidates, model)
        x = rng.random() * sum(weights)
        for i, w in enumerate(weights):
            x -= w
            if x < 0:
                return i
        return len(candidates) - 1


class LeastInFlight:
    """The org with the fewest attempts in flight from this pod.

    Ties go round robin: with "the first" winning every tie, light or sequential traffic (where
    nothing is ever in flight) would all land on one org and exhaust its rate limit.
    """

    uses_stats = True

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int:
        counts = stats.in_flight
        n = len(candidates)
        best = start = self._next % n
        self._next += 1
        least = counts.get(candidates[start].name, 0)
        for k in range(1, n):
            i = (start + k) % n
            c = counts.get(candidates[i].name, 0)
            if c < least:
                best, least = i, c
        return best


class Headroom:
    """The org with the most rate-limit headroom left (x-ratelimit-remaining / limit); unknown = full."""

    uses_stats = True

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int:
        room = stats.headroom
        return max(range(len(candidates)), key=lambda i: room.get((candidates[i].name, model), 1.0))


class PowerOfTwoLatency:
    """Two random candidates; the one with the lower latency EWMA (unknown counts as fastest)."""

    uses_stats = True

    def choose(self, candidates: Sequence[OrgConfig], model: str, stats: OrgStats, rng: Rng) -> int:
        n = len(candidates)
        if n == 1:
            return 0
        a = int(rng.random() * n)
        b = int(rng.random() * (n - 1))
        if b >= a:
            b += 1
        ewma = stats.ewma
        la = ewma.get((candidates[a].name, model), 0.0)
        lb = ewma.get((candidates[b].name, model), 0.0)
        return a if la <= lb else b


STRATEGIES: dict[str, type] = {
    "round_robin": RoundRobin,
    "weighted": Weighted,
    "least_in_flight": LeastInFlight,
    "headroom": Headroom,
    "p2c_latency": PowerOfTwoLatency,
}


def make_selector(
    name: str,
    orgs: Sequence[OrgConfig] = (),
    capacity: Callable[[OrgConfig, str], float | None] | None = None,
) -> OrgSelector:
    """The strategy called ``name``; ``orgs`` (the configured order) anchors round robin;
    ``capacity(org, model)`` makes ``weighted`` weigh by it (see :class:`Weighted`)."""
    if name == "round_robin":
        return RoundRobin(orgs)
    if name == "weighted":
        return Weighted(capacity)
    return STRATEGIES[name]()
