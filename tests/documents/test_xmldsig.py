"""Enveloped XMLDSig with GOST and the assumed XML policy: round trips, xmlsec1 c14n interop,
tampering and XML attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest

from verifier.crypto.cms import SignerTrust
from verifier.crypto.xmldsig import (
    C14N_EXCLUSIVE,
    C14N_INCLUSIVE,
    XmlSignatureError,
    canonical_forms,
    sign_enveloped,
    verify_enveloped,
)
from verifier.formats.xml_policy import (
    ASSUMED_NAMESPACE,
    PolicyFormatError,
    PolicyPaths,
    read_signed_policy,
    read_unsigned_policy,
)

from .conftest import ALGS, Pki, need, run

POLICY = f"""<?xml version="1.0" encoding="UTF-8"?>
<OmsPolicy xmlns="{ASSUMED_NAMESPACE}" xmlns:x="urn:other">
  <Enp>5056410834001235</Enp>
  <Holder>
    <Surname>ИВАНОВ</Surname><FirstName>ИВАН</FirstName><Patronymic>ИВАНОВИЧ</Patronymic>
    <BirthDate>1985-03-15</BirthDate>
  </Holder>
  <!-- a comment -->
  <Insurer><Ogrn>1027700000001</Ogrn><Name>СМО &amp; Ко</Name></Insurer>
  <IssueDate>2023-01-10</IssueDate>
  <ValidFrom>10.01.2023</ValidFrom>
  <x:Extra a="1" b='2'/>
</OmsPolicy>
""".encode()


def _trust(pki: Pki) -> SignerTrust:
    return SignerTrust(roots=[pki.ca])


@pytest.mark.parametrize(("alg", "ps", "md"), ALGS, ids=[a for a, _, _ in ALGS])
@pytest.mark.parametrize("c14n", [C14N_EXCLUSIVE, C14N_INCLUSIVE], ids=["exc", "incl"])
@pytest.mark.parametrize("ref", [None, "policy"], ids=["uri-empty", "uri-id"])
def test_round_trip_and_tampering(
    pki: Pki, alg: str, ps: str, md: str, c14n: str, ref: str | None
) -> None:
    signer = pki.signers[alg]
    signed = sign_enveloped(
        POLICY, signer.key, signer.cert, canonicalization=c14n, reference_id=ref
    )
    result = verify_enveloped(signed, trust=_trust(pki))
    assert result.valid, [(c.name, c.code) for c in result.checks]
    assert result.signer == signer.cert
    policy = read_signed_policy(signed, trust=_trust(pki))
    assert policy.enp == "5056410834001235" and policy.format_assumed
    assert policy.signature is not None and policy.signature.valid
    # one changed byte in the content
    bad = signed.replace(b"5056410834001235", b"5056410834001236")
    assert verify_enveloped(bad, trust=_trust(pki)).check("digest").code == "digest_mismatch"
    # one changed byte in SignedInfo (the DigestValue's first character)
    m = re.search(rb"<ds:DigestValue>(.)", signed)
    assert m
    swapped = b"B" if m.group(1) != b"B" else b"C"
    forged = signed[: m.start(1)] + swapped + signed[m.end(1) :]
    r = verify_enveloped(forged, trust=_trust(pki))
    assert r.check("signature").code == "signature_invalid" and not r.valid
    # one changed byte in the certificate: the CA's signature on it fails
    cert_b64 = base64.b64encode(signer.cert.der)
    der = bytearray(signer.cert.der)
    at = bytes(der).index(b"Signer ")
    der[at] ^= 0x20
    r = verify_enveloped(signed.replace(cert_b64, base64.b64encode(bytes(der))), trust=_trust(pki))
    assert r.check("chain").code == "cert_signature_invalid" and not r.valid


@pytest.mark.parametrize(
    ("c14n", "ref"),
    [
        ("http://www.w3.org/2001/10/xml-exc-c14n#", ""),
        ("http://www.w3.org/TR/2001/REC-xml-c14n-20010315", ""),
        ("http://www.w3.org/2001/10/xml-exc-c14n#", "#policy"),
    ],
)
def test_canonical_forms_match_xmlsec1(tmp_path: Path, c14n: str, ref: str) -> None:
    """xmlsec1 (libxml2's c14n) signs with HMAC-SHA256; our canonical bytes must give its values.

    Debian's xmlsec1 has no GOST transforms, so HMAC checks the part that is not GOST: which
    bytes the enveloped transform and canonicalization produce.
    """
    need("xmlsec1")
    doc = POLICY.replace(b"<OmsPolicy ", b'<OmsPolicy Id="policy" ', 1)
    sig = (
        '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo>'
        f'<CanonicalizationMethod Algorithm="{c14n}"/>'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"/>'
        f'<Reference URI="{ref}"><Transforms>'
        '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        f'<Transform Algorithm="{c14n}"/></Transforms>'
        '<DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue/>'
        "</Reference></SignedInfo><SignatureValue/></Signature>\n"
    ).encode()
    template = doc.replace(b"</OmsPolicy>", sig + b"</OmsPolicy>")
    (tmp_path / "t.xml").write_bytes(template)
    (tmp_path / "k").write_bytes(b"secret-key")
    args = [
        "xmlsec1",
        "--sign",
        "--hmackey",
        str(tmp_path / "k"),
        "--output",
        str(tmp_path / "s.xml"),
    ]
    if ref.startswith("#"):
        args += ["--id-attr:Id", f"{ASSUMED_NAMESPACE}:OmsPolicy"]
    run(*args, str(tmp_path / "t.xml"))
    signed = (tmp_path / "s.xml").read_bytes()
    signed_info, content = canonical_forms(signed)
    dv = re.search(rb"<DigestValue>(.*?)</DigestValue>", signed)
    sv = re.search(rb"<SignatureValue>(.*?)</SignatureValue>", signed)
    assert dv and sv
    assert base64.b64decode(dv.group(1)) == hashlib.sha256(content).digest()
    assert base64.b64decode(sv.group(1)) == hmac.new(b"secret-key", signed_info, "sha256").digest()
    # and an HMAC method is no GOST method: refused, not "valid"
    with pytest.raises(XmlSignatureError) as exc:
        verify_enveloped(signed, trust=SignerTrust())
    assert exc.value.code == "unsupported_algorithm"


def _signed(pki: Pki, doc: bytes = POLICY, **kw: object) -> bytes:
    s = pki.signers["gost2012_256"]
    return sign_enveloped(doc, s.key, s.cert, **kw)  # type: ignore[arg-type]


def _code(pki: Pki, data: bytes) -> str:
    with pytest.raises(XmlSignatureError) as exc:
        verify_enveloped(data, trust=_trust(pki))
    return exc.value.code


def test_dtd_and_entities_refused(pki: Pki) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<l>&c;</l>"
    )
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r []><r/>'.encode("utf-16")
    for doc in (laughs, xxe, utf16, b"<!doctype r><r/>"):
        assert _code(pki, doc) == "xml_dtd_refused"


def test_signature_wrapping_refused(pki: Pki) -> None:
    signed = _signed(pki, reference_id="policy")
    # the signed policy moved inside a wrapper whose own content is a forged policy
    inner = signed.split(b"?>", 1)[1]
    wrapped = (
        f'<OmsPolicy xmlns="{ASSUMED_NAMESPACE}"><Enp>1111111111111117</Enp><Hidden>'.encode()
        + inner
        + b"</Hidden></OmsPolicy>"
    )
    assert _code(pki, wrapped) in ("xml_reference_refused",)
    # a second element with the same Id
    dup = signed.replace(b"<Enp>", b'<Enp Id="policy">', 1)
    assert _code(pki, dup) == "xml_reference_refused"
    # two signatures
    sig = re.search(rb"(?s)<ds:Signature.*</ds:Signature>", signed)
    assert sig
    twice = signed.replace(b"</OmsPolicy>", sig.group(0) + b"</OmsPolicy>")
    assert _code(pki, twice) == "xml_multiple_signatures"
    # an external or XPointer reference
    assert (
        _code(pki, signed.replace(b'URI="#policy"', b'URI="http://evil/x.xml"'))
        == "xml_reference_refused"
    )
    # an XSLT transform in place of the c14n
    xslt = signed.replace(
        b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
        b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>',
    )
    assert _code(pki, xslt) == "xml_transform_refused"
    # unsigned, oversize, malformed
    assert _code(pki, POLICY) == "xml_signature_missing"
    assert _code(pki, b"<a>" * 10 + b"x") == "bad_xml"
    with pytest.raises(XmlSignatureError) as exc:
        verify_enveloped(signed, trust=_trust(pki), max_bytes=100)
    assert exc.value.code == "xml_too_large"


def test_unsigned_content_is_never_read(pki: Pki) -> None:
    signed = _signed(pki)
    # a forged ENP inside the Signature (ds:Object) and a comment splitting the real one
    forged = signed.replace(
        b"</ds:KeyInfo>",
        b"</ds:KeyInfo><ds:Object>"
        + f'<Enp xmlns="{ASSUMED_NAMESPACE}">1111111111111117</Enp>'.encode()
        + b"</ds:Object>",
    )
    policy = read_signed_policy(forged, trust=_trust(pki))
    assert policy.enp == "5056410834001235"
    assert (
        policy.signature is not None and policy.signature.valid
    )  # ds:Object is outside the digest
    commented = signed.replace(b"<Enp>50564108", b"<Enp>50564108<!-- 9999 -->")
    policy = read_signed_policy(commented, trust=_trust(pki))
    assert (
        policy.enp == "5056410834001235" and policy.signature is not None and policy.signature.valid
    )


def test_policy_fields_and_configurable_paths(pki: Pki) -> None:
    policy = read_signed_policy(_signed(pki), trust=_trust(pki))
    assert (policy.surname, policy.given_name, policy.patronymic) == ("ИВАНОВ", "ИВАН", "ИВАНОВИЧ")
    assert str(policy.birth_date) == "1985-03-15" and policy.insurer_ogrn == "1027700000001"
    assert policy.insurer_name == "СМО & Ко" and str(policy.valid_from) == "2023-01-10"
    assert policy.valid_to is None and policy.enp_checksum_ok and policy.format_assumed
    other = (
        b'<?xml version="1.0"?><Polis><Number>5056 4108 3400 1235</Number>'
        b"<Person><Fam>PETROV</Fam><Dr>01.02.1990</Dr></Person></Polis>"
    )
    paths = PolicyPaths(
        namespaces={},
        root="Polis",
        enp="Number",
        surname="Person/Fam",
        birth_date="Person/Dr",
        given_name=None,
        patronymic=None,
        insurer_ogrn=None,
        insurer_name=None,
        issue_date=None,
        valid_from=None,
        valid_to=None,
    )
    parsed = read_unsigned_policy(other, paths=paths)
    assert (
        parsed.enp == "5056410834001235" and parsed.surname == "PETROV" and parsed.signature is None
    )
    with pytest.raises(PolicyFormatError) as exc:
        read_unsigned_policy(other)  # the default layout does not fit
    assert exc.value.code == "policy_format"
    with pytest.raises(PolicyFormatError) as exc:
        read_unsigned_policy(POLICY.replace(b"<Enp>5056410834001235</Enp>", b""))
    assert exc.value.code == "policy_field_missing"
    with pytest.raises(PolicyFormatError) as exc:
        read_unsigned_policy(POLICY.replace(b"</Enp>", b"</Enp><Enp>5056410834001235</Enp>"))
    assert exc.value.code == "policy_field_ambiguous"


def test_untrusted_signer_is_not_valid(pki: Pki) -> None:
    result = verify_enveloped(_signed(pki), trust=SignerTrust(roots=[]))
    assert result.check("signature").passed
    assert result.check("chain").code == "untrusted_root" and not result.valid
