"""The signed XML OMS policy: an ASSUMED layout, read only from the signed element.

The real schema of the XML policy the register forms is not public (REFERENCE §1), so this
module reads a documented assumption whose element paths are configurable
(:class:`PolicyPaths`); every result says ``format_assumed = True`` and the verdict must say
so. The assumed document (namespace :data:`ASSUMED_NAMESPACE`)::

    <OmsPolicy xmlns="urn:oms-verifier:assumed:policy:1" Id="policy">
      <Enp>5056410834001235</Enp>
      <Holder>
        <Surname>ИВАНОВ</Surname><FirstName>ИВАН</FirstName><Patronymic>ИВАНОВИЧ</Patronymic>
        <BirthDate>1985-03-15</BirthDate>
      </Holder>
      <Insurer><Ogrn>1027700000001</Ogrn><Name>...</Name></Insurer>
      <IssueDate>2023-01-10</IssueDate>
      <ValidFrom>2023-01-10</ValidFrom><ValidTo/>        (empty/absent: indefinite)
      <ds:Signature>...enveloped GOST XMLDSig...</ds:Signature>
    </OmsPolicy>

Dates are ISO ``YYYY-MM-DD`` (``DD.MM.YYYY`` is read too). Why read only the signed element:
:func:`verifier.crypto.xmldsig.verify_enveloped` hands back the document element exactly as
the digest covers it (Signature, comments and PIs removed), so nothing unsigned can be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from lxml import etree

from verifier.crypto.cms import SignerTrust
from verifier.crypto.xmldsig import (
    MAX_XML_BYTES,
    XmlSignatureVerification,
    parse_xml,
    verify_enveloped,
)
from verifier.errors import RecognitionError
from verifier.identifiers import enp_checksum_ok

__all__ = [
    "ASSUMED_NAMESPACE",
    "PolicyFormatError",
    "PolicyPaths",
    "XmlPolicy",
    "read_policy",
    "read_signed_policy",
]

ASSUMED_NAMESPACE: Final = "urn:oms-verifier:assumed:policy:1"
_MAX_FIELD: Final = 512
_ENP: Final = re.compile(r"[0-9]{16}")
_OGRN: Final = re.compile(r"[0-9]{13}|[0-9]{15}")


class PolicyFormatError(RecognitionError):
    """The XML is not a policy in the configured layout; ``code`` says why.

    Codes: ``policy_format`` (wrong document element), ``policy_field_missing``,
    ``policy_field_ambiguous``, ``policy_bad_field``.
    """

    code = "policy_format"


@dataclass(frozen=True)
class PolicyPaths:
    """XPath expressions (relative to the document element) for each field, and the prefixes
    they use. Change these when the real schema becomes known; the code does not change.
    ``None`` for a field the layout does not have."""

    namespaces: dict[str, str] = field(default_factory=lambda: {"p": ASSUMED_NAMESPACE})
    root: str = "p:OmsPolicy"  # name test the document element must pass (self::...)
    enp: str = "p:Enp"
    surname: str | None = "p:Holder/p:Surname"
    given_name: str | None = "p:Holder/p:FirstName"
    patronymic: str | None = "p:Holder/p:Patronymic"
    birth_date: str | None = "p:Holder/p:BirthDate"
    insurer_ogrn: str | None = "p:Insurer/p:Ogrn"
    insurer_name: str | None = "p:Insurer/p:Name"
    issue_date: str | None = "p:IssueDate"
    valid_from: str | None = "p:ValidFrom"
    valid_to: str | None = "p:ValidTo"


@dataclass(frozen=True)
class XmlPolicy:
    """Fields of the policy; personal data: never log it whole (see ``verifier.credential``)."""

    enp: str
    surname: str | None
    given_name: str | None
    patronymic: str | None
    birth_date: date | None
    insurer_ogrn: str | None
    insurer_name: str | None
    issue_date: date | None
    valid_from: date | None
    valid_to: date | None
    format_assumed: bool = True
    signature: XmlSignatureVerification | None = field(default=None, repr=False)

    @property
    def enp_checksum_ok(self) -> bool:
        return enp_checksum_ok(self.enp)


def _values(root: etree._Element, path: str, paths: PolicyPaths) -> list[str]:
    try:
        found = root.xpath(path, namespaces=paths.namespaces)
    except (etree.XPathError, TypeError, ValueError) as exc:
        raise PolicyFormatError(f"bad XPath {path!r}: {exc}", code="policy_format") from exc
    nodes: list[Any] = list(found) if isinstance(found, list) else [found]
    out: list[str] = []
    for node in nodes:
        if isinstance(node, etree._Element):
            text = "".join(t for t in node.itertext() if isinstance(t, str))
        else:
            text = str(node)
        out.append(" ".join(text.split()))
    return out


def _text(root: etree._Element, path: str | None, paths: PolicyPaths, name: str) -> str | None:
    if path is None:
        return None
    values = _values(root, path, paths)
    if len(values) > 1:
        raise PolicyFormatError(
            f"field {name} appears {len(values)} times", code="policy_field_ambiguous"
        )
    if not values or not values[0]:
        return None
    if len(values[0]) > _MAX_FIELD:
        raise PolicyFormatError(f"field {name} is too long", code="policy_bad_field")
    return values[0]


def _date(root: etree._Element, path: str | None, paths: PolicyPaths, name: str) -> date | None:
    text = _text(root, path, paths, name)
    if text is None:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise PolicyFormatError(f"field {name} is not a date", code="policy_bad_field")


def read_policy(root: etree._Element, paths: PolicyPaths | None = None) -> XmlPolicy:
    """Read the fields from an element the caller trusts to be the signed one."""
    p = paths or PolicyPaths()
    try:
        is_policy = bool(root.xpath(f"self::{p.root}", namespaces=p.namespaces))
    except (etree.XPathError, TypeError, ValueError) as exc:
        raise PolicyFormatError(f"bad root XPath {p.root!r}: {exc}") from exc
    if not is_policy:
        raise PolicyFormatError("the document element is not a policy in the configured layout")
    enp = _text(root, p.enp, p, "enp")
    if enp is None:
        raise PolicyFormatError("the policy has no ENP", code="policy_field_missing")
    enp = enp.replace(" ", "")
    if not _ENP.fullmatch(enp):
        raise PolicyFormatError("the ENP is not 16 digits", code="policy_bad_field")
    ogrn = _text(root, p.insurer_ogrn, p, "insurer_ogrn")
    if ogrn is not None and not _OGRN.fullmatch(ogrn):
        raise PolicyFormatError("the insurer OGRN is not 13 or 15 digits", code="policy_bad_field")
    return XmlPolicy(
        enp=enp,
        surname=_text(root, p.surname, p, "surname"),
        given_name=_text(root, p.given_name, p, "given_name"),
        patronymic=_text(root, p.patronymic, p, "patronymic"),
        birth_date=_date(root, p.birth_date, p, "birth_date"),
        insurer_ogrn=ogrn,
        insurer_name=_text(root, p.insurer_name, p, "insurer_name"),
        issue_date=_date(root, p.issue_date, p, "issue_date"),
        valid_from=_date(root, p.valid_from, p, "valid_from"),
        valid_to=_date(root, p.valid_to, p, "valid_to"),
        format_assumed=True,
    )


def read_signed_policy(
    data: bytes,
    *,
    trust: SignerTrust,
    paths: PolicyPaths | None = None,
    max_bytes: int = MAX_XML_BYTES,
) -> XmlPolicy:
    """Verify the enveloped signature, then read the policy from what it covers.

    An unsigned document raises ``XmlSignatureError(code=xml_signature_missing)``; callers
    that accept unsigned policies (saying so) use :func:`read_unsigned_policy`.
    """
    verification = verify_enveloped(data, trust=trust, max_bytes=max_bytes)
    policy = read_policy(verification.signed_root, paths)
    return _with_signature(policy, verification)


def read_unsigned_policy(
    data: bytes, *, paths: PolicyPaths | None = None, max_bytes: int = MAX_XML_BYTES
) -> XmlPolicy:
    """The fields of a policy read without any signature check (``signature`` is None)."""
    return read_policy(parse_xml(data, max_bytes=max_bytes).getroot(), paths)


def _with_signature(policy: XmlPolicy, verification: XmlSignatureVerification) -> XmlPolicy:
    from dataclasses import replace

    return replace(policy, signature=verification)
