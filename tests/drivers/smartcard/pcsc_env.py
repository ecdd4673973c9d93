"""A private pcscd with the vsmartcard vpcd reader, for real-stack tests.

pcsc-lite 1.9.9 (Debian 12) hard-codes the daemon's socket at ``/run/pcscd/pcscd.comm``; only
the client library honours ``PCSCLITE_CSOCK_NAME`` (the daemon learnt it in later releases).
So to never clash with a system pcscd (socket-activated by systemd on most desktops and CI
images) the daemon runs in its own mount namespace (``unshare --mount``, plus ``--user
--map-root-user`` when not root) where a private directory is bind-mounted over ``/run``; the
client is pointed at ``<private>/pcscd/pcscd.comm``. The reader comes from a private
``reader.conf.d`` (``pcscd -c DIR``) listing vpcd's IFD handler on a free port pair (vpcd
opens slot 0 on PORT and slot 1 on PORT+1: readers "Virtual PCD 00 00" and "… 00 01").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

VPCD_LIB_CANDIDATES = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so",
    "/usr/lib64/pcsc/drivers/serial/libifdvpcd.so",
)
READER0 = "Virtual PCD 00 00"


def find_vpcd_lib() -> str | None:
    return next((p for p in VPCD_LIB_CANDIDATES if os.path.exists(p)), None)


def find_pcscd() -> str | None:
    return shutil.which("pcscd") or next(
        (p for p in ("/usr/sbin/pcscd", "/sbin/pcscd") if os.path.exists(p)), None
    )


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free TCP port pair for vpcd")


class PcscEnv:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.run_dir = base / "run"
        self.conf_dir = base / "reader.conf.d"
        self.log_path = base / "pcscd.log"
        self.port = free_port_pair()
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket_path = self.run_dir / "pcscd" / "pcscd.comm"

    # --- feasibility -----------------------------------------------------------------------

    def why_not(self) -> str | None:
        """None when pcscd + vpcd can run here; else the reason (for pytest.skip)."""
        if find_pcscd() is None:
            return "pcscd is not installed (Debian package 'pcscd')"
        if find_vpcd_lib() is None:
            return "vpcd IFD handler not found (Debian package 'vsmartcard-vpcd')"
        if shutil.which("unshare") is None:
            return "util-linux 'unshare' missing: cannot isolate pcscd's fixed /run/pcscd socket"
        probe = subprocess.run(
            [*self._unshare(), "true"], capture_output=True, timeout=10, check=False
        )
        if probe.returncode != 0:
            return (
                "cannot create a private mount namespace for pcscd (pcsc-lite 1.9 ignores "
                "PCSCLITE_CSOCK_NAME in the daemon, so it would clash with a system pcscd): "
                + probe.stderr.decode(errors="replace").strip()
            )
        return None

    @staticmethod
    def _unshare() -> list[str]:
        args = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            args[1:1] = ["--user", "--map-root-user"]
        return args

    # --- lifecycle -------------------------------------------------------------------------

    def configure(self) -> None:
        (self.run_dir / "pcscd").mkdir(parents=True, exist_ok=True)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        lib = find_vpcd_lib()
        (self.conf_dir / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:0x{self.port:04X}\n"
            f"LIBPATH      {lib}\n"
            f"CHANNELID    0x{self.port:04X}\n"
        )

    def start(self, timeout: float = 10.0) -> None:
        self.configure()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        script = (
            f'mount --bind "{self.run_dir}" /run && '
            f'exec "{find_pcscd()}" --foreground --debug -c "{self.conf_dir}"'
        )
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self._unshare(), "sh", "-c", script],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pcscd exited ({self.proc.returncode}): {self.tail()}")
            if self.socket_path.exists() and b"daemon ready" in self.log_path.read_bytes():
                return
            time.sleep(0.05)
        raise RuntimeError(f"pcscd not ready after {timeout}s: {self.tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        except OSError:
            return ""
