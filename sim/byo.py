"""Bring your own router: drive a team's own sync router code through the simulator.

    from sim.byo import run_own_router

    def make_router(pod, http, redis, clock, orgs, record_event):
        router = TheirRouter(keys=[o.api_key for o in orgs], http=http, redis=redis, clock=clock)
        return router.complete                       # handler(request_body) -> httpx.Response

    trace = run_own_router(scenario, make_router, seed=1)

The team's router is not :mod:`multiorg`, has no observer hooks and knows nothing of the
simulation. It runs unmodified: while the factory and the run execute, its own reads of the wall
clock and its sleeps (``time.time``, ``time.monotonic``, ``datetime.now``, ``time.sleep``,
``asyncio.sleep``) see and spend simulated time inside simulated requests, and escapes (a real
socket, DNS, a long real sleep outside a request, a lock held across a wait) fail the run with one
line (:mod:`sim.wallclock`; ``wallclock=False`` turns this off). What the factory must pass it is
where its traffic goes — an ``httpx.Client`` (or transport) and a ``redis.Redis`` client; a
``clock``/``sleep`` pair is offered for routers that take them injected (the faster path). This
module builds the simulated world exactly as full mode does and hands the router simulated ones:

* ``http``: an ``httpx.Client`` (one per pod) over the respx-mocked vendors of
  :class:`sim.full.MockedVendors` — the real wire formats, the org found from the API key, the
  answer after the sampled latency in simulated time, timeouts and connection resets raised as
  httpx exceptions (respx does not enforce httpx timeouts; the mocked vendor does);
* ``redis``: a ``fakeredis.FakeRedis`` client: one fakeredis server shared by every pod
  (``state: shared``) or one per pod (``state: local``). **Key expiry runs on the simulated
  clock** (``EXPIRE``, ``SET ... EX``, ``TTL``), so a router whose breaker window is a Redis TTL
  behaves as it would in production, and deterministically. ``TIME`` and hash-field expiry
  (``HEXPIRE``) still read the wall clock: use the injected clock instead. Store faults of the
  scenario (``redis_down``, ``redis_slow``, ``pod_partition``) make the client raise
  ``redis.ConnectionError`` / ``redis.TimeoutError`` in their windows (a slow Redis first spends
  its delay in simulated time) — on the async face too, where ``redis`` is fakeredis's
  ``redis.asyncio`` client and the delay is awaited on the simulated loop;
* ``clock``: ``start_epoch + simulated seconds`` (skewed during a ``clock_skew`` fault on that pod).

Each simulated request runs in its own greenlet from its arrival time and calls the handler the
factory returned for its pod with an OpenAI-style chat body ``{"model", "messages",
"max_tokens"}``. Whenever the router's HTTP call reaches a mocked vendor, the greenlet sleeps in
simulated time and other requests run: many are in flight at once, and the router sees every
outcome at the simulated moment it happens.

The trace is recorded from the vendor side, since the router has no hooks: every call that
reaches a mocked vendor is an **attempt** of the request whose greenlet made it (org from the API
key, start and end in simulated time, outcome classed by :mod:`multiorg.outcomes` as the lab's
own router would class it, HTTP status or 0, never a probe). The **request** row ends when the
handler returns or raises; its outcome:

=============================================  ==============================================
the handler                                    outcome
=============================================  ==============================================
returns a 2xx ``httpx.Response``, or any       success (``slow`` when the last 2xx attempt was
other non-None value (a dict, a string, ...)   slower than the scenario's ``slow_call_threshold``)
returns a non-2xx ``httpx.Response``           its class (``classify_response``: quota, auth, ...)
raises an ``httpx.TransportError``             timeout / connection
raises another exception of ``failures``,      the last attempt's class when it failed, else
or returns None                                "no org" (-1, like multiorg's ``NoOrgAvailable``)
=============================================  ==============================================

Breaker events (the trace's ``events`` table: OPENED / HALF_OPEN / CLOSED) come from the router
only if it reports them: the factory may take ``record_event`` and call
``record_event(kind, org, ...)`` where the router would post its alert. Without it the events
table stays empty and the detection-time metrics read "never".

What the factory receives: the arguments it *names*, from :data:`FACTORY_ARGS` (a ``**kwargs``
catch-all receives nothing; bind settings with ``functools.partial``). See
``docs/byo-router.md`` for the walk-through and ``examples/my_router.py`` for a worked example.

Same scenario, factory, seed (and deterministic router code: no unseeded randomness, no
iteration over sets of strings, no threads; wall-clock reads inside requests are simulated) → a
byte-identical ``trace.save()`` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fakeredis
import httpx
from greenlet import getcurrent

from multiorg.alerts import BreakerEvent, EventKind
from multiorg.outcomes import Outcome, classify_exception, classify_response

from .aio import AsyncMockedVendors, SimLoop
from .engine import SimWorld, trace_meta
from .fault_hooks import AsyncFaultyRedis, FaultyRedis, RuntimeEffects, SkewedClock
from .full import MockedVendors
from .recorder import capacity_meta
from .scenario import Scenario
from .trace import EVENT_KINDS, Trace
from .wallclock import EscapeError, SimTime, WallClock, Watchdog

__all__ = [
    "FACTORY_ARGS",
    "ByoError",
    "EscapeError",
    "OrgKey",
    "OwnRouterSimulation",
    "run_own_router",
]

Handler = Callable[[dict[str, Any]], Any]
Factory = Callable[..., Handler]

#: what a factory may ask for, by parameter name
FACTORY_ARGS: dict[str, str] = {
    "pod": "int: the pod index (0 .. scenario.pods - 1)",
    "http": "httpx.Client over the mocked vendors (one per pod)",
    "transport": "the httpx transport under ``http``, to build your own httpx.Client(transport=...)",
    "redis": "redis.Redis (fakeredis): shared by the pods or per pod, per the scenario's state",
    "clock": "() -> float: simulated epoch seconds (use it wherever the router reads time.time())",
    "sleep": "(seconds) -> None: suspends the calling request in simulated time (instead of time.sleep)",
    "rng": "random.Random: seeded per pod (instead of the random module)",
    "environ": "Mapping[str, str]: each org's api_key_env -> its API key, plus run_own_router(environ=...)",
    "orgs": "tuple[OrgKey, ...]: the scenario's orgs (name, vendor, api_key, org_id, api_key_env)",
    "record_event": "(kind, org, model=None, *, failure_count=0, block_duration=0.0, retry_cycles=0) -> None",
    "scenario": "the Scenario being simulated",
}

class ByoError(RuntimeError):
    """The router and the simulator are wired wrongly (an unknown API key or URL, HTTP outside a
    request, requests that never finish). Fails the run, whatever the router catches."""


@dataclass(frozen=True)
class OrgKey:
    """One org of the scenario, as a router's configuration would name it."""

    name: str
    vendor: str
    api_key: str
    #: the ``OpenAI-Organization`` header value the vendor accepts for this key
    org_id: str
    #: the environment variable that holds ``api_key`` in ``environ``
    api_key_env: str


@dataclass
class _Request:
    """The simulated request a greenlet is running."""

    id: int
    pod: int = 0
    attempts: int = 0
    last: Outcome | None = None
    #: the last successful attempt was slow
    last_ok_slow: bool = False


#: the async face: the request the running task (and every task it starts: gather, create_task)
#: works for; tasks copy the context they are created in
_ASYNC_REQUEST: contextvars.ContextVar[_Request | None] = contextvars.ContextVar("byo_request", default=None)


# --------------------------------------------------------------------------- fakeredis on simulated time


def _sim_time_server(now: Callable[[], float]) -> Any:
    """A ``fakeredis.FakeServer`` whose key expiry reads ``now()`` (epoch seconds), not the wall clock.

    fakeredis stamps each database with ``time.time()`` before every command and expires keys
    against that stamp; here the stamp is a property that ignores the wall-clock write and reads
    the simulated clock. Only this server's databases change (nothing global is patched).
    """
    try:  # a private module of fakeredis: other versions may not have it
        from fakeredis._core._database import Database
    except ImportError as e:  # pragma: no cover - depends on the installed fakeredis
        raise ByoError(f"fakeredis {fakeredis.__version__}: cannot run its key expiry on simulated time") from e

    class SimTimeDatabase(Database):  # type: ignore[misc]
        def __init__(self, lock: Any) -> None:
            self._sim_now = now
            super().__init__(lock)

        @property  # type: ignore[override]
        def time(self) -> float:
            return self._sim_now()

        @time.setter
        def time(self, _wall: float) -> None:
            pass

    server = fakeredis.FakeServer()
    if not isinstance(getattr(server, "dbs", None), defaultdict):  # pragma: no cover
        raise ByoError(f"fakeredis {fakeredis.__version__}: cannot run its key expiry on simulated time")
    server.dbs = defaultdict(lambda: SimTimeDatabase(server.lock))
    return server


# --------------------------------------------------------------------------- the run


def _type_name(e: BaseException) -> str:
    t = type(e)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _factory_name(factory: Any) -> str:
    while isinstance(factory, functools.partial):
        factory = factory.func
    name = getattr(factory, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else "own-router"


def _factory_face(factory: Any) -> str:
    """The face a factory declares (``factory.face = "async"``; through ``functools.partial``)."""
    while True:
        face = getattr(factory, "face", None)
        if face is not None or not isinstance(factory, functools.partial):
            return str(face or "sync")
        factory = factory.func


def run_own_router(
    scenario: Scenario,
    factory: Factory,
    *,
    seed: int | None = None,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    http_options: Mapping[str, Any] | None = None,
    redis_options: Mapping[str, Any] | None = None,
    failures: tuple[type[BaseException], ...] = (Exception,),
    progress: Callable[[float, float], Any] | None = None,
    wallclock: bool = True,
    patch_names: Iterable[str] | str = "auto",
    stall_timeout: float = 10.0,
    face: str | None = None,
) -> Trace:
    """Simulate ``scenario`` with the team's own router and return the trace.

    ``factory`` is called once per pod, before the run, with the arguments it names from
    :data:`FACTORY_ARGS`; it returns ``handler(request_body) -> httpx.Response | value``, called
    once per simulated request (see the module docs for how its result becomes the outcome).

    ``seed``: ``None`` → ``scenario.seed``. ``name``: the router's name in the trace and in reports
    (``meta["policy"]``; default the factory's ``__name__``); ``params``: its settings, shown in
    reports (``meta["policy_params"]``). ``environ``: extra environment variables for the factory.
    ``http_options``: keyword arguments of each pod's ``httpx.Client`` (``timeout``, ``headers``,
    ``base_url``; httpx's default timeout is 5 s). ``redis_options``: keyword arguments of each
    ``FakeRedis`` client (``decode_responses=True``, say). ``failures``: exception types the
    handler may raise for a failed request; any other exception aborts the run. ``progress(done,
    duration)`` is called every simulated hour and at the end.

    ``wallclock``: while the factory and the run execute, the router's own reads of the wall clock
    (``time.time``, ``time.monotonic``, ``datetime.now``, ...) and its sleeps (``time.sleep``,
    ``asyncio.sleep``) see and spend simulated time, and escapes (a real socket or DNS lookup, a
    long real sleep outside a request, a lock held across a wait) fail the run with
    :class:`EscapeError` (see :mod:`sim.wallclock`); ``False`` leaves the process alone (a router
    that takes ``clock``/``sleep`` injected runs a little faster). ``patch_names``: names bound at
    import to a clock or sleep function, to patch too: ``"auto"`` finds them in every imported
    module outside the standard library and the lab (:func:`sim.wallclock.bound_names`); a list
    (``["circuitbreaker.monotonic"]``) patches exactly those. ``stall_timeout``: real seconds
    without simulated progress, blocked in one place, before the run fails with
    :class:`EscapeError` naming it (a real wait the patches cannot reach; main thread only).
    ``face``: ``"async"`` runs an async router (``async def handler``) with each request a task
    on the virtual-time event loop of :mod:`sim.aio` (``http`` is then an ``httpx.AsyncClient``,
    ``redis`` fakeredis's async client, ``sleep`` a coroutine); None: ``factory.face`` if the
    factory declares one, else ``"sync"``.
    """
    seed = scenario.seed if seed is None else int(seed)
    return OwnRouterSimulation(
        scenario, factory, seed, name=name, params=params, environ=environ, http_options=http_options,
        redis_options=redis_options, failures=failures, wallclock=wallclock, patch_names=patch_names,
        stall_timeout=stall_timeout, face=face,
    ).run(progress)


class OwnRouterSimulation(SimWorld):
    """One run of a team's router, assembled; :meth:`run` executes it (once)."""

    def __init__(
        self,
        scenario: Scenario,
        factory: Factory,
        seed: int,
        *,
        name: str | None = None,
        params: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        http_options: Mapping[str, Any] | None = None,
        redis_options: Mapping[str, Any] | None = None,
        failures: tuple[type[BaseException], ...] = (Exception,),
        wallclock: bool = True,
        patch_names: Iterable[str] | str = "auto",
        stall_timeout: float = 10.0,
        face: str | None = None,
    ) -> None:
        self.stall_timeout = float(stall_timeout)
        face = face if face is not None else _factory_face(factory)
        if face not in ("sync", "async"):
            raise ValueError(f"face must be 'sync' or 'async', not {face!r}")
        self.face = face
        self.factory = factory
        self.seed = seed
        self.name = name or _factory_name(factory)
        self.params = dict(params or {})
        self.failures = tuple(failures)
        faults = self._assemble(scenario, seed)  # the same fault lowering as sim.run's
        scenario = self.scenario
        self.org_vendor = dict(zip(scenario.org_names(), scenario.org_vendors(), strict=True))
        self.slow_threshold = scenario.router.slow_call_threshold
        #: the async face: the virtual-time asyncio loop (sim.aio) every request runs on, as a task
        self.loop: SimLoop | None = None
        if face == "async":
            self.loop = SimLoop(self.hub)
            self._amocked = AsyncMockedVendors(self.loop, self.world, scenario.multiorg_config(0))
            self.vendors = self._amocked.vendors
        else:
            self.vendors = MockedVendors(self.hub, self.world, scenario.multiorg_config(0))
        #: request greenlet -> the request it runs (the async face: _ASYNC_REQUEST)
        self._current: dict[Any, _Request] = {}
        #: the first wiring error or escape (re-raised when its request ends, whatever the router caught)
        self._fatal: ByoError | EscapeError | None = None
        #: per pod, what its requests' wall-clock reads see (filled by _build_pods)
        self._pod_time: list[SimTime] = []
        #: per pod, what its tasks see (the async face: no greenlet to suspend, sleep=None)
        self._task_time: list[SimTime] = []
        #: while the factory builds a pod: what its wall-clock reads see (simulated t = 0)
        self._factory_time: SimTime | None = None
        self._wallclock = WallClock(self._where, patch_names=patch_names, on_escape=self._escaped) if wallclock \
            else None
        #: exceptions the handler raised, by type name
        self.exceptions: dict[str, int] = {}
        self.none_results = 0
        #: per pod, the Redis client a store fault acts on (empty without store faults)
        self.faulty_redis: list[FaultyRedis] = []
        self.handlers = self._build_pods(faults.runtime, environ, http_options, redis_options)

    def _where(self) -> SimTime | None:
        """Where the calling code runs, for the wall-clock patches: a request of a pod, a pod's
        factory call, or neither (None: the real clock)."""
        g = getcurrent()
        current = self._current
        if self._factory_time is not None and g is self.hub.main:
            return self._factory_time
        if self.loop is None:
            req = current.get(g)
            return None if req is None else self._pod_time[req.pod]
        # the async face: the request of the task the loop is stepping (in whichever greenlet)
        req = _ASYNC_REQUEST.get()
        return None if req is None else self._task_time[req.pod]

    def _escaped(self, err: EscapeError) -> None:
        if self._fatal is None:
            self._fatal = err

    def _patched(self) -> Any:
        """The wall-clock patches as a context (a no-op without them)."""
        return self._wallclock if self._wallclock is not None else contextlib.nullcontext()

    # ------------------------------------------------------------------ assembly

    def orgs(self) -> tuple[OrgKey, ...]:
        by_name = self.world.by_name
        return tuple(
            OrgKey(o.name, v, o.api_key(), by_name[o.name].org_id, o.key_env()) for v, o in self.scenario.orgs()
        )

    def _redis_client(self, pod: int, server: Any, runtime: RuntimeEffects, options: dict[str, Any]) -> Any:
        """Pod ``pod``'s Redis client: fakeredis on simulated time, failing or slow by the
        scenario's store faults (the same :class:`FaultyRedis` multiorg pods get)."""
        make = fakeredis.FakeRedis if self.loop is None else fakeredis.FakeAsyncRedis
        client: Any = make(server=server if server is not None else _sim_time_server(self.clock.now), **options)
        schedule = runtime.redis_schedule(pod)
        if schedule is not None:
            if self.loop is None:
                client = FaultyRedis(client, schedule, self.clock.elapsed, self.hub.sleep_in_request)
            else:  # asyncio.sleep on the simulated loop spends simulated time
                client = AsyncFaultyRedis(client, schedule, self.clock.elapsed, asyncio.sleep)
            self.faulty_redis.append(client)
        return client

    def _clock(self, pod: int, runtime: RuntimeEffects) -> Callable[[], float]:
        """Pod ``pod``'s clock: simulated epoch seconds, skewed during its ``clock_skew`` faults."""
        skews = runtime.clock_skews(pod)
        return SkewedClock(self.clock, self.clock.elapsed, skews).now if skews else self.clock.now

    def _build_pods(self, runtime: RuntimeEffects, environ: Mapping[str, str] | None,
                    http_options: Mapping[str, Any] | None, redis_options: Mapping[str, Any] | None) -> list[Handler]:
        sc = self.scenario
        env_vars = {**sc.environ(), **dict(environ or {})}
        orgs = self.orgs()
        transport = httpx.MockTransport(self._attempt if self.loop is None else self._aattempt)
        ropts = {"single_connection_client": True, **dict(redis_options or {})}
        # shared state: one server for every pod; local state: one each (made per client)
        server = _sim_time_server(self.clock.now) if sc.state == "shared" else None
        wanted = self._factory_params()
        handlers: list[Handler] = []
        self.redis_clients: list[Any] = []
        for pod in range(sc.pods):
            client = self._redis_client(pod, server, runtime, ropts)
            self.redis_clients.append(client)
            clock = self._clock(pod, runtime)
            self._pod_time.append(SimTime(clock, self.clock.elapsed, self._sleep))
            self._task_time.append(SimTime(clock, self.clock.elapsed, None, "in an asyncio task"))
            http: Any = httpx.Client(transport=transport, **dict(http_options or {})) if self.loop is None \
                else httpx.AsyncClient(transport=transport, **dict(http_options or {}))
            available: dict[str, Any] = {
                "pod": pod,
                "http": http,
                "transport": transport,
                "redis": client,
                "clock": clock,
                "sleep": self._sleep if self.loop is None else self.loop.sleep,
                "rng": self.seeds.python_random(f"byo:pod:{pod}"),
                "environ": dict(env_vars),
                "orgs": orgs,
                "record_event": self._event_recorder(pod),
                "scenario": sc,
            }
            self._factory_time = SimTime(clock, self.clock.elapsed, None)
            try:
                with self._patched():
                    handler = self.factory(**{k: available[k] for k in wanted})
            finally:
                self._factory_time = None
            if not callable(handler):
                raise TypeError(f"the factory returned {handler!r}, not a handler(request_body)")
            handlers.append(handler)
        return handlers

    def _factory_params(self) -> list[str]:
        sig = inspect.signature(self.factory)
        wanted: list[str] = []
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.name in FACTORY_ARGS:
                if p.kind is p.POSITIONAL_ONLY:
                    raise TypeError(f"factory parameter {p.name!r} is positional-only; it is passed by name")
                wanted.append(p.name)
            elif p.default is p.empty:
                raise TypeError(
                    f"factory parameter {p.name!r} is not one the simulator provides "
                    f"({', '.join(FACTORY_ARGS)}); bind it with functools.partial"
                )
        return wanted

    def _sleep(self, seconds: float) -> None:
        if getcurrent() is self.hub.main:
            raise ByoError("sleep() was called outside a simulated request (in the factory?)")
        if self._wallclock is not None:
            self._wallclock.check_wait(f"sleep({seconds:g})")
        self.hub.sleep(float(seconds))

    def _event_recorder(self, pod: int) -> Callable[..., None]:
        rec = self.recorder
        clock = self.clock
        vendors = self.org_vendor
        default_model = self.scenario.models()[0]
        label = f"pod-{pod}"

        def record_event(kind: str, org: str, model: str | None = None, *, failure_count: int = 0,
                         block_duration: float = 0.0, retry_cycles: int = 0) -> None:
            k = str(getattr(kind, "value", kind)).upper()
            if k not in EVENT_KINDS:
                raise ValueError(f"breaker event kind {kind!r}: one of {', '.join(EVENT_KINDS)}")
            if org not in vendors:
                raise ValueError(f"breaker event for unknown org {org!r} (orgs: {', '.join(vendors)})")
            rec.event(pod, BreakerEvent(EventKind(k), org, model or default_model, vendors[org], clock.now(),
                                        int(failure_count), float(block_duration), int(retry_cycles), label))

        return record_event

    # ------------------------------------------------------------------ the vendor side: attempts

    def _fail(self, message: str) -> ByoError:
        err = ByoError(message)
        if self._fatal is None:
            self._fatal = err
        return err

    async def _aattempt(self, request: httpx.Request) -> httpx.Response:
        """The async face's transport: the mocked vendor's answer after its latency on the loop."""
        req = _ASYNC_REQUEST.get()
        if req is None:
            raise self._fail(f"HTTP call to {request.url} outside a simulated request: the factory (or a "
                             "background task) must not call the vendors")
        om = self._org_of(request)
        clock = self.clock
        t0 = clock.now()
        try:
            response = await self._amocked._handle(request)
        except httpx.TransportError as e:  # the mocked vendor's timeout or connection reset
            self._record(req, om, t0, clock.now(), classify_exception(e).outcome, 0)
            raise
        except AssertionError as e:  # respx: no route matches
            raise self._no_route(request) from e
        return self._answered(req, om, t0, response)

    def _org_of(self, request: httpx.Request) -> Any:
        headers = request.headers
        auth = headers.get("authorization", "")
        # OpenAI: Bearer; Anthropic: x-api-key; Azure OpenAI: api-key
        key = auth[7:] if auth.startswith("Bearer ") else headers.get("x-api-key") or headers.get("api-key", "")
        om = self.world.by_key.get(key)
        if om is None:
            raise self._fail(
                f"HTTP call to {request.url} with an API key the scenario does not know ({key[:3]!r}...): "
                "use the keys the factory receives (orgs[i].api_key, or environ[orgs[i].api_key_env])")
        return om

    def _no_route(self, request: httpx.Request) -> ByoError:
        return self._fail(
            f"HTTP call to {request.method} {request.url}: the simulator mocks "
            f"{', '.join(sorted(str(r.pattern) for r in self.vendors.mock.routes))}; point the "
            "router at the vendors' real base URLs (or the scenario's base_url)")

    def _answered(self, req: _Request, om: Any, t0: float, response: httpx.Response) -> httpx.Response:
        t1 = self.clock.now()
        status = response.status_code
        if 200 <= status < 300:
            body = None
        else:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
        cls = classify_response(status, response.headers, body, now=t1, latency=t1 - t0,
                                slow_threshold=self.slow_threshold)
        self._record(req, om, t0, t1, cls.outcome, status)
        return response

    def _attempt(self, request: httpx.Request) -> httpx.Response:
        """The transport under every pod's client: the mocked vendor, recorded as an attempt."""
        req = self._current.get(getcurrent())
        if req is None:
            raise self._fail(f"HTTP call to {request.url} outside a simulated request: the factory (or a "
                             "background thread) must not call the vendors")
        om = self._org_of(request)
        clock = self.clock
        t0 = clock.now()
        if self._wallclock is not None:
            self._wallclock.check_wait(f"{request.method} {request.url}")
        try:
            response = self.vendors.mock.handler(request)
        except httpx.TransportError as e:  # the mocked vendor's timeout or connection reset
            self._record(req, om, t0, clock.now(), classify_exception(e).outcome, 0)
            raise
        except AssertionError as e:  # respx: no route matches
            raise self._no_route(request) from e
        return self._answered(req, om, t0, response)

    def _record(self, req: _Request, om: Any, t0: float, t1: float, outcome: Outcome, status: int) -> None:
        self.recorder.attempt(req.id, om.name, om.vendor, t0, t1, outcome, status, False)
        req.attempts += 1
        req.last = outcome
        if outcome.ok:
            req.last_ok_slow = outcome is Outcome.SLOW

    # ------------------------------------------------------------------ the request side

    def _outcome(self, req: _Request, result: Any = None, error: BaseException | None = None) -> Outcome | None:
        if error is not None:
            if isinstance(error, httpx.TransportError):  # the router let a timeout or reset through
                return classify_exception(error).outcome
            return req.last if req.last is not None and not req.last.ok else None
        if result is None:
            self.none_results += 1
            return req.last if req.last is not None and not req.last.ok else None
        if isinstance(result, httpx.Response):
            status = result.status_code
            if not 200 <= status < 300:
                try:
                    body = result.json()
                except ValueError:
                    body = None
                return classify_response(status, result.headers, body, now=self.clock.now()).outcome
        return Outcome.SLOW if req.last_ok_slow else Outcome.SUCCESS

    def run(self, progress: Callable[[float, float], Any] | None = None) -> Trace:
        a = self.arrivals
        handlers = self.handlers
        pod_of = array("h", a.pod.tobytes())
        model_of = array("h", a.model.tobytes())
        prompt_of = array("i", a.prompt_tokens.tobytes())
        max_of = array("i", a.max_tokens.tobytes())
        models = a.models
        prompts: dict[int, str] = {}
        current = self._current
        failures = self.failures
        rec = self.recorder
        clock = self.clock

        def body_of(i: int) -> dict[str, Any]:
            p = prompt_of[i]
            text = prompts.get(p)
            if text is None:
                if len(prompts) >= 4096:
                    prompts.clear()
                text = prompts[p] = "x" * (4 * p)  # 4 characters per token, as the vendors count
            return {"model": models[model_of[i]], "messages": [{"role": "user", "content": text}],
                    "max_tokens": int(max_of[i])}

        def failed(req: _Request, e: BaseException) -> Outcome | None:
            name = _type_name(e)
            self.exceptions[name] = self.exceptions.get(name, 0) + 1
            return self._outcome(req, error=e)

        def end(req: _Request, outcome: Outcome | None) -> None:
            rec.request(req.id, 0.0, clock.now(), outcome, req.attempts)
            if self._fatal is not None:
                raise self._fatal

        def start(i: int) -> None:
            g = getcurrent()
            req = current[g] = _Request(i, pod_of[i])
            try:
                result = handlers[pod_of[i]](body_of(i))
            except failures as e:
                outcome = failed(req, e)
            else:
                outcome = self._outcome(req, result)
            finally:
                del current[g]
            end(req, outcome)

        async def task(i: int) -> None:  # the async face: each request a task on the loop
            req = _Request(i, pod_of[i])
            token = _ASYNC_REQUEST.set(req)
            try:
                result = await handlers[pod_of[i]](body_of(i))
            except failures as e:
                outcome = failed(req, e)
            else:
                outcome = self._outcome(req, result)
            finally:
                _ASYNC_REQUEST.reset(token)
            end(req, outcome)

        hub = self.hub
        loop = self.loop
        watchdog = Watchdog(lambda: (hub.env._now, hub.started, hub.in_flight), self._escaped,
                            stall=self.stall_timeout)
        try:
            with self._patched(), watchdog:
                self._drive(start if loop is None else lambda i: loop.spawn(task(i)), progress)
        except KeyboardInterrupt:
            if watchdog.fired is not None:  # the interrupt was the watchdog's
                raise watchdog.fired from None
            raise
        if self._fatal is not None:
            raise self._fatal
        in_flight = self.hub.in_flight + (0 if loop is None else loop.in_flight)
        if loop is not None:
            loop.close()
        if in_flight:
            raise ByoError(
                f"{in_flight} requests never finished: a call waits for ever (an httpx timeout of None "
                "against a vendor that hangs, or sleep(inf)); give the router's HTTP calls a finite timeout")
        return rec.trace(self.meta())

    def meta(self) -> dict[str, Any]:
        meta = trace_meta(
            self.scenario, policy=self.name, policy_params=dict(self.params), seed=self.seed,
            mode="byo", models=list(self.recorder.models), start_epoch=self.start_epoch,
            faults=self.fault_windows, sessions=self.arrivals.n_sessions,
            max_in_flight=self.hub.max_in_flight if self.loop is None else self.loop.max_in_flight,
            end_time=self.env.now,
            capacity=capacity_meta(self.scenario, self.world, self.arrivals))
        if self.faulty_redis:
            meta["redis_failed_commands"] = {str(i): c.failed for i, c in enumerate(self.faulty_redis)}
        meta["face"] = self.face
        meta["byo"] = {
            "router": self.name,
            "exceptions": dict(sorted(self.exceptions.items())),
            "none_results": self.none_results,
            "vendor_calls": self.vendors.calls,
        }
        return meta
