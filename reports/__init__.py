"""Reports: metrics from simulation traces, comparison charts, and HTML/Markdown/JSON reports.

Public API::

    from reports import write_report, report_from_dir, compute_results, evaluate_slo

    paths = write_report({"exponential": [trace_seed0, trace_seed1], "none": [...]}, "report/")
    paths.html, paths.markdown, paths.json, paths.charts   # report.html, summary.md, results.json
    report_from_dir("report/")                              # re-render from report/traces/*.npz

Metric definitions: :mod:`reports.metrics`; the results.json schema: :mod:`reports.schema`
(published as ``reports/results.schema.json``); charts: :mod:`reports.charts`; output layout:
:mod:`reports.render`; traces on disk: :mod:`reports.trace_dir`.
"""

from __future__ import annotations

from .metrics import (
    SloCheck,
    TraceMetrics,
    compute_results,
    evaluate_slo,
    stat,
    summarize_policy,
    timeseries,
    trace_metrics,
)
from .render import ReportPaths, report_from_dir, write_report
from .schema import SCHEMA_VERSION, Results
from .trace_dir import load_traces, save_traces

__all__ = [
    "SCHEMA_VERSION",
    "ReportPaths",
    "Results",
    "SloCheck",
    "TraceMetrics",
    "compute_results",
    "evaluate_slo",
    "load_traces",
    "report_from_dir",
    "save_traces",
    "stat",
    "summarize_policy",
    "timeseries",
    "trace_metrics",
    "write_report",
]
