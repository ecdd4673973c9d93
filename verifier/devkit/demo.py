"""Embedded defaults for a newcomer: a demo register, demo keys, and sample credentials.

``ensure_demo`` makes a state directory ready on first use: it generates a synthetic register
(signed with a demo registry key), writes a demo trust directory (snapshot key, paper-policy
key, card insurer root), and imports the snapshot. Samples are then issued from the register's
own ground truth, so each shows a real outcome: valid, suspended, annulled, not insured, forged…
"""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cache.register_model import PolicyStatus
from cache.snapshot_chain import chain_files
from verifier.config import Config, RegistryConfig, demo_state_dir
from verifier.credential import CredentialInput, ReadSymbology
from verifier.crypto.keys import Algorithm, PrivateKey
from verifier.crypto.signatures import sign
from verifier.crypto.x509 import Certificate, build_certificate, load_certificate
from verifier.devkit.demo_keys import derive_demo_key
from verifier.devkit.documents import demo_document_signer, pdf_extract, xml_policy
from verifier.devkit.persons import PersonRow
from verifier.errors import InputError
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

MARKER = "OMS-VERIFIER-DEMO"  # in the demo's own state directory: recognises demo-made state
_MARKER_TEXT = (
    "Made by `oms-verifier demo` / `serve --demo`. The keys here are derived from a public\n"
    "seed: anyone can sign with them. Never point a production [trust] dir or state here.\n"
)
_OLD_LAYOUT = frozenset({"registry", "registry-service"})  # what versions before the marker made
REGISTER_SOURCE = "generated"  # the synthetic register the demo generates, under its state


class DemoStateError(InputError):
    """The demo refuses a state that holds production data, or a demo directory it did not
    make: a demo run must never change what a production daemon trusts or answers from."""

    code = "demo_production_state"


@dataclass(frozen=True)
class DemoState:
    registry_dir: Path
    trust_dir: Path
    issuer: DemoIssuer
    cfg: Config  # the demo's own config: its state, trust dir, register db and match key


def demo_config(cfg: Config) -> Config:
    """The config the demo runs with: everything under ``<state_dir>/demo``.

    Never a configured ``[trust] dir``, the system trust directory, a configured register db,
    match key or registry: those are production's. HTTP, logging and driver settings are kept
    (``serve --demo`` still listens where it was told)."""
    if cfg.demo:
        return cfg
    base = demo_state_dir(cfg.state_dir)
    register = replace(
        cfg.register,
        region=DEMO_REGION,
        db_path=base / "register.sqlite3",
        match_key_file=base / REGISTER_SOURCE / "match.key",
    )
    raw = {
        k: v for k, v in cfg.raw.items() if k not in ("general", "trust", "register", "registry")
    }
    return replace(
        cfg,
        state_dir=base,
        trust_dir=base / "trust",
        register=register,
        registry=RegistryConfig(),
        raw=raw,
        demo=True,
    )


def demo_key_ids(seed: int = DEMO_SEED) -> frozenset[str]:
    """Key ids of every key the demo trusts (all derived from the public seed)."""
    from verifier.devkit.generator import demo_signing_key

    keys = (
        demo_signing_key(seed),
        derive_demo_key(Algorithm.GOST2001, "A", f"paper|{seed}"),
        derive_demo_key(Algorithm.GOST2001, "XA", f"card-root|{seed}"),
        derive_demo_key(Algorithm.GOST2001, "XA", f"card-insurer|{seed}"),
        derive_demo_key(Algorithm.GOST2012_256, "A", f"document-ca|{seed}"),
    )
    return frozenset(k.public_key().key_id() for k in keys)


def _foreign_trust(directory: Path, demo_ids: frozenset[str]) -> str | None:
    """Why ``directory`` holds trust that is not the demo's, or None (missing, empty, demo)."""
    from verifier.errors import OmsError
    from verifier.trust import TrustStore

    if not directory.is_dir():
        return None
    names = [p.name for p in directory.iterdir()]
    if not names:
        return None
    if (directory / "trust-list.json").exists():
        return f"trust directory {directory} holds a registry trust list"
    try:
        keys = TrustStore.from_directory(directory).keys()
    except (OmsError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:200]  # the refusal stays one line
        return f"trust directory {directory} holds keys the demo cannot read ({detail})"
    foreign = sorted(k.key_id for k in keys if k.public_key.key_id() not in demo_ids)
    if foreign:
        return f"trust directory {directory} holds non-demo keys ({', '.join(foreign[:3])})"
    return None


def _register_key_id(db: Path) -> str | None:
    """The snapshot key id a register db was signed with, read without writing anything."""
    import sqlite3
    from urllib.parse import quote

    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro&immutable=1", uri=True)
        try:
            row = con.execute("SELECT v FROM meta WHERE k = 'key_id'").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row and row[0] else None


def production_data(cfg: Config) -> str | None:
    """Why ``cfg``'s state or configuration holds production data, or None.

    Production data: a register db not signed by the demo key, or a trust directory (the
    configured ``[trust] dir``, the system one, or ``<state>/trust``) holding any key that is
    not the demo's. Versions before the demo got its own state wrote demo keys and a demo
    register there; those alone are recognised as the demo's."""
    if cfg.demo:
        return None
    demo_ids = demo_key_ids()
    db = cfg.register_db
    if db.exists():
        kid = _register_key_id(db)
        if kid is None or kid not in demo_ids:
            return f"register {db} was not made by the demo (snapshot key {kid or 'unknown'})"
    dirs = dict.fromkeys([cfg.effective_trust_dir, cfg.state_dir / "trust"])
    for d in dirs:
        reason = _foreign_trust(d, demo_ids)
        if reason:
            return reason
    return None


def refuse_production_state(cfg: Config) -> None:
    """``serve --demo`` would answer the clinic's screens and API port from the demo register:
    refuse (``demo_production_state``) when the state or config is a production one."""
    reason = production_data(cfg)
    if reason is not None:
        raise DemoStateError(
            f"demo refused: {reason}; run the demo with its own --state-dir (and no [trust] dir)"
        )


def _claim(base: Path) -> None:
    """Make ``base`` the demo's own state (marker file), or refuse a directory it did not make."""
    if base.is_symlink():
        raise DemoStateError(f"demo refused: {base} is a symlink", code="demo_state_foreign")
    if (base / MARKER).is_file():
        return
    if base.exists():
        entries = {p.name for p in base.iterdir()}
        old = base / "registry" / "manifest.json"
        if entries - _OLD_LAYOUT or (entries and not _old_demo_register(old)):
            raise DemoStateError(
                f"demo refused: {base} exists and was not made by the demo (no {MARKER} file)",
                code="demo_state_foreign",
            )
        for name in entries:  # an older demo's register (its match.key sat where the
            shutil.rmtree(base / name)  # daemon looked for a default match key)
    base.mkdir(parents=True, exist_ok=True)
    (base / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")


def _old_demo_register(manifest: Path) -> bool:
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("key_id") in demo_key_ids()


def is_demo_state(path: Path) -> bool:
    """``path`` is (inside) a state directory the demo made."""
    return any((p / MARKER).is_file() for p in (path, *path.parents))


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
    signer = demo_document_signer(DEMO_SEED)
    (trust_dir / "document-ca-demo.pem").write_bytes(signer.ca.to_pem())
    (trust_dir / "document-ca-demo.toml").write_text(
        'purpose = "document_signer"\ncertificate = "document-ca-demo.pem"\nstate = "active"\n'
    )


def ensure_demo(
    cfg: Config, *, persons: int = DEMO_PERSONS, created_at: datetime | None = None
) -> DemoState:
    """Idempotent; regenerates the demo register when its snapshot has expired.

    Writes only under ``<state_dir>/demo`` (see :func:`demo_config`); use the returned
    ``DemoState.cfg`` to assemble a pipeline or a service over the demo. ``created_at`` stamps
    the register at a fixed moment (its people's dates with it) for recorded verdicts; the
    register is then regenerated unless it already carries that stamp."""
    from verifier.devkit.generator import generate
    from verifier.service.assembly import assemble, import_snapshot

    dcfg = demo_config(cfg)
    base = dcfg.state_dir
    _claim(base)
    reg = base / REGISTER_SOURCE
    trust_dir = dcfg.effective_trust_dir
    trust_dir.mkdir(parents=True, exist_ok=True)
    issuer = demo_issuer(certs_dir=trust_dir)
    manifest = reg / "manifest.json"
    fresh = False
    if manifest.exists():
        created = datetime.fromisoformat(json.loads(manifest.read_text())["created_at"])
        if created_at is None:
            fresh = datetime.now(UTC) - created < timedelta(hours=48)
        else:
            fresh = created == created_at.astimezone(UTC).replace(microsecond=0)
    if not fresh:
        generate(
            reg,
            persons=persons,
            region=DEMO_REGION,
            seed=DEMO_SEED,
            deltas=2,
            created_at=created_at,
        )
        for suffix in ("", "-wal", "-shm"):  # the demo's own register db, never production's
            Path(f"{dcfg.register_db}{suffix}").unlink(missing_ok=True)
    write_demo_trust(trust_dir, issuer, (reg / "registry-snapshot.pub.pem").read_bytes())
    parts = assemble(dcfg)
    try:
        for path in chain_files(reg, parts.store.info().sequence):
            import_snapshot(dcfg, parts.store, parts.trust, str(path))
    finally:
        parts.close()
    _load_directories(dcfg, reg)
    # "This clinic" is where the demo's first signed paper policy holder is attached, so the
    # desk shows both "прикреплён к нашей поликлинике" and another clinic's name.
    here = _first(_people(reg), status="active", policy_type="paper")["clinic"] or None
    dcfg = replace(dcfg, clinic=replace(dcfg.clinic, mo_code=here))
    return DemoState(reg, trust_dir, issuer, dcfg)


def _load_directories(dcfg: Config, reg: Path) -> None:
    """The generator's F002/F003 into the demo's own directory store (names, not codes)."""
    from verifier.directories import Directories, store_path

    files = [reg / "F002.xml", reg / "F003.xml"]
    if not all(f.exists() for f in files):
        return
    directories = Directories(store_path(dcfg.state_dir))
    try:
        directories.import_files(files)
    finally:
        directories.close()


def _people(reg: Path) -> list[dict[str, str]]:
    with (reg / "persons.csv").open(encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if not row["deleted"]]


def _first(rows: list[dict[str, str]], **want: str) -> dict[str, str]:
    return next(
        r for r in rows if all(r[k] == v for k, v in want.items()) and not r["revoked_carrier"]
    )


def _paper(issuer: DemoIssuer, row: dict[str, str]) -> bytes:
    return issuer.paper_policy(**PersonRow.from_row(row).paper_fields())


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
    documented = next(
        r
        for r in rows
        if r["status"] == "active"
        and r["patronymic"]
        and not r["revoked_carrier"]
        and not r["end"]
        and r["enp"] != digital["enp"]
    )
    lost = next(
        r
        for r in rows
        if r["status"] == "active" and r["revoked_carrier"] == "paper" and not r["end"]
    )
    known = {r["enp"] for r in rows}
    stranger = next(
        make_enp(DEMO_REGION, date(1990, 1, 1), Sex.FEMALE, s)
        for s in range(99999, 0, -1)
        if make_enp(DEMO_REGION, date(1990, 1, 1), Sex.FEMALE, s) not in known
    )
    good = _paper(issuer, active)
    forged = bytearray(good)
    forged[9] ^= 0x01  # one bit of the name changed after signing
    holder = PersonRow.from_row(carded).card_holder()
    typo = active["enp"][:-1] + str((int(active["enp"][-1]) + 1) % 10)
    return [
        (
            "paper policy, signed, active",
            "valid",
            CredentialInput(good, "demo", ReadSymbology.PDF417),
        ),
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
            CredentialInput(
                issuer.card(holder, smo_ogrn=carded["smo_ogrn"]), "demo", ReadSymbology.CARD
            ),
        ),
        (
            "temporary certificate",
            "valid",
            CredentialInput.from_text(temp["temp_cert_number"], source="demo", manual=True),
        ),
        (
            "paper policy, forged name",
            "invalid",
            CredentialInput(bytes(forged), "demo", ReadSymbology.PDF417),
        ),
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
            # Offline a miss is "not in the local copy", never "not insured": a policy issued
            # after the snapshot is not in it. The registry's own "not found" says not_insured.
            "not in the snapshot",
            "unknown",
            CredentialInput.from_text(stranger, source="demo", manual=True),
        ),
        (
            "paper blank reported lost",
            "invalid",
            CredentialInput(_paper(issuer, lost), "demo", ReadSymbology.PDF417),
        ),
        (
            "register extract (PDF)",
            "valid",
            CredentialInput(pdf_extract(digital["enp"]), "demo", ReadSymbology.DOCUMENT),
        ),
        (
            "signed XML policy",
            "valid",
            CredentialInput(
                xml_policy(documented, demo_document_signer(DEMO_SEED)),
                "demo",
                ReadSymbology.DOCUMENT,
            ),
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
        elif item.symbology == "document":  # a PDF extract or a signed XML policy, as a file
            name = slug + (".pdf" if item.payload.startswith(b"%PDF") else ".xml")
            (out / name).write_bytes(item.payload)
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
