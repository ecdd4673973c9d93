"""A hostile registry for tests: a real HTTP/1.1 server on loopback whose answers a test writes.

It can hold the registry's signing key (a key holder, or a genuine answer captured earlier and
replayed), stand between the client and the real service (a man in the middle without the key),
or send garbage: nested JSON, a 300 MB body streamed lazily. ``sent`` counts the body bytes the
kernel accepted, so a test can show the client stopped reading, without timing anything.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cache.register_model import RegisterRecord
from verifier.crypto import hashes
from verifier.crypto.keys import load_private_key
from verifier.crypto.signatures import sign_digest
from verifier.registry import protocol
from verifier.registry.server.data import KEY_FILE

from .conftest import Register


@dataclass(frozen=True)
class Asked:
    method: str
    path: str
    params: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    chunked: bool = False  # stream ``body`` (an iterable) with Transfer-Encoding: chunked


Handler = Callable[[Asked], Answer]


class _Http(http.server.ThreadingHTTPServer):
    daemon_threads = True
    handler: Handler
    asked: list[Asked]
    sent: int
    lock: threading.Lock


class _Request(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _write(self, data: bytes) -> None:
        self.wfile.write(data)
        with self.server.lock:
            self.server.sent += len(data)

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        asked = Asked(self.command, url.path, dict(parse_qsl(url.query)), body)
        with self.server.lock:
            self.server.asked.append(asked)
        answer = self.server.handler(asked)
        self.send_response(answer.status)
        for k, v in answer.headers.items():
            self.send_header(k, v)
        try:
            if answer.chunked:
                chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in chunks:
                    self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self._write(b"0\r\n\r\n")
            elif isinstance(answer.body, bytes):
                if "Content-Length" not in answer.headers:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self._write(answer.body)
            else:  # an iterable with a declared length (maybe a lie)
                self.end_headers()
                for chunk in answer.body:
                    self._write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up: what a bounded reader does

    do_GET = _serve
    do_POST = _serve


class HostileRegistry:
    """``with HostileRegistry(handler) as h: ... h.url, h.asked, h.sent``."""

    def __init__(self, handler: Handler) -> None:
        self._http = _Http(("127.0.0.1", 0), _Request)
        self._http.handler = handler
        self._http.asked = []
        self._http.sent = 0
        self._http.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def asked(self) -> list[Asked]:
        return self._http.asked

    @property
    def sent(self) -> int:
        return self._http.sent

    def set_handler(self, handler: Handler) -> None:
        self._http.handler = handler

    def __enter__(self) -> HostileRegistry:
        self._thread.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()


class KeyHolder:
    """Signs whatever a test says with the register's real key (trusted by the client)."""

    def __init__(self, register: Register) -> None:
        self.key = load_private_key((register.data_dir / KEY_FILE).read_bytes())
        self.key_id = register.gen.key_id

    def _sig(self, payload: bytes) -> bytes:
        return sign_digest(self.key, hashes.digest(hashes.STREEBOG256, payload))

    def answer(
        self,
        *,
        nonce: str,
        query: protocol.Query,
        answered_at: datetime,
        record: RegisterRecord | None,
        alias: protocol.Query | None = None,
        documents: protocol.Documents = (),
    ) -> dict[str, Any]:
        """A format-2 answer, signed: found when ``record`` is given, else a signed not-found."""
        if record is not None and not documents:
            documents = protocol.documents_of({})
        fields: dict[str, Any] = {
            "nonce": nonce,
            "query": query,
            "answered_at": answered_at,
            "record": record,
            "alias": alias,
            "documents": documents,
        }
        sig = self._sig(protocol.signed_payload(**fields))
        return protocol.answer_to_wire(**fields, key_id=self.key_id, signature=sig)

    def old_style(self, record: RegisterRecord, answered_at: datetime) -> dict[str, Any]:
        """Format 1: a genuine signature over ``{answered_at, record}`` only."""
        wire = protocol.record_to_wire(record)
        payload = protocol.canonical_json({"answered_at": answered_at.isoformat(), "record": wire})
        return {
            "record": wire,
            "answered_at": answered_at.isoformat(),
            "key_id": self.key_id,
            "signature": self._sig(payload).hex(),
        }


def json_answer(doc: Any, status: int = 200) -> Answer:
    ctype = "application/json" if status < 400 else protocol.PROBLEM_TYPE
    return Answer(status, protocol.canonical_json(doc), {"Content-Type": ctype})
