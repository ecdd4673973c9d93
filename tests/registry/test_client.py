"""The online registry client and the fallback policy against the real reference service.

Every fault the service can inject must end in a clean verdict within the budget — `unknown`
with a reason, or the snapshot's answer with its freshness — and never a false `valid`.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cache.snapshot_store import SnapshotRefused
from tests.registry.conftest import TOKEN, Register, make_cfg
from verifier.checks.context import LookupMode
from verifier.credential import CredentialInput
from verifier.registry.breaker import BreakerState
from verifier.registry.client import ClientConfig, HttpRegistryClient, RegistryUnavailable
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import Assembly, answer_verifier, assemble, import_snapshot
from verifier.service.sync import SnapshotSync
from verifier.verdict import Outcome, Reason


def put_faults(server: ThreadedServer, **faults: Any) -> None:
    r = httpx.put(
        f"{server.url}/_faults", json=faults, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200, r.text


@pytest.fixture
def faults(server: ThreadedServer) -> Iterator[ThreadedServer]:
    yield server
    httpx.delete(f"{server.url}/_faults", headers={"Authorization": f"Bearer {TOKEN}"})


@pytest.fixture
def online(tmp_path: Path, register: Register, faults: ThreadedServer) -> Iterator[Assembly]:
    parts = assemble(make_cfg(tmp_path, register, faults.url))
    yield parts
    parts.close()


@pytest.fixture
def with_snapshot(tmp_path: Path, register: Register, faults: ThreadedServer) -> Iterator[Assembly]:
    cfg = make_cfg(tmp_path, register, faults.url)
    parts = assemble(cfg)
    for f in register.gen.files:
        import_snapshot(cfg, parts.store, parts.trust, str(f))
    yield parts
    parts.close()


def row(register: Register, status: str) -> dict[str, str]:
    return next(r for r in register.live if r["status"] == status and r["sequence"] == "3")


def any_row(register: Register, status: str) -> dict[str, str]:
    return next(r for r in register.live if r["status"] == status)


def verify(parts: Assembly, enp: str, mode: LookupMode, fresh: bool = False) -> Any:
    item = CredentialInput.from_text(enp, source="test", manual=True)
    t0 = time.perf_counter()
    v = parts.pipeline.verify(item, mode=mode, fresh=fresh)
    return v, time.perf_counter() - t0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [("active", Outcome.VALID), ("suspended", Outcome.SUSPENDED), ("annulled", Outcome.ANNULLED)],
)
def test_online_answers_match_the_register(
    online: Assembly, register: Register, status: str, outcome: Outcome
) -> None:
    r = any_row(register, status)
    v, _ = verify(online, r["enp"], LookupMode.ONLINE)
    assert v.outcome is outcome and v.source == "registry"
    assert v.answered_at is not None and v.proof is not None  # kept for the audit log


def test_unknown_enp_online_is_not_insured(online: Assembly, register: Register) -> None:
    deleted = register.deleted[0]["enp"]
    v, _ = verify(online, deleted, LookupMode.ONLINE)
    assert v.outcome is Outcome.NOT_INSURED and v.source == "registry"


def test_answers_are_cached_with_a_shorter_negative_ttl(
    online: Assembly, register: Register
) -> None:
    r = any_row(register, "active")
    verify(online, r["enp"], LookupMode.ONLINE)
    requests = online.client.stats["requests"]  # type: ignore[union-attr]
    v, _ = verify(online, r["enp"], LookupMode.ONLINE)
    assert v.outcome is Outcome.VALID
    assert online.client.stats["requests"] == requests  # type: ignore[union-attr]
    assert online.cache is not None and online.cache.negative_ttl < online.cache.ttl
    v2, _ = verify(online, r["enp"], LookupMode.ONLINE, fresh=True)  # fresh bypasses the cache
    assert v2.outcome is Outcome.VALID
    assert online.client.stats["requests"] == requests + 1  # type: ignore[union-attr]


FAULTS = {
    "latency": {"latency_ms": 2000},
    "5xx": {"error_rate": 1.0, "error_status": 503},
    "reset": {"reset_rate": 1.0},
    "garbage": {"garbage_rate": 1.0},
    "wrong_signature": {"wrong_signature_rate": 1.0},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_gives_unknown_within_budget_online(
    online: Assembly, register: Register, faults: ThreadedServer, fault: str
) -> None:
    put_faults(faults, **FAULTS[fault])
    r = any_row(register, "active")
    v, _took = verify(online, r["enp"], LookupMode.ONLINE)  # the budget's timing: bench/
    assert v.outcome is Outcome.UNKNOWN
    assert v.reasons == (Reason.REGISTRY_UNAVAILABLE,)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_in_auto_mode_keeps_the_snapshot_answer(
    with_snapshot: Assembly, register: Register, faults: ThreadedServer, fault: str
) -> None:
    put_faults(faults, **FAULTS[fault])
    r = row(register, "active")
    v, _took = verify(with_snapshot, r["enp"], LookupMode.AUTO, fresh=True)
    assert v.outcome is Outcome.VALID and v.source == "snapshot"
    assert v.snapshot is not None and v.snapshot.state == "fresh"
    assert "registry_error" in v.extra


def test_wrong_signature_is_never_valid_even_for_an_unknown_enp(
    online: Assembly, register: Register, faults: ThreadedServer
) -> None:
    put_faults(faults, wrong_signature_rate=1.0)
    for r in register.live[:5]:
        v, _ = verify(online, r["enp"], LookupMode.ONLINE)
        assert v.outcome is not Outcome.VALID


def test_breaker_opens_and_closes(register: Register, faults: ThreadedServer) -> None:
    async def run() -> None:
        client = HttpRegistryClient(
            ClientConfig(faults.url, TOKEN, budget_s=0.5, breaker_failures=3, breaker_reset_s=0.5)
        )
        enp = any_row(register, "active")["enp"]
        put_faults(faults, error_rate=1.0)
        for _ in range(3):
            with pytest.raises(RegistryUnavailable):
                await client.lookup_enp(enp)
        assert client.breaker.state is BreakerState.OPEN
        sent = client.stats["requests"]
        with pytest.raises(RegistryUnavailable) as exc:
            await client.lookup_enp(enp)
        assert exc.value.code == "registry_breaker_open"
        assert client.stats["requests"] == sent  # no traffic to a dead registry
        httpx.delete(f"{faults.url}/_faults", headers={"Authorization": f"Bearer {TOKEN}"})
        await asyncio.sleep(0.6)
        assert client.breaker.state is BreakerState.HALF_OPEN
        answer = await client.lookup_enp(enp)  # the probe
        assert answer is not None and client.breaker.state is BreakerState.CLOSED
        await client.aclose()

    asyncio.run(run())


def test_answer_signature_is_verified_with_the_trust_store(
    online: Assembly, register: Register
) -> None:
    async def run() -> None:
        client = HttpRegistryClient(
            ClientConfig(online.client.cfg.base_url, TOKEN),  # type: ignore[union-attr]
            verify_answer=answer_verifier(online.trust),
        )
        answer = await client.lookup_enp(any_row(register, "active")["enp"])
        assert answer is not None and answer.key_id == register.gen.key_id
        await client.aclose()

    asyncio.run(run())


def test_retries_stay_inside_the_budget(register: Register, faults: ThreadedServer) -> None:
    async def run() -> None:
        client = HttpRegistryClient(ClientConfig(faults.url, TOKEN, budget_s=0.4, max_attempts=10))
        put_faults(faults, error_rate=1.0)
        t0 = time.perf_counter()
        with pytest.raises(RegistryUnavailable):
            await client.lookup_enp(any_row(register, "active")["enp"])
        assert time.perf_counter() - t0 < 0.7
        assert client.stats["retries"] >= 1
        await client.aclose()

    asyncio.run(run())


# --- sync ---------------------------------------------------------------------------------------


def _sync(parts: Assembly) -> SnapshotSync:
    assert parts.client is not None
    return SnapshotSync(parts.client, parts.store, parts.trust)


def test_sync_recovers_after_an_outage(
    online: Assembly, register: Register, faults: ThreadedServer
) -> None:
    sync = _sync(online)
    loop = online.loop
    assert loop is not None and loop.loop.is_running()  # a registry URL starts the loop thread
    put_faults(faults, error_rate=1.0)
    with pytest.raises(RegistryUnavailable):
        loop.call(sync.run_once, 30)
    assert sync.status.consecutive_failures == 1 and sync.status.last_error
    assert sync.status.next_attempt is not None
    assert online.store.info().sequence is None
    httpx.delete(f"{faults.url}/_faults", headers={"Authorization": f"Bearer {TOKEN}"})
    results = loop.call(sync.run_once, 60)
    assert [r.sequence for r in results] == [1, 2, 3]
    assert sync.status.last_error is None and sync.status.sequence == 3
    assert sync.status.clock_skew_s is not None and abs(sync.status.clock_skew_s) < 5
    v, _ = verify(online, row(register, "active")["enp"], LookupMode.OFFLINE)
    assert v.outcome is Outcome.VALID and v.source == "snapshot"
    assert loop.call(sync.run_once, 30) == []  # up to date: nothing downloaded


def test_mis_signed_delta_is_refused_and_the_store_keeps_serving(
    tmp_path: Path, register: Register
) -> None:
    data = tmp_path / "data"
    shutil.copytree(register.data_dir, data)
    cfg_s = ServerConfig(data_dir=data, port=0, tokens=(TOKEN,), state_dir=tmp_path / "srv")
    with ThreadedServer(create_app(cfg_s), cfg_s) as srv:
        # The service verified its files at start; now a delta on disk is tampered with.
        delta = data / "delta-000003.omssnap"
        raw = bytearray(delta.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        delta.write_bytes(bytes(raw))
        parts = assemble(make_cfg(tmp_path / "state", register, srv.url))
        try:
            sync = _sync(parts)
            assert parts.loop is not None
            with pytest.raises(SnapshotRefused) as exc:
                parts.loop.call(sync.run_once, 60)
            assert exc.value.code == "snapshot_signature"
            assert parts.store.info().sequence == 2  # full + first delta applied, bad one refused
            enp = next(r["enp"] for r in register.live if r["sequence"] == "1")
            v, _ = verify(parts, enp, LookupMode.OFFLINE)
            assert v.source == "snapshot" and v.outcome is not Outcome.UNKNOWN
        finally:
            parts.close()
