"""The async face's cost per request against the sync face's, in the same process and world.

    python benchmarks/async_face.py            # figures as text
    python benchmarks/async_face.py --json     # one JSON object
    python benchmarks/async_face.py --quick    # small runs (a smoke test)

The world is throughput.py's (4 OpenAI orgs in round robin, 4 pods, shared state, ``exponential``,
1 % background errors, 1M requests/day), run for a window of ``--fast-requests`` (fast mode) and
``--full-requests`` (full mode) requests, once per face: ``face="sync"`` (``multiorg.Router``, a
greenlet per request) and ``face="async"`` (``multiorg.AsyncRouter``, a task per request on
:class:`sim.aio.SimLoop`). The two runs decide identically (checked here: same attempts table),
so the difference is the face's own cost: asyncio tasks, futures and timer handles against
greenlet switches, plus in full mode ``httpx.AsyncClient`` against ``httpx.Client`` and the store
steps on simulated threads.

Per mode: ``sync_us`` / ``async_us`` — CPU µs per request (``time.process_time``: this machine is
shared; CPU time is what that disturbs least), best of ``--repeat`` runs, faces alternated;
``ratio`` = async_us / sync_us; ``max_in_flight`` (the same on both faces). Figures are printed,
never asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from throughput import DAY, POLICY, VOLUME, timed, world  # noqa: E402

import sim  # noqa: E402


def measure(mode: str, requests: int, repeat: int) -> dict[str, Any]:
    sc = world(DAY * requests / VOLUME)
    cpu = {"sync": float("inf"), "async": float("inf")}
    traces: dict[str, Any] = {}
    for _ in range(max(1, repeat)):
        for face in ("sync", "async"):
            traces[face] = None
            _, c, traces[face] = timed(lambda f=face: sim.run(sc, POLICY, mode=mode, face=f))
            cpu[face] = min(cpu[face], c)
    s, a = traces["sync"], traces["async"]
    same = all(np.array_equal(s.attempts[k], a.attempts[k]) for k in s.attempts)
    n = s.n_requests
    sync_us, async_us = cpu["sync"] / n * 1e6, cpu["async"] / n * 1e6
    return {"requests": n, "attempts": s.n_attempts, "sync_us": round(sync_us, 2), "async_us": round(async_us, 2),
            "ratio": round(async_us / sync_us, 3), "max_in_flight": a.meta["max_in_flight"],
            "same_decisions": bool(same)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast-requests", type=int, default=100_000)
    p.add_argument("--full-requests", type=int, default=10_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="2000/500 requests, one repeat")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.fast_requests, args.full_requests, args.repeat = 2000, 500, 1
    out = {"fast": measure("fast", args.fast_requests, args.repeat),
           "full": measure("full", args.full_requests, args.repeat)}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for mode, r in out.items():
            print(f"{mode:5} {r['requests']:>7} requests  sync {r['sync_us']:8.2f} µs/request  "
                  f"async {r['async_us']:8.2f} µs/request  async/sync {r['ratio']:.2f}  "
                  f"in flight {r['max_in_flight']}  same decisions: {r['same_decisions']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
