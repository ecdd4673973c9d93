"""The register the service serves: a generator-style data directory, checked at startup.

Layout: ``full-NNNNNN.omssnap`` and ``delta-NNNNNN.omssnap`` (signed snapshots),
``registry-snapshot.key.pem`` (the registry's GOST key, also signs online answers),
``registry-snapshot.pub.pem`` (optional; must match the key), ``persons.csv`` (names for the
search endpoint), optionally ``trust-list.json``/``trust-list.sig``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from cache.name_hash import normalize_name
from cache.snapshot_chain import SNAPSHOT_FILE, read_chain
from cache.snapshot_format import SnapshotFormatError
from cache.snapshot_store import SnapshotRefused, SnapshotStore
from verifier.crypto.errors import CryptoError
from verifier.crypto.keys import PrivateKey, PublicKey, load_private_key, load_public_key
from verifier.crypto.signatures import verify_digest
from verifier.errors import OmsError
from verifier.registry.protocol import DeltaRef, SnapshotIndex

KEY_FILE = "registry-snapshot.key.pem"
PUB_FILE = "registry-snapshot.pub.pem"
PERSONS_FILE = "persons.csv"
log = logging.getLogger("oms.registry.server")


class ServerSetupError(OmsError):
    """The data directory cannot be served (missing key, broken snapshot chain…)."""

    code = "registry_setup"


@dataclass(frozen=True, slots=True)
class NameRow:
    """One live person of ``persons.csv``, names normalised (upper case, Ё→Е)."""

    enp: str
    surname: str
    given_name: str
    patronymic: str
    birth_date: date


@dataclass(frozen=True, slots=True)
class RegistryData:
    data_dir: Path
    signing_key: PrivateKey
    public_key: PublicKey
    key_id: str
    index: SnapshotIndex
    chain: tuple[Path, ...]  # the full snapshot, then the deltas in order

    def snapshot_path(self, name: str) -> Path | None:
        """The served file for ``name``, or None (bad name or not in the data dir)."""
        if not SNAPSHOT_FILE.match(name):
            return None
        path = self.data_dir / name
        return path if path.is_file() else None


def _warn_if_readable(path: Path) -> None:
    """The key and ``persons.csv`` are secrets/personal data: say so if others can read them
    (the service does not create them; ``registry generate`` should, 0600)."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s is accessible to group/others (mode %o); chmod 600 it", path.name, mode & 0o777
        )


def load_registry_data(data_dir: Path) -> RegistryData:
    data_dir = Path(data_dir)
    key_path = data_dir / KEY_FILE
    try:
        key = load_private_key(key_path.read_bytes())
    except OSError as exc:
        raise ServerSetupError(f"cannot read {key_path}: {exc.strerror}") from exc
    except (CryptoError, OmsError) as exc:
        raise ServerSetupError(f"{key_path} is not a usable private key: {exc}") from exc
    _warn_if_readable(key_path)
    _warn_if_readable(data_dir / PERSONS_FILE)
    public = key.public_key()
    pub_path = data_dir / PUB_FILE
    if pub_path.exists():
        try:
            published = load_public_key(pub_path.read_bytes())
        except (CryptoError, OmsError) as exc:
            raise ServerSetupError(f"{pub_path} is not a usable public key: {exc}") from exc
        if published.key_id() != public.key_id():
            raise ServerSetupError(f"{pub_path.name} does not belong to {KEY_FILE}")
    try:
        found = read_chain(data_dir)
    except (OSError, SnapshotFormatError) as exc:
        raise ServerSetupError(f"cannot read a snapshot in {data_dir}: {exc}") from exc
    if found.full is None or found.region is None:
        raise ServerSetupError(f"no full snapshot (full-NNNNNN.omssnap) in {data_dir}")
    full_name, full_seq = found.full.name, found.full.sequence
    linked = found.linked
    bases = [full_seq, *(d.sequence for d in linked)][: len(linked)]  # each delta's base
    deltas = [DeltaRef(d.name, d.sequence, base) for d, base in zip(linked, bases, strict=True)]
    index = SnapshotIndex(
        region=found.region,
        full_name=full_name,
        full_sequence=full_seq,
        latest_sequence=linked[-1].sequence if linked else full_seq,
        deltas=tuple(deltas),
    )
    chain = (data_dir / full_name, *(data_dir / d.name for d in deltas))
    return RegistryData(data_dir, key, public, public.key_id(), index, chain)


def build_snapshot_store(data: RegistryData, path: Path) -> SnapshotStore:
    """Import the chain into a new SQLite store at ``path``, verifying every signature."""

    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        if key_id != data.key_id:
            raise SnapshotRefused(
                f"snapshot is signed by key {key_id}, the registry key is {data.key_id}",
                code="snapshot_key_unknown",
            )
        try:  # as TrustStore.check_snapshot_signature: a malformed signature is a bad one
            return verify_digest(data.public_key, digest, signature)
        except CryptoError:
            return False

    store = SnapshotStore(path)
    try:
        for file in data.chain:
            store.import_file(file, check, region=data.index.region)
    except SnapshotRefused as exc:
        store.close()
        raise ServerSetupError(f"{exc.message} ({exc.code})", code=exc.code) from exc
    return store


def read_names(data_dir: Path) -> Iterator[NameRow]:
    """Live persons of ``persons.csv`` (deleted rows skipped); nothing when the file is absent."""
    path = Path(data_dir) / PERSONS_FILE
    if not path.exists():
        return
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("deleted") or not row.get("birth_date"):
                continue
            try:
                born = date.fromisoformat(row["birth_date"])
            except ValueError as exc:
                raise ServerSetupError(
                    f"{PERSONS_FILE}: bad birth_date {row['birth_date']!r}"
                ) from exc
            yield NameRow(
                enp=row["enp"],
                surname=normalize_name(row.get("surname")),
                given_name=normalize_name(row.get("given_name")),
                patronymic=normalize_name(row.get("patronymic")),
                birth_date=born,
            )
