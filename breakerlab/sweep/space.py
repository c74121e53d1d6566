"""The search space: ``grid`` items parsed into axes (ranges, steps, lists with units),
validated by the policy's own pydantic model, and the settings a grid or random search visits."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from multiorg.breakers.registry import POLICIES, PRESETS, make_policy
from multiorg.errors import ConfigError
from multiorg.units import seconds
from reports.format import fmt_duration, fmt_param

from ..errors import SweepError

__all__ = [
    "MAX_AXIS_VALUES",
    "MAX_SETTINGS",
    "Axis",
    "Setting",
    "grid_settings",
    "parse_axis",
    "parse_grid",
    "policy_class",
    "random_settings",
    "resolve_param",
    "validate_params",
]

#: most values one axis may expand to, and most settings one sweep may plan
MAX_AXIS_VALUES = 10_000


MAX_SETTINGS = 100_000


def policy_class(policy: str) -> type[Any]:
    """The pydantic model of a policy or preset name; a :class:`SweepError` naming ``policy`` if unknown."""
    try:
        return type(make_policy(policy))
    except ConfigError:
        known = ", ".join([*POLICIES, *PRESETS])
        raise SweepError("policy", f"unknown policy {policy!r} (known: {known})") from None


def validate_params(policy: str, params: Mapping[str, Any], param: str, what: str = "") -> Any:
    """``policy`` with ``params``, built by its model; a :class:`SweepError` naming ``param``
    (and ``what`` of it) if the model refuses them."""
    try:
        return make_policy(policy, dict(params))
    except ConfigError as e:
        raise SweepError(param, f"{what}: {e}" if what else str(e)) from None


def resolve_param(policy: str, name: str, spec: str = "") -> str:
    """A parameter name of ``policy``'s model: the exact name or a unique prefix of one."""
    fields = list(policy_class(policy).model_fields)
    if name in fields:
        return name
    matches = [f for f in fields if f.startswith(name)] if name else []
    if len(matches) == 1:
        return matches[0]
    where = f"{spec}: " if spec else ""
    if matches:
        raise SweepError("grid", f"{where}parameter {name!r} of {policy} is ambiguous ({', '.join(matches)})")
    raise SweepError("grid", f"{where}{policy} has no parameter {name!r} (parameters: {', '.join(fields)})")


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its values (validated, canonical JSON values) and their labels."""

    name: str
    #: the ``grid`` item it came from
    spec: str
    #: "list" or "range"
    kind: str
    #: grid values (canonical: what the policy model dumps), in order; empty for a range
    #: without a step over non-integers (random search only)
    values: tuple[Any, ...]
    labels: tuple[str, ...]
    #: ranges: endpoints (canonical numbers), step (None: continuous / unit step for integers)
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    integer: bool = False
    #: the range was written with duration units (labels as durations)
    duration: bool = False

    def label_of(self, value: Any) -> str:
        for v, lab in zip(self.values, self.labels, strict=True):
            if v == value:
                return lab
        if self.duration and isinstance(value, (int, float)):
            return fmt_duration(float(value), spec=True)
        return fmt_param(value)


def _scalar(tok: str) -> Any:
    """A grid list token as a Python value: int, float, bool or the text (pydantic parses units)."""
    t = tok.strip()
    low = t.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
        if math.isfinite(f):
            return f
    except ValueError:
        pass
    return t


def _number(tok: str, spec: str, name: str) -> tuple[float, bool, bool]:
    """(value, is an integer literal, has duration units) of a range endpoint or step."""
    t = tok.strip()
    try:
        return float(int(t)), True, False
    except ValueError:
        pass
    try:
        f = float(t)
        if math.isfinite(f):
            return f, False, False
    except ValueError:
        pass
    try:
        return float(seconds(t)), False, True
    except (ValueError, TypeError):
        raise SweepError(
            "grid", f"{spec}: {name}: {t!r} is not a number or a duration (use a..b, a..b:step or v1,v2,...)"
        ) from None


def _canonical(policy: str, name: str, value: Any, spec: str, label: str) -> Any:
    pol = validate_params(policy, {name: value}, "grid", f"{spec}: {name}={label}")
    return pol.model_dump(mode="json")[name]


def parse_axis(text: str, policy: str) -> Axis:
    """One ``NAME=VALUES`` item of ``grid`` (see :mod:`breakerlab.sweep`), validated against ``policy``."""
    spec = text.strip()
    name, eq, body = spec.partition("=")
    name, body = name.strip(), body.strip()
    if not eq or not name or not body:
        raise SweepError(
            "grid", f"{text!r} is not NAME=VALUES (e.g. threshold=2..8, base_open_time=30s,60s,120s;"
            " on the command line, put scenario files before --grid)"
        )
    name = resolve_param(policy, name, spec)
    if ".." in body and "," not in body:
        lo_t, _, rest = body.partition("..")
        hi_t, colon, step_t = rest.partition(":")
        if not lo_t.strip() or not hi_t.strip() or (colon and not step_t.strip()):
            raise SweepError("grid", f"{spec}: {name}: a range is a..b or a..b:step (got {body!r})")
        lo, lo_int, lo_dur = _number(lo_t, spec, name)
        hi, hi_int, hi_dur = _number(hi_t, spec, name)
        step: float | None = None
        st_int = True
        st_dur = False
        if colon:
            step, st_int, st_dur = _number(step_t, spec, name)
            if step <= 0:
                raise SweepError("grid", f"{spec}: {name}: the step must be positive (got {step_t.strip()!r})")
        if hi < lo:
            raise SweepError("grid", f"{spec}: {name}: the range is empty ({lo_t.strip()} > {hi_t.strip()})")
        integer = lo_int and hi_int and st_int
        duration = lo_dur or hi_dur or st_dur
        values: list[Any] = []
        if integer:
            k = int(step or 1)
            count = (int(hi) - int(lo)) // k + 1
            if count > MAX_AXIS_VALUES:
                raise SweepError("grid", f"{spec}: {name}: {count} values (at most {MAX_AXIS_VALUES})")
            values = list(range(int(lo), int(hi) + 1, k))
        elif step is not None:
            count = math.floor((hi - lo) / step + 1e-9) + 1
            if count > MAX_AXIS_VALUES:
                raise SweepError("grid", f"{spec}: {name}: {count} values (at most {MAX_AXIS_VALUES})")
            values = [round(lo + i * step, 10) for i in range(count)]
        labels = [fmt_duration(float(v), spec=True) if duration else fmt_param(v) for v in values]
        canon = [_canonical(policy, name, v, spec, lab) for v, lab in zip(values, labels, strict=True)]
        if not values:  # continuous: check both ends
            for v, t in ((lo, lo_t), (hi, hi_t)):
                _canonical(policy, name, v, spec, t.strip())
        vals, labs = _dedupe(canon, labels)
        return Axis(name, spec, "range", vals, labs, lo, hi, step, integer, duration)
    toks = [t.strip() for t in body.split(",")]
    if any(not t for t in toks):
        raise SweepError("grid", f"{spec}: {name}: empty value in {body!r}")
    canon = [_canonical(policy, name, _scalar(t), spec, t) for t in toks]
    vals, labs = _dedupe(canon, toks)
    return Axis(name, spec, "list", vals, labs)


def _dedupe(values: Sequence[Any], labels: Sequence[str]) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    seen: list[str] = []
    vals, labs = [], []
    for v, lab in zip(values, labels, strict=True):
        k = json.dumps(v, sort_keys=True)
        if k in seen:
            continue
        seen.append(k)
        vals.append(v)
        labs.append(lab)
    return tuple(vals), tuple(labs)


def parse_grid(specs: Sequence[str] | Mapping[str, Any] | None, policy: str) -> list[Axis]:
    """Every ``grid`` item (a list of ``NAME=VALUES``, or ``{name: "2..8" | [values]}``)."""
    if not specs:
        return []
    if isinstance(specs, Mapping):
        items = []
        for k, v in specs.items():
            body = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
            items.append(f"{k}={body}")
        specs = items
    axes = [parse_axis(s, policy) for s in specs]
    names = [a.name for a in axes]
    for n in names:
        if names.count(n) > 1:
            raise SweepError("grid", f"parameter {n!r} is given twice")
    return axes


@dataclass(frozen=True)
class Setting:
    """One point of the search space: the swept parameters' canonical values, and labels."""

    params: Mapping[str, Any]
    labels: Mapping[str, str]

    def text(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels.items()) or "(policy defaults)"


def grid_settings(axes: Sequence[Axis]) -> list[Setting]:
    """The cartesian product of the axes (the last axis varies fastest)."""
    for a in axes:
        if not a.values:
            raise SweepError(
                "grid", f"{a.spec}: a range over non-integers needs a step for grid search"
                f" (e.g. {a.name}=a..b:step), or use random search"
            )
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_SETTINGS:
        raise SweepError("grid", f"{total} settings (at most {MAX_SETTINGS}); use random search")
    out = []
    for combo in itertools.product(*(range(len(a.values)) for a in axes)):
        out.append(
            Setting(
                {a.name: a.values[i] for a, i in zip(axes, combo, strict=True)},
                {a.name: a.labels[i] for a, i in zip(axes, combo, strict=True)},
            )
        )
    return out


def random_settings(axes: Sequence[Axis], n: int, seed: int = 0, policy: str | None = None) -> list[Setting]:
    """``n`` distinct settings drawn at random (fewer when the space has fewer)."""
    if n < 1:
        raise SweepError("random", f"must be at least 1 (got {n})")
    if not axes:
        return [Setting({}, {})]
    rng = np.random.default_rng(seed)
    out: list[Setting] = []
    seen: set[str] = set()
    for _ in range(50 * n):
        if len(out) >= n:
            break
        params: dict[str, Any] = {}
        labels: dict[str, str] = {}
        for a in axes:
            if a.values:
                i = int(rng.integers(len(a.values)))
                params[a.name], labels[a.name] = a.values[i], a.labels[i]
                continue
            assert a.lo is not None and a.hi is not None
            raw = float(rng.uniform(a.lo, a.hi))
            raw = float(f"{raw:.4g}")
            lab = fmt_duration(raw, spec=True) if a.duration else fmt_param(raw)
            value = _canonical(policy, a.name, raw, a.spec, lab) if policy else raw
            params[a.name], labels[a.name] = value, lab
        key = json.dumps(params, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append(Setting(params, labels))
    return out
