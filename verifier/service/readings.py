"""Typed readings of the running service, for ``/metrics``.

The HTTP layer turns these into Prometheus series; it never reads the store, the registry
client or the drivers itself, and never reads a status dict back through string keys. Nothing
here is personal: outcomes, states, driver names, counts and times only.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from datetime import datetime

# Seconds. A verification from the snapshot takes milliseconds; one that asks the online
# registry takes up to its budget (``[registry] budget_s``, a few seconds).
VERIFY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


def package_version() -> str:
    """The installed distribution's version (``verifier.__version__``, read from package
    metadata): /v1/status and the metrics' build info say what ``--version`` says."""
    import verifier

    return verifier.__version__


class LatencyBuckets:
    """Cumulative histogram of durations over fixed bounds: counts, sum, and total count.

    Thread-safe (verifications finish on the pool's threads); memory is fixed.
    """

    def __init__(self, bounds: tuple[float, ...] = VERIFY_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)):
            raise ValueError("bucket bounds must increase")
        self.bounds = bounds
        self._counts = [0] * len(bounds)  # per bucket, not cumulative
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, seconds: float) -> None:
        i = bisect.bisect_left(self.bounds, seconds)
        with self._lock:
            if i < len(self._counts):
                self._counts[i] += 1
            self._count += 1
            self._sum += seconds

    def snapshot(self) -> LatencyReading:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        cumulative: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip(self.bounds, counts, strict=True):
            running += n
            cumulative.append((bound, running))
        return LatencyReading(buckets=tuple(cumulative), count=count, sum_s=total)


@dataclass(frozen=True, slots=True)
class LatencyReading:
    """``buckets``: (upper bound, observations ≤ bound), cumulative; ``count`` includes +Inf."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    sum_s: float


@dataclass(frozen=True, slots=True)
class DriverReading:
    name: str
    kind: str
    state: str
    up: bool
    reads: int
    errors: int


@dataclass(frozen=True, slots=True)
class SnapshotReading:
    state: str  # the register part's freshness: fresh, stale, expired, absent
    revocations: str  # the revocation list's freshness, same states
    sequence: int | None
    records: int
    age_s: float | None
    clock_skew_s: float | None


@dataclass(frozen=True, slots=True)
class RegistryReading:
    """The online registry client: ``None`` fields when no registry is configured."""

    configured: bool
    breaker: str | None = None  # closed, open, half_open
    breaker_opened: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    breaker_rejections: int = 0
    refused: int = 0
    bytes_read: int = 0


@dataclass(frozen=True, slots=True)
class SyncReading:
    last_success: datetime | None
    last_attempt: datetime | None
    failures_total: int
    consecutive_failures: int
    trust_list_failures_total: int
    task_restarts: int


@dataclass(frozen=True, slots=True)
class Readings:
    version: str
    started_at: datetime
    ready: bool
    verifications_by_outcome: dict[str, int]
    unrecognized: int
    driver_errors: int
    verify_latency: LatencyReading
    snapshot: SnapshotReading
    registry: RegistryReading
    sync: SyncReading | None
    drivers: tuple[DriverReading, ...] = ()
    trust_keys: int = 0
    events_published: int = 0
    sse_subscribers: int = 0
