"""Wall-clock code runs unmodified in simulated time (sim.wallclock through sim.byo), escapes are
loud, and the patches are gone after every run, however it ended."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import sys
import threading
import time
import types
from typing import Any

import httpx
import numpy as np
import pybreaker
import pytest
import time_machine

import sim.wallclock
from multiorg.outcomes import OUTCOME_CODES, Outcome
from sim import Scenario
from sim.byo import run_own_router
from sim.wallclock import MONOTONIC_BASE, EscapeError, bound_names

URL = "https://api.openai.com/v1/chat/completions"
HERE = "tests/wallclock/test_wallclock.py"


def world(**over: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "wallclock",
        "seed": 5,
        "duration": 120.0,
        "pods": 1,
        "vendors": {"openai": {"orgs": [
            {"name": "good", "latency": {"median": 0.5, "p99": 1.0}},
            {"name": "broke", "latency": {"median": 0.5, "p99": 1.0}},
        ]}},
        "faults": [{"kind": "lockout", "target": "broke", "start": 0, "end": 50}],
        "traffic": {"daily_volume": 86_400.0, "prompt_tokens": {"median": 40}, "max_tokens": {"median": 20}},
    }
    data.update(over)
    return Scenario.model_validate(data)


# --------------------------------------------------------------------------- a router written the usual way


class Transitions(pybreaker.CircuitBreakerListener):
    def __init__(self, log: list[tuple[str, str, float]]) -> None:
        self.log = log

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.log.append((cb.name, new_state.name, time.time()))  # the wall clock, as in production


class HeldOutRouter:
    """Round robin, a pybreaker per org (its clock: datetime.now), a real time.sleep backoff."""

    def __init__(self, keys: list[tuple[str, str]], http: httpx.Client, log: list[tuple[str, str, float]]) -> None:
        self.keys = keys
        self.http = http
        self.breakers = {name: pybreaker.CircuitBreaker(fail_max=3, reset_timeout=20, name=name,
                                                        listeners=[Transitions(log)]) for name, _ in keys}
        self.i = 0
        self.waited: list[float] = []

    def _post(self, key: str, body: dict[str, Any]) -> httpx.Response:
        r = self.http.post(URL, json=body, headers={"Authorization": f"Bearer {key}"})
        r.raise_for_status()
        return r

    def complete(self, body: dict[str, Any]) -> httpx.Response:
        for _ in range(len(self.keys)):
            name, key = self.keys[self.i % len(self.keys)]
            self.i += 1
            try:
                return self.breakers[name].call(self._post, key, body)
            except pybreaker.CircuitBreakerError:
                continue
            except httpx.HTTPStatusError:
                t0 = time.monotonic()
                time.sleep(0.25)
                self.waited.append(time.monotonic() - t0)
        raise RuntimeError("no org left")


def expected_transitions(attempts: list[tuple[float, float, bool]], fail_max: int, reset: float
                         ) -> list[tuple[str, float]]:
    """pybreaker's rules applied to one org's attempts (start, end, ok), in simulated seconds."""
    out: list[tuple[str, float]] = []
    fails, opened = 0, None
    for start, end, ok in attempts:
        if opened is not None:  # the first call after an open: half-open once the timeout passed
            assert start >= opened + reset, f"an attempt at {start} while open since {opened}"
            out.append(("half-open", start))
            if ok:
                out.append(("closed", end))
                opened, fails = None, 0
            else:
                out.append(("open", end))
                opened = end
            continue
        fails = 0 if ok else fails + 1
        if fails == fail_max:
            out.append(("open", end))
            opened = end
    return out


def test_a_wall_clock_pybreaker_router_opens_and_closes_at_its_outcomes_simulated_times(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[tuple[str, str, float]] = []
    real_sleeps: list[float] = []
    # every real sleep, patched in the run or not, is noted instead of slept
    monkeypatch.setattr(sim.wallclock, "_real_sleep", real_sleeps.append)
    monkeypatch.setattr(time, "sleep", real_sleeps.append)
    routers: list[HeldOutRouter] = []

    def make_router(http, orgs):
        routers.append(HeldOutRouter([(o.name, o.api_key) for o in orgs], http, log))
        return routers[0].complete

    sc = world()
    t = run_own_router(sc, make_router)
    a = t.attempts
    broke = t.meta["orgs"].index("broke")
    sel = a["org"] == broke
    ok = np.isin(a["outcome"][sel], [OUTCOME_CODES[Outcome.SUCCESS], OUTCOME_CODES[Outcome.SLOW]])
    rows = list(zip(a["start"][sel].tolist(), a["end"][sel].tolist(), ok.tolist(), strict=True))
    want = expected_transitions(rows, fail_max=3, reset=20)
    got = [(new, when - sc.start_epoch) for name, new, when in log if name == "broke"]
    assert [k for k, _ in got] == [k for k, _ in want]
    assert np.allclose([w for _, w in got], [w for _, w in want], atol=1e-6)
    kinds = [k for k, _ in got]
    assert kinds[0] == "open" and "half-open" in kinds and kinds[-1] == "closed"  # the story happened
    assert got[-1][1] >= 50  # closed only once the lockout was over
    # the real time.sleep spent simulated time (0.25 s each, on the router's own monotonic clock) ...
    assert routers[0].waited and np.allclose(routers[0].waited, 0.25)
    r = t.requests
    assert (r["end"] - r["arrival"]).max() >= 0.25
    # ... and no wall time: not one of the backoffs reached the real sleep
    assert not [s for s in real_sleeps if s >= 0.25], real_sleeps


async def backoff() -> None:
    await asyncio.sleep(1.0)
    await asyncio.sleep(0.5)


def run_to_end(coro: Any) -> Any:
    try:
        while True:
            coro.send(None)
    except StopIteration as stop:
        return stop.value


def test_wall_clock_reads_inside_requests_are_simulated_and_the_lab_keeps_the_real_clock() -> None:
    seen: list[tuple[float, float, float, dt.datetime, dt.date]] = []
    lab: list[float] = []

    def make_router(sleep):
        def handler(body: dict[str, Any]) -> dict[str, Any]:
            run_to_end(backoff())  # a coroutine the handler drives itself, awaiting asyncio.sleep
            seen.append((time.time(), time.monotonic(), time.perf_counter(), dt.datetime.now(dt.UTC),
                         dt.date.today()))
            return {"ok": True}
        return handler

    sc = world(duration=10.0)
    t = run_own_router(sc, make_router, progress=lambda done, total: lab.append(time.time()))
    arrivals = t.requests["arrival"]
    assert len(seen) == len(arrivals) > 3
    for (wall, mono, perf, now, today), arrival in zip(seen, arrivals, strict=True):
        assert wall == pytest.approx(sc.start_epoch + arrival + 1.5)
        assert mono == perf == pytest.approx(MONOTONIC_BASE + arrival + 1.5)
        assert now.timestamp() == pytest.approx(wall, abs=1e-6)
        assert today == dt.datetime.fromtimestamp(wall).date()
    assert lab and abs(lab[-1] - time.time()) < 60  # progress: the real clock


def test_names_bound_at_import_are_found_or_listed() -> None:
    mod = types.ModuleType("bound_clock_mod")
    mod.__file__ = "/srv/team/bound_clock_mod.py"
    mod.monotonic = time.monotonic  # what `from time import monotonic` leaves in a module (circuitbreaker)
    mod.pause = time.sleep
    sys.modules["bound_clock_mod"] = mod
    try:
        assert bound_names(["bound_clock_mod", "threading"]) == ["bound_clock_mod.monotonic", "bound_clock_mod.pause"]

        def make_router():
            def handler(body: dict[str, Any]) -> Any:
                mod.pause(2.0)
                seen.append(mod.monotonic())
                return {"ok": True}
            return handler

        seen: list[float] = []
        t = run_own_router(world(duration=5.0), make_router)  # patch_names="auto": found
        assert np.allclose(seen, MONOTONIC_BASE + t.requests["arrival"] + 2.0)
        assert mod.monotonic is time.monotonic and mod.pause is time.sleep  # restored

        mod.pause = lambda s: None  # (a real bound sleep, left unpatched, would block for real: not here)
        seen.clear()
        run_own_router(world(duration=5.0), make_router, patch_names=[])
        assert seen and all(abs(v - time.monotonic()) < 60 for v in seen)  # not reached: the real clock

        seen.clear()
        t = run_own_router(world(duration=5.0), make_router, patch_names=["bound_clock_mod.monotonic"])
        assert np.allclose(seen, MONOTONIC_BASE + t.requests["arrival"])

        with pytest.raises(ValueError, match=r"patch_names: 'bound_clock_mod.nothing': no such"):
            run_own_router(world(duration=5.0), make_router, patch_names=["bound_clock_mod.nothing"])
        with pytest.raises(ValueError, match=r"patch_names: 'sys.path' is .*not one of"):
            run_own_router(world(duration=5.0), make_router, patch_names=["sys.path"])
    finally:
        del sys.modules["bound_clock_mod"]


# --------------------------------------------------------------------------- escapes are loud


def one_line(e: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_a_router_calling_a_real_host_fails_the_run_with_one_line() -> None:
    def make_router():
        real = httpx.Client(timeout=2)

        def handler(body: dict[str, Any]) -> Any:
            try:
                return real.post("https://llm-gateway.example.com/v1/chat/completions", json=body)
            except Exception:  # a router that swallows everything still fails the run
                return None
        return handler

    with pytest.raises(EscapeError) as e:
        run_own_router(world(duration=5.0), make_router)
    msg = one_line(e)
    assert msg.startswith("socket.getaddrinfo('llm-gateway.example.com', 443) from ")
    assert f"{HERE}:" in msg and "(in handler)" in msg and "no traffic leaves the machine" in msg


def test_a_real_socket_to_an_address_fails_too() -> None:
    def make_router():
        def handler(body: dict[str, Any]) -> Any:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", 9))
            finally:
                s.close()
        return handler

    with pytest.raises(EscapeError, match=r"^socket.connect\(\('127.0.0.1', 9\)\) from tests/wallclock/"):
        run_own_router(world(duration=5.0), make_router)


def test_time_sleep_outside_a_simulated_request_fails_with_one_line() -> None:
    def make_router():
        time.sleep(1)  # a warm-up wait in the factory: real seconds, no simulated time
        return lambda body: {"ok": True}

    wall0 = time.perf_counter()
    with pytest.raises(EscapeError) as e:
        run_own_router(world(duration=5.0), make_router)
    assert time.perf_counter() - wall0 < 1  # it did not sleep
    msg = one_line(e)
    assert msg.startswith(f"time.sleep(1) outside a simulated request, from {HERE}:")
    assert "(in make_router)" in msg

    # short real sleeps outside requests are let through (a library's polling, say)
    run_own_router(world(duration=5.0), lambda: time.sleep(0.001) or (lambda body: 1))


def test_a_lock_held_across_a_simulated_wait_fails_with_one_line() -> None:
    def make_router(http, orgs):
        lock = threading.Lock()
        key = orgs[0].api_key

        def handler(body: dict[str, Any]) -> Any:
            with lock:  # serializes calls in a threaded server; would block every simulated request
                return http.post(URL, json=body, headers={"Authorization": f"Bearer {key}"})
        return handler

    with pytest.raises(EscapeError) as e:
        run_own_router(world(duration=5.0), make_router)
    msg = one_line(e)
    assert msg.startswith(f"a threading.Lock taken at {HERE}:")
    assert "held across a simulated wait (POST https://api.openai.com/v1/chat/completions" in msg


# --------------------------------------------------------------------------- restored, however the run ends


def assert_restored() -> None:
    assert time.monotonic.__module__ == "time" and type(time.monotonic) is types.BuiltinFunctionType
    for f in (time.monotonic_ns, time.perf_counter, time.perf_counter_ns, time.sleep):
        assert type(f) is types.BuiltinFunctionType, f
    assert asyncio.sleep.__module__ == "asyncio.tasks" and asyncio.sleep is asyncio.tasks.sleep
    assert asyncio.sleep.__code__.co_filename.endswith("tasks.py")
    assert threading.Lock is threading._allocate_lock  # type: ignore[attr-defined]
    assert type(socket.getaddrinfo) is types.FunctionType and socket.getaddrinfo.__module__ == "socket"
    assert socket.socket.connect is socket._socket.socket.connect  # type: ignore[attr-defined]
    assert time_machine.traveller_stack == []
    assert not time_machine.escape_hatch.is_travelling()
    assert abs(time.time() - time.clock_gettime(time.CLOCK_REALTIME)) < 1


@pytest.mark.parametrize("error", [KeyboardInterrupt, EscapeError, ZeroDivisionError])
def test_patches_are_restored_after_an_error_or_an_interrupt(error: type[BaseException]) -> None:
    def make_router():
        def handler(body: dict[str, Any]) -> Any:
            time.sleep(0.5)
            if error is EscapeError:
                socket.gethostbyname("example.com")
            raise error()
        return handler

    assert_restored()
    with pytest.raises(error):
        run_own_router(world(duration=5.0), make_router, failures=(RuntimeError,))
    assert_restored()


def test_patches_are_restored_when_the_factory_is_interrupted() -> None:
    def make_router():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_own_router(world(duration=5.0), make_router)
    assert_restored()


def test_without_wallclock_nothing_is_patched() -> None:
    seen: list[float] = []
    run_own_router(world(duration=5.0), lambda: lambda body: seen.append(time.time()) or 1, wallclock=False)
    assert seen and abs(seen[0] - time.time()) < 60


# --------------------------------------------------------------------------- no silent hangs

BEFORE_THE_RUN = threading.Lock()  # a module-level lock: not the run's to guard


def test_a_real_wait_the_patches_cannot_reach_fails_instead_of_hanging() -> None:
    def make_router(http, orgs):
        key = orgs[0].api_key

        def handler(body: dict[str, Any]) -> Any:
            with BEFORE_THE_RUN:  # the second request blocks the one thread for ever
                return http.post(URL, json=body, headers={"Authorization": f"Bearer {key}"})
        return handler

    wall0 = time.perf_counter()
    with pytest.raises(EscapeError) as e:
        run_own_router(world(duration=30.0), make_router, stall_timeout=1.0)
    assert time.perf_counter() - wall0 < 10
    msg = one_line(e)
    assert msg.startswith(f"the run made no progress for 1 s of wall time: blocked in a real wait at {HERE}:")
    assert "(in handler)" in msg
    BEFORE_THE_RUN.release()  # the first request never finished
    assert_restored()
