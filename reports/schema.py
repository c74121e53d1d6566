"""The ``results.json`` schema: pydantic models, published as ``reports/results.schema.json``.

``results.json`` is the machine-readable outcome of a comparison: one scenario, one or more
policies, one or more seeds per policy. Every number is a :class:`Stat` — the per-seed values
plus their mean and a 95 % t-interval — so one run and a 20-seed sweep read the same way.

Units: times are **seconds** (sim time: seconds since the start of the run; durations: seconds),
rates are **fractions** in [0, 1] (0.999 = 99.9 %), counts are counts per run (mean over seeds).

Versioning: ``schema_version`` is ``MAJOR.MINOR``. A new optional field bumps MINOR; renaming,
removing or changing the meaning of a field bumps MAJOR. Readers should check MAJOR.

Regenerate the published schema after editing a model::

    python -c "from reports.schema import write_schema; write_schema()"

(``tests/reports`` fails when the file and the models disagree.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Final = "1.1"
SCHEMA_ID = "https://breakerlab.dev/schemas/results-1.json"
SCHEMA_PATH = Path(__file__).with_name("results.schema.json")


#: an org fault's shape: the target can serve nothing (hard) or still serves some (partial)
Shape = Literal["hard", "partial"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Stat(_Model):
    """One metric over seeds: per-seed values, their mean and a two-sided 95 % t-interval."""

    mean: float | None = Field(description="mean over the seeds whose value is defined; null when none is")
    ci_low: float | None = Field(
        description="lower end of the 95 % t-interval of the mean; null with fewer than 2 values"
    )
    ci_high: float | None = Field(description="upper end of the 95 % t-interval of the mean")
    n: int = Field(ge=0, description="number of seeds")
    n_none: int = Field(
        ge=0,
        description="seeds where the value is undefined: 'never' for durations (no failover, no "
        "detection, no recovery), 'no data' for rates of an empty phase",
    )
    values: list[float | None] = Field(description="the value of each seed, in seed order")


class PhaseResult(_Model):
    """User-facing numbers for the requests that arrived in one time window."""

    start: float = Field(description="window start, sim seconds")
    end: float = Field(description="window end (exclusive), sim seconds")
    requests: Stat = Field(description="user requests that arrived in the window")
    failed_requests: Stat = Field(description="of those, requests that did not end 2xx")
    success_rate: Stat = Field(description="requests that ended 2xx (success or slow) / requests")
    sessions: Stat = Field(
        description="user sessions that started in the window; a request outside any fan-out "
        "session (session id -1) is a session of its own"
    )
    failed_sessions: Stat = Field(description="sessions with at least one failed request")
    session_success_rate: Stat = Field(description="sessions whose requests all ended 2xx / sessions")
    no_org_failures: Stat = Field(description="requests that failed because no org was available")
    attempts: Stat = Field(description="attempts made for the window's requests (probes included)")
    retry_amplification: Stat = Field(description="attempts / requests")
    latency_p50: Stat = Field(description="user latency (end - arrival, all requests), median, s")
    latency_p95: Stat = Field(description="user latency 95th percentile, s")
    latency_p99: Stat = Field(description="user latency 99th percentile, s")
    traffic_share: dict[str, Stat] = Field(description="per org: share of the attempts that started in the window")


class FaultInfo(_Model):
    """One injected fault, as the scenario declared it."""

    index: int = Field(ge=0, description="position in the scenario's fault list")
    label: str
    kind: str
    target: str = Field(description="an org name, a vendor name (all its orgs), '*', 'store' or a pod")
    start: float = Field(description="onset, sim seconds")
    end: float = Field(description="end of the window, sim seconds (clipped to the run)")
    orgs: list[str] = Field(description="the orgs the target resolves to (empty: not an org fault)")
    org_fault: bool = Field(description="whether org metrics apply (failover, detection, recovery, wasted attempts)")
    shape: Shape | None = Field(
        default=None,
        description="hard: the target can serve nothing (lockout, outage, every call failing or throttled); "
        "partial: an error rate below 100 %, slowness, latency divergence, flapping; null: not an org fault "
        "(since 1.1)",
    )


class FaultResult(_Model):
    """What one fault did to one policy. Org metrics are null when the fault is no org fault."""

    index: int = Field(ge=0, description="the fault's index in ``faults``")
    label: str
    org_fault: bool = Field(description="whether the org metrics apply (else they are null)")
    ends_in_run: bool = Field(description="whether the fault ends before the run does")
    shape: Shape | None = Field(
        default=None, description="hard | partial (see FaultInfo.shape); null: not an org fault (since 1.1)"
    )
    failover_time_max: Stat = Field(
        description="onset → the moment after which the target gets no more regular (non-probe) "
        "attempts until the fault ends; per pod, then the max over pods; null = never"
    )
    failover_time_median: Stat = Field(description="the same, median over pods; null = never")
    failover_time_by_pod: dict[str, Stat] = Field(description="per pod (key: pod index) failover time; null = never")
    detection_time: Stat = Field(
        description="onset → first OPENED event on a target org (any pod, any model); null = never"
    )
    recovery_time: Stat = Field(
        description="fault end → start of the first successful regular attempt on a target org; "
        "null = none before the run ended"
    )
    close_time: Stat = Field(
        description="fault end → every breaker of a target org is closed; null = not before the run ended"
    )
    user_visible_failures: Stat = Field(
        description="requests that failed (not 2xx, not client_error) and either made an attempt "
        "on a target org that started in the window, or arrived in the window and found no org "
        "available. For non-org faults: failed requests that arrived in the window (of the pod, "
        "for a pod fault)"
    )
    failed_in_window: Stat = Field(description="all failed requests that arrived in the window")
    wasted_attempts: Stat = Field(
        description="attempts (probes included) sent to a target org that started in the window"
    )
    wasted_probes: Stat = Field(description="of those, probes")
    healthy_share: Stat | None = Field(
        default=None,
        description="the target's share of regular attempts in the hour before onset (its even share among "
        "its vendors' orgs when it had none): the baseline of shed_time (since 1.1)",
    )
    shed_time: Stat | None = Field(
        default=None,
        description="time to shed: onset → the moment after which the target's regular (non-probe) share "
        "stays below 10 % of its healthy share for the rest of the fault, in 60 s bins from onset; for a "
        "flapping fault the median over its sick spells, each judged alone; null = never (since 1.1)",
    )
    share_kept: Stat | None = Field(
        default=None,
        description="the target's regular share during the fault (its sick spells, for a flapping fault) / "
        "its healthy share: 0 = all of its traffic went elsewhere, 1 = none did (since 1.1)",
    )
    shed_or_failover_time: Stat | None = Field(
        default=None,
        description="the headline: failover_time_max for a hard fault, shed_time for a partial one; "
        "null = never (since 1.1)",
    )
    opens: Stat = Field(description="OPENED events on target orgs in the window (flapping shows here)")
    phases: dict[Literal["before", "during", "after"], PhaseResult] = Field(
        description="before = [0, onset), during = [onset, end), after = [end, run end)"
    )


class BreakerResult(_Model):
    """One breaker: an (org, model) — per pod when breaker state is local to each pod."""

    org: str
    model: str
    pod: int | None = Field(description="pod index when state is local; null when shared")
    time_open: Stat = Field(description="seconds spent OPEN")
    time_half_open: Stat = Field(description="seconds spent HALF_OPEN")
    opened: Stat = Field(description="OPENED events")
    closed: Stat = Field(description="CLOSED events")
    cycles: Stat = Field(description="open → closed cycles (flapping)")


class AlertCounts(_Model):
    opened: Stat
    half_open: Stat
    closed: Stat
    cycles: Stat = Field(description="open → closed cycles over all breakers (flapping)")


class CapacityResult(_Model):
    """Offered demand against the limits the vendors enforce, for one requested model. Demand and
    limits are per minute, averaged over ``bin`` seconds (a burst inside a bin does not show)."""

    model: str = Field(description="the model the users asked for")
    bin: float = Field(description="seconds over which demand and limits are averaged")
    peak_at: Stat = Field(description="start of the bin with the highest demand relative to the pool (TPM, "
                                      "else RPM), sim seconds")
    peak_rpm: Stat = Field(description="requests per minute offered in that bin (user requests, before retries)")
    peak_tpm: Stat = Field(description="tokens per minute offered in that bin (prompt + max_tokens)")
    pool_rpm: Stat = Field(description="RPM the pool's orgs enforced then (locked orgs count 0); null = unlimited")
    pool_tpm: Stat = Field(description="TPM the pool's orgs enforced then; null = unlimited")
    over_rpm_time: Stat = Field(description="seconds of bins where offered RPM exceeded the pool's")
    over_tpm_time: Stat = Field(description="seconds of bins where offered TPM exceeded the pool's")


class WhyResult(_Model):
    """Why requests failed: by cause (the last attempt's outcome class, or why no org was
    available), by org (the last attempt's; ``no org`` when none was made), and the capacity."""

    failures: Stat = Field(description="requests that did not end 2xx, per run")
    by_cause: dict[str, Stat] = Field(
        description="failed requests per cause (reports.why.CAUSES: rate_limited, quota, auth, server, "
        "timeout, connection, client_error, no_org_rate_limited (every org held by a 429's retry-after), "
        "no_org_breaker_open, no_org_mixed, no_org_other, no_org_unknown); causes with no failure left out"
    )
    by_cause_org: dict[str, dict[str, Stat]] = Field(
        description="per cause, per org of the request's last attempt ('no org' when none was made)"
    )
    capacity: list[CapacityResult] = Field(description="per requested model; empty when the trace has no "
                                                       "capacity data (recorded before it was)")
    sentences: list[str] = Field(description="the dominant causes, when and where, and the capacity, in words")


class PolicyResult(_Model):
    policy: str
    params: dict[str, Any] = Field(description="the policy's parameters as the run used them")
    seeds: list[int]
    overall: PhaseResult = Field(description="the whole run")
    wasted_attempts: Stat = Field(
        description="run total: attempts sent to a target org while one of its faults was active (each "
        "attempt counted once); the same as wasted_total"
    )
    wasted_total: Stat | None = Field(
        default=None,
        description="run total of wasted attempts: attempts (probes included) sent to a target org while "
        "one of its faults was active, each counted once (since 1.1)",
    )
    failures_total: Stat | None = Field(
        default=None,
        description="run total of user-visible failures: requests counted as a user-visible failure of at "
        "least one fault window, each counted once (since 1.1)",
    )
    faults: list[FaultResult]
    breakers: list[BreakerResult]
    alerts: AlertCounts
    alerts_per_day: Stat | None = Field(
        default=None,
        description="OPENED alerts (every pod's, every breaker's) / simulated days (duration / 86400 s): "
        "pager noise (since 1.1)",
    )
    why: WhyResult | None = Field(default=None, description="why requests failed (since 1.1)")


class SloCheckResult(_Model):
    policy: str
    metric: str
    phase: str = Field(description="overall, before, during, after, or fault (per-fault metrics)")
    fault: str | None = Field(description="the fault's label, for per-fault checks")
    value: float | None = Field(description="mean over seeds; null = never / no data")
    threshold: str = Field(description="as written, e.g. '>= 99.9%'")
    passed: bool
    note: str = ""


class SloResult(_Model):
    spec: Any = Field(description="the SLO as given")
    passed: bool = Field(description="every check of the judged policies passed")
    judged: list[str] = Field(
        default_factory=list,
        description="the policies whose checks decide `passed` (the scenario's expect_pass: true "
        "policies; every policy when none is marked); the others are compared only",
    )
    checks: list[SloCheckResult]


class ScenarioInfo(_Model):
    name: str
    description: str = ""
    duration: float = Field(description="simulated seconds")
    start_epoch: float = Field(description="epoch seconds of sim time 0")
    pods: int
    state: str | None = Field(default=None, description="shared | local breaker state, if known")
    mode: str | None = None
    face: str | None = Field(default=None, description="sync | async: the router face that ran, if known")
    orgs: list[str]
    org_vendors: list[str]
    models: list[str]
    scale: float = Field(default=1.0, gt=0, description="share of the true system's volume run (traffic and "
                                                        "limits together); 1 = true scale")
    scale_caveats: list[str] = Field(default_factory=list, description="what running scaled cannot keep")


class Results(_Model):
    """Top level of ``results.json``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "$id": SCHEMA_ID,
            "$schema": "https://json-schema.org/draft/2020-12/schema",
        },
    )

    # 1.1 adds optional fields only, so a 1.0 file still reads
    schema_version: Literal["1.0", "1.1"] = SCHEMA_VERSION
    scenario: ScenarioInfo
    seeds: list[int] = Field(description="every seed that ran, sorted")
    policies: dict[str, PolicyResult] = Field(description="in the order they were compared")
    faults: list[FaultInfo]
    slo: SloResult | None = None


def json_schema() -> dict[str, Any]:
    schema = Results.model_json_schema()
    schema["title"] = "breakerlab results"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(schema_text(), encoding="utf-8")
    return path


if __name__ == "__main__":  # pragma: no cover
    print(write_schema())
