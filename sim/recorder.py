"""The trace recorder: a ``RouterObserver`` and a breaker-event ``Notifier`` writing trace columns.

Requests: preallocated numpy arrays (the count is known up front), written by request id
(the router's ``tag``). Attempts and events: appended to ``array.array`` columns (see
:mod:`sim.trace`), 31 bytes per attempt. Times are stored as simulated seconds
(epoch - ``start_epoch``).
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

from multiorg.alerts import BreakerEvent
from multiorg.outcomes import OUTCOME_CODES, Outcome

from .trace import ATTEMPT_COLUMNS, CAUSE, EVENT_COLUMNS, EVENT_KINDS, NO_ORG, NO_ORG_CAUSES, Trace, _Table

_EVENT_CODE = {k: i for i, k in enumerate(EVENT_KINDS)}
#: demand is counted per this many simulated seconds (limits are per minute)
DEMAND_BIN = 60.0


def capacity_meta(scenario: Any, world: Any, arrivals: Any) -> dict[str, Any]:
    """A trace's ``meta["capacity"]``: what the vendors enforce and what the traffic offered.

    ``limits``: per org, per (vendor) model, the RPM and TPM the vendor enforces over time, as
    ``[[from sim second, rpm, tpm], ...]`` (scaled; faults' factors applied, 0 while locked out,
    null = unlimited; :meth:`sim.vendor_model.OrgModel.limits_over_time`); ``model_map``: per
    vendor, a requested model → the vendor's name for it; ``demand``: per requested model, the
    user requests and the tokens they ask for (prompt + max_tokens, as a vendor counts them
    against TPM) arriving in each ``bin`` seconds — offered load, before any retry."""
    n_bins = max(1, math.ceil(float(scenario.duration) / DEMAND_BIN))
    b = np.clip((np.asarray(arrivals.time, np.float64) // DEMAND_BIN).astype(np.int64), 0, n_bins - 1)
    tokens = np.asarray(arrivals.prompt_tokens, np.int64) + np.asarray(arrivals.max_tokens, np.int64)
    model = np.asarray(arrivals.model, np.int64)
    demand = {}
    for i, name in enumerate(arrivals.models):
        sel = model == i
        if sel.any():
            demand[str(name)] = {
                "requests": np.bincount(b[sel], minlength=n_bins).tolist(),
                "tokens": np.bincount(b[sel], weights=tokens[sel], minlength=n_bins).astype(np.int64).tolist(),
            }
    return {
        "limits": {o.name: {m: [list(step) for step in steps] for m, steps in o.limits_over_time().items()}
                   for o in world.orgs},
        "model_map": {v: dict(spec.model_map) for v, spec in scenario.vendors.items()},
        "demand": {"bin": DEMAND_BIN, "models": demand},
    }


class Recorder:
    """Records one run. ``observer`` is shared by all pods; each pod gets its own ``notifier(pod)``."""

    def __init__(self, *, start_epoch: float, orgs: list[str], models: list[str], arrival: np.ndarray,
                 pod: np.ndarray, session: np.ndarray) -> None:
        n = len(arrival)
        self.start_epoch = float(start_epoch)
        self.org_index = {name: i for i, name in enumerate(orgs)}
        self.models = list(models)
        self.model_index = {m: i for i, m in enumerate(self.models)}
        # as the router's clock reads it, (start_epoch + t) - start_epoch, so that every time in the
        # trace went through the same float rounding and end >= arrival holds exactly
        self.arrival = (self.start_epoch + np.asarray(arrival, dtype=np.float64)) - self.start_epoch
        self.pod = np.asarray(pod, dtype=np.int16)
        self.session = np.asarray(session, dtype=np.int64)
        # array.array: item assignment is several times cheaper than on a numpy array
        self.end = array("d", [math.nan]) * n
        self.outcome = array("b", [-2]) * n  # -2: never finished (a bug if it remains)
        self.n_attempts = array("h", [0]) * n
        # why a request found no org: (request id, code) appended by ``no_org``; every other
        # request's cause is its outcome (so the common case costs nothing per request)
        self._no_org_tag = array("q")
        self._no_org_code = array("b")
        self.attempts = _Table(ATTEMPT_COLUMNS)
        self.events = _Table(EVENT_COLUMNS)
        self.finished = 0
        #: requests routed without a request id (not rows of the requests table)
        self.untagged = 0
        a = self.attempts.arrays
        self._a = (a["request"].append, a["org"].append, a["start"].append, a["end"].append,
                   a["outcome"].append, a["status"].append, a["probe"].append)
        self._codes = {o: OUTCOME_CODES[o] for o in Outcome}

    # ------------------------------------------------------------------ RouterObserver

    def attempt(self, tag: Any, org: str, vendor: str, start: float, end: float, outcome: Outcome,
                status: int, probe: bool) -> None:
        req, o, s, e, oc, st, pr = self._a
        base = self.start_epoch
        req(-1 if tag is None else tag)  # untagged: a call through router.transport(), say
        o(self.org_index[org])
        s(start - base)
        e(end - base)
        oc(self._codes[outcome])
        st(status)
        pr(1 if probe else 0)

    def request(self, tag: Any, start: float, end: float, outcome: Outcome | None, attempts: int) -> None:
        if tag is None:
            self.untagged += 1
            return
        self.end[tag] = end - self.start_epoch
        self.outcome[tag] = NO_ORG if outcome is None else self._codes[outcome]
        self.n_attempts[tag] = attempts
        self.finished += 1

    def no_org(self, tag: Any, cause: str) -> None:
        """Request ``tag`` found no org available because of ``cause`` (``NoOrgAvailable.cause``)."""
        if tag is None:
            return
        self._no_org_tag.append(tag)
        self._no_org_code.append(NO_ORG_CAUSES.get(cause, NO_ORG))

    # ------------------------------------------------------------------ Notifier

    def notifier(self, pod: int) -> _PodNotifier:
        return _PodNotifier(self, pod)

    def event(self, pod: int, ev: BreakerEvent) -> None:
        cols = self.events.arrays
        model = self.model_index.get(ev.model)
        if model is None:
            model = len(self.models)
            self.models.append(ev.model)
            self.model_index[ev.model] = model
        cols["time"].append(ev.time - self.start_epoch)
        cols["pod"].append(pod)
        cols["org"].append(self.org_index[ev.org])
        cols["model"].append(model)
        cols["kind"].append(_EVENT_CODE[ev.kind.value])
        cols["failure_count"].append(int(ev.failure_count))
        cols["retry_cycles"].append(int(ev.retry_cycles))
        cols["block_duration"].append(float(ev.block_duration))

    # ------------------------------------------------------------------ result

    def trace(self, meta: dict[str, Any]) -> Trace:
        outcome = np.frombuffer(self.outcome, dtype=np.int8).copy()
        cause = outcome.copy()
        if len(self._no_org_tag):
            cause[np.frombuffer(self._no_org_tag, dtype=np.int64)] = np.frombuffer(self._no_org_code, dtype=np.int8)
        requests = {
            "pod": self.pod.copy(),
            "session": self.session.copy(),
            "arrival": self.arrival.copy(),
            "end": np.frombuffer(self.end, dtype=np.float64).copy(),
            "outcome": outcome,
            "attempts": np.frombuffer(self.n_attempts, dtype=np.int16).copy(),
            CAUSE: cause,
        }
        return Trace(requests, self.attempts.to_numpy(), self.events.to_numpy(), meta)

    def bytes_per_attempt(self) -> float:
        cols = self.attempts.arrays
        n = len(cols["start"])
        return sum(arr.itemsize * len(arr) for arr in cols.values()) / n if n else 0.0


class _PodNotifier:
    __slots__ = ("pod", "rec")

    def __init__(self, rec: Recorder, pod: int) -> None:
        self.rec = rec
        self.pod = pod

    def notify(self, event: BreakerEvent) -> None:
        self.rec.event(self.pod, event)
