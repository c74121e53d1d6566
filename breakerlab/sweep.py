"""Threshold sweeps: grid and random search over a policy's parameters, with resume.

    breakerlab sweep scenarios/one-org-diverges.yaml --policy exponential \\
        --grid threshold=2..8 base_open_time=30s,60s,120s --seeds 5 --out sweep/

or from Python::

    from breakerlab.sweep import sweep
    result = sweep([scenario], "exponential", ["threshold=2..8", "base_open_time=30s,60s,120s"],
                   seeds=5, out="sweep/")
    result.recommendation.reason

Search space
------------
``--grid`` takes one ``NAME=VALUES`` per parameter of the policy's pydantic model (a unique
prefix of the name is enough: ``base_open`` = ``base_open_time``):

* ``name=a..b`` — every integer from a to b, both included;
* ``name=a..b:step`` — a, a+step, … up to b (numbers or durations: ``30s..2m:30s``);
* ``name=v1,v2,v3`` — these values, human units allowed (``30s,1m,2m``; ``count,time``).

Every value is validated by the policy's own model: a bad name or value is one line naming the
parameter and the value (``SweepError``; exit 2 on the command line). **Grid search** runs the
cartesian product; **random search** (``--random N``) draws N distinct settings, each parameter
independently: uniformly from a range (integers for integer ranges, the step's points when a
step is given, any value otherwise) or from a list, with ``numpy.random.default_rng(sample_seed)``.

Runs = scenarios x settings x seeds (seeds ``seed, seed+1, …`` from each scenario's ``seed``
unless ``--seed`` gives the first one).

Objectives (per run, from :func:`reports.metrics.trace_metrics`)
----------------------------------------------------------------
* **success rate** (max) — user requests that ended 2xx / all requests;
* **failover time** (min) — the worst over the run's org faults of the fault's failover time
  (max over pods); **"never"** when regular traffic kept flowing to a faulted org until the fault
  ended, which is worse than any time. Runs with no org fault have none (the objective is then
  neutral);
* **wasted attempts** (min) — attempts sent to a faulted org during its fault;
* **flapping** (min) — open → close cycles summed over every breaker (``alerts.cycles``).

A setting's value is the mean over its runs (all scenarios, all seeds). For failover time a
setting is compared by (share of its runs that never failed over, mean over the runs that did):
any "never" is worse than every time, fewer "never" runs beat more.

**Pareto frontier**: the settings no other setting dominates (at least as good on all four
objectives and better on one). Settings with identical objective values are all kept.

**Recommendation** (:func:`recommend`): among the frontier settings whose failover time is within
``failover_slack`` (default 60 s) of the best frontier failover time (and with no larger share of
"never" runs) and whose flapping is within ``flapping_slack`` (default 1 cycle per run) of the best
frontier flapping, the one with the highest success rate; ties go to fewer wasted attempts, then
less flapping, then faster failover, then the first in grid order. If no frontier setting is within
both slacks, the flapping condition is dropped. The reason is one sentence saying which rule
picked it, with the numbers.

Storage and resume
------------------
Each run's result is ``OUT/runs/<key>.json``, where the key hashes the run's whole config:
the scenario's content (:func:`scenario_hash`: everything that changes what is simulated — not its
name, description, SLO or policy list), the policy's class name and *all* its parameters after
validation (so ``60s`` and ``1m`` are one run, and a preset resolves to its values), the seed, the
mode and the code version (:func:`code_version`: a hash of the simulator, router, faults and
metrics sources plus numpy/simpy versions). A file is written atomically (temporary file in the
same directory, fsync, :func:`os.replace`) by this process as each run completes, so a killed
sweep loses no finished run and never leaves a half-written result; rerunning the same command
skips every run whose file exists. Only metrics are stored; ``--save-traces`` also writes
``OUT/traces/<key>.npz``.

Outputs: ``OUT/results.json`` (one row per run: scenario, params, seed, metrics; one aggregate per
setting; the frontier; the recommendation), ``OUT/summary.md`` and heatmaps of each objective over
each pair of swept parameters in ``OUT/charts/`` (:mod:`reports.sweep_charts`). Both files depend
only on the runs' results, not on which of them were reused: a resumed sweep writes the same
bytes as an uninterrupted one.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import itertools
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "OBJECTIVES",
    "Axis",
    "Recommendation",
    "RunTask",
    "Setting",
    "SweepError",
    "SweepPlan",
    "SweepResult",
    "add_sweep_parser",
    "aggregate",
    "atomic_write",
    "code_version",
    "execute_run",
    "grid_settings",
    "main",
    "pareto_front",
    "parse_axis",
    "parse_grid",
    "plan_sweep",
    "random_settings",
    "recommend",
    "run_key",
    "run_metrics",
    "run_plan",
    "scenario_hash",
    "sweep",
]

FORMAT = "breakerlab-sweep/1"
RUN_FORMAT = "breakerlab-sweep-run/1"
ROOT = Path(__file__).resolve().parent.parent

#: (name, direction) of the objectives, in the order they are shown
OBJECTIVES: tuple[tuple[str, str], ...] = (
    ("success_rate", "max"),
    ("failover_time", "min"),
    ("wasted_attempts", "min"),
    ("flapping", "min"),
)
OBJECTIVE_TITLES = {
    "success_rate": "success rate",
    "failover_time": "failover time",
    "wasted_attempts": "wasted attempts",
    "flapping": "flapping",
}
DEFAULT_FAILOVER_SLACK = 60.0
DEFAULT_FLAPPING_SLACK = 1.0
#: most values one axis may expand to, and most settings one sweep may plan
MAX_AXIS_VALUES = 10_000
MAX_SETTINGS = 100_000

EXAMPLES = (
    "  breakerlab sweep scenarios/one-org-diverges.yaml --policy exponential \\\n"
    "      --grid threshold=2..8 base_open_time=30s,60s,120s --seeds 5 --out sweep/\n"
    "  breakerlab sweep scenarios/*.yaml --policy consecutive --grid threshold=2..10:2 open_time=15s..2m \\\n"
    "      --random 20 --seeds 3\n"
    "  breakerlab sweep scenarios/lock-primary-before-launch.yaml --policy exponential \\\n"
    "      --grid threshold=2..8 --executor dask --scheduler tcp://scheduler:8786"
)


class SweepError(ValueError):
    """Bad sweep input (grid, policy, scenario) or failed runs: one line."""


# --------------------------------------------------------------------------- formatting


def fmt_duration(v: float) -> str:
    """``30`` → ``30s``, ``90`` → ``1m30s``, ``3600`` → ``1h``, ``0.25`` → ``250ms``."""
    if v != v or v in (math.inf, -math.inf):
        return str(v)
    if 0 < abs(v) < 1:
        return f"{v * 1000:g}ms"
    if v != int(v) or v < 60:
        return f"{v:g}s"
    out, rest = "", int(v)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "+".join(map(_fmt_value, v))
    return str(v)


def fmt_rate(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v >= 1:
        return "100 %"
    digits = min(4, max(1, math.ceil(-math.log10(1 - v)) - 1)) if v > 0 else 1
    return f"{v * 100:.{digits}f} %"


def fmt_seconds(v: float | None) -> str:
    if v is None:
        return "n/a"
    if v < 1:
        return f"{v * 1000:.0f} ms"
    if v < 120:
        return f"{v:.3g} s"
    if v < 7200:
        return f"{v / 60:.3g} min"
    return f"{v / 3600:.3g} h"


def fmt_count(v: float | None) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3g}" if v < 1000 else f"{v:,.0f}"


# --------------------------------------------------------------------------- policies


def _policy_class(policy: str) -> type[Any]:
    from multiorg.breakers.registry import POLICIES, PRESETS, make_policy
    from multiorg.errors import ConfigError

    try:
        return type(make_policy(policy))
    except ConfigError:
        known = ", ".join([*POLICIES, *PRESETS])
        raise SweepError(f"--policy: unknown policy {policy!r} (known: {known})") from None


def _validate(policy: str, params: Mapping[str, Any], what: str) -> Any:
    from multiorg.breakers.registry import make_policy
    from multiorg.errors import ConfigError

    try:
        return make_policy(policy, dict(params))
    except ConfigError as e:
        raise SweepError(f"{what}: {e}") from None


def resolve_param(policy: str, name: str, spec: str = "") -> str:
    """A parameter name of ``policy``'s model: the exact name or a unique prefix of one."""
    fields = list(_policy_class(policy).model_fields)
    if name in fields:
        return name
    matches = [f for f in fields if f.startswith(name)] if name else []
    if len(matches) == 1:
        return matches[0]
    where = f"--grid {spec}" if spec else "--grid"
    if matches:
        raise SweepError(f"{where}: parameter {name!r} of {policy} is ambiguous ({', '.join(matches)})")
    raise SweepError(f"{where}: {policy} has no parameter {name!r} (parameters: {', '.join(fields)})")


# --------------------------------------------------------------------------- axes


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its values (validated, canonical JSON values) and their labels."""

    name: str
    #: the ``--grid`` text it came from
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
            return fmt_duration(float(value))
        return _fmt_value(value)


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
    from multiorg.units import seconds

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
            f"--grid {spec}: {name}: {t!r} is not a number or a duration (use a..b, a..b:step or v1,v2,...)"
        ) from None


def _canonical(policy: str, name: str, value: Any, spec: str, label: str) -> Any:
    pol = _validate(policy, {name: value}, f"--grid {spec}: {name}={label}")
    return pol.model_dump(mode="json")[name]


def parse_axis(text: str, policy: str) -> Axis:
    """One ``NAME=VALUES`` of ``--grid`` (see the module docstring), validated against ``policy``."""
    spec = text.strip()
    name, eq, body = spec.partition("=")
    name, body = name.strip(), body.strip()
    if not eq or not name or not body:
        raise SweepError(
            f"--grid: {text!r} is not NAME=VALUES (e.g. threshold=2..8, base_open_time=30s,60s,120s;"
            " put scenario files before --grid)"
        )
    name = resolve_param(policy, name, spec)
    if ".." in body and "," not in body:
        lo_t, _, rest = body.partition("..")
        hi_t, colon, step_t = rest.partition(":")
        if not lo_t.strip() or not hi_t.strip() or (colon and not step_t.strip()):
            raise SweepError(f"--grid {spec}: {name}: a range is a..b or a..b:step (got {body!r})")
        lo, lo_int, lo_dur = _number(lo_t, spec, name)
        hi, hi_int, hi_dur = _number(hi_t, spec, name)
        step: float | None = None
        st_int = True
        st_dur = False
        if colon:
            step, st_int, st_dur = _number(step_t, spec, name)
            if step <= 0:
                raise SweepError(f"--grid {spec}: {name}: the step must be positive (got {step_t.strip()!r})")
        if hi < lo:
            raise SweepError(f"--grid {spec}: {name}: the range is empty ({lo_t.strip()} > {hi_t.strip()})")
        integer = lo_int and hi_int and st_int
        duration = lo_dur or hi_dur or st_dur
        values: list[Any] = []
        if integer:
            k = int(step or 1)
            count = (int(hi) - int(lo)) // k + 1
            if count > MAX_AXIS_VALUES:
                raise SweepError(f"--grid {spec}: {name}: {count} values (at most {MAX_AXIS_VALUES})")
            values = list(range(int(lo), int(hi) + 1, k))
        elif step is not None:
            count = math.floor((hi - lo) / step + 1e-9) + 1
            if count > MAX_AXIS_VALUES:
                raise SweepError(f"--grid {spec}: {name}: {count} values (at most {MAX_AXIS_VALUES})")
            values = [round(lo + i * step, 10) for i in range(count)]
        labels = [fmt_duration(float(v)) if duration else _fmt_value(v) for v in values]
        canon = [_canonical(policy, name, v, spec, lab) for v, lab in zip(values, labels, strict=True)]
        if not values:  # continuous: check both ends
            for v, t in ((lo, lo_t), (hi, hi_t)):
                _canonical(policy, name, v, spec, t.strip())
        vals, labs = _dedupe(canon, labels)
        return Axis(name, spec, "range", vals, labs, lo, hi, step, integer, duration)
    toks = [t.strip() for t in body.split(",")]
    if any(not t for t in toks):
        raise SweepError(f"--grid {spec}: {name}: empty value in {body!r}")
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
    """Every ``--grid`` item (a list of ``NAME=VALUES``, or ``{name: "2..8" | [values]}``)."""
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
            raise SweepError(f"--grid: parameter {n!r} is given twice")
    return axes


# --------------------------------------------------------------------------- settings


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
                f"--grid {a.spec}: a range over non-integers needs a step for grid search"
                f" (e.g. {a.name}=a..b:step), or use --random N"
            )
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_SETTINGS:
        raise SweepError(f"--grid: {total} settings (at most {MAX_SETTINGS}); use --random N")
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
    import numpy as np

    if n < 1:
        raise SweepError(f"--random: must be at least 1 (got {n})")
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
            lab = fmt_duration(raw) if a.duration else _fmt_value(raw)
            value = _canonical(policy, a.name, raw, a.spec, lab) if policy else raw
            params[a.name], labels[a.name] = value, lab
        key = json.dumps(params, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        out.append(Setting(params, labels))
    return out


# --------------------------------------------------------------------------- hashing


def _canon_json(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


#: scenario fields that do not change what is simulated
_NOT_SIMULATED = ("name", "description", "slo", "policies")


def scenario_hash(scenario: Any) -> str:
    """sha256 of the scenario's content (canonical JSON), without name, description, SLO, policies."""
    data = scenario.model_dump(mode="json")
    for k in _NOT_SIMULATED:
        data.pop(k, None)
    return hashlib.sha256(_canon_json(data).encode()).hexdigest()


#: sources whose change can change a run's metrics (paths relative to the repo root)
#: what decides a run's numbers: the layers below the app (``breakerlab/`` itself never does)
_CODE_DIRS = ("multiorg", "faults", "sim")
_CODE_FILES = ("reports/metrics.py",)


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Package version + a hash of the simulation, router, faults and metrics sources and the
    numpy and simpy versions: results computed by other code are not reused."""
    import numpy
    import simpy

    h = hashlib.sha256()
    files = []
    for d in _CODE_DIRS:
        files += sorted((ROOT / d).rglob("*.py"))
    files += [ROOT / f for f in _CODE_FILES]
    for f in sorted(set(files), key=lambda p: p.relative_to(ROOT).as_posix()):
        rel = f.relative_to(ROOT).as_posix()
        if not f.is_file():
            continue
        h.update(rel.encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(f"numpy {numpy.__version__} simpy {getattr(simpy, '__version__', '?')}".encode())
    try:
        from importlib.metadata import version

        pkg = version("breakerlab")
    except Exception:
        pkg = "0+src"
    return f"{pkg}+{h.hexdigest()[:16]}"


def run_config(scenario_sha: str, policy: str, params: Mapping[str, Any], seed: int, mode: str, code: str) -> dict:
    return {
        "format": RUN_FORMAT,
        "scenario": scenario_sha,
        "policy": policy,
        "params": json.loads(_canon_json(dict(params))),
        "seed": int(seed),
        "mode": mode,
        "code": code,
    }


def run_key(
    scenario_sha: str, policy: str, params: Mapping[str, Any], seed: int, mode: str, code: str | None = None
) -> str:
    """The run's file name: sha256 of its canonical config (first 32 hex digits)."""
    cfg = run_config(scenario_sha, policy, params, seed, mode, code_version() if code is None else code)
    return hashlib.sha256(_canon_json(cfg).encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- atomic files


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is either the old file or the whole new one:
    temporary file in the same directory, fsync, :func:`os.replace`, fsync of the directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return path


def _clean_temp(directory: Path) -> int:
    """Remove temporary files left by a killed writer (``.NAME.*.tmp``)."""
    n = 0
    if directory.is_dir():
        for f in directory.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                f.unlink()
                n += 1
    return n


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- one run


def _num(v: Any) -> float | int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return int(v)
    f = float(v)
    return f if math.isfinite(f) else None


def _worst(values: Sequence[float | None]) -> float | str | None:
    """Max over faults of a duration where None is "never" (worse than any time)."""
    if not values:
        return None
    if any(v is None for v in values):
        return "never"
    return max(float(v) for v in values if v is not None)


def run_metrics(trace: Any) -> dict[str, Any]:
    """The numbers a sweep keeps of one run (see the module docstring for the objectives)."""
    from reports.metrics import trace_metrics

    m = trace_metrics(trace)
    o = m.overall
    org_faults = [f for f in m.faults if f.window.org_fault]
    return {
        "success_rate": _num(o.success_rate),
        "session_success_rate": _num(o.session_success_rate),
        "requests": int(o.requests),
        "failed_requests": int(o.failed_requests),
        "retry_amplification": _num(o.retry_amplification),
        "latency_p50": _num(o.latency_p50),
        "latency_p95": _num(o.latency_p95),
        "latency_p99": _num(o.latency_p99),
        "failover_time": _worst([_num(f.failover_time_max) for f in org_faults]),
        "detection_time": _worst([_num(f.detection_time) for f in org_faults]),
        "user_visible_failures": int(sum(f.user_visible_failures for f in org_faults)),
        "wasted_attempts": int(m.wasted_attempts),
        "flapping": int(m.alerts["cycles"]),
        "opened": int(m.alerts["opened"]),
        "faults": [
            {
                "label": f.window.label,
                "failover_time_max": _num(f.failover_time_max),
                "failover_time_median": _num(f.failover_time_median),
                "detection_time": _num(f.detection_time),
                "recovery_time": _num(f.recovery_time),
                "user_visible_failures": int(f.user_visible_failures),
                "wasted_attempts": int(f.wasted_attempts),
            }
            for f in org_faults
        ],
    }


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs; picklable, sent to a worker."""

    key: str
    scenario: Any
    policy: str
    params: Mapping[str, Any]
    seed: int
    mode: str
    save_trace: bool = False


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one simulation and compute its metrics (in a worker). Never raises an Exception:
    a failure comes back as ``{"key", "error"}``."""
    from sim.engine import run

    try:
        trace = run(task.scenario, (task.policy, dict(task.params)), mode=task.mode, seed=task.seed)  # type: ignore[arg-type]
        out: dict[str, Any] = {"key": task.key, "metrics": run_metrics(trace)}
        if task.save_trace:
            out["trace"] = trace
        return out
    except Exception as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        return {"key": task.key, "error": f"{type(e).__name__}: {msg}"}


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class PlannedRun:
    key: str
    scenario: int  # index into plan.scenarios
    setting: int  # index into plan.settings
    seed: int


@dataclass
class SweepPlan:
    policy: str  # as given (a policy or a preset)
    policy_class: str
    base_params: dict[str, Any]
    axes: list[Axis]
    settings: list[Setting]
    #: (label, Scenario, content hash)
    scenarios: list[tuple[str, Any, str]]
    seeds: list[list[int]]  # per scenario
    mode: str
    search: str  # "grid" | "random"
    random: int | None
    sample_seed: int
    code: str
    runs: list[PlannedRun]
    #: full params (policy class defaults + setting) per setting
    full_params: list[dict[str, Any]]
    save_traces: bool = False

    def task(self, r: PlannedRun) -> RunTask:
        return RunTask(
            r.key, self.scenarios[r.scenario][1], self.policy_class, self.full_params[r.setting], r.seed,
            self.mode, self.save_traces,
        )

    def unique_runs(self) -> list[PlannedRun]:
        seen: set[str] = set()
        out = []
        for r in self.runs:
            if r.key not in seen:
                seen.add(r.key)
                out.append(r)
        return out


def _scenarios(items: Iterable[Any]) -> list[tuple[str, Any]]:
    from sim.scenario import Scenario

    out: list[tuple[str, Any]] = []
    for it in items:
        if isinstance(it, tuple) and len(it) == 2:
            out.append((str(it[0]), it[1]))
        elif isinstance(it, Scenario):
            out.append((it.name, it))
        else:
            from sim.loader import ScenarioError, load_scenario

            try:
                sc = load_scenario(it)
            except ScenarioError as e:
                raise SweepError(str(e)) from None
            out.append((sc.name, sc))
    if not out:
        raise SweepError("sweep: no scenario given")
    names = [n for n, _ in out]
    return [(n if names.count(n) == 1 else f"{n} #{i + 1}", s) for i, (n, s) in enumerate(out)]


def plan_sweep(
    scenarios: Iterable[Any],
    policy: str,
    grid: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    seeds: int = 1,
    seed: int | None = None,
    random: int | None = None,
    sample_seed: int = 0,
    mode: str = "fast",
    save_traces: bool = False,
    code: str | None = None,
) -> SweepPlan:
    """Parse and validate everything, and list the runs (nothing is simulated)."""
    from multiorg.breakers.base import params_summary

    if seeds < 1:
        raise SweepError(f"--seeds: must be at least 1 (got {seeds})")
    if mode not in ("fast", "full"):
        raise SweepError(f"--mode: must be fast or full (got {mode!r})")
    scs = _scenarios(scenarios)
    cls = _policy_class(policy)
    axes = parse_grid(grid, policy)
    settings = random_settings(axes, random, sample_seed, policy) if random is not None else grid_settings(axes)
    base = _validate(policy, {}, "--policy")
    full: list[dict[str, Any]] = []
    for s in settings:
        pol = _validate(policy, s.params, f"--grid: setting {s.text()}")
        full.append(params_summary(pol))
    code = code_version() if code is None else code
    hashes = [scenario_hash(sc) for _, sc in scs]
    seed_lists = [[(sc.seed if seed is None else seed) + i for i in range(seeds)] for _, sc in scs]
    runs = []
    for si, (_, _sc) in enumerate(scs):
        for j in range(len(settings)):
            for sd in seed_lists[si]:
                key = run_key(hashes[si], cls.name, full[j], sd, mode, code)
                runs.append(PlannedRun(key, si, j, sd))
    return SweepPlan(
        policy=policy,
        policy_class=cls.name,
        base_params=params_summary(base),
        axes=list(axes),
        settings=settings,
        scenarios=[(n, sc, h) for (n, sc), h in zip(scs, hashes, strict=True)],
        seeds=seed_lists,
        mode=mode,
        search="random" if random is not None else "grid",
        random=random,
        sample_seed=sample_seed,
        code=code,
        runs=runs,
        full_params=full,
        save_traces=save_traces,
    )


# --------------------------------------------------------------------------- execution


@dataclass
class RunStats:
    total: int = 0
    reused: int = 0
    computed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def _run_record(plan: SweepPlan, r: PlannedRun, metrics: Mapping[str, Any]) -> dict[str, Any]:
    name, _, sha = plan.scenarios[r.scenario]
    return {
        "key": r.key,
        "config": {**run_config(sha, plan.policy_class, plan.full_params[r.setting], r.seed, plan.mode, plan.code),
                   "scenario_name": name},
        "metrics": metrics,
    }


def load_run(path: Path, key: str) -> dict[str, Any] | None:
    """A stored run's record, or None if missing or not a valid record of this key."""
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("key") != key or not isinstance(rec.get("metrics"), dict):
        return None
    return rec


#: ``progress(done, total, run, metrics, error, reused)``
ProgressFn = Callable[[int, int, PlannedRun, Mapping[str, Any] | None, str | None, bool], Any]


def run_plan(
    plan: SweepPlan,
    out: str | Path,
    executor: Any = None,
    *,
    progress: ProgressFn | None = None,
) -> tuple[dict[str, dict[str, Any]], RunStats]:
    """Execute the runs not stored yet under ``out/runs``; return ``{key: metrics}`` of every run.

    ``progress(done, total, run, metrics, error, reused)`` is called after each run (the reused
    ones first, with ``reused=True``).
    Results are written as they complete; an interruption (KeyboardInterrupt) propagates after
    the executor is shut down, with every finished run on disk.
    """
    from .executors import SerialExecutor

    out = Path(out)
    runs_dir = out / "runs"
    traces_dir = out / "traces"
    runs_dir.mkdir(parents=True, exist_ok=True)
    _clean_temp(runs_dir)
    unique = plan.unique_runs()
    stats = RunStats(total=len(unique))
    results: dict[str, dict[str, Any]] = {}
    todo: list[PlannedRun] = []
    for r in unique:
        rec = load_run(runs_dir / f"{r.key}.json", r.key)
        if rec is not None and (not plan.save_traces or (traces_dir / f"{r.key}.npz").exists()):
            results[r.key] = rec["metrics"]
        else:
            todo.append(r)
    stats.reused = len(results)
    done = 0
    if progress is not None:
        for r in unique:
            if r.key in results:
                done += 1
                progress(done, stats.total, r, results[r.key], None, True)
    t0 = time.perf_counter()
    executor = executor or SerialExecutor()
    tasks = [plan.task(r) for r in todo]
    gen = executor.map_unordered(execute_run, tasks)
    try:
        with contextlib.closing(gen):  # type: ignore[type-var]
            for i, res in gen:
                r = todo[i]
                err = res.get("error")
                if err:
                    stats.failed += 1
                    name = plan.scenarios[r.scenario][0]
                    stats.errors.append(f"{name} {plan.settings[r.setting].text()} seed {r.seed}: {err}")
                else:
                    if plan.save_traces and res.get("trace") is not None:
                        res["trace"].save(traces_dir / f"{r.key}.npz")
                    atomic_write(runs_dir / f"{r.key}.json", _dumps(_run_record(plan, r, res["metrics"])))
                    results[r.key] = res["metrics"]
                    stats.computed += 1
                done += 1
                if progress is not None:
                    progress(done, stats.total, r, res.get("metrics"), err, False)
    finally:
        stats.elapsed = time.perf_counter() - t0
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    return results, stats


# --------------------------------------------------------------------------- aggregation


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _stat_dict(values: Sequence[Any]) -> dict[str, Any]:
    from reports.metrics import stat

    st = stat(values)
    return {"mean": st.mean, "ci_low": st.ci_low, "ci_high": st.ci_high, "n": st.n, "n_none": st.n_none}


def aggregate(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per setting: means over its runs (every scenario and seed) of each objective and more."""
    by_setting: dict[int, list[Mapping[str, Any]]] = {}
    for r in plan.runs:
        if r.key in results:
            by_setting.setdefault(r.setting, []).append(results[r.key])
    out = []
    for j, s in enumerate(plan.settings):
        ms = by_setting.get(j, [])
        fo = [m.get("failover_time") for m in ms]
        with_fault = [v for v in fo if v is not None]
        never = sum(1 for v in with_fault if v == "never")
        times = [float(v) for v in with_fault if v != "never"]
        agg: dict[str, Any] = {
            "id": j,
            "params": dict(s.params),
            "labels": dict(s.labels),
            "runs": len(ms),
            "success_rate": _stat_dict([m.get("success_rate") for m in ms]),
            "failover_time": {
                **_stat_dict(times),
                "never": never,
                "runs_with_fault": len(with_fault),
            },
            "wasted_attempts": _stat_dict([m.get("wasted_attempts") for m in ms]),
            "flapping": _stat_dict([m.get("flapping") for m in ms]),
            "session_success_rate": _stat_dict([m.get("session_success_rate") for m in ms]),
            "retry_amplification": _stat_dict([m.get("retry_amplification") for m in ms]),
            "latency_p99": _stat_dict([m.get("latency_p99") for m in ms]),
            "user_visible_failures": _stat_dict([m.get("user_visible_failures") for m in ms]),
            "opened": _stat_dict([m.get("opened") for m in ms]),
        }
        agg["objectives"] = objective_point(agg)
        out.append(agg)
    return out


def objective_point(agg: Mapping[str, Any]) -> dict[str, Any]:
    """The setting's objective values: success_rate, failover_time (mean over the runs that failed
    over; None when none did or no run had an org fault), failover_never (share of the runs with an
    org fault that never failed over), wasted_attempts, flapping."""
    fo = agg["failover_time"]
    n_fault = fo.get("runs_with_fault", 0)
    return {
        "success_rate": agg["success_rate"]["mean"],
        "failover_time": fo["mean"],
        "failover_never": (fo["never"] / n_fault) if n_fault else 0.0,
        "wasted_attempts": agg["wasted_attempts"]["mean"],
        "flapping": agg["flapping"]["mean"],
    }


def _failover_cost(p: Mapping[str, Any]) -> tuple[float, float]:
    v = p.get("failover_time")
    never = p.get("failover_never")
    if isinstance(v, str) or (isinstance(v, float) and math.isinf(v)):
        return (1.0 if never is None else float(never), 0.0)
    return (0.0 if never is None else float(never), 0.0 if v is None else float(v))


def _cost(p: Mapping[str, Any], name: str) -> Any:
    """Lower is better."""
    if name == "failover_time":
        return _failover_cost(p)
    v = p.get(name)
    if name == "success_rate":
        return math.inf if v is None else -float(v)
    return math.inf if v is None else float(v)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], objectives: Sequence[str] | None = None) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    names = objectives or [n for n, _ in OBJECTIVES]
    better = False
    for n in names:
        ca, cb = _cost(a, n), _cost(b, n)
        if ca > cb:
            return False
        if ca < cb:
            better = True
    return better


def pareto_front(points: Sequence[Mapping[str, Any]], objectives: Sequence[str] | None = None) -> list[int]:
    """Indices of the points no other point dominates, in input order.

    A point maps objective names to values: ``success_rate`` (higher is better),
    ``failover_time`` (seconds; ``"never"``/``inf`` is worst; optional ``failover_never`` share),
    ``wasted_attempts`` and ``flapping`` (lower is better). None is worst, except for
    ``failover_time`` where None means "no fault" (neutral).
    """
    return [i for i, p in enumerate(points) if not any(dominates(q, p, objectives) for q in points if q is not p)]


@dataclass(frozen=True)
class Recommendation:
    index: int  # into the points / settings
    reason: str
    rule: str  # "only-setting" | "only-frontier" | "within-slack" | "failover-slack"
    candidates: tuple[int, ...] = ()


RULE = (
    "Among the Pareto-frontier settings whose failover time is within {fo} of the best frontier "
    "failover time (with no larger share of 'never' runs) and whose flapping is within {fl} open→close "
    "cycle(s) per run of the best frontier flapping, the one with the highest success rate; ties go to "
    "fewer wasted attempts, less flapping, faster failover, then grid order. If no frontier setting is "
    "within both, the flapping condition is dropped."
)


def _fo_text(p: Mapping[str, Any], runs: int | None = None) -> str:
    never, mean = _failover_cost(p)
    if p.get("failover_time") is None and not never:
        return "n/a"
    if never >= 1.0:
        return "never"
    if never > 0:
        return f"{fmt_seconds(mean)} (never in {never:.0%} of runs)"
    return fmt_seconds(mean)


def recommend(
    points: Sequence[Mapping[str, Any]],
    frontier: Sequence[int] | None = None,
    *,
    labels: Sequence[str] | None = None,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
) -> Recommendation | None:
    """The recommended point (see :data:`RULE`) and the reason, in one sentence."""
    if not points:
        return None
    front = list(pareto_front(points) if frontier is None else frontier)
    names = list(labels) if labels is not None else [f"setting {i}" for i in range(len(points))]

    def rank(i: int) -> tuple[Any, ...]:
        p = points[i]
        return (_cost(p, "success_rate"), _cost(p, "wasted_attempts"), _cost(p, "flapping"), _failover_cost(p), i)

    if len(points) == 1:
        p = points[0]
        reason = (
            f"{names[0]} is the only setting in the sweep (success rate {fmt_rate(p.get('success_rate'))}, "
            f"failover time {_fo_text(p)}, wasted attempts {fmt_count(p.get('wasted_attempts'))}, flapping "
            f"{fmt_count(p.get('flapping'))} cycles per run)."
        )
        return Recommendation(0, reason, "only-setting", (0,))
    if len(front) == 1:
        i = front[0]
        p = points[i]
        reason = (
            f"{names[i]} dominates every other setting: it is at least as good on success rate "
            f"({fmt_rate(p.get('success_rate'))}), failover time ({_fo_text(p)}), wasted attempts "
            f"({fmt_count(p.get('wasted_attempts'))}) and flapping ({fmt_count(p.get('flapping'))} cycles per run)"
            f" and better on at least one."
        )
        return Recommendation(i, reason, "only-frontier", (i,))
    best_fo = min((_failover_cost(points[i]) for i in front), default=(0.0, 0.0))
    best_fl = min((_cost(points[i], "flapping") for i in front), default=0.0)

    def fo_ok(i: int) -> bool:
        never, mean = _failover_cost(points[i])
        return never <= best_fo[0] + 1e-12 and mean <= best_fo[1] + failover_slack + 1e-9

    def fl_ok(i: int) -> bool:
        return _cost(points[i], "flapping") <= best_fl + flapping_slack + 1e-9

    cands = [i for i in front if fo_ok(i) and fl_ok(i)]
    rule = "within-slack"
    if not cands:
        cands = [i for i in front if fo_ok(i)]
        rule = "failover-slack"
    i = min(cands, key=rank)
    p = points[i]
    best_p = {"failover_time": best_fo[1], "failover_never": best_fo[0]}
    fo_part = (
        f"failover time is within {fmt_seconds(failover_slack)} of the best "
        f"({_fo_text(p)} vs {_fo_text(best_p)})"
    )
    fl_part = (
        f"flapping is within {flapping_slack:g} cycle(s) per run of the best "
        f"({fmt_count(p.get('flapping'))} vs {fmt_count(best_fl)})"
    )
    head = (
        f"{names[i]} has the highest success rate ({fmt_rate(p.get('success_rate'))}) of the "
        f"{len(cands)} Pareto-frontier setting(s) (of {len(front)}) whose "
    )
    objectives = [n for n, _ in OBJECTIVES]
    ties = [j for j in front if j != i and all(_cost(points[j], n) == _cost(points[i], n) for n in objectives)]
    tie = f", tied on every objective with {len(ties)} other setting(s) (first in grid order)" if ties else ""
    if rule == "within-slack":
        reason = f"{head}{fo_part} and whose {fl_part}{tie}."
    else:
        reason = f"{head}{fo_part} (none was also within {flapping_slack:g} flapping cycle(s) of the best){tie}."
    return Recommendation(i, reason, rule, tuple(cands))


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepResult:
    plan: SweepPlan
    out: Path
    #: one row per planned run (scenario, setting, params, seed, key, metrics)
    rows: list[dict[str, Any]]
    settings: list[dict[str, Any]]
    frontier: list[int]
    recommendation: Recommendation | None
    stats: RunStats
    results_path: Path | None = None
    summary_path: Path | None = None
    charts: list[Path] = field(default_factory=list)

    @property
    def recommended(self) -> dict[str, Any] | None:
        return None if self.recommendation is None else self.settings[self.recommendation.index]


def _rows(plan: SweepPlan, results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in plan.runs:
        if r.key not in results:
            continue
        s = plan.settings[r.setting]
        rows.append(
            {
                "scenario": plan.scenarios[r.scenario][0],
                "setting": r.setting,
                "params": dict(s.params),
                "seed": r.seed,
                "key": r.key,
                "metrics": results[r.key],
            }
        )
    return rows


def finish(
    plan: SweepPlan,
    results: Mapping[str, Mapping[str, Any]],
    stats: RunStats,
    out: str | Path,
    *,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
    charts: bool = True,
) -> SweepResult:
    """Aggregate, find the frontier and the recommendation, write results.json, summary.md, charts."""
    out = Path(out)
    settings = aggregate(plan, results)
    have = [s for s in settings if s["runs"]]
    idx = [s["id"] for s in have]
    points = [s["objectives"] for s in have]
    front_local = pareto_front(points)
    frontier = [idx[i] for i in front_local]
    rec_local = recommend(
        points, front_local, labels=[plan.settings[i].text() for i in idx],
        failover_slack=failover_slack, flapping_slack=flapping_slack,
    )
    rec = None if rec_local is None else Recommendation(
        idx[rec_local.index], rec_local.reason, rec_local.rule, tuple(idx[c] for c in rec_local.candidates)
    )
    for s in settings:
        s["pareto"] = s["id"] in frontier
        s["recommended"] = rec is not None and s["id"] == rec.index
    result = SweepResult(plan, out, _rows(plan, results), settings, frontier, rec, stats)
    if charts and len(have) >= 1:
        result.charts = _charts(result)
    doc = _results_json(result, failover_slack, flapping_slack)
    result.results_path = atomic_write(out / "results.json", _dumps(doc))
    result.summary_path = atomic_write(out / "summary.md", summary_markdown(result, failover_slack, flapping_slack))
    return result


def inert_axes(settings: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """The swept parameters that changed nothing: every pair of finished settings that differ in
    that parameter alone scored the same on every objective (and at least one such pair exists).
    A quota lockout, say, trips any breaker at once — whatever its threshold."""
    done = [s for s in settings if s["runs"]]
    out = []
    for name in names:
        groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
        for s in done:
            rest = tuple(s["labels"].get(n) for n in names if n != name)
            groups.setdefault(rest, []).append(s)
        pairs = [g for g in groups.values() if len({s["labels"].get(name) for s in g}) > 1]
        if pairs and all(all(s["objectives"] == g[0]["objectives"] for s in g) for g in pairs):
            out.append(name)
    return out


def _charts(result: SweepResult) -> list[Path]:
    from reports.sweep_charts import sweep_heatmaps

    plan = result.plan
    pts = []
    for s in result.settings:
        if not s["runs"]:
            continue
        o = s["objectives"]
        never = o["failover_never"]
        fo = math.inf if never > 0 else o["failover_time"]  # any "never" run: shown as never
        pts.append({"params": s["params"], "labels": s["labels"],
                    "metrics": {"success_rate": o["success_rate"], "failover_time": fo,
                                "wasted_attempts": o["wasted_attempts"], "flapping": o["flapping"]}})
    highlight = result.recommended["params"] if result.recommended else None
    names = [a.name for a in plan.axes]
    title = f"{plan.policy} on {', '.join(n for n, _, _ in plan.scenarios)}"
    paths = sweep_heatmaps(pts, names, result.out / "charts", highlight=highlight, title=title)
    return [p for ps in paths.values() for p in ps]


def _results_json(result: SweepResult, failover_slack: float, flapping_slack: float) -> dict[str, Any]:
    plan = result.plan
    rec = result.recommendation
    return {
        "format": FORMAT,
        "policy": plan.policy,
        "policy_class": plan.policy_class,
        "base_params": plan.base_params,
        "search": plan.search,
        "random": plan.random,
        "sample_seed": plan.sample_seed if plan.search == "random" else None,
        "axes": [
            {"name": a.name, "spec": a.spec, "kind": a.kind, "values": list(a.values), "labels": list(a.labels)}
            for a in plan.axes
        ],
        "scenarios": [{"name": n, "hash": h, "seeds": plan.seeds[i]} for i, (n, _, h) in enumerate(plan.scenarios)],
        "mode": plan.mode,
        "code_version": plan.code,
        "objectives": [{"name": n, "direction": d} for n, d in OBJECTIVES],
        "recommendation_rule": RULE.format(fo=fmt_seconds(failover_slack), fl=f"{flapping_slack:g}"),
        "inert_params": inert_axes(result.settings, [a.name for a in plan.axes]),
        "runs_planned": len(plan.runs),
        "runs_failed": result.stats.failed,
        "rows": result.rows,
        "settings": result.settings,
        "frontier": result.frontier,
        "recommendation": None if rec is None else {
            "setting": rec.index,
            "params": dict(plan.settings[rec.index].params),
            "labels": dict(plan.settings[rec.index].labels),
            "full_params": plan.full_params[rec.index],
            "reason": rec.reason,
            "rule": rec.rule,
        },
        "charts": sorted(p.relative_to(result.out).as_posix() for p in result.charts),
    }


def _setting_cells(s: Mapping[str, Any]) -> list[str]:
    o = s["objectives"]
    fo = s["failover_time"]
    if fo["runs_with_fault"] == 0:
        fo_text = "n/a"
    elif fo["never"] == fo["runs_with_fault"]:
        fo_text = "never"
    else:
        fo_text = fmt_seconds(fo["mean"]) + (f" (never in {fo['never']} runs)" if fo["never"] else "")
    return [fmt_rate(o["success_rate"]), fo_text, fmt_count(o["wasted_attempts"]), fmt_count(o["flapping"])]


def summary_markdown(result: SweepResult, failover_slack: float, flapping_slack: float) -> str:
    plan = result.plan
    names = [a.name for a in plan.axes]
    n_sc, n_set = len(plan.scenarios), len(plan.settings)
    n_seeds = sorted({len(s) for s in plan.seeds})
    lines = [
        f"# Sweep: {plan.policy} on {', '.join(n for n, _, _ in plan.scenarios)}",
        "",
        f"{plan.search.capitalize()} search over {', '.join(a.spec for a in plan.axes) or 'no parameter'}: "
        f"{len(plan.runs)} run(s) = {n_sc} scenario(s) x {n_set} setting(s) x "
        f"{'/'.join(map(str, n_seeds))} seed(s), {plan.mode} mode. Values are means over each setting's "
        "runs (all scenarios and seeds).",
        "",
    ]
    if result.stats.failed:
        lines += [f"**{result.stats.failed} run(s) failed** and are missing from the numbers below.", ""]
    rec = result.recommendation
    lines += ["## Recommendation", ""]
    if rec is None:
        lines += ["No run finished: nothing to recommend.", ""]
    else:
        s = result.settings[rec.index]
        cells = _setting_cells(s)
        lines += [
            f"**{plan.settings[rec.index].text()}** — success rate {cells[0]}, failover time {cells[1]}, "
            f"wasted attempts {cells[2]}, flapping {cells[3]} cycles per run.",
            "",
            rec.reason,
            "",
            f"Rule: {RULE.format(fo=fmt_seconds(failover_slack), fl=f'{flapping_slack:g}')}",
            "",
        ]
        inert = inert_axes(result.settings, names)
        if inert:
            lines += [
                f"**No effect: {', '.join(inert)}.** Settings that differ only in "
                f"{'this parameter' if len(inert) == 1 else 'one of these'} scored the same on every "
                "objective, so the value recommended for it is arbitrary (the first in the grid): this "
                "sweep's scenarios do not exercise it.",
                "",
            ]
    header = ["#", *names, "success rate", "failover time", "wasted attempts", "flapping", ""]

    def table(ids: Sequence[int]) -> list[str]:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for j in ids:
            s = result.settings[j]
            mark = ("✔ recommended" if s["recommended"] else "") or ("★ frontier" if s["pareto"] else "")
            labels = [s["labels"].get(n, "") for n in names]
            out.append("| " + " | ".join([str(j), *labels, *_setting_cells(s), mark]) + " |")
        return out

    lines += [f"## Pareto frontier ({len(result.frontier)} of {sum(1 for s in result.settings if s['runs'])} settings)",
              "", "Objectives: success rate (max), failover time (min; never = worst), wasted attempts (min), "
              "flapping = open→close cycles per run (min).", ""]
    lines += table(result.frontier)
    lines.append("")
    have = [s["id"] for s in result.settings if s["runs"]]
    if len(have) > len(result.frontier):
        shown = have
        note = ""
        if len(have) > 60:
            shown = sorted(have, key=lambda j: _cost(result.settings[j]["objectives"], "success_rate"))[:30]
            shown.sort()
            note = f" (the 30 with the best success rate of {len(have)})"
        lines += [f"## All settings{note}", ""]
        lines += table(shown)
        lines.append("")
    if result.charts:
        lines += ["## Heatmaps", ""]
        for p in sorted(result.charts):
            if p.suffix == ".png":
                rel = p.relative_to(result.out).as_posix()
                lines.append(f"![{p.stem}]({rel})")
        lines.append("")
    lines += [
        "Files: `results.json` (one row per run, one aggregate per setting), `runs/<key>.json` "
        "(each run's metrics, keyed by a hash of its config; rerun the same command to resume).",
        "",
    ]
    return "\n".join(lines)


def sweep(
    scenarios: Iterable[Any],
    policy: str,
    grid: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    seeds: int = 1,
    seed: int | None = None,
    random: int | None = None,
    sample_seed: int = 0,
    mode: str = "fast",
    out: str | Path = "sweep",
    executor: Any = None,
    save_traces: bool = False,
    failover_slack: float = DEFAULT_FAILOVER_SLACK,
    flapping_slack: float = DEFAULT_FLAPPING_SLACK,
    charts: bool = True,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Plan, run (skipping stored runs), aggregate and write a sweep. ``scenarios``: Scenario
    objects, scenario file paths or ``(label, Scenario)``; ``executor``: see :mod:`breakerlab.executors`
    (default: in-process)."""
    plan = plan_sweep(
        scenarios, policy, grid, seeds=seeds, seed=seed, random=random, sample_seed=sample_seed, mode=mode,
        save_traces=save_traces,
    )
    results, stats = run_plan(plan, out, executor, progress=progress)
    return finish(plan, results, stats, out, failover_slack=failover_slack, flapping_slack=flapping_slack,
                  charts=charts)


# --------------------------------------------------------------------------- CLI


class _Bar:
    """Runs done / total: a rich bar on a TTY, one line per run otherwise (unless quiet)."""

    def __init__(self, mode: str, plan: SweepPlan, out: str = "") -> None:
        self.plan_out = out
        self.mode = mode  # "bar" | "lines" | "quiet"
        self.plan = plan
        self._p: Any = None
        self._task: Any = None
        self._reused = 0

    def __enter__(self) -> _Bar:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._p = Progress(
                TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                TimeElapsedColumn(), TextColumn("{task.fields[last]}"), console=Console(stderr=True),
            )
            self._p.__enter__()
            self._task = self._p.add_task("sweep", total=len(self.plan.unique_runs()), last="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._p is not None:
            self._p.__exit__(*exc)

    def __call__(
        self, done: int, total: int, r: PlannedRun, metrics: Mapping[str, Any] | None, err: str | None,
        reused: bool = False,
    ) -> None:
        if self.mode == "quiet":
            return
        if reused:
            self._reused += 1
            if self._p is not None:
                self._p.update(self._task, completed=done, last="(already stored)")
            return
        if self._reused and self._p is None:
            print(f"resuming: {self._reused} of {total} runs already stored in {self.plan_out}/runs", file=sys.stderr)
            self._reused = 0
        name = self.plan.scenarios[r.scenario][0]
        what = f"{name} {self.plan.settings[r.setting].text()} seed {r.seed}"
        res = f"FAILED: {err}" if err else f"success {fmt_rate((metrics or {}).get('success_rate'))}"
        if self._p is not None:
            self._p.update(self._task, completed=done, last=what)
        else:
            print(f"[{done}/{total}] {what}: {res}", file=sys.stderr)


def _slack_seconds(text: str) -> float:
    from multiorg.units import seconds

    try:
        v = float(seconds(text))
    except (TypeError, ValueError):
        raise SweepError(f"--failover-slack: not a duration: {text!r} (e.g. 60s, 2m)") from None
    if v < 0:
        raise SweepError(f"--failover-slack: must be >= 0 (got {text!r})")
    return v


def cmd_sweep(args: argparse.Namespace) -> int:
    from .cli import EXIT_OK, InputError
    from .executors import ExecutorError, make_executor, terminate_as_interrupt

    executor = None
    # `--grid a=1..3 b.yaml`: argparse gives the file to --grid; a token without "=" that names a
    # scenario file is a scenario
    grid = []
    for tok in args.grid:
        if "=" not in tok and (tok.endswith((".yaml", ".yml", ".json")) or Path(tok).is_file()):
            args.scenarios.append(tok)
        else:
            grid.append(tok)
    args.grid = grid
    if not args.scenarios:
        raise InputError("breakerlab sweep: give at least one SCENARIO file")
    try:
        fo_slack = _slack_seconds(args.failover_slack)
        if args.flapping_slack < 0:
            raise SweepError(f"--flapping-slack: must be >= 0 (got {args.flapping_slack:g})")
        parse_grid(args.grid, args.policy)  # a bad grid fails before any worker starts
        executor = make_executor(args.executor, scheduler=args.scheduler, workers=args.workers)
        if args.executor == "local":
            executor.start()  # workers import the simulator while this process loads and plans
        plan = plan_sweep(
            args.scenarios, args.policy, args.grid, seeds=args.seeds, seed=args.seed, random=args.random,
            sample_seed=args.sample_seed, mode=args.mode, save_traces=args.save_traces,
        )
    except (SweepError, ExecutorError) as e:
        if executor is not None:
            executor.close()
        raise InputError(str(e)) from None
    quiet = args.quiet or args.json
    mode = "quiet" if quiet else ("bar" if sys.stderr.isatty() else "lines")
    total = len(plan.unique_runs())
    if not quiet:
        seeds = "/".join(str(n) for n in sorted({len(x) for x in plan.seeds}))
        print(f"sweep: {total} runs ({len(plan.scenarios)} scenario(s) x {len(plan.settings)} setting(s) x "
              f"{seeds} seed(s)) on {executor.describe()}; results in {args.out}/runs", file=sys.stderr)
    try:
        with terminate_as_interrupt(), _Bar(mode, plan, args.out) as bar:
            results, stats = run_plan(plan, args.out, executor, progress=bar)
    except KeyboardInterrupt:
        done = len(list(Path(args.out, "runs").glob("*.json")))
        print(f"interrupted: finished runs are kept in {args.out}/runs ({done} stored); "
              "rerun the same command to resume", file=sys.stderr)
        return 130
    except ExecutorError as e:
        raise InputError(str(e)) from None
    result = finish(plan, results, stats, args.out, failover_slack=fo_slack, flapping_slack=args.flapping_slack)
    if not quiet:
        print(f"sweep: {stats.computed} run(s) computed, {stats.reused} reused, {stats.failed} failed "
              f"in {stats.elapsed:.1f} s", file=sys.stderr)
    if args.json:
        rec = result.recommendation
        print(json.dumps({
            "results": str(result.results_path), "summary": str(result.summary_path),
            "runs": {"total": stats.total, "computed": stats.computed, "reused": stats.reused, "failed": stats.failed},
            "frontier": [result.settings[j]["params"] for j in result.frontier],
            "recommendation": None if rec is None else {
                "params": result.settings[rec.index]["params"], "reason": rec.reason,
                "objectives": result.settings[rec.index]["objectives"],
            },
            "errors": stats.errors,
        }, indent=2, sort_keys=True))
    else:
        assert result.summary_path is not None
        print(result.summary_path.read_text(encoding="utf-8"))
        print(f"summary: {result.summary_path}\nresults: {result.results_path}\nruns: {Path(args.out) / 'runs'}")
    if stats.failed:
        first = stats.errors[0]
        raise InputError(f"sweep: {stats.failed} of {stats.total} runs failed (first: {first}); "
                         f"finished runs are kept in {args.out}/runs — fix the cause and rerun to resume")
    return EXIT_OK


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``breakerlab sweep`` to ``build_parser()``'s subparsers."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "sweep",
        help="sweep a policy's parameters over scenarios and seeds; Pareto frontier and a recommendation",
        description="Grid or random search over a breaker policy's parameters. Runs = scenarios x settings x "
        "seeds, in parallel; each run is stored under OUT/runs/<hash of its config>.json as it finishes, "
        "so an interrupted sweep resumes where it stopped. Writes OUT/results.json, OUT/summary.md and "
        "heatmaps in OUT/charts/.",
        epilog="grid syntax:\n"
        "  name=a..b          integers a to b, inclusive\n"
        "  name=a..b:step     a, a+step, ... up to b (numbers or durations: 30s..2m:30s)\n"
        "  name=v1,v2,v3      these values (human units allowed: 30s,1m,2m)\n"
        "\nexamples:\n" + EXAMPLES,
        formatter_class=fmt,
    )
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenario YAML file(s)")
    p.add_argument("--policy", required=True, help="policy or preset to tune (see `breakerlab list policies`)")
    p.add_argument("--grid", nargs="+", action="extend", default=[], metavar="NAME=VALUES",
                   help="parameters to sweep (see grid syntax below); repeatable")
    p.add_argument("--random", type=int, default=None, metavar="N",
                   help="random search: N settings drawn from the grid's ranges and lists")
    p.add_argument("--sample-seed", type=int, default=0, metavar="S", help="seed of the random search (default 0)")
    p.add_argument("--seeds", type=int, default=1, metavar="N", help="seeds per setting and scenario (default 1)")
    p.add_argument("--seed", type=int, default=None, help="first seed (default: each scenario's)")
    p.add_argument("--mode", choices=("fast", "full"), default="fast", help="simulation mode (default fast)")
    p.add_argument("--out", default="sweep", metavar="DIR", help="output directory (default sweep)")
    p.add_argument("--executor", choices=("local", "dask", "serial"), default="local",
                   help="local: a process pool on this machine (default); dask: a dask.distributed cluster; "
                   "serial: in this process")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a LocalCluster here)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local: processes (default: all cores); dask without --scheduler: LocalCluster workers")
    p.add_argument("--save-traces", action="store_true", help="also keep each run's trace in OUT/traces/")
    p.add_argument("--failover-slack", default=f"{DEFAULT_FAILOVER_SLACK:g}s", metavar="DURATION",
                   help="recommendation: failover time allowed above the frontier's best (default 60s)")
    p.add_argument("--flapping-slack", type=float, default=DEFAULT_FLAPPING_SLACK, metavar="CYCLES",
                   help="recommendation: flapping allowed above the frontier's best (default 1 cycle per run)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=cmd_sweep)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m breakerlab.sweep ...`` — the same as ``breakerlab sweep ...``."""
    from .cli import subcommand_main

    return subcommand_main("sweep", add_sweep_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
