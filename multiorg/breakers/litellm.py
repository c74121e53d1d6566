"""``litellm``: the LiteLLM Router's deployment cooldowns, modelled from its source.

LiteLLM's cooldowns read a clock that cannot be injected, so its documented and coded
semantics are modelled here as a policy on the injected clock, one org = one LiteLLM *deployment*, the orgs
serving a model = one *model group*. Sources (BerriAI/litellm):

* ``litellm/router.py`` — ``Router.__init__`` (``cooldown_time or DEFAULT_COOLDOWN_TIME_SECONDS``;
  ``allowed_fails`` defaults to ``litellm.allowed_fails`` = 3; ``failed_calls`` is an
  ``InMemoryCache``), ``deployment_callback_on_failure`` (the cooldown length;
  ``increment_deployment_failures_for_current_minute`` *before* the decision),
  ``deployment_callback_on_success`` (``increment_deployment_successes_for_current_minute``),
  ``async_get_healthy_deployments`` (cooled deployments are filtered out; none left raises
  "no deployments available" — there is no bypass);
* ``litellm/router_utils/cooldown_handlers.py`` — ``_is_cooldown_required``,
  ``_should_run_cooldown_logic``, ``_should_cooldown_deployment`` (the "v2" rules),
  ``should_cooldown_based_on_allowed_fails_policy`` (the legacy counter),
  ``_is_allowed_fails_set_on_router``;
* ``litellm/router_utils/cooldown_cache.py`` — a cooldown is one cache entry
  ``deployment:{id}:cooldown`` with ``ttl = cooldown_time`` in the router's ``DualCache``
  (Redis when configured: shared by every instance); it simply expires — no half-open, no probe;
* ``litellm/router_utils/router_callbacks/track_deployment_metrics.py`` — per-deployment
  ``{id}:successes`` / ``{id}:fails`` counters, ``local_only=True`` (each process's memory),
  ``ttl=60``; ``litellm/caching/in_memory_cache.py`` — ``set_cache`` keeps a live key's TTL
  (``allow_ttl_override``), so each counter is a 60 s window opened by its first increment;
* ``litellm/constants.py`` — ``DEFAULT_COOLDOWN_TIME_SECONDS=5``,
  ``DEFAULT_FAILURE_THRESHOLD_PERCENT=0.5``, ``DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS=5``,
  ``SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD=1000``;
* docs: "Router - Load Balancing" (docs.litellm.ai/docs/routing) and "Retries, fallbacks and
  cooldowns" (docs.litellm.ai/docs/router/learn/reliability).

Every failed call (any exception, including a connection error) first adds one to the
deployment's fails counter; then a cooldown is considered, unless
    the cooldown length is 0; or the error is a connection error (``APIConnectionError``: never
    cools); or its status is a 4xx other than 429, 401, 408 and 404 (so a 403 never cools).
Default ("v2") rules, when neither ``allowed_fails`` (≠ 3) nor ``allowed_fails_policy`` is set —
the deployment cools when
    1. the status is 429 and its model group has more than one deployment; or
    2. 100 % of its calls this minute failed and there were at least
       ``single_deployment_traffic_failure_threshold`` (1000) of them; or
    3. more than ``failure_threshold_percent`` (50 %) of its calls this minute failed, there were
       at least ``failure_threshold_minimum_requests`` (5), and the group has more than one
       deployment; or
    4. the status is not one LiteLLM retries (``_should_retry``: 408, 409, 429, 5xx) — a 401 or a
       404 cools at once, whatever the group.
    "This minute" is ``successes + fails``, each from its own 60 s counter window.
Legacy rules, with ``allowed_fails`` set to anything but 3 (LiteLLM treats 3, the library
default, as unset) or with ``allowed_fails_policy`` —
    one per-deployment counter (``failed_calls``) whose window of ``cooldown_time`` seconds opens
    at its first failure; a failure that makes it exceed the allowed number cools the deployment
    (N allowed → the (N+1)-th failure in the window cools). The allowed number is the policy's
    entry for the error's class (``RateLimitErrorAllowedFails`` for a 429,
    ``AuthenticationErrorAllowedFails`` 401, ``TimeoutErrorAllowedFails`` 408,
    ``InternalServerErrorAllowedFails`` any 5xx, ``BadRequestErrorAllowedFails`` and
    ``ContentPolicyViolationErrorAllowedFails`` 400 — never seen here, the board never passes a
    client error), else ``allowed_fails``. No group-size exemption on this path.
Cooldown length
    ``deployment_cooldown_time`` (the deployment's ``litellm_params.cooldown_time``) if set, else
    the response's ``retry-after`` if it had one, else ``cooldown_time``. The deployment admits
    nothing until it expires (``retry_at`` = its end), then simply admits again. A qualifying
    failure that arrives while it cools (an attempt sent before) starts it again from then, as
    the cache entry is overwritten.

Modelling choices (where this is not LiteLLM)
    * Scope ``"model"``: one record holds every org of the model, so the group size is known —
      it is the number of orgs the router has asked for this model so far (orgs join at their
      first admission; a standby vendor's orgs join when the router first falls over to them).
    * The success/fail counters are kept per pod (the board passes its pod with each result),
      as LiteLLM keeps them in each process's memory; they ride in the model's record only to
      be stored (one set per pod; a stopped pod's expired set goes when another pod joins).
      The cooldowns are shared by every pod using the store, as LiteLLM's are through Redis.
    * Statuses and ``retry-after`` come from the router (``BreakerBoard.record``); without them
      (a policy driven directly) see :mod:`multiorg.breakers.status`. ``retry-after`` is the
      router's reading (``retry-after-ms``, ``retry-after``, else the rate-limit reset headers);
      LiteLLM reads only the first two. LiteLLM maps 502/503 to their own error classes; here
      every 5xx takes ``InternalServerErrorAllowedFails``.
    * Alerts: OPENED when a cooldown starts, CLOSED at the first admission (or result) after it
      ended.

View: ``failure_count`` = while OPEN, the fails counter of the pod whose failure started the
cooldown (0 while CLOSED: the counters are each process's own); ``retry_cycles`` = 0
(LiteLLM has no backoff); ``block_duration`` = the cooldown's length.

Cost: every result moves a counter, so every result is a store write (to the model's record).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from pydantic import field_validator

from ..clock import Rng
from ..outcomes import Outcome
from ..stores.codec import register_state
from .base import Admission, BreakerView, State
from .common import FrozenParams, PositiveSeconds, Seconds, admit_unchanged, find_org, insert_sorted, param, replace_at
from .status import status_code

__all__ = ["LITELLM_DEFAULT_ALLOWED_FAILS", "LiteLLMCooldowns", "LiteLLMState"]

#: ``litellm.allowed_fails``: the library default, which the router treats as "not set"
LITELLM_DEFAULT_ALLOWED_FAILS: Final = 3
#: the TTL of the per-minute success/fail counters (``track_deployment_metrics``)
COUNTER_WINDOW: Final = 60.0

#: ``allowed_fails_policy`` keys (LiteLLM's ``AllowedFailsPolicy``)
POLICY_KEYS: Final = (
    "BadRequestErrorAllowedFails",
    "AuthenticationErrorAllowedFails",
    "TimeoutErrorAllowedFails",
    "RateLimitErrorAllowedFails",
    "ContentPolicyViolationErrorAllowedFails",
    "InternalServerErrorAllowedFails",
)

# Fields of one org's entry (a plain tuple, so the state stays JSON-encodable).
NAME: Final = 0  #: str: the org (deployment)
GEN: Final = 1  #: int: generation (cooldown starts and ends)
UNTIL: Final = 2  #: float | None: end of the current cooldown; None when not cooling
SINCE: Final = 3  #: float: start of the current (last) cooldown
FAILED: Final = 4  #: int: the fails counter when the cooldown started
COUNTERS: Final = 5  #: tuple[Counters, ...]: each process's (pod's) counters, by pod

# Fields of one pod's counters (LiteLLM keeps them in each process's memory).
POD: Final = 0  #: str: the pod (router instance)
OK_AT: Final = 1  #: float: start of the successes counter's window
OKS: Final = 2  #: int: successes in that window (0: no window)
FAIL_AT: Final = 3  #: float: start of the fails counter's window
FAILS: Final = 4  #: int: fails in that window (0: no window)
AF_AT: Final = 5  #: float: start of the legacy ``failed_calls`` counter's window
AFS: Final = 6  #: int: ``failed_calls`` in that window (0: no window)

Counters = tuple[str, float, int, float, int, float, int]
Entry = tuple[str, int, float | None, float, int, tuple[Counters, ...]]

_OK = frozenset({Outcome.SUCCESS, Outcome.SLOW})
#: CLOSED views by generation, shared (views are immutable)
_CLOSED_VIEWS: dict[int, BreakerView] = {}


def _new_entry(org: str) -> Entry:
    return (org, 0, None, 0.0, 0, ())


def _counters_of(e: Entry, pod: str) -> Counters:
    for c in e[COUNTERS]:
        if c[POD] == pod:
            return c
    return (pod, 0.0, 0, 0.0, 0, 0.0, 0)


def _with_counters(e: Entry, c: Counters, now: float, af_window: float) -> Entry:
    """``e`` with ``c`` as its pod's counters. When a pod joins, counters that have all expired
    go (a pod that stopped), so the record holds at most one set per live pod."""
    cs = e[COUNTERS]
    for j, x in enumerate(cs):
        if x[POD] == c[POD]:
            return (e[NAME], e[GEN], e[UNTIL], e[SINCE], e[FAILED], (*cs[:j], c, *cs[j + 1 :]))
    kept = [
        x for x in cs
        if (
            _live(x[OK_AT], x[OKS], now, COUNTER_WINDOW)
            or _live(x[FAIL_AT], x[FAILS], now, COUNTER_WINDOW)
            or _live(x[AF_AT], x[AFS], now, af_window)
        )
    ]
    kept.append(c)
    kept.sort()
    return (*e[:COUNTERS], tuple(kept))


def _live(start: float, n: int, now: float, ttl: float) -> int:
    """A counter's value at ``now``: 0 once its window has expired (the key is gone)."""
    return n if n and now <= start + ttl else 0


def _bump(start: float, n: int, now: float, ttl: float) -> tuple[float, int]:
    """``increment_cache``: add one; an expired (or absent) key starts a new window at ``now``."""
    return (start, n + 1) if n and now <= start + ttl else (now, 1)


@register_state
@dataclass(frozen=True, slots=True)
class LiteLLMState:
    """Every deployment (org) of one model group: one entry per org, sorted by name."""

    orgs: tuple[Entry, ...] = ()



def _put(state: LiteLLMState, i: int, e: Entry) -> LiteLLMState:
    return LiteLLMState(replace_at(state.orgs, i, e))


def _insert(state: LiteLLMState, e: Entry) -> LiteLLMState:
    return LiteLLMState(insert_sorted(state.orgs, e))


def _ended(e: Entry) -> Entry:
    """The org out of its cooldown (the cache entry expired): a new generation."""
    return (e[NAME], e[GEN] + 1, None, e[SINCE], e[FAILED], e[COUNTERS])


def _cooldown_required(status: int) -> bool:
    """``_is_cooldown_required`` on the status (connection errors are handled by the caller)."""
    if 400 <= status < 500:
        return status in (429, 401, 408, 404)
    return True


def _should_retry(status: int) -> bool:
    """``litellm._should_retry``: 408, 409, 429 and 5xx are worth retrying."""
    return status in (408, 409, 429) or status >= 500


def _policy_key(status: int) -> str | None:
    """The ``allowed_fails_policy`` key of the error class LiteLLM raises for ``status``."""
    if status == 429:
        return "RateLimitErrorAllowedFails"
    if status == 401:
        return "AuthenticationErrorAllowedFails"
    if status == 408:
        return "TimeoutErrorAllowedFails"
    if status >= 500:
        return "InternalServerErrorAllowedFails"
    if status == 400:
        return "BadRequestErrorAllowedFails"
    return None


class LiteLLMCooldowns(FrozenParams):
    """LiteLLM Router cooldowns: 429s and per-minute failure rates cool a deployment; no probe."""

    name: ClassVar[str] = "litellm"
    scope: ClassVar[Literal["target", "model"]] = "model"
    #: ``admit`` never draws from its rng
    random_admission: ClassVar[bool] = False
    #: ``record`` takes the response's status and retry-after, and the pod (see
    #: ``BreakerBoard.record``)
    uses_response: ClassVar[bool] = True

    cooldown_time: PositiveSeconds = param(
        5.0,
        "the router's cooldown_time: how long a deployment cools when neither its "
        "own cooldown_time nor a retry-after says otherwise (LiteLLM's default 5 s; its router "
        "turns 0 into 5); also the window of the legacy allowed_fails counter",
        "s",
    )
    deployment_cooldown_time: Seconds | None = param(
        None,
        "every deployment's litellm_params.cooldown_time: wins over retry-after and "
        "cooldown_time (None: not set; 0 disables cooldowns)",
        "s",
    )
    allowed_fails: int | None = param(
        None,
        "failures allowed per cooldown_time window before the next one cools the "
        "deployment (the legacy rules); None or 3 (LiteLLM's default, treated as unset) keep "
        "the default rules",
        "failures",
        ge=0,
    )
    allowed_fails_policy: dict[str, int] | None = param(
        None,
        "allowed failures per error class (RateLimitErrorAllowedFails, "
        "AuthenticationErrorAllowedFails, TimeoutErrorAllowedFails, "
        "InternalServerErrorAllowedFails, BadRequestErrorAllowedFails, "
        "ContentPolicyViolationErrorAllowedFails); setting it selects the legacy rules",
        "failures",
    )
    failure_threshold_percent: float = param(
        50.0,
        "default rules: a deployment whose failures this minute exceed this "
        "percentage cools (DEFAULT_FAILURE_THRESHOLD_PERCENT)",
        "%",
        ge=0,
        le=100,
    )
    failure_threshold_minimum_requests: int = param(
        5,
        "default rules: calls this minute needed before the failure percentage "
        "counts (DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS)",
        "calls",
        ge=0,
    )
    single_deployment_traffic_failure_threshold: int = param(
        1000,
        "default rules: calls this minute, all failed, that cool even a group's only "
        "deployment (SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD)",
        "calls",
        ge=1,
    )

    @field_validator("allowed_fails_policy")
    @classmethod
    def _known_keys(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        if v is None:
            return v
        for k, n in v.items():
            if k not in POLICY_KEYS:
                raise ValueError(f"unknown error class {k!r} (known: {', '.join(POLICY_KEYS)})")
            if not isinstance(n, int) or n < 0:
                raise ValueError(f"{k}: allowed failures must be an integer >= 0 (got {n!r})")
        return dict(sorted(v.items()))

    @property
    def legacy(self) -> bool:
        """The legacy (allowed-fails counter) rules apply instead of the default ones."""
        return self.allowed_fails_policy is not None or (
            self.allowed_fails is not None and self.allowed_fails != LITELLM_DEFAULT_ALLOWED_FAILS
        )

    # ------------------------------------------------------------------ protocol

    def initial(self, now: float) -> LiteLLMState:
        return LiteLLMState()

    def orgs_in(self, state: LiteLLMState) -> tuple[str, ...]:
        """The orgs (deployments) in the record, sorted by name."""
        return tuple(e[NAME] for e in state.orgs)

    def admit(
        self, state: LiteLLMState, org: str, now: float, rng: Rng
    ) -> tuple[Admission, LiteLLMState | None]:
        orgs = state.orgs
        for i, e in enumerate(orgs):
            if e[0] == org:
                until = e[UNTIL]
                if until is None:
                    return admit_unchanged(e[GEN])
                if now < until:
                    return Admission(False, False, e[GEN], now, until), None
                back = _ended(e)
                return admit_unchanged(back[GEN])[0], _put(state, i, back)
        return admit_unchanged(0)[0], _insert(state, _new_entry(org))

    def record(
        self,
        state: LiteLLMState,
        org: str,
        ticket: Admission,
        outcome: Outcome,
        now: float,
        status: int = 0,
        retry_after: float | None = None,
        pod: str = "",
    ) -> LiteLLMState | None:
        i = find_org(state.orgs, org)
        if i < 0:
            if ticket.generation > 0:
                return state  # a stale cached copy: let the board look at the fresh one
            state = _insert(state, _new_entry(org))
            i = find_org(state.orgs, org)
        e = state.orgs[i]
        if ticket.generation > e[GEN]:
            return state
        # No generations in LiteLLM: a result from before a cooldown still counts.
        until = e[UNTIL]
        if until is not None and now >= until:
            e = _ended(e)
        if outcome is Outcome.CLIENT_ERROR:
            return None
        c = _counters_of(e, pod)
        af_window = self.cooldown_time
        if outcome in _OK:
            ok_at, oks = _bump(c[OK_AT], c[OKS], now, COUNTER_WINDOW)
            c = (pod, ok_at, oks, *c[FAIL_AT:])
            return _put(state, i, _with_counters(e, c, now, af_window))
        fail_at, fails = _bump(c[FAIL_AT], c[FAILS], now, COUNTER_WINDOW)
        c = (*c[:FAIL_AT], fail_at, fails, *c[AF_AT:])
        code = status_code(outcome, status)
        length = self._cooldown_length(retry_after)
        cool = False
        if not (
            math.isclose(length, 0.0, abs_tol=1e-9)
            or outcome is Outcome.CONNECTION
            or not _cooldown_required(code)
        ):
            if self.legacy:
                cool, c = self._allowed_fails(c, code, now)
            else:
                cool = self._v2(c, code, now, len(state.orgs))
        e = _with_counters(e, c, now, af_window)
        if cool:
            gen = e[GEN] if e[UNTIL] is not None else e[GEN] + 1
            e = (e[NAME], gen, now + length, now, fails, e[COUNTERS])
        return _put(state, i, e)

    def release(
        self, state: LiteLLMState, org: str, ticket: Admission, now: float
    ) -> LiteLLMState | None:
        return None  # no probes: nothing to give back

    def view(self, state: LiteLLMState, org: str, now: float) -> BreakerView:
        i = find_org(state.orgs, org)
        if i < 0:
            return BreakerView(State.CLOSED)
        e = state.orgs[i]
        until = e[UNTIL]
        if until is None:
            g = e[GEN]
            v = _CLOSED_VIEWS.get(g)
            if v is None:  # (the board views every org of the record at each write)
                v = BreakerView(State.CLOSED, g)
                if g < 1 << 16:
                    _CLOSED_VIEWS[g] = v
            return v
        return BreakerView(State.OPEN, e[GEN], e[FAILED], 0, until, until - e[SINCE])

    # ------------------------------------------------------------------ the rules

    def _cooldown_length(self, retry_after: float | None) -> float:
        """``deployment_callback_on_failure``: deployment config > retry-after > router default."""
        if self.deployment_cooldown_time is not None:
            return self.deployment_cooldown_time
        if retry_after is not None and retry_after >= 0:
            return retry_after
        return self.cooldown_time

    def _v2(self, c: Counters, code: int, now: float, group: int) -> bool:
        """``_should_cooldown_deployment``'s default rules."""
        several = group > 1
        if code == 429 and several:
            return True
        fails = _live(c[FAIL_AT], c[FAILS], now, COUNTER_WINDOW)
        total = fails + _live(c[OK_AT], c[OKS], now, COUNTER_WINDOW)
        if total and fails == total and total >= self.single_deployment_traffic_failure_threshold:
            return True
        if (
            several
            and total >= self.failure_threshold_minimum_requests
            and fails * 100.0 > self.failure_threshold_percent * total
        ):
            return True
        return not _should_retry(code)

    def _allowed_fails(self, c: Counters, code: int, now: float) -> tuple[bool, Counters]:
        """``should_cooldown_based_on_allowed_fails_policy``: cool, or count the failure."""
        allowed: int | None = None
        key = _policy_key(code)
        if self.allowed_fails_policy is not None and key is not None:
            allowed = self.allowed_fails_policy.get(key)
        if allowed is None:
            allowed = (
                self.allowed_fails if self.allowed_fails is not None else LITELLM_DEFAULT_ALLOWED_FAILS
            )
        window = self.cooldown_time
        current = _live(c[AF_AT], c[AFS], now, window)
        if current + 1 > allowed:
            return True, c
        # set_cache keeps a live key's TTL: the window stays anchored at its first failure
        start = c[AF_AT] if current else now
        return False, (*c[:AF_AT], start, current + 1)
