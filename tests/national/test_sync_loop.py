"""The daemon's national sync against the real reference registry on loopback.

The registry serves a generated national register from ``<data>/national/`` (static files,
ranges); the desk's sync reads its manifest, downloads resumably, imports through the national
importer (GOST signatures checked) — a dropped connection resumes, a tampered file is refused
while the region keeps serving what it held, and ``snapshot update`` and the daemon use it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cache.national_store import NationalStore
from cache.snapshot_store import SnapshotRefused
from tests.national.conftest import CREATED
from tests.national.helpers import SEED, check, sample
from verifier import config
from verifier.cli import main
from verifier.devkit.generator import generate
from verifier.devkit.national_generator import NationalRegister, generate_national
from verifier.registry.national_sync import DownloadError
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import Assembly, assemble, national_dir
from verifier.service.core import Service
from verifier.service.national_sync_loop import NationalSync, parse_manifest, plan_region

TOKEN = "national-sync-token-0123456789"
REGIONS = ("01", "50", "92")


@pytest.fixture(scope="module")
def reg3(tmp_path_factory: pytest.TempPathFactory) -> NationalRegister:
    """Three regions, two deltas each; region 50's part is a few MB (room to cut it)."""
    out = tmp_path_factory.mktemp("nsync")
    return generate_national(
        out, persons=3_000_000, seed=SEED, deltas=2, created_at=CREATED, regions=REGIONS
    )


@dataclass
class Registry:
    data: Path
    server: ThreadedServer

    @property
    def national(self) -> Path:
        return self.data / "national"

    def faults(self, **settings: object) -> None:
        with httpx.Client(base_url=self.server.url, headers=_auth()) as c:
            if settings:
                c.put("/_faults", json=settings).raise_for_status()
            else:
                c.delete("/_faults").raise_for_status()


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def registry(reg3: NationalRegister, tmp_path: Path) -> Iterator[Registry]:
    data = tmp_path / "data"
    generate(data, persons=50, region="50", seed=SEED, deltas=0)  # same demo key as reg3
    shutil.copytree(reg3.out_dir, data / "national")
    (data / "national" / "sample.csv").unlink()  # never served anyway; not needed there
    cfg = ServerConfig(
        data_dir=data,
        port=0,
        tokens=(TOKEN,),
        faults=True,
        state_dir=tmp_path / "srv",
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield Registry(data, srv)


def desk_cfg(state: Path, reg3: NationalRegister, url: str) -> config.Config:
    trust = state / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(reg3.public_key_pem, trust / "registry.pub.pem")
    (trust / "registry.toml").write_text('purpose = "snapshot"\npublic_key = "registry.pub.pem"\n')
    return config.load(None, str(state), registry_url=url, registry_token=TOKEN)


def seeded_desk(
    tmp_path: Path, reg3: NationalRegister, registry: Registry, files: list[str]
) -> config.Config:
    """A desk whose national store already holds ``files`` (its first `snapshot import`)."""
    cfg = desk_cfg(tmp_path / "state", reg3, registry.server.url)
    store = NationalStore(national_dir(cfg))
    for name in files:
        store.import_file(reg3.out_dir / name, check)
    store.close()
    return cfg


class Recorder:
    """The sync's own HTTP client, with every response's path and status noted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[str, int]] = []

    def __call__(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers=_auth(),
            timeout=30,
            event_hooks={"response": [lambda r: self.seen.append((r.url.path, r.status_code))]},
        )


def sync_for(parts: Assembly, recorder: Recorder, state: Path) -> NationalSync:
    assert parts.client is not None and isinstance(parts.store, NationalStore)
    return NationalSync(parts.client, parts.store, parts.trust, download_dir=state, http=recorder)


def run_round(parts: Assembly, sync: NationalSync) -> list[object]:
    assert parts.loop is not None
    return list(parts.loop.call(sync.run_once, 120))


def assert_final_state(store: NationalStore, reg3: NationalRegister) -> None:
    rows = sample(reg3.out_dir)
    assert {r["enp"][:2] for r in rows} == set(REGIONS)
    for r in rows:
        rec = store.lookup_enp(r["enp"])
        if r["deleted"] == "yes":
            assert rec is None, r["enp"]
        else:
            assert rec is not None and rec.status.name.lower() == r["status"], r["enp"]
    for region in REGIONS:
        assert store.region_info(region).sequence == 3


def test_manifest_plan() -> None:
    """Bare generator names chain by order; exporter entries carry their base."""
    raw = json.dumps(
        {"files": ["part-50-000001.omsnat", "delta-50-000002.omssnap", "delta-50-000003.omssnap",
                   "sample.csv", "../x", 7]}
    ).encode()  # fmt: skip
    files = parse_manifest(raw)
    assert plan_region(files, None) == [
        "part-50-000001.omsnat",
        "delta-50-000002.omssnap",
        "delta-50-000003.omssnap",
    ]
    assert plan_region(files, 2) == ["delta-50-000003.omssnap"]
    assert plan_region(files, 3) == []
    assert plan_region(files, 7) == []  # nothing newer: never go back
    exported = parse_manifest(
        json.dumps(
            {"files": [
                {"name": "part-77-000010.omsnat", "kind": "part", "sequence": 10},
                {"name": "delta-77-000012.omssnap", "base_sequence": 10},
                {"name": "part-77-000020.omsnat"},
                {"name": "delta-77-000025.omssnap", "base_sequence": 20},
            ]}
        ).encode()
    )  # fmt: skip
    assert plan_region(exported, 10) == ["delta-77-000012.omssnap"]
    assert plan_region(exported, 12) == ["part-77-000020.omsnat", "delta-77-000025.omssnap"]
    assert plan_region(exported, 10, full=True) == [
        "part-77-000020.omsnat",
        "delta-77-000025.omssnap",
    ]


def test_dropped_download_resumes_and_everything_syncs(
    reg3: NationalRegister, registry: Registry, tmp_path: Path
) -> None:
    cfg = seeded_desk(tmp_path, reg3, registry, ["part-01-000001.omsnat"])
    parts = assemble(cfg)
    try:
        rec = Recorder(registry.server.url)
        sync = sync_for(parts, rec, tmp_path / "state")
        cut = 1_000_000
        registry.faults(cut_after_bytes=cut, paths="/v1/national/part-50-")
        with pytest.raises(DownloadError) as err:
            run_round(parts, sync)
        assert err.value.code == "download_failed"
        assert sync.status.last_error is not None
        assert sync.status.last_error.startswith("download_failed")
        assert sync.status.consecutive_failures == 1 and sync.status.next_attempt is not None
        store = parts.store
        assert isinstance(store, NationalStore)
        # The other regions went on: 01 took its deltas, 92 its part and deltas.
        assert store.region_info("01").sequence == 3 and store.region_info("92").sequence == 3
        assert store.region_info("50").sequence is None
        partial = sync.work / "part-50-000001.omsnat.partial"
        assert partial.stat().st_size == cut
        registry.faults()
        rec.seen.clear()
        results = run_round(parts, sync)
        assert len(results) == 3  # region 50: its part, then two deltas
        assert ("/v1/national/part-50-000001.omsnat", 206) in rec.seen  # resumed, not restarted
        assert ("/v1/national/part-50-000001.omsnat", 200) not in rec.seen
        assert not partial.exists()
        assert sync.status.last_error is None and sync.status.consecutive_failures == 0
        assert sync.status.clock_skew_s is not None
        assert_final_state(store, reg3)
        assert store.info().last_sync_at is not None  # freshness for /v1/status
        # Nothing newer: a round fetches only the manifest.
        rec.seen.clear()
        assert run_round(parts, sync) == []
        assert [p for p, _ in rec.seen] == ["/v1/national/manifest.json"]
    finally:
        parts.close()


def test_tampered_file_is_refused_and_the_old_data_serves(
    reg3: NationalRegister, registry: Registry, tmp_path: Path
) -> None:
    cfg = seeded_desk(tmp_path, reg3, registry, [f"part-{r}-000001.omsnat" for r in REGIONS])
    served = registry.national / "delta-50-000002.omssnap"
    good = served.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x01  # inside the records, past the header
    served.write_bytes(bytes(bad))
    parts = assemble(cfg)
    try:
        sync = sync_for(parts, Recorder(registry.server.url), tmp_path / "state")
        store = parts.store
        assert isinstance(store, NationalStore)
        before = {r["enp"]: store.lookup_enp(r["enp"]) for r in sample(reg3.out_dir)}
        with pytest.raises(SnapshotRefused) as err:
            run_round(parts, sync)
        assert err.value.code == "snapshot_signature"
        assert sync.status.last_error is not None
        assert sync.status.last_error.startswith("snapshot_signature")
        assert store.region_info("50").sequence == 1  # the tampered delta changed nothing
        for enp, rec in before.items():
            if enp.startswith("50"):
                assert store.lookup_enp(enp) == rec is not None
        assert store.region_info("01").sequence == 3  # other regions were not held back
        assert not (sync.work / served.name).exists()  # a refused file is not kept
        served.write_bytes(good)  # the registry fixes its file: the next round takes it
        run_round(parts, sync)
        assert_final_state(store, reg3)
    finally:
        parts.close()


def test_snapshot_update_cli_and_daemon_use_the_national_sync(
    reg3: NationalRegister, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = seeded_desk(tmp_path, reg3, registry, ["part-92-000001.omsnat"])

    async def daemon() -> None:
        svc = Service(cfg)
        try:
            assert isinstance(svc.sync, NationalSync)
        finally:
            svc.parts.close()

    asyncio.run(daemon())
    state = str(tmp_path / "state")
    argv = ["--state-dir", state, "--registry-url", registry.server.url,
            "--registry-token", TOKEN, "snapshot", "update", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(out["imported"]) == 2 + 3 + 3  # 92's deltas; 01 and 50 part + deltas
    assert out["last_error"] is None
    store = NationalStore(national_dir(cfg))
    assert_final_state(store, reg3)
    store.close()


def test_national_switch_lets_the_first_sync_create_the_store(
    reg3: NationalRegister, registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A brand-new desk with ``[register] national = true``: no import first, the sync fills it."""
    state = tmp_path / "state"
    desk_cfg(state, reg3, registry.server.url)  # the trusted registry key only
    conf = tmp_path / "desk.toml"
    conf.write_text("[register]\nnational = true\n", encoding="utf-8")
    base = ["--config", str(conf), "--state-dir", str(state)]
    cfg = config.load(str(conf), str(state), registry_url=registry.server.url)
    assert cfg.register.national and not (national_dir(cfg) / "MANIFEST.json").exists()
    argv = [*base, "--registry-url", registry.server.url, "--registry-token", TOKEN,
            "snapshot", "update", "--json"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["last_error"] is None and len(out["imported"]) == 3 * 3  # 3 regions, part + 2
    store = NationalStore(national_dir(cfg))
    assert_final_state(store, reg3)
    store.close()
    # Without the switch, the same empty state is a regional desk (nothing national to sync).
    conf.write_text("[register]\n", encoding="utf-8")
    assert not config.load(str(conf), str(tmp_path / "other")).register.national
