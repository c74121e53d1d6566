"""RoundRobin's bisection over a known candidate tuple chooses exactly what the plain scan chooses."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

from multiorg.selection import OrgStats, RoundRobin


def scan_choice(rank: dict[str, int], last: int, candidates: Any) -> tuple[int, int]:
    """The reference: the first candidate ranked after ``last``, else the first; (index, new last)."""
    for i, o in enumerate(candidates):
        r = rank.get(o.name, -1)
        if r > last:
            return i, r
    return 0, rank.get(candidates[0].name, -1)


def test_bisection_on_the_steady_tuple_matches_the_scan() -> None:
    orgs = [SimpleNamespace(name=f"o{i}") for i in range(6)]
    rr = RoundRobin(orgs)  # type: ignore[arg-type]
    rank = {o.name: i for i, o in enumerate(orgs)}
    steady = tuple(orgs)
    rnd = random.Random(7)
    last = -1
    for _ in range(3000):
        roll = rnd.random()
        if roll < 0.6:
            cands: Any = steady  # the router's steady state: the same tuple every time
        elif roll < 0.8:
            cands = [o for o in orgs if rnd.random() < 0.7] or [orgs[0]]  # some passed over (a list)
        elif roll < 0.9:
            cands = tuple(rnd.sample(orgs, rnd.randint(1, 6)))  # a tuple out of rank order
        else:
            cands = (*orgs[:3], SimpleNamespace(name="stranger"))  # an org the selector does not know
        want, last = scan_choice(rank, last, cands)
        assert rr.choose(cands, "m", OrgStats(), rnd) == want
        assert rr._last == last
