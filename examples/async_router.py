"""An asyncio router built the usual way, run by breakerlab without a change (the async face).

No injected clock, no injected sleep:

* the official ``AsyncOpenAI`` client, one per organization (the SDK's own retries off: the router
  retries across orgs instead);
* a small breaker per org on ``time.monotonic()``: ``threshold`` failures in a row open it for
  ``cooldown`` seconds, then one probe call decides (success closes it, failure opens it again);
* ``asyncio.sleep`` exponential backoff between tries;
* ``redis.asyncio`` counters per org (requests and failures, shared by every pod);
* ``asyncio.gather`` fan-out: :meth:`AsyncRouter.complete_session` sends a session's requests
  at once (a site plan is hundreds in parallel).

Production wiring::

    router = AsyncRouter([OrgAccount("primary", os.environ["OPENAI_KEY_PRIMARY"]), ...],
                         redis=redis.asyncio.Redis(host="redis"), http=httpx.AsyncClient())
    completion = await router.complete({"model": "gpt-4o-mini", "messages": [...], "max_tokens": 300})

In the lab (``make_router`` at the bottom; ``face = "async"`` tells the simulator to run each
request as a task on its virtual-time event loop)::

    breakerlab compare scenarios/lock-primary-before-launch.yaml \\
        --router examples/async_router.py:make_router
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
from openai import AsyncOpenAI

#: the caller's fault: returned at once, never retried, never counted against an org
CALLER_ERRORS = (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError)


class AllOrgsOpen(Exception):
    """Every org's breaker is open."""


@dataclass(frozen=True)
class OrgAccount:
    name: str
    api_key: str
    organization: str | None = None


class Breaker:
    """Consecutive failures on the monotonic clock; one probe after the cooldown."""

    def __init__(self, name: str, threshold: int, cooldown: float, notify: Callable[[str, str], Any]) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown = cooldown
        self.notify = notify
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        if not self.probing and time.monotonic() - self.opened_at >= self.cooldown:
            self.probing = True
            self.notify("HALF_OPEN", self.name)
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        if self.opened_at is not None and self.probing:
            self.opened_at, self.probing = None, False
            self.notify("CLOSED", self.name)

    def failure(self) -> None:
        self.failures += 1
        if self.probing or (self.opened_at is None and self.failures >= self.threshold):
            self.opened_at, self.probing = time.monotonic(), False
            self.notify("OPENED", self.name)


class AsyncRouter:
    def __init__(
        self,
        orgs: Sequence[OrgAccount],
        *,
        redis: Any,
        http: httpx.AsyncClient | None = None,
        threshold: int = 3,
        cooldown: float = 30.0,
        tries: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
        on_breaker: Callable[[str, str], Any] | None = None,
    ) -> None:
        if not orgs:
            raise ValueError("no orgs configured")
        notify = on_breaker or (lambda kind, org: None)
        self.orgs = [
            (o.name, AsyncOpenAI(api_key=o.api_key, organization=o.organization, http_client=http, max_retries=0,
                                 timeout=timeout))
            for o in orgs
        ]
        self.breakers = {o.name: Breaker(o.name, threshold, cooldown, notify) for o in orgs}
        self.redis = redis
        self.tries = tries
        self.backoff = backoff
        self._turn = itertools.count()

    def _pick(self) -> tuple[str, AsyncOpenAI] | None:
        for _ in range(len(self.orgs)):
            name, client = self.orgs[next(self._turn) % len(self.orgs)]
            if self.breakers[name].allow():
                return name, client
        return None

    async def complete(self, body: Mapping[str, Any]) -> Any:
        """The chat completion for ``body`` from some healthy org (the SDK's ``ChatCompletion``)."""
        last: Exception = AllOrgsOpen("every org's breaker is open")
        for attempt in range(self.tries):
            picked = self._pick()
            if picked is None:
                raise AllOrgsOpen("every org's breaker is open")
            name, client = picked
            await self.redis.incr(f"llm:{name}:requests")
            try:
                completion = await client.chat.completions.create(**dict(body))
            except CALLER_ERRORS:
                raise
            except openai.APIError as e:  # 429, 401/403, 5xx, timeouts, resets: the org's fault
                last = e
                self.breakers[name].failure()
                await self.redis.incr(f"llm:{name}:failures")
                await asyncio.sleep(self.backoff * 2**attempt)
                continue
            self.breakers[name].success()
            return completion
        raise last

    async def complete_session(self, bodies: Sequence[Mapping[str, Any]]) -> list[Any]:
        """A session's requests at once; it succeeds only if all of them do (the first error is raised)."""
        return list(await asyncio.gather(*(self.complete(b) for b in bodies)))

    async def counters(self) -> dict[str, tuple[int, int]]:
        """Per org: (requests, failures) from Redis, all pods together."""
        keys = [k for name, _ in self.orgs for k in (f"llm:{name}:requests", f"llm:{name}:failures")]
        values = await self.redis.mget(keys)
        nums = [int(v or 0) for v in values]
        return {name: (nums[2 * i], nums[2 * i + 1]) for i, (name, _) in enumerate(self.orgs)}


# ---------------------------------------------------------------------- breakerlab adapter


def make_router(http: httpx.AsyncClient, redis: Any, orgs: Sequence[Any], record_event: Callable[..., Any],
                **settings: Any) -> Callable[[dict[str, Any]], Any]:
    """The factory breakerlab calls once per pod: the router over the scenario's OpenAI orgs, its
    breaker transitions recorded as events. Returns the async handler ``router.complete``."""
    accounts = [OrgAccount(o.name, o.api_key, o.org_id) for o in orgs if o.vendor == "openai"]
    router = AsyncRouter(accounts, redis=redis, http=http, on_breaker=lambda kind, org: record_event(kind, org),
                         **settings)
    return router.complete


def make_session_router(http: httpx.AsyncClient, redis: Any, orgs: Sequence[Any], record_event: Callable[..., Any],
                        fan_out: int = 3, **settings: Any) -> Callable[[dict[str, Any]], Any]:
    """Each simulated request as a session of ``fan_out`` parallel calls (``complete_session``)."""
    accounts = [OrgAccount(o.name, o.api_key, o.org_id) for o in orgs if o.vendor == "openai"]
    router = AsyncRouter(accounts, redis=redis, http=http, on_breaker=lambda kind, org: record_event(kind, org),
                         **settings)

    async def handler(body: dict[str, Any]) -> Any:
        return await router.complete_session([body] * fan_out)

    return handler


#: the simulator runs these factories' handlers as tasks on its event loop
make_router.face = "async"  # type: ignore[attr-defined]
make_session_router.face = "async"  # type: ignore[attr-defined]

__all__ = ["AllOrgsOpen", "AsyncRouter", "Breaker", "OrgAccount", "make_router", "make_session_router"]
