"""Configuration: TOML file, then environment, then command-line flags (last wins).

Every instance has its own state directory (``--state-dir`` / ``OMS_VERIFIER_STATE_DIR``) so
that several daemons, CLI runs and tests never share a database by accident.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import OmsError

DEFAULT_CONFIG_PATH = Path("/etc/oms-verifier/config.toml")
ENV_CONFIG = "OMS_VERIFIER_CONFIG"
ENV_STATE_DIR = "OMS_VERIFIER_STATE_DIR"


class ConfigError(OmsError):
    code = "bad_config"


def default_state_dir() -> Path:
    """systemd's StateDirectory when run as a service, else a per-user directory."""
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "oms-verifier"


@dataclass(frozen=True)
class LogConfig:
    json: bool | None = None  # None: JSON unless stderr is a terminal
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    state_dir: Path = field(default_factory=default_state_dir)
    log: LogConfig = field(default_factory=LogConfig)
    trust_dir: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # whole file, for sections of later parts


def load(
    config_path: str | os.PathLike[str] | None, state_dir: str | os.PathLike[str] | None
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
        raw=data,
    )


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table")
    return value
