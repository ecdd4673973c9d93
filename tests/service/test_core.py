"""The service core: drivers feed verdicts to the event bus and the audit log; bad reads and a
crashing driver never take it down; the watchdog health follows the drivers."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path

import pytest

from drivers.base import DriverHealth, DriverState, Emit
from verifier import config
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.errors import RecognitionError
from verifier.service.core import Service
from verifier.verdict import Outcome, Reason, Verdict


class ScriptedDriver:
    """A driver port implementation that emits fixed reads, then idles (or crashes once)."""

    def __init__(self, reads: list[CredentialInput], crash_first: bool = False) -> None:
        self.name = "scripted"
        self.reads = reads
        self.crash_first = crash_first
        self.runs = 0
        self._health = DriverHealth("scripted", "test")

    async def run(self, emit: Emit, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.crash_first and self.runs == 1:
            raise RuntimeError("device exploded")
        self._health.set(DriverState.OK)
        for item in self.reads:
            await emit(item)
            self._health.reads += 1
        await stop.wait()

    def health(self) -> DriverHealth:
        return self._health


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Config, demo.DemoState]:
    d = tmp_path_factory.mktemp("svc")
    st = demo.ensure_demo(config.load(None, d), persons=2000)
    return st.cfg, st  # the demo's own config: its trust dir and register


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_driver_reads_become_masked_events_and_audit_entries(
    state: tuple[config.Config, demo.DemoState],
) -> None:
    cfg, st = state
    samples = {label: (expected, item) for label, expected, item in demo.demo_samples(st)}
    expected, paper = samples["paper policy, signed, active"]
    garbage = CredentialInput(b"\x00\x01garbage", source="serial:/dev/ttyACM0")
    driver = ScriptedDriver([paper, garbage])

    async def scenario() -> None:
        svc = Service(cfg, drivers=[driver])
        q = svc.bus.subscribe()
        await svc.start()
        first = await asyncio.wait_for(q.get(), 10)
        second = await asyncio.wait_for(q.get(), 10)
        assert first.verdict.outcome.value == expected
        d = first.to_dict()
        text = str(d)
        assert first.verdict.credential is not None
        enp = first.verdict.credential.enp or ""
        assert len(enp) == 16  # the read carried a full ENP, which the event must not
        assert enp not in text and d["verdict"]["credential"]["enp"].endswith(enp[-4:])
        assert first.verdict.credential.surname not in text  # type: ignore[operator]
        assert second.verdict.outcome is Outcome.UNKNOWN
        assert second.verdict.reasons == (Reason.UNRECOGNIZED,)
        assert svc.audit.count() == 2
        entries = svc.audit.recent(5)
        assert {e.channel for e in entries} == {"driver"}
        assert all(not re.search(r"\d{16}", str(e)) for e in entries)
        assert svc.healthy()
        await svc.stop()

    run(scenario())


def test_api_verification_raises_for_unrecognizable_input(
    state: tuple[config.Config, demo.DemoState],
) -> None:
    cfg, _ = state

    async def scenario() -> None:
        svc = Service(cfg)
        await svc.start()
        with pytest.raises(RecognitionError):
            await svc.verify(CredentialInput.from_text("hello"), who="t", channel="api")
        await svc.stop()

    run(scenario())


def test_a_crashing_driver_is_restarted(state: tuple[config.Config, demo.DemoState]) -> None:
    cfg, st = state
    _, _, item = demo.demo_samples(st)[0]
    driver = ScriptedDriver([item], crash_first=True)

    async def scenario() -> None:
        svc = Service(cfg, drivers=[driver])
        q = svc.bus.subscribe()
        await svc.start()
        event = await asyncio.wait_for(q.get(), 10)  # after the restart (1 s backoff)
        assert driver.runs == 2 and event.verdict.outcome is Outcome.VALID
        await svc.stop()

    run(scenario())


def test_health_follows_drivers(state: tuple[config.Config, demo.DemoState]) -> None:
    cfg, _ = state
    driver = ScriptedDriver([])

    async def scenario() -> None:
        svc = Service(cfg, drivers=[driver])
        await svc.start()
        await asyncio.sleep(0.05)
        assert svc.healthy()
        driver.health().set(DriverState.WAITING, "unplugged")  # waiting for a device is fine
        assert svc.healthy()
        driver.health().set(DriverState.FAILED, "gave up")
        assert not svc.healthy()
        assert svc.status()["drivers"][0]["state"] == "failed"
        await svc.stop()

    run(scenario())


def test_slow_subscribers_lose_old_events_not_the_service(
    state: tuple[config.Config, demo.DemoState],
) -> None:
    cfg, st = state
    _, _, item = demo.demo_samples(st)[1]

    async def scenario() -> None:
        svc = Service(cfg)
        svc.bus._queue_size = 3
        q = svc.bus.subscribe()
        await svc.start()
        for _ in range(6):
            await svc.verify(item, who="t", channel="api", publish=True)
        assert q.qsize() == 3
        assert [e.id for e in svc.bus.recent(10)][:1] == [max(e.id for e in svc.bus.recent(10))]
        await svc.stop()

    run(scenario())


def test_audit_retention_prunes_old_entries(
    tmp_path: Path, state: tuple[config.Config, demo.DemoState]
) -> None:
    from datetime import UTC, datetime, timedelta

    cfg, st = state
    _, _, item = demo.demo_samples(st)[1]

    async def scenario() -> None:
        svc = Service(cfg)
        await svc.start()
        await svc.verify(item, who="t", channel="api")
        n = svc.audit.count()
        assert svc.audit.prune(datetime.now(UTC) + timedelta(days=91)) == n
        assert svc.audit.count() == 0
        await svc.stop()

    run(scenario())


@pytest.mark.parametrize("mode", [LookupMode.OFFLINE, LookupMode.AUTO])
def test_verify_enp_is_verify_of_the_typed_number(
    state: tuple[config.Config, demo.DemoState], mode: LookupMode
) -> None:
    """The MIS's lane: the same verdict (but its moment), the same audit row, and no
    parsing: anything but 16 ASCII digits is refused."""
    cfg, _ = state
    enp = demo.demo_person_enp()

    async def go() -> tuple[Verdict, Verdict, int]:
        svc = Service(cfg)
        await svc.start()
        try:
            item = CredentialInput.from_text(enp, source="api:t", manual=True)
            a = await svc.verify(item, who="t", channel="api", mode=mode)
            b = await svc.verify_enp(enp, source="api:t", who="t", channel="api", mode=mode)
            for bad in ("504700082100497", "５０４７０００８２１００４９７９", " 5047000821004979"):
                with pytest.raises(ValueError, match="16 ASCII digits"):
                    await svc.verify_enp(bad, source="api:t", who="t", channel="api")
            return a, b, len(svc.audit.recent(10))
        finally:
            await svc.stop()

    a, b, rows = run(go())  # type: ignore[misc]
    assert dataclasses.replace(a, checked_at=b.checked_at, snapshot=b.snapshot) == b
    assert rows >= 2


def test_verify_enp_now_is_the_offline_verify_enp_on_the_calling_thread(
    state: tuple[config.Config, demo.DemoState],
) -> None:
    """What the daemon's protocol answers the MIS's offline lookup with, no task: the same
    verdict as verify_enp offline (but its moment), an audit row each, the same refusal of
    anything but 16 ASCII digits."""
    cfg, _ = state
    enp = demo.demo_person_enp()

    async def go() -> tuple[Verdict, Verdict, int, int]:
        svc = Service(cfg)
        await svc.start()
        try:
            assert svc.audit.flush(5)
            before = len(svc.audit.recent(1000))
            a = await svc.verify_enp(
                enp, source="api:t", who="t", channel="api", mode=LookupMode.OFFLINE
            )
            b = svc.verify_enp_now(enp, source="api:t", who="t", channel="api")
            for bad in ("504700082100497", "５０４７０００８２１００４９７９", " 5047000821004979"):
                with pytest.raises(ValueError, match="16 ASCII digits"):
                    svc.verify_enp_now(bad, source="api:t", who="t", channel="api")
            svc.audit.flush(5)
            return a, b, before, len(svc.audit.recent(1000))
        finally:
            await svc.stop()

    a, b, before, after = run(go())  # type: ignore[misc]
    assert dataclasses.replace(a, checked_at=b.checked_at, snapshot=b.snapshot) == b
    assert after - before == 2
