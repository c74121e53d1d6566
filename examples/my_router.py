"""A team's own router, as it might already run in production: the worked example of docs/byo-router.md.

Nothing here knows about breakerlab. It is a small, deliberately naive sync router:

* **round robin** over a pool of OpenAI API keys (one per organization);
* a **Redis-shared breaker** per org: every failure ``INCR``\\ s ``cb:<org>:fails`` (the key expires
  ``fail_window`` seconds after the first failure, so it counts "failures within the window");
  reaching ``threshold`` trips the breaker: ``cb:<org>:open_until`` = now + ``cooldown``, timestamped
  with the injected clock. An org whose ``open_until`` lies in the future is skipped. Once the
  cooldown has passed, the first pod to notice deletes the key and the org gets *full* traffic again
  — no half-open probe, no backoff: that is what makes it naive;
* up to ``max_attempts`` orgs per request; a 4xx that is the caller's fault (400, 404, 422) goes
  straight back to the caller, anything else (429, 401/403, 5xx, timeouts, resets) counts against
  the org and moves on to the next one;
* ``on_breaker(kind, org)`` is called on ``OPENED`` / ``CLOSED`` (production posts to Slack).

What makes it simulable is only that its dependencies are passed in: the ``httpx.Client``, the
``redis.Redis`` client and a ``clock`` callable (production: ``time.time``). It never reads the
wall clock and never sleeps.

Production wiring::

    router = MyRouter.from_environ(os.environ, http=httpx.Client(timeout=30), redis=redis.Redis())
    response = router.complete({"model": "gpt-4o-mini", "messages": [...], "max_tokens": 300})

Simulated (see :func:`make_router` and docs/byo-router.md)::

    from sim import run_own_router
    trace = run_own_router(scenario, make_router, seed=1)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import redis as redis_lib

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
#: statuses that are the caller's fault: returned as they are, never retried, never held against an org
CALLER_ERRORS = frozenset({400, 404, 422})


class AllOrgsFailed(Exception):
    """Every org tried failed, or every org's breaker is open."""

    def __init__(self, tried: Sequence[str], last_error: str) -> None:
        super().__init__(f"all orgs failed (tried {', '.join(tried) or 'none'}): {last_error}")
        self.tried = list(tried)
        self.last_error = last_error


@dataclass(frozen=True)
class Org:
    name: str
    api_key: str


class MyRouter:
    def __init__(
        self,
        orgs: Sequence[Org],
        *,
        http: httpx.Client,
        redis: redis_lib.Redis,
        clock: Callable[[], float] = time.time,
        threshold: int = 3,
        fail_window: float = 60.0,
        cooldown: float = 300.0,
        max_attempts: int = 3,
        timeout: float = 30.0,
        url: str = OPENAI_URL,
        on_breaker: Callable[[str, str], Any] | None = None,
    ) -> None:
        if not orgs:
            raise ValueError("no orgs configured")
        self.orgs = list(orgs)
        self.http = http
        self.redis = redis
        self.clock = clock
        self.threshold = threshold
        self.fail_window = fail_window
        self.cooldown = cooldown
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.url = url
        self.on_breaker = on_breaker
        self._next = 0  # round-robin position (per process)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], **kwargs: Any) -> MyRouter:
        """Orgs from ``OPENAI_KEY_<NAME>`` variables (sorted by name: stable rotation order)."""
        prefix = "OPENAI_KEY_"
        orgs = [Org(k[len(prefix):].lower(), v) for k, v in sorted(environ.items()) if k.startswith(prefix)]
        return cls(orgs, **kwargs)

    # ------------------------------------------------------------------ routing

    def complete(self, body: Mapping[str, Any]) -> httpx.Response:
        """POST ``body`` to chat/completions through the first healthy org; the vendor's response."""
        tried: list[str] = []
        last_error = "every breaker is open"
        for org in self._rotation():
            if len(tried) >= self.max_attempts:
                break
            if self._is_open(org.name):
                continue
            tried.append(org.name)
            try:
                response = self.http.post(
                    self.url, json=dict(body), timeout=self.timeout,
                    headers={"Authorization": f"Bearer {org.api_key}"},
                )
            except httpx.TransportError as e:  # timeouts, connection resets
                last_error = f"{org.name}: {type(e).__name__}"
                self._failure(org.name)
                continue
            if response.status_code < 400:
                self._success(org.name)
                return response
            if response.status_code in CALLER_ERRORS:
                return response
            last_error = f"{org.name}: HTTP {response.status_code}"
            self._failure(org.name)
        raise AllOrgsFailed(tried, last_error)

    def _rotation(self) -> list[Org]:
        start = self._next
        self._next = (start + 1) % len(self.orgs)
        return self.orgs[start:] + self.orgs[:start]

    # ------------------------------------------------------------------ the naive breaker

    def _is_open(self, org: str) -> bool:
        until = self.redis.get(f"cb:{org}:open_until")
        if until is None:
            return False
        if float(until) > self.clock():
            return True
        # cooldown over: whoever deletes the key first closes the breaker (and says so)
        if self.redis.delete(f"cb:{org}:open_until") and self.on_breaker is not None:
            self.on_breaker("CLOSED", org)
        return False

    def _failure(self, org: str) -> None:
        key = f"cb:{org}:fails"
        count = self.redis.incr(key)
        if count == 1:
            self.redis.expire(key, int(self.fail_window))
        if count >= self.threshold:
            self.redis.delete(key)
            until = self.clock() + self.cooldown
            # the TTL only collects garbage: the timestamp decides
            opened = self.redis.set(f"cb:{org}:open_until", repr(until), ex=int(2 * self.cooldown), nx=True)
            if opened and self.on_breaker is not None:
                self.on_breaker("OPENED", org)

    def _success(self, org: str) -> None:
        self.redis.delete(f"cb:{org}:fails")


# ---------------------------------------------------------------------- breakerlab adapter


def make_router(pod: int, http: httpx.Client, redis: redis_lib.Redis, clock: Callable[[], float],
                orgs: Sequence[Any], record_event: Callable[..., Any],
                **settings: Any) -> Callable[[dict[str, Any]], httpx.Response]:
    """The factory :func:`sim.byo.run_own_router` calls once per pod (it passes the arguments named
    here): the team's router over the scenario's OpenAI orgs, with the simulator's clients injected
    and its alerts recorded as breaker events. Returns the handler: ``router.complete``.

    ``settings`` (threshold, cooldown, ...) are bound by the caller: ``functools.partial(make_router,
    threshold=5)``."""
    pool = [Org(o.name, o.api_key) for o in orgs if o.vendor == "openai"]
    router = MyRouter(pool, http=http, redis=redis, clock=clock,
                      on_breaker=lambda kind, org: record_event(kind, org), **settings)
    return router.complete
