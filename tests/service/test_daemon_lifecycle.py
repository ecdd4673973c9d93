"""The daemon as an admin meets it: a real ``oms-verifier serve`` subprocess.

- a port already taken is one line, ``error [port_in_use]``, exit 2 — before anything starts;
- SIGTERM with screens connected (two raw-socket SSE clients on ``/v1/events``) exits 0, the
  streams end cleanly (the chunked body's last chunk), no traceback, only JSON lines on stderr
  with JSON logging on (besides the one "serving on" line for people);
- SIGHUP re-reads the configuration while the screens stay connected and keep getting events;
- ``--version`` is the installed distribution's version.

No timing threshold: the exit delay is printed (``pytest -s``) and measured by
``bench/shutdown_bench.py``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import verifier
from verifier.config import Config
from verifier.devkit import demo

ROOT = Path(__file__).resolve().parents[2]
DESK_TOKEN = "desk-token-0123456789abcdef"
LATER_TOKEN = "later-token-0123456789abcdef"  # added to the file before SIGHUP
ENP = "5047000818001962"
BANNER = re.compile(r"^oms-verifier: serving on (http://127\.0\.0\.1:(\d+)) ")
WAIT_S = 60.0  # generous: 2 cores shared with other test runs


def _config(path: Path, *tokens: tuple[str, str]) -> None:
    text = "[log]\njson = true\n[http]\nport = 0\n"
    for name, token in tokens:
        text += f'[[http.tokens]]\nname = "{name}"\ntoken = "{token}"\nrole = "desk"\n'
    path.write_text(text, encoding="utf-8")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("OMS_VERIFIER_CONFIG", "OMS_VERIFIER_STATE_DIR", "OMS_VERIFIER_API_TOKEN"):
        env.pop(name, None)
    return env


class Served:
    """``oms-verifier serve --demo`` with its stderr read line by line on a thread."""

    def __init__(self, conf: Path, state: Path) -> None:
        argv = ["-m", "verifier.cli", "--config", str(conf), "--state-dir", str(state)]
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "serve", "--demo"],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        banner = self.wait_for(lambda line: BANNER.match(line) is not None)
        m = BANNER.match(banner)
        assert m is not None and m.group(2).isdigit()
        self.port = int(m.group(2))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    def wait_for(self, match: Callable[[str], bool], start: int = 0) -> str:
        deadline = time.monotonic() + WAIT_S
        with self._seen:
            while True:
                found = next((x for x in self.lines[start:] if match(x)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, "\n".join(self.lines[-20:])
                self._seen.wait(min(left, 0.5))

    def event_logged(self, event: str, start: int = 0) -> str:
        return self.wait_for(lambda line: _json(line).get("event") == event, start)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _json(line: str) -> dict[str, object]:
    try:
        value = json.loads(line)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Screen:
    """A raw-socket SSE client, as a desk page's EventSource is on the wire."""

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.sock.sendall(
            f"GET /v1/events?access_token={token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        self.data = b""
        self.read_until(b"event: hello")

    def read_until(self, needle: bytes, start: int = 0) -> None:
        while needle not in self.data[start:]:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before {needle!r}: {self.data[-300:]!r}"
            self.data += chunk

    def read_to_eof(self) -> bytes:
        while chunk := self.sock.recv(65536):
            self.data += chunk
        return self.data


def _publish(port: int, token: str) -> None:
    """A typed desk check with ``publish=true``: one scan event on the desk channel."""
    typed_check(port, token, publish=True)


def typed_check(port: int, token: str, *, publish: bool = False) -> None:
    """A typed desk check over a raw socket (``Connection: close``); asserts a 200."""
    body = json.dumps({"text": ENP, "typed": True}).encode()
    query = "?publish=true" if publish else ""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_S) as s:
        s.sendall(
            f"POST /v1/verify{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]


@pytest.fixture
def demo_state(tmp_path: Path) -> Path:
    """A small demo state (``serve --demo`` would otherwise generate 20,000 persons)."""
    state = tmp_path / "state"
    demo.ensure_demo(Config(state_dir=state), persons=3000)
    return state


@pytest.fixture
def served(tmp_path: Path, demo_state: Path) -> Iterator[Served]:
    conf = tmp_path / "config.toml"
    _config(conf, ("desk-1", DESK_TOKEN))
    daemon = Served(conf, demo_state)
    try:
        yield daemon
    finally:
        daemon.stop()


def test_sigterm_with_screens_connected_exits_cleanly(served: Served) -> None:
    screens = [Screen(served.port, DESK_TOKEN), Screen(served.port, DESK_TOKEN)]
    began = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=WAIT_S) == 0
    print(f"\nSIGTERM with 2 SSE clients: exited after {time.monotonic() - began:.3f} s")
    for screen in screens:  # each stream ended as HTTP says (the last chunk), then closed
        assert screen.read_to_eof().endswith(b"\r\n0\r\n\r\n"), screen.data[-200:]
    served.event_logged("stopped")
    text = "\n".join(served.lines)
    assert "Traceback" not in text and "CancelledError" not in text, text
    not_json = [x for x in served.lines if not _json(x) and not BANNER.match(x)]
    assert not_json == [], not_json


def test_sighup_keeps_screens_connected(tmp_path: Path, served: Served) -> None:
    screens = [Screen(served.port, DESK_TOKEN), Screen(served.port, DESK_TOKEN)]
    _config(tmp_path / "config.toml", ("desk-1", DESK_TOKEN), ("desk-2", LATER_TOKEN))
    mark = len(served.lines)
    served.proc.send_signal(signal.SIGHUP)
    served.event_logged("configuration reloaded", mark)
    Screen(served.port, LATER_TOKEN)  # the new file is in force: its new token is accepted
    marks = [len(s.data) for s in screens]
    _publish(served.port, DESK_TOKEN)
    for screen, start in zip(screens, marks, strict=True):  # the same connections, still fed
        screen.read_until(b"event: scan", start)
    assert served.proc.poll() is None
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=WAIT_S) == 0


def test_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text("", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["-m", "verifier.cli", "--config", str(conf), "--state-dir", str(tmp_path / "state")]
        for extra in ([], ["--demo"]):
            r = subprocess.run(
                [sys.executable, *argv, "serve", *extra, "--port", str(port)],
                cwd=ROOT,
                env=_env(),
                capture_output=True,
                text=True,
                timeout=WAIT_S,
            )
            assert r.returncode == 2, r.stderr
            assert r.stderr == (
                f"oms-verifier: error [port_in_use]: 127.0.0.1:{port} is already in use "
                "(another oms-verifier?)\n"
            )
    # Refused before anything started: no demo register generated, no store opened.
    assert not (tmp_path / "state").exists()


def test_version_comes_from_the_package_metadata() -> None:
    expected = importlib.metadata.version("oms-verifier")
    assert verifier.__version__ == expected
    r = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "--version"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )
    assert (r.returncode, r.stdout, r.stderr) == (0, f"oms-verifier {expected}\n", "")


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """Put uvicorn's loggers back as they were (the daemon rewires them process-wide)."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
    saved = [
        (lg, list(lg.handlers), lg.propagate, lg.level) for lg in map(logging.getLogger, names)
    ]
    yield
    for lg, handlers, propagate, level in saved:
        lg.handlers, lg.propagate = handlers, propagate
        lg.setLevel(level)


def test_requests_cut_by_the_grace_period_are_one_json_line(
    uvicorn_loggers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """What uvicorn logs when the grace period runs out — its summary, then a CancelledError
    traceback per request — is one JSON warning, and its other records stay JSON too."""
    from verifier import log
    from verifier.service.daemon import route_uvicorn_logs

    log.configure(json=True)
    route_uvicorn_logs()
    uv = logging.getLogger("uvicorn.error")
    uv.error("Cancel %s running task(s), timeout graceful shutdown exceeded", 2)
    for _ in range(2):
        try:
            raise asyncio.CancelledError("Task cancelled, timeout graceful shutdown exceeded")
        except asyncio.CancelledError:
            uv.error("Exception in ASGI application\n", exc_info=True)
    uv.warning("Invalid HTTP request received.")
    uv.info("Shutting down")  # uvicorn's chatter below WARNING is dropped
    lines = capsys.readouterr().err.splitlines()
    assert [_json(x).get("event") for x in lines] == [
        "stopping: requests still running after the grace period were cancelled",
        "Invalid HTTP request received.",
    ], lines
    assert _json(lines[0])["tasks"] == 2 and _json(lines[0])["level"] == "warning"
