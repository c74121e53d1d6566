"""The vendors' wire formats, as the mocked vendors answer: headers and JSON bodies.

Both simulation modes use these builders — fast mode hands the dicts to the router directly,
full mode encodes them into ``httpx.Response`` objects — so the classifier reads exactly the
same fields either way. Formats follow ``shared/vendor-wire-formats.md``:

* OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` on every answer (reset as a
  Go-style duration: ``"120ms"``, ``"1s"``, ``"17.28s"``, ``"6m0s"``), ``retry-after`` (whole
  seconds) and ``retry-after-ms`` on a 429, ``openai-organization``, ``x-request-id``,
  ``openai-processing-ms``; error body ``{"error": {"message", "type", "param", "code"}}``.
* Anthropic: ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` (reset as an
  RFC 3339 timestamp, whole seconds), ``retry-after`` (whole seconds) on a 429, ``request-id``;
  error body ``{"type": "error", "error": {"type", "message"}}``. The simulated org has one token
  bucket (input + max output tokens), so the ``tokens-*`` headers describe it and the separate
  ``input-tokens-*`` / ``output-tokens-*`` headers the real API adds are not sent.
* Azure OpenAI (``POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…``,
  ``api-key`` header): OpenAI's success body and ``x-ratelimit-*`` counters, plus ``x-ms-region``
  and ``apim-request-id``; ``retry-after`` and ``retry-after-ms`` on a 429. Azure's own error
  bodies are ``{"error": {"code": "429" | "401" | "DeploymentNotFound" | …, "message"}}`` (no
  ``type``); a filtered prompt is a 400 with code ``content_filter`` and an ``innererror``. Azure
  has no ``insufficient_quota``: a disabled subscription answers 401 ("… a valid key for an active
  subscription …"). 5xx bodies are OpenAI's (Azure passes them through).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

OPENAI = "openai"
ANTHROPIC = "anthropic"
AZURE = "azure"

# --------------------------------------------------------------------------- formatting


def go_duration(seconds: float) -> str:
    """Seconds as Go's ``time.Duration.String()`` renders them, to the millisecond.

    ``0 → "0s"``, ``0.12 → "120ms"``, ``1 → "1s"``, ``17.28 → "17.28s"``, ``360 → "6m0s"``,
    ``3723.5 → "1h2m3.5s"``. Sub-millisecond waits round up to ``"1ms"`` (never claim "now").
    """
    ms = math.ceil(seconds * 1000.0 - 1e-9)
    if ms < 1000:
        return f"{ms}ms" if ms > 0 else "0s"
    s = _SECONDS.get(ms)
    if s is None:
        if len(_SECONDS) >= 65536:
            _SECONDS.clear()
        h, rest = divmod(ms, 3_600_000)
        m, rest = divmod(rest, 60_000)
        sec, frac = divmod(rest, 1000)
        text = f"{sec}.{frac:03d}".rstrip("0") if frac else str(sec)
        if h:
            s = f"{h}h{m}m{text}s"
        elif m:
            s = f"{m}m{text}s"
        else:
            s = f"{text}s"
        _SECONDS[ms] = s
    return s


_SECONDS: dict[int, str] = {}


class Rfc3339:
    """Epoch seconds → ``"2025-03-19T00:00:12Z"`` (rounded up to the second), with a small cache."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, epoch: float) -> str:
        sec = math.ceil(epoch - 1e-9)
        s = self._cache.get(sec)
        if s is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            s = datetime.fromtimestamp(sec, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._cache[sec] = s
        return s


rfc3339 = Rfc3339()

# --------------------------------------------------------------------------- success bodies

_TEXT = "ok"


#: the answer's choices, shared by every simulated success (treat as read-only)
OPENAI_CHOICES = [{"index": 0, "message": {"role": "assistant", "content": _TEXT}, "finish_reason": "stop"}]
ANTHROPIC_CONTENT = [{"type": "text", "text": _TEXT}]


def openai_success(model: str, request_id: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": "chatcmpl-" + request_id,
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": OPENAI_CHOICES,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def anthropic_success(model: str, request_id: str, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "id": "msg_" + request_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": ANTHROPIC_CONTENT,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
    }


# --------------------------------------------------------------------------- error bodies

#: error keys the vendor model decides; the body and status follow per vendor
RATE_REQUESTS = "rate_requests"
RATE_TOKENS = "rate_tokens"
QUOTA = "quota"
AUTH = "auth"
DEACTIVATED = "deactivated"
NOT_FOUND = "not_found"
ORG_MISMATCH = "org_mismatch"
SERVER_500 = "500"
SERVER_502 = "502"
SERVER_503 = "503"
SERVER_529 = "529"
#: Azure: a filtered prompt (an error-mix kind of Azure orgs)
CONTENT_FILTER = "content_filter"
#: Azure: a path or ``api-version`` the service does not know
RESOURCE_NOT_FOUND = "resource_not_found"

LOCKOUT_KINDS = (QUOTA, AUTH, DEACTIVATED)


def _openai_error(message: str, etype: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def _anthropic_error(etype: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": etype, "message": message}}


def openai_error(
    key: str, *, model: str, org_id: str, detail: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    """(status, body) of an OpenAI error answer."""
    if key in (RATE_REQUESTS, RATE_TOKENS):
        d = detail or {}
        what = "requests per min (RPM)" if key == RATE_REQUESTS else "tokens per min (TPM)"
        msg = (
            f"Rate limit reached for {model} in organization {org_id} on {what}: "
            f"Limit {d.get('limit', 0)}, Used {d.get('used', 0)}, Requested {d.get('requested', 1)}. "
            f"Please try again in {go_duration(d.get('wait', 0.0))}. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        return 429, _openai_error(msg, "requests" if key == RATE_REQUESTS else "tokens", "rate_limit_exceeded")
    if key == QUOTA:
        msg = (
            "You exceeded your current quota, please check your plan and billing details. For more "
            "information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return 429, _openai_error(msg, "insufficient_quota", "insufficient_quota")
    if key == AUTH:
        msg = (
            "Incorrect API key provided: sk-sim-***. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        return 401, _openai_error(msg, "invalid_request_error", "invalid_api_key")
    if key == DEACTIVATED:
        msg = (
            "This key is associated with a deactivated account. If you feel this is an error, contact us "
            "through our help center at help.openai.com."
        )
        return 401, _openai_error(msg, "invalid_request_error", "account_deactivated")
    if key == ORG_MISMATCH:
        msg = "OpenAI-Organization header should match organization for API key"
        return 401, _openai_error(msg, "invalid_request_error", "mismatched_organization")
    if key == NOT_FOUND:
        msg = f"The model `{model}` does not exist or you do not have access to it."
        return 404, _openai_error(msg, "invalid_request_error", "model_not_found")
    if key == SERVER_502:
        return 502, _openai_error("Bad gateway.", "server_error", None)
    if key == SERVER_503:
        return 503, _openai_error("The server is overloaded or not ready yet.", "server_error", None)
    if key == SERVER_529:  # not an OpenAI status, but a mix may ask for it
        return 529, _openai_error("The server is overloaded.", "server_error", None)
    msg = "The server had an error while processing your request. Sorry about that!"
    return 500, _openai_error(msg, "server_error", None)


def anthropic_error(
    key: str, *, model: str, org_id: str, detail: dict[str, Any] | None = None, quota_status: int = 400
) -> tuple[int, dict[str, Any]]:
    """(status, body) of an Anthropic error answer."""
    if key in (RATE_REQUESTS, RATE_TOKENS):
        # which limit: ITPM or OTPM (vendor_model's Anthropic buckets say), else the combined one
        what = "requests" if key == RATE_REQUESTS else (detail or {}).get("what", "input tokens")
        msg = (
            f"This request would exceed the rate limit for your organization ({org_id}) of "
            f"{(detail or {}).get('limit', 0)} {what} per minute. For details, refer to: "
            "https://docs.anthropic.com/en/api/rate-limits."
        )
        return 429, _anthropic_error("rate_limit_error", msg)
    if key == QUOTA:
        if quota_status == 402:
            msg = "Your account has a billing issue. Please check your plan and billing details."
            return 402, _anthropic_error("billing_error", msg)
        return 400, _anthropic_error(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits.",
        )
    if key in (AUTH, ORG_MISMATCH):
        return 401, _anthropic_error("authentication_error", "invalid x-api-key")
    if key == DEACTIVATED:
        return 403, _anthropic_error("permission_error", "This organization has been disabled.")
    if key == NOT_FOUND:
        return 404, _anthropic_error("not_found_error", f"model: {model}")
    if key == SERVER_529:
        return 529, _anthropic_error("overloaded_error", "Overloaded")
    if key == SERVER_502:
        return 502, _anthropic_error("api_error", "Bad gateway")
    if key == SERVER_503:
        return 503, _anthropic_error("api_error", "Service unavailable")
    return 500, _anthropic_error("api_error", "Internal server error")


# --------------------------------------------------------------------------- Azure OpenAI

#: Azure's display names of the regions the simulator knows (the ``x-ms-region`` header)
AZURE_REGION_NAMES = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus3": "West US 3",
    "northcentralus": "North Central US", "southcentralus": "South Central US", "canadaeast": "Canada East",
    "swedencentral": "Sweden Central", "francecentral": "France Central", "uksouth": "UK South",
    "westeurope": "West Europe", "switzerlandnorth": "Switzerland North", "japaneast": "Japan East",
    "australiaeast": "Australia East",
}

_AZURE_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
    "key for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_FILTERED = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
    "Please modify your prompt and retry. To learn more about our content filtering policies please read "
    "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
_SAFE = {"filtered": False, "severity": "safe"}


def _azure_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def azure_error(
    key: str, *, model: str, org_id: str, detail: dict[str, Any] | None = None, api_version: str = ""
) -> tuple[int, dict[str, Any]]:
    """(status, body) of an Azure OpenAI error answer (``org_id``: the resource, unused in the text)."""
    if key in (RATE_REQUESTS, RATE_TOKENS):
        what = "call rate limit" if key == RATE_REQUESTS else "token rate limit"
        wait = max(1, math.ceil((detail or {}).get("wait", 0.0)))
        msg = (
            f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {api_version} "
            f"have exceeded {what} of your current OpenAI S0 pricing tier. Please retry after {wait} seconds. "
            "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit."
        )
        return 429, _azure_error("429", msg)
    if key in (QUOTA, AUTH, DEACTIVATED, ORG_MISMATCH):
        return 401, _azure_error("401", _AZURE_DENIED)
    if key == NOT_FOUND:
        msg = ("The API deployment for this resource does not exist. If you created the deployment within "
               "the last 5 minutes, please wait a moment and try again.")
        return 404, _azure_error("DeploymentNotFound", msg)
    if key == RESOURCE_NOT_FOUND:
        return 404, _azure_error("404", "Resource not found")
    if key == CONTENT_FILTER:
        return 400, {"error": {
            "message": _AZURE_FILTERED, "type": None, "param": "prompt", "code": CONTENT_FILTER, "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
                "hate": _SAFE, "jailbreak": {"filtered": False, "detected": False}, "self_harm": _SAFE,
                "sexual": _SAFE, "violence": {"filtered": True, "severity": "medium"}}},
        }}
    if key == SERVER_503:
        return 503, _azure_error("ServiceUnavailable",
                                 "The service is temporarily unable to process your request. Please try again later.")
    return openai_error(key, model=model, org_id=org_id, detail=detail)


def vendor_error(
    vendor: str, key: str, *, model: str, org_id: str, detail: dict[str, Any] | None = None,
    quota_status: int = 400, api_version: str = "",
) -> tuple[int, dict[str, Any]]:
    """(status, body) of ``vendor``'s error answer for the error ``key``."""
    if vendor == OPENAI:
        return openai_error(key, model=model, org_id=org_id, detail=detail)
    if vendor == AZURE:
        return azure_error(key, model=model, org_id=org_id, detail=detail, api_version=api_version)
    return anthropic_error(key, model=model, org_id=org_id, detail=detail, quota_status=quota_status)
