"""The trace recorder: a ``RouterObserver`` and a breaker-event ``Notifier`` writing trace columns.

Memory stays flat in volume: every table is compressed in chunks of :data:`sim.trace.CHUNK_ROWS`
rows while the run goes on, and the chunks go to a :class:`sim.trace.BlobSpool` (a temporary file
once they pass a few MB), not to memory. Attempts and events are appended to ``array.array`` columns
(:class:`sim.trace.Recording`) that are compressed each time a chunk is full. Requests arrive in
pieces (:meth:`Recorder.arrive`, request id = row) and finish in any order: their rows are kept
by block of ``CHUNK_ROWS`` (item assignment into ``array.array``, several times cheaper than into
a numpy array) and a block is compressed once every request in it has finished. Times are stored
as simulated seconds (epoch - ``start_epoch``).
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np

from multiorg.alerts import BreakerEvent
from multiorg.outcomes import OUTCOME_CODES, Outcome

from .trace import (
    ATTEMPT_COLUMNS,
    CAUSE,
    CHUNK_ROWS,
    EVENT_COLUMNS,
    EVENT_KINDS,
    NO_ORG,
    NO_ORG_CAUSES,
    REQUEST_COLUMNS,
    BlobSpool,
    Recording,
    TableWriter,
    Trace,
)

_EVENT_CODE = {k: i for i, k in enumerate(EVENT_KINDS)}
#: demand is counted per this many simulated seconds (limits are per minute)
DEMAND_BIN = 60.0


class Demand:
    """Offered load counted piece by piece (:meth:`add`): per requested model, the user requests
    and the tokens they ask for arriving in each :data:`DEMAND_BIN` seconds."""

    def __init__(self, duration: float) -> None:
        self.n_bins = max(1, math.ceil(float(duration) / DEMAND_BIN))
        self.models: list[str] = []
        self.requests: dict[int, np.ndarray] = {}
        self.tokens: dict[int, np.ndarray] = {}

    def add(self, arrivals: Any) -> None:
        n_bins = self.n_bins
        self.models = list(arrivals.models)
        b = np.clip((np.asarray(arrivals.time, np.float64) // DEMAND_BIN).astype(np.int64), 0, n_bins - 1)
        tokens = np.asarray(arrivals.prompt_tokens, np.int64) + np.asarray(arrivals.max_tokens, np.int64)
        model = np.asarray(arrivals.model, np.int64)
        for i in range(len(self.models)):
            sel = model == i
            if sel.any():
                req = self.requests.setdefault(i, np.zeros(n_bins, np.int64))
                tok = self.tokens.setdefault(i, np.zeros(n_bins, np.int64))
                req += np.bincount(b[sel], minlength=n_bins)
                # whole token counts: the float sums are exact, so adding pieces changes nothing
                tok += np.bincount(b[sel], weights=tokens[sel], minlength=n_bins).astype(np.int64)

    def meta(self) -> dict[str, Any]:
        return {"bin": DEMAND_BIN, "models": {
            str(self.models[i]): {"requests": self.requests[i].tolist(), "tokens": self.tokens[i].tolist()}
            for i in sorted(self.requests)}}


def capacity_meta(scenario: Any, world: Any, arrivals: Any) -> dict[str, Any]:
    """A trace's ``meta["capacity"]``: what the vendors enforce and what the traffic offered.

    ``limits``: per org, per (vendor) model, the RPM and TPM the vendor enforces over time, as
    ``[[from sim second, rpm, tpm], ...]`` (scaled; faults' factors applied, 0 while locked out,
    null = unlimited; :meth:`sim.vendor_model.OrgModel.limits_over_time`); ``model_map``: per
    vendor, a requested model → the vendor's name for it; ``demand``: per requested model, the
    user requests and the tokens they ask for (prompt + max_tokens, as a vendor counts them
    against TPM) arriving in each ``bin`` seconds — offered load, before any retry; ``dedicated``
    (only when some org has it): per org, per model (``*``: the org's), what its dedicated
    capacity was offered and refused per minute, retries included (:mod:`sim.capacity`).
    ``arrivals``: the run's :class:`~sim.traffic.Arrivals`, or a :class:`Demand` that counted them."""
    if not isinstance(arrivals, Demand):
        demand = Demand(scenario.duration)
        demand.add(arrivals)
        arrivals = demand
    meta = {
        "limits": {o.name: {m: [list(step) for step in steps] for m, steps in o.limits_over_time().items()}
                   for o in world.orgs},
        "model_map": {v: dict(spec.model_map) for v, spec in scenario.vendors.items()},
        "demand": arrivals.meta(),
    }
    dedicated = {o.name: d for o in world.orgs if (d := o.capacity_meta())}
    if dedicated:  # only worlds with dedicated capacity: other traces stay byte-identical
        meta["dedicated"] = dedicated
    return meta


_REQUEST_TABLE = {**REQUEST_COLUMNS, CAUSE: "int8"}


class Recorder:
    """Records one run. ``observer`` is shared by all pods; each pod gets its own ``notifier(pod)``.

    Requests are announced in arrival order by :meth:`arrive` (``arrival``/``pod``/``session``
    here: the same, all at once)."""

    def __init__(self, *, start_epoch: float, orgs: list[str], models: list[str], arrival: np.ndarray | None = None,
                 pod: np.ndarray | None = None, session: np.ndarray | None = None) -> None:
        self.start_epoch = float(start_epoch)
        self.org_index = {name: i for i, name in enumerate(orgs)}
        self.models = list(models)
        self.model_index = {m: i for i, m in enumerate(self.models)}
        #: rows per compressed chunk (a power of two: a request's block is its id's high bits)
        self.chunk_rows = rows = CHUNK_ROWS
        self._shift = rows.bit_length() - 1
        if 1 << self._shift != rows:
            raise ValueError(f"chunk rows must be a power of two, got {rows}")
        self._mask = rows - 1
        #: requests announced so far; the blocks before ``_flushed`` are compressed
        self.n = 0
        self._flushed = 0
        # per block of CHUNK_ROWS requests (None once compressed): what is known at arrival, in
        # pieces, and what the router writes by request id
        self._arrived: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None] = []
        self._end: list[Any] = []
        self._outcome: list[Any] = []  # -2: never finished (a bug if it remains)
        self._n_attempts: list[Any] = []
        #: where every compressed chunk goes as soon as it exists: to a temporary file past the
        #: first few MB, so a run's memory does not grow with its volume
        self.spool = BlobSpool()
        self._requests = TableWriter(_REQUEST_TABLE, self.spool)
        # why a request found no org: (request id, code) appended by ``no_org``; every other
        # request's cause is its outcome (so the common case costs nothing per request)
        self._no_org_tag = array("q")
        self._no_org_code = array("b")
        #: keep the (arrival, end, outcome) of compressed blocks for :meth:`ended` (the manual
        #: operator watches recent errors); pruned as its look-back moves on
        self.keep_recent = False
        self._recent: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.attempts = Recording(ATTEMPT_COLUMNS, rows, self.spool)
        self.events = Recording(EVENT_COLUMNS, rows, self.spool)
        self.finished = 0
        #: requests routed without a request id (not rows of the requests table)
        self.untagged = 0
        a = self.attempts.arrays
        self._a = (a["request"].append, a["org"].append, a["start"].append, a["end"].append,
                   a["outcome"].append, a["status"].append, a["probe"].append)
        self._start_col = a["start"]
        self._codes = {o: OUTCOME_CODES[o] for o in Outcome}
        if arrival is not None:
            self.arrive(arrival, pod, session)

    def arrive(self, arrival: np.ndarray, pod: np.ndarray | None, session: np.ndarray | None) -> None:
        """The next requests (ids ``n``, ``n + 1``, ...): arrival (sim s), pod, session. Blocks of
        requests that all finished are compressed now."""
        n = len(arrival)
        # as the router's clock reads it, (start_epoch + t) - start_epoch, so that every time in the
        # trace went through the same float rounding and end >= arrival holds exactly
        t = (self.start_epoch + np.asarray(arrival, dtype=np.float64)) - self.start_epoch
        p = np.zeros(n, np.int16) if pod is None else np.asarray(pod, dtype=np.int16)
        s = np.full(n, -1, np.int64) if session is None else np.asarray(session, dtype=np.int64)
        lo = 0
        rows = self.chunk_rows
        while lo < n:
            b, j = self.n >> self._shift, self.n & self._mask
            if b == len(self._arrived):
                self._arrived.append([])
                self._end.append(array("d", [math.nan]) * rows)
                self._outcome.append(array("b", [-2]) * rows)
                self._n_attempts.append(array("h", [0]) * rows)
            k = min(n - lo, rows - j)
            self._arrived[b].append((t[lo:lo + k], p[lo:lo + k], s[lo:lo + k]))  # type: ignore[union-attr]
            lo += k
            self.n += k
        self._flush_requests(final=False)

    def _flush_requests(self, final: bool) -> None:
        """Compress the blocks, in order, whose requests all arrived and finished (``final``: all)."""
        while self._flushed < len(self._arrived):
            b = self._flushed
            rows = min(self.chunk_rows, self.n - (b << self._shift))
            outcome = np.frombuffer(self._outcome[b], dtype=np.int8)[:rows]
            if not final and (rows < self.chunk_rows or int(outcome.min(initial=0)) == -2):
                return
            pieces = self._arrived[b]
            assert pieces is not None
            cause = outcome.copy()
            tags = np.frombuffer(self._no_org_tag, dtype=np.int64)
            mine = (tags >> self._shift) == b
            if mine.any():
                cause[tags[mine] & self._mask] = np.frombuffer(self._no_org_code, dtype=np.int8)[mine]
                keep = ~mine
                self._no_org_tag = array("q", tags[keep].tobytes())
                self._no_org_code = array("b", np.frombuffer(self._no_org_code, dtype=np.int8)[keep].tobytes())
            arrival = np.concatenate([x[0] for x in pieces])
            end = np.frombuffer(self._end[b], dtype=np.float64)[:rows]
            self._requests.add({
                "pod": np.concatenate([x[1] for x in pieces]),
                "session": np.concatenate([x[2] for x in pieces]),
                "arrival": arrival,
                "end": end,
                "outcome": outcome,
                "attempts": np.frombuffer(self._n_attempts[b], dtype=np.int16)[:rows],
                CAUSE: cause,
            })
            if self.keep_recent:
                self._recent.append((arrival, end.copy(), outcome.copy()))
            self._arrived[b] = self._end[b] = self._outcome[b] = self._n_attempts[b] = None
            self._flushed += 1

    def ended(self, t0: float, t1: float, since: float) -> np.ndarray:
        """Outcome codes of the requests that arrived at or after ``since`` and ended in ``(t0, t1]``
        (sim s), so far (needs :attr:`keep_recent` from the start of the run)."""
        while self._recent and (not len(self._recent[0][0]) or self._recent[0][0][-1] < since):
            self._recent.pop(0)
        parts = list(self._recent)
        for b in range(self._flushed, len(self._arrived)):
            pieces = self._arrived[b]
            assert pieces is not None
            arrival = np.concatenate([x[0] for x in pieces]) if pieces else np.zeros(0)
            n = len(arrival)
            parts.append((arrival, np.frombuffer(self._end[b], dtype=np.float64)[:n],
                          np.frombuffer(self._outcome[b], dtype=np.int8)[:n]))
        out = []
        for arrival, end, outcome in parts:
            m = (arrival >= since) & (end > t0) & (end <= t1)
            out.append(outcome[m])
        return np.concatenate(out) if out else np.zeros(0, np.int8)

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
        if len(self._start_col) >= self.chunk_rows:
            self.attempts.flush()

    def request(self, tag: Any, start: float, end: float, outcome: Outcome | None, attempts: int) -> None:
        if tag is None:
            self.untagged += 1
            return
        b, j = tag >> self._shift, tag & self._mask
        self._end[b][j] = end - self.start_epoch
        self._outcome[b][j] = NO_ORG if outcome is None else self._codes[outcome]
        self._n_attempts[b][j] = attempts
        self.finished += 1

    def no_org(self, tag: Any, cause: str) -> None:
        """Request ``tag`` found no org available because of ``cause`` (``NoOrgAvailable.cause``)."""
        if tag is None:
            return
        if tag >> self._shift < self._flushed:  # its block is compressed: the router told this too late
            raise RuntimeError(f"no_org({tag}) after its request was recorded and stored")
        self._no_org_tag.append(tag)
        self._no_org_code.append(NO_ORG_CAUSES.get(cause, NO_ORG))

    # ------------------------------------------------------------------ Notifier

    def notifier(self, pod: int) -> _PodNotifier:
        return _PodNotifier(self, pod)

    def event(self, pod: int, ev: BreakerEvent) -> None:
        cols = self.events.arrays
        if len(cols["time"]) >= self.chunk_rows:
            self.events.flush()
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
        """The recorded tables (compressed; every request block, finished or not) and ``meta``."""
        self._flush_requests(final=True)
        return Trace(self._requests.table(), self.attempts.table(), self.events.table(), meta)


class _PodNotifier:
    __slots__ = ("pod", "rec")

    def __init__(self, rec: Recorder, pod: int) -> None:
        self.rec = rec
        self.pod = pod

    def notify(self, event: BreakerEvent) -> None:
        self.rec.event(self.pod, event)
