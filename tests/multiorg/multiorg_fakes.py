"""Shared fakes for the multiorg tests: configs, canned vendor replies, scripted vendor clients.

A scripted client answers per org from a script (one reply, a list consumed in order whose last
entry sticks, or a callable), spends simulated latency on the injected ManualClock and honours
the attempt timeout the way a real transport would (raising ``httpx.ReadTimeout``).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from multiorg import AsyncRouter, ChatRequest, ManualClock, Router, VendorResponse, load_config
from multiorg.config import MultiOrgConfig
from multiorg.stores.memory import MemoryStore

MODEL = "gpt-4o-mini"
T0 = 1_747_500_000.0


def key_of(org: str) -> str:
    """The (fake, secret-looking) API key of ``org``."""
    return f"sk-{org}-SECRET-0123456789"


def make_config(
    orgs: Iterable[str] = ("a", "b", "c", "d"),
    *,
    anthropic: Iterable[str] = (),
    policy: str = "exponential",
    params: Mapping[str, Any] | None = None,
    weights: Mapping[str, float] | None = None,
    vendors: list[dict[str, Any]] | None = None,
    **router: Any,
) -> MultiOrgConfig:
    entries: list[dict[str, Any]] = []
    for name in orgs:
        entries.append({"name": name, "org_id": f"org-{name}", "api_key_env": f"KEY_{name.upper()}"})
    for name in anthropic:
        entries.append({"name": name, "vendor": "anthropic", "api_key_env": f"KEY_{name.upper()}"})
    for e in entries:
        if weights and e["name"] in weights:
            e["weight"] = weights[e["name"]]
    data: dict[str, Any] = {
        "orgs": entries,
        "router": router,
        "breaker": {"policy": policy, "params": dict(params or {})},
    }
    if vendors is not None:
        data["vendors"] = vendors
    return load_config(data)


def env_for(config: MultiOrgConfig) -> dict[str, str]:
    return {o.api_key_env: key_of(o.name) for o in config.orgs}


def chat(text: str = "hello", *, model: str = MODEL, system: str | None = None) -> ChatRequest:
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": text})
    return ChatRequest.from_openai({"model": model, "messages": messages})


# --------------------------------------------------------------------------- replies


def ok(text: str = "hi", headers: Mapping[str, str] | None = None) -> VendorResponse:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    return VendorResponse(200, dict(headers or {}), body)


def anthropic_ok(text: str = "hi from claude") -> VendorResponse:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-haiku-latest",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 2},
    }
    return VendorResponse(200, {}, body)


def openai_error(
    status: int,
    code: str | None,
    message: str = "error",
    *,
    type_: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> VendorResponse:
    err = {"message": message, "type": type_ or code or "error", "param": None, "code": code}
    return VendorResponse(status, dict(headers or {}), {"error": err})


def anthropic_error(status: int, type_: str, message: str = "error") -> VendorResponse:
    return VendorResponse(status, {}, {"type": "error", "error": {"type": type_, "message": message}})


def rate_limited(retry_after: str | None = None) -> VendorResponse:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    return openai_error(
        429,
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o-mini",
        type_="requests",
        headers=headers,
    )


QUOTA = openai_error(
    429,
    "insufficient_quota",
    "You exceeded your current quota, please check your plan and billing details.",
    type_="insufficient_quota",
)
SERVER = openai_error(500, "server_error", "The server had an error", type_="server_error")
BAD_REQUEST = openai_error(400, "context_length_exceeded", "too long", type_="invalid_request_error")


# --------------------------------------------------------------------------- clients

Reply = VendorResponse | BaseException | Callable[..., Any] | list[Any]


class ScriptedClient:
    """A sync VendorClient answering from a per-org script on a ManualClock."""

    def __init__(
        self,
        clock: ManualClock,
        script: Mapping[str, Reply] | None = None,
        *,
        default: Reply | None = None,
        latency: float | Mapping[str, float] = 0.0,
    ) -> None:
        self.clock = clock
        self.script: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v) for k, v in (script or {}).items()}
        self.default = ok() if default is None else default
        self.latency = latency
        #: (org, api_key, model sent, timeout) per attempt
        self.calls: list[tuple[str, str, str, float]] = []

    def orgs(self) -> list[str]:
        return [c[0] for c in self.calls]

    def _reply(self, org: str, request: ChatRequest) -> Any:
        r = self.script.get(org, self.default)
        if isinstance(r, list):
            r = r.pop(0) if len(r) > 1 else r[0]
        if callable(r) and not isinstance(r, (VendorResponse, BaseException)):
            r = r(org, request)
        return r

    def _latency(self, org: str) -> float:
        lat = self.latency
        return float(lat.get(org, 0.0)) if isinstance(lat, Mapping) else float(lat)

    def send(self, org: Any, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        self.calls.append((org.name, api_key, request.model, timeout))
        reply = self._reply(org.name, request)
        lat = self._latency(org.name)
        if lat > timeout:
            self.clock.advance(timeout)
            raise httpx.ReadTimeout("read timed out")
        if lat:
            self.clock.advance(lat)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class AsyncScriptedClient:
    """The async twin: same script, same clock, one event-loop turn per attempt."""

    def __init__(self, inner: ScriptedClient) -> None:
        self.inner = inner

    async def send(self, org: Any, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        await asyncio.sleep(0)
        return self.inner.send(org, api_key, request, timeout)


class Recorder:
    """A RouterObserver keeping every attempt and request."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, ...]] = []
        self.requests: list[tuple[Any, ...]] = []

    def attempt(
        self,
        tag: Any,
        org: str,
        vendor: str,
        start: float,
        end: float,
        outcome: Any,
        status: int,
        probe: bool,
    ) -> None:
        self.attempts.append((tag, org, vendor, start, end, str(outcome), status, probe))

    def request(self, tag: Any, start: float, end: float, outcome: Any, attempts: int) -> None:
        self.requests.append((tag, start, end, None if outcome is None else str(outcome), attempts))


def make_router(
    config: MultiOrgConfig,
    client: Any,
    clock: ManualClock,
    *,
    store: Any = None,
    seed: int = 7,
    asynchronous: bool = False,
    **kwargs: Any,
) -> Any:
    cls = AsyncRouter if asynchronous else Router
    return cls(
        config,
        client=client,
        clock=clock,
        store=MemoryStore() if store is None else store,
        rng=random.Random(seed),
        environ=env_for(config),
        **kwargs,
    )
