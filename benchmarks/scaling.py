"""Per-request cost of the simulator from 10k to 1M requests (10M with ``--10m``), fast mode:
CPU time and memory per request should stay flat.

    python benchmarks/scaling.py            # a table: 10k .. 1M
    python benchmarks/scaling.py --10m      # ... and 3M, 10M (minutes)
    python benchmarks/scaling.py --json     # one JSON object
    python benchmarks/scaling.py --sizes 10000,100000

Each size runs in a process of its own (so its peak RSS is its own, not the largest run's so
far): a small unmeasured run first (the one-time costs: lazy imports, warm-up), the resident
memory then (``base_rss_mb``), then ``sim.run`` of the benchmark world (4 OpenAI orgs, 4 pods,
shared state, ``exponential``, 1M requests/day) over a window long enough for that many
requests, timed whole (traffic generation, the run, the trace), best of ``--repeat`` runs.
Reported per request: wall and CPU microseconds, the CPU ratio to the smallest size, the
trace's bytes per attempt in memory (``bytes_per_attempt``: its compressed chunks) and on disk
(``trace_bytes_per_attempt``, the saved file), ``peak_rss_mb`` (``peak_rss_mb_per_worker``: the
largest over sizes) and ``rss_bytes_per_request`` = (peak RSS - base RSS) / requests.
``flat`` says whether every size's CPU µs per request is within ±20 % of the first (CPU time,
which a shared machine disturbs least); ``rss_flat`` the same for RSS per request, compared
from 100k requests up (below that the base memory's noise is larger than the run's memory);
``peak_rss_flat`` whether the peak RSS itself is, from 300k requests up (a smaller run does not
fill one trace chunk of 262,144 rows; memory flat in volume: the trace's chunks are on disk,
``chunk_mb_in_memory`` the compressed bytes still in memory).
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import DAY, POLICY, VOLUME, world  # noqa: E402

import sim  # noqa: E402

SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
SIZES_10M = (3_000_000, 10_000_000)
#: sizes from which RSS per request is compared (smaller runs are dominated by the base memory)
RSS_FROM = 100_000
#: sizes from which peak RSS is compared: a run of fewer requests than a trace chunk
#: (sim.trace.CHUNK_ROWS = 262,144 rows) never fills the recorder's buffers
PEAK_FROM = 300_000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one_size(size: int, repeat: int) -> dict[str, Any]:
    """Measure one size in this process (called in a child process by :func:`main`)."""
    sim.run(world(DAY * 2_000 / VOLUME), POLICY, mode="fast")
    base = _rss_mb()
    sc = world(DAY * size / VOLUME)
    wall = cpu = float("inf")
    trace = None
    for _ in range(max(1, repeat)):
        trace = None  # one run's trace alive at a time: the peak is one run's memory
        w0, c0 = time.perf_counter(), time.process_time()
        trace = sim.run(sc, POLICY, mode="fast")
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    assert trace is not None
    n = trace.n_requests
    peak = _rss_mb()
    tables = [getattr(trace, t).stored() for t in ("requests", "attempts", "events")]
    held = sum(t.nbytes_stored() for t in tables)
    in_memory = sum(t.nbytes_in_memory() for t in tables)
    per_attempt = held / max(trace.n_attempts, 1)
    with tempfile.TemporaryDirectory() as d:
        on_disk = trace.save(Path(d) / "t.npz").stat().st_size / max(trace.n_attempts, 1)
    return {"requests": n, "attempts": trace.n_attempts, "wall_us_per_request": wall / n * 1e6,
            "cpu_us_per_request": cpu / n * 1e6, "bytes_per_attempt": per_attempt,
            "chunk_mb_in_memory": in_memory / 2**20,
            "trace_bytes_per_attempt": on_disk, "base_rss_mb": base,
            "peak_rss_mb": peak, "rss_bytes_per_request": (peak - base) * 1024 * 1024 / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    ap.add_argument("--10m", dest="ten_m", action="store_true", help="add 3M and 10M requests (minutes)")
    ap.add_argument("--repeat", type=int, default=2, help="best of this many runs per size")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: measure one size
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one_size(args.one, args.repeat)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s] + (list(SIZES_10M) if args.ten_m else [])
    rows = []
    for size in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--repeat", str(args.repeat)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout))
    base = rows[0]["cpu_us_per_request"]
    for r in rows:
        r["cpu_ratio_to_first"] = r["cpu_us_per_request"] / base
    flat = all(0.8 <= r["cpu_ratio_to_first"] <= 1.2 for r in rows)
    big = [r for r in rows if r["requests"] >= RSS_FROM * 0.9]
    rss_flat = peak_flat = None
    if len(big) >= 2:
        first = big[0]["rss_bytes_per_request"]
        rss_flat = all(0.8 * first <= r["rss_bytes_per_request"] <= 1.2 * first for r in big)
    full = [r for r in rows if r["requests"] >= PEAK_FROM * 0.9]
    if len(full) >= 2:
        peak = full[0]["peak_rss_mb"]
        peak_flat = all(0.8 * peak <= r["peak_rss_mb"] <= 1.2 * peak for r in full)
    out = {"rows": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
           "flat_within_20pct": flat, "rss_flat_within_20pct": rss_flat,
           "peak_rss_flat_within_20pct": peak_flat,
           "peak_rss_mb_per_worker": round(max(r["peak_rss_mb"] for r in rows), 1),
           "trace_bytes_per_attempt": round(rows[-1]["trace_bytes_per_attempt"], 2)}
    if args.json:
        print(json.dumps(out))
    else:
        head = ("requests", "wall us/req", "cpu us/req", "cpu ratio", "B/attempt", "file B/att", "rss MB",
                "rss B/req")
        print("{:>10} {:>12} {:>11} {:>10} {:>10} {:>10} {:>8} {:>10}".format(*head))
        for r in out["rows"]:
            print(f"{r['requests']:>10} {r['wall_us_per_request']:>12.1f} {r['cpu_us_per_request']:>11.1f} "
                  f"{r['cpu_ratio_to_first']:>10.2f} {r['bytes_per_attempt']:>10.1f} "
                  f"{r['trace_bytes_per_attempt']:>10.1f} {r['peak_rss_mb']:>8.0f} {r['rss_bytes_per_request']:>10.0f}")
        print(f"peak RSS per worker {out['peak_rss_mb_per_worker']} MB; "
              f"trace {out['trace_bytes_per_attempt']} bytes per attempt on disk")
        print(f"CPU flat within ±20 %: {flat}; RSS per request flat within ±20 % (from {RSS_FROM}): {rss_flat}; "
              f"peak RSS flat within ±20 % (from {PEAK_FROM}): {peak_flat}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
