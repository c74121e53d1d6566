"""The virtual-time asyncio loop (sim.aio): simulated time, simpy's one order, simulated threads."""

from __future__ import annotations

import asyncio
import selectors
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import simpy

from multiorg.clock import ManualClock
from multiorg.config import load_config
from multiorg.router import AsyncRouter
from sim import aio
from sim.bridge import Hub


def test_waits_spend_simulated_time_not_wall_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The loop may never wait on the OS: no real sleep, no selector wait (a day of timers would
    # have to pass through one of them to take wall time).
    blocked: list[str] = []
    monkeypatch.setattr(time, "sleep", lambda s: blocked.append(f"time.sleep({s})"))
    monkeypatch.setattr(selectors.DefaultSelector, "select",
                        lambda self, timeout=None: blocked.append(f"select({timeout})") or [])

    async def main() -> tuple[float, int, str]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(86_400)  # a day
        got = await asyncio.gather(*(asyncio.sleep(i / 10, result=i) for i in range(300)))
        try:
            await asyncio.wait_for(asyncio.sleep(100), 5)
            timed_out = "no"
        except TimeoutError:
            timed_out = "yes"
        async with asyncio.timeout(2):
            await asyncio.sleep(1)
        return loop.time(), sum(got), timed_out

    assert aio.run(main()) == (86_400 + 29.9 + 5 + 1, sum(range(300)), "yes")
    assert blocked == []


def test_sync_greenlets_and_async_tasks_share_one_order() -> None:
    """Equal times run in the order they were scheduled, whichever face scheduled them."""
    hub = Hub(simpy.Environment())
    loop = aio.SimLoop(hub)
    seen: list[tuple[float, str]] = []

    def sync_request(name: str, delays: list[float]) -> None:
        for d in delays:
            hub.sleep(d)
            seen.append((hub.now, name))

    async def async_request(name: str, delays: list[float]) -> None:
        for d in delays:
            await asyncio.sleep(d)
            seen.append((loop.time(), name))

    def at0(_ev: Any) -> None:
        hub.spawn(sync_request, "s1", [1.0, 1.0])  # wakes at 1 (scheduled first), 2
        loop.spawn(async_request("a1", [1.0, 0.5]))  # 1 (second), 1.5
        hub.spawn(sync_request, "s2", [1.5])  # 1.5 (scheduled before a1's second sleep)
        loop.spawn(async_request("a2", [2.0]))  # 2 (scheduled before s1's second sleep)

    hub.at(0.0, at0)
    hub.run()
    assert seen == [(1.0, "s1"), (1.0, "a1"), (1.5, "s2"), (1.5, "a1"), (2.0, "a2"), (2.0, "s1")]
    assert loop.in_flight == 0 and loop.max_in_flight == 2 and loop.spawned == 2


def test_hundreds_of_tasks_in_flight_and_rerun_identical() -> None:
    def once() -> tuple[list[int], int]:
        hub = Hub(simpy.Environment())
        loop = aio.SimLoop(hub)
        done: list[int] = []
        lock = asyncio.Lock()

        async def request(i: int) -> None:
            await asyncio.sleep((i * 7919) % 100 / 10)
            async with lock:  # a lock taken across a simulated wait
                await asyncio.sleep(0.001)
                done.append(i)

        hub.drive([i / 100 for i in range(600)], lambda i: loop.spawn(request(i)))
        hub.run()
        return done, loop.max_in_flight

    first, peak = once()
    assert sorted(first) == list(range(600)) and peak >= 300
    assert once() == (first, peak)


def test_a_simulated_thread_waits_without_holding_the_loop() -> None:
    loop = aio.new_loop()
    threads = loop.threads
    ticks: list[float] = []

    def slow_store_call() -> str:
        threads.sleep(5.0)  # a slow Redis: the thread waits, not the loop
        return f"answered at {loop.time()}"

    async def ticker() -> None:
        for _ in range(4):
            await asyncio.sleep(1.0)
            ticks.append(loop.time())

    async def main() -> str:
        t = asyncio.ensure_future(ticker())
        got = await loop.run_in_executor(None, slow_store_call)
        await t
        return got

    assert loop.run_until_complete(main()) == "answered at 5.0"
    assert ticks == [1.0, 2.0, 3.0, 4.0]
    assert threads.calls == 1 and threads.busy == 0


def test_a_bounded_pool_queues_calls_fifo() -> None:
    loop = aio.SimLoop(Hub(simpy.Environment()), threads=2)

    def call(i: int) -> tuple[int, float]:
        loop.threads.sleep(1.0)
        return i, loop.time()

    async def main() -> list[tuple[int, float]]:
        return list(await asyncio.gather(*(asyncio.to_thread(call, i) for i in range(5))))

    assert loop.run_until_complete(main()) == [(0, 1.0), (1, 1.0), (2, 2.0), (3, 2.0), (4, 3.0)]
    assert loop.threads.peak == 2


def test_async_router_runs_store_steps_on_a_given_executor() -> None:
    config = load_config({"orgs": [{"name": "a", "api_key_env": "KEY_A"}]})

    class BlockingMemory:
        """A store that says it blocks: the router must keep it off the loop."""

        def __init__(self) -> None:
            from multiorg.stores.memory import MemoryStore

            self.inner = MemoryStore(ManualClock())
            self.blocking = True
            self.threads: set[str] = set()

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self.inner, name)
            if not callable(attr):
                return attr  # (a setting read when the router is built, not a store call)

            def call(*args: Any, **kwargs: Any) -> Any:
                self.threads.add(threading.current_thread().name)
                return attr(*args, **kwargs)

            return call

    pool = ThreadPoolExecutor(2, thread_name_prefix="shared")
    store = BlockingMemory()
    router = AsyncRouter(config, client=_OkClient(), store=store, clock=ManualClock(), executor=pool,
                         environ={"KEY_A": "sk-test"})

    async def main() -> str:
        from multiorg.vendors import ChatRequest

        result = await router.send(ChatRequest("gpt-4o-mini", ({"role": "user", "content": "hi"},)))
        return result.org

    assert asyncio.run(main()) == "a"
    assert store.threads and all(n.startswith("shared") for n in store.threads)
    router.close()  # leaves the executor it was given running
    assert pool.submit(lambda: 1).result() == 1
    pool.shutdown()


class _OkClient:
    async def send(self, org: Any, api_key: str, request: Any, timeout: float) -> Any:
        from multiorg.client import VendorResponse

        return VendorResponse(200, {}, {"choices": []})


def test_a_task_that_raises_fails_the_run() -> None:
    hub = Hub(simpy.Environment())
    loop = aio.SimLoop(hub)

    async def broken() -> None:
        await asyncio.sleep(1)
        raise KeyError("the router broke")

    hub.at(0.0, lambda _ev: loop.spawn(broken()))
    with pytest.raises(KeyError, match="the router broke"):
        hub.run()


def test_escapes_are_refused() -> None:
    loop = aio.new_loop()
    with pytest.raises(aio.EscapeError, match="getaddrinfo"):
        loop.run_until_complete(loop.getaddrinfo("api.openai.com", 443))
    errors: list[BaseException] = []

    def from_another_thread() -> None:
        try:
            loop.call_soon_threadsafe(print)
        except aio.EscapeError as e:
            errors.append(e)

    t = threading.Thread(target=from_another_thread)
    t.start()
    t.join()
    assert errors and "another OS thread" in str(errors[0])


def test_a_wait_nothing_will_end_is_a_clear_error() -> None:
    async def forever() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(RuntimeError, match="deadlock"):
        aio.run(forever())


def test_async_router_waits_for_capacity_on_a_clock_that_only_awaits() -> None:
    """A clock with ``now`` and ``asleep`` (no sync ``sleep``) is enough for the async face to wait
    out a 429's retry-after instead of failing the request."""
    config = load_config({"orgs": [{"name": "a", "api_key_env": "KEY_A"}], "router": {"wait_jitter": 0}})

    class AwaitingClock:
        def __init__(self) -> None:
            self.t = 1_700_000_000.0

        def now(self) -> float:
            return self.t

        async def asleep(self, seconds: float) -> None:
            self.t += seconds
            await asyncio.sleep(0)

    from multiorg.client import VendorResponse
    from multiorg.vendors import ChatRequest

    replies = [VendorResponse(429, {"retry-after-ms": "1500"}, {"error": {"code": "rate_limit_exceeded",
                                                                        "type": "requests", "message": "slow"}}),
               VendorResponse(200, {}, {"choices": []})]

    class Client:
        async def send(self, *args: Any) -> Any:
            return replies.pop(0)

    clock = AwaitingClock()
    router = AsyncRouter(config, client=Client(), clock=clock, environ={"KEY_A": "sk-test"})
    result = asyncio.run(router.send(ChatRequest("gpt-4o-mini", ({"role": "user", "content": "hi"},))))
    assert result.response.status == 200 and result.attempts == 2
    assert router.core.waits == 1 and clock.t == 1_700_000_001.5
