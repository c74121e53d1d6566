"""Outcome classification against both vendors' wire formats (shared/vendor-wire-formats.md)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multiorg.outcomes import (
    Classification,
    Outcome,
    classify_exception,
    classify_response,
    parse_duration,
    retry_after_seconds,
)

NOW = 1_747_514_260.0  # 2025-05-17T20:37:40Z


def openai_body(code: str | None, type_: str, message: str) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_body(type_: str, message: str) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message}}


OPENAI_ROWS = [
    (
        429,
        openai_body(
            "rate_limit_exceeded",
            "requests",
            "Rate limit reached for gpt-4o-mini in organization org-abc on requests per min "
            "(RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.",
        ),
        Outcome.RATE_LIMITED,
    ),
    (
        429,
        openai_body(
            "insufficient_quota",
            "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        Outcome.QUOTA,
    ),
    (
        401,
        openai_body("invalid_api_key", "invalid_request_error", "Incorrect API key provided"),
        Outcome.AUTH,
    ),
    (
        401,
        openai_body("account_deactivated", "invalid_request_error", "This account has been deactivated"),
        Outcome.AUTH,
    ),
    (
        403,
        openai_body("unsupported_country_region_territory", "request_forbidden", "Country not supported"),
        Outcome.AUTH,
    ),
    (
        400,
        openai_body("context_length_exceeded", "invalid_request_error", "maximum context length"),
        Outcome.CLIENT_ERROR,
    ),
    (400, openai_body(None, "invalid_request_error", "bad param"), Outcome.CLIENT_ERROR),
    (
        404,
        openai_body("model_not_found", "invalid_request_error", "model does not exist"),
        Outcome.CLIENT_ERROR,
    ),
    (500, openai_body(None, "server_error", "The server had an error"), Outcome.SERVER),
    (502, openai_body(None, "server_error", "Bad gateway"), Outcome.SERVER),
    (503, openai_body(None, "server_error", "The server is overloaded"), Outcome.SERVER),
    (503, None, Outcome.SERVER),  # an HTML error page from a proxy: no JSON at all
]

ANTHROPIC_ROWS = [
    (
        400,
        anthropic_body("invalid_request_error", "messages: field required"),
        Outcome.CLIENT_ERROR,
    ),
    (
        400,
        anthropic_body(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
        ),
        Outcome.QUOTA,
    ),
    (401, anthropic_body("authentication_error", "invalid x-api-key"), Outcome.AUTH),
    (402, anthropic_body("billing_error", "payment required"), Outcome.QUOTA),
    (403, anthropic_body("permission_error", "not allowed"), Outcome.AUTH),
    (404, anthropic_body("not_found_error", "model not found"), Outcome.CLIENT_ERROR),
    (
        413,
        anthropic_body("request_too_large", "Request exceeds the maximum size"),
        Outcome.CLIENT_ERROR,
    ),
    (
        429,
        anthropic_body("rate_limit_error", "Number of request tokens has exceeded"),
        Outcome.RATE_LIMITED,
    ),
    (500, anthropic_body("api_error", "Internal server error"), Outcome.SERVER),
    (529, anthropic_body("overloaded_error", "Overloaded"), Outcome.SERVER),
]


@pytest.mark.parametrize(("status", "body", "expected"), OPENAI_ROWS)
def test_openai_rows(status: int, body: dict, expected: Outcome) -> None:
    c = classify_response(status, {}, body, now=NOW)
    assert c.outcome is expected
    assert c.status == status


@pytest.mark.parametrize(("status", "body", "expected"), ANTHROPIC_ROWS)
def test_anthropic_rows(status: int, body: dict, expected: Outcome) -> None:
    assert classify_response(status, {}, body, now=NOW).outcome is expected


def test_success_and_class_properties() -> None:
    c = classify_response(
        200,
        {
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-limit-requests": "5000",
            "x-ratelimit-remaining-tokens": "159976",
        },
        {"choices": []},
    )
    assert c == Classification(Outcome.SUCCESS, 200, None, 4999, 159976, "", 5000)
    assert Outcome.SUCCESS.ok and Outcome.SLOW.ok and not Outcome.SERVER.ok
    assert not Outcome.CLIENT_ERROR.org_fault and not Outcome.SLOW.org_fault
    assert all(
        o.org_fault
        for o in (
            Outcome.RATE_LIMITED,
            Outcome.QUOTA,
            Outcome.AUTH,
            Outcome.SERVER,
            Outcome.TIMEOUT,
            Outcome.CONNECTION,
        )
    )


def test_anthropic_remaining_headers() -> None:
    c = classify_response(
        200,
        {
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-tokens-remaining": "39000",
        },
        {},
    )
    assert (c.remaining_requests, c.limit_requests, c.remaining_tokens) == (49, 50, 39000)


def test_error_message_is_kept_short() -> None:
    c = classify_response(500, {}, openai_body(None, "server_error", "x" * 5000))
    assert c.message == "x" * 200


# --------------------------------------------------------------------------- retry times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20", 20.0),
        ("0.5", 0.5),
        ("12ms", 0.012),
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1h2m3.5s", 3723.5),
        ("250ms", 0.25),
        ("  7s ", 7.0),
        ("-3", 0.0),  # never negative
    ],
)
def test_parse_duration_relative(text: str, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [None, "", "   ", "abc", "6x", "1h2", "soon", "nan"])
def test_parse_duration_unreadable(text: str | None) -> None:
    assert parse_duration(text, now=NOW) is None


def test_parse_duration_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 30, tz=UTC)
    text = format_datetime(when, usegmt=True)  # "Sat, 17 May 2025 20:38:10 GMT"
    assert parse_duration(text, now=NOW) == pytest.approx(30.0)
    assert parse_duration(text) is None  # an absolute time means nothing without "now"
    assert parse_duration(text, now=NOW + 100) == 0.0  # already past: no wait, never negative


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-17T20:37:52.5Z", 12.5),
        ("2025-05-17T20:37:52.5+00:00", 12.5),
        ("2025-05-17T22:37:52.5+02:00", 12.5),
        # no offset: UTC, whatever the host's time zone
        ("2025-05-17T20:37:52.5", 12.5),
        ("2025-05-17T20:30:00Z", 0.0),
    ],
)
def test_parse_duration_rfc3339(text: str, expected: float) -> None:
    assert parse_duration(text, now=NOW) == pytest.approx(expected)


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"retry-after": "20"}, now=NOW) == 20.0
    assert retry_after_seconds({"retry-after-ms": "20000"}, now=NOW) == 20.0
    # retry-after-ms is the more precise instruction and wins
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "2"}, now=NOW) == 1.5
    # retry-after is the explicit instruction; reset headers are only the fallback
    assert retry_after_seconds({"retry-after": "3", "x-ratelimit-reset-requests": "6m0s"}, now=NOW) == 3.0
    assert (
        retry_after_seconds({"x-ratelimit-reset-requests": "120ms", "x-ratelimit-reset-tokens": "6m0s"}, now=NOW)
        == 360.0
    )
    assert retry_after_seconds(
        {"anthropic-ratelimit-requests-reset": "2025-05-17T20:38:00Z"}, now=NOW
    ) == pytest.approx(20.0)
    assert retry_after_seconds({"retry-after-ms": "junk", "retry-after": "4"}, now=NOW) == 4.0
    assert retry_after_seconds({}, now=NOW) is None
    assert retry_after_seconds({"retry-after": "whenever"}, now=NOW) is None


def test_retry_after_reaches_the_classification() -> None:
    body = openai_body("rate_limit_exceeded", "requests", "slow down")
    c = classify_response(429, {"retry-after": "20", "x-ratelimit-remaining-requests": "0"}, body, now=NOW)
    assert (c.outcome, c.retry_after, c.remaining_requests) == (Outcome.RATE_LIMITED, 20.0, 0)
    c = classify_response(429, httpx.Headers({"Retry-After-Ms": "250"}), body, now=NOW)
    assert c.retry_after == 0.25  # case-insensitive headers as httpx hands them over
    anthropic = classify_response(429, {"retry-after": "7"}, anthropic_body("rate_limit_error", "slow down"), now=NOW)
    assert anthropic.retry_after == 7.0
    # quota does not clear by waiting: no retry time even when a header is present
    quota = classify_response(
        429,
        {"retry-after": "20"},
        openai_body("insufficient_quota", "insufficient_quota", "You exceeded your current quota"),
        now=NOW,
    )
    assert (quota.outcome, quota.retry_after) == (Outcome.QUOTA, None)


# --------------------------------------------------------------------------- exceptions and slow


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ReadTimeout("t"), Outcome.TIMEOUT),
        (httpx.ConnectTimeout("t"), Outcome.TIMEOUT),
        (httpx.PoolTimeout("t"), Outcome.TIMEOUT),
        (TimeoutError(), Outcome.TIMEOUT),
        (httpx.ConnectError("refused"), Outcome.CONNECTION),
        (httpx.RemoteProtocolError("peer closed connection"), Outcome.CONNECTION),
        (httpx.ReadError("reset"), Outcome.CONNECTION),
        (ConnectionResetError(), Outcome.CONNECTION),
    ],
)
def test_classify_exception(exc: BaseException, expected: Outcome) -> None:
    c = classify_exception(exc)
    assert (c.outcome, c.status) == (expected, 0)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyError("k"), KeyboardInterrupt()])
def test_other_exceptions_are_reraised(exc: BaseException) -> None:
    with pytest.raises(type(exc)):
        classify_exception(exc)


def test_slow_by_threshold() -> None:
    def cls(latency: float | None, threshold: float | None) -> Outcome:
        return classify_response(200, {}, {}, latency=latency, slow_threshold=threshold).outcome

    assert cls(2.5, 2.0) is Outcome.SLOW
    assert cls(2.0, 2.0) is Outcome.SUCCESS  # strictly slower than the threshold
    assert cls(1.0, 2.0) is Outcome.SUCCESS
    assert cls(100.0, None) is Outcome.SUCCESS
    assert cls(None, 2.0) is Outcome.SUCCESS
    # slowness only qualifies a success; a slow failure is the failure
    assert classify_response(500, {}, None, latency=9.0, slow_threshold=1.0).outcome is Outcome.SERVER


# --------------------------------------------------------------------------- properties

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
error_bodies = st.fixed_dictionaries(
    {"error": st.dictionaries(st.sampled_from(["type", "code", "message", "param"]), json_values)}
) | st.fixed_dictionaries({"type": st.just("error"), "error": json_values})
HEADER_NAMES = [
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-limit-requests",
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-limit",
    "anthropic-ratelimit-tokens-remaining",
]
header_values = st.one_of(
    st.text(max_size=30),
    st.floats().map(str),
    st.integers().map(str),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(1900, 1, 1)).map(lambda d: format_datetime(d.replace(tzinfo=UTC), usegmt=True)),
    st.sampled_from(["inf", "-inf", "nan", "1e400", "6m0s", "1h2m3.5s", "0001-01-01", "Z"]),
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES) | st.text(max_size=10), header_values, max_size=6)
nows = st.none() | st.floats(min_value=0, max_value=4e9)


@settings(max_examples=400, deadline=None)
@given(
    status=st.integers(min_value=-10, max_value=1000),
    headers=headers,
    body=json_values | error_bodies,
    now=nows,
    latency=st.none() | st.floats(allow_nan=False),
    threshold=st.none() | st.floats(min_value=0, allow_nan=False),
)
def test_classify_response_never_raises(status, headers, body, now, latency, threshold) -> None:
    c = classify_response(status, headers, body, now=now, latency=latency, slow_threshold=threshold)
    assert isinstance(c.outcome, Outcome)
    assert c.retry_after is None or c.retry_after >= 0.0
    assert c.retry_after is None or c.outcome is Outcome.RATE_LIMITED
    assert len(c.message) <= 200


@settings(max_examples=400, deadline=None)
@given(text=st.none() | header_values, now=nows)
def test_parse_duration_never_raises_never_negative(text, now) -> None:
    d = parse_duration(text, now=now)
    assert d is None or (d >= 0.0 and not math.isnan(d))
    r = retry_after_seconds({} if text is None else {"retry-after": text, "retry-after-ms": text}, now=now)
    assert r is None or (r >= 0.0 and not math.isnan(r))
