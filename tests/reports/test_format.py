"""reports.format: every human-readable figure, one function per kind."""

from __future__ import annotations

import math

import pytest

from multiorg.units import seconds
from reports.format import (
    duration_unit,
    fmt_clock,
    fmt_count,
    fmt_duration,
    fmt_param,
    fmt_rate,
    fmt_ratio,
    fmt_stat,
    format_metric,
)
from reports.schema import Stat


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (0.99, "99.00 %"),
        (0.999, "99.90 %"),
        (0.99987, "99.987 %"),
        (0.5, "50.00 %"),
        (0.999999, "99.9999 %"),  # at most four decimals
        (1.0, "100 %"),
        (0.0, "0 %"),
        (None, "\u2013"),
    ],
)
def test_rate_shows_its_nines(v, text):
    assert fmt_rate(v) == text


def test_rate_extra_digit():
    assert fmt_rate(0.99896) == "99.90 %"
    assert fmt_rate(0.99896, extra=1) == "99.896 %"


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (0.85, "850 ms"),
        (1.0, "1.0 s"),
        (90, "90.0 s"),
        (119.9, "119.9 s"),
        (150, "2.5 min"),
        (7200, "2.0 h"),
        (3 * 86400, "3.0 d"),
        (-90, "-90.0 s"),
        (None, "never"),
    ],
)
def test_duration_picks_its_unit(v, text):
    assert fmt_duration(v) == text


def test_duration_never_and_extra():
    assert fmt_duration(None, never="n/a") == "n/a"
    assert fmt_duration(90, extra=1) == "90.00 s"
    assert fmt_duration(0.8512, extra=1) == "851.2 ms"


@pytest.mark.parametrize(
    ("v", "text"),
    [(0.25, "250 ms"), (90, "90 s"), (300, "5 min"), (5400, "90 min"), (9000, "2.5 h"), (1e9, "11,574 d")],
)
def test_duration_compact(v, text):
    assert fmt_duration(v, compact=True) == text


@pytest.mark.parametrize(
    ("v", "text"),
    [(90, "1m30s"), (0.25, "250ms"), (1.5, "1.5s"), (0, "0s"), (3600, "1h"), (183600, "2d3h"), (45, "45s")],
)
def test_duration_spec_reads_back(v, text):
    assert fmt_duration(v, spec=True) == text
    assert seconds(text) == v


def test_duration_spec_not_finite():
    assert fmt_duration(math.inf, spec=True) == "inf"


def test_duration_unit_matches_the_text():
    for v in (0.5, 5, 300, 3 * 3600, 5 * 86400):
        size, symbol = duration_unit(v)
        assert fmt_duration(v).endswith(f" {symbol}")
        assert fmt_duration(v, compact=True) == f"{v / size:.3g} {symbol}"


@pytest.mark.parametrize(
    ("v", "text"), [(2373, "2,373"), (12.0, "12"), (12.34, "12.3"), (1234.5, "1,234"), (None, "\u2013")]
)
def test_count(v, text):
    assert fmt_count(v) == text


def test_ratio_and_clock():
    assert fmt_ratio(1.0061) == "1.006"
    assert fmt_ratio(None) == "\u2013"
    assert fmt_clock(3600) == "01:00"
    assert fmt_clock(86400 + 7200 + 5) == "d1 02:00:05"


@pytest.mark.parametrize(
    ("v", "text"),
    [(True, "true"), (0.25, "0.25"), (3, "3"), ("fast", "fast"), ([1, 2.5], "1+2.5"), (1 / 3, "0.333333")],
)
def test_param(v, text):
    assert fmt_param(v) == text


def test_param_digits():
    assert fmt_param(2.142857, 4) == "2.143"


@pytest.mark.parametrize(
    ("v", "text"),
    [
        (None, "null"),
        (["quota", "auth"], "[quota, auth]"),
        ([], "[]"),
        (frozenset({"server", "auth", "quota"}), "[auth, quota, server]"),
        ([0.5, None, True], "[0.5, null, true]"),
    ],
)
def test_param_flow(v, text):
    """A scenario file's spelling: YAML flow lists, null; a set in a stable (sorted) order."""
    assert fmt_param(v, flow=True) == text


def test_param_set_without_flow_is_sorted():
    assert fmt_param({"b", "a"}) == "a+b"
    assert fmt_param(None) == "null"


def test_stat_interval_and_never():
    st = Stat(mean=0.995, ci_low=0.993, ci_high=0.997, n=3, n_none=0, values=[0.993, 0.995, 0.997])
    assert fmt_stat(st, "rate") == "99.50 % ± 0.20 pp"
    fo = Stat(mean=90.0, ci_low=80.0, ci_high=100.0, n=3, n_none=1, values=[80.0, 100.0, None])
    assert fmt_stat(fo, "duration") == "90.0 s ± 10.0 s (never in 1/3)"
    never = Stat(mean=None, ci_low=None, ci_high=None, n=2, n_none=2, values=[None, None])
    assert fmt_stat(never, "duration") == "never"
    empty = Stat(mean=None, ci_low=None, ci_high=None, n=0, n_none=0, values=[])
    assert fmt_stat(empty, "count") == "\u2013"


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("success_rate", 0.99896, "99.896 %"),
        ("failover_time", 2856.0, "47.60 min"),
        ("p99_latency", 13.3, "13.30 s"),
        ("retry_amplification", 1.0061, "1.006"),
        ("wasted_attempts", 2373, "2,373"),
        ("failover_time", None, "never"),
        ("wasted_attempts", None, "\u2013"),
    ],
)
def test_format_metric_precise(metric, value, text):
    assert format_metric(metric, value, precise=True) == text
