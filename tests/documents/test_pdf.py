"""PDF extracts made by independent tools (ghostscript, img2pdf+zint, qpdf), their signatures
(CMS by openssl, checked by poppler's pdfsig too), and hostile PDFs under a memory cap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verifier.crypto.cms import SignerTrust
from verifier.formats.pdf_extract import PdfError, PdfLimits, analyze_pdf, find_enp_in_text

from . import hostile
from .conftest import Pki, need, openssl, qr_pdf, run
from .pdfsign import add_signature

ENP = "5056410834001235"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def text_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """enscript + ghostscript's ps2pdf, normalised by qpdf --qdf (classic xref, for signing)."""
    d = tmp_path_factory.mktemp("textpdf")
    (d / "t.txt").write_text(
        "Vypiska iz edinogo registra zastrakhovannykh lits\n"
        "Polis OMS: 5056 4108 3400 1235\nOGRN SMO 1027700000001\nSNILS 112-233-445 95\n"
    )
    run(need("enscript"), "-q", "-B", "-o", str(d / "t.ps"), str(d / "t.txt"))
    run(need("ps2pdf"), str(d / "t.ps"), str(d / "t.pdf"))
    run(need("qpdf"), "--qdf", "--object-streams=disable", str(d / "t.pdf"), str(d / "q.pdf"))
    return (d / "q.pdf").read_bytes()


@pytest.fixture(scope="module")
def barcode_pdf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """zint draws a QR code holding the ENP URL, img2pdf puts it on an A4 page."""
    return qr_pdf(tmp_path_factory.mktemp("qrpdf"), ENP)


def test_text_layer_enp(text_pdf: bytes) -> None:
    result = analyze_pdf(text_pdf)
    assert result.barcodes == ()
    assert result.enp is not None and result.enp.enp == ENP and result.enp_source == "text"
    assert result.page_count == 1 and result.signatures == ()


def test_barcode_page(barcode_pdf: bytes) -> None:
    result = analyze_pdf(barcode_pdf)
    assert [b.payload for b in result.barcodes] == [
        f"https://www.gosuslugi.ru/oms?enp={ENP}".encode()
    ]
    assert result.barcode_pages == (0,)
    assert result.enp is None and result.enp_source == "none"  # the barcode decides


def test_text_enp_rules() -> None:
    assert find_enp_in_text("no number here") is None
    assert find_enp_in_text("ENP 5056410834001236 (bad check digit)") is None
    claim = find_enp_in_text("policy 5056-4108-3400-1235, phone 8 800 100 0000")
    assert claim is not None and claim.enp == ENP
    from verifier.errors import RecognitionError

    with pytest.raises(RecognitionError):
        find_enp_in_text(f"{ENP} and 5056 4108 3400 1243")


def _openssl_signer(pki: Pki, alg: str = "gost2012_256"):  # type: ignore[no-untyped-def]
    s = pki.signers[alg]

    def sign(data: bytes) -> bytes:
        return openssl(
            "cms",
            "-sign",
            "-engine",
            "gost",
            "-binary",
            "-signer",
            str(s.cert_path),
            "-inkey",
            str(s.key_path),
            "-md",
            s.md,
            "-outform",
            "DER",
            input=data,
        ).stdout

    return sign


@pytest.mark.parametrize("alg", ["gost2012_256", "gost2012_512", "gost2001"])
def test_embedded_signature(pki: Pki, text_pdf: bytes, tmp_path: Path, alg: str) -> None:
    signed = add_signature(text_pdf, _openssl_signer(pki, alg))
    trust = SignerTrust(roots=[pki.ca])
    result = analyze_pdf(signed, trust=trust)
    assert result.enp is not None and result.enp.enp == ENP
    (sig,) = result.signatures
    assert sig.source == "embedded" and sig.sub_filter == "adbe.pkcs7.detached"
    assert sig.covers_whole_file and sig.valid, sig
    assert sig.verification is not None and sig.verification.first.signer == pki.signers[alg].cert
    # poppler's pdfsig (an independent reader) sees the same signature over the whole file
    (tmp_path / "s.pdf").write_bytes(signed)
    info = run(need("pdfsig"), str(tmp_path / "s.pdf"), check=False).stdout.decode()
    assert f"Signer {alg}" in info and "Total document signed" in info
    assert run(need("qpdf"), "--check", str(tmp_path / "s.pdf"), check=False).returncode == 0
    # one changed byte inside the signed range (the ENP in the page text)
    at = signed.index(b"5056")
    tampered = signed[:at] + b"6" + signed[at + 1 :]
    (bad,) = analyze_pdf(tampered, trust=trust).signatures
    assert not bad.valid
    assert bad.verification is not None
    assert bad.verification.first.check("digest").code == "digest_mismatch"
    # bytes appended after signing (an incremental update): not a whole-file signature
    (appended,) = analyze_pdf(signed + b"\n% later edit\n", trust=trust).signatures
    assert appended.verification is not None and appended.verification.valid
    assert not appended.covers_whole_file and not appended.valid


def test_embedded_signature_without_trust_is_not_checked(pki: Pki, text_pdf: bytes) -> None:
    (sig,) = analyze_pdf(add_signature(text_pdf, _openssl_signer(pki))).signatures
    assert sig.error_code == "not_checked" and not sig.valid


def test_detached_signature_beside(pki: Pki, barcode_pdf: bytes, tmp_path: Path) -> None:
    s = pki.signers["gost2012_256"]
    (tmp_path / "x.pdf").write_bytes(barcode_pdf)
    p7s = openssl(
        "cms",
        "-sign",
        "-engine",
        "gost",
        "-binary",
        "-in",
        str(tmp_path / "x.pdf"),
        "-signer",
        str(s.cert_path),
        "-inkey",
        str(s.key_path),
        "-outform",
        "DER",
    ).stdout
    trust = SignerTrust(roots=[pki.ca])
    (sig,) = analyze_pdf(barcode_pdf, trust=trust, detached_signature=p7s).signatures
    assert sig.source == "detached" and sig.valid
    bad = bytearray(barcode_pdf)
    bad[-20] ^= 0x01
    (sig,) = analyze_pdf(bytes(bad), trust=trust, detached_signature=p7s).signatures
    assert not sig.valid
    (sig,) = analyze_pdf(barcode_pdf, trust=trust, detached_signature=b"not cms").signatures
    assert sig.error_code == "bad_cms" and not sig.valid


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("many_pages", "pdf_too_many_pages"),
        ("huge_media_box", "pdf_page_too_large"),
        ("zip_bomb", "pdf_stream_too_large"),
        ("escaped_filter_bomb", "pdf_stream_too_large"),
        ("huge_image", "pdf_image_too_large"),
        ("lzw_stream", "pdf_unsupported_filter"),
        ("truncated", "pdf_malformed"),
        ("not_pdf", "pdf_malformed"),
    ],
)
def test_hostile_pdf_refused(name: str, code: str) -> None:
    with pytest.raises(PdfError) as exc:
        analyze_pdf(_hostile(name))
    assert exc.value.code == code


def _hostile(name: str) -> bytes:
    if name == "many_pages":
        return hostile.many_pages(100_000)
    if name == "truncated":
        doc = hostile.simple()
        return doc[: len(doc) // 2]
    if name == "not_pdf":
        return b"GIF89a" + b"\x00" * 100
    return getattr(hostile, name)()  # type: ignore[no-any-return]


def test_deep_nesting_does_not_crash() -> None:
    for doc in (hostile.deep_nesting(), hostile.deep_dict_nesting()):
        result = analyze_pdf(doc)
        assert result.page_count == 1 and result.enp is None


def test_size_cap() -> None:
    with pytest.raises(PdfError) as exc:
        analyze_pdf(hostile.simple(), limits=PdfLimits(max_bytes=100))
    assert exc.value.code == "pdf_too_large"


_CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from pathlib import Path
from verifier.formats.pdf_extract import PdfError, analyze_pdf
codes = []
for path in sys.argv[1:]:
    try:
        analyze_pdf(Path(path).read_bytes())
        codes.append("accepted")
    except PdfError as exc:
        codes.append(exc.code)
# VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the forking parent
# (pytest, which can be large by now), VmHWM is this process's own peak after exec
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({{"codes": codes, "peak_kib": peak}}))
"""


def test_hostile_pdfs_within_memory_cap(tmp_path: Path) -> None:
    """All hostile files in one fresh process; its peak RSS stays under 400 MiB (imports of
    numpy, OpenCV, zxing and PDFium alone take about 80 MiB here)."""
    paths = []
    for name in (
        "zip_bomb",
        "escaped_filter_bomb",
        "huge_image",
        "huge_media_box",
        "many_pages",
        "truncated",
    ):
        p = tmp_path / f"{name}.pdf"
        p.write_bytes(_hostile(name))
        paths.append(str(p))
    for i, doc in enumerate((hostile.deep_nesting(), hostile.deep_dict_nesting())):
        p = tmp_path / f"deep{i}.pdf"
        p.write_bytes(doc)
        paths.append(str(p))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD.format(root=str(ROOT)), *paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["codes"][:6] == [
        "pdf_stream_too_large",
        "pdf_stream_too_large",
        "pdf_image_too_large",
        "pdf_page_too_large",
        "pdf_too_many_pages",
        "pdf_malformed",
    ]
    assert out["codes"][6:] == ["accepted", "accepted"]
    assert out["peak_kib"] < 400 * 1024, out
