"""The digital policy as a file: the register extract (PDF) and the signed XML policy.

Reading a file gives a :class:`Credential` like any scan; its signature (CMS in or beside the
PDF, enveloped XMLDSig in the XML) travels as a :class:`SignedPart` that the trust layer checks
against the ``document_signer`` roots. The register lookup still decides ``valid``: a signature
proves who made the file, not that the policy is in force today.

- PDF: the barcode on the rendered pages (the digital policy's) gives the ENP; without one, a
  check-digit-valid ENP in the text layer. An extract is not always signed: unsigned, it is
  worth what its ENP is worth (the register decides); signed, the signature must verify.
- XML: the real schema is not public; the element paths are an assumption
  (verifier/formats/xml_policy.py, configurable), and the verdict says ``format_assumed``.
  The policy is always signed: unsigned is ``signature_missing``. The fields used are read from
  what the signature covers (the checker re-reads them from the signed element and compares).
"""

from __future__ import annotations

from verifier.credential import (
    Credential,
    CredentialInput,
    CredentialKind,
    ReadSymbology,
    SignaturePurpose,
    SignedPart,
)
from verifier.errors import InputError, RecognitionError
from verifier.formats import pdf_extract, xml_policy
from verifier.identifiers import normalize_enp

MAX_DOCUMENT = 10 * 1024 * 1024  # what a PDF extract or an XML policy can be, at most
_XML_SIGNATURE = b"http://www.w3.org/2000/09/xmldsig#"


def is_pdf(data: bytes) -> bool:
    return pdf_extract.is_pdf(data)


def is_xml(data: bytes) -> bool:
    head = data[:256].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") or head.startswith(b"<")


def is_document(data: bytes) -> bool:
    return is_pdf(data) or is_xml(data)


def read_document(data: bytes, *, detached_signature: bytes | None = None) -> Credential:
    """A PDF extract or an XML policy as a credential; typed errors for anything else."""
    if len(data) > MAX_DOCUMENT:
        raise InputError(f"document is {len(data)} bytes; at most {MAX_DOCUMENT}", code="too_large")
    if is_pdf(data):
        return _pdf(data, detached_signature)
    if is_xml(data):
        return _xml(data)
    raise RecognitionError("not a PDF or XML document", code="unrecognized")


def _pdf(data: bytes, detached: bytes | None) -> Credential:
    from verifier.recognize import recognize

    found = pdf_extract.analyze_pdf(data, trust=None, detached_signature=detached)
    enp: str | None = None
    notes: list[str] = []
    seen: set[str] = set()
    for barcode, page in zip(found.barcodes, found.barcode_pages, strict=False):
        try:
            inner = recognize(
                CredentialInput(barcode.payload, symbology=ReadSymbology(barcode.symbology.value))
            )
        except InputError:
            continue
        if inner.enp:
            seen.add(inner.enp)
            if enp is None:
                enp = inner.enp
                notes.append(f"ENP from the barcode on page {page + 1}")
    if len(seen) > 1:  # which one would the patient mean? never pick one silently
        raise RecognitionError(
            f"the PDF carries {len(seen)} different policy numbers in its barcodes",
            code="ambiguous_enp",
        )
    if enp is None and found.enp is not None:
        enp = found.enp.enp
        notes.append("ENP from the text layer (no barcode decoded)")
    if enp is None:
        raise RecognitionError(
            "the PDF holds no policy barcode and no ENP in its text", code="no_enp"
        )
    signed = None
    if found.signatures:
        signed = SignedPart(SignaturePurpose.DOCUMENT_PDF, data, detached or b"", certificate=None)
    return Credential(
        kind=CredentialKind.REGISTER_EXTRACT, enp=enp, signed=signed, notes=tuple(notes)
    )


def _xml(data: bytes) -> Credential:
    policy = xml_policy.read_unsigned_policy(data)
    signed = None
    if _XML_SIGNATURE in data:
        signed = SignedPart(SignaturePurpose.DOCUMENT_XML, data, b"")
    return credential_of(policy, signed)


def credential_of(policy: xml_policy.XmlPolicy, signed: SignedPart | None) -> Credential:
    return Credential(
        kind=CredentialKind.SIGNED_DOCUMENT,
        enp=normalize_enp(policy.enp),
        surname=policy.surname,
        given_name=policy.given_name,
        patronymic=policy.patronymic,
        birth_date=policy.birth_date,
        expiry=policy.valid_to,
        smo_ogrn=policy.insurer_ogrn,
        signed=signed,
        notes=("XML layout assumed (the real schema is not public)",),
    )
