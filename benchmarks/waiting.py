"""Failing fast vs waiting for capacity vs waiting and pacing, per scenario: the tables in docs/waiting.md.

    python benchmarks/waiting.py scenarios/bursty-near-capacity.yaml --scale 1
    python benchmarks/waiting.py scenarios/launch-exceeds-capacity.yaml --scale 0.05 --json
    python benchmarks/waiting.py scenarios/bursty-near-capacity.yaml --enforcement second --daily-volume 500k/day
    python benchmarks/waiting.py scenarios/launch-exceeds-capacity.yaml --scale 0.01 --seed 2 --json

Per router setting (``wait_for_capacity``, ``pacing``; the router's default: both on): success
rate, "no org available" share, 429 attempts, session success, p99 user latency, max latency,
waits begun and the most requests waiting at once in one pod; with ``--json`` also the failed
requests by their last outcome, the "no org available" ones by cause, and the breaker openings.
``--policy``: a policy or one of the scenario's labels (default: its first); ``--seed``: another
seed than the scenario's.
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
from sim.trace import NO_ORG_CAUSES, request_causes

#: the settings compared: (label, router overrides)
SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("fail fast", {"wait_for_capacity": False, "pacing": False}),
    ("wait", {"wait_for_capacity": True, "pacing": False}),
    ("wait + pacing (default)", {"wait_for_capacity": True, "pacing": True}),
]


def measure(path: str, scale: float | None, router: dict[str, Any], policy: str | None = None,
            mode: str = "fast", enforcement: str | None = None, daily_volume: str | None = None,
            seed: int | None = None) -> dict[str, Any]:
    sc = load_scenario(path)
    if enforcement is not None or daily_volume is not None:
        # the same world with every org enforcing over ``enforcement`` / another base volume
        data = sc.model_dump(mode="json", exclude_none=True)
        for spec in data["vendors"].values():
            for org in spec["orgs"]:
                org["enforcement"] = enforcement or org.get("enforcement", "second")
        if daily_volume is not None:
            data["traffic"]["daily_volume"] = daily_volume
        sc = type(sc).model_validate(data)
    sc = sc.scaled(scale if scale is not None else (sc.ci_scale or 1.0))
    sc = sc.model_copy(update={"router": sc.router.model_copy(update=router)})
    spec = next((p for p in sc.policies if (p.label or p.name) == policy), None) if policy else (
        sc.policies[0] if sc.policies else "exponential")
    pol = resolve_policy(spec or policy)
    run = Simulation(sc, pol, mode, sc.seed if seed is None else seed)  # type: ignore[arg-type]
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
    causes = request_causes(trace)
    failed = ~ok
    by_outcome = {o.value: int(((req["outcome"] == c) & failed).sum()) for o, c in OUTCOME_CODES.items()}
    return {
        "router": router,
        "requests": n,
        "success": float(ok.mean()) if n else None,
        "no_org": float((req["outcome"] == -1).mean()) if n else None,
        "attempts_429": int((att["status"] == 429).sum()),
        "session_success": 1.0 - len(bad_sessions) / n_sessions if n_sessions else None,
        "p99_latency": float(np.percentile(lat, 99)) if n else None,
        "max_latency": float(lat.max()) if n else None,
        "waits": sum(c.waits for c in cores),
        "peak_waiting": max(c.peak_waiting for c in cores),
        # why requests failed: their last outcome, or (no org) the cause
        "failed_by_outcome": {k: v for k, v in by_outcome.items() if v},
        "no_org_by_cause": {k: int((causes == c).sum()) for k, c in NO_ORG_CAUSES.items() if (causes == c).any()},
        "breaker_opens": int((trace.events["kind"] == 0).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario")
    ap.add_argument("--scale", type=float, default=None, help="default: the scenario's ci_scale")
    ap.add_argument("--policy", default=None)
    ap.add_argument("--enforcement", choices=("second", "minute"), default=None,
                    help="every org enforces its limits over this window (default: as the file says)")
    ap.add_argument("--daily-volume", default=None,
                    help="the traffic's base volume instead of the file's (e.g. 500k/day)")
    ap.add_argument("--seed", type=int, default=None, help="default: the scenario's")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = [{"setting": label, **measure(a.scenario, a.scale, r, a.policy, enforcement=a.enforcement,
                                         daily_volume=a.daily_volume, seed=a.seed)} for label, r in SETTINGS]
    if a.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    print("| router | requests | success | no org available | 429s | session success | p99 latency "
          "| max latency | waits | peak waiting / pod |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['setting']} | {fmt_count(r['requests'])} | "
              f"{fmt_rate(r['success'])} | "
              f"{fmt_rate(r['no_org'])} | {fmt_count(r['attempts_429'])} | {fmt_rate(r['session_success'])} | "
              f"{fmt_duration(r['p99_latency'])} | {fmt_duration(r['max_latency'])} | {fmt_count(r['waits'])} | "
              f"{fmt_count(r['peak_waiting'])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
