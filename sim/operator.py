"""The ``manual`` policy: the world before automation.

There is no breaker (every pod runs ``multiorg``'s ``none`` policy). A human watches the error
rate on a dashboard; when it stays above ``alert_error_rate`` over ``alert_window`` the on-call
engineer is paged and, ``reaction_delay`` later, flips the real vendor switch
(:class:`multiorg.switch.VendorSwitch`, the seed's "one click") to the standby vendor. After
``try_primary_after`` they flip it back to see whether the primary vendor is healthy again; if it
is not, the dashboard pages them again.

The operator reads only what a dashboard would show — requests that ended in the window and
whether they failed — from the trace being recorded, and acts through the production switch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from multiorg.breakers.common import param
from multiorg.breakers.none import NoBreaker
from multiorg.config import Seconds
from multiorg.outcomes import OUTCOME_CODES, Outcome

_OK_CODES = (OUTCOME_CODES[Outcome.SUCCESS], OUTCOME_CODES[Outcome.SLOW], OUTCOME_CODES[Outcome.CLIENT_ERROR])


class ManualOperator(BaseModel):
    """A human flips the vendor switch after a reaction delay (no automatic breaker)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClassVar[str] = "manual"
    scope: ClassVar[str] = "target"

    reaction_delay: Seconds = param(
        900.0, "from the page to the vendor switch being flipped (noticing, deciding, clicking)",
        "s"
    )
    alert_window: Seconds = param(300.0, "the dashboard's window over which the error rate is read", "s")
    alert_error_rate: float = param(
        0.05, "share of requests in the window that failed at which someone is paged", "fraction",
        gt=0, le=1
    )
    min_requests: int = param(
        20, "fewer requests than this in the window never page (a quiet night)", "requests", ge=1
    )
    check_every: Seconds = param(60.0, "how often the dashboard is looked at", "s", gt=0)
    try_primary_after: Seconds = param(
        7200.0, "after switching away, flip back to the primary vendor this long later", "s"
    )

    def breaker(self) -> NoBreaker:
        """What the pods run: no breaker at all."""
        return NoBreaker()


class Operator:
    """Drives the vendor switches of a run's pods like a human on call would."""

    def __init__(self, params: ManualOperator, *, hub: Any, recorder: Any, switches: list[Any],
                 primary: str, standby: str | None, until: float) -> None:
        self.p = params
        self.hub = hub
        self.recorder = recorder
        recorder.keep_recent = True  # error_rate looks back past compressed blocks
        self.switches = switches
        self.primary = primary
        self.standby = standby
        self.until = until
        self.paged_at: float | None = None
        self.switched = False
        #: (time, vendor) of every flip, for the trace's meta
        self.flips: list[tuple[float, str]] = []

    def start(self) -> None:
        if self.standby is not None:
            self.hub.at(self.p.check_every, self._check)

    def error_rate(self, now: float) -> tuple[float, int]:
        """Failed share of the requests that ended in ``(now - alert_window, now]``."""
        since = now - self.p.alert_window - 3600.0  # deadlines are shorter
        outcomes = self.recorder.ended(now - self.p.alert_window, now, since)
        n = len(outcomes)
        if n == 0:
            return 0.0, 0
        failed = n - int(np.isin(outcomes, _OK_CODES).sum())
        return failed / n, n

    def _flip(self, vendor: str | None, now: float) -> None:
        for s in self.switches:
            s.set(vendor)
        self.flips.append((now, vendor or self.primary))

    def _check(self, _event: Any = None) -> None:
        now = self.hub.now
        p = self.p
        if self.switched:
            if now - self.flips[-1][0] >= p.try_primary_after:
                self.switched = False
                self._flip(None, now)
        elif self.paged_at is not None:
            if now - self.paged_at >= p.reaction_delay:
                self.paged_at = None
                self.switched = True
                self._flip(self.standby, now)
        else:
            rate, n = self.error_rate(now)
            if n >= p.min_requests and rate >= p.alert_error_rate:
                self.paged_at = now
        if now + p.check_every <= self.until:  # the human goes home when the run ends
            self.hub.at(now + p.check_every, self._check)
