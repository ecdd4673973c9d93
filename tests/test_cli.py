from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.cli import main
from verifier.devkit.demo import demo_person_enp, paper_policy_bytes


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["--state-dir", "/nonexistent-unused", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_verify_text_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "verify", "--text", demo_person_enp(), "--json")
    assert rc == 0
    v = json.loads(out)
    assert v["outcome"] == "unknown"
    assert v["credential"]["enp"] == demo_person_enp()
    assert {c["name"] for c in v["checks"]} >= {"decode", "enp_checksum", "register_status"}


def test_verify_hex_and_file_agree(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = paper_policy_bytes()
    f = tmp_path / "policy.bin"
    f.write_bytes(raw)
    rc1, out1, _ = _run(capsys, "verify", "--hex", raw.hex(), "--json")
    rc2, out2, _ = _run(capsys, "verify", "--file", str(f), "--json")
    assert rc1 == rc2 == 0
    a, b = json.loads(out1), json.loads(out2)
    assert a["credential"] == b["credential"]
    assert a["credential"]["surname"] == "ИВАНОВ"


def test_verdict_of_any_outcome_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    enp = demo_person_enp()
    rc, out, _ = _run(capsys, "verify", "--text", enp[:-1] + "0", "--json")
    assert rc == 0 and json.loads(out)["outcome"] == "invalid"


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "--text", "no policy"],
        ["verify", "--hex", "zz"],
        ["verify", "--hex", "00" * 10],
        ["verify", "--file", "/no/such/file"],
    ],
)
def test_unusable_input_exits_two_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    rc, out, err = _run(capsys, *argv)
    assert rc == 2
    assert out == ""
    assert "error [" in err


def test_enp_command(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _run(capsys, "enp", demo_person_enp(), "--json")
    assert rc == 0
    assert json.loads(out) == {
        "valid": True,
        "region": "50",
        "birth_date": "1985-03-15",
        "sex": "M",
    }
    rc, out, _ = _run(capsys, "enp", demo_person_enp()[:-1] + "0", "--json")
    assert rc == 1 and json.loads(out)["valid"] is False


def test_missing_explicit_config_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--config", "/no/such/config.toml", "enp", demo_person_enp()])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err


def test_state_dir_from_env_and_flag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from verifier import config

    monkeypatch.setenv("OMS_VERIFIER_STATE_DIR", str(tmp_path / "env"))
    monkeypatch.delenv("OMS_VERIFIER_CONFIG", raising=False)
    assert config.load(None, None).state_dir == tmp_path / "env"
    assert config.load(None, str(tmp_path / "flag")).state_dir == tmp_path / "flag"
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text('[log]\nlevel = "LOUD"\n')
    with pytest.raises(config.ConfigError):
        config.load(str(cfg_file), None)


def test_console_script_runs_demo(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "verifier.cli", "--state-dir", str(tmp_path), "demo", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) >= 10
    assert [row["outcome"] for row in lines] == [row["expected"] for row in lines]


# --- Russian for people; ``find`` (issue 12) ---------------------------------------------------


@pytest.fixture(scope="module")
def demo_cli(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], Path]:
    """A small demo register as a plain (non-demo) config would point at it: the CLI's own
    assembly, with the register db, match key and trust directory of the demo state."""
    from verifier import config
    from verifier.devkit import demo

    base = tmp_path_factory.mktemp("cli-demo")
    state = demo.ensure_demo(config.load(None, str(base)), persons=2000)
    conf = base / "config.toml"
    conf.write_text(
        f'[trust]\ndir = "{state.trust_dir}"\n'
        f'[register]\nregion = "50"\ndb_path = "{state.cfg.register_db}"\n'
        f'match_key_file = "{state.cfg.register.match_key_file}"\n',
        encoding="utf-8",
    )
    return ["--config", str(conf), "--state-dir", str(state.cfg.state_dir)], state.registry_dir


def _row(registry_dir: Path) -> dict[str, str]:
    import csv

    with (registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return next(
            r
            for r in csv.DictReader(f)
            if not r["deleted"] and r["status"] == "active" and r["patronymic"] and not r["end"]
        )


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_plain_verdict_is_russian_without_english_headers(
    capsys: pytest.CaptureFixture[str], demo_cli: tuple[list[str], Path]
) -> None:
    args, reg = demo_cli
    row = _row(reg)
    rc, out, _ = _cli(capsys, *args, "lookup", row["enp"], "--offline")
    assert rc == 0
    first = out.splitlines()[0]
    assert first.startswith("Полис действителен"), out
    for english in ("VALID", "INVALID", "UNKNOWN", "источник: snapshot", "manual  ЕНП"):
        assert english not in out
    assert "Что делать: Примите пациента." in out
    assert f"ЕНП {row['enp']}" in out
    assert "Источник ответа: локальная копия реестра" in out


def test_cli_error_line_is_russian(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, "verify", "--text", "112-233-445 95", "--typed")
    assert rc == 2 and out == ""
    assert err.startswith("oms-verifier: error [snils_not_policy]: это СНИЛС"), err


@pytest.mark.parametrize("where", ["--offline", "--online"])
def test_find_by_name_and_birth_date(
    capsys: pytest.CaptureFixture[str],
    demo_cli: tuple[list[str], Path],
    where: str,
    tmp_path: Path,
) -> None:
    import secrets

    from verifier.registry.server import ServerConfig, ThreadedServer
    from verifier.registry.server import create_app as registry_app

    args, reg = demo_cli
    row = _row(reg)
    extra: list[str] = []
    server = None
    if where == "--online":  # the reference registry on loopback, serving the same register
        token = secrets.token_urlsafe(24)
        scfg = ServerConfig(
            data_dir=reg, port=0, tokens=(token,), state_dir=tmp_path, log_level="warning"
        )
        server = ThreadedServer(registry_app(scfg), scfg).start()
        extra = [
            "--registry-url",
            server.url,
            f"--registry-token={token}",
        ]  # a token may begin with "-"
    query = [
        "find",
        "--surname",
        row["surname"],
        "--given-name",
        row["given_name"],
        "--patronymic",
        row["patronymic"],
        "--birth-date",
        row["birth_date"],
        where,
    ]
    try:
        rc, out, _ = _cli(capsys, *args, *extra, *query, "--json")
        assert rc == 0
        doc = json.loads(out)
        assert doc["source"] == ("snapshot" if where == "--offline" else "registry")
        assert [v["credential"]["enp"] for v in doc["candidates"]] == [row["enp"]]
        assert doc["candidates"][0]["outcome"] == "valid"
        rc, out, _ = _cli(capsys, *args, *extra, *query)
        assert rc == 0
        assert out.startswith("Найдено: 1 (")
        assert "Полис действителен" in out and row["enp"] in out
    finally:
        if server is not None:
            server.stop()


def test_find_nobody_and_bad_date(
    capsys: pytest.CaptureFixture[str], demo_cli: tuple[list[str], Path]
) -> None:
    args, reg = demo_cli
    row = _row(reg)
    base = [*args, "find", "--surname", row["surname"], "--given-name", row["given_name"]]
    rc, out, _ = _cli(capsys, *base, "--birth-date", "1901-01-01", "--offline")
    assert rc == 0 and out.startswith("Никого не найдено (локальная копия реестра)")
    rc, out, err = _cli(capsys, *base, "--birth-date", "01.01.1990", "--offline")
    assert rc == 2 and "error [bad_argument]" in err
