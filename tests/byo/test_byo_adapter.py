"""sim.byo's contract with a team's router: what the factory receives, how a handler's result becomes
the request's outcome, Redis expiry on simulated time, and wiring mistakes that fail loudly."""

from __future__ import annotations

import functools
import itertools
from typing import Any

import httpx
import numpy as np
import pytest

import sim
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim import Scenario
from sim.byo import FACTORY_ARGS, ByoError, run_own_router
from sim.trace import NO_ORG

URL = "https://api.openai.com/v1/chat/completions"
code = OUTCOME_CODES.__getitem__


def tiny(**over: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "tiny",
        "seed": 3,
        "duration": 60.0,
        "pods": 2,
        "vendors": {"openai": {"orgs": [
            {"name": "good", "latency": {"median": 0.5, "p99": 1.0}},
            {"name": "broke", "lockouts": [{"kind": "quota", "start": 0}]},
        ]}},
        "traffic": {"daily_volume": 86_400.0, "prompt_tokens": {"median": 40}, "max_tokens": {"median": 20}},
    }
    data.update(over)
    return Scenario.model_validate(data)


def post(http: httpx.Client, key: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    return http.post(URL, json=body, headers={"Authorization": f"Bearer {key}"}, **kw)


def test_the_factory_gets_what_it_names_per_pod() -> None:
    seen: list[dict[str, Any]] = []

    def factory(pod, clock, environ, orgs, scenario, rng, transport, flavour="plain", **ignored):
        seen.append({"pod": pod, "now": clock(), "environ": environ, "orgs": orgs, "scenario": scenario,
                     "draw": rng.random(), "transport": transport, "flavour": flavour, "ignored": ignored})
        return lambda body: {"ok": True}

    sc = tiny()
    run_own_router(sc, factory)
    assert [s["pod"] for s in seen] == [0, 1]
    assert seen[0]["now"] == sc.start_epoch  # before the run: simulated t = 0
    assert seen[0]["environ"] == {"SIM_KEY_GOOD": "sk-sim-good", "SIM_KEY_BROKE": "sk-sim-broke"}
    assert [(o.name, o.vendor, o.api_key, o.api_key_env) for o in seen[0]["orgs"]] == [
        ("good", "openai", "sk-sim-good", "SIM_KEY_GOOD"), ("broke", "openai", "sk-sim-broke", "SIM_KEY_BROKE")]
    assert seen[0]["scenario"] is sc
    assert seen[0]["draw"] != seen[1]["draw"]  # one seeded stream per pod ...
    seen2: list[dict[str, Any]] = []
    run_own_router(sc, lambda rng: seen2.append(rng.random()) or (lambda body: 1))
    assert seen2[0] == seen[0]["draw"]  # ... the same on every run
    assert seen[0]["flavour"] == "plain" and seen[0]["ignored"] == {}
    assert isinstance(seen[0]["transport"], httpx.BaseTransport)

    with pytest.raises(TypeError, match="'config' is not one the simulator provides"):
        run_own_router(sc, lambda http, config: None)
    assert "record_event" in FACTORY_ARGS and "sleep" in FACTORY_ARGS


def test_handler_runs_in_simulated_time_with_sleep_and_clock() -> None:
    clock_at_start: list[float] = []

    def factory(clock, sleep):
        def handler(body: dict[str, Any]) -> dict[str, Any]:
            clock_at_start.append(clock())
            sleep(2.5)  # a backoff between retries: simulated, not wall time
            return {"choices": []}

        return handler

    sc = tiny()
    t = run_own_router(sc, factory)
    r = t.requests
    assert np.allclose(np.array(clock_at_start) - sc.start_epoch, r["arrival"])
    assert np.allclose(r["end"] - r["arrival"], 2.5)
    assert (r["outcome"] == code(Outcome.SUCCESS)).all() and (r["attempts"] == 0).all()
    assert t.meta["max_in_flight"] >= 2  # sleeping requests overlap


def test_the_request_body_is_an_openai_chat_body() -> None:
    bodies: list[dict[str, Any]] = []
    run_own_router(tiny(duration=5.0), lambda: lambda body: bodies.append(body) or body)
    b = bodies[0]
    assert b["model"] == "gpt-4o-mini" and b["messages"][0]["role"] == "user"
    assert isinstance(b["max_tokens"], int) and len(b["messages"][0]["content"]) % 4 == 0
    assert bodies[0] is not bodies[1]  # a fresh dict each time: the router may mutate it


def test_outcomes_from_what_the_handler_returns_or_raises() -> None:
    # request i: 0 → a 2xx from "good", 1 → the 429 quota answer of "broke" returned as is,
    # 2 → raise after "broke" failed, 3 → return None without a call, 4 → a timeout let through
    def factory(http, orgs):
        keys = {o.name: o.api_key for o in orgs}
        count = iter(range(10**6))

        def handler(body: dict[str, Any]) -> Any:
            k = next(count) % 5
            if k == 0:
                return post(http, keys["good"], body)
            if k in (1, 2):
                response = post(http, keys["broke"], body)
                if k == 1:
                    return response
                raise RuntimeError("gave up")
            if k == 3:
                return None
            return post(http, keys["good"], body, timeout=0.001)

        return handler

    t = run_own_router(tiny(pods=1), factory)
    r, a = t.requests, t.attempts
    got = r["outcome"][:5].tolist()
    assert got == [code(Outcome.SUCCESS), code(Outcome.QUOTA), code(Outcome.QUOTA), NO_ORG, code(Outcome.TIMEOUT)]
    assert r["attempts"][:5].tolist() == [1, 1, 1, 0, 1]
    exceptions = t.meta["byo"]["exceptions"]
    k = np.arange(t.n_requests) % 5
    assert exceptions == {"RuntimeError": int((k == 2).sum()), "httpx.ReadTimeout": int((k == 4).sum())}
    assert t.meta["byo"]["none_results"] == int((k == 3).sum())
    # the attempts table classes the vendor's answers as the lab's router would
    timed_out = a["request"] == 4
    assert a["outcome"][timed_out].tolist() == [code(Outcome.TIMEOUT)] and a["status"][timed_out].tolist() == [0]
    assert a["end"][timed_out] - a["start"][timed_out] == pytest.approx([0.001], abs=1e-5)
    assert a["status"][a["request"] == 1].tolist() == [429]


def test_redis_keys_expire_on_simulated_time() -> None:
    seen: list[tuple[float, bool, int]] = []

    def factory(redis, clock):
        t0 = clock()

        def handler(body: dict[str, Any]) -> dict[str, Any]:
            if not redis.exists("window"):
                redis.set("window", 1, ex=10)
            seen.append((clock() - t0, bool(redis.get("window")), int(redis.ttl("window"))))
            return {}

        return handler

    run_own_router(tiny(pods=1, duration=35.0), factory)
    # the key lives 10 simulated seconds (the run takes milliseconds of wall time): it is
    # re-created about every 10 s, and its TTL counts down in simulated time
    created = [t for i, (t, _, ttl) in enumerate(seen) if i == 0 or ttl > seen[i - 1][2]]
    assert len(created) in (3, 4)
    assert all(b - a >= 10 for a, b in itertools.pairwise(created))
    assert all(0 <= ttl <= 10 for _, _, ttl in seen)


@pytest.mark.parametrize("state", ["shared", "local"])
def test_pods_share_redis_or_not(state: str) -> None:
    values: dict[int, list[int]] = {}

    def factory(pod, redis):
        return lambda body: values.setdefault(pod, []).append(redis.incr("n"))

    run_own_router(tiny(state=state, duration=20.0), factory)
    together = sorted(values[0] + values[1])
    if state == "shared":
        assert together == list(range(1, len(together) + 1))
    else:
        assert values[0] == list(range(1, len(values[0]) + 1))
        assert values[1] == list(range(1, len(values[1]) + 1))


def test_record_event_checks_its_arguments() -> None:
    errors: list[str] = []

    def factory(record_event):
        def handler(body: dict[str, Any]) -> dict[str, Any]:
            record_event("OPENED", "broke", failure_count=3, block_duration=60.0)
            for bad in (("TRIPPED", "broke"), ("OPENED", "nobody")):
                try:
                    record_event(*bad)
                except ValueError as e:
                    errors.append(str(e))
            return {}

        return handler

    t = run_own_router(tiny(pods=1, duration=3.0), factory)
    ev = t.events
    assert len(ev["time"]) == t.n_requests
    assert set(ev["org"].tolist()) == {1} and set(ev["failure_count"].tolist()) == {3}
    assert np.allclose(ev["time"], t.requests["arrival"])
    assert len(errors) == 2 * t.n_requests


def swallow_everything(http, orgs, *, key=None, url=URL):
    def handler(body: dict[str, Any]) -> Any:
        try:
            return http.post(url, json=body, headers={"Authorization": f"Bearer {key or orgs[0].api_key}"})
        except Exception:  # a router that hides every error must not hide a wiring mistake
            return None

    return handler


@pytest.mark.parametrize(("factory", "message"), [
    (functools.partial(swallow_everything, key="sk-live-real-key"), "API key the scenario does not know"),
    (functools.partial(swallow_everything, url="https://llm-gateway.internal/v1/chat"), "the simulator mocks"),
])
def test_wiring_mistakes_fail_the_run(factory, message) -> None:
    with pytest.raises(ByoError, match=message):
        run_own_router(tiny(duration=5.0), factory)


def test_no_vendor_calls_from_the_factory() -> None:
    def factory(http, orgs):
        post(http, orgs[0].api_key, {"model": "gpt-4o-mini", "messages": []})  # a warm-up call
        return lambda body: {}

    with pytest.raises(ByoError, match="outside a simulated request"):
        run_own_router(tiny(duration=5.0), factory)


def test_exceptions_outside_failures_abort_the_run() -> None:
    def factory():
        def handler(body: dict[str, Any]) -> Any:
            raise KeyError("a bug in the router")

        return handler

    assert run_own_router(tiny(duration=3.0), factory).meta["byo"]["exceptions"]["KeyError"] > 0
    with pytest.raises(KeyError, match="a bug"):
        run_own_router(tiny(duration=3.0), factory, failures=(httpx.HTTPError,))


def test_a_call_without_timeout_to_a_hanging_vendor_is_reported() -> None:
    hang = tiny(duration=5.0, vendors={"openai": {"orgs": [{"name": "good", "error_rate": 1.0,
                                                           "error_mix": {"timeout": 1}}]}})
    with pytest.raises(ByoError, match="never finished"):
        run_own_router(hang, swallow_everything, http_options={"timeout": None})
    t = run_own_router(hang, swallow_everything, http_options={"timeout": 7.0})
    assert np.allclose(t.requests["end"] - t.requests["arrival"], 7.0)


def test_faults_reach_an_own_router_as_they_reach_the_lab_router() -> None:
    faults = [{"kind": "redis_down", "pods": [1], "start": 10, "end": 20},
              {"kind": "clock_skew", "pod": 0, "offset": "+90s", "start": 30},
              {"kind": "traffic_surge", "factor": 2, "start": 40}]
    sc = tiny(faults=faults)
    seen: dict[int, list[tuple[float, bool]]] = {0: [], 1: []}

    def factory(pod, redis, clock):
        def handler(body: dict[str, Any]) -> dict[str, Any]:
            try:
                redis.get("k")
                ok = True
            except Exception:
                ok = False
            seen[pod].append((clock(), ok))
            return {}

        return handler

    trace = run_own_router(sc, factory)
    lab = sim.run(sc, "none")
    # one lowering: the same windows, the same surged traffic, the same store-fault accounting
    assert trace.meta["faults"] == lab.meta["faults"]
    assert trace.meta["surges"] == lab.meta["surges"] and trace.n_requests == lab.n_requests
    assert set(trace.meta["redis_failed_commands"]) == set(lab.meta["redis_failed_commands"]) == {"0", "1"}
    assert all(ok for _, ok in seen[0]) and trace.meta["redis_failed_commands"]["0"] == 0
    assert trace.meta["redis_failed_commands"]["1"] > 0
    # each handler reads the clock at its request's arrival: pod 0's is 90 s ahead from t = 30
    for pod, skew in ((0, 90.0), (1, 0.0)):
        arrivals = np.sort(trace.requests["arrival"][trace.requests["pod"] == pod])
        for arrival, (t, ok) in zip(arrivals, seen[pod], strict=True):
            assert t - sc.start_epoch - arrival == pytest.approx(skew if pod == 0 and arrival >= 30 else 0.0)
            assert ok or (pod == 1 and 10 <= arrival < 20)
