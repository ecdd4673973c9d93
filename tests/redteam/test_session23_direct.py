"""Red team, session 23: the MIS's offline lookup answered inside the daemon's protocol
(``GuardedH11Protocol.handle_events`` → ``PolicyFastPath.answer_now``, no ASGI cycle).

Every test runs two real uvicorn servers with the daemon's protocol class on loopback, on one
event loop in a thread, in front of one real :class:`Service` over a copy of the demo state:
``direct`` wired as the daemon wires it (``guarded_protocol(limits, app.fast_path.answer_now)``)
and ``plain`` without the direct answerer (``guarded_protocol(limits)``: the ASGI fast path).
The same raw bytes go to both over raw sockets and what comes back is compared (the ``date``
header, ``content-length`` and a verdict's ``checked_at``/``snapshot.age_s`` aside).

Findings (fail on the uncommitted change):
- a direct answer that ends the connection (``Connection: close``, HTTP/1.0, the 500 problem)
  is followed by uvicorn's own ``handle_events``, which reads on: any byte behind the request
  (a stray CRLF, a pipelined request) makes h11 raise, uvicorn tries a 400 on a connection
  h11 has closed, and ``LocalProtocolError`` escapes ``data_received``: asyncio's "Fatal
  error: protocol.data_received() call failed" with a traceback per connection (an
  unthrottled log flood any client can cause), and the transport is force-closed, which
  drops every answer still queued for a slow reader although each was verified and audited;
- a pipelining client whose reads end inside the next head keeps the header deadline armed
  before its first request: requests answered directly never renew it (the ASGI path does,
  once per request), so a healthy pipelined MIS connection is cut at ``header_timeout_s``.
The pins (marked so) hold what was checked and found right.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest
import uvicorn

from tests.http.conftest import KIOSK_TOKEN, MIS_TOKEN, TOKENS_TOML
from verifier import config as config_mod
from verifier.config import Config
from verifier.devkit import demo
from verifier.http.app import create_app
from verifier.http.transport import DIRECT_MAX_PER_READ, Limits, guarded_protocol
from verifier.service.core import Service
from verifier.service.daemon import GRACE_S, EndStreamsOnStop, _Uvicorn, bind

HEADER_S = 2.0
BODY_S = 2.0
KEEP_ALIVE_S = 5.0


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small demo state (a copy the service may write to) and its people's ENPs."""
    base = tmp_path_factory.mktemp("s23-direct")
    template = base / "template"
    demo.ensure_demo(Config(state_dir=template), persons=200)
    state_dir = base / "state"
    shutil.copytree(template, state_dir)
    cfgs = {}
    for name, extra in (("open", ""), ("locked", 'loopback_role = "none"\n')):
        conf = base / f"{name}.toml"
        conf.write_text("[http]\nport = 0\n" + extra + TOKENS_TOML, encoding="utf-8")
        cfgs[name] = demo.demo_config(config_mod.load(conf, state_dir))
    import csv

    persons = next((state_dir / "demo").rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        enps = [r["enp"] for r in csv.DictReader(f)][:5]
    return {"cfgs": cfgs, "enps": enps, "state_dir": state_dir}


@dataclass
class Pair:
    """One service behind two servers on one loop: ``direct`` (as the daemon) and ``plain``."""

    service: Service
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    servers: dict[str, _Uvicorn]
    ports: dict[str, int]
    apps: dict[str, Any]
    errors: list[dict[str, Any]] = field(default_factory=list)  # the loop's exception handler

    def connect(self, which: str, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.connect(("127.0.0.1", self.ports[which]))
        return sock

    def protocols(self, which: str) -> list[Any]:
        return list(self.servers[which].server_state.connections)

    def stats(self, which: str) -> Any:
        return self.apps[which].state.policy_fast_path

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the servers' loop and return its result."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.should_exit = True
        self.thread.join(20)


def start_pair(cfg: Config, **limits: float) -> Pair:
    loop = asyncio.new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _lp, context: errors.append(context))
    service = Service(cfg)
    servers: dict[str, _Uvicorn] = {}
    ports: dict[str, int] = {}
    apps: dict[str, Any] = {}
    socks: dict[str, socket.socket] = {}
    lim = Limits(limits.get("header_s", HEADER_S), limits.get("body_s", BODY_S), max_connections=50)
    for which in ("direct", "plain"):
        app = create_app(service)
        apps[which] = app
        direct = app.fast_path.answer_now if which == "direct" and app.fast_path else None
        config = uvicorn.Config(
            EndStreamsOnStop(app),
            http=guarded_protocol(lim, direct),
            timeout_keep_alive=limits.get("keep_alive", KEEP_ALIVE_S),  # type: ignore[arg-type]
            timeout_graceful_shutdown=int(GRACE_S),
            lifespan="off",
            access_log=False,
            log_config=None,
            proxy_headers=False,  # as the daemon
            server_header=False,
        )
        servers[which] = _Uvicorn(config)
        socks[which] = bind("127.0.0.1", 0)
        ports[which] = socks[which].getsockname()[1]

    async def main() -> None:
        await service.start()
        try:
            await asyncio.gather(*(srv.serve(sockets=[socks[w]]) for w, srv in servers.items()))
        finally:
            await service.stop()
            for s in socks.values():
                s.close()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not all(s.started for s in servers.values()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(s.started for s in servers.values())
    return Pair(service, loop, thread, servers, ports, apps, errors)


@pytest.fixture
def pair(state: dict[str, Any]) -> Iterator[Pair]:
    p = start_pair(state["cfgs"]["open"])
    try:
        yield p
    finally:
        p.stop()


# --- raw HTTP -------------------------------------------------------------------------------


def get(path: str, *extra: str, version: str = "1.1", host: str | None = "127.0.0.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += extra
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def lookup(enp: str, *extra: str, **kw: Any) -> bytes:
    return get(f"/v1/policies/{enp}?mode=offline", *extra, **kw)


def read_all(sock: socket.socket, timeout: float = 10.0) -> bytes:
    sock.settimeout(timeout)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def normal(self) -> tuple[int, list[tuple[str, str]], Any]:
        """The answer without what depends on the moment (date, checked_at, age_s)."""
        headers = [(k, v) for k, v in self.headers if k not in ("date", "content-length")]
        body: Any = self.body
        if self.body.startswith(b"{"):
            body = json.loads(self.body)
            body.pop("checked_at", None)
            if isinstance(body.get("snapshot"), dict):
                body["snapshot"].pop("age_s", None)
        return self.status, headers, body


def parse(raw: bytes) -> list[Answer]:
    """Every response in ``raw`` (content-length, chunked or to the end)."""
    out: list[Answer] = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"truncated head: {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = [(k.lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
        hd = dict(headers)
        if "content-length" in hd:
            n = int(hd["content-length"])
            body, raw = rest[:n], rest[n:]
        elif hd.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                body += rest[:size]
                rest = rest[size + 2 :]
                if size == 0:
                    break
            raw = rest
        else:
            body, raw = rest, b""
        out.append(Answer(status, headers, body))
    return out


def exchange(pair: Pair, which: str, data: bytes, half_close: bool = False) -> list[Answer]:
    """Send ``data`` on a fresh connection, read until the server closes (or goes quiet)."""
    with pair.connect(which) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        out = read_all(sock, 1.5)
    return parse(out)


def both(pair: Pair, data: bytes) -> tuple[list[Answer], list[Answer], int]:
    """What each server answers to ``data``; the direct server's count of direct answers."""
    before = pair.stats("direct").direct
    direct = exchange(pair, "direct", data)
    answered = pair.stats("direct").direct - before
    plain = exchange(pair, "plain", data)
    return direct, plain, answered


def bearer(token: str) -> str:
    return f"Authorization: Bearer {token}"


def quiet(pair: Pair) -> list[tuple[object, object]]:
    """What reached the servers' loop's exception handler (nothing, for a sound protocol)."""
    return [(c.get("message"), c.get("exception")) for c in pair.errors]


# --- findings -------------------------------------------------------------------------------


CLOSING = {
    "connection-close+crlf": lookup("{enp}", bearer(MIS_TOKEN), "Connection: close") + b"\r\n",
    "connection-close+request": (
        lookup("{enp}", bearer(MIS_TOKEN), "Connection: close") + lookup("{enp}", bearer(MIS_TOKEN))
    ),
    "http/1.0+request": lookup("{enp}", bearer(MIS_TOKEN), version="1.0")
    + lookup("{enp}", bearer(MIS_TOKEN)),
}


@pytest.mark.parametrize("name", list(CLOSING))
def test_bytes_behind_a_closing_direct_answer_do_not_crash_the_protocol(
    pair: Pair, state: dict[str, Any], name: str
) -> None:
    """A request that closes the connection, with anything behind it in the same read: the
    ASGI path answers it and reads no further; the direct path answers it, then uvicorn's
    ``handle_events`` reads the rest of a closed h11 connection and raises out of
    ``data_received`` (asyncio logs a fatal error with a traceback, for every connection)."""
    data = CLOSING[name].replace(b"{enp}", state["enps"][0].encode())
    direct, plain, answered = both(pair, data)
    assert answered == 1
    assert [a.normal() for a in direct] == [a.normal() for a in plain]
    assert [a.status for a in direct] == [200]
    assert quiet(pair) == []


def test_answers_queued_for_a_slow_reader_survive_a_closing_direct_answer(
    pair: Pair, state: dict[str, Any]
) -> None:
    """A MIS pipelines a dozen lookups, the last with ``Connection: close`` and a final CRLF,
    and reads a little later. Each one is verified and audited; each answer must arrive. The
    direct path's crash above force-closes the transport, dropping what the kernel had no
    room for yet."""
    enps = state["enps"]
    n = DIRECT_MAX_PER_READ - 1  # all answered directly in one read
    data = b"".join(lookup(enps[i % len(enps)], bearer(MIS_TOKEN)) for i in range(n - 1))
    data += lookup(enps[0], bearer(MIS_TOKEN), "Connection: close") + b"\r\n"
    got: dict[str, list[Answer]] = {}
    for which in ("plain", "direct"):
        with pair.connect(which, rcvbuf=4096) as sock:
            # The server's side has little room too (a busy network, a slow MIS host): most of
            # the answers wait in the transport's own buffer.
            proto = next(iter(pair.protocols(which)), None)
            deadline = time.monotonic() + 5
            while proto is None and time.monotonic() < deadline:
                time.sleep(0.01)
                proto = next(iter(pair.protocols(which)), None)
            assert proto is not None and not proto.transport.is_closing()  # open, served
            server_sock = proto._writes.transport.get_extra_info("socket")
            pair.call(partial(server_sock.setsockopt, socket.SOL_SOCKET, socket.SO_SNDBUF, 4096))
            sock.sendall(data)
            time.sleep(0.5)  # not a threshold: the reader is merely late
            got[which] = parse(read_all(sock))
    assert [a.status for a in got["plain"]] == [200] * n
    assert [a.status for a in got["direct"]] == [200] * n
    assert quiet(pair) == []


@pytest.fixture
def broken_pair(state: dict[str, Any]) -> Iterator[Pair]:
    """A pair whose audit log can no longer take rows: every verification fails."""
    p = start_pair(state["cfgs"]["open"])
    p.call(p.service.audit.close)
    try:
        yield p
    finally:
        p.stop()


def test_an_internal_error_with_a_request_behind_it_is_the_500_and_nothing_worse(
    broken_pair: Pair, state: dict[str, Any]
) -> None:
    """The 500 problem, the connection closed after it (as uvicorn closes it after an app's
    error), another connection unharmed, and nothing escaping the protocol: the direct 500
    closes the connection and uvicorn's ``handle_events`` then reads the pipelined request
    of a closed h11 connection and raises out of ``data_received``."""
    pair = broken_pair
    enp = state["enps"][0]
    other = pair.connect("direct")
    try:
        data = lookup(enp, bearer(MIS_TOKEN)) + lookup(enp, bearer(MIS_TOKEN))
        direct, plain, answered = both(pair, data)
        assert answered == 1
        assert [a.normal() for a in direct] == [a.normal() for a in plain]
        assert [a.status for a in direct] == [500]
        assert json.loads(direct[0].body)["code"] == "internal_error"
        other.sendall(get("/healthz", "Connection: close"))
        assert parse(read_all(other))[0].status == 200
    finally:
        other.close()
    assert quiet(pair) == []


@pytest.fixture
def deadline_pair(state: dict[str, Any]) -> Iterator[Pair]:
    p = start_pair(state["cfgs"]["open"], header_s=3.0, keep_alive=30.0)
    try:
        yield p
    finally:
        p.stop()


def _pipeline_in_halves(pair: Pair, which: str, enp: str, rounds: int) -> tuple[int, bool]:
    """Pipeline ``rounds`` lookups, each write ending halfway through the next head, a
    write every 0.3 s (ten times within the 3 s header deadline); answers, and whether
    the server closed the connection."""
    req = lookup(enp, bearer(MIS_TOKEN))
    half = len(req) // 2
    out = b""
    closed = False
    with pair.connect(which) as sock:
        sock.sendall(req + req[:half])
        for _ in range(rounds):
            time.sleep(0.3)
            try:
                sock.sendall(req[half:] + req[:half])
            except OSError:
                closed = True
                break
            sock.settimeout(0.05)
            try:
                while chunk := sock.recv(65536):
                    out += chunk
                closed = True
                break
            except TimeoutError:
                pass
    return out.count(b"HTTP/1.1 200 OK"), closed


def test_each_pipelined_head_after_a_direct_answer_gets_its_own_header_deadline(
    deadline_pair: Pair, state: dict[str, Any]
) -> None:
    """Every head is complete 0.3 s after it began, far within the 3 s deadline, yet the
    direct path closes the connection 3 s after the first partial head: a request answered
    directly never renews the deadline armed before it (the ASGI path renews it for each
    request, as the deadline's own comment says: "a head begun: the header deadline")."""
    rounds = 16  # ~4.8 s: beyond the deadline armed at the start
    enp = state["enps"][0]
    assert _pipeline_in_halves(deadline_pair, "plain", enp, rounds) == (rounds + 1, False)
    assert _pipeline_in_halves(deadline_pair, "direct", enp, rounds) == (rounds + 1, False)


# --- pins: checked and found right ---------------------------------------------------------

SENTINEL = get("/healthz", "Connection: close")  # ends a keep-alive exchange without a wait


def _hostile(enp: str) -> list[tuple[str, bytes, bool]]:
    """(name, request, declined): requests the direct server must answer as the plain one;
    ``declined``: left to uvicorn's ASGI cycle (a refusal, or what only ASGI answers)."""
    mis, b = bearer(MIS_TOKEN), f"/v1/policies/{enp}"
    return [
        ("good", lookup(enp, mis), False),
        ("loopback-role", lookup(enp), False),
        ("wrong-token", lookup(enp, bearer("wrong-token-0123456789")), True),
        ("weak-scheme", lookup(enp, "Authorization: Basic eDp5"), True),
        ("empty-auth", lookup(enp, "Authorization:"), True),
        ("kiosk-token", lookup(enp, bearer(KIOSK_TOKEN)), True),
        ("wrong-first", lookup(enp, bearer("wrong-token-0123456789"), mis), True),
        ("host-not-allowed", lookup(enp, mis, host="evil.example"), True),
        ("host-twice", lookup(enp, mis, "Host: evil.example"), True),
        ("host-bad-port", lookup(enp, mis, host="127.0.0.1:123456"), True),
        ("sec-fetch-cross", lookup(enp, mis, "Sec-Fetch-Site: cross-site"), True),
        ("sec-fetch-same-site", lookup(enp, mis, "sec-fetch-site: Same-Site"), True),
        (
            "origin-and-fetch",
            lookup(enp, mis, "Origin: http://evil", "Sec-Fetch-Site: cross-site"),
            True,
        ),
        ("url-token", get(f"{b}?mode=offline&access_token={MIS_TOKEN}"), True),
        ("upper-case", lookup(enp, f"AUTHORIZATION: bearer {MIS_TOKEN}"), False),
        ("obs-fold", lookup(enp, "Authorization: Bearer", f" {MIS_TOKEN}"), False),
        ("absolute-form", get(f"http://evil{b}?mode=offline", mis), True),
        ("absolute-form-own", get(f"http://127.0.0.1{b}?mode=offline", mis), True),
        ("double-slash", get(f"/{b}?mode=offline", mis), True),
        ("percent", get(f"{b[:-1]}%3{b[-1]}?mode=offline", mis), True),
        ("percent-newline", get(f"{b}%0A?mode=offline", mis), True),
        ("fragment", get(f"{b}?mode=offline#x", mis), True),
        ("fragment-path", get(f"{b}#x?mode=offline", mis), True),
        ("trailing-?", get(f"{b}?", mis), True),
        ("mode-upper", get(f"{b}?mode=OFFLINE", mis), True),
        ("extra-param", get(f"{b}?mode=offline&x=1", mis), True),
        (
            "non-ascii",
            (
                f"GET {b}?mode=offline HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                + "X-Name: Иван\r\n\r\n".encode()
            ),
            False,
        ),
        (
            "non-ascii-target",
            b"GET /v1/policies/\xd9\xa5" + enp[2:].encode() + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\n\r\n",
            True,
        ),
        ("head", lookup(enp, mis).replace(b"GET ", b"HEAD ", 1), True),
        ("expect-100", lookup(enp, mis, "Expect: 100-continue"), False),
        ("content-length-0", lookup(enp, mis, "Content-Length: 0"), False),
        ("content-length-00", lookup(enp, mis, "Content-Length: 00"), True),
        ("body-on-get", lookup(enp, mis, "Content-Length: 3") + b"abc", True),
        ("chunked-get", lookup(enp, mis, "Transfer-Encoding: chunked") + b"0\r\n\r\n", True),
        (
            "cl-and-te",
            lookup(enp, mis, "Content-Length: 0", "Transfer-Encoding: chunked") + b"0\r\n\r\n",
            True,
        ),
        ("smuggle", lookup(enp, mis, "Content-Length: 60") + lookup(enp, mis)[:60], True),
        ("upgrade", lookup(enp, mis, "Connection: Upgrade", "Upgrade: websocket"), False),
        ("bare-lf", lookup(enp, mis).replace(b"\r\n", b"\n"), False),
    ]


def test_pins_every_request_is_answered_as_the_asgi_path_answers_it(
    pair: Pair, state: dict[str, Any]
) -> None:
    """Pins: security and HTTP parity, each request on its own keep-alive connection: the
    same status, headers and body from both servers, and nothing the ASGI path's checks
    refuse (wrong, weak or kiosk credential, Host, Origin/Sec-Fetch-Site, a token in the URL,
    header tricks, odd targets, bodies) answered directly."""
    enp = state["enps"][1]
    for name, data, declined in _hostile(enp):
        direct, plain, answered = both(pair, data + SENTINEL)
        assert [a.normal() for a in direct] == [a.normal() for a in plain], name
        assert answered == (0 if declined else 1), name
        if not declined:
            assert direct[0].status == 200, name
    assert quiet(pair) == []


def test_pins_a_locked_daemon_refuses_the_same_callers(state: dict[str, Any]) -> None:
    """Pins: with ``loopback_role = "none"`` a token is needed on the direct path too."""
    pair = start_pair(state["cfgs"]["locked"])
    try:
        enp = state["enps"][2]
        for extra, refused in (
            ((), True),
            ((bearer(MIS_TOKEN),), False),
            ((bearer("x"),), True),
            (("Authorization: Bearer",), True),
            ((f"Authorization: Bearer {MIS_TOKEN}x",), True),
            ((bearer(KIOSK_TOKEN),), True),
        ):
            direct, plain, answered = both(pair, lookup(enp, *extra) + SENTINEL)
            assert [a.normal() for a in direct] == [a.normal() for a in plain], extra
            assert answered == (0 if refused else 1), extra
        assert quiet(pair) == []
    finally:
        pair.stop()


def _metric(pair: Pair, which: str, code: str) -> float:
    answers = exchange(pair, which, get("/metrics", "Connection: close"))
    series = (
        f'oms_http_request_duration_seconds_count{{code="{code}",method="GET",'
        'route="/v1/policies/{enp}"} '
    )
    for line in answers[0].body.decode().splitlines():
        if line.startswith(series):
            return float(line[len(series) :])
    return 0.0


def test_pins_pipelined_mixtures_keep_order_and_leave_the_same_records(
    pair: Pair, state: dict[str, Any]
) -> None:
    """Pins: direct, ASGI, bodies, refusals and a malformed request in one write, and 2,000
    pipelined lookups (more than DIRECT_MAX_PER_READ, deep enough to show recursion): the
    same answers in the same order, the same audit rows, log lines, metrics and counters."""
    import structlog

    enps = state["enps"]
    mis = bearer(MIS_TOKEN)
    mixed = (
        lookup(enps[0], mis)
        + get(f"/v1/policies/{enps[1]}", mis)  # auto: through ASGI
        + lookup(enps[2], mis)
        + b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
        + mis.encode()
        + b"\r\n\r\n{}"
        + lookup(enps[3], bearer(KIOSK_TOKEN))
        + lookup(enps[4], mis, "Expect: 100-continue")
        + b"GARBAGE\r\n\r\n"
        + lookup(enps[0], mis)  # never read: the connection is closed after the 400
    )
    many = b"".join(lookup(enps[i % len(enps)], mis) for i in range(2000)) + SENTINEL
    seen: dict[str, Any] = {}
    for which in ("direct", "plain"):
        audit_before = pair.service.audit.count()
        served_before = pair.stats(which).served
        ok_before, forbidden_before = _metric(pair, which, "200"), _metric(pair, which, "403")
        with structlog.testing.capture_logs() as logs:
            mixed_answers = exchange(pair, which, mixed)
            with pair.connect(which) as sock:
                sock.sendall(many)
                many_answers = parse(read_all(sock, 60))
        seen[which] = (
            [a.normal() for a in mixed_answers],
            [a.normal() for a in many_answers],
            pair.service.audit.count() - audit_before,
            pair.stats(which).served - served_before,
            _metric(pair, which, "200") - ok_before,
            _metric(pair, which, "403") - forbidden_before,
            sum(1 for e in logs if e.get("event") == "verified" and e.get("who") == "mis-main"),
        )
    assert [a[0] for a in seen["direct"][0]] == [200, 200, 200, 415, 403, 200, 400]
    assert len(seen["direct"][1]) == 2001
    assert seen["direct"] == seen["plain"]
    assert pair.stats("direct").direct > 1000  # all but one in DIRECT_MAX_PER_READ + 1
    assert quiet(pair) == []


def test_pins_a_client_that_never_reads_is_bounded_and_dropped(
    pair: Pair, state: dict[str, Any]
) -> None:
    """Pins: 30,000 pipelined lookups from a client that never reads: what the server queues
    for it stays near the write high-water mark (64 KiB) and the write deadline drops it."""
    enps = state["enps"]
    data = b"".join(lookup(enps[i % len(enps)], bearer(MIS_TOKEN)) for i in range(30_000))
    sock = pair.connect("direct", rcvbuf=4096)

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        began = time.monotonic()
        while not pair.protocols("direct") and time.monotonic() < began + 10:
            time.sleep(0.01)
        peaks: list[int] = []
        deadline = time.monotonic() + 20 * BODY_S
        while time.monotonic() < deadline:
            queued = pair.call(
                lambda: [
                    p._writes.transport.get_write_buffer_size() + len(p.conn.trailing_data[0])
                    for p in pair.protocols("direct")
                ]
            )
            if not queued:
                break
            peaks.append(max(queued))
            time.sleep(0.1)
        assert not pair.protocols("direct"), "the stalled reader was never dropped"
        assert peaks and max(peaks) < 1 << 20, max(peaks)
    finally:
        sock.close()
        sender.join(5)
    assert quiet(pair) == []
