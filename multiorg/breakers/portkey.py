"""``portkey``: the Portkey AI Gateway's circuit breaker (``cb_config``), modelled from its source.

One org = one Portkey *target*; the orgs serving a model = the targets of one strategy. Sources:

* docs: "Circuit Breaker" (portkey.ai/docs/product/ai-gateway/circuit-breaker) — the
  ``cb_config`` fields; "Circuit closes (CLOSED) automatically after cooldown_interval passes";
  "If all targets are OPEN, circuit breaker is bypassed" ("If no healthy targets remain, circuit
  breaker is bypassed and all targets are used for routing");
* Portkey-AI/gateway ``src/utils/circuitBreaker.ts`` — ``extractCircuitBreakerConfigs``
  (``cooldown_interval`` raised to at least 30 s), ``checkCircuitBreakerStatus`` (the open test,
  ``minimum_requests || 5``, the reset once ``now - first_failure_time > cooldown_interval``),
  ``isCircuitBreakerFailure`` (``failure_status_codes``, else status >= 500),
  ``handleCircuitBreakerResponse`` (a 2xx is a success; a non-2xx not listed is neither);
* ``src/services/cache/durable-objects/CircuitBreakerDO.ts`` — ``recordFailure`` counts a failure
  and, at the first one, stamps ``first_failure_time`` and zeroes the success count;
  ``recordSuccess`` counts a success; one record per config, shared by every gateway instance;
* ``src/handlers/retryHandler.ts`` — a request timeout becomes a 408, a fetch error a 500.

Per target the gateway keeps ``failure_count``, ``success_count`` and ``first_failure_time``.
The window opens at the first failure and lasts ``cooldown_interval``; when it has passed
(strictly), the record is wiped — counters zero, circuit CLOSED — whether or not it had opened.
Within the window the circuit is OPEN while
    ``failure_count >= failure_threshold``, or ``failure_count + success_count >=
    minimum_requests`` and ``100 · failure_count / (failure_count + success_count) >=
    failure_threshold_percentage``
(both ``>=`` in the code; the docs say "exceeds"). The test is re-made from the counters at each
request, so successes that arrive while it is open (in-flight calls, bypassed traffic) can bring a
percentage back under the threshold and close it early. There is no half-open and no probe: the
cooldown runs from the *first failure*, not from the moment it opened.

An OPEN target is skipped (refusals carry ``retry_at`` = the window's end) — unless every target of
the model is OPEN, when the breaker is bypassed and the target is admitted as if closed.

Modelling choices (where this is not Portkey)
    * Scope ``"model"``: one record holds every org of the model (Portkey keeps one record per
      config). Orgs join at their first admission; "every target" means every org in the record.
    * Statuses come from the router (``BreakerBoard.record``); without one a stand-in is used (see
      :mod:`multiorg.breakers.status`: a timeout is a 408, not a failure by default; a refused
      connection a 500).
    * A result that arrives after its target's window has passed is dropped: Portkey adds it to
      the old record and wipes it at the next status check. Windows that have passed are wiped at
      the next admission or result for any org of the model (Portkey checks every path per
      request). Alerts: OPENED when a result makes the test true, CLOSED when the window is wiped
      or the test turns false.

View: ``failure_count`` = failures in the window; ``retry_cycles`` = 0; ``open_until`` = the
window's end; ``block_duration`` = from opening to the window's end.

Cost: every result in a window is a store write; successes outside a window write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from pydantic import field_serializer, field_validator, model_validator

from ..clock import Rng
from ..config import PositiveSeconds
from ..outcomes import Outcome
from ..stores.codec import register_state
from .base import Admission, BreakerView, State
from .common import FrozenParams, admit_unchanged, find_org, insert_sorted, param, replace_at
from .status import status_code

__all__ = ["PortkeyBreaker", "PortkeyState"]

#: Portkey's floor on ``cooldown_interval`` (30 000 ms)
MIN_COOLDOWN: Final = 30.0

# Fields of one org's entry (a plain tuple, so the state stays JSON-encodable).
NAME: Final = 0  #: str: the org (target)
GEN: Final = 1  #: int: generation (opens and closes)
OPEN: Final = 2  #: bool: the circuit is open
FIRST: Final = 3  #: float | None: first_failure_time; None: no window
FAILS: Final = 4  #: int: failure_count in the window
OKS: Final = 5  #: int: success_count since the window opened
OPENED: Final = 6  #: float: when it last opened

Entry = tuple[str, int, bool, float | None, int, int, float]


def _new_entry(org: str) -> Entry:
    return (org, 0, False, None, 0, 0, 0.0)


@register_state
@dataclass(frozen=True, slots=True)
class PortkeyState:
    """Every target (org) of one model: one entry per org, sorted by name."""

    orgs: tuple[Entry, ...] = ()



class PortkeyBreaker(FrozenParams):
    """Portkey gateway circuit breaker: failure count or rate since the first failure; timer close."""

    name: ClassVar[str] = "portkey"
    scope: ClassVar[Literal["target", "model"]] = "model"
    #: ``admit`` never draws from its rng
    random_admission: ClassVar[bool] = False
    #: ``record`` takes the response's status (see ``BreakerBoard.record``)
    uses_response: ClassVar[bool] = True

    failure_threshold: int | None = param(
        None,
        "failures within the window that open the circuit (None: off; at least one "
        "of the two thresholds must be set)",
        "failures",
        ge=1,
    )
    failure_threshold_percentage: float | None = param(
        20.0,
        "failure percentage within the window that opens the circuit, once "
        "minimum_requests results are in (None: off; 20 as in Portkey's documented example)",
        "%",
        gt=0,
        le=100,
    )
    minimum_requests: int = param(
        5,
        "results within the window needed before the percentage counts (the "
        "gateway's default when unset: 5)",
        "calls",
        ge=1,
    )
    cooldown_interval: PositiveSeconds = param(
        60.0,
        "length of the window opened by the first failure; the circuit closes and the "
        "counters reset when it has passed (Portkey's floor: 30 s; 60 s as in its example)",
        "s",
    )
    failure_status_codes: frozenset[int] | None = param(
        None,
        "HTTP statuses counted as failures (None: every status >= 500)",
        "statuses",
    )

    @field_validator("cooldown_interval")
    @classmethod
    def _floor(cls, v: float) -> float:
        if v < MIN_COOLDOWN:
            raise ValueError(f"must be >= {MIN_COOLDOWN:g}s, Portkey's minimum (got {v:g}s)")
        return v

    @field_validator("failure_status_codes")
    @classmethod
    def _statuses(cls, v: frozenset[int] | None) -> frozenset[int] | None:
        if v is not None:
            for code in v:
                if not 100 <= code <= 599:
                    raise ValueError(f"{code} is not an HTTP status")
        return v

    @field_serializer("failure_status_codes")
    def _dump_sorted(self, v: frozenset[int] | None) -> list[int] | None:
        return None if v is None else sorted(v)  # byte-stable reports

    @model_validator(mode="after")
    def _a_threshold(self) -> PortkeyBreaker:
        if self.failure_threshold is None and self.failure_threshold_percentage is None:
            raise ValueError(
                "set failure_threshold or failure_threshold_percentage (Portkey ignores a "
                "cb_config with neither)"
            )
        return self

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> PortkeyState:
        return PortkeyState()

    def orgs_in(self, state: PortkeyState) -> tuple[str, ...]:
        """The orgs (targets) in the record, sorted by name."""
        return tuple(e[NAME] for e in state.orgs)

    def admit(
        self, state: PortkeyState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, PortkeyState | None]:
        rolled = self._roll(state, now)
        orgs = rolled.orgs
        i = find_org(orgs, org)
        if i < 0:
            new = _insert(rolled, _new_entry(org))
            return admit_unchanged(0)[0], new
        e = orgs[i]
        changed = None if rolled is state else rolled
        if e[OPEN] and not all(x[OPEN] for x in orgs):
            first = e[FIRST]
            end = None if first is None else first + self.cooldown_interval
            return Admission(False, False, e[GEN], now, end), changed
        # closed, or every target open: the breaker is bypassed
        adm = admit_unchanged(e[GEN])
        return (adm if changed is None else (adm[0], changed))

    def record(
        self,
        state: PortkeyState,
        org: str,
        ticket: Admission,
        outcome: Outcome,
        now: float,
        status: int = 0,
        retry_after: float | None = None,
        pod: str = "",
    ) -> PortkeyState | None:
        i = find_org(state.orgs, org)
        if i >= 0 and ticket.generation > state.orgs[i][GEN]:
            return state  # a stale cached copy: let the board look at the fresh one
        if i < 0 and ticket.generation > 0:
            return state
        e = state.orgs[i] if i >= 0 else _new_entry(org)
        first = e[FIRST]
        if first is not None and now - first > self.cooldown_interval:
            # too late for its window: Portkey adds it to the old record, then wipes the record
            rolled = self._roll(state, now)
            return None if rolled is state else rolled
        rolled = self._roll(state, now)
        changed = None if rolled is state else rolled
        if outcome is Outcome.CLIENT_ERROR:
            return changed
        code = status_code(outcome, status)
        codes = self.failure_status_codes
        failed = code in codes if codes is not None else code >= 500
        if failed:
            if first is None:
                e = (e[NAME], e[GEN], e[OPEN], now, e[FAILS] + 1, 0, e[OPENED])
            else:
                e = (*e[:FAILS], e[FAILS] + 1, *e[OKS:])
        elif outcome.ok and first is not None:
            e = (*e[:OKS], e[OKS] + 1, e[OPENED])
        else:
            return changed  # no window (the first failure zeroes successes) or neither kind
        trips = self._trips(e[FAILS], e[OKS])
        if trips != e[OPEN]:
            e = (e[NAME], e[GEN] + 1, trips, e[FIRST], e[FAILS], e[OKS], now if trips else e[OPENED])
        if i < 0:
            return _insert(rolled, e)
        return _put(rolled, find_org(rolled.orgs, org), e)

    def release(
        self, state: PortkeyState, org: str, ticket: Admission, now: float
    ) -> PortkeyState | None:
        return None  # no probes: nothing to give back

    def view(self, state: PortkeyState, org: str, now: float) -> BreakerView:
        i = find_org(state.orgs, org)
        if i < 0:
            return BreakerView(State.CLOSED)
        e = state.orgs[i]
        if not e[OPEN]:
            return BreakerView(State.CLOSED, e[GEN], e[FAILS])
        first = e[FIRST]
        end = (first if first is not None else e[OPENED]) + self.cooldown_interval
        return BreakerView(State.OPEN, e[GEN], e[FAILS], 0, end, end - e[OPENED])

    # ------------------------------------------------------------------ the rules

    def _trips(self, fails: int, oks: int) -> bool:
        """``checkCircuitBreakerStatus``'s open test on the window's counters."""
        n = self.failure_threshold
        if n is not None and fails >= n:
            return True
        pct = self.failure_threshold_percentage
        total = fails + oks
        return pct is not None and total >= self.minimum_requests and 100.0 * fails >= pct * total

    def _roll(self, state: PortkeyState, now: float) -> PortkeyState:
        """Wipe every window that has passed (``now - first_failure_time > cooldown_interval``)."""
        cooldown = self.cooldown_interval
        out: list[Entry] | None = None
        for i, e in enumerate(state.orgs):
            first = e[FIRST]
            if first is not None and now - first > cooldown:
                if out is None:
                    out = list(state.orgs)
                out[i] = (e[NAME], e[GEN] + 1 if e[OPEN] else e[GEN], False, None, 0, 0, e[OPENED])
        return state if out is None else PortkeyState(tuple(out))


def _put(state: PortkeyState, i: int, e: Entry) -> PortkeyState:
    return PortkeyState(replace_at(state.orgs, i, e))


def _insert(state: PortkeyState, e: Entry) -> PortkeyState:
    return PortkeyState(insert_sorted(state.orgs, e))
