"""Units, fault models and what each fault kind compiles into."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

import faults
from faults import FAULT_KINDS, Fault, FaultNeedsEngine
from faults.units import count, duration, factor, rate, volume
from sim.scenario import ErrorKind, Modifier, Scenario

LIMITS = {"gpt-4o-mini": {"rpm": 600, "tpm": "1M"}}


def world(fault_list, **over):
    base = {"name": "c", "seed": 3, "duration": "2h", "pods": 2,
            "vendors": {"openai": {"orgs": [{"name": n, "limits": LIMITS} for n in ("a", "b", "c")]}},
            "faults": fault_list}
    base.update(over)
    return Scenario.model_validate(base)


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(("text", "value"), [("0.2%", 0.002), ("0.002", 0.002), (0.5, 0.5), ("100%", 1.0)])
def test_rate(text, value):
    assert rate(text) == pytest.approx(value)


@pytest.mark.parametrize(("text", "value"), [("2M", 2_000_000), ("10k", 10_000), ("1.5M", 1_500_000),
                                             ("2_000", 2000), ("2,000", 2000), (3.0, 3), ("1G", 10**9)])
def test_count(text, value):
    assert count(text) == value and isinstance(count(text), int)


@pytest.mark.parametrize(("text", "value"), [("1M/day", 1e6), ("100k/d", 1e5), ("50/h", 1200.0), ("10/s", 864000.0),
                                             ("500/min", 720000.0), ("2k", 2000.0), (7, 7), ("3/hours", 72.0)])
def test_volume(text, value):
    assert volume(text) == pytest.approx(value)


@pytest.mark.parametrize(("text", "value"), [("5x", 5.0), ("x0.5", 0.5), ("\u00d75", 5.0), ("50%", 0.5), ("1.5", 1.5)])
def test_factor(text, value):
    assert factor(text) == pytest.approx(value)


@pytest.mark.parametrize(("fn", "bad"), [(rate, "lots"), (count, "2Q"), (count, "1.5"), (count, "1e999"),
                                         (volume, "1M/week"), (volume, "fast/day"), (factor, "double"),
                                         (duration, "-1h"), (duration, "3 days")])
def test_bad_units_raise_value_error(fn, bad):
    with pytest.raises(ValueError):
        fn(bad)


def test_scenario_fields_take_human_units():
    sc = world([], traffic={"daily_volume": "1M/day", "sessions": {"per_day": "2k/day", "size": "200"},
                            "prompt_tokens": {"median": "1k", "p99": "8k"}})
    assert sc.traffic.daily_volume == 1e6 and sc.traffic.sessions.per_day == 2000
    assert sc.traffic.prompt_tokens.p99 == 8000
    org = sc.vendors["openai"].orgs[0]
    assert org.limits["gpt-4o-mini"].tpm == 1_000_000
    org = {"name": "a", "error_rate": "0.2%", "latency_drift": [[0, 1], ["1h", "2x"]]}
    sc2 = world([], vendors={"openai": {"orgs": [org]}})
    assert sc2.vendors["openai"].orgs[0].error_rate == pytest.approx(0.002)
    assert Modifier.model_validate({"error_rate_set": "5%", "rpm_factor": "25%"}).rpm_factor == 0.25


def test_error_kinds_match_the_simulator():
    from faults.models import ErrorKind as FaultErrorKind

    assert FaultErrorKind.__args__ == ErrorKind.__args__


# --------------------------------------------------------------------------- models


def test_every_kind_is_in_the_union_and_the_catalogue():
    assert len(FAULT_KINDS) == 17
    assert [k for k, _ in faults.catalogue()] == list(FAULT_KINDS)
    adapter = TypeAdapter(Fault)
    f = adapter.validate_python({"kind": "brownout", "target": "a", "error_rate": "5%", "start": "1h",
                                 "duration": "30m"})
    assert f.stop == 5400 and f.name() == "brownout a"


@pytest.mark.parametrize("spec", [
    {"kind": "meteor", "target": "a"},
    {"kind": "outage"},                                            # no target
    {"kind": "outage", "target": "a", "duration": "-1h"},
    {"kind": "outage", "target": "a", "duration": 0},
    {"kind": "outage", "target": "a", "start": "1h", "end": "30m"},
    {"kind": "outage", "target": "a", "duration": "1h", "end": "2h"},
    {"kind": "brownout", "target": "a", "error_rate": "150%"},
    {"kind": "latency", "target": "a"},                            # no change
    {"kind": "slow_drip", "target": "a", "error_rate": "5%"},      # until the end without a ramp
    {"kind": "rate_limit_squeeze", "target": "a"},
    {"kind": "flapping", "target": "a", "up": "1m"},
    {"kind": "flapping", "target": "a", "up": "1m", "down": "1m", "jitter": "100%"},
    {"kind": "clock_skew", "pod": 0, "offset": 0},
    {"kind": "outage", "target": "a", "errors": ["418"]},
    {"kind": "lockout", "target": "a", "reason": "vacation"},
])
def test_bad_faults_are_refused(spec):
    with pytest.raises(ValidationError):
        TypeAdapter(Fault).validate_python(spec)


@pytest.mark.parametrize(("spec", "words"), [
    ({"kind": "outage", "target": "zz"}, "unknown org 'zz'"),
    ({"kind": "outage", "target": "vendor:azure"}, "unknown vendor"),
    ({"kind": "model_unavailable", "target": "a", "model": "gpt-9"}, "unknown model"),
    ({"kind": "clock_skew", "pod": 5, "offset": "10s"}, "no pod 5"),
    ({"kind": "outage", "target": "a", "start": "3h"}, "after the run ends"),
    ({"kind": "vendor_incident", "target": "a", "error_rate": "5%", "severity": {"b": 1}}, "not one of"),
])
def test_cross_checks(spec, words):
    with pytest.raises(ValidationError, match=words):
        world([spec])


def test_store_faults_need_shared_state_and_labels_are_unique():
    with pytest.raises(ValidationError, match="needs state: shared"):
        world([{"kind": "redis_down"}], state="local")
    with pytest.raises(ValidationError, match="duplicate fault label"):
        world([{"kind": "outage", "target": "a", "duration": "1m"}, {"kind": "outage", "target": "a", "start": "1h"}])


# --------------------------------------------------------------------------- compile


def test_compile_vendor_faults_into_modifiers():
    sc = world([
        {"kind": "lockout", "target": "a", "reason": "auth", "start": "10m"},
        {"kind": "outage", "target": ["b", "c"], "start": "20m", "duration": "5m"},
        {"kind": "latency", "target": "c", "factor": "3x", "add": "1s", "ramp": "30m", "steps": 3, "start": "1h"},
        {"kind": "rate_limit_squeeze", "target": "vendor:openai", "rpm": "25%"},
        {"kind": "model_unavailable", "target": "b", "model": "gpt-4o-mini"},
    ])
    mods = faults.compile_faults(sc)
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
        faults.compile_faults(world([{"kind": "rate_limit_storm", "target": "a", "share": "50%"}]))
    with pytest.raises(FaultNeedsEngine, match="unavailable"):
        faults.compile_faults(world([{"kind": "model_unavailable", "target": "a", "model": "gpt-4o-mini",
                                      "status": 404}]))


def test_surges_and_runtime_faults_are_never_dropped_silently():
    sc = world([{"kind": "traffic_surge", "factor": 3, "start": "1h"}, {"kind": "redis_down", "start": "10m"}])
    with pytest.raises(FaultNeedsEngine, match="prepare_scenario"):
        faults.compile_faults(sc)
    prepared = faults.prepare_scenario(sc)
    assert prepared.traffic.surges[-1].factor == 3 and prepared.traffic.surges[-1].end == 7200
    assert faults.prepare_scenario(prepared) is prepared
    with pytest.raises(FaultNeedsEngine, match=r"runtime\.install"):
        faults.compile_faults(prepared)
    assert faults.compile_faults(prepared, runtime=True) == []
    with faults.runtime_hooks(5):
        assert faults.compile_faults(prepared) == []


def test_flapping_is_seeded_and_windows_are_one_per_fault():
    sc = world([{"kind": "flapping", "label": "f", "target": "a", "down": "2m", "up": "3m", "jitter": "30%",
                 "start": "10m", "end": "1h"},
                {"kind": "vendor_incident", "target": "vendor:openai", "error_rate": "10%", "spread": "50%"}])
    m1, m2 = faults.compile_faults(sc), faults.compile_faults(sc)
    assert m1 == m2
    assert faults.compile_faults(sc, seed=4) != m1
    flaps = [m for m in m1 if m.label == "f"]
    assert len(flaps) > 5 and all(m.error_rate_set == 1.0 for m in flaps)
    assert flaps[0].start == 600 and all(m.end <= 3600 for m in flaps)
    sev = faults.incident_severities(sc.faults[1], sc, 3)
    assert list(sev) == ["a", "b", "c"] and all(0.5 <= v <= 1.5 for v in sev.values())
    windows = faults.fault_windows(sc)
    assert [w["label"] for w in windows] == ["f", "vendor_incident vendor:openai"]
    assert windows[1]["target"] == "openai" and windows[0]["periods"][0][0] == 600
