"""The greenlet bridge: requests really interleave in simulated time."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from sim_helpers import max_overlap, openai_orgs, scenario

import sim
from sim.bridge import Hub
from sim.trace import EVENT_KINDS


def test_sleepers_wake_in_time_order_and_interleave() -> None:
    hub = Hub()
    log: list[tuple[str, float]] = []

    def req(i: int) -> None:
        log.append((f"start{i}", hub.now))
        hub.sleep([3.0, 1.0, 2.0][i])
        log.append((f"end{i}", hub.now))

    hub.drive([0.0, 0.5, 0.5], req)
    hub.run()
    assert log == [
        ("start0", 0.0), ("start1", 0.5), ("start2", 0.5),
        ("end1", 1.5), ("end2", 2.5), ("end0", 3.0),
    ]
    assert hub.max_in_flight == 3
    assert hub.in_flight == 0


def test_plain_simpy_processes_share_the_loop() -> None:
    hub = Hub()
    seen: list[tuple[str, float]] = []

    def proc(env: simpy.Environment):
        yield env.timeout(1.0)
        seen.append(("proc", env.now))

    def req(i: int) -> None:
        hub.sleep(2.0)
        seen.append(("req", hub.now))

    hub.env.process(proc(hub.env))
    hub.drive([0.25], req)
    hub.run()
    assert seen == [("proc", 1.0), ("req", 2.25)]


def test_run_until_stops_and_resumes() -> None:
    hub = Hub()
    ends: list[float] = []
    hub.drive([1.0, 5.0], lambda i: (hub.sleep(1.0), ends.append(hub.now)))
    hub.run(until=3.0)
    assert ends == [2.0] and hub.now == 3.0 and hub.pending_arrivals == 1
    hub.run()
    assert ends == [2.0, 6.0]


def test_sleep_outside_a_request_greenlet_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        Hub().sleep(1.0)


def test_sleep_in_request_waits_only_inside_a_request() -> None:
    hub = Hub()
    hub.sleep_in_request(5.0)  # building pods, say: nothing to suspend, no time passes
    assert hub.now == 0.0
    ends: list[float] = []
    hub.drive([1.0], lambda i: (hub.sleep_in_request(2.0), ends.append(hub.now)))
    hub.run()
    assert ends == [3.0]


def test_an_exception_in_a_request_surfaces_in_the_loop() -> None:
    hub = Hub()

    def boom(i: int) -> None:
        hub.sleep(1.0)
        raise KeyError("bug")

    hub.drive([0.0], boom)
    with pytest.raises(KeyError):
        hub.run()


def test_hundreds_of_requests_are_in_flight_at_once() -> None:
    # latencies of seconds, arrivals of milliseconds: ~100 req/s x ~5 s = ~500 in flight
    orgs = openai_orgs(4, latency={"median": 5.0, "p99": 9.0})
    sc = scenario(duration=60.0, vendors={"openai": {"orgs": orgs}}, traffic={"daily_volume": 8_640_000})
    trace = sim.run(sc, "consecutive", seed=3)
    r = trace.requests
    assert trace.n_requests > 5000
    assert np.all(r["outcome"] == 0)
    in_flight = max_overlap(r["arrival"], r["end"])
    assert in_flight >= 300, in_flight
    assert trace.meta["max_in_flight"] >= in_flight
    # user latency is the vendor's simulated latency, not wall time
    lat = r["end"] - r["arrival"]
    assert 4.0 < float(np.median(lat)) < 6.0


def test_breaker_transitions_happen_when_the_outcomes_do() -> None:
    # o2 starts failing at t=100 (every call a 500, after its usual latency): the OPENED alert
    # is stamped with the end of the failing attempt that tripped it, on the pod that saw it
    orgs = openai_orgs(3, latency={"median": 2.0, "p99": 6.0})
    sc = scenario(
        duration=400.0,
        pods=2,
        vendors={"openai": {"orgs": orgs}},
        traffic={"daily_volume": 864_000},
        router={"max_attempts": 1},
        modifiers=[{"targets": ["o2"], "start": 100, "end": 250, "error_rate_set": 1.0, "error_mix": {"500": 1}}],
    )
    trace = sim.run(sc, ("consecutive", {"threshold": 3, "window": 60, "open_time": 30}), seed=5)
    ev, at = trace.events, trace.attempts
    o2 = trace.meta["orgs"].index("o2")
    opened = np.flatnonzero((ev["kind"] == EVENT_KINDS.index("OPENED")) & (ev["org"] == o2))
    assert len(opened) >= 2
    first = ev["time"][opened[0]]
    assert 100.0 < first < 130.0  # detected within seconds of simulated time, not at once
    failed = (at["org"] == o2) & (at["status"] == 500)
    for k in opened:
        t = ev["time"][k]
        # an attempt on o2 that failed exactly then, routed by the pod that raised the alert
        hits = np.flatnonzero(failed & (at["end"] == t))
        assert len(hits) >= 1, t
        assert trace.requests["pod"][at["request"][hits[0]]] == ev["pod"][k]
    # the requests in flight at the trip still finish later: the loop never stalls
    assert np.any(at["end"][at["org"] != o2] > first)


def test_arrivals_must_be_in_order() -> None:
    with pytest.raises(ValueError):
        Hub().drive([0.0, 2.0, 1.0], lambda i: None)
