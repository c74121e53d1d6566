"""Scenario files: YAML → a validated :class:`~sim.scenario.Scenario`, or one clear line.

Every problem with a file becomes a :class:`ScenarioError` whose message is a single line
naming the file, the line, the field path and the offending value, e.g.::

    scenarios/broken.yaml:14: faults.0.kind: unknown fault kind (got 'meteor'; known: lockout, ...)

The line comes from the YAML node the field path points at (the nearest enclosing node when the
field is missing); the value is the file's own text for that field (``'-1h'``, not ``-3600.0``).

Checks, in order:

1. YAML syntax (one document, at most :data:`MAX_ALIASES` aliases, at most :data:`MAX_BYTES`);
2. the :class:`~sim.scenario.Scenario` model: types, ranges, human units, fault kinds and their
   parameters, cross-references (unknown org, vendor, model or pod in a fault; store faults
   without shared state; duplicate labels) — :func:`faults.check_faults`;
3. what needs the rest of the lab: every policy resolves (``multiorg.breakers.make_policy``),
   the ``slo`` section names known metrics, phases and fault labels with thresholds that
   :func:`sim.slo.parse_threshold` reads, and ``expect_pass`` comes with an SLO.

``python -m sim schema`` prints the scenario format's JSON Schema (``scenarios/schema.json``);
``python -m sim FILE...`` validates files (:mod:`sim.__main__`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from faults.models import FAULT_KINDS
from multiorg.errors import ConfigError

from .fault_effects import fault_windows
from .policies import make_lab_policy
from .scenario import Scenario
from .slo import MISSING, SLO_ALIASES, SLO_METRICS, canonical_metric, parse_threshold, slo_entries
from .slo import PHASES as SLO_PHASES

__all__ = [
    "MAX_ALIASES",
    "MAX_BYTES",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "policy_id",
    "scenario_json_schema",
]

#: YAML aliases allowed in one file (an alias bomb expands exponentially during validation)
MAX_ALIASES = 200
#: largest scenario file read
MAX_BYTES = 2_000_000


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid (one line: file, line, field, value, reason)."""


# --------------------------------------------------------------------------- locating a field


def _key_text(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _child(node: Any, part: Any) -> tuple[Any, Any] | None:
    """The (key-or-index, child node) of ``node`` for one loc part, or None."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if _key_text(k) == str(part):
                return k, v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return part, node.value[part]
    return None


def _data_child(data: Any, part: Any) -> Any:
    if isinstance(data, Mapping):
        for k, v in data.items():
            if str(k) == str(part):
                return v
        return _MISSING
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return _MISSING


_MISSING: Any = object()


class _Where:
    """A field path resolved against the YAML tree."""

    def __init__(self, parts: list[str], line: int | None, value: Any, resolved: bool) -> None:
        self.parts = parts
        self.line = line
        #: the file's value at the path (``_MISSING`` when the path does not fully resolve)
        self.value = value
        self.resolved = resolved

    @property
    def path(self) -> str:
        # a key with a line break or blanks in it is shown quoted: the message stays one line
        return ".".join(p if p.isprintable() and p.strip() == p and p else repr(p) for p in self.parts) or "(top level)"


def _locate(root: Any, data: Any, loc: Sequence[Any], *, keep_last: bool = False) -> _Where:
    """Walk ``loc``; parts that are not in the file (pydantic's union tags such as ``brownout``
    or ``function-before[...]``) are dropped, except a missing last field when ``keep_last``."""
    node, value = root, data
    line = node.start_mark.line + 1 if node is not None else None
    parts: list[str] = []
    resolved = True
    for i, part in enumerate(loc):
        found = _child(node, part) if node is not None else None
        if found is None:
            if keep_last and i == len(loc) - 1:
                parts.append(str(part))
            resolved = False
            continue
        _, node = found
        value = _data_child(value, part)
        parts.append(str(part))
        line = node.start_mark.line + 1
    return _Where(parts, line, value if resolved else _MISSING, resolved)


def _shown(value: Any) -> str:
    s = repr(value)
    s = " ".join(s.split())
    return s if len(s) <= 60 else s[:57] + "..."


_PATH_MSG = re.compile(r"^([A-Za-z_][\w\-]*(?:\.[\w\-:@ ]+)*): (.+)$", re.S)


def _path_parts(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


# --------------------------------------------------------------------------- pydantic errors


def _union_tag_message(err: Mapping[str, Any], where: _Where) -> tuple[str, str] | None:
    """Nicer words for a bad ``kind`` of a fault (pydantic's discriminated-union errors)."""
    etype = err.get("type")
    if etype not in ("union_tag_invalid", "union_tag_not_found"):
        return None
    known = ", ".join(FAULT_KINDS)
    path = where.path
    if etype == "union_tag_not_found":
        return f"{path}.kind", f"a fault needs a kind (known: {known})"
    tag = (err.get("ctx") or {}).get("tag")
    return f"{path}.kind", f"unknown fault kind (got {tag!r}; known: {known})"


def _from_validation(err: ValidationError, root: Any, data: Any, source: str) -> str:
    e = err.errors(include_url=False)[0]
    loc = tuple(e.get("loc", ()))
    msg = " ".join(str(e.get("msg", "invalid")).removeprefix("Value error, ").split())
    etype = e.get("type")
    where = _locate(root, data, loc, keep_last=etype == "missing")
    nicer = _union_tag_message(e, where)
    if nicer is not None:
        path, msg = nicer
        kind_where = _locate(root, data, _path_parts(path))
        line = kind_where.line or where.line
        return f"{source}:{line}: {path}: {msg}"
    # A cross-field check raised "some.path: message": point at that path (absolute, or
    # relative to where pydantic put the error).
    m = _PATH_MSG.match(msg)
    if m:
        rel = _path_parts(m.group(1))
        for cand in ([*where.parts, *rel], rel) if where.parts else (rel,):
            inner = _locate(root, data, [int(p) if isinstance(p, str) and p.isdigit() else p for p in cand],
                            keep_last=True)
            if inner.parts and (inner.resolved or len(inner.parts) == len(cand)):
                return f"{source}:{inner.line}: {inner.path}: {m.group(2)}{_got(inner.value, m.group(2))}"
    if not where.parts:
        hint = _top_level_hint(msg, root, data)
        if hint is not None:
            return f"{source}:{hint.line}: {hint.path}: {msg}{_got(hint.value, msg)}"
    value = where.value if where.resolved and where.value is not _MISSING else e.get("input")
    if etype == "missing":
        got = ""
    elif isinstance(value, (dict, list)):
        got = f" (got {_shown(value)})" if where.parts and len(repr(value)) <= 60 else ""
    else:
        got = _got(value, msg)
    return f"{source}:{where.line}: {where.path}: {msg}{got}"


def _got(value: Any, msg: str) -> str:
    """`` (got <value>)`` unless there is no plain value or the message already shows it."""
    if value is _MISSING or isinstance(value, (dict, list)):
        return ""
    shown = _shown(value)
    return "" if shown in msg else f" (got {shown})"


_QUOTED = re.compile(r"'([^']+)'")


def _top_level_hint(msg: str, root: Any, data: Any) -> _Where | None:
    """Where a whole-scenario check (no field path) points: ``vendors`` for "at least one org",
    else the scalar named in quotes (its second occurrence for a duplicate)."""
    if "at least one org" in msg:
        return _locate(root, data, ("vendors",))
    q = _QUOTED.search(msg)
    if q is None or root is None:
        return None
    hits: list[tuple[list[Any], Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, [*path, _key_text(k)])
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, [*path, i])
        elif isinstance(node, yaml.ScalarNode) and node.value == q.group(1):
            hits.append((path, node))

    walk(root, [])
    if not hits:
        return None
    path, _ = hits[1] if "duplicate" in msg and len(hits) > 1 else hits[0]
    return _locate(root, data, path)


# --------------------------------------------------------------------------- checks beyond the model


def policy_id(spec: Any) -> str:
    """How a scenario's policy is named in reports and test ids: its label, else its name."""
    return spec.label or spec.name


def _semantic_errors(sc: Scenario) -> Iterator[tuple[tuple[Any, ...], str]]:
    """(field path, message) for what the model alone cannot check."""
    seen: dict[str, int] = {}
    for i, p in enumerate(sc.policies):
        try:
            make_lab_policy(p.name, dict(p.params))
        except ConfigError as e:
            text = str(e)
            field = "name" if "unknown" in text and "params" not in text and p.name in text else "params"
            yield ("policies", i, field), text
        pid = policy_id(p)
        if pid in seen:
            yield ("policies", i), (f"policy {pid!r} is listed twice (also policies.{seen[pid]}); "
                                    "give one a label")
        seen[pid] = i
        if p.expect_pass is not None and not sc.slo:
            yield ("policies", i, "expect_pass"), "expect_pass needs an slo section to judge against"

    if not sc.slo:
        return
    windows = fault_windows(sc)
    labels = [w["label"] for w in windows]
    known_metrics = ", ".join([*SLO_METRICS, *SLO_ALIASES])
    if not isinstance(sc.slo, (Mapping, list, tuple)):
        yield ("slo",), "the slo section is a mapping of metric to threshold"
        return
    for entry in slo_entries(sc.slo):
        path, metric, phase, th = entry.path, entry.metric, entry.phase, entry.threshold
        if th is MISSING:
            yield path, "an slo list entry needs metric and threshold"
            continue
        name = canonical_metric(metric)
        spec = SLO_METRICS.get(name)
        if spec is None:
            yield path[:2], f"unknown SLO metric {metric!r} (known: {known_metrics})"
            continue
        if not phase:
            yield path, "an SLO metric needs a threshold or a mapping of phase to threshold"
            continue
        base, _, label = phase.partition(":")
        if base not in SLO_PHASES:
            yield path, (f"unknown SLO phase {phase!r} (overall, before, during, after; "
                         "add :<fault label> for one fault)")
            continue
        if label and label not in labels:
            yield path, f"no fault labelled {label!r} (faults: {', '.join(labels) or 'none'})"
            continue
        if isinstance(th, (Mapping, list, tuple)) or th is None or isinstance(th, bool):
            yield path, "a threshold is a string such as '>= 99.9%', '<= 5m' or a number"
            continue
        try:
            parse_threshold(th, name)
        except ValueError as e:
            yield path, str(e)
            continue
        if (spec.where == "fault" or base in ("before", "during", "after")) and not windows:
            where = f" in phase {base}" if base != "overall" else ""
            yield path, f"{metric}{where} needs a fault to measure against"


def _check_semantics(sc: Scenario, root: Any, data: Any, source: str) -> None:
    for path, msg in _semantic_errors(sc):
        where = _locate(root, data, path, keep_last=True)
        got = "" if "(got" in msg else _got(where.value, msg)
        raise ScenarioError(f"{source}:{where.line}: {where.path}: {' '.join(msg.split())}{got}")


# --------------------------------------------------------------------------- parsing


def _yaml(text: str, source: str) -> tuple[Any, Any]:
    try:
        aliases = sum(1 for ev in yaml.parse(text, Loader=yaml.SafeLoader) if isinstance(ev, yaml.AliasEvent))
        if aliases > MAX_ALIASES:
            raise ScenarioError(f"{source}:1: too many YAML aliases ({aliases} > {MAX_ALIASES})")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ScenarioError(f"{source}{where}: not valid YAML ({' '.join(str(problem).split())})") from None
    except RecursionError:
        raise ScenarioError(f"{source}:1: not valid YAML (nested too deeply)") from None
    return root, data


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Validate scenario YAML text; ``source`` names it in errors. Raises :class:`ScenarioError`."""
    try:
        if len(text) > MAX_BYTES:
            raise ScenarioError(f"{source}:1: file too large ({len(text)} > {MAX_BYTES} characters)")
        root, data = _yaml(text, source)
        if not isinstance(data, dict):
            got = "an empty file" if data is None else type(data).__name__
            raise ScenarioError(f"{source}:1: a scenario must be a mapping at the top level (got {got})")
        try:
            sc = Scenario.model_validate(data)
        except ValidationError as err:
            raise ScenarioError(_from_validation(err, root, data, source)) from None
        _check_semantics(sc, root, data, source)
        # a file states the true system's figures; its ``scale`` says at what share to run them
        return sc if sc.scale == 1.0 else sc.model_copy(update={"scale": 1.0}).scaled(sc.scale)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError(f"{source}:1: nested too deeply") from None
    except Exception as err:  # never a traceback for a bad file; the fuzz test keeps this path unused
        text1 = " ".join(str(err).split())
        raise ScenarioError(f"{source}: unexpected error validating the scenario: {type(err).__name__}: {text1}"
                            ) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file. Raises :class:`ScenarioError` (one line)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ScenarioError(f"{p}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    return parse_scenario(text, str(p))


# --------------------------------------------------------------------------- JSON Schema


#: RouterConfig (multiorg) durations read with multiorg.units.seconds: numbers or "30s" in a file
_ROUTER_DURATIONS = ("attempt_timeout", "deadline", "retry_budget_window", "slow_call_threshold", "cache_staleness")


def _slo_schema() -> dict[str, Any]:
    threshold = {"anyOf": [{"type": "string"}, {"type": "number"}],
                 "description": "'>= 99.9%', '<= 5m', '< 2s', '<= 500' (no operator: the metric's natural one)"}
    phased = {"type": "object", "description": "phase → threshold: overall, before, during, after, fault, "
                                               "or <phase>:<fault label> for one fault",
              "additionalProperties": threshold}
    entry = {"anyOf": [threshold, phased]}
    names = sorted({*SLO_METRICS, *SLO_ALIASES})
    return {
        "title": "Slo",
        "description": "What the service must still deliver: metric → threshold, or metric → {phase: threshold}.",
        "anyOf": [
            {"type": "object", "propertyNames": {"enum": names}, "additionalProperties": entry},
            {"type": "array", "items": {"type": "object", "required": ["metric", "threshold"],
                                        "properties": {"metric": {"enum": names}, "phase": {"type": "string"},
                                                       "threshold": threshold}}},
        ],
        "default": {},
    }


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (what ``scenarios/schema.json`` holds)."""
    schema = Scenario.model_json_schema(mode="validation")
    router = schema.get("$defs", {}).get("RouterConfig", {}).get("properties", {})
    for name in _ROUTER_DURATIONS:
        prop = router.get(name)
        if prop is not None:
            keep = {k: v for k, v in prop.items() if k in ("default", "title", "description")}
            nullable = "anyOf" in prop and any(x.get("type") == "null" for x in prop["anyOf"])
            types = [{"type": "number", "minimum": 0}, {"type": "string"}] + ([{"type": "null"}] if nullable else [])
            router[name] = {"anyOf": types, **keep}
    schema.setdefault("properties", {})["slo"] = _slo_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://breakerlab.dev/schemas/scenario.json",
        "title": "breakerlab scenario",
        "description": "A breakerlab scenario file (YAML). Generated from sim.scenario.Scenario by "
                       "`python -m sim schema`; do not edit by hand.",
        **{k: v for k, v in schema.items() if k not in ("title", "description")},
    }
