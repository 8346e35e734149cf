"""The per-version feed cache and the per-secret rate limit."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from orchestrator.feeds.cache import FeedCache, RateLimiter, successor
from orchestrator.feeds.http import make_representation

T0 = dt.datetime(2026, 1, 6, 8, 0, tzinfo=dt.UTC)


def rep(body: bytes, changed: dt.datetime = T0):
    return make_representation(body, last_modified=changed, filename="rucksack.ics")


def now() -> dt.datetime:
    return T0 + dt.timedelta(hours=1)


async def test_a_version_is_rendered_once():
    cache = FeedCache()
    calls = []

    async def build():
        calls.append(1)
        await asyncio.sleep(0.01)
        return rep(b"A" * 100)

    # Concurrent requests for the same version share one render.
    results = await asyncio.gather(*(cache.get_or_build("k", ("v", 1), build, now=now) for _ in range(5)))
    assert len(calls) == 1
    assert cache.renders == 1
    assert len({r.etag for r in results}) == 1
    await cache.get_or_build("k", ("v", 1), build, now=now)
    assert cache.renders == 1
    assert cache.hits >= 1
    await cache.get_or_build("k", ("v", 2), build, now=now)
    assert cache.renders == 2


async def test_a_failed_render_is_not_cached_and_reaches_every_waiter():
    cache = FeedCache()

    async def fail():
        await asyncio.sleep(0.01)
        raise ValueError("bad data")

    outcomes = await asyncio.gather(
        *(cache.get_or_build("k", 1, fail, now=now) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, ValueError) for o in outcomes)
    assert len(cache) == 0
    assert cache.renders == 0


def test_the_cache_is_bounded_by_bytes_and_forgets_the_least_recently_used():
    one = rep(bytes(range(256)) * 40)
    cache = FeedCache(max_bytes=one.size * 3)
    for key in "abc":
        cache.put(key, 1, one, now=now())
    assert cache.get("a", 1) is not None  # "a" is now the most recently used
    cache.put("d", 1, one, now=now())
    assert len(cache) == 3
    assert cache.get("b", 1) is None
    assert cache.get("a", 1) is not None
    assert cache.size <= cache.max_bytes
    cache.forget("a")
    assert cache.get("a", 1) is None
    # A representation larger than the whole budget is served but not kept.
    huge = FeedCache(max_bytes=10)
    assert huge.put("x", 1, one, now=now()) is one
    assert len(huge) == 0


def test_last_modified_moves_when_the_bytes_change_without_a_newer_date():
    first = rep(b"first")
    # Same bytes: the same representation, validators unchanged.
    assert successor(first, rep(b"first"), now()) is first
    # Newer rows: their date.
    later = rep(b"second", T0 + dt.timedelta(minutes=5))
    assert successor(first, later, now()) is later
    # Changed bytes with no newer date (a deleted session, another language): dated now, so a
    # client that only sends If-Modified-Since is not told "not modified".
    moved = successor(first, rep(b"second"), now())
    assert moved.etag == rep(b"second").etag
    assert moved.last_modified == now()
    # Within the same second as the previous date: at least one second later.
    same_second = successor(first, rep(b"third"), T0)
    assert same_second.last_modified == T0 + dt.timedelta(seconds=1)


def test_rate_limit_counts_per_key_in_a_sliding_minute():
    limiter = RateLimiter(3)
    assert [limiter.hit("a", 0.0) for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a", 1.0)
    assert wait == 59  # when the first of the three leaves the minute
    assert limiter.hit("b", 1.0) is None  # another key, its own window
    # Refused requests are not counted: after waiting as told, the next one passes.
    assert limiter.hit("a", 1.0 + wait) is None
    # Long after, a fresh window.
    assert limiter.hit("a", 500.0) is None


def test_rate_limit_slides():
    limiter = RateLimiter(10)
    for second in range(10):
        assert limiter.hit("k", 50.0 + second) is None
    assert limiter.hit("k", 100.0) == 10
    # One request leaves the minute every second from 110 on: one more each time.
    assert limiter.hit("k", 110.5) is None
    assert limiter.hit("k", 110.7) == 1
    assert limiter.hit("k", 111.5) is None


@pytest.mark.parametrize("limit", [0, -1])
def test_rate_limit_can_be_turned_off(limit):
    limiter = RateLimiter(limit)
    assert all(limiter.hit("k", 0.0) is None for _ in range(1000))


def test_rate_limit_remembers_a_bounded_number_of_keys():
    limiter = RateLimiter(1, max_keys=100)
    for n in range(1000):
        limiter.hit(f"key-{n}", 0.0)
    assert len(limiter._accepted) == 100
