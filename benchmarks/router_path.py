"""The router on a run's own path, without the event loop around it.

    python benchmarks/router_path.py [--requests N] [--repeat R]

``benchmarks/throughput.py``'s ``router_core_us`` times the router against one canned 200. Here
the same world's four pods (shared state) route ``throughput.py``'s fast-mode traffic one request
after another, the clock set to each arrival, each attempt answered at once by the vendor model
(the fast-mode client with its sleep taken out: real rate-limit headers, errors, moving pacing
windows), the recorder replaced by a no-op observer. ``router_path_us`` = CPU per request minus
the vendor client's (timed around each send). Set beside ``router_core_us`` (the canned path) and
``benchmarks/router_share.py``'s ``router_us_in_situ`` (sampled in a run) it tells how much of the
router's cost in a run is its path and how much the simulator's code around it. Figures only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import throughput as tp  # noqa: E402

import sim  # noqa: E402
from multiorg.errors import NoOrgAvailable  # noqa: E402
from multiorg.vendors import ChatRequest  # noqa: E402
from sim.engine import Simulation  # noqa: E402
from sim.rng import Seeds  # noqa: E402
from sim.traffic import generate  # noqa: E402


class _Timed:
    """The vendor client, with the CPU each send takes added to ``spent[0]``."""

    def __init__(self, client: Any, spent: list[float]) -> None:
        self._send = client.send
        self._spent = spent

    def send(self, org: Any, key: str, request: Any, timeout: float) -> Any:
        t0 = time.process_time()
        try:
            return self._send(org, key, request, timeout)
        finally:
            self._spent[0] += time.process_time() - t0


def router_path_us(n_requests: int) -> tuple[float, float, int]:
    """(router µs per request, vendor client µs per request, requests)."""
    sc = tp.world(tp.DAY * n_requests / tp.VOLUME)
    run = Simulation(sc, sim.resolve_policy(tp.POLICY), "fast", sc.seed)
    env = run.env
    spent = [0.0]
    for router in run.pods.routers:
        router.client._sleep = lambda _delay: None  # type: ignore[attr-defined]  # answered at once
        router.client = _Timed(router.client, spent)
        router.core.observer = tp.QuietObserver()
    arrivals = generate(sc, Seeds(sc.seed))
    shapes: dict[tuple[int, int, int], ChatRequest] = {}
    requests = []
    for m, p, mx in zip(arrivals.model.tolist(), arrivals.prompt_tokens.tolist(), arrivals.max_tokens.tolist(),
                        strict=True):
        req = shapes.get((m, p, mx))
        if req is None:
            req = shapes[(m, p, mx)] = ChatRequest(arrivals.models[m], ({"role": "user", "content": "x" * 4 * p},),
                                                   None, mx, {}, p)
        requests.append(req)
    sends = [r.send for r in run.pods.routers]
    pods, times = arrivals.pod.tolist(), arrivals.time.tolist()
    t0 = time.process_time()
    for j, req in enumerate(requests):
        env._now = times[j]
        try:  # noqa: SIM105  (a try costs less per request than a with-block)
            sends[pods[j]](req, j)
        except NoOrgAvailable:
            pass
    cpu = time.process_time() - t0
    n = len(requests)
    return (cpu - spent[0]) / n * 1e6, spent[0] / n * 1e6, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2, help="best of this many")
    args = ap.parse_args()
    runs = [router_path_us(args.requests) for _ in range(args.repeat)]
    router, vendor, n = min(runs)
    core = min(tp.router_core_us() for _ in range(args.repeat))
    print(f"requests            {n}")
    print(f"router_path_us      {router:.2f}   (the run's path, no event loop)")
    print(f"vendor_client_us    {vendor:.2f}   (the vendor model and the client, timed around each send)")
    print(f"router_core_us      {core:.2f}   (throughput.py: one canned 200)")
    print(f"path_over_core      {router / core:.2f}")


if __name__ == "__main__":
    main()
