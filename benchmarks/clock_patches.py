"""What the wall-clock patches (sim.wallclock) cost: per call of each patched function, unpatched vs
patched outside a simulated request (the lab's own code, other threads) vs inside one; and a whole
run of a router with the patches on and off.

    python benchmarks/clock_patches.py [--calls 200000] [--requests-scale 1.0]

Prints figures; asserts nothing (timings belong in notes, not tests).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from examples.async_router import make_router as async_router
from examples.my_router import make_router as injected_router
from examples.sdk_pybreaker_router import make_router as sdk_router
from sim import Scenario
from sim.byo import run_own_router


def calls(n: int) -> dict[str, Callable[[], float]]:
    """name -> a loop of ``n`` calls of one clock function; returns ns per call."""
    def loop(fn: Callable[[], Any]) -> Callable[[], float]:
        def run() -> float:
            t0 = _real_ns()
            for _ in range(n):
                fn()
            return (_real_ns() - t0) / n
        return run

    def asleep0() -> None:  # asyncio.sleep(0) driven by hand (no event loop needed inside a request)
        with contextlib.suppress(StopIteration):
            asyncio.sleep(0).send(None)

    return {
        "time.time": loop(lambda: time.time()),
        "time.time_ns": loop(lambda: time.time_ns()),
        "time.monotonic": loop(lambda: time.monotonic()),
        "time.perf_counter": loop(lambda: time.perf_counter()),
        "datetime.now(UTC)": loop(lambda: dt.datetime.now(dt.UTC)),
        "time.sleep(0)": loop(lambda: time.sleep(0)),
        "asyncio.sleep(0)": loop(asleep0),
    }


_real_ns = time.perf_counter_ns  # the benchmark's own stopwatch: bound before anything is patched


def world(scale: float) -> Scenario:
    orgs = [{"name": f"o{i}", "limits": {"gpt-4o-mini": {"rpm": 1_000_000, "tpm": 5_000_000_000}},
             "latency": {"median": 0.5, "p99": 2.0}} for i in range(1, 5)]
    return Scenario.model_validate({
        "name": "clock-patches", "seed": 3, "duration": 3600.0, "pods": 2, "state": "shared",
        "vendors": {"openai": {"orgs": orgs}},
        "faults": [{"kind": "lockout", "target": "o1", "start": 600, "end": 1800}],
        "traffic": {"daily_volume": 86_400 * 2 * scale, "prompt_tokens": {"median": 100},
                    "max_tokens": {"median": 50}},
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--requests-scale", type=float, default=1.0, help="x 2 requests/s for an hour")
    args = ap.parse_args()
    n = args.calls

    base = {k: f() for k, f in calls(n).items()}
    inside: dict[str, float] = {}
    outside: dict[str, float] = {}

    def factory():
        def handler(body: dict[str, Any]) -> Any:
            if not inside:
                inside.update({k: f() for k, f in calls(n).items()})
            return {"ok": True}
        return handler

    def progress(done: float, total: float) -> None:
        if not outside:
            outside.update({k: f() for k, f in calls(n).items()})

    run_own_router(world(0.01), factory, progress=progress)
    print(f"per call, ns ({n:,} calls each; CPython {sys.version.split()[0]})")
    print(f"{'function':<20}{'unpatched':>12}{'outside':>12}{'inside':>12}")
    for k in base:
        print(f"{k:<20}{base[k]:>12.0f}{outside[k]:>12.0f}{inside[k]:>12.0f}")
    print("(time.sleep(0) / asyncio.sleep(0) inside: a real suspension in simulated time, i.e. a greenlet "
          "switch through the hub)")

    sc = world(args.requests_scale)
    print(f"\nwhole run: {sc.name}, 1 h at 2 req/s x {args.requests_scale:g}")
    for label, fac in (("my_router (injected clock)", functools.partial(injected_router, threshold=3)),
                       ("sdk_pybreaker_router (wall clock)", functools.partial(sdk_router, fail_max=3)),
                       ("async_router (wall clock, async face)", functools.partial(async_router, threshold=3))):
        for wall in (False, True):
            if not wall and "wall clock" in label:
                continue  # without the patches it would read real time: not the same run
            t0 = _real_ns()
            t = run_own_router(sc, fac, wallclock=wall)
            secs = (_real_ns() - t0) / 1e9
            print(f"  {label:<40} wallclock={'on ' if wall else 'off'} {secs:7.2f} s  "
                  f"{t.n_requests:,} requests  {secs / t.n_requests * 1e6:7.0f} us/request")


if __name__ == "__main__":
    main()
