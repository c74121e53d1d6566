"""faults: the fault catalogue — schedulable, composable injections for breakerlab scenarios.

    faults:
      - {kind: lockout, target: primary, reason: quota, start: 10h}
      - {kind: flapping, target: secondary2, start: 2h, duration: 6h, down: 3m, up: 7m, jitter: 20%}

* :mod:`faults.models` — one pydantic model per kind; :data:`Fault` is their union, which
  :class:`sim.scenario.Scenario` uses to type ``faults``.
* :mod:`faults.compile` — faults → :class:`sim.scenario.Modifier` (:func:`compile_faults`, called
  by ``sim.engine``), traffic surges (:func:`prepare_scenario`), report windows
  (:func:`fault_windows`) and whole-scenario checks (:func:`check_faults`).
* :mod:`faults.runtime` — store, pod and clock faults as hooks on a built simulation, and
  :func:`run`: ``sim.run`` with every fault in effect.
* :mod:`faults.units` — the human units of the scenario format (``0.2%``, ``2M``, ``1M/day``).

Import direction: ``sim`` imports ``faults``; ``faults`` imports ``sim`` only inside functions
(to build modifiers and run simulations), never at import time.
"""

from __future__ import annotations

from .compile import (
    FaultNeedsEngine,
    check_faults,
    compile_faults,
    fault_windows,
    flap_periods,
    incident_severities,
    prepare_scenario,
    runtime_faults,
    runtime_hooks,
)
from .models import FAULT_KINDS, FAULT_TYPES, Fault
from .runtime import install, run

__all__ = [
    "FAULT_KINDS",
    "FAULT_TYPES",
    "Fault",
    "FaultNeedsEngine",
    "catalogue",
    "check_faults",
    "compile_faults",
    "fault_windows",
    "flap_periods",
    "incident_severities",
    "install",
    "prepare_scenario",
    "run",
    "runtime_faults",
    "runtime_hooks",
]



def catalogue() -> list[tuple[str, str]]:
    """``(kind, one-line description)`` of every fault kind, in catalogue order."""
    out = []
    for kind, model in FAULT_KINDS.items():
        doc = " ".join((model.__doc__ or "").replace("``", "").split())
        first = doc.split(". ")[0].rstrip(".")
        out.append((kind, first))
    return out
