"""``outlier``: Envoy-style outlier detection — eject the orgs that do worse than their peers.

Scope ``"model"``: one state record covers every org serving a model, because the judgement
is relative (an org is an outlier only against the others). ``admit`` / ``record`` / ``view``
take the org; :meth:`OutlierDetector.orgs_in` lists the orgs in the record (sorted by name).
Orgs join the record at their first admission.

Per org, results are counted over fixed intervals of ``interval`` seconds (the grid starts
when the record is created). Intervals are evaluated lazily: the first admission or result at
or after an interval's end processes every boundary crossed since, in order, as Envoy's
interval timer would have:

1. ejected orgs whose ejection has expired are returned;
2. (first boundary only — later ones saw no traffic) **success-rate ejection**: among orgs
   not ejected with at least ``success_rate_request_volume`` results in the interval, if
   there are at least ``success_rate_minimum_hosts`` of them, an org whose success rate is
   *below* ``mean - success_rate_stdev_factor * stdev`` (population stdev of those rates) is
   ejected; then **failure-percentage ejection**: among orgs with at least
   ``failure_percentage_request_volume`` results, if at least
   ``failure_percentage_minimum_hosts``, an org whose failure percentage is *greater than or
   equal to* ``failure_percentage_threshold`` is ejected. Worst orgs are tried first;
3. the ejection multiplier of every org not ejected, returned at least one interval ago, is
   decremented by one (Envoy: the backoff decays while the host stays healthy);
4. the interval's counters are cleared.

Between boundaries, **consecutive-failure ejection** acts at once: ``consecutive_failures``
failures in a row (a success resets the run; 0 disables) eject the org, and so does one
``trip_immediately`` outcome. The run is reset after the event, ejected or not (as Envoy).

Ejection rules (Envoy's ``ejectHost``)
    Each ejection increments the org's multiplier (while ``multiplier * base < max + base``);
    the org is ejected for ``min(base_ejection_time * multiplier, max_ejection_time)``.
    An ejection happens only if afterwards at most ``max_ejection_percent`` of the orgs in the
    record are ejected — or, with ``always_eject_one`` (Envoy's ``always_eject_one_host``),
    when no org is ejected yet. Unlike Envoy, it *never* ejects the last org standing: with
    one org, or all others ejected, nothing is ejected (the pool would be empty).

States
    Envoy has no half-open: an ejected org is OPEN (admits nothing; ``retry_at`` is the end of
    its ejection) and is CLOSED again — a new generation, its consecutive run reset — at the
    first admission at or after the ejection's end (or at an interval boundary after it,
    whichever comes first). Ejection and return each increment the org's generation; results
    of older generations are ignored.

View: ``failure_count`` = the failures that caused the ejection (OPEN) or the current run of
consecutive failures (CLOSED); ``retry_cycles`` = earlier ejections still weighing on the
multiplier (multiplier - 1 while ejected, the multiplier while not); ``block_duration`` = the
ejection's length.

Cost: every result changes the interval counters, so every result is a store write — to the
one record shared by all orgs of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Final, Literal

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
    Percent,
    PositiveSeconds,
    admit_unchanged,
    find_org,
    insert_sorted,
    param,
    replace_at,
)

# Fields of one org's entry (a plain tuple, so the state stays JSON-encodable).
NAME: Final = 0  #: str: the org
GEN: Final = 1  #: int: generation (ejections and returns)
UNTIL: Final = 2  #: float | None: end of the current ejection; None when not ejected
SINCE: Final = 3  #: float: start of the current (last) ejection
MULT: Final = 4  #: int: Envoy's ejection-time multiplier
RETURNED: Final = 5  #: float | None: when the org last came back from an ejection
CONSEC: Final = 6  #: int: current run of consecutive failures
CALLS: Final = 7  #: int: judged results in the current interval
OKS: Final = 8  #: int: successes in the current interval
FAILED: Final = 9  #: int: failures that caused the current (last) ejection
EJECTIONS: Final = 10  #: int: ejections so far

Entry = tuple[str, int, float | None, float, int, float | None, int, int, int, int, int]

_CLOSED_VIEW_STATE = State.CLOSED


def _new_entry(org: str) -> Entry:
    return (org, 0, None, 0.0, 0, None, 0, 0, 0, 0, 0)


@register_state
@dataclass(frozen=True, slots=True)
class OutlierState:
    """All orgs of one model: the current interval's end and one entry per org, by name."""

    interval_end: float = 0.0
    orgs: tuple[Entry, ...] = ()



class OutlierDetector(BreakerParams):
    """Ejects orgs by consecutive failures, success rate against peers, or failure percentage."""

    name: ClassVar[str] = "outlier"
    scope: ClassVar[Literal["target", "model"]] = "model"

    consecutive_failures: int = param(
        5, "failures in a row that eject an org at once (0: off)", "failures", ge=0
    )
    interval: PositiveSeconds = param(
        10.0, "length of the counting interval; rates are judged at its end", "s"
    )
    base_ejection_time: PositiveSeconds = param(
        30.0, "ejection time per multiplier step (the multiplier grows with each ejection and "
        "decays while the org stays healthy)", "s"
    )
    max_ejection_time: PositiveSeconds = param(300.0, "cap on the ejection time", "s")
    max_ejection_percent: float = param(
        50.0, "at most this share of the model's orgs ejected at once", "%", ge=0, le=100
    )
    always_eject_one: bool = param(
        True, "allow one ejection even when max_ejection_percent forbids it (never the last org)",
        "flag"
    )
    success_rate_stdev_factor: float | None = param(
        1.9, "eject an org whose success rate is below the orgs' mean - factor x stdev "
        "(null: success-rate ejection off)", "stdevs", ge=0
    )
    success_rate_minimum_hosts: int = param(
        3, "orgs with enough volume needed before success-rate ejection judges", "orgs", ge=1
    )
    success_rate_request_volume: int = param(
        20, "results an org needs in the interval to take part in success-rate ejection",
        "calls", ge=1
    )
    failure_percentage_threshold: Percent | None = param(
        85.0, "eject an org whose failure share in the interval is at or above this "
        "(null: failure-percentage ejection off)", "%"
    )
    failure_percentage_minimum_hosts: int = param(
        2, "orgs with enough volume needed before failure-percentage ejection judges", "orgs",
        ge=1
    )
    failure_percentage_request_volume: int = param(
        20, "results an org needs in the interval to take part in failure-percentage ejection",
        "calls", ge=1
    )

    @model_validator(mode="after")
    def _cap_above_base(self) -> OutlierDetector:
        if self.max_ejection_time < self.base_ejection_time:
            raise ValueError(
                f"max_ejection_time ({self.max_ejection_time:g}s) must be >= "
                f"base_ejection_time ({self.base_ejection_time:g}s)"
            )
        return self

    @cached_property
    def _max_boundaries(self) -> int:
        """Boundaries worth replaying after an idle gap: by then every ejection has expired and
        every multiplier has decayed to zero, so the rest change nothing."""
        m = self.max_ejection_time
        return math.ceil(m / self.interval) + math.ceil(m / self.base_ejection_time) + 4

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> OutlierState:
        return OutlierState(now + self.interval, ())

    def orgs_in(self, state: OutlierState) -> tuple[str, ...]:
        """The orgs in the record, sorted by name."""
        return tuple(e[NAME] for e in state.orgs)

    def admit(
        self, state: OutlierState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, OutlierState | None]:
        rolled = state if now < state.interval_end else self._roll(state, now)
        orgs = rolled.orgs
        for i, e in enumerate(orgs):
            if e[0] == org:
                until = e[UNTIL]
                if until is None:
                    if rolled is state:
                        return admit_unchanged(e[GEN])
                    return admit_unchanged(e[GEN])[0], rolled
                if now < until:
                    adm = Admission(False, False, e[GEN], now, until)
                    return adm, (None if rolled is state else rolled)
                back = _returned(e)
                return admit_unchanged(back[GEN])[0], _put(rolled, i, back)
        return admit_unchanged(0)[0], _insert(rolled, _new_entry(org))

    def record(
        self, state: OutlierState, org: str, ticket: Admission, outcome: Outcome, now: float
    ) -> OutlierState | None:
        rolled = state if now < state.interval_end else self._roll(state, now)
        changed = None if rolled is state else rolled
        i = find_org(rolled.orgs, org)
        if i < 0:
            if ticket.generation > 0:
                return state  # a stale cached copy: let the board look at the fresh one
            rolled = _insert(rolled, _new_entry(org))
            changed = rolled
            i = find_org(rolled.orgs, org)
        e = rolled.orgs[i]
        if ticket.generation != e[GEN]:
            return state if ticket.generation > e[GEN] else changed
        if e[UNTIL] is not None:
            return changed
        kind = self.kinds[outcome]
        if kind == NEUTRAL:
            return changed
        if kind == OK:
            e = (*e[:CONSEC], 0, e[CALLS] + 1, e[OKS] + 1, *e[FAILED:])
            return _put(rolled, i, e)
        run = e[CONSEC] + 1
        e = (*e[:CONSEC], run, e[CALLS] + 1, *e[OKS:])
        limit = self.consecutive_failures
        if kind == TRIP or (limit and run >= limit):
            # the run is reset by the event, whether the cap lets the ejection happen or not
            e = (*e[:CONSEC], 0, *e[CALLS:])
            orgs = list(rolled.orgs)
            orgs[i] = e
            if self._may_eject(orgs, now):
                orgs[i] = self._eject(e, now, run)
            return OutlierState(rolled.interval_end, tuple(orgs))
        return _put(rolled, i, e)

    def release(
        self, state: OutlierState, org: str, ticket: Admission, now: float
    ) -> OutlierState | None:
        return None  # no probes: nothing to give back

    def view(self, state: OutlierState, org: str, now: float) -> BreakerView:
        i = find_org(state.orgs, org)
        if i < 0:
            return BreakerView(_CLOSED_VIEW_STATE)
        e = state.orgs[i]
        until = e[UNTIL]
        if until is None:
            return BreakerView(_CLOSED_VIEW_STATE, e[GEN], e[CONSEC], e[MULT])
        return BreakerView(
            State.OPEN, e[GEN], e[FAILED], max(0, e[MULT] - 1), until, until - e[SINCE]
        )

    # ------------------------------------------------------------------ ejection

    def _may_eject(self, orgs: list[Entry], now: float) -> bool:
        n = len(orgs)
        active = sum(1 for e in orgs if e[UNTIL] is not None and e[UNTIL] > now)
        if active + 1 >= n:
            return False  # never the last org standing
        if 100 * (active + 1) <= self.max_ejection_percent * n:
            return True
        return self.always_eject_one and active == 0

    def _eject(self, e: Entry, at: float, failed: int) -> Entry:
        base = self.base_ejection_time
        mult = e[MULT]
        if mult * base < self.max_ejection_time + base:
            mult += 1
        until = at + min(base * mult, self.max_ejection_time)
        return (
            e[NAME], e[GEN] + 1, until, at, mult, e[RETURNED], 0, e[CALLS], e[OKS], failed,
            e[EJECTIONS] + 1,
        )

    def _roll(self, state: OutlierState, now: float) -> OutlierState:
        """Process every interval boundary in ``(…, now]`` (see the module docstring)."""
        interval = self.interval
        end = state.interval_end
        crossed = math.floor((now - end) / interval) + 1
        orgs = list(state.orgs)
        for j in range(min(crossed, self._max_boundaries)):
            b = end + j * interval
            for i, e in enumerate(orgs):
                if e[UNTIL] is not None and e[UNTIL] <= b:
                    orgs[i] = _returned(e)
            if j == 0:
                self._evaluate(orgs, b)
            for i, e in enumerate(orgs):
                returned = e[RETURNED]
                if (
                    e[UNTIL] is None
                    and e[MULT] > 0
                    and returned is not None
                    and b - returned >= interval
                ):
                    orgs[i] = (*e[:MULT], e[MULT] - 1, *e[RETURNED:])
            if j == 0:
                orgs = [(*e[:CALLS], 0, 0, *e[FAILED:]) for e in orgs]
        return OutlierState(end + crossed * interval, tuple(orgs))

    def _evaluate(self, orgs: list[Entry], b: float) -> None:
        """Success-rate then failure-percentage ejections at boundary ``b`` (in place)."""
        factor = self.success_rate_stdev_factor
        if factor is not None:
            volume = self.success_rate_request_volume
            valid = [
                (e[OKS] * 100.0 / e[CALLS], e[NAME], e[CALLS] - e[OKS])
                for e in orgs
                if e[UNTIL] is None and e[CALLS] >= volume
            ]
            if valid and len(valid) >= self.success_rate_minimum_hosts:
                rates = [v[0] for v in valid]
                mean = math.fsum(rates) / len(rates)
                stdev = math.sqrt(math.fsum((r - mean) ** 2 for r in rates) / len(rates))
                threshold = mean - factor * stdev
                for rate, org, failed in sorted(valid):
                    if rate < threshold:
                        self._try_eject(orgs, org, b, failed)
        pct = self.failure_percentage_threshold
        if pct is not None:
            volume = self.failure_percentage_request_volume
            valid2 = [
                (e[OKS] / e[CALLS], e[NAME], e[CALLS] - e[OKS])
                for e in orgs
                if e[UNTIL] is None and e[CALLS] >= volume
            ]
            if valid2 and len(valid2) >= self.failure_percentage_minimum_hosts:
                for _, org, failed in sorted(valid2):
                    i = find_org(tuple(orgs), org)
                    e = orgs[i]
                    if e[UNTIL] is None and failed * 100 >= pct * e[CALLS]:
                        self._try_eject(orgs, org, b, failed)

    def _try_eject(self, orgs: list[Entry], org: str, at: float, failed: int) -> None:
        for i, e in enumerate(orgs):
            if e[NAME] == org:
                if e[UNTIL] is None and self._may_eject(orgs, at):
                    orgs[i] = self._eject(e, at, failed)
                return


def _returned(e: Entry) -> Entry:
    """The org back from its ejection, as of the ejection's end."""
    return (
        e[NAME], e[GEN] + 1, None, e[SINCE], e[MULT], e[UNTIL], 0, 0, 0, e[FAILED], e[EJECTIONS]
    )


def _put(state: OutlierState, i: int, e: Entry) -> OutlierState:
    return OutlierState(state.interval_end, replace_at(state.orgs, i, e))


def _insert(state: OutlierState, e: Entry) -> OutlierState:
    return OutlierState(state.interval_end, insert_sorted(state.orgs, e))
