"""Planning a sweep: scenarios x settings x seeds, each run keyed by its whole config (nothing is
simulated here)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from multiorg.breakers.base import params_summary
from sim.loader import ScenarioError, load_scenario
from sim.scenario import Scenario

from ..errors import SweepError
from .space import Axis, Setting, grid_settings, parse_grid, policy_class, random_settings, validate_params
from .store import code_version, run_key, scenario_hash

__all__ = ["PlannedRun", "RunTask", "SweepPlan", "plan_sweep"]


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
    out: list[tuple[str, Any]] = []
    for it in items:
        if isinstance(it, tuple) and len(it) == 2:
            out.append((str(it[0]), it[1]))
        elif isinstance(it, Scenario):
            out.append((it.name, it))
        else:
            try:
                sc = load_scenario(it)
            except ScenarioError as e:
                raise SweepError("", str(e)) from None  # the file's own one-line message
            out.append((sc.name, sc))
    if not out:
        raise SweepError("scenarios", "no scenario given")
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
    scale: float | None = None,
) -> SweepPlan:
    """Parse and validate everything, and list the runs (nothing is simulated)."""
    if seeds < 1:
        raise SweepError("seeds", f"must be at least 1 (got {seeds})")
    if mode not in ("fast", "full"):
        raise SweepError("mode", f"must be fast or full (got {mode!r})")
    scs = _scenarios(scenarios)
    if scale is not None:
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
            raise SweepError("scale", f"must be > 0 (got {scale!r})")
        scs = [(n, sc.scaled(float(scale))) for n, sc in scs]  # the run keys hash the scaled world
    cls = policy_class(policy)
    axes = parse_grid(grid, policy)
    settings = random_settings(axes, random, sample_seed, policy) if random is not None else grid_settings(axes)
    base = validate_params(policy, {}, "policy")
    full: list[dict[str, Any]] = []
    for s in settings:
        pol = validate_params(policy, s.params, "grid", f"setting {s.text()}")
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
