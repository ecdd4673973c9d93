"""Configuration: TOML file, then environment, then command-line flags (last wins).

Every instance has its own state directory (``--state-dir`` / ``OMS_VERIFIER_STATE_DIR``) so
that several daemons, CLI runs and tests never share a database by accident.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import OmsError

DEFAULT_CONFIG_PATH = Path("/etc/oms-verifier/config.toml")
ENV_CONFIG = "OMS_VERIFIER_CONFIG"
ENV_STATE_DIR = "OMS_VERIFIER_STATE_DIR"
ENV_REGISTRY_URL = "OMS_VERIFIER_REGISTRY_URL"
ENV_REGISTRY_TOKEN = "OMS_VERIFIER_REGISTRY_TOKEN"
DEMO_SUBDIR = "demo"  # the demo's own state under a state directory (verifier.devkit.demo)


class ConfigError(OmsError):
    code = "bad_config"


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


ROLES = ("mis", "kiosk", "admin", "desk")
DEFAULT_KIOSK = "kiosk"  # the kiosk page's screen when it names none (/kiosk?screen=NAME)


@dataclass(frozen=True)
class ApiToken:
    name: str  # who asked, for the audit log (never the token itself)
    token: str
    role: str  # mis | kiosk | admin | desk


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8471
    tokens: tuple[ApiToken, ...] = ()
    loopback_role: str | None = "admin"  # role of token-less loopback callers; None: need token
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


def load(
    config_path: str | os.PathLike[str] | None,
    state_dir: str | os.PathLike[str] | None,
    *,
    registry_url: str | None = None,
    registry_token: str | None = None,
) -> Config:
    """Resolve the config; an explicitly named file that is missing is an error."""
    explicit = config_path or os.environ.get(ENV_CONFIG)
    path = Path(explicit) if explicit else DEFAULT_CONFIG_PATH
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    general = _section(data, "general")
    log = _section(data, "log")
    state = state_dir or os.environ.get(ENV_STATE_DIR) or general.get("state_dir")
    trust = _section(data, "trust").get("dir")
    level = log.get("level", "INFO")
    json_logs = log.get("json")
    if not isinstance(level, str) or level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"[log] level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    if json_logs is not None and not isinstance(json_logs, bool):
        raise ConfigError("[log] json must be true or false")
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
        source=path if path.exists() else None,
    )


def _clinic(sec: dict[str, Any]) -> ClinicConfig:
    code = sec.get("mo_code")
    if code is None:
        return ClinicConfig()
    if not isinstance(code, str) or not (len(code) == 6 and code.isdigit()):
        raise ConfigError("[clinic] mo_code must be the clinic's 6-digit register code, as text")
    return ClinicConfig(mo_code=code)


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


def _http(sec: dict[str, Any]) -> HttpConfig:
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
        tokens.append(ApiToken(str(t.get("name", f"token{i + 1}")), t["token"], role))
    env_token = os.environ.get("OMS_VERIFIER_API_TOKEN")
    if env_token:
        tokens.append(ApiToken("env", env_token, "admin"))
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
        loopback_role=loopback,
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


def _registry(sec: dict[str, Any], url: str | None, token: str | None) -> RegistryConfig:
    url = url or os.environ.get(ENV_REGISTRY_URL) or sec.get("url")
    token = token or os.environ.get(ENV_REGISTRY_TOKEN) or sec.get("token")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
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
    )


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value
