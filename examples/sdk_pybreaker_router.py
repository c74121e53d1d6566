"""A router built the usual way from off-the-shelf parts, run by breakerlab without a change.

No injected clock, no injected sleep: this is what a team writes for production.

* the official ``openai`` SDK (``OpenAI`` clients, one per organization, the SDK's own retries
  off: the router retries across orgs instead);
* a **pybreaker** ``CircuitBreaker`` per org, its state in Redis (``CircuitRedisStorage``) so every
  pod shares it; pybreaker times its open state with ``datetime.now`` (the wall clock);
* **tenacity** retries with exponential backoff (``time.sleep`` between tries, ``time.monotonic``
  for the deadline);
* **round robin** over the orgs, skipping an org whose breaker is open; a caller error (400, 404,
  422) goes back to the caller: never retried, never held against an org.

Production wiring::

    router = SdkRouter([OrgAccount("primary", os.environ["OPENAI_KEY_PRIMARY"]), ...],
                       redis=redis.Redis(host="redis"), http=httpx.Client())
    completion = router.complete({"model": "gpt-4o-mini", "messages": [...], "max_tokens": 300})

In the lab (``make_router`` at the bottom; the simulator hands over the HTTP client and the Redis
client, and the router's own clock reads and sleeps run in simulated time)::

    breakerlab compare scenarios/lock-primary-before-launch.yaml \\
        --router examples/sdk_pybreaker_router.py:make_router
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pybreaker
import redis as redis_lib
import tenacity
from openai import OpenAI

#: the caller's fault: returned at once, never retried, never counted against an org
CALLER_ERRORS = (openai.BadRequestError, openai.NotFoundError, openai.UnprocessableEntityError)


class AllOrgsOpen(Exception):
    """Every org's breaker is open."""


@dataclass(frozen=True)
class OrgAccount:
    name: str
    api_key: str
    organization: str | None = None


class _Alerts(pybreaker.CircuitBreakerListener):
    """Where production posts OPENED / CLOSED to Slack."""

    def __init__(self, notify: Callable[[str, str], Any]) -> None:
        self.notify = notify

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        kind = {"open": "OPENED", "half-open": "HALF_OPEN", "closed": "CLOSED"}[new_state.name]
        self.notify(kind, str(cb.name))


class SdkRouter:
    def __init__(
        self,
        orgs: Sequence[OrgAccount],
        *,
        redis: redis_lib.Redis,
        http: httpx.Client | None = None,
        fail_max: int = 5,
        reset_timeout: float = 60.0,
        tries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        timeout: float = 30.0,
        on_breaker: Callable[[str, str], Any] | None = None,
    ) -> None:
        if not orgs:
            raise ValueError("no orgs configured")
        listeners = [_Alerts(on_breaker)] if on_breaker is not None else []
        self.orgs = [
            (o.name, OpenAI(api_key=o.api_key, organization=o.organization, http_client=http, max_retries=0,
                            timeout=timeout))
            for o in orgs
        ]
        self.breakers = {
            o.name: pybreaker.CircuitBreaker(
                fail_max=fail_max, reset_timeout=reset_timeout, name=o.name,
                state_storage=pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, redis, namespace=f"llm:{o.name}"),
                exclude=list(CALLER_ERRORS), listeners=listeners,
                throw_new_error_on_trip=False)  # the call that trips it fails with its own error
            for o in orgs
        }
        self._turn = itertools.count()
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(tries),
            wait=tenacity.wait_exponential(multiplier=backoff, max=max_backoff),
            retry=tenacity.retry_if_not_exception_type(CALLER_ERRORS),
            reraise=True,
        )

    def complete(self, body: Mapping[str, Any]) -> Any:
        """The chat completion for ``body`` from some healthy org (the SDK's ``ChatCompletion``)."""
        return self._retrying(self._one_try, dict(body))

    def _one_try(self, body: dict[str, Any]) -> Any:
        """One try: the next org in turn whose breaker lets the call through (open ones are skipped
        at once; an open breaker past its reset timeout lets one trial call through)."""
        for _ in range(len(self.orgs)):
            name, client = self.orgs[next(self._turn) % len(self.orgs)]
            try:
                return self.breakers[name].call(client.chat.completions.create, **body)
            except pybreaker.CircuitBreakerError:  # open: the next org, at once
                continue
        raise AllOrgsOpen("every org's breaker is open")


# ---------------------------------------------------------------------- breakerlab adapter


def make_router(http: httpx.Client, redis: redis_lib.Redis, orgs: Sequence[Any],
                record_event: Callable[..., Any], **settings: Any) -> Callable[[dict[str, Any]], Any]:
    """The factory breakerlab calls once per pod: the router over the scenario's OpenAI orgs, its
    alerts recorded as breaker events. ``settings`` (fail_max, reset_timeout, ...) are bound by the
    caller with ``functools.partial``."""
    accounts = [OrgAccount(o.name, o.api_key, o.org_id) for o in orgs if o.vendor == "openai"]
    router = SdkRouter(accounts, redis=redis, http=http, on_breaker=lambda kind, org: record_event(kind, org),
                       **settings)
    return router.complete


__all__ = ["AllOrgsOpen", "OrgAccount", "SdkRouter", "make_router"]

