"""Breaker alerts: OPENED / HALF_OPEN / CLOSED events and where they go.

The message mirrors the seed's Slack alert::

    [Open AI Service] Circuit Breaker OPENED
    - Org: secondary4
    - Model: gpt-4o-mini
    - Failure count: 14
    - Block duration: 16 minute(s)
    - Retry cycles: 4
    - Time: 2025-05-17T20:37:40.700Z

A notifier's failure never affects requests: :class:`BreakerBoard` calls :func:`notify_all`,
which logs and swallows notifier errors.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

import httpx

log = logging.getLogger("multiorg.alerts")

VENDOR_LABELS = {"openai": "Open AI Service", "anthropic": "Anthropic Service"}


class EventKind(StrEnum):
    OPENED = "OPENED"
    HALF_OPEN = "HALF_OPEN"
    CLOSED = "CLOSED"


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    kind: EventKind
    org: str
    model: str
    vendor: str
    time: float
    failure_count: int = 0
    block_duration: float = 0.0
    retry_cycles: int = 0
    pod: str = ""

    def timestamp(self) -> str:
        dt = datetime.fromtimestamp(self.time, tz=UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    def text(self) -> str:
        """The alert as the seed's Slack message."""
        label = VENDOR_LABELS.get(self.vendor, self.vendor)
        lines = [f"[{label}] Circuit Breaker {self.kind.value}", f"- Org: {self.org}", f"- Model: {self.model}"]
        if self.kind is EventKind.OPENED:
            minutes = self.block_duration / 60.0
            shown = f"{minutes:g}" if minutes >= 1 else f"{minutes:.2f}"
            lines += [
                f"- Failure count: {self.failure_count}",
                f"- Block duration: {shown} minute(s)",
                f"- Retry cycles: {self.retry_cycles}",
            ]
        lines.append(f"- Time: {self.timestamp()}")
        return "\n".join(lines)


class Notifier(Protocol):
    def notify(self, event: BreakerEvent) -> None: ...


class LoggingNotifier:
    def __init__(self, logger: logging.Logger | None = None, level: int = logging.WARNING) -> None:
        self.logger = logger or log
        self.level = level

    def notify(self, event: BreakerEvent) -> None:
        self.logger.log(self.level, "%s", event.text().replace("\n", " "))


class MemoryNotifier:
    """Collects events in a list (tests, traces, dashboards)."""

    def __init__(self) -> None:
        self.events: list[BreakerEvent] = []

    def notify(self, event: BreakerEvent) -> None:
        self.events.append(event)


class SlackNotifier:
    """Posts the alert text to a Slack incoming webhook. Errors are logged, never raised.

    With ``background=True`` (the default) posts happen on one daemon thread fed by a bounded
    queue, so a slow or hung webhook never delays a request; when the queue is full the alert is
    dropped with a warning. ``background=False`` posts inline (tests, scripts).
    """

    def __init__(
        self,
        webhook_url: str,
        client: httpx.Client | None = None,
        timeout: float = 2.0,
        *,
        background: bool = True,
        queue_size: int = 1000,
    ) -> None:
        self._url = webhook_url
        self._timeout = timeout
        self._client = client or httpx.Client(timeout=timeout)
        self._queue: queue.Queue[BreakerEvent] | None = None
        if background:
            self._queue = queue.Queue(maxsize=queue_size)
            threading.Thread(target=self._drain, name="multiorg-slack", daemon=True).start()

    def __repr__(self) -> str:  # the webhook URL is a secret
        return "SlackNotifier(webhook=***)"

    def notify(self, event: BreakerEvent) -> None:
        if self._queue is None:
            self._post(event)
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("slack notifier queue full: alert dropped")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued alerts are posted (True) or ``timeout`` seconds pass (False)."""
        if self._queue is None:
            return True
        queue_ = self._queue
        done = threading.Event()

        def join() -> None:
            queue_.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)

    def _drain(self) -> None:
        q = self._queue
        assert q is not None
        while True:
            event = q.get()
            try:
                self._post(event)
            finally:
                q.task_done()

    def _post(self, event: BreakerEvent) -> None:
        try:
            resp = self._client.post(self._url, json={"text": event.text()}, timeout=self._timeout)
        except Exception as e:  # a broken webhook must never break a request
            log.warning("slack notifier failed: %s", type(e).__name__)
            return
        if resp.status_code >= 300:
            log.warning("slack notifier failed: HTTP %d", resp.status_code)


def notify_all(notifiers: Iterable[Notifier], event: BreakerEvent) -> None:
    for n in notifiers:
        try:
            n.notify(event)
        except Exception as e:
            log.warning("notifier %s failed: %s", type(n).__name__, type(e).__name__)
