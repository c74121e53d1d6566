"""What each fault kind lowers into: vendor-model modifiers, traffic surges, runtime effects, windows."""

from __future__ import annotations

import pytest

from faults import FaultNeedsEngine
from sim.fault_effects import (
    fault_modifiers,
    fault_windows,
    incident_severities,
    lower_faults,
    runtime_effects,
    with_surges,
)
from sim.fault_hooks import NO_RUNTIME_EFFECTS, RedisSchedule
from tests.fault_worlds import world


def test_vendor_faults_lower_into_modifiers():
    sc = world([
        {"kind": "lockout", "target": "a", "reason": "auth", "start": "10m"},
        {"kind": "outage", "target": ["b", "c"], "start": "20m", "duration": "5m"},
        {"kind": "latency", "target": "c", "factor": "3x", "add": "1s", "ramp": "30m", "steps": 3, "start": "1h"},
        {"kind": "rate_limit_squeeze", "target": "vendor:openai", "rpm": "25%"},
        {"kind": "model_unavailable", "target": "b", "model": "gpt-4o-mini"},
    ])
    mods = fault_modifiers(sc, sc.seed)
    assert mods[0].lockout == "auth" and mods[0].targets == ("a",) and mods[0].end is None
    assert mods[1].error_rate_set == 1.0 and mods[1].targets == ("b", "c") and mods[1].end == 1500
    ramp = [m for m in mods if m.kind == "latency"]
    assert [(m.start, m.end) for m in ramp] == [(3600, 4200), (4200, 4800), (4800, None)]
    assert [m.latency_factor for m in ramp] == pytest.approx([5 / 3, 7 / 3, 3.0])
    assert [m.latency_add for m in ramp] == pytest.approx([1 / 3, 2 / 3, 1.0])
    squeeze = next(m for m in mods if m.kind == "rate_limit_squeeze")
    assert squeeze.rpm_factor == 0.25 and squeeze.targets == ("vendor:openai",)
    unavailable = mods[-1]
    assert unavailable.models == ("gpt-4o-mini",) and unavailable.error_mix == {"503": 1.0}


def test_storm_needs_engine_for_partial_share_and_404():
    with pytest.raises(FaultNeedsEngine, match="rate_limit_share"):
        fault_modifiers(world([{"kind": "rate_limit_storm", "target": "a", "share": "50%"}]), 3)
    with pytest.raises(FaultNeedsEngine, match="unavailable"):
        fault_modifiers(world([{"kind": "model_unavailable", "target": "a", "model": "gpt-4o-mini",
                                "status": 404}]), 3)


def test_surges_and_runtime_faults_lower_outside_the_modifiers():
    sc = world([{"kind": "traffic_surge", "factor": 3, "start": "1h"}, {"kind": "redis_down", "start": "10m"},
                {"kind": "clock_skew", "pod": 1, "offset": "-2m", "start": "5m", "duration": "5m"}])
    assert fault_modifiers(sc, 3) == []
    prepared = with_surges(sc)
    assert prepared.traffic.surges[-1].factor == 3 and prepared.traffic.surges[-1].end == 7200
    assert with_surges(prepared) is prepared
    effects = runtime_effects(sc)
    assert effects.redis == (RedisSchedule(down=((600.0, None),)),) * 2
    assert effects.clock_skews(0) == () and effects.clock_skews(1) == ((300.0, 600.0, -120.0),)
    lowered = lower_faults(sc, 3)
    assert lowered.scenario == prepared and lowered.runtime == effects and lowered.modifiers == ()
    assert [w["kind"] for w in lowered.windows] == ["traffic_surge", "redis_down", "clock_skew"]
    assert lower_faults(world([]), 3).runtime.redis_schedule(0) is None
    assert NO_RUNTIME_EFFECTS.redis_schedule(0) is None and NO_RUNTIME_EFFECTS.clock_skews(0) == ()


def test_flapping_is_seeded_and_windows_are_one_per_fault():
    sc = world([{"kind": "flapping", "label": "f", "target": "a", "down": "2m", "up": "3m", "jitter": "30%",
                 "start": "10m", "end": "1h"},
                {"kind": "vendor_incident", "target": "vendor:openai", "error_rate": "10%", "spread": "50%"}])
    m1, m2 = fault_modifiers(sc, sc.seed), fault_modifiers(sc, sc.seed)
    assert m1 == m2
    assert fault_modifiers(sc, 4) != m1
    flaps = [m for m in m1 if m.label == "f"]
    assert len(flaps) > 5 and all(m.error_rate_set == 1.0 for m in flaps)
    assert flaps[0].start == 600 and all(m.end <= 3600 for m in flaps)
    sev = incident_severities(sc.faults[1], sc.fault_targets(), 3)
    assert list(sev) == ["a", "b", "c"] and all(0.5 <= v <= 1.5 for v in sev.values())
    windows = fault_windows(sc)
    assert [w["label"] for w in windows] == ["f", "vendor_incident vendor:openai"]
    assert windows[1]["target"] == "openai" and windows[0]["periods"][0][0] == 600


def test_windows_have_one_shape_with_or_without_faults():
    mod = {"kind": "brownout", "targets": ["a", "vendor:openai"], "start": 10, "end": 20, "error_rate_add": 0.1}
    plain = world([], modifiers=[mod])
    faulted = world([{"kind": "outage", "target": "a", "start": "1h"}], modifiers=[mod])
    expected = {"kind": "brownout", "target": ["a", "openai"], "start": 10.0, "end": 20.0,
                "label": "brownout a,vendor:openai"}
    assert fault_windows(plain) == [expected]
    assert fault_windows(faulted)[0] == expected
