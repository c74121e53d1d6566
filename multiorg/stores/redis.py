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

   * equal, and a new value was given → write ``"<version+1>|<json>"`` (``SET … PX ttl``) and
     return ``[1, version+1]``. ``fn`` saw the freshest value: done.
   * equal, and no new value (``fn`` returned ``None``) → write nothing, return ``[1]``. This
     check is what makes "no change" trustworthy: ``fn`` returned ``None`` for the value that is
     actually stored, not merely for a cached one.
   * different → write nothing and return ``[0, stored]``. The store decodes ``stored``, caches it
     and re-runs ``fn`` on it (step 2 again). Each failed round means another writer committed,
     so the system as a whole always progresses; one caller gives up only after
     ``max_cas_retries`` rounds, raising :class:`StoreContentionError`.

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

Resilience: falling back to local state
=======================================

Redis being down must never fail a request. Any ``redis.RedisError`` (ConnectionError,
TimeoutError, ResponseError …) or ``OSError`` from a command puts the store in *fallback*:

* that operation is redone on an internal :class:`MemoryStore`, seeded on entry with every value
  and flag this process last saw in Redis (a breaker that was OPEN stays OPEN locally, the vendor
  switch keeps its position), so the request goes on with this process's own view;
* ONE warning is logged per outage, naming only the error's type (a client URL may carry a
  password: neither the URL nor the exception text is ever logged, and ``repr`` shows neither);
* for ``fallback_retry`` seconds (injected clock) every operation uses local state without
  touching the network (no connect timeout per request); the first operation after that tries
  Redis again. Failure restarts the wait silently; success ends the fallback with an INFO log.

On recovery Redis is authoritative again and the local state is dropped: failures counted,
breakers tripped, or flags flipped in this process during the outage are forgotten (Redis never
saw them, and merging divergent breaker states has no right answer). An operator who flips the
vendor switch during an outage must flip it again once Redis is back. An update whose script call
raised may or may not have been applied in Redis (a timeout after the write); it is then applied
locally as well, which is harmless under the drop-on-recovery rule.

``fn`` raising is a bug in the caller and propagates; only Redis's own errors are absorbed. A
stored value that cannot be decoded (a state class renamed by a deploy, a hand-written key) is
treated as absent, with one warning per key; the next ``update`` overwrites it under CAS.

Configure the client with ``socket_timeout`` / ``socket_connect_timeout`` well below request
deadlines (for example 0.25 s): a hung Redis then raises TimeoutError and falls back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from ..clock import Clock
from ..errors import StoreContentionError
from .codec import decode, encode
from .memory import MemoryStore

S = TypeVar("S")
R = TypeVar("R")

log = logging.getLogger("multiorg.stores.redis")

#: Errors that mean "Redis is not usable right now" (redis-py wraps socket errors, but a bare
#: OSError can escape from connection setup in some versions).
_REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
# ... and a client without pub/sub (a stub, a proxy that refuses it)
_NO_PUBSUB: tuple[type[BaseException], ...] = (*_REDIS_ERRORS, AttributeError, NotImplementedError)

_ABSENT: Any = object()

# KEYS[1]  state key
# ARGV[1]  the stored string the caller's fn ran on ("" = key absent)
# ARGV[2]  new json payload, or "" = fn changed nothing: only confirm ARGV[1] is still current
# ARGV[3]  TTL in milliseconds (garbage collection only; "0" = none)
# returns  {1, new_version} written | {1} confirmed | {0, stored_string} conflict
_CAS = """
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '' end
if cur ~= ARGV[1] then
  return {0, cur}
end
if ARGV[2] == '' then
  return {1}
end
local ver = 0
if cur ~= '' then
  ver = tonumber(string.match(cur, '^(%d+)|')) or 0
end
ver = ver + 1
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ver .. '|' .. ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ver .. '|' .. ARGV[2])
end
return {1, ver}
"""


def _text(v: Any) -> str:
    """A Redis reply as ``str`` whether or not the client decodes responses; ``None`` → ``""``."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8")
    return str(v)


class RedisStore:
    """A :class:`~multiorg.stores.base.StateStore` shared through Redis (see the module docstring).

    ``staleness``, ``ttl`` and ``fallback_retry`` are seconds; ``staleness`` and
    ``fallback_retry`` are measured on the injected ``clock``.
    """

    def __init__(
        self,
        client: redis.Redis,
        clock: Clock,
        *,
        namespace: str = "multiorg",
        staleness: float = 1.0,
        ttl: float = 7 * 86400,
        fallback_retry: float = 5.0,
        logger: logging.Logger | None = None,
        max_cas_retries: int = 100,
        flag_recheck: float = 60.0,
    ) -> None:
        if staleness < 0 or ttl < 0 or fallback_retry < 0 or flag_recheck < 0:
            raise ValueError("staleness, ttl, fallback_retry and flag_recheck must be >= 0")
        if max_cas_retries < 1:
            raise ValueError("max_cas_retries must be >= 1")
        self._client = client
        self._clock = clock
        self.namespace = namespace
        self.staleness = float(staleness)
        self.ttl = float(ttl)
        self.fallback_retry = float(fallback_retry)
        self.max_cas_retries = int(max_cas_retries)
        self.flag_recheck = float(flag_recheck)
        self._log = logger or log
        self._prefix = f"{namespace}:"
        self._ttl_ms = str(round(ttl * 1000))
        self._cas = client.register_script(_CAS)
        #: commands sent to Redis (GET, EVALSHA, SET, DEL), successful or not
        self.round_trips = 0
        #: outages seen (each logged once)
        self.outages = 0
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
        # None: Redis in use. Otherwise the injected-clock time from which Redis is retried.
        self._retry_at: float | None = None
        self._mode_lock = threading.Lock()

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
        """Whether this operation must use local state (in fallback, retry not yet due)."""
        retry_at = self._retry_at
        return retry_at is not None and now < retry_at

    def _failed(self, err: BaseException, now: float) -> None:
        with self._mode_lock:
            first = self._retry_at is None
            self._retry_at = now + self.fallback_retry
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
        self._log.warning(
            "redis unavailable (%s): breaker state is local to this process; retrying in %gs",
            type(err).__name__,
            self.fallback_retry,
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
            try:
                self.round_trips += 1
                reply = self._cas(keys=[k], args=[expected, payload, self._ttl_ms])
            except _REDIS_ERRORS as e:
                self._failed(e, now)
                return self._local.update(k, fn, default)
            self._succeeded()
            if int(reply[0]) == 1:
                if new is None:
                    self._cache[k] = (expected, value, now)  # confirmed current
                else:
                    self._cache[k] = (f"{int(reply[1])}|{payload}", new, now)
                return result, current, new
            # Another writer got there first: re-run fn on what is stored now.
            expected = _text(reply[1])
            value = self._decode(k, expected)
            self._cache[k] = (expected, value, now)
        raise StoreContentionError(
            f"update of {k} lost the compare-and-set race {self.max_cas_retries} times in a row"
        )

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
        """
        with self._notice_lock:
            sub = self._notices
            if sub is None:
                if now < self._subscribe_at:
                    return False
                try:
                    self.round_trips += 1
                    sub = self._client.pubsub()
                    sub.subscribe(self._channel)
                except _NO_PUBSUB:
                    # no pub/sub here (down, refused, or a client without it): poll, retry later
                    self._subscribe_at = now + self.fallback_retry
                    return False
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
            except _REDIS_ERRORS:
                self._drop_notices_locked()
                self._subscribe_at = now + self.fallback_retry
                return False
            return True

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
        """Release the flag-notice subscription and its connection (the client is the caller's to
        close). The store stays usable: a later expired flag read subscribes again."""
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
