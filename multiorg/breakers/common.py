"""Pieces every breaker policy shares: counting options, probe-permit leases, generation checks.

Outcome kinds
    A policy sees an :class:`~multiorg.outcomes.Outcome` per finished attempt and sorts it into
    one of four kinds (precomputed once per parameter set, see :attr:`BreakerParams.kinds`):

    * ``OK`` — the org answered: ``success``, and ``slow`` unless ``slow_is_failure``;
    * ``FAIL`` — an outcome listed in ``failure_outcomes`` (and ``slow`` if ``slow_is_failure``);
    * ``TRIP`` — an outcome listed in ``trip_immediately``: a failure that opens the breaker at
      once (an account locked for billing or a revoked key will not get better in a minute). It
      counts as a failure even when it is not listed in ``failure_outcomes``;
    * ``NEUTRAL`` — anything else, e.g. ``rate_limited`` when a user removed it from
      ``failure_outcomes``: neither a failure nor a success. Such a result judges nothing (it
      does not reset a run of failures, is not counted in a rate) but still gives back a
      probe permit. (``adaptive`` is the exception: there, every result that is not a failure
      is an accept, as the SRE book counts.) ``client_error`` never reaches a policy through
      the board; called directly, it is neutral too.

Probe permits as leases
    A half-open breaker hands out a bounded number of probe permits. A permit is held as the
    time ``at`` it was granted (the ticket's ``Admission.at``) in a tuple of lease start times.
    A lease taken at ``at`` is held while ``now < at + probe_timeout``; from
    ``at + probe_timeout`` on it is *abandoned* and free again, so a hung probe (a pod that
    died mid-call, a result lost on the way) can never wedge a breaker half-open. A result or a
    cancellation gives the permit back by ``ticket.at`` (one lease with that start time is
    removed; two probes granted at the same instant are interchangeable).

Generations
    Every status transition increments a state's ``generation`` and every ticket carries the
    generation it was granted in. A result from an *older* generation never moves the breaker;
    since each transition also drops all leases, its permit is already free. A ticket from a
    *newer* generation than the state in hand can only mean the state is a stale cached copy:
    policies then return the state unchanged (not ``None``) so that ``BreakerBoard`` re-runs
    ``record`` on the freshest value instead of dropping the result. See :func:`ticket_age`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
)

from ..config import PositiveSeconds, Seconds
from ..outcomes import ORG_FAULTS, OUTCOME_CODES, Outcome
from .base import Admission, State

__all__ = [
    "FAIL",
    "NEUTRAL",
    "OK",
    "TRIP",
    "BreakerParams",
    "Bucket",
    "FrozenParams",
    "Percent",
    "PositiveSeconds",
    "Seconds",
    "add_to_bucket",
    "admit_unchanged",
    "bucket_count",
    "lease_free_at",
    "live_leases",
    "param",
    "release_lease",
    "slide_buckets",
    "ticket_age",
]

#: kinds of outcome, as seen by a policy (see the module docstring)
OK, FAIL, TRIP, NEUTRAL = 0, 1, 2, 3

#: a percentage in (0, 100]
Percent = Annotated[float, Field(gt=0, le=100)]

#: outcomes that open a breaker at once by default: the account is locked or the key revoked
TRIP_DEFAULT: frozenset[Outcome] = frozenset({Outcome.QUOTA, Outcome.AUTH})

_NEVER_FAILURES = (Outcome.SUCCESS, Outcome.CLIENT_ERROR)


def param(default: Any, description: str, unit: str, **constraints: Any) -> Any:
    """A policy parameter's field: its default, what it does (one sentence) and its unit.

    The unit goes into the JSON schema as ``unit`` (``s`` for durations, ``%``, ``calls``, …), so
    a generated reference lists every parameter without reading the source. Constraints
    (``ge=1`` …) pass through to :func:`pydantic.Field`.
    """
    return Field(default, description=description, json_schema_extra={"unit": unit}, **constraints)


def find_org(entries: Sequence[tuple[Any, ...]], org: str) -> int:
    """The index of ``org``'s entry in a model-scoped state (each entry's first field is the org's
    name), or -1."""
    for i, e in enumerate(entries):
        if e[0] == org:
            return i
    return -1


def replace_at(entries: tuple[Any, ...], i: int, e: Any) -> tuple[Any, ...]:
    """``entries`` with entry ``i`` replaced by ``e`` (states are immutable tuples)."""
    return (*entries[:i], e, *entries[i + 1 :])


def insert_sorted(entries: tuple[Any, ...], e: Any) -> tuple[Any, ...]:
    """``entries`` (sorted by org name, each entry's first field) with ``e`` in its place."""
    i = 0
    while i < len(entries) and entries[i][0] < e[0]:
        i += 1
    return (*entries[:i], e, *entries[i:])


def _outcome_order(outcomes: Iterable[Outcome]) -> list[str]:
    return [o.value for o in sorted(outcomes, key=OUTCOME_CODES.__getitem__)]


class FrozenParams(BaseModel):
    """Base of every policy's parameters: immutable, unknown fields are an error.

    Policies precompute derived values (outcome kinds, bucket counts) as cached properties,
    so :meth:`model_copy` with ``update`` validates a new instance instead of copying them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        if not update:
            return super().model_copy(deep=deep)
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(update)
        return self.model_validate(data)


class BreakerParams(FrozenParams):
    """The counting options every policy takes (see the module docstring for the kinds)."""

    #: does ``admit`` draw from its rng? (the board then gives it one draw per admission, however
    #: often it looks; a policy outside this family is assumed to)
    random_admission: ClassVar[bool] = False

    failure_outcomes: frozenset[Outcome] = param(
        ORG_FAULTS, "outcomes that count as failures against the org", "outcomes"
    )
    trip_immediately: frozenset[Outcome] = param(
        TRIP_DEFAULT,
        "outcomes that open the breaker at once, one is enough (they count as failures even "
        "when not in failure_outcomes); may be empty",
        "outcomes",
    )
    slow_is_failure: bool = param(
        False,
        "count a slow success (a 2xx slower than the router's slow_call_threshold) as a failure",
        "flag",
    )

    @field_validator("failure_outcomes", "trip_immediately")
    @classmethod
    def _not_success(cls, v: frozenset[Outcome]) -> frozenset[Outcome]:
        for o in _NEVER_FAILURES:
            if o in v:
                raise ValueError(f"{o.value!r} can never count against an org")
        return v

    @field_serializer("failure_outcomes", "trip_immediately")
    def _dump_sorted(self, v: frozenset[Outcome]) -> list[str]:
        # sets iterate in hash order, which varies between runs: reports must be byte-stable
        return _outcome_order(v)

    @cached_property
    def kinds(self) -> dict[Outcome, int]:
        """Outcome → ``OK`` / ``FAIL`` / ``TRIP`` / ``NEUTRAL``, computed once."""
        out: dict[Outcome, int] = {}
        for o in Outcome:
            if o in self.trip_immediately:
                out[o] = TRIP
            elif o in self.failure_outcomes or (o is Outcome.SLOW and self.slow_is_failure):
                out[o] = FAIL
            elif o is Outcome.SUCCESS or o is Outcome.SLOW:
                out[o] = OK
            else:
                out[o] = NEUTRAL
        return out


# --------------------------------------------------------------------------- admissions

_CACHE_LIMIT = 1 << 16
_ADMIT: dict[int, tuple[Admission, None]] = {}


def admit_unchanged(generation: int) -> tuple[Admission, None]:
    """``(Admission(allowed=True, generation=generation), None)``, shared, never reallocated.

    The answer of every policy's fast path (a closed breaker admitting a regular attempt). The
    ticket's ``at`` is 0.0: only probe tickets are identified by their grant time.
    """
    r = _ADMIT.get(generation)
    if r is None:
        r = (Admission(True, False, generation), None)
        if 0 <= generation < _CACHE_LIMIT:
            r = _ADMIT.setdefault(generation, r)
    return r


def ticket_age(ticket: Admission, generation: int) -> int:
    """``-1``: the ticket is from an older generation (stale), ``0``: current, ``1``: newer."""
    g = ticket.generation
    return 0 if g == generation else (-1 if g < generation else 1)


# --------------------------------------------------------------------------- leases

def live_leases(leases: tuple[float, ...], now: float, timeout: float) -> tuple[float, ...]:
    """The leases still held at ``now`` (``leases`` itself when none has expired)."""
    for at in leases:
        if now >= at + timeout:
            return tuple(a for a in leases if now < a + timeout)
    return leases


def release_lease(leases: tuple[float, ...], at: float) -> tuple[float, ...] | None:
    """``leases`` without one lease started at ``at``; ``None`` if no such lease is held."""
    try:
        i = leases.index(at)
    except ValueError:
        return None
    return leases[:i] + leases[i + 1 :]


def release_probe(state: Any, ticket: Admission) -> Any:
    """``release`` of the machines whose state has ``status``, ``generation`` and ``probes``
    (trip and failure-rate): give a cancelled probe's permit back, judge nothing."""
    if not ticket.probe:
        return None
    if ticket.generation != state.generation:
        return state if ticket.generation > state.generation else None
    if state.status is not State.HALF_OPEN:
        return None
    leases = release_lease(state.probes, ticket.at)
    return None if leases is None else dataclasses.replace(state, probes=leases)


def lease_free_at(leases: tuple[float, ...], timeout: float) -> float | None:
    """The earliest time a permit frees by lease expiry (``None`` with no lease held)."""
    return min(leases) + timeout if leases else None


# --------------------------------------------------------------------------- time buckets

#: one aggregate bucket of a time window: (bucket index, three counters)
Bucket = tuple[int, int, int, int]


def slide_buckets(
    buckets: tuple[Bucket, ...], totals: tuple[int, int, int], lo: int
) -> tuple[tuple[Bucket, ...], tuple[int, int, int]]:
    """Drop the buckets with index below ``lo`` and subtract them from the running ``totals``.

    A time window of ``n`` buckets ending with bucket ``cur`` is ``lo = cur - n + 1 … cur``:
    bucket ``i`` covers ``[i·width, (i+1)·width)``, so a result stamped exactly at a bucket
    edge belongs to the later bucket and leaves the window with it.
    """
    if not buckets or buckets[0][0] >= lo:
        return buckets, totals
    a, b, c = totals
    keep = 0
    for bk in buckets:
        if bk[0] >= lo:
            break
        a -= bk[1]
        b -= bk[2]
        c -= bk[3]
        keep += 1
    return buckets[keep:], (a, b, c)


def add_to_bucket(
    buckets: tuple[Bucket, ...], cur: int, a: int, b: int, c: int
) -> tuple[Bucket, ...]:
    """``buckets`` (sorted by index) with ``(a, b, c)`` added to bucket ``cur``."""
    if buckets:
        last = buckets[-1]
        if last[0] == cur:
            return (*buckets[:-1], (cur, last[1] + a, last[2] + b, last[3] + c))
        if last[0] > cur:  # stamped before the newest bucket (another pod's clock): merge
            merged: list[Bucket] = []
            placed = False
            for bk in buckets:
                if not placed and bk[0] >= cur:
                    if bk[0] == cur:
                        bk = (cur, bk[1] + a, bk[2] + b, bk[3] + c)
                    else:
                        merged.append((cur, a, b, c))
                    placed = True
                merged.append(bk)
            return tuple(merged)
    return (*buckets, (cur, a, b, c))


def bucket_count(window: float, width: float) -> int:
    """Buckets of ``width`` seconds making a window of ``window`` seconds (at least one)."""
    return max(1, math.ceil(window / width - 1e-9))
