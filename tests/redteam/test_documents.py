"""Red team: the signed XML policy (enveloped XMLDSig with GOST, assumed layout).

Certificates come from Debian's OpenSSL GOST engine (``tests.documents.conftest.pki``): a
"Treasury" CA trusted as ``document_signer`` and signers under it. A qualified certificate
under such a root is held by very many people and firms, so a *trusted* signature proves
only that someone with a qualified certificate signed the file — the holder check and the
register are what tie the document to a person.
"""

from __future__ import annotations

import shutil

import pytest

from tests.documents.conftest import Pki, pki  # noqa: F401  (the session fixture)
from tests.redteam.conftest import Lab, check
from tests.trust_helpers import write_key
from verifier.credential import CredentialInput, CredentialKind
from verifier.crypto.xmldsig import sign_enveloped
from verifier.errors import RecognitionError
from verifier.formats.xml_policy import ASSUMED_NAMESPACE
from verifier.trust import TrustStore
from verifier.verdict import CheckStatus, Outcome, Reason


def _policy(enp: str, holder: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<OmsPolicy xmlns="{ASSUMED_NAMESPACE}">'
        f"<Enp>{enp}</Enp>{holder}<IssueDate>2023-01-10</IssueDate></OmsPolicy>\n"
    ).encode()


def _holder(surname: str, given: str, patronymic: str, born: str) -> str:
    return (
        f"<Holder><Surname>{surname}</Surname><FirstName>{given}</FirstName>"
        f"<Patronymic>{patronymic}</Patronymic><BirthDate>{born}</BirthDate></Holder>"
    )


@pytest.fixture(scope="module")
def doc_trust(lab: Lab, pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> TrustStore:  # noqa: F811
    d = tmp_path_factory.mktemp("doctrust") / "trust"
    shutil.copytree(lab.trust_path, d)
    write_key(d, "treasury", "document_signer", pki.ca_path.read_bytes(), field="certificate")
    return TrustStore.from_directory(d)


def _sign(pki: Pki, doc: bytes) -> bytes:  # noqa: F811
    s = pki.signers["gost2012_256"]
    return sign_enveloped(doc, s.key, s.cert)


def _file(data: bytes) -> CredentialInput:
    return CredentialInput(data, source="cli")


def test_control_a_signed_policy_of_the_right_person_is_valid(
    lab: Lab,
    pki: Pki,  # noqa: F811
    doc_trust: TrustStore,
) -> None:
    p = lab.person()
    doc = _policy(p.enp, _holder(p.surname, p.given_name, p.patronymic, p.birth_date.isoformat()))
    v = lab.pipeline(trust=doc_trust).verify(_file(_sign(pki, doc)))
    assert v.credential is not None and v.credential.kind is CredentialKind.SIGNED_DOCUMENT
    assert check(v, "holder").status is CheckStatus.PASS
    assert v.outcome is Outcome.VALID, (v.reasons, check(v, "key_trusted"), check(v, "signature"))


def test_a_signed_policy_under_another_name_is_holder_mismatch(
    lab: Lab,
    pki: Pki,  # noqa: F811
    doc_trust: TrustStore,
) -> None:
    """Attack: sign, with one's own qualified certificate, a policy naming a genuine ENP and
    the forger's own name. Held: the trusted signature does not bind the person."""
    p = lab.person()
    other = lab.person(lambda q: q.surname != p.surname)
    doc = _policy(
        p.enp, _holder(other.surname, p.given_name, p.patronymic, p.birth_date.isoformat())
    )
    v = lab.pipeline(trust=doc_trust).verify(_file(_sign(pki, doc)))
    assert v.outcome is Outcome.UNKNOWN
    assert check(v, "holder").reason is Reason.HOLDER_MISMATCH


@pytest.mark.parametrize(
    "holder",
    [
        "",
        '<h:Holder xmlns:h="urn:elsewhere"><h:Surname>ИВАНОВ</h:Surname>'
        "<h:BirthDate>1980-01-01</h:BirthDate></h:Holder>",
    ],
    ids=["no-holder", "holder-in-another-namespace"],
)
def test_a_signed_policy_with_no_holder_the_layout_reads_is_not_valid(
    lab: Lab,
    pki: Pki,  # noqa: F811
    doc_trust: TrustStore,
    holder: str,
) -> None:
    """Attack: leave the holder out (or put it where the configured layout does not look,
    another namespace), sign with any qualified certificate. ``read_policy`` then finds no
    name and no birth date, ``carries_holder`` is false, and the holder check is a ``skip``
    without a reason: the verdict is ``valid`` with the match key configured, while a wrong
    name would have been ``holder_mismatch`` — leaving the name out beats forging it. The
    signed XML policy always names its holder (it is the policy of a person), so a document
    with no readable holder must not be ``valid``.
    Fix: ``verifier/checks/holder.py`` ``HolderMatcher.check_holder``: for a kind that always
    carries its holder (``SIGNED_DOCUMENT``, and card/paper, which the format check already
    stops), no holder data is ``_incomplete()`` (``holder_mismatch``), not a plain skip; or
    ``xml_policy.read_policy`` raises ``policy_field_missing`` without surname/birth date.
    """
    p = lab.person()
    v = lab.pipeline(trust=doc_trust).verify(_file(_sign(pki, _policy(p.enp, holder))))
    assert check(v, "signature").status is CheckStatus.PASS
    assert check(v, "register_status").status is CheckStatus.PASS
    assert v.outcome is not Outcome.VALID, (v.reasons, check(v, "holder"))


def test_signature_wrapping_the_genuine_policy_inside_a_forged_one_is_refused(
    lab: Lab,
    pki: Pki,  # noqa: F811
    doc_trust: TrustStore,
) -> None:
    """Attack (XML signature wrapping): a forged document element naming the forger, with
    the genuine signature (``URI="#policy"``) and the genuine signed policy moved inside it,
    so that the digest still finds the element it covers. Held: the reference must be the
    document element itself, and a document with a wrapped copy is refused or invalid."""
    p = lab.person()
    other = lab.person(lambda q: q.surname != p.surname)
    genuine = _policy(
        p.enp, _holder(p.surname, p.given_name, p.patronymic, p.birth_date.isoformat())
    ).replace(b"<OmsPolicy ", b'<OmsPolicy Id="policy" ')
    s = pki.signers["gost2012_256"]
    signed = sign_enveloped(genuine, s.key, s.cert, reference_id="policy").decode()
    body = signed.split("?>", 1)[1].strip()
    sig_start = body.index("<ds:Signature") if "<ds:Signature" in body else body.index("<Signature")
    signature = body[sig_start : body.rindex("</OmsPolicy>")]
    inner = body[:sig_start] + "</OmsPolicy>"
    forged_holder = _holder(other.surname, other.given_name, other.patronymic, "1980-01-01")
    wrapped = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<OmsPolicy xmlns="{ASSUMED_NAMESPACE}" Id="x">'
        f"<Enp>{p.enp}</Enp>{forged_holder}<Wrapper>{inner}</Wrapper>{signature}</OmsPolicy>"
    ).encode()
    try:
        v = lab.pipeline(trust=doc_trust).verify(_file(wrapped))
    except RecognitionError:
        return  # refused as no credential: as good
    assert v.outcome is not Outcome.VALID
    assert check(v, "signature").status is CheckStatus.FAIL
    assert "xml_reference_refused" in check(v, "signature").detail


def test_a_signature_marker_without_a_signature_is_invalid_when_roots_are_configured(
    lab: Lab,
    doc_trust: TrustStore,
) -> None:
    """Attack: an unsigned policy that only mentions the XMLDSig namespace (in a comment), to
    be taken as "signed" and then perhaps "not checked". Held with document roots loaded:
    the signature is looked for and is missing — ``invalid``, never ``valid``."""
    p = lab.person()
    doc = _policy(
        p.enp, _holder(p.surname, p.given_name, p.patronymic, p.birth_date.isoformat())
    ).replace(b"<Enp>", b"<!-- http://www.w3.org/2000/09/xmldsig# --><Enp>")
    v = lab.pipeline(trust=doc_trust).verify(_file(doc))
    assert v.outcome is Outcome.INVALID
    assert check(v, "signature").reason is Reason.SIGNATURE_INVALID
