"""The adversarial suite's fixtures: one world, real servers, the daemon's own assembly.

Session-scoped and built once: real GOST keys, a generated register (the registry generator,
signed with a fresh registry key), snapshots imported into real SQLite stores through
``import_snapshot``, trust directories as ``trust add`` writes them, the reference registry
service on loopback (several instances: now, a 2019 clock with an old world, 2099, +400 days),
and a forging HTTP server in front of them. Pipelines come from ``assemble(cfg)`` exactly as
the daemon builds them; only the pipeline's clock is injected, for the clock setups.
"""

from __future__ import annotations

import json
import os
import random
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.adversarial.cases import Pools
from tests.adversarial.forger import Forger
from tests.adversarial.oracle import Setup
from tests.adversarial.world import (
    Issuer,
    Keys,
    Mint,
    Register,
    Truth,
    aliases_of,
    generate_register,
    make_keys,
    records_of,
    registry_data_dir,
    revocations_of,
    trust_dir,
    write_snapshot,
)
from verifier.checks.context import LookupMode
from verifier.config import Config, RegisterConfig, RegistryConfig
from verifier.credential import CredentialInput
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.service.assembly import Assembly, assemble, import_snapshot
from verifier.verdict import Verdict

ROOT = Path(__file__).resolve().parents[2]
COUNTS_FILE = ROOT / "artifacts" / "adversarial-counts.json"
TOKEN = "adversarial-token-0123456789"
AUTO, OFF, ON = LookupMode.AUTO, LookupMode.OFFLINE, LookupMode.ONLINE
ALL_MODES = ((AUTO, False), (AUTO, True), (OFF, False), (ON, False))
ONLINE_MODES = ((AUTO, False), (AUTO, True), (ON, False))
OVER_SNAPSHOT = ((ON, False), (AUTO, True))
DAYS = timedelta(days=1)

SETUPS: tuple[Setup, ...] = (
    Setup("base", modes=ALL_MODES),
    Setup("no_paper_key", trust="nopaper", modes=ALL_MODES),
    Setup("no_match_key", match=False, modes=ALL_MODES),
    Setup("no_keys_no_match_key", trust="snaponly", match=False, modes=ALL_MODES),
    Setup("trust_list_revokes_root_and_paper_key", trust="revlist", modes=ALL_MODES),
    Setup("revocations_expired_registry_down", snapshot="revexp", registry="down", modes=ALL_MODES),
    Setup("revocations_expired_online", snapshot="revexp", modes=ONLINE_MODES),
    Setup("no_snapshot_online", snapshot="absent", modes=ONLINE_MODES),
    Setup("no_snapshot_registry_down", snapshot="absent", registry="down", modes=ONLINE_MODES),
    Setup("snapshot_expired_registry_down", snapshot="expired", registry="down", modes=ALL_MODES),
    Setup("snapshot_expired_online", snapshot="expired", modes=ONLINE_MODES),
    Setup("clock_400d_behind_offline", registry="down", clock_offset=-400 * DAYS, modes=ALL_MODES),
    Setup("clock_400d_behind_online", clock_offset=-400 * DAYS, modes=ALL_MODES),
    Setup("clock_10d_ahead_offline", registry="down", clock_offset=10 * DAYS, modes=ALL_MODES),
    Setup("registry_clock_400d_ahead", snapshot="absent", registry="plus400", modes=ONLINE_MODES),
    *(
        Setup(
            f"registry_{mode}",
            snapshot="absent",
            registry=mode,
            modes=ONLINE_MODES,
            reassemble_every=0 if mode == "error" else 5,
        )
        for mode in (
            "replay",
            "replay_recent",
            "stale",
            "future",
            "cross",
            "flip",
            "hostile",
            "error",
        )
    ),
    *(
        Setup(
            f"registry_{mode}_over_snapshot", registry=mode, modes=OVER_SNAPSHOT, reassemble_every=5
        )
        for mode in ("replay", "replay_recent", "stale", "future", "cross", "flip")
    ),
)


@dataclass
class World:
    keys: Keys
    register: Register
    truth: Truth
    mint: Mint
    issuer: Issuer
    pools: Pools
    base: Path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("adversarial")
    keys = make_keys()
    reg = generate_register(base / "registry-now", keys.registry)
    mint = Mint()
    return World(
        keys, reg, reg.truth, mint, Issuer(keys, mint), Pools(reg.truth, random.Random(7)), base
    )


def _server(data_dir: Path, state: Path, clock: Callable[[], datetime]) -> ThreadedServer:
    cfg = ServerConfig(
        data_dir=data_dir, port=0, tokens=(TOKEN,), state_dir=state, log_level="warning"
    )
    app = create_app(cfg)
    app.state.registry.clock = clock
    return ThreadedServer(app, cfg)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Net:
    urls: dict[str, str]
    forger: Forger


@pytest.fixture(scope="session")
def net(world: World) -> Iterator[Net]:
    """The reference registry (now, 2019, 2099, +400 days) and the forger in front of them."""
    b, keys, truth, mk = world.base, world.keys, world.truth, world.register.match_key
    old = registry_data_dir(b / "registry-old", keys.registry, mk, truth, old_world=True)

    def now() -> datetime:
        return datetime.now(UTC)

    def in_2019() -> datetime:
        return datetime(2019, 6, 3, 10, 0, tzinfo=UTC)

    def in_2099() -> datetime:
        return datetime(2099, 1, 1, 10, 0, tzinfo=UTC)

    def plus_400() -> datetime:
        return datetime.now(UTC) + 400 * DAYS

    servers = {
        "now": _server(world.register.out, b / "st-now", now),
        "old": _server(old, b / "st-old", in_2019),
        "future": _server(old, b / "st-future", in_2099),
        "plus400": _server(world.register.out, b / "st-400", plus_400),
    }
    for d in ("st-now", "st-old", "st-future", "st-400"):
        (b / d).mkdir(exist_ok=True)
    for s in servers.values():
        s.start()
    partner = _partners(truth)
    forger = Forger(
        now_url=servers["now"].url,
        old_url=servers["old"].url,
        future_url=servers["future"].url,
        rewrite=lambda kind, value: partner.get((kind, value)),
    )
    try:
        with forger:
            urls = {
                "honest": servers["now"].url,
                "plus400": servers["plus400"].url,
                "down": f"http://127.0.0.1:{_closed_port()}",
            }
            yield Net(urls, forger)
    finally:
        for s in servers.values():
            s.stop()


def _partners(truth: Truth) -> dict[tuple[str, str], str]:
    """For the cross-query lie: each question rewritten to one about an active other person."""
    active = [p for p in truth.persons if p.status == "active"]
    temps = [p for p in active if p.temp_cert]
    olds = [p for p in active if p.old_number]
    out: dict[tuple[str, str], str] = {}
    for i, p in enumerate(truth.persons):
        out[("enp", p.enp)] = active[(i + 1) % len(active)].enp
        if p.temp_cert:
            q = temps[(i + 1) % len(temps)]
            out[("temp_cert", p.temp_cert)] = q.temp_cert if q is not p else temps[0].temp_cert
        if p.old_number:
            q = olds[(i + 1) % len(olds)]
            out[("old_number", p.old_number)] = q.old_number if q is not p else olds[0].old_number
    return out


# --- stores and trust directories -------------------------------------------------------------


def _import_into(db: Path, trust: Path, files: list[Path]) -> None:
    cfg = Config(state_dir=db.parent, trust_dir=trust, register=RegisterConfig(db_path=db))
    parts = assemble(cfg)
    try:
        for f in files:
            import_snapshot(cfg, parts.store, parts.trust, str(f))
    finally:
        parts.close()


@dataclass
class Deployments:
    world: World
    net: Net
    trust: dict[str, Path]
    dbs: dict[str, Path]
    match_key_file: Path
    base: Path
    ca_bundle: Path
    runners: dict[str, Runner] = field(default_factory=dict)

    def runner(self, setup: Setup) -> Runner:
        if setup.name not in self.runners:
            warm = None
            if setup.registry.startswith("replay"):  # someone asked the same question before
                warm = Runner(setup, self.config(setup))
            self.runners[setup.name] = Runner(setup, self.config(setup), warm)
        return self.runners[setup.name]

    def config(self, s: Setup) -> Config:
        if s.registry in self.net.urls:
            url = self.net.urls[s.registry]
        else:
            url = self.net.forger.url(s.registry)
        return Config(
            state_dir=self.base / "state" / s.name,
            trust_dir=self.trust[s.trust],
            register=RegisterConfig(
                region="50",
                db_path=self.dbs[s.snapshot],
                match_key_file=self.match_key_file if s.match else None,
            ),
            # a small CA bundle: the default one costs ~40 ms per client, and forged-registry
            # setups rebuild their client often (the URLs are plain http anyway)
            registry=RegistryConfig(url=url, token=TOKEN, budget_s=1.0, ca_bundle=self.ca_bundle),
        )


class Runner:
    """One daemon's pipeline for a setup; rebuilt every few reads when the registry lies (a
    liar trips the circuit breaker, and then nothing reaches the lie any more)."""

    def __init__(self, setup: Setup, cfg: Config, warm: Runner | None = None) -> None:
        self.setup = setup
        self.cfg = cfg
        self.warm = warm
        self.parts: Assembly | None = None
        self.uses = 0

    def _assembly(self) -> Assembly:
        every = self.setup.reassemble_every
        if self.parts is not None and every and self.uses % every == 0:
            self.parts.close()
            self.parts = None
        if self.parts is None:
            self.parts = assemble(self.cfg)
            offset = self.setup.clock_offset
            if offset:
                self.parts.pipeline.clock = lambda: datetime.now(UTC) + offset
        return self.parts

    def verify(self, item: CredentialInput, mode: LookupMode, fresh: bool) -> Verdict:
        if self.warm is not None:  # another desk asks first; its answer is what gets replayed
            self.warm.verify(item, LookupMode.ONLINE, True)
        parts = self._assembly()
        self.uses += 1
        return parts.pipeline.verify(item, mode=mode, fresh=fresh)

    def close(self) -> None:
        if self.warm is not None:
            self.warm.close()
        if self.parts is not None:
            self.parts.close()
            self.parts = None


@pytest.fixture(scope="session")
def deployments(world: World, net: Net) -> Iterator[Deployments]:
    b, keys, truth, mk = world.base, world.keys, world.truth, world.register.match_key
    trust = {
        "full": trust_dir(b / "trust-full", keys),
        "nopaper": trust_dir(b / "trust-nopaper", keys, paper=False),
        "snaponly": trust_dir(b / "trust-snaponly", keys, paper=False, card=False),
        "revlist": trust_dir(b / "trust-revlist", keys, revoked_list=True),
    }
    now = datetime.now(UTC).replace(microsecond=0)
    recs, aliases = records_of(truth, mk), aliases_of(truth)
    revs = revocations_of(truth, now.date())
    revexp = write_snapshot(
        b / "snap" / "revexp.omssnap",
        keys.registry,
        mk,
        recs,
        aliases,
        revs,
        created=now - timedelta(hours=1),
        register_valid_until=now + timedelta(hours=71),
        revocations_valid_until=now - timedelta(days=3),
    )
    expired = write_snapshot(
        b / "snap" / "expired.omssnap",
        keys.registry,
        mk,
        recs,
        aliases,
        revs,
        created=now - timedelta(days=10),
        register_valid_until=now - timedelta(days=7),
        revocations_valid_until=now - timedelta(days=7),
    )
    dbs = {name: b / "db" / f"{name}.sqlite3" for name in ("fresh", "revexp", "expired", "absent")}
    (b / "db").mkdir()
    _import_into(dbs["fresh"], trust["full"], world.register.files)
    _import_into(dbs["revexp"], trust["full"], [revexp])
    _import_into(dbs["expired"], trust["full"], [expired])
    match = b / "match.key"
    match.write_text(mk.hex() + "\n")
    os.chmod(match, 0o600)
    bundle = b / "ca-bundle.pem"
    bundle.write_bytes(keys.card_root.to_pem())
    d = Deployments(world, net, trust, dbs, match, b, bundle)
    try:
        yield d
    finally:
        for r in d.runners.values():
            r.close()


# --- counts for the closing note ---------------------------------------------------------------


@pytest.fixture(scope="session")
def counts() -> Iterator[dict[str, Any]]:
    data: dict[str, Any] = {}
    yield data
    if data:
        COUNTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        old: dict[str, Any] = {}
        if COUNTS_FILE.exists():
            try:
                old = json.loads(COUNTS_FILE.read_text())
            except ValueError:
                old = {}
        old.setdefault("kinds", {}).update(data.get("kinds", {}))
        for k, v in data.items():
            if k != "kinds":
                old[k] = v
        old["total_cases"] = sum(k["cases"] for k in old["kinds"].values())
        old["written_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        COUNTS_FILE.write_text(json.dumps(old, indent=2, ensure_ascii=False) + "\n")
