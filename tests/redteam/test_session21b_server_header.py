"""Red team, session 21b: no ``server:`` banner (a5de3c2, and the bench's bare "daemon's
protocol" variant made like it in 676f292).

What held, pinned so it can fail: a real daemon on loopback answers the fast path, the
Starlette stack, a redirect, the gate's 421, a 401, a 404, a HEAD and h11's own 400 without a
``server`` header, and every 2xx/3xx/4xx answer from the app still carries exactly one
``date`` (RFC 9110 §6.6.1: an origin server with a clock must send it); the bench's bare
server in its "daemon" variant answers the same way; neither docs/api.md nor the OpenAPI
documents promise a ``Server`` header.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
import yaml

from tests.http.conftest import Server, _start
from tests.redteam.test_session21_http import _raw
from verifier.config import Config
from verifier.devkit import demo

ROOT = Path(__file__).resolve().parents[2]
URL = "/v1/policies/5012345678901234?mode=offline"  # a bad checksum: an answer, no register


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state_dir = tmp_path_factory.mktemp("s21b-demo")
    demo.ensure_demo(Config(state_dir=state_dir), persons=50)
    yield from _start(tmp_path_factory, state_dir, "s21b-http", "")


def _heads(out: bytes) -> list[tuple[int, list[tuple[str, str]]]]:
    """Each answer's status and headers (bodies skipped by their content-length)."""
    answers = []
    while out:
        head, _, out = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [(k.strip().lower(), v.strip()) for k, v in (x.split(":", 1) for x in lines[1:])]
        length = int(dict(headers).get("content-length", "0"))
        if not lines[0].startswith("HTTP/1.1 ") or status == 204:
            length = 0
        answers.append((status, headers))
        out = out[length:]
    return answers


def _check(answers: list[tuple[int, list[tuple[str, str]]]], date: bool = True) -> None:
    for status, headers in answers:
        names = [k for k, _ in headers]
        assert "server" not in names, (status, headers)
        if date:
            assert names.count("date") == 1, (status, headers)
            assert parsedate_to_datetime(dict(headers)["date"]).tzinfo is not None


def test_the_daemons_answers_carry_a_date_and_no_server(daemon: Server) -> None:
    port = int(daemon.url.rsplit(":", 1)[1])
    host = f"127.0.0.1:{port}"
    asks = [
        (f"GET {URL}", "", 200),  # the fast path
        ("GET /healthz", "", 200),  # the stack
        ("GET /", "", 307),
        (f"GET {URL}", "Authorization: Bearer wrong-token-of-someone\r\n", 401),
        ("GET /v1/nowhere", "", 404),
    ]
    for line, extra, status in asks:
        out = _raw(
            port, f"{line} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()
        )
        answers = _heads(out)
        assert [s for s, _ in answers] == [status], out[:300]
        _check(answers)
    out = _raw(
        port, f"GET {URL} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".encode()
    )
    answers = _heads(out)
    assert [s for s, _ in answers] == [421]
    _check(answers)
    out = _raw(port, f"HEAD {URL} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert re.match(rb"HTTP/1\.1 200 ", out), out[:200]
    head = out.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
    assert "\r\nserver:" not in head and head.count("\r\ndate:") == 1
    out = _raw(port, b"GET / HTTP/1.1\r\nHost: \x00bad\r\n\r\n")  # h11's own 400
    assert re.match(rb"HTTP/1\.1 400 ", out), out[:200]
    assert b"\r\nserver:" not in out.lower().partition(b"\r\n\r\n")[0]


def test_the_bench_bare_daemon_variant_answers_as_the_daemon() -> None:
    proc = subprocess.Popen(
        [sys.executable, "bench/api_bench.py", "--serve-bare", "0", "--bare-protocol", "daemon"],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line)
        assert m, line
        port = int(m.group(1))
        ask = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        deadline = time.monotonic() + 60  # a guard against a hang, not a measure
        while True:  # the socket is bound before uvicorn listens on it
            try:
                out = _raw(port, ask)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.05)
        answers = _heads(out.partition(b"\r\n\r\n")[0])  # its body is chunked: the head only
        assert [s for s, _ in answers] == [200]
        _check(answers)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_no_document_promises_a_server_header() -> None:
    for name in ("verifier/http/openapi.yaml", "docs/api-openapi.yaml"):
        spec = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
        found: list[str] = []

        def walk(node: object, found: list[str] = found) -> None:
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "headers" and isinstance(value, dict):
                        found.extend(str(k).lower() for k in value)
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(spec)
        assert found and "server" not in found, (name, found)
    api = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    assert "no `server:` banner" in api
