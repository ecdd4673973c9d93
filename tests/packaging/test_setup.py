"""oms-verifier-setup: the unit's device and network allowances come from the config, and
only for what it names (issue 13: no device kind, keyboard or address the desk does not use)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "packaging" / "oms-verifier-setup"


def run(tmp_path: Path, config: str, *extra: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(config)
    resolv = tmp_path / "resolv.conf"
    if not resolv.exists():
        resolv.write_text("nameserver 127.0.0.53\n")
    return subprocess.run(
        [
            sys.executable,
            str(SETUP),
            "--config",
            str(cfg),
            "--unit-dir",
            str(tmp_path / "systemd"),
            "--udev-dir",
            str(tmp_path / "udev"),
            "--sysfs",
            str(tmp_path / "sys"),
            "--resolv-conf",
            str(resolv),
            "--no-reload",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def dropin(tmp_path: Path, name: str) -> Path:
    return tmp_path / "systemd" / "oms-verifier.service.d" / name


def test_no_sources_no_registry_allows_nothing(tmp_path: Path) -> None:
    proc = run(tmp_path, '[service]\nsources = ["pcsc"]\n')
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "systemd").exists()
    assert not (tmp_path / "udev" / "99-oms-verifier-wedge.rules").exists()


def test_device_kinds_are_allowed_only_as_configured(tmp_path: Path) -> None:
    proc = run(
        tmp_path,
        '[service]\nsources = ["camera:0", "serial:/dev/ttyUSB0?baudrate=9600", "pcsc"]\n',
    )
    assert proc.returncode == 0, proc.stderr
    lines = dropin(tmp_path, "50-devices.conf").read_text().splitlines()
    assert [ln for ln in lines if ln.startswith("DeviceAllow=")] == [
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-ttyUSB rw",
    ]
    assert not (tmp_path / "udev" / "99-oms-verifier-wedge.rules").exists()


def test_a_keyboard_wedge_gets_a_rule_for_its_own_ids_only(tmp_path: Path) -> None:
    proc = run(tmp_path, '[service]\nsources = ["evdev:usb:05E0:1200?keymap=ru"]\n')
    assert proc.returncode == 0, proc.stderr
    devices = dropin(tmp_path, "50-devices.conf").read_text()
    assert "DeviceAllow=char-input r\n" in devices
    (rule,) = [
        ln
        for ln in (tmp_path / "udev" / "99-oms-verifier-wedge.rules").read_text().splitlines()
        if not ln.startswith("#")
    ]
    assert 'ATTRS{idVendor}=="05e0", ATTRS{idProduct}=="1200"' in rule
    assert 'GROUP="oms-verifier"' in rule and 'MODE="0640"' in rule
    assert 'SUBSYSTEM=="input"' in rule and 'KERNEL=="event*"' in rule


def test_a_wedge_by_event_node_is_resolved_through_sysfs(tmp_path: Path) -> None:
    ids = tmp_path / "sys" / "class" / "input" / "event7" / "device" / "id"
    ids.mkdir(parents=True)
    (ids / "vendor").write_text("0c2e\n")
    (ids / "product").write_text("0b61\n")
    proc = run(tmp_path, '[service]\nsources = ["evdev:/dev/input/event7"]\n')
    assert proc.returncode == 0, proc.stderr
    rules = (tmp_path / "udev" / "99-oms-verifier-wedge.rules").read_text()
    assert 'ATTRS{idVendor}=="0c2e", ATTRS{idProduct}=="0b61"' in rules


def test_an_absent_wedge_node_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run(tmp_path, '[service]\nsources = ["evdev:/dev/input/event9"]\n')
    assert proc.returncode == 2
    assert proc.stderr.startswith("error [unknown_device]: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "systemd").exists()


@pytest.mark.parametrize(
    ("sources", "code"),
    [
        ('["floppy:/dev/fd0"]', "bad_config"),
        ('["evdev:usb:xyz"]', "bad_config"),
        ("5", "bad_config"),
    ],
)
def test_bad_sources_are_one_line_errors(tmp_path: Path, sources: str, code: str) -> None:
    proc = run(tmp_path, f"[service]\nsources = {sources}\n")
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error [{code}]: ") and proc.stderr.count("\n") == 1


def test_an_unreadable_config_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run(tmp_path, "[service\n")
    assert proc.returncode == 2 and proc.stderr.startswith("error [bad_config]: cannot read")


def test_the_registry_address_is_allowed_and_loopback_dns_is_not_added(tmp_path: Path) -> None:
    proc = run(tmp_path, '[registry]\nurl = "https://192.0.2.10:8443/"\n')
    assert proc.returncode == 0, proc.stderr
    lines = dropin(tmp_path, "50-network.conf").read_text().splitlines()
    assert [ln for ln in lines if ln.startswith("IPAddressAllow=")] == ["IPAddressAllow=192.0.2.10"]


def test_a_registry_by_name_adds_its_addresses_and_the_dns_servers(tmp_path: Path) -> None:
    (tmp_path / "resolv.conf").write_text("# lan\nnameserver 198.51.100.53\nnameserver ::1\n")
    proc = run(tmp_path, '[registry]\nurl = "http://localhost:9000/"\n')
    assert proc.returncode == 0, proc.stderr
    lines = dropin(tmp_path, "50-network.conf").read_text().splitlines()
    # localhost is already allowed by the unit; the LAN DNS server is what it would lack.
    assert [ln for ln in lines if ln.startswith("IPAddressAllow=")] == [
        "IPAddressAllow=198.51.100.53"
    ]


def test_rerun_after_removing_sources_takes_the_allowances_back(tmp_path: Path) -> None:
    assert (
        run(tmp_path, '[service]\nsources = ["hidraw:usb:0c2e", "evdev:usb:05e0"]\n').returncode
        == 0
    )
    assert dropin(tmp_path, "50-devices.conf").exists()
    proc = run(tmp_path, "[service]\nsources = []\n")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "systemd" / "oms-verifier.service.d").exists()
    assert not (tmp_path / "udev" / "99-oms-verifier-wedge.rules").exists()
