"""Breaker alerts: the seed's Slack text, and notifiers that can never hurt a request."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any

import httpx
import pytest
import respx
from multiorg_fakes import MODEL, SERVER, T0, ScriptedClient, chat, make_config, make_router, ok

from multiorg import (
    BreakerEvent,
    EventKind,
    LoggingNotifier,
    ManualClock,
    MemoryNotifier,
    Outcome,
    SlackNotifier,
)
from multiorg.alerts import notify_all


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


SEED_OPENED = (
    "[Open AI Service] Circuit Breaker OPENED\n"
    "- Org: secondary4\n"
    "- Model: gpt-4o-mini\n"
    "- Failure count: 14\n"
    "- Block duration: 16 minute(s)\n"
    "- Retry cycles: 4\n"
    "- Time: 2025-05-17T20:37:40.700Z"
)
SEED_CLOSED = (
    "[Open AI Service] Circuit Breaker CLOSED\n"
    "- Org: secondary4\n"
    "- Model: gpt-4o-mini\n"
    "- Time: 2025-05-17T20:53:46.467Z"
)


def test_opened_text_matches_the_seed_exactly() -> None:
    event = BreakerEvent(
        EventKind.OPENED,
        "secondary4",
        "gpt-4o-mini",
        "openai",
        epoch("2025-05-17T20:37:40.700Z"),
        failure_count=14,
        block_duration=960.0,
        retry_cycles=4,
    )
    assert event.text() == SEED_OPENED


def test_closed_text_matches_the_seed_exactly() -> None:
    event = BreakerEvent(EventKind.CLOSED, "secondary4", "gpt-4o-mini", "openai", epoch("2025-05-17T20:53:46.467Z"))
    assert event.text() == SEED_CLOSED


def test_other_labels_and_durations() -> None:
    half = BreakerEvent(EventKind.HALF_OPEN, "o", "m", "anthropic", epoch("2025-05-17T20:00:00Z"))
    assert (
        half.text() == "[Anthropic Service] Circuit Breaker HALF_OPEN\n- Org: o\n- Model: m\n"
        "- Time: 2025-05-17T20:00:00.000Z"
    )
    for seconds, shown in [(60, "1"), (120, "2"), (90, "1.5"), (30, "0.50")]:
        e = BreakerEvent(EventKind.OPENED, "o", "m", "openai", 0.0, 3, float(seconds), 0)
        assert f"- Block duration: {shown} minute(s)" in e.text()


def test_timestamp_milliseconds_are_exact() -> None:
    base = epoch("2025-05-17T20:37:40Z")
    for ms in range(1000):
        e = BreakerEvent(EventKind.CLOSED, "o", "m", "openai", base + ms / 1000)
        assert e.timestamp() == f"2025-05-17T20:37:40.{ms:03d}Z"


def test_router_alerts_once_per_transition() -> None:
    clock = ManualClock(T0)
    config = make_config(("a", "b"), params={"threshold": 3, "base_open_time": 60})
    client = ScriptedClient(clock, {"a": [SERVER, SERVER, SERVER, ok()]})
    notes = MemoryNotifier()
    router = make_router(config, client, clock, notifiers=[notes])
    for _ in range(10):
        router.send(chat())
    opened = [e for e in notes.events if e.kind is EventKind.OPENED]
    assert len(opened) == 1
    e = opened[0]
    assert (e.org, e.model, e.vendor, e.failure_count, e.block_duration, e.retry_cycles) == (
        "a",
        MODEL,
        "openai",
        3,
        60.0,
        0,
    )
    clock.advance(60)
    for _ in range(4):
        router.send(chat())
    assert [e.kind for e in notes.events] == [
        EventKind.OPENED,
        EventKind.HALF_OPEN,
        EventKind.CLOSED,
    ]


class Boom:
    def __init__(self) -> None:
        self.calls = 0

    def notify(self, event: Any) -> None:
        self.calls += 1
        raise RuntimeError("notifier down")


def _tripping_router(notifiers: list[Any]) -> tuple[Any, ScriptedClient]:
    clock = ManualClock(T0)
    config = make_config(("a", "b"), params={"threshold": 1})
    client = ScriptedClient(clock, {"a": SERVER})
    return make_router(config, client, clock, notifiers=notifiers), client


def test_raising_notifier_never_affects_a_request(caplog: pytest.LogCaptureFixture) -> None:
    boom, notes = Boom(), MemoryNotifier()
    router, _ = _tripping_router([boom, notes])
    results = [router.send(chat()) for _ in range(4)]
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    assert boom.calls == 1 and len(notes.events) == 1  # the next notifier still ran
    assert "notifier Boom failed: RuntimeError" in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(500, text="internal error"),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
    ],
)
def test_slack_failures_never_affect_a_request(answer: Any, caplog: pytest.LogCaptureFixture) -> None:
    url = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url)
        if isinstance(answer, Exception):
            route.side_effect = answer
        else:
            route.return_value = answer
        slack = SlackNotifier(url, httpx.Client())
        router, _ = _tripping_router([slack])
        results = [router.send(chat()) for _ in range(4)]
        assert slack.flush()
    assert all(r.outcome is Outcome.SUCCESS for r in results)
    assert route.call_count == 1
    posted = json.loads(route.calls[0].request.content)
    assert posted["text"].startswith("[Open AI Service] Circuit Breaker OPENED\n- Org: a\n")
    assert "SECRETTOKEN" not in caplog.text and "SECRETTOKEN" not in repr(slack)
    reason = "HTTP 500" if isinstance(answer, httpx.Response) else type(answer).__name__
    assert f"slack notifier failed: {reason}" in caplog.text


def test_slack_posts_the_text() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    slack = SlackNotifier("https://hooks.slack.test/x", httpx.Client(transport=httpx.MockTransport(handler)))
    event = BreakerEvent(
        EventKind.OPENED,
        "secondary4",
        "gpt-4o-mini",
        "openai",
        epoch("2025-05-17T20:37:40.700Z"),
        14,
        960.0,
        4,
    )
    notify_all([slack], event)
    assert slack.flush()
    assert json.loads(seen[0].content) == {"text": SEED_OPENED}


def test_a_hung_webhook_never_delays_the_caller() -> None:
    release = threading.Event()
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        release.wait(5)  # the webhook hangs until the test lets it go
        posted.append(json.loads(request.content)["text"])
        return httpx.Response(200, text="ok")

    slack = SlackNotifier("https://hooks.slack.test/x", httpx.Client(transport=httpx.MockTransport(handler)))
    event = BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0)
    slack.notify(event)  # returns at once although the webhook is hung
    assert posted == [] and not slack.flush(timeout=0.05)
    release.set()
    assert slack.flush() and posted == [event.text()]


def test_inline_mode_posts_before_returning() -> None:
    seen: list[httpx.Request] = []
    slack = SlackNotifier(
        "https://hooks.slack.test/x",
        httpx.Client(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200))),
        background=False,
    )
    slack.notify(BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0))
    assert len(seen) == 1


def test_the_webhook_never_reaches_a_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = "https://hooks.slack.com/services/T000/B000/SECRETTOKEN"
    slack = SlackNotifier(url, httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))),
                          background=False)
    slack.notify(BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0))
    assert any("https://hooks.slack.com/***" in r.getMessage() for r in caplog.records)  # httpx's line
    assert not any("SECRETTOKEN" in r.getMessage() for r in caplog.records)


def test_a_rate_limited_alert_is_retried_after_retry_after() -> None:
    answers = [httpx.Response(429, headers={"retry-after": "0"}), httpx.Response(429), httpx.Response(200)]
    posted: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content)["text"])
        return answers.pop(0)

    slack = SlackNotifier("https://hooks.slack.test/x", httpx.Client(transport=httpx.MockTransport(handler)),
                          max_wait=0.01)
    event = BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0)
    slack.notify(event)
    assert slack.flush() and posted == [event.text()] * 3 and answers == []


def test_a_forked_worker_posts_its_own_alerts() -> None:
    """A server that builds the router, then forks its workers (gunicorn --preload): threads do
    not survive a fork, so each process starts its own drain thread with its first alert."""
    import os

    posted: list[int] = []
    slack = SlackNotifier(
        "https://hooks.slack.test/x",
        httpx.Client(transport=httpx.MockTransport(lambda r: posted.append(os.getpid()) or httpx.Response(200))),
    )
    slack.notify(BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0))  # the parent's thread runs
    assert slack.flush()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            slack.notify(BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 1.0))
            ok = slack.flush(timeout=5) and posted[-1] == os.getpid()
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"


def test_logging_notifier_one_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    LoggingNotifier().notify(BreakerEvent(EventKind.CLOSED, "o", "m", "openai", 0.0))
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].getMessage() == (
        "[Open AI Service] Circuit Breaker CLOSED - Org: o - Model: m - Time: 1970-01-01T00:00:00.000Z"
    )
