"""``none``: no breaker at all — every attempt is admitted, nothing is ever counted.

The baseline of a policy comparison (plain round robin over the orgs). The counting options
of :class:`~multiorg.breakers.common.BreakerParams` are accepted, so a sweep can pass the
same overrides to every policy, and ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from ..clock import Rng
from ..outcomes import Outcome
from ..stores.codec import register_state
from .base import Admission, BreakerView, State
from .common import BreakerParams, admit_unchanged

__all__ = ["NoBreaker", "NoState"]


@register_state
@dataclass(frozen=True, slots=True)
class NoState:
    """The (empty) state of a breaker that never changes."""


_STATE = NoState()
_ADMIT = admit_unchanged(0)
_VIEW = BreakerView(State.CLOSED)


class NoBreaker(BreakerParams):
    """Always admits; ``record`` and ``release`` never change anything (no store writes)."""

    name: ClassVar[str] = "none"
    scope: ClassVar[Literal["target", "model"]] = "target"

    def initial(self, now: float) -> NoState:
        return _STATE

    def admit(self, state: NoState, org: str, now: float, rng: Rng) -> tuple[Admission, None]:
        return _ADMIT

    def record(
        self, state: NoState, org: str, ticket: Admission, outcome: Outcome, now: float
    ) -> None:
        return None

    def release(self, state: NoState, org: str, ticket: Admission, now: float) -> None:
        return None

    def view(self, state: NoState, org: str, now: float) -> BreakerView:
        return _VIEW
