"""The daemon's protocol answers the MIS's offline lookup itself, with no ASGI cycle
(verifier.http.transport.GuardedH11Protocol.handle_events, answerer
verifier.http.fastpath.PolicyFastPath.answer_now), and what it answers is what uvicorn sends
for the same request through ASGI.

One real :class:`Service` over a copy of the demo state, two real uvicorn servers with the
daemon's protocol class on one event loop in a thread: one with the direct answerer, one
without. Requests go to both over raw loopback sockets and the answers are compared byte for
byte, but for the ``date`` header and the verdict's moment of checking. The fast path's own
counters say which path answered."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.http.conftest import DESK_TOKEN, KIOSK_TOKEN, MIS_TOKEN, TOKENS_TOML
from tests.http.threaded_server import closed_within
from verifier import config as config_mod
from verifier.devkit import demo
from verifier.http.app import create_app
from verifier.http.fastpath import ApiApp
from verifier.http.transport import DIRECT_MAX_PER_READ, Limits, guarded_protocol
from verifier.service.core import Service
from verifier.service.daemon import _Uvicorn, bind

BAD_CHECKSUM = "5012345678901234"


@dataclass
class Response:
    status_line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    def comparable(self) -> tuple[bytes, list[tuple[bytes, bytes]], Any]:
        """All but the moment: the ``date`` header, and a verdict's checked_at and age."""
        headers = [(k, v) for k, v in self.headers if k not in (b"date", b"content-length")]
        body: Any = self.body
        if self.body and self.header(b"content-type") == b"application/json":
            body = json.loads(self.body)
            body.pop("checked_at", None)
            if isinstance(body.get("snapshot"), dict):
                body["snapshot"].pop("age_s", None)
        return self.status_line, headers, body


class Reader:
    """Answers read off one connection, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buffer += chunk

    def response(self, head_only: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.split(b"\r\n")
        headers = [
            (k.strip().lower(), v.strip()) for k, v in (line.split(b":", 1) for line in lines)
        ]
        length = (
            0 if head_only else int(next((v for k, v in headers if k == b"content-length"), b"0"))
        )
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return Response(status_line, headers, body)


@dataclass
class Pair:
    service: Service
    direct_app: ApiApp
    asgi_app: ApiApp
    direct_port: int
    asgi_port: int
    loop: asyncio.AbstractEventLoop
    direct_server: _Uvicorn

    def on_loop(self, fn: Any) -> Any:
        """``fn()`` run on the servers' loop thread (which owns the service and transports)."""
        done, out = threading.Event(), []

        def run() -> None:
            out.append(fn())
            done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(10)
        return out[0]

    @property
    def direct(self) -> int:
        stats = self.direct_app.state.policy_fast_path
        return int(stats.direct)

    def connect(self, port: int) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        return sock

    def ask(self, port: int, request: bytes) -> Response:
        with self.connect(port) as sock:
            sock.sendall(request)
            return Reader(sock).response(head_only=request.startswith(b"HEAD "))

    def both(self, request: bytes) -> tuple[Response, Response, bool]:
        before = self.direct
        direct = self.ask(self.direct_port, request)
        taken = self.direct > before
        asgi = self.ask(self.asgi_port, request)
        return direct, asgi, taken


def get(target: str, *headers: str, version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", "Host: 127.0.0.1:8471", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


@pytest.fixture(scope="module")
def people(pair: Pair) -> list[str]:
    persons = next(pair.service.cfg.state_dir.rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        return [r["enp"] for r in csv.DictReader(f)][:6]


def _serve_pair(cfg: config_mod.Config) -> Iterator[Pair]:
    loop = asyncio.new_event_loop()
    service = Service(cfg)
    loop.run_until_complete(service.start())
    direct_app, asgi_app = create_app(service), create_app(service)
    assert direct_app.fast_path is not None
    limits = Limits(5.0, 5.0, max_connections=50)
    servers, socks = [], []
    for app, direct in ((direct_app, direct_app.fast_path.answer_now), (asgi_app, None)):
        config = uvicorn.Config(
            app,
            http=guarded_protocol(limits, direct),
            timeout_keep_alive=5,
            lifespan="off",
            access_log=False,
            log_config=None,
            proxy_headers=False,
            server_header=False,
        )
        servers.append(_Uvicorn(config))
        socks.append(bind("127.0.0.1", 0))

    async def run() -> None:
        await asyncio.gather(*(s.serve(sockets=[k]) for s, k in zip(servers, socks, strict=True)))

    thread = threading.Thread(target=lambda: loop.run_until_complete(run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not all(s.started for s in servers) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(s.started for s in servers)
    ports = [k.getsockname()[1] for k in socks]
    try:
        yield Pair(service, direct_app, asgi_app, ports[0], ports[1], loop, servers[0])
    finally:
        for s in servers:
            s.should_exit = True
        thread.join(20)
        loop.run_until_complete(service.stop())
        loop.close()
        for k in socks:
            k.close()


def _config(tmp: Path, template: Path, name: str) -> config_mod.Config:
    state_dir = tmp / "state"
    shutil.copytree(template, state_dir)
    conf = tmp / f"{name}.toml"
    conf.write_text("[http]\nport = 0\n" + TOKENS_TOML, encoding="utf-8")
    return demo.demo_config(config_mod.load(conf, state_dir))


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> Iterator[Pair]:
    yield from _serve_pair(_config(tmp_path_factory.mktemp("direct"), demo_template[0], "d"))


GOOD = [
    ("?mode=offline", (bearer(MIS_TOKEN),)),
    ("?mode=offline", ()),  # the loopback role (admin) may verify
    ("?mode=offline&fresh=TRUE", (bearer(MIS_TOKEN),)),
    ("?mode=online&mode=offline", (bearer(MIS_TOKEN),)),  # the last one counts
    ("?mode=offline", (bearer(DESK_TOKEN),)),
    ("?mode=offline", ("Content-Length: 0", bearer(MIS_TOKEN))),
    ("?mode=offline", ("Origin: http://127.0.0.1:8471", bearer(MIS_TOKEN))),
    # The gate refuses another origin only for what changes state (Sec-Fetch-Site: below).
    ("?mode=offline", ("Origin: https://elsewhere.example", bearer(MIS_TOKEN))),
]


@pytest.mark.parametrize(("query", "headers"), GOOD)
def test_an_offline_lookup_is_answered_directly_as_through_asgi(
    pair: Pair, people: list[str], query: str, headers: tuple[str, ...]
) -> None:
    for enp in [*people, BAD_CHECKSUM]:
        direct, asgi, taken = pair.both(get(f"/v1/policies/{enp}{query}", *headers))
        assert taken, (enp, query)
        assert direct.status_line == b"HTTP/1.1 200 OK"
        assert direct.comparable() == asgi.comparable()
        assert json.loads(direct.body)["credential"]["enp"] == enp


NOT_TAKEN = [
    get(f"/v1/policies/{BAD_CHECKSUM}", bearer(MIS_TOKEN)),  # auto: may ask the registry
    get(f"/v1/policies/{BAD_CHECKSUM}?mode=online", bearer(MIS_TOKEN)),
    get(f"/v1/policies/%35{BAD_CHECKSUM[1:]}?mode=offline", bearer(MIS_TOKEN)),  # decoded: 5...
    get(f"/v1/policies/{BAD_CHECKSUM}?mode=bogus", bearer(MIS_TOKEN)),
    get(f"/v1/policies/{BAD_CHECKSUM}?mode=offline", bearer("wrong-token")),
    get(f"/v1/policies/{BAD_CHECKSUM}?mode=offline", bearer(KIOSK_TOKEN)),
    get(f"/v1/policies/{BAD_CHECKSUM}?mode=offline", "Sec-Fetch-Site: cross-site"),
    get("/v1/status", bearer(MIS_TOKEN)),
    f"GET /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\nHost: evil.example\r\n\r\n".encode(),
    f"HEAD /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),
    (  # a body: uvicorn reads it, the route answers
        f"GET /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{bearer(MIS_TOKEN)}\r\nContent-Length: 2\r\n\r\n{{}}"
    ).encode(),
    (
        f"GET /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{bearer(MIS_TOKEN)}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ).encode(),
]


@pytest.mark.parametrize("request_bytes", NOT_TAKEN)
def test_what_it_does_not_take_goes_to_uvicorn_as_it_came(pair: Pair, request_bytes: bytes) -> None:
    direct, asgi, taken = pair.both(request_bytes)
    assert not taken
    assert direct.comparable() == asgi.comparable()


def test_a_malformed_request_gets_uvicorns_400(pair: Pair) -> None:
    bad = b"GET /v1/policies/5012345678901234 HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"
    direct, asgi, taken = pair.both(bad)
    assert not taken
    assert direct.status_line.startswith(b"HTTP/1.1 400")
    assert direct.comparable() == asgi.comparable()


def test_pipelined_requests_are_answered_in_order_through_both_paths(
    pair: Pair, people: list[str]
) -> None:
    """Far more than one read's share of direct answers, mixed with lookups that go through
    ASGI (auto mode) and malformed-free requests of other routes: every answer in order, on
    one connection, and no recursion however many wait."""
    n = 40 * DIRECT_MAX_PER_READ
    asked: list[tuple[str, str]] = []
    for i in range(n):
        enp = people[i % len(people)]
        query = "" if i % 7 == 3 else "?mode=offline"
        asked.append((enp, query))
    before = pair.direct
    with pair.connect(pair.direct_port) as sock:
        sock.sendall(b"".join(get(f"/v1/policies/{e}{q}", bearer(MIS_TOKEN)) for e, q in asked))
        reader = Reader(sock)
        for enp, _query in asked:
            answer = reader.response()
            assert answer.status_line == b"HTTP/1.1 200 OK"
            assert json.loads(answer.body)["credential"]["enp"] == enp
    assert pair.direct - before == sum(1 for _, q in asked if q)


def test_connection_close_and_http_10_are_kept(pair: Pair, people: list[str]) -> None:
    for request in (
        get(f"/v1/policies/{people[0]}?mode=offline", "Connection: close", bearer(MIS_TOKEN)),
        get(f"/v1/policies/{people[0]}?mode=offline", bearer(MIS_TOKEN), version="1.0"),
    ):
        before = pair.direct
        with pair.connect(pair.direct_port) as sock:
            sock.sendall(request)
            answer = Reader(sock).response()
            assert pair.direct == before + 1
            assert answer.status_line.endswith(b"200 OK")
            assert answer.header(b"connection") == b"close"
            assert closed_within(sock, 5.0) is not None
        with pair.connect(pair.asgi_port) as sock:
            sock.sendall(request)
            assert Reader(sock).response().comparable() == answer.comparable()


def test_a_reader_that_never_reads_holds_no_more_than_its_buffers(
    pair: Pair, people: list[str]
) -> None:
    """Thousands of pipelined lookups from a client that reads none of the answers: the
    direct answers stop once the socket's writes pause, and what the server holds for the
    client stays near the transport's high-water mark, not thousands of answers."""
    request = get(f"/v1/policies/{people[0]}?mode=offline", bearer(MIS_TOKEN))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", pair.direct_port))
    sock.setblocking(False)
    before = pair.direct
    sent, total = 0, request * 5000
    try:
        deadline = time.monotonic() + 5
        while sent < len(total) and time.monotonic() < deadline:
            try:
                sent += sock.send(total[sent : sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(0.5)
        sizes = pair.on_loop(
            lambda: [
                p.transport.get_write_buffer_size()
                for p in pair.direct_server.server_state.connections
            ]
        )
        answered = pair.direct - before
        assert max(sizes) < 1024 * 1024, sizes
        assert 0 < answered < 5000  # it stopped answering: the writes paused, the reads too
    finally:
        sock.close()


@pytest.fixture
def broken(tmp_path: Path, demo_template: tuple[Path, demo.DemoState]) -> Iterator[Pair]:
    yield from _serve_pair(_config(tmp_path, demo_template[0], "broken"))


def test_a_failure_while_verifying_is_the_500_problem_and_the_connection_closes(
    broken: Pair,
) -> None:
    """The audit log closed under the service (the disk gone): the lookup fails after its
    verdict. Both paths answer the 500 problem and close the connection; the protocol
    itself goes on serving other connections."""
    broken.on_loop(broken.service.audit.close)
    request = get(f"/v1/policies/{BAD_CHECKSUM}?mode=offline", bearer(MIS_TOKEN))
    answers = []
    for port in (broken.direct_port, broken.asgi_port):
        with broken.connect(port) as sock:
            sock.sendall(request)
            answers.append(Reader(sock).response())
            assert closed_within(sock, 5.0) is not None
    assert broken.direct == 1
    assert answers[0].status_line == b"HTTP/1.1 500 Internal Server Error"
    assert answers[0].comparable() == answers[1].comparable()
    assert json.loads(answers[0].body)["code"] == "internal_error"
    status = broken.ask(broken.direct_port, get("/openapi.yaml"))
    assert status.status_line.startswith(b"HTTP/1.1 ")  # still serving
