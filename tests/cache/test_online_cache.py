"""The TTL cache in front of online registry answers: TTLs on an injected clock, size, threads."""

from __future__ import annotations

import random
import threading

import pytest

from cache.online_cache import Cached, OnlineCache


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_positive_answer_lives_ttl_seconds(clock: Clock) -> None:
    cache: OnlineCache[str] = OnlineCache(ttl=300, negative_ttl=30, timer=clock)
    cache.put("5000000000000001", "active")
    clock.advance(299.9)
    got = cache.get("5000000000000001")
    assert got == Cached("active", 1000.0)
    clock.advance(0.2)
    assert cache.get("5000000000000001") is None
    assert len(cache) == 0


def test_not_found_lives_negative_ttl_seconds(clock: Clock) -> None:
    cache: OnlineCache[str] = OnlineCache(ttl=300, negative_ttl=30, timer=clock)
    cache.put("5000000000000002", None)
    clock.advance(29.9)
    got = cache.get("5000000000000002")
    assert got is not None and got.value is None  # cached "not found", not a miss
    clock.advance(0.2)
    assert cache.get("5000000000000002") is None


def test_positive_and_negative_entries_expire_independently(clock: Clock) -> None:
    cache: OnlineCache[str] = OnlineCache(ttl=300, negative_ttl=30, timer=clock)
    cache.put("found", "active")
    cache.put("missing", None)
    clock.advance(60)
    assert cache.get("missing") is None
    assert cache.get("found") is not None
    assert len(cache) == 1


def test_putting_again_restarts_the_ttl_and_can_flip_the_answer(clock: Clock) -> None:
    cache: OnlineCache[str] = OnlineCache(ttl=300, negative_ttl=30, timer=clock)
    cache.put("k", None)
    clock.advance(20)
    cache.put("k", "active")  # registered a minute ago: found on the next try
    clock.advance(200)
    got = cache.get("k")
    assert got == Cached("active", 1020.0)


def test_hits_misses_and_invalidate(clock: Clock) -> None:
    cache: OnlineCache[str] = OnlineCache(timer=clock)
    assert cache.get("a") is None
    cache.put("a", "x")
    assert cache.get("a") is not None
    assert cache.get("a") is not None
    cache.invalidate("a")
    cache.invalidate("never there")
    assert cache.get("a") is None
    assert (cache.hits, cache.misses) == (2, 2)


def test_maxsize_evicts_the_least_recently_used(clock: Clock) -> None:
    cache: OnlineCache[int] = OnlineCache(maxsize=3, timer=clock)
    for i in range(3):
        cache.put(f"k{i}", i)
        clock.advance(1)
    assert cache.get("k0") is not None  # k0 is now the most recently used
    cache.put("k3", 3)
    assert len(cache) == 3
    assert cache.get("k1") is None
    assert [cache.get(k) is not None for k in ("k0", "k2", "k3")] == [True, True, True]
    for i in range(4, 100):
        cache.put(f"k{i}", i)
    assert len(cache) == 3


def test_expired_entries_make_room_before_live_ones_are_evicted(clock: Clock) -> None:
    cache: OnlineCache[int] = OnlineCache(maxsize=2, ttl=300, negative_ttl=30, timer=clock)
    cache.put("live", 1)
    cache.put("gone", None)
    clock.advance(31)
    cache.put("new", 2)
    assert cache.get("live") is not None and cache.get("new") is not None


def test_ttl_change_applies_to_new_entries(clock: Clock) -> None:
    cache: OnlineCache[int] = OnlineCache(ttl=300, negative_ttl=30, timer=clock)
    cache.put("old", 1)
    cache.ttl = 10
    cache.put("new", 2)
    clock.advance(11)
    assert cache.get("new") is None
    assert cache.get("old") is not None


def test_threads_hammering_one_cache() -> None:
    """Smoke test: no exceptions, counts add up, size bound holds, values stay whole."""
    cache: OnlineCache[tuple[str, int]] = OnlineCache(maxsize=64, ttl=0.05, negative_ttl=0.01)
    errors: list[BaseException] = []
    gets = [0] * 8
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        rng = random.Random(n)
        try:
            start.wait()
            for i in range(3000):
                key = f"k{rng.randrange(200)}"
                op = rng.random()
                if op < 0.45:
                    cache.put(key, (key, i) if rng.random() < 0.8 else None)
                elif op < 0.95:
                    got = cache.get(key)
                    gets[n] += 1
                    if got is not None and got.value is not None:
                        assert got.value[0] == key
                else:
                    cache.invalidate(key)
                assert len(cache) <= 64
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which fails the test with it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert cache.hits + cache.misses == sum(gets)
    assert cache.hits > 0 and cache.misses > 0
