"""OpenAI chat.completions ↔ Anthropic messages: the translation the vendor switch relies on."""

from __future__ import annotations

import json

import httpx
import openai.types.chat as oa
import pytest

from multiorg import ChatRequest, HttpVendorClient, load_config
from multiorg.config import VendorConfig
from multiorg.vendors import (
    DEFAULT_MAX_TOKENS,
    anthropic_body,
    openai_body,
    openai_error_from_anthropic,
    openai_response_from_anthropic,
    response_text,
    system_prompt_for,
)

OPENAI = VendorConfig(name="openai", base_url="https://api.openai.com/v1")
ANTHROPIC = VendorConfig(
    name="anthropic",
    base_url="https://api.anthropic.com/v1",
    system_prompt_suffix="\nReply with JSON only, no prose.",
    model_map={"gpt-4o-mini": "claude-3-5-haiku-latest"},
)

REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You plan websites."},
        {"role": "user", "content": "A bakery site"},
        {"role": "assistant", "content": "Which pages?"},
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {
            "role": "user",
            "content": [{"type": "text", "text": "Home, "}, {"type": "text", "text": "Menu"}],
        },
    ],
    "temperature": 0.2,
    "stop": "END",
    "user": "u-1",
}


def test_from_openai_extracts_system_prompt() -> None:
    req = ChatRequest.from_openai(REQUEST)
    assert req.model == "gpt-4o-mini"
    assert req.system == "You plan websites.\n\nBe brief."  # system and developer, content parts read
    assert [m["role"] for m in req.messages] == ["user", "assistant", "user"]
    assert req.max_tokens is None
    assert req.extra == {"temperature": 0.2, "stop": "END", "user": "u-1"}
    assert ChatRequest.from_openai({"model": "m", "messages": []}).system is None


def test_openai_body_keeps_openai_shape() -> None:
    req = ChatRequest.from_openai({**REQUEST, "max_tokens": 50})
    body = openai_body(req, OPENAI)
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][0] == {"role": "system", "content": "You plan websites.\n\nBe brief."}
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["max_tokens"] == 50
    assert (body["temperature"], body["stop"], body["user"]) == (0.2, "END", "u-1")
    no_system = ChatRequest.from_openai({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert [m["role"] for m in openai_body(no_system, OPENAI)["messages"]] == ["user"]
    assert "max_tokens" not in openai_body(no_system, OPENAI)
    # reasoning models refuse max_tokens: the caller's max_completion_tokens goes out as written
    modern = ChatRequest.from_openai({**REQUEST, "max_completion_tokens": 77})
    assert modern.max_tokens == 77
    body = openai_body(modern, OPENAI)
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body
    other = anthropic_body(modern, ANTHROPIC)
    assert other["max_tokens"] == 77 and "max_completion_tokens" not in other


def test_anthropic_body() -> None:
    body = anthropic_body(ChatRequest.from_openai(REQUEST), ANTHROPIC)
    assert body["model"] == "claude-3-5-haiku-latest"  # model_map
    assert body["max_tokens"] == DEFAULT_MAX_TOKENS  # required by Anthropic
    assert body["system"] == "You plan websites.\n\nBe brief.\nReply with JSON only, no prose."
    assert body["messages"] == [
        {"role": "user", "content": "A bakery site"},
        {"role": "assistant", "content": "Which pages?"},
        {"role": "user", "content": "Home, Menu"},
    ]
    assert all(m["role"] in ("user", "assistant") for m in body["messages"])
    assert body["temperature"] == 0.2
    assert body["stop_sequences"] == ["END"]  # a list, even when OpenAI got a string
    assert "user" not in body and "stop" not in body
    explicit = anthropic_body(
        ChatRequest.from_openai({**REQUEST, "max_tokens": 300, "stop": ["a", "b"], "temperature": 1.7}),
        ANTHROPIC,
    )
    assert explicit["max_tokens"] == 300
    assert explicit["stop_sequences"] == ["a", "b"]
    assert explicit["temperature"] == 1.0  # Anthropic's range is 0..1


def test_anthropic_body_tool_turns_and_no_system() -> None:
    req = ChatRequest.from_openai(
        {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": None, "tool_calls": []},
            ],
        }
    )
    body = anthropic_body(req, VendorConfig(name="anthropic", base_url="https://u"))
    assert "system" not in body
    assert body["messages"] == [{"role": "user", "content": "hi"}]  # Anthropic refuses empty content


def test_anthropic_body_tools_images_and_tool_results() -> None:
    """What an agent sends: tools, a tool call and its result, an image — as Anthropic takes them."""
    weather = {"type": "object", "properties": {"city": {"type": "string"}}}
    req = ChatRequest.from_openai({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather here? "},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                                         {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "rain"},
            {"role": "user", "content": "Umbrella?"},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "description": "w", "parameters": weather}}],
        "tool_choice": "required",
        "stop": ["\n", "END"],
    })
    body = anthropic_body(req, VendorConfig(name="anthropic", base_url="https://u"))
    assert body["messages"] == [
        {"role": "user", "content": [
            {"type": "text", "text": "Weather here? "},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [  # the tool result and the next user turn: one user turn
            {"type": "tool_result", "tool_use_id": "call_1", "content": "rain"},
            {"type": "text", "text": "Umbrella?"}]},
    ]
    assert body["tools"] == [{"name": "weather", "description": "w", "input_schema": weather}]
    assert body["tool_choice"] == {"type": "any"}
    assert body["stop_sequences"] == ["END"]  # Anthropic refuses a whitespace-only sequence


def test_per_vendor_system_prompt_adjustments() -> None:
    req = ChatRequest.from_openai(REQUEST)
    override = VendorConfig(
        name="anthropic",
        base_url="https://u",
        system_prompt_override="Claude: plan sites.",
        system_prompt_suffix=" ignored",
    )
    assert system_prompt_for(req, override) == "Claude: plan sites."
    assert anthropic_body(req, override)["system"] == "Claude: plan sites."
    assert openai_body(req, override)["messages"][0]["content"] == "Claude: plan sites."
    bare = ChatRequest.from_openai({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert system_prompt_for(bare, ANTHROPIC) == "\nReply with JSON only, no prose."
    assert system_prompt_for(bare, OPENAI) is None
    assert system_prompt_for(req, OPENAI) == "You plan websites.\n\nBe brief."


ANTHROPIC_MESSAGE = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-haiku-latest",
    "content": [
        {"type": "text", "text": "Home, "},
        {"type": "tool_use", "id": "t", "name": "n", "input": {}},
        {"type": "text", "text": "Menu, Contact"},
    ],
    "stop_reason": "max_tokens",
    "usage": {"input_tokens": 25, "output_tokens": 7},
}


def test_anthropic_response_as_openai_chat_completion() -> None:
    body = openai_response_from_anthropic(ANTHROPIC_MESSAGE, "gpt-4o-mini")
    assert body["object"] == "chat.completion"
    assert body["model"] == "gpt-4o-mini"  # the model the caller asked for
    assert body["id"].startswith("chatcmpl-")
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Home, Menu, Contact", "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "n", "arguments": "{}"}}]},
            "finish_reason": "length",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 25, "completion_tokens": 7, "total_tokens": 32}
    cached = openai_response_from_anthropic(
        {**ANTHROPIC_MESSAGE, "usage": {"input_tokens": 10, "cache_read_input_tokens": 100,
                                        "cache_creation_input_tokens": 7, "output_tokens": 7}}, "m")
    assert cached["usage"]["prompt_tokens"] == 117  # OpenAI counts cached prompt tokens in the prompt
    parsed = oa.ChatCompletion.model_validate(body)  # what the openai SDK will build from it
    assert parsed.choices[0].message.content == "Home, Menu, Contact"
    end = openai_response_from_anthropic({**ANTHROPIC_MESSAGE, "stop_reason": "end_turn"}, "m")
    assert end["choices"][0]["finish_reason"] == "stop"
    assert response_text("anthropic", ANTHROPIC_MESSAGE) == "Home, Menu, Contact"
    assert response_text("openai", body) == "Home, Menu, Contact"
    assert response_text("openai", None) == ""


@pytest.mark.parametrize(
    ("anthropic", "message", "type_"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "Overloaded",
            "overloaded_error",
        ),
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            "slow down",
            "rate_limit_error",
        ),
        (None, "", "api_error"),
        ({"error": "not a mapping"}, "", "api_error"),
    ],
)
def test_anthropic_error_as_openai_error(anthropic: object, message: str, type_: str) -> None:
    body = openai_error_from_anthropic(anthropic)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["message"], body["error"]["type"], body["error"]["param"]) == (
        message,
        type_,
        None,
    )


def test_http_client_speaks_each_vendors_wire_format() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    cfg = load_config(
        {
            "vendors": [
                {"name": "openai", "base_url": "https://api.openai.com/v1/"},
                {
                    "name": "anthropic",
                    "base_url": "https://api.anthropic.com/v1",
                    "anthropic_version": "2023-06-01",
                },
            ],
            "orgs": [
                {"name": "p", "org_id": "org-p", "api_key_env": "KP"},
                {"name": "c", "vendor": "anthropic", "api_key_env": "KC"},
            ],
        }
    )
    client = HttpVendorClient(cfg, httpx.Client(transport=httpx.MockTransport(handler)))
    req = ChatRequest.from_openai(REQUEST)
    r1 = client.send(cfg.orgs[0], "sk-p", req, 5.0)
    r2 = client.send(cfg.orgs[1], "sk-c", req, 5.0)
    assert (r1.status, r1.body, r2.body) == (200, {"ok": True}, {"ok": True})
    o, a = seen
    assert str(o.url) == "https://api.openai.com/v1/chat/completions"
    assert o.headers["authorization"] == "Bearer sk-p"
    assert o.headers["openai-organization"] == "org-p"
    assert "x-api-key" not in o.headers
    assert json.loads(o.content)["messages"][0]["role"] == "system"
    assert str(a.url) == "https://api.anthropic.com/v1/messages"
    assert a.headers["x-api-key"] == "sk-c"
    assert a.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in a.headers
    sent = json.loads(a.content)
    assert sent["system"] == "You plan websites.\n\nBe brief." and sent["max_tokens"] == DEFAULT_MAX_TOKENS
