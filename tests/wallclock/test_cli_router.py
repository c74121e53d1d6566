"""`breakerlab compare --router FILE.py:FACTORY`: teams' unmodified routers, sync and async, in the same
report as the lab's policies; an escape or a bad --router is one line on stderr and exit code 2, no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breakerlab.cli import main

WORLD = """\
name: cli-router-world
seed: 5
duration: 4m
pods: 2
state: shared
vendors:
  openai:
    orgs:
      - {name: o1, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}, lockouts: [{kind: quota, start: 1m, end: 3m}]}
      - {name: o2, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}}
      - {name: o3, limits: {gpt-4o-mini: {rpm: 100000, tpm: 500M}}}
traffic: {daily_volume: 100k/day, prompt_tokens: {median: 100}, max_tokens: {median: 50}}
slo: {success_rate: ">= 99%"}
policies:
  - {name: exponential, expect_pass: true}
"""

CALLS_A_REAL_HOST = """\
import httpx

def make_router():
    client = httpx.Client(timeout=2)

    def complete(body):
        return client.post("https://llm-proxy.internal.example/v1/chat/completions", json=body)
    return complete
"""


@pytest.fixture
def world(tmp_path: Path) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(WORLD, encoding="utf-8")
    return path


def test_compare_puts_an_unmodified_router_next_to_the_policies(world: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["compare", str(world), "--policy", "exponential",
                 "--router", "examples/sdk_pybreaker_router.py:make_router",  # sync, wall clock
                 "--router", "examples/async_router.py:make_router",  # async (its factory says so)
                 "--out", str(out), "--jobs", "1", "-q", "--json"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["policies"]) == {"exponential", "sdk_pybreaker_router", "async_router"}
    assert results["slo"]["judged"] == ["exponential"]
    for label in ("sdk_pybreaker_router", "async_router"):
        mine = results["policies"][label]
        assert mine["overall"]["success_rate"]["mean"] > 0.99
        assert mine["alerts"]["opened"]["mean"] >= 1  # the breaker tripped on the lock (its hook reports)
    assert (out / "traces").is_dir() and "sdk_pybreaker_router" in (out / "summary.md").read_text()
    capsys.readouterr()


def test_a_router_calling_a_real_host_exits_2_with_one_line(world: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    router = tmp_path / "leaky_router.py"
    router.write_text(CALLS_A_REAL_HOST, encoding="utf-8")
    code = main(["compare", str(world), "--policy", "exponential", "--router", f"{router}:make_router",
                 "--out", str(tmp_path / "out"), "--jobs", "1", "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1
    head = f"{world}: --router {router}:make_router: "
    assert err.startswith(head + "socket.getaddrinfo('llm-proxy.internal.example', 443)")
    assert "leaky_router.py:7 (in complete)" in err


@pytest.mark.parametrize(("spec", "message"), [
    ("examples/no_such_router.py:make_router", "breakerlab: --router: examples/no_such_router.py: no such file"),
    ("examples/sdk_pybreaker_router.py:nope",
     "breakerlab: --router: examples/sdk_pybreaker_router.py has no factory 'nope'"),
    ("make_router", "breakerlab: --router: 'make_router': expected FILE.py:FACTORY"),
])
def test_a_bad_router_spec_is_one_line(world: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       spec: str, message: str) -> None:
    code = main(["compare", str(world), "--policy", "exponential", "--router", spec, "--out", str(tmp_path / "o"),
                 "--jobs", "1", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(message) and err.count("\n") == 1
