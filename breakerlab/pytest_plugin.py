"""pytest plugin: scenario files as regression tests.

Every ``*.yaml`` (or ``*.yml``) file in a directory named ``scenarios`` that pytest collects
becomes a test file with one test per policy the scenario marks ``expect_pass: true``; the test
runs the scenario in fast mode with that policy and the scenario's seed and checks the ``slo``
section (:func:`breakerlab.judge.run_and_judge`). A failure prints each SLO check (metric,
phase, fault, measured value vs threshold), the seed, the saved trace's path and the command
that reproduces it.

How it is switched on
=====================

The plugin registers through the ``pytest11`` entry point (``breakerlab = "breakerlab.pytest_plugin"``
in ``pyproject.toml``), or explicitly with ``-p breakerlab.pytest_plugin`` / ``pytest_plugins``.
Collection is path-based: pytest asks the plugin about files under the paths it collects, so

* ``pytest scenarios/`` or ``pytest scenarios/flapping-org.yaml`` runs scenarios;
* plain ``pytest`` runs them when ``scenarios`` is in ``testpaths``
  (``testpaths = ["tests", "scenarios"]``);
* ``pytest tests/`` never sees them; ``-m "not scenario"`` deselects them;
  ``-p no:breakerlab`` or ``breakerlab_scenarios = false`` (ini) turns collection off.

Options: ``--scenario-mode fast|full``, ``--scenario-seed N`` (instead of each scenario's
seed), ``--scenario-scale F`` (run at F x the true volume; default: each scenario's
``ci_scale``), ``--scenario-traces DIR`` (where traces go; default ``.breakerlab/traces`` under the
rootdir), ``--scenario-expect-fail`` (also run the ``expect_pass: false`` policies and check
that they do miss the SLO — proof the SLO discriminates).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from reports.format import format_metric
from sim.loader import ScenarioError, load_scenario, policy_id
from sim.slo import canonical_metric

from .judge import run_and_judge

_SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("breakerlab", "breakerlab scenario regression tests")
    group.addoption("--scenario-mode", choices=("fast", "full"), default="fast",
                    help="simulation mode for scenario tests (default: fast)")
    group.addoption("--scenario-seed", type=int, default=None, metavar="N",
                    help="run every scenario with this seed instead of its own")
    group.addoption("--scenario-scale", type=float, default=None, metavar="F",
                    help="run every scenario at F x its true volume (default: each scenario's ci_scale)")
    group.addoption("--scenario-traces", default=None, metavar="DIR",
                    help="where scenario tests save traces (default: <rootdir>/.breakerlab/traces)")
    group.addoption("--scenario-expect-fail", action="store_true", default=False,
                    help="also run the policies a scenario expects to miss its SLO, checking that they do")
    parser.addini("breakerlab_scenarios", type="bool", default=True,
                  help="collect scenarios/*.yaml files as scenario tests (default: true)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "scenario: a breakerlab scenario x policy regression test")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in _SUFFIXES and file_path.parent.name == "scenarios" \
            and parent.config.getini("breakerlab_scenarios"):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """One scenario file: an item per policy with an expectation."""

    def collect(self) -> Iterator[pytest.Item]:
        scenario = load_scenario(self.path)
        scale = self.config.getoption("scenario_scale")
        scenario = scenario.scaled(scenario.ci_scale or 1.0 if scale is None else scale)
        with_fail = self.config.getoption("scenario_expect_fail")
        for spec in scenario.policies:
            if spec.expect_pass is True or (spec.expect_pass is False and with_fail):
                pid = policy_id(spec)
                name = pid if spec.expect_pass else f"{pid}[expect-fail]"
                item = ScenarioItem.from_parent(self, name=name, scenario=scenario, spec=spec)
                item.add_marker(pytest.mark.scenario)
                yield item

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class SloFailure(Exception):
    """A scenario did not meet its SLO (or met it when expected not to)."""

    def __init__(self, report: str) -> None:
        super().__init__(report)
        self.report = report


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, spec: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.spec = spec

    def _trace_path(self, seed: int) -> Path:
        opt = self.config.getoption("scenario_traces")
        base = Path(opt) if opt else self.config.rootpath / ".breakerlab" / "traces"
        pid = _SAFE.sub("_", policy_id(self.spec))
        return base / _SAFE.sub("_", self.scenario.name) / f"{pid}-seed{seed}.npz"

    def runtest(self) -> None:
        sc = self.scenario
        seed = self.config.getoption("scenario_seed")
        seed = sc.seed if seed is None else seed
        mode = self.config.getoption("scenario_mode")
        pid = policy_id(self.spec)
        judged = run_and_judge(sc, self.spec, seeds=[seed], mode=mode, label=pid)
        path = self._trace_path(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        judged.traces[0].save(path)
        self.user_properties.append(("checks", [c.as_dict() for c in judged.checks]))
        self.user_properties.append(("trace", str(path)))
        if judged.passed == bool(self.spec.expect_pass):
            return
        raise SloFailure(format_report(sc, pid, seed, mode, judged.checks, path, self.path,
                                       expect_pass=self.spec.expect_pass))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SloFailure):
            return excinfo.value.report
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.scenario.name} x {policy_id(self.spec)}"


def format_report(scenario: Any, policy: str, seed: int, mode: str, checks: Sequence[Any], trace: Path,
                  source: Path | str, *, expect_pass: bool | None = True) -> str:
    """The failure text of a scenario test: one line per SLO check, then seed, trace, repro."""
    head = (f"scenario {scenario.name!r}, policy {policy!r}, seed {seed}, {mode} mode: "
            + ("SLO not met" if expect_pass else "expected to miss the SLO, but met it"))
    lines = [head]
    for c in checks:
        where = c.phase + (f" [{c.fault}]" if c.fault else "")
        mark = "ok  " if c.passed else "FAIL"
        note = f"  ({c.note})" if c.note else ""
        # one digit finer than the report, in the unit that reads best ("47.6 min" beside "<= 10m")
        measured = format_metric(canonical_metric(c.metric), c.value, precise=True)
        lines.append(f"  {mark} {c.metric} {where}: measured {measured}, required {c.threshold}{note}")
    lines.append(f"  seed: {seed}")
    lines.append(f"  trace: {trace}")
    scale = f" --scale {scenario.scale:g}" if scenario.scale != 1.0 else ""
    lines.append(f"  reproduce: breakerlab run {source} --policy {policy} --seed {seed}{scale}")
    return "\n".join(lines)
