"""Azure in the scenario format: per-deployment quota (RPM from TPM as Azure sets it), region →
model availability, the subscription's regional quota, clear errors; and the library scenario
``azure-regions.yaml`` deciding the same in fast and full mode."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import sim
from multiorg.outcomes import OUTCOMES_BY_CODE
from sim import Scenario, ScenarioError
from sim.azure import region_models
from sim.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scenarios" / "azure-regions.yaml"


def azure_org(name: str, region: str, model: str = "gpt-4o-mini", **fields: Any) -> dict[str, Any]:
    return {"name": name, "azure": {"endpoint": f"https://{name}.openai.azure.com", "region": region,
                                    "deployments": {model: "dep"}},
            "limits": {model: {"tpm": "300k"}}, **fields}


def doc(*orgs: dict[str, Any], **over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "duration": 60, "router": {"default_vendor": "azure"},
                            "vendors": {"azure": {"orgs": list(orgs)}}, "traffic": {"daily_volume": 0}}
    data.update(over)
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return p


def test_a_deployments_rpm_is_6_per_1000_tpm_unless_given() -> None:
    sc = Scenario.model_validate(doc(azure_org("a", "eastus"),
                                     azure_org("b", "eastus", limits={"gpt-4o-mini": {"tpm": "300k", "rpm": 50}})))
    a, b = (o for _, o in sc.orgs())
    assert a.limits["gpt-4o-mini"].rpm == 1800 and a.limits["gpt-4o-mini"].tpm == 300_000
    assert b.limits["gpt-4o-mini"].rpm == 50
    cfg = sc.multiorg_config()
    assert cfg.orgs[0].vendor == "azure" and cfg.orgs[0].azure == a.azure  # the router gets the resource


def test_the_availability_table_knows_the_talks_problem() -> None:
    table = region_models()
    assert "gpt-4o-mini" in table["eastus"] and "gpt-4o-mini" in table["swedencentral"]
    assert "gpt-4o-mini" not in table["westeurope"]  # deployable there: gpt-4.1-mini, not gpt-4o-mini
    assert "gpt-4.1-mini" in table["westeurope"]


@pytest.mark.parametrize(("data", "message"), [
    (doc(azure_org("weu", "westeurope")),
     "azure org weu: model 'gpt-4o-mini' is not available in region 'westeurope' (it offers gpt-4.1-mini)"),
    (doc(azure_org("x", "atlantis")), "region 'atlantis' is not in the simulator's availability table"),
    (doc(azure_org("a", "eastus"), azure_org("b", "eastus"),
         vendors={"azure": {"quota": {"eastus": {"gpt-4o-mini": "500k"}},
                            "orgs": [azure_org("a", "eastus"), azure_org("b", "eastus")]}}),
     "the gpt-4o-mini deployments in eastus hold 600000 TPM, over the subscription's quota of 500000 there"),
    (doc(vendors={"azure": {"orgs": [{"name": "n", "limits": {"gpt-4o-mini": {"tpm": 1000, "rpm": 6}}}]}}),
     "org n: an azure org needs an 'azure' section"),
    (doc(router={}, vendors={"openai": {"orgs": [{"name": "o", "error_mix": {"content_filter": 1}}]}}),
     "org o: error kind content_filter is Azure's"),
])
def test_bad_azure_scenarios_are_one_line(tmp_path: Path, data: dict[str, Any], message: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_a_model_the_region_lacks_exits_2_from_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, doc(azure_org("weu", "westeurope")))
    proc = subprocess.run([sys.executable, "-m", "sim", str(path)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "is not available in region 'westeurope'" in proc.stderr


def test_a_region_the_table_lacks_can_be_declared() -> None:
    sc = Scenario.model_validate(doc(azure_org("weu", "westeurope"),
                                     vendors={"azure": {"regions": {"westeurope": ["gpt-4o-mini"]},
                                                        "orgs": [azure_org("weu", "westeurope")]}}))
    assert sc.org_names() == ["weu"]


def test_the_library_scenario_scales_its_quota_with_its_limits() -> None:
    sc = load_scenario(LIBRARY)
    ci = sc.scaled(sc.ci_scale or 1.0)
    assert sc.vendors["azure"].quota["eastus"]["gpt-4o-mini"] == 2_000_000
    assert ci.vendors["azure"].quota["eastus"]["gpt-4o-mini"] == 100_000
    east = next(o for _, o in ci.orgs() if o.name == "aoai-eastus")
    assert east.limits["gpt-4o-mini"].tpm == 50_000 and east.limits["gpt-4o-mini"].rpm == 300


def test_azure_regions_decides_the_same_in_fast_and_full_mode() -> None:
    # the library scenario through its two faults (East US throttled at 3h, Sweden down at 3h30m), small
    sc = load_scenario(LIBRARY).scaled(0.005).model_copy(update={"duration": 4 * 3600 + 900.0})
    fast, full = sim.run(sc, "exponential", mode="fast"), sim.run(sc, "exponential", mode="full")
    for table in ("requests", "attempts", "events"):
        a, b = getattr(fast, table), getattr(full, table)
        assert sorted(a) == sorted(b)
        for col in a:
            assert np.array_equal(a[col], b[col], equal_nan=a[col].dtype.kind == "f"), (table, col)
    # ... and the run is eventful: 429s from the throttled deployments, 5xx from Sweden, failover to OpenAI
    orgs = fast.meta["orgs"]
    seen = Counter((orgs[o], OUTCOMES_BY_CODE[c].value)
                   for o, c in zip(fast.attempts["org"].tolist(), fast.attempts["outcome"].tolist(), strict=True))
    assert seen[("aoai-eastus", "rate_limited")] > 0 and seen[("aoai-sweden", "server")] > 0
    assert seen[("secondary1", "success")] > 0  # every Azure deployment blocked at once: the standby vendor
