"""breakerlab.search: the acceptance checks of issue 6 item 3, on a small seeded world.

A deliberately weak setting (consecutive, 50 failures in a row) misses the SLO under a brownout,
the seed's exponential preset holds within the budget, and the written YAML reproduces the
violation through load_scenario + sim.run + evaluate_slo.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from search_helpers import SMALL_YAML, WEAK

import sim
from breakerlab.executors import LocalExecutor
from breakerlab.search import search
from reports.metrics import evaluate_slo
from sim.loader import load_scenario


def test_weak_setting_has_a_counterexample(weak_result):
    r = weak_result
    assert r.found and not r.baseline_failed
    assert r.failed_checks and all(c.metric == "success_rate" for c in r.failed_checks)
    assert 1 <= r.examples_run <= 2 * r.budget
    # shrunk to a minimal schedule: one brownout on one org, well inside the run
    assert len(r.faults) == 1
    (f,) = r.faults
    assert f.kind == "brownout" and len(f.target) == 1
    assert 0 < f.error_rate <= 1 and 60 <= f.duration <= 3600
    assert r.scenario_with_faults is not None and r.scenario_with_faults.faults == r.faults
    assert r.reproduced is True


def test_written_yaml_reproduces_the_violation(weak_result):
    path = weak_result.written
    assert path is not None and path.exists()
    assert f"breakerlab run {path} --policy consecutive" in path.read_text(encoding="utf-8")
    sc = load_scenario(path)
    assert sc.faults == weak_result.faults  # replace mode: only the counterexample's faults
    assert sc.seed == 3 and sc.duration == 3600
    (pol,) = sc.policies
    assert (pol.name, pol.params) == ("consecutive", {"threshold": 50})
    # `breakerlab run FILE --policy consecutive` picks the listed policy with its params
    trace = sim.run(sc, pol, mode="fast", seed=sc.seed)
    checks = evaluate_slo(sc.slo, [trace], policy="consecutive")
    assert any(not c.passed for c in checks)
    assert [c.value for c in checks] == [c.value for c in weak_result.checks]
    # the same world without the schedule meets the SLO
    clean = sim.run(sc.model_copy(update={"faults": ()}), pol, mode="fast", seed=sc.seed)
    assert all(c.passed for c in evaluate_slo(sc.slo, [clean], policy="consecutive"))


def test_replace_drops_slo_entries_of_the_replaced_faults(weak_result):
    assert weak_result.dropped_slo == ["success_rate (during:org1 locked)"]
    data = yaml.safe_load(weak_result.yaml_text)
    assert data["slo"] == {"success_rate": {"overall": ">= 99%"}}
    assert all(f["kind"] == "brownout" for f in data["faults"])


def test_strong_setting_holds_within_the_budget(small_yaml):
    r = search(small_yaml, "seed", kinds=["brownout"], max_faults=1, budget=40, seed=0)
    assert not r.found
    assert r.examples_run == 40  # distinct schedules simulated
    assert r.closest_margin is not None and r.closest_margin > 0
    assert r.checks and all(c.passed for c in r.checks)
    assert r.yaml_text is None and r.written is None and r.scenario_with_faults is None


def test_search_is_deterministic(small_yaml, weak_result):
    again = search(small_yaml, WEAK, kinds=["brownout"], budget=40, seed=0, verify=False)
    assert again.faults == weak_result.faults
    assert again.examples_run == weak_result.examples_run
    assert yaml.safe_load(again.yaml_text) == yaml.safe_load(weak_result.yaml_text)


def test_a_schedules_seeds_run_on_a_pool_and_find_what_the_serial_search_finds(small_yaml, tmp_path):
    kw = {"kinds": ["brownout"], "max_faults": 1, "budget": 6, "shrink_budget": 4, "seed": 0, "sim_seeds": 2}
    serial = search(small_yaml, WEAK, out=tmp_path / "serial.yaml", **kw)
    with LocalExecutor(2) as ex:
        pooled = search(small_yaml, WEAK, executor=ex, out=tmp_path / "pooled.yaml", **kw)
    assert serial.found and pooled.found
    assert pooled.faults == serial.faults and pooled.examples_run == serial.examples_run
    assert [c.as_dict() for c in pooled.checks] == [c.as_dict() for c in serial.checks]
    written = (tmp_path / "pooled.yaml").read_text()
    assert written == (tmp_path / "serial.yaml").read_text().replace("serial.yaml", "pooled.yaml")
    assert "pooled.yaml --policy consecutive --seeds 2\n" in written
    assert pooled.reproduced is True and pooled.reproduce_command().endswith("--policy consecutive --seeds 2")
    with pytest.raises(ValueError, match=r"^sim_seeds: must be >= 1"):
        search(small_yaml, WEAK, **{**kw, "sim_seeds": 0})


def test_add_mode_keeps_the_scenarios_faults_and_slo(small_yaml, tmp_path):
    r = search(small_yaml, "weak", faults="add", kinds=["brownout"], targets=["org2", "org3"], budget=30,
               shrink_budget=10, seed=0, duration="40m", volume="24k/day", out=tmp_path / "add.yaml")
    assert r.found and r.dropped_slo == []
    assert r.policy == "weak" and r.policy_spec == {"name": "consecutive", "params": {"threshold": 50}}
    sc = load_scenario(tmp_path / "add.yaml")
    assert sc.faults[0].label == "org1 locked" and sc.faults[1:] == r.faults
    assert all(t in ("org2", "org3") for f in r.faults for t in f.target)
    assert "during:org1 locked" in sc.slo["success_rate"]
    assert sc.duration == 2400 and r.reproduced


def test_overrides_shrink_the_world_and_the_written_file_keeps_them(small_yaml):
    r = search(small_yaml, WEAK, kinds=["outage"], budget=10, shrink_budget=5, duration="30m",
               volume="12k/day", seed=1)
    assert r.found and r.reproduced
    data = yaml.safe_load(r.yaml_text)
    assert data["duration"] == "30m" and data["traffic"]["daily_volume"] == "12000/day"
    assert r.scenario_with_faults.duration == 1800
    assert r.scenario_with_faults.traffic.daily_volume == 12000



def test_scale_runs_the_world_smaller_and_the_written_file_keeps_it(small_yaml):
    r = search(small_yaml, WEAK, kinds=["outage"], budget=10, shrink_budget=5, scale=0.5, seed=1)
    assert r.found and r.reproduced
    world = r.scenario_with_faults
    assert world.scale == 0.5 and world.traffic.daily_volume == 12000  # 24k/day x 0.5
    assert world.vendors["openai"].orgs[0].limits["gpt-4o-mini"].rpm == 2500  # limits with it
    data = yaml.safe_load(r.yaml_text)
    assert data["scale"] == 0.5 and data["traffic"]["daily_volume"] == "24k/day"  # true figures + scale
    assert load_scenario_text(r.yaml_text).traffic.daily_volume == 12000  # a rerun runs at the scale


def load_scenario_text(text: str):
    from sim.loader import parse_scenario

    return parse_scenario(text, "counterexample")

def test_a_world_that_already_fails_is_its_own_counterexample(tmp_path):
    text = SMALL_YAML.replace("error_rate: 0.05%", "error_rate: 30%")
    path = tmp_path / "sick.yaml"
    path.write_text(text, encoding="utf-8")
    r = search(path, "none", budget=5, out=tmp_path / "ce.yaml")
    assert r.found and r.baseline_failed and r.faults == () and r.examples_run == 0
    sc = load_scenario(tmp_path / "ce.yaml")  # loads: SLO entries that need a fault are dropped
    assert sc.faults == () and r.reproduced


def test_scenario_objects_and_slo_overrides(tmp_path):
    base = sim.default_scenario(duration=1800, pods=2, traffic={"daily_volume": 24_000},
                                router={"max_attempts": 1, "attempt_timeout": 30, "deadline": 60})
    r = search(base, "none", slo={"success_rate": ">= 99.5%"}, kinds=["outage"], budget=5, shrink_budget=3,
               seed=0, out=tmp_path / "o.yaml")
    assert r.found and r.reproduced
    assert load_scenario(tmp_path / "o.yaml").slo == {"success_rate": ">= 99.5%"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ["meteor"]}, "unknown fault kind 'meteor'"),
        ({"budget": 0}, "budget"),
        ({"faults": "merge"}, "'replace' or 'add'"),
        ({"slo_metrics": ["detection_time"]}, "has none of detection_time"),
        ({"duration": "soon"}, "^duration: "),
        ({"params": {"threshold": 0}}, "threshold"),
    ],
)
def test_bad_input_is_one_line_value_error(small_yaml, kwargs, message):
    kwargs = {"kinds": ["brownout"], "budget": 3, **kwargs}
    with pytest.raises(ValueError, match=message) as e:
        search(small_yaml, "consecutive", **kwargs)
    assert "\n" not in str(e.value)


def test_breaker_reaction_metrics_are_judged_only_when_asked(tmp_path):
    text = SMALL_YAML.replace('slo:\n', 'slo:\n  detection_time: "<= 1m"\n')
    path = tmp_path / "reaction.yaml"
    path.write_text(text, encoding="utf-8")
    quiet = search(path, "seed", kinds=["brownout"], max_faults=1, budget=5, seed=0)
    assert quiet.skipped_slo == ["detection_time (overall)"] and not quiet.found
    # asked for, a mild brownout that no breaker should trip on "misses" detection: never
    loud = search(path, "seed", kinds=["brownout"], budget=5, shrink_budget=2, seed=0,
                  slo_metrics=["detection_time"])
    assert loud.found and loud.skipped_slo == []
    assert [c.metric for c in loud.failed_checks] == ["detection_time"] and loud.failed_checks[0].value is None
    assert yaml.safe_load(loud.yaml_text)["slo"] == {"detection_time": "<= 1m"}


def test_no_slo_is_refused(tmp_path: Path):
    text = SMALL_YAML.split("slo:")[0]
    path = tmp_path / "no-slo.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="no SLO to violate"):
        search(path, "seed", budget=3)
