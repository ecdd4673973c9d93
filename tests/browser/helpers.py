"""Helpers for the browser tests of the desk and kiosk screens: a real ``serve --demo``
subprocess, a pseudo-terminal scanner, Chromium pages.

The daemon reads a serial scanner that is really a pseudo-terminal: the test holds the master
side and writes what a USB-CDC desk scanner would send; the daemon's pyserial driver opens the
slave (``--source serial:/dev/pts/N``).  The pages run in Debian's headless Chromium through
Playwright (no ``playwright install``: the system binary is launched directly).  Screenshots of
every state go to ``artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
SCREENS = ROOT / "artifacts" / "screens"  # one screenshot of each outcome on desk and kiosk
CHROMIUM = Path("/usr/bin/chromium")
# As root in a closed network: no sandbox, and none of Chromium's background traffic.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # DNS rebinding without DNS: an attacker's name that resolves to loopback
    # (tests/browser/test_cross_origin.py). Other names resolve as usual.
    "--host-resolver-rules=MAP rebind.test 127.0.0.1",
    # Chromium's own Local Network Access block would stop a "public" page's fetch to
    # loopback before it reaches the daemon; older Chromium, Firefox and Safari have no such
    # block, so the daemon must refuse on its own and the tests check exactly that.
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
KIOSK_TOKEN = "kiosk-browser-token-0123456789abcdef"
DESK_TOKEN = "desk-browser-token-0123456789abcdef"
CONFIG_TOML = f"""[http]

[[http.tokens]]
name = "kiosk-hall"
token = "{KIOSK_TOKEN}"
role = "kiosk"

[[http.tokens]]
name = "desk-1"
token = "{DESK_TOKEN}"
role = "desk"
"""


def screens_toml(hall_devices: tuple[str, ...], reset_s: float = 20.0) -> str:
    """The hall screen "kiosk" owns these devices; every other device is the desk's."""
    devices = ", ".join(f'"{d}"' for d in hall_devices)
    return f'\n[screens]\nkiosk_reset_s = {reset_s}\n\n[[screens.kiosk]]\nname = "kiosk"\n' + (
        f"devices = [{devices}]\n"
    )


SERVING = re.compile(r"oms-verifier: serving on (http://127\.0\.0\.1:(\d+))")
WAIT_MS = 10_000


# --- the daemon ------------------------------------------------------------------------------


@dataclass
class DaemonProcess:
    """``python -m verifier.cli … serve --demo`` in a subprocess; stderr is kept for failures."""

    state_dir: Path
    config: Path
    sources: tuple[str, ...] = ()
    port: int = 0
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    log: list[str] = field(default_factory=list)

    def start(self, timeout: float = 60.0) -> DaemonProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("OMS_VERIFIER_CONFIG", None)
        cmd = [
            sys.executable,
            "-m",
            "verifier.cli",
            "--config",
            str(self.config),
            "--state-dir",
            str(self.state_dir),
            "serve",
            "--demo",
            "--port",
            str(self.port),
        ]
        for spec in self.sources:
            cmd += ["--source", spec]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        serving = threading.Event()
        threading.Thread(
            target=self._drain, args=(self.proc, serving), name="daemon-stderr", daemon=True
        ).start()
        deadline = time.monotonic() + timeout
        while not serving.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("daemon is not serving:\n" + "".join(self.log[-30:]))
        if self.sources:
            self._wait_drivers_ok(deadline)
        return self

    def _drain(self, proc: subprocess.Popen[str], serving: threading.Event) -> None:
        """Keep stderr (for failure messages) and catch the "serving on" line."""
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line)
            m = SERVING.search(line)
            if m and not serving.is_set():
                self.url, self.port = m.group(1), int(m.group(2))
                serving.set()

    def _wait_drivers_ok(self, deadline: float) -> None:
        """Write to the scanner only once pyserial has opened (and configured) the port."""
        with httpx.Client(base_url=self.url, timeout=5) as c:
            while True:
                drivers = c.get("/v1/status").json()["drivers"]
                if drivers and all(d["state"] == "ok" for d in drivers):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"scanner driver not ready: {drivers}")
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: the daemon vanishes without closing its streams politely."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def restart(self) -> DaemonProcess:
        """A new process on the same port and state (after :meth:`kill` or :meth:`stop`)."""
        self.stop()
        self.proc, self.url = None, ""
        return self.start()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def new_daemon(
    tmp_path_factory: pytest.TempPathFactory,
    template: Path,
    name: str,
    *sources: str,
    extra_toml: str = "",
) -> DaemonProcess:
    base = tmp_path_factory.mktemp(name)
    state_dir = base / "state"
    shutil.copytree(template, state_dir)
    config = base / "config.toml"
    config.write_text(CONFIG_TOML + extra_toml, encoding="utf-8")
    return DaemonProcess(state_dir, config, sources)


# --- the scanner ------------------------------------------------------------------------------


class PtyScanner:
    """A USB-CDC desk scanner: the test writes the master side, the daemon opens the slave.

    The slave is left as the kernel made it (cooked): configuring it raw is the driver's job,
    and a cooked line would hold bytes back until a newline and rewrite CRs and control bytes
    inside a binary policy."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)

    @property
    def source(self) -> str:
        return f"serial:{self.path}"

    def write(self, data: bytes, *, packet: int = 32, gap_s: float = 0.005) -> None:
        """One read as USB-CDC packets a few ms apart (well inside the 50 ms idle gap), then
        silence long enough for idle-gap framing to end the read."""
        for i in range(0, len(data), packet):
            view = memoryview(data[i : i + packet])
            while view:
                view = view[os.write(self.master, view) :]
            time.sleep(gap_s)
        time.sleep(0.1)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


# --- the browser ------------------------------------------------------------------------------


@dataclass
class Screen:
    """An open desk or kiosk page and the script errors it raised."""

    page: Page
    errors: list[str]

    def close(self) -> None:
        url, errors = self.page.url, list(self.errors)
        self.page.close()
        assert errors == [], f"script errors on {url}: {errors}"


def open_screen(ctx: BrowserContext, url: str) -> Screen:
    """Open a screen and wait until its event stream is connected (events are not replayed,
    so a scan made before that would be missed)."""
    page = ctx.new_page()
    screen = Screen(page, [])
    page.on("pageerror", lambda exc: screen.errors.append(str(exc)))
    page.goto(url)
    page.wait_for_selector("#conn.on")
    return screen


def shot(page: Page, name: str, directory: Path = ARTIFACTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
