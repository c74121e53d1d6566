"""The chat shape the vendors share, and the translation between their wire formats.

OpenAI chat.completions: ``system`` is a message role, ``max_tokens`` optional.
Anthropic messages: ``system`` is a top-level string, ``max_tokens`` required, messages are
user/assistant only. Answers from Anthropic are re-shaped into OpenAI's chat.completion (and its
error body) so an OpenAI client keeps working after the vendor switch flips.
Azure OpenAI speaks OpenAI's body; only the URL (resource endpoint, deployment, ``api-version``)
and the key header (``api-key``) differ (:func:`azure_request`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import OrgConfig, VendorConfig

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


def azure_request(
    org: OrgConfig, vendor: VendorConfig, api_key: str, request: ChatRequest
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(url, headers, body) of a chat completion at an Azure OpenAI org: the deployment of the
    model (as the vendor names it) at the org's resource, as ``openai.AzureOpenAI`` sends it."""
    az = org.azure
    if az is None:
        raise ValueError(f"org {org.name} is not an Azure org (no 'azure' section)")
    body = openai_body(request, vendor)
    return az.chat_url(body["model"]), {"api-key": api_key}, body


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:  # e.g. an assistant turn that only made tool calls
        return ""
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def _blocks(content: Any) -> list[dict[str, Any]]:
    """OpenAI message content as Anthropic content blocks: text, and images (a ``data:`` URL as
    base64, any other URL by reference)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for p in content if isinstance(content, list) else (content,):
        if not isinstance(p, Mapping):
            continue
        kind = p.get("type")
        if kind == "text" and p.get("text"):
            if blocks and blocks[-1]["type"] == "text":  # one message's text parts: one text
                blocks[-1]["text"] += str(p["text"])
            else:
                blocks.append({"type": "text", "text": str(p["text"])})
        elif kind == "image_url":
            url = str((p.get("image_url") or {}).get("url", ""))
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}})
            elif url:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def _tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    try:
        args = json.loads(fn.get("arguments") or "{}")
    except ValueError:  # not JSON: passed on as it came
        args = {"arguments": fn.get("arguments")}
    return {"type": "tool_use", "id": str(call.get("id", "")), "name": str(fn.get("name", "")),
            "input": args if isinstance(args, dict) else {"value": args}}


def anthropic_turns(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI turns as Anthropic's: an assistant's tool calls as ``tool_use`` blocks, a ``tool``
    message as a ``tool_result`` block of a user turn, consecutive turns of one role merged and
    empty ones left out (Anthropic alternates user and assistant and refuses empty content).
    A turn of text alone stays a plain string."""
    turns: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "tool":
            blocks = [{"type": "tool_result", "tool_use_id": str(m.get("tool_call_id", "")),
                       "content": _text(m.get("content")) or "(no output)"}]
            role = "user"
        else:
            blocks = _blocks(m.get("content"))
            if role == "assistant":
                blocks += [_tool_use(c) for c in m.get("tool_calls") or () if isinstance(c, Mapping)]
            else:
                role = "user"
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for t in turns:
        if all(b["type"] == "text" for b in t["content"]):
            t["content"] = "\n\n".join(b["text"] for b in t["content"])
    return turns


_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def anthropic_body(request: ChatRequest, vendor: VendorConfig) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": vendor.model_for(request.model),
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": anthropic_turns(request.messages),
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
        # OpenAI takes a string or a list; Anthropic's stop_sequences must be a list of sequences
        # with something besides whitespace (it refuses "\n")
        seqs = [s for s in ([stop] if isinstance(stop, str) else list(stop)) if str(s).strip()]
        if seqs:
            body["stop_sequences"] = seqs
    tools = [t.get("function") or {} for t in extra.get("tools") or () if isinstance(t, Mapping)]
    if tools:
        body["tools"] = [
            {"name": str(f.get("name", "")), "description": str(f.get("description", "")),
             "input_schema": f.get("parameters") or {"type": "object", "properties": {}}}
            for f in tools
        ]
        choice = extra.get("tool_choice")
        if isinstance(choice, str) and choice in _TOOL_CHOICE:
            body["tool_choice"] = _TOOL_CHOICE[choice]
        elif isinstance(choice, Mapping) and (choice.get("function") or {}).get("name"):
            body["tool_choice"] = {"type": "tool", "name": str(choice["function"]["name"])}
    return body


_FINISH = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop", "tool_use": "tool_calls"}


def openai_response_from_anthropic(body: Mapping[str, Any], requested_model: str) -> dict[str, Any]:
    """An Anthropic ``message`` as an OpenAI ``chat.completion``: text, tool calls, usage (cached
    prompt tokens counted in the prompt, as OpenAI counts them)."""
    content = [b for b in body.get("content") or () if isinstance(b, Mapping)]
    text = "".join(str(b.get("text", "")) for b in content if b.get("type") == "text")
    calls = [
        {"id": str(b.get("id", "")), "type": "function",
         "function": {"name": str(b.get("name", "")), "arguments": json.dumps(b.get("input") or {})}}
        for b in content if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = body.get("usage") or {}
    pt = sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    ct = int(usage.get("output_tokens") or 0)
    return {
        "id": "chatcmpl-" + str(body.get("id", "")),
        "object": "chat.completion",
        "created": 0,
        "model": requested_model,
        "choices": [
            {
                "index": 0,
                "message": message,
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
