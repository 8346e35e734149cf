"""Rendered feeds kept per data version, and the per-secret rate limit; both in-process.

`FeedCache` maps a feed (by its secret's hash) to the `Representation` rendered for one data
version. A request whose probed version equals the cached one is answered from memory; any other
version renders again, once: concurrent requests for the same feed and version wait for the same
render. The cache is bounded by the bytes it holds and forgets the least recently used feeds
first. Losing an entry only costs a render, so several web processes each keeping their own
cache is correct, merely a little more work.

`RateLimiter` counts requests per secret in a sliding one-minute window. It lives in each
process, so with N web processes a secret can be served up to N times the limit; it exists to
stop one runaway client from keeping a process busy, which a per-process limit does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable

from orchestrator.feeds.http import Representation

__all__ = ["FeedCache", "RateLimiter"]

ONE_SECOND = dt.timedelta(seconds=1)


@dataclasses.dataclass(slots=True)
class _Entry:
    version: Hashable
    representation: Representation


def successor(previous: Representation | None, new: Representation, now: dt.datetime) -> Representation:
    """``new``, or ``previous`` again when the bytes are equal, with a Last-Modified that moves.

    Last-Modified comes from the rows' timestamps, but some changes carry none (a deleted
    session, a parent's new language); a client that only sends If-Modified-Since would then be
    told "not modified" about changed bytes. When this process sees the bytes change without the
    date moving, it dates them at least a second after the previous ones (and not after *now*
    unless it must). Another process may state an earlier date for the same bytes; that only
    causes a full answer, never a wrong 304.
    """
    if previous is None:
        return new
    if previous.etag == new.etag:
        return previous
    if new.last_modified > previous.last_modified:
        return new
    moved = max(previous.last_modified + ONE_SECOND, now.astimezone(dt.UTC).replace(microsecond=0))
    return new.dated(moved)


class FeedCache:
    """Representations by feed key and data version, bounded by ``max_bytes`` (LRU)."""

    def __init__(self, *, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.renders = 0
        """How many times a representation was built (tests and benchmarks read it)."""
        self.hits = 0
        self._bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._pending: dict[tuple[str, Hashable], asyncio.Future[Representation]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._bytes

    def get(self, key: str, version: Hashable) -> Representation | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry.representation

    def put(
        self, key: str, version: Hashable, representation: Representation, *, now: dt.datetime
    ) -> Representation:
        """Store the representation for ``version``; returns what is served (see `successor`)."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.representation.size
        served = successor(old.representation if old else None, representation, now)
        if served.size <= self.max_bytes:
            self._entries[key] = _Entry(version, served)
            self._bytes += served.size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.representation.size
        return served

    def forget(self, key: str) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.representation.size

    async def get_or_build(
        self,
        key: str,
        version: Hashable,
        build: Callable[[], Awaitable[Representation]],
        *,
        now: Callable[[], dt.datetime],
    ) -> Representation:
        """The cached representation for ``version``, rendering it (once) when missing."""
        cached = self.get(key, version)
        if cached is not None:
            return cached
        pending_key = (key, version)
        pending = self._pending.get(pending_key)
        if pending is not None:
            # Another request is rendering this very version: share its result (or its error).
            return await asyncio.shield(pending)
        future: asyncio.Future[Representation] = asyncio.get_running_loop().create_future()
        self._pending[pending_key] = future
        try:
            built = await build()
            self.renders += 1
            served = self.put(key, version, built, now=now())
            future.set_result(served)
            return served
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as err:
            future.set_exception(err)
            # Nobody may be waiting; retrieving the exception keeps asyncio from reporting it.
            future.exception()
            raise
        finally:
            del self._pending[pending_key]


class RateLimiter:
    """At most ``limit`` requests per key in any sliding minute, per process.

    Each key keeps the times of its last ``limit`` accepted requests (never more), so the check
    is exact and costs O(1) per request; the number of keys is bounded too.
    """

    WINDOW = 60.0

    def __init__(self, limit: int, *, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._accepted: OrderedDict[str, deque[float]] = OrderedDict()

    def hit(self, key: str, now: float) -> float | None:
        """Count a request at ``now`` (seconds, monotonic); the seconds to wait when refused.

        Refused requests are not counted, so a client that waits as told gets through. A limit
        of 0 or less turns the limit off.
        """
        if self.limit <= 0:
            return None
        times = self._accepted.get(key)
        if times is None:
            times = deque()
            self._accepted[key] = times
            if len(self._accepted) > self.max_keys:
                # Forget the least recently seen key: an attacker cycling through random keys
                # gains nothing, each of them starts empty anyway.
                self._accepted.popitem(last=False)
        else:
            self._accepted.move_to_end(key)
        horizon = now - self.WINDOW
        while times and times[0] <= horizon:
            times.popleft()
        if len(times) >= self.limit:
            return max(1.0, math.ceil(times[0] - horizon))
        times.append(now)
        return None
