"""The policy reference: every parameter of every policy documented, the doc in sync, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from breakerlab.cli import main
from breakerlab.policy_reference import (
    ANCHORS,
    DIFFERS,
    EQUIVALENTS,
    INERT,
    UnknownPolicy,
    policy_models,
    reference,
    render_markdown,
)
from multiorg.breakers import POLICIES, PRESET_DOCS, PRESETS
from multiorg.breakers.exponential import ExponentialBreaker

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def _sections(text: str) -> dict[str, str]:
    """``## name`` heading → the text up to the next heading."""
    parts = re.split(r"^## (\S+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _unit(field: object) -> str:
    extra = getattr(field, "json_schema_extra", None)
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def test_every_parameter_of_every_policy_has_a_description_unit_and_doc_line() -> None:
    sections = _sections(DOC.read_text(encoding="utf-8"))
    models = policy_models()
    assert set(models) >= {*POLICIES, "manual"}
    for name, model in models.items():
        assert name in sections, f"docs/policies.md has no section for {name}"
        rows = {
            m.group(1): line
            for line in sections[name].splitlines()
            if (m := re.match(r"^\| `([a-z_0-9]+)` \|", line))
        }
        assert set(rows) == set(model.model_fields), f"{name}: doc rows differ from the model's fields"
        for pname, field in model.model_fields.items():
            unit = _unit(field)
            assert field.description and unit, f"{name}.{pname}: declare it with param(default, description, unit)"
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", rows[pname])[1:-1]]
            assert cells[2].replace("\\|", "|") == unit, f"{name}.{pname}: unit"
            assert cells[3] == field.description.replace("|", "\\|"), f"{name}.{pname}: meaning"


def test_the_doc_is_the_generators_output() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/policies.md is stale: python -m breakerlab.policy_reference > docs/policies.md"
    )


def test_a_parameter_added_without_description_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Undocumented(ExponentialBreaker):
        jitter: float = 0.0

    monkeypatch.setitem(POLICIES, "exponential", Undocumented)
    with pytest.raises(ValueError, match=r"exponential: parameter jitter has no description or unit"):
        reference("exponential")


def test_hand_written_notes_name_real_policies_and_parameters() -> None:
    models = policy_models()
    for table in (ANCHORS, DIFFERS, INERT, EQUIVALENTS):
        assert set(table) == set(models)
    for name, eqs in EQUIVALENTS.items():
        stale = set(eqs) - set(models[name].model_fields)
        assert not stale, f"{name}: equivalents for parameters it does not have: {sorted(stale)}"
    assert all(INERT[n] for n in models), "every policy says when its parameters do nothing"
    assert set(PRESET_DOCS) == set(PRESETS)


def test_defaults_read_as_a_scenario_writes_them() -> None:
    (exp,) = reference("exponential")
    shown = {p.name: p.default for p in exp.params}
    assert shown["max_open_time"] == "16m"
    assert shown["reset_after"] == "0s"
    assert shown["trip_immediately"] == "[quota, auth]"
    assert shown["backoff_factor"] == "2"
    (seed,) = reference("seed")
    assert seed.name == "exponential" and seed.preset == "seed"
    assert {p.name: p.preset for p in seed.params if p.preset} == {
        "threshold": "3", "window": "1m", "base_open_time": "1m", "max_open_time": "16m"
    }


def test_the_issue_example_is_spelled_out() -> None:
    """Default failure-rate does nothing on a 30 % error fault: the reference must say so."""
    (fr,) = reference("failure-rate")
    assert any("failure_rate_threshold" in n and "30 %" in n for n in fr.inert)
    thr = next(p for p in fr.params if p.name == "failure_rate_threshold")
    assert thr.default == "50" and thr.unit == "%"
    assert thr.equivalent is not None and "failureRateThreshold" in thr.equivalent.text()


def test_cli_lists_one_policys_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "policies", "--params", "failure-rate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("failure-rate: ")
    for pname in POLICIES["failure-rate"].model_fields:
        assert re.search(rf"^  {pname} ", out, re.M), pname
    assert "Resilience4j failureRateThreshold (default 50)" in out
    assert "when parameters do nothing:" in out
    assert "outlier:" not in out


def test_cli_lists_every_policy_and_a_preset_with_its_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "policies", "--params"]) == 0
    out = capsys.readouterr().out
    heads = [line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert heads[:-1] == list(policy_models())
    assert main(["list", "policies", "--params", "envoy"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("envoy (preset of outlier): ")
    row = next(line for line in out.splitlines() if line.startswith("  max_ejection_percent "))
    assert row.split() == ["max_ejection_percent", "%", "10", "50"]  # preset value, then default


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["list", "policies", "--params", "nope"], "unknown policy 'nope'"),
        (["list", "faults", "--params"], "--params: only policies have parameters"),
    ],
)
def test_cli_bad_params_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr()
    assert err.out == ""
    lines = err.err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("--params: ")


def test_unknown_policy_names_the_known_ones() -> None:
    with pytest.raises(UnknownPolicy, match=r"known: none, consecutive, .*manual, seed, .*sre, .*envoy-defaults\)"):
        reference("failure_rate")
