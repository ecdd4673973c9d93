from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.cli import main
from verifier.demo import demo_person_enp, paper_policy_bytes


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
