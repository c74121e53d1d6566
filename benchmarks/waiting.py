"""Waiting for capacity on vs off (``router.wait_for_capacity``), per scenario: the table in docs/waiting.md.

    python benchmarks/waiting.py scenarios/bursty-near-capacity.yaml --scale 1
    python benchmarks/waiting.py scenarios/launch-exceeds-capacity.yaml --scale 0.05 --json

Per setting: success rate, "no org available" share, 429 attempts, session success, p99 user
latency, max latency, waits begun and the most requests waiting at once in one pod.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from multiorg.outcomes import OUTCOME_CODES, Outcome
from reports.format import fmt_count, fmt_duration, fmt_rate
from sim.engine import Simulation, resolve_policy
from sim.loader import load_scenario


def measure(path: str, scale: float | None, wait: bool, policy: str | None = None,
            mode: str = "fast") -> dict[str, Any]:
    sc = load_scenario(path)
    sc = sc.scaled(scale if scale is not None else (sc.ci_scale or 1.0))
    sc = sc.model_copy(update={"router": sc.router.model_copy(update={"wait_for_capacity": wait})})
    pol = resolve_policy(policy or (sc.policies[0] if sc.policies else "exponential"))
    run = Simulation(sc, pol, mode, sc.seed)  # type: ignore[arg-type]
    trace = run.run()
    req, att = trace.requests, trace.attempts
    n = len(req["outcome"])
    ok = req["outcome"] == OUTCOME_CODES[Outcome.SUCCESS]
    lat = req["end"] - req["arrival"]
    sess = req["session"]
    in_s = sess >= 0
    bad_sessions = np.unique(sess[in_s & ~ok])
    n_sessions = len(np.unique(sess[in_s]))
    cores = [r.core for r in run.pods.routers]
    return {
        "wait_for_capacity": wait,
        "requests": n,
        "success": float(ok.mean()) if n else None,
        "no_org": float((req["outcome"] == -1).mean()) if n else None,
        "attempts_429": int((att["status"] == 429).sum()),
        "session_success": 1.0 - len(bad_sessions) / n_sessions if n_sessions else None,
        "p99_latency": float(np.percentile(lat, 99)) if n else None,
        "max_latency": float(lat.max()) if n else None,
        "waits": sum(c.waits for c in cores),
        "peak_waiting": max(c.peak_waiting for c in cores),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--scale", type=float, default=None, help="default: the scenario's ci_scale")
    ap.add_argument("--policy", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = [measure(a.scenario, a.scale, w, a.policy) for w in (False, True)]
    if a.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    print("| waiting | requests | success | no org available | 429s | session success | p99 latency "
          "| max latency | waits | peak waiting / pod |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {'on' if r['wait_for_capacity'] else 'off'} | {fmt_count(r['requests'])} | "
              f"{fmt_rate(r['success'])} | "
              f"{fmt_rate(r['no_org'])} | {fmt_count(r['attempts_429'])} | {fmt_rate(r['session_success'])} | "
              f"{fmt_duration(r['p99_latency'])} | {fmt_duration(r['max_latency'])} | {fmt_count(r['waits'])} | "
              f"{fmt_count(r['peak_waiting'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
