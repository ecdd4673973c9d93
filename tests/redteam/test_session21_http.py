"""Red team, session 21: the MIS's GET answered before Starlette's stack, remembered gate answers
and remembered tokens, no proxy headers (5c1af77). What held, pinned so it can fail.

The same service behind two apps (with and without the fast path, as tests/http/test_fastpath.py
builds them) is asked the gate's refusals and the route's answers and must leave the same
answers *and the same metrics*; a configuration reload that removes, renames or re-roles a
token is obeyed at the next request although the fast path remembers found tokens and the
gate's word; a real daemon on loopback takes duplicated Host headers, pipelined requests and
``X-Forwarded-For`` without letting any of them change what the gate or the loopback role say.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.conftest import DESK_TOKEN, MIS_TOKEN, TOKENS_TOML, Server, _start, auth
from tests.http.test_fastpath import Pair, _same
from verifier import config as config_mod
from verifier.config import Config
from verifier.devkit import demo
from verifier.http import auth as auth_mod
from verifier.service.core import Service

BAD_CHECKSUM = "5012345678901234"
URL = f"/v1/policies/{BAD_CHECKSUM}?mode=offline"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state_dir = tmp_path_factory.mktemp("s21-demo")
    demo.ensure_demo(Config(state_dir=state_dir), persons=200)
    return state_dir


def _cfg(base: Path, state_dir: Path, name: str, http: str) -> Config:
    conf = base / f"{name}.toml"
    conf.write_text("[http]\nport = 0\n" + http, encoding="utf-8")
    return demo.demo_config(config_mod.load(conf, state_dir))


@pytest.fixture
def world(tmp_path: Path, template: Path) -> Iterator[tuple[Pair, Path]]:
    state_dir = tmp_path / "state"
    shutil.copytree(template, state_dir)
    cfg = _cfg(
        tmp_path,
        state_dir,
        "start",
        'loopback_role = "none"\nallowed_hosts = ["desk-3.clinic"]\n' + TOKENS_TOML,
    )
    loop = asyncio.new_event_loop()
    service = Service(cfg)
    loop.run_until_complete(service.start())
    try:
        yield Pair(service, ("127.0.0.1", 50000), loop), tmp_path
    finally:
        loop.run_until_complete(service.stop())
        loop.close()


def _series(pair: Pair, app: Any) -> dict[str, str]:
    text = pair.run(pair.ask(app, "GET", "/metrics", auth(MIS_TOKEN.replace("mis", "admin"))))
    body = text.text
    return dict(re.findall(r"^(oms_http_request_duration_seconds_count\{.*\}) (\S+)$", body, re.M))


GATE: list[dict[str, str] | list[tuple[str, str]]] = [
    {"Host": "evil.example", **auth(MIS_TOKEN)},
    {"Host": "127.0.0.1.nip.io", **auth(MIS_TOKEN)},
    {"Host": "localhost.", **auth(MIS_TOKEN)},
    {"Host": "desk-3.clinic:1", **auth(MIS_TOKEN)},  # an allowed name: any port
    {"Host": "DESK-3.CLINIC", **auth(MIS_TOKEN)},
    [("Host", "127.0.0.1"), ("Host", "evil.example"), ("Authorization", f"Bearer {MIS_TOKEN}")],
    [("Host", "evil.example"), ("Host", "127.0.0.1"), ("Authorization", f"Bearer {MIS_TOKEN}")],
    {"Sec-Fetch-Site": "cross-site", **auth(MIS_TOKEN)},
    {"Sec-Fetch-Site": "CROSS-SITE", **auth(MIS_TOKEN)},
    {"Sec-Fetch-Site": "same-site", **auth(MIS_TOKEN)},
    {"Sec-Fetch-Site": "same-origin", **auth(MIS_TOKEN)},
    {"Sec-Fetch-Site": "none", **auth(MIS_TOKEN)},
    {"Origin": "http://evil.example", **auth(MIS_TOKEN)},  # a GET: Origin alone is no refusal
    {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", **auth(MIS_TOKEN)},
    {"Origin": "null", **auth(MIS_TOKEN)},
    auth(MIS_TOKEN),
]


def test_every_gate_answer_and_every_metric_is_the_stacks(world: tuple[Pair, Path]) -> None:
    """Each header set twice (the second answer from the gate's memo), interleaved so a
    remembered pass is never reused for a set that differs in one header."""
    pair, _ = world
    for round_ in range(2):
        for headers in GATE:
            before = pair.served
            fast = pair.run(_ask(pair, pair.fast_app, headers))
            answered = pair.served > before
            slow = pair.run(_ask(pair, pair.slow_app, headers))
            _same(fast, slow)
            assert answered == (fast.status_code == 200), (round_, headers, fast.text)
    assert _series(pair, pair.fast_app) == _series(pair, pair.slow_app)
    codes = {k.split('code="')[1].split('"')[0] for k in _series(pair, pair.fast_app)}
    assert {"200", "403", "421"} <= codes


async def _ask(pair: Pair, app: Any, headers: dict[str, str] | list[tuple[str, str]]) -> Any:
    transport = httpx.ASGITransport(app=app, client=pair.client, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8471") as c:
        return await c.get(URL, headers=headers)


def test_a_500_leaves_the_same_answer_and_metrics(world: tuple[Pair, Path]) -> None:
    pair, _ = world
    pair.run(pair.both("GET", URL, auth(MIS_TOKEN)))
    pair.service.audit.close()
    fast, slow, answered = pair.run(pair.both("GET", URL, auth(MIS_TOKEN)))
    assert answered and fast.status_code == 500
    _same(fast, slow)
    assert _series(pair, pair.fast_app) == _series(pair, pair.slow_app)


def test_a_reload_removing_renaming_and_re_roling_tokens_is_obeyed_at_once(
    world: tuple[Pair, Path],
) -> None:
    pair, base = world
    state_dir = base / "state"
    before = pair.served
    for token in (MIS_TOKEN, DESK_TOKEN, MIS_TOKEN, DESK_TOKEN):  # found, then remembered
        fast, slow, answered = pair.run(pair.both("GET", URL, auth(token)))
        assert answered and fast.status_code == 200
    assert pair.served == before + 4
    prefix = MIS_TOKEN[:-4]  # a new token that is a prefix of the old one
    new_tokens = f"""
[[http.tokens]]
name = "mis-renamed"
token = "{DESK_TOKEN}"
role = "mis"

[[http.tokens]]
name = "short"
token = "{prefix}"
role = "kiosk"

[[http.tokens]]
name = "ops"
token = "admin-token-0123456789abcdef"
role = "admin"
"""
    cfg = _cfg(base, state_dir, "reloaded", 'loopback_role = "none"\n' + new_tokens)
    pair.run(pair.service.reload(cfg))
    fast, slow, answered = pair.run(pair.both("GET", URL, auth(MIS_TOKEN)))  # removed
    assert not answered and fast.status_code == 401
    _same(fast, slow)
    fast, slow, answered = pair.run(pair.both("GET", URL, auth(prefix)))  # kiosk: no verify
    assert not answered and fast.status_code == 403
    fast, _, answered = pair.run(pair.both("GET", URL, auth(DESK_TOKEN)))  # renamed
    assert answered and fast.status_code == 200
    assert pair.service.audit.recent(1)[0].who == "mis-renamed"
    # Host names the old configuration allowed: the gate's memo was for it
    fast, slow, answered = pair.run(
        pair.both("GET", URL, {"Host": "desk-3.clinic", **auth(DESK_TOKEN)})
    )
    assert not answered and fast.status_code == 421
    _same(fast, slow)


def test_wrong_tokens_are_never_remembered(world: tuple[Pair, Path]) -> None:
    pair, _ = world
    spellings = [
        f"bearer {MIS_TOKEN}",
        f"BEARER   {MIS_TOKEN}  ",
        f"Bearer {MIS_TOKEN} x",
        f"Bearer {MIS_TOKEN[:-1]}",
        "Bearer ",
        *[f"Bearer guess-{i}" for i in range(50)],
    ]
    for header in spellings:
        fast, slow, _ = pair.run(pair.both("GET", URL, {"Authorization": header}))
        _same(fast, slow)
    made_for, known = auth_mod._known_tokens
    assert made_for is pair.service.cfg.http
    configured = {t.token for t in pair.service.cfg.http.tokens}
    assert set(known) <= configured and len(known) <= len(configured)


# -- a real daemon ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[Server]:
    """Token-less loopback callers are admin (the default)."""
    yield from _start(tmp_path_factory, template, "s21-http", "")


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _served(server: Server) -> int:
    streams = server.live.daemon.streams
    assert streams is not None, "the daemon is serving"
    app: Any = streams.app  # the daemon's ApiApp
    served: int = app.fast_path.stats.served
    return served


def test_x_forwarded_for_does_not_move_the_caller_off_loopback(daemon: Server) -> None:
    """uvicorn's proxy headers trust 127.0.0.1 by default: with them on, a local process
    naming another address for itself would have been that address (here: no role, 401)."""
    for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
        value = "for=203.0.113.9" if header == "Forwarded" else "203.0.113.9"
        before = _served(daemon)
        r = httpx.get(f"{daemon.url}{URL}", headers={header: value}, timeout=20.0)
        assert r.status_code == 200 and _served(daemon) == before + 1, (header, r.text)


def test_two_host_headers_and_pipelined_requests_on_the_wire(daemon: Server) -> None:
    port = int(daemon.url.rsplit(":", 1)[1])
    host = f"127.0.0.1:{port}"
    before = _served(daemon)
    for first, second in ((host, "evil.example"), ("evil.example", host), (host, host)):
        out = _raw(
            port,
            f"GET {URL} HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n"
            "Connection: close\r\n\r\n".encode(),
        )
        assert re.findall(rb"HTTP/1\.1 (\d{3}) ", out) in ([b"400"], [b"421"]), out[:300]
        assert b'"outcome"' not in out
    assert _served(daemon) == before
    out = _raw(
        port,
        (
            f"GET {URL} HTTP/1.1\r\nHost: {host}\r\n\r\n"
            f"GET {URL} HTTP/1.1\r\nHost: evil.example\r\n\r\n"
            f"GET {URL} HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: cross-site\r\n\r\n"
            f"HEAD {URL} HTTP/1.1\r\nHost: {host}\r\n\r\n"
            f"GET {URL} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", out)
    assert statuses == [b"200", b"421", b"403", b"200", b"200"], out[:600]
    assert out.count(b'"outcome"') == 2  # the HEAD's answer has no body
    assert _served(daemon) == before + 2


def test_uvicorn_writes_no_access_line(daemon: Server, capfd: pytest.CaptureFixture[str]) -> None:
    import logging

    enp = BAD_CHECKSUM
    access = logging.getLogger("uvicorn.access")
    # pytest's own log capture hangs its handlers on every logger; the daemon sets none
    assert [h for h in access.handlers if type(h).__name__ != "LogCaptureHandler"] == []
    assert not access.propagate and not access.isEnabledFor(logging.INFO)
    httpx.get(f"{daemon.url}/v1/policies/{enp}?mode=offline", timeout=20.0)
    httpx.get(f"{daemon.url}/v1/nowhere/{enp}", timeout=20.0)
    out, err = capfd.readouterr()
    assert enp not in out and enp not in err
