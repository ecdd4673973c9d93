"""Red team, session 22: the lazy keep-alive timer of the daemon's h11 protocol
(``verifier.http.transport.GuardedH11Protocol``, one timer per connection instead of
uvicorn's ``call_later`` per response) attacked as a hostile client would.

Each test runs a real uvicorn server with the daemon's protocol class on loopback (the
daemon's ``_Uvicorn``, in a thread with its own event loop) and talks to it over raw
sockets. Bounds are behavioural and generous: "closed at all", "before the keep-alive",
"gone within many deadlines' time", never a tight timing threshold.

Findings (fail on 51b79a9):
- a client that stops reading holds its connection forever, after its response (the
  keep-alive's ``close()`` waits for a buffer that never drains) and in the middle of one
  (``flow.drain()`` waits forever); no deadline applies to writes;
- a request head begun behind a pipelined request gets no header deadline, only the
  keep-alive (30 s in the daemon instead of the 10 s header deadline).
The rest pins what was checked and found right.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.http.threaded_server import Running, closed_within, serve_in_thread

OK = b'{"ok":true}'
SLOW_PATH = "/slow"  # answered after SLOW_S
SLOW_S = 1.6
EARLY_PATH = "/early"  # answered at once, its body never read
BIG_PATH = "/big"  # one body far larger than the socket buffers, in one write
CHUNKS_PATH = "/chunks"  # the same size, in many writes
BIG = 32 << 20  # the kernel takes a few MB of a reader that never reads; this is far more


def request(path: str = "/", method: str = "GET", **headers: str) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return (head + "\r\n").encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == SLOW_PATH:
        await asyncio.sleep(SLOW_S)
    if path in (BIG_PATH, CHUNKS_PATH):
        start = {"type": "http.response.start", "status": 200}
        await send({**start, "headers": [(b"content-length", str(BIG).encode())]})
        if path == BIG_PATH:
            await send({"type": "http.response.body", "body": b"x" * BIG})
            return
        chunk = b"x" * (64 * 1024)
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(OK)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": OK})


Start = Callable[..., Running]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start servers with the daemon's protocol and shutdown grace; stop them all after."""
    running: list[Running] = []

    def _start(keep_alive: float = 1.0, header_s: float = 5.0, body_s: float = 5.0) -> Running:
        r = serve_in_thread(app, keep_alive=keep_alive, header_s=header_s, body_s=body_s)
        running.append(r)
        return r

    try:
        yield _start
    finally:
        for r in running:
            r.close()


def ask(sock: socket.socket, req: bytes = b"", head_only: bool = False) -> bytes:
    """Send ``req`` (a plain GET / when empty) and read one small answer."""
    sock.sendall(req or request())
    sock.settimeout(10)
    out = b""
    while not (out.endswith(b"\r\n\r\n") if head_only else out.endswith(OK)):
        chunk = sock.recv(65536)
        assert chunk, f"closed before the answer: {out!r}"
        out += chunk
    return out


def reset(sock: socket.socket) -> None:
    """Close with a reset: unread data must not keep the server's side waiting."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def wait_until(cond: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


# --- findings ----------------------------------------------------------------------------


def test_a_client_that_never_reads_its_answer_does_not_hold_the_socket(start: Start) -> None:
    """FINDING (pre-existing, medium). A 32 MB answer to a client that never reads: the
    response is complete once it is in the transport's buffer, the keep-alive (1 s) then
    calls ``close()``, and asyncio's ``close()`` waits for that buffer to drain — forever.
    The header deadline and the keep-alive both return early on ``is_closing()``, so
    nothing ever ends it: the connection (one of the capped slots) and the 30 MB it holds
    stay until the client goes. With the write deadline, 30 s of no progress in the daemon
    (body_timeout_s; 2 s here), it is aborted."""
    srv = start(keep_alive=1.0, header_s=2.0, body_s=2.0)
    sock = srv.connect(rcvbuf=4096)
    try:
        sock.sendall(request(BIG_PATH))
        assert wait_until(lambda: srv.srv.server_state.total_requests == 1, 10)  # answered
        # keep-alive 1 s, write deadline 2 s: gone well within 20 s
        assert wait_until(lambda: not srv.protocols(), 20), (
            "a client that never reads its answer holds the connection "
            f"({[p.transport.get_write_buffer_size() for p in srv.protocols()]} bytes queued)"
        )
    finally:
        reset(sock)


def test_a_client_that_stops_reading_mid_answer_does_not_hold_the_socket(
    start: Start,
) -> None:
    """FINDING (pre-existing, medium). The same size in 64 KiB writes: once the buffers
    are full the request's task waits in ``flow.drain()`` for a reader that never reads.
    No deadline applies (the request is read: their state is DONE; the keep-alive is not
    armed mid-request), so the task and the connection live until the client goes; on
    stop, only the grace period's cancel ends it. Many pipelined small answers get there
    too (session 20's never-reading pipeline)."""
    srv = start(keep_alive=1.0, header_s=2.0, body_s=2.0)
    sock = srv.connect(rcvbuf=4096)
    try:
        sock.sendall(request(CHUNKS_PATH))
        assert wait_until(lambda: bool(srv.srv.server_state.tasks), 10)  # in hand
        assert wait_until(lambda: not srv.protocols() and not srv.srv.server_state.tasks, 20), (
            "a client that stopped reading mid-answer holds the connection and its task"
        )
    finally:
        reset(sock)


def test_a_head_begun_behind_a_pipelined_request_meets_the_header_deadline(
    start: Start,
) -> None:
    """FINDING (pre-existing, low). A request and the start of a second head in one
    segment, then silence: after the answer the connection counts as idle (``_idle_since``
    set, the bytes were received before the response), so ``_arm`` arms no header
    deadline and only the keep-alive closes it — in the daemon 30 s instead of the 10 s
    header deadline, ``_arm``'s "IDLE with bytes pending" not honoured."""
    srv = start(keep_alive=6.0, header_s=1.0, body_s=5.0)
    with srv.connect() as sock:
        assert ask(sock, request() + b"GET / HTTP/1.1\r\nHo").startswith(b"HTTP/1.1 200 ")
        after = closed_within(sock, 10.0)
    assert after is not None, "a begun head was never cut off"
    assert after < 4.0, f"closed after {after:.1f} s: the keep-alive (6 s), not the 1 s deadline"


# --- checked and found right: pinned ---------------------------------------------------------


def test_the_idle_close_counts_from_the_last_answer_not_a_later_timer(start: Start) -> None:
    """The lazy timer armed at the first answer falls due 3 s later, with the second
    answer 0.1 s after the first: it re-arms for what is left (closing 3 s after the second
    answer, where uvicorn's own timer would), not for a whole keep-alive again (~6 s)."""
    srv = start(keep_alive=3.0)
    with srv.connect() as sock:
        ask(sock)
        time.sleep(0.1)
        ask(sock)
        after = closed_within(sock, 10.0)
    assert after is not None, "the idle connection was never closed"
    assert 2.4 <= after <= 4.5, f"closed {after:.2f} s after the last answer, keep-alive 3 s"


def test_a_pipelined_request_in_hand_when_the_timer_falls_due_is_answered(
    start: Start,
) -> None:
    """Two requests in one segment, the second slower than the keep-alive: the timer armed
    by the first answer falls due while the second, begun from the buffer (no bytes
    arrive), is in hand. It must see a request in hand — uvicorn clears the keep-alive in
    handle_events' Request branch, which the override relies on — and not close."""
    srv = start(keep_alive=1.0)
    with srv.connect() as sock:
        sock.sendall(request() + request(SLOW_PATH))
        sock.settimeout(10)
        out = b""
        while out.count(OK) < 2:
            chunk = sock.recv(65536)
            assert chunk, f"closed with a pipelined request in hand: {out!r}"
            out += chunk
        assert out.count(b"HTTP/1.1 200 ") == 2
        assert closed_within(sock, 0.5) is None  # the idle time starts at the second answer
        assert ask(sock).startswith(b"HTTP/1.1 200 ")


def test_the_protocol_is_freed_once_the_connection_is_lost(start: Start) -> None:
    """No timer keeps a closed connection's protocol alive: keep-alive 30 s (the daemon's),
    the client leaves right after its answer, the protocol is garbage within seconds (a
    timer not cancelled in connection_lost would hold it, and fire on it, 30 s later)."""
    srv = start(keep_alive=30.0)
    sock = srv.connect()
    ask(sock)
    (proto,) = srv.protocols()
    ref = weakref.ref(proto)
    del proto
    sock.close()

    def freed() -> bool:
        gc.collect()
        return ref() is None

    assert wait_until(freed, 5.0), "the protocol outlives its connection"


def test_stop_closes_idle_keep_alive_connections_at_once(start: Start) -> None:
    """Stopping with idle keep-alive connections open (and one that never sent a byte)
    closes them at once: the server does not wait out a keep-alive of an hour (it is gone
    within the join's minute), and every client sees its connection closed."""
    srv = start(keep_alive=3600.0)
    socks = [srv.connect() for _ in range(4)]
    try:
        for s in socks[:3]:
            assert ask(s).startswith(b"HTTP/1.1 200 ")
        srv.stop(timeout=60.0)
        assert not srv.thread.is_alive(), "the server waited for its idle connections"
        for s in socks:
            assert closed_within(s, 5.0) is not None
    finally:
        for s in socks:
            s.close()


def test_every_answer_is_counted_once(start: Start) -> None:
    """server_state.total_requests (uvicorn's --limit-max-requests reads it): one per
    answer, pipelined, HEAD and the last one with ``Connection: close`` (whose transport
    is already closing when the response completes) included."""
    srv = start(keep_alive=5.0)
    with srv.connect() as sock:
        ask(sock)
        sock.sendall(request() * 3)
        sock.settimeout(10)
        out = b""
        while out.count(OK) < 3:
            chunk = sock.recv(65536)
            assert chunk
            out += chunk
        assert ask(sock, request(method="HEAD"), head_only=True).startswith(b"HTTP/1.1 200 ")
        assert ask(sock, request(Connection="close")).startswith(b"HTTP/1.1 200 ")
        assert closed_within(sock, 5.0) is not None  # closed after the close
    assert wait_until(lambda: srv.srv.server_state.total_requests == 6, 5.0), (
        srv.srv.server_state.total_requests
    )


def test_a_body_finished_after_an_early_answer_then_silence_is_closed(start: Start) -> None:
    """The app answers before reading the body; the client finishes the body after the
    answer and goes silent. The bytes end the idle time (the keep-alive timer, due
    meanwhile, does nothing), so the header deadline of the new cycle must close it —
    a ``_arm`` that looked at the pending timer instead of ``_idle_since`` would hold it
    forever."""
    srv = start(keep_alive=1.0, header_s=2.0, body_s=5.0)
    with srv.connect() as sock:
        head = request(EARLY_PATH, "POST", Content_Length="10")
        assert ask(sock, head + b"01234").startswith(b"HTTP/1.1 200 ")
        time.sleep(0.3)
        sock.sendall(b"56789")
        after = closed_within(sock, 15.0)
    assert after is not None, "an idle connection after an early answer was never closed"


def test_an_upgrade_attempt_is_plain_http_and_closes_when_idle(start: Start) -> None:
    """No WebSocket library in the venv: an upgrade is answered as plain HTTP (h11 goes
    back from MIGHT_SWITCH_PROTOCOL) and the connection then closes at the keep-alive."""
    srv = start(keep_alive=1.0)
    with srv.connect() as sock:
        upgrade = request(
            Connection="Upgrade",
            Upgrade="websocket",
            Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ==",
            Sec_WebSocket_Version="13",
        )
        assert ask(sock, upgrade).startswith(b"HTTP/1.1 200 ")
        assert ask(sock).startswith(b"HTTP/1.1 200 ")  # still HTTP
        after = closed_within(sock, 6.0)
    assert after is not None, "an idle connection after an upgrade attempt stayed open"
