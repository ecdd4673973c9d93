"""Connection-level limits uvicorn lacks: header and body deadlines, a connection cap, and
accept errors logged at a bounded rate.

uvicorn only times out idle keep-alive connections, and every received byte cancels that timer:
a client that sends its headers one byte per second (slowloris) or never finishes its body holds
a socket forever, and enough of them exhaust the file descriptors. Then asyncio's accept loop
logs one traceback per attempted ``accept()`` (up to ``backlog`` per loop turn) — 52 MB in 10 s
in the review — and the service stops answering. Here each request has a deadline for its
headers and one for its body that no trickle of bytes extends, connections beyond the cap get a
short 503 and are closed at once, and the accept error is one short line per interval.
"""

from __future__ import annotations

import asyncio
import errno
import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.flow_control import CLOSE_HEADER
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from verifier.log import get_logger

log = get_logger("oms.http")

# A reserve of descriptors for the service itself (databases, drivers, the registry client).
FD_RESERVE = 64
_BUSY_BODY = (
    b'{"type":"https://oms-verifier.example/problems/busy","title":"busy","status":503,'
    b'"detail":"too many connections; try again","code":"busy"}'
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/problem+json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int


def connection_cap(configured: int) -> int:
    """The configured cap, lowered so that connections alone never exhaust the descriptors."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(8, min(configured, soft - FD_RESERVE))


class _Throttle:
    """At most one log line per ``interval_s`` per kind; the line counts what it stood for."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._count: dict[str, int] = {}

    def hit(self, kind: str) -> int | None:
        """Return how many events to report now, or ``None`` to stay quiet."""
        self._count[kind] = self._count.get(kind, 0) + 1
        now = time.monotonic()
        if now - self._last.get(kind, -1e9) < self.interval_s:
            return None
        self._last[kind] = now
        return self._count.pop(kind)


throttle = _Throttle()

# Writes of one loop step are joined into one send up to this size; a larger response (a
# batch's body) goes out as written, rather than be copied once more to save one syscall.
COALESCE_MAX = 64 * 1024
# A client that stops reading: at least this much of what is queued for it must leave per
# write deadline (body_timeout_s), or the connection is aborted.
MIN_DRAIN = 16 * 1024


# Requests answered directly (see GuardedH11Protocol.handle_events) per call, at most: a client
# that pipelines thousands in one read gets the rest through uvicorn's own request tasks, each
# of which lets the loop serve the other connections first.
DIRECT_MAX_PER_READ = 16


@dataclass(frozen=True, slots=True)
class DirectResponse:
    """A complete answer a :data:`DirectAnswerer` made: its status, its headers (uvicorn's
    default ones are put in front, as for any answer) and its body. ``close``: the
    connection is closed after it, as uvicorn closes one whose app raised."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    close: bool = False


# Given a request without a body as the scope uvicorn would hand the app, either answers it
# at once (on the loop, before anything else runs) or says ``None``, having done nothing.
DirectAnswerer = Callable[[dict[str, Any]], DirectResponse | None]


class _Replayed(h11.Connection):
    """h11's connection, which can be handed back what was read of it: the protocol reads
    a request to see whether it answers it directly, and a request it does not take goes to
    uvicorn's ``handle_events`` as it came (an event, or the error reading it raised)."""

    def __init__(self, max_incomplete_event_size: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size)
        self.replay: list[Any] = []

    def next_event(self) -> Any:
        if self.replay:
            item = self.replay.pop(0)
            if isinstance(item, h11.RemoteProtocolError):
                raise item
            return item
        return super().next_event()


def _bodiless(event: h11.Request) -> bool:
    """The request says it has no body: no ``Transfer-Encoding``, no length but zero (so
    h11's next event is its end)."""
    for name, value in event.headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return False
    return True


class CoalescedWrites:
    """The connection's transport, with the writes of one event-loop step sent as one.

    uvicorn writes a response's head and its body separately, and with TCP_NODELAY each
    ``write`` on an idle socket is its own ``send()``: two syscalls and two segments for a
    verdict, and on loopback a send does the receiver's TCP work too (10–20 µs each, the
    largest single cost of the MIS path). Here writes are kept until the response is
    complete (:meth:`GuardedH11Protocol.on_response_complete` flushes), or until the end of
    the loop step for anything else (an event stream's head, an error before a close), and
    :meth:`close` flushes first. Order is kept; nothing waits beyond the current step."""

    __slots__ = ("_buffer", "_loop", "_scheduled", "_size", "on_close", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._buffer: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self.on_close: Callable[[], None] | None = None  # told after every close()

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._buffer.append(data)
        self._size += len(data)
        if self._size > COALESCE_MAX:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush_scheduled)

    def writelines(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:  # through the buffer, not around it (kept in order)
            self.write(chunk)

    def _flush_scheduled(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Hand what was written so far to the real transport, in one write when it fits."""
        buffer = self._buffer
        if not buffer:
            return
        self._buffer, self._size = [], 0
        if len(buffer) == 1:
            self.transport.write(buffer[0])
        elif sum(map(len, buffer)) <= COALESCE_MAX:
            self.transport.write(b"".join(buffer))
        else:
            for chunk in buffer:
                self.transport.write(chunk)

    def close(self) -> None:
        self.flush()
        self.transport.close()
        if self.on_close is not None:
            self.on_close()  # the buffer may never drain: the protocol watches it

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, abort, ...: the real ones
        return getattr(self.transport, name)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with header/body deadlines and a connection cap, and requests
    a :data:`DirectAnswerer` takes answered without an ASGI cycle."""

    _limits: ClassVar[Limits]
    _answerers: ClassVar[tuple[DirectAnswerer, ...]] = ()  # none, or the one

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._direct = self._answerers[0] if self._answerers else None
        if self._direct is not None:
            self.conn = _Replayed(self.conn._max_incomplete_event_size)
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_state: object = None
        self._refused = False
        self._writes: CoalescedWrites
        # The keep-alive (see on_response_complete): when the last response completed with
        # nothing received since (None: a request is on its way or in hand), and the one
        # timer that checks it.
        self._idle_since: float | None = None
        self._keep_alive: asyncio.TimerHandle | None = None
        # The write deadline: a reader that stops reading must not hold its socket.
        self._stall: asyncio.TimerHandle | None = None
        self._unsent_then = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._writes = CoalescedWrites(transport, self.loop)
        self._writes.on_close = self._watch_writes
        super().connection_made(self._writes)  # type: ignore[arg-type]  # a transport's face
        if len(self.connections) > self._limits.max_connections:
            self._refused = True
            n = throttle.hit("connection_cap")
            if n is not None:
                log.warning(
                    "connection cap reached; refusing connections",
                    cap=self._limits.max_connections,
                    refused=n,
                )
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._keep_alive is not None:
            self._keep_alive.cancel()
            self._keep_alive = None
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._watch_writes()

    def _watch_writes(self) -> None:
        """Writes paused (buffer over the high-water mark) or a close waiting for the
        buffer: each ``body_timeout_s`` at least MIN_DRAIN bytes must have left, else
        abort. asyncio has no deadline for either, and a client that never reads would
        hold the socket, its queued bytes and a request's task forever."""
        if self._stall is None and self._writes.transport.get_write_buffer_size():
            self._unsent_then = self._writes.transport.get_write_buffer_size()
            self._stall = self.loop.call_later(self._limits.body_timeout_s, self._writes_due)

    def _writes_due(self) -> None:
        self._stall = None
        real = self._writes.transport
        unsent = real.get_write_buffer_size()
        if not unsent or not (self.flow.write_paused or real.is_closing()):
            return  # drained, or below the low-water mark and writing again
        if self._unsent_then - unsent >= min(MIN_DRAIN, self._unsent_then):
            self._unsent_then = unsent
            self._stall = self.loop.call_later(self._limits.body_timeout_s, self._writes_due)
            return
        n = throttle.hit("timeout_write")
        if n is not None:
            log.info("closed a slow connection", phase="write", count=n)
        real.abort()  # connection_lost follows: the cycle sees disconnected, drain returns

    def handle_events(self) -> None:
        """uvicorn's, but a request the direct answerer takes is answered here and now.

        uvicorn makes a scope, a request-response cycle, an ``asyncio.Event`` and a task for
        every request, and the task first runs on the loop's next turn; a request that the
        answerer can answer at once (the MIS's offline lookup, with the same checks, the same
        answer and the same records left behind) needs none of it. Anything it does not
        take — another route, a request with a body, a request on a connection whose writes
        are paused, an unreadable one — goes to uvicorn as it came."""
        if self._direct is not None and self.limit_concurrency is None:
            self._answer_directly(self._direct)
            if self.conn.our_state is h11.CLOSED:
                return  # an answer ended the connection: nothing after it is read, as uvicorn
        super().handle_events()

    def _answer_directly(self, direct: DirectAnswerer) -> None:
        conn = self.conn
        assert isinstance(conn, _Replayed)  # noqa: S101 - __init__ made it so
        answered = 0
        while answered < DIRECT_MAX_PER_READ:
            if (
                conn.our_state is not h11.IDLE
                or conn.their_state is not h11.IDLE
                or self.flow.write_paused
                or self.transport.is_closing()
            ):
                break
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                conn.replay.append(exc)  # uvicorn answers it 400, as ever
                break
            if event is h11.NEED_DATA:
                break
            if not isinstance(event, h11.Request) or self.root_path or not _bodiless(event):
                conn.replay.append(event)
                break
            end = conn.next_event()  # no body: its end, read now, before anything is done
            scope = self._direct_scope(event) if type(end) is h11.EndOfMessage else None
            response = direct(scope) if scope is not None else None
            if scope is None or response is None:
                conn.replay += (event, end)
                break
            self._send_direct(scope, response)
            answered += 1
        if answered:
            self._disarm()  # the head waited for is answered: the next one gets its own deadline
            if self._head_begun():
                self._idle_since = None  # the next head has begun: its deadline, not the idle

    def _direct_scope(self, event: h11.Request) -> dict[str, Any] | None:
        """The scope uvicorn would give the app for ``event`` (``None`` for a path it would
        percent-decode, which goes to uvicorn)."""
        raw_path, _, query_string = event.target.partition(b"?")
        if b"%" in raw_path or not raw_path.isascii():
            return None
        return {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": event.http_version.decode("ascii"),
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": event.method.decode("ascii"),
            "root_path": "",
            "path": raw_path.decode("ascii"),
            "raw_path": raw_path,
            "query_string": query_string,
            "headers": [(key.lower(), value) for key, value in event.headers],
            "state": self.app_state.copy(),
        }

    def _send_direct(self, scope: dict[str, Any], response: DirectResponse) -> None:
        """What uvicorn's cycle sends for an app's complete answer, in one write."""
        self._unset_keepalive_if_required()
        headers = [*self.server_state.default_headers, *response.headers]
        if CLOSE_HEADER in scope["headers"] and CLOSE_HEADER not in headers:
            headers.append(CLOSE_HEADER)
        conn = self.conn
        head = h11.Response(
            status_code=response.status, headers=headers, reason=STATUS_PHRASES[response.status]
        )
        out = conn.send(head)  # in this order: h11 keeps the state of the exchange
        out += conn.send(h11.Data(data=response.body))
        self.transport.write(out + conn.send(h11.EndOfMessage()))
        if conn.our_state is h11.MUST_CLOSE or response.close:
            conn.send(h11.ConnectionClosed())
            self.transport.close()
        self._response_done()

    def on_response_complete(self) -> None:
        """uvicorn's, with a lazy keep-alive timer.

        uvicorn arms a new ``call_later`` after every response and cancels it when the next
        request's bytes arrive: a timer made, pushed on the loop's heap, cancelled and later
        swept for every request. Here the response only notes the moment; one timer per
        connection, armed when none is, checks at its due time whether the connection has
        stayed idle for ``timeout_keep_alive`` since, and re-arms for the rest when it has
        not. The connection closes at the same moment as uvicorn's would."""
        if self._response_done():
            self.handle_events()  # a pipelined request waiting in the buffer
            if self._head_begun():
                self._idle_since = None  # a head begun: the header deadline, not the idle
        self._arm()

    def _response_done(self) -> bool:
        """A response has been written whole: send it, count it, note the idle moment and
        start the next cycle (True: started, a pipelined request may wait in the buffer)."""
        self._writes.flush()  # the whole response in one send (see CoalescedWrites)
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return False
        self._unset_keepalive_if_required()
        self._idle_since = self.loop.time()
        if self._keep_alive is None:
            self._keep_alive = self.loop.call_later(self.timeout_keep_alive, self._keep_alive_due)
        self.flow.resume_reading()  # unpause reads if needed
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    def _head_begun(self) -> bool:
        """Bytes of a next request's head already in hand (they came right behind a
        pipelined request): the connection is not idle."""
        return self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when bytes arrive, a request begins or the connection is lost:
        # the connection is no longer idle (its real handle is never armed here).
        self._idle_since = None
        super()._unset_keepalive_if_required()

    def _keep_alive_due(self) -> None:
        self._keep_alive = None
        idle_since = self._idle_since
        if idle_since is None or self.transport.is_closing():
            return  # a request came: the next response arms the timer again
        left = idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._keep_alive = self.loop.call_later(left, self._keep_alive_due)
            return
        self.timeout_keep_alive_handler()

    # --- deadlines ----------------------------------------------------------------------

    def _arm(self) -> None:
        """One deadline per phase: waiting for headers (IDLE with bytes pending or a new
        connection), reading the body (SEND_BODY). Bytes arriving never extend it."""
        state = self.conn.their_state
        if state is h11.IDLE and self._idle_since is None:
            timeout = self._limits.header_timeout_s
        elif state is h11.SEND_BODY:
            # The app answers a late body with 408 at body_timeout_s; this closes the
            # socket shortly after, for routes that never read their body.
            timeout = self._limits.body_timeout_s + 1.0
        else:
            self._disarm()
            return
        if self._deadline is not None and self._deadline_state is state:
            return
        self._disarm()
        self._deadline_state = state
        self._deadline = self.loop.call_later(timeout, self._expired, state)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline, self._deadline_state = None, None

    def _expired(self, state: object) -> None:
        self._deadline, self._deadline_state = None, None
        if self.transport.is_closing() or self.conn.their_state is not state:
            return
        phase = "headers" if state is h11.IDLE else "body"
        n = throttle.hit(f"timeout_{phase}")
        if n is not None:
            log.info("closed a slow connection", phase=phase, count=n)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.close()


def guarded_protocol(limits: Limits, direct: DirectAnswerer | None = None) -> type[H11Protocol]:
    """An h11 protocol class carrying ``limits`` and, when given, the answerer of requests it
    answers directly (uvicorn instantiates the class itself)."""

    class Guarded(GuardedH11Protocol):
        _limits = limits
        _answerers = (direct,) if direct is not None else ()

    return Guarded


_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def install_exception_handler(loop: asyncio.AbstractEventLoop) -> None:
    """Accept errors from running out of descriptors or memory: one short line per interval,
    no traceback. Everything else goes to asyncio's default handler."""

    def handler(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
            n = throttle.hit(f"accept_{exc.errno}")
            if n is not None:
                log.error(
                    "cannot accept connections: out of a system resource",
                    error=errno.errorcode.get(exc.errno or 0, str(exc.errno)),
                    count=n,
                )
            return
        lp.default_exception_handler(context)

    loop.set_exception_handler(handler)
