"""The official openai SDK, unchanged, through our httpx transport, against respx-mocked vendors."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
import respx
from multiorg_fakes import MODEL, T0, env_for, key_of, make_config

from multiorg import AsyncHttpVendorClient, AsyncRouter, ChatRequest, HttpVendorClient, ManualClock, Router
from multiorg.stores.memory import MemoryStore

CALLER_KEY = "sk-caller-key-never-forwarded"
VENDORS = [
    {"name": "openai", "base_url": "https://api.openai.com/v1"},
    {
        "name": "anthropic",
        "base_url": "https://api.anthropic.com/v1",
        "system_prompt_suffix": " Answer like an OpenAI model would.",
        "model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"},
    },
]
MESSAGES = [
    {"role": "system", "content": "You plan websites."},
    {"role": "user", "content": "A bakery"},
]


# --------------------------------------------------------------------------- vendor answers


def completion(org: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-limit-requests": "500",
            "x-request-id": f"req-{org}",
        },
        json={
            "id": f"chatcmpl-{org}",
            "object": "chat.completion",
            "created": 1,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"hello from {org}"},
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        },
    )


def openai_err(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers or {},
        json={"error": {"message": message, "type": code, "param": None, "code": code}},
    )


def locked() -> httpx.Response:
    return openai_err(
        429,
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details.",
    )


def throttled() -> httpx.Response:
    return openai_err(
        429,
        "rate_limit_exceeded",
        "Rate limit reached for gpt-4o-mini in organization "
        "org-a on requests per min (RPM): Limit 500, Used 500, Requested 1.",
        {"retry-after": "20", "x-ratelimit-remaining-requests": "0"},
    )


def claude(text: str = "hello from claude") -> httpx.Response:
    return httpx.Response(
        200,
        headers={"request-id": "req_anthropic_1"},
        json={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-3-5-haiku-latest",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 20, "output_tokens": 4},
        },
    )


def overloaded() -> httpx.Response:
    return httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


class Vendors:
    """Both vendors' APIs mocked with respx; each org answers from its own script."""

    def __init__(self, orgs: list[str], script: dict[str, Callable[[], httpx.Response] | Exception]) -> None:
        self.by_key = {key_of(o): o for o in orgs}
        self.script = script
        self.seen: list[tuple[str, httpx.Request]] = []
        self.mock = respx.Router(assert_all_called=False)
        self.mock.post("https://api.openai.com/v1/chat/completions").mock(side_effect=self._answer)
        self.mock.post("https://api.anthropic.com/v1/messages").mock(side_effect=self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("x-api-key") or request.headers["authorization"].removeprefix("Bearer ")
        org = self.by_key[key]
        self.seen.append((org, request))
        reply = self.script.get(org, completion)
        if isinstance(reply, Exception):
            raise reply
        return reply() if reply is not completion else completion(org)

    def orgs(self) -> list[str]:
        return [o for o, _ in self.seen]


def build(
    orgs: tuple[str, ...] = ("a", "b", "c"),
    anthropic: tuple[str, ...] = (),
    script: dict[str, Any] | None = None,
    asynchronous: bool = False,
    **router: Any,
) -> tuple[Any, Any, Vendors, ManualClock]:
    clock = ManualClock(T0)
    config = make_config(orgs, anthropic=anthropic, vendors=VENDORS, **router)
    vendors = Vendors([*orgs, *anthropic], script or {})
    common = {
        "clock": clock,
        "store": MemoryStore(),
        "rng": random.Random(1),
        "environ": env_for(config),
    }
    if asynchronous:
        http = httpx.AsyncClient(transport=httpx.MockTransport(vendors.mock.async_handler))
        arouter = AsyncRouter(config, client=AsyncHttpVendorClient(config, http), **common)
        sdk: Any = openai.AsyncOpenAI(
            api_key=CALLER_KEY,
            organization="org-caller",
            base_url="https://api.openai.com/v1",
            http_client=httpx.AsyncClient(transport=arouter.transport()),
            max_retries=0,
        )
        return arouter, sdk, vendors, clock
    http = httpx.Client(transport=httpx.MockTransport(vendors.mock.handler))
    router = Router(config, client=HttpVendorClient(config, http), **common)
    sdk = openai.OpenAI(
        api_key=CALLER_KEY,
        organization="org-caller",
        base_url="https://api.openai.com/v1",
        http_client=httpx.Client(transport=router.transport()),
        max_retries=0,
    )
    return router, sdk, vendors, clock


def ask(sdk: Any) -> Any:
    return sdk.chat.completions.create(model=MODEL, messages=MESSAGES)


# --------------------------------------------------------------------------- sync SDK


def test_each_org_gets_its_own_credentials_never_the_callers() -> None:
    _, sdk, vendors, _ = build()
    answers = [ask(sdk) for _ in range(6)]
    assert [a.choices[0].message.content for a in answers] == [f"hello from {o}" for o in "abcabc"]
    assert vendors.orgs() == list("abcabc")
    for org, request in vendors.seen:
        assert request.headers["authorization"] == f"Bearer {key_of(org)}"
        assert request.headers["openai-organization"] == f"org-{org}"
        assert CALLER_KEY not in str(request.headers) and CALLER_KEY.encode() not in request.content
        assert "org-caller" not in str(request.headers)
        sent = json.loads(request.content)
        assert sent["model"] == MODEL and sent["messages"] == MESSAGES
    raw = sdk.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.headers["x-multiorg-org"] == "a" and raw.headers["x-multiorg-attempts"] == "1"
    assert raw.headers["x-ratelimit-remaining-requests"] == "499"
    assert raw.parse().usage.total_tokens == 12


def test_the_callers_timeout_bounds_the_routed_call() -> None:
    """``timeout=`` on the SDK call is the whole call's budget: no attempt may outlive it."""
    _, sdk, vendors, _ = build()
    ask(sdk.with_options(timeout=0.5))
    ask(sdk)  # the SDK's default (600 s): the configured attempt timeout applies
    first, second = (r.extensions["timeout"]["read"] for _, r in vendors.seen)
    assert first == pytest.approx(0.5) and second == pytest.approx(30.0)


def test_locked_org_is_skipped() -> None:
    _, sdk, vendors, _ = build(script={"a": locked})
    answers = [ask(sdk) for _ in range(10)]
    assert all(a.choices[0].message.content in ("hello from b", "hello from c") for a in answers)
    assert vendors.orgs().count("a") == 1  # tripped at once: a billing lock does not clear by waiting


def test_rate_limited_org_fails_over_and_cools_down() -> None:
    _, sdk, vendors, clock = build(script={"a": throttled})
    assert ask(sdk).choices[0].message.content == "hello from b"
    for _ in range(6):
        ask(sdk)
    assert vendors.orgs().count("a") == 1  # cooling down for its retry-after (20 s)
    clock.advance(20)
    for _ in range(3):
        ask(sdk)
    assert vendors.orgs().count("a") == 2


def test_standby_vendor_answers_as_an_openai_chat_completion() -> None:
    _, sdk, vendors, _ = build(
        orgs=("a", "b"),
        anthropic=("z",),
        script={"a": locked, "b": locked, "z": claude},
        standby_vendor="anthropic",
    )
    answer = ask(sdk)
    assert isinstance(answer, openai.types.chat.ChatCompletion)
    assert answer._request_id == "req_anthropic_1"  # Anthropic's request-id, where the SDK reads it
    assert answer.choices[0].message.content == "hello from claude"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == MODEL
    assert (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
        answer.usage.total_tokens,
    ) == (20, 4, 24)
    org, request = vendors.seen[-1]
    assert org == "z" and vendors.orgs() == ["a", "b", "z"]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == key_of("z")
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    sent = json.loads(request.content)
    assert sent == {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "A bakery"}],
        "system": "You plan websites. Answer like an OpenAI model would.",
    }


def test_vendor_switch_serves_from_anthropic() -> None:
    router, sdk, vendors, _ = build(orgs=("a",), anthropic=("z",), script={"z": claude})
    assert ask(sdk).choices[0].message.content == "hello from a"
    router.switch.set("anthropic")
    assert ask(sdk).choices[0].message.content == "hello from claude"
    vendors.script["z"] = overloaded
    with pytest.raises(openai.InternalServerError) as info:
        ask(sdk)
    assert info.value.status_code == 529
    assert info.value.body == {
        "message": "Overloaded",
        "type": "overloaded_error",
        "param": None,
        "code": "overloaded_error",
    }
    router.switch.set(None)
    assert ask(sdk).choices[0].message.content == "hello from a"


def test_every_org_gone_raises_the_sdks_own_error_with_our_message() -> None:
    _, sdk, vendors, _ = build(orgs=("a", "b"), script={"a": locked, "b": locked}, params={"base_open_time": 60})
    with pytest.raises(openai.RateLimitError) as first:  # the last vendor answer, passed through
        ask(sdk)
    assert first.value.code == "insufficient_quota"
    with pytest.raises(openai.InternalServerError) as info:
        ask(sdk)
    err = info.value
    assert isinstance(err, openai.APIStatusError) and err.status_code == 503
    assert "no org available for model 'gpt-4o-mini'" in str(err)
    assert "no org available for model 'gpt-4o-mini'" in err.message
    assert err.code == "no_org_available"
    assert err.response.headers["retry-after"] == "60"
    assert vendors.orgs() == ["a", "b"]


def test_a_model_no_org_serves_is_not_found_not_unavailable() -> None:
    """A typo'd model is the SDK's NotFoundError (404, as OpenAI answers), not a 503 blaming breakers."""
    from multiorg import UnknownModel, load_config

    config = load_config({"orgs": [{"name": "a", "api_key_env": "KEY_A",
                                    "limits": {MODEL: {"rpm": 500, "tpm": 10**6}}}]})
    router = Router(config, client=HttpVendorClient(config, httpx.Client(transport=httpx.MockTransport(
        lambda r: pytest.fail("no vendor may be called")))), environ={"KEY_A": "k"}, store=MemoryStore())
    with pytest.raises(UnknownModel):
        router.send(ChatRequest("gpt-4o-mni", tuple(MESSAGES)))
    sdk = openai.OpenAI(api_key=CALLER_KEY, http_client=httpx.Client(transport=router.transport()), max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="gpt-4o-mni", messages=MESSAGES)
    assert info.value.code == "model_not_found" and "no org serves this model" in info.value.message


def test_transport_failures_on_every_org() -> None:
    _, sdk, vendors, _ = build(script={o: httpx.ConnectError("refused") for o in "abc"}, policy="none")
    with pytest.raises(openai.InternalServerError) as info:
        ask(sdk)
    assert info.value.status_code == 502
    assert Counter(vendors.orgs()) == {"a": 1, "b": 1, "c": 1}
    _, sdk, _, _ = build(script={o: httpx.ReadTimeout("slow") for o in "abc"}, policy="none")
    with pytest.raises(openai.InternalServerError) as info:
        ask(sdk)
    assert info.value.status_code == 504


def test_transport_rejects_what_it_cannot_route() -> None:
    _, sdk, vendors, _ = build()
    with pytest.raises(openai.NotFoundError):
        sdk.models.list()
    with pytest.raises(openai.BadRequestError, match="streaming"):
        sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model=MODEL, messages=["not a message"])
    assert vendors.seen == []


# --------------------------------------------------------------------------- async SDK


def test_async_sdk_through_the_async_router() -> None:
    async def main() -> None:
        _, sdk, vendors, _ = build(
            orgs=("a", "b"),
            anthropic=("z",),
            asynchronous=True,
            script={"a": locked, "z": claude},
            standby_vendor="anthropic",
            params={"base_open_time": 60},
        )
        answers = [await sdk.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(4)]
        assert [a.choices[0].message.content for a in answers] == ["hello from b"] * 4
        assert vendors.orgs().count("a") == 1
        vendors.script["b"] = locked
        answer = await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert answer.choices[0].message.content == "hello from claude"
        vendors.script["z"] = overloaded
        with pytest.raises(openai.InternalServerError) as info:
            await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert info.value.status_code == 529

    asyncio.run(main())


def test_async_sdk_every_org_gone() -> None:
    async def main() -> None:
        _, sdk, vendors, _ = build(orgs=("a", "b"), asynchronous=True, script={"a": locked, "b": locked})
        with pytest.raises(openai.RateLimitError):
            await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(openai.InternalServerError) as info:
            await sdk.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert info.value.status_code == 503
        assert "no org available for model 'gpt-4o-mini'" in str(info.value)
        for org, request in vendors.seen:
            assert request.headers["authorization"] == f"Bearer {key_of(org)}"

    asyncio.run(main())
