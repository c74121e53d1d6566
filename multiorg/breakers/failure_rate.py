"""``failure-rate``: a Resilience4j-style breaker over a count or time sliding window.

CLOSED
    Every admission is granted. Each result with an ``OK`` / ``FAIL`` / ``TRIP`` kind is
    recorded in the sliding window (``NEUTRAL`` results are ignored, like Resilience4j's
    ``ignoreExceptions``):

    * ``window_type="count"``: the last ``window_size`` results;
    * ``window_type="time"``: the results of the last ``window_size`` seconds, aggregated in
      buckets of ``bucket`` seconds (bucket *i* covers ``[i·bucket, (i+1)·bucket)``; the window
      is the current, partial bucket and the ``ceil(window_size / bucket) - 1`` before it), so
      the state holds at most that many small tuples whatever the traffic.

    Once the window holds at least ``minimum_calls`` results (for a count window, at most
    ``window_size`` are needed, as Resilience4j caps it), the breaker opens when the failure
    rate **is greater than or equal to** ``failure_rate_threshold`` percent, or the slow-call
    rate (``slow`` outcomes; a ``slow`` counted as failure is both) is greater than or equal to
    ``slow_call_rate_threshold`` percent — exactly as Resilience4j. With less traffic it never
    opens on rates, however bad. One ``trip_immediately`` outcome opens it at once.
OPEN
    Nothing is admitted until ``open_until = opened + open_time`` (Resilience4j's wait
    duration in open state); refusals carry ``retry_at = open_until``.
HALF_OPEN
    The first admission at or after ``open_until`` turns the breaker half-open and is the first
    probe. Exactly ``half_open_permits`` (K) probe calls are permitted in this generation:
    results in plus probes out never exceed K; an abandoned or cancelled probe gives its
    permit back (see :mod:`multiorg.breakers.common`), a neutral result too. The late result of
    a probe whose lease expired and was handed on is not counted (a ``trip_immediately`` one
    still re-opens). When K results are
    in, the breaker closes if both rates are below their thresholds, else it re-opens. A
    ``trip_immediately`` result re-opens at once. With ``max_half_open_wait > 0``, a breaker
    still waiting for its K results that long after turning half-open re-opens at the next
    admission (0 waits forever, as in Resilience4j).

Closing forgets the window. The view reports ``failure_count`` = failures in the window
(CLOSED) or the failures that opened it; ``retry_cycles`` = re-openings since the last close;
``block_duration`` = ``open_time``.

Cost: every recorded result changes a time window (one store write per result). A count
window full of successes is unchanged by another success, so steady healthy traffic writes
nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, model_validator

from ..clock import Rng
from ..outcomes import Outcome
from ..stores.codec import register_state
from ..units import seconds
from .base import Admission, BreakerView, State
from .common import (
    NEUTRAL,
    OK,
    TRIP,
    BreakerParams,
    Bucket,
    Percent,
    PositiveSeconds,
    Seconds,
    add_to_bucket,
    admit_unchanged,
    bucket_count,
    lease_free_at,
    live_leases,
    param,
    release_lease,
    release_probe,
    slide_buckets,
)

_CLOSED = State.CLOSED
_OPEN = State.OPEN
_HALF_OPEN = State.HALF_OPEN

#: result codes in a count window / half-open trial: ok, failed, slow ok, slow failed
_OK, _FAILED, _SLOW, _SLOW_FAILED = "o", "f", "s", "x"
_MAX_BUCKETS = 3600


@register_state
@dataclass(frozen=True, slots=True)
class RateState:
    """State of one ``failure-rate`` breaker."""

    status: State = State.CLOSED
    generation: int = 0
    #: count window: the last results, oldest first, one code per result (o f s x)
    ring: str = ""
    #: time window: (bucket index, calls, failures, slow calls), oldest first, non-empty only
    buckets: tuple[Bucket, ...] = ()
    #: time window totals over ``buckets``
    calls: int = 0
    failures: int = 0
    slows: int = 0
    #: OPEN: end of the wait
    open_until: float = 0.0
    #: HALF_OPEN: when it turned half-open
    since: float = 0.0
    #: HALF_OPEN: lease start times of the probes out
    probes: tuple[float, ...] = ()
    #: HALF_OPEN: results of this generation's probes (codes as in ``ring``)
    trial: str = ""
    #: OPEN / HALF_OPEN: failures that opened it
    failure_count: int = 0
    #: re-openings since the last close
    retry_cycles: int = 0


def _counts(codes: str) -> tuple[int, int, int]:
    """(calls, failures, slow calls) of a string of result codes."""
    x = codes.count(_SLOW_FAILED)
    return len(codes), codes.count(_FAILED) + x, codes.count(_SLOW) + x


class FailureRateBreaker(BreakerParams):
    """Opens when the failure (or slow-call) rate over a sliding window reaches a threshold."""

    name: ClassVar[str] = "failure-rate"
    scope: ClassVar[Literal["target", "model"]] = "target"

    window_type: Literal["count", "time"] = param(
        "count", "count: the last window_size results; time: the results of the last window_size "
        "seconds", "count | time"
    )
    window_size: Annotated[float, BeforeValidator(seconds), Field(gt=0)] = param(
        100, "size of the sliding window: results (count window) or seconds (time window)",
        "calls or s"
    )
    bucket: PositiveSeconds = param(
        1.0, "width of a time-window bucket (results are aggregated per bucket)", "s"
    )
    minimum_calls: int = param(
        10, "results needed in the window before rates are judged (a count window needs at "
        "most window_size)", "calls", ge=1
    )
    failure_rate_threshold: Percent = param(
        50.0, "opens when the failure rate over the window is at or above this", "%"
    )
    slow_call_rate_threshold: Percent = param(
        100.0, "opens when the share of slow results over the window is at or above this", "%"
    )
    open_time: Seconds = param(
        60.0, "wait in OPEN before the next admission turns the breaker half-open", "s"
    )
    half_open_permits: int = param(
        3, "probe calls permitted while half-open; their results decide close or re-open",
        "calls", ge=1
    )
    max_half_open_wait: Seconds = param(
        0.0, "re-open when the probes' results are not all in after this long half-open "
        "(0: wait forever)", "s"
    )
    probe_timeout: PositiveSeconds = param(
        60.0, "a probe not back after this long is abandoned and its permit freed", "s"
    )

    @model_validator(mode="after")
    def _check_window(self) -> FailureRateBreaker:
        if self.window_type == "count":
            if self.window_size != int(self.window_size):
                raise ValueError(
                    "window_size of a count window must be a whole number of calls "
                    f"(got {self.window_size:g})"
                )
        elif self.window_size / self.bucket > _MAX_BUCKETS:
            raise ValueError(f"window_size / bucket must be at most {_MAX_BUCKETS} buckets")
        return self

    @cached_property
    def _count_size(self) -> int:
        return int(self.window_size)

    @cached_property
    def _all_ok(self) -> str:
        return _OK * int(self.window_size) if self.window_type == "count" else ""

    @cached_property
    def _nbuckets(self) -> int:
        return bucket_count(self.window_size, self.bucket)

    @cached_property
    def _min_calls(self) -> int:
        if self.window_type == "count":
            return min(self.minimum_calls, int(self.window_size))
        return self.minimum_calls

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> RateState:
        return RateState()

    def admit(
        self, state: RateState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, RateState | None]:
        if state.status is _CLOSED:
            return admit_unchanged(state.generation)
        g = state.generation
        if state.status is _OPEN:
            if now < state.open_until:
                return Admission(False, False, g, now, state.open_until), None
            new = RateState(
                _HALF_OPEN, g + 1, since=now, probes=(now,),
                failure_count=state.failure_count, retry_cycles=state.retry_cycles,
            )
            return Admission(True, True, g + 1, now), new
        wait = self.max_half_open_wait
        if wait > 0 and now >= state.since + wait:
            new = self._open(state, now, state.failure_count, state.retry_cycles + 1)
            return Admission(False, False, new.generation, now, new.open_until), new
        timeout = self.probe_timeout
        live = live_leases(state.probes, now, timeout)
        if len(live) + len(state.trial) < self.half_open_permits:
            return Admission(True, True, g, now), replace(state, probes=(*live, now))
        retry_at = lease_free_at(live, timeout)
        if wait > 0 and (retry_at is None or state.since + wait < retry_at):
            retry_at = state.since + wait
        return Admission(False, False, g, now, retry_at), None

    def record(
        self, state: RateState, org: str, ticket: Admission, outcome: Outcome, now: float
    ) -> RateState | None:
        g = state.generation
        if ticket.generation != g:
            return state if ticket.generation > g else None
        kind = self.kinds[outcome]
        status = state.status
        if status is _CLOSED:
            if kind == NEUTRAL:
                return None
            slow = outcome is Outcome.SLOW
            code = (_SLOW if slow else _OK) if kind == OK else (_SLOW_FAILED if slow else _FAILED)
            if self.window_type == "count":
                return self._record_count(state, code, kind == TRIP, now)
            return self._record_time(state, code, kind == TRIP, now)
        if status is _HALF_OPEN and ticket.probe:
            leases = release_lease(state.probes, ticket.at)
            if kind == TRIP:
                return self._open(state, now, state.failure_count + 1, state.retry_cycles + 1)
            if leases is None:
                # Its lease expired and went to another probe: counting this late result would
                # put more than K results in the trial.
                return None
            probes = leases
            if kind == NEUTRAL:
                return replace(state, probes=probes)
            slow = outcome is Outcome.SLOW
            if kind == OK:
                trial = state.trial + (_SLOW if slow else _OK)
            else:
                trial = state.trial + (_SLOW_FAILED if slow else _FAILED)
            if len(trial) < self.half_open_permits:
                return replace(state, probes=probes, trial=trial)
            calls, failures, slows = _counts(trial)
            if self._tripped(calls, failures, slows):
                return self._open(state, now, failures, state.retry_cycles + 1)
            return RateState(_CLOSED, g + 1)
        return None

    def release(
        self, state: RateState, org: str, ticket: Admission, now: float
    ) -> RateState | None:
        return release_probe(state, ticket)

    def view(self, state: RateState, org: str, now: float) -> BreakerView:
        status = state.status
        if status is _CLOSED:
            failures = _counts(state.ring)[1] if self.window_type == "count" else state.failures
            return BreakerView(_CLOSED, state.generation, failures, state.retry_cycles)
        return BreakerView(
            status,
            state.generation,
            state.failure_count,
            state.retry_cycles,
            state.open_until if status is _OPEN else None,
            self.open_time,
        )

    # ------------------------------------------------------------------ windows

    def _tripped(self, calls: int, failures: int, slows: int) -> bool:
        """Resilience4j's rule: a rate >= its threshold (exact integer arithmetic on percents)."""
        return (
            failures * 100 >= self.failure_rate_threshold * calls
            or slows * 100 >= self.slow_call_rate_threshold * calls
        )

    def _record_count(
        self, state: RateState, code: str, trip: bool, now: float
    ) -> RateState | None:
        ring = state.ring
        if code is _OK and ring == self._all_ok:
            return None  # a full window of successes, one more success: nothing changes
        ring = ring[1:] + code if len(ring) >= self._count_size else ring + code
        calls, failures, slows = _counts(ring)
        if trip or (calls >= self._min_calls and self._tripped(calls, failures, slows)):
            return self._open(state, now, failures, 0)
        if ring == state.ring:
            return None  # e.g. a full window of slow calls, one more slow call
        return RateState(_CLOSED, state.generation, ring, retry_cycles=state.retry_cycles)

    def _record_time(self, state: RateState, code: str, trip: bool, now: float) -> RateState:
        cur = math.floor(now / self.bucket)
        buckets, (calls, failures, slows) = slide_buckets(
            state.buckets, (state.calls, state.failures, state.slows), cur - self._nbuckets + 1
        )
        f = 1 if code in (_FAILED, _SLOW_FAILED) else 0
        s = 1 if code in (_SLOW, _SLOW_FAILED) else 0
        calls += 1
        failures += f
        slows += s
        if trip or (calls >= self._min_calls and self._tripped(calls, failures, slows)):
            return self._open(state, now, failures, 0)
        return RateState(
            _CLOSED, state.generation, "", add_to_bucket(buckets, cur, 1, f, s), calls, failures,
            slows, retry_cycles=state.retry_cycles,
        )

    def _open(self, state: RateState, now: float, failures: int, cycles: int) -> RateState:
        return RateState(
            _OPEN, state.generation + 1, open_until=now + self.open_time,
            failure_count=failures, retry_cycles=cycles,
        )
