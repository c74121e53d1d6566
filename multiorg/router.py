"""The router: pick an org, send, classify, record, fail over — for sync and async callers.

All decisions live in :meth:`RoutingCore.route`, a sans-IO generator (in the style of h11):
it yields an :class:`AttemptPlan` and is sent back the vendor's reply (or the transport
exception). :class:`Router` drives it with a sync vendor client, :class:`AsyncRouter` with an
async one, so both faces make identical decisions. The core reads time only from the injected
clock and randomness only from the injected RNG.

When every org is held only by a 429's retry-after that ends before the request's deadline, the
core yields a :class:`WaitPlan` instead of failing: the sync face sleeps on the injected clock
(``clock.sleep``), the async face awaits (``clock.asleep``, else ``asyncio.sleep``): whatever
clock is injected decides what a wait costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
from collections.abc import Generator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, NamedTuple, Protocol

from .alerts import Notifier
from .breakers.base import Admission, BreakerPolicy
from .breakers.board import BreakerBoard
from .breakers.registry import make_policy
from .budget import RetryBudget
from .client import AsyncHttpVendorClient, AsyncVendorClient, HttpVendorClient, VendorClient, VendorResponse
from .clock import Clock, Rng, SystemClock
from .config import MultiOrgConfig, OrgConfig, Secret, VendorConfig
from .errors import BREAKER_OPEN, DEADLINE, HELD, STORE_BUSY, NoOrgAvailable, StoreContentionError, UnknownModel
from .outcomes import ORG_FAULTS, Classification, Outcome, classify_exception, classify_response
from .selection import OrgStats, make_selector
from .stores.base import StateStore
from .stores.memory import MemoryStore
from .stores.window import Spent
from .switch import VendorSwitch
from .vendors import ChatRequest

#: wait after a 429 that named no retry time
DEFAULT_RETRY_AFTER = 1.0
#: the "response" of an attempt that died in transport (status 0)
_NO_RESPONSE = VendorResponse(0, {}, None)
_RATE_LIMITED = Outcome.RATE_LIMITED
_new = tuple.__new__
_UNSEEN = object()
log = logging.getLogger(__name__)


class AttemptPlan(NamedTuple):
    """One attempt the core asks its face to make. (NamedTuples here: built per attempt on the
    hot path, several times cheaper than frozen dataclasses and just as immutable.)

    The key is held as a :class:`Secret`: no repr, ``_asdict()``, log line or traceback shows it;
    :attr:`api_key` reveals it to the face that sends it."""

    org: OrgConfig
    key: Secret
    request: ChatRequest
    timeout: float
    probe: bool

    @property
    def api_key(self) -> str:
        return self.key.reveal()

    def __repr__(self) -> str:
        return f"AttemptPlan(org={self.org.name!r}, key=***, timeout={self.timeout!r}, probe={self.probe!r})"


class WaitPlan(NamedTuple):
    """The core asks its face to wait ``seconds`` (for a rate-limit hold to end), then go on."""

    seconds: float


class RouteResult(NamedTuple):
    """The answer to one request: the last reply, who gave it and how many attempts it took."""

    response: VendorResponse
    org: str
    vendor: str
    outcome: Outcome
    attempts: int
    classification: Classification


class RouterObserver(Protocol):
    """Hooks for metrics and traces. Called synchronously; keep them cheap."""

    def attempt(
        self, tag: Any, org: str, vendor: str, start: float, end: float, outcome: Outcome, status: int, probe: bool
    ) -> None: ...

    def request(self, tag: Any, start: float, end: float, outcome: Outcome | None, attempts: int) -> None:
        """``outcome`` is None when no org was available at all."""
        ...


class _NullObserver:
    def attempt(self, *args: Any) -> None:
        pass

    def request(self, *args: Any) -> None:
        pass


def _vendor_tokens(request: ChatRequest) -> int:
    """What a vendor's token limit counts for ``request``: its prompt (``prompt_tokens``, else
    about 4 characters per token) plus ``max_tokens``. At least 1."""
    prompt = request.prompt_tokens
    if not prompt:
        chars = len(request.system or "")
        for m in request.messages:
            c = m.get("content")
            if isinstance(c, str):
                chars += len(c)
            elif isinstance(c, list):
                chars += sum(len(p["text"]) for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
        prompt = (chars + 3) // 4
    return max(1, prompt + (request.max_tokens or 0))


def _ceiling(tpm: float, window: float, cost: float) -> float:
    """Pacing: what an org's window (``window`` tokens of its ``tpm``) holds for a request of
    ``cost`` tokens — the window, floored at one request's worth but never above the minute's
    limit (as the vendor's bucket: a request larger than a second's refill is not held for ever)."""
    return window if window >= cost else (cost if cost < tpm else tpm)


class RoutingCore:
    """The shared brain of both router faces. One instance = one pod."""

    def __init__(
        self,
        config: MultiOrgConfig,
        *,
        store: StateStore | None = None,
        clock: Clock | None = None,
        rng: Rng | None = None,
        policy: BreakerPolicy[Any] | None = None,
        notifiers: Sequence[Notifier] = (),
        observer: RouterObserver | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if store is None:
            store = MemoryStore()
        rc = config.router
        self.config = config
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.store = store
        self.policy = policy or make_policy(config.breaker.policy, config.breaker.params)
        self.board = BreakerBoard(
            self.policy,
            store,
            self.clock,
            self.rng,
            notifiers,
            vendor_of={o.name: o.vendor for o in config.orgs},
            namespace=rc.namespace,
            pod=rc.pod,
        )
        self.switch = VendorSwitch(store, rc.default_vendor, rc.namespace)
        self.selector = make_selector(
            rc.selection, config.orgs, self._capacity if rc.weights == "capacity" else None
        )
        self.stats = OrgStats()
        # Only strategies that read observations pay for keeping them.
        self._track_stats = bool(getattr(self.selector, "uses_stats", True))
        self.budget = RetryBudget(rc.retry_budget_ratio, rc.retry_budget_min_per_s, rc.retry_budget_window)
        self.observer: RouterObserver = observer or _NullObserver()
        env = os.environ if environ is None else environ
        # Resolved once, kept private: keys never appear in reprs, logs or errors.
        self._keys = {o.name: Secret(o.api_key(env)) for o in config.orgs}
        self._vendors: dict[str, VendorConfig] = {v.name: v for v in config.vendors}
        self._serving: dict[tuple[str, str], tuple[OrgConfig, ...]] = {}
        self._cooldown: dict[tuple[str, str], float] = {}
        self._limits = {(o.name, m): lim.rpm for o in config.orgs for m, lim in o.limits.items()}
        # The settings every request reads, as plain attributes: the config is frozen, and a
        # pydantic attribute read costs several plain ones.
        self._deadline = rc.deadline
        self._attempt_timeout = rc.attempt_timeout
        self._max_attempts = rc.max_attempts
        self._slow_threshold = rc.slow_call_threshold
        self._standby = rc.standby_vendor
        # Waiting for capacity needs a clock that can sleep (a bare ``now()`` clock fails fast).
        self._wait = rc.wait_for_capacity and callable(getattr(self.clock, "sleep", None))
        self._max_waiting = rc.max_waiting
        self._wait_jitter = rc.wait_jitter
        self._pacing = rc.pacing
        #: pacing: the vendor's token window per (org, model), as the vendor counts it — spent by
        #: each send, corrected by the vendor's remaining-tokens headers — in the store, shared by
        #: every pod (one atomic operation a send); a store without windows: this pod's own
        self._windows: Any = store if callable(getattr(store, "pace", None)) else MemoryStore()
        #: pacing: per (org, model) its window's store key, TPM and what its enforcement window
        #: holds (None: no limits configured, never paced)
        self._pace_lim: dict[tuple[str, str], tuple[str, float, float] | None] = {}
        #: pacing: per (org, model) the window's level after this pod's last send, and when
        self._pace_last: dict[tuple[str, str], tuple[float, float]] = {}
        #: pacing: per (org, model) a reply's remaining-tokens header not yet applied to the
        #: window, and when: it rides on the next take (one store operation a send)
        self._pace_cap: dict[tuple[str, str], tuple[float, float]] = {}
        self._org_named = {o.name: o for o in config.orgs}
        self._waiting_lock = threading.Lock()
        #: requests waiting for capacity in this pod now; the most at once; waits begun in all
        self.waiting = 0
        self.peak_waiting = 0
        self.waits = 0

    def __repr__(self) -> str:
        # (a half-built core is repr'd in the traceback of its own __init__: no attribute is assumed)
        config, policy = getattr(self, "config", None), getattr(self, "policy", None)
        if config is None or policy is None:
            return "RoutingCore(<not built>)"
        return f"RoutingCore(pod={config.router.pod!r}, policy={policy.name!r}, orgs={len(config.orgs)})"

    def _capacity(self, org: OrgConfig, model: str) -> float | None:
        """``weights: capacity``: the org's TPM for the model as its vendor names it."""
        vcfg = self._vendors.get(org.vendor)
        lim = org.limits.get(vcfg.model_for(model) if vcfg else model)
        return None if lim is None else float(lim.tpm)

    def _wake_at(
        self, vendors: tuple[str, ...], model: str, tried: tuple[str, ...], deadline: float,
        paced: dict[str, float] | None = None,
    ) -> tuple[float, str | None] | None:
        """When to try again, if waiting can help: the earliest end of a rate-limit hold (a 429's
        retry-after, or ``paced``: when pacing expects the org's window to take this request) on
        an org this request has not tried, whose breaker is not open past it — plus jitter — if
        that is before ``deadline``, with the org when the hold is pacing's (the request reserves
        it); else None (fail now). Read on the no-org path only."""
        now = self.clock.now()
        hold: float | None = None
        held_by: str | None = None
        board = self.board
        for vendor in vendors:
            for o in self._orgs_serving(vendor, model):
                t = self._cooldown.get((o.name, model))
                by = None
                if (t is None or t <= now) and paced:
                    t = paced.get(o.name)
                    by = o.name
                if t is None or t <= now or o.name in tried or (hold is not None and t >= hold):
                    continue
                view = board.view(o.name, model)
                if view.open_until is not None and view.open_until > t:
                    continue  # a breaker's block is never waited on
                hold, held_by = t, by
        if hold is None or hold >= deadline:
            return None
        wake = hold + self.rng.random() * self._wait_jitter
        return (wake, held_by) if wake < deadline else None

    def _pace_limits(self, org: OrgConfig, model: str) -> tuple[str, float, float] | None:
        """Pacing: the org's window key, its TPM for the model and what its enforcement window holds."""
        key = (org.name, model)
        found = self._pace_lim.get(key, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        vcfg = self._vendors.get(org.vendor)
        lim = org.limits.get(vcfg.model_for(model) if vcfg else model)
        found = None  # (an org without limits is never paced: remembered as such)
        if lim is not None:
            tpm = float(lim.tpm)
            found = (
                f"{self.config.router.namespace}:pace:{org.name}|{model}",
                tpm,
                tpm / 60.0 if lim.enforcement == "second" else tpm,
            )
        self._pace_lim[key] = found
        return found

    def _pace_op(
        self, org: OrgConfig, model: str, now: float, cost: float, take: float = 0.0, reserve: bool = False,
    ) -> Spent | None:
        """One operation on the org's window (None: the org has no limits, it is never paced).
        The window holds at least one request's worth (never more than the minute's limit), as
        the vendor's does: a request larger than a second's refill is not held for ever.
        (Once per send: explicit arguments, no keyword dict on this path.)"""
        lim = self._pace_limits(org, model)
        if lim is None:
            return None
        key, tpm, window = lim
        at_most = None
        if take > 0.0:
            cap = self._pace_cap.pop((org.name, model), None)
            if cap is not None:
                at_most = cap[0] + max(0.0, now - cap[1]) * tpm / 60.0
        return self._windows.pace(key, now, rate=tpm / 60.0, ceiling=_ceiling(tpm, window, cost),
                                  take=take, reserve=reserve, at_most=at_most)

    def _tokens_left(self, name: str, model: str, now: float, cost: float = 0.0) -> float | None:
        """Pacing: the tokens the org's window holds now for a request of ``cost`` (negative:
        reserved by requests waiting for it), or None when it has no limits."""
        answer = self._pace_op(self._org_named[name], model, now, cost)
        return None if answer is None else answer.level

    def _pace_take(self, org: OrgConfig, model: str, cost: int, now: float) -> float:
        """Take ``cost`` tokens from the org's window if it holds them now (0.0: taken, send);
        else take nothing and answer how long until it should."""
        answer = self._pace_op(org, model, now, cost, cost)
        if answer is None:
            return 0.0
        if answer.wait == 0.0:
            self._pace_last[(org.name, model)] = (answer.level, now)
        return answer.wait

    def _pace_spend(self, org: OrgConfig, model: str, cost: float, now: float) -> float:
        """Take ``cost`` tokens from the org's window now, whether it holds them or not (a send,
        or a waiting request's reservation: then the level goes below zero, and the next request
        held for the org waits that much longer — the held requests leave one after another, not
        all at once); answers how long until the window would have held them."""
        answer = self._pace_op(org, model, now, cost, cost, True)
        if answer is None:
            return 0.0
        self._pace_last[(org.name, model)] = (answer.level, now)
        return answer.wait

    def _pace_refund(self, name: str, model: str, cost: float) -> None:
        """Give back a reservation the request did not use."""
        self._pace_op(self._org_named[name], model, self.clock.now(), cost, -cost)

    def _pace_seen(self, name: str, model: str, remaining: int, t0: float, t1: float) -> None:
        """A reply's remaining-tokens header (the vendor's count, for every client, as of the
        attempt): the window is never above it (plus what refilled since). Kept when the header
        says less than this pod's last look at the window predicts, and applied with the next take
        from the org's window: no store operation of its own."""
        lim = self._pace_limits(self._org_named[name], model)
        if lim is None:
            return
        rate = lim[1] / 60.0
        vendor = remaining + (t1 - t0) * rate
        last = self._pace_last.get((name, model))
        if last is not None and last[0] + (t1 - last[1]) * rate <= vendor:
            return
        self._pace_cap[(name, model)] = (vendor, t1)

    def _orgs_serving(self, vendor: str, model: str) -> tuple[OrgConfig, ...]:
        key = (vendor, model)
        orgs = self._serving.get(key)
        if orgs is None:
            vcfg = self._vendors.get(vendor)
            vmodel = vcfg.model_for(model) if vcfg else model
            orgs = tuple(o for o in self.config.orgs if o.vendor == vendor and o.serves(vmodel))
            if orgs:  # (not a model nobody serves: callers choose those strings, without bound)
                self._serving[key] = orgs
        return orgs

    def _pick(
        self, vendor: str, model: str, tried: tuple[str, ...], now: float,
        cost: int = 0, paced: dict[str, float] | None = None, why: dict[str, str] | None = None,
        reserved: str | None = None,
    ) -> tuple[OrgConfig | None, Admission | None, float | None]:
        """An admitted org, or (None, None, earliest retry time). ``cost`` (pacing): the request's
        tokens as the vendor counts them, taken from the chosen org's window; an org whose window
        cannot take them yet is left out and its expected time put in ``paced`` — except
        ``reserved``, whose tokens this request already holds. ``why`` collects, per org passed
        over, the reason (``NoOrgAvailable.reasons``)."""
        orgs = self._serving.get((vendor, model)) or self._orgs_serving(vendor, model)
        cooldown = self._cooldown
        earliest: float | None = None
        cands: Sequence[OrgConfig]
        if not cooldown and not tried:
            # the steady state: every org is a candidate. The cached tuple itself (copied only if
            # one is passed over): the selector may recognise it (RoundRobin does).
            cands = orgs
        else:
            cands = []
            for o in orgs:
                key = (o.name, model)
                t = cooldown.get(key)
                if t is not None:
                    if t > now:
                        if earliest is None or t < earliest:
                            earliest = t
                        if why is not None:
                            why[o.name] = HELD
                        continue
                    cooldown.pop(key, None)  # served its time: forget it (keeps the fast path fast)
                if o.name not in tried:
                    cands.append(o)
        pace = bool(cost) and paced is not None
        board, selector, stats, rng = self.board, self.selector, self.stats, self.rng
        # The board may keep a clock of its own (a pod whose clock is off, say): then it reads it.
        board_now = now if board.clock is self.clock else None
        while cands:
            i = selector.choose(cands, model, stats, rng)
            org = cands[i]
            try:
                adm = board.admit(org.name, model, board_now)
            except StoreContentionError as e:
                # As on the result path: shared state too busy to decide is not a failed request.
                # This org sits this request out; the next candidate is asked.
                log.warning("breaker admission for %s/%s not decided: %s", org.name, model, e)
                if why is not None:
                    why[org.name] = STORE_BUSY
                cands = [*cands[:i], *cands[i + 1:]]
                continue
            if adm.allowed:
                if pace and org.name != reserved:
                    wait = self._pace_take(org, model, cost, now)  # (taken when it fits)
                    if wait > 0.0:
                        # its window should not take the request yet: prefer an org with room
                        paced[org.name] = now + wait  # type: ignore[index]
                        board.release(org.name, model, adm)
                        cands = [*cands[:i], *cands[i + 1:]]
                        continue
                return org, adm, None
            if adm.retry_at is not None and (earliest is None or adm.retry_at < earliest):
                earliest = adm.retry_at
            if why is not None:
                why[org.name] = BREAKER_OPEN
            cands = [*cands[:i], *cands[i + 1:]]
        return None, None, earliest

    def _begin_wait(self) -> bool:
        with self._waiting_lock:
            if self.waiting >= self._max_waiting:
                return False
            self.waiting += 1
            self.waits += 1
            if self.waiting > self.peak_waiting:
                self.peak_waiting = self.waiting
            return True

    def _end_wait(self) -> None:
        with self._waiting_lock:
            self.waiting -= 1

    def route(
        self, request: ChatRequest, tag: Any = None, timeout: float | None = None
    ) -> Generator[AttemptPlan | WaitPlan, VendorResponse | BaseException, RouteResult]:
        """Route one request; ``timeout``: the caller's own limit in seconds, if shorter than the
        configured deadline (an SDK call's ``timeout=``)."""
        clock, board, stats, observer = self.clock, self.board, self.stats, self.observer
        model = request.model
        start = now = clock.now()
        deadline = start + (self._deadline if timeout is None or timeout > self._deadline else timeout)
        self.budget.request(start)
        active = vendor = self.switch.active()
        standby = self._standby
        tried: tuple[str, ...] = ()  # (a tuple: most requests never fail over)
        attempts = 0
        held = 0  # attempts answered 429 while waiting for capacity is on
        earliest: float | None = None
        track = self._track_stats
        last_org: OrgConfig | None = None
        reply: VendorResponse | BaseException | None = None
        cls: Classification | None = None
        t1 = now
        # pacing: the request's tokens as the vendor counts them (prompt + max_tokens)
        cost = _vendor_tokens(request) if self._pacing else 0
        paced: dict[str, float] | None = {} if cost else None
        reserved: str | None = None  # pacing: the org whose next tokens this request holds
        why: dict[str, str] = {}  # per org passed over: why (the NoOrgAvailable's reasons)
        waited = False  # this request has waited for capacity (see the breaker record below)
        while True:
            org, ticket, retry_at = self._pick(vendor, model, tried, now, cost, paced, why, reserved)
            if org is None or ticket is None:
                if retry_at is not None and (earliest is None or retry_at < earliest):
                    earliest = retry_at
                if standby is not None and vendor != standby:
                    vendor, standby = standby, None
                    continue
                now = clock.now()  # (choosing read the store)
                if self._wait and self.waiting < self._max_waiting:
                    stb = self._standby
                    vendors = (active,) if stb is None or stb == active else (active, stb)
                    hold = self._wake_at(vendors, model, tried, deadline, paced)
                    by = None if hold is None else hold[1]
                    if hold is not None and by is not None and by != reserved:
                        wake = hold[0]
                        # hold the org's next tokens while waiting for them (one reservation a
                        # request: one it no longer waits for is given back). The window is
                        # shared: other pods' reservations may put this one further back.
                        if reserved is not None:
                            self._pace_refund(reserved, model, cost)
                        due = now + self._pace_spend(self._org_named[by], model, cost, now)
                        reserved = by
                        if due > paced[by]:  # type: ignore[index]
                            wake += due - paced[by]  # type: ignore[index]
                            hold = (wake, by) if wake < deadline else None
                    if hold is not None and self._begin_wait():
                        wake, by = hold
                        try:
                            yield _new(WaitPlan, (wake - now,))
                        except BaseException:
                            if reserved is not None:
                                self._pace_refund(reserved, model, cost)
                            raise
                        finally:
                            self._end_wait()
                        waited = True
                        later = clock.now()
                        if later > now:  # (a clock that did not move would wait forever)
                            now = later
                            active = vendor = self.switch.active()
                            standby = self._standby
                            why.clear()  # reasons from before the wait no longer hold
                            if paced:
                                paced.clear()
                            continue
                if paced:
                    # Pacing only advises: with no wait possible, send as without it.
                    # (its tokens are still spent where it goes: the window's estimate stays true)
                    if reserved is not None:
                        self._pace_refund(reserved, model, cost)
                        reserved = None
                    paced = None
                    vendor, standby = active, self._standby
                    continue
                break
            name = org.name
            # Choosing reads the store, which takes time when the store is remote and slow.
            t0 = clock.now()
            timeout = min(self._attempt_timeout, deadline - t0)
            if timeout <= 0.0:  # the deadline passed: no attempt without time
                why[name] = DEADLINE
                board.release(name, model, ticket)
                now = clock.now()
                break
            if track:
                stats.started(name)
            if cost:
                if name == reserved:
                    reserved = None  # spent when reserved
                else:
                    if reserved is not None:
                        self._pace_refund(reserved, model, cost)
                        reserved = None
                    if paced is None:
                        # pacing only advised (no wait was possible): the tokens are still spent
                        # where they go, so the window stays true
                        self._pace_spend(org, model, cost, t0)
                    # (else: taken when the org was chosen)
            try:
                # tuple.__new__: the NamedTuple's generated __new__ is a Python-level call
                reply = yield _new(AttemptPlan, (org, self._keys[name], request, timeout, ticket.probe))
                t1 = clock.now()
                if isinstance(reply, BaseException):
                    # re-raises anything that is not a transport failure
                    cls = classify_exception(reply)
                else:
                    cls = classify_response(
                        reply.status, reply.headers, reply.body, now=t1, latency=t1 - t0,
                        slow_threshold=self._slow_threshold,
                    )
            except BaseException:
                # Cancelled or broken mid-attempt: give back a probe permit, judge nothing.
                if track:
                    stats.cancelled(name)
                board.release(name, model, ticket)
                raise
            outcome = cls.outcome
            if cost and cls.remaining_tokens is not None:
                self._pace_seen(name, model, cls.remaining_tokens, t0, t1)
            try:
                if outcome is not _RATE_LIMITED or not waited or ticket.probe:
                    board.record(
                        name, model, ticket, outcome, t1 if board.clock is clock else None,
                        status=cls.status, retry_after=cls.retry_after,
                    )
                # else: a 429 met by a request that waited for capacity is not counted against the
                # org. Failing fast, the request would have ended without this attempt, so the
                # breaker would not have seen it: waiting adds no 429 to what a breaker counts.
                # (Counted, the woken requests' 429s — about half of their attempts under
                # sustained overload — tripped the seed's 429-counting breaker ~5 % more often,
                # and its blocks idled the orgs: docs/waiting.md.) A probe's answer is still judged.
            except StoreContentionError as e:
                # The vendor has answered: a result the shared state could not take is one lost
                # observation, not a failed request (a client would re-send a call that succeeded).
                log.warning("breaker result for %s/%s not recorded: %s", name, model, e)
            if track:
                stats.finished(
                    name, model, t1 - t0, cls.remaining_requests,
                    cls.limit_requests or self._limits.get((name, model)),
                )
            observer.attempt(tag, name, org.vendor, t0, t1, outcome, cls.status, ticket.probe)
            attempts += 1
            last_org = org
            if outcome is _RATE_LIMITED:
                wait = cls.retry_after if cls.retry_after is not None else DEFAULT_RETRY_AFTER
                self._cooldown[(name, model)] = t1 + wait
            now = clock.now()  # after the store write, which takes time when the store is slow
            if outcome is _RATE_LIMITED and paced is not None and self._pace_limits(org, model) is not None:
                # a paced request met a 429 at an org whose window pacing keeps (another client
                # spent it): it waits again, for the vendor's "come back at t" — bounded by its
                # deadline, not by max_attempts. (An org with no known limits is never paced:
                # its 429s spend attempts as without pacing.)
                held += 1
            if outcome not in ORG_FAULTS or attempts - held >= self._max_attempts or now >= deadline:
                break
            if not self.budget.try_retry(now):
                break
            if outcome is not _RATE_LIMITED or not self._wait:
                # (a rate-limited org is held by its retry-after instead: when that ends before the
                # deadline, this request may wait for it and try it again)
                tried = (*tried, name)
        if reserved is not None:
            self._pace_refund(reserved, model, cost)
        if last_org is None or cls is None:
            end = clock.now()
            observer.request(tag, start, end, None, 0)
            if not any(self._orgs_serving(v, model) for v in (active, self._standby) if v):
                raise UnknownModel(model)
            raise NoOrgAvailable(model, earliest, "every org is blocked by its breaker or a retry-after", why)
        # The request ends when the caller gets the answer (``now``: read after the last store
        # call — the result's record, or a pick that found nothing).
        observer.request(tag, start, now, cls.outcome, attempts)
        response = _NO_RESPONSE if isinstance(reply, BaseException) or reply is None else reply
        return _new(RouteResult, (response, last_org.name, last_org.vendor, cls.outcome, attempts, cls))


class Router:
    """The sync face. ``send`` routes one chat request; ``transport()`` plugs it under httpx."""

    def __init__(self, config: MultiOrgConfig, *, client: VendorClient | None = None, **kwargs: Any) -> None:
        self.core = RoutingCore(config, **kwargs)
        self.client: VendorClient = client or HttpVendorClient(config)

    def __repr__(self) -> str:
        return f"Router({getattr(self, 'core', '<not built>')!r})"

    @property
    def switch(self) -> VendorSwitch:
        return self.core.switch

    def send(self, request: ChatRequest, tag: Any = None, timeout: float | None = None) -> RouteResult:
        gen = self.core.route(request, tag, timeout)
        send = self.client.send
        reply: VendorResponse | BaseException | None = None
        try:
            while True:
                plan = gen.send(reply)  # type: ignore[arg-type]
                if isinstance(plan, WaitPlan):
                    reply = None
                    try:
                        self.core.clock.sleep(plan.seconds)  # type: ignore[attr-defined]  # (_wait: it has one)
                    except BaseException as exc:  # cancelled while waiting: the core stops waiting
                        gen.throw(exc)
                        raise
                    continue
                try:
                    reply = send(plan.org, plan.key.reveal(), plan.request, plan.timeout)
                except Exception as exc:
                    reply = exc
                except BaseException as exc:  # cancellation (GreenletExit, KeyboardInterrupt, ...)
                    gen.throw(exc)
                    raise
        except StopIteration as done:
            return done.value

    def transport(self) -> Any:
        from .transport import RouterTransport

        return RouterTransport(self)


_Route = Generator[AttemptPlan | WaitPlan, Any, RouteResult]


def _advance(gen: _Route, value: Any, throw: bool) -> AttemptPlan | WaitPlan | RouteResult:
    """One step of a route: its next attempt, or its result (a StopIteration must not cross a
    coroutine or a future)."""
    try:
        return gen.throw(value) if throw else gen.send(value)
    except StopIteration as done:
        return done.value


class AsyncRouter:
    """The async face over the same core.

    The core reads and writes its store synchronously. A store that does network I/O (its
    ``blocking`` attribute: true for :class:`~multiorg.stores.RedisStore`, and assumed for a store
    that does not say) is kept off the event loop: each step of the core — pick, record — runs on
    this router's own ``store_threads`` worker threads, so a slow or frozen Redis delays the
    requests waiting for it, never the loop and the other tasks. An in-process store
    (:class:`~multiorg.stores.MemoryStore`) is driven on the loop, without a thread hop. Either way
    the decisions are the core's, identical to the sync face's; observers and notifiers may be
    called from the worker threads (as from a threaded server's).

    ``executor``: run those steps on this executor instead (one shared with the rest of the
    service, say); the router never shuts it down. Without one it starts its own pool of
    ``store_threads`` threads on first use.
    """

    def __init__(
        self,
        config: MultiOrgConfig,
        *,
        client: AsyncVendorClient | None = None,
        store_threads: int = 8,
        executor: Executor | None = None,
        **kwargs: Any,
    ) -> None:
        if store_threads < 1:
            raise ValueError("store_threads must be >= 1")
        self.core = RoutingCore(config, **kwargs)
        # This face waits with ``asleep``: a clock that has only that can wait for capacity too.
        if config.router.wait_for_capacity and callable(getattr(self.core.clock, "asleep", None)):
            self.core._wait = True
        self.client: AsyncVendorClient = client or AsyncHttpVendorClient(config)
        self._off_loop = bool(getattr(self.core.store, "blocking", True))
        self._store_threads = store_threads
        self._executor = executor
        self._workers: ThreadPoolExecutor | None = None
        self._workers_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AsyncRouter({getattr(self, 'core', '<not built>')!r})"

    @property
    def switch(self) -> VendorSwitch:
        return self.core.switch

    async def send(self, request: ChatRequest, tag: Any = None, timeout: float | None = None) -> RouteResult:
        gen = self.core.route(request, tag, timeout)
        send = self.client.send
        step = self._step
        reply: VendorResponse | BaseException | None = None
        clock = self.core.clock
        asleep = getattr(clock, "asleep", None) or asyncio.sleep
        on_loop = not self._off_loop
        while True:
            # (an in-process store: the step runs here, without a coroutine per step)
            plan = _advance(gen, reply, False) if on_loop else await step(gen, reply)
            if isinstance(plan, WaitPlan):
                reply = None
                try:
                    await asleep(plan.seconds)
                except BaseException as exc:  # cancelled while waiting: the core stops waiting
                    await step(gen, exc, throw=True)
                    raise
                continue
            if not isinstance(plan, AttemptPlan):
                return plan  # the route's result
            try:
                reply = await send(plan.org, plan.api_key, plan.request, plan.timeout)
            except Exception as exc:
                reply = exc
            except BaseException as exc:  # asyncio.CancelledError and friends
                await step(gen, exc, throw=True)  # gives back a probe permit, then re-raises
                raise

    async def _step(self, gen: _Route, value: Any, throw: bool = False) -> AttemptPlan | WaitPlan | RouteResult:
        """Run the core to its next attempt, or to its result — on a worker thread when the store
        blocks (see the class docstring)."""
        if not self._off_loop:
            return _advance(gen, value, throw)
        running = asyncio.wrap_future(self._pool().submit(_advance, gen, value, throw))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError as cancel:
            if throw:
                raise
            # A thread cannot be interrupted: let this step end, then unwind the core from where it
            # stopped, so an attempt it admitted (a probe permit) is given back.
            try:
                done = isinstance(await running, RouteResult)
            except BaseException:
                done = True
            if not done:
                with contextlib.suppress(BaseException):
                    await asyncio.wrap_future(self._pool().submit(_advance, gen, cancel, True))
            raise

    def _pool(self) -> Executor:
        if self._executor is not None:
            return self._executor
        workers = self._workers
        if workers is None:
            with self._workers_lock:
                if self._workers is None:
                    self._workers = ThreadPoolExecutor(self._store_threads, thread_name_prefix="multiorg-store")
                workers = self._workers
        return workers

    def close(self) -> None:
        """Stop the router's own worker threads (after the steps already queued; an
        ``executor`` it was given is left running)."""
        if self._workers is not None:
            self._workers.shutdown(wait=False)
            self._workers = None

    def transport(self) -> Any:
        from .transport import AsyncRouterTransport

        return AsyncRouterTransport(self)
