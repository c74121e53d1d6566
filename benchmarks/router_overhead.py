"""Per-request overhead of the sync Router, and Redis round trips per request.

    python benchmarks/router_overhead.py             # figures as text
    python benchmarks/router_overhead.py --json      # figures as one JSON object
    python benchmarks/router_overhead.py --profile   # plus a cProfile of the hot path

1. **Overhead** (target ≤ 25 µs): the sync :class:`~multiorg.Router` over a no-op in-process
   vendor client that returns a canned 200 ``VendorResponse``; MemoryStore, the ``exponential``
   policy, 4 orgs, round robin, the production ``SystemClock``. The no-op client's own cost is
   measured separately and subtracted, so the figure is the router's alone.
2. **Redis round trips** (target ≤ 1 per request on average in steady state): the same router
   over a :class:`~multiorg.stores.RedisStore` on a real local Redis (``REDIS_URL``, or a
   ``redis-server`` started here on a free loopback port with persistence off). Counted by the
   store's ``round_trips`` counter after a warm-up; all-success traffic, and traffic where one
   org of four fails 5% of its calls (failures are writes). Skipped with a message when no Redis
   can be had.

Figures are printed, never asserted (design.md: no timing assertions in tests).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from multiorg import ChatRequest, Router, SystemClock, VendorResponse, load_config  # noqa: E402
from multiorg.stores.memory import MemoryStore  # noqa: E402

ORGS = ("primary", "secondary1", "secondary2", "secondary3")
MODEL = "gpt-4o-mini"
ENV = {f"KEY_{i}": f"sk-bench-{i}" for i in range(len(ORGS))}
CONFIG = load_config(
    {
        "orgs": [{"name": n, "org_id": f"org-{n}", "api_key_env": f"KEY_{i}"} for i, n in enumerate(ORGS)],
        "router": {"strategy": "round_robin"},
        "breaker": {"policy": "exponential"},
    },
    name="benchmark",
)
REQUEST = ChatRequest.from_openai(
    {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], "temperature": 0}
)
CANNED = VendorResponse(
    200,
    {
        "x-ratelimit-remaining-requests": "4999",
        "x-ratelimit-limit-requests": "5000",
        "x-ratelimit-remaining-tokens": "159976",
    },
    {"id": "chatcmpl-1", "object": "chat.completion", "choices": []},
)
FAILED = VendorResponse(
    500, {}, {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
)


class NoopClient:
    """The fastest possible vendor: a canned 200."""

    __slots__ = ()

    def send(self, org: Any, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        return CANNED


class FlakyClient:
    """A canned 200, except that one org fails ``rate`` of its calls (seeded)."""

    def __init__(self, org: str, rate: float, seed: int = 1) -> None:
        self.org, self.rate, self.rng = org, rate, random.Random(seed)

    def send(self, org: Any, api_key: str, request: ChatRequest, timeout: float) -> VendorResponse:
        if org.name == self.org and self.rng.random() < self.rate:
            return FAILED
        return CANNED


def _best_per_call(fn: Callable[[], Any], n: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds per call of ``fn`` over ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def measure_overhead(n: int, repeat: int) -> dict[str, float]:
    router = Router(
        CONFIG, client=NoopClient(), store=MemoryStore(), clock=SystemClock(), rng=random.Random(1), environ=ENV
    )
    org = CONFIG.orgs[0]
    client = NoopClient()
    send = router.send
    for _ in range(2000):  # warm caches (serving lists, breaker keys, selector state)
        send(REQUEST)
    client_s = _best_per_call(lambda: client.send(org, "k", REQUEST, 30.0), n, repeat)
    total_s = _best_per_call(lambda: send(REQUEST), n, repeat)
    return {
        "requests": n,
        "repeat": repeat,
        "total_us_per_request": total_s * 1e6,
        "noop_client_us_per_call": client_s * 1e6,
        "router_overhead_us_per_request": (total_s - client_s) * 1e6,
        "target_us": 25.0,
    }


def profile_hot_path(n: int, top: int = 25) -> str:
    router = Router(
        CONFIG, client=NoopClient(), store=MemoryStore(), clock=SystemClock(), rng=random.Random(1), environ=ENV
    )
    send = router.send
    for _ in range(1000):
        send(REQUEST)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        send(REQUEST)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------- redis


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_url() -> Iterator[str | None]:
    """``REDIS_URL``, or a throwaway local redis-server; ``None`` when neither is available."""
    import redis

    env = os.environ.get("REDIS_URL")
    if env:
        yield env
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(url, socket_connect_timeout=0.2).ping():
                    break
            except redis.RedisError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                yield None
                return
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure_redis(url: str, n: int, staleness: float) -> dict[str, Any]:
    import redis

    from multiorg.stores.redis import RedisStore

    results: dict[str, Any] = {"requests": n, "staleness_s": staleness, "target_round_trips": 1.0}
    for label, client in (("all_success", NoopClient()), ("one_org_5pct_failures", FlakyClient(ORGS[1], 0.05))):
        namespace = f"bench-{os.getpid()}-{label}"
        conn = redis.Redis.from_url(url, socket_connect_timeout=0.25, socket_timeout=0.25)
        cfg = CONFIG.model_copy(update={"router": CONFIG.router.model_copy(update={"namespace": namespace})})
        store = RedisStore(conn, SystemClock(), namespace=namespace, staleness=staleness)
        router = Router(cfg, client=client, store=store, clock=SystemClock(), rng=random.Random(1), environ=ENV)
        for _ in range(2000):  # warm-up: script loaded, every key cached once
            router.send(REQUEST)
        before = store.round_trips
        t0 = time.perf_counter()
        for _ in range(n):
            router.send(REQUEST)
        elapsed = time.perf_counter() - t0
        trips = store.round_trips - before
        results[label] = {
            "round_trips": trips,
            "round_trips_per_request": trips / n,
            "us_per_request": elapsed / n * 1e6,
            "wall_s": elapsed,
            "degraded": store.degraded,
        }
        with contextlib.suppress(redis.RedisError):
            keys = list(conn.scan_iter(match=f"{namespace}:*"))
            if keys:
                conn.delete(*keys)
        conn.close()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=100_000, help="requests per timing run")
    ap.add_argument("--repeat", type=int, default=5, help="timing runs (the best is reported)")
    ap.add_argument("--redis-requests", type=int, default=50_000)
    ap.add_argument("--staleness", type=float, default=1.0, help="RedisStore read-cache staleness (s)")
    ap.add_argument("--no-redis", action="store_true", help="skip the Redis figures")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the hot path")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)

    report: dict[str, Any] = {"python": sys.version.split()[0], "orgs": len(ORGS), "policy": "exponential"}
    report["memory"] = measure_overhead(args.requests, args.repeat)
    if args.no_redis:
        report["redis"] = {"skipped": "--no-redis"}
    else:
        with redis_url() as url:
            if url is None:
                report["redis"] = {"skipped": "no REDIS_URL and no usable redis-server binary"}
            else:
                report["redis"] = measure_redis(url, args.redis_requests, args.staleness)
    profile = profile_hot_path(min(args.requests, 50_000)) if args.profile else None

    if args.json:
        if profile is not None:
            report["profile"] = profile
        print(json.dumps(report, indent=2))
        return 0
    m = report["memory"]
    print(f"router overhead (MemoryStore, exponential, {len(ORGS)} orgs, round robin, sync Router)")
    print(f"  total per request       {m['total_us_per_request']:8.2f} µs")
    print(f"  no-op client per call   {m['noop_client_us_per_call']:8.2f} µs")
    verdict = "ok" if m["router_overhead_us_per_request"] <= m["target_us"] else "OVER TARGET"
    print(
        f"  router overhead         {m['router_overhead_us_per_request']:8.2f} µs"
        f"   (target ≤ {m['target_us']:g} µs: {verdict})"
    )
    r = report["redis"]
    if "skipped" in r:
        print(f"redis: skipped ({r['skipped']})")
    else:
        print(f"redis round trips (RedisStore on a local Redis, staleness {r['staleness_s']:g} s)")
        for label in ("all_success", "one_org_5pct_failures"):
            x = r[label]
            verdict = "ok" if x["round_trips_per_request"] <= r["target_round_trips"] else "OVER TARGET"
            print(
                f"  {label:24s} {x['round_trips_per_request']:.4f} round trips/request "
                f"({x['round_trips']} over {r['requests']}), {x['us_per_request']:.1f} µs/request"
                f"   (target ≤ 1: {verdict})"
            )
    if profile is not None:
        print(profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
