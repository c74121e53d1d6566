"""The scenario library: every file valid, a real question with an SLO and expectations, the
published JSON Schema in sync, and the seed story (lock-primary-before-launch) as the talk tells it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import sim
from reports.metrics import evaluate_slo
from sim.loader import load_scenario, scenario_json_schema

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
REQUIRED = {"lock-primary-before-launch", "openai-6h-incident", "one-org-diverges", "rate-limit-squeeze-at-peak",
            "flapping-org", "redis-down", "all-openai-orgs-down", "site-planner-burst", "slow-drip", "quiet-night",
            "recovery-herd"}


def test_the_library_has_the_required_scenarios():
    assert {p.stem for p in FILES} >= REQUIRED


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_is_valid_and_asks_a_question(path: Path):
    sc = load_scenario(path)
    assert sc.name == path.stem
    assert "?" in sc.description, "the description states the question"
    assert sc.slo, "every scenario has an SLO"
    # CI checks at least one policy: that it passes, or (a failure shown on purpose) that it misses
    assert any(p.expect_pass is not None for p in sc.policies), "CI checks at least one policy"
    assert len(sc.policies) >= 2, "a scenario compares policies"


def test_published_json_schema_is_in_sync():
    published = json.loads((SCENARIOS / "schema.json").read_text(encoding="utf-8"))
    assert published == json.loads(json.dumps(scenario_json_schema())), (
        "scenarios/schema.json is stale: regenerate with `python -m sim schema > scenarios/schema.json`")


def test_json_schema_accepts_the_library_and_rejects_nonsense():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCENARIOS / "schema.json").read_text(encoding="utf-8"))
    for path in FILES:
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
    doc = yaml.safe_load(FILES[0].read_text(encoding="utf-8"))
    doc["faults"] = [{"kind": "meteor"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def test_readme_example_is_a_valid_scenario(tmp_path: Path):
    text = (SCENARIOS / "README.md").read_text(encoding="utf-8")
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = tmp_path / "example.yaml"
    example.write_text(block, encoding="utf-8")
    sc = load_scenario(example)
    assert sc.faults and sc.slo and sc.policies


@pytest.fixture(scope="module")
def launch() -> dict:
    sc = load_scenario(SCENARIOS / "lock-primary-before-launch.yaml")
    assert sc.traffic.daily_volume == 1_000_000  # the file states the true volume; CI runs its ci_scale
    sc = sc.scaled(sc.ci_scale or 1.0)
    return {"scenario": sc, "runs": {p: sim.run(sc, p) for p in ("exponential", "none")}}


def _launch_success(launch: dict, policy: str) -> float:
    checks = evaluate_slo({"success_rate": {"during:launch": ">= 99.9%"}}, [launch["runs"][policy]], policy=policy)
    assert len(checks) == 1
    return checks[0].value


def test_seed_story_exponential_with_shared_state_carries_the_launch(launch: dict):
    sc = launch["scenario"]
    assert sc.state == "shared"
    assert _launch_success(launch, "exponential") >= 0.999
    checks = evaluate_slo(sc.slo, [launch["runs"]["exponential"]], policy="exponential")
    assert all(c.passed for c in checks), [c.as_dict() for c in checks if not c.passed]


def test_seed_story_without_a_breaker_the_launch_visibly_fails(launch: dict):
    assert _launch_success(launch, "none") < 0.95  # one locked org of five: ~12 % of launch requests fail
    checks = evaluate_slo(launch["scenario"].slo, [launch["runs"]["none"]], policy="none")
    assert not all(c.passed for c in checks)


def test_seed_story_the_breaker_opened_on_the_locked_org(launch: dict):
    tr = launch["runs"]["exponential"]
    primary = tr.meta["orgs"].index("primary")
    opened = (tr.events["org"] == primary) & (tr.events["kind"] == 0)
    assert opened.any() and float(tr.events["time"][opened].min()) >= 10 * 3600


def test_launch_beyond_the_pools_capacity_fails_even_with_the_breaker():
    sc = load_scenario(SCENARIOS / "launch-exceeds-capacity.yaml")
    sc = sc.scaled(sc.ci_scale or 1.0)
    checks = evaluate_slo(sc.slo, [sim.run(sc, "exponential")], policy="exponential")
    launch = next(c for c in checks if c.metric == "success_rate")
    assert launch.value < 0.99  # ~91 %: requests find every org held by a 429's retry-after
