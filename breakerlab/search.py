"""Adversarial search: the fault schedule that breaks a policy's SLOs, shrunk and written as YAML.

    from breakerlab.search import search

    result = search("scenarios/one-org-diverges.yaml", "consecutive", params={"threshold": 50}, kinds=["brownout"],
                    budget=40, seed=0, duration="1h", volume="24k/day", out="counterexample.yaml")
    if result.found:   # then `breakerlab run counterexample.yaml --policy consecutive` misses the SLO
        print(result.faults, result.failed_checks, result.examples_run)

How it works. Hypothesis (``hypothesis.find``) draws fault schedules from
:func:`faults.strategies.for_scenario` — up to ``max_faults`` faults of ``kinds`` on the
scenario's orgs — runs the scenario with each one under the policy and judges the run against
the scenario's ``slo`` (:func:`breakerlab.judge.run_and_judge`; fast mode by default).
It steers towards small SLO margins (``hypothesis.target``) and, once a schedule misses the SLO,
shrinks it: fewer faults, milder kinds, shorter windows, milder parameters. Deterministic: one
``seed`` (the search's) and one ``sim_seed`` (the runs', default the scenario's) give the same
counterexample on every machine (same code, same hypothesis version). ``sim_seeds=N`` judges
each schedule on N runs (seeds ``sim_seed`` … ``sim_seed+N-1``, the SLO on their means), run at
once on ``executor`` (:mod:`breakerlab.executors`; CLI ``--sim-seeds N --jobs J``): hypothesis
tries one schedule at a time, so a schedule's seeds are what runs in parallel.

What is searched (and what the written file holds):

* ``faults="replace"`` (default): the scenario's own ``faults:`` are dropped and the search's
  schedule takes their place; SLO entries that name one of the dropped faults
  (``during:<label>``) are dropped too (``result.dropped_slo``); generic phases (``during``,
  ``before``, ``after``) and per-fault metrics apply to the new faults. ``faults="add"``: the
  schedule comes on top of the scenario's faults and the SLO stays whole. Org health, org
  ``lockouts:``, ``modifiers`` and ``traffic.surges`` always stay.
* ``scale``: run at that share of the true volume (traffic, every limit and count SLOs together;
  the written scenario says ``scale`` so a rerun does the same).
* ``duration`` / ``volume``: shrink the world so each example runs fast (``"1h"``,
  ``"24k/day"``; sessions per day scale with the volume). The written scenario has the same
  settings, so it reproduces the violation as is.
* What is judged: by default the user-facing SLO metrics — success rates, latency percentiles,
  retry amplification, failed requests, user-visible failures. The breaker-reaction metrics
  (:data:`REACTION_METRICS`: failover, detection, recovery and close times, wasted attempts)
  are skipped (``result.skipped_slo``): they are "never" for any fault a breaker rightly
  ignores, so a 5 % brownout for a minute would always "break" them. ``slo_metrics`` names the
  metrics to judge (``["all"]``: every one); ``slo`` replaces the scenario's SLO. The written
  scenario's ``slo`` is what was judged.
* Budget: up to ``budget`` distinct schedules are simulated while looking (hypothesis draws up to
  5 x ``budget`` examples; a schedule drawn twice is simulated once), then shrinking may simulate
  up to ``shrink_budget`` more (default ``budget``); ``examples_run`` counts the simulations.
  Before searching, the world without injected faults is run once: when it already misses the
  SLO, that is the counterexample (no faults).

A counterexample is written (``out=``) as a scenario YAML with the schedule as its ``faults:``,
the policy as its only ``policies:`` entry and the run seed as its ``seed``; ``breakerlab run
FILE --policy NAME`` reproduces the violation (``verify=True`` reruns the written file once and
sets ``result.reproduced``).

CLI: :func:`add_search_parser` adds ``breakerlab search`` (exit 1: a counterexample was found,
0: none within the budget, 2: bad input).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, Verbosity, find, reject, settings, target
from hypothesis.errors import NoSuchExample, Unsatisfiable
from pydantic import ValidationError

from faults import FaultCheckError, FaultNeedsEngine, check_faults, strategies
from faults.units import duration as parse_duration
from faults.units import volume as parse_volume
from multiorg.errors import ConfigError
from reports.format import format_metric
from sim.loader import ScenarioError, load_scenario, parse_scenario
from sim.policies import make_lab_policy
from sim.scenario import Scenario
from sim.slo import SLO_METRICS, canonical_metric, parse_threshold, scaled_slo, slo_entries

from .command import add_executor_options, executor_from_args, subcommand_main
from .errors import EXIT_OK, EXIT_SLO, InputError, ParameterError, SearchError, flag_message
from .executors import Executor, SerialExecutor, terminate_as_interrupt
from .jobs import JobError
from .judge import run_and_judge
from .progress import Progress
from .spec_text import duration_spec, factor_spec, rate_spec, signed_duration_spec

__all__ = [
    "DEFAULT_BUDGET",
    "EXAMPLES",
    "REACTION_METRICS",
    "SearchResult",
    "add_search_parser",
    "cmd_search",
    "fault_yaml",
    "main",
    "search",
]

DEFAULT_BUDGET = 100

#: per-fault breaker-reaction metrics, not judged unless asked for (``slo_metrics``): they are
#: "never" (or large) for any fault a breaker rightly ignores — a 5 % brownout for a minute is
#: never detected — so every mild schedule would be a counterexample
REACTION_METRICS = frozenset(
    {"failover_time", "failover_time_median", "detection_time", "recovery_time", "close_time", "wasted_attempts"})
#: hypothesis draws allowed per simulation of the budget (draws that repeat a schedule are free)
_DRAWS_PER_RUN = 5

EXAMPLES = (
    "  breakerlab search scenarios/one-org-diverges.yaml --policy consecutive --param threshold=50 \\\n"
    "      --kinds brownout --duration 1h --volume 24k/day --budget 40 --out ce.yaml\n"
    "  breakerlab run ce.yaml --policy consecutive      # reproduce the counterexample\n"
    "  breakerlab search scenarios/lock-primary-before-launch.yaml --policy seed --faults add \\\n"
    "      --kinds brownout,timeouts --budget 30\n"
    "  breakerlab search scenarios/flapping-org.yaml --policy aggressive --kinds flapping,outage \\\n"
    "      --duration 2h --slo all --json"
)


# --------------------------------------------------------------------------- result


@dataclass
class SearchResult:
    """What :func:`search` found.

    ``found``: a schedule made the policy miss the SLO. ``scenario_with_faults``: the world that
    misses it (the searched scenario with the minimal schedule; None when nothing was found).
    ``checks``: the SLO checks of that run — or, when nothing was found, of the run that came
    closest. ``examples_run``: simulations run (baseline and verification not counted).
    """

    found: bool
    scenario_with_faults: Scenario | None
    checks: list[Any]
    examples_run: int
    faults: tuple[Any, ...] = ()
    policy: str = ""
    policy_spec: dict[str, Any] = field(default_factory=dict)
    budget: int = 0
    seed: int = 0
    sim_seed: int = 0
    #: runs per schedule (seeds sim_seed, sim_seed+1, ...)
    sim_seeds: int = 1
    mode: str = "fast"
    kinds: tuple[str, ...] = ()
    faults_mode: str = "replace"
    #: the world without injected faults already misses the SLO
    baseline_failed: bool = False
    #: SLO entries dropped with the scenario's own faults ("metric (phase)")
    dropped_slo: list[str] = field(default_factory=list)
    #: SLO entries not judged: breaker-reaction metrics, unless ``slo_metrics`` names them
    skipped_slo: list[str] = field(default_factory=list)
    #: the smallest SLO margin seen (relative; negative: violated)
    closest_margin: float | None = None
    #: the counterexample as scenario YAML (None when nothing was found)
    yaml_text: str | None = None
    written: Path | None = None
    #: the written file, loaded and rerun, misses the SLO again (None: not checked)
    reproduced: bool | None = None

    @property
    def failed_checks(self) -> list[Any]:
        return [c for c in self.checks if not c.passed]

    def reproduce_command(self, path: str | Path | None = None) -> str:
        where = path or self.written or "COUNTEREXAMPLE.yaml"
        seeds = f" --seeds {self.sim_seeds}" if self.sim_seeds > 1 else ""
        return f"breakerlab run {where} --policy {self.policy_spec.get('name', self.policy)}{seeds}"

    def write(self, path: str | Path) -> Path:
        """Write the counterexample scenario (atomically); returns the path."""
        if self.yaml_text is None:
            raise ValueError("nothing to write: no counterexample was found")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(self.yaml_text, encoding="utf-8")
        tmp.replace(p)
        self.written = p
        return p

    def as_dict(self) -> dict[str, Any]:
        return {
            "found": self.found,
            "policy": self.policy,
            "policy_spec": self.policy_spec,
            "budget": self.budget,
            "examples_run": self.examples_run,
            "seed": self.seed,
            "sim_seed": self.sim_seed,
            "sim_seeds": self.sim_seeds,
            "mode": self.mode,
            "kinds": list(self.kinds),
            "faults_mode": self.faults_mode,
            "baseline_failed": self.baseline_failed,
            "faults": [fault_yaml(f) for f in self.faults],
            "checks": [c.as_dict() for c in self.checks],
            "failed_checks": [c.as_dict() for c in self.failed_checks],
            "closest_margin": self.closest_margin,
            "dropped_slo": list(self.dropped_slo),
            "skipped_slo": list(self.skipped_slo),
            "written": str(self.written) if self.written else None,
            "reproduce": self.reproduce_command() if self.found and self.written else None,
            "reproduced": self.reproduced,
        }


# --------------------------------------------------------------------------- faults as YAML


_DURATIONS = {"start", "duration", "end", "down", "up", "ramp", "retry_after", "delay", "timeout", "add"}
_RATES = {"error_rate", "jitter", "spread", "share", "rpm", "tpm"}
_FACTORS = {"factor", "latency_factor"}


def fault_yaml(fault: Any) -> dict[str, Any]:
    """A fault model as a scenario ``faults:`` entry in human units (``start: 10m``,
    ``error_rate: 40%``); parses back to the same model."""
    data = fault.model_dump(mode="json", exclude_defaults=True)
    out: dict[str, Any] = {"kind": data.pop("kind")}
    if data.get("label"):
        out["label"] = data.pop("label")
    target = data.pop("target", None)
    if target is not None:
        out["target"] = target[0] if len(target) == 1 else list(target)
    out["start"] = duration_spec(fault.start)
    data.pop("start", None)
    for k, v in data.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if k in _DURATIONS:
                v = duration_spec(v)
            elif k in _RATES:
                v = rate_spec(v)
            elif k in _FACTORS:
                v = factor_spec(v)
            elif k == "offset":
                v = signed_duration_spec(v)
        out[k] = v
    return out


def _describe(fault: Any) -> str:
    d = fault_yaml(fault)
    head = f"{d.pop('kind')} {fault.target_text()}".rstrip()
    d.pop("target", None)
    d.pop("label", None)
    start, dur = d.pop("start"), d.pop("duration", None)
    when = f"from {start}" + (f" for {dur}" if dur is not None else "")
    rest = ", ".join(f"{k} {v}" for k, v in d.items())
    return f"{head} {when}" + (f": {rest}" if rest else "")


# --------------------------------------------------------------------------- the world


def _one_line(err: ValidationError, source: str) -> str:
    e = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in e.get("loc", ()))
    msg = " ".join(str(e.get("msg", "invalid")).removeprefix("Value error, ").split())
    return f"{source}: {loc + ': ' if loc else ''}{msg}"


def _scenario_data(scenario: Scenario | str | Path) -> tuple[dict[str, Any], Scenario, str]:
    """(raw data to write from, validated scenario, source name)."""
    if isinstance(scenario, Scenario):
        return scenario.model_dump(mode="json", exclude_defaults=True), scenario, f"scenario {scenario.name!r}"
    path = Path(scenario)
    sc = load_scenario(path)  # ScenarioError (a ValueError) with one line
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data, sc, str(path)


def _policy_entry(sc: Scenario, policy: Any, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(label, ``{name, params}``) — a policy or preset name, a label or name the scenario lists
    (its params come along), ``(name, params)`` or ``{name, params}``; ``params`` override."""
    base: dict[str, Any] = {}
    if isinstance(policy, str):
        listed = next((p for p in sc.policies if p.label == policy), None) or next(
            (p for p in sc.policies if p.name == policy), None)
        name, label = (listed.name, policy) if listed is not None else (policy, policy)
        if listed is not None:
            base = dict(listed.params)
    elif isinstance(policy, tuple) and len(policy) == 2 and isinstance(policy[0], str):
        name, label, base = policy[0], policy[0], dict(policy[1] or {})
    elif isinstance(policy, Mapping) and isinstance(policy.get("name"), str):
        name, base = policy["name"], dict(policy.get("params") or {})
        label = str(policy.get("label") or name)
    elif isinstance(getattr(policy, "name", None), str) and isinstance(getattr(policy, "params", None), Mapping):
        name, base = policy.name, dict(policy.params)
        label = str(getattr(policy, "label", "") or name)
    else:
        raise TypeError(f"policy: give a policy or preset name, (name, params) or {{name, params}} (got {policy!r})")
    merged = json.loads(json.dumps({**base, **dict(params or {})}, default=str))
    try:
        make_lab_policy(name, merged)
    except ConfigError as e:
        raise SearchError("policy", str(e)) from None
    spec: dict[str, Any] = {"name": name}
    if merged:
        spec["params"] = merged
    return label, spec


def _slo_entries(slo: Any) -> list[tuple[str, str, Any]]:
    return [(e.metric, e.phase or "overall", e.threshold) for e in slo_entries(slo)]


def _slo_filter(slo: Any, keep: Callable[[str, str], bool]) -> tuple[Any, list[str]]:
    """The SLO (mapping or list form) without the entries ``keep(metric, phase)`` refuses."""
    dropped: list[str] = []
    if isinstance(slo, Mapping):
        out: dict[str, Any] = {}
        for metric, spec in slo.items():
            if isinstance(spec, Mapping):
                kept = {}
                for phase, th in spec.items():
                    if keep(str(metric), str(phase)):
                        kept[phase] = th
                    else:
                        dropped.append(f"{metric} ({phase})")
                if kept:
                    out[metric] = kept
            elif keep(str(metric), "overall"):
                out[metric] = spec
            else:
                dropped.append(f"{metric} (overall)")
        return out, dropped
    if isinstance(slo, (list, tuple)):
        items = []
        for entry in slo:
            metric, phase = str(entry.get("metric")), str(entry.get("phase", "overall"))
            if keep(metric, phase):
                items.append(entry)
            else:
                dropped.append(f"{metric} ({phase})")
        return items, dropped
    return slo, dropped


def _metric_name(metric: str) -> str:
    return canonical_metric(metric)


def _needs_fault(metric: str, phase: str) -> bool:
    spec = SLO_METRICS.get(_metric_name(metric))
    base, _, label = phase.partition(":")
    return bool(label) or base in ("before", "during", "after") or (spec is not None and spec.where == "fault")


@dataclass
class _World:
    data: dict[str, Any]
    scenario: Scenario
    slo: Any
    dropped: list[str]
    kept_faults: list[Any]
    skipped: list[str]


def _resize(d: dict[str, Any], sc: Scenario, duration: float | str | None, volume: float | str | None) -> None:
    """Shrink the world in the raw data ``d``: another duration, another daily volume (sessions
    per day scale with it)."""
    if duration is not None:
        try:
            secs = float(parse_duration(duration))
        except ValueError as e:
            raise SearchError("duration", str(e)) from None
        if not secs > 0 or not math.isfinite(secs):
            raise SearchError("duration", f"must be a positive duration (got {duration!r})")
        d["duration"] = duration_spec(secs)
    if volume is not None:
        try:
            vol = float(parse_volume(volume))
        except ValueError as e:
            raise SearchError("volume", str(e)) from None
        if not vol >= 0 or not math.isfinite(vol):
            raise SearchError("volume", f"must be a number of requests per day >= 0 (got {volume!r})")
        traffic = dict(d.get("traffic") or {})
        old = sc.traffic.daily_volume
        traffic["daily_volume"] = f"{int(vol)}/day" if vol.is_integer() else vol
        if sc.traffic.sessions.per_day and old > 0:
            sessions = dict(traffic.get("sessions") or {})
            sessions["per_day"] = sc.traffic.sessions.per_day * vol / old
            traffic["sessions"] = sessions
        d["traffic"] = traffic


def _world(
    data: dict[str, Any],
    sc: Scenario,
    source: str,
    *,
    faults_mode: str,
    duration: float | str | None,
    volume: float | str | None,
    slo: Any,
    slo_metrics: Sequence[str] | None,
    sim_seed: int,
    scale: float | None = None,
) -> _World:
    if faults_mode not in ("replace", "add"):
        raise SearchError("faults", f"'replace' or 'add' (got {faults_mode!r})")
    d = copy.deepcopy(data)
    d["seed"] = int(sim_seed)
    if scale is not None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise SearchError("scale", f"must be > 0 (got {scale!r})")
        d["scale"] = float(scale)  # the written counterexample keeps it: a rerun runs at this scale too
    _resize(d, sc, duration, volume)
    kept = list(d.get("faults") or []) if faults_mode == "add" else []
    d["faults"] = kept
    spec = d.get("slo") if slo is None else json.loads(json.dumps(slo, default=str))
    spec = spec or {}
    dropped: list[str] = []
    if faults_mode == "replace":
        spec, dropped = _slo_filter(spec, lambda m, ph: not ph.partition(":")[2])
    skipped: list[str] = []
    if slo_metrics and "all" not in slo_metrics:
        wanted = set()
        for m in slo_metrics:
            name = canonical_metric(m)
            if name not in SLO_METRICS:
                raise SearchError("slo_metrics", f"unknown SLO metric {m!r} (known: all, {', '.join(SLO_METRICS)})")
            wanted.add(name)
        present = {_metric_name(m) for m, _, _ in _slo_entries(spec)}
        if not wanted & present:
            more = (f"; dropped with the scenario's faults: {', '.join(dropped)} (faults='add' keeps them)"
                    if dropped else "")
            raise SearchError("slo_metrics", f"the scenario's SLO has none of {', '.join(sorted(wanted))} "
                             f"(it has: {', '.join(sorted(present)) or 'nothing'}{more})")
        spec, _ = _slo_filter(spec, lambda m, ph: _metric_name(m) in wanted)
    elif not slo_metrics:
        spec, skipped = _slo_filter(spec, lambda m, ph: _metric_name(m) not in REACTION_METRICS)
    d["slo"] = spec
    if not spec:
        why = []
        if dropped:
            why.append(f"dropped with the scenario's faults: {', '.join(dropped)} (faults='add' keeps them)")
        if skipped:
            why.append(f"not judged by default: {', '.join(skipped)} "
                       "(slo_metrics names them; ['all'] judges every one)")
        more = f" ({'; '.join(why)})" if why else ""
        raise SearchError("", f"{source}: no SLO to violate{more}; add an slo section, e.g. "
                         "slo: {success_rate: '>= 99.9%'}")
    d.pop("policies", None)
    try:
        world = Scenario.model_validate(d)
        if world.scale != 1.0:  # as the loader does: the data are the true figures, run at their scale
            world = world.model_copy(update={"scale": 1.0}).scaled(world.scale)
            spec = scaled_slo(spec, world.scale)
    except ValidationError as e:
        given = [f"{k}={v!r}" for k, v in (("duration", duration), ("volume", volume)) if v is not None]
        raise SearchError("", _one_line(e, source) + (f" (with {', '.join(given)})" if given else "")) from None
    return _World(d, world, spec, dropped, kept, skipped)


# --------------------------------------------------------------------------- judging one run


def _margin(checks: Sequence[Any]) -> float:
    """The smallest relative margin of the checks to their thresholds (negative: violated)."""
    worst = math.inf
    for c in checks:
        if c.value is None:
            if not c.passed:
                worst = min(worst, -1.0)
            continue
        try:
            th = parse_threshold(c.threshold, c.metric)
        except ValueError:
            continue
        scale = max(abs(th.value), 1e-9)
        if th.op in (">=", ">"):
            m = (c.value - th.value) / scale
        elif th.op in ("<=", "<"):
            m = (th.value - c.value) / scale
        else:
            m = -abs(c.value - th.value) / scale
        if not c.passed:
            m = min(m, -1e-9)
        worst = min(worst, m)
    return worst


class _Judge:
    """Runs a schedule once (memoized) and judges it against the SLO."""

    def __init__(self, world: _World, label: str, spec: dict[str, Any], mode: str, seeds: list[int], budget: int,
                 shrink_budget: int, progress: Callable[[int, bool, float], Any] | None,
                 executor: Executor | None) -> None:
        self.world = world
        self.label = label
        self.policy = (spec["name"], spec.get("params") or {})
        self.mode = mode
        self.seeds = seeds
        self.executor = executor
        #: distinct schedules simulated while looking, then more while shrinking
        self.budget = budget
        self.cap = budget + shrink_budget
        self.violated = False
        self.progress = progress
        self.memo: dict[tuple[str, ...], tuple[bool, list[Any], float] | None] = {}
        self.runs = 0
        self.best: tuple[float, tuple[Any, ...], list[Any]] | None = None

    def scenario(self, faults: Sequence[Any]) -> Scenario:
        sc = self.world.scenario
        return sc.model_copy(update={"faults": tuple(sc.faults) + tuple(faults)})

    def run(self, faults: Sequence[Any], *, count: bool = True) -> tuple[bool, list[Any], float] | None:
        """(violated, checks, margin), or None when the schedule cannot run here."""
        key = tuple(f.model_dump_json() for f in faults)
        if key in self.memo:
            return self.memo[key]
        sc = self.scenario(faults)
        try:
            # the strategies draw valid schedules, but the whole-scenario checks have the last word:
            # a schedule they refuse is skipped (any other error is a bug worth seeing)
            check_faults(sc.faults, sc.fault_targets())
        except FaultCheckError:
            self.memo[key] = None
            return None
        try:
            judged = run_and_judge(sc, self.policy, seeds=self.seeds, mode=self.mode, label=self.label,
                                   slo=self.world.slo, executor=self.executor)
            checks = list(judged.checks)
        except JobError as e:
            if not isinstance(e.error, FaultNeedsEngine):
                raise
            self.memo[key] = None  # a kind or option this engine cannot run yet
            return None
        margin = _margin(checks)
        out = (any(not c.passed for c in checks), checks, margin)
        self.memo[key] = out
        if count:
            self.runs += 1
            if self.best is None or margin < self.best[0]:
                self.best = (margin, tuple(faults), checks)
            if self.progress is not None:
                self.progress(self.runs, out[0], margin)
        return out

    def condition(self, schedule: list[Any]) -> bool:
        key = tuple(f.model_dump_json() for f in schedule)
        if key not in self.memo and (self.runs >= self.cap or (not self.violated and self.runs >= self.budget)):
            return False  # out of budget: no new simulations (shrinking keeps the best so far)
        out = self.run(schedule)
        if out is None:
            reject()
        violated, _, margin = out  # type: ignore[misc]
        self.violated = self.violated or violated
        if math.isfinite(margin):
            target(max(-1e6, min(1e6, -margin)), label="slo margin")
        return violated


# --------------------------------------------------------------------------- search


def search(
    scenario: Scenario | str | Path,
    policy: Any,
    *,
    budget: int = DEFAULT_BUDGET,
    seed: int = 0,
    mode: str = "fast",
    kinds: Sequence[str] | str | None = None,
    max_faults: int = 3,
    targets: Sequence[str] | None = None,
    max_targets: int | None = None,
    min_duration: float | str = 60.0,
    faults: str = "replace",
    duration: float | str | None = None,
    volume: float | str | None = None,
    scale: float | None = None,
    slo: Any = None,
    slo_metrics: Sequence[str] | None = None,
    sim_seed: int | None = None,
    sim_seeds: int = 1,
    executor: Executor | None = None,
    params: Mapping[str, Any] | None = None,
    shrink_budget: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    out: str | Path | None = None,
    verify: bool = True,
    progress: Callable[[int, bool, float], Any] | None = None,
) -> SearchResult:
    """Look for a fault schedule that makes ``policy`` miss ``scenario``'s SLO (see the module
    docstring). ``scenario``: a :class:`Scenario` or a YAML path; ``policy``: a policy or preset
    name, a label or name the scenario lists, ``(name, params)`` or ``{name, params}``;
    ``params`` override its parameters. ``budget``: examples generated; ``seed``: the search's
    seed; ``sim_seed``: the runs' (default the scenario's); ``sim_seeds``: runs per schedule, at once
    on ``executor`` (default: here, one after another). ``kinds``: fault kinds (default
    :data:`faults.strategies.DEFAULT_KINDS`), up to ``max_faults`` faults of at least
    ``min_duration`` on ``targets`` (default every org). ``progress(runs, violated, margin)`` is
    called after each simulation. Raises ``ValueError`` (one line) for bad input.
    """
    if int(budget) < 1:
        raise SearchError("budget", f"must be at least 1 (got {budget})")
    if max_faults < 1:
        raise SearchError("max_faults", f"must be at least 1 (got {max_faults})")
    if isinstance(sim_seeds, bool) or not isinstance(sim_seeds, int) or sim_seeds < 1:
        raise SearchError("sim_seeds", f"must be >= 1 (got {sim_seeds!r})")
    if mode not in ("fast", "full"):
        raise SearchError("mode", f"'fast' or 'full' (got {mode!r})")
    data, sc, source = _scenario_data(scenario)
    label, spec = _policy_entry(sc, policy, params)
    run_seed = sc.seed if sim_seed is None else int(sim_seed)
    world = _world(data, sc, source, faults_mode=faults, duration=duration, volume=volume, slo=slo,
                   slo_metrics=slo_metrics, sim_seed=run_seed, scale=scale)
    min_dur = float(parse_duration(min_duration))
    if not min_dur > 0:
        raise SearchError("min_duration", f"must be > 0 (got {min_duration!r})")
    strategy = strategies.for_scenario(world.scenario, kinds=kinds, targets=targets, max_faults=max_faults,
                                       max_targets=max_targets, min_duration=min_dur, options=options)
    kind_list = tuple(strategies.resolve_kinds(kinds))
    shrink = int(budget) if shrink_budget is None else max(0, int(shrink_budget))
    judge = _Judge(world, label, spec, mode, [run_seed + i for i in range(sim_seeds)], int(budget), shrink, progress,
                   executor)

    def result(found: bool, schedule: tuple[Any, ...], checks: list[Any], baseline: bool = False) -> SearchResult:
        res = SearchResult(
            found=found, scenario_with_faults=judge.scenario(schedule) if found else None, checks=checks,
            examples_run=judge.runs, faults=schedule, policy=label, policy_spec=spec, budget=int(budget),
            seed=int(seed), sim_seed=run_seed, sim_seeds=sim_seeds, mode=mode, kinds=kind_list, faults_mode=faults,
            baseline_failed=baseline, dropped_slo=world.dropped, skipped_slo=world.skipped,
            closest_margin=judge.best[0] if judge.best is not None else None,
        )
        return _finish(res, world, sc, out, verify, executor) if found else res

    with _quiet_router_logs():
        baseline = judge.run((), count=False)
        if baseline is not None and baseline[0]:
            # the world misses the SLO with no injected fault: that is the minimal counterexample
            return result(True, (), baseline[1], baseline=True)
        found = _find(strategy, judge.condition, budget=int(budget), seed=int(seed))
        if found is None:
            best = judge.best
            return result(False, (), list(best[2]) if best is not None else (baseline[1] if baseline else []))
        schedule = tuple(found)
        outcome = judge.memo[tuple(f.model_dump_json() for f in schedule)]
        assert outcome is not None
        return result(True, schedule, list(outcome[1]))


def _finish(res: SearchResult, world: _World, sc: Scenario, out: str | Path | None, verify: bool,
            executor: Executor | None) -> SearchResult:
    """A found counterexample: its YAML, written to ``out``, rerun once when ``verify``."""
    res.yaml_text = _counterexample_yaml(world, sc, res, out)
    if out is not None:
        res.write(out)
    if verify:
        res.reproduced = _reproduces(res, executor)
    return res


@contextlib.contextmanager
def _quiet_router_logs() -> Iterator[None]:
    """The router's warnings (``redis unavailable ...``) once per simulation would drown the
    search's output: mute them below ERROR while searching (a rerun shows them)."""
    logger = logging.getLogger("multiorg")
    level = logger.level
    logger.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        logger.setLevel(level)


def _find(strategy: Any, condition: Callable[[Any], bool], *, budget: int, seed: int) -> Any:
    conf = settings(
        max_examples=budget * _DRAWS_PER_RUN,
        database=None,
        deadline=None,
        derandomize=False,
        phases=(Phase.generate, Phase.target, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    try:
        # max_examples counts draws, the budget simulations: draws that repeat a schedule are free
        return find(strategy, condition, settings=conf, random=Random(seed))
    except (NoSuchExample, Unsatisfiable):
        return None


# --------------------------------------------------------------------------- the written scenario


def _counterexample_yaml(world: _World, sc: Scenario, res: SearchResult, path: str | Path | None) -> str:
    d = copy.deepcopy(world.data)
    name = str(d.get("name") or sc.name)
    d["name"] = f"{name}-counterexample"
    failed = "; ".join(_check_text(c) for c in res.failed_checks) or "the SLO"
    what = (f"{len(res.faults)} fault(s): " + "; ".join(_describe(f) for f in res.faults)) if res.faults else (
        "no injected fault (the world misses the SLO as it is)")
    params = json.dumps(res.policy_spec.get("params") or {}, sort_keys=True)
    d["description"] = (
        f"Counterexample found by breakerlab search for policy {res.policy_spec['name']} {params} on "
        f"{name} (search seed {res.seed}, {res.examples_run} simulations, run seed {res.sim_seed}, "
        f"{res.mode} mode): {what}. Misses: {failed}."
    )
    d["faults"] = [*world.kept_faults, *[fault_yaml(f) for f in res.faults]]
    if not d["faults"]:
        d["slo"], _ = _slo_filter(d.get("slo") or {}, lambda m, ph: not _needs_fault(m, ph))
    d["policies"] = [dict(res.policy_spec)]
    order = ["name", "description", "seed"]
    out = {k: d[k] for k in order if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    header = (
        "# Found by `breakerlab search`: this schedule makes the policy miss the SLO.\n"
        f"# Reproduce: breakerlab run {path or 'THIS_FILE'} --policy {res.policy_spec['name']}"
        + (f" --seeds {res.sim_seeds}" if res.sim_seeds > 1 else "")
        + (f" --mode {res.mode}" if res.mode != "fast" else "") + "\n"
    )
    return header + yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=100)


def _reproduces(res: SearchResult, executor: Executor | None) -> bool:
    assert res.yaml_text is not None
    sc = parse_scenario(res.yaml_text, str(res.written or "<counterexample>"))
    seeds = [sc.seed + i for i in range(res.sim_seeds)]  # as `breakerlab run --seeds N` runs it
    return not run_and_judge(sc, sc.policies[0], seeds=seeds, mode=res.mode, label=res.policy,
                             executor=executor).passed


def _check_text(c: Any) -> str:
    where = f" {c.fault}" if c.fault else ""
    return f"{c.metric} ({c.phase}{where}) = {format_metric(c.metric, c.value, precise=True)} vs {c.threshold}"


# --------------------------------------------------------------------------- CLI


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``breakerlab search`` to the CLI's subparsers (``breakerlab.cli.build_parser`` calls this)."""
    p = subparsers.add_parser(
        "search",
        help="look for a fault schedule that makes a policy miss the SLO; write it as a scenario",
        description="Adversarial search (hypothesis): draw fault schedules, run the scenario under the\n"
        "policy, shrink the first schedule that misses the scenario's SLO to a minimal one, and write\n"
        "it as a scenario YAML that `breakerlab run` reproduces. The scenario's own faults are\n"
        "replaced (--faults add keeps them); --duration/--volume shrink the world so each example\n"
        "runs fast (the written file keeps them). Deterministic for one --seed.",
        epilog="examples:\n" + EXAMPLES
        + "\n\nexit codes: 1 a counterexample was found (the SLO can be violated), 0 none within the budget, "
        "2 bad input",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", help="scenario YAML file (its slo section is what the search tries to break)")
    p.add_argument("--policy", required=True, metavar="P",
                   help="policy or preset name, or a policy the scenario lists (with its params)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override a policy parameter (repeatable), e.g. --param threshold=50")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                   help=f"fault schedules to try before giving up (default {DEFAULT_BUDGET})")
    p.add_argument("--shrink-budget", type=int, default=None, metavar="N",
                   help="at most N more simulations while shrinking (default: the budget)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="the search's seed (default 0)")
    p.add_argument("--sim-seed", type=int, default=None, metavar="S",
                   help="the runs' root seed (default: the scenario's); written into the counterexample")
    p.add_argument("--sim-seeds", type=int, default=1, metavar="N",
                   help="judge each schedule on N runs (seeds S..S+N-1, the SLO on their means), run at once "
                   "(--jobs); default 1")
    p.add_argument("--kinds", default=None, metavar="K1,K2",
                   help="fault kinds to draw (default: latency, brownout, timeouts, connection_resets, "
                   "flapping, slow_drip, outage, lockout; see `breakerlab list faults`)")
    p.add_argument("--max-faults", type=int, default=3, metavar="N", help="faults per schedule (default 3)")
    p.add_argument("--targets", default=None, metavar="ORG1,ORG2", help="orgs faults may hit (default: every org)")
    p.add_argument("--max-targets", type=int, default=None, metavar="N",
                   help="orgs per fault (default 1; every target for vendor_incident)")
    p.add_argument("--min-fault-duration", default="1m", metavar="D", help="shortest fault window (default 1m)")
    p.add_argument("--faults", choices=("replace", "add"), default="replace",
                   help="replace the scenario's faults (default) or add to them")
    p.add_argument("--duration", default=None, metavar="D", help="override the simulated duration, e.g. 2h")
    p.add_argument("--volume", default=None, metavar="V", help="override the daily volume, e.g. 24k/day")
    p.add_argument("--scale", type=float, default=None, metavar="F",
                   help="search at F x the true volume: traffic, every RPM/TPM limit and count SLOs together "
                   "(default: the file's own scale; the scenario's ci_scale is what CI runs)")
    p.add_argument("--slo", default=None, metavar="M1,M2",
                   help="SLO metrics to judge, or 'all' (default: the user-facing ones — success rates, "
                   "latencies, retry amplification, failed requests, user-visible failures; not failover, "
                   "detection, recovery, close time or wasted attempts, which mild faults always miss)")
    p.add_argument("--mode", choices=("fast", "full"), default="fast", help="simulation mode (default fast)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="where to write a counterexample (default counterexamples/<scenario>-<policy>.yaml)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    add_executor_options(p, "a schedule's --sim-seeds runs")
    p.set_defaults(func=cmd_search, out_is_file=True)
    return p


def _params(items: Sequence[str], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{where}: --param: expected KEY=VALUE (got {item!r})")
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def _csv(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


#: the flags of :func:`search`'s parameters whose names differ
_FLAGS = {"slo_metrics": "--slo", "min_duration": "--min-fault-duration", "policy": "--policy"}


def _check_counts(args: argparse.Namespace) -> None:
    where = args.scenario
    for name in ("budget", "max_faults", "sim_seeds"):
        if getattr(args, name) < 1:
            raise InputError(f"{where}: --{name.replace('_', '-')}: must be at least 1 (got {getattr(args, name)})")
    if args.shrink_budget is not None and args.shrink_budget < 0:
        raise InputError(f"{where}: --shrink-budget: must be >= 0 (got {args.shrink_budget})")
    if args.max_targets is not None and args.max_targets < 1:
        raise InputError(f"{where}: --max-targets: must be at least 1 (got {args.max_targets})")


def _search_args(args: argparse.Namespace, out: Path, progress: Callable[[int, bool, float], Any],
                 executor: Executor) -> SearchResult:
    """:func:`search` with the command line's arguments; bad input as an :class:`InputError`."""
    where = args.scenario
    try:
        return search(
            args.scenario, args.policy, budget=args.budget, seed=args.seed, mode=args.mode, kinds=_csv(args.kinds),
            max_faults=args.max_faults, targets=_csv(args.targets), max_targets=args.max_targets,
            min_duration=args.min_fault_duration, faults=args.faults, duration=args.duration, volume=args.volume,
            scale=args.scale,
            slo_metrics=_csv(args.slo), sim_seed=args.sim_seed, sim_seeds=args.sim_seeds,
            executor=executor, params=_params(args.param, where),
            shrink_budget=args.shrink_budget, out=out, verify=True, progress=progress,
        )
    except ScenarioError as e:
        raise InputError(str(e)) from None
    except JobError as e:
        raise InputError(f"{where}: {e}") from None
    except ParameterError as e:
        text = " ".join(flag_message(e, _FLAGS).split())
        raise InputError(text if text.startswith(where) else f"{where}: {text}") from None
    except (ValueError, TypeError) as e:
        text = " ".join(str(e).split())
        raise InputError(text if text.startswith(where) else f"{where}: {text}") from None
    except OSError as e:
        raise InputError(f"{out}: cannot write ({e.strerror or e})") from None


def cmd_search(args: argparse.Namespace) -> int:
    _check_counts(args)
    out = Path(args.out) if args.out else Path("counterexamples") / (
        f"{Path(args.scenario).stem}-{_safe(args.policy)}.yaml")
    # one schedule at a time: only its --sim-seeds runs can share a pool (a pool for one run costs
    # its start-up and buys nothing)
    executor = executor_from_args(args) if args.sim_seeds > 1 else SerialExecutor()
    with executor, terminate_as_interrupt(), Progress.for_stderr(quiet=args.json or args.quiet) as display:
        task = display.task("search: simulations", total=args.budget)

        def progress(runs: int, violated: bool, margin: float) -> None:
            mark = "violated" if violated else f"margin {margin:+.2%}" if math.isfinite(margin) else ""
            task.update(runs, f"{runs} run · last: {mark}")

        res = _search_args(args, out, progress, executor)
    if args.json:
        print(json.dumps(res.as_dict(), indent=2, default=str))
    else:
        _print_text(args, res)
    return EXIT_SLO if res.found else EXIT_OK


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "policy"


def _print_text(args: argparse.Namespace, res: SearchResult) -> None:
    params = res.policy_spec.get("params") or {}
    pol = res.policy_spec["name"] + (" (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")" if params else "")
    print(f"search: {args.scenario} · policy {pol} · kinds {', '.join(res.kinds)} · budget {res.budget} "
          f"· seed {res.seed}")
    for d in res.dropped_slo:
        print(f"note: SLO entry {d} names a replaced fault; not judged (use --faults add to keep them)")
    if res.skipped_slo:
        print(f"note: not judged: {', '.join(res.skipped_slo)} (breaker-reaction metrics; --slo names them)")
    if not res.found:
        print(f"no counterexample in {res.examples_run} simulations: the SLO held for every schedule tried")
        if res.checks and res.closest_margin is not None and math.isfinite(res.closest_margin):
            closest = min(res.checks, key=lambda c: _margin([c]))
            print(f"closest: {_check_text(closest)} (margin {res.closest_margin:+.2%})")
        return
    if res.baseline_failed:
        print("counterexample: the world misses the SLO without any injected fault")
    else:
        print(f"counterexample: {len(res.faults)} fault(s), found and shrunk in {res.examples_run} simulations")
        for f in res.faults:
            print(f"  - {_describe(f)}")
    for c in res.failed_checks:
        print(f"SLO FAILED: {res.policy}: {_check_text(c)}")
    print(f"written: {res.written}")
    print(f"reproduce: {res.reproduce_command()}" + (f" --mode {res.mode}" if res.mode != "fast" else ""))
    if res.reproduced is False:
        print("warning: rerunning the written file did not reproduce the violation", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m breakerlab.search SCENARIO --policy P ...``: the search command on its own."""
    return subcommand_main("search", add_search_parser, argv)


if __name__ == "__main__":
    raise SystemExit(main())
