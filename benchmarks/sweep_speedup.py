"""Speed-up of a sweep on a local process pool over running it serially.

    python benchmarks/sweep_speedup.py                 # 8 runs, all cores; one JSON object
    python benchmarks/sweep_speedup.py --runs 12 --jobs 2 --hours 3

The sweep: the ``consecutive`` policy over ``--runs`` values of ``threshold`` (1 seed each) on a
small world (4 OpenAI orgs + Anthropic, 2 pods, shared state) where one org browns out (40 %
errors) for the middle third of the run; each run lasts a few seconds of wall time.

1. **serial**: :func:`breakerlab.sweep.run_plan` with the in-process executor (this process has already
   imported the simulator, as the CLI has when it plans);
2. **pool**: the same plan on :class:`breakerlab.executors.LocalExecutor` (forkserver workers, which import
   the simulator once): wall time from creating the pool to the last result stored — worker start-up
   (~1.7 s: the forkserver imports ``sim`` and ``reports``) included;
3. **pool, warm**: the same again in this process — the forkserver is up and preloaded, as for a
   second sweep in a notebook.

Both write to fresh temporary directories (nothing is reused) and must store byte-identical run
files. The target is a speed-up of at least 1.8x with 2 cores for 8 or more runs. Figures are
printed, never asserted (design.md: no timing assertions in tests). ``parallel_capacity`` (busy
loops on all workers vs one, measured first) shows how many cores the machine really gave: on a
shared machine the speed-up cannot exceed it.

What bounds it on an idle machine: R equal runs of d seconds on 2 workers take about S + (R/2)·d,
where S ≈ 1.7 s is the workers' start-up (importing ``sim`` and ``reports``, which pulls in
matplotlib), so the speed-up is about R·d / (S + R·d/2): 1.8x needs R·d ≥ ~31 s of serial work
(8 runs of ~4 s — the default). A warm forkserver (the second sweep in a process) removes S.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET = 1.8


def _spin(n: int) -> float:
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - t


def parallel_capacity(workers: int, n: int = 3_000_000) -> float:
    """How many cores this machine gives us right now: ``workers`` busy loops in parallel vs one
    (≈ workers on an idle machine; less when other processes compete for the cores)."""
    from concurrent.futures import ProcessPoolExecutor

    one = min(_spin(n) for _ in range(2))
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_spin, [n] * workers))  # start-up
        t = time.perf_counter()
        list(pool.map(_spin, [n] * workers))
        both = time.perf_counter() - t
    return workers * one / both


def scenario(hours: float, volume: float) -> Any:
    import sim

    d = hours * 3600.0
    return sim.default_scenario(
        name="sweep-benchmark",
        duration=d,
        pods=2,
        router={"max_attempts": 2, "attempt_timeout": 30.0, "deadline": 60.0},
        traffic={"daily_volume": volume, "shape": "flat"},
        modifiers=[{"kind": "brownout", "label": "secondary1 brownout", "targets": ["secondary1"],
                    "start": d / 3, "end": 2 * d / 3, "error_rate_set": 0.4}],
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=8, help="runs in the sweep (default 8)")
    ap.add_argument("--jobs", type=int, default=None, help="pool size (default: all cores)")
    ap.add_argument("--hours", type=float, default=8.0,
                    help="simulated hours per run (default 8: ~4 s of wall time, a little more than a run of "
                    "scenarios/lock-primary-before-launch.yaml)")
    ap.add_argument("--repeat", type=int, default=1, help="measure N times, report the best of each (default 1)")
    ap.add_argument("--volume", type=float, default=300_000, help="requests per day (default 300k)")
    args = ap.parse_args(argv)

    from breakerlab.executors import LocalExecutor, SerialExecutor
    from breakerlab.sweep import plan_sweep, run_plan

    load_before = os.getloadavg()[0]
    capacity = parallel_capacity(args.jobs or os.cpu_count() or 1)
    sc = scenario(args.hours, args.volume)
    plan = plan_sweep([sc], "consecutive", [f"threshold=1..{args.runs}"], seeds=1)
    n = len(plan.unique_runs())

    serials: list[float] = []
    pools: list[float] = []
    warms: list[float] = []
    same = True
    failed = 0
    for _ in range(max(1, args.repeat)):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            t0 = time.perf_counter()
            _, s1 = run_plan(plan, a, SerialExecutor())
            serials.append(time.perf_counter() - t0)

            t0 = time.perf_counter()
            pool = LocalExecutor(args.jobs)
            _, s2 = run_plan(plan, b, pool)
            pools.append(time.perf_counter() - t0)
            with tempfile.TemporaryDirectory() as c:  # again: the forkserver is up and preloaded
                t0 = time.perf_counter()
                run_plan(plan, c, LocalExecutor(args.jobs))
                warms.append(time.perf_counter() - t0)

            ra, rb = Path(a, "runs"), Path(b, "runs")
            same = same and sorted(p.name for p in ra.glob("*.json")) == sorted(
                p.name for p in rb.glob("*.json")
            ) and all((ra / p.name).read_bytes() == (rb / p.name).read_bytes() for p in ra.glob("*.json"))
            failed += s1.failed + s2.failed
    serial, parallel, warm = min(serials), min(pools), min(warms)
    speedup = serial / parallel if parallel > 0 else None
    out = {
        "benchmark": "sweep_speedup",
        "runs": n,
        "workers": pool.workers,
        "cpus": os.cpu_count(),
        "simulated_hours_per_run": args.hours,
        "serial_s": round(serial, 3),
        "pool_s": round(parallel, 3),
        "serial_s_per_run": round(serial / n, 3),
        "speedup": round(speedup, 3) if speedup else None,
        # a second sweep in the same process: the forkserver already imported the simulator
        "pool_warm_s": round(warm, 3),
        "speedup_warm": round(serial / warm, 3) if warm > 0 else None,
        "target": TARGET,
        "meets_target": bool(speedup and speedup >= TARGET),
        "identical_results": same,
        "failed_runs": failed,
        "samples": {"serial_s": [round(x, 3) for x in serials], "pool_s": [round(x, 3) for x in pools],
                    "pool_warm_s": [round(x, 3) for x in warms]},
        # other processes competing for the cores cap the speed-up: check these. capacity = how
        # many cores busy loops got in parallel just before the benchmark (≈ workers when idle)
        "parallel_capacity": round(capacity, 2),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
