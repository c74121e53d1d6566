"""Scenario files: YAML → a validated :class:`~sim.scenario.Scenario`, or one clear line.

Every problem with a file becomes a :class:`ScenarioError` whose message is a single line
naming the file, the line, the field path and the offending value, e.g.::

    scenarios/broken.yaml:14: faults.0.kind: unknown fault kind (got 'meteor')

The line comes from the YAML node the field path points at (the nearest enclosing node when the
field is missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .scenario import Scenario


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid (one line: file, line, field, value, reason)."""


def _node_line(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            continue  # pydantic adds non-path parts (union tags); stay at the nearest node
        node = nxt
        line = node.start_mark.line + 1
    return line


def _shown(value: Any) -> str:
    s = repr(value)
    return s if len(s) <= 60 else s[:57] + "..."


def _first_error(err: ValidationError) -> tuple[tuple[Any, ...], str, Any]:
    e = err.errors()[0]
    msg = str(e.get("msg", "invalid")).removeprefix("Value error, ")
    return tuple(e.get("loc", ())), msg, e.get("input")


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ScenarioError(f"{source}{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}:1: a scenario must be a mapping at the top level (got {type(data).__name__})")
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        loc, msg, value = _first_error(err)
        line = _node_line(root, loc)
        path = ".".join(str(p) for p in loc) or "(top level)"
        where = f":{line}" if line else ""
        raise ScenarioError(f"{source}{where}: {path}: {msg} (got {_shown(value)})") from None
    except (ValueError, TypeError) as err:  # validators outside pydantic's wrapping
        raise ScenarioError(f"{source}: {err}".splitlines()[0]) from None


def load_scenario(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    return parse_scenario(text, str(p))
