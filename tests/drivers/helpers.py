"""Shared helpers for the driver tests: payloads and a harness that runs a driver."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path

from drivers.base import Driver, DriverState
from verifier.credential import CredentialInput
from verifier.devkit.demo import demo_issuer, paper_policy_bytes
from verifier.formats import paper_barcode
from verifier.identifiers import Sex, make_enp

DATA = Path(__file__).resolve().parents[1] / "data" / "drivers"

# An unsigned demo policy whose signature field holds CR, LF, CRLF and ends in CR: the worst
# case for suffix framing.  Deterministic, so recordings made from it stay valid.
TRICKY_SIGNATURE = bytes(range(0x0A, 0x0A + 20)) + b"\r\n\r\n" + bytes(40) + b"\r"
assert len(TRICKY_SIGNATURE) == paper_barcode.SIGNATURE_LENGTH
TRICKY_POLICY = paper_policy_bytes(signature_field=TRICKY_SIGNATURE)
assert len(TRICKY_POLICY) == 130 and b"\r\n" in TRICKY_POLICY and TRICKY_POLICY.endswith(b"\r")


def signed_policy_with_crlf(serial: int = 7) -> tuple[bytes, str]:
    """A demo-signed 130-byte policy (random signature) that contains both 0x0D and 0x0A."""
    issuer = demo_issuer()
    for attempt in range(2000):
        enp = make_enp("50", date(1985, 3, 15), Sex.MALE, serial + attempt)
        payload = issuer.paper_policy(
            enp=enp,
            surname="Иванов",
            given_name="Иван",
            patronymic="Иванович",
            sex=Sex.MALE,
            birth_date=date(1985, 3, 15),
        )
        if b"\r" in payload and b"\n" in payload:
            return payload, enp
    raise AssertionError("no signed policy with CR and LF found")


class Harness:
    """Runs ``driver.run`` in a task and collects what it emits."""

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.stop = asyncio.Event()
        self.items: list[CredentialInput] = []
        self.emitted_at: list[float] = []
        self._queue: asyncio.Queue[CredentialInput] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _emit(self, item: CredentialInput) -> None:
        self.items.append(item)
        self.emitted_at.append(time.monotonic())
        self._queue.put_nowait(item)

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.driver.run(self._emit, self.stop))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout: float = 10.0) -> None:
        self.stop.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, timeout)

    async def next(self, timeout: float = 5.0) -> CredentialInput:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def nothing(self, seconds: float) -> None:
        try:
            item = await asyncio.wait_for(self._queue.get(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected read {item!r}")

    async def wait_state(self, state: DriverState, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self.driver.health().state is not state:
            if time.monotonic() > deadline:
                h = self.driver.health()
                raise AssertionError(f"state {h.state} ({h.detail}), wanted {state}")
            if self.task is not None and self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)


class FakeDevice:
    """A pseudo-terminal standing in for a device node, behind a stable symlink (like the
    /dev/oms-scanner-* links the udev rules make).  ``unplug`` closes the master side, so the
    driver's reads fail like a yanked USB device; ``plug`` makes a new pty and repoints the
    link, like a re-enumerated device."""

    def __init__(self, link: Path, *, raw: bool = True) -> None:
        self.link = link
        self.raw = raw
        self.master: int | None = None
        self.slave: int | None = None
        self.plug()

    def plug(self) -> None:
        import os
        import tty

        master, slave = os.openpty()
        if self.raw:
            tty.setraw(slave)
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)
        self.master, self.slave = master, slave

    def write(self, data: bytes) -> None:
        import os

        assert self.master is not None
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def unplug(self) -> None:
        import os

        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None
        self.link.unlink(missing_ok=True)

    def close(self) -> None:
        if self.master is not None:
            self.unplug()
