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
import os
import queue
import re
import threading
import time
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


#: any Slack webhook path, whatever the host (hooks.slack.com, hooks.slack-gov.com, a proxy)
_WEBHOOK_PATH = re.compile(r"(/services/)[^\s\"'?#]+")


class _HideWebhooks(logging.Filter):
    """httpx and httpcore log request URLs; a webhook's path is its secret. Every URL a notifier was
    given is redacted to its scheme and host, whatever the host, plus any ``/services/…`` path."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        hidden = text
        for url in self.urls:
            if url in hidden:
                hidden = hidden.replace(url, _shown(url))
        hidden = _WEBHOOK_PATH.sub(r"\1***", hidden)
        if hidden != text:
            record.msg, record.args = hidden, ()
        return True


def _shown(url: str) -> str:
    """``https://host/***``: where alerts go, not the secret path."""
    try:
        parsed = httpx.URL(url)
    except Exception:  # not a URL httpx can parse: show nothing of it
        return "***"
    return f"{parsed.scheme}://{parsed.host}/***"


_HIDE_WEBHOOKS = _HideWebhooks()
#: the loggers that may print a request URL (a filter on a logger sees its own records only)
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy")


class SlackNotifier:
    """Posts the alert text to a Slack incoming webhook. Errors are logged, never raised.

    With ``background=True`` (the default) posts happen on one daemon thread fed by a bounded
    queue, so a slow or hung webhook never delays a request; when the queue is full the alert is
    dropped with a warning. The thread starts with the first alert of each process (a server that
    forks its workers after building the router gets one per worker). A 429 is retried after its
    ``Retry-After`` (at most ``max_retries`` times, waits capped at ``max_wait`` s): alerts come in
    bursts exactly when Slack limits them. ``background=False`` posts inline (tests, scripts),
    without retries. The webhook URL never reaches a log, httpx's included.
    """

    def __init__(
        self,
        webhook_url: str,
        client: httpx.Client | None = None,
        timeout: float = 2.0,
        *,
        background: bool = True,
        queue_size: int = 1000,
        max_retries: int = 3,
        max_wait: float = 30.0,
    ) -> None:
        self._url = webhook_url
        self._timeout = timeout
        self._client = client or httpx.Client(timeout=timeout)
        self._background = background
        self._queue_size = queue_size
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._queue: queue.Queue[BreakerEvent] | None = None
        self._pid = -1  # the process whose drain thread feeds on _queue
        self._start_lock = threading.Lock()
        _HIDE_WEBHOOKS.urls.add(webhook_url)
        for name in _HTTP_LOGGERS:
            logger = logging.getLogger(name)
            if _HIDE_WEBHOOKS not in logger.filters:
                logger.addFilter(_HIDE_WEBHOOKS)

    def __repr__(self) -> str:  # the webhook URL is a secret
        return "SlackNotifier(webhook=***)"

    def _started(self) -> queue.Queue[BreakerEvent]:
        """This process's queue, its drain thread started (threads do not survive a fork)."""
        q = self._queue
        if q is not None and self._pid == os.getpid():
            return q
        with self._start_lock:
            if self._queue is None or self._pid != os.getpid():
                self._queue = queue.Queue(maxsize=self._queue_size)
                self._pid = os.getpid()
                threading.Thread(target=self._drain, args=(self._queue,), name="multiorg-slack", daemon=True).start()
            return self._queue

    def notify(self, event: BreakerEvent) -> None:
        if not self._background:
            self._post(event)
            return
        try:
            self._started().put_nowait(event)
        except queue.Full:
            log.warning("slack notifier queue full: alert dropped")

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until queued alerts are posted (True) or ``timeout`` seconds pass (False)."""
        if not self._background or self._queue is None or self._pid != os.getpid():
            return True
        queue_ = self._queue
        done = threading.Event()

        def join() -> None:
            queue_.join()
            done.set()

        threading.Thread(target=join, daemon=True).start()
        return done.wait(timeout)

    def _drain(self, q: queue.Queue[BreakerEvent]) -> None:
        while True:
            event = q.get()
            try:
                self._post(event, retries=self._max_retries)
            finally:
                q.task_done()

    def _post(self, event: BreakerEvent, retries: int = 0) -> None:
        for attempt in range(retries + 1):
            try:
                resp = self._client.post(self._url, json={"text": event.text()}, timeout=self._timeout)
            except Exception as e:  # a broken webhook must never break a request
                log.warning("slack notifier failed: %s", type(e).__name__)
                return
            if resp.status_code == 429 and attempt < retries:
                time.sleep(min(self._max_wait, _retry_after(resp.headers.get("retry-after"))))
                continue
            if resp.status_code >= 300:
                log.warning("slack notifier failed: HTTP %d", resp.status_code)
            return


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value is not None else 1.0
    except ValueError:
        return 1.0


def notify_all(notifiers: Iterable[Notifier], event: BreakerEvent) -> None:
    for n in notifiers:
        try:
            n.notify(event)
        except Exception as e:
            log.warning("notifier %s failed: %s", type(n).__name__, type(e).__name__)
