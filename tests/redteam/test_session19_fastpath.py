"""Red team, session 19: ``GET /v1/policies/{enp}`` answered before routing (908825a) and the
stop of event streams, which now takes its own task only for ``/v1/events``.

Finding (fails on 0c8f636): Starlette's route regexes end in ``$``, which also matches before a
trailing newline, so ``GET /v1/events%0A`` (uvicorn decodes it to ``/v1/events\\n``) is the
event stream. ``EndStreamsOnStop`` compares the path exactly with ``/v1/events`` and lets that
stream run as an ordinary request: a stop waits the whole grace period, then uvicorn cuts the
stream without the chunked body's end (the screen's ``EventSource`` sees a broken response),
and the "requests still running after the grace period" warning is logged.

The rest are attacks on the fast path that fail, kept as regressions: each asserts what the
daemon answers and whether the fast path (its ``served`` counter) answered it, so a fast path
that answered a request it must leave to the route would fail them.

Real daemons (the code ``serve --demo`` runs) on loopback over a small demo state.
"""

from __future__ import annotations

import csv
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import (
    KIOSK_TOKEN,
    MIS_TOKEN,
    TOKENS_TOML,
    LiveDaemon,
    Server,
    _start,
    auth,
)
from tests.http.helpers import assert_problem, conforms
from verifier import config as config_mod
from verifier.config import Config
from verifier.devkit import demo
from verifier.http.fastpath import PolicyFastPath
from verifier.identifiers import mask_enp

BAD_CHECKSUM = "5012345678901234"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("s19-fast-demo")
    demo.ensure_demo(Config(state_dir=state_dir), persons=300)
    return state_dir


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[Server]:
    """Token-less loopback callers are admin (the default)."""
    yield from _start(tmp_path_factory, template, "s19-fast", "")


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[Server]:
    """Every caller needs a token, as off loopback."""
    yield from _start(tmp_path_factory, template, "s19-fast-locked", 'loopback_role = "none"\n')


def _active(server: Server) -> str:
    persons = next((server.state_dir / "demo").rglob("persons.csv"))
    with persons.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["status"] == "active" and not r["deleted"] and not r["end"]:
                return r["enp"]
    raise AssertionError("no active person in the demo register")


def _fast(server: Server) -> PolicyFastPath:
    """The daemon's own fast path, the one its app asks first."""
    streams = server.live.daemon.streams
    assert streams is not None  # the daemon is serving
    fast = streams.app.fast_path
    assert isinstance(fast, PolicyFastPath), "no PolicyFastPath in the daemon's app"
    return fast


def _served(server: Server) -> int:
    return _fast(server).stats.served


def _get(server: Server, url: str, headers: Any = None) -> tuple[httpx.Response, bool]:
    before = _served(server)
    with httpx.Client(base_url=server.url, timeout=20.0) as c:
        r = c.get(url, headers=headers)
    return r, _served(server) > before


def _timeless(v: dict[str, Any]) -> dict[str, Any]:
    v = dict(v)
    v.pop("checked_at")
    if isinstance(v.get("snapshot"), dict):
        v["snapshot"] = {k: x for k, x in v["snapshot"].items() if k != "age_s"}
    return v


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


# -- the finding -------------------------------------------------------------------------


def _screen(port: int, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return sock


def _read_until(sock: socket.socket, data: bytes, needle: bytes) -> bytes:
    while needle not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before {needle!r}: {data[-300:]!r}"
        data += chunk
    return data


def _read_to_eof(sock: socket.socket, data: bytes) -> bytes:
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_the_event_stream_ends_cleanly_on_stop(tmp_path: Path, template: Path) -> None:
    """A screen's stream ends at once at stop, with the chunked body's proper end."""
    import shutil

    state_dir = tmp_path / "state"
    shutil.copytree(template, state_dir)
    conf = tmp_path / "config.toml"
    conf.write_text("[http]\nport = 0\n" + TOKENS_TOML, encoding="utf-8")
    live = LiveDaemon(demo.demo_config(config_mod.load(conf, state_dir))).start()
    try:
        port = int(live.url.rsplit(":", 1)[1])
        # Found by this suite: "/v1/events%0A" reached the stream route (a route's "$" matches
        # before a final newline) but not the stop watcher, so a stop waited out its grace
        # period and cut the stream. The gate now refuses control characters in any path.
        for spelling in ("/v1/events%0A", "/v1/events%0a?screen=kiosk", "/v1/events%00"):
            bad = _screen(port, spelling)
            answer = _read_until(bad, b"", b"}")  # the problem body (keep-alive: no EOF)
            bad.close()
            assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
            assert b'"code":"bad_path"' in answer and b"event: hello" not in answer
        sock = _screen(port, "/v1/events")
        data = _read_until(sock, b"", b"event: hello")
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
        assert b"content-type: text/event-stream" in data.lower()
    finally:
        live.stop()
    data = _read_to_eof(sock, data)
    sock.close()
    assert data.endswith(b"\r\n0\r\n\r\n"), data[-120:]  # the chunked body's proper end


def test_the_stop_watcher_takes_every_path_under_a_stream_route() -> None:
    """Behind the gate, too: a stream under "/v1/events" plus anything is ended at stop."""
    import asyncio

    from verifier.service.daemon import EndStreamsOnStop

    async def stream(scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        while True:  # a screen's stream never ends by itself
            await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
            await asyncio.sleep(0.01)

    async def run(path: str) -> list[dict[str, Any]]:
        app = EndStreamsOnStop(stream)
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        task = asyncio.ensure_future(app({"type": "http", "path": path}, receive, send))
        await asyncio.sleep(0.05)
        app.stop()
        await asyncio.wait_for(task, 2.0)  # ended by stop, not by a timeout
        return sent

    for path in ("/v1/events", "/v1/events\n", "/v1/events/"):
        sent = asyncio.run(run(path))
        assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}, path


# -- regressions: the fast path answers exactly what it may ---------------------------------


def test_percent_encoded_digits_are_the_same_number_and_the_same_verdict(daemon: Server) -> None:
    enp = _active(daemon)
    plain, fast_plain = _get(daemon, f"/v1/policies/{enp}?mode=offline", auth(MIS_TOKEN))
    encoded = "".join(f"%{ord(d):02X}" for d in enp)
    coded, fast_coded = _get(daemon, f"/v1/policies/{encoded}?mode=offline", auth(MIS_TOKEN))
    assert fast_plain and fast_coded
    assert plain.status_code == coded.status_code == 200
    conforms("Verdict", coded.json())
    assert coded.json()["outcome"] == "valid"
    assert _timeless(coded.json()) == _timeless(plain.json())


@pytest.mark.parametrize(
    "suffix",
    ["%0A", "%0D", "%00", "%20", "/", "%2F", "%09", "%E2%80%8B"],  # newline, CR, NUL, ZWSP…
)
def test_a_number_with_anything_after_it_is_the_routes_refusal(daemon: Server, suffix: str) -> None:
    """``$`` in the route's regex matches before a newline; the fast path's ``fullmatch`` and
    the route's ``inputs.enp`` both refuse ``…\\n``: never a verdict for it."""
    r, fast = _get(daemon, f"/v1/policies/{BAD_CHECKSUM}{suffix}?mode=offline", auth(MIS_TOKEN))
    assert not fast
    assert r.status_code in (307, 400, 404), (r.status_code, r.text)
    assert "outcome" not in r.text


@pytest.mark.parametrize(
    "digits",
    ["٥٠١٢٣٤٥٦٧٨٩٠١٢٣٤", "５０１２３４５６７８９０１２３４", "5012345678901234".replace("4", "𝟒")],
)
def test_unicode_digits_are_no_number(daemon: Server, digits: str) -> None:
    r, fast = _get(daemon, f"/v1/policies/{digits}?mode=offline", auth(MIS_TOKEN))
    assert not fast
    assert_problem(r, 400, "bad_enp")


def test_two_authorization_headers_the_first_one_counts(locked: Server) -> None:
    url = f"/v1/policies/{BAD_CHECKSUM}?mode=offline"
    wrong_first = [
        ("Authorization", "Bearer wrong-token"),
        ("Authorization", f"Bearer {MIS_TOKEN}"),
    ]
    r, fast = _get(locked, url, wrong_first)
    assert not fast
    assert_problem(r, 401, "unauthorized")
    kiosk_first = [
        ("Authorization", f"Bearer {KIOSK_TOKEN}"),
        ("Authorization", f"Bearer {MIS_TOKEN}"),
    ]
    r, fast = _get(locked, url, kiosk_first)
    assert not fast
    assert_problem(r, 403, "forbidden")
    right_first = [("Authorization", f"Bearer {MIS_TOKEN}"), ("Authorization", "Bearer wrong")]
    r, fast = _get(locked, url, right_first)
    assert fast and r.status_code == 200


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ("?mode=offline", {}, 401, "unauthorized"),
        (f"?mode=offline&access_token={MIS_TOKEN}", {}, 400, "bad_parameter"),
        (f"?access_token={MIS_TOKEN}", {}, 400, "bad_parameter"),
        ("?mode=offline", {"Authorization": f"Bearer\t{MIS_TOKEN}"}, 401, "unauthorized"),
        ("?mode=offline", {"Authorization": f"Bearer{MIS_TOKEN}"}, 401, "unauthorized"),
        ("?mode=offline", {"Authorization": f"Token {MIS_TOKEN}"}, 401, "unauthorized"),
        ("?mode=offline", {"Authorization": ""}, 401, "unauthorized"),
        ("?mode=offline", {"Authorization": f"Bearer {MIS_TOKEN[:-1]}"}, 401, "unauthorized"),
        ("?mode=offline", {"Authorization": f"Bearer {MIS_TOKEN}x"}, 401, "unauthorized"),
        ("?mode=offline", auth(KIOSK_TOKEN), 403, "forbidden"),
        ("?mode=offline", {"Host": "evil.example"}, 421, "bad_host"),
        ("?mode=offline", {**auth(MIS_TOKEN), "Host": "evil.example"}, 421, "bad_host"),
        ("?mode=offline", {**auth(MIS_TOKEN), "Sec-Fetch-Site": "cross-site"}, 403, None),
        ("?mode=offline;fresh=1", auth(MIS_TOKEN), 400, "bad_mode"),
        ("?mode=offline&mode=bogus", auth(MIS_TOKEN), 400, "bad_mode"),
        ("?fresh=TRUE&fresh=2", auth(MIS_TOKEN), 400, "bad_parameter"),
        ("?mode=offline&Mode=online", auth(MIS_TOKEN), 400, "bad_parameter"),
        ("?mode=%6Fffline%00", auth(MIS_TOKEN), 400, "bad_mode"),
        ("?mode=ｏｆｆｌｉｎｅ", auth(MIS_TOKEN), 400, "bad_mode"),
    ],
)
def test_what_the_route_refuses_the_fast_path_never_answers(
    locked: Server, query: str, headers: dict[str, str], status: int, code: str | None
) -> None:
    r, fast = _get(locked, f"/v1/policies/{BAD_CHECKSUM}{query}", headers)
    assert not fast
    body = assert_problem(r, status, code)
    assert "outcome" not in body
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "query", ["?mode=offline", "?fresh=TRUE&mode=offline", "?mode=online&mode=offline", ""]
)
def test_a_token_is_what_makes_a_verdict_when_loopback_has_no_role(
    locked: Server, query: str
) -> None:
    r, fast = _get(locked, f"/v1/policies/{BAD_CHECKSUM}{query}", auth(MIS_TOKEN))
    assert fast and r.status_code == 200
    assert r.json()["outcome"] == "invalid"


def test_head_goes_to_the_route(daemon: Server) -> None:
    before = _served(daemon)
    with httpx.Client(base_url=daemon.url, timeout=20.0) as c:
        r = c.head(f"/v1/policies/{BAD_CHECKSUM}?mode=offline", headers=auth(MIS_TOKEN))
    assert _served(daemon) == before
    assert r.status_code == 200 and r.content == b""


def test_a_body_on_the_get_is_no_second_request(daemon: Server) -> None:
    """A GET the fast path answers without reading its body: the body (itself a request,
    as a smuggler would write it) stays a body — one answer, never two."""
    port = _port(daemon)
    inner = (
        f"GET /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    ).encode()
    before = _served(daemon)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(
            f"GET /v1/policies/{BAD_CHECKSUM}?mode=offline HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {MIS_TOKEN}\r\n"
            f"Content-Length: {len(inner)}\r\nConnection: close\r\n\r\n".encode()
            + inner
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200")
    assert data.count(b"HTTP/1.1 ") == 1, data[:400]
    assert _served(daemon) == before + 1


def test_the_query_memo_stays_bounded_and_is_keyed_on_the_whole_query(daemon: Server) -> None:
    """Hundreds of distinct accepted spellings: the memo holds at most its 64, each one an
    accepted query string (never more than a request line)."""
    fast = _fast(daemon)
    url = f"/v1/policies/{BAD_CHECKSUM}"
    with httpx.Client(base_url=daemon.url, timeout=20.0, headers=auth(MIS_TOKEN)) as c:
        for i in range(300):
            r = c.get(f"{url}?mode=offline{'&fresh=0' * (i % 7)}{'&mode=offline' * (i // 7)}")
            assert r.status_code == 200
            assert len(fast._queries) <= 64
        assert all(len(k) < 16 * 1024 for k in fast._queries)
    # A spelling remembered as one mode never answers as another: the demo daemon has its
    # demo registry, so online answers from the registry and offline from the snapshot.
    enp = _active(daemon)
    with httpx.Client(base_url=daemon.url, timeout=20.0, headers=auth(MIS_TOKEN)) as c:
        answers = [
            c.get(f"/v1/policies/{enp}?{q}").json()
            for q in ("mode=offline", "mode=%6Fnline", "mode=offline", "mode=o%6Eline")
        ]
    assert [a["outcome"] for a in answers] == ["valid"] * 4
    sources = [a["source"] for a in answers]
    assert sources[0] == sources[2] == "snapshot", sources
    assert sources[1] == sources[3] != "snapshot", sources


def test_a_fast_answer_leaves_no_full_number_in_the_audit(daemon: Server) -> None:
    enp = _active(daemon)
    encoded = "".join(f"%{ord(d):02X}" for d in enp)
    r, fast = _get(daemon, f"/v1/policies/{encoded}?mode=offline", auth(MIS_TOKEN))
    assert fast and r.status_code == 200
    service = daemon.live.daemon.service
    assert service is not None and service.ready, "the daemon under test is serving"
    row = service.audit.recent(1)[0]
    assert (row.who, row.channel, row.enp_masked) == ("mis-main", "api", mask_enp(enp))
    assert row.enp_masked != enp
