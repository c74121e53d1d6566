"""The official ``openai`` SDK as the caller, on the router's transport, inside a full-mode run."""

from __future__ import annotations

from typing import Any

import httpx
import openai
from sim_helpers import openai_orgs

import sim
from sim import Scenario
from sim.engine import Simulation


def world(**over: Any) -> Scenario:
    data = {
        "name": "sdk",
        "duration": 60.0,
        "vendors": {
            "openai": {"orgs": openai_orgs(2, latency={"median": 2.0, "p99": 3.0})},
            "anthropic": {"model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"},
                          "orgs": [{"name": "c1", "latency": {"median": 4.0, "p99": 5.0}}]},
        },
        "traffic": {"daily_volume": 0},
        "router": {"max_attempts": 2},
    }
    data.update(over)
    return Scenario.model_validate(data)


def call_with_sdk(sc: Scenario, n: int = 1, *, switch: str | None = None) -> tuple[list[Any], Simulation]:
    run = Simulation(sc, sim.resolve_policy("consecutive"), "full", 1)
    router = run.pods.routers[0]
    if switch:
        router.switch.set(switch)
    results: list[Any] = []

    def user(_i: int) -> None:
        client = openai.OpenAI(
            api_key="the-caller-key-is-ignored",
            base_url="https://llm-router.internal/v1",
            http_client=httpx.Client(transport=router.transport()),
            max_retries=0,
        )
        try:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "system", "content": "be brief"},
                                               {"role": "user", "content": "hello"}], max_tokens=20)
            results.append((run.hub.now, raw.headers, raw.parse()))
        except openai.APIStatusError as e:
            results.append((run.hub.now, e.response.headers, e))

    run.hub.drive([10.0 * i for i in range(n)], user)
    run.hub.run()
    return results, run


def test_openai_sdk_gets_a_chat_completion_in_simulated_time() -> None:
    results, run = call_with_sdk(world(), n=3)
    assert len(results) == 3
    for i, (t, headers, completion) in enumerate(results):
        assert isinstance(completion, openai.types.chat.ChatCompletion)
        assert completion.choices[0].message.content == "ok"
        assert completion.usage is not None and completion.usage.completion_tokens > 0
        assert 2.0 <= t - 10.0 * i <= 3.1  # the vendor's simulated latency, on the sim clock
        assert headers["x-multiorg-org"] in ("o1", "o2")
        assert int(headers["x-ratelimit-limit-requests"]) == 100_000
    assert [h["x-multiorg-org"] for _, h, _ in results] == ["o1", "o2", "o1"]  # round robin
    rec = run.recorder
    assert rec.untagged == 3 and list(rec.attempts.arrays["request"]) == [-1, -1, -1]
    assert run.pods.vendors.calls == 3  # through respx


def test_sdk_fails_over_past_a_locked_org_and_to_the_standby_vendor() -> None:
    orgs = openai_orgs(2, lockouts=[{"kind": "deactivated"}])
    sc = world(vendors={
        "openai": {"orgs": orgs},
        "anthropic": {"model_map": {"gpt-4o-mini": "claude-3-5-haiku-latest"}, "orgs": [{"name": "c1"}]},
    }, router={"max_attempts": 3, "standby_vendor": "anthropic"})
    results, _ = call_with_sdk(sc, n=4)
    first = results[0]
    assert first[1]["x-multiorg-attempts"] == "3" and first[1]["x-multiorg-org"] == "c1"
    # both OpenAI orgs tripped at once (auth): later calls go straight to Anthropic
    assert [h["x-multiorg-org"] for _, h, _ in results[1:]] == ["c1", "c1", "c1"]
    assert all(c.choices[0].message.content == "ok" for _, _, c in results)
    assert results[0][2].object == "chat.completion"  # Anthropic's answer in OpenAI's shape


def test_sdk_after_the_vendor_switch_and_when_nothing_is_left() -> None:
    results, _ = call_with_sdk(world(), switch="anthropic")
    assert results[0][1]["x-multiorg-org"] == "c1"
    orgs = openai_orgs(2, lockouts=[{"kind": "quota"}])
    sc = world(vendors={"openai": {"orgs": orgs}}, router={"max_attempts": 2})
    results, _ = call_with_sdk(sc, n=2)
    # the first call sees both orgs' quota errors (the last one comes back to the caller) ...
    first = results[0][2]
    assert isinstance(first, openai.RateLimitError) and first.code == "insufficient_quota"
    # ... and trips both breakers: the next call finds no org at all
    err = results[1][2]
    assert isinstance(err, openai.APIStatusError) and err.status_code == 503
    assert "no org available" in str(err)
