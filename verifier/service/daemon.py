"""``oms-verifier serve``: the long-running service under systemd (or a terminal).

Order of events: load config → (demo: demo register, demo keys, the reference registry on
loopback) → assemble the pipeline → bind the HTTP socket → start drivers and sync → READY=1.
SIGTERM/SIGINT stop cleanly; SIGHUP reloads the configuration file (trust store, register and
registry settings, API tokens) without dropping connections; the systemd watchdog is pinged only
while the event loop turns and no driver has given up. The HTTP server runs with header and
body deadlines, a connection cap and throttled accept-error logging
(:mod:`verifier.http.transport`); those limits are read at start, not on reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import uvicorn

from drivers.base import Driver
from verifier.config import Config
from verifier.http.app import create_app
from verifier.http.transport import (
    Limits,
    connection_cap,
    guarded_protocol,
    install_exception_handler,
)
from verifier.log import get_logger
from verifier.service import sdnotify
from verifier.service.core import Service

log = get_logger("oms.daemon")


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: only then does asyncio set TCP_NODELAY on accepted sockets.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def open_drivers(cfg: Config) -> list[Driver]:
    if not cfg.service.sources:
        return []
    from drivers.sources import open_source

    return [open_source(spec) for spec in cfg.service.sources]


class Daemon:
    def __init__(
        self,
        cfg: Config,
        *,
        demo: bool = False,
        reload_config: Callable[[], Config] | None = None,
        drivers: list[Driver] | None = None,
    ) -> None:
        self.cfg = cfg
        self.demo = demo
        self.reload_config = reload_config
        self.extra_drivers = drivers
        self.stop_event = asyncio.Event()
        self.service: Service | None = None
        self.server: _Uvicorn | None = None
        self.url: str | None = None
        self._registry: Any = None

    def _start_demo_registry(self) -> None:
        """The reference registry service on loopback, serving the demo register."""
        from verifier.devkit import demo
        from verifier.registry.server import ServerConfig, ThreadedServer
        from verifier.registry.server import create_app as reg_app

        demo.refuse_production_state(self.cfg)  # a no-op for the demo's own config
        state = demo.ensure_demo(self.cfg)
        token = secrets.token_urlsafe(24)
        scfg = ServerConfig(
            data_dir=state.registry_dir,
            port=0,
            tokens=(token,),
            state_dir=state.cfg.state_dir / "registry-service",
            log_level="warning",
        )
        self._registry = ThreadedServer(reg_app(scfg), scfg).start()
        # The demo's own config from here on: its trust dir, register, match key and audit.
        registry = replace(state.cfg.registry, url=self._registry.url, token=token)
        self.cfg = replace(state.cfg, registry=registry)
        log.info("demo registry on loopback", url=self._registry.url)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        if self.demo:
            await loop.run_in_executor(None, self._start_demo_registry)
        drivers = self.extra_drivers if self.extra_drivers is not None else open_drivers(self.cfg)
        service = await loop.run_in_executor(None, lambda: Service(self.cfg, drivers=drivers))
        self.service = service
        sock = bind(self.cfg.http.host, self.cfg.http.port)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}"
        http = self.cfg.http
        install_exception_handler(loop)  # accept errors at a bounded rate, no tracebacks
        limits = Limits(
            header_timeout_s=http.header_timeout_s,
            body_timeout_s=http.body_timeout_s,
            max_connections=connection_cap(http.max_connections),
        )
        config = uvicorn.Config(
            create_app(service),
            http=guarded_protocol(limits),  # header/body deadlines and the connection cap
            backlog=http.backlog,  # asyncio tries this many accepts per wake-up
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
            timeout_keep_alive=30,
        )
        self.server = _Uvicorn(config)
        self._install_signals(loop)
        serve = asyncio.create_task(self.server.serve(sockets=[sock]), name="http")
        while not self.server.started:
            if serve.done():
                await serve  # re-raises the bind/startup error
                return 1
            await asyncio.sleep(0.01)
        await service.start()
        sdnotify.notify(f"READY=1\nSTATUS=serving on {self.url}")
        log.info("ready", url=self.url, desk=f"{self.url}/desk", kiosk=f"{self.url}/kiosk")
        print(
            f"oms-verifier: serving on {self.url}  (desk: {self.url}/desk  kiosk: {self.url}/kiosk"
            f"  API: {self.url}/v1/openapi.yaml)",
            file=sys.stderr,
            flush=True,
        )
        watchdog = asyncio.create_task(self._watchdog(), name="watchdog")
        await self.stop_event.wait()
        sdnotify.notify("STOPPING=1")
        log.info("stopping")
        watchdog.cancel()
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serve
        await service.stop()
        if self._registry is not None:
            await loop.run_in_executor(None, self._registry.stop)
        return 0

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, self.stop_event.set)
            loop.add_signal_handler(signal.SIGINT, self.stop_event.set)
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self._reload()))

    async def _reload(self) -> None:
        if self.reload_config is None or self.service is None:
            return
        sdnotify.notify("RELOADING=1")
        try:
            cfg = await asyncio.get_running_loop().run_in_executor(None, self.reload_config)
            if self.demo and self._registry is not None:
                from verifier.devkit import demo

                cfg = replace(demo.demo_config(cfg), registry=self.cfg.registry)
            await self.service.reload(cfg)
            self.cfg = cfg
        except Exception as exc:  # a bad new config keeps the old one running
            log.error("reload failed; keeping the running configuration", error=str(exc))
        finally:
            sdnotify.notify("READY=1")

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval_s()
        if interval is None or not self.cfg.service.watchdog:
            return
        while True:
            await asyncio.sleep(interval)
            # Reaching this line proves the loop turns; the drivers must be alive too.
            if self.service is not None and self.service.healthy():
                sdnotify.notify("WATCHDOG=1")
            else:
                log.warning("unhealthy: not pinging the watchdog")


def serve(
    cfg: Config, *, demo: bool = False, reload_config: Callable[[], Config] | None = None
) -> int:
    return asyncio.run(Daemon(cfg, demo=demo, reload_config=reload_config).run())
