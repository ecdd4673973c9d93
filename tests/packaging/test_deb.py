"""The Debian package, built by scripts/build-deb.sh and installed for real with apt-get:
metadata and lintian; the packaged daemon run as the oms-verifier user with the packaged
config (systemd is not PID 1 here, so directly, as the unit would); what that user can and
cannot read; an upgrade from the previous version keeping config, trust and snapshot;
remove keeping data; purge leaving the machine as it was.

Needs root (apt-get, runuser). The whole machine is the fixture: if oms-verifier is installed
and this test did not install it, the test refuses rather than purge someone's service.
"""

from __future__ import annotations

import csv
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build-deb.sh"
USER = "oms-verifier"
MARKER = Path("/var/tmp/oms-verifier-packaging-test.marker")  # "this test installed it"
TEST_TOOLS = ("pytest", "hypothesis", "mypy", "ruff", "playwright", "schemathesis", "atheris")
ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "OMS_DEB_COMPRESSION": "gzip:1"}
for _var in ("OMS_VERIFIER_CONFIG", "OMS_VERIFIER_STATE_DIR", "VIRTUAL_ENV"):
    ENV.pop(_var, None)


def sh(*cmd: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def as_service(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh("runuser", "-u", USER, "--", *cmd, check=check, timeout=120)


def dpkg_state() -> str:
    """``installed``, ``config-files`` (removed, not purged) or ``absent``."""
    proc = sh("dpkg-query", "-W", "-f=${db:Status-Status}", USER, check=False)
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else "absent"


def previous_version(version: str) -> str:
    """A release number below ``version`` in both PEP 440 and dpkg order: 0.1.0 → 0.0.999."""
    parts = [int(p) for p in version.split(".")[:3]]
    i = max(i for i, p in enumerate(parts) if p > 0)
    parts[i] -= 1
    return ".".join(str(p) for p in parts[: i + 1] + [999] * (len(parts) - i - 1))


def purge() -> None:
    if dpkg_state() != "absent":
        sh("apt-get", "purge", "-y", "-q", USER)


@pytest.fixture(scope="module")
def machine() -> Iterator[None]:
    """Root, the tools, and no oms-verifier package but one an interrupted run left behind;
    purged again at the end whatever happened."""
    if os.geteuid() != 0:
        pytest.fail("the package test installs a .deb: run it as root (CI does)")
    for tool in ("dpkg-deb", "apt-get", "runuser", "lintian", "/usr/bin/python3"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (bash scripts/install.sh installs it)")
    if dpkg_state() != "absent":
        if not MARKER.exists():
            pytest.fail(
                "oms-verifier is installed on this machine and not by this test: "
                "refusing to purge it (apt-get purge oms-verifier first)"
            )
        purge()
    MARKER.write_text("installed by tests/packaging/test_deb.py; purged at its end\n")
    try:
        yield
    finally:
        purge()
        MARKER.unlink(missing_ok=True)


class Built(NamedTuple):
    prev: Path
    cur: Path
    version: str  # the project's version (pyproject.toml): what the current .deb must carry


@pytest.fixture(scope="module")
def debs(machine: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The current version and the one before it, built by the same script."""
    out = tmp_path_factory.mktemp("debs")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    built: dict[str, Path] = {}
    for name, args in (("prev", ["--version", previous_version(version)]), ("cur", [])):
        proc = sh("bash", str(BUILD), "--out", str(out / name), *args, timeout=600)
        built[name] = Path(proc.stdout.strip().splitlines()[-1])
        assert built[name].is_file(), proc.stdout
    return Built(built["prev"], built["cur"], version)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the service user can read (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="oms-deb-test-", dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def field(deb: Path, name: str) -> str:
    return sh("dpkg-deb", "--field", str(deb), name).stdout.strip()


def test_package_names_its_python_and_services_and_has_no_test_tools(
    debs: Built,
) -> None:
    deb = debs.cur
    version = debs.version
    assert field(deb, "Version") == f"{version}-1"  # from the package metadata
    assert field(debs.prev, "Version") == f"{previous_version(version)}-1"
    depends = [d.strip() for d in field(deb, "Depends").split(",")]
    py = sh("/usr/bin/python3", "-c", "import sys; print(*sys.version_info[:2])").stdout.split()
    major, minor = int(py[0]), int(py[1])
    for dep in (
        f"python3 (>= {major}.{minor})",
        f"python3 (<< {major}.{minor + 1})",
        "pcscd",
        "libengine-gost-openssl",
        "adduser",
    ):
        assert dep in depends, depends
    assert not any(tool in d for d in depends for tool in ("pytest", "postgresql", "chromium"))
    listing = sh("dpkg-deb", "--contents", str(deb)).stdout
    site = f"./opt/oms-verifier/lib/python{major}.{minor}/site-packages/"
    assert f"{site}verifier/cli.py" in listing
    for tool in (*TEST_TOOLS, "psycopg", "pip/", "setuptools/"):
        assert f"{site}{tool}" not in listing, tool
    for path in (
        "./lib/systemd/system/oms-verifier.service",
        "./lib/udev/rules.d/99-oms-verifier.rules",
        "./etc/oms-verifier/config.toml",
        "./usr/sbin/oms-verifier-setup",
    ):
        assert path in listing, path
    conffiles = sh("dpkg-deb", "--info", str(deb), "conffiles").stdout.split()
    assert conffiles == ["/etc/oms-verifier/config.toml"]
    lint = sh("lintian", "--fail-on", "error,warning", str(deb), check=False, timeout=600)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.loads(r.read())
    assert isinstance(doc, dict)
    return doc


class Daemon:
    """The packaged daemon as the unit runs it: the service user, the packaged config."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "runuser",
                "-u",
                USER,
                "--",
                "/opt/oms-verifier/bin/oms-verifier",
                "--config",
                "/etc/oms-verifier/config.toml",
                "serve",
                "--port",
                str(self.port),
            ],
            env=ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                if get(f"{self.base}/healthz").get("ok") is True:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the packaged daemon did not come up:\n{self.stop()}")
            time.sleep(0.3)

    def lookup(self, enp: str) -> dict[str, object]:
        return get(f"{self.base}/v1/policies/{enp}?mode=offline")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


def mode(path: str) -> tuple[str, str, int]:
    st = os.stat(path)
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        stat.S_IMODE(st.st_mode),
    )


def apt_install(deb: Path) -> None:
    # apt-get wants "./name.deb" (a path, not a package name); run from the file's directory.
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", f"./{deb.name}"],
        cwd=deb.parent,
        capture_output=True,
        text=True,
        env=ENV,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_run_upgrade_remove_purge(debs: Built, shared_dir: Path) -> None:
    # --- install the previous version ------------------------------------------------------
    apt_install(debs.prev)
    assert dpkg_state() == "installed"
    entry = pwd.getpwnam(USER)
    assert grp.getgrgid(entry.pw_gid).gr_name == USER
    assert entry.pw_shell == "/usr/sbin/nologin" and entry.pw_uid < 1000  # a system user
    assert mode("/etc/oms-verifier") == ("root", USER, 0o750)
    assert mode("/etc/oms-verifier/trust") == ("root", USER, 0o750)
    assert mode("/etc/oms-verifier/config.toml") == ("root", USER, 0o640)
    assert mode("/var/lib/oms-verifier") == (USER, USER, 0o700)
    unit = Path("/lib/systemd/system/oms-verifier.service").read_text()
    assert "User=oms-verifier\n" in unit and "Group=oms-verifier\n" in unit
    assert 'GROUP="oms-verifier"' in Path("/lib/udev/rules.d/99-oms-verifier.rules").read_text()
    # Enabled like any Debian service (the symlink is made whether systemd runs or not).
    assert Path("/etc/systemd/system/multi-user.target.wants/oms-verifier.service").is_symlink()

    # --- what the service user may and may not do -----------------------------------------
    assert as_service("id", "-Gn").stdout.split() == [USER]  # no input/video/dialout group
    assert as_service("cat", "/etc/oms-verifier/config.toml").returncode == 0
    assert as_service("cat", "/etc/shadow", check=False).returncode != 0
    other_dir = Path(tempfile.mkdtemp(prefix="oms-other-", dir="/tmp"))
    try:
        other_dir.chmod(0o755)
        secret = other_dir / "secret.txt"
        secret.write_text("not for the service\n")
        secret.chmod(0o600)
        os.chown(secret, pwd.getpwnam("nobody").pw_uid, -1)
        assert as_service("cat", str(secret), check=False).returncode != 0
    finally:
        shutil.rmtree(other_dir)
    for path in ("/etc/oms-verifier/config.toml", "/etc/oms-verifier/trust", "/opt/oms-verifier"):
        assert as_service("test", "-w", path, check=False).returncode != 0, path
    nobody = sh(
        "runuser", "-u", "nobody", "--", "cat", "/etc/oms-verifier/config.toml", check=False
    )
    assert nobody.returncode != 0  # the config may hold tokens: not world-readable

    # --- the packaged daemon with the packaged config: no register yet --------------------
    daemon = Daemon()
    try:
        absent = daemon.lookup("5056410834001235")
        assert absent["outcome"] == "unknown" and absent["source"] == "none", absent
    finally:
        daemon.stop()

    # --- the admin's setup: an edited config, a trusted key, an imported snapshot ---------
    register = shared_dir / "register"
    sh(
        "/opt/oms-verifier/bin/oms-verifier", "registry", "generate", "--persons", "200",
        "--region", "50", "--seed", "3", "--out", str(register),
    )  # fmt: skip
    register.chmod(0o755)
    sh(
        "/opt/oms-verifier/bin/oms-verifier", "trust", "add", "--purpose", "snapshot",
        "--pubkey", str(register / "registry-snapshot.pub.pem"),
    )  # fmt: skip
    as_service("/opt/oms-verifier/bin/oms-verifier", "snapshot", "import", str(register))
    with open(register / "persons.csv", newline="", encoding="utf-8") as f:
        person = next(
            r
            for r in csv.DictReader(f)
            if r["status"] == "active" and not r["end"] and not r["deleted"]
        )
    config = Path("/etc/oms-verifier/config.toml")
    config.write_text(config.read_text().replace('level = "INFO"', 'level = "WARNING"  # site'))
    trusted = sorted(p.name for p in Path("/etc/oms-verifier/trust").iterdir())
    assert trusted

    daemon = Daemon()
    try:
        before = daemon.lookup(person["enp"])
        assert before["outcome"] == "valid" and before["source"] == "snapshot", before
    finally:
        daemon.stop()

    # --- upgrade to the current version ----------------------------------------------------
    apt_install(debs.cur)
    version = sh("dpkg-query", "-W", "-f=${Version}", USER).stdout
    assert version == f"{debs.version}-1"
    reported = sh(
        "/opt/oms-verifier/bin/python", "-I", "-c",
        "import importlib.metadata as m; print(m.version('oms-verifier'))",
    ).stdout.strip()  # fmt: skip
    assert reported == debs.version
    assert 'level = "WARNING"  # site' in config.read_text()  # the admin's edit survives
    assert sorted(p.name for p in Path("/etc/oms-verifier/trust").iterdir()) == trusted
    assert mode("/etc/oms-verifier/config.toml") == ("root", USER, 0o640)
    assert mode("/etc/oms-verifier") == ("root", USER, 0o750)
    daemon = Daemon()
    try:
        after = daemon.lookup(person["enp"])
        assert after["outcome"] == "valid" and after["source"] == "snapshot", after
        snap_before, snap_after = before["snapshot"], after["snapshot"]
        assert isinstance(snap_before, dict) and isinstance(snap_after, dict)
        assert snap_after["sequence"] == snap_before["sequence"] == 3  # full + two deltas
    finally:
        daemon.stop()

    # --- remove keeps the data; purge deletes it and leaves the machine as it was ----------
    sh("apt-get", "remove", "-y", "-q", USER)
    assert dpkg_state() == "config-files"
    assert not Path("/opt/oms-verifier").exists()
    assert Path("/var/lib/oms-verifier/register.sqlite3").exists()
    assert 'level = "WARNING"  # site' in config.read_text()
    sh("apt-get", "purge", "-y", "-q", USER)
    assert dpkg_state() == "absent"
    for gone in (
        "/etc/oms-verifier",
        "/var/lib/oms-verifier",
        "/opt/oms-verifier",
        "/lib/systemd/system/oms-verifier.service",
        "/lib/udev/rules.d/99-oms-verifier.rules",
        "/etc/systemd/system/multi-user.target.wants/oms-verifier.service",
        "/etc/systemd/system/oms-verifier.service.d",
    ):
        assert not os.path.lexists(gone), gone
    with pytest.raises(KeyError):
        pwd.getpwnam(USER)
    with pytest.raises(KeyError):
        grp.getgrnam(USER)
    assert USER not in sh("dpkg-statoverride", "--list").stdout


def test_previous_version_is_lower_in_both_orders() -> None:
    assert previous_version("0.1.0") == "0.0.999"
    assert previous_version("1.0") == "0.999"
    assert previous_version("2.3.4") == "2.3.3"
    for a, b in (("0.0.999", "0.1.0"), ("0.999", "1.0")):
        assert sh("dpkg", "--compare-versions", a, "lt", b, check=False).returncode == 0
