"""``exponential``: the seed's breaker — N failures within T open it; each failed retry doubles
the block.

From the talk: an org that hits a threshold (429s, 5xx, …) three times within a timeframe is
removed from the pool; it is retried later, and while it keeps failing the blocks grow — 1, 2,
4, 8, 16 minutes — with the alert counting "Retry cycles".

The state machine (shared with ``consecutive``, which is this machine with a fixed block):

CLOSED
    Every admission is granted. A failure is remembered by its time; a success (``OK``) forgets
    the run. The breaker trips when ``threshold`` failures fall within ``window`` seconds, edges
    included: failures at ``t1 … tN`` trip iff ``tN - t1 <= window`` (failures older than
    ``now - window`` are forgotten). One ``trip_immediately`` outcome (default: ``quota``,
    ``auth``) trips at once. A success with no failure remembered changes nothing (``record``
    returns ``None``: no store write on the steady-state path).
OPEN
    Nothing is admitted until ``open_until = trip time + block``; refusals carry
    ``retry_at = open_until``. The block of retry cycle *c* is
    ``min(base_open_time * backoff_factor**c, max_open_time)``: 60 s, 120 s, … 960 s by default.
HALF_OPEN
    The first admission at or after ``open_until`` turns the breaker half-open (a new
    generation) and is the first probe. At most ``probe_permits`` probes are out at once (see
    the lease rules in :mod:`multiorg.breakers.common`). The first probe result decides: a
    success closes the breaker, a failure re-opens it with ``retry_cycles + 1``. A neutral
    result only frees its permit. A late result from an abandoned (lease-expired) probe of the
    same generation still decides: it is current news about the org.

Backoff memory (``reset_after``)
    Closing after a successful probe does not necessarily forget the cycles. If the breaker
    trips again less than ``reset_after`` seconds after it closed, the new block continues the
    sequence (cycle + 1); once it has stayed closed for ``reset_after`` seconds (edge included)
    the next trip starts again at cycle 0. ``reset_after = 0`` (the default) resets on close:
    the seed's behaviour, where a CLOSED alert ends the episode.

What the view reports (the seed's Slack alert)
    ``failure_count``: failures counted in this episode — the failures that tripped the
    breaker plus one per failed probe (0 after a clean close); ``retry_cycles``: the cycle of
    the current block (0 for the first trip; while CLOSED, the cycle the next trip would get
    from the backoff memory, 0 once forgotten); ``block_duration`` / ``open_until``: the
    current block. The view shows the *stored* state: a breaker whose block has expired stays
    OPEN in the view until the next admission turns it half-open (and the board alerts).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import model_validator

from ..clock import Rng
from ..outcomes import Outcome
from ..stores.codec import register_state
from .base import Admission, BreakerView, State
from .common import (
    NEUTRAL,
    OK,
    TRIP,
    BreakerParams,
    PositiveSeconds,
    Seconds,
    admit_unchanged,
    lease_free_at,
    live_leases,
    param,
    release_lease,
    release_probe,
)

_CLOSED = State.CLOSED
_OPEN = State.OPEN
_HALF_OPEN = State.HALF_OPEN


@register_state
@dataclass(frozen=True, slots=True)
class TripState:
    """State of one ``consecutive`` / ``exponential`` breaker."""

    status: State = State.CLOSED
    generation: int = 0
    #: CLOSED: times of the current run of failures within the window (fewer than threshold)
    failures: tuple[float, ...] = ()
    #: OPEN: end of the block (kept while HALF_OPEN for reporting)
    open_until: float = 0.0
    #: length of the current (last) block
    block: float = 0.0
    #: OPEN / HALF_OPEN: cycle of the current block; CLOSED: the cycle the next trip gets if it
    #: comes less than ``reset_after`` after ``closed_at``
    retry_cycles: int = 0
    #: failures counted in the current episode (see the module docstring)
    failure_count: int = 0
    #: HALF_OPEN: lease start times of the probes out
    probes: tuple[float, ...] = ()
    #: when the breaker last closed (or was created)
    closed_at: float = 0.0


class TripBreaker(BreakerParams):
    """The machine shared by ``consecutive`` and ``exponential`` (see the module docstring).

    Subclasses provide :meth:`block_for`, ``probe_permits`` and ``reset_after`` (fields or
    class constants).
    """

    name: ClassVar[str]
    scope: ClassVar[Literal["target", "model"]] = "target"
    #: a success ends the failure run, whatever this pod's cached copy shows (see BreakerBoard.record)
    success_resets: ClassVar[bool] = True
    if TYPE_CHECKING:  # provided by each subclass, as a field or a class constant

        @property
        def probe_permits(self) -> int: ...

        @property
        def reset_after(self) -> float: ...

    threshold: int = param(3, "failures within window that open the breaker", "failures", ge=1)
    window: Seconds = param(
        60.0, "time within which threshold failures must fall to trip (edges included)", "s"
    )
    probe_timeout: PositiveSeconds = param(
        60.0, "a probe not back after this long is abandoned and its permit freed", "s"
    )

    def block_for(self, cycle: int) -> float:
        """Block duration of retry cycle ``cycle`` (0 for the first trip)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> TripState:
        return TripState(closed_at=now)

    def admit(
        self, state: TripState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, TripState | None]:
        if state.status is _CLOSED:
            return admit_unchanged(state.generation)
        g = state.generation
        if state.status is _OPEN:
            if now < state.open_until:
                return Admission(False, False, g, now, state.open_until), None
            new = TripState(
                _HALF_OPEN, g + 1, (), state.open_until, state.block, state.retry_cycles,
                state.failure_count, (now,), state.closed_at,
            )
            return Admission(True, True, g + 1, now), new
        timeout = self.probe_timeout
        live = live_leases(state.probes, now, timeout)
        if len(live) < self.probe_permits:
            return Admission(True, True, g, now), replace(state, probes=(*live, now))
        return Admission(False, False, g, now, lease_free_at(live, timeout)), None

    def record(
        self, state: TripState, org: str, ticket: Admission, outcome: Outcome, now: float
    ) -> TripState | None:
        g = state.generation
        if ticket.generation != g:
            # older: stale, judges nothing (its permit went with the transition);
            # newer: this is a stale cached copy, let the board re-run on the fresh state
            return state if ticket.generation > g else None
        kind = self.kinds[outcome]
        status = state.status
        if status is _CLOSED:
            if kind == OK:
                return replace(state, failures=()) if state.failures else None
            if kind == NEUTRAL:
                return None
            lo = now - self.window
            recent = (*(t for t in state.failures if t >= lo), now)
            if kind == TRIP or len(recent) >= self.threshold:
                return self._trip(state, now, len(recent))
            return replace(state, failures=recent)
        if status is _HALF_OPEN and ticket.probe:
            if kind == NEUTRAL:
                leases = release_lease(state.probes, ticket.at)
                return None if leases is None else replace(state, probes=leases)
            if kind == OK:
                return self._close(state, now)
            return self._reopen(state, now)
        return None

    def release(
        self, state: TripState, org: str, ticket: Admission, now: float
    ) -> TripState | None:
        return release_probe(state, ticket)

    def view(self, state: TripState, org: str, now: float) -> BreakerView:
        if state.status is _CLOSED:
            return BreakerView(
                _CLOSED, state.generation, len(state.failures), self._memory(state, now)
            )
        return BreakerView(
            state.status,
            state.generation,
            state.failure_count,
            state.retry_cycles,
            state.open_until if state.status is _OPEN else None,
            state.block,
        )

    # ------------------------------------------------------------------ transitions

    def _memory(self, state: TripState, now: float) -> int:
        """The cycle the next trip gets (0 once the breaker stayed closed ``reset_after``)."""
        return state.retry_cycles if now - state.closed_at < self.reset_after else 0

    def _trip(self, state: TripState, now: float, counted: int) -> TripState:
        cycle = self._memory(state, now)
        block = self.block_for(cycle)
        return TripState(
            _OPEN, state.generation + 1, (), now + block, block, cycle, counted, (), state.closed_at
        )

    def _reopen(self, state: TripState, now: float) -> TripState:
        cycle = state.retry_cycles + 1
        block = self.block_for(cycle)
        return TripState(
            _OPEN, state.generation + 1, (), now + block, block, cycle,
            state.failure_count + 1, (), state.closed_at,
        )

    def _close(self, state: TripState, now: float) -> TripState:
        # remember the next cycle; _memory() decides at the next trip whether it still applies
        return TripState(
            _CLOSED, state.generation + 1, (), 0.0, 0.0, state.retry_cycles + 1, 0, (), now
        )


class ExponentialBreaker(TripBreaker):
    """The seed's policy: blocks of ``base_open_time * backoff_factor**cycle`` up to a cap."""

    name: ClassVar[str] = "exponential"

    base_open_time: PositiveSeconds = param(60.0, "block of the first trip (retry cycle 0)", "s")
    max_open_time: PositiveSeconds = param(
        960.0, "cap on the block (1, 2, 4, 8, 16 min with the defaults)", "s"
    )
    backoff_factor: float = param(
        2.0, "growth of the block per failed retry cycle (1 gives fixed blocks)", "factor", ge=1.0
    )
    probe_permits: int = param(1, "probes out at once while half-open", "probes", ge=1)
    reset_after: Seconds = param(
        0.0,
        "time closed without a trip after which the retry cycles are forgotten "
        "(0: forgotten on close, the seed's behaviour)",
        "s",
    )

    @model_validator(mode="after")
    def _cap_above_base(self) -> ExponentialBreaker:
        if self.max_open_time < self.base_open_time:
            raise ValueError(
                f"max_open_time ({self.max_open_time:g}s) must be >= "
                f"base_open_time ({self.base_open_time:g}s)"
            )
        return self

    def block_for(self, cycle: int) -> float:
        try:
            block = self.base_open_time * self.backoff_factor**cycle
        except OverflowError:
            return self.max_open_time
        return min(block, self.max_open_time)
