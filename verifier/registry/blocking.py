"""Run the async registry client on its own event-loop thread, callable from sync code.

The pipeline is synchronous (SQLite lookups and GOST arithmetic block anyway, so the daemon runs
it in worker threads); the client is async (pooled httpx). This bridge owns one loop thread and
hands coroutines to it, waiting at most the call's budget plus a small margin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from verifier.registry.client import RegistryUnavailable

T = TypeVar("T")


class LoopThread:
    def __init__(self, name: str = "oms-registry-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, make: Callable[[], Awaitable[T]], timeout: float) -> T:
        async def run() -> T:
            return await make()

        fut = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            fut.cancel()
            raise RegistryUnavailable(f"no answer within {timeout:.2f} s") from exc

    def close(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
        if not self.loop.is_running():
            self.loop.close()
