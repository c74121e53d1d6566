"""Azure OpenAI in the production router: config, the request on the wire, and how Azure's answers
are classified (429 with retry-after-ms, content filter = the caller's fault, 401, 404)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from multiorg import ChatRequest, ConfigError, HttpVendorClient, ManualClock, Router, load_config
from multiorg.outcomes import Outcome, classify_response
from multiorg.stores.memory import MemoryStore

EAST = "https://contoso-eastus.openai.azure.com"
WEST = "https://contoso-westus3.openai.azure.com/"
T0 = 1_747_500_000.0


def azure_org(name: str, endpoint: str, **azure: Any) -> dict[str, Any]:
    return {"name": name, "vendor": "azure", "api_key_env": f"KEY_{name.upper()}",
            "azure": {"endpoint": endpoint, **azure}}


def config(**router: Any) -> Any:
    return load_config({
        "orgs": [
            azure_org("east", EAST, region="eastus", deployments={"gpt-4o-mini": "planner-mini"}),
            azure_org("west", WEST, region="westus3", deployments={"gpt-4o-mini": "mini-2"},
                      api_version="2025-01-01-preview"),
            {"name": "o1", "api_key_env": "KEY_O1"},
        ],
        "router": {"default_vendor": "azure", "standby_vendor": "openai", **router},
        "breaker": {"policy": "consecutive", "params": {"threshold": 2}},
    })


ENV = {"KEY_EAST": "aaaaeast", "KEY_WEST": "bbbbwest", "KEY_O1": "sk-o1"}
REQUEST = ChatRequest.from_openai({"model": "gpt-4o-mini", "max_tokens": 20,
                                   "messages": [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "hello"}]})


def completion(finish: str = "stop") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


AZURE_429 = {"error": {"code": "429", "message": (
    "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded "
    "token rate limit of your current OpenAI S0 pricing tier. Please retry after 7 seconds. Please go here: "
    "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.")}}
FILTERED = {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content "
                      "management policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                      "innererror": {"code": "ResponsibleAIPolicyViolation"}}}


# --------------------------------------------------------------------------- config


def test_an_azure_org_names_its_resource_and_deployments() -> None:
    cfg = config()
    east, west, o1 = cfg.orgs
    assert east.azure is not None and west.azure is not None and o1.azure is None
    assert east.azure.chat_url("gpt-4o-mini") == (
        EAST + "/openai/deployments/planner-mini/chat/completions?api-version=2024-10-21")
    assert west.azure.chat_url("gpt-4o-mini").startswith(WEST.rstrip("/") + "/openai/deployments/mini-2/")
    assert east.serves("gpt-4o-mini") and not east.serves("gpt-4o")  # its deployments, nothing else
    assert east.azure.model_of("planner-mini") == "gpt-4o-mini" and east.azure.model_of("gpt-4o") is None


@pytest.mark.parametrize(("org", "message"), [
    ({"name": "x", "vendor": "azure", "api_key_env": "K"}, "vendor azure needs an 'azure' section"),
    ({"name": "x", "api_key_env": "K", "azure": {"endpoint": EAST}}, "belongs to vendor azure, not openai"),
    (azure_org("x", "contoso.openai.azure.com"), "orgs.0.azure.endpoint"),
    (azure_org("x", EAST, deployments={"a": "d", "b": "d"}), "deployment 'd' serves both 'a' and 'b'"),
    (azure_org("x", EAST, deployments={"a": "bad/name"}), "letters, digits"),
])
def test_bad_azure_config_is_one_line_naming_the_field(org: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"^<dict>: ") as info:
        load_config({"orgs": [org]})
    text = str(info.value)
    assert message in text and "\n" not in text


# --------------------------------------------------------------------------- the wire


def test_the_router_calls_the_deployment_with_api_key_and_api_version() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion(), headers={"x-ratelimit-remaining-requests": "5",
                                                              "x-ratelimit-remaining-tokens": "900"})

    cfg = config()
    with respx.mock(assert_all_mocked=True) as mock:
        mock.post(url__regex=r"^https://contoso-(eastus|westus3)\.openai\.azure\.com/openai/deployments/").mock(
            side_effect=answer)
        clock = ManualClock(T0)
        router = Router(cfg, client=HttpVendorClient(cfg, httpx.Client()), store=MemoryStore(clock), clock=clock,
                        environ=ENV)
        results = [router.send(REQUEST) for _ in range(2)]
    assert [r.org for r in results] == ["east", "west"]  # round robin over the Azure orgs
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    east, west = seen
    assert str(east.url) == EAST + "/openai/deployments/planner-mini/chat/completions?api-version=2024-10-21"
    assert west.url.path == "/openai/deployments/mini-2/chat/completions"
    assert west.url.params["api-version"] == "2025-01-01-preview"
    assert east.headers["api-key"] == "aaaaeast" and west.headers["api-key"] == "bbbbwest"
    assert "authorization" not in east.headers and "openai-organization" not in east.headers
    body = json.loads(east.content)
    assert body["messages"][0] == {"role": "system", "content": "be brief"} and body["max_tokens"] == 20


# --------------------------------------------------------------------------- classification


def test_azure_429_is_rate_limited_and_retry_after_ms_wins() -> None:
    c = classify_response(429, {"retry-after-ms": "6500", "retry-after": "7", "x-ratelimit-remaining-requests": "0",
                                "x-ratelimit-remaining-tokens": "120"}, AZURE_429, now=T0)
    assert c.outcome is Outcome.RATE_LIMITED and c.outcome.org_fault
    assert c.retry_after == 6.5
    assert (c.remaining_requests, c.remaining_tokens) == (0, 120)
    assert "token rate limit" in c.message
    # without the ms header, retry-after (seconds) is read
    assert classify_response(429, {"retry-after": "7"}, AZURE_429, now=T0).retry_after == 7.0


def test_the_content_filter_is_the_callers_fault() -> None:
    prompt = classify_response(400, {}, FILTERED)
    assert prompt.outcome is Outcome.CLIENT_ERROR and not prompt.outcome.org_fault
    # a filtered completion comes back 200 with finish_reason content_filter: no answer, and not the org's fault
    answer = classify_response(200, {"x-ratelimit-remaining-requests": "9"}, completion("content_filter"))
    assert answer.outcome is Outcome.CLIENT_ERROR and answer.status == 200 and answer.remaining_requests == 9
    assert classify_response(200, {}, completion("length")).outcome is Outcome.SUCCESS
    # whatever status a filter answer comes with, the code decides
    assert classify_response(500, {}, FILTERED).outcome is Outcome.CLIENT_ERROR


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                                               "endpoint."}}, Outcome.AUTH),
    (404, {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this resource does not "
                                                             "exist."}}, Outcome.CLIENT_ERROR),
    (503, {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unable to process your "
                                                             "request."}}, Outcome.SERVER),
    (408, {"error": {"code": "Timeout", "message": "The operation was timeout."}}, Outcome.TIMEOUT),
])
def test_azure_error_bodies(status: int, body: dict[str, Any], outcome: Outcome) -> None:
    assert classify_response(status, {}, body).outcome is outcome


def test_a_filtered_prompt_is_neither_retried_elsewhere_nor_held_against_the_deployment() -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        return httpx.Response(400, json=FILTERED)

    cfg = config()
    clock = ManualClock(T0)
    with respx.mock(assert_all_mocked=True) as mock:
        mock.post(url__regex=r"^https://contoso-").mock(side_effect=answer)
        router = Router(cfg, client=HttpVendorClient(cfg, httpx.Client()), store=MemoryStore(clock), clock=clock,
                        environ=ENV)
        results = [router.send(REQUEST) for _ in range(6)]
    assert all(r.outcome is Outcome.CLIENT_ERROR and r.attempts == 1 for r in results)
    assert len(calls) == 6  # one attempt per request: another deployment would filter it too
    # three filtered prompts each (the breaker trips at 2 failures) and round robin never skipped one:
    # no breaker opened on the deployments
    assert [r.org for r in results] == ["east", "west"] * 3
