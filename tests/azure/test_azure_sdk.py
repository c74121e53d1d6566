"""Acceptance: the official ``openai`` SDK's Azure client (``openai.AzureOpenAI(http_client=…)``)
against the mocked Azure world of a full-mode run — right answers and right errors, in Azure's
wire format — and the same world through the router, with an OpenAI and an Azure SDK client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

import sim
from sim import Scenario
from sim.engine import Simulation

VERSION = "2024-10-21"


def endpoint(name: str) -> str:
    return f"https://{name}.openai.azure.com"


def azure_org(name: str, region: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "azure": {"endpoint": endpoint(name), "region": region,
                                    "deployments": {"gpt-4o-mini": "planner-mini"}, "api_version": VERSION},
            "limits": {"gpt-4o-mini": {"tpm": "1M"}}, "latency": {"median": 1.0, "p99": 1.5}, **fields}


def world(**over: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "azure-sdk", "duration": 600.0,
        "vendors": {
            "azure": {"orgs": [
                azure_org("aoai-eastus", "eastus"),
                # 1,000 TPM: 6 RPM (Azure's ratio), so the 7th call within the minute is a 429
                azure_org("aoai-tiny", "swedencentral", limits={"gpt-4o-mini": {"tpm": 1000}},
                          enforcement="minute"),  # 6 RPM as a minute's burst: six calls 1 s apart pass
                azure_org("aoai-filter", "westus3", error_rate=1.0, error_mix={"content_filter": 1}),
            ]},
            "openai": {"orgs": [{"name": "o1", "limits": {"gpt-4o-mini": {"rpm": 1000, "tpm": 10**7}}}]},
        },
        "router": {"default_vendor": "azure", "standby_vendor": "openai", "max_attempts": 3},
        "traffic": {"daily_volume": 0},
    }
    data.update(over)
    return Scenario.model_validate(data)


def in_simulation(sc: Scenario, calls: list[tuple[float, Callable[[Simulation], Any]]]) -> list[Any]:
    """Run each call as a simulated user at its time (full mode); its result, or the SDK error it raised."""
    run = Simulation(sc, sim.resolve_policy("consecutive"), "full", 1)
    out: list[Any] = [None] * len(calls)

    def user(i: int) -> None:
        try:
            result = calls[i][1](run)
        except openai.APIError as e:
            result = e
        out[i] = (run.hub.now, result)

    run.hub.drive([t for t, _ in calls], user)
    run.hub.run()
    return out


def azure_client(run: Simulation, org: str, **kw: Any) -> openai.AzureOpenAI:
    """The SDK's Azure client straight at the mocked Azure resource of ``org`` (its key is ``sk-sim-<org>``)."""
    args: dict[str, Any] = {"azure_endpoint": endpoint(org), "api_key": f"sk-sim-{org}", "api_version": VERSION,
                            "http_client": httpx.Client(transport=run.pods.vendors.transport()), "max_retries": 0}
    args.update(kw)
    return openai.AzureOpenAI(**args)


def chat(client: openai.AzureOpenAI | openai.OpenAI, model: str = "gpt-4o-mini") -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, max_tokens=20, messages=[{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": "hello"}])


def test_azure_sdk_gets_completions_and_azures_errors_from_the_mocked_resources() -> None:
    calls: list[tuple[float, Callable[[Simulation], Any]]] = [
        # a deployment given to the client: /openai/deployments/planner-mini/chat/completions
        (0.0, lambda run: chat(azure_client(run, "aoai-eastus", azure_deployment="planner-mini"))),
        # no deployment given: the SDK takes the model as the deployment name
        (5.0, lambda run: chat(azure_client(run, "aoai-eastus"), model="planner-mini")),
        (10.0, lambda run: chat(azure_client(run, "aoai-eastus"), model="no-such-deployment")),
        (15.0, lambda run: chat(azure_client(run, "aoai-eastus", api_key="wrong-key"), model="planner-mini")),
        # aoai-tiny's key at aoai-eastus's endpoint: no resource there has it
        (20.0, lambda run: chat(azure_client(run, "aoai-eastus", api_key="sk-sim-aoai-tiny"), model="planner-mini")),
        (25.0, lambda run: chat(azure_client(run, "aoai-filter"), model="planner-mini")),
    ]
    calls += [(30.0 + i, lambda run: chat(azure_client(run, "aoai-tiny"), model="planner-mini")) for i in range(7)]
    out = in_simulation(world(), calls)

    for _, raw in out[:2]:
        completion = raw.parse()
        assert isinstance(completion, openai.types.chat.ChatCompletion)
        assert completion.choices[0].message.content == "ok" and completion.usage.completion_tokens > 0
        assert raw.headers["x-ms-region"] == "East US" and raw.headers["apim-request-id"]
        assert int(raw.headers["x-ratelimit-limit-requests"]) == 6000  # 6 RPM per 1,000 TPM
        assert "openai-organization" not in raw.headers
    assert 1.0 <= out[0][0] <= 1.5  # the deployment's simulated latency, on the simulation's clock

    _, missing = out[2]
    assert isinstance(missing, openai.NotFoundError) and missing.code == "DeploymentNotFound"
    for _, denied in out[3:5]:
        assert isinstance(denied, openai.AuthenticationError) and denied.code == "401"
        assert "active subscription" in denied.message
    _, filtered = out[5]
    assert isinstance(filtered, openai.BadRequestError) and filtered.code == "content_filter"
    assert filtered.param == "prompt" and filtered.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"

    tiny = out[6:]
    assert all(not isinstance(r, openai.APIError) for _, r in tiny[:6])  # 6 RPM
    _, limited = tiny[6]
    assert isinstance(limited, openai.RateLimitError) and limited.code == "429"
    headers = limited.response.headers
    wait_ms = int(headers["retry-after-ms"])
    assert 0 < wait_ms <= 10_000 and int(headers["retry-after"]) == -(-wait_ms // 1000)
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert f"Please retry after {headers['retry-after']} seconds" in limited.message
    assert f"API version {VERSION}" in limited.message


def test_an_unknown_path_or_a_missing_api_version_is_azures_404() -> None:
    def no_version(run: Simulation) -> Any:
        http = httpx.Client(transport=run.pods.vendors.transport())
        return http.post(endpoint("aoai-eastus") + "/openai/deployments/planner-mini/chat/completions",
                         headers={"api-key": "sk-sim-aoai-eastus"}, json={"messages": []})

    def wrong_path(run: Simulation) -> Any:
        http = httpx.Client(transport=run.pods.vendors.transport())
        return http.post(endpoint("aoai-eastus") + "/openai/chat/completions?api-version=" + VERSION,
                         headers={"api-key": "sk-sim-aoai-eastus"}, json={"messages": []})

    out = in_simulation(world(), [(0.0, no_version), (1.0, wrong_path)])
    for _, resp in out:
        assert resp.status_code == 404 and resp.json() == {"error": {"code": "404", "message": "Resource not found"}}


@pytest.mark.parametrize("caller", ["openai", "azure"])
def test_through_the_router_azure_regions_then_openai(caller: str) -> None:
    """The router over the mocked world: the Azure orgs take turns; the filtered prompt is the
    caller's (one attempt, a 400 back); aoai-tiny's 429s are failed over."""
    sc = world(router={"default_vendor": "azure", "standby_vendor": "openai", "max_attempts": 3,
                       "wait_for_capacity": False})

    def through_router(run: Simulation) -> Any:
        transport = run.pods.routers[0].transport()
        if caller == "openai":
            client: Any = openai.OpenAI(api_key="ignored", base_url="https://llm-router.internal/v1",
                                        http_client=httpx.Client(transport=transport), max_retries=0)
        else:  # an application already written against Azure, pointed at the router
            client = openai.AzureOpenAI(azure_endpoint="https://llm-router.internal", api_key="ignored",
                                        api_version=VERSION, azure_deployment="gpt-4o-mini",
                                        http_client=httpx.Client(transport=transport), max_retries=0)
        return chat(client)

    out = in_simulation(sc, [(float(i), through_router) for i in range(30)])
    orgs, filtered = [], 0
    for _, r in out:
        if isinstance(r, openai.BadRequestError):
            # the filter's answer ends the request (an earlier attempt may have met aoai-tiny's 429)
            assert r.code == "content_filter" and r.response.headers["x-multiorg-org"] == "aoai-filter"
            assert r.response.headers["x-multiorg-attempts"] in ("1", "2")
            filtered += 1
        else:
            assert r.parse().choices[0].message.content == "ok"
            orgs.append(r.headers["x-multiorg-org"])
    assert filtered >= 5  # round robin keeps sending to aoai-filter: a filtered prompt does not trip it
    assert "aoai-eastus" in orgs and "aoai-tiny" in orgs
    assert len(orgs) + filtered == 30
