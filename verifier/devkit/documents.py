"""Demo documents: a register extract as a PDF and the policy as a signed XML document.

The signer is a demo "Treasury" CA and a signing certificate under it, both from keys derived
from the public demo seed (never for production). The PDF is written by hand — one page, the
digital policy's QR code as an image, the ENP as text — so the demo needs no PDF library to
make one; pdfium reads it back like any extract.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from verifier.crypto.keys import Algorithm, PrivateKey
from verifier.crypto.x509 import Certificate, build_certificate
from verifier.crypto.xmldsig import sign_enveloped
from verifier.devkit.demo_keys import derive_demo_key
from verifier.formats.xml_policy import ASSUMED_NAMESPACE


@dataclass(frozen=True)
class DocumentSigner:
    ca: Certificate
    key: PrivateKey
    certificate: Certificate


def demo_document_signer(seed: int) -> DocumentSigner:
    """A CA (the trust store's ``document_signer`` root) and the certificate that signs."""
    ca_key = derive_demo_key(Algorithm.GOST2012_256, "A", f"document-ca|{seed}")
    key = derive_demo_key(Algorithm.GOST2012_256, "A", f"document-signer|{seed}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ca = build_certificate(
        subject={"common_name": "Демо УЦ Казначейства (не для работы)", "country_name": "RU"},
        public_key=ca_key.public_key(),
        issuer_key=ca_key,
        not_before=start,
        not_after=start + timedelta(days=3650),
        ca=True,
        serial_number=0x0D0C0A,
    )
    cert = build_certificate(
        subject={"common_name": "Демо ТФОМС — подпись полисов", "country_name": "RU"},
        public_key=key.public_key(),
        issuer_key=ca_key,
        issuer=ca,
        not_before=start,
        not_after=start + timedelta(days=3650),
        serial_number=0x0D0C0B,
    )
    return DocumentSigner(ca, key, cert)


def xml_policy(row: dict[str, str], signer: DocumentSigner) -> bytes:
    """The policy in the assumed XML layout (verifier/formats/xml_policy.py), signed."""
    doc = f"""<?xml version="1.0" encoding="UTF-8"?>
<OmsPolicy xmlns="{ASSUMED_NAMESPACE}">
  <Enp>{row["enp"]}</Enp>
  <Holder>
    <Surname>{escape(row["surname"])}</Surname><FirstName>{escape(row["given_name"])}</FirstName>
    <Patronymic>{escape(row["patronymic"])}</Patronymic>
    <BirthDate>{row["birth_date"]}</BirthDate>
  </Holder>
  <Insurer><Ogrn>{row["smo_ogrn"]}</Ogrn></Insurer>
  <IssueDate>{row["start"] or "2023-01-10"}</IssueDate>
</OmsPolicy>
""".encode()
    return sign_enveloped(doc, signer.key, signer.certificate)


def qr_image(text: str) -> tuple[int, int, bytes]:
    """The digital policy's QR code as 8-bit gray pixels (width, height, rows top-down)."""
    import numpy as np
    import zxingcpp

    img = np.array(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode).to_image(scale=6))
    if img.ndim == 3:
        img = img[..., 0]
    pad = 24
    img = np.pad(img.astype(np.uint8), pad, constant_values=255)
    return int(img.shape[1]), int(img.shape[0]), img.tobytes()


def pdf_extract(enp: str) -> bytes:
    """A one-page extract: the QR code of the digital policy and a line of text with the ENP."""
    width, height, gray = qr_image(f"https://www.gosuslugi.ru/oms?enp={enp}")
    pixels = zlib.compress(gray)
    side = width
    text = f"BT /F1 12 Tf 72 720 Td (Vypiska iz ERZ. Polis OMS: {enp}) Tj ET\n"
    draw = f"q {side} 0 0 {side} 72 400 cm /Im1 Do Q\n{text}".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /XObject << /Im1 5 0 R >> /Font << /F1 6 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n"
        % (width, height, len(pixels))
        + pixels
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return assemble_pdf(objects)


def assemble_pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A classic PDF file: numbered objects, a cross-reference table, the trailer."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        root,
        xref,
    )
    return bytes(out)
