"""Exceptions raised by multiorg. None of them ever carries an API key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


class MultiOrgError(Exception):
    """Base class of every multiorg error."""


class ConfigError(MultiOrgError, ValueError):
    """Bad configuration: a one-line message naming the source, field and value."""


class StoreContentionError(MultiOrgError, RuntimeError):
    """A shared-state update lost the compare-and-set race ``max_cas_retries`` times in a row."""


#: why one org could not take a request (the values of :attr:`NoOrgAvailable.reasons`)
HELD = "rate_limited"  # cooling down after a 429's retry-after
BREAKER_OPEN = "breaker_open"  # its breaker refused (open, or half-open with its probes out)
STORE_BUSY = "store_busy"  # the shared breaker state was too contended to decide
DEADLINE = "deadline"  # admitted, but the request's deadline passed before it could be sent


class NoOrgAvailable(MultiOrgError):
    """Every org for the model is blocked (breaker open, cooling down after 429, or excluded).

    ``retry_at`` is the earliest epoch time at which some org may be tried again
    (``None`` when nothing is expected to clear by waiting, e.g. all orgs locked for quota).
    ``reasons`` says why each org asked was passed over, by org name (:data:`HELD`,
    :data:`BREAKER_OPEN`, :data:`STORE_BUSY`, :data:`DEADLINE`), in the order they were asked;
    :attr:`cause` sums it up for a metric label.
    """

    def __init__(
        self, model: str, retry_at: float | None, reason: str = "", reasons: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.retry_at = retry_at
        self.reason = reason
        self.reasons: dict[str, str] = dict(reasons or {})
        when = "unknown" if retry_at is None else f"{retry_at:.3f}"
        detail = f": {reason}" if reason else ""
        counts = Counter(self.reasons.values())
        if counts:
            detail += " (" + ", ".join(f"{n} {why}" for why, n in sorted(counts.items())) + ")"
        super().__init__(f"no org available for model {model!r}{detail} (earliest retry at {when})")

    @property
    def cause(self) -> str:
        """One label for the whole refusal: the reason every org shared, ``"mixed"`` when they
        differ, ``"unknown"`` when none was recorded."""
        kinds = set(self.reasons.values())
        if len(kinds) == 1:
            return kinds.pop()
        return "mixed" if kinds else "unknown"


class UnknownModel(NoOrgAvailable):
    """No org of any vendor the router may use serves the model (a typo, or missing ``limits``):
    waiting will not help (``retry_at`` is ``None``)."""

    def __init__(self, model: str) -> None:
        super().__init__(model, None, "no org serves this model (check the name and the orgs' limits)")

    @property
    def cause(self) -> str:
        return "unknown_model"
