"""Scaling a scenario (``Scenario.scaled``): traffic and every limit move together, so utilisation
is kept; scale 1 changes nothing; a file's ``scale`` is applied by the loader; the library's
``ci_scale`` is declared where the file is not already run at true scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.loader import load_scenario, parse_scenario
from sim.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scenarios" / "lock-primary-before-launch.yaml"


def _offered_tpm(sc: Scenario) -> float:
    """Mean offered tokens per minute (single requests and sessions, prompt + max_tokens medians)."""
    t = sc.traffic
    size = (t.sessions.size + (t.sessions.size_max or t.sessions.size)) / 2
    per_day = t.daily_volume + t.sessions.per_day * size
    return per_day / 1440 * (t.prompt_tokens.median + t.max_tokens.median)


def _limits(sc: Scenario) -> list[tuple[str, str, int, int]]:
    return [(o.name, m, lim.rpm, lim.tpm) for _, o in sc.orgs() for m, lim in o.limits.items()]


def test_scale_one_is_the_same_scenario() -> None:
    sc = load_scenario(SEED)
    assert sc.scale == 1.0
    assert sc.scaled(1.0) is sc
    assert sc.scale_caveats() == []


def test_scaling_keeps_utilisation() -> None:
    sc = load_scenario(SEED)
    small = sc.scaled(0.05)
    assert small.scale == 0.05
    assert small.traffic.daily_volume == pytest.approx(sc.traffic.daily_volume * 0.05)
    assert small.traffic.sessions.per_day == pytest.approx(sc.traffic.sessions.per_day * 0.05)
    assert small.traffic.sessions.size == sc.traffic.sessions.size  # a session keeps its fan-out
    for (name, m, rpm, tpm), (_, _, rpm1, tpm1) in zip(_limits(small), _limits(sc), strict=True):
        assert rpm == pytest.approx(rpm1 * 0.05, abs=0.5), name
        # offered TPM over each org's TPM limit: the same at both scales
        assert _offered_tpm(small) / tpm == pytest.approx(_offered_tpm(sc) / tpm1, rel=1e-5), (name, m)
    # the retry budget counts as many requests per window
    assert small.router.retry_budget_window == pytest.approx(sc.router.retry_budget_window / 0.05)
    assert small.scale_caveats() and "20x fewer" in small.scale_caveats()[0]


def test_scaled_is_absolute_not_relative() -> None:
    sc = load_scenario(SEED)
    assert sc.scaled(0.1).scaled(0.05).traffic.daily_volume == pytest.approx(sc.traffic.daily_volume * 0.05)
    with pytest.raises(ValueError, match="scale must be > 0"):
        sc.scaled(0)


def test_a_files_scale_is_applied_by_the_loader() -> None:
    text = SEED.read_text(encoding="utf-8").replace("scale: 1.0\n", "scale: 0.1\n", 1)
    sc = parse_scenario(text, "seed@0.1")
    assert sc.scale == 0.1
    assert sc.traffic.daily_volume == pytest.approx(100_000)
    assert sc.vendors["openai"].orgs[0].limits["gpt-4o-mini"].tpm == 1_000_000


def test_scale_goes_into_the_trace_meta() -> None:
    import sim

    sc = load_scenario(SEED).model_copy(update={"duration": 600.0}).scaled(0.01)
    trace = sim.run(sc, "exponential", mode="fast")
    assert trace.meta["scale"] == 0.01
    assert trace.meta["scale_caveats"] == sc.scale_caveats()


def test_the_seed_story_states_its_true_volume_and_ci_scale() -> None:
    sc = load_scenario(SEED)
    assert sc.traffic.daily_volume == 1_000_000
    assert sc.ci_scale is not None and sc.ci_scale < 1
    # the launch peak (5x, diurnal peak) fits into the secondaries' TPM: the launch goes through on them
    peak_tpm = _offered_tpm(sc) * 5 * (1 + sc.traffic.diurnal_amplitude)
    secondaries = sum(lim.tpm for _, o in sc.orgs() if o.name.startswith("secondary") for lim in o.limits.values())
    assert peak_tpm < secondaries


LIBRARY = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_every_library_scenario_states_its_true_volume_and_ci_scale(path: Path) -> None:
    """Each file is the system it describes at scale 1 and says what CI runs (issue 18): the
    description states the true volume, and ``ci_scale`` is declared (1 = CI runs it as is)."""
    sc = load_scenario(path)
    assert sc.scale == 1.0
    assert sc.ci_scale is not None
    assert "true volume" in sc.description.lower(), path.name


def test_count_slos_scale_with_the_traffic_and_rates_do_not() -> None:
    from sim.slo import parse_threshold, scaled_slo

    slo = {"success_rate": {"during": ">= 99.9%"}, "wasted_attempts": "<= 10000",
           "user_visible_failures": {"fault": "< 500"}, "retry_amplification": "<= 1.1",
           "detection_time": "<= 5m"}
    small = scaled_slo(slo, 0.2)
    assert small["wasted_attempts"] == "<= 2000"
    assert small["user_visible_failures"] == {"fault": "< 100"}
    for kept in ("success_rate", "retry_amplification", "detection_time"):
        assert small[kept] == slo[kept]
    assert slo["wasted_attempts"] == "<= 10000"  # the input is not changed
    listed = scaled_slo([{"metric": "failed_requests", "phase": "overall", "threshold": 50}], 0.1)
    assert parse_threshold(listed[0]["threshold"], "failed_requests").value == 5


def test_a_scaled_scenario_scales_its_count_slos() -> None:
    sc = load_scenario(ROOT / "scenarios" / "flapping-org.yaml")
    assert sc.slo["wasted_attempts"] == "<= 10000"
    ci = sc.scaled(sc.ci_scale or 1.0)
    assert ci.slo["wasted_attempts"] == "<= 2000"
    assert ci.slo["success_rate"] == sc.slo["success_rate"]
    assert any("SLO thresholds on counts" in c for c in ci.scale_caveats())
