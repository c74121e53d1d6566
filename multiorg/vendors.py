"""The chat shape both vendors share, and the translation between their wire formats.

OpenAI chat.completions: ``system`` is a message role, ``max_tokens`` optional.
Anthropic messages: ``system`` is a top-level string, ``max_tokens`` required, messages are
user/assistant only. Answers from Anthropic are re-shaped into OpenAI's chat.completion (and its
error body) so an OpenAI client keeps working after the vendor switch flips.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .config import VendorConfig

DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: tuple[Mapping[str, Any], ...]
    system: str | None = None
    max_tokens: int | None = None
    #: other OpenAI parameters (temperature, ...) passed through to OpenAI orgs
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: rough prompt size in tokens (rate limiting, accounting); 0 = unknown
    prompt_tokens: int = 0

    @classmethod
    def from_openai(cls, body: Mapping[str, Any]) -> ChatRequest:
        messages = body.get("messages") or ()
        system_parts = [
            _text(m.get("content", "")) for m in messages if m.get("role") in ("system", "developer")
        ]
        rest = tuple(m for m in messages if m.get("role") not in ("system", "developer"))
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        # max_completion_tokens stays in ``extra``, as the caller wrote it: reasoning models refuse
        # max_tokens. ``max_tokens`` carries the number for accounting and other vendors.
        extra = {k: v for k, v in body.items() if k not in ("model", "messages", "max_tokens")}
        return cls(
            model=str(body.get("model", "")),
            messages=rest,
            system="\n\n".join(system_parts) if system_parts else None,
            max_tokens=int(max_tokens) if max_tokens is not None else None,
            extra=extra,
        )


def system_prompt_for(request: ChatRequest, vendor: VendorConfig) -> str | None:
    """The system prompt adjusted for ``vendor`` (prompts behave differently per vendor)."""
    if vendor.system_prompt_override is not None:
        return vendor.system_prompt_override
    if request.system is None:
        return vendor.system_prompt_suffix or None
    return request.system + vendor.system_prompt_suffix


def openai_body(request: ChatRequest, vendor: VendorConfig) -> dict[str, Any]:
    system = system_prompt_for(request, vendor)
    messages = ([{"role": "system", "content": system}] if system else []) + [dict(m) for m in request.messages]
    body: dict[str, Any] = {**request.extra, "model": vendor.model_for(request.model), "messages": messages}
    if request.max_tokens is not None and "max_completion_tokens" not in body:
        body["max_tokens"] = request.max_tokens
    return body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:  # e.g. an assistant turn that only made tool calls
        return ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def anthropic_body(request: ChatRequest, vendor: VendorConfig) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": vendor.model_for(request.model),
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [
            {
                "role": "assistant" if m.get("role") == "assistant" else "user",
                "content": _text(m.get("content", "")),
            }
            for m in request.messages
        ],
    }
    system = system_prompt_for(request, vendor)
    if system:
        body["system"] = system
    extra = request.extra
    if extra.get("temperature") is not None:
        # OpenAI accepts 0..2, Anthropic 0..1: a value Anthropic would reject with a 400 is capped.
        body["temperature"] = min(float(extra["temperature"]), 1.0)
    if extra.get("top_p") is not None:
        body["top_p"] = extra["top_p"]
    stop = extra.get("stop")
    if stop:
        # OpenAI takes a string or a list; Anthropic's stop_sequences must be a list.
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return body


_FINISH = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls"}


def openai_response_from_anthropic(body: Mapping[str, Any], requested_model: str) -> dict[str, Any]:
    """An Anthropic ``message`` as an OpenAI ``chat.completion`` (text only)."""
    text = "".join(str(b.get("text", "")) for b in body.get("content") or () if b.get("type") == "text")
    usage = body.get("usage") or {}
    pt, ct = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
    return {
        "id": "chatcmpl-" + str(body.get("id", "")),
        "object": "chat.completion",
        "created": 0,
        "model": requested_model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": _FINISH.get(str(body.get("stop_reason")), "stop"),
            }
        ],
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
    }


def openai_error_from_anthropic(body: Any) -> dict[str, Any]:
    err = body.get("error") if isinstance(body, Mapping) else None
    err = err if isinstance(err, Mapping) else {}
    etype = str(err.get("type", "api_error"))
    return {"error": {"message": str(err.get("message", "")), "type": etype, "param": None, "code": etype}}


def response_text(vendor: str, body: Any) -> str:
    """The assistant text of a successful answer in ``vendor``'s format."""
    if not isinstance(body, Mapping):
        return ""
    if vendor == "anthropic":
        return "".join(str(b.get("text", "")) for b in body.get("content") or () if b.get("type") == "text")
    choices = body.get("choices") or ()
    return _text(choices[0].get("message", {}).get("content", "")) if choices else ""
