"""Fixtures for the browser tests: one demo state, a pseudo-terminal scanner, a daemon reading
it, and Debian's headless Chromium (the tests fail when /usr/bin/chromium is absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

from tests.browser.helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    KIOSK_TOKEN,
    VIEWPORT,
    WAIT_MS,
    DaemonProcess,
    PtyScanner,
    Screen,
    new_daemon,
    open_screen,
    screens_toml,
)
from verifier.config import Config
from verifier.devkit import demo


# Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in the
# main thread while it is open, which would break asyncio.run() in later test modules.
@pytest.fixture(scope="package")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, demo.DemoState]:
    """A small demo state made once (the daemon's own ``ensure_demo`` then finds it fresh)."""
    state_dir = tmp_path_factory.mktemp("browser-demo-template")
    return state_dir, demo.ensure_demo(Config(state_dir=state_dir), persons=3000)


@pytest.fixture(scope="package")
def scanner() -> Iterator[PtyScanner]:
    s = PtyScanner()
    yield s
    s.close()


@pytest.fixture(scope="package")
def hall_scanner() -> Iterator[PtyScanner]:
    """The hall's own scanner: [[screens.kiosk]] gives its reads to the kiosk screen."""
    s = PtyScanner()
    yield s
    s.close()


@pytest.fixture(scope="package")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, demo.DemoState],
    scanner: PtyScanner,
    hall_scanner: PtyScanner,
    chromium: BrowserContext,  # no daemon when the browser tests are skipped
) -> Iterator[DaemonProcess]:
    d = new_daemon(
        tmp_path_factory,
        demo_template[0],
        "browser-daemon",
        scanner.source,
        hall_scanner.source,
        extra_toml=screens_toml((hall_scanner.source,)),
    ).start()
    yield d
    d.stop()


# --- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not CHROMIUM.exists():  # a missing tool fails, never skips
        pytest.fail(f"{CHROMIUM} is absent: the browser tests need Debian's chromium package")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            locale="ru-RU",
            timezone_id="Europe/Moscow",
        )
        ctx.set_default_timeout(WAIT_MS)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def desk(chromium: BrowserContext, daemon: DaemonProcess) -> Iterator[Screen]:
    """A fresh desk page; token-less on loopback, i.e. the default admin role (masked)."""
    screen = open_screen(chromium, f"{daemon.url}/desk")
    if screen.page.evaluate("localStorage.length"):  # a workstation token left by a test
        screen.page.evaluate("localStorage.clear()")
        screen.page.reload()
        screen.page.wait_for_selector("#conn.on")
    yield screen
    screen.close()


@pytest.fixture
def kiosk(chromium: BrowserContext, daemon: DaemonProcess) -> Iterator[Screen]:
    """A fresh kiosk page with a kiosk-role token, as a hall screen is set up."""
    screen = open_screen(chromium, f"{daemon.url}/kiosk?token={KIOSK_TOKEN}")
    yield screen
    screen.close()
