"""A real uvicorn server with the daemon's protocol class, on loopback, in a thread with its
own event loop: for tests that talk raw sockets to the protocol (keep-alive, deadlines)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from tests.http.test_limits import closed_by_peer
from verifier.http.transport import Limits, guarded_protocol
from verifier.service.daemon import GRACE_S, _Uvicorn, bind


@dataclass
class Running:
    port: int
    srv: _Uvicorn
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    sock: socket.socket
    keep_alive: float

    def connect(self, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect: the window offered stays this small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", self.port))
        return sock

    def protocols(self) -> list[Any]:
        return list(self.srv.server_state.connections)

    def stop(self, timeout: float = 20.0) -> float:
        """Ask the server to stop, as the daemon does on SIGTERM; seconds it took."""
        began = time.monotonic()
        self.srv.should_exit = True
        self.thread.join(timeout)
        return time.monotonic() - began

    def close(self) -> None:
        self.stop()
        if not self.thread.is_alive():
            self.loop.close()
        self.sock.close()


def serve_in_thread(
    app: Any,
    *,
    keep_alive: float = 1.0,
    header_s: float = 5.0,
    body_s: float = 5.0,
    prepare: Callable[[asyncio.AbstractEventLoop], None] | None = None,
) -> Running:
    """Start ``app`` behind the daemon's protocol (its deadlines, its shutdown grace) and
    return once it serves; ``prepare`` sees the loop first (to watch its timers)."""
    sock = bind("127.0.0.1", 0)
    loop = asyncio.new_event_loop()
    if prepare is not None:
        prepare(loop)
    config = uvicorn.Config(
        app,
        http=guarded_protocol(Limits(header_s, body_s, max_connections=50)),
        timeout_keep_alive=keep_alive,  # type: ignore[arg-type]  # uvicorn takes a float too
        timeout_graceful_shutdown=int(GRACE_S),  # as the daemon
        lifespan="off",
        access_log=False,
        log_config=None,
    )
    srv = _Uvicorn(config)
    thread = threading.Thread(
        target=lambda: loop.run_until_complete(srv.serve(sockets=[sock])), daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.started
    return Running(sock.getsockname()[1], srv, loop, thread, sock, keep_alive)


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed the connection, or None if it stayed open."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if closed_by_peer(sock):
            return time.monotonic() - began
        time.sleep(0.02)
    return None
