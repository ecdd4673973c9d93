"""Red team: what the audit log keeps of a registry answer (the proof blob).

The audit database outlives the visit; ``mask_proof`` is meant to keep the signed answer
verifiable while masking every personal number in it (docs: ENP, temporary certificate, old
policy number). The answers here are real format-2 answers signed with a real GOST key, the
way the registry writes them, masked by the audit log's own ``mask_proof``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from cache.register_model import AliasKind
from tests.redteam.conftest import Lab
from verifier.crypto import Algorithm, hashes
from verifier.crypto.keys import generate_private_key
from verifier.crypto.signatures import sign_digest
from verifier.registry import protocol
from verifier.service.audit import mask_proof

KEY = generate_private_key(Algorithm.GOST2012_256, "A")


def _answer(lab: Lab, kind: AliasKind | None) -> tuple[bytes, str]:
    """A signed answer to an ENP / temporary-certificate / old-number lookup, and the number
    that was asked (what must not survive in clear)."""
    if kind is AliasKind.OLD_NUMBER:
        p = lab.person(lambda q: bool(q.old_number))
        query = alias = protocol.Query.alias(kind, p.old_number)
        asked = p.old_number
    elif kind is AliasKind.TEMP_CERT:
        p = lab.person(lambda q: bool(q.temp_cert))
        query = alias = protocol.Query.alias(kind, p.temp_cert)
        asked = p.temp_cert
    else:
        p = lab.person()
        query, alias, asked = protocol.Query.enp(p.enp), None, p.enp
    record = lab.store.lookup_enp(p.enp)
    assert record is not None and record.enp == p.enp  # the register holds this person
    fields = {
        "nonce": protocol.new_nonce(),
        "query": query,
        "answered_at": datetime.now(UTC).replace(microsecond=0),
        "record": record,
        "alias": alias,
        "documents": protocol.documents_of({}),
    }
    sig = sign_digest(KEY, hashes.digest(hashes.STREEBOG256, protocol.signed_payload(**fields)))  # type: ignore[arg-type]
    wire = protocol.answer_to_wire(**fields, key_id=KEY.public_key().key_id(), signature=sig)  # type: ignore[arg-type]
    return protocol.canonical_json(wire), asked


def _digits(number: str) -> str:
    """The personal part of a number: its digits after a region/series prefix."""
    return re.sub(r"\D", "", number)[2:] if not number.isdigit() else number


@pytest.mark.parametrize("kind", [None, AliasKind.TEMP_CERT], ids=["enp", "temporary-certificate"])
def test_enp_and_temporary_certificate_are_masked_in_the_proof(
    lab: Lab, kind: AliasKind | None
) -> None:
    """Held: neither the ENP nor the 9-digit temporary certificate is kept in clear."""
    raw, asked = _answer(lab, kind)
    kept = mask_proof(raw).decode()
    assert asked not in kept
    assert json.loads(kept)["signature"] == json.loads(raw)["signature"]  # still a proof


def test_an_old_policy_number_is_masked_in_the_proof(lab: Lab) -> None:
    """Attack (on privacy, by whoever reads the audit database or its backups): an old-style
    policy number is a personal number like the others (the kiosk finding masked it on
    screens), but ``mask_proof`` masks runs of 8+ digits only. An old number is a series and
    a 7-digit number (``50М5708594``): its digit runs are 2 and 7 long, so ``query.number``
    and ``alias.number`` are kept in clear in every old-number lookup's proof.
    Fix: ``verifier/service/audit.py`` ``_mask_tree``: mask the ``number`` fields of
    ``query``/``alias`` whatever their shape (all but the last 2–4 characters), or lower the
    digit-run threshold for those fields.
    """
    raw, asked = _answer(lab, AliasKind.OLD_NUMBER)
    kept = mask_proof(raw).decode()
    assert asked not in kept, "the old policy number is in the audit proof in clear"
    assert _digits(asked) not in kept
