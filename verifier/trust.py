"""The trust store: which keys may vouch for what, by key id, with validity and state.

Keys come from two places: a directory of descriptor files the operator controls
(``*.toml``, each naming a PEM) and a signed trust list the registry publishes (JSON plus a
detached GOST signature by a ``trust_list`` key from the directory). A trust list whose
signature fails never replaces the current one. Keys are looked up by id, never by trying each.

The paper-barcode signature-field interpretation (an assumption, REFERENCE §3) is a per-key
setting, :class:`PaperSignatureLayout`, and lives only here.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeGuard

from verifier.crypto import hashes
from verifier.crypto.keys import PublicKey, load_public_key
from verifier.crypto.signatures import verify_digest
from verifier.crypto.x509 import Certificate, load_certificate
from verifier.errors import CryptoError, OmsError
from verifier.private_files import write_private
from verifier.safejson import JsonError
from verifier.safejson import loads as safe_loads


class TrustError(OmsError):
    code = "trust_error"


FIELD_LENGTH = 65  # the paper policy's signature field
MAX_TRUST_LIST = 4 * 1024 * 1024  # a few thousand keys in PEM; a list is a few KiB in practice


class Purpose(StrEnum):
    PAPER_BARCODE = "paper_barcode"
    CARD_INSURER_ROOT = "card_insurer_root"
    SNAPSHOT = "snapshot"
    TRUST_LIST = "trust_list"
    DOCUMENT_SIGNER = "document_signer"  # CA roots of qualified certificates (the Treasury's…)


class KeyState(StrEnum):
    ACTIVE = "active"  # signs new documents
    RETIRED = "retired"  # signs nothing new; what it signed stays valid
    REVOKED = "revoked"  # compromised: fails even for old documents


class SignatureOrder(StrEnum):
    """How the two halves of a GOST signature are laid out in the field."""

    S_R = "s||r"
    R_S = "r||s"


@dataclass(frozen=True, slots=True)
class PaperSignatureLayout:
    """How the 65-byte signature field of a paper policy is read (assumption, REFERENCE §3).

    Default: bytes 0..63 are the GOST R 34.10-2001 signature s||r (big-endian) over the
    GOST R 34.11-94 (CryptoPro) hash of the data part, byte 64 is the key number.
    """

    key_number_offset: int = 64
    signature_offset: int = 0
    signature_length: int = 64
    order: SignatureOrder = SignatureOrder.S_R
    hash_name: str = hashes.GOST94

    def validate(self) -> None:
        """Refuse a layout that could never read a 65-byte field: a typo must fail the load,
        not turn every genuine barcode of the key into a 'forgery'."""
        for name in ("key_number_offset", "signature_offset", "signature_length"):
            if not _is_int(getattr(self, name)):
                raise TrustError(f"paper_layout {name} must be an integer")
        for name in ("order", "hash_name"):
            if not isinstance(getattr(self, name), str):
                raise TrustError(f"paper_layout {name} must be a string")
        if self.order not in tuple(SignatureOrder):
            raise TrustError(f"paper_layout order must be 's||r' or 'r||s', got {self.order!r}")
        if self.hash_name not in (hashes.GOST94, hashes.STREEBOG256, hashes.STREEBOG512):
            raise TrustError(f"paper_layout hash_name {self.hash_name!r} is not a GOST hash")
        if self.signature_length not in (64, 128):
            raise TrustError("paper_layout signature_length must be 64 or 128")
        end = self.signature_offset + self.signature_length
        if self.signature_offset < 0 or end > FIELD_LENGTH:
            raise TrustError(
                f"paper_layout signature bytes {self.signature_offset}..{end} "
                f"do not fit the {FIELD_LENGTH}-byte field"
            )
        if not 0 <= self.key_number_offset < FIELD_LENGTH or (
            self.signature_offset <= self.key_number_offset < end
        ):
            raise TrustError(
                "paper_layout key_number_offset must be a field byte outside the signature"
            )

    def split(self, field_: bytes) -> tuple[int, bytes]:
        """(key number, signature in s||r order) from the raw signature field."""
        if len(field_) < max(
            self.key_number_offset + 1, self.signature_offset + self.signature_length
        ):
            raise TrustError(
                "signature field too short for the configured layout", code="bad_signature_field"
            )
        sig = field_[self.signature_offset : self.signature_offset + self.signature_length]
        if self.order == SignatureOrder.R_S:
            half = self.signature_length // 2
            sig = sig[half:] + sig[:half]
        return field_[self.key_number_offset], sig


@dataclass(frozen=True)
class TrustedKey:
    key_id: str
    purpose: Purpose
    public_key: PublicKey
    not_before: datetime | None = None
    not_after: datetime | None = None
    state: KeyState = KeyState.ACTIVE
    certificate: Certificate | None = None  # card_insurer_root keys are root certificates
    paper_key_number: int | None = None
    paper_layout: PaperSignatureLayout = field(default_factory=PaperSignatureLayout)
    origin: str = "directory"

    def valid_at(self, when: datetime) -> bool:
        return (self.not_before is None or self.not_before <= when) and (
            self.not_after is None or when <= self.not_after
        )


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _text(doc: dict[str, Any], name: str) -> str | None:
    """An optional string field; another type is a TrustError naming the field."""
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise TrustError(f"{name} must be a string, not {type(value).__name__}")
    return value


def _pem(doc: dict[str, Any], inline: str, file: str, base: Path | None) -> bytes | str:
    """Inline PEM (``*_pem``), else the named file; a trust list (no base) may not name files."""
    value = doc.get(inline)
    if value is not None:
        if not isinstance(value, str | bytes) or not value:
            raise TrustError(f"{inline} must be a non-empty PEM string")
        return value
    if base is None:
        raise TrustError(f"{inline} is required here (files cannot be named)")
    name = _text(doc, file)
    if not name:
        raise TrustError(f"{inline} or {file} is required")
    return _read(base, name)


def _ts(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise TrustError(f"{what} is not an ISO 8601 timestamp") from None
    else:
        raise TrustError(f"{what} must be a timestamp")
    if dt.tzinfo is None:
        raise TrustError(f"{what} needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    return dt.astimezone(UTC)


def key_from_mapping(doc: dict[str, Any], *, base: Path | None, origin: str) -> TrustedKey:
    """Build a key from a descriptor (TOML file or trust-list entry); raises TrustError.

    ``base`` is the directory file names are relative to; ``None`` (a trust-list entry, whose
    author is not the operator) allows inline PEM only, so a list cannot make us read files.
    """
    try:
        if not isinstance(doc, dict):
            raise TrustError(f"a key descriptor must be a table/object, not {type(doc).__name__}")
        purpose_name = _text(doc, "purpose")
        if not purpose_name:
            raise TrustError("purpose is required")
        purpose = Purpose(purpose_name)
        state = KeyState(_text(doc, "state") or "active")
        cert = None
        if "certificate" in doc or "certificate_pem" in doc:
            cert = load_certificate(_pem(doc, "certificate_pem", "certificate", base))
            public = cert.public_key
        else:
            public = load_public_key(_pem(doc, "public_key_pem", "public_key", base))
        if purpose in (Purpose.CARD_INSURER_ROOT, Purpose.DOCUMENT_SIGNER) and cert is None:
            raise TrustError(f"a {purpose.value} needs a certificate, not a bare public key")
        layout_doc = doc.get("paper_layout", {})
        if not isinstance(layout_doc, dict):
            raise TrustError("paper_layout must be a table/object")
        layout = PaperSignatureLayout(**layout_doc) if layout_doc else PaperSignatureLayout()
        layout.validate()
        layout = replace(layout, order=SignatureOrder(layout.order))  # the TOML gave text
        kid = _text(doc, "id") or public.key_id()
        number = doc.get("key_number")
        valid_number = _is_int(number) and 0 <= number <= 255
        if purpose is Purpose.PAPER_BARCODE and not valid_number:
            raise TrustError(f"paper_barcode key {kid} needs a key_number from 0 to 255")
        return TrustedKey(
            key_id=kid,
            purpose=purpose,
            public_key=public,
            not_before=_ts(doc.get("not_before"), "not_before"),
            not_after=_ts(doc.get("not_after"), "not_after"),
            state=state,
            certificate=cert,
            paper_key_number=number if valid_number else None,
            paper_layout=layout,
            origin=origin,
        )
    except TrustError as exc:
        raise TrustError(f"bad key descriptor ({origin}): {exc.message}", code=exc.code) from exc
    except (KeyError, ValueError, TypeError, AttributeError, CryptoError, OSError) as exc:
        raise TrustError(f"bad key descriptor ({origin}): {exc!r}") from exc


def _read(base: Path | None, name: str) -> bytes:
    path = Path(name) if base is None or Path(name).is_absolute() else base / name
    return path.read_bytes()


def parse_trust_list(document: bytes) -> tuple[str, int, list[Any]]:
    """(signer id, version, entries) of a trust list, before its signature is checked.

    The bytes come from the network unverified: depth and size are bounded (safejson) and each
    field's type is checked, so hostile input is a TrustError with a code, never a crash.
    """
    try:
        doc = safe_loads(document, max_bytes=MAX_TRUST_LIST, what="trust list")
    except JsonError as exc:  # not JSON, too deep, too large: one code, the message says
        raise TrustError(exc.message, code="trust_list_malformed") from exc
    if not isinstance(doc, dict):
        raise TrustError("trust list must be a JSON object", code="trust_list_malformed")
    signer_id, version, entries = doc.get("signer"), doc.get("version"), doc.get("keys")
    if not isinstance(signer_id, str) or not signer_id:
        raise TrustError("trust list signer must be a key id string", code="trust_list_malformed")
    if not _is_int(version) or version < 0:
        raise TrustError(
            "trust list version must be a non-negative integer", code="trust_list_malformed"
        )
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise TrustError("trust list keys must be a list of objects", code="trust_list_malformed")
    return signer_id, version, entries


class TrustStore:
    """Keys by (purpose, id). Thread-safe swaps: readers see the old or the new set, whole."""

    def __init__(
        self, keys: Iterable[TrustedKey] = (), *, revoked: Callable[[str], bool] | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._dir_keys: dict[tuple[Purpose, str], TrustedKey] = {}
        self._list_keys: dict[tuple[Purpose, str], TrustedKey] = {}
        self.list_version: int | None = None
        # Where the last applied list is kept, so that a restart neither forgets its
        # revocations nor accepts an older list replayed to it (None: memory only).
        self.persist_dir: Path | None = None
        self.externally_revoked = revoked or (lambda _kid: False)
        for k in keys:
            self._dir_keys[(k.purpose, k.key_id)] = k

    # --- loading -----------------------------------------------------------------------

    @classmethod
    def from_directory(cls, directory: str | Path) -> TrustStore:
        """Every ``*.toml`` descriptor in ``directory``; one bad file fails the load, loudly."""
        d = Path(directory)
        if not d.is_dir():
            raise TrustError(f"trust directory {d} does not exist", code="trust_dir_missing")
        keys = []
        for f in sorted(d.glob("*.toml")):
            try:
                doc = tomllib.loads(f.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError, RecursionError) as exc:
                raise TrustError(f"bad key descriptor ({f.name}): {exc}") from exc
            keys.append(key_from_mapping(doc, base=d, origin=f.name))
        store = cls(keys)
        lst, sig = d / "trust-list.json", d / "trust-list.sig"
        if lst.exists() and sig.exists():
            store.apply_trust_list(lst.read_bytes(), sig.read_bytes())
        return store

    def apply_trust_list(self, document: bytes, signature: bytes) -> int:
        """Verify and install a registry trust list; returns its version. Old list kept on error."""
        signer_id, version, entries = parse_trust_list(document)
        signer = self.get(Purpose.TRUST_LIST, signer_id)
        if signer is not None and not signer.valid_at(datetime.now(UTC)):
            raise TrustError(
                f"trust list signer {signer_id} is outside its validity",
                code="trust_list_key_expired",
            )
        if signer is None or signer.state is KeyState.REVOKED:
            raise TrustError(
                f"trust list signed by unknown key {signer_id}", code="trust_list_key_unknown"
            )
        digest = hashes.digest(signer.public_key.default_hash, document)
        try:
            ok = verify_digest(signer.public_key, digest, signature)
        except CryptoError:
            ok = False
        if not ok:
            raise TrustError("trust list signature does not verify", code="trust_list_signature")
        if self.list_version is not None and version <= self.list_version:
            raise TrustError(
                f"trust list version {version} is not newer than {self.list_version}",
                code="trust_list_old",
            )
        keys: dict[tuple[Purpose, str], TrustedKey] = {}
        for entry in entries:
            k = key_from_mapping(entry, base=None, origin=f"trust-list v{version}")
            if k.purpose is Purpose.TRUST_LIST:
                raise TrustError(
                    "a trust list cannot introduce trust-list keys", code="trust_list_malformed"
                )
            keys[(k.purpose, k.key_id)] = k
        with self._lock:
            self._list_keys = keys
            self.list_version = version
        directory = self.persist_dir
        if directory is not None:
            self._persist(directory, document, signature)
        return version

    LIST_FILE = "trust-list.json"
    SIGNATURE_FILE = "trust-list.sig"

    def _persist(self, directory: Path, document: bytes, signature: bytes) -> None:
        """Both files replaced atomically (temp file, fsync, rename), owner-only."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in ((self.SIGNATURE_FILE, signature), (self.LIST_FILE, document)):
            tmp = directory / f".{name}.tmp"
            tmp.unlink(missing_ok=True)
            write_private(tmp, data)
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, directory / name)

    def restore_trust_list(self, directory: Path) -> int | None:
        """Re-apply the list kept in ``directory`` at start; its version then floors replays.

        A kept list that no longer verifies (its signer was revoked since) is left unapplied;
        the caller logs it. Returns the version, or None when nothing is kept.
        """
        doc, sig = directory / self.LIST_FILE, directory / self.SIGNATURE_FILE
        if not (doc.is_file() and sig.is_file()):
            self.persist_dir = directory
            return None
        self.persist_dir = None  # it is already on disk
        try:
            return self.apply_trust_list(doc.read_bytes(), sig.read_bytes())
        finally:
            self.persist_dir = directory

    # --- lookups -------------------------------------------------------------------------

    def _effective(self, purpose: Purpose, key_id: str) -> TrustedKey | None:
        """The list's entry over the directory's, except that revocation sticks: a key revoked
        by the operator, the list, or the snapshot's revoked-key list is revoked."""
        listed = self._list_keys.get((purpose, key_id))
        local = self._dir_keys.get((purpose, key_id))
        k = listed or local
        if k is None:
            return None
        revoked = (
            (local is not None and local.state is KeyState.REVOKED)
            or k.state is KeyState.REVOKED
            or self.externally_revoked(k.key_id)
        )
        return (
            replace(k, state=KeyState.REVOKED) if revoked and k.state is not KeyState.REVOKED else k
        )

    def get(self, purpose: Purpose, key_id: str) -> TrustedKey | None:
        with self._lock:
            return self._effective(purpose, key_id)

    def keys(self, purpose: Purpose | None = None) -> list[TrustedKey]:
        with self._lock:
            ids = sorted({*self._dir_keys, *self._list_keys})
            found = [self._effective(p, kid) for p, kid in ids if purpose is None or p is purpose]
        return [k for k in found if k is not None]

    def paper_keys(self, field_: bytes) -> list[TrustedKey]:
        """Keys a paper signature field can name: at each layout's key-number offset, the key
        with that number. Normally one; with several layouts in use, the checker tries each
        (a byte that happens to equal another layout's number must not hide the real key)."""
        return [
            k
            for k in self.keys(Purpose.PAPER_BARCODE)
            if k.paper_layout.key_number_offset < len(field_)
            and field_[k.paper_layout.key_number_offset] == k.paper_key_number
        ]

    def paper_key_number(self, field_: bytes) -> int | None:
        """The key number as the (first) configured layout reads it, for messages."""
        keys = self.keys(Purpose.PAPER_BARCODE)
        off = keys[0].paper_layout.key_number_offset if keys else FIELD_LENGTH - 1
        return field_[off] if off < len(field_) else None

    def roots(self, purpose: Purpose) -> list[TrustedKey]:
        return [k for k in self.keys(purpose) if k.certificate is not None]

    def snapshot_checker(
        self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> Callable[[str, bytes, bytes], bool]:
        """The snapshot store's ``check_signature``: :meth:`check_snapshot_signature` at the
        moment of each check (the one closure every importer uses, so none drifts)."""

        def check(key_id: str, digest: bytes, signature: bytes) -> bool:
            return self.check_snapshot_signature(key_id, digest, signature, clock())

        return check

    def check_snapshot_signature(
        self, key_id: str, digest: bytes, signature: bytes, when: datetime
    ) -> bool:
        """For the snapshot store: unknown, revoked or out-of-window keys raise TrustError."""
        k = self.get(Purpose.SNAPSHOT, key_id)
        if k is None:
            raise TrustError(
                f"snapshot signed by unknown key {key_id}; if this is your registry's key, "
                "trust it with: oms-verifier trust add --purpose snapshot --pubkey "
                "registry-snapshot.pub.pem (the registry publishes it beside its snapshots)",
                code="snapshot_key_unknown",
            )
        if k.state is KeyState.REVOKED:
            raise TrustError(f"snapshot key {key_id} is revoked", code="snapshot_key_revoked")
        if not k.valid_at(when):
            raise TrustError(f"snapshot key {key_id} is not valid now", code="snapshot_key_expired")
        try:
            return verify_digest(k.public_key, digest, signature)
        except CryptoError:
            return False
