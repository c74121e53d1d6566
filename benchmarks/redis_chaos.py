"""The Redis reliability probe (issue #12), rerunnable: what a dead, frozen or slow Redis costs.

    python benchmarks/redis_chaos.py            # needs redis-server on PATH; starts its own

Prints, for the production recipe (``RedisStore.from_url``; on code without it, the README's
former ``RedisStore(redis.Redis(socket_timeout=0.25), clock)``):

* first-timeout cost and stall per request after it, with Redis ``kill -9``-ed and ``SIGSTOP``-ped;
* resume time: from Redis answering again to the store using it;
* event-loop lag of an ``AsyncRouter`` with 500 concurrent tasks while Redis is frozen;
* double-applies: updates counted twice after freezes mid-script, with the client re-sending;
* alias-bomb time: ``load_config`` of a 600-byte YAML bomb.

Figures only (machines are noisy); ``tests/stores/test_redis_chaos.py`` asserts generous bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from chaos_tools import CHAT, Applied, AsyncInstant, Instant, RedisProcess
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from multiorg import AsyncRouter, Router, load_config
from multiorg.clock import SystemClock
from multiorg.errors import ConfigError
from multiorg.stores import RedisStore

KEYS = {f"KEY_{i}": f"sk-test-{i:02d}abcdefghijklmnop" for i in range(3)}
CONFIG: dict[str, Any] = {
    "orgs": [{"name": f"org{i}", "api_key_env": f"KEY_{i}"} for i in range(3)],
    "router": {"attempt_timeout": "5s", "deadline": "10s"},
    "breaker": {"policy": "consecutive", "params": {"threshold": 5}},
}


def make_store(url: str, **kwargs: Any) -> RedisStore:
    from_url = getattr(RedisStore, "from_url", None)
    if from_url is not None:
        return from_url(url, **kwargs)  # type: ignore[no-any-return]
    return RedisStore(redis.Redis.from_url(url, socket_timeout=0.25), SystemClock(), **kwargs)  # before #12


@dataclass
class Outage:
    first_timeout_ms: float
    stall_p50_ms: float
    stall_max_ms: float
    requests: int
    resume_s: float
    slow: int


#: a request this much slower than usual waited on Redis (seconds)
SLOW = 0.05


def timed(router: Router) -> float:
    t = time.perf_counter()
    router.send(CHAT)
    return time.perf_counter() - t


def outage(kind: str, seconds: float) -> Outage:
    server = RedisProcess()
    try:
        store = make_store(server.url, namespace=f"chaos-{kind}")
        router = Router(load_config(CONFIG), store=store, client=Instant(), environ=KEYS)
        base = statistics.median(timed(router) for _ in range(200))
        server.kill() if kind == "kill" else server.freeze()
        costs: list[float] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            costs.append(timed(router) - base)
        # The first request that waited on Redis (a cached read costs nothing, so it may not be the
        # first request of the outage); every one after it is what the outage costs per request.
        i = next((i for i, c in enumerate(costs) if c > SLOW), max(range(len(costs)), key=costs.__getitem__))
        first, stalls = costs[i], costs[i + 1 :] or [0.0]
        server.start() if kind == "kill" else server.thaw()
        back = time.perf_counter()
        while store.degraded and time.perf_counter() - back < 30:
            timed(router)  # (a store probing inline needs requests to probe)
            time.sleep(0.001)
        resume = time.perf_counter() - back
        p50 = statistics.median(stalls)
        return Outage(first * 1e3, p50 * 1e3, max(stalls) * 1e3, len(stalls), resume, sum(c > SLOW for c in stalls))
    finally:
        server.stop()


def loop_lag(tasks: int, freeze: float) -> tuple[float, float]:
    """Max event-loop lag (ms) over ``freeze`` seconds with Redis answering, then frozen: users send
    at random moments (~10 requests/s each), a monitor sleeps 5 ms and records any overshoot."""
    server = RedisProcess()
    try:
        store = make_store(server.url, namespace="chaos-lag")
        router = AsyncRouter(load_config(CONFIG), store=store, client=AsyncInstant(), environ=KEYS)

        async def main() -> tuple[float, float]:
            running = True
            lags: list[float] = []

            async def user() -> None:
                while running:
                    await asyncio.sleep(random.uniform(0.0, 0.2))
                    await router.send(CHAT)

            async def monitor() -> None:
                while running:
                    t = time.perf_counter()
                    await asyncio.sleep(0.005)
                    lags.append(time.perf_counter() - t - 0.005)

            users = [asyncio.create_task(user()) for _ in range(tasks)]
            await asyncio.sleep(1.0)  # warm: every task has sent
            watch = asyncio.create_task(monitor())
            await asyncio.sleep(freeze)
            steady, lags[:] = max(lags), []
            server.freeze()
            await asyncio.sleep(freeze)
            frozen = max(lags)
            server.thaw()
            running = False
            await asyncio.gather(*users, watch)
            return steady * 1e3, frozen * 1e3

        return asyncio.run(main())
    finally:
        server.stop()




def double_applies(freezes: int) -> tuple[int, int, int]:
    """Updates applied twice in Redis, out of ``freezes`` updates each sent into a frozen Redis that
    wakes while the client re-sends (retries re-enabled under the store, as any client could)."""
    server = RedisProcess()
    try:
        store = make_store(server.url, namespace="chaos-once")
        client = store._client
        client.set_retry(Retry(ConstantBackoff(0.05), 8, supported_errors=(redis.ConnectionError, redis.TimeoutError)))
        key = "chaos-once:breaker:x"
        store.update(key, lambda s: (None, Applied((*s.ops, 0))), Applied)  # script loaded
        for op in range(1, freezes + 1):
            server.freeze()
            threading.Timer(0.4, server.thaw).start()
            store.update(key, lambda s, op=op: (None, Applied((*s.ops, op))), Applied)
            time.sleep(0.6)
            while store.degraded:
                time.sleep(0.05)
        raw = redis.Redis.from_url(server.url).get(key)
        from multiorg.stores import decode

        ops = decode(raw.partition(b"|")[2]).ops
        return len(ops) - len(set(ops)), freezes, getattr(store, "resent_writes", 0)
    finally:
        server.stop()


BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
) + "orgs: *i\n"


def bomb_time() -> tuple[int, float, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(BOMB)
    t = time.perf_counter()
    try:
        load_config(f.name)
        outcome = "accepted"
    except ConfigError as e:
        outcome = str(e).replace(f.name, "orgs.yaml")
    return len(BOMB), time.perf_counter() - t, outcome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outage", type=float, default=2.0, help="seconds Redis stays dead / frozen")
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--freezes", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=(), choices=("kill", "stop", "lag", "once", "bomb"))
    a = ap.parse_args()
    before = "RedisStore(redis.Redis(socket_timeout=0.25))"
    recipe = "RedisStore.from_url" if hasattr(RedisStore, "from_url") else before
    print(f"store: {recipe}")
    for kind in ("kill", "stop"):
        if kind in a.skip:
            continue
        o = outage(kind, a.outage)
        label = "kill -9 + restart" if kind == "kill" else f"SIGSTOP {a.outage:g}s + SIGCONT"
        print(
            f"{label:>24}: first timeout {o.first_timeout_ms:7.1f} ms | after it, per request: "
            f"p50 {o.stall_p50_ms:6.3f} ms, max {o.stall_max_ms:7.1f} ms, {o.slow} over {SLOW * 1e3:g} ms "
            f"(of {o.requests}) | "
            f"resumed {o.resume_s:5.2f} s after Redis was back"
        )
    if "lag" not in a.skip:
        steady, frozen = loop_lag(a.tasks, a.outage)
        print(
            f"{'loop lag':>24}: max {frozen:7.1f} ms while Redis was frozen {a.outage:g} s, "
            f"{steady:7.1f} ms while it answered ({a.tasks} tasks)"
        )
    if "once" not in a.skip:
        dup, n, resent = double_applies(a.freezes)
        print(
            f"{'double-applies':>24}: {dup} of {n} updates sent into a frozen Redis (client re-sending; "
            f"{resent} re-sent copies found their own nonce)"
        )
    if "bomb" not in a.skip:
        size, secs, outcome = bomb_time()
        print(f"{'alias bomb':>24}: {size} bytes, {secs * 1e3:.1f} ms: {outcome}")


if __name__ == "__main__":
    main()
