"""RedisStore keeps serving when Redis fails: local fallback, one warning, retry, recovery."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

import fakeredis
import pytest
import redis

from multiorg.clock import ManualClock
from multiorg.stores import RedisStore, register_state

KEY = "multiorg:breaker:test:org-a|gpt-4o-mini"
FLAG = "multiorg:switch:vendor"
RETRY = 5.0


@register_state
@dataclass(frozen=True, slots=True)
class Tally:
    n: int = 0


def inc(s: Tally) -> tuple[int, Tally]:
    return s.n, Tally(s.n + 1)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "multiorg.stores.redis" and r.levelno >= logging.WARNING
    ]


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def store(server: fakeredis.FakeServer, clock: ManualClock) -> RedisStore:
    return RedisStore(fakeredis.FakeRedis(server=server), clock, fallback_retry=RETRY)


class RaisingClient:
    """A client whose every command raises ``exc`` (register_script works: it is local)."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
        self.calls = 0

    def _raise(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise self.exc

    get = set = delete = _raise

    def register_script(self, script: str) -> Any:
        return self._raise


@pytest.mark.parametrize(
    "exc",
    [
        redis.ConnectionError("Error 111 connecting"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.ResponseError("OOM command not allowed"),
        ConnectionRefusedError(111, "refused"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_any_redis_error_falls_back_with_one_warning(
    exc: BaseException, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    client = RaisingClient(exc)
    s = RedisStore(client, clock, fallback_retry=RETRY)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG, logger="multiorg.stores.redis")
    for i in range(100):
        assert s.update(KEY, inc, Tally) == (i, Tally(i), Tally(i + 1))
        assert s.read(KEY, Tally) == Tally(i + 1)
    s.set_flag(FLAG, "anthropic")
    assert s.get_flag(FLAG) == "anthropic"
    warns = warnings_of(caplog)
    assert len(warns) == 1, [r.getMessage() for r in warns]
    assert type(exc).__name__ in warns[0].getMessage()
    assert s.degraded and s.outages == 1
    assert client.calls == 1  # within fallback_retry no request touches the network


def test_fallback_keeps_last_known_state_then_recovers(
    server: fakeredis.FakeServer,
    store: RedisStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="multiorg.stores.redis")
    other = RedisStore(fakeredis.FakeRedis(server=server), clock)
    for _ in range(3):
        store.update(KEY, inc, Tally)
    store.set_flag(FLAG, "anthropic")

    server.connected = False
    # Local state starts from what this process last saw in Redis (an OPEN breaker stays open).
    assert store.update(KEY, inc, Tally) == (3, Tally(3), Tally(4))
    assert store.read(KEY, Tally) == Tally(4)
    assert store.get_flag(FLAG) == "anthropic"
    store.set_flag(FLAG, "openai")
    assert store.get_flag(FLAG) == "openai"
    trips = store.round_trips

    clock.advance(RETRY / 2)
    server.connected = True  # back, but the retry is not due yet: still local, no network
    assert store.update(KEY, inc, Tally) == (4, Tally(4), Tally(5))
    assert store.round_trips == trips
    other.update(KEY, inc, Tally)  # Redis moves on meanwhile: 3 -> 4

    clock.advance(RETRY / 2)
    # Retry due: Redis is authoritative again, local divergence (5, "openai") dropped.
    assert store.read(KEY, Tally) == Tally(4)
    assert not store.degraded
    assert store.get_flag(FLAG) == "anthropic"
    assert store.update(KEY, inc, Tally) == (4, Tally(4), Tally(5))
    assert other.update(KEY, inc, Tally) == (5, Tally(5), Tally(6))

    messages = [r.getMessage() for r in caplog.records if r.name == "multiorg.stores.redis"]
    assert sum("unavailable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


def test_failed_retry_waits_again_without_a_second_warning(
    server: fakeredis.FakeServer,
    store: RedisStore,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.connected = False
    store.update(KEY, inc, Tally)
    trips = store.round_trips
    clock.advance(RETRY)
    store.update(KEY, inc, Tally)  # the retry: fails, local again
    assert store.round_trips == trips + 1
    clock.advance(RETRY - 0.1)
    store.update(KEY, inc, Tally)  # waiting again from the failed retry
    assert store.round_trips == trips + 1
    assert store.read(KEY, Tally) == Tally(3)  # no update lost locally
    assert len(warnings_of(caplog)) == 1
    assert store.outages == 1

    server.connected = True
    clock.advance(0.1)
    assert store.read(KEY, Tally) == Tally(0)  # nothing reached Redis during the outage
    assert not store.degraded

    server.connected = False  # a second outage is a new event: one more warning
    store.read(KEY, Tally)
    clock.advance(10)
    store.read(KEY, Tally)
    assert len(warnings_of(caplog)) == 2
    assert store.outages == 2


def test_outage_in_the_middle_of_a_cas_loop(
    server: fakeredis.FakeServer, store: RedisStore, clock: ManualClock
) -> None:
    other = RedisStore(fakeredis.FakeRedis(server=server), clock)
    store.update(KEY, inc, Tally)
    seen: list[int] = []

    def fn(s: Tally) -> tuple[int, Tally]:
        seen.append(s.n)
        if len(seen) == 1:
            other.update(KEY, inc, Tally)  # conflict: the store will retry...
        elif len(seen) == 2:
            server.connected = False  # ...and Redis dies before the second CAS
        return s.n, Tally(s.n + 1)

    result, before, written = store.update(KEY, fn, Tally)
    assert store.degraded
    # The request was not lost: applied to local state seeded from the last value seen.
    assert (result, before, written) == (2, Tally(2), Tally(3))
    assert seen == [1, 2, 2]


def test_secrets_never_logged_or_shown(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a loopback port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = redis.Redis.from_url(
        f"redis://admin:s3cr3t-pw@127.0.0.1:{port}/0",
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
    )
    s = RedisStore(client, clock)
    caplog.set_level(logging.DEBUG)
    assert s.update(KEY, inc, Tally) == (0, Tally(0), Tally(1))
    clock.advance(10)
    assert s.read(KEY, Tally) == Tally(1)
    assert s.degraded
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in repr(s) and "s3cr3t" not in str(s)
    assert "fallback" in repr(s)
    client.close()


def test_the_wait_between_probes_grows_to_its_cap(server: fakeredis.FakeServer, clock: ManualClock) -> None:
    s = RedisStore(fakeredis.FakeRedis(server=server), clock, fallback_retry=1.0, fallback_retry_max=4.0)
    server.connected = False
    s.read(KEY, Tally)
    probes = []
    for _ in range(24):  # 12 s in 0.5 s steps: probe times are where round trips happen
        clock.advance(0.5)
        before = s.round_trips
        s.read(KEY, Tally)
        if s.round_trips > before:
            probes.append(round(clock.now() - 1_700_000_000.0, 1))
    assert probes == [1.0, 3.0, 7.0, 11.0]  # waits 1, 2, 4, 4
    server.connected = True
    clock.advance(4.0)
    s.read(KEY, Tally)
    assert not s.degraded
    server.connected = False  # a new outage starts from the short wait again
    s.read(KEY, Tally)
    clock.advance(1.0)
    before = s.round_trips
    s.read(KEY, Tally)
    assert s.round_trips == before + 1


def test_the_store_turns_the_clients_retries_off(clock: ManualClock) -> None:
    client = redis.Redis(host="127.0.0.1", port=1, retry=redis.retry.Retry(redis.backoff.ExponentialBackoff(), 10))
    RedisStore(client, clock)
    retry = client.get_retry()
    assert retry is not None and retry.get_retries() == 0
    assert client.connection_pool.connection_kwargs["retry"].get_retries() == 0  # new connections too


def test_from_url_bounds_every_command(clock: ManualClock) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", clock, timeout=0.1)
    try:
        kwargs = s._client.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 0.1 and kwargs["socket_connect_timeout"] == 0.1
        assert s._client.get_retry().get_retries() == 0
        assert s.update(KEY, inc, Tally) == (0, Tally(0), Tally(1))  # refused: local at once
        assert s.degraded and s.background_probe
        with pytest.raises(ValueError):
            RedisStore.from_url("redis://127.0.0.1:1/0", timeout=float("inf"))
    finally:
        s.close()


def test_a_resent_write_that_already_landed_is_applied_once(
    server: fakeredis.FakeServer, store: RedisStore, clock: ManualClock
) -> None:
    """The client times out, the first copy of the script runs anyway, the copy the client re-sends
    finds its own nonce: a success, not a conflict to re-apply ``fn`` on."""
    other = RedisStore(fakeredis.FakeRedis(server=server), clock)
    store.update(KEY, inc, Tally)
    script = store._cas

    def sent_twice(**kwargs: Any) -> Any:
        script(**kwargs)  # the first copy lands (its reply is lost)
        if kwargs["args"][1]:
            other.update(KEY, inc, Tally)  # and another writer commits on top, before the re-send
        return script(**kwargs)  # the re-sent copy

    store._cas = sent_twice
    assert store.update(KEY, inc, Tally) == (1, Tally(1), Tally(2))
    assert store.resent_writes == 1
    store._cas = script
    clock.advance(10)
    assert store.read(KEY, Tally) == Tally(3)  # 1 (ours, once) + 1 (other's): not 4
