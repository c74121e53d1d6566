"""Units, fault models and the cross-checks of a fault list against its scenario."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import TypeAdapter, ValidationError

import faults
from faults import FAULT_KINDS, Fault, FaultCheckError, FaultTargets, OrgTarget, check_faults
from faults.models import ErrorKind as FaultErrorKind
from faults.units import count, duration, factor, rate, volume
from sim.scenario import ErrorKind, Modifier
from tests.fault_worlds import world

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


def test_check_faults_reads_plain_data():
    targets = FaultTargets(
        orgs=(OrgTarget("a", "openai", {"gpt-4o-mini": 600}, has_rpm=True, has_tpm=False),
              OrgTarget("b", "anthropic", {}, has_rpm=False, has_tpm=False)),
        models=frozenset({"gpt-4o-mini"}), pods=2, duration=3600.0, shared_state=False)
    assert targets.resolve(["vendor:anthropic", "a"]) == ["a", "b"]
    ok = TypeAdapter(Fault).validate_python({"kind": "rate_limit_storm", "target": "a"})
    check_faults([ok], targets)
    for spec, words in [
        ({"kind": "rate_limit_squeeze", "target": "*", "tpm": "50%"}, "faults.0.tpm: org 'a' has no tpm"),
        ({"kind": "redis_down"}, "faults.0.kind: redis_down needs state: shared"),
        ({"kind": "clock_skew", "pod": 2, "offset": "1s"}, "faults.0.pod: no pod 2"),
    ]:
        with pytest.raises(FaultCheckError, match=words):
            check_faults([TypeAdapter(Fault).validate_python(spec)], targets)


def test_scenario_offers_its_orgs_models_and_pods_to_faults():
    t = world([], pods=3, state="local")
    ft = t.fault_targets()
    assert [o.name for o in ft.orgs] == ["a", "b", "c"] and ft.orgs[0].rpm == {"gpt-4o-mini": 600}
    assert ft.pods == 3 and ft.duration == 7200 and not ft.shared_state and "gpt-4o-mini" in ft.models


def test_the_catalogue_imports_no_engine():
    code = ("import sys, faults, faults.checks, faults.models, faults.units, faults.strategies; "
            "print(sorted(m for m in sys.modules if m == 'sim' or m.startswith('sim.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
