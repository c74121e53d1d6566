"""Hand-built traces for the report tests: a tiny builder with known answers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.trace import ATTEMPT_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, Trace  # noqa: E402

# outcome codes (multiorg.outcomes.OUTCOME_CODES)
OK, RATE, QUOTA, AUTH, SERVER, TIMEOUT, CONN, CLIENT, SLOW = range(9)
OPENED, HALF_OPEN, CLOSED = 0, 1, 2


class TraceBuilder:
    """Add requests (with their attempts) and breaker events, then ``build()`` a Trace."""

    def __init__(self, orgs=("a", "b"), vendors=None, pods=1, duration=1000.0, **meta: Any) -> None:
        self.requests: dict[str, list] = {k: [] for k in REQUEST_COLUMNS}
        self.attempts: dict[str, list] = {k: [] for k in ATTEMPT_COLUMNS}
        self.events: dict[str, list] = {k: [] for k in EVENT_COLUMNS}
        self.meta: dict[str, Any] = {
            "scenario": "hand-built",
            "policy": "test",
            "policy_params": {},
            "seed": 0,
            "mode": "fast",
            "orgs": list(orgs),
            "org_vendors": list(vendors or ["openai"] * len(orgs)),
            "models": ["gpt-4o-mini"],
            "pods": pods,
            "duration": duration,
            "start_epoch": 1_747_000_000.0,
            "faults": [],
        }
        self.meta.update(meta)

    def org(self, name: str) -> int:
        return self.meta["orgs"].index(name)

    def request(self, arrival, attempts=(), *, pod=0, session=-1, outcome=None, end=None):
        """attempts: (org name, start, end, outcome[, probe]); the last decides the request."""
        rid = len(self.requests["arrival"])
        last_end = arrival
        for att in attempts:
            org, start, stop, out = att[:4]
            probe = att[4] if len(att) > 4 else False
            for k, v in (
                ("request", rid),
                ("org", self.org(org)),
                ("start", start),
                ("end", stop),
                ("outcome", out),
                ("status", 200 if out in (OK, SLOW) else 500),
                ("probe", probe),
            ):
                self.attempts[k].append(v)
            last_end = stop
        if outcome is None:
            outcome = attempts[-1][3] if attempts else -1
        for k, v in (
            ("pod", pod),
            ("session", session),
            ("arrival", arrival),
            ("end", last_end if end is None else end),
            ("outcome", outcome),
            ("attempts", len(attempts)),
        ):
            self.requests[k].append(v)
        return rid

    def event(self, time, org, kind, *, pod=0, model=0, failure_count=5, retry_cycles=0, block=60.0):
        for k, v in (
            ("time", time),
            ("pod", pod),
            ("org", self.org(org)),
            ("model", model),
            ("kind", kind),
            ("failure_count", failure_count),
            ("retry_cycles", retry_cycles),
            ("block_duration", block),
        ):
            self.events[k].append(v)

    def fault(self, target, start, end, kind="lockout", label=None):
        self.meta["faults"].append({"kind": kind, "target": target, "start": start, "end": end, "label": label or kind})

    def build(self) -> Trace:
        def table(cols, spec):
            return {k: np.array(cols[k], dtype=dt) for k, dt in spec.items()}

        return Trace(
            table(self.requests, REQUEST_COLUMNS),
            table(self.attempts, ATTEMPT_COLUMNS),
            table(self.events, EVENT_COLUMNS),
            dict(self.meta),
        )


@pytest.fixture
def tb():
    return TraceBuilder


DAY = 86400.0


def synthetic_trace(
    policy: str = "exponential",
    seed: int = 0,
    n: int = 20_000,
    *,
    duration: float = 3 * DAY,
    pods: int = 3,
    local: bool = False,
) -> Trace:
    """A plausible 3-day run, built vectorized: 4 OpenAI orgs in round robin plus an Anthropic
    standby; ``primary`` is billing-locked from day 1 + 2 h to day 1 + 20 h, a launch surge on
    day 2. ``none`` keeps sending to the locked org (one retry elsewhere, sometimes refused);
    ``exponential`` trips after a few failures per pod and probes at 1, 2, 4, 8, 16 min blocks."""
    rng = np.random.default_rng(seed)
    orgs = ["primary", "secondary1", "secondary2", "secondary3", "claude"]
    f0, f1 = DAY + 2 * 3600, DAY + 20 * 3600
    surge0, surge1 = 2 * DAY + 8 * 3600, 2 * DAY + 14 * 3600
    # arrivals: diurnal rate, x3 during the launch surge
    t = np.sort(rng.uniform(0, duration, int(n * 1.6)))
    w = 0.55 + 0.45 * np.sin(2 * np.pi * (t / DAY - 0.25)) ** 2
    w = np.where((t >= surge0) & (t < surge1), w * 3, w)
    arrival = np.sort(rng.choice(t, size=n, replace=False, p=w / w.sum()))
    pod = rng.integers(0, pods, n).astype(np.int16)
    org1 = (np.arange(n) % 4).astype(np.int16)
    in_fault = (arrival >= f0) & (arrival < f1)
    open_from = np.full(pods, np.inf)
    events = []
    probe_req = np.zeros(n, bool)
    if policy != "none":
        detect = f0 + 15.0 + 6.0 * np.arange(pods) + rng.uniform(0, 4, pods)
        open_from[:] = detect
        # shared: one OPENED at the first detection; local: one per pod
        openers = range(pods) if local else [int(np.argmin(detect))]
        for p in openers:
            tt = detect[p] if local else detect.min()
            cyc, block = 0, 60.0
            events.append((tt, p, 0, 0, 14, cyc, block))
            while True:
                tt += block
                if tt >= duration:
                    break
                events.append((tt, p, 0, 1, 0, cyc, 0.0))
                # the probe: the next request of that pod after tt
                cand = np.flatnonzero((arrival >= tt) & ((pod == p) if local else True))
                if len(cand):
                    probe_req[cand[0]] = True
                if tt >= f1:
                    events.append((tt + 1.2, p, 0, 2, 0, cyc, 0.0))
                    break
                cyc += 1
                block = min(block * 2, 960.0)
                events.append((tt + 1.2, p, 0, 0, 1, cyc, block))
        if not local:
            open_from[:] = detect.min() + np.minimum(np.arange(pods) * 0.5, 1.0)  # cache staleness
        close_at = f1 + 960.0 + 1.2
        blocked = (org1 == 0) & (arrival >= open_from[pod]) & (arrival < close_at) & ~probe_req
        org1 = np.where(blocked, 1 + (np.arange(n) % 3), org1).astype(np.int16)
    lat1 = rng.lognormal(np.log(2.5), 0.5, n)
    lat1 = np.where((arrival >= surge0) & (arrival < surge1), lat1 * 1.8, lat1)
    fail1 = ((org1 == 0) & in_fault) | (rng.random(n) < 0.0005)
    out1 = np.where(fail1, np.where((org1 == 0) & in_fault, 2, 4), 0).astype(np.int8)
    lat1 = np.where(fail1, rng.uniform(0.1, 0.4, n), lat1)
    # a retry on the next org, unless the retry budget refuses it
    refused = fail1 & (rng.random(n) < (0.35 if policy == "none" else 0.02))
    retry = fail1 & ~refused
    org2 = np.where(org1 == 0, 1 + (np.arange(n) % 3), (org1 % 3) + 1).astype(np.int16)
    lat2 = rng.lognormal(np.log(2.5), 0.5, n)
    start1, end1 = arrival, arrival + lat1
    start2, end2 = end1, end1 + lat2
    req_out = np.where(retry, 0, out1).astype(np.int8)
    req_end = np.where(retry, end2, end1)
    sess = np.full(n, -1, np.int64)
    fan = (arrival >= surge0) & (arrival < surge1) & (rng.random(n) < 0.5)
    sess[fan] = np.flatnonzero(fan) // 20
    ids = np.arange(n)
    a_req = np.concatenate([ids, ids[retry]])
    a_org = np.concatenate([org1, org2[retry]])
    a_start = np.concatenate([start1, start2[retry]])
    a_end = np.concatenate([end1, end2[retry]])
    a_out = np.concatenate([out1, np.zeros(int(retry.sum()), np.int8)])
    a_probe = np.concatenate([probe_req, np.zeros(int(retry.sum()), bool)])
    order = np.argsort(a_start, kind="stable")
    ev = np.array(sorted(events), dtype=float).reshape(-1, 7)
    return Trace(
        requests={
            "pod": pod,
            "session": sess,
            "arrival": arrival,
            "end": req_end,
            "outcome": req_out,
            "attempts": (1 + retry).astype(np.int16),
        },
        attempts={
            "request": a_req[order],
            "org": a_org[order].astype(np.int16),
            "start": a_start[order],
            "end": a_end[order],
            "outcome": a_out[order],
            "status": np.where(a_out[order] == 0, 200, 429).astype(np.int16),
            "probe": a_probe[order],
        },
        events={
            "time": ev[:, 0],
            "pod": ev[:, 1].astype(np.int16),
            "org": ev[:, 2].astype(np.int16),
            "model": np.zeros(len(ev), np.int16),
            "kind": ev[:, 3].astype(np.int8),
            "failure_count": ev[:, 4].astype(np.int32),
            "retry_cycles": ev[:, 5].astype(np.int16),
            "block_duration": ev[:, 6],
        },
        meta={
            "scenario": "lock-primary-before-launch",
            "description": "The primary org is billing-locked on day 1; the launch surge on day 3.",
            "policy": policy,
            "policy_params": {} if policy == "none" else {"base": "1m", "cap": "16m", "failures": 5},
            "seed": seed,
            "mode": "fast",
            "orgs": orgs,
            "org_vendors": ["openai"] * 4 + ["anthropic"],
            "models": ["gpt-4o-mini"],
            "pods": pods,
            "duration": duration,
            "start_epoch": 1_747_353_600.0,
            "state": "local" if local else "shared",
            "faults": [
                {
                    "kind": "lockout",
                    "target": "primary",
                    "start": f0,
                    "end": f1,
                    "label": "primary billing lock",
                },
                {
                    "kind": "traffic_surge",
                    "target": "*",
                    "start": surge0,
                    "end": surge1,
                    "label": "launch surge x3",
                },
            ],
            "slo": {"success_rate": ">= 99.5%", "failover_time": "<= 5m", "p99_latency": "<= 30s"},
        },
    )


@pytest.fixture(scope="session")
def synthetic():
    return synthetic_trace


@pytest.fixture(scope="session")
def traces(synthetic):
    """Two policies x two seeds of the synthetic world: what the report tests render."""
    return {
        "none": [synthetic("none", seed, 3000) for seed in (1, 2)],
        "exponential": [synthetic("exponential", seed, 3000) for seed in (1, 2)],
    }
