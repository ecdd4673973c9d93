from __future__ import annotations

from pathlib import Path

import pytest

from verifier import config

ROOT = Path(__file__).resolve().parents[1]


def test_the_documented_example_config_loads(tmp_path: Path) -> None:
    cfg = config.load(str(ROOT / "docs" / "config.example.toml"), str(tmp_path))
    assert cfg.register.region == "50"
    assert cfg.http.host == "127.0.0.1" and cfg.http.port == 8471
    assert cfg.registry.url is None  # offline until a registry is configured


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[http]\nhost = "0.0.0.0"\n', "not loopback"),
        ("[http]\nport = 70000\n", "port"),
        ('[[http.tokens]]\ntoken = "short"\nrole = "mis"\n', "16+"),
        ('[[http.tokens]]\ntoken = "0123456789abcdefXYZ"\nrole = "root"\n', "role"),
        ('[register]\nregion = "5"\n', "2-digit"),
        ('[registry]\nurl = "ftp://x"\n', "http"),
        ('[service]\nsources = "pcsc"\n', "list"),
        ("[log]\nlevel = 3\n", "level"),
        ("not toml [", "cannot read"),
    ],
)
def test_bad_configs_fail_with_a_clear_message(tmp_path: Path, toml: str, needle: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(toml)
    with pytest.raises(config.ConfigError) as exc:
        config.load(str(f), str(tmp_path))
    assert needle in exc.value.message


def test_non_loopback_with_a_token_is_allowed(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        '[http]\nhost = "0.0.0.0"\n[[http.tokens]]\nname = "mis"\n'
        'token = "0123456789abcdefXYZ"\nrole = "mis"\n'
    )
    cfg = config.load(str(f), str(tmp_path))
    assert cfg.http.tokens[0].role == "mis" and cfg.http.tokens[0].name == "mis"
