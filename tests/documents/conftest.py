"""Fixtures for document signatures: Debian's OpenSSL GOST engine, a PKI it made, test tools.

Tools are required, not optional: a missing one fails the test (Debian packages
libengine-gost-openssl, qpdf, img2pdf, ghostscript, zint, enscript, poppler-utils, xmlsec1).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from verifier.crypto.keys import PrivateKey, load_private_key
from verifier.crypto.x509 import Certificate, load_certificate

DATA = Path(__file__).resolve().parents[1] / "data" / "documents"
ALGS = [
    ("gost2012_256", "A", "md_gost12_256"),
    ("gost2012_512", "A", "md_gost12_512"),
    ("gost2001", "A", "md_gost94"),
]
EXT_CNF = """
[v3ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[v3leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


def need(tool: str) -> str:
    path = shutil.which(tool)
    assert path, f"{tool} is required for these tests (install its Debian package)"
    return path


def run(
    *args: str, input: bytes | None = None, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(list(args), input=input, capture_output=True, check=False, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
    return proc


def openssl(
    *args: str, input: bytes | None = None, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    need("openssl")
    return run("openssl", *args, input=input, check=check, cwd=cwd)


@dataclass(frozen=True)
class Signer:
    alg: str
    md: str
    key_path: Path
    cert_path: Path
    key: PrivateKey
    cert: Certificate


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca_path: Path
    ca_key_path: Path
    ca: Certificate
    signers: dict[str, Signer]
    crl_path: Path  # revokes the gost2012_512 signer
    revoked: str


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and one signer per algorithm, all made by ``openssl -engine gost``, plus a CRL."""
    engines = openssl("engine", "gost", "-c").stdout.decode()
    assert "gost2012_256" in engines, "OpenSSL GOST engine missing (libengine-gost-openssl)"
    base = tmp_path_factory.mktemp("pki")
    cnf = base / "ext.cnf"
    cnf.write_text(EXT_CNF)
    full_cnf = base / "req.cnf"
    full_cnf.write_text(Path("/usr/lib/ssl/openssl.cnf").read_text() + EXT_CNF)
    ca_key = base / "ca.key"
    ca_pem = base / "ca.pem"
    openssl(
        "genpkey",
        "-engine",
        "gost",
        "-algorithm",
        "gost2012_256",
        "-pkeyopt",
        "paramset:A",
        "-out",
        str(ca_key),
    )
    openssl(
        "req",
        "-engine",
        "gost",
        "-x509",
        "-new",
        "-key",
        str(ca_key),
        "-subj",
        "/CN=Test Treasury CA",
        "-days",
        "3650",
        "-extensions",
        "v3ca",
        "-config",
        str(full_cnf),
        "-md_gost12_256",
        "-out",
        str(ca_pem),
    )
    signers: dict[str, Signer] = {}
    for alg, ps, md in ALGS:
        key, csr, pem = base / f"{alg}.key", base / f"{alg}.csr", base / f"{alg}.pem"
        openssl(
            "genpkey",
            "-engine",
            "gost",
            "-algorithm",
            alg,
            "-pkeyopt",
            f"paramset:{ps}",
            "-out",
            str(key),
        )
        openssl(
            "req",
            "-engine",
            "gost",
            "-new",
            "-key",
            str(key),
            "-subj",
            f"/CN=Signer {alg}",
            "-out",
            str(csr),
        )
        openssl(
            "x509",
            "-engine",
            "gost",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca_pem),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-days",
            "365",
            "-extfile",
            str(cnf),
            "-extensions",
            "v3leaf",
            "-md_gost12_256",
            "-out",
            str(pem),
        )
        signers[alg] = Signer(
            alg,
            md,
            key,
            pem,
            load_private_key(key.read_bytes()),
            load_certificate(pem.read_bytes()),
        )
    db = base / "ca"
    db.mkdir()
    (db / "index.txt").write_text("")
    (db / "crlnumber").write_text("1000\n")
    ca_cnf = base / "ca.cnf"
    ca_cnf.write_text(
        f"[ca]\ndefault_ca=CA_default\n[CA_default]\ndatabase={db}/index.txt\n"
        f"crlnumber={db}/crlnumber\ndefault_md=md_gost12_256\ndefault_crl_days=30\n"
    )
    revoked = "gost2012_512"
    common = [
        "-engine",
        "gost",
        "-config",
        str(ca_cnf),
        "-keyfile",
        str(ca_key),
        "-cert",
        str(ca_pem),
    ]
    openssl("ca", *common, "-revoke", str(signers[revoked].cert_path))
    crl = base / "ca.crl"
    openssl("ca", *common, "-gencrl", "-out", str(crl))
    return Pki(base, ca_pem, ca_key, load_certificate(ca_pem.read_bytes()), signers, crl, revoked)


def qr_pdf(d: Path, enp: str, *, qdf: bool = False) -> bytes:
    """A digital policy's QR on an A4 page, by independent tools: zint draws it, img2pdf makes
    the page; ``qdf``: normalised by qpdf (classic cross-reference table, for signing)."""
    url = f"https://www.gosuslugi.ru/oms?enp={enp}"
    run(need("zint"), "-b", "58", "-d", url, "--scale=4", "-o", str(d / "qr.png"))
    run(need("img2pdf"), "--pagesize", "A4", "-o", str(d / "qr.pdf"), str(d / "qr.png"))
    if not qdf:
        return (d / "qr.pdf").read_bytes()
    run(need("qpdf"), "--qdf", "--object-streams=disable", str(d / "qr.pdf"), str(d / "q.pdf"))
    return (d / "q.pdf").read_bytes()
