"""The overload chart: offered load vs dedicated capacity (sim.capacity) and the recovery."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from reports.dedicated import dedicated_load, overload_sentence
from reports.overload_charts import overload_charts
from reports.render import write_report
from sim import Scenario


def pool_world(**over) -> Scenario:
    data = {
        "name": "overload", "seed": 5, "duration": 600.0, "pods": 2,
        "router": {"max_attempts": 3, "attempt_timeout": 6, "deadline": 20},
        "vendors": {"openai": {"orgs": [
            {"name": "gw-a", "capacity": {"kind": "pool", "replicas": 1, "concurrency": 8, "prefill": "200ms",
                                          "tpot": "20ms", "queue": 50}},
            {"name": "gw-b", "capacity": "gw-a"}]}},
        "traffic": {"daily_volume": "2/s", "prompt_tokens": {"median": 300}, "max_tokens": {"median": 200}},
        "faults": [{"kind": "latency", "label": "slow", "target": "*", "factor": "3x", "start": 120, "duration": 120}],
        "slo": {"success_rate": ">= 50%"},
    }  # fmt: skip
    data.update(over)
    return Scenario.model_validate(data)


@pytest.fixture(scope="module")
def runs():
    sc = pool_world()
    return {"none": [sim.run(sc, "none")], "exponential": [sim.run(sc, "exponential")]}


def test_offered_load_is_the_pools_service_demand_over_its_slot_time(runs) -> None:
    trace = runs["none"][0]
    d = trace.meta["capacity"]["dedicated"]["gw-a"]["*"]
    width, load = dedicated_load(trace.meta)["gw-a"]
    assert width == 60.0 and len(load) == 10
    assert np.allclose(load, np.asarray(d["offered_seconds"]) / (8 * 60.0))
    # 2/s x (0.2 + 120 tokens x 20 ms) = 5.2 slot-seconds per second of 8: 65 % before the
    # slowdown, three times that during it (and retries on top)
    assert 0.55 < load[0] < 0.75 and load[2] > 3 * 0.55


def test_overload_chart_is_drawn_only_with_dedicated_capacity(runs, tmp_path) -> None:
    paths = overload_charts(runs, tmp_path, formats=("png",))
    assert [p.name for p in paths["overload"]] == ["overload.png"] and paths["overload"][0].stat().st_size > 20_000
    plain = sim.run(pool_world(vendors={"openai": {"orgs": [{"name": "o1"}]}}, faults=[]), "none")
    assert overload_charts({"none": [plain]}, tmp_path / "plain", formats=("png",)) == {}


def test_the_report_embeds_the_overload_chart(runs, tmp_path) -> None:
    report = write_report(runs, tmp_path, save=False, formats=("png",))
    assert "overload" in report.charts
    text = report.html.read_text(encoding="utf-8")
    assert 'alt="overload"' in text and "offered it per minute" in text


def test_overload_sentence_tells_a_retry_storm_from_a_recovery() -> None:
    storm = np.array([0.8, 0.8, 2.0, 2.5, 2.3, 2.2])  # per minute; the fault ends at 4 min
    recovered = np.array([0.8, 0.8, 2.0, 2.5, 0.9, 0.8])
    assert overload_sentence("gw-a", [(60.0, storm)], 240.0) == (
        "gw-a's dedicated capacity was offered more than it serves for 4.0 min, retries included "
        "(peak 250 % of it at 00:03); 2.0 min of that after the last fault had ended: the retries kept "
        "it overloaded (a retry storm)."
    )
    assert overload_sentence("gw-a", [(60.0, recovered)], 240.0).endswith(
        "; it was back under its capacity once the faults had ended."
    )
    assert overload_sentence("gw-a", [(60.0, storm), (60.0, recovered)], 240.0).startswith(
        "gw-a's dedicated capacity was offered more than it serves for 3.0 min"
    )  # the mean of the seeds
    assert overload_sentence("p", [(60.0, np.full(6, 0.5))], None) == (
        "p's dedicated capacity was never offered more than it serves (peak 50 % of it)."
    )


def test_the_why_section_carries_the_overload_sentence(runs) -> None:
    from reports.why import policy_why

    assert policy_why(runs["none"]).sentences[-1].startswith("gw-a's dedicated capacity was offered more")
