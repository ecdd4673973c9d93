"""Build the verification pipeline from configuration: trust store, snapshot store, registry.

Kept apart from the CLI and the daemon so both assemble exactly the same pipeline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cachetools import LRUCache

from cache.freshness import FreshnessPolicy, PartFreshness, assess, clock_skewed
from cache.national_store import MANIFEST, NationalStore
from cache.online_cache import OnlineCache
from cache.snapshot_store import ImportResult, SnapshotStore, StoreInfo
from verifier.checks.document_signature import load_crls
from verifier.checks.holder import HolderMatcher, MatchKey
from verifier.checks.online import FallbackStatusChecker, OnlineStatusChecker
from verifier.checks.register import SnapshotRevocationChecker, SnapshotStatusChecker
from verifier.checks.signature import TrustSignatureChecker
from verifier.config import Config, ConfigError
from verifier.crypto import hashes
from verifier.crypto.signatures import verify_digest
from verifier.directories import Directories, store_path
from verifier.errors import CryptoError, OmsError
from verifier.pipeline import Pipeline
from verifier.registry.blocking import LoopThread
from verifier.registry.client import ClientConfig, HttpRegistryClient
from verifier.registry.protocol import PersonAnswer
from verifier.trust import KeyState, Purpose, TrustStore

NAME_CACHE_SIZE = 4096  # insurer branches and clinics of a region: a few hundred
# How long a directory change check stands (see DirectoryNames): names only, never outcomes.
NAME_RECHECK_S = 1.0


def freshness_policy(cfg: Config) -> FreshnessPolicy:
    r = cfg.register
    return FreshnessPolicy(
        stale_grace=timedelta(hours=r.stale_grace_hours),
        hard_offline_limit=timedelta(hours=r.hard_offline_limit_hours),
        max_clock_skew=timedelta(seconds=r.max_clock_skew_s),
    )


# The regional SQLite store, or the national store of memory-mapped region parts
# (docs/national.md): chosen by what the state directory holds.
RegisterStore = SnapshotStore | NationalStore


def national_dir(cfg: Config) -> Path:
    return cfg.register_db.parent / "national"


def has_national(cfg: Config) -> bool:
    """The state holds a national store, or ``[register] national = true`` asks for one (an
    empty store answers every ENP ``absent`` until the first sync or import fills it)."""
    return cfg.register.national or (national_dir(cfg) / MANIFEST).is_file()


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """How current the local register is: one assembly for ``snapshot status``, /v1/status
    and /metrics, so the three never disagree."""

    info: StoreInfo
    register: PartFreshness
    revocations: PartFreshness
    clock_skewed: bool


def store_status(cfg: Config, store: RegisterStore, now: datetime | None = None) -> StoreStatus:
    info = store.info()
    policy = freshness_policy(cfg)
    at = now or datetime.now(UTC)
    return StoreStatus(
        info=info,
        register=assess(info.created_at, info.register_valid_until, at, policy),
        revocations=assess(info.created_at, info.revocations_valid_until, at, policy),
        clock_skewed=clock_skewed(info.clock_skew_s, policy),
    )


def load_trust(cfg: Config, store: RegisterStore | None = None) -> TrustStore:
    """The configured trust store; empty (every signature 'not checked') when none is set up."""
    d = cfg.effective_trust_dir
    trust = TrustStore.from_directory(d) if d.is_dir() else TrustStore()
    # A kept list that no longer verifies: the directory's keys stand alone.
    with contextlib.suppress(OmsError):
        trust.restore_trust_list(cfg.state_dir / "trust-list")
    if store is not None:
        trust.externally_revoked = store.key_revoked
    return trust


def open_store(cfg: Config) -> RegisterStore:
    if has_national(cfg):
        return NationalStore(national_dir(cfg), prefault_maps=True)
    return SnapshotStore(cfg.register_db)


def answer_verifier(trust: TrustStore) -> object:
    """Registry answers (found and not found) are signed with the registry's ``snapshot`` key
    (protocol.py); the client checks their binding to the question and the time after this."""
    from verifier.registry.protocol import NotFoundAnswer

    def verify(answer: PersonAnswer | NotFoundAnswer) -> bool:
        key = trust.get(Purpose.SNAPSHOT, answer.key_id)
        # An answer is always new: only an active key inside its window may sign one (a
        # retired key "signs nothing new"; snapshots already refuse out-of-window keys).
        if key is None or key.state is not KeyState.ACTIVE or not key.valid_at(answer.answered_at):
            return False
        digest = hashes.digest(hashes.STREEBOG256, answer.signed_bytes())
        try:
            return verify_digest(key.public_key, digest, answer.signature)
        except CryptoError:
            return False

    return verify


def make_client(cfg: Config, trust: TrustStore) -> HttpRegistryClient | None:
    r = cfg.registry
    if not r.url:
        return None
    cert = (str(r.client_cert), str(r.client_key)) if r.client_cert and r.client_key else None
    return HttpRegistryClient(
        ClientConfig(
            base_url=r.url,
            token=r.token,
            budget_s=r.budget_s,
            verify_tls=str(r.ca_bundle) if r.ca_bundle else True,
            client_cert=cert,
            # One skew for snapshots and online answers: an answer dated outside now ± this
            # is refused (answer_clock_skew).
            max_clock_skew_s=cfg.register.max_clock_skew_s,
        ),
        verify_answer=answer_verifier(trust),
    )


@dataclass
class Assembly:
    pipeline: Pipeline
    store: RegisterStore
    trust: TrustStore
    client: HttpRegistryClient | None = None
    loop: LoopThread | None = None
    cache: OnlineCache[PersonAnswer] | None = None
    directories: Directories | None = None

    def close(self) -> None:
        if self.loop is not None and self.client is not None:
            client = self.client
            try:
                self.loop.call(client.aclose, 5.0)
            finally:
                self.loop.close()
        self.store.close()
        if self.directories is not None:
            self.directories.close()


class DirectoryNames:
    """The loaded ФОМС directories as the pipeline's name book (empty until imported).

    Names are cached, keyed on the directories' :meth:`~Directories.data_version` as well as
    the code. This daemon's own import is seen on the next verdict; an import by
    ``directory import`` in another process within ``recheck_s`` (1 s): the change check
    (one ``PRAGMA``) runs at most once a second, not once per verdict. Names only label the
    insurer and the clinic — no outcome depends on them — so a second's lag after an import
    elsewhere costs nothing, and the check was a twentieth of a verdict's time. Bounded
    (LRU), shared by the pool's threads under a lock. An entry made under one version holds
    what the store said after that version was read, so never an older name than its key
    says."""

    def __init__(
        self,
        directories: Directories,
        maxsize: int = NAME_CACHE_SIZE,
        *,
        recheck_s: float = NAME_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directories = directories
        self.recheck_s = recheck_s
        self._clock = clock
        self._cache: LRUCache[tuple[object, ...], str | None] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()
        self._held: tuple[DirectoryNamesAt, float] | None = None  # the view, when checked

    def current(self) -> DirectoryNamesAt:
        """The names as the directories hold them now: this connection's imports at once,
        another process's within ``recheck_s`` (one change check a second at most)."""
        now = self._clock()
        held = self._held
        if (
            held is not None
            and now - held[1] < self.recheck_s
            and held[0].version[1] == self.directories.generation
        ):
            return held[0]
        view = DirectoryNamesAt(self, self.directories.data_version())
        self._held = (view, now)
        return view

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        return self.current().insurer_name(ogrn, okato)

    def clinic_name(self, code: str) -> str | None:
        return self.current().clinic_name(code)

    def _cached(self, key: tuple[object, ...], ask: Callable[[], str | None]) -> str | None:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        name = ask()  # outside the lock: a query must not hold up the other threads' hits
        with self._lock:
            self._cache[key] = name
        return name


class DirectoryNamesAt:
    """:class:`DirectoryNames` at one version of the directories: a name book for one
    verdict."""

    __slots__ = ("book", "version")

    def __init__(self, book: DirectoryNames, version: tuple[int, int]) -> None:
        self.book, self.version = book, version

    def insurer_name(self, ogrn: str, okato: str | None) -> str | None:
        def ask() -> str | None:
            found = self.book.directories.insurer(ogrn, okato)
            return found.name if found else None

        return self.book._cached((self.version, "insurer", ogrn, okato), ask)

    def clinic_name(self, code: str) -> str | None:
        def ask() -> str | None:
            found = self.book.directories.clinic(code)
            return found.name if found else None

        return self.book._cached((self.version, "clinic", code), ask)


def load_match_key(cfg: Config) -> MatchKey | None:
    """The register's name-hash key from ``[register] match_key_file``; None when not set.

    An unreadable or malformed key file is a configuration error, not a silent "no key":
    without the key every holder check says "not checked".
    """
    path = cfg.register.match_key_file
    if path is None:
        return None
    try:
        key = bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: name-hash key unreadable: {exc}", code="bad_match_key") from exc
    if len(key) < 16:
        raise ConfigError(f"{path}: name-hash key is too short", code="bad_match_key")
    return MatchKey.of(key)


def assemble(cfg: Config) -> Assembly:
    store = open_store(cfg)
    directories = Directories(store_path(cfg.state_dir))
    trust = load_trust(cfg, store)
    policy = freshness_policy(cfg)
    snapshot = SnapshotStatusChecker(store, policy)
    client = make_client(cfg, trust)
    loop = cache = online = None
    if client is not None:
        loop = LoopThread()
        cache = OnlineCache[PersonAnswer](
            maxsize=cfg.registry.cache_size,
            ttl=cfg.registry.cache_ttl_s,
            negative_ttl=cfg.registry.cache_negative_ttl_s,
        )
        online = OnlineStatusChecker(client, loop.call, cache, cfg.registry.budget_s)
    pipeline = Pipeline(
        signature=TrustSignatureChecker(trust, load_crls(cfg.effective_trust_dir)),
        revocation=SnapshotRevocationChecker(store, policy),
        status=FallbackStatusChecker(snapshot, online),
        holder=HolderMatcher(load_match_key(cfg), lambda: store.info().name_key_id),
        names=DirectoryNames(directories),
        this_clinic=cfg.clinic.mo_code,
    )
    return Assembly(pipeline, store, trust, client, loop, cache, directories)


def import_snapshot(
    cfg: Config, store: RegisterStore, trust: TrustStore, path: str
) -> ImportResult:
    check = trust.snapshot_checker()
    if isinstance(store, NationalStore):
        return store.import_file(path, check)
    return store.import_file(path, check, region=cfg.register.region)
