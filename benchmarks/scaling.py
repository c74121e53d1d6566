"""Per-request cost of the simulator from 10k to 1M requests (fast mode): it should stay flat.

    python benchmarks/scaling.py            # a table
    python benchmarks/scaling.py --json     # one JSON object
    python benchmarks/scaling.py --sizes 10000,100000

Each size is one ``sim.run`` of the benchmark world (4 OpenAI orgs, 4 pods, shared state,
``exponential``, 1M requests/day) over a window long enough for that many requests, timed whole
(traffic generation, the run, the trace), best of ``--repeat`` runs. Reported per request: wall
and CPU microseconds, the ratio to the smallest size, and the trace's bytes per attempt;
``flat`` says whether every size is within ±20 % of the first (CPU time, which a shared machine
disturbs least). A small unmeasured run goes first (warm-up). Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import DAY, POLICY, VOLUME, world  # noqa: E402

import sim  # noqa: E402

SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per size")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    # One small run first, not measured: the first run in a process also pays one-time costs
    # (lazy imports, the interpreter's warm-up), which would be charged to the smallest size.
    sim.run(world(DAY * 2_000 / VOLUME), POLICY, mode="fast")
    rows = []
    for size in sizes:
        sc = world(DAY * size / VOLUME)
        wall = cpu = float("inf")
        for _ in range(max(1, args.repeat)):
            trace = None  # one run's trace alive at a time: the RSS column is one run's memory
            w0, c0 = time.perf_counter(), time.process_time()
            trace = sim.run(sc, POLICY, mode="fast")
            wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
        n = trace.n_requests
        per_attempt = sum(a.nbytes for a in trace.attempts.values()) / max(trace.n_attempts, 1)
        rows.append({"requests": n, "wall_us_per_request": wall / n * 1e6, "cpu_us_per_request": cpu / n * 1e6,
                     "bytes_per_attempt": per_attempt,
                     "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})
        del trace
    base = rows[0]["cpu_us_per_request"]
    for r in rows:
        r["cpu_ratio_to_first"] = r["cpu_us_per_request"] / base
    flat = all(0.8 <= r["cpu_ratio_to_first"] <= 1.2 for r in rows)
    out = {"rows": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
           "flat_within_20pct": flat}
    if args.json:
        print(json.dumps(out))
    else:
        head = ("requests", "wall us/req", "cpu us/req", "cpu ratio", "B/attempt", "rss MB")
        print("{:>10} {:>12} {:>11} {:>10} {:>10} {:>8}".format(*head))
        for r in out["rows"]:
            print(f"{r['requests']:>10} {r['wall_us_per_request']:>12.1f} {r['cpu_us_per_request']:>11.1f} "
                  f"{r['cpu_ratio_to_first']:>10.2f} {r['bytes_per_attempt']:>10.0f} {r['peak_rss_mb']:>8.0f}")
        print(f"flat within ±20 %: {flat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
