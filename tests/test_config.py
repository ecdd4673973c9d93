from __future__ import annotations

import os
import re
import shutil
import tempfile
import textwrap
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
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


# --- the schema: unknown keys and sections, wrong types, unreadable files (issue 13) ---------

TOKEN = "0123456789abcdefXYZ"


def _load(tmp_path: Path, toml: str) -> config.Config:
    f = tmp_path / "c.toml"
    f.write_text(toml, encoding="utf-8")
    return config.load(str(f), str(tmp_path))


def _refused(tmp_path: Path, toml: str) -> config.ConfigError:
    with pytest.raises(config.ConfigError) as exc:
        _load(tmp_path, toml)
    return exc.value


def _doc_config_blocks() -> list[tuple[str, str]]:
    """Every ```toml block of the README and docs/ that shows the daemon's config file
    (docs/trust.md's blocks are key descriptors, another file)."""
    blocks = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        if doc.name == "trust.md":
            continue
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^([ \t]*)```toml\n(.*?)^\1```", text, re.S | re.M):
            blocks.append((f"{doc.relative_to(ROOT)}:{text[: m.start()].count(chr(10)) + 1}", m))
    return [(where, textwrap.dedent(m.group(2))) for where, m in blocks]


@pytest.mark.parametrize(
    "path", ["docs/config.example.toml", "packaging/config.toml"], ids=["example", "package"]
)
def test_shipped_configs_use_only_known_keys_and_parse(tmp_path: Path, path: str) -> None:
    data = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
    for section, table in data.items():
        assert section in config.SCHEMA, section
        assert set(table) <= set(config.SCHEMA[section]), (section, set(table))
    cfg = config.load(str(ROOT / path), str(tmp_path))
    assert cfg.source == ROOT / path and cfg.http.port == 8471


def test_documented_config_snippets_use_only_known_keys() -> None:
    blocks = _doc_config_blocks()
    assert len(blocks) >= 4  # README, docs/daemon.md, docs/api.md
    for where, block in blocks:
        try:
            config.check_schema(tomllib.loads(block))
        except config.ConfigError as exc:
            raise AssertionError(f"{where}: {exc.message}") from None


@pytest.mark.parametrize(
    ("toml", "key", "hint"),
    [
        ("prot = 1\n", '"prot" outside any section', "did you mean [http] port?"),
        ("[htttp]\nport = 1\n", "section [htttp]", "did you mean [http]?"),
        ("[http]\nprot = 1\n", '"prot" in [http]', 'did you mean "port"?'),
        ("[service]\nwatchdg = true\n", '"watchdg" in [service]', 'did you mean "watchdog"?'),
        ("[http.token]\nname = 1\n", '"token" in [http]', 'did you mean "tokens"?'),
        (
            f'[[http.tokens]]\ntoken = "{TOKEN}"\nrol = "mis"\n',
            '"rol" in [[http.tokens]] #1',
            'did you mean "role"?',
        ),
        (
            '[[screens.kiosk]]\nname = "hall"\ndevice = ["camera:0"]\n',
            '"device" in [[screens.kiosk]] #1',
            'did you mean "devices"?',
        ),
        ("[imaging]\nx = 1\n", "section [imaging]", "known sections: general, log"),
    ],
)
def test_unknown_keys_and_sections_are_refused(
    tmp_path: Path, toml: str, key: str, hint: str
) -> None:
    err = _refused(tmp_path, toml)
    assert err.code == "config_unknown_key"
    assert err.message.startswith(f"{tmp_path / 'c.toml'}: unknown ")  # names the file
    assert key in err.message and hint in err.message, err.message
    assert "\n" not in err.message


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[http]\nport = "8471"\n', "[http] port must be an integer, not a string"),
        ("[http]\nhost = 127\n", "[http] host must be a string, not an integer"),
        ('[service]\nwatchdog = "yes"\n', "[service] watchdog must be true or false, not a string"),
        ("[register]\nstale_grace_hours = true\n", "stale_grace_hours must be a number, not a"),
        ("[http]\ntokens = 3\n", "[[http.tokens]] must be an array of tables, not an integer"),
        ("[[http.tokens]]\ntoken = 12345678901234567\n", "#1 token must be a string, not an"),
        ('[[screens.kiosk]]\ndevices = "camera:0"\n', "#1 devices must be a list of strings"),
        ("http = 8471\n", "[http] must be a table, not an integer"),
        ("[general]\nstate_dir = 5\n", "[general] state_dir must be a string"),
    ],
)
def test_wrong_types_name_the_key_and_the_expected_type(
    tmp_path: Path, toml: str, expected: str
) -> None:
    err = _refused(tmp_path, toml)
    assert err.code == "bad_config"
    assert err.message.startswith(f"{tmp_path / 'c.toml'}: ") and expected in err.message


def test_a_type_error_never_echoes_the_value(tmp_path: Path) -> None:
    """A misplaced secret (a token written as a number, a URL with credentials) stays out of
    the error line, which goes to the journal."""
    err = _refused(tmp_path, "[registry]\ntoken = 987654321987654321\n")
    assert "987654321" not in err.message and "[registry] token must be a string" in err.message


@contextmanager
def _as_nobody() -> Iterator[None]:
    """Run as an unprivileged user (the service's), as far as file access goes."""
    if os.geteuid() != 0:  # already unprivileged: the 0600/0700 modes alone deny access
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is under a root-only 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="oms-config-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_an_unreadable_file_names_the_file_and_the_permission(open_dir: Path) -> None:
    etc = open_dir / "etc"
    etc.mkdir()
    etc.chmod(0o755)
    f = etc / "config.toml"
    f.write_text("[http]\nport = 8471\n")
    f.chmod(0o600)
    with _as_nobody(), pytest.raises(config.ConfigError) as exc:
        config.load(str(f), str(open_dir / "state"))
    assert exc.value.code == "config_unreadable"
    assert exc.value.message == (
        f"cannot read {f}: permission denied "
        "(the service user needs read access: root:oms-verifier 0640)"
    )


def test_an_unsearchable_directory_names_the_directory(open_dir: Path) -> None:
    """/etc/oms-verifier root:root 0750, as the README's steps left it: even stat fails."""
    etc = open_dir / "etc"
    etc.mkdir()
    f = etc / "config.toml"
    f.write_text("[http]\nport = 8471\n")
    etc.chmod(0o700)
    with _as_nobody(), pytest.raises(config.ConfigError) as exc:
        config.load(str(f), str(open_dir / "state"))
    assert exc.value.code == "config_unreadable"
    assert exc.value.message.startswith(f"cannot read {f}: permission denied on its directory")
    assert f"{etc} root:oms-verifier 0750" in exc.value.message


def test_a_directory_as_config_is_unreadable_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError) as exc:
        config.load(str(tmp_path), str(tmp_path))
    assert exc.value.code == "config_unreadable" and str(tmp_path) in exc.value.message


def test_the_cli_prints_one_error_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from verifier import cli

    f = tmp_path / "c.toml"
    f.write_text("[http]\nprot = 1\n")
    assert cli.main(["--config", str(f), "enp", "5047000818001962"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        f'oms-verifier: error [config_unknown_key]: {f}: unknown key "prot" in [http] '
        '(did you mean "port"?)\n'
    )


def test_every_declared_key_is_read_by_a_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other half of "cannot drift" (a parser reading an undeclared key fails on every
    load): a key declared but read by nobody would be accepted and silently ignored."""
    for name in (
        "OMS_VERIFIER_STATE_DIR",
        "OMS_VERIFIER_REGISTRY_URL",
        "OMS_VERIFIER_REGISTRY_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    read: set[tuple[str, str]] = set()
    original = config._Table.get

    def recording(self: config._Table, key: str, default: object = None) -> object:
        read.add((self.name, key))
        return original(self, key, default)

    monkeypatch.setattr(config._Table, "get", recording)
    config.load(str(ROOT / "docs" / "config.example.toml"), None)
    declared = {(s, k) for s, keys in config.SCHEMA.items() for k in keys}
    assert declared - read == set()


def test_reading_an_undeclared_key_is_a_bug_caught_at_once() -> None:
    table = config._Table("http", {"port": 1})
    assert table.get("port") == 1
    with pytest.raises(RuntimeError, match=r"\[http\] prot is read but not declared"):
        table.get("prot")


def test_the_environment_still_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_VERIFIER_REGISTRY_URL", "https://env.example/")
    monkeypatch.setenv("OMS_VERIFIER_STATE_DIR", str(tmp_path / "env-state"))
    f = tmp_path / "c.toml"
    f.write_text('[general]\nstate_dir = "/nowhere"\n[registry]\nurl = "https://file.example/"\n')
    cfg = config.load(str(f), None)
    assert cfg.registry.url == "https://env.example/"
    assert cfg.state_dir == tmp_path / "env-state"
    # ...and a file with an unknown key is refused all the same
    err = _refused(tmp_path, '[registry]\nurl = "https://file.example/"\nurll = 1\n')
    assert err.code == "config_unknown_key"


def test_the_reference_in_docs_daemon_md_lists_every_key() -> None:
    text = (ROOT / "docs" / "daemon.md").read_text(encoding="utf-8")
    parts = re.split(r"^#### `\[([a-z]+)\]`.*$", text, flags=re.M)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert set(sections) == set(config.SCHEMA)
    for name, keys in config.SCHEMA.items():
        body = sections[name].split("\n#")[0]  # up to the next heading
        for key, kind in keys.items():
            assert f"`{key}`" in body, f"docs/daemon.md [{name}] does not describe {key}"
            for sub in kind.keys or {}:
                assert f"`{sub}`" in body, f"docs/daemon.md [[{name}.{key}]] lacks {sub}"


def test_a_bad_override_is_blamed_on_the_environment_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_VERIFIER_REGISTRY_URL", "ftp://env.example/")
    err = _refused(tmp_path, '[registry]\nurl = "https://file.example/"\n')
    assert err.message == "OMS_VERIFIER_REGISTRY_URL must start with http:// or https://"
    monkeypatch.delenv("OMS_VERIFIER_REGISTRY_URL")
    err = _refused(tmp_path, '[registry]\nurl = "ftp://file.example/"\n')
    assert (
        err.message == f"{tmp_path / 'c.toml'}: [registry] url must start with http:// or https://"
    )
