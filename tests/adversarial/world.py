"""The adversarial suite's world: real keys, a generated register, its ground truth, credentials.

Everything the oracle needs is recorded here as it is made, never read back from the product:
who is in the register and how (``Truth``, from the generator's ``persons.csv``), and which
signatures were really made by which key (``Mint``). Snapshots are written by the real
:class:`SnapshotWriter` and signed with the registry's real GOST key; credentials are signed
with real GOST keys (paper: GOST 2001 over GOST 94, card: an insurer certificate under a root).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from cache import name_hash
from cache.register_model import (
    Alias,
    AliasKind,
    Carrier,
    DocumentRevocation,
    PolicyStatus,
    PolicyType,
    RegisterRecord,
    RevocationReason,
)
from cache.snapshot_format import (
    Section,
    SnapshotHeader,
    SnapshotKind,
    SnapshotWriter,
    pack_alias,
    pack_record,
    pack_revoked_doc,
    section_counts,
)
from drivers.smartcard.goznak import read_card
from tests.trust_helpers import write_key
from verifier.crypto import Algorithm, Certificate, PrivateKey, build_certificate, sign
from verifier.crypto.keys import generate_private_key
from verifier.crypto.signatures import sign_digest
from verifier.devkit.card_emulator import CardImage, GoznakCardEmulator
from verifier.devkit.generator import generate
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex

REGION = "50"
SEED = 20261201
PERSONS = 1500
PAPER_KEY_NUMBER = 1
ROGUE_KEY_NUMBER = 7
EPOCH = datetime(2011, 1, 1, tzinfo=UTC)
OLD_WORLD_START = date(2011, 5, 1)


# --- ground truth ----------------------------------------------------------------------------


def norm(text: str | None) -> str:
    """The oracle's own name comparison: upper case, Ё as Е, single spaces."""
    return " ".join((text or "").upper().replace("Ё", "Е").split())


@dataclass(frozen=True)
class Person:
    enp: str
    policy_type: str
    status: str
    start: date | None
    end: date | None
    surname: str
    given_name: str
    patronymic: str
    sex: Sex
    birth_date: date
    smo_ogrn: str
    okato: str
    temp_cert: str
    old_number: str
    revoked_carrier: str  # "", "paper", "card"
    row: dict[str, str]

    def active_on(self, today: date) -> bool:
        """What the register says, read from the generator's ground truth (not the store)."""
        if self.status != "active":
            return False
        if self.start is not None and self.start > today:
            return False
        return self.end is None or self.end >= today

    def name_matches(self, surname: str | None, given: str | None, patronymic: str | None) -> bool:
        return (norm(surname), norm(given), norm(patronymic)) == (
            norm(self.surname),
            norm(self.given_name),
            norm(self.patronymic),
        )


def _d(v: str) -> date | None:
    return date.fromisoformat(v) if v else None


@dataclass
class Truth:
    persons: list[Person]
    deleted: set[str]
    by_enp: dict[str, Person] = field(default_factory=dict)
    by_temp: dict[str, Person] = field(default_factory=dict)
    by_old: dict[str, Person] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for p in self.persons:
            self.by_enp[p.enp] = p
            if p.temp_cert:
                self.by_temp[p.temp_cert] = p
            if p.old_number:
                self.by_old[p.old_number] = p

    @classmethod
    def from_csv(cls, path: Path) -> Truth:
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        persons = [
            Person(
                enp=r["enp"],
                policy_type=r["policy_type"],
                status=r["status"],
                start=_d(r["start"]),
                end=_d(r["end"]),
                surname=r["surname"],
                given_name=r["given_name"],
                patronymic=r["patronymic"],
                sex=Sex(r["sex"]),
                birth_date=date.fromisoformat(r["birth_date"]),
                smo_ogrn=r["smo_ogrn"],
                okato=r["okato"],
                temp_cert=r["temp_cert_number"],
                old_number=r["old_number"],
                revoked_carrier=r["revoked_carrier"],
                row=r,
            )
            for r in rows
            if not r["deleted"]
        ]
        return cls(persons, {r["enp"] for r in rows if r["deleted"]})

    def where(self, **want: str) -> list[Person]:
        return [p for p in self.persons if all(getattr(p, k) == v for k, v in want.items())]


# --- keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    registry: PrivateKey  # signs snapshots and online answers (GOST 2012-256)
    trust_list: PrivateKey
    paper: PrivateKey  # the trusted paper-policy key, number 1
    rogue_paper: PrivateKey  # a key nobody trusts
    card_root_key: PrivateKey
    card_root: Certificate
    insurer_key: PrivateKey
    insurer_cert: Certificate
    rogue_root_key: PrivateKey
    rogue_root: Certificate
    rogue_insurer_key: PrivateKey
    rogue_insurer_cert: Certificate
    # the genuine insurer's key, certified by the rogue root (a cert the forger made himself)
    insurer_under_rogue: Certificate


def _ca(subject: str, key: PrivateKey) -> Certificate:
    return build_certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer_key=key,
        not_before=EPOCH,
        not_after=EPOCH + timedelta(days=365 * 30),
        ca=True,
    )


def _leaf(subject: str, key: PrivateKey, ca_key: PrivateKey, ca: Certificate) -> Certificate:
    return build_certificate(
        subject=subject,
        public_key=key.public_key(),
        issuer_key=ca_key,
        issuer=ca,
        not_before=EPOCH,
        not_after=EPOCH + timedelta(days=365 * 30),
    )


def make_keys() -> Keys:
    """Fresh random keys: nothing here is derived from a public seed."""
    g01 = Algorithm.GOST2001
    root_key = generate_private_key(g01, "XA")
    insurer_key = generate_private_key(g01, "XA")
    rogue_root_key = generate_private_key(g01, "XA")
    rogue_insurer_key = generate_private_key(g01, "XA")
    root = _ca("Адверсариальный корневой УЦ полисов ОМС", root_key)
    rogue_root = _ca("Поддельный корневой УЦ", rogue_root_key)
    return Keys(
        registry=generate_private_key(Algorithm.GOST2012_256, "A"),
        trust_list=generate_private_key(Algorithm.GOST2012_256, "A"),
        paper=generate_private_key(g01, "A"),
        rogue_paper=generate_private_key(g01, "A"),
        card_root_key=root_key,
        card_root=root,
        insurer_key=insurer_key,
        insurer_cert=_leaf("СМО адверсариального теста", insurer_key, root_key, root),
        rogue_root_key=rogue_root_key,
        rogue_root=rogue_root,
        rogue_insurer_key=rogue_insurer_key,
        rogue_insurer_cert=_leaf("Поддельная СМО", rogue_insurer_key, rogue_root_key, rogue_root),
        insurer_under_rogue=_leaf("СМО под чужим корнем", insurer_key, rogue_root_key, rogue_root),
    )


# --- the mint: every signature really made, and by whom ----------------------------------------

# signer labels: "paper" (trusted paper key), "rogue_paper", "insurer" (trusted chain),
# "rogue_insurer" (rogue chain), "insurer_under_rogue" (genuine key, rogue chain)
TRUSTED_PAPER = "paper"
TRUSTED_CARD = "insurer"


@dataclass
class Mint:
    paper: dict[tuple[bytes, bytes], str] = field(default_factory=dict)
    card: dict[tuple[bytes, bytes, bytes | None], str] = field(default_factory=dict)

    def paper_signer(self, data: bytes, sig_field: bytes) -> str | None:
        return self.paper.get((data, sig_field))

    def card_signer(self, data: bytes, sig: bytes, cert: bytes | None) -> str | None:
        return self.card.get((data, sig, cert))


@dataclass(frozen=True)
class PaperMint:
    person: Person
    barcode_type: paper_barcode.BarcodeType
    data: bytes
    sig_field: bytes
    signer: str

    @property
    def payload(self) -> bytes:
        return self.data + self.sig_field


@dataclass(frozen=True)
class CardMint:
    person: Person
    holder: bytes  # encoded 62 template
    signed_part: bytes
    signature: bytes
    certificate: bytes
    signer: str
    start: date

    @property
    def insurer(self) -> bytes:
        return goznak_card.encode_insurer(self.signed_part, self.signature, self.certificate)

    @property
    def dump(self) -> bytes:
        return self.holder + self.insurer


def paper_data(
    p: Person,
    btype: paper_barcode.BarcodeType,
    *,
    surname: str | None = None,
    given_name: str | None = None,
    patronymic: str | None = None,
    birth_date: date | None = None,
    enp: str | None = None,
    sex: Sex | None = None,
) -> bytes:
    return paper_barcode.encode_data(
        barcode_type=btype,
        enp=enp or p.enp,
        surname=surname if surname is not None else p.surname,
        given_name=given_name if given_name is not None else p.given_name,
        patronymic=patronymic if patronymic is not None else p.patronymic,
        sex=sex or p.sex,
        birth_date=birth_date or p.birth_date,
        expiry=None,
        smo_ogrn=p.smo_ogrn,
        okato=p.okato,
    )


class Issuer:
    """Signs credentials with the world's keys and records every signature in the mint."""

    def __init__(self, keys: Keys, mint: Mint) -> None:
        self.keys = keys
        self.mint = mint

    def sign_paper(self, data: bytes, signer: str = TRUSTED_PAPER) -> bytes:
        key, number = {
            "paper": (self.keys.paper, PAPER_KEY_NUMBER),
            "rogue_paper": (self.keys.rogue_paper, PAPER_KEY_NUMBER),
            "rogue_paper_numbered": (self.keys.rogue_paper, ROGUE_KEY_NUMBER),
        }[signer]
        field_ = sign(key, data, hash_name="gost94") + bytes([number])
        self.mint.paper[(data, field_)] = signer
        return field_

    def paper(
        self, p: Person, btype: paper_barcode.BarcodeType, signer: str = TRUSTED_PAPER
    ) -> PaperMint:
        data = paper_data(p, btype)
        return PaperMint(p, btype, data, self.sign_paper(data, signer), signer)

    def holder(self, p: Person, **change: object) -> bytes:
        h = goznak_card.CardHolder(
            surname=p.surname,
            given_name=p.given_name,
            patronymic=p.patronymic,
            birth_date=p.birth_date,
            sex=p.sex,
            policy_number=p.enp,
            snils=None,
            expiry=None,
            birthplace="г. Москва",
            issued=date(2016, 3, 1),
        )
        for k, v in change.items():
            h = _replace(h, k, v)
        return goznak_card.encode_holder(h)

    def sign_card(self, signed_part: bytes, signer: str = TRUSTED_CARD) -> tuple[bytes, bytes]:
        k = self.keys
        key, cert = {
            "insurer": (k.insurer_key, k.insurer_cert),
            "rogue_insurer": (k.rogue_insurer_key, k.rogue_insurer_cert),
            "insurer_under_rogue": (k.insurer_key, k.insurer_under_rogue),
        }[signer]
        sig = sign(key, signed_part)
        self.mint.card[(signed_part, sig, cert.der)] = signer
        return sig, cert.der

    def card(self, p: Person, signer: str = TRUSTED_CARD, start: date | None = None) -> CardMint:
        start = start or date(2016, 3, 1)
        signed = goznak_card.encode_insurer_signed_part(p.smo_ogrn, p.okato, start, None)
        sig, cert = self.sign_card(signed, signer)
        mint = CardMint(p, self.holder(p), signed, sig, cert, signer, start)
        return mint


def _replace(h: goznak_card.CardHolder, name: str, value: object) -> goznak_card.CardHolder:
    changes: dict[str, Any] = {name: value}
    return dataclasses.replace(h, **changes)


def read_through_emulator(dump: bytes) -> bytes:
    """What the PC/SC driver hands over for this card: the real read sequence on the emulator."""
    emu = GoznakCardEmulator(CardImage.from_dump(dump))
    return read_card(emu.atr, emu.transmit).dump


# --- snapshots -------------------------------------------------------------------------------


def records_of(truth: Truth, match_key: bytes, *, old_world: bool = False) -> list[RegisterRecord]:
    """The truth as register records; ``old_world``: everyone active since 2011 (a 2019 view)."""
    out = []
    for p in truth.persons:
        r = p.row
        out.append(
            RegisterRecord(
                enp=p.enp,
                policy_type=PolicyType[p.policy_type.upper()],
                status=PolicyStatus.ACTIVE if old_world else PolicyStatus[p.status.upper()],
                status_since=OLD_WORLD_START if old_world else _d(r["status_since"]),
                smo_ogrn=p.smo_ogrn,
                okato=p.okato,
                start=OLD_WORLD_START if old_world else p.start,
                end=None if old_world else p.end,
                clinic=r["clinic"] or None,
                name_hash=name_hash.name_hash(
                    match_key, p.surname, p.given_name, p.patronymic, p.birth_date
                ),
            )
        )
    return sorted(out, key=lambda rec: int(rec.enp))


def aliases_of(truth: Truth) -> list[Alias]:
    out = []
    for p in truth.persons:
        if p.temp_cert:
            out.append(Alias(p.enp, AliasKind.TEMP_CERT, p.temp_cert))
        if p.old_number:
            out.append(Alias(p.enp, AliasKind.OLD_NUMBER, p.old_number))
    return out


def revocations_of(truth: Truth, today: date) -> list[DocumentRevocation]:
    carriers = {"paper": Carrier.PAPER, "card": Carrier.CARD}
    return [
        DocumentRevocation(
            p.enp, carriers[p.revoked_carrier], today - timedelta(days=30), RevocationReason.LOST
        )
        for p in truth.persons
        if p.revoked_carrier
    ]


def write_snapshot(
    path: Path,
    key: PrivateKey,
    match_key: bytes,
    records: list[RegisterRecord],
    aliases: list[Alias],
    revoked: list[DocumentRevocation],
    *,
    created: datetime,
    register_valid_until: datetime,
    revocations_valid_until: datetime,
    revoked_keys: list[str] | None = None,
    sequence: int = 1,
) -> Path:
    recs = [pack_record(r) for r in records]
    alia = [pack_alias(a) for a in aliases]
    revp = [pack_revoked_doc(d) for d in revoked]
    revk = [k.encode("ascii") for k in revoked_keys or []]
    header = SnapshotHeader(
        kind=SnapshotKind.FULL,
        region=REGION,
        sequence=sequence,
        base_sequence=None,
        created_at=created,
        register_valid_until=register_valid_until,
        revocations_valid_until=revocations_valid_until,
        counts=section_counts(
            records=len(recs), aliases=len(alia), revoked_docs=len(revp), revoked_keys=len(revk)
        ),
        key_id=key.public_key().key_id(),
        name_key_id=name_hash.key_id(match_key),
    )
    out = io.BytesIO()
    w = SnapshotWriter(out, header)
    w.fixed_section(Section.RECORDS, recs)
    w.var_section(Section.ALIASES, alia)
    w.fixed_section(Section.DELETIONS, [])
    w.fixed_section(Section.REVOKED_DOCS, revp)
    w.var_section(Section.REVOKED_KEYS, revk)
    w.finish(lambda d: sign_digest(key, d))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue())
    return path


def registry_data_dir(
    d: Path, key: PrivateKey, match_key: bytes, truth: Truth, *, old_world: bool
) -> Path:
    """A data directory the reference registry service can serve (generator layout)."""
    d.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    write_snapshot(
        d / "full-000001.omssnap",
        key,
        match_key,
        records_of(truth, match_key, old_world=old_world),
        aliases_of(truth),
        [] if old_world else revocations_of(truth, now.date()),
        created=now,
        register_valid_until=now + timedelta(hours=72),
        revocations_valid_until=now + timedelta(hours=72),
    )
    (d / "registry-snapshot.key.pem").write_bytes(key.to_pem())
    os.chmod(d / "registry-snapshot.key.pem", 0o600)
    (d / "registry-snapshot.pub.pem").write_bytes(key.public_key().to_pem())
    return d


# --- trust directories -----------------------------------------------------------------------


def trust_dir(
    d: Path,
    keys: Keys,
    *,
    paper: bool = True,
    card: bool = True,
    revoked_list: bool = False,
) -> Path:
    """A trust directory as ``trust add`` writes it; ``revoked_list``: a signed trust list that
    revokes the card root and the paper key (the registry's word beats the directory's)."""
    write_key(d, "snapshot", "snapshot", keys.registry.public_key().to_pem(), state="active")
    if paper:
        write_key(
            d,
            "paper",
            "paper_barcode",
            keys.paper.public_key().to_pem(),
            key_number=PAPER_KEY_NUMBER,
            state="active",
        )
    if card:
        write_key(d, "card-root", "card_insurer_root", keys.card_root.to_pem(), field="certificate")
    if revoked_list:
        write_key(d, "trust-list-signer", "trust_list", keys.trust_list.public_key().to_pem())
        doc = {
            "signer": keys.trust_list.public_key().key_id(),
            "version": 1,
            "keys": [
                {
                    "purpose": "card_insurer_root",
                    "certificate_pem": keys.card_root.to_pem().decode(),
                    "state": "revoked",
                },
                {
                    "purpose": "paper_barcode",
                    "public_key_pem": keys.paper.public_key().to_pem().decode(),
                    "key_number": PAPER_KEY_NUMBER,
                    "state": "revoked",
                },
            ],
        }
        body = json.dumps(doc, ensure_ascii=False).encode()
        (d / "trust-list.json").write_bytes(body)
        (d / "trust-list.sig").write_bytes(sign(keys.trust_list, body))
    return d


# --- the generated register ------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    out: Path
    files: list[Path]
    truth: Truth
    match_key: bytes


def generate_register(out: Path, key: PrivateKey) -> Register:
    gen = generate(out, persons=PERSONS, region=REGION, seed=SEED, deltas=2, signing_key=key)
    os.chmod(out / "registry-snapshot.key.pem", 0o600)
    truth = Truth.from_csv(out / "persons.csv")
    return Register(out, list(gen.files), truth, gen.match_key)
