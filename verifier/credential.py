"""What a reader hands over (:class:`CredentialInput`) and what it means (:class:`Credential`).

These types cross every boundary (drivers → pipeline → API), so they are plain frozen
dataclasses with no behaviour beyond conversion to JSON-ready dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from verifier.errors import InputError
from verifier.identifiers import Sex, mask_enp


class CredentialKind(StrEnum):
    PAPER_POLICY = "paper_policy"  # 2011–2022 unified-form paper policy with a signed barcode
    DIGITAL_POLICY = "digital_policy"  # Gosuslugi app / register extract: an ENP in a barcode
    MANUAL = "manual"  # ENP typed by a clerk or sent by the MIS
    TEMPORARY_CERTIFICATE = "temporary_certificate"
    OLD_POLICY = "old_policy"  # pre-2011 series + number
    CARD = "card"  # Goznak electronic policy card, data read from the chip
    REGISTER_EXTRACT = "register_extract"  # the register extract as a PDF file (выписка из ЕРЗ)
    SIGNED_DOCUMENT = "signed_document"  # the policy as a signed XML document (assumed layout)


# Carriers that are always signed when genuine: arriving unsigned is never "valid".
ALWAYS_SIGNED = frozenset(
    {CredentialKind.PAPER_POLICY, CredentialKind.CARD, CredentialKind.SIGNED_DOCUMENT}
)
# Physical carriers a register can list as lost: their revocation must be vouched for.
PHYSICAL = frozenset({CredentialKind.PAPER_POLICY, CredentialKind.CARD})


class SignaturePurpose(StrEnum):
    PAPER_BARCODE = "paper_barcode"
    CARD_INSURER = "card_insurer"
    DOCUMENT_PDF = "document_pdf"  # CMS signature(s) in or beside a PDF; data: the file
    DOCUMENT_XML = "document_xml"  # enveloped XMLDSig; data: the XML document


class ReadSymbology(StrEnum):
    """What carried a read: a 2-D symbology (verifier.imaging.Symbology's values), a chip
    card, or a document file. The values are the public names used in configs and the API."""

    QR = "qr"
    PDF417 = "pdf417"
    DATAMATRIX = "datamatrix"
    AZTEC = "aztec"
    CARD = "card"
    DOCUMENT = "document"
    KEYBOARD = "keyboard"  # typed by a keyboard-wedge scanner without an AIM prefix


@dataclass(frozen=True, slots=True)
class CredentialInput:
    """Raw bytes or text from one read, before anything is interpreted."""

    payload: bytes
    source: str = "unknown"  # e.g. "cli", "camera:0", "serial:/dev/ttyACM0", "pcsc:Reader 0"
    symbology: ReadSymbology | None = None
    manual: bool = False  # typed by a person: bare numbers are what they mean, not a barcode
    read_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    detached_signature: bytes | None = None  # a .sig/.p7s given beside a document file

    def __post_init__(self) -> None:
        # Configs, the API and tests name symbologies as text; an unknown name is an error here,
        # not a silent "no symbology".
        if self.symbology is not None and not isinstance(self.symbology, ReadSymbology):
            try:
                object.__setattr__(self, "symbology", ReadSymbology(self.symbology))
            except ValueError as exc:
                raise InputError(
                    f"unknown symbology {self.symbology!r}", code="bad_symbology"
                ) from exc

    @classmethod
    def from_text(cls, text: str, **kw: Any) -> CredentialInput:
        return cls(payload=text.encode("utf-8"), **kw)


@dataclass(frozen=True, slots=True)
class SignedPart:
    """A signature that travels with the credential, handed to the trust layer as-is."""

    purpose: SignaturePurpose
    data: bytes
    signature: bytes  # the raw signature field as carried (format is the key's business)
    certificate: bytes | None = None  # DER, when the carrier includes its signer's certificate
    signed_at: date | None = None  # best known signing date (card: insurer record start)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a read means, for every kind, in one shape.

    Why one shape rather than a value per kind: one pipeline runs the same chain of checks over
    every kind, and each check asks of a field, not of a kind ("is there an ENP? a name? a
    signed part?"). Per-kind values would make every check dispatch on the kind and would hide
    the rules that cut across kinds (the holder match for paper, card and signed document
    alike; revocation for the physical ones). The kind says which fields a genuine credential
    of that kind carries; the checks never trust a field to be set because of the kind.
    """

    kind: CredentialKind
    enp: str | None = None
    surname: str | None = None
    given_name: str | None = None
    patronymic: str | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    expiry: date | None = None
    smo_ogrn: str | None = None
    okato: str | None = None
    old_series: str | None = None
    old_number: str | None = None
    temp_cert_number: str | None = None
    snils: str | None = None
    signed: SignedPart | None = None
    holder_verified: bool = False  # card holder data is read, not cryptographically verified
    name_field_full: bool = False  # the carrier's fixed name field is full: maybe truncated
    notes: tuple[str, ...] = ()

    def to_dict(self, *, masked: bool = False) -> dict[str, Any]:
        """JSON-ready view; ``masked`` is for screens, logs and kiosk pages."""
        enp = self.enp
        if masked and enp:
            enp = mask_enp(enp)
        out: dict[str, Any] = {
            "kind": self.kind._value_,
            "enp": enp,
            "surname": _mask_name(self.surname) if masked else self.surname,
            "given_name": _mask_name(self.given_name) if masked else self.given_name,
            "patronymic": _mask_name(self.patronymic) if masked else self.patronymic,
            "sex": self.sex._value_ if self.sex else None,
            "birth_date": None
            if masked or self.birth_date is None
            else self.birth_date.isoformat(),
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "smo_ogrn": self.smo_ogrn,
            "okato": self.okato,
        }
        if self.old_number:
            series: str | None = self.old_series
            number: str | None = self.old_number
            if masked:
                series, number = _mask_tail(series, 0), _mask_tail(number, 2)
            out["old_series"], out["old_number"] = series, number
        if self.temp_cert_number:
            cert = self.temp_cert_number
            out["temp_cert_number"] = _mask_tail(cert, 2) if masked else cert
        if self.snils:
            out["snils"] = ("***-***-" + self.snils[6:9] + " **") if masked else self.snils
        if self.kind is CredentialKind.CARD:
            out["holder_verified"] = self.holder_verified
        return out


def _mask_tail(value: str | None, keep: int) -> str | None:
    """All but the last ``keep`` characters starred: enough for a person to recognise it."""
    if not value:
        return value
    keep = min(keep, len(value))
    return "*" * (len(value) - keep) + value[len(value) - keep :]


def _mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return name[0] + "*" * (len(name) - 1)
