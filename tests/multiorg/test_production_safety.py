"""Issue #12 in multiorg: secrets never leak, bad input is refused fast, shared-state semantics hold,
the async face never blocks its loop."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
from multiorg_fakes import (
    SERVER,
    AsyncScriptedClient,
    ScriptedClient,
    chat,
    env_for,
    key_of,
    make_config,
    make_router,
    ok,
)
from pydantic import ValidationError

from multiorg import AsyncRouter, ConfigError, ManualClock, OrgConfig, Router, load_config
from multiorg.alerts import BreakerEvent, EventKind, SlackNotifier
from multiorg.errors import StoreContentionError
from multiorg.outcomes import Outcome
from multiorg.selection import OrgStats
from multiorg.stores import MemoryStore, RedisStore

T0 = 1_747_500_000.0
GOV_WEBHOOK = "https://hooks.slack-gov.com/services/T0GOV/B0GOV/GOVSECRETPATH"
KEY = "sk-proj-Zq9XwV8uT7sR6qP5oN4mL3kJ2iH1gF0eD9cB8aZ7yX6w5v4u3t2s1r0"


def assert_hidden(texts: list[str], secrets: list[str]) -> None:
    """No secret, nor any 8-character piece of it, appears in any text."""
    for secret in secrets:
        pieces = {secret[i : i + 8] for i in range(len(secret) - 7)}
        for text in texts:
            leaked = [p for p in pieces if p in text]
            assert not leaked, (leaked[:3], text[:300])


# ----------------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    "bad", [KEY + "\n", KEY + " ", "\u200b" + KEY, KEY[:20] + "\u200b" + KEY[20:], KEY[:10] + "é" + KEY[10:]],
    ids=["trailing-newline", "trailing-space", "zero-width-space-first", "zero-width-space-inside", "non-ascii"],
)
def test_a_malformed_key_is_refused_when_the_router_is_built(bad: str) -> None:
    config = make_config(("a", "b"))
    env = {**env_for(config), "KEY_B": bad}
    with pytest.raises(ConfigError) as info:
        Router(config, client=ScriptedClient(ManualClock(T0)), environ=env)
    text = str(info.value)
    assert "org b" in text and "KEY_B" in text
    assert_hidden([text, repr(info.value)], [KEY])


def test_secrets_never_reach_a_log_or_an_error(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """Every log line captured at DEBUG (httpx, httpcore, multiorg) and every exception text, grepped
    for the keys and the webhook path."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    config = make_config(("a", "b"), max_attempts=2, params={"threshold": 1})
    env = env_for(config)

    def vendor(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"error": {"message": "boom", "type": "server_error"}})

    from multiorg import HttpVendorClient

    slack = SlackNotifier(GOV_WEBHOOK, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
                          background=False)
    router = Router(config, client=HttpVendorClient(config, httpx.Client(transport=httpx.MockTransport(vendor))),
                    environ=env, notifiers=[slack])
    for _ in range(3):
        try:
            result = router.send(chat())
            texts += [repr(result), str(result)]
        except Exception as e:  # every org blocked, in the end
            texts += [str(e), repr(e)]
    # the key in the wrong places
    for bad in (
        {"orgs": [{"name": "a", "api_key": KEY}]},
        {"orgs": [{"name": "a", "api_key_env": KEY}]},
        {"orgs": [{"name": "a", "api_key_env": "K", "limits": {"m": {"rpm": KEY, "tpm": 1}}}]},
    ):
        with pytest.raises(ConfigError) as info:
            load_config(bad)
        texts += [str(info.value), repr(info.value)]
        path = tmp_path / "orgs.yaml"
        import yaml

        path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError) as info:
            load_config(path)
        texts.append(str(info.value))
    with pytest.raises(ValidationError) as vinfo:
        OrgConfig.model_validate({"name": "a", "api_key_env": KEY})
    texts += [str(vinfo.value), repr(vinfo.value)]
    with pytest.raises(ValidationError) as vinfo:
        OrgConfig.model_validate({"name": "a", "api_key": KEY})
    texts.append(str(vinfo.value))
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("hooks.slack-gov.com" in t for t in texts)  # the alert went out, and httpx said so
    assert_hidden(texts, [KEY, *env.values(), "T0GOV/B0GOV/GOVSECRETPATH"])


def test_an_attempt_plan_cannot_show_its_key() -> None:
    clock = ManualClock(T0)
    config = make_config(("a",))
    router = make_router(config, ScriptedClient(clock), clock)
    gen = router.core.route(chat())
    plan = next(gen)
    assert plan.api_key == key_of("a")  # the face that sends it gets it
    shown = [repr(plan), str(plan), repr(plan._asdict()), str(tuple(plan)), f"{plan.key}", "{}".format(plan.key)]  # noqa: UP032
    assert_hidden(shown, [key_of("a")])


# ------------------------------------------------------------------------------------------ inputs


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orgs.yaml"
    path.write_text(text)
    return path


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['lol'] * width)}]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * width)}]")
    lines.append(f"orgs: *{names[-1]}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [6, 9])
def test_an_alias_bomb_is_refused_in_well_under_a_second(tmp_path: Path, levels: int) -> None:
    text = alias_bomb(levels)
    assert len(text) < 700
    # refused by the alias count before anything expands (the time it takes: benchmarks/redis_chaos.py)
    with pytest.raises(ConfigError, match="alias bomb") as info:
        load_config(_write(tmp_path, text))
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = (
        "orgs:\n  - {name: a, api_key_env: K, limits: &l {gpt-4o-mini: {rpm: 10, tpm: 100}}}\n"
        "  - {name: b, api_key_env: K, limits: *l}\n"
    )
    config = load_config(_write(tmp_path, text))
    assert config.orgs[1].limits["gpt-4o-mini"].rpm == 10


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("orgs:\n  - {name: a, api_key_env: K}\norgs: []\n", 3),
        ("orgs:\n  - name: a\n    api_key_env: K\n    api_key_env: K2\n", 4),
        ("router:\n  deadline: 10s\n  deadline: 20s\norgs: [{name: a, api_key_env: K}]\n", 3),
    ],
)
def test_a_duplicate_key_is_refused_naming_its_line(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(ConfigError, match=f"line {line}: duplicate key") as info:
        load_config(_write(tmp_path, text))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "router_or_breaker",
    [
        "breaker: {policy: exponential, params: {base_open_time: .inf}}",
        "breaker: {policy: exponential, params: {max_open_time: .nan}}",
        "router: {attempt_timeout: .inf, deadline: .inf}",
        "router: {retry_budget_window: .inf}",
        "router: {deadline: 5s, attempt_timeout: 30s}",
    ],
)
def test_non_finite_durations_and_a_deadline_below_the_attempt_timeout_are_refused(
    tmp_path: Path, router_or_breaker: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, f"orgs: [{{name: a, api_key_env: K}}]\n{router_or_breaker}\n"))
    assert "\n" not in str(info.value)


def test_error_reprs_are_bounded_whatever_the_input() -> None:
    from multiorg.config import redact

    huge: Any = ["x"] * 9
    for _ in range(8):
        huge = [huge] * 9  # 387 million leaves, shared
    shown = redact({"orgs": huge, "api_key": "not-even-secret-looking"})  # a full repr would never end
    assert len(shown) < 400 and "not-even" not in shown


# --------------------------------------------------------------------------------------- semantics


def test_a_success_resets_a_failure_run_other_pods_recorded() -> None:
    """Pod 2's cached copy shows no failures; pod 1 recorded two since. Pod 2's success must still
    end the run, or pod 1's next failure trips a breaker on failures that were not consecutive."""
    clock = ManualClock(T0)
    server = fakeredis.FakeServer()
    config = make_config(("a",), policy="consecutive", params={"threshold": 3})
    one = make_router(config, ScriptedClient(clock, default=SERVER), clock,
                      store=RedisStore(fakeredis.FakeRedis(server=server), clock, staleness=1.0))
    two = make_router(config, ScriptedClient(clock), clock,
                      store=RedisStore(fakeredis.FakeRedis(server=server), clock, staleness=1.0))
    two.send(chat())  # pod 2 caches the state: no failures
    one.send(chat())
    one.send(chat())  # two failures in a row, in Redis
    two.send(chat())  # a success in between (pod 2's cache is still fresh)
    one.send(chat())  # one failure after the success: not three in a row
    view = one.core.board.view("a", chat().model)
    assert view.state.value == "closed", view


class ContendedStore(MemoryStore):
    """Every update loses the compare-and-set race (a very busy key)."""

    def update(self, key: str, fn: Any, default: Any) -> Any:
        raise StoreContentionError("lost the race 100 times in a row")


def test_contention_on_the_admission_path_is_not_a_failed_request(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(T0)
    config = make_config(("a", "b"), policy="consecutive", params={"threshold": 1, "open_time": 10})
    store = MemoryStore()
    router = make_router(config, ScriptedClient(clock, {"a": [SERVER, ok()]}), clock, store=store)
    router.send(chat())  # a fails: its breaker opens (b answers)
    clock.advance(11)  # a's block is over: admitting it now writes (half-open, a probe permit)
    contended = ContendedStore()
    contended._data.update(store._data)  # the same state, on a key nobody can write
    router.core.board.store = contended
    for _ in range(4):  # a's admission is contended every time: a sits out, b serves
        result = router.send(chat())
        assert (result.outcome, result.org) == (Outcome.SUCCESS, "b")
    assert "breaker admission for a/" in caplog.text and "not decided" in caplog.text


def test_in_flight_is_counted_exactly_under_thread_switching() -> None:
    stats = OrgStats()
    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def work() -> None:
            for _ in range(20_000):
                stats.started("a")
                stats.finished("a", "m", 0.1, None, None)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert stats.in_flight["a"] == 0


def test_a_half_built_router_has_a_repr() -> None:
    config = make_config(("a",))
    with pytest.raises(ConfigError):
        Router(config, client=ScriptedClient(ManualClock(T0)), environ={})
    for cls in (Router, AsyncRouter):
        assert "not built" in repr(cls.__new__(cls))


# -------------------------------------------------------------------------------------- async face


class SlowStore(MemoryStore):
    """A store whose every operation blocks its thread (a slow network), as a sync Redis client does."""

    blocking = True

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.threads: set[str] = set()

    def read(self, key: str, default: Any) -> Any:
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return super().read(key, default)

    def update(self, key: str, fn: Any, default: Any) -> Any:
        time.sleep(self.delay)
        return super().update(key, fn, default)

    def get_flag(self, name: str) -> str | None:
        time.sleep(self.delay)
        return super().get_flag(name)


def test_the_async_face_keeps_a_blocking_store_off_its_loop() -> None:
    clock = ManualClock(T0)
    config = make_config(("a", "b"))
    store = SlowStore(0.2)
    router = make_router(config, AsyncScriptedClient(ScriptedClient(clock)), clock, store=store, asynchronous=True)

    async def main() -> float:
        lag = 0.0
        running = True

        async def monitor() -> None:
            nonlocal lag
            while running:
                t = time.perf_counter()
                await asyncio.sleep(0.002)
                lag = max(lag, time.perf_counter() - t - 0.002)

        watch = asyncio.create_task(monitor())
        results = await asyncio.gather(*(router.send(chat()) for _ in range(20)))
        running = False
        await watch
        assert all(r.outcome is Outcome.SUCCESS for r in results)
        return lag

    try:
        lag = asyncio.run(main())
    finally:
        router.close()
    assert lag < 0.15  # each store call blocks 200 ms: on the loop, the lag would be at least that
    assert all(name.startswith("multiorg-store") for name in store.threads)


def test_the_async_face_drives_a_memory_store_on_its_loop() -> None:
    clock = ManualClock(T0)
    config = make_config(("a",))
    router = make_router(config, AsyncScriptedClient(ScriptedClient(clock)), clock, asynchronous=True)
    assert asyncio.run(router.send(chat())).outcome is Outcome.SUCCESS
    assert router._workers is None  # no thread was needed


def test_cancelling_an_off_loop_request_returns_its_probe_permit() -> None:
    clock = ManualClock(T0)
    config = make_config(("a",), policy="consecutive", params={"threshold": 1, "open_time": 10})
    store = SlowStore(0.0)
    inner = ScriptedClient(clock, {"a": [SERVER, SERVER]})
    router = make_router(config, AsyncScriptedClient(inner), clock, store=store, asynchronous=True)

    class Hang:
        async def send(self, *args: Any) -> Any:
            await asyncio.sleep(3600)

    async def main() -> None:
        await router.send(chat())  # a trips
        clock.advance(11)
        router.client = Hang()
        task = asyncio.create_task(router.send(chat()))  # the probe hangs...
        await asyncio.sleep(0.1)
        task.cancel()  # ...and is cancelled
        with pytest.raises(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    finally:
        router.close()
    # the permit came back: the next request may probe again
    router2 = make_router(config, ScriptedClient(clock), clock, store=store)
    assert router2.send(chat()).outcome is Outcome.SUCCESS


def test_a_gov_slack_webhook_is_redacted_in_http_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack = SlackNotifier(GOV_WEBHOOK, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
                          background=False)
    slack.notify(BreakerEvent(EventKind.OPENED, "o", "m", "openai", 0.0))
    assert "https://hooks.slack-gov.com/***" in caplog.text
    assert "GOVSECRETPATH" not in caplog.text and "T0GOV" not in caplog.text
