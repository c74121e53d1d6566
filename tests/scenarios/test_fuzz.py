"""Fuzzing the loader: whatever the input, the only exception is ScenarioError (one line)."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.loader import ScenarioError, parse_scenario

VALID = (Path(__file__).resolve().parents[2] / "scenarios" / "lock-primary-before-launch.yaml").read_text()
BASE = yaml.safe_load(VALID)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["1h", "-1h", "5%", "2M", "1M/day", "x5", "inf", "nan",
                                                           "vendor:openai", "*", "quota", "1e999", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def check(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yaml")
    except ScenarioError as e:
        msg = str(e)
        assert "\n" not in msg
        assert "unexpected error" not in msg, msg
        assert msg.startswith("fuzz.yaml")


def paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from paths(v, (*prefix, i))


ALL_PATHS = [p for p in paths(BASE) if p]


def replaced(doc, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        out = dict(doc)
        out[head] = replaced(doc[head], rest, value)
        return out
    out = list(doc)
    out[head] = replaced(doc[head], rest, value)
    return out


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text(max_size=300))
def test_any_text(text):
    check(text)


@FAST
@given(values)
def test_any_yaml_document(doc):
    check(yaml.safe_dump(doc))


@FAST
@given(st.sampled_from(ALL_PATHS), values)
@example(path=("vendors", "openai", "orgs", 0, "latency"), value={"\n": None})  # a key that is a line break
def test_one_field_of_a_valid_scenario_replaced(path, value):
    check(yaml.safe_dump(replaced(BASE, path, value), sort_keys=False))


@FAST
@given(st.integers(0, len(VALID) - 1), st.integers(0, 40), st.text(max_size=20))
def test_text_splices_of_a_valid_scenario(at, cut, insert):
    check(VALID[:at] + insert + VALID[at + cut:])
