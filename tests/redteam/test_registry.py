"""Red team: online registry answers, through the daemon's own assembly and a real HTTP server.

The forger here holds a registry signing key that the trust store still lists but that must
no longer vouch for anything new: a key past its ``not_after`` (rotated out and later leaked
from an old backup), a ``retired`` key ("signs nothing new", docs/trust.md), or a key not yet
valid. An online answer is new by construction — the client demands a fresh nonce and an
``answered_at`` within the clock skew — so a key that may sign nothing new must not make one
count. Snapshots already check the key's window (``TrustStore.check_snapshot_signature``);
the answer verifier (``verifier/service/assembly.py: answer_verifier``) checks only that the
key is known and not revoked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cache.register_model import RegisterRecord
from tests.redteam.conftest import Lab, check
from tests.registry.hostile import Answer, Asked, HostileRegistry, json_answer
from tests.trust_helpers import write_key
from verifier.checks.context import LookupMode
from verifier.config import Config, RegisterConfig, RegistryConfig
from verifier.credential import CredentialInput
from verifier.crypto import Algorithm, PrivateKey, hashes
from verifier.crypto.keys import generate_private_key
from verifier.crypto.signatures import sign_digest
from verifier.registry import protocol
from verifier.service.assembly import Assembly, assemble
from verifier.verdict import CheckStatus, Outcome

TOKEN = "redteam-registry-token"
_PERSON = re.compile(r"^/v1/persons/(\d{16})$")


class KeyHolderRegistry:
    """A registry that signs honest-looking format-2 answers with ``key`` for every question
    (its nonce, its query, now): exactly what whoever holds the key can do."""

    def __init__(self, key: PrivateKey, records: dict[str, RegisterRecord]) -> None:
        self.key = key
        self.records = records

    def __call__(self, asked: Asked) -> Answer:
        m = _PERSON.match(asked.path)
        nonce = asked.params.get(protocol.NONCE_PARAM, "")
        if m is None or m.group(1) not in self.records:
            return json_answer(protocol.problem(404, "no_route", "not here"), 404)
        fields = {
            "nonce": nonce,
            "query": protocol.Query.enp(m.group(1)),
            "answered_at": datetime.now(UTC).replace(microsecond=0),
            "record": self.records[m.group(1)],
            "alias": None,
            "documents": protocol.documents_of({}),
        }
        payload = protocol.signed_payload(**fields)  # type: ignore[arg-type]
        sig = sign_digest(self.key, hashes.digest(hashes.STREEBOG256, payload))
        wire = protocol.answer_to_wire(
            **fields,  # type: ignore[arg-type]
            key_id=self.key.public_key().key_id(),
            signature=sig,
        )
        return json_answer(wire)


@dataclass
class Deployment:
    parts: Assembly
    enp: str

    def verify(self) -> Outcome:
        v = self.parts.pipeline.verify(
            CredentialInput.from_text(self.enp, manual=True, source="test"),
            mode=LookupMode.ONLINE,
        )
        self.last = v
        return v.outcome


def _deploy(lab: Lab, tmp: Path, key: PrivateKey, **key_fields: Any) -> Iterator[Deployment]:
    p = lab.person()
    record = lab.store.lookup_enp(p.enp)
    assert record is not None and record.enp == p.enp  # the register holds this person
    trust = tmp / "trust"
    write_key(trust, "registry", "snapshot", key.public_key().to_pem(), **key_fields)
    with HostileRegistry(KeyHolderRegistry(key, {p.enp: record})) as h:
        cfg = Config(
            state_dir=tmp / "state",
            trust_dir=trust,
            register=RegisterConfig(region="50", db_path=tmp / "state" / "register.sqlite3"),
            registry=RegistryConfig(url=h.url, token=TOKEN, budget_s=1.0),
        )
        parts = assemble(cfg)
        try:
            yield Deployment(parts, p.enp)
        finally:
            parts.close()


NOW = datetime.now(UTC)
WINDOWS = {
    "expired": {"not_after": NOW - timedelta(days=30)},
    "not_yet_valid": {"not_before": NOW + timedelta(days=30)},
}


def test_control_an_active_registry_key_makes_an_answer_count(lab: Lab, tmp_path: Path) -> None:
    """The harness itself: the same forged-by-key-holder answer under an active key is
    ``valid`` (a key holder can sign anything, docs/registry.md) — so a refusal below is the
    key's window, not the harness."""
    key = generate_private_key(Algorithm.GOST2012_256, "A")
    for d in _deploy(lab, tmp_path, key, state="active"):
        assert d.verify() is Outcome.VALID, d.last.reasons
        assert check(d.last, "register_status").status is CheckStatus.PASS


@pytest.mark.parametrize("window", sorted(WINDOWS))
def test_an_answer_signed_by_a_key_that_may_sign_nothing_new_does_not_count(
    lab: Lab, tmp_path: Path, window: str
) -> None:
    """Attack: sign a fresh, correctly bound answer ("active") with a registry key that is
    outside its validity window (expired, or not yet valid). A snapshot signed by such a key
    is refused (``snapshot_key_expired``); the online answer is accepted and gives ``valid``.
    Fix: ``answer_verifier`` refuses a key that is not ``valid_at(answer.answered_at)``."""
    key = generate_private_key(Algorithm.GOST2012_256, "A")
    for d in _deploy(lab, tmp_path, key, **WINDOWS[window]):
        outcome = d.verify()
        assert outcome is not Outcome.VALID, (window, d.last.reasons)
        assert check(d.last, "register_status").status is CheckStatus.SKIP


def test_an_answer_signed_by_a_retired_registry_key_does_not_count(
    lab: Lab, tmp_path: Path
) -> None:
    """Attack: the same fresh answer signed by a ``retired`` registry key. docs/trust.md:
    retired "signs nothing new; what it signed stays valid" — an online answer is always new
    (fresh nonce, ``answered_at`` within the skew), so a retired key can only have made it
    after it was retired: whoever kept the old key after a rotation. Accepted today.
    Fix: ``answer_verifier`` wants ``KeyState.ACTIVE`` for online answers."""
    key = generate_private_key(Algorithm.GOST2012_256, "A")
    for d in _deploy(lab, tmp_path, key, state="retired"):
        assert d.verify() is not Outcome.VALID, d.last.reasons
