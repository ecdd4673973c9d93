"""``registry serve`` parsing, its refusal without tokens, and a real run as a subprocess."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from verifier.registry import protocol
from verifier.registry.server import ServerConfig, ThreadedServer, create_app
from verifier.registry.server.cli import add_serve_parser, cmd_registry_serve, config_from_args

from .conftest import TOKEN, Register

REPO = Path(__file__).resolve().parents[2]


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="oms-verifier")
    sub = p.add_subparsers(dest="command", required=True)
    rg = sub.add_parser("registry")
    add_serve_parser(rg.add_subparsers(dest="registry_command", required=True))
    return p.parse_args(["registry", "serve", *argv])


def test_parser_and_config(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# ops\nfile-token\n\n")
    args = _parse(
        ["--data", "/srv/reg", "--port", "9000", "--token", "a", "--token", "b",
         "--token-file", str(tokens), "--store", "postgresql", "--dsn", "dbname=x", "--faults",
         "--tls-cert", "c.pem", "--tls-key", "k.pem"]
    )  # fmt: skip
    assert args.func is cmd_registry_serve
    cfg = config_from_args(args, {"OMS_REGISTRY_TOKENS": " env1, ,env2,a"})
    assert cfg.data_dir == Path("/srv/reg") and cfg.port == 9000 and cfg.host == "127.0.0.1"
    assert cfg.tokens == ("a", "b", "env1", "env2", "file-token")
    assert cfg.store == "postgresql" and cfg.dsn == "dbname=x" and cfg.faults
    assert cfg.tls_cert == Path("c.pem") and cfg.tls_client_ca is None
    defaults = config_from_args(_parse(["--data", "d"]), {})
    assert defaults.port == 8470 and defaults.store == "sqlite" and defaults.tokens == ()
    assert not defaults.faults and not defaults.insecure_no_auth


def test_refuses_to_start_without_a_token(
    register: Register, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMS_REGISTRY_TOKENS", raising=False)
    assert cmd_registry_serve(_parse(["--data", str(register.data_dir)])) == 2
    assert "no_auth" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_module_entry_point_serves(register: Register, tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "OMS_REGISTRY_TOKENS": f"x,{TOKEN}", "PYTHONPATH": str(REPO)}
    work = str(tmp_path / "work")
    cmd = [sys.executable, "-m", "verifier.registry.server", "--data", str(register.data_dir),
           "--port", str(port), "--work-dir", work, "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                resp = httpx.get(
                    f"http://127.0.0.1:{port}/v1/time", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the service did not come up"
                time.sleep(0.1)
        protocol.parse_time(resp.content)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/ping").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught
        assert proc.wait(timeout=15) in (0, -signal.SIGTERM)
    assert not list((tmp_path / "work").iterdir()), "the store is removed at shutdown"


def test_tls_with_client_certificates(register: Register, tmp_path: Path) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=test ca")
    openssl("req", "-x509", *ec, "-keyout", "srv.key", "-out", "srv.pem", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1")  # fmt: skip
    openssl("req", *ec, "-keyout", "cli.key", "-out", "cli.csr", "-subj", "/CN=clinic")
    openssl("x509", "-req", "-in", "cli.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "cli.pem", "-days", "2")  # fmt: skip
    cfg = ServerConfig(
        data_dir=register.data_dir,
        port=0,
        tokens=(TOKEN,),
        tls_cert=tmp_path / "srv.pem",
        tls_key=tmp_path / "srv.key",
        tls_client_ca=tmp_path / "ca.pem",
        log_level="critical",
    )
    with ThreadedServer(create_app(cfg), cfg) as srv:
        assert srv.url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(tmp_path / "srv.pem"))
        ctx.load_cert_chain(tmp_path / "cli.pem", tmp_path / "cli.key")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{srv.url}/v1/ping", verify=ctx, headers=auth).json() == {"ok": True}
        anonymous = ssl.create_default_context(cafile=str(tmp_path / "srv.pem"))
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{srv.url}/v1/ping", verify=anonymous, headers=auth)
