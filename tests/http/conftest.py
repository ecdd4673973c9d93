"""Live daemons on loopback for the HTTP API tests.

Each server is a real :class:`Daemon` (the code ``oms-verifier serve --demo`` runs) on its own
event loop in a background thread, bound to port 0, over a copy of one small demo state
(3000 persons). ``api`` keeps the default token-less loopback role (admin); ``locked`` reads
``[http] loopback_role = "none"`` from a config file, so a token-less call is what an
off-loopback caller sees.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from verifier import config as config_mod
from verifier.config import Config
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.service.daemon import Daemon

KIOSK_TOKEN = "kiosk-token-0123456789abcdef"
DESK_TOKEN = "desk-token-0123456789abcdef"
HALL_DEVICE = "serial:/dev/hall-scanner"  # a driver name [[screens.kiosk]] assigns to "kiosk"
HALL2_DEVICE = "pcsc:Hall 2 Reader"  # the second hall screen's reader
DESK_DEVICE = "serial:/dev/desk-scanner"  # on no kiosk: the desk's own scanner
MIS_TOKEN = "mis-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
MAX_JSON = 4096
MAX_BODY = 256 * 1024

TOKENS_TOML = f"""
[[http.tokens]]
name = "kiosk-hall"
token = "{KIOSK_TOKEN}"
role = "kiosk"

[[http.tokens]]
name = "mis-main"
token = "{MIS_TOKEN}"
role = "mis"

[[http.tokens]]
name = "ops"
token = "{ADMIN_TOKEN}"
role = "admin"

[[http.tokens]]
name = "desk-1"
token = "{DESK_TOKEN}"
role = "desk"
"""
SCREENS_TOML = f"""
[screens]
kiosk_reset_s = 20

[[screens.kiosk]]
name = "kiosk"
devices = ["{HALL_DEVICE}"]

[[screens.kiosk]]
name = "hall-2"
devices = ["{HALL2_DEVICE}"]
"""


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LiveDaemon:
    def __init__(self, cfg: Config) -> None:
        self.daemon = Daemon(cfg, demo=True)
        self.loop = asyncio.new_event_loop()
        self.result: list[int | BaseException] = []
        self.thread = threading.Thread(target=self._run, name="oms-daemon", daemon=True)

    def _run(self) -> None:
        try:
            self.result.append(self.loop.run_until_complete(self.daemon.run()))
        except BaseException as exc:  # noqa: BLE001 - the daemon's end, reported by start() in the test thread
            self.result.append(exc)

    def start(self, timeout: float = 60.0) -> LiveDaemon:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not (self.daemon.service is not None and self.daemon.service.ready):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start: {self.result}")
            time.sleep(0.02)
        assert self.daemon.url is not None
        self.url: str = self.daemon.url
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.daemon.stop_event.set)
        self.thread.join(20)


@dataclass
class Server:
    url: str
    state_dir: Path
    live: LiveDaemon

    def device_read(self, item: CredentialInput, device: str = HALL_DEVICE) -> None:
        """What a driver does with a read (Service.on_credential), on the daemon's own loop."""
        service = self.live.daemon.service
        assert service is not None and service.ready  # the daemon under test is up
        read = dataclasses.replace(item, source=device, manual=False)
        asyncio.run_coroutine_threadsafe(service.on_credential(read), self.live.loop).result(20)

    def client(
        self, token: str | None = None, *, headers: dict[str, str] | None = None
    ) -> httpx.Client:
        merged = {**(auth(token) if token else {}), **(headers or {})}
        return httpx.Client(base_url=self.url, headers=merged, timeout=10.0)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoState]:
    state_dir = tmp_path_factory.mktemp("demo-template")
    cfg = Config(state_dir=state_dir)
    return state_dir, demo.ensure_demo(cfg, persons=3000)


@pytest.fixture(scope="session")
def demo_state(demo_template: tuple[Path, demo.DemoState]) -> demo.DemoState:
    return demo_template[1]


def _start(
    tmp_path_factory: pytest.TempPathFactory,
    template: Path,
    name: str,
    extra_http: str,
    max_json: int = MAX_JSON,
) -> Iterator[Server]:
    base = tmp_path_factory.mktemp(name)
    state_dir = base / "state"
    shutil.copytree(template, state_dir)
    conf = base / "config.toml"
    conf.write_text(
        "[http]\nport = 0\n"
        f"max_json_bytes = {max_json}\nmax_body_bytes = {MAX_BODY}\n"
        + (extra_http or "match_burst = 100000\n")  # the shared servers: no match limit in reach
        + TOKENS_TOML
        + SCREENS_TOML,
        encoding="utf-8",
    )
    cfg = demo.demo_config(config_mod.load(conf, state_dir))  # what ``serve --demo`` runs on
    live = LiveDaemon(cfg).start()
    try:
        yield Server(live.url, state_dir, live)
    finally:
        live.stop()


@pytest.fixture(scope="session")
def api(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> Iterator[Server]:
    """Token-less loopback callers are admin (the default)."""
    yield from _start(tmp_path_factory, demo_template[0], "api", "")


@pytest.fixture(scope="session")
def limited(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> Iterator[Server]:
    """Small limits: 3 match calls at once then 1 a minute; 2 s deadlines; 20 connections;
    the default 16 KiB JSON cap; one extra host name and one extra origin."""
    yield from _start(
        tmp_path_factory,
        demo_template[0],
        "limited",
        "match_burst = 3\nmatch_per_minute = 1\nheader_timeout_s = 2\nbody_timeout_s = 2\n"
        'max_connections = 20\nallowed_hosts = ["desk-3.clinic"]\n'
        'allowed_origins = ["https://verifier.clinic.local"]\n',
        max_json=16 * 1024,
    )


@pytest.fixture(scope="session")
def locked(
    tmp_path_factory: pytest.TempPathFactory, demo_template: tuple[Path, demo.DemoState]
) -> Iterator[Server]:
    """``loopback_role = "none"``: every caller needs a token, as off loopback."""
    yield from _start(
        tmp_path_factory,
        demo_template[0],
        "locked",
        'loopback_role = "none"\nmatch_burst = 100000\n',
    )
