"""BreakerBoard: the breakers of one router, bound to a policy, a store, a clock and notifiers.

The board is where the pure policy meets shared state. Reads go through the store's cache;
a change is committed with ``store.update`` (atomic), and an alert is emitted only by the
caller whose update committed the transition — so N pods racing to trip one breaker produce
exactly one OPENED event.

What the read cache may delay (by at most the store's ``staleness``): an admission decided on a
cached state may not yet see another pod's trip or recovery, and a result that changes nothing on
the cached state is not written. What it never delays: a success under a policy whose failures
form a run (``success_resets``: consecutive, exponential) always goes through ``store.update`` on
the freshest state, so it ends a run other pods recorded meanwhile even when this pod's copy shows
none (then the update only confirms: one round trip, no write). A store whose reads are never stale
(``fresh_reads``: :class:`~multiorg.stores.MemoryStore`) needs no such confirmation: the read is the
freshest state, and a success that changes nothing on it changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from itertools import repeat
from typing import Any

from ..alerts import BreakerEvent, EventKind, Notifier, notify_all
from ..clock import Clock, Rng
from ..outcomes import Outcome
from ..stores.base import StateStore
from .base import Admission, BreakerPolicy, BreakerView, State

_CLIENT_ERROR = Outcome.CLIENT_ERROR
_SUCCESS = Outcome.SUCCESS
_EVENT_FOR = {State.OPEN: EventKind.OPENED, State.HALF_OPEN: EventKind.HALF_OPEN, State.CLOSED: EventKind.CLOSED}


class _Coin:
    """One admission's random draw (an ``Rng``): drawn at the first look, the same at every other."""

    __slots__ = ("rng", "u")

    rng: Rng
    u: float | None

    def random(self) -> float:
        u = self.u
        if u is None:
            u = self.u = self.rng.random()
        return u


_new_coin = object.__new__  # no __init__ frame: this runs on every admission


class BreakerBoard:
    def __init__(
        self,
        policy: BreakerPolicy[Any],
        store: StateStore,
        clock: Clock,
        rng: Rng,
        notifiers: Sequence[Notifier] = (),
        *,
        vendor_of: dict[str, str] | None = None,
        namespace: str = "multiorg",
        pod: str = "",
    ) -> None:
        self.policy = policy
        self.store = store
        self.clock = clock
        self.rng = rng
        self.notifiers = list(notifiers)
        self._vendor_of = vendor_of or {}
        self._prefix = f"{namespace}:breaker:{policy.name}:"
        self._per_model = policy.scope == "model"
        self._pod = pod
        self._keys: dict[tuple[str, str], str] = {}
        # One shared initial state: a never-written key is read on every request in steady state,
        # and no policy's fresh state depends on when it was created beyond bookkeeping.
        self._initial_state = policy.initial(clock.now())
        #: the store's ``default()`` for a never-written key: ``repeat(x).__next__`` returns ``x`` on
        #: every call without a Python frame (it runs on nearly every read in steady state)
        self._initial = repeat(self._initial_state).__next__
        #: the policy may draw at admission (see admit); a policy that says it never does is
        #: handed the board's rng directly
        self._coin = bool(getattr(policy, "random_admission", True))
        #: a success must end a failure run recorded anywhere (see the module docstring)
        self._success_resets = bool(getattr(policy, "success_resets", False)) and not getattr(
            store, "fresh_reads", False
        )
        #: the policy decides on the response's status and retry-after, and may keep per-pod
        #: counters (the peer gateways do)
        self._uses_response = bool(getattr(policy, "uses_response", False))

    def key(self, org: str, model: str) -> str:
        k = self._keys.get((org, model))
        if k is None:
            k = self._prefix + (model if self._per_model else f"{org}|{model}")
            self._keys[(org, model)] = k
        return k

    def admit(self, org: str, model: str, now: float | None = None) -> Admission:
        """``now``: the caller's reading of this board's clock, if it has one (saves a read)."""
        policy = self.policy
        key = self._keys.get((org, model)) or self.key(org, model)
        if now is None:
            now = self.clock.now()
        # The policy may decide twice (cached state, then inside the atomic update, re-run on
        # contention): one coin, so a random admission is drawn once, not once per look —
        # re-drawing after a "reject" would reject with probability p² instead of p.
        coin: Rng = self.rng
        if self._coin:
            coin = _new_coin(_Coin)
            coin.rng = self.rng
            coin.u = None
        adm, new = policy.admit(self.store.read(key, self._initial), org, now, coin)
        if new is None:
            return adm
        adm, old, written = self.store.update(
            key, lambda s: policy.admit(s, org, now, coin), self._initial
        )
        if written is not None:
            self._emit(org, model, old, written, now)
        return adm

    def record(
        self,
        org: str,
        model: str,
        ticket: Admission,
        outcome: Outcome,
        now: float | None = None,
        *,
        status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        """``status`` / ``retry_after``: the vendor's answer, passed on (with this board's pod) to a
        policy that decides on them (``uses_response``: the peer gateways ``litellm`` and
        ``portkey``); 0 / None when there was no response."""
        if outcome is _CLIENT_ERROR:
            # The caller's fault is never counted against an org, but a probe's permit comes back.
            self.release(org, model, ticket)
            return
        policy = self.policy
        key = self._keys.get((org, model)) or self.key(org, model)
        if now is None:
            now = self.clock.now()
        record: Callable[[Any, str, Admission, Outcome, float], Any] = policy.record
        if self._uses_response:
            record = partial(  # type: ignore[call-arg]
                policy.record, status=status, retry_after=retry_after, pod=self._pod
            )
        if (
            record(self.store.read(key, self._initial), org, ticket, outcome, now) is None
            and not ticket.probe
            and not (outcome is _SUCCESS and self._success_resets)
        ):
            # Nothing to change on the (bounded-stale) cached state: skip the round trip.
            return
        _, old, written = self.store.update(
            key, lambda s: (None, record(s, org, ticket, outcome, now)), self._initial
        )
        if written is not None:
            self._emit(org, model, old, written, now)

    def release(self, org: str, model: str, ticket: Admission) -> None:
        if not ticket.probe:
            return
        policy = self.policy
        now = self.clock.now()
        self.store.update(
            self.key(org, model), lambda s: (None, policy.release(s, org, ticket, now)), self._initial
        )

    def view(self, org: str, model: str) -> BreakerView:
        now = self.clock.now()
        return self.policy.view(self.store.read(self.key(org, model), self._initial), org, now)

    def _emit(self, org: str, model: str, old: Any, new: Any, now: float) -> None:
        policy = self.policy
        orgs = policy.orgs_in(new) if self._per_model else (org,)  # type: ignore[attr-defined]
        for o in orgs:
            before = policy.view(old, o, now)
            after = policy.view(new, o, now)
            if after.state is before.state and after.generation == before.generation:
                continue
            event = BreakerEvent(
                kind=_EVENT_FOR[after.state],
                org=o,
                model=model,
                vendor=self._vendor_of.get(o, "openai"),
                time=now,
                failure_count=after.failure_count,
                block_duration=after.block_duration,
                retry_cycles=after.retry_cycles,
                pod=self._pod,
            )
            notify_all(self.notifiers, event)
