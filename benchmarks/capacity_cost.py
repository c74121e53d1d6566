"""What dedicated capacity (sim.capacity) costs per request, in fast mode.

    python benchmarks/capacity_cost.py               # figures as text
    python benchmarks/capacity_cost.py --json        # one JSON object

Three worlds, the same traffic (benchmarks/throughput.py's 1M-requests/day world: 4 OpenAI orgs,
4 pods, shared state, ``exponential``, 1 % errors), run in turns, best CPU time of ``--repeat``:

``plain``        the world as it is (no capacity: the cost every existing scenario pays);
``provisioned``  each org also has a provisioned deployment (``tpm`` well above its traffic);
``pool``         the four orgs front one shared pool (4 replicas x 16 sequences, about 60 % busy).

Reported: CPU µs per request of each, and the ratios to ``plain`` (within one run; this machine
is shared, so absolute figures are inflated and the ratios are what to read).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from throughput import POLICY, VOLUME, world  # noqa: E402

import sim  # noqa: E402

POOL = {"kind": "pool", "replicas": 4, "concurrency": 16, "prefill": "100ms", "tpot": "15ms",
        "batch_slowdown": "1%", "queue": 256, "queue_timeout": "30s"}  # fmt: skip


def with_capacity(sc: sim.Scenario, kind: str) -> sim.Scenario:
    orgs = [o.model_dump(exclude_unset=True) for o in sc.vendors["openai"].orgs]
    if kind == "provisioned":
        orgs = [{**o, "capacity": {"kind": "provisioned", "tpm": "100M"}} for o in orgs]
    elif kind == "pool":
        orgs = [{**o, "capacity": POOL if i == 0 else orgs[0]["name"]} for i, o in enumerate(orgs)]
    data = sc.model_dump(exclude_unset=True)
    data["vendors"] = {"openai": {**data["vendors"]["openai"], "orgs": orgs}}
    return sim.Scenario.model_validate(data)


def cpu_us(sc: sim.Scenario) -> tuple[float, int]:
    c0 = time.process_time()
    trace = sim.run(sc, POLICY)
    return (time.process_time() - c0) / trace.n_requests * 1e6, trace.n_requests


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    base = world(args.requests / VOLUME * 86400.0)
    worlds = {"plain": base, "provisioned": with_capacity(base, "provisioned"), "pool": with_capacity(base, "pool")}
    best: dict[str, float] = {k: float("inf") for k in worlds}
    n: dict[str, int] = {}
    for _ in range(args.repeat):
        for name, sc in worlds.items():  # in turns: a slow moment hits every world alike
            us, n[name] = cpu_us(sc)
            best[name] = min(best[name], us)
    out: dict[str, Any] = {f"{k}_cpu_us": round(v, 2) for k, v in best.items()}
    out["requests"] = n
    for k in ("provisioned", "pool"):
        out[f"{k}_ratio"] = round(best[k] / best["plain"], 3)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:22s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
