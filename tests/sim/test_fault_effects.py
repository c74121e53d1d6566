"""Every fault kind of the catalogue, shown by its effect in a simulated trace (fast mode).

Each test runs a small world (three OpenAI orgs, a few thousand requests) through
:func:`sim.run` and reads the trace: outcomes of the attempts on the target, breaker events,
arrivals, latencies. Together with ``test_fault_lowering.py`` (what each fault lowers into) these
are the evidence for which faults work end to end.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import sim
from multiorg.outcomes import OUTCOME_CODES, Outcome
from reports.metrics import compute_results
from sim.fault_effects import fault_modifiers, flap_periods, with_surges
from sim.rng import Seeds
from sim.scenario import Scenario
from sim.traffic import generate
from sim.vendor_model import VendorWorld

LIMITS = {"gpt-4o-mini": {"rpm": 5000, "tpm": "2M"}, "gpt-4o": {"rpm": 5000, "tpm": "2M"}}
OK = {OUTCOME_CODES[Outcome.SUCCESS], OUTCOME_CODES[Outcome.SLOW]}


def world(fault_list: list[dict[str, Any]], **over: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "effects",
        "seed": 1,
        "duration": "30m",
        "pods": 2,
        "state": "shared",
        "router": {"max_attempts": 2, "attempt_timeout": "10s", "deadline": "30s"},
        "vendors": {"openai": {"orgs": [
            {"name": n, "limits": LIMITS, "latency": {"median": "0.5s", "p99": "2s"}, "error_rate": 0}
            for n in ("a", "b", "c")
        ]}},
        "traffic": {"daily_volume": "150k/day"},
        "faults": fault_list,
    }
    base.update(over)
    return Scenario.model_validate(base)


def att(trace: Any, org: str | None = None, t0: float = 0.0, t1: float = float("inf")) -> dict[str, np.ndarray]:
    a = trace.attempts
    m = (a["start"] >= t0) & (a["start"] < t1)
    if org is not None:
        m &= a["org"] == trace.meta["orgs"].index(org)
    return {k: np.asarray(v)[m] for k, v in a.items()}


def share(outcomes: np.ndarray, outcome: Outcome) -> float:
    return float(np.mean(outcomes == OUTCOME_CODES[outcome])) if len(outcomes) else 0.0


def events(trace: Any, org: str, kind: int) -> np.ndarray:
    e = trace.events
    m = (e["org"] == trace.meta["orgs"].index(org)) & (e["kind"] == kind)
    return np.asarray(e["time"])[m]


OPENED, HALF_OPEN, CLOSED = 0, 1, 2


# --------------------------------------------------------------------------- vendor-side faults


@pytest.mark.parametrize(("reason", "outcome"), [("quota", Outcome.QUOTA), ("auth", Outcome.AUTH),
                                                  ("deactivated", Outcome.AUTH)])
def test_lockout_answers_quota_or_auth(reason: str, outcome: Outcome) -> None:
    sc = world([{"kind": "lockout", "target": "a", "reason": reason, "start": "10m"}])
    tr = sim.run(sc, "none")
    before, during = att(tr, "a", 0, 600), att(tr, "a", 600)
    assert share(before["outcome"], Outcome.SUCCESS) == 1.0
    assert share(during["outcome"], outcome) == 1.0 and len(during["outcome"]) > 100
    assert set(att(tr, "b")["outcome"].tolist()) <= OK


def test_outage_is_5xx_only_inside_its_window() -> None:
    sc = world([{"kind": "outage", "target": "b", "start": "10m", "duration": "10m"}])
    tr = sim.run(sc, "none")
    inside = att(tr, "b", 600, 1200)
    assert share(inside["outcome"], Outcome.SERVER) == 1.0
    assert set(np.unique(inside["status"]).tolist()) <= {500, 502, 503}
    assert set(att(tr, "b", 1200)["outcome"].tolist()) <= OK
    assert set(att(tr, "b", 0, 600)["outcome"].tolist()) <= OK


def test_brownout_fails_the_given_share() -> None:
    sc = world([{"kind": "brownout", "target": "c", "error_rate": "30%", "errors": ["503"]}])
    tr = sim.run(sc, "none")
    c = att(tr, "c")
    assert share(c["outcome"], Outcome.SERVER) == pytest.approx(0.30, abs=0.05)
    assert set(np.unique(c["status"][c["outcome"] == OUTCOME_CODES[Outcome.SERVER]]).tolist()) == {503}


def test_timeouts_hang_until_the_attempt_timeout() -> None:
    sc = world([{"kind": "timeouts", "target": "a", "start": "5m", "duration": "5m"}])
    tr = sim.run(sc, "none")
    hung = att(tr, "a", 300, 600)
    assert share(hung["outcome"], Outcome.TIMEOUT) == 1.0
    assert np.allclose(hung["end"] - hung["start"], 10.0)


def test_connection_resets_fail_fast() -> None:
    sc = world([{"kind": "connection_resets", "target": "a", "error_rate": "100%"}])
    tr = sim.run(sc, "none")
    a = att(tr, "a")
    assert share(a["outcome"], Outcome.CONNECTION) == 1.0
    assert float(np.max(a["end"] - a["start"])) < 0.1


def test_latency_factor_and_ramp() -> None:
    sc = world([
        {"kind": "latency", "label": "slow a", "target": "a", "start": "10m", "factor": "4x"},
        {"kind": "latency", "label": "ramp b", "target": "b", "start": "5m", "factor": "5x", "ramp": "20m", "steps": 4},
    ])
    tr = sim.run(sc, "none")

    def med(org: str, t0: float, t1: float) -> float:
        x = att(tr, org, t0, t1)
        return float(np.median(x["end"] - x["start"]))

    assert med("a", 600, 1800) / med("a", 0, 600) == pytest.approx(4.0, rel=0.25)
    steps = [med("b", 300 + 300 * k, 600 + 300 * k) for k in range(4)]  # ramp steps 2x, 3x, 4x, 5x
    assert steps == sorted(steps)
    assert steps[-1] / med("b", 0, 300) == pytest.approx(5.0, rel=0.3)


def test_slow_drip_errors_and_latency_creep_up() -> None:
    sc = world([{"kind": "slow_drip", "target": "a", "start": "0s", "ramp": "30m", "steps": 6,
                 "error_rate": "30%", "latency_factor": "3x"}], duration="30m")
    tr = sim.run(sc, "none")
    early, late = att(tr, "a", 0, 600), att(tr, "a", 1200, 1800)
    assert share(early["outcome"], Outcome.SERVER) < share(late["outcome"], Outcome.SERVER)
    assert share(late["outcome"], Outcome.SERVER) > 0.15
    ok_lat = [float(np.median((x["end"] - x["start"])[np.isin(x["outcome"], list(OK))])) for x in (early, late)]
    assert ok_lat[1] > 1.5 * ok_lat[0]


def test_rate_limit_squeeze_brings_429s() -> None:
    limits = {"gpt-4o-mini": {"rpm": 60, "tpm": "2M"}}
    # (per-minute enforcement: per second, 1 request/s would meet 429s before the squeeze)
    orgs = [{"name": n, "limits": limits, "enforcement": "minute"} for n in ("a", "b", "c")]
    sc = world([{"kind": "rate_limit_squeeze", "target": "a", "start": "10m", "duration": "10m", "rpm": "10%"}],
               vendors={"openai": {"orgs": orgs}})
    tr = sim.run(sc, "none")
    assert share(att(tr, "a", 0, 600)["outcome"], Outcome.RATE_LIMITED) == 0.0
    assert share(att(tr, "a", 600, 1200)["outcome"], Outcome.RATE_LIMITED) > 0.5
    assert share(att(tr, "b", 600, 1200)["outcome"], Outcome.RATE_LIMITED) == 0.0


def test_rate_limit_storm_429s_with_retry_after() -> None:
    sc = world([{"kind": "rate_limit_storm", "target": "a", "start": "10m", "retry_after": "45s"}])
    tr = sim.run(sc, "none")
    during = att(tr, "a", 600)
    assert share(during["outcome"], Outcome.RATE_LIMITED) == 1.0
    assert set(np.unique(during["status"]).tolist()) == {429}
    # the router honours retry-after: each pod leaves the org alone ~45 s after a 429
    pods = tr.requests["pod"][during["request"]]
    for p in (0, 1):
        starts = np.sort(during["start"][pods == p])
        assert float(np.min(np.diff(starts))) >= 44.0
    # the vendor's answer carries the header
    vendors = VendorWorld(sc, Seeds(1), fault_modifiers(sc, sc.seed))
    d = vendors.by_name["a"].decide("gpt-4o-mini", 100, 100, 10.0, 700.0)
    assert d.status == 429 and d.headers["retry-after"] == "45"


def test_flapping_breaker_opens_and_closes_in_step() -> None:
    spec = {"kind": "flapping", "label": "flap", "target": "b", "start": "5m", "duration": "40m",
            "down": "3m", "up": "5m", "jitter": "20%"}
    sc = world([spec], duration="50m", traffic={"daily_volume": "300k/day"})
    tr = sim.run(sc, ("consecutive", {"threshold": 3, "window": 30, "open_time": 20}))
    periods = next(w["periods"] for w in tr.meta["faults"] if w["label"] == "flap")
    assert len(periods) == 5
    opened = events(tr, "b", OPENED)
    closed = events(tr, "b", CLOSED)

    def in_down(t: float, slack: float = 15.0) -> bool:
        return any(s <= t <= e + slack for s, e in periods)

    # every trip happens while the org is down (or when an attempt made then times out: the
    # attempt timeout is 10 s); every sick period trips the breaker
    assert all(in_down(t, slack=10.0) for t in opened)
    assert all(any(s <= t <= e for t in opened) for s, e in periods)
    # and it closes again in each healthy gap (after the period ends, before the next starts)
    for (_, e), (s2, _) in itertools.pairwise(periods):
        assert any(e <= t < s2 for t in closed)
    # jitter is seeded: same seed → same periods, another seed → others; traffic unchanged
    assert flap_periods(sc.faults[0], sc.duration, 1) == [tuple(p) for p in periods]
    assert flap_periods(sc.faults[0], sc.duration, 2) != [tuple(p) for p in periods]


def test_vendor_incident_hits_orgs_unequally() -> None:
    sc = world([{"kind": "vendor_incident", "target": "vendor:openai", "error_rate": "40%",
                 "severity": {"a": 1.0, "b": 0.5, "c": 0.0}}])
    tr = sim.run(sc, "none")
    s = [share(att(tr, o)["outcome"], Outcome.SERVER) for o in ("a", "b", "c")]
    assert s[0] == pytest.approx(0.40, abs=0.06)
    assert s[1] == pytest.approx(0.20, abs=0.05)
    assert s[2] == 0.0


def test_model_unavailable_in_one_org_only() -> None:
    sc = world([{"kind": "model_unavailable", "target": "a", "model": "gpt-4o"}],
               traffic={"daily_volume": "150k/day", "model": {"gpt-4o-mini": 1, "gpt-4o": 1}})
    tr = sim.run(sc, "none")
    arrivals = generate(with_surges(sc), Seeds(sc.seed))
    model_of = np.asarray(arrivals.model)[att(tr, "a")["request"]]
    big = arrivals.models.index("gpt-4o")
    a = att(tr, "a")
    assert share(a["outcome"][model_of == big], Outcome.SERVER) == 1.0
    assert set(a["status"][model_of == big].tolist()) == {503}
    assert set(a["outcome"][model_of != big].tolist()) <= OK
    b = att(tr, "b")
    assert set(b["outcome"].tolist()) <= OK


def test_traffic_surge_multiplies_arrivals() -> None:
    sc = world([{"kind": "traffic_surge", "label": "launch", "factor": "5x", "start": "10m", "duration": "10m"}])
    tr = sim.run(sc, "none")
    arr = np.asarray(tr.requests["arrival"])
    before = np.sum(arr < 600)
    during = np.sum((arr >= 600) & (arr < 1200))
    assert during / before == pytest.approx(5.0, rel=0.15)
    assert any(w["label"] == "launch" and w["kind"] == "traffic_surge" for w in tr.meta["faults"])


# --------------------------------------------------------------------------- store, pod and clock faults


def _opened_pods(trace: Any, org: str, t0: float, t1: float) -> set[int]:
    e = trace.events
    m = (e["org"] == trace.meta["orgs"].index(org)) & (e["kind"] == OPENED) & (e["time"] >= t0) & (e["time"] < t1)
    return set(np.asarray(e["pod"])[m].tolist())


def test_redis_down_makes_every_pod_trip_on_its_own() -> None:
    outage = {"kind": "outage", "label": "b down", "target": "b", "start": "10m", "duration": "10m"}
    shared = sim.run(world([outage], pods=4), "exponential")
    down = sim.run(world([outage, {"kind": "redis_down", "start": "5m", "duration": "20m"}], pods=4), "exponential")
    # shared state in Redis: one pod trips the breaker for all
    assert len(_opened_pods(shared, "b", 600, 610)) == 1
    # Redis gone: each pod's RedisStore falls back to local state and trips by itself
    assert _opened_pods(down, "b", 600, 660) == {0, 1, 2, 3}
    assert all(int(n) > 0 for n in down.meta["redis_failed_commands"].values())


def test_pod_partition_cuts_one_pod_only() -> None:
    outage = {"kind": "outage", "label": "b down", "target": "b", "start": "10m", "duration": "10m"}
    tr = sim.run(world([outage, {"kind": "pod_partition", "pod": 2, "start": "5m", "duration": "20m"}], pods=4),
                    "exponential")
    failed = {int(k): int(v) for k, v in tr.meta["redis_failed_commands"].items()}
    assert failed[2] > 0 and failed[0] == failed[1] == failed[3] == 0
    pods = _opened_pods(tr, "b", 600, 660)
    assert 2 in pods and len(pods) == 2  # the shared breaker (one pod) + the partitioned pod's own


def test_redis_slow_adds_latency_to_requests() -> None:
    slow = {"kind": "redis_slow", "start": "10m", "duration": "10m", "delay": "40ms", "timeout": "250ms"}
    base = sim.run(world([{"kind": "redis_down", "start": "29m", "duration": "1m"}]), "exponential")
    tr = sim.run(world([slow]), "exponential")

    def p50(trace: Any, t0: float, t1: float) -> float:
        r = trace.requests
        m = (r["arrival"] >= t0) & (r["arrival"] < t1)
        return float(np.median(np.asarray(r["end"])[m] - np.asarray(r["arrival"])[m]))

    # same vendor draws; each request talks to the store before its attempt and after it (40 ms
    # a round trip), and the user waits for both
    assert p50(tr, 600, 1200) - p50(base, 600, 1200) >= 0.075
    assert p50(tr, 0, 570) == pytest.approx(p50(base, 0, 570), abs=1e-9)  # done before 600 (deadline 30 s)
    # ... but an attempt is the vendor's time alone: it starts once the org is chosen
    d_slow, d_base = att(tr, None, 600, 1200), att(base, None, 600, 1200)
    assert np.median(d_slow["end"] - d_slow["start"]) == pytest.approx(
        np.median(d_base["end"] - d_base["start"]), abs=1e-3)


def test_redis_slow_beyond_the_client_timeout_falls_back() -> None:
    slow = {"kind": "redis_slow", "start": "10m", "duration": "5m", "delay": "1s", "timeout": "100ms"}
    tr = sim.run(world([slow]), "exponential")
    assert all(int(n) > 0 for n in tr.meta["redis_failed_commands"].values())


def test_clock_skew_stretches_blocks_written_by_the_skewed_pod() -> None:
    outage = {"kind": "outage", "label": "a down", "target": "a", "start": "5m", "duration": "20m"}
    pol = ("consecutive", {"threshold": 3, "window": 60, "open_time": 60})
    plain = sim.run(world([outage], pods=2), pol)
    skew = sim.run(world([outage, {"kind": "clock_skew", "pod": 0, "offset": "+5m"},
                             {"kind": "clock_skew", "label": "pod 1 skew", "pod": 1, "offset": "+5m",
                              "start": "0s", "end": "1m"}], pods=2), pol)

    def blocks(trace: Any) -> list[float]:
        o, h = events(trace, "a", OPENED), events(trace, "a", HALF_OPEN)
        return [float(h[h > t][0] - t) for t in o if (h > t).any()]

    assert all(b == pytest.approx(60.0, abs=5.0) for b in blocks(plain))
    # pod 0 lives 5 minutes ahead: a block it writes ends 5 minutes later for pod 1 and,
    # conversely, a block pod 1 writes has already ended for pod 0 — blocks are no longer 60 s
    assert any(abs(b - 60.0) > 30.0 for b in blocks(skew))
    # events are recorded at the true simulated time, not the skewed one
    assert float(np.max(skew.events["time"])) <= skew.meta["duration"] + 60
    assert np.all(np.diff(skew.events["time"]) >= 0)


def test_clock_skew_reaches_the_shared_state() -> None:
    """Pod 1 trips the breaker (true time); pod 0, 5 minutes ahead, reads the block as long over
    and probes within seconds. Without the skew nobody probes before the 60 s block ends."""
    outage = {"kind": "outage", "label": "a down", "target": "a", "start": "5m", "duration": "20m"}
    pol = ("consecutive", {"threshold": 3, "window": 60, "open_time": 60})

    def half_open_gaps(trace: Any, skewed_pod: int) -> list[float]:
        e = trace.events
        a = e["org"] == trace.meta["orgs"].index("a")
        opened = np.asarray(e["time"])[a & (e["kind"] == OPENED) & (e["pod"] != skewed_pod)]
        probes = np.asarray(e["time"])[a & (e["kind"] == HALF_OPEN) & (e["pod"] == skewed_pod)]
        return [float(probes[probes >= t][0] - t) for t in opened if (probes >= t).any()]

    plain = sim.run(world([outage], pods=2), pol)
    skew = sim.run(world([outage, {"kind": "clock_skew", "pod": 0, "offset": "+5m"}], pods=2), pol)
    assert half_open_gaps(plain, 0) and min(half_open_gaps(plain, 0)) >= 55.0
    assert min(half_open_gaps(skew, 0)) < 10.0
    # and every alert is recorded at the true time: none before the outage, in order
    assert float(events(skew, "a", OPENED).min()) >= 300.0
    assert np.all(np.diff(skew.events["time"]) >= 0)


def test_vendor_faults_never_reshuffle_traffic() -> None:
    plain = sim.run(world([]), "none")
    faulty = sim.run(world([{"kind": "flapping", "target": "a", "down": "1m", "up": "2m", "jitter": "30%"},
                               {"kind": "brownout", "target": "b", "error_rate": "20%"}]), "none")
    assert np.array_equal(plain.requests["arrival"], faulty.requests["arrival"])
    assert np.array_equal(plain.requests["pod"], faulty.requests["pod"])


def test_a_surge_to_the_end_of_the_run_is_one_window() -> None:
    """A ``traffic_surge`` with no end is one fault window (and one SLO check), not two: the
    fault's (no end) and the surge's (clipped to the run)."""

    sc = world([{"kind": "traffic_surge", "label": "launch", "factor": 2, "start": "20m"}],
               slo={"success_rate": {"during": ">= 99%"}})
    res = compute_results({"exponential": [sim.run(sc, "exponential")]})
    assert [(f.label, f.start, f.end) for f in res.faults] == [("launch", 1200.0, 1800.0)]
    assert [(c.metric, c.phase, c.fault) for c in res.slo.checks] == [("success_rate", "during", "launch")]
