"""The one retry-delay rule (verifier/backoff.py) that drivers, sync and the client share."""

from __future__ import annotations

import random

import pytest

from verifier.backoff import Backoff, Jitter


def test_next_doubles_from_initial_up_to_maximum_and_resets() -> None:
    b = Backoff(1.0, 10.0)
    assert [b.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    assert b.next() == 1.0
    assert Backoff(0.5, 4.0).next(3.0) == 4.0  # stateless: from the delay waited last


def test_delay_by_attempt_without_jitter_is_the_exponential_capped() -> None:
    b = Backoff(30.0, 3600.0)
    assert [b.delay(n) for n in range(9)] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert b.delay(10_000) == 3600.0  # no overflow however many failures
    assert b.delay(-3) == 30.0


@pytest.mark.parametrize(("jitter", "low"), [(Jitter.EQUAL, 0.5), (Jitter.FULL, 0.0)])
def test_jitter_stays_inside_its_band_and_spreads(jitter: Jitter, low: float) -> None:
    random.seed(7)
    b = Backoff(30.0, 3600.0, jitter=jitter)
    for attempt in range(12):
        planned = min(3600.0, 30.0 * 2**attempt)
        draws = [b.delay(attempt) for _ in range(200)]
        assert all(low * planned <= d <= planned for d in draws), attempt
        assert len(set(draws)) > 150  # spread, not one value: desks do not retry in step
    assert min(b.delay(0) for _ in range(500)) < (low + 0.1) * 30.0


def test_uncapped_full_jitter_is_what_the_registry_client_retries_with() -> None:
    b = Backoff(0.05, float("inf"), jitter=Jitter.FULL)
    assert all(0 <= b.delay(3) <= 0.4 for _ in range(100))
