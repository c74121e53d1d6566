"""The run API: ``sim.run(scenario, policy, mode="fast", seed=None) -> Trace``.

One run = one scenario, one breaker policy, one seed, one mode:

1. the scenario's faults are lowered (:func:`sim.fault_effects.lower_faults`): traffic surges
   join the traffic, vendor-side faults become modifiers, store/pod/clock faults runtime effects;
2. traffic (arrival times, sessions, tokens, pods) is drawn from the seed's traffic streams in
   pieces of a few simulated minutes, each just before the loop reaches it (memory stays flat);
3. every org gets a vendor model (latency, error curves, rate limits, lockouts, modifiers);
4. ``scenario.pods`` real :class:`multiorg.Router` instances are built — each with its own local
   observations, sharing one store or each keeping its own (``state``) — with the simulated
   clock, a seeded RNG per pod, the recorder as observer and notifier, fake API keys, and the
   runtime effects of the faults (:func:`sim.pods.build_pods`);
5. each request runs in its own greenlet from its arrival time, through its pod's router, to the
   vendor (in-process in fast mode, httpx → respx in full mode), sleeping in simulated time;
6. the loop runs to ``duration``, then drains the requests still in flight; the recorder's
   compressed columns become the :class:`~sim.trace.Trace`, with the run's description in ``meta``.

``face="async"`` runs :class:`multiorg.AsyncRouter` pods instead, each request a task on a
virtual-time asyncio loop that shares simpy's queue (:mod:`sim.aio`); both faces make the same
decisions.

Same scenario, policy, seed, mode and face → a byte-identical ``trace.save()`` file. Fast and full mode
make the same decisions attempt by attempt (while full mode's store reads are not cached, see
:mod:`sim.pods`).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import simpy

from multiorg.breakers.base import params_summary
from multiorg.errors import NoOrgAvailable
from multiorg.vendors import ChatRequest

from .aio import SimLoop
from .bridge import Hub
from .clock import SimClock
from .fault_effects import LoweredFaults, lower_faults
from .operator import ManualOperator, Operator
from .pods import FACES, Face, Mode, build_pods
from .policies import make_lab_policy
from .recorder import Demand, Recorder, capacity_meta
from .rng import Seeds
from .scenario import Scenario
from .trace import Trace
from .traffic import Arrivals, chunks, generate
from .vendor_model import VendorWorld

#: progress is reported every this many simulated seconds
PROGRESS_EVERY = 3600.0

#: distinct request shapes kept ready (see ``Simulation.run``)
REQUEST_CACHE = 4096

PolicyArg = str | tuple[str, Mapping[str, Any]] | Any


def resolve_policy(policy: PolicyArg) -> Any:
    """A policy object from a name, a preset, ``(name, params)``, a ``{name, params}`` or a policy."""
    if isinstance(policy, str):
        return make_lab_policy(policy)
    if isinstance(policy, tuple) and len(policy) == 2 and isinstance(policy[0], str):
        return make_lab_policy(policy[0], dict(policy[1] or {}))
    if isinstance(policy, Mapping):
        return make_lab_policy(str(policy["name"]), dict(policy.get("params") or {}))
    if isinstance(policy, ManualOperator):
        return policy
    name = getattr(policy, "name", None)
    if isinstance(name, str) and hasattr(policy, "admit"):
        return policy
    if hasattr(policy, "params") and hasattr(policy, "name"):  # a scenario's PolicySpec
        return make_lab_policy(policy.name, dict(policy.params))
    raise TypeError(f"not a breaker policy: {policy!r}")


def trace_meta(sc: Scenario, *, policy: str, policy_params: dict[str, Any], seed: int | None, mode: str,
               models: list[str], start_epoch: float, faults: list[dict[str, Any]], sessions: int,
               max_in_flight: int, end_time: float, router: dict[str, Any] | None = None,
               operator_flips: list[list[Any]] | None = None, capacity: dict[str, Any] | None = None) -> dict[str, Any]:
    """A trace's ``meta``: the scenario and how the run went; ``router`` and ``operator_flips``
    only where given (the built-in routers, not a team's own); ``capacity``: limits and offered
    demand (:func:`sim.recorder.capacity_meta`)."""
    meta: dict[str, Any] = {
        "scenario": sc.name,
        "description": sc.description,
        "policy": policy,
        "policy_params": policy_params,
        "seed": seed,
        "mode": mode,
        "orgs": sc.org_names(),
        "org_vendors": sc.org_vendors(),
        "models": models,
        "pods": sc.pods,
        "state": sc.state,
        "duration": sc.duration,
        "start": sc.start,
        "start_epoch": start_epoch,
        "faults": faults,
        "surges": [s.model_dump(mode="json") for s in sc.traffic.surges],
        "sessions": sessions,
        "scale": sc.scale, "scale_caveats": sc.scale_caveats(),
    }
    if router is not None:
        meta["router"] = router
    meta["slo"] = sc.slo
    # who is judged (reports.ranking.judged_policies): the expect_pass: true policies, else all but the false ones
    meta["expect_pass"] = [p.label or p.name for p in sc.policies if p.expect_pass is True]
    meta["expect_fail"] = [p.label or p.name for p in sc.policies if p.expect_pass is False]
    meta["max_in_flight"] = max_in_flight
    if operator_flips is not None:
        meta["operator_flips"] = operator_flips
    meta["end_time"] = end_time
    if capacity is not None:
        meta["capacity"] = capacity
    return meta


_PAD = "x" * 4096


def _prompt(tokens: int) -> str:
    """Prompt text the vendor counts as ``tokens`` tokens (4 characters per token)."""
    n = 4 * tokens
    pad = _PAD
    if n <= len(pad):
        return pad[:n]
    return pad * (n // len(pad)) + pad[: n % len(pad)]


def _request_shapes(model: np.ndarray, prompt: np.ndarray, max_tokens: np.ndarray,
                    widths: tuple[int, int, int]) -> Sequence[Any]:
    """One hashable key per request for its (model, prompt size, max_tokens): a packed int64.
    ``widths``: bits of (model, prompt, max_tokens), the same for every piece of a run (a key
    means one shape for the whole run: the request cache outlives a piece)."""
    bits_o, bits_p, bits_m = widths
    if bits_p + bits_m + bits_o > 63:  # absurd token counts: plain tuples (slower, same keys' meaning)
        return list(zip(model.tolist(), prompt.tolist(), max_tokens.tolist(), strict=True))
    packed = (model.astype(np.int64) << (bits_p + bits_m)) | (prompt.astype(np.int64) << bits_m) | max_tokens
    return array("q", packed.astype(np.int64).tobytes())  # not a list: the GC never walks it


def _shape_widths(scenario: Scenario) -> tuple[int, int, int]:
    """Bits that hold any model index, prompt size and max_tokens of ``scenario``'s traffic
    (token counts are capped at their ``max``)."""
    tr = scenario.traffic
    n_models = 1 if isinstance(tr.model, str) else len(tr.model)
    return ((n_models - 1).bit_length(), int(tr.prompt_tokens.max).bit_length(), int(tr.max_tokens.max).bit_length())


def run(
    scenario: Scenario,
    policy: PolicyArg | None = None,
    mode: Mode = "fast",
    seed: int | None = None,
    progress: Callable[[float, float], Any] | None = None,
    face: Face = "sync",
) -> Trace:
    """Simulate ``scenario`` under ``policy`` and return the trace.

    ``policy``: a policy or preset name (``"consecutive"``, ``"seed"``), ``(name, params)``, or a
    policy object; ``None`` → the scenario's first listed policy, else ``"exponential"``.
    ``seed``: ``None`` → ``scenario.seed``. ``progress(sim_seconds_done, duration)`` is called
    every simulated hour and at the end. ``face``: ``"sync"`` (``multiorg.Router`` pods, a
    greenlet per request) or ``"async"`` (``multiorg.AsyncRouter`` pods, a task per request).
    """
    if policy is None:
        policy = scenario.policies[0] if scenario.policies else "exponential"
    pol = resolve_policy(policy)
    seed = scenario.seed if seed is None else int(seed)
    router = scenario.router_for(policy)  # a policy entry may run with its own router settings
    if router is not scenario.router:
        scenario = scenario.model_copy(update={"router": router})
    return Simulation(scenario, pol, mode, seed, face).run(progress)


def _spawner(loop: SimLoop, send: Callable[..., Any], no_org: Callable[[int, Any], Any]) -> Callable[..., None]:
    """The async face's ``send(request, i)``: starts the request as a task on ``loop`` (running it
    until it first waits), handling "no org" as the sync face's start does."""

    async def task(req: ChatRequest, i: int) -> None:
        try:
            await send(req, i)
        except NoOrgAvailable as e:
            no_org(i, e.cause)

    def start(req: ChatRequest, i: int) -> None:
        loop.spawn(task(req, i))

    return start


class SimWorld:
    """What every simulated run is made of, whoever routes: seeded streams, arrivals (in pieces),
    the simpy loop and its hub, the simulated clock, the vendor models and the trace recorder.
    Shared by :class:`Simulation` (multiorg routers) and :mod:`sim.byo` (a team's own router)."""

    def _assemble(self, scenario: Scenario, seed: int) -> LoweredFaults:
        """Lower the scenario's faults (:func:`sim.fault_effects.lower_faults`) and build the world
        from the result; ``self.scenario`` is the scenario with its traffic surges. Returns the
        lowered faults (their runtime effects go to the pods)."""
        faults = lower_faults(scenario, seed)
        scenario = self.scenario = faults.scenario
        self.fault_windows = faults.windows
        self.seeds = Seeds(seed)
        self.modifiers = modifiers = faults.modifiers
        self.env = simpy.Environment()
        self.hub = Hub(self.env)
        self.start_epoch = scenario.start_epoch
        self.clock = SimClock(self.env, self.start_epoch, self.hub.sleep)  # the router's waits sleep here
        self.world = VendorWorld(scenario, self.seeds, modifiers)
        self.recorder = Recorder(start_epoch=self.start_epoch, orgs=scenario.org_names(), models=scenario.models())
        #: offered load and sessions, counted as the pieces of traffic go by
        self.demand = Demand(scenario.duration)
        self.n_sessions = 0
        return faults

    @cached_property
    def arrivals(self) -> Arrivals:
        """Every arrival of the run at once (:func:`sim.traffic.generate`: the pieces, joined)."""
        return generate(self.scenario, self.seeds)

    def _drive(self, start: Callable[[int], Any], progress: Callable[[float, float], Any] | None) -> None:
        """Start request ``i`` as ``start(i)`` at its arrival (all arrivals at once, :attr:`arrivals`)."""
        self._feed((self.arrivals,), lambda piece: start, progress)

    def _feed(self, pieces: Iterable[Arrivals], load: Callable[[Arrivals], Callable[[int], Any]],
              progress: Callable[[float, float], Any] | None) -> None:
        """Run the loop over ``pieces`` of arrivals, in time order: the recorder and the demand count
        learn each piece, ``load(piece)`` gives the function that starts its row ``j`` (request id
        ``piece.first + j``) at its arrival, and the loop runs up to the piece's end — stopping just
        before it, so that what happens at that instant waits for the next piece's arrivals, as one
        whole sequence would order them. ``progress`` every simulated hour; then drain what is
        still in flight."""
        hub = self.hub
        duration = self.scenario.duration
        marks = iter([*(t for t in _hours(duration)), math.inf])
        mark = next(marks)
        for piece in pieces:
            self.recorder.arrive(piece.time, piece.pod, piece.session)
            self.demand.add(piece)
            self.n_sessions += piece.n_sessions
            if len(piece):
                hub.drive(array("d", piece.time.tobytes()), load(piece))  # not a list: the GC never walks it
            while mark < piece.until:
                hub.run(until=mark)
                if progress is not None:
                    progress(mark, duration)
                mark = next(marks)
            if piece.until < math.inf:
                hub.run(until=math.nextafter(piece.until, -math.inf))
        hub.run()  # drain: requests in flight at the end finish (deadlines bound them)


def _hours(duration: float) -> list[float]:
    """The progress marks: every simulated hour, and the end."""
    out, t = [], 0.0
    while t < duration:
        t = min(duration, t + PROGRESS_EVERY)
        out.append(t)
    return out


class Simulation(SimWorld):
    """One run, assembled; :meth:`run` executes it (once)."""

    def __init__(self, scenario: Scenario, policy: Any, mode: Mode, seed: int, face: Face = "sync") -> None:
        if face not in FACES:
            raise ValueError(f"face must be one of {', '.join(FACES)}, not {face!r}")
        self.policy = policy
        self.mode = mode
        self.seed = seed
        self.face = face
        faults = self._assemble(scenario, seed)
        scenario = self.scenario
        self.loop = SimLoop(self.hub) if face == "async" else None
        manual = isinstance(policy, ManualOperator)
        self.pods = build_pods(
            scenario, policy.breaker() if manual else policy, mode, hub=self.hub, clock=self.clock,
            world=self.world, seeds=self.seeds, observer=self.recorder, notifier=self.recorder.notifier,
            runtime=faults.runtime, loop=self.loop,
        )
        self.operator: Operator | None = None
        if manual:
            primary = scenario.router.default_vendor
            standby = scenario.router.standby_vendor or next(
                (v for v in scenario.vendors if v != primary and scenario.vendors[v].orgs), None
            )
            self.operator = Operator(
                policy, hub=self.hub, recorder=self.recorder, switches=[r.switch for r in self.pods.routers],
                primary=primary, standby=standby, until=scenario.duration,
            )
            self.operator.start()

    def run(self, progress: Callable[[float, float], Any] | None = None) -> Trace:
        routers = self.pods.routers
        sends = [r.send for r in routers]
        prompt = _prompt
        # Identical requests are interchangeable (ChatRequest is immutable and carries no
        # identity): build each (model, prompt size, max_tokens) once. Bounded, so memory stays flat.
        # The shape is packed into one int per request (vectorised, per piece of traffic), so the
        # per-request lookup hashes an int, not a tuple.
        cache: dict[Any, ChatRequest] = {}
        no_org = self.recorder.no_org
        if self.loop is not None:  # the async face: a request starts a task
            sends = [_spawner(self.loop, r.send, no_org) for r in routers]
        first = 0
        shape: Sequence[Any] = ()
        pod_of = model_of = prompt_of = max_of = array("h")
        models: list[str] = []
        widths = _shape_widths(self.scenario)

        def start(j: int) -> None:
            key = shape[j]
            req = cache.get(key)
            if req is None:
                if len(cache) >= REQUEST_CACHE:
                    cache.clear()
                p = prompt_of[j]
                req = cache[key] = ChatRequest(models[model_of[j]], ({"role": "user", "content": prompt(p)},),
                                               None, max_of[j], {}, p)
            i = first + j
            try:
                sends[pod_of[j]](req, i)
            except NoOrgAvailable as e:  # recorded by the observer (outcome NO_ORG); here, why
                no_org(i, e.cause)

        def load(a: Arrivals) -> Callable[[int], None]:
            nonlocal first, shape, pod_of, model_of, prompt_of, max_of, models
            first = a.first
            shape = _request_shapes(a.model, a.prompt_tokens, a.max_tokens, widths)
            pod_of = array("h", a.pod.tobytes())
            model_of = array("h", a.model.tobytes())
            prompt_of = array("i", a.prompt_tokens.tobytes())
            max_of = array("i", a.max_tokens.tobytes())
            models = a.models
            return start

        self._feed(chunks(self.scenario, self.seeds), load, progress)
        loop = self.loop
        in_flight = self.hub.in_flight + (0 if loop is None else loop.in_flight)
        if in_flight:
            raise RuntimeError(f"{in_flight} requests never finished")
        if loop is not None:
            loop.close()
        return self.recorder.trace(self.meta())

    def meta(self) -> dict[str, Any]:
        meta = trace_meta(
            self.scenario, policy=self.policy.name, policy_params=params_summary(self.policy),
            seed=self.seed, mode=self.mode, models=list(self.recorder.models),
            start_epoch=self.start_epoch, faults=self.fault_windows,
            sessions=self.n_sessions,
            router=self.scenario.router.model_dump(mode="json", exclude={"pod"}),
            max_in_flight=self.hub.max_in_flight if self.loop is None else self.loop.max_in_flight,
            operator_flips=[] if self.operator is None else [list(f) for f in self.operator.flips],
            end_time=self.env.now,
            capacity=capacity_meta(self.scenario, self.world, self.demand))
        meta["face"] = self.face
        if self.pods.faulty_redis:
            meta["redis_failed_commands"] = {str(i): c.failed for i, c in enumerate(self.pods.faulty_redis)}
        return meta
