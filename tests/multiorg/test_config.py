"""Config: immutable values from a dict or YAML; one-line errors; API keys never shown."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from multiorg_fakes import (
    SERVER,
    ManualClock,
    ScriptedClient,
    chat,
    key_of,
    make_config,
    make_router,
)
from pydantic import ValidationError

from multiorg import ConfigError, NoOrgAvailable, load_config
from multiorg.config import Secret
from multiorg.router import AttemptPlan

BASE: dict[str, Any] = {
    "orgs": [
        {
            "name": "primary",
            "org_id": "org-p",
            "api_key_env": "KEY_P",
            "limits": {"gpt-4o-mini": {"rpm": 5000, "tpm": 4_000_000}},
        },
        {"name": "secondary1", "api_key_env": "KEY_S1", "weight": 2},
    ]
}


def with_(path: str, value: Any) -> dict[str, Any]:
    """A deep copy of BASE with ``value`` set at dotted ``path`` (list indices allowed)."""
    import copy

    data = copy.deepcopy(BASE)
    parts = path.split(".")
    node: Any = data
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_load_from_dict_with_defaults() -> None:
    cfg = load_config(BASE)
    assert [o.name for o in cfg.orgs] == ["primary", "secondary1"]
    assert [v.name for v in cfg.vendors] == ["openai"]
    assert cfg.vendor("openai").base_url == "https://api.openai.com/v1"
    assert cfg.router.strategy == "round_robin"
    assert cfg.router.max_attempts == 3
    assert cfg.orgs[0].limits["gpt-4o-mini"].rpm == 5000
    assert cfg.orgs[1].weight == 2.0
    assert cfg.orgs[0].serves("gpt-4o-mini") and not cfg.orgs[0].serves("gpt-4o")
    assert cfg.orgs[1].serves("anything")  # no declared limits: serves every model
    assert cfg.orgs_of("openai") == cfg.orgs


def test_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "orgs.yaml"
    path.write_text(
        """
vendors:
  - name: openai
    base_url: https://api.openai.com/v1
  - name: anthropic
    base_url: https://api.anthropic.com/v1
    system_prompt_suffix: "\\nAnswer in plain JSON."
    model_map: {gpt-4o-mini: claude-3-5-haiku-latest}
orgs:
  - {name: primary, org_id: org-p, api_key_env: KEY_P}
  - {name: claude, vendor: anthropic, api_key_env: KEY_C}
router:
  strategy: p2c_latency
  attempt_timeout: 30s
  deadline: 2m
  retry_budget_window: 1m30s
  slow_call_threshold: 2500ms
  standby_vendor: anthropic
breaker:
  policy: exponential
  params: {threshold: 3, base_open_time: 60}
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.router.strategy == "p2c_latency"
    assert (cfg.router.attempt_timeout, cfg.router.deadline) == (30.0, 120.0)
    assert cfg.router.retry_budget_window == 90.0
    assert cfg.router.slow_call_threshold == 2.5
    assert cfg.router.standby_vendor == "anthropic"
    assert cfg.vendor("anthropic").model_for("gpt-4o-mini") == "claude-3-5-haiku-latest"
    assert cfg.vendor("anthropic").model_for("other") == "other"
    assert cfg.breaker.params == {"threshold": 3, "base_open_time": 60}
    assert load_config(str(path)) == cfg


BAD = [
    # (data, field path, value as shown)
    (with_("router.strategy", "fastest"), "router.strategy", "'fastest'"),
    (with_("router.attempt_timeout", -1), "router.attempt_timeout", "-1"),
    (with_("router.deadline", "abc"), "router.deadline", "'abc'"),
    (with_("router.max_attempts", 0), "router.max_attempts", "0"),
    (with_("orgs.1.name", "primary"), "orgs.1.name", "'primary'"),
    (
        with_("orgs.0.limits", {"gpt-4o-mini": {"rpm": 0, "tpm": 10}}),
        "orgs.0.limits.gpt-4o-mini.rpm",
        "0",
    ),
    (with_("orgs.1.vendor", "mistral"), "orgs.1.vendor", "'mistral'"),
    (
        {**with_("orgs.1.vendor", "anthropic"), "vendors": [{"name": "openai", "base_url": "https://u"}]},
        "orgs.1.vendor",
        "'anthropic'",
    ),
    (with_("orgs.0.weight", -2), "orgs.0.weight", "-2"),
    (with_("orgs.0.colour", "red"), "orgs.0.colour", "'red'"),
    (with_("router.standby_vendor", "anthropic"), "router.standby_vendor", "'anthropic'"),
    (with_("router.default_vendor", "anthropic"), "router.default_vendor", "'anthropic'"),
    ({"orgs": []}, "orgs", "[]"),
    # a zero timeout or deadline would refuse every request as "no org available"
    (with_("router.attempt_timeout", 0), "router.attempt_timeout", "0"),
    (with_("router.deadline", "0s"), "router.deadline", "'0s'"),
    # no scheme: every attempt would fail as a connection error and trip every breaker
    ({**with_("orgs.0.weight", 1), "vendors": [{"name": "openai", "base_url": "api.openai.com/v1"}]},
     "vendors.0.base_url", "'api.openai.com/v1'"),
    # a key pasted where its variable's name goes: named as such, never shown
    (with_("orgs.0.api_key_env", "sk-proj-" + "Ab1" * 16), "orgs.0.api_key_env", "'***' (redacted)"),
]


@pytest.mark.parametrize(("data", "field", "value"), BAD, ids=[b[1] + "=" + b[2] for b in BAD])
def test_bad_config_one_line_naming_source_field_value(data: dict, field: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(data, name="orgs.yaml")
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("orgs.yaml: "), msg
    assert field in msg, msg
    assert value in msg, msg


def test_bad_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("orgs:\n  - {name: a, api_key_env: K}\nrouter:\n  deadline: abc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r": router\.deadline: .*'abc'"):
        load_config(path)
    path.write_text("orgs: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + r":.*line \d+.*not valid YAML"):
        load_config(path)
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "missing.yaml")


def test_bad_breaker_params_fail_at_load() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(
            {**BASE, "breaker": {"policy": "exponential", "params": {"threshold": 0}}},
            name="orgs.yaml",
        )
    msg = str(info.value)
    assert msg.startswith("orgs.yaml: ") and "threshold" in msg and "0" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match=r"orgs\.yaml: .*'bogus'"):
        load_config({**BASE, "breaker": {"policy": "bogus"}}, name="orgs.yaml")


def test_config_is_frozen() -> None:
    cfg = load_config(BASE)
    with pytest.raises(ValidationError):
        cfg.router.max_attempts = 10  # type: ignore[misc]
    with pytest.raises(ValidationError):
        cfg.orgs[0].name = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        cfg.orgs = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        cfg.orgs.append(cfg.orgs[0])  # type: ignore[attr-defined]
    assert cfg.router.max_attempts == 3


def test_missing_api_key_names_only_the_variable() -> None:
    cfg = load_config(BASE)
    with pytest.raises(ConfigError, match="KEY_P is not set"):
        cfg.orgs[0].api_key({})
    assert cfg.orgs[0].api_key({"KEY_P": "sk-live"}) == "sk-live"


def test_api_keys_never_in_reprs_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(1_700_000_000.0)
    cfg = make_config(("a", "b"), max_attempts=2, params={"threshold": 1})
    client = ScriptedClient(clock, default=SERVER)
    router = make_router(cfg, client, clock)
    first = router.send(chat())
    with pytest.raises(NoOrgAvailable) as info:
        router.send(chat())
    plan = AttemptPlan(cfg.orgs[0], Secret(key_of("a")), chat(), 1.0, False)
    shown = [
        repr(cfg),
        str(cfg),
        repr(cfg.orgs[0]),
        repr(router),
        repr(router.core),
        str(router),
        repr(first),
        str(info.value),
        repr(info.value),
        repr(plan),
        str(plan),
        repr(plan._asdict()),
        f"{plan.key}",
        caplog.text,
    ]
    # the client did receive the keys: they exist, they are just never shown
    assert {c[1] for c in client.calls} == {key_of("a"), key_of("b")}
    for text in shown:
        assert "SECRET" not in text, text
