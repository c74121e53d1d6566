"""The breaker protocol: one state machine per (org, model), policies as pure functions.

A policy never does I/O and never reads a clock. It maps ``(state, input, now)`` to a new
immutable state (or ``None`` for "no change"), so the same code runs against an in-process
``MemoryStore`` and, atomically, against Redis shared by many pods: the store applies the
policy's function to the freshest state under compare-and-set (see ``multiorg.stores``).

Generations: every status transition (CLOSED → OPEN → HALF_OPEN → …) increments the state's
``generation``. An :class:`Admission` carries the generation it was granted in; a result that
arrives from an earlier generation (a slow call admitted before the breaker opened, say) does
not move the breaker, except that a probe's permit is always released.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, TypeVar

from ..clock import Rng
from ..outcomes import Outcome


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: Stable small integers for columnar traces.
STATE_CODES: dict[State, int] = {State.CLOSED: 0, State.OPEN: 1, State.HALF_OPEN: 2}


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer to "may I send this attempt?" — and the ticket the result returns with."""

    allowed: bool
    probe: bool = False
    #: generation of the breaker when admitted (results from older generations are stale)
    generation: int = 0
    #: when admitted (the probe's lease is identified by it)
    at: float = 0.0
    #: when refused: the earliest time this breaker may admit again (None: unknown)
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class BreakerView:
    """What an operator (and an alert) sees of one breaker."""

    state: State
    generation: int = 0
    #: failures counted towards the last trip (the seed's "Failure count")
    failure_count: int = 0
    #: consecutive trips without a clean close (the seed's "Retry cycles")
    retry_cycles: int = 0
    #: end of the current block while OPEN
    open_until: float | None = None
    #: length of the current block while OPEN (the seed's "Block duration")
    block_duration: float = 0.0


S = TypeVar("S")


class BreakerPolicy(Protocol[S]):
    """One policy = one small module implementing this protocol.

    Policies are immutable parameter values (pydantic, frozen). ``scope`` says whether a state
    record guards one (org, model) — ``"target"`` — or all orgs of a model together —
    ``"model"`` (peer-relative policies such as outlier ejection).
    """

    name: ClassVar[str]
    scope: ClassVar[Literal["target", "model"]]

    def initial(self, now: float) -> S: ...

    def admit(self, state: S, org: str, now: float, rng: Rng) -> tuple[Admission, S | None]:
        """Decide one attempt. Return the admission and the new state, or ``None`` if unchanged."""
        ...

    def record(self, state: S, org: str, ticket: Admission, outcome: Outcome, now: float) -> S | None:
        """Account one finished attempt (``outcome`` is never ``client_error``)."""
        ...

    def release(self, state: S, org: str, ticket: Admission, now: float) -> S | None:
        """The attempt was cancelled without an outcome: give back a probe permit, judge nothing."""
        ...

    def view(self, state: S, org: str, now: float) -> BreakerView: ...


def params_summary(policy: Any) -> dict[str, Any]:
    """The policy's parameters as plain values (for reports and alerts)."""
    dump = getattr(policy, "model_dump", None)
    return dict(dump(mode="json")) if dump else {}
