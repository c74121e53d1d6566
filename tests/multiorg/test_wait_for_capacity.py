"""Waiting for capacity (``router.wait_for_capacity``) on a ManualClock, and capacity weights.

When every org is held only by 429 retry-afters and the earliest ends before the request's
deadline, the router sleeps on its clock until then (plus jitter from its RNG) and tries again,
instead of raising NoOrgAvailable; never past the deadline, never on a breaker's open block,
at most ``max_waiting`` requests at once per router.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
from multiorg_fakes import (
    MODEL,
    SERVER,
    T0,
    AsyncScriptedClient,
    Recorder,
    ScriptedClient,
    chat,
    make_config,
    make_router,
    ok,
    openai_error,
)

import sim
from multiorg import ConfigError, ManualClock, NoOrgAvailable, Outcome, Router, load_config
from multiorg.clock import SystemClock
from multiorg.selection import Weighted
from multiorg.stores import MemoryStore
from sim.engine import Simulation, resolve_policy


def held(ms: int) -> Any:
    """A 429 asking to come back in ``ms`` milliseconds (as OpenAI's ``retry-after-ms``)."""
    return openai_error(429, "rate_limit_exceeded", headers={"retry-after-ms": str(ms)})


def setup(script: dict[str, Any], *, orgs: tuple[str, ...] = ("a", "b"), seed: int = 7, **cfg: Any) -> tuple[
    Router, ScriptedClient, ManualClock, Recorder
]:
    clock = ManualClock(T0)
    rec = Recorder()
    cfg.setdefault("params", {"threshold": 50})  # these tests are about holds, not breakers
    config = make_config(orgs, **cfg)
    client = ScriptedClient(clock, script)
    return make_router(config, client, clock, observer=rec, seed=seed), client, clock, rec


# --------------------------------------------------------------------------- when it waits


def test_waits_exactly_until_the_earliest_retry_after() -> None:
    router, client, clock, rec = setup({"a": [held(2000), ok()], "b": [held(5000), ok()]}, wait_jitter=0)
    r = router.send(chat())
    # a: 429 (held 2 s), b: 429 (held 5 s), nothing left: wait for a, then a again
    assert client.orgs() == ["a", "b", "a"]
    assert (r.org, r.outcome, r.attempts) == ("a", Outcome.SUCCESS, 3)
    assert rec.attempts[-1][3] == T0 + 2.0  # the third attempt starts when a's hold ends
    assert clock.now() == T0 + 2.0
    assert router.core.waits == 1 and router.core.waiting == 0


def test_a_request_finding_every_org_held_waits_instead_of_failing() -> None:
    router, _, clock, _ = setup({"a": [held(300), ok()], "b": [held(800), ok()]}, wait_jitter=0,
                                max_attempts=2)
    assert router.send(chat()).outcome is Outcome.RATE_LIMITED  # two 429s, attempts spent
    r = router.send(chat())  # every org held: fail fast before, a wait now
    assert (r.org, r.outcome, r.attempts) == ("a", Outcome.SUCCESS, 1)
    assert clock.now() == pytest.approx(T0 + 0.3)
    off, _, _, _ = setup({"a": held(300), "b": held(800)}, max_attempts=2, wait_for_capacity=False)
    off.send(chat())
    with pytest.raises(NoOrgAvailable):
        off.send(chat())


def test_jitter_is_bounded_and_drawn_from_the_injected_rng() -> None:
    wakes = []
    for seed in (1, 1, 2):
        router, _, clock, _ = setup({"a": [held(1000), ok()], "b": [held(4000), ok()]}, seed=seed,
                                    wait_jitter=0.25)
        router.send(chat())
        wakes.append(clock.now() - T0)
    assert all(1.0 <= w < 1.25 for w in wakes)
    assert wakes[0] == wakes[1] != wakes[2]  # same seed, same wake; another seed, another


def test_never_waits_past_the_deadline() -> None:
    router, client, clock, _ = setup({"a": held(30_000), "b": held(50_000)}, deadline=40, attempt_timeout=30,
                                     wait_jitter=0)
    assert router.send(chat()).outcome is Outcome.RATE_LIMITED  # b's hold is past the deadline, a's is not
    assert clock.now() == T0 + 30.0  # waited for a once; its second 429 leaves nothing before T0+40
    assert client.orgs() == ["a", "b", "a"]
    # a caller's own shorter timeout is the deadline too
    router, client, clock, _ = setup({"a": held(2000), "b": held(2000)}, wait_jitter=0, max_attempts=2)
    router.send(chat())
    with pytest.raises(NoOrgAvailable):
        router.send(chat(), timeout=1.5)
    assert clock.now() == T0  # failed at once: nothing to wait for within 1.5 s
    assert router.core.waits == 0


def test_never_waits_on_an_open_breaker() -> None:
    # one org, its breaker open for 10 s: NoOrgAvailable at once, as before
    router, _, clock, _ = setup({"a": [SERVER, ok()]}, orgs=("a",), policy="consecutive",
                                params={"threshold": 1, "open_time": 10})
    router.send(chat())
    with pytest.raises(NoOrgAvailable) as info:
        router.send(chat())
    assert info.value.retry_at == T0 + 10.0 and clock.now() == T0 and router.core.waits == 0
    # a 429 that also opens the breaker (threshold 1): the hold ends in 1 s, the block in 10 s
    router, _, clock, _ = setup({"a": [held(1000), ok()]}, orgs=("a",), policy="consecutive",
                                params={"threshold": 1, "open_time": 10})
    assert router.send(chat()).outcome is Outcome.RATE_LIMITED
    with pytest.raises(NoOrgAvailable):
        router.send(chat())
    assert clock.now() == T0 and router.core.waits == 0


def test_a_429_met_after_waiting_is_not_counted_by_the_breaker() -> None:
    # the breaker opens on two 429s in a row; the second comes to a request that waited for the
    # first's retry-after: failing fast, that attempt would not exist, so it is not counted
    script = {"a": [held(1000), held(1000), ok()]}
    router, client, clock, _ = setup(script, orgs=("a",), policy="consecutive", max_attempts=3,
                                     params={"threshold": 2, "open_time": 10}, wait_jitter=0)
    r = router.send(chat())
    assert (r.outcome, r.attempts, client.orgs()) == (Outcome.SUCCESS, 3, ["a", "a", "a"])
    assert clock.now() == T0 + 2.0 and router.core.waits == 2
    assert router.core.board.view("a", MODEL).state == "closed"
    # two 429s to requests that did not wait are counted: the breaker opens
    router, _, _, _ = setup({"a": [held(1000), held(1000)]}, orgs=("a",), policy="consecutive", max_attempts=1,
                            params={"threshold": 2, "open_time": 10}, wait_for_capacity=False)
    for _ in range(2):
        router.send(chat())
        router.core.clock.advance(1.0)  # type: ignore[attr-defined]
    assert router.core.board.view("a", MODEL).state == "open"


class _Nesting(ManualClock):
    """A clock whose sleep lets another request arrive while the first one waits."""

    def __init__(self) -> None:
        super().__init__(T0)
        self.during: list[Any] = []
        self.router: Router | None = None

    def sleep(self, seconds: float) -> None:
        router, self.router = self.router, None  # one nested arrival
        if router is not None:
            try:
                self.during.append(router.send(chat()))
            except NoOrgAvailable as e:
                self.during.append(e)
        super().sleep(seconds)


@pytest.mark.parametrize(("max_waiting", "second_waits"), [(1, False), (2, True)])
def test_max_waiting_bounds_the_queue(max_waiting: int, second_waits: bool) -> None:
    clock = _Nesting()
    config = make_config(("a", "b"), max_attempts=2, wait_jitter=0, max_waiting=max_waiting,
                         params={"threshold": 50})
    client = ScriptedClient(clock, {"a": [held(500), ok()], "b": [held(900), ok()]})
    router = make_router(config, client, clock)
    router.send(chat())  # both orgs held now
    clock.router = router
    r = router.send(chat())  # waits; while it waits, a second request arrives
    assert r.outcome is Outcome.SUCCESS
    second = clock.during[0]
    if second_waits:
        assert not isinstance(second, BaseException) and second.outcome is Outcome.SUCCESS
        assert router.core.peak_waiting == 2
    else:
        assert isinstance(second, NoOrgAvailable)  # the queue is full: fail fast
        assert router.core.peak_waiting == 1
    assert router.core.waiting == 0


def test_max_waiting_zero_never_waits() -> None:
    router, _, clock, _ = setup({"a": held(500), "b": held(500)}, max_attempts=2, max_waiting=0)
    router.send(chat())
    with pytest.raises(NoOrgAvailable):
        router.send(chat())
    assert clock.now() == T0


def test_cancelled_while_waiting_leaves_the_queue() -> None:
    class Interrupted(BaseException):
        pass

    class Breaking(ManualClock):
        def sleep(self, seconds: float) -> None:
            raise Interrupted

    clock = Breaking(T0)
    config = make_config(("a", "b"), max_attempts=2, params={"threshold": 50})
    router = make_router(config, ScriptedClient(clock, {"a": held(500), "b": held(500)}), clock)
    router.send(chat())
    with pytest.raises(Interrupted):
        router.send(chat())
    assert router.core.waiting == 0 and router.core.waits == 1


def test_a_clock_that_cannot_sleep_fails_fast() -> None:
    class NowOnly:
        def __init__(self) -> None:
            self.inner = ManualClock(T0)

        def now(self) -> float:
            return self.inner.now()

    clock = NowOnly()
    config = make_config(("a", "b"), max_attempts=2, params={"threshold": 50})
    router = Router(config, client=ScriptedClient(clock.inner, {"a": held(500), "b": held(500)}), clock=clock,
                    rng=random.Random(1), environ={o.api_key_env: "sk-x" for o in config.orgs})
    router.send(chat())
    with pytest.raises(NoOrgAvailable):
        router.send(chat())


def test_system_clock_sleeps_on_the_wall_clock() -> None:
    clock = SystemClock()
    t = clock.now()
    clock.sleep(0.0)
    asyncio.run(clock.asleep(0.0))
    assert clock.now() >= t


# --------------------------------------------------------------------------- both faces


def _script() -> dict[str, Any]:
    return {
        "a": [ok(), held(700), ok(), held(1200), ok()],
        "b": [held(400), ok(), held(2500), SERVER, ok()],
        "c": [held(900), held(300), ok()],
    }


def test_sync_and_async_faces_wait_identically() -> None:
    def run_sync() -> tuple[list[Any], list[Any], float]:
        router, _, clock, rec = setup(_script(), orgs=("a", "b", "c"), seed=3)
        out = []
        for i in range(12):
            try:
                r = router.send(chat(), tag=i)
                out.append((r.org, str(r.outcome), r.attempts))
            except NoOrgAvailable as e:
                out.append(("none", e.retry_at))
            clock.advance(0.1)
        return out, rec.attempts, clock.now()

    async def run_async() -> tuple[list[Any], list[Any], float]:
        clock = ManualClock(T0)
        rec = Recorder()
        config = make_config(("a", "b", "c"), params={"threshold": 50})
        inner = ScriptedClient(clock, _script())
        router = make_router(config, AsyncScriptedClient(inner), clock, observer=rec, seed=3, asynchronous=True)
        out = []
        for i in range(12):
            try:
                r = await router.send(chat(), tag=i)
                out.append((r.org, str(r.outcome), r.attempts))
            except NoOrgAvailable as e:
                out.append(("none", e.retry_at))
            clock.advance(0.1)
        return out, rec.attempts, clock.now()

    sync = run_sync()
    assert sync == asyncio.run(run_async())
    assert any(a[3] > a_prev[4] + 1e-9 for a_prev, a in zip(sync[1], sync[1][1:], strict=False))  # some waited


# --------------------------------------------------------------------------- the simulator


def _bursty_world(**router: Any) -> Any:
    limits = {"gpt-4o-mini": {"rpm": 200, "tpm": 30_000}}
    return sim.default_scenario(
        duration=600, pods=2,
        router={"max_attempts": 3, "attempt_timeout": 30.0, "deadline": 60.0, **router},
        vendors={"openai": {"orgs": [
            {"name": f"s{i}", "limits": limits, "latency": {"median": 0.8, "p99": 4.0}, "error_rate": 0.001}
            for i in (1, 2)
        ]}},
        traffic={"daily_volume": 100_000, "shape": "flat", "sessions": {"per_day": 1500, "size": 60},
                 "prompt_tokens": {"median": 300, "p99": 1000}, "max_tokens": {"median": 200}},
    )


@pytest.mark.parametrize("pacing", [False, True], ids=["wait", "wait+shared-pacing"])
def test_the_sim_clock_suspends_a_waiting_request_and_fast_equals_full(pacing: bool) -> None:
    # (with pacing, fast mode's pods share one MemoryStore's windows and full mode's one fakeredis
    # server's, through RedisStore's script: the same shared windows, the same decisions)
    sc = _bursty_world(pacing=pacing)
    runs = {}
    for mode in ("fast", "full"):
        s = Simulation(sc, resolve_policy("none"), mode, 5)  # type: ignore[arg-type]
        runs[mode] = (s.run(), sum(r.core.waits for r in s.pods.routers))
    (fast, waits), (full, full_waits) = runs["fast"], runs["full"]
    assert waits > 0 and waits == full_waits
    for table in ("requests", "attempts"):
        a, b = getattr(fast, table), getattr(full, table)
        for col in a:
            assert np.array_equal(a[col], b[col]), (table, col)
    # a waited request's latency covers the wait, never the deadline
    lat = fast.requests["end"] - fast.requests["arrival"]
    assert lat.max() <= 60.0 + 1e-9


# --------------------------------------------------------------------------- capacity weights


def _limited(weights: str | None = None, strategy: str | None = None) -> Any:
    router: dict[str, Any] = {}
    if weights:
        router["weights"] = weights
    if strategy:
        router["strategy"] = strategy
    return load_config({
        "orgs": [
            {"name": "tier2a", "api_key_env": "K1", "limits": {MODEL: {"rpm": 5000, "tpm": 2_000_000}}},
            {"name": "tier2b", "api_key_env": "K2", "limits": {MODEL: {"rpm": 5000, "tpm": 2_000_000}}},
            {"name": "tier1", "api_key_env": "K3", "limits": {MODEL: {"rpm": 500, "tpm": 200_000}}},
        ],
        "router": router,
    })


def test_weights_capacity_shares_traffic_by_each_orgs_limits() -> None:
    config = _limited("capacity")
    assert config.router.selection == "weighted"
    clock = ManualClock(T0)
    client = ScriptedClient(clock)
    router = Router(config, client=client, clock=clock, rng=random.Random(4),
                    environ={"K1": "sk-1", "K2": "sk-2", "K3": "sk-3"})
    for _ in range(4200):
        router.send(chat())
    share = Counter(client.orgs())
    assert share["tier1"] / share["tier2a"] == pytest.approx(0.1, abs=0.03)  # a tenth of a tier-2's share
    assert share["tier2a"] / share["tier2b"] == pytest.approx(1.0, abs=0.1)
    # the default stays round robin: equal shares
    rr = Router(_limited(), client=(c := ScriptedClient(clock)), clock=clock,
                environ={"K1": "sk-1", "K2": "sk-2", "K3": "sk-3"})
    for _ in range(30):
        rr.send(chat())
    assert Counter(c.orgs()) == {"tier2a": 10, "tier2b": 10, "tier1": 10}


def test_capacity_weight_of_an_org_without_limits_is_the_mean() -> None:
    cfg = make_config(("x", "y"))
    w = Weighted(lambda o, m: 300.0 if o.name == "x" else None)
    assert w._weights(cfg.orgs, MODEL) == [300.0, 300.0]
    assert Weighted()._weights(cfg.orgs, MODEL) == [1.0, 1.0]


def test_weights_capacity_with_another_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="weights: capacity"):
        _limited("capacity", "least_in_flight")
    assert _limited("capacity", "weighted").router.selection == "weighted"


# --------------------------------------------------------------------------- pacing


def _paced(
    tpm: int = 6000, enforcement: str = "minute", *, store: Any = None, clock: ManualClock | None = None, **router: Any
) -> tuple[Router, ScriptedClient, ManualClock]:
    limits = {MODEL: {"rpm": 1000, "tpm": tpm, "enforcement": enforcement}}
    config = load_config({
        "orgs": [{"name": "a", "api_key_env": "KA", "limits": limits}],
        "router": {"pacing": True, "wait_jitter": 0, **router},
        "breaker": {"policy": "exponential", "params": {"threshold": 50}},
    })
    clock = clock or ManualClock(T0)
    client = ScriptedClient(clock)
    router = Router(config, client=client, clock=clock, rng=random.Random(1), environ={"KA": "sk-a"}, store=store)
    return router, client, clock


def _costing(tokens: int) -> Any:
    return dataclasses.replace(chat(), prompt_tokens=tokens - 1000, max_tokens=1000)


def test_pacing_holds_a_request_the_window_cannot_take_yet() -> None:
    router, client, clock = _paced()  # 6000 TPM: 100 tokens a second
    router.send(_costing(4000))  # the window: 2000 left
    assert clock.now() == T0
    r = router.send(_costing(4000))  # 2000 short: 20 s until it refills, then sent (no 429)
    assert r.outcome is Outcome.SUCCESS and len(client.calls) == 2
    assert clock.now() == pytest.approx(T0 + 20.0)
    off, _, off_clock = _paced(pacing=False)
    off.send(_costing(4000))
    off.send(_costing(4000))
    assert off_clock.now() == T0  # without pacing: sent at once


def test_pacing_is_corrected_by_the_remaining_tokens_header() -> None:
    router, client, clock = _paced()
    client.default = ok(headers={"x-ratelimit-remaining-tokens": "0"})  # other pods spent the window
    router.send(_costing(1000))
    router.send(_costing(1000))  # the vendor said 0 left: 10 s for 1000 tokens
    assert clock.now() == pytest.approx(T0 + 10.0)


def test_pacing_only_advises_when_no_wait_is_possible() -> None:
    router, client, clock = _paced(max_waiting=0)
    router.send(_costing(4000))
    router.send(_costing(4000))  # would wait 20 s; the queue holds none: sent at once
    assert clock.now() == T0 and len(client.calls) == 2


def test_per_second_pacing_spends_a_sixtieth_of_the_limit_at_a_time() -> None:
    router, client, clock = _paced(tpm=60_000, enforcement="second")  # 1000 tokens a second, at most
    router.send(_costing(1000))  # the second's window: all of it
    assert clock.now() == T0
    router.send(_costing(500))  # 500 tokens refill in 0.5 s
    assert clock.now() == pytest.approx(T0 + 0.5)
    router.send(_costing(3000))  # larger than the window: held until one request's worth is there
    assert clock.now() == pytest.approx(T0 + 3.5)
    assert len(client.calls) == 3


def test_paced_requests_reserve_the_window_and_leave_one_after_another() -> None:
    # Three requests arrive together at an org whose window is spent: each reserves the next
    # tokens, so they leave at the window's rate, not all at once when it first refills.
    router, client, clock = _paced(tpm=60_000, enforcement="second", max_waiting=10)
    router.send(_costing(1000))
    sent: list[float] = []
    client.default = ok()
    original = client.send

    def send(*a: Any, **k: Any) -> Any:
        sent.append(clock.now())
        return original(*a, **k)

    client.send = send  # type: ignore[method-assign]
    for _ in range(3):
        router.core.waiting = 0  # (one at a time on a ManualClock: the queue is not the point here)
        router.send(_costing(1000))
    assert sent == pytest.approx([T0 + 1.0, T0 + 2.0, T0 + 3.0])


def test_a_reservation_not_used_is_given_back() -> None:
    router, _, clock = _paced(tpm=60_000, enforcement="second", max_waiting=10, deadline="1500ms",
                                   attempt_timeout="1s")
    router.send(_costing(1000))
    router.send(_costing(1000))  # reserves the next second's tokens: sent at T0 + 1
    assert clock.now() == pytest.approx(T0 + 1.0)
    core = router.core
    assert core._tokens_left("a", MODEL, clock.now(), 1000) == pytest.approx(0.0, abs=0.01)
    router.send(_costing(3000))  # would wait 3 s, past its 1.5 s deadline: sent at once (pacing advises)
    assert clock.now() == pytest.approx(T0 + 1.0)
    # spent once (the send), not twice (a reservation kept as well)
    assert core._tokens_left("a", MODEL, clock.now(), 3000) == pytest.approx(-3000.0, abs=0.01)


class _NoWindows:
    """A store without the ``pace`` operation (a team's own): the breaker state is shared, the
    windows are not."""

    def __init__(self, inner: MemoryStore) -> None:
        self.read, self.update, self.get_flag, self.set_flag = inner.read, inner.update, inner.get_flag, inner.set_flag
        self.blocking = False


@pytest.mark.parametrize("shared", [True, False])
def test_pods_pace_against_one_window_in_the_store(shared: bool) -> None:
    # two pods, one org (60k TPM per second: 1000 tokens a second); pod A spends the window
    inner = MemoryStore()
    store = inner if shared else _NoWindows(inner)
    a, _, clock = _paced(tpm=60_000, enforcement="second", store=store)
    b, b_client, _ = _paced(tpm=60_000, enforcement="second", store=store, clock=clock)
    a.send(_costing(1000))
    b.send(_costing(1000))
    if shared:  # pod B sees A's spending: it waits a second for the window to refill
        assert clock.now() == pytest.approx(T0 + 1.0) and b.core.waits == 1
    else:  # each pod its own window: B sends into the spent window at once
        assert clock.now() == T0 and b.core.waits == 0
    assert len(b_client.calls) == 1
