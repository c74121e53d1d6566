"""``--grid`` parsing: ranges, steps, lists with units, prefixes, and one-line errors."""

from __future__ import annotations

import pytest
from sweep_helpers import small_scenario

from breakerlab.sweep import (
    SweepError,
    grid_settings,
    main,
    parse_axis,
    parse_grid,
    plan_sweep,
    random_settings,
)


def test_integer_range_is_inclusive() -> None:
    a = parse_axis("threshold=2..8", "exponential")
    assert a.name == "threshold"
    assert a.values == (2, 3, 4, 5, 6, 7, 8)
    assert a.labels == ("2", "3", "4", "5", "6", "7", "8")


def test_range_with_step() -> None:
    assert parse_axis("threshold=2..9:3", "exponential").values == (2, 5, 8)
    assert parse_axis("backoff_factor=1.5..2.5:0.5", "exponential").values == (1.5, 2.0, 2.5)


def test_duration_range_and_list_are_canonical_seconds_with_human_labels() -> None:
    a = parse_axis("base_open_time=30s..2m:30s", "exponential")
    assert a.values == (30.0, 60.0, 90.0, 120.0)
    assert a.labels == ("30s", "1m", "1m30s", "2m")
    b = parse_axis("base_open_time=30s,60s,120s", "exponential")
    assert b.values == (30.0, 60.0, 120.0)
    assert b.labels == ("30s", "60s", "120s")


def test_equal_values_are_one_value() -> None:
    assert parse_axis("window=60s,1m,90", "exponential").values == (60.0, 90.0)


def test_unique_prefix_names_a_parameter() -> None:
    assert parse_axis("base_open=30s,60s", "exponential").name == "base_open_time"


def test_string_and_bool_values_go_through_the_model() -> None:
    assert parse_axis("window_type=count,time", "failure-rate").values == ("count", "time")
    assert parse_axis("slow_is_failure=true,false", "exponential").values == (True, False)


def test_grid_is_the_product_with_the_last_axis_fastest() -> None:
    axes = parse_grid(["threshold=2..3", "base_open_time=30s,60s,120s"], "exponential")
    settings = grid_settings(axes)
    assert len(settings) == 6
    assert [dict(s.params) for s in settings[:3]] == [
        {"threshold": 2, "base_open_time": 30.0},
        {"threshold": 2, "base_open_time": 60.0},
        {"threshold": 2, "base_open_time": 120.0},
    ]
    assert settings[4].text() == "threshold=3, base_open_time=60s"


def test_grid_from_a_mapping() -> None:
    axes = parse_grid({"threshold": "2..4", "open_time": ["10s", "20s"]}, "consecutive")
    assert [a.values for a in axes] == [(2, 3, 4), (10.0, 20.0)]


def test_random_search_is_seeded_distinct_and_within_ranges() -> None:
    axes = parse_grid(["threshold=1..50", "base_open_time=10s..10m"], "exponential")
    a = random_settings(axes, 12, seed=3, policy="exponential")
    b = random_settings(axes, 12, seed=3, policy="exponential")
    c = random_settings(axes, 12, seed=4, policy="exponential")
    assert [dict(s.params) for s in a] == [dict(s.params) for s in b]
    assert [dict(s.params) for s in a] != [dict(s.params) for s in c]
    keys = {tuple(sorted(s.params.items())) for s in a}
    assert len(keys) == 12
    for s in a:
        assert 1 <= s.params["threshold"] <= 50 and isinstance(s.params["threshold"], int)
        assert 10.0 <= s.params["base_open_time"] <= 600.0


def test_random_search_over_a_small_space_takes_what_there_is() -> None:
    axes = parse_grid(["threshold=2..3"], "exponential")
    assert sorted(s.params["threshold"] for s in random_settings(axes, 10, seed=0)) == [2, 3]


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("bogus=1..3", ["bogus", "exponential has no parameter", "threshold"]),
        ("threshold=0..3", ["threshold=0", "greater than or equal to 1"]),
        ("base_open_time=30s,abc", ["base_open_time=abc", "not a duration", "'abc'"]),
        ("threshold=2.5,3", ["threshold=2.5", "valid integer"]),
        ("threshold=8..2", ["threshold", "empty"]),
        ("threshold=2..x", ["threshold", "'x'", "not a number or a duration"]),
        ("threshold=2..8:0", ["step must be positive"]),
        ("threshold", ["not NAME=VALUES"]),
        ("probe=1,2", ["ambiguous", "probe_timeout", "probe_permits"]),
        ("threshold=2,,3", ["empty value"]),
    ],
)
def test_bad_grid_is_one_line_naming_parameter_and_value(spec: str, needles: list[str]) -> None:
    with pytest.raises(SweepError) as e:
        parse_axis(spec, "exponential")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("grid")
    for n in needles:
        assert n in msg, msg


def test_continuous_range_needs_a_step_for_grid_search() -> None:
    axes = parse_grid(["base_open_time=10s..10m"], "exponential")
    with pytest.raises(SweepError, match="needs a step"):
        grid_settings(axes)


def test_same_parameter_twice_is_an_error() -> None:
    with pytest.raises(SweepError, match="given twice"):
        parse_grid(["base_open=30s", "base_open_time=60s"], "exponential")


def test_unknown_policy_and_invalid_combination() -> None:
    sc = small_scenario()
    with pytest.raises(SweepError, match="policy: unknown policy 'nope'"):
        plan_sweep([sc], "nope", ["threshold=2..3"])
    # each value is valid alone, the combination is not (max_open_time < base_open_time)
    with pytest.raises(SweepError) as e:
        plan_sweep([sc], "exponential", ["base_open_time=60s,2000s"])
    assert "base_open_time=2000s" in str(e.value) and "max_open_time" in str(e.value)


def test_presets_take_their_values_as_the_base() -> None:
    plan = plan_sweep([small_scenario()], "aggressive", ["threshold=4"])
    assert plan.policy_class == "exponential"
    assert plan.full_params[0]["threshold"] == 4
    assert plan.full_params[0]["reset_after"] == 600.0  # from the preset


def test_runs_are_scenarios_times_settings_times_seeds() -> None:
    a, b = small_scenario(), small_scenario(name="other", seed=11)
    plan = plan_sweep([a, b], "consecutive", ["threshold=2..4", "open_time=10s,20s"], seeds=3)
    assert len(plan.runs) == 2 * 6 * 3
    assert plan.seeds == [[1, 2, 3], [11, 12, 13]]
    plan = plan_sweep([a], "consecutive", ["threshold=2..4"], seeds=2, seed=100)
    assert sorted({r.seed for r in plan.runs}) == [100, 101]



def test_scale_runs_every_scenario_scaled_and_keys_the_runs_by_it() -> None:
    sc = small_scenario()
    plain = plan_sweep([sc], "consecutive", ["threshold=2"])
    half = plan_sweep([sc], "consecutive", ["threshold=2"], scale=0.5)
    world = half.scenarios[0][1]
    assert world.scale == 0.5 and world.traffic.daily_volume == sc.traffic.daily_volume * 0.5
    assert half.runs[0].key != plain.runs[0].key  # a stored run at another scale is not reused
    with pytest.raises(SweepError, match="scale: must be > 0"):
        plan_sweep([sc], "consecutive", ["threshold=2"], scale=0)


def test_cli_bad_scale_exits_2_with_one_line(small_yaml, capsys) -> None:
    code = main([str(small_yaml), "--policy", "consecutive", "--grid", "threshold=2", "--scale", "-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--scale: must be > 0" in err

def test_cli_bad_grid_exits_2_with_one_line(small_yaml, capsys) -> None:
    code = main([str(small_yaml), "--policy", "exponential", "--grid", "threshold=0..3", "--out", "/nonexistent/x"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "threshold=0" in err


def test_cli_scenario_after_grid_is_a_scenario(small_yaml, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    code = main(["--policy", "exponential", "--grid", "threshold=2..3", str(small_yaml), "--jobs", "1",
                 "--out", str(out), "--json"])
    assert code == 0, capsys.readouterr().err
    assert len(list((out / "runs").glob("*.json"))) == 2


def test_cli_grid_item_without_equals_is_explained(small_yaml, capsys) -> None:
    code = main([str(small_yaml), "--policy", "exponential", "--grid", "threshold", "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "not NAME=VALUES" in err


def test_cli_unknown_scenario_file_is_one_line(tmp_path, capsys) -> None:
    code = main([str(tmp_path / "missing.yaml"), "--policy", "exponential", "--grid", "threshold=2..3",
                 "--executor", "serial"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "missing.yaml" in err
