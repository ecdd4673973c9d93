"""Process-wide limits on image decoding: a memory budget per decode and a concurrency cap.

Each decode is priced from the file header (:meth:`ImageHeader.budget`) and refused over
``max_decode_bytes``; at most ``max_concurrent`` decodes run at once in the process, so
hostile uploads cannot stack their budgets past the unit's MemoryMax.  Callers beyond the
cap wait up to ``wait_timeout_s`` and then get :class:`ImageBusy`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from verifier.errors import ImageError

DEFAULT_MAX_DECODE_BYTES: Final = 160 * 1024 * 1024
"""Decode budget per image (160 MiB): a 12 MP colour photo needs 96 MiB, a 16-bit RGBA
6320x6320 PNG 2 GB; two decodes at this budget stay under ~400 MB of process RSS."""

DEFAULT_MAX_CONCURRENT: Final = 2
DEFAULT_WAIT_TIMEOUT_S: Final = 5.0


class ImageBusy(ImageError):
    """All decode slots stayed taken for the whole wait: retry later."""

    code = "image_busy"


@dataclass(frozen=True)
class DecodeLimits:
    """Current process-wide decode limits."""

    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    wait_timeout_s: float = DEFAULT_WAIT_TIMEOUT_S


_lock = threading.Lock()
_limits = DecodeLimits()
_slots = threading.BoundedSemaphore(DEFAULT_MAX_CONCURRENT)
_held = threading.local()


def configure(
    *,
    max_decode_bytes: int | None = None,
    max_concurrent: int | None = None,
    wait_timeout_s: float | None = None,
) -> DecodeLimits:
    """Change the limits (from the daemon's config at start-up); returns the new limits.

    A new concurrency cap applies to decodes that start afterwards; running ones finish
    under the slot they hold.
    """
    global _limits, _slots
    if max_decode_bytes is not None and max_decode_bytes < 1:
        raise ValueError("max_decode_bytes must be >= 1")
    if max_concurrent is not None and max_concurrent < 1:
        raise ValueError("max_concurrent must be >= 1")
    if wait_timeout_s is not None and wait_timeout_s < 0:
        raise ValueError("wait_timeout_s must be >= 0")
    with _lock:
        new = DecodeLimits(
            max_decode_bytes=_limits.max_decode_bytes
            if max_decode_bytes is None
            else max_decode_bytes,
            max_concurrent=_limits.max_concurrent if max_concurrent is None else max_concurrent,
            wait_timeout_s=_limits.wait_timeout_s if wait_timeout_s is None else wait_timeout_s,
        )
        if new.max_concurrent != _limits.max_concurrent:
            _slots = threading.BoundedSemaphore(new.max_concurrent)
        _limits = new
        return new


def current() -> DecodeLimits:
    """The limits in force."""
    return _limits


@contextmanager
def decode_slot() -> Iterator[None]:
    """Hold one of the process's decode slots (re-entrant within a thread).

    Raises :class:`ImageBusy` when no slot frees up within ``wait_timeout_s``.
    """
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    with _lock:
        sem, timeout = _slots, _limits.wait_timeout_s
    if not sem.acquire(timeout=timeout):
        raise ImageBusy(f"image decoder busy: no free slot within {timeout:g} s, retry later")
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        sem.release()
