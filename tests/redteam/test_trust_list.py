"""Red team: the signed trust list, and what a daemon restart does to the revocations it made.

The registry publishes the trust list (signed by a ``trust_list`` key from the operator's
directory); the daemon's sync applies it to the running trust store. Revoking a compromised
card root or paper key is what the list is for. The store keeps the applied list, and its
version high-water mark, in memory only (``TrustStore.apply_trust_list``; the sync never
writes it out), so a restart forgets both: the root the list revoked is trusted again from
the operator's directory, and an older signed list — captured earlier and replayed by a man
in the middle, or served by a mirror rolled back — is accepted as if new.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.redteam.conftest import FRESH, Lab, card_input, check
from tests.registry.hostile import Answer, Asked, HostileRegistry, json_answer
from tests.trust_helpers import write_key
from verifier.config import Config, RegisterConfig, RegistryConfig
from verifier.crypto import sign
from verifier.errors import OmsError
from verifier.registry import protocol
from verifier.service.assembly import Assembly, assemble, import_snapshot
from verifier.service.sync import SnapshotSync
from verifier.trust import TrustError
from verifier.verdict import CheckStatus, Outcome, Reason

TOKEN = "redteam-trust-token"


@dataclass
class Published:
    """What the registry (or whoever answers in its place) publishes right now."""

    body: bytes = b""
    sig: bytes = b""

    def __call__(self, asked: Asked) -> Answer:
        if asked.path == "/v1/time":
            return json_answer({"now": datetime.now(UTC).isoformat()})
        if asked.path == "/v1/trust-list":
            return Answer(200, self.body)
        if asked.path == "/v1/trust-list.sig":
            return Answer(200, self.sig, {"Content-Type": "application/octet-stream"})
        return json_answer(protocol.problem(404, "no_route", "not published here"), 404)


def _list(lab: Lab, version: int, root_state: str) -> tuple[bytes, bytes]:
    doc = {
        "signer": lab.keys.trust_list.public_key().key_id(),
        "version": version,
        "keys": [
            {
                "purpose": "card_insurer_root",
                "certificate_pem": lab.keys.card_root.to_pem().decode(),
                "state": root_state,
            }
        ],
    }
    body = json.dumps(doc, ensure_ascii=False).encode()
    return body, sign(lab.keys.trust_list, body)


@dataclass
class Daemon:
    cfg: Config
    published: Published
    parts: Assembly | None = None

    def start(self) -> Assembly:
        self.parts = assemble(self.cfg)
        self.parts.pipeline.clock = lambda: FRESH
        return self.parts

    def sync_once(self) -> None:
        """One sync round as the daemon runs it (the index is not published: that part of
        the round fails after the trust list has been refreshed, as a partial outage would)."""
        parts = self.parts
        assert parts is not None and parts.client is not None and parts.loop is not None
        sync = SnapshotSync(parts.client, parts.store, parts.trust, region="50")  # type: ignore[arg-type]
        with contextlib.suppress(OmsError):
            parts.loop.call(sync.run_once, 10.0)
        assert sync.status.trust_list_error is None, sync.status.trust_list_error

    def stop(self) -> None:
        if self.parts is not None:
            self.parts.close()
            self.parts = None


@pytest.fixture
def daemon(lab: Lab, tmp_path: Path) -> Iterator[Daemon]:
    trust = tmp_path / "trust"
    shutil.copytree(lab.trust_path, trust)
    write_key(trust, "trust-list-signer", "trust_list", lab.keys.trust_list.public_key().to_pem())
    published = Published()
    with HostileRegistry(published) as h:
        cfg = Config(
            state_dir=tmp_path / "state",
            trust_dir=trust,
            register=RegisterConfig(region="50", db_path=tmp_path / "state" / "register.sqlite3"),
            registry=RegistryConfig(url=h.url, token=TOKEN, budget_s=1.0),
        )
        d = Daemon(cfg, published)
        parts = d.start()
        for f in lab.reg.gen.files:
            import_snapshot(cfg, parts.store, parts.trust, str(f))
        try:
            yield d
        finally:
            d.stop()


def _card_verdict(lab: Lab, d: Daemon) -> Outcome:
    mint = lab.issuer.card(lab.person())
    assert d.parts is not None
    v = d.parts.pipeline.verify(card_input(mint.dump))
    d.last = v  # type: ignore[attr-defined]
    return v.outcome


def test_control_the_list_revokes_the_card_root_in_the_running_daemon(
    lab: Lab, daemon: Daemon
) -> None:
    """Before the list, a card under the root is ``valid``; after list v2 revokes the root
    (its key compromised), the same card is ``invalid`` (``key_revoked``)."""
    assert _card_verdict(lab, daemon) is Outcome.VALID
    daemon.published.body, daemon.published.sig = _list(lab, 2, "revoked")
    daemon.sync_once()
    assert _card_verdict(lab, daemon) is Outcome.INVALID
    assert check(daemon.last, "key_trusted").reason is Reason.KEY_REVOKED  # type: ignore[attr-defined]


def test_an_older_list_is_refused_while_the_daemon_runs(lab: Lab, daemon: Daemon) -> None:
    """Attack: replay list v1 (root active) after v2 revoked it, without a restart. Held:
    ``trust_list_old``, and the root stays revoked."""
    assert daemon.parts is not None
    daemon.parts.trust.apply_trust_list(*_list(lab, 2, "revoked"))
    with pytest.raises(TrustError) as exc:
        daemon.parts.trust.apply_trust_list(*_list(lab, 1, "active"))
    assert exc.value.code == "trust_list_old"
    assert _card_verdict(lab, daemon) is Outcome.INVALID


def test_a_restart_forgets_the_revocation_and_accepts_an_older_list(
    lab: Lab, daemon: Daemon
) -> None:
    """Attack: wait for (or cause) a daemon restart, then answer the sync's trust-list request
    with the older signed list v1 that still lists the root as active. The revocation v2
    made is gone after the restart (it lived in memory), the replayed v1 is accepted (no
    high-water mark survives), and a card signed with the compromised root's chain is
    ``valid`` again. Even with no replay, every card is ``valid`` from the restart until the
    next successful sync — for days, on a desk that is offline.
    Fix: persist the applied list (its bytes and signature, atomically, 0640, in the state
    directory) and load it at start in ``TrustStore.from_directory``/``load_trust``, so
    ``list_version`` and the revocations survive restarts; refuse a list not newer than it.
    """
    daemon.published.body, daemon.published.sig = _list(lab, 2, "revoked")
    daemon.sync_once()
    assert _card_verdict(lab, daemon) is Outcome.INVALID  # the running daemon got it right
    daemon.stop()
    daemon.start()  # the restart: a reboot, an upgrade, the watchdog
    daemon.published.body, daemon.published.sig = _list(lab, 1, "active")  # the replay
    daemon.sync_once()
    outcome = _card_verdict(lab, daemon)
    assert outcome is not Outcome.VALID, daemon.last.reasons  # type: ignore[attr-defined]
    assert check(daemon.last, "key_trusted").status is CheckStatus.FAIL  # type: ignore[attr-defined]
