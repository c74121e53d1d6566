"""httpx transports that put the router under any OpenAI-speaking client.

    client = openai.OpenAI(api_key="unused", http_client=httpx.Client(transport=router.transport()),
                           max_retries=0)

The caller's own key and org headers are ignored; each attempt gets the chosen org's. Answers
served by Anthropic (after the vendor switch, or standby failover) come back in OpenAI's shape.
When no org is available the caller gets a 503 with an OpenAI error body carrying our message
and a ``retry-after`` header, so an SDK raises its own error type.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import httpx

from .errors import NoOrgAvailable, UnknownModel
from .router import RouteResult
from .vendors import ChatRequest, openai_error_from_anthropic, openai_response_from_anthropic

if TYPE_CHECKING:
    from .router import AsyncRouter, Router

_PASS_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "retry-after",
    "retry-after-ms",
    "x-request-id",
    "request-id",
)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"content-type": "application/json", **(headers or {})}
    return httpx.Response(status, headers=h, content=json.dumps(body).encode())


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return _json(status, {"error": {"message": message, "type": code, "param": None, "code": code}}, headers)


def _parse(request: httpx.Request) -> ChatRequest | httpx.Response:
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        return _error(
            404,
            f"multiorg routes POST /chat/completions only, not {request.method} {request.url.path}",
            "not_found",
        )
    try:
        body = json.loads(request.content)
    except ValueError:
        return _error(400, "request body is not valid JSON", "invalid_request_error")
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("model"), str)
        or not body["model"]
        or not isinstance(body.get("messages"), list)
        or not all(isinstance(m, dict) for m in body["messages"])
    ):
        return _error(
            400, "a chat completion needs 'model' and a 'messages' list of objects",
            "invalid_request_error",
        )
    if body.get("stream"):
        return _error(
            400, "streaming is not supported by the multiorg transport", "invalid_request_error"
        )
    try:
        return ChatRequest.from_openai(body)
    except (TypeError, ValueError):  # e.g. a max_tokens that is not a number
        return _error(400, "malformed chat completion request", "invalid_request_error")


def _answer(result: RouteResult, model: str) -> httpx.Response:
    resp = result.response
    if resp.status == 0:  # the last attempt died in transport
        return _error(
            504 if result.outcome == "timeout" else 502,
            f"last attempt on org {result.org} failed: {result.outcome}",
            result.outcome,
        )
    body = resp.body
    if result.vendor == "anthropic":
        if 200 <= resp.status < 300:
            body = openai_response_from_anthropic(body if isinstance(body, dict) else {}, model)
        else:
            body = openai_error_from_anthropic(body)
    headers = {h: resp.headers[h] for h in _PASS_HEADERS if h in resp.headers}
    if "x-request-id" not in headers and "request-id" in headers:
        headers["x-request-id"] = headers["request-id"]  # where the openai SDK reads it
    headers["x-multiorg-org"] = result.org
    headers["x-multiorg-attempts"] = str(result.attempts)
    return _json(resp.status, body, headers)


def _caller_timeout(request: httpx.Request) -> float | None:
    """The caller's read timeout (the SDK's ``timeout=``): the whole routed call must fit in it."""
    t = request.extensions.get("timeout")
    read = t.get("read") if isinstance(t, dict) else None
    return float(read) if isinstance(read, (int, float)) else None


def _unavailable(e: NoOrgAvailable, now: float) -> httpx.Response:
    if isinstance(e, UnknownModel):  # as OpenAI answers a model it does not have
        return _error(404, str(e), "model_not_found", {})
    headers = {}
    if e.retry_at is not None:
        headers["retry-after"] = str(max(1, math.ceil(e.retry_at - now)))
    return _error(503, str(e), "no_org_available", headers)


class RouterTransport(httpx.BaseTransport):
    def __init__(self, router: Router) -> None:
        self.router = router

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        parsed = _parse(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        try:
            result = self.router.send(parsed, timeout=_caller_timeout(request))
        except NoOrgAvailable as e:
            return _unavailable(e, self.router.core.clock.now())
        return _answer(result, parsed.model)


class AsyncRouterTransport(httpx.AsyncBaseTransport):
    def __init__(self, router: AsyncRouter) -> None:
        self.router = router

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        parsed = _parse(request)
        if isinstance(parsed, httpx.Response):
            return parsed
        try:
            result = await self.router.send(parsed, timeout=_caller_timeout(request))
        except NoOrgAvailable as e:
            return _unavailable(e, self.router.core.clock.now())
        return _answer(result, parsed.model)
