"""The pytest plugin: scenario files as test items, and what a failure says."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points

import pytest

import breakerlab.pytest_plugin  # noqa: F401

# Imported here so that pytester's in-process runs find them loaded (numpy cannot be imported
# twice in one process, and pytester restores sys.modules after each run).
import faults  # noqa: F401
import reports.metrics  # noqa: F401

pytest_plugins = ["pytester"]


SCENARIO = textwrap.dedent("""\
    name: tiny
    description: one org down for ten minutes - do users notice?
    seed: 3
    duration: 40m
    pods: 2
    router: {{max_attempts: 2, attempt_timeout: 10s, deadline: 30s}}
    vendors:
      openai:
        orgs:
          - {{name: a, limits: {{gpt-4o-mini: {{rpm: 5000, tpm: 2M}}}}}}
          - {{name: b, limits: {{gpt-4o-mini: {{rpm: 5000, tpm: 2M}}}}}}
    traffic: {{daily_volume: 60k/day}}
    faults:
      - {{kind: outage, label: a down, target: a, start: 10m, duration: 10m}}
    slo:
      success_rate: "{threshold}"
      detection_time: "<= 1m"
    policies:
      - {{name: exponential, expect_pass: true}}
      - {{name: consecutive, expect_pass: true}}
      - {{name: none, expect_pass: false}}
      - {{name: outlier}}
    """)


@pytest.fixture
def scenarios_dir(pytester: pytest.Pytester):
    d = pytester.mkdir("scenarios")
    # Installed (pip install -e .), the plugin loads through its entry point; from a bare checkout
    # the test loads it by name. Loading it both ways would register it twice.
    installed = any(ep.name == "breakerlab" for ep in entry_points(group="pytest11"))
    addopts = "" if installed else "addopts = -p breakerlab.pytest_plugin\n"
    pytester.makeini("[pytest]\n" + addopts +
                     "filterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    return d


def test_one_item_per_expected_to_pass_policy(pytester: pytest.Pytester, scenarios_dir):
    (scenarios_dir / "tiny.yaml").write_text(SCENARIO.format(threshold=">= 99%"))
    (scenarios_dir / "notes.md").write_text("not a scenario")
    result = pytester.runpytest("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(["scenarios/tiny.yaml::exponential", "scenarios/tiny.yaml::consecutive"])
    assert "none" not in result.stdout.str()
    result = pytester.runpytest("--collect-only", "-q", "--scenario-expect-fail", "scenarios")
    result.stdout.fnmatch_lines(["scenarios/tiny.yaml::none[[]expect-fail[]]"])


def test_passing_and_failing_scenarios(pytester: pytest.Pytester, scenarios_dir, tmp_path):
    (scenarios_dir / "tiny.yaml").write_text(SCENARIO.format(threshold=">= 99%"))
    traces = tmp_path / "traces"
    result = pytester.runpytest("scenarios", "--scenario-traces", str(traces), "--scenario-expect-fail", "-k",
                                "exponential or none")
    result.assert_outcomes(passed=2)
    assert (traces / "tiny" / "exponential-seed3.npz").is_file()

    strict = SCENARIO.format(threshold=">= 99%").replace("  detection_time",
                                                         '  p99_latency: "<= 10ms"\n  detection_time')
    (scenarios_dir / "tiny.yaml").write_text(strict)
    result = pytester.runpytest("scenarios", "--scenario-traces", str(traces), "-k", "exponential")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "scenario 'tiny', policy 'exponential', seed 3, fast mode: SLO not met" in out
    result.stdout.fnmatch_lines(["*ok   success_rate overall: measured * %, required >= 99%*",
                                 "*FAIL p99_latency overall: measured * s, required <= 10ms*",
                                 "*ok   detection_time fault [[]a down[]]: measured * s, required <= 1m*",
                                 "*seed: 3*", f"*trace: {traces}/tiny/exponential-seed3.npz*",
                                 "*reproduce: breakerlab run * --policy exponential --seed 3*"])


def test_bad_scenario_file_is_a_one_line_collection_error(pytester: pytest.Pytester, scenarios_dir):
    (scenarios_dir / "bad.yaml").write_text(SCENARIO.format(threshold=">= 99%").replace("kind: outage", "kind: meteor"))
    result = pytester.runpytest("scenarios")
    result.stdout.fnmatch_lines(["*scenarios/bad.yaml:14: faults.0.kind: unknown fault kind (got 'meteor'*"])
    assert "Traceback" not in result.stdout.str()


def test_yaml_outside_a_scenarios_dir_and_switching_off(pytester: pytest.Pytester, scenarios_dir):
    pytester.mkdir("other")
    (pytester.path / "other" / "tiny.yaml").write_text(SCENARIO.format(threshold=">= 99%"))
    (scenarios_dir / "tiny.yaml").write_text(SCENARIO.format(threshold=">= 99%"))
    assert "tiny.yaml" not in pytester.runpytest("--collect-only", "-q", "other").stdout.str()
    result = pytester.runpytest("--collect-only", "-q", "-o", "breakerlab_scenarios=false", "scenarios")
    assert "tiny.yaml::" not in result.stdout.str()
    result = pytester.runpytest("--collect-only", "-q", "-m", "not scenario", "scenarios")
    assert "tiny.yaml::" not in result.stdout.str()
