"""Exceptions raised by multiorg. None of them ever carries an API key."""

from __future__ import annotations


class MultiOrgError(Exception):
    """Base class of every multiorg error."""


class ConfigError(MultiOrgError, ValueError):
    """Bad configuration: a one-line message naming the source, field and value."""


class StoreContentionError(MultiOrgError, RuntimeError):
    """A shared-state update lost the compare-and-set race ``max_cas_retries`` times in a row."""


class NoOrgAvailable(MultiOrgError):
    """Every org for the model is blocked (breaker open, cooling down after 429, or excluded).

    ``retry_at`` is the earliest epoch time at which some org may be tried again
    (``None`` when nothing is expected to clear by waiting, e.g. all orgs locked for quota).
    """

    def __init__(self, model: str, retry_at: float | None, reason: str = "") -> None:
        self.model = model
        self.retry_at = retry_at
        self.reason = reason
        when = "unknown" if retry_at is None else f"{retry_at:.3f}"
        detail = f": {reason}" if reason else ""
        super().__init__(f"no org available for model {model!r}{detail} (earliest retry at {when})")


class UnknownModel(NoOrgAvailable):
    """No org of any vendor the router may use serves the model (a typo, or missing ``limits``):
    waiting will not help (``retry_at`` is ``None``)."""

    def __init__(self, model: str) -> None:
        super().__init__(model, None, "no org serves this model (check the name and the orgs' limits)")
