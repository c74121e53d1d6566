"""Simulated vendor orgs: latency, error curves, rate limits and lockouts, decided per attempt.

One :class:`OrgModel` per org. :meth:`OrgModel.decide` is the single decision function both
simulation modes call, in the same order, so they make the same random draws: every decision
draws exactly one normal (latency stream) and two uniforms (error stream), whatever the
branch — and an org with a token-aware latency two more normals from its own tokens stream —
so one org's decisions never shift another's or depend on which branch was taken.

Per decision, in this order (as a vendor checks them):

1. a lockout (quota / auth / deactivated) active now → its error answer after ``reject_latency``;
2. a model the org does not serve → 404 (client error);
3. rate limits: RPM and TPM per (org, model) as continuously refilling token buckets
   (refill limit/60 per second; capacity one second's refill — OpenAI's quantized limits — or,
   with ``enforcement: minute``, the whole limit; see :class:`Bucket`; a request takes 1 request
   and prompt + max_tokens tokens; Anthropic's ITPM/OTPM take the prompt and max_tokens). Not
   enough → 429 with the vendor's headers after ``reject_latency``; nothing is consumed.
   Otherwise every bucket is charged;
   then dedicated capacity (:mod:`sim.capacity`), if the org or model has one: a provisioned
   deployment over 100 % utilisation → 429 with ``retry-after-ms``; a pool with its queue full
   or a wait past ``queue_timeout`` → 503; else the pool's wait + service replaces the sampled
   latency of step 5;
4. the error rate now (piecewise-linear curve, modified) → a failure drawn from the status mix:
   a 5xx/529 answer after latency x ``error_latency`` (token-aware: the time to first token's —
   an error writes no tokens), a hang (``timeout``) that costs the whole attempt timeout, or a
   connection reset after ``connect_latency``;
5. a success after the sampled latency — one lognormal from median and p99, or token-aware:
   TTFT + completion tokens x TPOT, the completion drawn per request up to ``max_tokens``
   (:meth:`OrgModel._token_latency`) — x the drift curve and modifiers, on the part they name.
   A latency beyond the attempt's timeout costs the timeout and raises a timeout — respx does
   not enforce httpx timeouts, so the vendor does. The success body's completion tokens: the
   drawn length (token-aware), else 60 % of ``max_tokens``.

Modifiers (:class:`sim.scenario.Modifier`) are time windows layered on the base model; the
faults catalogue compiles faults into them. Base lockouts are modifiers too.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from math import exp
from typing import Any, NamedTuple

from . import wire
from .capacity import DedicatedCapacity, PoolCapacity, Refusal, build_capacity
from .latency import lognormal_sigma
from .rng import Seeds, Stream
from .scenario import DEFAULT_MIX, Latency, Modifier, OutputShare, Scenario, SimOrg, curve_points

#: the enforcement window of a rate limit, in seconds (``SimOrg.enforcement``)
WINDOWS = {"second": 1.0, "minute": 60.0}
#: exception kinds of a decision
NONE, TIMEOUT, CONNECT = 0, 1, 2
_INF = math.inf


class Curve:
    """A piecewise-linear function of time (constant before the first and after the last point)."""

    __slots__ = ("_i", "_t", "_v", "const")

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        pts = sorted(points, key=lambda p: p[0])
        self._t = [float(t) for t, _ in pts]
        self._v = [float(v) for _, v in pts]
        self.const: float | None = self._v[0] if len(set(self._v)) == 1 else None
        self._i = 0

    def __call__(self, t: float) -> float:
        c = self.const
        if c is not None:
            return c
        ts = self._t
        i = self._i
        if t < ts[i] or (i + 1 < len(ts) and t >= ts[i + 1]):
            i = max(0, bisect_right(ts, t) - 1)
            self._i = i
        if t <= ts[i] and i == 0:
            return self._v[0]
        if i + 1 >= len(ts):
            return self._v[-1]
        t0, t1 = ts[i], ts[i + 1]
        v0, v1 = self._v[i], self._v[i + 1]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


class Bucket:
    """A continuously refilling token bucket over an enforcement window.

    The limit is per minute; the bucket refills at ``limit x factor / 60`` per second and holds
    what ``window`` seconds refill: ``window = 60`` is the whole per-minute limit, ``window = 1``
    OpenAI's quantized enforcement ("60,000 requests/minute may be enforced as 1,000
    requests/second": https://platform.openai.com/docs/guides/rate-limits, "Rate limits can be
    quantized"). A per-second bucket smaller than one request never admits that request, so its
    capacity is floored at one request's worth — ``n`` (1 request, or the request's prompt +
    max_tokens) — but never above the per-minute limit: a bucket whose per-minute limit is below
    one request (the ``rate_limit_storm`` fault) still admits none.
    """

    __slots__ = ("cap", "cap_w", "factor", "last", "level", "limit", "rate", "window")

    def __init__(self, limit: float, window: float = 60.0) -> None:
        self.limit = float(limit)
        self.window = float(window)
        self.factor = 1.0
        self.last = 0.0
        self._set(1.0)
        # full for any request: each refill clamps the level to that request's ceiling
        self.level = self.cap

    def _set(self, factor: float) -> None:
        self.factor = factor
        #: per minute, per second, and what the window holds (before the one-request floor)
        self.cap = self.limit * factor
        self.rate = self.cap / 60.0
        self.cap_w = self.rate * self.window

    def ceiling(self, n: float) -> float:
        """What the bucket holds for a request of ``n``: the window's capacity, floored at
        ``min(n, per-minute limit)``."""
        cw = self.cap_w
        if cw >= n:
            return cw
        return n if n < self.cap else self.cap

    def reset_in(self, level: float) -> float:
        """Seconds until a bucket at ``level`` is full again (what the reset headers say)."""
        left = self.ceiling(1.0) - level
        return left / self.rate if left > 0.0 else 0.0

    def refill(self, now: float, factor: float, n: float = 1.0) -> float:
        """Bring the level to ``now`` (under ``factor``) for a request of ``n`` and return it."""
        if factor != self.factor:
            # the refill up to now happened at the old rate, under the old ceiling
            self.level = min(self.ceiling(n), self.level + (now - self.last) * self.rate)
            self.last = now
            self._set(factor)
        level = self.level + (now - self.last) * self.rate
        ceil = self.ceiling(n)
        if level > ceil:
            level = ceil
        self.level = level
        self.last = now
        return level


def _mix_table(mix: dict[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    kinds = tuple(k for k, w in mix.items() if w > 0)
    if not kinds:
        raise ValueError("an error mix needs a positive weight")
    total = sum(mix[k] for k in kinds)
    cum, acc = [], 0.0
    for k in kinds:
        acc += mix[k] / total
        cum.append(acc)
    cum[-1] = 1.0
    return kinds, tuple(cum)


class _Effect:
    """What the active modifiers do to one (org, model) right now."""

    __slots__ = ("err_add", "err_set", "lat_add", "lat_factor", "limits", "lockout", "mix", "parts", "rpm_factor",
                 "tok_add", "tpm_factor")

    def __init__(self, mods: Sequence[Modifier]) -> None:
        #: the formatted (request, token) limit headers of the one model this effect is for
        #: (filled in by :class:`SuccessHeaders`)
        self.limits: tuple[str | None, str | None] | None = None
        self.lockout: str | None = None
        self.err_set: float | None = None
        self.err_add = 0.0
        self.mix: tuple[tuple[str, ...], tuple[float, ...]] | None = None
        #: a one-lognormal latency has no parts: every slowness acts on the whole (``lat_factor``,
        #: ``lat_add``), a per-output-token add (``tok_add``) on its nominal completion
        self.lat_factor = 1.0
        self.lat_add = 0.0
        self.tok_add = 0.0
        #: a token-aware latency's: (factor, add) of the whole, of the TTFT, of the TPOT
        both_f = ttft_f = tpot_f = 1.0
        both_a = ttft_a = tpot_a = 0.0
        self.rpm_factor = 1.0
        self.tpm_factor = 1.0
        for m in mods:
            if m.lockout is not None:
                self.lockout = m.lockout
            if m.error_rate_set is not None:
                self.err_set = m.error_rate_set
            self.err_add += m.error_rate_add
            if m.error_mix is not None:
                self.mix = _mix_table(m.error_mix)
            f, a, part = m.latency_factor, m.latency_add, m.latency_part
            self.lat_factor *= f
            if part == "both":
                self.lat_add += a
                both_f *= f
                both_a += a
            elif part == "ttft":
                self.lat_add += a
                ttft_f *= f
                ttft_a += a
            else:
                self.tok_add += a
                tpot_f *= f
                tpot_a += a
            self.rpm_factor *= m.rpm_factor
            self.tpm_factor *= m.tpm_factor
        self.parts = (both_f, both_a, ttft_f, ttft_a, tpot_f, tpot_a)


class _TokenLatency(NamedTuple):
    """A token-aware latency's parameters (:class:`sim.scenario.Latency`)."""

    ttft_median: float
    ttft_sigma: float
    tpot_median: float
    tpot_sigma: float
    #: the completion's share of max_tokens
    out_median: float
    out_sigma: float
    #: what a request without max_tokens may write
    out_max: int

    @classmethod
    def of(cls, lat: Latency) -> _TokenLatency | None:
        if lat.ttft is None or lat.tpot is None:
            return None
        out = lat.output or OutputShare()
        return cls(lat.ttft.median, lat.ttft.sigma, lat.tpot.median, lat.tpot.sigma, out.median,
                   lognormal_sigma(out.median, out.p99), out.max_tokens)


class _ModelState:
    __slots__ = ("dedicated", "inputs", "median", "name", "outputs", "requests", "sigma", "tok", "tokens")

    def __init__(self, name: str, latency: Latency, rpm: int | None, tpm: int | None,
                 window: float = 1.0, itpm: int | None = None, otpm: int | None = None) -> None:
        self.name = name
        #: token-aware (None: one lognormal, ``median`` and ``sigma``)
        self.tok = _TokenLatency.of(latency)
        self.median = 0.0 if self.tok is not None else float(latency.median)  # type: ignore[arg-type]
        self.sigma = 0.0 if self.tok is not None else latency.sigma
        self.requests = Bucket(rpm, window) if rpm else None
        self.tokens = Bucket(tpm, window) if tpm else None
        # Anthropic's separate input / output token limits (ITPM / OTPM)
        self.inputs = Bucket(itpm, window) if itpm else None
        self.outputs = Bucket(otpm, window) if otpm else None
        #: the deployment's dedicated capacity (:mod:`sim.capacity`), the org's or its own
        self.dedicated: DedicatedCapacity | None = None


class Decision(NamedTuple):
    """One attempt's fate. ``exc``: NONE (an HTTP answer), TIMEOUT or CONNECT (raise after ``latency``)."""

    latency: float
    status: int
    #: the error key (``wire.*``, an error-mix kind), None for a success
    error: str | None
    exc: int
    headers: Mapping[str, str] | None
    body: dict[str, Any] | None


_new_decision = tuple.__new__

#: the counter headers the router reads on every answer, per vendor: (remaining requests,
#: remaining tokens, limit of requests, limit of tokens)
_COUNTER_NAMES = {
    "openai": ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens", "x-ratelimit-limit-requests",
               "x-ratelimit-limit-tokens"),
    "anthropic": ("anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-tokens-remaining",
                  "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-tokens-limit"),
}
#: per vendor, header name -> 0..3 (the index in its ``_COUNTER_NAMES``), -1 for the other vendor's
#: counters (never present: answered without rendering the headers)
_COUNTERS = {
    vendor: {**{k: -1 for other in _COUNTER_NAMES if other != vendor for k in _COUNTER_NAMES[other]},
             **{k: c for c, k in enumerate(names)}}
    for vendor, names in _COUNTER_NAMES.items()
}


class SuccessHeaders(Mapping[str, str]):
    """The headers of a successful answer, rendered on demand.

    The router reads only the limit and remaining counters of a success; formatting every header
    (reset durations, timestamps, ids) costs more than the rest of the decision. The counters are
    served directly, formatted exactly as :meth:`OrgModel._limit_headers` formats them; any other
    access renders the whole header set once (full mode encodes them all into the HTTP response,
    so both modes see the same values).
    """

    __slots__ = ("_dict", "_eff", "_latency", "_lr", "_lt", "_ms", "_now", "_org", "_rid")

    def __init__(self, org: OrgModel, ms: _ModelState, eff: _Effect, lvl_r: float, lvl_t: float, now: float,
                 latency: float, rid: str) -> None:
        self._org = org
        self._ms = ms
        self._eff = eff
        self._lr = lvl_r
        self._lt = lvl_t
        self._now = now
        self._latency = latency
        self._rid = rid
        self._dict: dict[str, str] | None = None

    def _render(self) -> dict[str, str]:
        d = self._dict
        if d is None:
            org = self._org
            d = org._limit_headers(self._ms, self._eff, self._lr, self._lt, self._now)
            if org._azure:
                d["x-ms-region"] = org._region
                d["apim-request-id"] = d["x-request-id"] = "req_" + self._rid
            elif org._openai:
                d["openai-organization"] = org.org_id
                d["openai-processing-ms"] = str(int(self._latency * 1000.0))
                d["x-request-id"] = "req_" + self._rid
            else:
                d["request-id"] = "req_" + self._rid
            self._dict = d
        return d

    def get(self, key: str, default: Any = None) -> Any:
        if self._dict is None:
            c = self._org._counters.get(key)
            if c is not None:
                if c == 0:
                    return default if self._ms.requests is None else str(int(self._lr))
                if c == 1:
                    return default if self._ms.tokens is None else str(int(self._lt))
                if c < 0:
                    return default
                # the limits change only with the modifiers: formatted once per (model, effect)
                eff = self._eff
                lim = eff.limits
                if lim is None:
                    rq, tk = self._ms.requests, self._ms.tokens
                    lim = eff.limits = (None if rq is None else str(int(rq.limit * eff.rpm_factor)),
                                        None if tk is None else str(int(tk.limit * eff.tpm_factor)))
                v = lim[c - 2]
                return default if v is None else v
        return self._render().get(key, default)

    def __getitem__(self, key: str) -> str:
        return self._render()[key]

    def copy(self) -> dict[str, str]:
        """All the headers as a new dict (what full mode encodes), like ``dict.copy``."""
        return dict(self._render())

    def __contains__(self, key: object) -> bool:
        return key in self._render()

    def __iter__(self) -> Iterator[str]:
        return iter(self._render())

    def __len__(self) -> int:
        return len(self._render())

    def __repr__(self) -> str:
        return f"SuccessHeaders({self._render()!r})"


class OrgModel:
    """One simulated org of one vendor."""

    def __init__(self, index: int, vendor: str, spec: SimOrg, modifiers: Sequence[Modifier],
                 seeds: Seeds, start_epoch: float, duration: float = 86400.0) -> None:
        self.index = index
        self.vendor = vendor
        self.spec = spec
        self.name = spec.name
        self.org_id = spec.org_id or (f"org-{spec.name}" if vendor == "openai" else spec.name)
        self.start_epoch = start_epoch
        self._lat: Stream = seeds.stream(f"org:{spec.name}:latency")
        self._err: Stream = seeds.stream(f"org:{spec.name}:errors")
        self._error_curve = Curve(curve_points(spec.error_rate))
        self._drift = Curve(curve_points(spec.latency_drift))
        self._mix = _mix_table(spec.error_mix if spec.error_mix is not None else DEFAULT_MIX[vendor])
        self._reject = spec.reject_latency
        self._err_lat = spec.error_latency
        self._connect = spec.connect_latency
        self._openai = vendor != "anthropic"  # Azure OpenAI answers with OpenAI's counters and 429 headers
        self._azure = vendor == "azure"
        az = spec.azure
        self._region = wire.AZURE_REGION_NAMES.get(az.region, az.region) if az is not None else ""
        self._api_version = az.api_version if az is not None else ""
        self._counters = _COUNTERS["openai" if self._openai else "anthropic"]
        self._counter = 0
        self._rid = f"{index:x}z"
        self._last_change = -_INF
        # models: explicit specs, then the org's limits (a served model with no limits is unlimited)
        self._models: dict[str, _ModelState] = {}
        names = list(spec.models) + [m for m in spec.limits if m not in spec.models]
        for m in names:
            ms = spec.models.get(m)
            lat = ms.latency if ms is not None and ms.latency is not None else spec.latency
            lim = spec.limits.get(m)
            rpm = ms.rpm if ms is not None and ms.rpm is not None else (lim.rpm if lim else None)
            tpm = ms.tpm if ms is not None and ms.tpm is not None else (lim.tpm if lim else None)
            enforcement = spec.enforcement_of(m)
            self._models[m] = _ModelState(m, lat, rpm, tpm, WINDOWS[enforcement],
                                          ms.itpm if ms is not None else None, ms.otpm if ms is not None else None)
        self._serves_all = not self._models
        # token-aware latency draws two more normals per decision (TPOT, output length), from a
        # stream of its own: every other stream's draws stay as they were
        token_aware = spec.latency.token_aware or any(
            ms.latency is not None and ms.latency.token_aware for ms in spec.models.values())
        self._tokens: Stream | None = seeds.stream(f"org:{spec.name}:tokens") if token_aware else None
        self._z_tpot = self._z_out = 0.0
        self._drift_part = spec.latency_drift_part
        # dedicated capacity: the org's, shared by all its models, or a model's own (own streams:
        # a pool's draws never shift the org's latency and error draws)
        # (a capacity named by another org is shared: :meth:`VendorWorld` hands it over)
        self._shared = False
        self._dedicated = None if spec.capacity is None or isinstance(spec.capacity, str) else build_capacity(
            spec.capacity, seeds.stream(f"org:{spec.name}:capacity"), duration)
        for m, state in self._models.items():
            own = spec.models.get(m)
            state.dedicated = self._dedicated if own is None or own.capacity is None else build_capacity(
                own.capacity, seeds.stream(f"org:{spec.name}:{m}:capacity"), duration)
        # modifiers that target this org (base lockouts first, then scenario modifiers in order)
        mods = [Modifier(kind=f"lockout:{lo.kind}", label=lo.label, targets=(spec.name,), start=lo.start,
                         end=lo.end, lockout=lo.kind) for lo in spec.lockouts]
        mods += [m for m in modifiers if _targets(m, spec.name, vendor)]
        self._mods = mods
        bounds = sorted({b for m in mods for b in (m.start, m.end) if b is not None})
        self._bounds = bounds
        self._next_change = -_INF
        self._active: list[Modifier] = []
        self._effects: dict[str, _Effect] = {}
        self.decisions = 0

    def __repr__(self) -> str:
        return f"OrgModel({self.vendor}:{self.name})"

    # ------------------------------------------------------------------ modifiers

    def _effect(self, model: str, now: float) -> _Effect:
        if now >= self._next_change or now < self._last_change:
            self._refresh(now)
        eff = self._effects.get(model)
        if eff is None:
            eff = _Effect([m for m in self._active if m.models is None or model in m.models])
            self._effects[model] = eff
        return eff

    def _refresh(self, now: float) -> None:
        self._active = [m for m in self._mods if m.start <= now and (m.end is None or now < m.end)]
        i = bisect_right(self._bounds, now)
        self._next_change = self._bounds[i] if i < len(self._bounds) else _INF
        self._last_change = self._bounds[i - 1] if i > 0 else -_INF
        self._effects = {}

    def limits_over_time(self) -> dict[str, list[tuple[float, float | None, float | None]]]:
        """Per (vendor) model with a limit, the RPM and TPM this org enforces from each change on:
        ``[(from sim second, rpm, tpm), ...]`` — faults' factors applied, 0 while locked out,
        None = unlimited. (What a capacity chart draws; decisions never read it.)"""
        times = [0.0, *(b for b in self._bounds if b > 0.0)]
        out: dict[str, list[tuple[float, float | None, float | None]]] = {}
        for name, ms in self._models.items():
            if ms.requests is None and ms.tokens is None:
                continue
            steps: list[tuple[float, float | None, float | None]] = []
            for t in times:
                eff = _Effect([m for m in self._mods if m.start <= t and (m.end is None or t < m.end)
                               and (m.models is None or name in m.models)])
                rpm = None if ms.requests is None else 0.0 if eff.lockout else ms.requests.limit * eff.rpm_factor
                tpm = None if ms.tokens is None else 0.0 if eff.lockout else ms.tokens.limit * eff.tpm_factor
                if not steps or steps[-1][1:] != (rpm, tpm):
                    steps.append((t, rpm, tpm))
            out[name] = steps
        return out

    def _model(self, name: str) -> _ModelState | None:
        ms = self._models.get(name)
        if ms is None and self._serves_all:
            ms = _ModelState(name, self.spec.latency, None, None)
            ms.dedicated = self._dedicated
            self._models[name] = ms
        return ms

    # ------------------------------------------------------------------ the decision

    def decide(self, model: str, prompt_tokens: int, max_tokens: int, timeout: float, now: float) -> Decision:
        """The fate of one attempt arriving at simulated time ``now`` (seconds since t = 0)."""
        # Stream.normal() and Stream.uniform2(), inlined on their batch buffers (two method calls
        # less per decision); the refill paths stay in the Stream, so the draws are the same.
        st = self._lat
        i = st._ni
        buf = st._n
        if i < len(buf):
            z = buf[i]
            st._ni = i + 1
        else:
            z = st.normal()
        st = self._err
        i = st._ui
        buf = st._u
        if i + 2 <= len(buf):
            u_err = buf[i]
            u_kind = buf[i + 1]
            st._ui = i + 2
        else:
            u_err, u_kind = st.uniform2()
        if self._tokens is not None:
            self._z_tpot = self._tokens.normal()
            self._z_out = self._tokens.normal()
        self._counter += 1
        if now >= self._next_change or now < self._last_change:
            self._refresh(now)
        eff = self._effects.get(model) or self._effect(model, now)
        if eff.lockout is not None:
            return self._error(eff.lockout, model, self._reject, timeout, None)
        ms = self._models.get(model) or self._model(model)
        if ms is None:
            return self._error(wire.NOT_FOUND, model, self._reject, timeout, None)
        n_tokens = prompt_tokens + max_tokens
        rq, tk = ms.requests, ms.tokens
        lvl_r = lvl_t = 0.0
        if rq is not None:
            if eff.rpm_factor == rq.factor:  # inlined Bucket.refill (n = 1 request)
                lvl_r = rq.level + (now - rq.last) * rq.rate
                c = rq.cap_w
                if c < 1.0:
                    c = rq.ceiling(1.0)
                if lvl_r > c:
                    lvl_r = c
                rq.last = now
            else:
                lvl_r = rq.refill(now, eff.rpm_factor)
            rq.level = lvl_r
        if tk is not None:
            if eff.tpm_factor == tk.factor:
                lvl_t = tk.level + (now - tk.last) * tk.rate
                c = tk.cap_w
                if c < n_tokens:
                    c = n_tokens if n_tokens < tk.cap else tk.cap
                if lvl_t > c:
                    lvl_t = c
                tk.last = now
            else:
                lvl_t = tk.refill(now, eff.tpm_factor, n_tokens)
            tk.level = lvl_t
        if (rq is not None and lvl_r < 1.0) or (tk is not None and lvl_t < n_tokens):
            return self._rate_limited(ms, eff, model, lvl_r, lvl_t, n_tokens, timeout, now)
        if ms.inputs is not None or ms.outputs is not None:
            refused = self._io_limited(ms, eff, model, prompt_tokens, max_tokens, lvl_r, lvl_t, timeout, now)
            if refused is not None:
                return refused
        if rq is not None:
            lvl_r -= 1.0
            rq.level = lvl_r
        if tk is not None:
            lvl_t -= n_tokens
            tk.level = lvl_t
        tok = ms.tok
        drift = self._drift
        if tok is None:
            latency = ms.median * exp(ms.sigma * z) * (drift.const or drift(now)) * eff.lat_factor + eff.lat_add
            completion = (max_tokens * 3 + 4) // 5
            if eff.tok_add:
                latency += eff.tok_add * completion
            first = latency
        else:
            latency, first, completion = self._token_latency(tok, eff, z, max_tokens, now)
        dedicated = ms.dedicated
        if dedicated is not None:  # a pool's wait + service replaces the sampled latency
            got: float | Refusal | None
            if type(dedicated) is PoolCapacity:
                got = dedicated.admit(completion, now, (drift.const or drift(now)) * eff.lat_factor, eff.lat_add)
            else:
                got = dedicated.admit(prompt_tokens + completion, now)
            if isinstance(got, float):
                latency = first = got
            elif got is not None:
                return self._capacity_refused(got, ms, eff, model, lvl_r, lvl_t, timeout, now)
        rate = eff.err_set
        if rate is None:
            curve = self._error_curve
            rate = curve.const
            if rate is None:
                rate = curve(now)
        if u_err < rate + eff.err_add:
            return self._failure(ms, eff, model, u_kind, first, timeout, lvl_r, lvl_t, now)
        if latency > timeout:
            return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
        rid = self._rid + str(self._counter)
        headers = SuccessHeaders(self, ms, eff, lvl_r, lvl_t, now, latency, rid)
        if self._openai:
            body = wire.openai_success(model, rid, prompt_tokens, completion)
        else:
            body = wire.anthropic_success(model, rid, prompt_tokens, completion)
        return _new_decision(Decision, (latency, 200, None, NONE, headers, body))

    def _token_latency(self, tok: _TokenLatency, eff: _Effect, z: float, max_tokens: int,
                       now: float) -> tuple[float, float, int]:
        """A token-aware latency: (the whole answer's, the first token's, the completion's length).

        TTFT = lognormal (``z``: the latency stream's normal, as the shorthand's), TPOT = lognormal
        (its own normal), the completion = ``max_tokens`` x a lognormal share, capped at
        ``max_tokens``, at least 1 token. The drift and the modifiers act on the part they name:
        ``((ttft x d x f_ttft + a_ttft) + n x (tpot x d x f_tpot + a_tpot)) x d x f_both + a_both``
        (each ``d``: the drift curve where ``latency_drift_part`` names that part, else 1).
        """
        cap = max_tokens if max_tokens > 0 else tok.out_max
        n = int(cap * tok.out_median * exp(tok.out_sigma * self._z_out) + 0.5)
        n = 1 if n < 1 else cap if n > cap else n
        drift = self._drift
        d = drift.const
        if d is None:
            d = drift(now)
        part = self._drift_part
        d_both = d if part == "both" else 1.0
        both_f, both_a, ttft_f, ttft_a, tpot_f, tpot_a = eff.parts
        ttft = tok.ttft_median * exp(tok.ttft_sigma * z) * (d if part == "ttft" else 1.0) * ttft_f + ttft_a
        tpot = tok.tpot_median * exp(tok.tpot_sigma * self._z_tpot) * (d if part == "tpot" else 1.0) * tpot_f + tpot_a
        scale = d_both * both_f
        return (ttft + n * tpot) * scale + both_a, ttft * scale + both_a, n

    def _failure(self, ms: _ModelState, eff: _Effect, model: str, u_kind: float, latency: float, timeout: float,
                 lvl_r: float, lvl_t: float, now: float) -> Decision:
        kinds, cum = eff.mix or self._mix
        k = 0
        while u_kind > cum[k]:
            k += 1
        kind = kinds[k]
        if kind == "timeout":
            return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
        if kind == "reset":
            lat = self._connect
            if lat > timeout:
                return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
            return Decision(lat, 0, "reset", CONNECT, None, None)
        lat = latency * self._err_lat
        if lat > timeout:
            return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
        return self._error(kind, model, lat, timeout, self._limit_headers(ms, eff, lvl_r, lvl_t, now))

    def refuse(self, key: str, model: str, timeout: float) -> Decision:
        """An answer decided before the vendor model runs (a bad org header): no draws, no state."""
        self._counter += 1
        return self._error(key, model, self._reject, timeout, None)

    # ------------------------------------------------------------------ answers

    def _limit_headers(self, ms: _ModelState, eff: _Effect, lvl_r: float, lvl_t: float, now: float) -> dict[str, str]:
        """The vendor's rate-limit headers: the per-minute limit, what the enforcing bucket holds
        now, and when it is full again."""
        rq, tk = ms.requests, ms.tokens
        go = wire.go_duration
        h: dict[str, str] = {}
        if self._openai:
            if rq is not None:
                h["x-ratelimit-limit-requests"] = str(int(rq.limit * eff.rpm_factor))
            if tk is not None:
                h["x-ratelimit-limit-tokens"] = str(int(tk.limit * eff.tpm_factor))
            if rq is not None:
                h["x-ratelimit-remaining-requests"] = str(int(lvl_r))
            if tk is not None:
                h["x-ratelimit-remaining-tokens"] = str(int(lvl_t))
            if rq is not None:
                h["x-ratelimit-reset-requests"] = go(rq.reset_in(lvl_r))
            if tk is not None:
                h["x-ratelimit-reset-tokens"] = go(tk.reset_in(lvl_t))
            return h
        epoch = self.start_epoch + now
        stamp = wire.rfc3339
        for what, b, lvl, f in (("requests", rq, lvl_r, eff.rpm_factor), ("tokens", tk, lvl_t, eff.tpm_factor),
                                ("input-tokens", ms.inputs, None, eff.tpm_factor),
                                ("output-tokens", ms.outputs, None, eff.tpm_factor)):
            if b is None:
                continue
            if lvl is None:  # input / output buckets: as last brought up to date
                lvl = b.level
            h[f"anthropic-ratelimit-{what}-limit"] = str(int(b.limit * f))
            h[f"anthropic-ratelimit-{what}-remaining"] = str(int(lvl))
            h[f"anthropic-ratelimit-{what}-reset"] = stamp(epoch + b.reset_in(lvl))
        return h

    def _io_limited(self, ms: _ModelState, eff: _Effect, model: str, prompt_tokens: int, max_tokens: int,
                    lvl_r: float, lvl_t: float, timeout: float, now: float) -> Decision | None:
        """Anthropic's separate input / output token limits (ITPM / OTPM): the prompt is charged to
        the input bucket, ``max_tokens`` to the output bucket — Anthropic estimates OTPM from
        ``max_tokens`` when a request starts (https://docs.anthropic.com/en/api/rate-limits); the
        adjustment to the tokens actually written at its end is not modelled (conservative).
        A 429 (nothing charged) or None (both charged)."""
        f = eff.tpm_factor
        ib, ob = ms.inputs, ms.outputs
        lvl_i = 0.0 if ib is None else ib.refill(now, f, prompt_tokens)
        lvl_o = 0.0 if ob is None else ob.refill(now, f, max_tokens)
        short_i = ib is not None and lvl_i < prompt_tokens
        if short_i or (ob is not None and lvl_o < max_tokens):
            if self._reject > timeout:
                return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
            b, need, lvl = (ib, prompt_tokens, lvl_i) if short_i else (ob, max_tokens, lvl_o)
            cap = b.limit * f  # type: ignore[union-attr]
            wait = (need - lvl) * 60.0 / cap
            headers = self._limit_headers(ms, eff, lvl_r, lvl_t, now)
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            detail = {"limit": int(cap), "used": int(cap - lvl), "requested": need, "wait": wait,
                      "what": "input tokens" if short_i else "output tokens"}
            return self._error(wire.RATE_TOKENS, model, self._reject, timeout, headers, detail)
        if ib is not None:
            ib.level = lvl_i - prompt_tokens
        if ob is not None:
            ob.level = lvl_o - max_tokens
        return None

    def _rate_limited(self, ms: _ModelState, eff: _Effect, model: str, lvl_r: float, lvl_t: float,
                      n_tokens: int, timeout: float, now: float) -> Decision:
        if self._reject > timeout:  # the 429 would come after the client gave up
            return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
        rq, tk = ms.requests, ms.tokens
        wait_r = wait_t = 0.0
        if rq is not None and lvl_r < 1.0:
            wait_r = (1.0 - lvl_r) * 60.0 / (rq.limit * eff.rpm_factor)
        if tk is not None and lvl_t < n_tokens:
            wait_t = (n_tokens - lvl_t) * 60.0 / (tk.limit * eff.tpm_factor)
        wait = max(wait_r, wait_t)
        by_requests = rq is not None and lvl_r < 1.0
        if by_requests:
            detail = {"limit": int(rq.limit * eff.rpm_factor), "used": int(rq.limit * eff.rpm_factor - lvl_r),  # type: ignore[union-attr]
                      "requested": 1, "wait": wait}
        else:
            cap = tk.limit * eff.tpm_factor  # type: ignore[union-attr]
            detail = {"limit": int(cap), "used": int(cap - lvl_t), "requested": n_tokens, "wait": wait}
        headers = self._limit_headers(ms, eff, lvl_r, lvl_t, now)
        if self._openai:
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000.0)))
        else:
            headers["retry-after"] = str(max(1, math.ceil(wait)))
        return self._error(wire.RATE_REQUESTS if by_requests else wire.RATE_TOKENS, model, self._reject,
                           timeout, headers, detail)

    def _capacity_refused(self, r: Refusal, ms: _ModelState, eff: _Effect, model: str, lvl_r: float, lvl_t: float,
                          timeout: float, now: float) -> Decision:
        """Dedicated capacity's no: a provisioned deployment's 429 with ``retry-after-ms`` (as Azure
        answers over 100 % utilisation), or a pool's 503 (queue full, or waited ``queue_timeout``)."""
        if r.status == 429:
            headers = self._limit_headers(ms, eff, lvl_r, lvl_t, now)
            headers["retry-after"] = str(max(1, math.ceil(r.wait)))
            if self._openai:
                headers["retry-after-ms"] = str(max(1, math.ceil(r.wait * 1000.0)))
            return self._error(wire.RATE_TOKENS, model, self._reject, timeout, headers, r.detail)
        return self._error(wire.SERVER_503, model, self._reject if r.latency is None else r.latency, timeout, None)

    def share_capacity(self, owner: OrgModel) -> None:
        """Serve on ``owner``'s dedicated capacity (the org's ``capacity`` names ``owner``)."""
        shared = owner._dedicated
        for state in self._models.values():
            if state.dedicated is self._dedicated:
                state.dedicated = shared
        self._dedicated = shared
        self._shared = True

    def capacity_meta(self) -> dict[str, Any]:
        """Per (vendor) model with dedicated capacity (``*``: the org's, shared), what was offered
        to it and refused per minute (:mod:`sim.capacity`); empty without any."""
        out: dict[str, Any] = {}
        if self._dedicated is not None and not self._shared:  # (a shared one: in its owner's)
            out["*"] = self._dedicated.meta()
        for name, ms in self._models.items():
            if ms.dedicated is not None and ms.dedicated is not self._dedicated:
                out[name] = ms.dedicated.meta()
        return out

    def _error(self, key: str, model: str, latency: float, timeout: float, headers: dict[str, str] | None,
               detail: dict[str, Any] | None = None) -> Decision:
        """An error answer after ``latency`` — or the client's timeout, if that comes first (the
        mock spends the timeout and raises, as for any answer: respx enforces no timeouts)."""
        if latency > timeout:
            return Decision(timeout, 0, "timeout", TIMEOUT, None, None)
        status, body = wire.vendor_error(self.vendor, key, model=model, org_id=self.org_id, detail=detail,
                                         quota_status=self.spec.quota_status, api_version=self._api_version)
        h = headers if headers is not None else {}
        if self._azure:
            h["x-ms-region"] = self._region
            h["apim-request-id"] = h["x-request-id"] = "req_" + self._rid + str(self._counter)
        elif self._openai:
            h["openai-organization"] = self.org_id
            h["x-request-id"] = "req_" + self._rid + str(self._counter)
        else:
            h["request-id"] = "req_" + self._rid + str(self._counter)
        return Decision(latency, status, key, NONE, h, body)


def _targets(m: Modifier, org: str, vendor: str) -> bool:
    return any(t == "*" or t == org or t == f"vendor:{vendor}" for t in m.targets)


class VendorWorld:
    """Every org's model, by name and by API key, for one run."""

    def __init__(self, scenario: Scenario, seeds: Seeds, modifiers: Sequence[Modifier] | None = None) -> None:
        mods = tuple(scenario.modifiers) if modifiers is None else tuple(modifiers)
        self.start_epoch = scenario.start_epoch
        self.orgs: list[OrgModel] = [
            OrgModel(i, v, o, mods, seeds, self.start_epoch, scenario.duration)
            for i, (v, o) in enumerate(scenario.orgs())
        ]
        self.by_name = {o.name: o for o in self.orgs}
        self.by_key = {o.spec.api_key(): o for o in self.orgs}
        for o in self.orgs:
            if isinstance(o.spec.capacity, str):
                o.share_capacity(self.by_name[o.spec.capacity])


def prompt_tokens_of(messages: Sequence[Any], system: str | None) -> int:
    """The vendor's token estimate of a prompt: 4 characters per token, rounded up."""
    if not system and len(messages) == 1:  # the simulator's own requests: one user message
        m = messages[0]
        c = m.get("content") if type(m) is dict else None
        if type(c) is str:
            return (len(c) + 3) // 4
    chars = len(system) if system else 0
    for m in messages:
        c = m.get("content") if isinstance(m, dict) else getattr(m, "get", lambda _k: None)("content")
        if type(c) is str:
            chars += len(c)
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
    return (chars + 3) // 4
