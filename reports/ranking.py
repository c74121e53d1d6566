"""Judging and ranking, stated: who is judged, what the exit code means, how far each SLO check
is inside or outside its threshold (its margin), and the policies ranked by it.

Who is judged
    The policies run that the scenario marks ``expect_pass: true``. When none of them is, every
    policy run except those marked ``expect_pass: false`` (expected to miss the SLO: shown and
    ranked, never judged). The others are compared only.

Exit code (``breakerlab run``, ``compare``, ``report``)
    1 when a judged policy fails an SLO check, 0 when every judged policy meets every check (or
    the scenario has no SLO, or nothing is judged), 2 for bad input.

Margin of one check (signed; > 0 inside the threshold, 0 on it, < 0 outside), normalised so
that checks of different metrics compare:

* upper bounds (``<=``, ``<``): ``(threshold - value) / threshold`` — the share of the allowance
  left (+25 %: a p99 of 9 s against ``<= 12s``; -50 %: 18 s);
* lower bounds on a rate (``>=``, ``>``): ``(value - threshold) / (1 - threshold)`` — the share of
  the failure budget left (``>= 99.8%`` at 99.9 %: +50 %; at 99.6 %: -100 %, twice the budget);
* other lower bounds: ``(value - threshold) / threshold``; ``==``: ``-|value - threshold| / threshold``;
* a threshold of 0 (or a rate threshold of 100 %) divides by a floor instead: 1 s, 1 count, 0.01 %;
* a duration that never happened (failover "never") is ``-inf``; a check without data (n/a) has
  no margin and binds nothing.

A policy's (or a sweep setting's) margin is its worst check's; that check **binds**. Ranking:
policies that pass every check first, then by margin (widest first), then in the order run.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sim.slo import SLO_METRICS, canonical_metric, parse_threshold

from .format import fmt_margin, format_metric

__all__ = [
    "EXIT_CODES",
    "RULE",
    "Ranked",
    "Verdict",
    "check_margin",
    "check_text",
    "judged_policies",
    "judging_lines",
    "rank_policies",
    "ranking_context",
    "verdict",
]

#: what the exit codes of ``run`` / ``compare`` / ``report`` mean, as the reports state them
EXIT_CODES = "exit codes: 0 all judged policies pass, 1 a judged policy fails, 2 bad input"
_MEANING = {0: "every judged policy met every check", 1: "a judged policy failed a check"}


#: the denominator of a margin whose threshold is 0 (or 100 % for a rate lower bound)
_FLOOR = {"rate": 1e-4, "duration": 1.0, "count": 1.0}


def judged_policies(run: Sequence[str], marked_pass: Iterable[str] = (),
                    marked_fail: Iterable[str] = ()) -> list[str]:
    """The policies whose checks decide the verdict, in ``run`` order (see the module docstring)."""
    yes = set(marked_pass)
    no = set(marked_fail)
    return [n for n in run if n in yes] or [n for n in run if n not in no]


def _get(check: Any, name: str) -> Any:
    return check.get(name) if isinstance(check, Mapping) else getattr(check, name)


def check_margin(check: Any) -> float | None:
    """The signed, normalised margin of one SLO check (``reports.SloCheck``, ``SloCheckResult`` or
    its dict): how far its value is inside (> 0) or outside (< 0) the threshold."""
    value, passed = _get(check, "value"), _get(check, "passed")
    metric = canonical_metric(str(_get(check, "metric")))
    if value is None:
        return None if passed else -math.inf  # n/a or no data / "never"
    th = parse_threshold(_get(check, "threshold"), metric)
    spec = SLO_METRICS.get(metric)
    unit = spec.unit if spec is not None else "count"
    x, t = float(value), th.value
    if th.op in ("<=", "<"):
        return (t - x) / (abs(t) if t else _FLOOR[unit])
    if th.op in (">=", ">"):
        if unit == "rate":
            return (x - t) / (1.0 - t if t < 1.0 else _FLOOR[unit])
        return (x - t) / (abs(t) if t else _FLOOR[unit])
    return -abs(x - t) / (abs(t) if t else _FLOOR[unit])


def check_text(check: Any) -> str:
    """``p99_latency [during: secondary3 slows] = 10.6 s vs <= 12s`` (``never`` for a duration
    that never happened)."""
    metric, phase, fault = _get(check, "metric"), _get(check, "phase"), _get(check, "fault")
    where = phase + (f": {fault}" if fault else "")
    value = format_metric(metric, _get(check, "value"), precise=True)
    return f"{metric} [{where}] = {value} vs {_get(check, 'threshold')}"


@dataclass(frozen=True)
class Verdict:
    """A set of checks judged together (one policy, one run, one sweep setting)."""

    passed: bool
    #: the worst check's margin; None when no check has one (no SLO, every check n/a)
    margin: float | None
    #: the check with that margin (a failed one first when margins tie)
    binding: Any
    failed: int
    checks: int

    def margin_key(self) -> float:
        """The margin for ordering: no margin sorts below every number but above "never"."""
        return -1e300 if self.margin is None else self.margin

    def binding_text(self) -> str:
        """``p99_latency [...] = 10.6 s vs <= 12s (margin +12 %)``; empty with nothing binding."""
        if self.binding is None:
            return ""
        return f"{check_text(self.binding)} (margin {fmt_margin(self.margin)})"


def verdict(checks: Iterable[Any]) -> Verdict:
    """Pass (every check passed), margin (the worst check's) and the check that binds."""
    cs = list(checks)
    failed = sum(not _get(c, "passed") for c in cs)
    scored = [(m, not _get(c, "passed"), i) for i, c in enumerate(cs) if (m := check_margin(c)) is not None]
    if not scored:
        return Verdict(failed == 0, None, None, failed, len(cs))
    m, _, i = min(scored, key=lambda s: (s[0], not s[1], s[2]))
    return Verdict(failed == 0, m, cs[i], failed, len(cs))


@dataclass(frozen=True)
class Ranked:
    rank: int
    policy: str
    judged: bool
    verdict: Verdict


def rank_policies(res: Any) -> list[Ranked]:
    """Every policy of ``res`` (a ``Results``) ranked: pass first, then margin, then run order;
    empty without an SLO."""
    if res.slo is None:
        return []
    judged = set(res.slo.judged)
    vs = [(name, verdict(c for c in res.slo.checks if c.policy == name)) for name in res.policies]
    order = sorted(range(len(vs)), key=lambda i: (not vs[i][1].passed, -vs[i][1].margin_key(), i))
    return [Ranked(k + 1, vs[i][0], vs[i][0] in judged, vs[i][1]) for k, i in enumerate(order)]


def _marked(res: Any) -> bool:
    return res.slo is not None and set(res.slo.judged) != set(res.policies)


RULE = ("judged: the policies marked `expect_pass: true`; when none of those ran, every policy "
        "not marked `expect_pass: false`")


def _who(res: Any) -> str:
    """Who is judged, by which rule, and the exit code this report means."""
    if res.slo is None:
        return f"No SLO in the scenario: nothing is judged. Exit code 0 ({EXIT_CODES})."
    judged = list(res.slo.judged)
    others = [n for n in res.policies if n not in judged]
    head = f"Judged: {', '.join(judged) or 'none'}" + (f"; compared only: {', '.join(others)}" if others else "")
    code = 0 if res.slo.passed else 1
    meaning = _MEANING[code] if judged else "no policy is judged"
    return f"{head} ({RULE}). Exit code {code} — {meaning} ({EXIT_CODES})."


def _winner(res: Any, ranked: Sequence[Ranked]) -> str:
    if not ranked or _marked(res):
        return ""
    top = ranked[0]
    if top.verdict.passed:
        bind = f" (binding: {top.verdict.binding_text()})" if top.verdict.binding is not None else ""
        return f"Winner: {top.policy} — meets every SLO check with the widest margin{bind}."
    return (f"No policy meets the SLO; closest: {top.policy} — {top.verdict.failed} check(s) failed, worst "
            f"{top.verdict.binding_text()}.")


def _rows(ranked: Sequence[Ranked]) -> list[list[str]]:
    return [
        [str(r.rank), r.policy, "PASS" if r.verdict.passed else f"FAIL ({r.verdict.failed} failed)",
         fmt_margin(r.verdict.margin) if r.verdict.binding is not None else "\u2013",
         check_text(r.verdict.binding) if r.verdict.binding is not None else "\u2013",
         "yes" if r.judged else "no"]
        for r in ranked
    ]


_HEAD = ["rank", "policy", "SLO", "margin", "binding check (worst margin)", "judged"]


def judging_lines(res: Any) -> list[str]:
    """summary.md's "Judging and ranking" section: who is judged, the exit code, the ranking and
    (with no ``expect_pass`` marks) the winner."""
    lines = ["", "#### Judging and ranking", "", _who(res)]
    ranked = rank_policies(res)
    if not ranked:
        return lines
    lines += ["", "| " + " | ".join(_HEAD) + " |", "|---:|---|---|---:|---|---|"]
    for row in _rows(ranked):
        lines.append("| " + " | ".join([row[0], f"`{row[1]}`", *row[2:]]) + " |")
    winner = _winner(res, ranked)
    if winner:
        lines += ["", f"**{winner}**"]
    lines += ["", "<sub>Margin: how far the worst check is inside (+) or outside (-) its threshold, "
              "relative to it (rates: to the failure budget); ranked pass first, then margin.</sub>"]
    return lines


def ranking_context(res: Any) -> dict[str, Any]:
    """The HTML report's "Judging and ranking" section (``ranking.html.j2``)."""
    ranked = rank_policies(res)
    return {
        "who": _who(res).replace("`", ""),
        "head": _HEAD,
        "rows": _rows(ranked),
        "classes": ["" if r.verdict.passed else "bad" for r in ranked],
        "winner": _winner(res, ranked),
        "note": "Margin: how far the worst check is inside (+) or outside (\u2212) its threshold, relative to "
        "the threshold (rates: to the failure budget, 1 \u2212 threshold); the worst check binds. Ranked: pass "
        "first, then margin, then run order.",
    }
