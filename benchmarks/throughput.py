"""Simulator throughput: fast and full mode against bare simpy and bare httpx+respx, and a 1M-request day.

    python benchmarks/throughput.py            # figures as text
    python benchmarks/throughput.py --json     # one JSON object
    python benchmarks/throughput.py --quick    # smaller runs, no 1M day (a smoke test)

What is measured (wall time, ``time.perf_counter``; CPU time is reported beside it because this
machine may be shared — on a quiet machine the two agree):

``fast_rps``        ``sim.run`` in fast mode (traffic generation, the run, the trace) over a
                    window of a 1M-requests/day world: 4 OpenAI orgs, 4 pods, shared state,
                    ``exponential`` breaker, 1 % background errors.
``bare_simpy_rps``  a bare simpy loop with the same arrival times and the same latency timeouts
                    (lognormal, the orgs' median/p99), no router: the idiomatic simpy program —
                    one arrival process, one ``Process`` per request that yields its timeout.
``fast_ratio``      fast_rps / bare_simpy_rps (target >= 0.4); ``fast_ratio_cpu`` the same on CPU
                    time (what a shared machine disturbs least).
``full_rps``        ``sim.run`` in full mode (httpx → respx → vendor model, state in fakeredis)
                    on a smaller window of the same world.
``bare_respx_rps``  the same number of bare httpx requests through a respx route whose side
                    effect answers a canned OpenAI success with rate-limit headers (same request
                    bodies, same prompt sizes), no router, no simulation.
``full_ratio``      full_rps / bare_respx_rps (target >= 0.5).
``fast_token_cpu_us_per_request``  fast mode's CPU µs per request in the same world with
                    token-aware latency (:data:`TOKEN_LATENCY`: TTFT + output tokens x TPOT, about
                    the shorthand's median); ``token_latency_cpu_ratio`` = that / ``fast``'s.
``day_1m_seconds``  wall time of a whole simulated day at 1M requests, fast mode;
                    ``day_1m_cpu_seconds`` its CPU time (target <= 15 s on one core).
``peak_rss_mb``     peak resident memory of this process (target <= 1024).

Also: ``router_core_us`` — the multiorg router alone per request (a no-op vendor client, no
simulation; the floor under ``fast``'s cost), ``fast_ratio_ceiling`` = bare simpy CPU µs /
``router_core_us`` (the best ``fast_ratio`` a zero-cost simulator around this router could
reach), ``sim_overhead_cpu_us`` = fast CPU µs - ``router_core_us``, ``sim_overhead_ratio`` =
``sim_overhead_cpu_us`` / ``router_core_us`` (what the simulator costs around the router, in
routers: target <= 1.0, i.e. fast CPU µs <= 2 x ``router_core_us``), and per-request costs in µs.
``router_core_us`` is the router on a cheap path, alone in a loop: in a run the same router costs
~1.6-1.8x that, mostly because of its path (``benchmarks/router_path.py``: this world's own replies,
no event loop; ``benchmarks/router_share.py``: sampled in the run).
Each figure, the 1M day included, is the best of ``--repeat`` runs (this machine is shared: the
minimum is the least disturbed run). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import respx  # noqa: E402
import simpy  # noqa: E402

import sim  # noqa: E402
from sim import wire  # noqa: E402
from sim.rng import Seeds  # noqa: E402
from sim.traffic import generate  # noqa: E402

DAY = 86400.0
VOLUME = 1_000_000
POLICY = "exponential"
MEDIAN, P99 = 0.8, 4.0
#: token-aware latency with about the shorthand's median (0.3 s + ~180 tokens x 3 ms)
TOKEN_LATENCY = {"ttft": {"median": 0.3, "p99": 1.5}, "tpot": {"median": 0.003, "p99": 0.006}}


def world(duration: float, *, pods: int = 4, volume: float = VOLUME, seed: int = 1,
          latency: dict[str, Any] | None = None) -> sim.Scenario:
    """4 OpenAI orgs in round robin at 1M requests/day (the seed's secondary1..4)."""
    limits = {"gpt-4o-mini": {"rpm": 30_000, "tpm": 150_000_000}}
    return sim.Scenario.model_validate({
        "name": "bench",
        "seed": seed,
        "duration": duration,
        "pods": pods,
        "state": "shared",
        "vendors": {"openai": {"orgs": [
            {"name": f"secondary{i}", "org_id": f"org-secondary{i}", "limits": limits,
             "latency": latency or {"median": MEDIAN, "p99": P99}, "error_rate": 0.01}
            for i in range(1, 5)
        ]}},
        "traffic": {"daily_volume": volume, "prompt_tokens": {"median": 600, "p99": 3000},
                    "max_tokens": {"median": 300}},
    })


def timed(fn: Any) -> tuple[float, float, Any]:
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w0, time.process_time() - c0, out


def best(repeat: int, fn: Any) -> tuple[float, float, Any]:
    """Best wall and CPU time of ``repeat`` runs, and the last run's result (only one result is
    alive at a time, so peak memory is one run's)."""
    wall = cpu = float("inf")
    out = None
    for _ in range(max(1, repeat)):
        out = None
        w, c, out = timed(fn)
        wall, cpu = min(wall, w), min(cpu, c)
    return wall, cpu, out


# --------------------------------------------------------------------------- the baselines


def bare_simpy(times: np.ndarray, latencies: np.ndarray) -> int:
    env = simpy.Environment()
    t_list = times.tolist()
    l_list = latencies.tolist()

    def request(env: simpy.Environment, lat: float):
        yield env.timeout(lat)

    def arrivals(env: simpy.Environment):
        for t, lat in zip(t_list, l_list, strict=True):
            yield env.timeout(t - env.now)
            env.process(request(env, lat))

    env.process(arrivals(env))
    env.run()
    return len(t_list)


def bare_respx(prompt_tokens: np.ndarray, max_tokens: np.ndarray) -> int:
    url = "https://api.openai.com/v1/chat/completions"
    mock = respx.MockRouter(assert_all_called=False)
    headers = {
        "content-type": "application/json", "x-ratelimit-limit-requests": "30000",
        "x-ratelimit-limit-tokens": "150000000", "x-ratelimit-remaining-requests": "29999",
        "x-ratelimit-remaining-tokens": "149999100", "x-ratelimit-reset-requests": "2ms",
        "x-ratelimit-reset-tokens": "1ms", "openai-organization": "org-secondary1",
        "openai-processing-ms": "800", "x-request-id": "req_1",
    }
    body = wire.openai_success("gpt-4o-mini", "1", 600, 180)
    content = json.dumps(body, separators=(",", ":")).encode()

    def answer(request: httpx.Request) -> httpx.Response:
        json.loads(request.content)
        return httpx.Response(200, headers=headers, content=content, request=request)

    mock.post(url).mock(side_effect=answer)
    client = httpx.Client(transport=httpx.MockTransport(mock.handler))
    pad = "x" * 4096
    n = 0
    for p, m in zip(prompt_tokens.tolist(), max_tokens.tolist(), strict=True):
        text = (pad * (4 * p // 4096 + 1))[: 4 * p]
        req = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], "max_tokens": m}
        auth = {"authorization": "Bearer sk-sim-secondary1", "content-type": "application/json"}
        resp = client.post(url, headers=auth, content=json.dumps(req, separators=(",", ":")).encode(), timeout=30.0)
        json.loads(resp.content)
        n += 1
        if n % 1024 == 0:
            mock.reset()
    return n


class QuietObserver:
    """An observer that records nothing (the router's own cost, without the recorder's)."""

    def attempt(self, *a: Any) -> None:
        pass

    def request(self, *a: Any) -> None:
        pass


def router_core_us(n: int = 50_000) -> float:
    """The multiorg router alone: a no-op vendor client returning a canned 200."""
    from multiorg.client import VendorResponse
    from multiorg.clock import ManualClock
    from multiorg.router import Router
    from multiorg.stores.memory import MemoryStore
    from multiorg.vendors import ChatRequest

    sc = world(3600.0)
    clock = ManualClock(1.7e9)
    headers = {"x-ratelimit-limit-requests": "30000", "x-ratelimit-remaining-requests": "29999",
               "x-ratelimit-limit-tokens": "150000000", "x-ratelimit-remaining-tokens": "149999100"}
    resp = VendorResponse(200, headers, {})

    class NoOp:
        def send(self, org: Any, key: str, request: Any, timeout: float) -> VendorResponse:
            clock.advance(0.001)
            return resp

    router = Router(sc.multiorg_config(0), client=NoOp(), store=MemoryStore(), clock=clock, rng=random.Random(1),
                    policy=sim.resolve_policy(POLICY), observer=QuietObserver(), environ=sc.environ())
    req = ChatRequest("gpt-4o-mini", ({"role": "user", "content": "x" * 2400},), None, 300, {}, 600)
    t0 = time.process_time()
    for i in range(n):
        router.send(req, i)
    return (time.process_time() - t0) / n * 1e6


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--quick", action="store_true", help="small runs and no 1M day (smoke test)")
    ap.add_argument("--fast-requests", type=int, default=200_000)
    ap.add_argument("--full-requests", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per figure")
    ap.add_argument("--no-day", action="store_true", help="skip the 1M-request day")
    args = ap.parse_args(argv)
    if args.quick:
        args.fast_requests, args.full_requests, args.repeat, args.no_day = 20_000, 2_000, 1, True

    out: dict[str, Any] = {}
    # fast mode vs bare simpy, on the same arrivals
    fast_sc = world(DAY * args.fast_requests / VOLUME)
    wall, cpu, trace = best(args.repeat, lambda: sim.run(fast_sc, POLICY, mode="fast"))
    n = trace.n_requests
    out.update(fast_requests=n, fast_rps=n / wall, fast_us_per_request=wall / n * 1e6,
               fast_cpu_us_per_request=cpu / n * 1e6, fast_attempts=trace.n_attempts)
    arrivals = generate(fast_sc, Seeds(fast_sc.seed))
    sigma = math.log(P99 / MEDIAN) / 2.3263478740408408
    lat = MEDIAN * np.exp(sigma * np.random.default_rng(2).standard_normal(len(arrivals)))
    wall_b, cpu_b, _ = best(args.repeat, lambda: bare_simpy(arrivals.time, lat))
    out.update(bare_simpy_rps=len(arrivals) / wall_b, bare_simpy_us_per_request=wall_b / len(arrivals) * 1e6,
               bare_simpy_cpu_us_per_request=cpu_b / len(arrivals) * 1e6)
    out["fast_ratio"] = out["fast_rps"] / out["bare_simpy_rps"]
    out["fast_ratio_cpu"] = out["bare_simpy_cpu_us_per_request"] / out["fast_cpu_us_per_request"]
    # the same world with token-aware latency: what drawing TTFT, TPOT and the completion costs
    token_sc = world(DAY * args.fast_requests / VOLUME, latency=TOKEN_LATENCY)
    _, cpu, trace = best(args.repeat, lambda: sim.run(token_sc, POLICY, mode="fast"))
    out["fast_token_cpu_us_per_request"] = cpu / trace.n_requests * 1e6
    out["token_latency_cpu_ratio"] = out["fast_token_cpu_us_per_request"] / out["fast_cpu_us_per_request"]

    # full mode vs bare httpx + respx
    full_sc = world(DAY * args.full_requests / VOLUME)
    wall, cpu, trace = best(args.repeat, lambda: sim.run(full_sc, POLICY, mode="full"))
    n = trace.n_requests
    out.update(full_requests=n, full_rps=n / wall, full_us_per_request=wall / n * 1e6,
               full_cpu_us_per_request=cpu / n * 1e6)
    a = generate(full_sc, Seeds(full_sc.seed))
    wall_r, cpu_r, m = best(args.repeat, lambda: bare_respx(a.prompt_tokens, a.max_tokens))
    out.update(bare_respx_rps=m / wall_r, bare_respx_us_per_request=wall_r / m * 1e6,
               bare_respx_cpu_us_per_request=cpu_r / m * 1e6)
    out["full_ratio"] = out["full_rps"] / out["bare_respx_rps"]
    out["full_ratio_cpu"] = out["bare_respx_cpu_us_per_request"] / out["full_cpu_us_per_request"]

    out["router_core_us"] = min(router_core_us() for _ in range(args.repeat))
    # the best fast_ratio any simulator could reach around this router: bare simpy / router alone
    out["fast_ratio_ceiling"] = out["bare_simpy_cpu_us_per_request"] / out["router_core_us"]
    out["sim_overhead_cpu_us"] = out["fast_cpu_us_per_request"] - out["router_core_us"]
    out["sim_overhead_ratio"] = out["sim_overhead_cpu_us"] / out["router_core_us"]

    if not args.no_day:
        day = world(DAY)
        wall, cpu, trace = best(args.repeat, lambda: sim.run(day, POLICY, mode="fast"))
        out.update(day_1m_seconds=wall, day_1m_cpu_seconds=cpu, day_1m_requests=trace.n_requests,
                   day_1m_attempts=trace.n_attempts)
        del trace
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    out["targets"] = {
        "fast_ratio>=0.4": out["fast_ratio"] >= 0.4,
        "full_ratio>=0.5": out["full_ratio"] >= 0.5,
        "sim_overhead_ratio<=1.0": out["sim_overhead_ratio"] <= 1.0,
        "day_1m_cpu_seconds<=15": out.get("day_1m_cpu_seconds", math.inf) <= 15.0,
        "peak_rss_mb<=1024": out["peak_rss_mb"] <= 1024.0,
    }
    out = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:34s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
