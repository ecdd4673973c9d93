"""Writes of one loop step go out as one (verifier.http.transport.CoalescedWrites): a verdict's
head and body in one send, in order, nothing held past the step, a close flushing first."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from tests.http.conftest import MIS_TOKEN, Server
from tests.http.test_limits import address, read_all
from verifier.http import transport as tr


class Recorder:
    """A transport that records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.events: list[str] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        self.events.append("write")

    def close(self) -> None:
        self.closed = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default


def _run(body: Any) -> Recorder:
    async def main() -> Recorder:
        rec = Recorder()
        writes = tr.CoalescedWrites(rec, asyncio.get_running_loop())  # type: ignore[arg-type]
        await body(writes, rec)
        return rec

    return asyncio.run(main())


def test_writes_of_one_step_are_one_write() -> None:
    async def body(w: tr.CoalescedWrites, rec: Recorder) -> None:
        w.write(b"HTTP/1.1 200 OK\r\n\r\n")
        w.write(b"")  # ignored
        w.write(b"{}")
        assert rec.writes == []  # held until the step ends
        await asyncio.sleep(0)
        assert rec.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
        w.write(b"next")
        await asyncio.sleep(0)
        assert rec.writes[-1] == b"next"

    _run(body)


def test_flush_and_close_keep_the_order() -> None:
    async def body(w: tr.CoalescedWrites, rec: Recorder) -> None:
        w.write(b"a")
        w.flush()
        assert rec.writes == [b"a"]
        w.write(b"b")
        w.write(b"c")
        w.close()
        assert rec.events == ["write", "write", "close"]
        assert rec.writes == [b"a", b"bc"]
        await asyncio.sleep(0)  # the scheduled flush finds nothing left
        assert rec.writes == [b"a", b"bc"]

    _run(body)


def test_a_large_response_is_not_copied_into_one() -> None:
    big = b"x" * (tr.COALESCE_MAX + 1)

    async def body(w: tr.CoalescedWrites, rec: Recorder) -> None:
        w.write(b"head")
        w.write(big)  # past the cap: handed on at once, in order, each as written
        assert rec.writes == [b"head", big]

    _run(body)


def test_the_real_transport_answers_the_rest() -> None:
    async def body(w: tr.CoalescedWrites, rec: Recorder) -> None:
        assert w.get_extra_info("peername") == ("127.0.0.1", 1)
        assert w.is_closing() is False

    _run(body)


def test_pipelined_requests_are_answered_in_order(api: Server) -> None:
    """Two requests in one packet: the first response is flushed when it completes, before
    the second is handled, and both arrive whole and in order."""
    host, port = address(api.url)
    reqs = b"".join(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {MIS_TOKEN}\r\n"
        f"{'Connection: close' if last else 'X-Seq: 1'}\r\n\r\n".encode()
        for path, last in (("/healthz", False), ("/v1/policies/5012345678901234", True))
    )
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(reqs)
        raw = read_all(s)
    first, _, rest = raw.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ")
    assert rest.count(b"HTTP/1.1 ") == 1
    second = rest[rest.index(b"HTTP/1.1 ") :]
    assert second.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 422 "))
    assert b"application/" in second


def test_writelines_goes_through_the_buffer() -> None:
    async def body(w: tr.CoalescedWrites, rec: Recorder) -> None:
        w.write(b"a")
        w.writelines([b"b", b"c"])
        await asyncio.sleep(0)
        assert rec.writes == [b"abc"]

    _run(body)
