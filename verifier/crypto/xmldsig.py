"""Enveloped XML signatures (XMLDSig) with GOST algorithms: verify and sign.

Why: the digital OMS policy is formed as an XML document signed with a qualified certificate.
Only the shape such a document needs is accepted, and everything else is refused, because
XMLDSig's generality is where its attacks live:

* parsing: lxml with entities unresolved, no network, no huge trees, a size cap, and any DTD
  refused (no entity expansion, no external fetches);
* exactly one ``ds:Signature``, a direct child of the document element, with exactly one
  ``ds:Reference`` whose URI is ``""`` or ``#id`` of the document element itself (so what was
  signed is the element the caller then reads: no signature wrapping);
* transforms: the enveloped-signature transform, then at most one canonicalization
  (exclusive or inclusive c14n 1.0); no XPath/XSLT or anything else;
* algorithms: GOST R 34.10-2012 (256/512) with Streebog and GOST R 34.10-2001 with
  GOST R 34.11-94, by the CryptoPro/IETF URIs; the key must match the signature method;
* the certificate comes from ``KeyInfo/X509Data/X509Certificate`` (first one = signer, others
  intermediates) and is checked like a CMS signer (chain to a ``document_signer`` root, CRLs).

The SignatureValue is s||r and the digest bytes are the hash output, as OpenSSL/xmlsec write
them (``verifier.crypto.signatures``). XMLDSig has no signing time: the chain is checked now.

:func:`verify_enveloped` returns the signed document element *with the Signature removed and
comments/PIs stripped*: exactly the content the digest covers, for the policy reader.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from . import hashes
from .cms import Check, CheckState, SignerTrust, _fail, _ok, _skip, chain_and_revocation
from .errors import CertificateError, CryptoError
from .keys import Algorithm, PrivateKey
from .signatures import sign, verify
from .x509 import Certificate, load_certificate

__all__ = [
    "C14N_EXCLUSIVE",
    "C14N_INCLUSIVE",
    "DIGEST_URIS",
    "MAX_XML_BYTES",
    "SIGNATURE_URIS",
    "XmlSignatureError",
    "XmlSignatureVerification",
    "canonical_forms",
    "parse_xml",
    "sign_enveloped",
    "verify_enveloped",
]

MAX_XML_BYTES: Final = 2 * 1024 * 1024
"""A policy document is a few KiB; a certificate or two in KeyInfo add a few more."""
MAX_ELEMENTS: Final = 20_000

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
_NS: Final = {"ds": DS}
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
C14N_EXCLUSIVE: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N_EXCLUSIVE_COMMENTS: Final = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"
C14N_INCLUSIVE: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_INCLUSIVE_COMMENTS: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
# URI -> (exclusive, with_comments)
_C14N: Final[dict[str, tuple[bool, bool]]] = {
    C14N_EXCLUSIVE: (True, False),
    C14N_EXCLUSIVE_COMMENTS: (True, True),
    C14N_INCLUSIVE: (False, False),
    C14N_INCLUSIVE_COMMENTS: (False, True),
}
_CP: Final = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:"
_MORE: Final = "http://www.w3.org/2001/04/xmldsig-more#"
SIGNATURE_URIS: Final[dict[str, tuple[Algorithm, str]]] = {
    _CP + "gostr34102012-gostr34112012-256": (Algorithm.GOST2012_256, hashes.STREEBOG256),
    _CP + "gostr34102012-gostr34112012-512": (Algorithm.GOST2012_512, hashes.STREEBOG512),
    _MORE + "gostr34102001-gostr3411": (Algorithm.GOST2001, hashes.GOST94),
}
DIGEST_URIS: Final[dict[str, str]] = {
    _CP + "gostr34112012-256": hashes.STREEBOG256,
    _CP + "gostr34112012-512": hashes.STREEBOG512,
    _MORE + "gostr3411": hashes.GOST94,
}
_SIG_URI_BY_ALG: Final = {alg: uri for uri, (alg, _) in SIGNATURE_URIS.items()}
_DIGEST_URI_BY_HASH: Final = {h: uri for uri, h in DIGEST_URIS.items()}
_ID_ATTRS: Final = ("Id", "ID", "id")


class XmlSignatureError(CryptoError):
    """An XML document or signature that cannot be checked at all; ``code`` says why.

    Codes: ``bad_xml``, ``xml_too_large``, ``xml_dtd_refused``, ``xml_signature_missing``,
    ``xml_multiple_signatures``, ``xml_bad_signature_structure``, ``xml_reference_refused``
    (URI not the document element, or more than one Reference), ``xml_transform_refused``,
    ``unsupported_algorithm``, ``xml_certificate_missing``.
    """

    code = "bad_xml"


@dataclass(frozen=True)
class XmlSignatureVerification:
    """The checks of one enveloped signature and the element they cover."""

    signer: Certificate | None
    key_algorithm: Algorithm
    hash_name: str
    chain: tuple[Certificate, ...]
    checks: tuple[Check, ...]
    signed_root: etree._Element = field(repr=False)
    canonicalization: str = ""

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    @property
    def valid(self) -> bool:
        """Digest, signature and chain passed and nothing failed (revocation may be skipped)."""
        if any(c.state is CheckState.FAIL for c in self.checks):
            return False
        return all(self.check(n).passed for n in ("digest", "signature", "chain"))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
        collect_ids=False,
    )


_DTD_MARKERS: Final = (b"<!DOCTYPE", b"<!ENTITY", "<!DOCTYPE".encode("utf-16-le"))


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Parse untrusted XML safely; raises XmlSignatureError (bad_xml, xml_too_large, ...)."""
    raw = bytes(data)
    if len(raw) > max_bytes:
        raise XmlSignatureError(f"XML larger than {max_bytes} bytes", code="xml_too_large")
    upper = raw.upper()
    if any(m in upper for m in _DTD_MARKERS) or "<!DOCTYPE".encode("utf-16-be") in upper:
        raise XmlSignatureError("XML with a DTD is refused", code="xml_dtd_refused")
    try:
        root = etree.fromstring(raw, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise XmlSignatureError(f"malformed XML: {str(exc)[:200]}") from exc
    tree = root.getroottree()
    info: Any = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlSignatureError("XML with a DTD is refused", code="xml_dtd_refused")
    for count, node in enumerate(tree.iter(), start=1):
        if isinstance(node, etree._Entity):
            raise XmlSignatureError("XML entity references are refused", code="xml_dtd_refused")
        if count > MAX_ELEMENTS:
            raise XmlSignatureError("XML has too many nodes", code="xml_too_large")
    return tree


def _one(parent: etree._Element, path: str, what: str) -> etree._Element:
    found = parent.findall(path, _NS)
    if len(found) != 1:
        raise XmlSignatureError(
            f"expected exactly one {what}, found {len(found)}", code="xml_bad_signature_structure"
        )
    return found[0]


def _b64(text: str | None, what: str) -> bytes:
    try:
        return base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise XmlSignatureError(
            f"{what} is not base64", code="xml_bad_signature_structure"
        ) from exc


def _remove_keep_tail(node: etree._Element) -> None:
    """Remove ``node`` but keep the text that follows it (lxml drops a removed node's tail)."""
    parent = node.getparent()
    if parent is None:
        raise XmlSignatureError("signature has no parent", code="xml_bad_signature_structure")
    tail = node.tail
    prev = node.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(node)


def _signatures(tree: etree._ElementTree) -> list[etree._Element]:
    return list(tree.getroot().iter(f"{{{DS}}}Signature"))


def _c14n(
    node: etree._Element | etree._ElementTree,
    exclusive: bool,
    with_comments: bool,
    prefixes: Sequence[str] = (),
) -> bytes:
    kwargs: dict[str, object] = {
        "method": "c14n",
        "exclusive": exclusive,
        "with_comments": with_comments,
    }
    if exclusive and prefixes:
        kwargs["inclusive_ns_prefixes"] = list(prefixes)
    if not exclusive and isinstance(node, etree._Element) and node.getparent() is not None:
        # libxml2's inclusive c14n of a subtree writes spurious xmlns="" on descendants when
        # an ancestor sets a default namespace; a detached copy that declares every in-scope
        # namespace on itself gives the document-subset result (checked against xmlsec1)
        node = _detached_copy(node)
    try:
        out = etree.tostring(node, **kwargs)  # type: ignore[call-overload]
    except etree.Error as exc:  # e.g. C14NError: a relative namespace URI cannot be canonical
        raise XmlSignatureError(f"cannot canonicalise: {exc}", code="xml_c14n") from exc
    return bytes(out)


def _detached_copy(node: etree._Element) -> etree._Element:
    nsmap: Any = node.nsmap
    attrib: Any = node.attrib
    copy = etree.Element(node.tag, attrib=attrib, nsmap=nsmap)
    copy.text = node.text
    for child in node:
        copy.append(deepcopy(child))
    return copy


def _prefix_list(transform: etree._Element) -> list[str]:
    out: list[str] = []
    for el in transform:
        if isinstance(el.tag, str) and etree.QName(el).localname == "InclusiveNamespaces":
            out.extend(p for p in (el.get("PrefixList") or "").split() if p != "#default")
    return out


def _strip_unsigned(root: etree._Element) -> None:
    """Comments and PIs are outside the digest (URI="" / #id exclude comments): drop them."""
    for node in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        if node is root:
            continue
        _remove_keep_tail(node)


def _certificates(signature: etree._Element) -> list[Certificate]:
    certs: list[Certificate] = []
    for el in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS):
        try:
            certs.append(load_certificate(_b64(el.text, "X509Certificate")))
        except CertificateError as exc:
            if not certs:
                raise XmlSignatureError(
                    f"signer certificate: {exc.message}", code="xml_certificate_missing"
                ) from exc
    return certs


@dataclass
class _Prepared:
    """The checked structure of one enveloped signature and the bytes its algorithms cover."""

    signature: etree._Element
    method_uri: str
    digest_uri: str
    c14n_uri: str
    digest_value: bytes
    signature_value: bytes
    signed_info_c14n: bytes
    content_c14n: bytes
    signed_root: etree._Element


def _prepare(data: bytes, max_bytes: int) -> _Prepared:
    tree = parse_xml(data, max_bytes=max_bytes)
    root = tree.getroot()
    sigs = _signatures(tree)
    if not sigs:
        raise XmlSignatureError("the document is not signed", code="xml_signature_missing")
    if len(sigs) > 1:
        raise XmlSignatureError("more than one Signature element", code="xml_multiple_signatures")
    sig = sigs[0]
    if sig.getparent() is not root:
        raise XmlSignatureError(
            "the Signature must be a child of the document element", code="xml_reference_refused"
        )
    signed_info = _one(sig, "ds:SignedInfo", "SignedInfo")
    c14n_el = _one(signed_info, "ds:CanonicalizationMethod", "CanonicalizationMethod")
    c14n_uri = c14n_el.get("Algorithm", "")
    if c14n_uri not in _C14N:
        raise XmlSignatureError(
            f"canonicalization {c14n_uri!r} refused", code="unsupported_algorithm"
        )
    method_uri = _one(signed_info, "ds:SignatureMethod", "SignatureMethod").get("Algorithm", "")
    refs = signed_info.findall("ds:Reference", _NS)
    if len(refs) != 1:
        raise XmlSignatureError(
            f"exactly one Reference is accepted, found {len(refs)}", code="xml_reference_refused"
        )
    ref = refs[0]
    uri = ref.get("URI")
    if uri is None:
        raise XmlSignatureError("Reference without URI", code="xml_reference_refused")
    if uri != "":
        if not uri.startswith("#") or len(uri) < 2:
            raise XmlSignatureError(
                "only same-document references are accepted", code="xml_reference_refused"
            )
        ident = uri[1:]
        holders = [
            el
            for el in root.iter()
            if isinstance(el.tag, str) and any(el.get(a) == ident for a in _ID_ATTRS)
        ]
        if len(holders) != 1 or holders[0] is not root:
            raise XmlSignatureError(
                "the Reference must point at the document element (and its id be unique)",
                code="xml_reference_refused",
            )
    transforms = ref.findall("ds:Transforms/ds:Transform", _NS)
    algs = [t.get("Algorithm", "") for t in transforms]
    if not algs or algs[0] != ENVELOPED or len(algs) > 2 or ENVELOPED in algs[1:]:
        raise XmlSignatureError(
            "transforms must be enveloped-signature, then at most one c14n",
            code="xml_transform_refused",
        )
    ref_exclusive, ref_prefixes = False, []  # default per XMLDSig: inclusive c14n 1.0
    if len(algs) == 2:
        if algs[1] not in _C14N:
            raise XmlSignatureError(f"transform {algs[1]!r} refused", code="xml_transform_refused")
        ref_exclusive = _C14N[algs[1]][0]
        ref_prefixes = _prefix_list(transforms[1])
    digest_uri = _one(ref, "ds:DigestMethod", "DigestMethod").get("Algorithm", "")
    digest_value = _b64(_one(ref, "ds:DigestValue", "DigestValue").text, "DigestValue")
    signature_value = _b64(_one(sig, "ds:SignatureValue", "SignatureValue").text, "SignatureValue")

    si_exclusive, si_comments = _C14N[c14n_uri]
    if not si_exclusive and any(
        str(k).startswith("{http://www.w3.org/XML/1998/namespace}") for k in root.attrib
    ):
        # inclusive c14n of a subset inherits xml:* attributes, which lxml does not do
        raise XmlSignatureError(
            "inclusive c14n under xml:* attributes is not supported", code="unsupported_algorithm"
        )
    signed_info_c14n = _c14n(signed_info, si_exclusive, si_comments, _prefix_list(c14n_el))

    # the referenced content: a fresh parse, the Signature removed (enveloped transform)
    copy_tree = parse_xml(data, max_bytes=max_bytes)
    copy_root = copy_tree.getroot()
    _remove_keep_tail(_signatures(copy_tree)[0])
    target: etree._Element | etree._ElementTree = copy_tree if uri == "" else copy_root
    content_c14n = _c14n(target, ref_exclusive, False, ref_prefixes)
    _strip_unsigned(copy_root)
    return _Prepared(
        signature=sig,
        method_uri=method_uri,
        digest_uri=digest_uri,
        c14n_uri=c14n_uri,
        digest_value=digest_value,
        signature_value=signature_value,
        signed_info_c14n=signed_info_c14n,
        content_c14n=content_c14n,
        signed_root=copy_root,
    )


def canonical_forms(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> tuple[bytes, bytes]:
    """(canonical SignedInfo, canonical signed content): the exact bytes the signature method
    and the digest method are applied to, after every structural check (diagnostics, interop
    tests against other XMLDSig implementations); algorithms are not checked here."""
    prepared = _prepare(data, max_bytes)
    return prepared.signed_info_c14n, prepared.content_c14n


def verify_enveloped(
    data: bytes,
    *,
    trust: SignerTrust,
    max_bytes: int = MAX_XML_BYTES,
) -> XmlSignatureVerification:
    """Verify the one enveloped GOST signature of an XML document.

    Raises :class:`XmlSignatureError` for input that cannot be checked (malformed, hostile,
    refused shape, non-GOST algorithm); returns failed checks for a digest or signature that
    does not match or a certificate that does not chain.
    """
    prepared = _prepare(data, max_bytes)
    if prepared.method_uri not in SIGNATURE_URIS:
        raise XmlSignatureError(
            f"signature method {prepared.method_uri!r} is not a GOST method",
            code="unsupported_algorithm",
        )
    key_algorithm, hash_name = SIGNATURE_URIS[prepared.method_uri]
    ref_hash = DIGEST_URIS.get(prepared.digest_uri)
    if ref_hash is None:
        raise XmlSignatureError(
            f"digest method {prepared.digest_uri!r} is not a GOST digest",
            code="unsupported_algorithm",
        )
    certs = _certificates(prepared.signature)
    if not certs:
        raise XmlSignatureError("no X509Certificate in KeyInfo", code="xml_certificate_missing")
    signer, extra = certs[0], certs[1:]

    checks: list[Check] = []
    computed = hashes.digest(ref_hash, prepared.content_c14n)
    if hmac.compare_digest(computed, prepared.digest_value):
        checks.append(_ok("digest", f"{ref_hash} of the document matches DigestValue"))
    else:
        checks.append(_fail("digest", "digest_mismatch", "the document does not match DigestValue"))

    key = signer.public_key
    signature_value = prepared.signature_value
    if key.algorithm is not key_algorithm:
        checks.append(
            _fail(
                "signature",
                "algorithm_mismatch",
                f"certificate key is {key.algorithm.name}, SignatureMethod {key_algorithm.name}",
            )
        )
    elif len(signature_value) != 2 * key.curve.size:
        checks.append(_fail("signature", "signature_invalid", "signature has the wrong length"))
    elif verify(key, prepared.signed_info_c14n, signature_value, hash_name=hash_name):
        checks.append(_ok("signature", f"{key_algorithm.name} signature over SignedInfo verifies"))
    else:
        checks.append(_fail("signature", "signature_invalid", "signature does not verify"))
    checks.append(_skip("signing_time", "no_signing_time", "XMLDSig carries no signing time"))

    now = trust.current_time()
    pool = [*extra, *(c for c in trust.intermediates if c not in extra)]
    path = chain_and_revocation(signer, pool, trust, now, now, checks)
    return XmlSignatureVerification(
        signer=signer,
        key_algorithm=key_algorithm,
        hash_name=hash_name,
        chain=tuple(path),
        checks=tuple(checks),
        signed_root=prepared.signed_root,
        canonicalization=prepared.c14n_uri,
    )


def sign_enveloped(
    data: bytes,
    private_key: PrivateKey,
    certificate: Certificate,
    *,
    canonicalization: str = C14N_EXCLUSIVE,
    reference_id: str | None = None,
    extra_certificates: Sequence[Certificate] = (),
) -> bytes:
    """Append an enveloped GOST signature to the document element (tests, demo).

    ``reference_id``: sign ``#id`` (the document element gets ``Id=id``) instead of ``""``.
    """
    if private_key.public_key() != certificate.public_key:
        raise CryptoError("private key does not match the certificate", code="bad_key")
    if canonicalization not in _C14N:
        raise XmlSignatureError("unknown canonicalization", code="unsupported_algorithm")
    tree = parse_xml(data)
    root = tree.getroot()
    if _signatures(tree):
        raise XmlSignatureError("document is already signed", code="xml_multiple_signatures")
    if reference_id is not None:
        root.set("Id", reference_id)
    exclusive, _ = _C14N[canonicalization]
    hash_name = private_key.algorithm.default_hash
    target: etree._Element | etree._ElementTree = tree if reference_id is None else root
    digest = hashes.digest(hash_name, _c14n(target, exclusive, False))

    def sub(parent: etree._Element, name: str, **attrs: str) -> etree._Element:
        el = etree.SubElement(parent, f"{{{DS}}}{name}")
        for k, v in attrs.items():
            el.set(k, v)
        return el

    sig = etree.SubElement(root, f"{{{DS}}}Signature", nsmap={"ds": DS})
    signed_info = sub(sig, "SignedInfo")
    sub(signed_info, "CanonicalizationMethod", Algorithm=canonicalization)
    sub(signed_info, "SignatureMethod", Algorithm=_SIG_URI_BY_ALG[private_key.algorithm])
    ref = sub(signed_info, "Reference", URI="" if reference_id is None else f"#{reference_id}")
    transforms = sub(ref, "Transforms")
    sub(transforms, "Transform", Algorithm=ENVELOPED)
    sub(transforms, "Transform", Algorithm=canonicalization)
    sub(ref, "DigestMethod", Algorithm=_DIGEST_URI_BY_HASH[hash_name])
    sub(ref, "DigestValue").text = base64.b64encode(digest).decode("ascii")
    value = sub(sig, "SignatureValue")
    key_info = sub(sig, "KeyInfo")
    x509_data = sub(key_info, "X509Data")
    for cert in [certificate, *extra_certificates]:
        sub(x509_data, "X509Certificate").text = base64.b64encode(cert.der).decode("ascii")
    si_exclusive, si_comments = _C14N[canonicalization]
    signature = sign(
        private_key, _c14n(signed_info, si_exclusive, si_comments), hash_name=hash_name
    )
    value.text = base64.b64encode(signature).decode("ascii")
    out = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return bytes(out)
