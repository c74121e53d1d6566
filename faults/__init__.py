"""faults: the fault catalogue as data — schedulable, composable injections for breakerlab scenarios.

    faults:
      - {kind: lockout, target: primary, reason: quota, start: 10h}
      - {kind: flapping, target: secondary2, start: 2h, duration: 6h, down: 3m, up: 7m, jitter: 20%}

* :mod:`faults.models` — one pydantic model per kind; :data:`Fault` is their union, which
  :class:`sim.scenario.Scenario` uses to type ``faults``.
* :mod:`faults.checks` — :func:`check_faults`: a fault list against what a scenario offers
  (:class:`FaultTargets`, plain data).
* :mod:`faults.units` — the human units of the scenario format (``0.2%``, ``2M``, ``1M/day``).
* :mod:`faults.strategies` — hypothesis strategies for fault schedules (needs ``hypothesis``).

What a fault does to a run is the engine's: :mod:`sim.fault_effects` lowers faults into
vendor-model modifiers, traffic surges and runtime hooks. ``faults`` imports no ``sim``.
"""

from __future__ import annotations

from .checks import FaultCheckError, FaultNeedsEngine, FaultTargets, OrgTarget, check_faults
from .models import FAULT_KINDS, FAULT_TYPES, Fault

__all__ = [
    "FAULT_KINDS",
    "FAULT_TYPES",
    "Fault",
    "FaultCheckError",
    "FaultNeedsEngine",
    "FaultTargets",
    "OrgTarget",
    "catalogue",
    "check_faults",
]


def catalogue() -> list[tuple[str, str]]:
    """``(kind, one-line description)`` of every fault kind, in catalogue order."""
    out = []
    for kind, model in FAULT_KINDS.items():
        doc = " ".join((model.__doc__ or "").replace("``", "").split())
        first = doc.split(". ")[0].rstrip(".")
        out.append((kind, first))
    return out
