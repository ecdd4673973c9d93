"""The snapshot sync survives hostile registry data (issue 10, finding 8).

A real reference registry on loopback serves a nested trust list, garbage trust lists and a
snapshot whose header is ``[`` × 8000. Each round ends with the status saying why (a code, no
personal data) and when it tries next; a later good round succeeds. The daemon's sync task is
supervised: a round that fails keeps the loop alive, and a loop that dies is restarted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cache.snapshot_store import SnapshotRefused
from tests.trust_helpers import write_key
from verifier import config
from verifier.crypto import Algorithm, PrivateKey, generate_private_key, sign
from verifier.devkit.generator import GeneratedRegister, generate
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import Assembly, assemble
from verifier.service.core import Service
from verifier.service.sync import SnapshotSync, SyncError, describe

TOKEN = "sync-test-token-0123456789"
NESTED = b"[" * 8000 + b"]" * 8000


@dataclass
class Registry:
    gen: GeneratedRegister
    data: Path  # the served data directory (a copy the test may change)
    server: ThreadedServer
    list_key: PrivateKey

    def serve_trust_list(self, doc: bytes, sig: bytes) -> None:
        (self.data / "trust-list.json").write_bytes(doc)
        (self.data / "trust-list.sig").write_bytes(sig)

    def signed_list(self, version: object, **fields: object) -> tuple[bytes, bytes]:
        body = {"signer": self.list_key.public_key().key_id(), "version": version, "keys": []}
        doc = json.dumps({**body, **fields}).encode()
        return doc, sign(self.list_key, doc)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedRegister:
    return generate(tmp_path_factory.mktemp("gen"), persons=300, region="50", seed=808)


@pytest.fixture(scope="module")
def list_key() -> PrivateKey:
    return generate_private_key(Algorithm.GOST2012_256, "A")


@pytest.fixture
def registry(
    tmp_path: Path, generated: GeneratedRegister, list_key: PrivateKey
) -> Iterator[Registry]:
    data = tmp_path / "data"
    shutil.copytree(generated.out_dir, data)
    cfg = ServerConfig(
        data_dir=data, port=0, tokens=(TOKEN,), state_dir=tmp_path / "srv", log_level="warning"
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield Registry(generated, data, srv, list_key)


def client_cfg(state: Path, reg: Registry) -> config.Config:
    trust = state / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(reg.gen.public_key_pem, trust / "registry.pub.pem")
    (trust / "registry.toml").write_text('purpose = "snapshot"\npublic_key = "registry.pub.pem"\n')
    write_key(trust, "trust-list", "trust_list", reg.list_key.public_key().to_pem())
    return config.load(None, str(state), registry_url=reg.server.url, registry_token=TOKEN)


@pytest.fixture
def parts(tmp_path: Path, registry: Registry) -> Iterator[Assembly]:
    p = assemble(client_cfg(tmp_path / "state", registry))
    yield p
    p.close()


def sync_of(parts: Assembly) -> SnapshotSync:
    assert parts.client is not None
    return SnapshotSync(parts.client, parts.store, parts.trust)


def run_round(parts: Assembly, sync: SnapshotSync) -> object:
    assert parts.loop is not None
    return parts.loop.call(sync.run_once, 60)


def nested_header_file(real: bytes) -> bytes:
    """A snapshot file whose header is ``[`` × 8000 (everything after it kept)."""
    (hlen,) = struct.unpack_from(">I", real, 8)
    return real[:8] + struct.pack(">I", len(NESTED)) + NESTED + real[12 + hlen :]


# --- trust lists: refused with a code, the round goes on, a later good list is applied --------


def garbage_lists(reg: Registry) -> dict[str, tuple[bytes, bytes]]:
    return {
        "nested": (NESTED, b"\x00" * 64),
        "nested_in_a_field": (b'{"signer": "x", "version": 2, "keys": ' + NESTED + b"}", b""),
        "not_json": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"\x00" * 64),
        "keys_not_a_list": reg.signed_list(2, keys=5),
        "version_a_string": reg.signed_list("2"),
        "entry_not_an_object": reg.signed_list(2, keys=[5]),
    }


CASES = [
    "nested",
    "nested_in_a_field",
    "not_json",
    "keys_not_a_list",
    "version_a_string",
    "entry_not_an_object",
]


@pytest.mark.parametrize("case", CASES)
def test_hostile_trust_list_is_refused_and_the_sync_goes_on(
    registry: Registry, parts: Assembly, case: str
) -> None:
    registry.serve_trust_list(*garbage_lists(registry)[case])
    sync = sync_of(parts)
    results = run_round(parts, sync)
    # The snapshot still syncs: a bad trust list must not freeze the register.
    assert [r.sequence for r in results] == [1, 2, 3]  # type: ignore[attr-defined]
    st = sync.status
    assert st.last_error is None and st.last_success is not None
    assert st.next_attempt is not None and st.next_attempt > datetime.now(UTC)
    assert st.trust_list_error is not None
    assert st.trust_list_error.startswith("trust_list_malformed: ")
    assert st.trust_list_failures_total == 1
    assert parts.trust.list_version is None  # nothing from the refused list
    assert sync.status.to_dict()["trust_list_error"] == st.trust_list_error
    # The registry fixes its list: the next round applies it and clears the error.
    registry.serve_trust_list(*registry.signed_list(2))
    assert run_round(parts, sync) == []
    assert parts.trust.list_version == 2
    assert sync.status.trust_list_error is None
    assert sync.status.trust_list_failures_total == 1


# --- a snapshot with a nested header: a failed round, backoff, then a good round -----------


def test_nested_snapshot_header_fails_the_round_with_a_code_and_a_retry(
    registry: Registry, parts: Assembly
) -> None:
    full = registry.data / "full-000001.omssnap"
    real = full.read_bytes()
    full.write_bytes(nested_header_file(real))  # after the server checked its files at start
    sync = sync_of(parts)
    before = datetime.now(UTC)
    with pytest.raises(SnapshotRefused) as exc:
        run_round(parts, sync)
    assert exc.value.code == "bad_snapshot"
    st = sync.status
    assert st.last_error is not None and st.last_error.startswith("bad_snapshot: ")
    assert "nests deeper" in st.last_error
    assert st.next_attempt is not None and st.next_attempt > before
    assert st.consecutive_failures == 1 and st.failures_total == 1
    assert st.last_success is None and parts.store.info().sequence is None
    d = st.to_dict()
    assert d["last_error"] == st.last_error and d["failures_total"] == 1
    assert d["next_attempt"] is not None
    # A second bad round backs off further and counts on.
    with pytest.raises(SnapshotRefused):
        run_round(parts, sync)
    assert st.consecutive_failures == 2 and st.failures_total == 2
    # The registry serves the real file again: the next round succeeds.
    full.write_bytes(real)
    results = run_round(parts, sync)
    assert [r.sequence for r in results] == [1, 2, 3]  # type: ignore[attr-defined]
    assert st.last_error is None and st.consecutive_failures == 0
    assert st.failures_total == 2 and st.sequence == 3


# --- the round boundary catches what is not a typed error ------------------------------------


class ExplodingList(Exception):
    """Not an OmsError: what a bug somewhere in a round would raise."""


def test_an_unexpected_error_in_a_round_is_recorded_typed_and_retried(
    registry: Registry, parts: Assembly, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = sync_of(parts)
    calls = {"n": 0}
    real_apply = parts.trust.apply_trust_list

    def apply(doc: bytes, sig: bytes) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ExplodingList("Иванов 1234567890123456")  # text must not reach the status
        return real_apply(doc, sig)

    registry.serve_trust_list(*registry.signed_list(1))
    monkeypatch.setattr(parts.trust, "apply_trust_list", apply)
    with pytest.raises(SyncError) as exc:
        run_round(parts, sync)
    assert exc.value.code == "sync_internal_error"
    st = sync.status
    assert st.last_error == "sync_internal_error: ExplodingList"
    assert st.next_attempt is not None and st.failures_total == 1
    run_round(parts, sync)
    assert st.last_error is None and parts.trust.list_version == 1 and st.sequence == 3


def test_describe_keeps_personal_data_out_of_the_status() -> None:
    err = SnapshotRefused("duplicate ENP 5012345678901234 in " + "x" * 500, code="bad_snapshot")
    text = describe(err)
    assert text.startswith("bad_snapshot: duplicate ENP …")
    assert "5012345678901234" not in text and len(text) <= 220
    assert describe(KeyError("Иванова")) == "sync_internal_error: KeyError"


# --- the daemon: the sync task lives through failures and is restarted if it dies ----------


async def wait_for(cond: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    """Poll until ``cond`` holds; the limit only bounds a hung test, it asserts no timing."""
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for: {what}")
        await asyncio.sleep(0.05)


def test_daemon_sync_survives_a_nested_header_and_a_refresh_runs_a_round(
    tmp_path: Path, registry: Registry
) -> None:
    full = registry.data / "full-000001.omssnap"
    real = full.read_bytes()
    full.write_bytes(nested_header_file(real))
    registry.serve_trust_list(NESTED, b"")
    cfg = client_cfg(tmp_path / "state", registry)

    async def scenario() -> None:
        svc = Service(cfg)
        assert svc.sync is not None
        await svc.start()
        try:
            st = svc.sync.status
            await wait_for(lambda: st.last_error is not None, "a failed round in the status")
            assert st.last_error is not None and st.last_error.startswith("bad_snapshot: ")
            assert st.next_attempt is not None and st.next_attempt > datetime.now(UTC)
            assert st.trust_list_error is not None
            assert st.trust_list_error.startswith("trust_list_malformed: ")
            status = svc.status()["sync"]
            assert status["failures_total"] >= 1 and status["last_error"] == st.last_error
            # The registry recovers; a refresh request wakes the (living) loop at once.
            full.write_bytes(real)
            registry.serve_trust_list(*registry.signed_list(4))
            assert svc.request_sync()
            await wait_for(lambda: st.last_success is not None, "a good round after refresh")
            assert st.last_error is None and st.sequence == 3
            assert svc.parts.trust.list_version == 4 and st.trust_list_error is None
            assert st.task_restarts == 0
        finally:
            await svc.stop()

    asyncio.run(scenario())


class CrashOnceService(Service):
    """A daemon whose first sync round dies outside the round fence (a bug in the loop)."""

    crashed = 0

    async def _sync_round(self, sync: SnapshotSync, loop: asyncio.AbstractEventLoop) -> None:
        if not self.crashed:
            self.crashed += 1
            raise ZeroDivisionError("loop bug")
        await super()._sync_round(sync, loop)


def test_a_dead_sync_loop_is_restarted_and_says_so(tmp_path: Path, registry: Registry) -> None:
    cfg = client_cfg(tmp_path / "state", registry)

    async def scenario() -> None:
        svc = CrashOnceService(cfg)
        assert svc.sync is not None
        await svc.start()
        try:
            st = svc.sync.status
            await wait_for(lambda: st.task_restarts == 1, "the supervisor's restart")
            await wait_for(lambda: st.last_success is not None, "a good round after restart")
            assert svc.crashed == 1 and st.sequence == 3 and st.last_error is None
            assert svc.status()["sync"]["task_restarts"] == 1
        finally:
            await svc.stop()

    asyncio.run(scenario())
