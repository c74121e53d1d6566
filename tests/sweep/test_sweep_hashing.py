"""Run keys: stable across processes and dict orders, sensitive to everything that changes a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sweep_helpers import small_scenario

from breakerlab.sweep import code_version, plan_sweep, run_key, scenario_hash

ROOT = Path(__file__).resolve().parents[2]


def _keys(plan) -> list[str]:
    return [r.key for r in plan.runs]


def test_key_ignores_dict_order_and_changes_with_each_input() -> None:
    sha = scenario_hash(small_scenario())
    p = {"threshold": 3, "window": 60.0}
    base = run_key(sha, "exponential", p, 1, "fast", "v1")
    assert run_key(sha, "exponential", {"window": 60.0, "threshold": 3}, 1, "fast", "v1") == base
    assert len(base) == 32 and int(base, 16) >= 0
    others = {
        run_key(sha, "exponential", p, 2, "fast", "v1"),
        run_key(sha, "exponential", p, 1, "full", "v1"),
        run_key(sha, "exponential", p, 1, "fast", "v2"),
        run_key(sha, "consecutive", p, 1, "fast", "v1"),
        run_key(sha, "exponential", {**p, "threshold": 4}, 1, "fast", "v1"),
        run_key(scenario_hash(small_scenario(duration=900)), "exponential", p, 1, "fast", "v1"),
    }
    assert base not in others and len(others) == 6


def test_scenario_hash_is_content_not_labels() -> None:
    a = small_scenario()
    assert scenario_hash(a) == scenario_hash(small_scenario(name="renamed", description="words"))
    assert scenario_hash(a) == scenario_hash(small_scenario(slo={"success_rate": ">= 99%"}))
    assert scenario_hash(a) != scenario_hash(small_scenario(pods=3))
    assert scenario_hash(a) != scenario_hash(small_scenario(seed=2))


def test_same_setting_written_differently_is_the_same_run() -> None:
    sc = small_scenario()
    a = plan_sweep([sc], "exponential", ["base_open_time=60s", "threshold=3"])
    b = plan_sweep([sc], "exponential", ["base_open=1m", "threshold=3..3"])
    c = plan_sweep([sc], "seed", ["threshold=3"])  # the preset's values are exponential's defaults
    assert _keys(a) == _keys(b) == _keys(c)


def test_keys_are_stable_across_processes() -> None:
    sc = small_scenario()
    plan = plan_sweep([sc], "consecutive", ["threshold=2..3", "open_time=10s,20s"], seeds=2, code="v")
    paths = [str(ROOT), str(Path(__file__).parent)]
    code = (
        f"import json, sys\nsys.path[:0] = {paths!r}\n"
        "from sweep_helpers import small_scenario\n"
        "from breakerlab.sweep import plan_sweep, code_version\n"
        "p = plan_sweep([small_scenario()], 'consecutive', ['open_time=10s,20s', 'threshold=2..3'], seeds=2,"
        " code='v')\n"
        "print(json.dumps({'keys': sorted(r.key for r in p.runs), 'code': code_version()}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, cwd=ROOT)
    other = json.loads(out.stdout)
    code_version.cache_clear()  # sources may have been edited since this process first hashed them
    assert other["code"] == code_version()
    assert other["keys"] == sorted(_keys(plan))


def test_code_version_names_the_sources() -> None:
    v = code_version()
    assert "+" in v and len(v.split("+")[-1]) == 16
