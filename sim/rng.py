"""Deterministic randomness: one root seed, one named stream per component.

Each component (traffic, each org's latency, each org's errors, each pod's router, ...) gets
its own :class:`numpy.random.SeedSequence`, derived from the root seed and a *stable hash of
its name* used as the spawn key — exactly what ``SeedSequence.spawn`` does with an index, but
keyed by name. So adding an org, a pod or a fault never reshuffles the draws of any other
component, and two runs with the same seed draw the same numbers.

Numpy scalar draws cost about a microsecond each, so streams hand out values from batches
(:data:`BATCH` at a time); a batch is refilled from the same generator when used up, which
keeps the sequence a pure function of (seed, name, number of draws).
"""

from __future__ import annotations

import hashlib
import random

import numpy as np

BATCH = 4096


def name_key(name: str) -> int:
    """A stable 63-bit integer for a component name (never Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") >> 1


class Seeds:
    """The root of all randomness of one run."""

    __slots__ = ("root",)

    def __init__(self, root: int) -> None:
        if root < 0:
            raise ValueError(f"seed must be >= 0, got {root}")
        self.root = int(root)

    def sequence(self, name: str) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.root, spawn_key=(name_key(name),))

    def generator(self, name: str) -> np.random.Generator:
        """A numpy generator for vectorised draws (traffic)."""
        return np.random.Generator(np.random.PCG64(self.sequence(name)))

    def stream(self, name: str) -> Stream:
        """Batched scalar draws for per-event decisions (vendor models)."""
        return Stream(self.generator(name))

    def python_random(self, name: str) -> random.Random:
        """A ``random.Random`` seeded from the named stream (the router's injected RNG)."""
        seed = int(self.sequence(name).generate_state(2, np.uint64).view(np.uint64)[0])
        return random.Random(seed)


class Stream:
    """Uniform and standard-normal scalars from batches of one generator.

    ``uniform`` and ``normal`` keep separate buffers, each refilled from the one generator in
    the order they run dry — deterministic, since callers draw in a deterministic order.
    """

    __slots__ = ("_gen", "_n", "_ni", "_u", "_ui")

    def __init__(self, gen: np.random.Generator) -> None:
        self._gen = gen
        self._u: list[float] = []
        self._ui = 0
        self._n: list[float] = []
        self._ni = 0

    def uniform(self) -> float:
        i = self._ui
        if i >= len(self._u):
            self._u = self._gen.random(BATCH).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def uniform2(self) -> tuple[float, float]:
        """Two uniforms (the same values as two calls of :meth:`uniform`)."""
        i = self._ui
        u = self._u
        if i + 2 <= len(u):
            self._ui = i + 2
            return u[i], u[i + 1]
        return self.uniform(), self.uniform()

    def normal(self) -> float:
        i = self._ni
        if i >= len(self._n):
            self._n = self._gen.standard_normal(BATCH).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]
