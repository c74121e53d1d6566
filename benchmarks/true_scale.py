"""The seed story at true scale: every policy it lists, one seed, one process per policy.

    python benchmarks/true_scale.py --json [--jobs N] [--scale F] [--scenario FILE]

Prints ``wall_s`` (the whole comparison), ``cpu_s`` (summed over workers), ``requests`` (summed),
``us_per_request`` (CPU), ``peak_rss_mb_per_worker`` (the largest worker's, for its run and saving
its trace), the saved trace's ``trace_bytes_per_attempt``, ``report_s`` (the slowest worker's:
loading its trace again and writing the whole report from it — metrics, charts, summary, HTML —
as ``breakerlab report`` does) with ``report_peak_rss_mb`` (that worker's peak RSS after it) and
``jobs``. Figures only; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from breakerlab.jobs import JobFailure, SimJob, simulate
from reports.render import write_report
from sim.loader import load_scenario, policy_id
from sim.trace import Trace

ROOT = Path(__file__).resolve().parents[1]
SEED_STORY = ROOT / "scenarios" / "lock-primary-before-launch.yaml"


def _one(job: tuple[str, str, float]) -> dict[str, float]:
    """Run one policy in this worker; its CPU, requests, peak RSS and trace size."""
    file, pid, scale = job
    sc = load_scenario(file).scaled(scale)
    spec = next(p for p in sc.policies if policy_id(p) == pid)
    t0 = time.process_time()
    trace = simulate(SimJob(pid, sc, spec, sc.seed, "fast"))  # as compare's workers run it
    cpu = time.process_time() - t0
    if isinstance(trace, JobFailure):
        raise trace.error
    n_requests, n_attempts = trace.n_requests, trace.n_attempts
    with tempfile.TemporaryDirectory() as d:
        path = trace.save(Path(d) / "t.npz")
        size = path.stat().st_size
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        del trace
        w0 = time.perf_counter()
        again = Trace.load(path)
        write_report({pid: [again]}, Path(d) / "report", save=False)
        report = time.perf_counter() - w0
    report_rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"cpu_s": cpu, "requests": n_requests, "attempts": n_attempts,
            "rss_mb": rss_kb / 1024, "trace_bytes": size, "report_s": report, "report_rss_mb": report_rss_kb / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default=str(SEED_STORY))
    ap.add_argument("--scale", type=float, default=1.0, help="x the true volume (default 1: true scale)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (one policy each)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    jobs = [(args.scenario, policy_id(p), args.scale) for p in sc.policies] or [(args.scenario, "exponential", 1.0)]
    t0 = time.perf_counter()
    # a fresh process per policy (max_tasks_per_child): each worker's peak RSS is one run's
    with ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
        runs = list(pool.map(_one, jobs))
    wall = time.perf_counter() - t0
    cpu = sum(r["cpu_s"] for r in runs)
    requests = sum(r["requests"] for r in runs)
    out = {
        "scenario": sc.name, "scale": args.scale, "policies": [j[1] for j in jobs],
        "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "requests": int(requests),
        "us_per_request": round(cpu / requests * 1e6, 2),
        "peak_rss_mb_per_worker": round(max(r["rss_mb"] for r in runs), 1),
        "trace_bytes_per_attempt": round(sum(r["trace_bytes"] for r in runs) / sum(r["attempts"] for r in runs), 2),
        "report_s": round(max(r["report_s"] for r in runs), 1),
        "report_peak_rss_mb": round(max(r["report_rss_mb"] for r in runs), 1),
        "jobs": args.jobs,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:24s} {v}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
