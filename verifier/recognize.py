"""Decide what a read is: paper barcode, digital policy, card dump, typed number — or nothing.

The recogniser raises :class:`RecognitionError` for input that is no credential at all (the CLI's
exit 2, HTTP 422) and lets a codec's own error (e.g. :class:`BarcodeError`) through when the
input clearly claims a format but is broken, so the pipeline can answer "invalid" for it.
"""

from __future__ import annotations

import re

from verifier.credential import (
    Credential,
    CredentialInput,
    CredentialKind,
    SignaturePurpose,
    SignedPart,
)
from verifier.errors import IdentifierError, InputError, RecognitionError
from verifier.formats import digital, goznak_card, paper_barcode
from verifier.formats.tlv import TlvError
from verifier.identifiers import (
    normalize_enp,
    parse_old_policy,
    parse_temporary_certificate,
    validate_snils,
)

MAX_PAYLOAD = 4096
_PAPER_TYPE_BYTES = (0x01, 0x02)
# What clerks type before the number: "ЕНП 5056…", "полис ОМС № 5056…".
_LABEL = re.compile(r"^(?:ЕНП|ENP|ПОЛИС(?:\s+ОМС)?)\s*(?:№|N|:)?\s*", re.IGNORECASE)
_SNILS = re.compile(r"^\d{3}-?\d{3}-?\d{3}[ -]?\d{2}$")


def recognize(item: CredentialInput) -> Credential:
    raw = item.payload
    if not raw:
        raise RecognitionError("empty input", code="empty")
    if len(raw) > MAX_PAYLOAD:
        raise RecognitionError(
            f"input is {len(raw)} bytes; no policy credential is longer than {MAX_PAYLOAD}",
            code="too_long",
        )
    text = _as_text(raw)
    if item.symbology == "card" or (text is None and raw[0] == goznak_card.HOLDER_TAG):
        return _from_card(raw)
    if text is None:
        if raw[0] in _PAPER_TYPE_BYTES:
            return from_paper(paper_barcode.decode(raw))
        raise RecognitionError(
            f"{len(raw)} bytes of binary data that match no known credential "
            f"(first byte 0x{raw[0]:02x})",
            code="unknown_binary",
        )
    if item.manual:
        return _from_typed(text)
    return _from_scanned_text(text)


def _as_text(raw: bytes) -> str | None:
    """Text if the bytes are printable UTF-8; a binary paper barcode never is."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 0x20 and c not in "\t\r\n") or c == "\x7f" for c in text):
        return None
    return text


def from_paper(p: paper_barcode.PaperPolicy) -> Credential:
    capacity = paper_barcode.name_capacity(p.barcode_type)
    written = len(p.surname) + len(p.given_name) + len(p.patronymic) + 2  # two '|'
    return Credential(
        kind=CredentialKind.PAPER_POLICY,
        enp=p.enp,
        surname=p.surname,
        given_name=p.given_name,
        patronymic=p.patronymic,
        sex=p.sex,
        birth_date=p.birth_date,
        expiry=p.expiry,
        smo_ogrn=p.smo_ogrn,
        okato=p.okato,
        signed=SignedPart(SignaturePurpose.PAPER_BARCODE, p.signed_data, p.signature),
        name_field_full=written >= capacity,
        notes=(f"{p.stray_bytes} stray byte(s) in the read",) if p.stray_bytes else (),
    )


def _from_card(raw: bytes) -> Credential:
    try:
        dump = goznak_card.parse_dump(raw)
    except TlvError as exc:
        raise goznak_card.CardDataError(f"card data: {exc.message}") from exc
    h, ins = dump.holder, dump.insurer
    signed = None
    if ins is not None and ins.signature is not None:
        signed = SignedPart(
            SignaturePurpose.CARD_INSURER,
            ins.signed_data,
            ins.signature,
            ins.certificate,
            signed_at=ins.start,
        )
    snils = None
    if h.snils:
        try:
            snils = validate_snils(h.snils)
        except IdentifierError:
            snils = None
    # A policy number of the wrong length stays as read: the format check turns it into an
    # "invalid" verdict the desk can show, rather than an input error nobody sees.
    return Credential(
        kind=CredentialKind.CARD,
        enp=normalize_enp(h.policy_number),
        surname=h.surname,
        given_name=h.given_name,
        patronymic=h.patronymic,
        sex=h.sex,
        birth_date=h.birth_date,
        expiry=ins.end if ins and ins.end else h.expiry,
        smo_ogrn=ins.ogrn if ins else None,
        okato=ins.okato if ins else None,
        snils=snils,
        signed=signed,
        holder_verified=False,
    )


def _ascii_digits(text: str) -> bool:
    """``str.isdigit`` also takes Arabic-Indic and fullwidth digits; no policy number has them."""
    return text.isascii() and text.isdigit()


def _from_typed(text: str) -> Credential:
    """A clerk typed it: digits are what they look like, whatever the check digit says."""
    value = _LABEL.sub("", text.strip())
    compact = normalize_enp(value)
    if _ascii_digits(compact) and len(compact) == 16:
        return Credential(kind=CredentialKind.MANUAL, enp=compact)
    if _SNILS.match(value):
        raise RecognitionError(
            "this is a СНИЛС, not a policy number; enter the 16-digit ENP", code="snils_not_policy"
        )
    if _ascii_digits(compact) and len(compact) == 9:
        return Credential(kind=CredentialKind.TEMPORARY_CERTIFICATE, temp_cert_number=compact)
    if _ascii_digits(compact) and len(compact) != 16:
        raise RecognitionError(
            f"{len(compact)} digits: an ENP has 16, a temporary certificate 9", code="bad_length"
        )
    return _numbered(value)


def _from_scanned_text(text: str) -> Credential:
    try:
        claim = digital.extract_enp(text)
    except RecognitionError as first:
        try:
            return _numbered(text)
        except InputError:
            raise first from None
    return Credential(
        kind=CredentialKind.DIGITAL_POLICY,
        enp=claim.enp,
        notes=("ENP taken from inside the barcode text",) if claim.embedded else (),
    )


def _numbered(text: str) -> Credential:
    """Temporary certificate or pre-2011 series+number, both looked up in the register."""
    try:
        return Credential(
            kind=CredentialKind.TEMPORARY_CERTIFICATE,
            temp_cert_number=parse_temporary_certificate(text),
        )
    except IdentifierError:
        pass
    try:
        old = parse_old_policy(text)
    except IdentifierError:
        raise RecognitionError(
            "not an ENP, temporary certificate or series+number", code="unrecognized"
        ) from None
    return Credential(kind=CredentialKind.OLD_POLICY, old_series=old.series, old_number=old.number)
