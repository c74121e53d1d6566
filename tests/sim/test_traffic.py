"""Traffic generation: volumes, shapes, surges, sessions, tokens, pods — seeded and stable."""

from __future__ import annotations

import numpy as np
import pytest
from sim_helpers import scenario

from sim.rng import Seeds
from sim.traffic import generate


def arrivals(seed: int = 1, **traffic):
    base = {"daily_volume": 100_000, "prompt_tokens": {"median": 500, "p99": 4000}, "max_tokens": {"median": 256}}
    base.update(traffic.pop("traffic", {}))
    sc = scenario(duration=traffic.pop("duration", 86400.0), traffic=base, **traffic)
    return generate(sc, Seeds(seed))


def test_daily_volume_and_flat_shape() -> None:
    a = arrivals()
    assert len(a) == pytest.approx(100_000, abs=5 * np.sqrt(100_000))
    assert np.all(np.diff(a.time) >= 0) and a.time[0] >= 0 and a.time[-1] < 86400
    per_hour = np.histogram(a.time, bins=24, range=(0, 86400))[0]
    assert per_hour.min() > 0.85 * per_hour.mean()
    assert np.all(a.session == -1)


def test_diurnal_shape_peaks_at_the_peak_hour() -> None:
    a = arrivals(traffic={"shape": "diurnal", "diurnal_amplitude": 0.8, "peak_hour": 15})
    per_hour = np.histogram(a.time, bins=24, range=(0, 86400))[0]
    assert int(np.argmax(per_hour)) in (14, 15)
    assert int(np.argmin(per_hour)) in (2, 3)
    assert per_hour.max() / per_hour.min() > 5
    assert len(a) == pytest.approx(100_000, abs=5 * np.sqrt(100_000))


def test_surge_multiplies_the_rate_in_its_window() -> None:
    a = arrivals(traffic={"surges": [{"start": "6h", "end": "12h", "factor": 5}]})
    inside = np.sum((a.time >= 6 * 3600) & (a.time < 12 * 3600))
    before = np.sum(a.time < 6 * 3600)
    assert inside / before == pytest.approx(5.0, rel=0.05)


def test_sessions_fan_out_at_one_instant_on_one_pod() -> None:
    a = arrivals(pods=4, traffic={"sessions": {"per_day": 2000, "size": 10, "size_max": 30}})
    sid = a.session[a.session >= 0]
    assert a.n_sessions == pytest.approx(2000, abs=250)
    for s in range(0, a.n_sessions, 97):
        idx = np.flatnonzero(a.session == s)
        assert 10 <= len(idx) <= 30
        assert np.all(a.time[idx] == a.time[idx[0]])
        assert len(set(a.pod[idx].tolist())) == 1
        assert np.all(np.diff(idx) == 1)  # contiguous ids
    assert len(np.unique(sid)) == a.n_sessions
    # switching sessions on leaves single requests exactly where they were
    plain = arrivals(pods=4)
    assert np.array_equal(plain.time, a.time[a.session < 0])


def test_round_robin_and_random_pod_assignment() -> None:
    rr = arrivals(pods=3, duration=3600.0)
    assert rr.pod[:6].tolist() == [0, 1, 2, 0, 1, 2]
    rnd = arrivals(pods=3, duration=3600.0, traffic={"assignment": "random"})
    counts = np.bincount(rnd.pod, minlength=3)
    assert counts.min() > 0.9 * counts.mean() and rnd.pod[:30].tolist() != rr.pod[:30].tolist()


def test_token_sizes() -> None:
    a = arrivals()
    assert np.median(a.prompt_tokens) == pytest.approx(500, rel=0.05)
    assert np.quantile(a.prompt_tokens, 0.99) == pytest.approx(4000, rel=0.1)
    assert np.all(a.max_tokens == 256)


def test_models_mix_and_determinism() -> None:
    a = arrivals(traffic={"model": {"gpt-4o-mini": 3, "gpt-4o": 1}}, duration=3600.0)
    assert a.models == ["gpt-4o-mini", "gpt-4o"]
    assert np.mean(a.model == 1) == pytest.approx(0.25, abs=0.03)
    b = arrivals(traffic={"model": {"gpt-4o-mini": 3, "gpt-4o": 1}}, duration=3600.0)
    assert np.array_equal(a.time, b.time) and np.array_equal(a.model, b.model)
    c = arrivals(seed=2, duration=3600.0)
    assert not np.array_equal(a.time[:100], c.time[:100])


def test_named_streams_are_stable() -> None:
    s = Seeds(42)
    x = s.generator("traffic:requests").random(3)
    assert np.array_equal(x, Seeds(42).generator("traffic:requests").random(3))
    assert not np.array_equal(x, s.generator("org:o1:latency").random(3))
    st = s.stream("org:o1:latency")
    first = [st.uniform() for _ in range(5000)]
    again = Seeds(42).stream("org:o1:latency")
    assert first == [again.uniform() for _ in range(5000)]
    r1, r2 = s.python_random("pod:0:router"), Seeds(42).python_random("pod:0:router")
    assert r1.random() == r2.random()


@pytest.mark.parametrize("pods", [{"pods": 3}, {"pods": 3, "traffic_assignment": "random"}])
def test_a_surge_leaves_the_traffic_before_it_intact(pods: dict) -> None:
    """A launch surge added to a scenario changes nothing before it starts: the same requests,
    sessions, sizes, models and pods — so 'with vs without the launch' compares like with like."""
    traffic = {"sessions": {"per_day": 20_000, "size": 3, "size_max": 6}, "diurnal_amplitude": 0.5,
               "shape": "diurnal", "model": {"m1": 3, "m2": 1}}
    if pods.get("traffic_assignment"):
        traffic["assignment"] = pods["traffic_assignment"]
    base = arrivals(traffic=traffic, pods=pods["pods"])
    surged = arrivals(traffic={**traffic, "surges": [{"start": "13h", "end": "15h", "factor": 5}]}, pods=pods["pods"])
    cut = 13 * 3600.0
    n = int(np.searchsorted(base.time, cut))
    assert 0 < n == int(np.searchsorted(surged.time, cut))
    for field in ("time", "session", "pod", "model", "prompt_tokens", "max_tokens"):
        assert np.array_equal(getattr(base, field)[:n], getattr(surged, field)[:n]), field
    assert len(surged) > len(base) + 0.5 * 4 * 2 / 24 * 100_000  # and the surge is there
