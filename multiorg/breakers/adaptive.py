"""``adaptive``: Google SRE client-side throttling (*Site Reliability Engineering*, ch. 21).

Over a sliding window (``window`` seconds, aggregated in buckets of ``bucket`` seconds) the
client counts

* ``requests`` — every attempt the application made on this org, **including the ones this
  throttle rejected locally**, as the SRE book defines it;
* ``accepts`` — results that were not failures (``OK`` and ``NEUTRAL`` kinds: the org took
  the request).

Each admission rejects locally with probability
``max(0, (requests - k * accepts) / (requests + 1))``, drawing ``rng.random()`` only when that
probability is positive (a healthy org costs no random draw). ``k`` = 2 lets through up to
twice the traffic the org currently accepts; lower is more aggressive.

When attempts are counted
    A locally rejected attempt is counted at once. An admitted attempt is counted when its
    result arrives, together with its accept if any. Counted at admission instead, attempts
    in flight (seconds for an LLM call) would weigh as rejections: a cold window — every
    process start, an org after an idle spell — would see ``requests`` climb with no
    accepts yet and throttle healthy traffic at probability ``R / (R + 1)``. The totals are
    the book's once results are in; an admitted attempt whose result never comes (cancelled:
    the caller's doing) is not counted. A side effect: admitting changes nothing, so a
    healthy org's admissions cost no store write (every result, and every rejection, does).

There is no open state and no probe: the throttle never refuses with certainty, so traffic
keeps trickling to a sick org and tells when it recovers. For operators and alerts, the view
reports OPEN while the rejection probability, as of the last stored change, is at least
``open_view_threshold``, else CLOSED; each flip is a new generation, so the board raises
OPENED / CLOSED alerts on crossings. Results are never stale (no transition depends on
tickets). ``retry_at`` of a refusal is ``None``: the very next attempt may pass.

``trip_immediately`` is empty by default here (pure SRE). When configured, one such outcome
forgets the window's accepts, so the rejection probability jumps to ``requests / (requests + 1)``
at once and decays again as accepted results come in or the window slides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Literal

from pydantic import model_validator

from ..clock import Rng
from ..outcomes import Outcome
from ..stores.codec import register_state
from .base import Admission, BreakerView, State
from .common import (
    FAIL,
    TRIP,
    BreakerParams,
    Bucket,
    PositiveSeconds,
    add_to_bucket,
    admit_unchanged,
    bucket_count,
    param,
    slide_buckets,
)

_CLOSED = State.CLOSED
_OPEN = State.OPEN
_MAX_BUCKETS = 3600


@register_state
@dataclass(frozen=True, slots=True)
class AdaptiveState:
    """The window as (bucket index, requests, accepts, failures) buckets plus running totals."""

    buckets: tuple[Bucket, ...] = ()
    requests: int = 0
    accepts: int = 0
    failures: int = 0
    #: what the view reports (see the module docstring), as of the last update
    status: State = State.CLOSED
    generation: int = 0


class AdaptiveThrottle(BreakerParams):
    """Rejects locally with probability ``max(0, (requests - k·accepts) / (requests + 1))``."""

    name: ClassVar[str] = "adaptive"
    scope: ClassVar[Literal["target", "model"]] = "target"
    random_admission: ClassVar[bool] = True

    trip_immediately: frozenset[Outcome] = param(
        frozenset(),
        "outcomes that forget the window's accepts at once, so rejection jumps to nearly "
        "certain (empty: pure SRE throttling)",
        "outcomes",
    )
    k: float = param(
        2.0, "multiplier of accepts: up to k times the traffic the org accepts passes (lower "
        "is more aggressive)", "factor", gt=0
    )
    window: PositiveSeconds = param(120.0, "length of the sliding window of counts", "s")
    bucket: PositiveSeconds = param(5.0, "width of a window bucket", "s")
    open_view_threshold: float = param(
        0.5, "operators and alerts see OPEN while the rejection probability is at least this "
        "(alerts only: no admission depends on it)", "probability", gt=0, le=1
    )

    @model_validator(mode="after")
    def _check_buckets(self) -> AdaptiveThrottle:
        if self.window / self.bucket > _MAX_BUCKETS:
            raise ValueError(f"window / bucket must be at most {_MAX_BUCKETS} buckets")
        return self

    @cached_property
    def _nbuckets(self) -> int:
        return bucket_count(self.window, self.bucket)

    def probability(self, requests: int, accepts: int) -> float:
        """The SRE rejection probability for these counts."""
        p = (requests - self.k * accepts) / (requests + 1)
        return p if p > 0.0 else 0.0

    def window_counts(self, state: AdaptiveState, now: float) -> tuple[int, int]:
        """``(requests, accepts)`` in the window ending at ``now``."""
        _, requests, accepts, _ = self._slide(state, math.floor(now / self.bucket))
        return requests, accepts

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> AdaptiveState:
        return AdaptiveState()

    def admit(
        self, state: AdaptiveState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, AdaptiveState | None]:
        if not state.requests:
            return admit_unchanged(state.generation)
        cur = math.floor(now / self.bucket)
        buckets, requests, accepts, failures = self._slide(state, cur)
        p = self.probability(requests, accepts)
        if p == 0.0 or rng.random() >= p:
            return admit_unchanged(state.generation)  # counted when its result arrives
        new = self._update(state, cur, buckets, requests + 1, accepts, failures, 1, 0, 0)
        return Admission(False, False, new.generation, now, None), new

    def record(
        self, state: AdaptiveState, org: str, ticket: Admission, outcome: Outcome, now: float
    ) -> AdaptiveState | None:
        kind = self.kinds[outcome]
        cur = math.floor(now / self.bucket)
        buckets, requests, accepts, failures = self._slide(state, cur)
        requests += 1
        if kind == TRIP:
            buckets = tuple((b[0], b[1], 0, b[3]) for b in buckets)
            return self._update(state, cur, buckets, requests, 0, failures + 1, 1, 0, 1)
        if kind == FAIL:
            return self._update(state, cur, buckets, requests, accepts, failures + 1, 1, 0, 1)
        return self._update(state, cur, buckets, requests, accepts + 1, failures, 1, 1, 0)

    def release(
        self, state: AdaptiveState, org: str, ticket: Admission, now: float
    ) -> AdaptiveState | None:
        return None  # cancelled: the caller's doing, nothing is counted

    def view(self, state: AdaptiveState, org: str, now: float) -> BreakerView:
        return BreakerView(state.status, state.generation, state.failures)

    # ------------------------------------------------------------------ window

    def _slide(
        self, state: AdaptiveState, cur: int
    ) -> tuple[tuple[Bucket, ...], int, int, int]:
        """The buckets still in the window ending with bucket ``cur``, and their totals."""
        buckets, (requests, accepts, failures) = slide_buckets(
            state.buckets, (state.requests, state.accepts, state.failures), cur - self._nbuckets + 1
        )
        return buckets, requests, accepts, failures

    def _update(
        self,
        state: AdaptiveState,
        cur: int,
        buckets: tuple[Bucket, ...],
        requests: int,
        accepts: int,
        failures: int,
        dr: int,
        da: int,
        df: int,
    ) -> AdaptiveState:
        """Add (dr, da, df) to bucket ``cur``; new totals given; the reported status follows."""
        buckets = add_to_bucket(buckets, cur, dr, da, df)
        opened = self.probability(requests, accepts) >= self.open_view_threshold
        status = _OPEN if opened else _CLOSED
        generation = state.generation + (status is not state.status)
        return AdaptiveState(buckets, requests, accepts, failures, status, generation)
