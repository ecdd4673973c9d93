"""Embedded defaults for a newcomer: a demo register, demo keys, and sample credentials.

``ensure_demo`` makes a state directory ready on first use: it generates a synthetic register
(signed with a demo registry key), writes a demo trust directory (snapshot key, paper-policy
key, card insurer root), and imports the snapshot. Samples are then issued from the register's
own ground truth, so each shows a real outcome: valid, suspended, annulled, not insured, forged…
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cache.register_model import PolicyStatus
from verifier.config import Config
from verifier.credential import CredentialInput
from verifier.crypto.keys import Algorithm, PrivateKey
from verifier.crypto.signatures import sign
from verifier.crypto.x509 import Certificate, build_certificate, load_certificate
from verifier.demo_keys import derive_demo_key
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex, make_enp

DEMO_SEED = 2026
DEMO_REGION = "50"
DEMO_SMO_OGRN = "1027739008440"
DEMO_OKATO = "46000"
DEMO_PERSONS = 20_000
PAPER_KEY_NUMBER = 1
_EPOCH = datetime(2011, 1, 1, tzinfo=UTC)


# --- stateless samples (used by unit tests and fixtures) ------------------------------------


def demo_person_enp(serial: int = 123) -> str:
    return make_enp(DEMO_REGION, date(1985, 3, 15), Sex.MALE, serial)


def paper_policy_bytes(
    *,
    barcode_type: paper_barcode.BarcodeType = paper_barcode.BarcodeType.TYPE1,
    signature_field: bytes = bytes(paper_barcode.SIGNATURE_LENGTH),
    expiry: date | None = None,
) -> bytes:
    data = paper_barcode.encode_data(
        barcode_type=barcode_type,
        enp=demo_person_enp(),
        surname="Иванов",
        given_name="Иван",
        patronymic="Иванович",
        sex=Sex.MALE,
        birth_date=date(1985, 3, 15),
        expiry=expiry,
        smo_ogrn=DEMO_SMO_OGRN,
        okato=DEMO_OKATO,
    )
    return paper_barcode.assemble(data, signature_field)


def card_dump_bytes() -> bytes:
    enp = make_enp(DEMO_REGION, date(2010, 11, 7), Sex.FEMALE, 42)
    holder = goznak_card.CardHolder(
        surname="Петрова",
        given_name="Анна",
        patronymic="Сергеевна",
        birth_date=date(2010, 11, 7),
        sex=Sex.FEMALE,
        policy_number=enp,
        snils="11223344595",
        expiry=None,
        birthplace="г. Москва",
        issued=date(2015, 2, 1),
    )
    signed = goznak_card.encode_insurer_signed_part(
        DEMO_SMO_OGRN, DEMO_OKATO, date(2015, 2, 1), None
    )
    return goznak_card.encode_holder(holder) + goznak_card.encode_insurer(signed, None, None)


# --- the demo issuer -------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoIssuer:
    """Signs demo paper policies and cards the way the (assumed) real issuers do."""

    paper_key: PrivateKey
    card_root_key: PrivateKey
    card_root: Certificate
    insurer_key: PrivateKey
    insurer_cert: Certificate

    def paper_policy(
        self,
        *,
        enp: str,
        surname: str,
        given_name: str,
        patronymic: str,
        sex: Sex,
        birth_date: date,
        expiry: date | None = None,
        smo_ogrn: str = DEMO_SMO_OGRN,
        okato: str = DEMO_OKATO,
        barcode_type: paper_barcode.BarcodeType = paper_barcode.BarcodeType.TYPE1,
    ) -> bytes:
        """A 130-byte barcode payload signed with the demo paper key (default layout)."""
        data = paper_barcode.encode_data(
            barcode_type=barcode_type,
            enp=enp,
            surname=surname,
            given_name=given_name,
            patronymic=patronymic,
            sex=sex,
            birth_date=birth_date,
            expiry=expiry,
            smo_ogrn=smo_ogrn,
            okato=okato,
        )
        sig = sign(self.paper_key, data, hash_name="gost94")
        return paper_barcode.assemble(data, sig + bytes([PAPER_KEY_NUMBER]))

    def card(
        self,
        holder: goznak_card.CardHolder,
        *,
        smo_ogrn: str = DEMO_SMO_OGRN,
        okato: str = DEMO_OKATO,
        start: date = date(2015, 2, 1),
    ) -> bytes:
        signed = goznak_card.encode_insurer_signed_part(smo_ogrn, okato, start, None)
        sig = sign(self.insurer_key, signed)
        return goznak_card.encode_holder(holder) + goznak_card.encode_insurer(
            signed, sig, self.insurer_cert.der
        )


def demo_issuer(seed: int = DEMO_SEED, *, certs_dir: Path | None = None) -> DemoIssuer:
    """Keys are derived from the seed; certificates are made once and kept in ``certs_dir``."""
    paper = derive_demo_key(Algorithm.GOST2001, "A", f"paper|{seed}")
    root_key = derive_demo_key(Algorithm.GOST2001, "XA", f"card-root|{seed}")
    insurer_key = derive_demo_key(Algorithm.GOST2001, "XA", f"card-insurer|{seed}")
    root_pem = certs_dir / "card-root-demo.pem" if certs_dir else None
    leaf_pem = certs_dir / "card-insurer-demo.pem" if certs_dir else None
    if root_pem and leaf_pem and root_pem.exists() and leaf_pem.exists():
        root, leaf = (
            load_certificate(root_pem.read_bytes()),
            load_certificate(leaf_pem.read_bytes()),
        )
    else:
        root = build_certificate(
            subject="Демо: корневой УЦ полисов ОМС",
            public_key=root_key.public_key(),
            issuer_key=root_key,
            not_before=_EPOCH,
            not_after=_EPOCH + timedelta(days=365 * 30),
            ca=True,
        )
        leaf = build_certificate(
            subject="Демо: страховая медицинская организация",
            public_key=insurer_key.public_key(),
            issuer_key=root_key,
            issuer=root,
            not_before=_EPOCH,
            not_after=_EPOCH + timedelta(days=365 * 30),
        )
        if root_pem and leaf_pem:
            root_pem.write_bytes(root.to_pem())
            leaf_pem.write_bytes(leaf.to_pem())
    return DemoIssuer(paper, root_key, root, insurer_key, leaf)


# --- embedded defaults -----------------------------------------------------------------------


@dataclass(frozen=True)
class DemoState:
    registry_dir: Path
    trust_dir: Path
    issuer: DemoIssuer


def write_demo_trust(trust_dir: Path, issuer: DemoIssuer, snapshot_public_pem: bytes) -> None:
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / "snapshot-demo.pub.pem").write_bytes(snapshot_public_pem)
    (trust_dir / "snapshot-demo.toml").write_text(
        'purpose = "snapshot"\npublic_key = "snapshot-demo.pub.pem"\nstate = "active"\n'
    )
    (trust_dir / "paper-demo.pub.pem").write_bytes(issuer.paper_key.public_key().to_pem())
    (trust_dir / "paper-demo.toml").write_text(
        'purpose = "paper_barcode"\npublic_key = "paper-demo.pub.pem"\n'
        f'key_number = {PAPER_KEY_NUMBER}\nstate = "active"\n'
        "# The signature-field layout is an assumption (REFERENCE §3); these are the defaults.\n"
        "[paper_layout]\nkey_number_offset = 64\nsignature_offset = 0\n"
        'signature_length = 64\norder = "s||r"\nhash_name = "gost94"\n'
    )
    (trust_dir / "card-root-demo.pem").write_bytes(issuer.card_root.to_pem())
    (trust_dir / "card-root-demo.toml").write_text(
        'purpose = "card_insurer_root"\ncertificate = "card-root-demo.pem"\nstate = "active"\n'
    )


def ensure_demo(cfg: Config, *, persons: int = DEMO_PERSONS) -> DemoState:
    """Idempotent; regenerates the demo register when its snapshot has expired."""
    from verifier.registry.generator import generate
    from verifier.service.assembly import assemble, import_snapshot

    base = cfg.state_dir / "demo"
    reg = base / "registry"
    trust_dir = cfg.effective_trust_dir
    base.mkdir(parents=True, exist_ok=True)
    trust_dir.mkdir(parents=True, exist_ok=True)
    issuer = demo_issuer(certs_dir=trust_dir)
    manifest = reg / "manifest.json"
    fresh = False
    if manifest.exists():
        created = datetime.fromisoformat(json.loads(manifest.read_text())["created_at"])
        fresh = datetime.now(UTC) - created < timedelta(hours=48)
    if not fresh:
        generate(reg, persons=persons, region=DEMO_REGION, seed=DEMO_SEED, deltas=2)
        if cfg.register_db.exists():
            for suffix in ("", "-wal", "-shm"):
                Path(str(cfg.register_db) + suffix).unlink(missing_ok=True)
    write_demo_trust(trust_dir, issuer, (reg / "registry-snapshot.pub.pem").read_bytes())
    parts = assemble(cfg)
    info = parts.store.info()
    files = json.loads(manifest.read_text())["files"]
    for name in files:
        seq = int(name.split("-")[1].split(".")[0])
        if info.sequence is None or seq > info.sequence:
            import_snapshot(cfg, parts.store, parts.trust, str(reg / name))
    parts.store.close()
    return DemoState(reg, trust_dir, issuer)


def _people(reg: Path) -> list[dict[str, str]]:
    with (reg / "persons.csv").open(encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if not row["deleted"]]


def _first(rows: list[dict[str, str]], **want: str) -> dict[str, str]:
    return next(
        r for r in rows if all(r[k] == v for k, v in want.items()) and not r["revoked_carrier"]
    )


def _paper(issuer: DemoIssuer, row: dict[str, str]) -> bytes:
    return issuer.paper_policy(
        enp=row["enp"],
        surname=row["surname"],
        given_name=row["given_name"],
        patronymic=row["patronymic"],
        sex=Sex(row["sex"]),
        birth_date=date.fromisoformat(row["birth_date"]),
        smo_ogrn=row["smo_ogrn"],
        okato=row["okato"],
    )


def demo_samples(state: DemoState) -> list[tuple[str, str, CredentialInput]]:
    """(label, expected outcome, input) for every outcome the demo register can show."""
    rows = _people(state.registry_dir)
    issuer = state.issuer
    active = _first(rows, status="active", policy_type="paper")
    suspended = _first(rows, status=PolicyStatus.SUSPENDED.name.lower())
    annulled = _first(rows, status=PolicyStatus.ANNULLED.name.lower())
    expired = _first(rows, status=PolicyStatus.EXPIRED.name.lower())
    digital = _first(rows, status="active", policy_type="digital")
    carded = _first(rows, status="active", policy_type="card")
    temp = _first(rows, status="active", policy_type="temporary")
    known = {r["enp"] for r in rows}
    stranger = next(
        make_enp(DEMO_REGION, date(1990, 1, 1), Sex.FEMALE, s)
        for s in range(99999, 0, -1)
        if make_enp(DEMO_REGION, date(1990, 1, 1), Sex.FEMALE, s) not in known
    )
    good = _paper(issuer, active)
    forged = bytearray(good)
    forged[9] ^= 0x01  # one bit of the name changed after signing
    holder = goznak_card.CardHolder(
        surname=carded["surname"],
        given_name=carded["given_name"],
        patronymic=carded["patronymic"],
        birth_date=date.fromisoformat(carded["birth_date"]),
        sex=Sex(carded["sex"]),
        policy_number=carded["enp"],
        snils=None,
        expiry=None,
        birthplace=None,
        issued=None,
    )
    typo = active["enp"][:-1] + str((int(active["enp"][-1]) + 1) % 10)
    return [
        ("paper policy, signed, active", "valid", CredentialInput(good, "demo", "pdf417")),
        (
            "digital policy QR",
            "valid",
            CredentialInput.from_text(
                f"https://www.gosuslugi.ru/oms?enp={digital['enp']}", source="demo", symbology="qr"
            ),
        ),
        (
            "electronic policy card",
            "valid",
            CredentialInput(issuer.card(holder, smo_ogrn=carded["smo_ogrn"]), "demo", "card"),
        ),
        (
            "temporary certificate",
            "valid",
            CredentialInput.from_text(temp["temp_cert_number"], source="demo", manual=True),
        ),
        ("paper policy, forged name", "invalid", CredentialInput(bytes(forged), "demo", "pdf417")),
        ("ENP with a typo", "invalid", CredentialInput.from_text(typo, source="demo", manual=True)),
        (
            "suspended policy",
            "suspended",
            CredentialInput.from_text(suspended["enp"], source="demo", manual=True),
        ),
        (
            "annulled policy",
            "annulled",
            CredentialInput.from_text(annulled["enp"], source="demo", manual=True),
        ),
        (
            "expired policy",
            "expired",
            CredentialInput.from_text(expired["enp"], source="demo", manual=True),
        ),
        (
            "not in the register",
            "not_insured",
            CredentialInput.from_text(stranger, source="demo", manual=True),
        ),
        (
            "another region's ENP",
            "unknown",
            CredentialInput.from_text(
                make_enp("77", date(1970, 5, 5), Sex.MALE, 1), source="demo", manual=True
            ),
        ),
    ]


def write_credentials(state: DemoState, out: Path) -> list[str]:
    """Sample barcode images (PDF417 / QR), card dumps and typed numbers for every outcome,
    with a manifest of the expected outcome of each — for a newcomer's first scans."""
    import cv2
    import numpy as np
    import zxingcpp

    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    written = []
    for i, (label, expected, item) in enumerate(demo_samples(state), start=1):
        slug = f"{i:02d}-{expected}-" + "".join(ch if ch.isalnum() else "-" for ch in label)[:40]
        if item.symbology == "card":
            name = slug + ".card.bin"
            (out / name).write_bytes(item.payload)
        elif item.manual:
            name = slug + ".txt"
            (out / name).write_text(item.payload.decode() + "\n")
        else:
            fmt = (
                zxingcpp.BarcodeFormat.PDF417
                if item.symbology == "pdf417"
                else zxingcpp.BarcodeFormat.QRCode
            )
            img = np.array(zxingcpp.create_barcode(item.payload, fmt).to_image(scale=4))
            name = slug + ".png"
            cv2.imwrite(str(out / name), img)
        manifest.append({"file": name, "label": label, "expected": expected})
        written.append(name)
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    return written
