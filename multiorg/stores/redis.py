"""RedisStore: breaker state and flags shared by every pod and process through one Redis.

Layout
======

Keys are used as given when they already start with ``{namespace}:`` — :class:`BreakerBoard`
and :class:`VendorSwitch` pass fully namespaced keys such as ``multiorg:breaker:consecutive:o1|m``
and ``multiorg:switch:vendor`` — and are prefixed with ``{namespace}:`` otherwise, so every key
this store touches lives under the namespace and none is ever prefixed twice.

A state is one Redis string ``"<version>|<json>"``: ``version`` is a decimal integer bumped by
every write, ``json`` is :func:`multiorg.stores.codec.encode` of the state. A flag is a plain
Redis string (no version: flags are only ever overwritten whole).

Reads: a cache with bounded staleness
=====================================

Each process caches, per key, ``(raw, value, fetched_at)`` where ``raw`` is the stored string
(``""`` when the key is absent), ``value`` the decoded state, and ``fetched_at`` a time from the
*injected* clock (never the wall clock, which the caller may not share). ``read`` answers from
the cache while ``0 <= now - fetched_at < staleness`` and otherwise costs one GET. So another
process's write becomes visible to a reader at the latest ``staleness`` seconds after the reader
last fetched — and immediately to anyone who calls ``update``, which never trusts the cache.
``staleness=0`` disables the cache. Absence is cached too, but the ``default()`` factory is called
on every read of an absent key (initial states may embed ``now``).

Flags: change notices pushed, not polled
========================================

A flag (the vendor switch) is read on every request and changes a few times a year, so polling it
is almost always wasted. ``set_flag`` writes the flag and then PUBLISHes its key on the channel
``{namespace}:flags``; every store subscribes to that channel (one pub/sub connection per store,
opened before the store first GETs a flag, so no change can fall between the two). When a cached
flag is older than ``staleness``, the store first takes the notices that have arrived (a
non-blocking read of the subscription, no round trip): a notice drops the flag from the cache and
the read costs one GET; no notice means the cached value is still what Redis holds, and the read
costs nothing. So ``staleness=0`` still returns the current flag on every read, for the price of
one GET per change instead of one per read; with a real Redis "current" means "as of the last
notice delivered", which trails a change by the pub/sub delivery time (well under a millisecond on
a LAN). Notices can be lost only with their connection; then the subscription is dropped and
reopened and every cached flag forgotten, and as a backstop a cached flag is re-read at least every
``flag_recheck`` seconds. A client without pub/sub (or a Redis refusing SUBSCRIBE) falls back to a
GET per expired read, as before.

Updates: optimistic compare-and-set in one round trip
=====================================================

``update(key, fn, default)`` must apply the pure ``fn`` to the *freshest* value atomically, across
processes, without a lock server and — in steady state — in one round trip:

1. Run ``fn`` locally on the cached value (or ``default()`` if the cache says absent, or if this
   process has never seen the key: optimistic — most keys start absent). The cache may be old;
   that is fine, step 2 checks it.
2. Send one EVALSHA of the ``_CAS`` Lua script with the cached ``raw`` as the expectation and the
   encoded new value (or ``""`` when ``fn`` returned ``None``). Redis runs scripts atomically. The
   script compares the stored string with the expectation:

   * equal, and a new value was given → write ``"<version+1>:<nonces>|<json>"`` (``SET … PX
     ttl``) and return ``[1, "<version+1>:<nonces>"]``. ``fn`` saw the freshest value: done.
   * equal, and no new value (``fn`` returned ``None``) → write nothing, return ``[1]``. This
     check is what makes "no change" trustworthy: ``fn`` returned ``None`` for the value that is
     actually stored, not merely for a cached one.
   * different → write nothing and return ``[0, stored]``. The store decodes ``stored``, caches it
     and re-runs ``fn`` on it (step 2 again). Each failed round means another writer committed,
     so the system as a whole always progresses; one caller gives up only after
     ``max_cas_retries`` rounds, raising :class:`StoreContentionError`.
   * different, but the stored nonces include this write's → it is a re-sent copy of a write
     that already landed: return ``[2, stored]``, a success (see "Exactly once" below).

The comparison is on the whole stored string, version *and* payload, not the version number
alone. Versions restart when a key disappears (TTL garbage collection, an operator's DEL); with a
version-only check, a cache that remembered version 3 of the old key could win a CAS against
version 3 of a recreated key with different content (ABA). Comparing the payload too means a
match implies ``fn`` ran on exactly the stored state, which — ``fn`` being pure — is all that
matters. Hence correctness never depends on the TTL: it only collects keys nobody writes to for
``ttl`` seconds, and every timestamp that decides anything lives inside the state, taken from the
injected clock.

Cost: a read is 0 round trips while cached and 1 GET otherwise; an update is 1 EVALSHA, plus one
more per conflicting writer; ``set_flag`` is 1 SET/DEL and 1 PUBLISH; ``get_flag`` is 0 round
trips unless a notice (or the backstop) says to GET. The first script call on a connection
may add a SCRIPT LOAD (redis-py retries NOSCRIPT itself). :attr:`RedisStore.round_trips` counts
commands sent (GET, EVALSHA, SET, DEL, PUBLISH, SUBSCRIBE), successful or not; taking the notices
that have already arrived is not one.

Resilience: a breaker on the store's own dependency
====================================================

Redis being down, slow or frozen must never fail a request, and must cost it at most milliseconds.
The store owns its failure handling whatever client it is given:

* it turns the client's own retries off (``set_retry(Retry(NoBackoff(), 0))``): redis-py 8
  retries a failed command ten times with backoff by default, so a socket timeout alone bounds
  nothing (a dead Redis cost seconds per call), and a re-sent compare-and-set could be applied
  twice. One failure is one failure; the store decides what happens next;
* :meth:`RedisStore.from_url` builds the client itself with safe defaults (connect and read
  timeout ``timeout``, 0.25 s; no client retries) and probes in the background — the
  production recipe.

Any ``redis.RedisError`` (ConnectionError, TimeoutError, ResponseError …) or ``OSError`` from a
command puts the store in *fallback*:

* that operation is redone on an internal :class:`MemoryStore`, seeded on entry with every value
  and flag this process last saw in Redis (a breaker that was OPEN stays OPEN locally, the vendor
  switch keeps its position), so the request goes on with this process's own view;
* ONE warning is logged per outage, naming only the error's type (a client URL may carry a
  password: neither the URL nor the exception text is ever logged, and ``repr`` shows neither);
  one INFO on recovery;
* no operation touches the network until a probe says Redis is back: the first timeout costs one
  request at most the client's timeout, every later request costs a dict lookup. The probe
  waits ``fallback_retry`` seconds, then doubles its wait after each failure up to
  ``fallback_retry_max``. With ``background_probe=True`` (what ``from_url`` sets) a daemon
  thread PINGs Redis on the wall clock and no request ever waits for a probe; otherwise the first
  operation after the wait (on the injected clock) is the probe, a deterministic schedule
  for drivers that own time.

On recovery Redis is authoritative again and the local state is dropped: failures counted,
breakers tripped, or flags flipped in this process during the outage are forgotten (Redis never
saw them, and merging divergent breaker states has no right answer). An operator who flips the
vendor switch during an outage must flip it again once Redis is back. An update whose script call
raised may or may not have been applied in Redis (a timeout after the write); it is then applied
locally as well, which is harmless under the drop-on-recovery rule.

Exactly once: every write carries a nonce
=========================================

A command that timed out may still run when a frozen Redis wakes up; a client (or proxy) that
re-sends it would then find the key changed — by our own first copy — and the store would
re-apply ``fn`` on top: one update counted twice. So each compare-and-set write carries a nonce
(this store's random id and a counter), and the stored string keeps the nonces of the last
:data:`NONCES_KEPT` writes: ``"<version>:<nonce>,<nonce>…|<json>"``. A script that finds its own
nonce there answers "already written" — a success, not a conflict. (Readers of the old
``"<version>|<json>"`` layout read the new one, and the script reads both.)

``fn`` raising is a bug in the caller and propagates; only Redis's own errors are absorbed. A
stored value that cannot be decoded (a state class renamed by a deploy, a hand-written key) is
treated as absent, with one warning per key; the next ``update`` overwrites it under CAS.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..clock import Clock, SystemClock
from ..errors import StoreContentionError
from .codec import decode, encode
from .memory import MemoryStore
from .window import Spent

S = TypeVar("S")
R = TypeVar("R")

log = logging.getLogger("multiorg.stores.redis")

#: Errors that mean "Redis is not usable right now" (redis-py wraps socket errors, but a bare
#: OSError can escape from connection setup in some versions).
_REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
# ... and a client without pub/sub (a stub, a proxy that refuses it)
_NO_PUBSUB: tuple[type[BaseException], ...] = (*_REDIS_ERRORS, AttributeError, NotImplementedError)
#: a pub/sub failure that already cost the full timeout: an outage (the GET after it must not pay
#: a second one). A reset subscription alone is not: the GET decides.
_TIMEOUTS: tuple[type[BaseException], ...] = (redis.TimeoutError, TimeoutError)

_ABSENT: Any = object()

#: how many recent writers' nonces a stored state keeps (a re-sent write finds its own among them)
NONCES_KEPT = 8
#: the connect and read timeout :meth:`RedisStore.from_url` gives its client (seconds)
DEFAULT_TIMEOUT = 0.25

# KEYS[1]  state key
# ARGV[1]  the stored string the caller's fn ran on ("" = key absent)
# ARGV[2]  new json payload, or "" = fn changed nothing: only confirm ARGV[1] is still current
# ARGV[3]  TTL in milliseconds (garbage collection only; "0" = none)
# ARGV[4]  this write's nonce ([0-9a-z-] only)
# returns  {1, head} written, the stored string is head.."|"..ARGV[2]
#          {1} confirmed
#          {2, stored} this very write landed before (a re-sent command): done, nothing written
#          {0, stored} conflict
# Stored: "<version>:<nonce>,<nonce>...|<json>" (newest nonce last), or the older "<version>|<json>".
_CAS = f"""
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '' end
local head = string.match(cur, '^([^|]*)|') or ''
local nonces = string.match(head, '^%d+:(.*)$') or ''
if cur ~= ARGV[1] then
  if ARGV[2] ~= '' and string.find(',' .. nonces .. ',', ',' .. ARGV[4] .. ',', 1, true) then
    return {{2, cur}}
  end
  return {{0, cur}}
end
if ARGV[2] == '' then
  return {{1}}
end
local ver = (tonumber(string.match(head, '^(%d+)')) or 0) + 1
local kept = {{}}
for n in string.gmatch(nonces, '[^,]+') do kept[#kept + 1] = n end
kept[#kept + 1] = ARGV[4]
while #kept > {NONCES_KEPT} do table.remove(kept, 1) end
local newhead = ver .. ':' .. table.concat(kept, ',')
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], newhead .. '|' .. ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], newhead .. '|' .. ARGV[2])
end
return {{1, newhead}}
"""


def _text(v: Any) -> str:
    """A Redis reply as ``str`` whether or not the client decodes responses; ``None`` → ``""``."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)


def _no_client_retries(client: Any) -> None:
    """Turn the client's own command retries off: the store handles failures (module docstring)."""
    set_retry = getattr(client, "set_retry", None)
    if set_retry is None:  # a stub or a proxy object: nothing to turn off
        return
    once = Retry(NoBackoff(), 0)
    set_retry(once)
    # a single-connection client keeps its connection outside the pool
    conn = getattr(client, "connection", None)
    if conn is not None and hasattr(conn, "retry"):
        conn.retry = once


# KEYS[1]  a rate-limit window's key; stored "<level>:<at>"
# ARGV     now, rate, ceiling, take, reserve ("1"/"0"), at_most ("" = none), TTL in ms
# returns  {wait, level}, as strings — multiorg.stores.window.spend, in one round trip
_SPEND = """
local now, rate, ceiling = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local take = tonumber(ARGV[4])
local level = ceiling
local changed = false
local cur = redis.call('GET', KEYS[1])
if cur then
  local l, a = string.match(cur, '^([^:]+):(.+)$')
  l, a = tonumber(l), tonumber(a)
  if l and a then
    level = l
    if now > a then level = level + (now - a) * rate else now = a end
    if level > ceiling then level = ceiling end
  end
end
if ARGV[6] ~= '' then
  local most = tonumber(ARGV[6])
  if most < level then level = most; changed = true end
end
local wait = 0
if take < 0 then
  level = level - take; changed = true
elseif take > 0 then
  if level < take then wait = (take - level) / rate end
  if wait == 0 or ARGV[5] == '1' then level = level - take; changed = true end
end
if changed then
  local v = string.format('%.17g:%.17g', level, now)
  local ttl = tonumber(ARGV[7])
  if ttl > 0 then redis.call('SET', KEYS[1], v, 'PX', ttl) else redis.call('SET', KEYS[1], v) end
end
return {string.format('%.17g', wait), string.format('%.17g', level)}
"""


class RedisStore:
    """A :class:`~multiorg.stores.base.StateStore` shared through Redis (see the module docstring).

    ``staleness``, ``ttl``, ``fallback_retry`` and ``fallback_retry_max`` are seconds;
    ``staleness`` and (without ``background_probe``) the fallback waits are measured on the
    injected ``clock``. ``fallback_retry_max`` defaults to ``fallback_retry`` (a fixed wait).
    """

    #: the operations do network I/O (an async face runs them off its event loop)
    blocking = True

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        namespace: str = "multiorg",
        staleness: float = 1.0,
        ttl: float = 7 * 86400,
        fallback_retry: float = 5.0,
        fallback_retry_max: float | None = None,
        background_probe: bool = False,
        logger: logging.Logger | None = None,
        max_cas_retries: int = 100,
        flag_recheck: float = 60.0,
    ) -> None:
        retry_max = fallback_retry if fallback_retry_max is None else fallback_retry_max
        values = (staleness, ttl, fallback_retry, retry_max, flag_recheck)
        if not all(math.isfinite(v) and v >= 0 for v in values):
            raise ValueError("staleness, ttl, fallback_retry(_max) and flag_recheck must be finite and >= 0")
        if retry_max < fallback_retry:
            raise ValueError("fallback_retry_max must be >= fallback_retry")
        if max_cas_retries < 1:
            raise ValueError("max_cas_retries must be >= 1")
        _no_client_retries(client)
        self._client = client
        self._clock = clock
        self.namespace = namespace
        self.staleness = float(staleness)
        self.ttl = float(ttl)
        self.fallback_retry = float(fallback_retry)
        self.fallback_retry_max = float(retry_max)
        self.background_probe = bool(background_probe)
        self.max_cas_retries = int(max_cas_retries)
        self.flag_recheck = float(flag_recheck)
        self._log = logger or log
        self._prefix = f"{namespace}:"
        self._ttl_ms = str(round(ttl * 1000))
        self._cas = client.register_script(_CAS)
        self._spend = client.register_script(_SPEND)
        # nonces: unique across processes (random id) and within this one (counter)
        self._nonce_prefix = secrets.token_hex(6) + "-"
        self._nonce_seq = itertools.count(1)
        #: commands sent to Redis (GET, EVALSHA, SET, DEL), successful or not
        self.round_trips = 0
        #: outages seen (each logged once)
        self.outages = 0
        #: writes whose re-sent copy found the first copy already applied (not applied again)
        self.resent_writes = 0
        self._keys: dict[str, str] = {}
        # key -> (raw, decoded value or _ABSENT, fetched_at)
        self._cache: dict[str, tuple[str, Any, float]] = {}
        # flag key -> (value or None, confirmed_at, fetched_at): confirmed by a GET or by the
        # absence of a change notice
        self._flag_cache: dict[str, tuple[str | None, float, float]] = {}
        self._channel = f"{namespace}:flags"
        #: the subscription to flag change notices (None: not open; see :meth:`_take_notices`)
        self._notices: Any = None
        #: injected-clock time before which no subscription is attempted (after one failed)
        self._subscribe_at = -math.inf
        self._notice_lock = threading.Lock()
        #: subscribe confirmations still due for our own subscribe calls (see _take_notices)
        self._confirmations = 0
        self._undecodable: set[str] = set()
        self._local = MemoryStore(clock)
        # None: Redis in use. Otherwise the injected-clock time from which Redis is retried
        # (+inf while a background probe decides).
        self._retry_at: float | None = None
        #: the current wait between probes (doubles per failed probe, up to fallback_retry_max)
        self._retry_wait = self.fallback_retry
        self._mode_lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()

    @classmethod
    def from_url(
        cls,
        url: str,
        clock: Clock | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        fallback_retry: float = 0.1,
        fallback_retry_max: float = 0.5,
        background_probe: bool = True,
        **kwargs: Any,
    ) -> RedisStore:
        """The production store: a client with connect and read timeouts of ``timeout`` seconds and
        no client-side retries, a fallback probed in the background every 0.1 s growing to 0.5 s
        (so shared state resumes well within a second of Redis coming back). ``kwargs`` go to the
        constructor (``staleness``, ``namespace`` …)."""
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return cls(
            client,
            clock or SystemClock(),
            fallback_retry=fallback_retry,
            fallback_retry_max=fallback_retry_max,
            background_probe=background_probe,
            **kwargs,
        )

    def __repr__(self) -> str:
        # Never the client: its connection kwargs may hold a password.
        mode = "fallback" if self._retry_at is not None else "redis"
        return (
            f"RedisStore(namespace={self.namespace!r}, staleness={self.staleness:g}, "
            f"mode={mode}, round_trips={self.round_trips})"
        )

    @property
    def degraded(self) -> bool:
        """True while operations use local state because Redis failed."""
        return self._retry_at is not None

    def _key(self, key: str) -> str:
        k = self._keys.get(key)
        if k is None:
            k = key if key.startswith(self._prefix) else self._prefix + key
            self._keys[key] = k
        return k

    # ------------------------------------------------------------------ fallback

    def _local_now(self, now: float) -> bool:
        """Whether this operation must use local state (in fallback, no probe due)."""
        retry_at = self._retry_at
        return retry_at is not None and now < retry_at

    def _failed(self, err: BaseException, now: float) -> None:
        with self._mode_lock:
            first = self._retry_at is None
            if first:
                self._retry_wait = self.fallback_retry
            else:  # a failed probe: wait longer next time
                self._retry_wait = min(self._retry_wait * 2.0, self.fallback_retry_max)
            self._retry_at = math.inf if self.background_probe else now + self._retry_wait
            if not first:
                self._log.debug("redis still unavailable (%s)", type(err).__name__)
                return
            self.outages += 1
            # Seed local state with the last values seen in Redis, so an OPEN breaker stays open.
            self._local.clear()
            for k, (_, value, _) in list(self._cache.items()):
                if value is not _ABSENT:
                    self._local.seed(k, value)
            for k, (flag, *_) in list(self._flag_cache.items()):
                self._local.seed_flag(k, flag)
            if self.background_probe:
                self._start_prober()
        self._log.warning(
            "redis unavailable (%s): breaker state is local to this process; probing every %g-%gs",
            type(err).__name__,
            self.fallback_retry,
            self.fallback_retry_max,
        )

    def _succeeded(self) -> None:
        if self._retry_at is None:
            return
        with self._mode_lock:
            if self._retry_at is None:
                return
            self._retry_at = None
            self._local.clear()  # Redis is authoritative again: local divergence is dropped
            self._drop_notices()  # notices sent while Redis was unreachable may be lost
        self._log.info("redis reachable again: shared breaker state resumed, local state dropped")

    def _start_prober(self) -> None:
        """(under _mode_lock) One daemon thread per outage; requests never wait for a probe."""
        if self._prober is not None and self._prober.is_alive():
            return
        self._closed.clear()
        self._prober = threading.Thread(target=self._probe_until_back, name="multiorg-redis-probe", daemon=True)
        self._prober.start()

    def _probe_until_back(self) -> None:
        while not self._closed.wait(self._retry_wait):  # wall-clock waits: this thread is production's
            try:
                self._client.ping()
            except _REDIS_ERRORS as e:
                self._failed(e, self._clock.now())
                continue
            self._succeeded()
            return

    # ------------------------------------------------------------------ decoding

    def _decode(self, key: str, raw: str) -> Any:
        if not raw:
            return _ABSENT
        _, sep, payload = raw.partition("|")
        try:
            if not sep:
                raise ValueError("no version separator")
            return decode(payload)
        except (ValueError, TypeError, KeyError) as e:
            if key not in self._undecodable:
                self._undecodable.add(key)
                self._log.warning(
                    "undecodable state at %s (%s): treated as absent", key, type(e).__name__
                )
            return _ABSENT

    # ------------------------------------------------------------------ state

    def read(self, key: str, default: Callable[[], S]) -> S:
        k = self._key(key)
        now = self._clock.now()
        if self._local_now(now):
            return self._local.read(k, default)
        entry = self._cache.get(k)
        if entry is not None and 0.0 <= now - entry[2] < self.staleness:
            value = entry[1]
            return default() if value is _ABSENT else value
        try:
            self.round_trips += 1
            raw = _text(self._client.get(k))
        except _REDIS_ERRORS as e:
            self._failed(e, now)
            return self._local.read(k, default)
        self._succeeded()
        # Unchanged since the last fetch (the steady state): keep the decoded value (immutable).
        value = entry[1] if entry is not None and entry[0] == raw else self._decode(k, raw)
        self._cache[k] = (raw, value, now)
        return default() if value is _ABSENT else value

    def update(
        self, key: str, fn: Callable[[S], tuple[R, S | None]], default: Callable[[], S]
    ) -> tuple[R, S, S | None]:
        k = self._key(key)
        now = self._clock.now()
        if self._local_now(now):
            return self._local.update(k, fn, default)
        entry = self._cache.get(k)
        expected, value = (entry[0], entry[1]) if entry is not None else ("", _ABSENT)
        for _ in range(self.max_cas_retries):
            current = default() if value is _ABSENT else value
            result, new = fn(current)
            payload = "" if new is None else encode(new)
            nonce = f"{self._nonce_prefix}{next(self._nonce_seq):x}"
            try:
                self.round_trips += 1
                reply = self._cas(keys=[k], args=[expected, payload, self._ttl_ms, nonce])
            except _REDIS_ERRORS as e:
                self._failed(e, now)
                return self._local.update(k, fn, default)
            self._succeeded()
            status = int(reply[0])
            if status == 1:
                if new is None:
                    self._cache[k] = (expected, value, now)  # confirmed current
                else:
                    self._cache[k] = (f"{_text(reply[1])}|{payload}", new, now)
                return result, current, new
            stored = _text(reply[1])
            if status == 2:
                # Our own write, re-sent by something below us, found itself applied: done once.
                self.resent_writes += 1
                self._cache[k] = (stored, self._decode(k, stored), now)
                return result, current, new
            # Another writer got there first: re-run fn on what is stored now.
            expected = stored
            value = self._decode(k, expected)
            self._cache[k] = (expected, value, now)
        raise StoreContentionError(
            f"update of {k} lost the compare-and-set race {self.max_cas_retries} times in a row"
        )

    # ------------------------------------------------------------------ rate-limit windows

    def pace(
        self,
        key: str,
        now: float,
        *,
        rate: float,
        ceiling: float,
        take: float = 0.0,
        reserve: bool = False,
        at_most: float | None = None,
    ) -> Spent:
        """One operation on the window at ``key``, shared by every pod (one script call; see
        :mod:`multiorg.stores.window`). While Redis fails, the local window answers (this pod's
        own, from full): pacing is advice, a store error never fails or stalls a request. The
        client sends a command once (no retries below us), so a spend is applied at most once."""
        k = self._key(key)
        if self._local_now(self._clock.now()):
            return self._local.pace(k, now, rate=rate, ceiling=ceiling, take=take, reserve=reserve, at_most=at_most)
        args = [
            repr(now),
            repr(rate),
            repr(ceiling),
            repr(take),
            "1" if reserve else "0",
            "" if at_most is None else repr(at_most),
            self._ttl_ms,
        ]
        try:
            self.round_trips += 1
            wait, level = self._spend(keys=[k], args=args)
        except _REDIS_ERRORS as e:
            self._failed(e, self._clock.now())
            return self._local.pace(k, now, rate=rate, ceiling=ceiling, take=take, reserve=reserve, at_most=at_most)
        self._succeeded()
        return Spent(float(_text(wait)), float(_text(level)))

    # ------------------------------------------------------------------ flags

    def get_flag(self, name: str) -> str | None:
        k = self._key(name)
        now = self._clock.now()
        if self._local_now(now):
            return self._local.get_flag(k)
        entry = self._flag_cache.get(k)
        if entry is not None:
            value, confirmed_at, fetched_at = entry
            if 0.0 <= now - confirmed_at < self.staleness:
                return value
            # No notice for it (and not past the backstop): what we hold is what Redis holds.
            if self._take_notices(now) and k in self._flag_cache and 0.0 <= now - fetched_at < self.flag_recheck:
                self._flag_cache[k] = (value, now, fetched_at)
                return value
        else:
            self._take_notices(now)  # subscribe before the GET: no change may fall in between
        if self._local_now(now):  # taking the notices found Redis gone
            return self._local.get_flag(k)
        try:
            self.round_trips += 1
            raw = self._client.get(k)
        except _REDIS_ERRORS as e:
            self._failed(e, now)
            return self._local.get_flag(k)
        self._succeeded()
        value = None if raw is None else _text(raw)
        self._flag_cache[k] = (value, now, now)
        return value

    def set_flag(self, name: str, value: str | None) -> None:
        # Flags are settings, not garbage: no TTL (a vendor switch must not flip back by itself).
        k = self._key(name)
        now = self._clock.now()
        if self._local_now(now):
            self._local.set_flag(k, value)
            return
        try:
            self.round_trips += 1
            if value is None:
                self._client.delete(k)
            else:
                self._client.set(k, value)
            self.round_trips += 1
            self._client.publish(self._channel, k)
        except _REDIS_ERRORS as e:
            self._failed(e, now)
            self._local.set_flag(k, value)
            return
        self._succeeded()
        self._flag_cache[k] = (value, now, now)

    # ------------------------------------------------------------------ flag change notices

    def _take_notices(self, now: float) -> bool:
        """Apply the change notices that have arrived (each drops its flag from the cache).

        False when there is no working subscription (the caller must GET): none could be opened,
        or reading it failed — then notices may have been lost, so every cached flag is dropped.
        A timeout here is a Redis outage like any other (fallback at once: the GET that would
        follow must not pay a second timeout).
        """
        with self._notice_lock:
            ok, outage = self._take_notices_locked(now)
        if outage is not None:
            self._failed(outage, now)  # (outside _notice_lock: _succeeded takes the locks the other way)
        return ok

    def _take_notices_locked(self, now: float) -> tuple[bool, BaseException | None]:
        sub = self._notices
        if sub is None:
            if now < self._subscribe_at:
                return False, None
            try:
                self.round_trips += 1
                sub = self._client.pubsub()
                sub.subscribe(self._channel)
            except _NO_PUBSUB as e:
                # no pub/sub here (down, refused, or a client without it): poll, retry later
                self._subscribe_at = now + self.fallback_retry
                if sub is not None:
                    with contextlib.suppress(Exception):  # its connection is broken or unused
                        sub.close()
                return False, e if isinstance(e, _TIMEOUTS) else None
            self._notices = sub
            self._confirmations = 1
            self._flag_cache.clear()  # cached before the subscription: unconfirmable
        try:
            # (not ignore_subscribe_messages: that returns None for a skipped confirmation,
            # which would end this loop before the notices queued behind it)
            while (msg := sub.get_message()) is not None:
                kind = msg.get("type")
                if kind == "message":
                    self._flag_cache.pop(_text(msg.get("data")), None)
                elif kind == "subscribe":
                    if self._confirmations > 0:
                        self._confirmations -= 1
                    else:
                        # redis-py reconnected and resubscribed on its own (inside
                        # get_message, raising nothing): notices sent meanwhile are lost
                        self._flag_cache.clear()
        except _REDIS_ERRORS as e:
            self._drop_notices_locked()
            self._subscribe_at = now + self.fallback_retry
            return False, e if isinstance(e, _TIMEOUTS) else None
        return True, None

    def _drop_notices(self) -> None:
        with self._notice_lock:
            self._drop_notices_locked()

    def _drop_notices_locked(self) -> None:
        sub, self._notices = self._notices, None
        self._subscribe_at = -math.inf
        self._flag_cache.clear()
        if sub is not None:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing left to do
                sub.close()

    def close(self) -> None:
        """Release the flag-notice subscription and its connection and stop a background probe
        (the client is the caller's to close). The store stays usable: a later expired flag read
        subscribes again."""
        self._closed.set()
        self._drop_notices()

    def invalidate(self, key: str | None = None) -> None:
        """Forget cached reads (of ``key``, or all): the next read fetches from Redis."""
        if key is None:
            self._cache.clear()
            self._flag_cache.clear()
        else:
            k = self._key(key)
            self._cache.pop(k, None)
            self._flag_cache.pop(k, None)
