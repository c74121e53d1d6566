"""Tools to break a real Redis on purpose: a ``redis-server`` of one's own to ``kill -9``, freeze
(``SIGSTOP``) and restart, and a loopback TCP proxy that adds latency.

Used by ``benchmarks/redis_chaos.py`` (figures) and ``tests/stores/test_redis_chaos.py``
(assertions). Everything listens on 127.0.0.1 only; nothing here touches a server it did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from multiorg.client import VendorResponse
from multiorg.stores import register_state
from multiorg.vendors import ChatRequest

#: a vendor answer and a request for routers whose vendor costs nothing (the store is what's tested)
OK = VendorResponse(200, {}, {"choices": [{"message": {"role": "assistant", "content": "ok"}}]})
CHAT = ChatRequest(model="gpt-4o-mini", messages=({"role": "user", "content": "hi"},))


@register_state
@dataclass(frozen=True, slots=True)
class Applied:
    """A stored state that lists every update applied to it: an update applied twice shows."""

    ops: tuple[int, ...] = ()


class Instant:
    """A vendor client that answers at once."""

    def send(self, *args: Any) -> VendorResponse:
        return OK


class AsyncInstant:
    """The async face's vendor client that answers at once (one yield to the loop)."""

    async def send(self, *args: Any) -> VendorResponse:
        await asyncio.sleep(0)
        return OK


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisProcess:
    """One ``redis-server`` on a free loopback port, persistence off, owned by the caller."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self.binary = binary
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}")
            time.sleep(0.02)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """``kill -9``: the process and every connection vanish at once."""
        self._signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=5)

    def freeze(self) -> None:
        """``SIGSTOP``: connections stay open, nothing answers (a hung server, a GC pause)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.thaw()
            self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


class LatencyProxy:
    """A loopback TCP proxy to ``127.0.0.1:target``; each chunk Redis sends back waits ``delay``
    seconds first (settable while running: a slow network, a saturated server)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.delay = 0.0
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(128)
        self.port = int(self._server.getsockname()[1])
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="latency-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if delayed and self.delay > 0:
                    time.sleep(self.delay)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._server.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()
