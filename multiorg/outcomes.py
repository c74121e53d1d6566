"""Outcome classification: vendor status, headers, error body or exception → one outcome class.

The classes are those of the design contract. The vendors' wire formats are understood
(OpenAI chat.completions, Azure OpenAI's variant of it, and Anthropic messages); the rules are
data-driven so that the mocked vendors in tests and the real APIs are read by exactly the same code.

Azure OpenAI: a 429 (``{"error": {"code": "429", "message": "… Please retry after N seconds …"}}``
with ``retry-after-ms`` / ``retry-after`` and ``x-ratelimit-remaining-*``) is ``rate_limited``;
its content filter — a 400 with code ``content_filter`` on the prompt, or a 200 whose
``finish_reason`` is ``content_filter`` on the completion — is the caller's fault
(``client_error``): the deployment is healthy and every other deployment would filter it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, NamedTuple

import httpx

from .units import seconds


class Outcome(StrEnum):
    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    AUTH = "auth"
    SERVER = "server"
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    CLIENT_ERROR = "client_error"
    SLOW = "slow"

    @property
    def ok(self) -> bool:
        """The caller got an answer (2xx), slow or not."""
        return self is Outcome.SUCCESS or self is Outcome.SLOW

    @property
    def org_fault(self) -> bool:
        """The org (not the caller) is to blame: may count against it and may be retried elsewhere."""
        return self in ORG_FAULTS


#: the org-fault outcomes: what counts against an org (breaker policies default to these)
ORG_FAULTS: frozenset[Outcome] = frozenset(
    {
        Outcome.RATE_LIMITED,
        Outcome.QUOTA,
        Outcome.AUTH,
        Outcome.SERVER,
        Outcome.TIMEOUT,
        Outcome.CONNECTION,
    }
)

# Members as module constants for the hot paths: ``Outcome.X`` is a class-attribute lookup that
# goes through the enum metaclass (several times the cost of a global).
_SUCCESS = Outcome.SUCCESS
_SLOW = Outcome.SLOW
_new = tuple.__new__

#: Stable small integers for columnar traces; the order never changes (append only).
OUTCOME_CODES: dict[Outcome, int] = {o: i for i, o in enumerate(Outcome)}
OUTCOMES_BY_CODE: tuple[Outcome, ...] = tuple(Outcome)


class Classification(NamedTuple):
    """What one attempt told us about the org that served it.

    A NamedTuple rather than a frozen dataclass: one is built per attempt on the hot path, and a
    tuple is several times cheaper to construct while just as immutable.
    """

    outcome: Outcome
    status: int = 0
    #: seconds to wait before this org may serve this model again (429), if the vendor said
    retry_after: float | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    message: str = ""
    #: the request limit the vendor reported with ``remaining_requests`` (headroom = remaining/limit)
    limit_requests: int | None = None


# --------------------------------------------------------------------------- durations

def parse_duration(text: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a vendor's reset/retry value, or ``None`` when unreadable.

    Understands plain seconds (``"20"``, ``"0.5"``), Go-style durations as OpenAI sends them
    (``"12ms"``, ``"1s"``, ``"6m0s"``, ``"1h2m3.5s"``), and absolute times — an HTTP date
    (``retry-after``) or RFC 3339 (Anthropic's ``*-reset``) — relative to ``now`` (epoch s).
    Never negative.
    """
    if text is None:
        return None
    s = text.strip()
    if not s:
        return None
    try:
        wait = float(seconds(s))
    except ValueError:
        pass
    else:
        return max(0.0, wait) if wait == wait else None  # NaN is unreadable
    if now is None:
        return None
    when = _parse_absolute(s)
    if when is None:
        return None
    return max(0.0, when - now)


def _parse_absolute(s: str) -> float | None:
    # A time without an offset is UTC (never the host's local zone: decisions must not depend
    # on where the router runs); dates out of range are unreadable, not an error.
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def _int_value(v: str | None) -> int | None:
    """A counter header's value that ``int()`` refused: "12.0" → 12; "abc", "nan", "inf" → None."""
    try:
        return int(float(v))  # type: ignore[arg-type]  # None never gets here: int(None) is a TypeError
    except (ValueError, OverflowError):
        return None


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None) -> float | None:
    """The longest wait the vendor asked for, from every header either vendor uses."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            wait = float(ms) / 1000.0
        except ValueError:
            wait = math.nan
        if wait == wait:  # not NaN
            return max(0.0, wait)
    waits = [
        parse_duration(headers.get(name), now=now)
        for name in (
            "retry-after",
            "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens",
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-tokens-reset",
        )
        if name in headers
    ]
    known = [w for w in waits if w is not None]
    if not known:
        return None
    if "retry-after" in headers:
        # retry-after is the vendor's explicit instruction; the reset headers are a fallback.
        first = parse_duration(headers.get("retry-after"), now=now)
        if first is not None:
            return first
    return max(known)


# --------------------------------------------------------------------------- bodies

_LOW_CREDIT = "credit balance is too low"
#: Azure's content filter: the error code of a filtered prompt, the finish_reason of a filtered answer
CONTENT_FILTER = "content_filter"
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
_AUTH_CODES = frozenset(
    {"invalid_api_key", "account_deactivated", "invalid_organization", "unsupported_country_region_territory"}
)


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(type, code, message) from either vendor's error body; empty strings when absent."""
    if not isinstance(body, Mapping):
        return "", "", ""
    err = body.get("error")
    if not isinstance(err, Mapping):
        return "", "", ""
    etype = err.get("type") or ""
    code = err.get("code") or ""
    msg = err.get("message") or ""
    return (str(etype), str(code), str(msg))


def classify_response(
    status: int,
    headers: Mapping[str, str],
    body: Any,
    *,
    now: float | None = None,
    latency: float | None = None,
    slow_threshold: float | None = None,
) -> Classification:
    """Classify one vendor answer. ``headers`` keys are lower-case; ``body`` is decoded JSON."""
    # Every answer is read here, so each counter header is looked up once and parsed inline
    # (int() in a try; the slow path only for values like "12.0" or garbage).
    get = headers.get
    rr = get("x-ratelimit-remaining-requests")
    rt = get("x-ratelimit-remaining-tokens")
    if rr is not None or rt is not None:
        limit_name = "x-ratelimit-limit-requests"
    else:
        rr = get("anthropic-ratelimit-requests-remaining")
        rt = get("anthropic-ratelimit-tokens-remaining")
        limit_name = "anthropic-ratelimit-requests-limit"
    try:
        remaining_r = None if rr is None else int(rr)
    except ValueError:
        remaining_r = _int_value(rr)
    try:
        remaining_t = None if rt is None else int(rt)
    except ValueError:
        remaining_t = _int_value(rt)
    limit_r = None
    if remaining_r is not None:
        lr = get(limit_name)
        try:
            limit_r = None if lr is None else int(lr)
        except ValueError:
            limit_r = _int_value(lr)

    if 200 <= status < 300:
        choices = body.get("choices") if type(body) is dict else None
        if choices:
            try:  # (a try costs nothing when it does not raise: the hot path of every success)
                filtered = choices[0].get("finish_reason") == CONTENT_FILTER
            except (AttributeError, KeyError, IndexError, TypeError):  # not a chat.completion's shape
                filtered = False
            if filtered:
                # the completion was withheld: the caller got no answer, and it is the content's doing
                return Classification(Outcome.CLIENT_ERROR, status, None, remaining_r, remaining_t,
                                      "finish_reason: content_filter", limit_r)
        slow = slow_threshold is not None and latency is not None and latency > slow_threshold
        # tuple.__new__: a NamedTuple's generated __new__ is a Python-level call (every success)
        return _new(Classification, (_SLOW if slow else _SUCCESS, status, None, remaining_r, remaining_t, "", limit_r))

    etype, code, msg = _error_fields(body)
    outcome = _classify_error(status, etype, code, msg)
    retry_after = retry_after_seconds(headers, now=now) if outcome is Outcome.RATE_LIMITED else None
    return Classification(outcome, status, retry_after, remaining_r, remaining_t, msg[:200], limit_r)


def _classify_error(status: int, etype: str, code: str, msg: str) -> Outcome:
    if code == CONTENT_FILTER:  # the prompt's fault, whatever the status says
        return Outcome.CLIENT_ERROR
    lowered = msg.lower()
    if status == 429:
        if code in _QUOTA_CODES or etype in _QUOTA_CODES or "exceeded your current quota" in lowered:
            return Outcome.QUOTA
        return Outcome.RATE_LIMITED
    if status == 402 or etype == "billing_error" or code in _QUOTA_CODES:
        return Outcome.QUOTA
    if status == 400 and _LOW_CREDIT in lowered:
        return Outcome.QUOTA
    if status in (401, 403) or etype in ("authentication_error", "permission_error") or code in _AUTH_CODES:
        return Outcome.AUTH
    if status == 408:
        return Outcome.TIMEOUT
    if status >= 500:
        return Outcome.SERVER
    return Outcome.CLIENT_ERROR


def classify_exception(exc: BaseException) -> Classification:
    """Transport-level failures: timeouts and connection errors. Anything else is re-raised."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
        return Classification(Outcome.TIMEOUT, 0, None, None, None, name)
    if isinstance(exc, (httpx.TransportError, ConnectionError, OSError)):
        return Classification(Outcome.CONNECTION, 0, None, None, None, name)
    raise exc
