"""Dedicated capacity: a deployment that *your own* traffic saturates.

An org (or one model of an org) may declare ``capacity`` beside or instead of RPM/TPM limits:

``provisioned`` (Azure OpenAI PTU, OpenAI Scale Tier)
    tokens per minute of throughput. Azure's "variation of the leaky bucket": each admitted
    request adds its tokens to a utilisation level that drains at ``tpm / 60`` per second; while
    the level is at or above what ``burst`` seconds drain (100 % utilisation) the deployment
    answers 429 with ``retry-after-ms`` (the time until it is below again); under it latency is
    the org's own, whatever the load. (Azure adds the estimate ``prompt + max_tokens`` and
    corrects it to the tokens generated when the request ends; here the generated tokens are
    known when it starts, so they are added at once.)
``pool`` (self-hosted vLLM / TGI)
    ``replicas`` x ``concurrency`` sequence slots, continuous batching, one FIFO queue in front.
    A request takes the slot that is free first; if none is free now it waits in the queue
    (at most ``queue`` waiting: beyond, 503 at once; a wait longer than ``queue_timeout``: 503
    after that long). It holds its slot for ``prefill + output tokens x tpot x (1 +
    batch_slowdown x (b - 1))``, ``b`` being the sequences running on its replica when it starts
    (itself included) — the time per output token grows with the batch. The server finishes
    what it started even when the client has given up (a timed-out request still holds its
    slot): that wasted work is what lets retries keep a pool overloaded after its trigger ends.

Both are decided in :meth:`sim.vendor_model.OrgModel.decide`, so fast and full mode — and every
pod, retries included — meet the same capacity. A FIFO queue's start times do not depend on later
arrivals, so a request's wait is known when it arrives: the pool needs no simulated process of
its own, only the time each slot is free again (the Kiefer-Wolfowitz recursion of a multi-server
queue). Simplification: a request's time per output token is fixed when it starts (later
joiners do not slow it down).

Each one counts, per minute of the run, what was offered to it and what it refused; the trace's
``meta["capacity"]["dedicated"]`` carries that (:meth:`PoolCapacity.meta`), and the report's
overload chart draws it.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from faults.units import count, duration, rate

from .rng import Stream

#: seconds per bin of the offered-load counts (the demand's bin, :data:`sim.recorder.DEMAND_BIN`)
CAPACITY_BIN = 60.0

_NUM_OR_STR: Any = float | str
_Count = Annotated[int, BeforeValidator(count, json_schema_input_type=int | str)]
_Seconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(ge=0)]
_PositiveSeconds = Annotated[float, BeforeValidator(duration, json_schema_input_type=_NUM_OR_STR), Field(gt=0)]
_Share = Annotated[float, BeforeValidator(rate, json_schema_input_type=_NUM_OR_STR), Field(ge=0)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Provisioned(_Frozen):
    """Provisioned throughput (Azure PTU, OpenAI Scale Tier): tokens per minute."""

    kind: Literal["provisioned"]
    tpm: _Count = Field(gt=0)
    #: seconds of throughput the utilisation bucket holds before it is at 100 % (Azure evaluates
    #: short windows of 1 to 10 s; a window of a few requests wastes capacity on Poisson gaps)
    burst: _PositiveSeconds = 10.0

    def scaled(self, f: float) -> Provisioned:
        return self.model_copy(update={"tpm": max(1, round(self.tpm * f))})


class Pool(_Frozen):
    """A self-hosted serving pool (vLLM, TGI): replicas x concurrent sequences, a bounded queue."""

    kind: Literal["pool"]
    replicas: int = Field(default=1, ge=1)
    #: sequences one replica runs at once (continuous batching)
    concurrency: int = Field(default=16, ge=1)
    #: per request: prompt processing before the first output token
    prefill: _Seconds = 0.1
    #: time per output token with one sequence in the batch
    tpot: _Seconds = 0.02
    #: per extra sequence in the batch, the time per output token grows by this share
    batch_slowdown: _Share = 0.0
    #: requests that may wait for a slot (0: none); beyond it, 503 at once
    queue: int = Field(default=256, ge=0)
    #: a request that would wait longer than this gets a 503 after this long (None: waits)
    queue_timeout: _PositiveSeconds | None = 60.0
    #: ``fixed``: the service time is the formula's; ``exponential``: drawn with that mean (M/M/c)
    service: Literal["fixed", "exponential"] = "fixed"

    def scaled(self, f: float) -> Pool:
        """Replicas (and the queue) times ``f``, whole, at least one replica."""
        return self.model_copy(
            update={
                "replicas": max(1, round(self.replicas * f)),
                "queue": max(0, round(self.queue * f)) if self.queue else 0,
            }
        )

    @property
    def slots(self) -> int:
        return self.replicas * self.concurrency


Capacity = Annotated[Provisioned | Pool, Field(discriminator="kind")]


class Refusal(NamedTuple):
    """Dedicated capacity said no: answer ``status`` (429 or 503) after ``latency`` (None: the
    org's reject latency); ``wait``: seconds until it would say yes (the 429's retry-after)."""

    status: int
    latency: float | None
    wait: float
    #: provisioned: the utilisation bucket's capacity, its level and the tokens asked (the 429's text)
    detail: dict[str, Any] | None


def _bin(now: float, n_bins: int) -> int:
    b = int(now // CAPACITY_BIN)
    return b if b < n_bins else n_bins - 1


class ProvisionedCapacity:
    """The utilisation bucket of one provisioned deployment (see the module's doc)."""

    __slots__ = ("burst_tokens", "last", "level", "n_bins", "offered", "rate", "rejected", "spec")

    def __init__(self, spec: Provisioned, duration: float) -> None:
        self.spec = spec
        self.rate = spec.tpm / 60.0
        self.burst_tokens = self.rate * spec.burst
        self.level = 0.0
        self.last = 0.0
        self.n_bins = max(1, math.ceil(duration / CAPACITY_BIN))
        #: per bin: tokens offered (prompt + completion of every attempt that reached it), tokens refused
        self.offered = [0] * self.n_bins
        self.rejected = [0] * self.n_bins

    def admit(self, tokens: int, now: float) -> Refusal | None:
        """Admit ``tokens`` at ``now`` (None) or refuse them (a 429 after the reject latency)."""
        level = self.level - (now - self.last) * self.rate
        if level < 0.0:
            level = 0.0
        self.level = level
        self.last = now
        b = _bin(now, self.n_bins)
        self.offered[b] += tokens
        full = self.burst_tokens
        if level >= full:
            self.rejected[b] += tokens
            wait = (level - full) / self.rate
            return Refusal(
                429, None, wait, {"limit": self.spec.tpm, "used": int(level), "requested": tokens, "wait": wait}
            )
        self.level = level + tokens
        return None

    def meta(self) -> dict[str, Any]:
        return {
            "kind": "provisioned",
            "bin": CAPACITY_BIN,
            "tpm": self.spec.tpm,
            "offered_tokens": list(self.offered),
            "rejected_tokens": list(self.rejected),
        }


class PoolCapacity:
    """The slots and queue of one serving pool (see the module's doc)."""

    __slots__ = (
        "_free",
        "_slot_free",
        "_starts",
        "_stream",
        "attempts",
        "n_bins",
        "offered",
        "queued",
        "refused",
        "replicas",
        "spec",
    )

    def __init__(self, spec: Pool, stream: Stream, duration: float) -> None:
        self.spec = spec
        self.replicas = spec.replicas
        self._stream = stream
        n = spec.slots
        #: (time the slot is free again, slot): slot ``k`` is on replica ``k % replicas``
        self._free: list[tuple[float, int]] = [(0.0, k) for k in range(n)]
        self._slot_free = [0.0] * n
        #: start times of admitted requests still waiting (the queue)
        self._starts: list[float] = []
        self.n_bins = max(1, math.ceil(duration / CAPACITY_BIN))
        #: per bin: attempts that reached the pool, their service demand (slot-seconds), how many
        #: were refused (503), the longest queue seen
        self.attempts = [0] * self.n_bins
        self.offered = [0.0] * self.n_bins
        self.refused = [0] * self.n_bins
        self.queued = [0] * self.n_bins

    def service_time(self, out_tokens: int, batch: int, factor: float, add: float) -> float:
        """Seconds a request of ``out_tokens`` holds its slot in a batch of ``batch`` (noise not drawn)."""
        s = self.spec
        return (s.prefill + out_tokens * s.tpot * (1.0 + s.batch_slowdown * (batch - 1))) * factor + add

    def admit(self, out_tokens: int, now: float, factor: float = 1.0, add: float = 0.0) -> float | Refusal:
        """The seconds from ``now`` until a request of ``out_tokens`` is answered (queue wait +
        service), or a 503 :class:`Refusal`. ``factor`` / ``add``: latency modifiers (faults,
        drift) applied to the service time."""
        spec = self.spec
        starts = self._starts
        while starts and starts[0] <= now:
            heappop(starts)
        free = self._free
        f, k = free[0]
        start = now if f < now else f
        b = _bin(now, self.n_bins)
        self.attempts[b] += 1
        noise = 1.0
        if spec.service == "exponential":
            noise = -math.log(1.0 - self._stream.uniform())
        if start > now:
            waiting = len(starts)
            if waiting + 1 > self.queued[b]:
                self.queued[b] = waiting + 1
            timeout = spec.queue_timeout
            if waiting >= spec.queue or (timeout is not None and start - now > timeout):
                self.offered[b] += self.service_time(out_tokens, spec.concurrency, factor, add) * noise
                self.refused[b] += 1
                return Refusal(503, None if waiting >= spec.queue else timeout, 0.0, None)
        heappop(free)
        # the batch on this slot's replica when the request starts, itself included
        batch = 1
        for t in self._slot_free[k % self.replicas :: self.replicas]:
            if t > start:
                batch += 1
        service = self.service_time(out_tokens, batch, factor, add) * noise
        self.offered[b] += service
        end = start + service
        heappush(free, (end, k))
        self._slot_free[k] = end
        if start > now:
            heappush(starts, start)
        return end - now

    def meta(self) -> dict[str, Any]:
        s = self.spec
        return {
            "kind": "pool",
            "bin": CAPACITY_BIN,
            "slots": s.slots,
            "replicas": s.replicas,
            "concurrency": s.concurrency,
            "attempts": list(self.attempts),
            "offered_seconds": [round(x, 6) for x in self.offered],
            "refused": list(self.refused),
            "max_queue": list(self.queued),
        }


DedicatedCapacity = ProvisionedCapacity | PoolCapacity


def build_capacity(spec: Provisioned | Pool, stream: Stream, duration: float) -> DedicatedCapacity:
    """The run-time state of one declared capacity."""
    if isinstance(spec, Provisioned):
        return ProvisionedCapacity(spec, duration)
    return PoolCapacity(spec, stream, duration)
