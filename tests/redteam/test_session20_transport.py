"""Red team, session 20: the coalesced writes of the h11 protocol
(``verifier.http.transport.CoalescedWrites``) against a real daemon on loopback.

The attack: make the held-back writes come out lost, reordered, duplicated or late —
pipelined requests of mixed methods with a parse error in the middle, ``Expect:
100-continue`` uploads, the event stream's head and first events, ``HEAD``, ``Connection:
close``, a reader that never reads pipelined batch answers, a client gone mid-answer.
Each test parses what came back with h11 (a real HTTP/1.1 client state machine), so a
byte out of place is a parse error, not a weaker assert.
"""

from __future__ import annotations

import contextlib
import csv
import json
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h11
import pytest

from tests.http.conftest import DESK_DEVICE, DESK_TOKEN, MIS_TOKEN, Server, _start
from tests.http.test_limits import Subprocess, address, daemon, read_all
from verifier.config import Config
from verifier.credential import CredentialInput
from verifier.devkit import demo

__all__ = ["daemon"]  # the module fixture: a ``serve --demo`` subprocess with its stderr


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    state_dir = tmp_path_factory.mktemp("s20-transport-demo")
    demo.ensure_demo(Config(state_dir=state_dir), persons=300)
    return state_dir, None


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, object]
) -> Iterator[Server]:
    yield from _start(tmp_path_factory, demo_template[0], "s20-transport", "")


def _persons(state_dir: Path) -> list[str]:
    """ENPs of the demo register's people (any status: each answers a verdict of its own)."""
    persons = next((state_dir / "demo").rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        return [r["enp"] for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def enps(demo_template: tuple[Path, object]) -> list[str]:
    return _persons(demo_template[0])


@pytest.fixture(scope="module")
def enp(enps: list[str]) -> str:
    return enps[0]


def _request(
    method: str, target: str, body: bytes = b"", **extra: str
) -> tuple[h11.Request, bytes]:
    headers = [("Host", "127.0.0.1"), ("Authorization", f"Bearer {MIS_TOKEN}")]
    if body or method == "POST":
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    headers += [(k.replace("_", "-"), v) for k, v in extra.items()]
    req = h11.Request(method=method, target=target, headers=headers)
    return req, body


def _encode(req: h11.Request, body: bytes) -> bytes:
    conn = h11.Connection(h11.CLIENT)
    out = conn.send(req) or b""
    if body:
        out += conn.send(h11.Data(data=body)) or b""
    return out + (conn.send(h11.EndOfMessage()) or b"")


class Responses:
    """Responses read off one socket, one request/response cycle at a time (h11 client)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = h11.Connection(h11.CLIENT)

    def next(self, req: h11.Request, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        self.conn.send(req)  # only to move the client's state; the bytes went out already
        if body:
            self.conn.send(h11.Data(data=body))
        self.conn.send(h11.EndOfMessage())
        status, headers, data = 0, {}, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                chunk = self.sock.recv(1 << 20)
                self.conn.receive_data(chunk)
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, data
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("connection closed before the response ended")


def test_pipelined_mixed_methods_with_a_parse_error_in_the_middle(api: Server, enp: str) -> None:
    """Seven requests in one packet, then a request line h11 refuses, then one more. Every
    answer before the bad line arrives whole and in order, the bad line gets one 400, the
    connection then closes, and the request after it is never answered."""
    verify_body = json.dumps({"text": enp}).encode()
    reqs = [
        _request("GET", "/healthz"),
        _request("HEAD", "/healthz"),
        _request("GET", f"/v1/policies/{enp}"),
        _request("GET", "/v1/policies/123"),  # 422 from the route (the fast path steps aside)
        _request("POST", "/v1/verify", verify_body),
        _request("HEAD", f"/v1/policies/{enp}"),
        _request("GET", "/v1/no-such-route"),
    ]
    wire = b"".join(_encode(r, b) for r, b in reqs)
    wire += b"GET /healthz HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"  # no colon: a parse error
    wire += _encode(*_request("GET", "/healthz"))
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(wire)
        got = Responses(s)
        answers = [got.next(r, b) for r, b in reqs]
        # What came after the seventh answer: some may already sit in the client's buffer
        # (read with it in one recv), the rest is still on the socket.
        rest = got.conn.trailing_data[0] + read_all(s)
    statuses = [a[0] for a in answers]
    assert statuses[:2] == [200, 200]
    assert statuses[2] == 200 and statuses[4] == 200 and statuses[5] in (200, 405)
    assert statuses[3] in (400, 422) and statuses[6] == 404, statuses
    assert answers[3][1]["content-type"] == "application/problem+json"
    # HEAD: the GET's head with no body, and nothing of a body leaked into the next answer
    assert answers[1][2] == b"" and answers[1][1]["content-length"] == str(len(answers[0][2]))
    assert json.loads(answers[2][2])["credential"]["enp"] == enp
    assert json.loads(answers[4][2])["credential"]["enp"] == enp
    assert rest.count(b"HTTP/1.1 ") == 1, rest[:500]
    assert rest.startswith(b"HTTP/1.1 400 "), rest[:500]


def test_many_pipelined_verdicts_come_back_once_each_in_order(api: Server, enps: list[str]) -> None:
    """Sixty verdicts for sixty different ENPs in one packet: sixty answers, each for its
    own request, none twice, none lost (the head of each and its body are held together)."""
    enps = enps[:60]
    reqs = [_request("GET", f"/v1/policies/{e}") for e in enps]
    reqs[-1] = _request("GET", f"/v1/policies/{enps[-1]}", Connection="close")
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(b"".join(_encode(r, b) for r, b in reqs))
        got = Responses(s)
        answers = [got.next(r, b) for r, b in reqs]
        # Connection: close: nothing after the last answer (in the client's buffer or after)
        assert got.conn.trailing_data[0] + read_all(s) == b""
    assert [a[0] for a in answers] == [200] * len(enps)
    assert [json.loads(a[2])["credential"]["enp"] for a in answers] == enps


def test_expect_100_continue_upload_is_answered(api: Server, enp: str) -> None:
    """The 100 Continue is written while the route waits for its body: it must reach the
    client (held only to the end of the step), or a client that waits for it hangs."""
    body = json.dumps({"text": enp}).encode()
    req, _ = _request("POST", "/v1/verify", body, Expect="100-continue")
    head = h11.Connection(h11.CLIENT).send(req) or b""  # head only: the body follows the 100
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(head)
        conn = h11.Connection(h11.CLIENT)
        conn.send(req)
        events: list[Any] = []
        while not any(isinstance(e, h11.InformationalResponse) for e in events):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(s.recv(65536))  # socket timeout 20 s: a missing 100 fails
                continue
            events.append(event)
        assert events[0].status_code == 100
        s.sendall(body)
        conn.send(h11.Data(data=body))
        conn.send(h11.EndOfMessage())
        status, data = 0, b""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(s.recv(65536))
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    assert status == 200, data[:300]
    assert json.loads(data)["credential"]["enp"] == enp


def test_event_stream_head_and_events_arrive_without_more_traffic(api: Server, enp: str) -> None:
    """The stream's head, its hello and a scan event, each read while the client sends
    nothing more and no other request runs: nothing is held for a later write."""
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(
            b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {DESK_TOKEN}\r\n\r\n".encode()
        )
        got = b""
        while b"event: hello" not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 200 ")
        api.device_read(
            CredentialInput.from_text(enp, source="x", manual=False), device=DESK_DEVICE
        )
        while b"event: scan" not in got:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
    assert got.count(b"event: hello") == 1


def _batch_request(n: int) -> tuple[h11.Request, bytes]:
    body = json.dumps({"enps": [f"50123456789{i:05d}" for i in range(n)]}).encode()
    return _request("POST", "/v1/policies:batch", body)


def test_a_reader_that_never_reads_holds_up_its_pipeline(api: Server, enp: str) -> None:
    """Twenty big batches pipelined on one connection whose client never reads: the daemon
    must stop producing answers once the socket's buffers are full (flow control still
    sees every write), not hold all twenty in memory. Measured as what this connection's
    protocol holds back: the real transport's buffer plus the coalescing buffer."""
    daemon_ = api.live.daemon
    one = _batch_request(1000)
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(_encode(*one))
        size = len(Responses(s).next(*one)[2])  # one answer's body
    assert size > 500_000
    s = socket.create_connection((host, port), timeout=20)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"".join(_encode(*one) for _ in range(20)))
        time.sleep(8)  # room for all twenty to be answered if nothing holds them back
        held = _held_bytes(daemon_, s.getsockname())
        assert held is not None, "the connection is not in the server's state"
        # some of one answer held (the reader is stuck), never all twenty: two at the most
        assert 0 < held < 2 * size, (held, size)
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def _held_bytes(daemon_: Any, client: tuple[str, int]) -> int | None:
    server = getattr(daemon_, "_server", None) or getattr(daemon_, "server", None)
    state = getattr(server, "server_state", None)
    assert state is not None, "no uvicorn server state on the daemon"
    for proto in list(state.connections):
        if proto.client == client:
            writes = proto.transport
            real = getattr(writes, "transport", writes)
            return int(real.get_write_buffer_size()) + int(getattr(writes, "_size", 0))
    return None


def test_client_gone_mid_answer_logs_no_traceback(daemon: Subprocess, enp: str) -> None:
    """Big answers cut by a reset after their first bytes, then small pipelined ones with
    the socket closed at once: no traceback (no write to a closed transport from a
    scheduled flush), and the daemon still answers."""
    start = daemon.stderr.stat().st_size
    host, port = address(daemon.url)
    for _ in range(5):
        s = socket.create_connection((host, port), timeout=20)
        s.sendall(_encode(*_batch_request(1000)))
        assert s.recv(100).startswith(b"HTTP/1.1 ")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for _ in range(20):
        s = socket.create_connection((host, port), timeout=20)
        s.sendall(b"".join(_encode(*_request("GET", f"/v1/policies/{enp}")) for _ in range(10)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    with socket.create_connection((host, port), timeout=20) as s:
        s.sendall(_encode(*_request("GET", "/healthz", Connection="close")))
        assert read_all(s).startswith(b"HTTP/1.1 200 ")
    tail = daemon.log()[start:]
    assert "Traceback" not in tail, tail[-3000:]
    assert "socket.send() raised exception" not in tail, tail[-3000:]


def test_keep_alive_connection_close_and_head_end_cleanly(api: Server, enp: str) -> None:
    """A keep-alive request, then one with ``Connection: close``: both answers, then EOF."""
    host, port = address(api.url)
    with socket.create_connection((host, port), timeout=20) as s:
        first = _request("HEAD", f"/v1/policies/{enp}")
        last = _request("GET", "/healthz", Connection="close")
        got = Responses(s)
        s.sendall(_encode(*first))
        a = got.next(*first)
        s.sendall(_encode(*last))
        b = got.next(*last)
        with contextlib.suppress(ConnectionResetError):
            assert s.recv(65536) == b""
    assert a[2] == b"" and b[0] == 200
