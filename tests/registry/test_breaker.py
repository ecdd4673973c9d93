from __future__ import annotations

from verifier.registry.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_consecutive_failures_and_probes_back() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=3, reset_after=10.0, clock=clock)
    for _ in range(2):
        assert b.allow()
        b.record_failure()
    assert b.state is BreakerState.CLOSED
    b.record_failure()
    assert b.state is BreakerState.OPEN and not b.allow()
    clock.t = 9.9
    assert not b.allow()
    clock.t = 10.0
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the one probe
    assert not b.allow()  # no second probe while the first is out
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow()
    assert b.opened_count == 1


def test_failed_probe_reopens_for_another_period() -> None:
    clock = Clock()
    b = CircuitBreaker(failure_threshold=1, reset_after=5.0, clock=clock)
    b.record_failure()
    clock.t = 5.0
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert b.seconds_until_probe() == 5.0
    clock.t = 9.0
    assert not b.allow()


def test_success_resets_the_failure_count() -> None:
    b = CircuitBreaker(failure_threshold=3, clock=Clock())
    for _ in range(5):
        b.record_failure()
        b.record_failure()
        b.record_success()
    assert b.state is BreakerState.CLOSED
