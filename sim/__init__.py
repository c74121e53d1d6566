"""sim: a simpy engine that runs the real ``multiorg`` router in simulated time.

    import sim
    scenario = sim.default_scenario(duration=3600)
    trace = sim.run(scenario, "consecutive", mode="fast", seed=1)
    trace.save("run.npz")

What users call is here: :func:`run` (the one run entry point; faults included),
:func:`run_own_router` (a team's own router), scenarios (:func:`load_scenario`,
:func:`parse_scenario`, :class:`Scenario` and its building blocks) and the :class:`Trace`.
The engine's parts live in their modules: :mod:`sim.engine` (the run), :mod:`sim.fault_effects`
(what faults do), :mod:`sim.vendor_model` (simulated vendors), :mod:`sim.bridge` (greenlets on
simpy time), :mod:`sim.pods` (the routers), :mod:`sim.byo` (bring your own router).
"""

from .byo import run_own_router
from .engine import resolve_policy, run
from .loader import ScenarioError, load_scenario, parse_scenario
from .operator import ManualOperator
from .policies import policy_names
from .scenario import (
    Latency,
    Lockout,
    ModelSpec,
    Modifier,
    PolicySpec,
    Scenario,
    Sessions,
    SimOrg,
    SimVendor,
    Surge,
    Tokens,
    Traffic,
    default_scenario,
)
from .trace import EVENT_KINDS, NO_ORG, Trace, TraceFileError

__all__ = [
    "EVENT_KINDS",
    "NO_ORG",
    "Latency",
    "Lockout",
    "ManualOperator",
    "ModelSpec",
    "Modifier",
    "PolicySpec",
    "Scenario",
    "ScenarioError",
    "Sessions",
    "SimOrg",
    "SimVendor",
    "Surge",
    "Tokens",
    "Trace",
    "TraceFileError",
    "Traffic",
    "default_scenario",
    "load_scenario",
    "parse_scenario",
    "policy_names",
    "resolve_policy",
    "run",
    "run_own_router",
]
