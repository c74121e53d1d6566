"""The policy reference: every parameter of every policy — name, default, unit, meaning and the
nearest Resilience4j / Envoy / LiteLLM / SRE-book setting — read from the parameter models.

One source for ``breakerlab list policies --params [POLICY]`` and for docs/policies.md::

    python -m breakerlab.policy_reference > docs/policies.md

Meanings and units live where the parameters are declared (``Field(description=..., unit)``, see
:func:`multiorg.breakers.common.param`); a parameter without them cannot be documented and
:func:`reference` refuses it. What the models cannot know — the anchors' names and defaults, where
ours differ and why, when a parameter does nothing — is written here, once.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from multiorg.breakers.registry import POLICIES, PRESET_DOCS, PRESETS
from reports.format import fmt_duration, fmt_param
from sim.policies import LAB_ONLY, make_lab_policy

__all__ = [
    "EQUIVALENTS",
    "SOURCES",
    "Equivalent",
    "ParamDoc",
    "PolicyDoc",
    "Source",
    "UnknownPolicy",
    "policy_models",
    "reference",
    "render_markdown",
    "render_text",
]


class UnknownPolicy(ValueError):
    """A name that is neither a policy nor a preset."""


@dataclass(frozen=True)
class Source:
    """A system our policies are modelled on, and where its settings are documented."""

    name: str
    what: str
    url: str


SOURCES: dict[str, Source] = {
    "r4j": Source(
        "Resilience4j", "CircuitBreakerConfig", "https://resilience4j.readme.io/docs/circuitbreaker"
    ),
    "envoy": Source(
        "Envoy",
        "cluster outlier_detection",
        "https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto",
    ),
    "litellm": Source(
        "LiteLLM",
        "Router / router_settings",
        "https://docs.litellm.ai/docs/router/api_reference/configuration",
    ),
    "portkey": Source(
        "Portkey",
        "gateway strategy.cb_config",
        "https://portkey.ai/docs/product/ai-gateway/circuit-breaker",
    ),
    "sre": Source(
        "Google SRE book",
        "ch. 21, client-side throttling",
        "https://sre.google/sre-book/handling-overload/",
    ),
}


@dataclass(frozen=True)
class Equivalent:
    """The nearest setting of an anchor system: its name and default there (as it spells them)."""

    source: str
    setting: str
    default: str
    note: str = ""

    def text(self, code: str = "") -> str:
        """``Resilience4j failureRateThreshold (default 50)``; ``code`` quotes the setting's name
        (a backtick in Markdown)."""
        s = SOURCES[self.source].name
        if not self.setting:  # the anchor does it, but no setting controls it
            return f"{s}: no setting ({self.note})"
        note = f"; {self.note}" if self.note else ""
        return f"{s} {code}{self.setting}{code} (default {self.default}{note})"


def _eq(source: str, setting: str, default: str, note: str = "") -> Equivalent:
    return Equivalent(source, setting, default, note)


# The counting options every breaker takes; each policy names its own anchor's spelling.
_R4J_COUNTING = {
    "failure_outcomes": _eq(
        "r4j", "recordExceptions / recordFailurePredicate", "every exception",
        "an outcome left out is like ignoreExceptions",
    ),
    "slow_is_failure": _eq(
        "r4j", "slowCallDurationThreshold", "60s",
        "Resilience4j counts slow calls in their own rate; here the router's "
        "slow_call_threshold classes a call slow",
    ),
}
_LITELLM_TRIP = {
    "failure_outcomes": _eq("litellm", "allowed_fails_policy", "none", "allowed fails per error type"),
    "trip_immediately": _eq(
        "litellm", "", "", "a 401, 404, 408 or 429 cools a deployment down at once in a group of several"
    ),
    "threshold": _eq(
        "litellm", "allowed_fails", "3", "cools down when failures in the minute exceed it"
    ),
    "open_time": _eq("litellm", "cooldown_time", "5s"),
    "base_open_time": _eq("litellm", "cooldown_time", "5s", "fixed: LiteLLM never grows it"),
    "max_open_time": _eq("r4j", "exponentialMaxWaitDurationInOpenState", "unset"),
    "backoff_factor": _eq(
        "r4j", "exponentialBackoffMultiplier", "unset",
        "with enableExponentialBackoff: true; IntervalFunction's own default is 1.5",
    ),
    "probe_permits": _eq(
        "r4j", "permittedNumberOfCallsInHalfOpenState", "10",
        "there all of them decide; here the first result does",
    ),
}

#: policy → parameter → the nearest anchor setting (parameters with none are left out)
EQUIVALENTS: dict[str, dict[str, Equivalent]] = {
    "none": {},
    "consecutive": {
        k: _LITELLM_TRIP[k] for k in ("failure_outcomes", "trip_immediately", "threshold", "open_time")
    },
    "exponential": {k: v for k, v in _LITELLM_TRIP.items() if k != "open_time"},
    "failure-rate": {
        **_R4J_COUNTING,
        "window_type": _eq("r4j", "slidingWindowType", "COUNT_BASED"),
        "window_size": _eq("r4j", "slidingWindowSize", "100"),
        "bucket": _eq("r4j", "", "", "a time window aggregates per second"),
        "minimum_calls": _eq("r4j", "minimumNumberOfCalls", "100"),
        "failure_rate_threshold": _eq("r4j", "failureRateThreshold", "50"),
        "slow_call_rate_threshold": _eq("r4j", "slowCallRateThreshold", "100"),
        "open_time": _eq("r4j", "waitDurationInOpenState", "60s"),
        "half_open_permits": _eq("r4j", "permittedNumberOfCallsInHalfOpenState", "10"),
        "max_half_open_wait": _eq("r4j", "maxWaitDurationInHalfOpenState", "0"),
    },
    "outlier": {
        "failure_outcomes": _eq(
            "envoy", "", "", "it counts 5xx responses, and connect failures and timeouts as "
            "local-origin errors"
        ),
        "consecutive_failures": _eq("envoy", "consecutive_5xx", "5"),
        "interval": _eq("envoy", "interval", "10s"),
        "base_ejection_time": _eq("envoy", "base_ejection_time", "30s"),
        "max_ejection_time": _eq("envoy", "max_ejection_time", "300s"),
        "max_ejection_percent": _eq("envoy", "max_ejection_percent", "10"),
        "always_eject_one": _eq("envoy", "always_eject_one_host", "false"),
        "success_rate_stdev_factor": _eq(
            "envoy", "success_rate_stdev_factor", "1900", "in thousandths: 1.9"
        ),
        "success_rate_minimum_hosts": _eq("envoy", "success_rate_minimum_hosts", "5"),
        "success_rate_request_volume": _eq("envoy", "success_rate_request_volume", "100"),
        "failure_percentage_threshold": _eq(
            "envoy", "failure_percentage_threshold", "85",
            "enforcing_failure_percentage defaults to 0: off",
        ),
        "failure_percentage_minimum_hosts": _eq("envoy", "failure_percentage_minimum_hosts", "5"),
        "failure_percentage_request_volume": _eq(
            "envoy", "failure_percentage_request_volume", "50"
        ),
    },
    "litellm": {
        "cooldown_time": _eq("litellm", "cooldown_time", "5s"),
        "deployment_cooldown_time": _eq("litellm", "litellm_params.cooldown_time", "unset"),
        "allowed_fails": _eq("litellm", "allowed_fails", "3", "3 reads as unset"),
        "allowed_fails_policy": _eq("litellm", "allowed_fails_policy", "unset"),
        "failure_threshold_percent": _eq("litellm", "DEFAULT_FAILURE_THRESHOLD_PERCENT", "0.5", "a constant"),
        "failure_threshold_minimum_requests": _eq(
            "litellm", "DEFAULT_FAILURE_THRESHOLD_MINIMUM_REQUESTS", "5", "a constant"
        ),
        "single_deployment_traffic_failure_threshold": _eq(
            "litellm", "SINGLE_DEPLOYMENT_TRAFFIC_FAILURE_THRESHOLD", "1000", "a constant"
        ),
    },
    "portkey": {
        "failure_threshold": _eq("portkey", "failure_threshold", "unset"),
        "failure_threshold_percentage": _eq("portkey", "failure_threshold_percentage", "unset"),
        "minimum_requests": _eq("portkey", "minimum_requests", "5", "the gateway's code"),
        "cooldown_interval": _eq("portkey", "cooldown_interval", "none", "at least 30s"),
        "failure_status_codes": _eq("portkey", "failure_status_codes", "every status >= 500"),
    },
    "adaptive": {
        "failure_outcomes": _eq(
            "sre", "", "", "a request the backend rejected; anything else is an accept"
        ),
        "k": _eq("sre", "K", "2"),
        "window": _eq("sre", "", "", "the book counts the last two minutes"),
    },
    "manual": {},
}

#: policy → the system it follows, in one line
ANCHORS: dict[str, str] = {
    "none": "plain round robin; LiteLLM with disable_cooldowns: true",
    "consecutive": "the textbook breaker; LiteLLM's deployment cooldown (allowed_fails, "
    "cooldown_time). Resilience4j cannot trip on N failures within a time (resilience4j#785)",
    "exponential": "the seed's breaker (the talk); Resilience4j's exponential wait in open state",
    "failure-rate": "Resilience4j CircuitBreaker, rule for rule",
    "outlier": "Envoy outlier detection (ejectHost), per model",
    "litellm": "LiteLLM Router deployment cooldowns, from its source",
    "portkey": "Portkey gateway circuit breaker, from its source",
    "adaptive": "Google SRE book, client-side throttling",
    "manual": "an on-call human and the vendor switch: the world before automation",
}

#: policy → where our defaults differ from the anchor's, and why
DIFFERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "consecutive": (
        "open_time 1m, not LiteLLM's 5s cooldown_time: an LLM org that is rate limited, locked "
        "or failing does not heal in 5 s, and a 5 s block sends a fresh probe 12 times a minute.",
        "threshold 3 trips on the 3rd failure; LiteLLM's allowed_fails 3 cools down on the 4th.",
    ),
    "exponential": (
        "base_open_time 1m doubling to 16m (the seed's numbers), where LiteLLM cools down for a "
        "fixed 5s and Resilience4j waits a fixed 60s unless exponential backoff is enabled: an "
        "org that keeps failing costs fewer wasted attempts each cycle.",
        "probe_permits 1: one probe decides, as in the talk; Resilience4j lets 10 through.",
    ),
    "failure-rate": (
        "minimum_calls 10, not Resilience4j's 100: 100 results take an org at a few calls per "
        "second half a minute or more to gather, and again after every close, all of it unjudged. "
        "The resilience4j preset keeps 100.",
        "half_open_permits 3, not 10: each probe is a user attempt that may cost the whole "
        "attempt_timeout on a sick org.",
        "Other defaults are Resilience4j's (window 100 calls, 50 %, 100 % slow, 60s open, no "
        "half-open limit).",
    ),
    "outlier": (
        "Envoy's defaults are sized for clusters of dozens of hosts; a model here is served by "
        "2 to 6 orgs. Envoy's 10 % cap ejects nothing at all from fewer than 10 (always_eject_"
        "one_host is off), and its 5-host minimums keep both rate rules off below 5 (the envoy "
        "preset keeps Envoy's numbers to show it).",
        "So: max_ejection_percent 50 (not 10) and always_eject_one true (not false); success-rate "
        "ejection from 3 orgs with 20 calls per interval (not 5 hosts with 100); failure-"
        "percentage ejection on at 85 % from 2 orgs with 20 calls (Envoy ships it off).",
    ),
    "litellm": (
        "None: every default is LiteLLM's (cooldown_time 5s, the v2 rules' 50 % of at least 5 "
        "calls a minute, 1000 calls for a single deployment).",
    ),
    "portkey": (
        "failure_threshold_percentage 20 % and cooldown_interval 60s are the docs' example; "
        "Portkey itself has no defaults for them (a strategy without cb_config has no breaker).",
    ),
    "adaptive": (
        "K and the window are the book's (2, two minutes). trip_immediately is empty, as in the "
        "book; the other breakers default to quota and auth.",
    ),
    "manual": (),
}

#: policy → when parameters do nothing (the surprises a sweep would otherwise find)
INERT: dict[str, tuple[str, ...]] = {
    "none": (
        "Every parameter is accepted and ignored (so a sweep can pass one set of overrides to "
        "every policy): none never counts, never blocks.",
    ),
    "consecutive": (
        "A success ends a run of failures: threshold failures must come in a row. Under a "
        "partial fault that fails a share p of calls a run starts with odds p to the power "
        "threshold (2.7 % at p = 30 %, 0.05 % at 8 %), so lower threshold, not window, to "
        "catch light faults; window binds only at low traffic, when failures are further apart "
        "than it.",
        "probe_timeout does nothing while the router's attempt_timeout is shorter (default 30s "
        "< 60s): every probe answers first. It frees a permit only when a pod dies mid-probe.",
        "trip_immediately acts only on faults that answer with those outcomes (lockout: quota, "
        "auth); slow_is_failure only when the scenario's router sets slow_call_threshold.",
    ),
    "exponential": (
        "As consecutive: a success ends a run; probe_timeout is reached only by a pod dying "
        "mid-probe; slow_is_failure needs the router's slow_call_threshold.",
        "max_open_time binds from the 5th block in a row (1, 2, 4, 8, then 16 min); with "
        "backoff_factor 1 it does nothing.",
        "With reset_after 0 every close forgets the cycles, so a flapping org starts again at "
        "base_open_time each time (see scenarios/flapping-org.yaml and the aggressive preset).",
    ),
    "failure-rate": (
        "failure_rate_threshold: a fault that fails a smaller share of calls never opens it. "
        "Measured on a 30 % brownout of one org of four (4 h, 200k requests/day, seed 5): the "
        "default failure-rate, the resilience4j preset, adaptive and the envoy preset wasted "
        "exactly the 4,490 attempts none did and never opened. At 60 % the defaults open "
        "within 97 s and waste 794 attempts (none: 4,847). Set the threshold below the error "
        "share you want caught.",
        "slow_call_rate_threshold and slow_is_failure do nothing unless the scenario's router "
        "sets slow_call_threshold; at the default 100 % only a window of nothing but slow "
        "calls opens it.",
        "minimum_calls: the window restarts empty at each close, so the first minimum_calls "
        "results after it are not judged; a count window needs at most window_size.",
        "bucket does nothing with window_type count. max_half_open_wait 0 never re-opens a "
        "half-open breaker that is short of results (low traffic, probes lost).",
        "probe_timeout is reached only by a pod dying mid-probe (attempt_timeout is shorter).",
    ),
    "outlier": (
        "Success-rate ejection needs success_rate_minimum_hosts orgs with "
        "success_rate_request_volume results each in one interval; failure-percentage "
        "ejection likewise. Below that only consecutive_failures (and trip_immediately) eject.",
        "max_ejection_percent of n orgs allows floor(n x percent / 100) ejections: 10 % of "
        "fewer than 10 orgs allows none, and then only always_eject_one ejects (one org). So "
        "the envoy preset (10 %, always_eject_one false) ejects nothing in a smaller pool: on "
        "30 % and 60 % brownouts of one org of four it wasted exactly the attempts none did.",
        "failure_percentage_threshold 85 %: a partial fault below it is left to success-rate "
        "ejection, which compares the org with its peers (a vendor-wide fault moves the mean "
        "with it).",
        "max_ejection_time binds once the multiplier reaches max / base (10 ejections without "
        "healthy intervals in between, by default).",
    ),
    "litellm": (
        "A 429 cools a deployment only in a group of two or more: a model served by one org is "
        "never cooled on rate limits, whatever the retry-after.",
        "The failure-rate rule needs failure_threshold_minimum_requests calls in the current "
        "minute on one pod (the counters are per process); the cooldown itself is shared.",
        "A billing-locked org (quota 429) is re-cooled every cooldown_time: with the 5s default "
        "that is an alert every 5 s per pod for as long as the lock lasts.",
        "Connection errors count towards the failure rate but never cool a deployment by "
        "themselves; a 403 never cools.",
    ),
    "portkey": (
        "With neither failure_threshold nor failure_threshold_percentage set nothing ever opens.",
        "failure_status_codes: a 429 (and every 4xx) is not a failure by default, so rate limits "
        "and a billing lock (quota 429) never open the breaker; nor does a timeout (Portkey "
        "answers it with a 408), while a refused connection (a 500) does.",
        "When every target is open the breaker is bypassed: an outage of the whole pool gets "
        "full traffic, not a fast failure.",
    ),
    "adaptive": (
        "k: throttling starts only when the org fails more than 1 - 1/k of its calls (50 % at "
        "k = 2): below that requests <= k x accepts and the rejection probability is 0. A 30 % "
        "brownout is never throttled (measured: the attempts none wastes); a 60 % one is (566 "
        "wasted attempts instead of 4,847).",
        "It never blocks with certainty: a hard outage still gets a trickle of attempts (that "
        "is how it sees recovery), so failover time reads 'never' or nearly the whole fault.",
        "open_view_threshold changes only what operators and alerts see, no admission; bucket "
        "only the window's resolution.",
    ),
    "manual": (
        "It acts only when the scenario has a second vendor with orgs (router standby_vendor, "
        "else any other vendor); without one the human has nothing to flip to and every "
        "parameter does nothing.",
        "It watches user-visible failures, which retries on healthy orgs hide: a fault on one "
        "org of several seldom lifts them to alert_error_rate (5 %), so it seldom pages.",
        "try_primary_after flips back whether or not the primary has recovered; the dashboard "
        "then pages again.",
    ),
}


@dataclass(frozen=True)
class ParamDoc:
    """One parameter as the reference shows it (values already formatted)."""

    name: str
    default: str
    unit: str
    meaning: str
    equivalent: Equivalent | None = None
    #: a preset's value, when the reference is for a preset that sets this parameter
    preset: str | None = None


@dataclass(frozen=True)
class PolicyDoc:
    """One policy (or a preset: its policy with the preset's values) as the reference shows it."""

    name: str
    summary: str
    anchor: str
    params: tuple[ParamDoc, ...]
    differs: tuple[str, ...]
    inert: tuple[str, ...]
    #: the preset this was built for (``name`` is then its policy)
    preset: str | None = None


def policy_models() -> dict[str, type[BaseModel]]:
    """Every policy's parameter model by name: the breakers, then the lab-only ones (``manual``)."""
    return {**POLICIES, **LAB_ONLY}


def _summary(model: type[Any]) -> str:
    """The first line of the class docstring, in Markdown's quoting (reST writes ``x``)."""
    lines = (model.__doc__ or "").strip().splitlines()
    return lines[0].replace("``", "`") if lines else ""


def _value(v: Any, unit: str) -> str:
    if unit == "s" and isinstance(v, (int, float)) and not isinstance(v, bool):
        return fmt_duration(float(v), spec=True)
    return fmt_param(v, flow=True)


def _params(name: str, model: type[BaseModel], preset: Mapping[str, Any] | None) -> tuple[ParamDoc, ...]:
    defaults = model().model_dump(mode="json")  # JSON: outcome sets as sorted lists
    values = make_lab_policy(name, preset).model_dump(mode="json") if preset else {}
    out = []
    for pname, field in model.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        unit = str(extra.get("unit") or "")
        if not field.description or not unit:
            raise ValueError(
                f"{name}: parameter {pname} has no description or unit "
                "(declare it with multiorg.breakers.common.param)"
            )
        out.append(
            ParamDoc(
                pname,
                _value(defaults[pname], unit),
                unit,
                field.description,
                EQUIVALENTS.get(name, {}).get(pname),
                _value(values[pname], unit) if preset and pname in preset else None,
            )
        )
    return tuple(out)


def _doc(name: str, preset: str | None = None) -> PolicyDoc:
    model = policy_models()[name]
    return PolicyDoc(
        name,
        _summary(model),
        ANCHORS[name],
        _params(name, model, PRESETS[preset][1] if preset else None),
        DIFFERS[name],
        INERT[name],
        preset,
    )


def reference(name: str | None = None) -> list[PolicyDoc]:
    """Every policy's reference, or the one ``name`` calls for (a preset: its policy with the
    preset's values); :class:`UnknownPolicy` for any other name."""
    models = policy_models()
    if name is None:
        return [_doc(n) for n in models]
    if name in models:
        return [_doc(name)]
    if name in PRESETS:
        return [_doc(PRESETS[name][0], name)]
    known = ", ".join([*models, *PRESETS])
    raise UnknownPolicy(f"unknown policy {name!r} (known: {known})")


# --------------------------------------------------------------------------- text (the CLI)

_WIDTH = 100


def _wrap(text: str, width: int, initial_indent: str, subsequent_indent: str) -> list[str]:
    return textwrap.wrap(
        text, width, initial_indent=initial_indent, subsequent_indent=subsequent_indent,
        break_on_hyphens=False, break_long_words=False,
    )


def render_text(docs: list[PolicyDoc]) -> str:
    """The reference as the terminal shows it: per policy a table (parameter, unit, the preset's
    value, default), each row followed by its meaning and nearest equivalent, then what to know."""
    out: list[str] = []
    for d in docs:
        if d.preset:
            out.append(f"{d.preset} (preset of {d.name}): {PRESET_DOCS.get(d.preset, '')}")
        else:
            out.append(f"{d.name}: {d.summary.replace('`', '')}")
        out.append(f"  modelled on: {d.anchor}")
        head = ["parameter", "unit", *([d.preset] if d.preset else []), "default"]
        rows = [[p.name, p.unit, *([p.preset or ""] if d.preset else []), p.default] for p in d.params]
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        for r, p in zip([head, *rows], [None, *d.params], strict=True):
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if p is not None:
                out += _wrap(p.meaning, _WIDTH, initial_indent="      ", subsequent_indent="      ")
                if p.equivalent is not None:
                    out += _wrap(
                        p.equivalent.text(), _WIDTH, initial_indent="      ~ ", subsequent_indent="        "
                    )
        if d.inert:
            out.append("  when parameters do nothing:")
            for note in d.inert:
                out += _wrap(note, _WIDTH, initial_indent="  - ", subsequent_indent="    ")
        out.append("")
    out.append("Full reference, with sources and where defaults differ from them: docs/policies.md")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Markdown (the doc)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`"


def render_markdown() -> str:
    """docs/policies.md: every policy's parameter table, presets, sources."""
    docs = reference()
    lines = [
        "# Policy reference",
        "",
        "<!-- Generated: python -m breakerlab.policy_reference > docs/policies.md. Edit the "
        "parameter models (multiorg/breakers/*.py, sim/operator.py) or "
        "breakerlab/policy_reference.py, not this file; tests/app/test_policy_reference.py "
        "checks they agree. -->",
        "",
        "Every parameter of every policy the lab compares: its default, unit and meaning, and the "
        "nearest setting of the system it is modelled on. The same tables print in the terminal: "
        "`breakerlab list policies --params [POLICY]`.",
        "",
        "Set parameters in a scenario (`policies: [{name: failure-rate, params: "
        "{failure_rate_threshold: 25}}]`), on a sweep grid (`--grid failure_rate_threshold=25,50`) "
        "or through a preset (below). Durations take seconds or units (`90`, `90s`, `15m`, `2h`); "
        "percentages are numbers (`25` is 25 %).",
        "",
        "Units: `s` a duration; `%` a percentage (0-100); `fraction` and `probability` 0-1; "
        "`factor` a multiplier; `calls`, `failures`, `orgs`, `probes`, `requests` counts; "
        "`outcomes` a list of outcome classes (`rate_limited`, `quota`, `auth`, `server`, "
        "`timeout`, `connection`, `slow`); `flag` true or false.",
        "",
        "Each policy also says **when its parameters do nothing**: a default that never acts on "
        "a fault makes the policy behave like `none` there, and nothing else in a report says so.",
        "",
        "| policy | what it does | modelled on |",
        "|---|---|---|",
    ]
    lines += [f"| [{_code(d.name)}](#{d.name}) | {_cell(d.summary)} | {_cell(d.anchor)} |" for d in docs]
    lines.append("")
    for d in docs:
        lines += [f"## {d.name}", "", f"{d.summary}", "", f"Modelled on: {d.anchor}.", ""]
        lines += ["| parameter | default | unit | meaning | nearest equivalent |", "|---|---|---|---|---|"]
        for p in d.params:
            eq = _cell(p.equivalent.text("`")) if p.equivalent else "-"
            lines.append(
                f"| {_code(p.name)} | {_code(p.default)} | {_cell(p.unit)} | {_cell(p.meaning)} | {eq} |"
            )
        lines.append("")
        if d.differs:
            lines += ["**Where our defaults differ, and why**", ""]
            lines += [f"- {t}" for t in d.differs]
            lines.append("")
        lines += ["**When parameters do nothing**", ""]
        lines += [f"- {t}" for t in d.inert]
        lines.append("")
    lines += [
        "## Presets",
        "",
        "A preset is a policy with some parameters set; a scenario's or a sweep's own values win. "
        "`breakerlab list policies --params PRESET` shows the whole table with the preset's values.",
        "",
        "| preset | policy | what for | sets |",
        "|---|---|---|---|",
    ]
    for name, (policy, _) in PRESETS.items():
        (doc,) = reference(name)
        sets = ", ".join(_code(f"{p.name}: {p.preset}") for p in doc.params if p.preset is not None)
        lines.append(f"| {_code(name)} | {_code(policy)} | {_cell(PRESET_DOCS[name])} | {sets} |")
    lines += ["", "## Sources", ""]
    lines += [f"- {s.name}, {s.what}: <{s.url}>" for s in SOURCES.values()]
    lines += [
        "- Envoy's built-in defaults (failure-percentage ejection off: "
        "`DEFAULT_ENFORCING_FAILURE_PERCENTAGE = 0`): envoyproxy/envoy, "
        "source/common/upstream/outlier_detection_impl.h",
        "- LiteLLM's built-in defaults (`DEFAULT_ALLOWED_FAILS = 3`, "
        "`DEFAULT_COOLDOWN_TIME_SECONDS = 5`, `DEFAULT_FAILURE_THRESHOLD_PERCENT = 0.5`): "
        "BerriAI/litellm, litellm/constants.py",
        "- Resilience4j cannot open on a count of failures within a time: "
        "<https://github.com/resilience4j/resilience4j/issues/785>",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
