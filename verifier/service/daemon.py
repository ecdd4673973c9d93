"""``oms-verifier serve``: the long-running service under systemd (or a terminal).

Order of events: load config → (demo: demo register, demo keys, the reference registry on
loopback) → assemble the pipeline → bind the HTTP socket → start drivers and sync → READY=1.
SIGTERM/SIGINT stop cleanly; SIGHUP reloads the configuration file (trust store, register and
registry settings, API tokens, the ``[log]`` level and format) without dropping connections;
the systemd watchdog is pinged only while the event loop turns and no driver has given up.
The HTTP server runs with header and body deadlines, a connection cap and throttled
accept-error logging (:mod:`verifier.http.transport`); those limits are read at start, not on
reload.

The listening socket is bound first, before anything starts: a port already taken is one line,
``error [port_in_use]``, exit 2. On stop, event streams (SSE screens) are ended at once — they
never finish by themselves, and uvicorn would wait its whole grace period for them and then
cancel them with a traceback — while other requests get the grace period
(``GRACE_S``). uvicorn's own log records become structlog lines (JSON in the journal), one line
each; requests cancelled when the grace period runs out are one line in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import secrets
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from drivers.base import Driver
from verifier.config import Config, ConfigError, LogConfig
from verifier.config import check_log_settings as check_log_values
from verifier.errors import OmsError
from verifier.http.app import create_app
from verifier.http.transport import (
    Limits,
    connection_cap,
    guarded_protocol,
    install_exception_handler,
)
from verifier.log import configure as configure_logging
from verifier.log import get_logger
from verifier.service import sdnotify
from verifier.service.core import Service

log = get_logger("oms.daemon")

GRACE_S = 3.0  # in-flight requests (not event streams) may finish this long after SIGTERM


class PortInUseError(OmsError):
    code = "port_in_use"


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port taken or an address not ours is a typed one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: only then does asyncio set TCP_NODELAY on accepted sockets.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"{shown} is already in use (another oms-verifier?)") from None
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(
            f"cannot listen on {shown}: {reason} (see [http] host and port)"
        ) from None
    sock.set_inheritable(True)
    return sock


STREAM_PATHS = frozenset({"/v1/events"})  # the routes that answer text/event-stream


class EndStreamsOnStop:
    """ASGI middleware: when :meth:`stop` is called, event streams (``text/event-stream``)
    end at once with a proper end of the chunked body (a browser's ``EventSource`` reconnects
    to the next instance); every other request runs on and finishes within the grace period.

    The app runs as its own task so the stream can be ended without cancelling uvicorn's
    request task (which uvicorn would log as a failed request)."""

    def __init__(self, app: ASGIApp, stream_paths: frozenset[str] = STREAM_PATHS) -> None:
        self.app = app
        # Prefixes, not exact paths: whatever reaches a stream route must be watched (a
        # route's "$" also matches before a final newline; the gate refuses those too).
        self.stream_prefixes = tuple(stream_paths)
        self._stopped: asyncio.Future[None] | None = None

    def _stop_future(self) -> asyncio.Future[None]:
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
        return self._stopped

    def stop(self) -> None:
        """End the streams now and any that starts from here on; call on the loop thread."""
        stopped = self._stop_future()
        if not stopped.done():
            stopped.set_result(None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Only the stream routes need their own task (~30 µs a request); any other request
        # is one that runs on and finishes within the grace period anyway.
        if scope["type"] != "http" or not scope["path"].startswith(self.stream_prefixes):
            await self.app(scope, receive, send)
            return
        stopped = self._stop_future()
        streaming = asyncio.get_running_loop().create_future()
        complete = False

        async def watch(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start" and _is_event_stream(message):
                streaming.set_result(None)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                complete = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, watch))
        waiting: set[asyncio.Future[Any]] = {task, stopped}
        try:
            while True:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if task.done():
                    task.result()  # the app's own outcome, its exception included
                    return
                if streaming.done():
                    break  # stopping, and this is an event stream: end it
                waiting = {task, streaming}  # stopping: end it only if it turns into a stream
        except asyncio.CancelledError:
            task.cancel()
            raise
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def _is_event_stream(message: Message) -> bool:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value).split(b";")[0].strip().lower() == b"text/event-stream"
    return False


class _UvicornToStructlog(logging.Handler):
    """uvicorn's stdlib log records as structlog lines (JSON in the journal), one line each.

    A request cancelled because the grace period ran out is no error of its own: uvicorn's
    "Cancel N running task(s)" line, as a warning, says it once."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return
        logger = get_logger(record.name)
        message = record.getMessage()
        if "timeout graceful shutdown exceeded" in message:
            logger.warning(
                "stopping: requests still running after the grace period were cancelled",
                tasks=record.args[0] if isinstance(record.args, tuple) and record.args else None,
                grace_s=GRACE_S,
            )
            return
        if record.levelno >= logging.ERROR:
            logger.error(message, exc_info=record.exc_info or None)
        elif record.levelno >= logging.WARNING:
            logger.warning(message)
        else:
            logger.info(message)


def route_uvicorn_logs() -> None:
    """Replace whatever handlers uvicorn's loggers have (the demo registry's uvicorn installs
    its plain-text ones) with :class:`_UvicornToStructlog`; its INFO chatter is dropped."""
    handler = _UvicornToStructlog()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        lg = logging.getLogger(name)
        # The access logger writes only INFO lines, all dropped here: with no handler at all
        # uvicorn's protocol sees it off and skips the per-response line it would build
        # (client address, path, query) for nothing.
        lg.handlers = [] if name == "uvicorn.access" else [handler]
        lg.propagate = False
        lg.setLevel(logging.WARNING)


def check_log_settings(settings: LogConfig) -> None:
    """The loader's refusal of a bad ``[log]``, again for a reload: a Config made some other
    way must not slip an unknown level through."""
    check_log_values(settings.level, settings.json)


def apply_log_settings(old: LogConfig, new: LogConfig) -> bool:
    """Reload: configure logging again when ``[log]`` changed (False: nothing to do).

    A new :func:`verifier.log.configure` is a new configuration object, so every
    :class:`verifier.log.HotLine` drops the line heads it made under the old one and follows
    the new level. The one INFO line saying so is written under whichever of the two lets
    INFO through (the old level when the new one is WARNING or ERROR): codes only."""
    check_log_settings(new)
    before, after = old.level.upper(), new.level.upper()
    if (before, old.json) == (after, new.json):
        return False
    event = "log level changed" if before != after else "log format changed"
    # "level" is the line's own level (structlog writes it): the settings go by other names.
    fields: dict[str, Any] = {"new_level": after, "old_level": before, "json": new.json}
    info_after = logging.getLevelNamesMapping()[after] <= logging.INFO
    if not info_after:
        log.info(event, **fields)
    configure_logging(json=new.json, level=after)
    if info_after:
        log.info(event, **fields)
    return True


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
        self.streams: EndStreamsOnStop | None = None
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
        # First: a port already taken stops here, before a registry, a driver or a store opens.
        sock = bind(self.cfg.http.host, self.cfg.http.port)
        try:
            return await self._run(loop, sock)
        finally:
            sock.close()
            if self._registry is not None:
                await loop.run_in_executor(None, self._registry.stop)
                self._registry = None

    async def _run(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> int:
        if self.demo:
            await loop.run_in_executor(None, self._start_demo_registry)
        drivers = self.extra_drivers if self.extra_drivers is not None else open_drivers(self.cfg)
        service = await loop.run_in_executor(None, lambda: Service(self.cfg, drivers=drivers))
        self.service = service
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
        app = create_app(service)
        self.streams = EndStreamsOnStop(app)
        # The MIS's offline lookup is answered by the protocol itself, with no ASGI cycle.
        direct = app.fast_path.answer_now if app.fast_path is not None else None
        config = uvicorn.Config(
            self.streams,
            # header/body deadlines, the connection cap and the directly answered lookups
            http=guarded_protocol(limits, direct),
            backlog=http.backlog,  # asyncio tries this many accepts per wake-up
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=int(GRACE_S),
            timeout_keep_alive=30,
            # No proxy in front of the daemon: the peer is the caller, and no local process
            # may name another address for itself with X-Forwarded-For.
            proxy_headers=False,
            server_header=False,  # no "server: uvicorn" banner on every answer
        )
        route_uvicorn_logs()  # after every uvicorn.Config: the demo registry's set its own
        self.server = _Uvicorn(config)
        self._install_signals(loop)
        serve = asyncio.create_task(self.server.serve(sockets=[sock]), name="http")
        while not self.server.started:
            if serve.done():
                await serve  # re-raises the bind/startup error
                return 1
            await asyncio.sleep(0.01)
        await service.start()
        # What start-up made (keys, the register's views, the app, modules) lives as long as
        # the process: out of the collector's sight, a full collection no longer walks it —
        # under a batch's thousands of short-lived verdicts those walks were the 30-80 ms
        # stalls of one batch in five (bench/api_bench.py).
        gc.collect()
        gc.freeze()
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
        began = time.monotonic()
        sdnotify.notify("STOPPING=1")
        log.info("stopping")
        watchdog.cancel()
        self.server.should_exit = True
        self.streams.stop()  # the screens' event streams end now; other requests get GRACE_S
        with contextlib.suppress(asyncio.CancelledError):
            await serve
        await service.stop()
        if self._registry is not None:
            await loop.run_in_executor(None, self._registry.stop)
            self._registry = None
        log.info("stopped", after_s=round(time.monotonic() - began, 3))
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
            check_log_settings(cfg.log)  # refused before anything is swapped in
            await self.service.reload(cfg)
            apply_log_settings(self.cfg.log, cfg.log)
            self.cfg = cfg
        except Exception as exc:  # noqa: BLE001 - a bad new config keeps the old one running
            log.error(
                "reload failed; keeping the running configuration",
                error=str(exc),
                code=exc.code if isinstance(exc, OmsError) else None,
            )
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
