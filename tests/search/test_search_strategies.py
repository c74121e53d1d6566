"""faults.strategies: valid schedules, mildest-first shrinking, scenario fitting."""

from __future__ import annotations

from pathlib import Path
from random import Random

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import find as _find

from breakerlab.search import fault_yaml
from faults import FAULT_KINDS, FAULT_TYPES, check_faults
from faults import strategies as fs
from sim.loader import load_scenario
from sim.scenario import Scenario, default_scenario

ORGS = ["org1", "org2", "org3"]
HOUR = 3600.0
QUICK = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
#: find() without the explain phase (slow, and only for reports)
FIND = settings(max_examples=500, database=None, deadline=None, phases=[Phase.generate, Phase.shrink])


def find(strategy, condition, random=None):
    return _find(strategy, condition, settings=FIND, random=random or Random(0))


def _world(**kw):
    return default_scenario(duration=HOUR, **kw)


@QUICK
@given(fs.fault_schedules(ORGS, HOUR, kinds=list(fs.MILDNESS), max_faults=4, pods=2, models=["gpt-4o-mini"]))
def test_schedules_are_valid_fault_lists(schedule):
    assert 1 <= len(schedule) <= 4
    names = [f.name() for f in schedule]
    assert len(set(names)) == len(names)
    assert [f.start for f in schedule] == sorted(f.start for f in schedule)
    for f in schedule:
        assert isinstance(f, FAULT_TYPES)
        assert 0 <= f.start < HOUR
        assert f.duration is not None and f.duration >= 60 and f.start + f.duration <= HOUR
        assert f.start % 60 == 0 and f.duration % 60 == 0
        for t in getattr(f, "target", ()):
            assert t in ORGS
        # the YAML form reads back as the same fault
        assert FAULT_KINDS[f.kind].model_validate(fault_yaml(f)) == f


_library = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "lock-primary-before-launch.yaml")


@QUICK
@given(fs.for_scenario(_library, kinds=list(fs.MILDNESS), max_faults=3))
def test_for_scenario_fits_a_library_scenario(schedule):
    sc = _library.model_copy(update={"faults": tuple(schedule)})
    check_faults(sc.faults, sc.fault_targets())  # known orgs, pods, models, rpm limits; distinct labels
    Scenario.model_validate({**_library.model_dump(mode="json"), "faults": [fault_yaml(f) for f in sc.faults]})


MILDEST = {
    "latency": {"factor": 1.5},
    "brownout": {"error_rate": 0.05},
    "timeouts": {"error_rate": 0.05},
    "connection_resets": {"error_rate": 0.05},
    "flapping": {"down": 30.0, "up": 600.0, "error_rate": 0.5},
    "slow_drip": {"error_rate": 0.01, "latency_factor": 1.0},
    "rate_limit_squeeze": {"rpm": 0.9},
    "rate_limit_storm": {"retry_after": 5.0},
    "vendor_incident": {"error_rate": 0.01, "target": ("org1",)},
    "model_unavailable": {"model": "gpt-4o-mini"},
    "outage": {"target": ("org1",)},
    "lockout": {"reason": "quota"},
    "traffic_surge": {"factor": 1.5},
    "redis_slow": {"delay": 0.01, "pods": (0,)},
    "redis_down": {"pods": (0,)},
    "pod_partition": {"pod": 0},
    "clock_skew": {"pod": 0, "offset": 5.0},
}


@pytest.mark.parametrize("kind", fs.MILDNESS)
def test_each_kind_shrinks_to_its_mildest(kind):
    extra = {"models": ["gpt-4o-mini"]} if kind == "model_unavailable" else {}
    strategy = fs.fault_strategy(kind, ORGS, HOUR, pods=2, **extra)
    f = find(strategy, lambda _: True, random=Random(0))
    assert (f.kind, f.start, f.duration) == (kind, 0.0, 60.0)
    for field, value in MILDEST[kind].items():
        assert getattr(f, field) == value, field


def test_named_strategies_match_the_catalogue():
    assert set(fs.MILDNESS) == set(FAULT_KINDS)
    f = find(fs.brownouts(ORGS, HOUR, min_rate=0.2), lambda _: True)
    assert f.error_rate == 0.2
    f = find(fs.lockouts(ORGS, HOUR, reasons=["auth"]), lambda _: True)
    assert f.reason == "auth"
    f = find(fs.clock_skews(3, HOUR), lambda f: f.offset < -60 and f.pod == 2)
    assert (f.pod, f.offset) == (2, -65.0)
    f = find(fs.vendor_incidents(ORGS, HOUR), lambda f: len(f.target) == 3)
    assert f.target == tuple(ORGS)


@pytest.mark.parametrize("seed", range(2))
def test_schedules_shrink_to_fewer_faults_shorter_windows_milder_parameters(seed):
    schedules = fs.fault_schedules(ORGS, HOUR, max_faults=3)

    def breaks(s):  # "a policy fails when some org sees >= 40 % errors for >= 10 min"
        return any(f.kind == "brownout" and f.error_rate >= 0.4 and f.duration >= 600 for f in s)

    (f,) = find(schedules, breaks, random=Random(seed))
    assert (f.kind, f.target, f.start, f.duration, f.error_rate) == ("brownout", ("org1",), 0.0, 600.0, 0.4)


def test_shrinks_towards_milder_kinds_and_fewer_faults():
    two = find(fs.fault_schedules(ORGS, HOUR), lambda s: len(s) >= 2, random=Random(1))
    assert [f.kind for f in two] == ["latency", "latency"]
    assert [f.label for f in two] == ["", "latency org1 #2"]  # distinct labels
    first = find(fs.fault_schedules(ORGS, HOUR, kinds=["lockout", "brownout"]), lambda s: True)
    assert [f.kind for f in first] == ["brownout"]  # kinds are tried mildest first, whatever the order given


def test_windows_respect_bounds():
    @QUICK
    @given(fs.windows(600, min_duration=120, max_duration=300, resolution=30))
    def check(w):
        start, length = w
        assert start % 30 == 0 and length % 30 == 0
        assert 120 <= length <= 300 and start + length <= 600

    check()


def test_relabel_orders_and_avoids_taken_labels():
    a = FAULT_KINDS["brownout"](kind="brownout", target="org1", start=600, error_rate=0.3)
    b = FAULT_KINDS["brownout"](kind="brownout", target="org1", start=60, error_rate=0.5)
    out = fs.relabel([a, b], taken=["brownout org1"])
    assert [f.start for f in out] == [60, 600]
    assert [f.name() for f in out] == ["brownout org1 #2", "brownout org1 #3"]


def test_for_scenario_refuses_what_the_scenario_cannot_take():
    no_limits = default_scenario(duration=HOUR, vendors={"openai": {"orgs": [{"name": "a"}, {"name": "b"}]}})
    with pytest.raises(ValueError, match="rpm limits"):
        fs.for_scenario(no_limits, kinds=["rate_limit_squeeze"])
    with pytest.raises(ValueError, match="state: shared"):
        fs.for_scenario(_world(state="local"), kinds=["redis_down"])
    with pytest.raises(ValueError, match="unknown org"):
        fs.for_scenario(_world(), targets=["nope"])
    with pytest.raises(ValueError, match="unknown fault kind 'meteor'"):
        fs.fault_schedules(ORGS, HOUR, kinds=["meteor"])
    with pytest.raises(ValueError, match="pods="):
        fs.fault_schedules(ORGS, HOUR, kinds=["clock_skew"])
    with pytest.raises(ValueError, match="models="):
        fs.fault_schedules(ORGS, HOUR, kinds=["model_unavailable"])
    with pytest.raises(ValueError, match="unknown option"):
        fs.fault_schedules(ORGS, HOUR, kinds=["brownout"], options={"brownout": {"max_factor": 2}})
    with pytest.raises(ValueError, match="max_faults"):
        fs.fault_schedules(ORGS, HOUR, max_faults=0)


def test_for_scenario_targets_only_orgs_with_rpm_limits_for_squeezes():
    sc = default_scenario(duration=HOUR, vendors={"openai": {"orgs": [
        {"name": "a"}, {"name": "b", "limits": {"gpt-4o-mini": {"rpm": 100, "tpm": 10000}}}]}})

    @QUICK
    @given(fs.for_scenario(sc, kinds=["rate_limit_squeeze", "rate_limit_storm"]))
    def check(schedule):
        assert all(f.target == ("b",) for f in schedule)
        check_faults(tuple(schedule), sc.fault_targets())

    check()
