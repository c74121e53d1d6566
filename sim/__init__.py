"""sim: a simpy engine that runs the real ``multiorg`` router in simulated time.

    import sim
    scenario = sim.default_scenario(duration=3600)
    trace = sim.run(scenario, "consecutive", mode="fast", seed=1)
    trace.save("run.npz")

See :mod:`sim.engine` (the run API), :mod:`sim.scenario` (what a world looks like),
:mod:`sim.vendor_model` (simulated vendors), :mod:`sim.bridge` (greenlets on simpy time).
"""

from .bridge import Hub
from .clock import SimClock
from .engine import Simulation, resolve_policy, run
from .rng import Seeds
from .scenario import (
    Latency,
    Lockout,
    ModelSpec,
    Modifier,
    Scenario,
    Sessions,
    SimOrg,
    SimVendor,
    Surge,
    Tokens,
    Traffic,
    default_scenario,
)
from .trace import EVENT_KINDS, NO_ORG, Trace
from .vendor_model import Decision, OrgModel, VendorWorld

__all__ = [
    "EVENT_KINDS",
    "NO_ORG",
    "Decision",
    "Hub",
    "Latency",
    "Lockout",
    "ModelSpec",
    "Modifier",
    "OrgModel",
    "Scenario",
    "Seeds",
    "Sessions",
    "SimClock",
    "SimOrg",
    "SimVendor",
    "Simulation",
    "Surge",
    "Tokens",
    "Trace",
    "Traffic",
    "VendorWorld",
    "default_scenario",
    "resolve_policy",
    "run",
]
