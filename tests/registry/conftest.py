"""Fixtures for the registry service tests: a generated register, live servers, PostgreSQL.

Servers are real uvicorn instances on loopback (``ThreadedServer``), talked to with httpx.
"""

from __future__ import annotations

import csv
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from verifier import config
from verifier.crypto.keys import PublicKey, load_public_key
from verifier.devkit.generator import GeneratedRegister, generate
from verifier.registry.server import ServerConfig, ThreadedServer, create_app

TOKEN = "test-token-0123456789"
OTHER_TOKEN = "second-token"
SEED = 20240501
TRUST_LIST = b'{"version": 1, "keys": []}\n'
TRUST_SIG = bytes(range(64))
NONCE = "0123456789abcdef" * 2  # the raw-httpx tests' nonce; the real client draws one each call


@dataclass(frozen=True)
class Register:
    gen: GeneratedRegister
    rows: list[dict[str, str]]  # persons.csv as the generator wrote it

    @property
    def data_dir(self) -> Path:
        return self.gen.out_dir

    @property
    def public_key(self) -> PublicKey:
        return load_public_key(self.gen.public_key_pem.read_bytes())

    @property
    def live(self) -> list[dict[str, str]]:
        return [r for r in self.rows if not r["deleted"]]

    @property
    def deleted(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r["deleted"]]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


BUDGET = 0.6


def make_cfg(state: Path, register: Register, url: str) -> config.Config:
    """A daemon config trusting the register's key, asking ``url`` (fake or real)."""
    trust = state / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    shutil.copy(register.gen.public_key_pem, trust / "registry.pub.pem")
    (trust / "registry.toml").write_text('purpose = "snapshot"\npublic_key = "registry.pub.pem"\n')
    (state / "c.toml").write_text(f"[registry]\nbudget_s = {BUDGET}\n")
    return config.load(str(state / "c.toml"), str(state), registry_url=url, registry_token=TOKEN)


@pytest.fixture(scope="session")
def register(tmp_path_factory: pytest.TempPathFactory) -> Register:
    out = tmp_path_factory.mktemp("register")
    gen = generate(out, persons=2000, region="50", seed=SEED)
    (out / "trust-list.json").write_bytes(TRUST_LIST)
    (out / "trust-list.sig").write_bytes(TRUST_SIG)
    return Register(gen, read_rows(out / "persons.csv"))


@pytest.fixture(scope="session")
def server(
    register: Register, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedServer]:
    """SQLite store, two tokens, fault injection on."""
    cfg = ServerConfig(
        data_dir=register.data_dir,
        port=0,
        tokens=(TOKEN, OTHER_TOKEN),
        faults=True,
        state_dir=tmp_path_factory.mktemp("state"),
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield srv


@pytest.fixture
def client(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        params={"nonce": NONCE},
        timeout=10,
    ) as c:
        yield c


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    which = shutil.which("initdb")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class PgCluster:
    dsn: str
    port: int


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL server on 127.0.0.1 (trust auth), removed afterwards.

    pytest's tmp_path is 0700 root-only, so the cluster lives in its own temp dir owned by the
    ``postgres`` OS user when the tests run as root (the server refuses to run as root).
    """
    bindir = _pg_bindir()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are missing (postgresql)")
    prefix: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and there is no 'postgres' OS user to run the server")
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.fail("running as root and runuser is missing")
        prefix = [runuser, "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="oms-pg-"))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    pgdata, sockdir = base / "data", base / "sock"
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=60, cwd=base)

    try:
        run("mkdir", str(sockdir))
        run(
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        )
        opts = f"-F -p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(base / "log"),
            "-o",
            opts,
            "-w",
            "-t",
            "30",
            "start",
        )
        try:
            yield PgCluster(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", port)
        finally:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                cwd=base,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(register: Register, pg_cluster: PgCluster) -> Iterator[ThreadedServer]:
    """PostgreSQL store, no fault injection."""
    import psycopg  # noqa: F401  (the test install brings the [postgres] extra; missing fails)

    cfg = ServerConfig(
        data_dir=register.data_dir,
        port=0,
        tokens=(TOKEN,),
        store="postgresql",
        dsn=pg_cluster.dsn,
        log_level="warning",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        yield srv


@pytest.fixture
def pg_client(pg_server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=pg_server.url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        params={"nonce": NONCE},
        timeout=10,
    ) as c:
        yield c
