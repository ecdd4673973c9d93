"""``[http]`` settings for the Host/Origin gate, deadlines, the connection cap and the
/v1/match rate limit (issue 10, findings 7, 10 and 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from verifier import config as config_mod
from verifier.config import ConfigError, HttpConfig
from verifier.http.app import allowed_hosts, gate_refusal
from verifier.http.transport import FD_RESERVE, connection_cap


def load(tmp_path: Path, http: str) -> HttpConfig:
    path = tmp_path / "config.toml"
    path.write_text("[http]\n" + http, encoding="utf-8")
    return config_mod.load(path, tmp_path / "state").http


def test_defaults(tmp_path: Path) -> None:
    cfg = load(tmp_path, "")
    assert cfg.allowed_hosts == () and cfg.allowed_origins == ()
    assert cfg.header_timeout_s == 10 and cfg.body_timeout_s == 30
    assert cfg.max_connections == 256 and cfg.backlog == 128
    assert cfg.match_per_minute == 30 and cfg.match_burst == 10


def test_names_are_normalised(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        'allowed_hosts = ["Desk-3.Clinic"]\nallowed_origins = ["https://V.Clinic:8443/"]\n'
        "header_timeout_s = 2.5\nmatch_burst = 3\n",
    )
    assert cfg.allowed_hosts == ("desk-3.clinic",)
    assert cfg.allowed_origins == ("https://v.clinic:8443",)
    assert cfg.header_timeout_s == 2.5 and cfg.match_burst == 3


@pytest.mark.parametrize(
    "bad",
    [
        'allowed_hosts = "desk"',
        'allowed_hosts = ["desk/x"]',
        'allowed_hosts = ["*"]',
        'allowed_origins = ["desk.clinic"]',
        'allowed_origins = ["ftp://desk"]',
        "header_timeout_s = 0",
        "body_timeout_s = -1",
        "body_timeout_s = 99999",
        "max_connections = 0",
        "match_per_minute = 0",
        "match_burst = true",
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, bad + "\n")


def test_bound_address_is_an_allowed_host() -> None:
    assert "[::1]" in allowed_hosts(HttpConfig(host="::1"))
    assert "10.0.0.5" in allowed_hosts(HttpConfig(host="10.0.0.5"))
    assert "0.0.0.0" not in allowed_hosts(HttpConfig(host="0.0.0.0"))  # noqa: S104 - the wildcard address is what is tested


def test_gate_without_a_port_in_scope() -> None:
    """No server address known (some ASGI servers): the Origin's port is not compared."""
    cfg = HttpConfig()
    ok = {"host": "127.0.0.1", "origin": "http://127.0.0.1:1234"}
    assert gate_refusal("POST", "/v1/verify", ok, None, cfg) is None
    assert gate_refusal("POST", "/v1/verify", ok, 8471, cfg) is not None
    two_hosts = {"host": "\x00"}
    assert gate_refusal("GET", "/healthz", two_hosts, 8471, cfg) == (
        421,
        "bad_host",
        "сервис отвечает только на свои имена хоста",
    )


def test_connection_cap_follows_the_descriptor_limit() -> None:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(10) == min(10, max(8, soft - FD_RESERVE))
    assert connection_cap(10**9) <= max(8, soft - FD_RESERVE)
