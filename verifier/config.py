"""Configuration: TOML file, then environment, then command-line flags (last wins).

Every instance has its own state directory (``--state-dir`` / ``OMS_VERIFIER_STATE_DIR``) so
that several daemons, CLI runs and tests never share a database by accident.

Every section and key of the file is declared in a table next to the parser that reads it
(``_HTTP_KEYS`` beside ``_http`` …, gathered in :data:`SCHEMA`): an unknown section or key
(``prot = 1``, ``[htttp]``) or a value of the wrong type is refused at start, naming the key and
the file, instead of silently meaning the default. A parser reading a key its table does not
declare fails on the first load, so the tables and the parsers cannot drift apart.
"""

from __future__ import annotations

import difflib
import errno
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from verifier.errors import OmsError

DEFAULT_CONFIG_PATH = Path("/etc/oms-verifier/config.toml")
ENV_CONFIG = "OMS_VERIFIER_CONFIG"
ENV_STATE_DIR = "OMS_VERIFIER_STATE_DIR"
ENV_REGISTRY_URL = "OMS_VERIFIER_REGISTRY_URL"
ENV_REGISTRY_TOKEN = "OMS_VERIFIER_REGISTRY_TOKEN"  # noqa: S105 - an env variable name
DEMO_SUBDIR = "demo"  # the demo's own state under a state directory (verifier.devkit.demo)


class ConfigError(OmsError):
    code = "bad_config"


class _OverrideError(ConfigError):
    """A bad value from the environment or a flag: the error names it, not the file."""


def default_state_dir() -> Path:
    """systemd's StateDirectory when run as a service, else a per-user directory."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oms-verifier"


@dataclass(frozen=True)
class ClinicConfig:
    mo_code: str | None = None  # this clinic's 6-digit register code (F003 mcod)


@dataclass(frozen=True)
class LogConfig:
    json: bool | None = None  # None: JSON unless stderr is a terminal
    level: str = "INFO"


@dataclass(frozen=True)
class RegisterConfig:
    region: str | None = None  # refuse snapshots of another region; None: first import decides
    db_path: Path | None = None  # default: <state_dir>/register.sqlite3
    match_key_file: Path | None = None
    stale_grace_hours: float = 24.0
    hard_offline_limit_hours: float = 168.0
    max_clock_skew_s: float = 300.0
    # The national store (all regions, docs/national.md) even before its first import, so
    # the very first sync fills it; without it, a state directory holding one still opens it.
    national: bool = False


@dataclass(frozen=True)
class RegistryConfig:
    url: str | None = None  # no URL: offline only
    token: str | None = None
    budget_s: float = 1.5
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    cache_size: int = 10_000
    cache_ttl_s: float = 300.0
    cache_negative_ttl_s: float = 30.0
    sync_interval_s: float = 900.0


class Role(StrEnum):
    """What a caller of the local API may do (verifier/http/auth.py ROLE_RIGHTS)."""

    MIS = "mis"
    KIOSK = "kiosk"
    ADMIN = "admin"
    DESK = "desk"


ROLES = tuple(r.value for r in Role)
DEFAULT_KIOSK = "kiosk"  # the kiosk page's screen when it names none (/kiosk?screen=NAME)


@dataclass(frozen=True)
class ApiToken:
    name: str  # who asked, for the audit log (never the token itself)
    token: str
    role: Role


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8471
    tokens: tuple[ApiToken, ...] = ()
    loopback_role: Role | None = Role.ADMIN  # token-less loopback callers; None: need a token
    max_body_bytes: int = 8 * 1024 * 1024  # images
    max_json_bytes: int = 16 * 1024
    history_size: int = 200
    # Host names besides loopback and ``host`` that requests may name (DNS rebinding guard).
    allowed_hosts: tuple[str, ...] = ()
    # Origins besides the daemon's own that may make unsafe requests, e.g. a reverse proxy's.
    allowed_origins: tuple[str, ...] = ()
    header_timeout_s: float = 10.0  # the whole request head, however slowly it trickles
    body_timeout_s: float = 30.0  # the whole body
    max_connections: int = 256  # lowered to RLIMIT_NOFILE minus a reserve when that is less
    backlog: int = 128
    match_per_minute: float = 30.0  # /v1/match per caller, after a burst of match_burst
    match_burst: int = 10


@dataclass(frozen=True)
class KioskScreen:
    name: str  # the kiosk page opens as /kiosk?screen=NAME
    devices: tuple[str, ...]  # driver names (source specs) whose reads this screen shows


@dataclass(frozen=True)
class ScreensConfig:
    """Which device's reads go to which hall screen; everything else is the desk's only."""

    kiosk_reset_s: float = 20.0  # a kiosk shows a verdict this long, then its idle screen
    kiosks: tuple[KioskScreen, ...] = ()

    def screen_of(self, device: str) -> str | None:
        """The kiosk screen a device is assigned to, ``None``: the desk's device."""
        return next((k.name for k in self.kiosks if device in k.devices), None)


@dataclass(frozen=True)
class ServiceConfig:
    sources: tuple[str, ...] = ()  # driver source specs, e.g. "camera:0", "pcsc", "serial:/dev/x"
    audit_retention_days: int = 90
    watchdog: bool = True


@dataclass(frozen=True)
class Config:
    state_dir: Path = field(default_factory=default_state_dir)
    log: LogConfig = field(default_factory=LogConfig)
    trust_dir: Path | None = None  # default: /etc/oms-verifier/trust, else <state_dir>/trust
    register: RegisterConfig = field(default_factory=RegisterConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    clinic: ClinicConfig = field(default_factory=ClinicConfig)
    screens: ScreensConfig = field(default_factory=ScreensConfig)
    raw: dict[str, Any] = field(default_factory=dict)  # whole file, for sections of later parts
    demo: bool = False  # the demo's own config (verifier.devkit.demo.demo_config), never production
    # The file this config came from; the system trust directory is the default only for the
    # system config, so a test or a second instance never picks up the installed service's keys.
    source: Path | None = None

    @property
    def register_db(self) -> Path:
        return self.register.db_path or self.state_dir / "register.sqlite3"

    @property
    def effective_trust_dir(self) -> Path:
        if self.trust_dir is not None:
            return self.trust_dir
        if self.demo:  # demo keys come from a public seed: never the system trust directory
            return self.state_dir / "trust"
        if self.source == DEFAULT_CONFIG_PATH:
            return DEFAULT_CONFIG_PATH.parent / "trust"
        return self.state_dir / "trust"


def demo_state_dir(state_dir: Path) -> Path:
    """Where the demo keeps its register, keys and audit: apart from any production data."""
    return state_dir / DEMO_SUBDIR


# --- the schema: every key the file may hold, declared beside the parser that reads it -------


@dataclass(frozen=True)
class Kind:
    """What a key's value must be, in words for the error (``an integer``) and as a test."""

    what: str
    test: Callable[[Any], bool]
    keys: dict[str, Kind] | None = None  # an array of tables: the keys of each table


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


STRING = Kind("a string", lambda v: isinstance(v, str))
INTEGER = Kind("an integer", _is_int)
NUMBER = Kind("a number", _is_num)
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
STRINGS = Kind(
    'a list of strings (["…"])',
    lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
)


def tables(keys: dict[str, Kind]) -> Kind:
    """An array of tables (``[[http.tokens]]``) whose tables hold ``keys``."""
    return Kind(
        "an array of tables",
        lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
        keys,
    )


def load(
    config_path: str | os.PathLike[str] | None,
    state_dir: str | os.PathLike[str] | None,
    *,
    registry_url: str | None = None,
    registry_token: str | None = None,
) -> Config:
    """Resolve the config; an explicitly named file that is missing is an error.

    Errors name the file: ``config_unreadable`` (permissions), ``config_unknown_key`` (a key or
    section no parser reads) and ``bad_config`` (not TOML, a wrong type or value)."""
    explicit = config_path or os.environ.get(ENV_CONFIG)
    path = Path(explicit) if explicit else DEFAULT_CONFIG_PATH
    read = _read(path, explicit=bool(explicit))
    data: dict[str, Any] = read if read is not None else {}
    try:
        check_schema(data)
        return _parse(
            data, state_dir, registry_url, registry_token, path if read is not None else None
        )
    except ConfigError as exc:
        if read is None or isinstance(exc, _OverrideError):  # not the file's fault
            raise
        raise ConfigError(f"{path}: {exc.message}", code=exc.code) from None


_GENERAL_KEYS: dict[str, Kind] = {"state_dir": STRING}
_LOG_KEYS: dict[str, Kind] = {"level": STRING, "json": BOOLEAN}
_TRUST_KEYS: dict[str, Kind] = {"dir": STRING}


def _parse(
    data: dict[str, Any],
    state_dir: str | os.PathLike[str] | None,
    registry_url: str | None,
    registry_token: str | None,
    source: Path | None,
) -> Config:
    general = _section(data, "general")
    log = _section(data, "log")
    state = state_dir or os.environ.get(ENV_STATE_DIR) or general.get("state_dir")
    trust = _section(data, "trust").get("dir")
    level = log.get("level", "INFO")
    json_logs = log.get("json")
    check_log_settings(level, json_logs)
    return Config(
        state_dir=Path(state) if state else default_state_dir(),
        log=LogConfig(json=json_logs, level=level),
        trust_dir=Path(trust) if trust else None,
        register=_register(_section(data, "register")),
        registry=_registry(_section(data, "registry"), registry_url, registry_token),
        http=_http(_section(data, "http")),
        service=_service(_section(data, "service")),
        clinic=_clinic(_section(data, "clinic")),
        screens=_screens(_section(data, "screens")),
        raw=data,
        source=source,
    )


MAX_CONFIG_BYTES = 1024 * 1024  # a config is a page of TOML; anything this big is a mistake
_ACCESS_HINT = "the service user needs read access: root:oms-verifier 0640"


def _read(path: Path, *, explicit: bool) -> dict[str, Any] | None:
    """The parsed file; ``None`` when the default file is absent (built-in defaults)."""
    try:
        path.stat()
    except PermissionError:  # the directory cannot be searched: /etc/oms-verifier root:root 0750
        raise ConfigError(
            f"cannot read {path}: permission denied on its directory {path.parent} "
            f"(the service user needs access: {path.parent} root:oms-verifier 0750, "
            "the file root:oms-verifier 0640)",
            code="config_unreadable",
        ) from None
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise ConfigError(
                f"cannot read {path}: {_os_reason(exc)}", code="config_unreadable"
            ) from None
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return None
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except PermissionError:
        raise ConfigError(
            f"cannot read {path}: permission denied ({_ACCESS_HINT})", code="config_unreadable"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {_os_reason(exc)}", code="config_unreadable"
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"cannot read config {path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot read config {path}: not valid TOML: {exc}") from None


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or type(exc).__name__).lower()


_CLINIC_KEYS: dict[str, Kind] = {"mo_code": STRING}


def _clinic(sec: dict[str, Any]) -> ClinicConfig:
    code = sec.get("mo_code")
    if code is None:
        return ClinicConfig()
    if not isinstance(code, str) or not (len(code) == 6 and code.isdigit()):
        raise ConfigError("[clinic] mo_code must be the clinic's 6-digit register code, as text")
    return ClinicConfig(mo_code=code)


_SCREENS_KEYS: dict[str, Kind] = {
    "kiosk_reset_s": NUMBER,
    "kiosk": tables({"name": STRING, "devices": STRINGS}),
}


def _screens(sec: dict[str, Any]) -> ScreensConfig:
    """``[screens] kiosk_reset_s`` and ``[[screens.kiosk]] name, devices``."""
    reset = sec.get("kiosk_reset_s", 20.0)
    if not isinstance(reset, int | float) or isinstance(reset, bool) or not 0 < reset <= 3600:
        raise ConfigError("[screens] kiosk_reset_s must be a number of seconds, 0 < s <= 3600")
    raw = sec.get("kiosk", [])
    if not isinstance(raw, list):
        raise ConfigError("[[screens.kiosk]] must be an array of tables")
    kiosks: list[KioskScreen] = []
    seen: dict[str, str] = {}
    for i, k in enumerate(raw):
        name = k.get("name", DEFAULT_KIOSK) if isinstance(k, dict) else None
        devices = k.get("devices", []) if isinstance(k, dict) else None
        if not isinstance(name, str) or not _SCREEN_NAME.fullmatch(name):
            raise ConfigError(
                f"[[screens.kiosk]] #{i + 1}: name must be 1-32 letters, digits, '-' or '_'"
            )
        if not isinstance(devices, list) or not all(isinstance(d, str) and d for d in devices):
            raise ConfigError(
                f'[[screens.kiosk]] #{i + 1}: devices must be a list such as ["camera:0"]'
            )
        if any(x.name == name for x in kiosks):
            raise ConfigError(f"[[screens.kiosk]] #{i + 1}: screen {name} is listed twice")
        for d in devices:
            if d in seen:  # one read goes to one hall screen, never two
                raise ConfigError(f"[[screens.kiosk]]: device {d} is on {seen[d]} and {name}")
            seen[d] = name
        kiosks.append(KioskScreen(name, tuple(devices)))
    return ScreensConfig(kiosk_reset_s=float(reset), kiosks=tuple(kiosks))


_SCREEN_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")


_HTTP_KEYS: dict[str, Kind] = {
    "host": STRING,
    "port": INTEGER,
    "tokens": tables({"name": STRING, "token": STRING, "role": STRING}),
    "loopback_role": Kind('a role name or "none"', lambda v: isinstance(v, str) or v is False),
    "max_body_bytes": INTEGER,
    "max_json_bytes": INTEGER,
    "history_size": INTEGER,
    "allowed_hosts": STRINGS,
    "allowed_origins": STRINGS,
    "header_timeout_s": NUMBER,
    "body_timeout_s": NUMBER,
    "max_connections": INTEGER,
    "backlog": INTEGER,
    "match_per_minute": NUMBER,
    "match_burst": INTEGER,
}


def _http(sec: dict[str, Any]) -> HttpConfig:  # noqa: C901 - one flat check per [http] key
    host = sec.get("host", "127.0.0.1")
    port = sec.get("port", 8471)
    if not isinstance(host, str) or not host:
        raise ConfigError("[http] host must be an address")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError("[http] port must be 0..65535")
    tokens = []
    raw_tokens = sec.get("tokens", [])
    if not isinstance(raw_tokens, list):
        raise ConfigError("[[http.tokens]] must be an array of tables")
    for i, t in enumerate(raw_tokens):
        if not isinstance(t, dict) or not isinstance(t.get("token"), str) or len(t["token"]) < 16:
            raise ConfigError(f"[[http.tokens]] #{i + 1}: token must be a string of 16+ chars")
        role = t.get("role")
        if role not in ROLES:
            raise ConfigError(f"[[http.tokens]] #{i + 1}: role must be one of {', '.join(ROLES)}")
        tokens.append(ApiToken(str(t.get("name", f"token{i + 1}")), t["token"], Role(role)))
    env_token = os.environ.get("OMS_VERIFIER_API_TOKEN")
    if env_token:
        tokens.append(ApiToken("env", env_token, Role.ADMIN))
    loopback = sec.get("loopback_role", "admin")
    if loopback in ("none", "", False):
        loopback = None
    if loopback is not None and loopback not in ROLES:
        raise ConfigError("[http] loopback_role must be mis, kiosk, admin or none")
    if loopback == "desk":  # the desk sees names and full ENPs: only with its own token
        raise ConfigError("[http] loopback_role cannot be desk: give each desk a token")
    check_http_exposure(HttpConfig(host=host, tokens=tuple(tokens)))

    def size(key: str, default: int) -> int:
        v = sec.get(key, default)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ConfigError(f"[http] {key} must be a positive integer")
        return v

    def seconds(key: str, default: float) -> float:
        v = sec.get(key, default)
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v <= 3600:
            raise ConfigError(f"[http] {key} must be a number of seconds, 0 < s <= 3600")
        return float(v)

    def per_minute(key: str, default: float) -> float:
        v = sec.get(key, default)
        if not isinstance(v, int | float) or isinstance(v, bool) or not 0 < v <= 100_000:
            raise ConfigError(f"[http] {key} must be a positive number of calls a minute")
        return float(v)

    def names(key: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        v = sec.get(key, [])
        if not isinstance(v, list) or not all(
            isinstance(x, str) and pattern.fullmatch(x.lower()) for x in v
        ):
            raise ConfigError(f"[http] {key} must be a list of {what}")
        return tuple(x.lower().rstrip("/") for x in v)

    return HttpConfig(
        host=host,
        port=port,
        tokens=tuple(tokens),
        loopback_role=Role(loopback) if loopback is not None else None,
        max_body_bytes=size("max_body_bytes", 8 * 1024 * 1024),
        max_json_bytes=size("max_json_bytes", 16 * 1024),
        history_size=size("history_size", 200),
        allowed_hosts=names("allowed_hosts", _HOST_NAME, 'host names such as "desk-3.clinic"'),
        allowed_origins=names(
            "allowed_origins", _ORIGIN, 'origins such as "https://verifier.clinic.local"'
        ),
        header_timeout_s=seconds("header_timeout_s", 10.0),
        body_timeout_s=seconds("body_timeout_s", 30.0),
        max_connections=size("max_connections", 256),
        backlog=size("backlog", 128),
        match_per_minute=per_minute("match_per_minute", 30.0),
        match_burst=size("match_burst", 10),
    )


_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:.]+\]")
_ORIGIN = re.compile(r"https?://(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?/?")


def check_http_exposure(http: HttpConfig) -> None:
    """The API never listens beyond loopback without a token configured."""
    if http.host not in ("127.0.0.1", "::1", "localhost") and not http.tokens:
        raise ConfigError(
            f"[http] host {http.host} is not loopback: configure [[http.tokens]] first "
            "(the API never serves other hosts without a token)"
        )


_SERVICE_KEYS: dict[str, Kind] = {
    "sources": STRINGS,
    "audit_retention_days": INTEGER,
    "watchdog": BOOLEAN,
}


def _service(sec: dict[str, Any]) -> ServiceConfig:
    sources = sec.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ConfigError('[service] sources must be a list of strings such as "pcsc"')
    days = sec.get("audit_retention_days", 90)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise ConfigError("[service] audit_retention_days must be a positive integer")
    watchdog = sec.get("watchdog", True)
    if not isinstance(watchdog, bool):
        raise ConfigError("[service] watchdog must be true or false")
    return ServiceConfig(sources=tuple(sources), audit_retention_days=days, watchdog=watchdog)


_REGISTRY_KEYS: dict[str, Kind] = {
    "url": STRING,
    "token": STRING,
    "budget_s": NUMBER,
    "ca_bundle": STRING,
    "client_cert": STRING,
    "client_key": STRING,
    "cache_size": NUMBER,
    "cache_ttl_s": NUMBER,
    "cache_negative_ttl_s": NUMBER,
    "sync_interval_s": NUMBER,
}


def _registry(sec: dict[str, Any], url: str | None, token: str | None) -> RegistryConfig:
    origin = (
        "--registry-url" if url else ENV_REGISTRY_URL if os.environ.get(ENV_REGISTRY_URL) else None
    )
    url = url or os.environ.get(ENV_REGISTRY_URL) or sec.get("url")
    token = token or os.environ.get(ENV_REGISTRY_TOKEN) or sec.get("token")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        if origin is not None:
            raise _OverrideError(f"{origin} must start with http:// or https://")
        raise ConfigError("[registry] url must start with http:// or https://")
    if token is not None and not isinstance(token, str):
        raise ConfigError("[registry] token must be a string")

    def num(key: str, default: float) -> float:
        value = sec.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"[registry] {key} must be a positive number")
        return float(value)

    def path(key: str) -> Path | None:
        value = sec.get(key)
        return Path(value) if isinstance(value, str) and value else None

    return RegistryConfig(
        url=url,
        token=token,
        budget_s=num("budget_s", 1.5),
        ca_bundle=path("ca_bundle"),
        client_cert=path("client_cert"),
        client_key=path("client_key"),
        cache_size=int(num("cache_size", 10_000)),
        cache_ttl_s=num("cache_ttl_s", 300.0),
        cache_negative_ttl_s=num("cache_negative_ttl_s", 30.0),
        sync_interval_s=num("sync_interval_s", 900.0),
    )


_REGISTER_KEYS: dict[str, Kind] = {
    "region": STRING,
    "db_path": STRING,
    "match_key_file": STRING,
    "stale_grace_hours": NUMBER,
    "hard_offline_limit_hours": NUMBER,
    "max_clock_skew_s": NUMBER,
    "national": BOOLEAN,
}


def _register(sec: dict[str, Any]) -> RegisterConfig:
    def num(key: str, default: float) -> float:
        value = sec.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"[register] {key} must be a positive number")
        return float(value)

    region = sec.get("region")
    if region is not None and (
        not isinstance(region, str) or len(region) != 2 or not region.isdigit()
    ):
        raise ConfigError('[register] region must be a 2-digit string such as "50"')
    path = sec.get("db_path")
    key = sec.get("match_key_file")
    return RegisterConfig(
        region=region,
        db_path=Path(path) if path else None,
        match_key_file=Path(key) if key else None,
        stale_grace_hours=num("stale_grace_hours", 24.0),
        hard_offline_limit_hours=num("hard_offline_limit_hours", 168.0),
        max_clock_skew_s=num("max_clock_skew_s", 300.0),
        national=bool(sec.get("national", False)),
    )


# Every section the file may hold. ``Config.raw`` keeps the whole file, but nothing reads a
# section that is not here (verifier.devkit.demo only filters it): there are no others.
SCHEMA: dict[str, dict[str, Kind]] = {
    "general": _GENERAL_KEYS,
    "log": _LOG_KEYS,
    "trust": _TRUST_KEYS,
    "register": _REGISTER_KEYS,
    "registry": _REGISTRY_KEYS,
    "http": _HTTP_KEYS,
    "service": _SERVICE_KEYS,
    "clinic": _CLINIC_KEYS,
    "screens": _SCREENS_KEYS,
}


def check_schema(data: dict[str, Any]) -> None:
    """Refuse what no parser reads (``config_unknown_key``) and values of the wrong type."""
    for name, value in data.items():
        if name not in SCHEMA:
            if isinstance(value, dict):
                hint = _suggest(name, SCHEMA, "[{}]") or f"; known sections: {', '.join(SCHEMA)}"
                raise ConfigError(f"unknown section [{name}]{hint}", code="config_unknown_key")
            hint = _suggest_section_key(name)
            raise ConfigError(
                f'unknown key "{name}" outside any section{hint}', code="config_unknown_key"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table, not {_toml_type(value)}")
        _check_keys(value, SCHEMA[name], f"[{name}]", name)


def _check_keys(table: dict[str, Any], keys: dict[str, Kind], where: str, prefix: str) -> None:
    for key, value in table.items():
        kind = keys.get(key)
        if kind is None:
            hint = _suggest(key, keys, '"{}"')
            raise ConfigError(f'unknown key "{key}" in {where}{hint}', code="config_unknown_key")
        if kind.keys is not None:  # an array of tables: [[http.tokens]]
            name = f"[[{prefix}.{key}]]"
            if not kind.test(value):
                raise ConfigError(f"{name} must be {kind.what}, not {_toml_type(value)}")
            for i, item in enumerate(value):
                _check_keys(item, kind.keys, f"{name} #{i + 1}", f"{prefix}.{key}")
        elif not kind.test(value):
            raise ConfigError(f"{where} {key} must be {kind.what}, not {_toml_type(value)}")


def _suggest_section_key(name: str) -> str:
    """For a key written above every section header (``port = 8471``): where it belongs."""
    owner: dict[str, str] = {}  # key -> the first section declaring it
    for section, keys in SCHEMA.items():
        for key in keys:
            owner.setdefault(key, section)
    close = difflib.get_close_matches(name, list(owner), n=1)
    return f" (did you mean [{owner[close[0]]}] {close[0]}?)" if close else ""


def _suggest(name: str, known: dict[str, Any], form: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {form.format(close[0])}?)" if close else ""


def _toml_type(value: Any) -> str:
    """The TOML type of what was written; never the value (it may be a token)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


class _Table(dict[str, Any]):
    """A section as its parser sees it: reading a key its table does not declare is a bug in
    this module, caught on the first load by any test, so schema and parsers cannot drift."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.name = name

    def get(self, key: str, default: Any = None) -> Any:
        if key not in SCHEMA[self.name]:
            raise RuntimeError(f"[{self.name}] {key} is read but not declared in SCHEMA")
        return super().get(key, default)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def check_log_settings(level: object, json_logs: object) -> None:
    """``[log]`` as the loader and a reload accept it: a known level, ``json`` a boolean or
    unset (:func:`verifier.log.configure` would quietly take an unknown level for INFO)."""
    if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
        raise ConfigError(f"[log] level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    if json_logs is not None and not isinstance(json_logs, bool):
        raise ConfigError("[log] json must be true or false")


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return _Table(name, value)
