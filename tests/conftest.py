"""Suite-wide fixtures: a real Redis for tests marked ``@pytest.mark.redis``.

Where the server comes from, in order:

1. ``REDIS_URL`` when set (it must answer PING);
2. a server already listening on ``127.0.0.1:6379``;
3. ``redis-server`` started here on a free loopback port with persistence off, stopped at the
   end of the session.

If none works the test is skipped — except when ``CI=true``, where it fails: CI must exercise
the real server. Tests never FLUSH a server they did not start: each test gets its own key
namespace (``redis_namespace``) and its keys are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("multiorg") is None:
    # The repo is not necessarily pip-installed; spawned test workers inherit this path too.
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402


def _ping(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"real Redis required when CI=true: {reason}", pytrace=False)
    pytest.skip(f"no real Redis: {reason}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real, reachable Redis (never printed: it may carry a password)."""
    env = os.environ.get("REDIS_URL")
    if env:
        if not _ping(env):
            _unavailable("REDIS_URL is set but the server does not answer PING")
        yield env
        return
    local = "redis://127.0.0.1:6379/0"
    if _ping(local):
        yield local
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("nothing on 127.0.0.1:6379 and no redis-server binary on PATH")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10.0
        while not _ping(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"redis-server did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def redis_namespace() -> str:
    """A key namespace of its own for one test."""
    return f"breakerlab-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def redis_client(redis_url: str, redis_namespace: str) -> Iterator[redis.Redis]:
    """A client of the real Redis; the test's namespace is deleted afterwards."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        yield client
    finally:
        with contextlib.suppress(redis.RedisError, OSError):
            keys = list(client.scan_iter(match=f"{redis_namespace}:*", count=500))
            if keys:
                client.delete(*keys)
        client.close()
