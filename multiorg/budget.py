"""Retry budget: retries may add at most ``ratio`` times the requests (+ a floor per second) over a
sliding window, so a sick fleet is not hit by a retry storm (Finagle/Envoy-style budgets).
Local to one pod; counted in one-second buckets so memory stays bounded."""

from __future__ import annotations

from collections import deque


class RetryBudget:
    __slots__ = ("_buckets", "_floor", "_ratio", "_requests", "_retries", "_window")

    def __init__(self, ratio: float, min_per_s: float, window: float) -> None:
        self._ratio = ratio
        self._floor = min_per_s * window
        self._window = window
        self._buckets: deque[list[float]] = deque()  # [second, requests, retries]
        self._requests = 0.0
        self._retries = 0.0

    def _bucket(self, now: float) -> list[float]:
        sec = float(int(now))
        b = self._buckets
        if not b or b[-1][0] != sec:
            horizon = sec - self._window
            while b and b[0][0] <= horizon:
                _, req, ret = b.popleft()
                self._requests -= req
                self._retries -= ret
            b.append([sec, 0.0, 0.0])
        return b[-1]

    def request(self, now: float) -> None:
        b = self._buckets
        if b and b[-1][0] == float(int(now)):  # once per request: the current second's bucket, inline
            b[-1][1] += 1
        else:
            self._bucket(now)[1] += 1
        self._requests += 1

    def try_retry(self, now: float) -> bool:
        """Spend one retry if the budget allows it."""
        bucket = self._bucket(now)
        if self._retries + 1 > self._ratio * self._requests + self._floor:
            return False
        bucket[2] += 1
        self._retries += 1
        return True
