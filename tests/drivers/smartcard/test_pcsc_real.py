"""The real stack: pyscard → libpcsclite → a private pcscd → vsmartcard vpcd → our emulator.

The fixture starts pcscd in the foreground in its own mount namespace (see pcsc_env.py) with
vpcd on a free port pair; each test inserts virtual cards by connecting to vpcd. Skipped, with
the reason, only when pcscd/vpcd/pyscard are not installed or no namespace can be made.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from drivers.base import DriverState
from drivers.smartcard.monitor import CardEvent, PcscDriver
from tests.drivers.smartcard.pcsc_env import READER0, PcscEnv
from verifier import config
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.devkit.card_emulator import CardImage, GoznakCardEmulator, VirtualCard
from verifier.formats import goznak_card
from verifier.service.assembly import assemble

pytestmark = pytest.mark.slow

DUMP = demo.card_dump_bytes()


@pytest.fixture(scope="module")
def pcsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PcscEnv]:
    try:
        import smartcard.scard  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"pyscard not installed ({exc}): pip install pyscard")
    env = PcscEnv(tmp_path_factory.mktemp("pcscd"))
    reason = env.why_not()
    if reason:
        pytest.fail(f"pcscd with vpcd cannot run here: {reason}")
    # libpcsclite reads this once per process, at the first PC/SC call: set it before any
    before = os.environ.get("PCSCLITE_CSOCK_NAME")
    os.environ["PCSCLITE_CSOCK_NAME"] = str(env.socket_path)
    env.start()
    yield env
    env.stop()
    if before is None:
        os.environ.pop("PCSCLITE_CSOCK_NAME", None)
    else:
        os.environ["PCSCLITE_CSOCK_NAME"] = before


class Harness:
    def __init__(self, driver: PcscDriver) -> None:
        self.driver = driver
        self.items: asyncio.Queue[CredentialInput] = asyncio.Queue()

    async def emit(self, item: CredentialInput) -> None:
        await self.items.put(item)

    async def next_item(self, timeout: float = 10.0) -> CredentialInput:
        return await asyncio.wait_for(self.items.get(), timeout)

    async def until(self, check: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; health={self.driver.health().to_dict()} "
                    f"events={list(self.driver.events)[-8:]}"
                )
            await asyncio.sleep(0.05)

    def failures(self) -> list[CardEvent]:
        return [e for e in self.driver.events if e.kind == "read_failed"]


@asynccontextmanager
async def running(driver: PcscDriver) -> AsyncIterator[Harness]:
    h = Harness(driver)
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(h.emit, stop))
    try:
        yield h
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert driver.health().state is DriverState.STOPPED


def vcard(env: PcscEnv, dump: bytes = DUMP, *, slot: int = 0, **kw: object) -> VirtualCard:
    pull = kw.pop("pull_after", None)
    emu = GoznakCardEmulator(CardImage.from_dump(dump), **kw)  # type: ignore[arg-type]
    return VirtualCard(emu, port=env.port + slot, pull_after=pull)  # type: ignore[arg-type]


async def insert(card: VirtualCard) -> None:
    await asyncio.to_thread(card.insert)


async def remove(card: VirtualCard, h: Harness | None = None) -> None:
    """Pull the card; with a harness, wait until the driver has seen the slot empty.

    vpcd notices a vanished card only at pcscd's next presence poll (~0.4 s), and a card that
    vanished mid-APDU is already ejected: a new card connecting before that poll would be taken
    for the old one (same ATR, no removal event), a swap no physical reader can do."""
    await asyncio.to_thread(card.remove)
    if h is not None:
        await h.until(lambda: "waiting for a card" in h.driver.health().detail)


def driver(**kw: object) -> PcscDriver:
    return PcscDriver(poll_interval=0.2, backoff_initial=0.1, backoff_max=0.5, **kw)  # type: ignore[arg-type]


def test_insert_gives_one_credential_with_the_expected_verdict(
    pcsc: PcscEnv, tmp_path: Path
) -> None:
    cfg = config.load(None, tmp_path)
    state = demo.ensure_demo(cfg, persons=3000)
    label, expected, sample = next(s for s in demo.demo_samples(state) if s[2].symbology == "card")
    assert expected == "valid", label
    parts = assemble(state.cfg)  # the demo's own trust dir and register

    async def scenario() -> CredentialInput:
        async with running(driver()) as h:
            card = vcard(pcsc, sample.payload)
            await insert(card)
            item = await h.next_item()
            await asyncio.sleep(1.0)  # the card stays in: still exactly one read
            assert h.items.empty()
            await remove(card, h)
            health = h.driver.health()
            assert (health.reads, health.errors, health.state) == (1, 0, DriverState.OK)
            return item

    item = asyncio.run(scenario())
    assert item.payload == sample.payload
    assert (item.source, item.symbology) == (f"pcsc:{READER0}", "card")
    parsed = goznak_card.parse_dump(item.payload)
    assert parsed.insurer is not None and parsed.insurer.signature
    verdict = parts.pipeline.verify(item)
    parts.close()
    assert verdict.outcome.value == "valid", verdict.to_dict()


def test_pulled_mid_read_is_a_clean_event_then_the_next_card_reads(pcsc: PcscEnv) -> None:
    async def scenario() -> None:
        async with running(driver()) as h:
            pulled = vcard(pcsc, pull_after=5)
            await insert(pulled)
            await h.until(lambda: h.driver.health().errors == 1)
            assert pulled.wait_pulled(1)
            assert h.failures()[-1].code == "card_removed"
            assert h.items.empty()
            await remove(pulled, h)
            card = vcard(pcsc)
            await insert(card)
            item = await h.next_item()
            assert item.payload == DUMP
            await remove(card, h)
            assert h.driver.health().reads == 1

    asyncio.run(scenario())


def test_unknown_card_is_a_clean_event(pcsc: PcscEnv) -> None:
    async def scenario() -> None:
        async with running(driver()) as h:
            other = VirtualCard(GoznakCardEmulator(CardImage.unknown()), port=pcsc.port)
            await insert(other)
            await h.until(lambda: bool(h.failures()))
            assert h.failures()[-1].code == "card_unknown"
            assert other.served == 0  # an unknown card is never sent an APDU
            await remove(other, h)
            card = vcard(pcsc)
            await insert(card)
            assert (await h.next_item()).payload == DUMP
            await remove(card, h)

    asyncio.run(scenario())


def test_t0_card_with_get_response_chains_over_the_real_stack(pcsc: PcscEnv) -> None:
    async def scenario() -> None:
        async with running(driver()) as h:
            card = vcard(pcsc, via_get_response=True, get_response_chunk=64)
            await insert(card)
            assert (await h.next_item()).payload == DUMP
            assert any(a[1] == 0xC0 for a in card.card.apdus)
            await remove(card, h)

    asyncio.run(scenario())


def test_card_present_at_start_and_reader_filter(pcsc: PcscEnv) -> None:
    async def scenario() -> None:
        card = vcard(pcsc, slot=1)
        await insert(card)
        await asyncio.sleep(0.5)
        async with running(driver(reader="pcd 00 01")) as h:
            item = await h.next_item()
            assert item.source == "pcsc:Virtual PCD 00 01"
        await remove(card)
        async with running(driver(reader="No Such Reader")) as h:
            await h.until(lambda: h.driver.health().state is DriverState.WAITING)
            assert "No Such Reader" in h.driver.health().detail

    asyncio.run(scenario())


def test_pcscd_restart_is_survived(pcsc: PcscEnv) -> None:
    async def scenario() -> None:
        async with running(driver()) as h:
            card = vcard(pcsc)
            await insert(card)
            await h.next_item()
            await remove(card, h)
            await asyncio.to_thread(pcsc.stop)
            await h.until(lambda: h.driver.health().state is DriverState.WAITING)
            assert "PC/SC" in h.driver.health().detail
            await asyncio.sleep(1.0)  # a few failed reconnects with backoff
            await asyncio.to_thread(pcsc.start)
            await insert(card)
            assert (await h.next_item(15)).payload == DUMP
            await remove(card, h)
            codes = {e.code for e in h.driver.events if e.kind == "service"}
            assert "pcsc_lost" in codes or "pcsc_unavailable" in codes
            assert h.driver.health().reads == 2

    asyncio.run(scenario())
