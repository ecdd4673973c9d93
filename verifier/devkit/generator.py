"""A synthetic register of insured persons, and its signed full and delta snapshots.

Deterministic for a seed (people, numbers, statuses, the demo signing key); only the signature
bytes differ between runs (GOST signatures use a random nonce). ``persons.csv`` is the ground
truth tests check answers against: the final state after all deltas, with names and birth dates
in clear — it never leaves the test or demo machine. It, the registry's private key and
``match.key`` are written owner-only (0600) whatever the umask: a seeded key is public, but the
same code writes the key when a caller passes its own ``signing_key``.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from lxml import etree

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
from verifier.crypto import hashes
from verifier.crypto.keys import Algorithm, PrivateKey
from verifier.crypto.signatures import sign_digest
from verifier.devkit.demo_keys import derive_demo_key
from verifier.identifiers import Sex, make_enp
from verifier.private_files import private_opener, write_private, write_private_text

_MALE_SURNAMES = [
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
    "Ильин",
    "Максимов",
    "Поляков",
    "Сорокин",
    "Виноградов",
    "Ковалёв",
    "Белов",
    "Медведев",
    "Антонов",
    "Тарасов",
    "Жуков",
    "Баранов",
    "Филиппов",
    "Комаров",
    "Давыдов",
    "Беляев",
    "Герасимов",
    "Богданов",
    "Осипов",
    "Сидоров",
    "Матвеев",
    "Титов",
    "Марков",
    "Миронов",
    "Крылов",
    "Куликов",
    "Карпов",
    "Власов",
    "Мельников",
    "Денисов",
    "Гаврилов",
    "Тихонов",
    "Казаков",
    "Афанасьев",
    "Данилов",
    "Савельев",
    "Тимофеев",
    "Фомин",
    "Чернов",
    "Абрамов",
]
_INVARIANT_SURNAMES = (
    "Шевченко",
    "Коваленко",
    "Бондаренко",
    "Ткаченко",
    "Кравец",
    "Черных",
    "Седых",
)
_MALE_NAMES = [
    "Александр",
    "Сергей",
    "Дмитрий",
    "Андрей",
    "Алексей",
    "Максим",
    "Иван",
    "Михаил",
    "Евгений",
    "Артём",
    "Николай",
    "Владимир",
    "Денис",
    "Никита",
    "Павел",
    "Роман",
    "Игорь",
    "Олег",
    "Кирилл",
    "Юрий",
    "Виктор",
    "Антон",
    "Илья",
    "Константин",
    "Егор",
    "Тимофей",
]
_FEMALE_NAMES = [
    "Анна",
    "Мария",
    "Елена",
    "Ольга",
    "Наталья",
    "Татьяна",
    "Екатерина",
    "Ирина",
    "Светлана",
    "Юлия",
    "Анастасия",
    "Дарья",
    "Марина",
    "Людмила",
    "Галина",
    "Валентина",
    "Ксения",
    "Полина",
    "Виктория",
    "Алина",
    "Софья",
    "Вера",
    "Надежда",
    "Любовь",
    "Евгения",
]
_PATRONYMIC_ROOTS = [
    "Александров",
    "Сергеев",
    "Дмитриев",
    "Андреев",
    "Алексеев",
    "Максимов",
    "Иванов",
    "Михайлов",
    "Евгеньев",
    "Николаев",
    "Владимиров",
    "Денисов",
    "Павлов",
    "Романов",
    "Игорев",
    "Олегов",
    "Кириллов",
    "Юрьев",
    "Викторов",
    "Антонов",
    "Петров",
]

_POLICY_TYPES = (
    (PolicyType.PAPER, 45),
    (PolicyType.DIGITAL, 25),
    (PolicyType.CARD, 8),
    (PolicyType.OLD, 12),
    (PolicyType.TEMPORARY, 4),
    (PolicyType.UEC, 1),
)
_STATUSES = (
    (PolicyStatus.ACTIVE, 930),
    (PolicyStatus.SUSPENDED, 12),
    (PolicyStatus.ANNULLED, 20),
    (PolicyStatus.EXPIRED, 28),
    (PolicyStatus.NEEDS_CLARIFICATION, 10),
)
_OKATO_BY_REGION = {"50": "46000", "77": "45000", "78": "40000", "16": "92000", "66": "65000"}


def _ogrn(rng: random.Random) -> str:
    """A 13-digit ОГРН with a correct check digit (12 digits mod 11, mod 10)."""
    body = "1" + "".join(rng.choice("0123456789") for _ in range(11))
    return body + str(int(body) % 11 % 10)


@dataclass(frozen=True)
class Person:
    record: RegisterRecord
    surname: str
    given_name: str
    patronymic: str
    sex: Sex
    birth_date: date
    aliases: tuple[Alias, ...]
    revoked: DocumentRevocation | None


@dataclass(frozen=True)
class GeneratedRegister:
    out_dir: Path
    region: str
    files: list[Path]
    key_id: str
    public_key_pem: Path
    match_key: bytes
    persons: int
    directories: tuple[Path, ...] = ()  # F002.xml, F003.xml naming its insurers and clinics


def demo_signing_key(seed: int | str) -> PrivateKey:
    """The registry's demo snapshot key (GOST 2012-256): the same for the same seed."""
    return derive_demo_key(Algorithm.GOST2012_256, "A", f"snapshot|{seed}")


def demo_match_key(seed: int | str) -> bytes:
    return hashes.digest(hashes.STREEBOG256, f"oms-verifier demo match key|{seed}".encode())


class _People:
    def __init__(self, rng: random.Random, region: str, match_key: bytes, today: date) -> None:
        self.rng = rng
        self.region = region
        self.key = match_key
        self.today = today
        self.insurers = [_ogrn(rng) for _ in range(6)]
        self.clinics = [int(f"{int(region):02d}{rng.randrange(1, 9999):04d}") for _ in range(40)]
        self.okato = _OKATO_BY_REGION.get(region, f"{int(region):02d}000")
        self.used_serials: dict[str, int] = {}
        self.temp_numbers: set[str] = set()

    def _name(self, sex: Sex) -> tuple[str, str, str]:
        rng = self.rng
        if rng.random() < 0.08:
            surname = rng.choice(_INVARIANT_SURNAMES)
        else:
            surname = rng.choice(_MALE_SURNAMES)
            if sex is Sex.FEMALE:
                surname += "а"
        root = rng.choice(_PATRONYMIC_ROOTS)
        if sex is Sex.MALE:
            return surname, rng.choice(_MALE_NAMES), root + "ич"
        return surname, rng.choice(_FEMALE_NAMES), root + "на"

    def _enp(self, born: date, sex: Sex) -> str:
        facet_key = f"{born.isoformat()}{sex.value}"
        serial = self.used_serials.get(facet_key, self.rng.randrange(0, 500))
        self.used_serials[facet_key] = serial + 1 + self.rng.randrange(0, 3)
        return make_enp(self.region, born, sex, serial % 100000)

    def person(self, *, born: date | None = None) -> Person:
        rng = self.rng
        sex = Sex.MALE if rng.random() < 0.47 else Sex.FEMALE
        if born is None:
            born = self.today - timedelta(days=rng.randrange(0, 95 * 365))
        surname, given, patronymic = self._name(sex)
        enp = self._enp(born, sex)
        ptype = rng.choices([t for t, _ in _POLICY_TYPES], [w for _, w in _POLICY_TYPES])[0]
        status = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]
        start = max(born, date(2011, 5, 1)) + timedelta(days=rng.randrange(0, 3000))
        start = min(start, self.today - timedelta(days=1))
        end = None
        aliases: list[Alias] = []
        if ptype is PolicyType.TEMPORARY:
            start = self.today - timedelta(days=rng.randrange(0, 60))
            end = start + timedelta(days=45)
            number = f"{rng.randrange(10**8, 10**9)}"
            while number in self.temp_numbers:
                number = f"{rng.randrange(10**8, 10**9)}"
            self.temp_numbers.add(number)
            aliases.append(Alias(enp, AliasKind.TEMP_CERT, number))
            if end < self.today and status is PolicyStatus.ACTIVE:
                status = PolicyStatus.EXPIRED
        if ptype is PolicyType.OLD:
            start = born + timedelta(days=rng.randrange(0, 365 * 10))
            start = min(max(start, date(1993, 1, 1)), date(2010, 12, 31))
            series = f"{int(self.region):02d}{rng.choice('АБВГДЕКМНОПРСТУХ')}"
            aliases.append(
                Alias(enp, AliasKind.OLD_NUMBER, f"{series}{rng.randrange(10**6, 10**7)}")
            )
        if status is PolicyStatus.EXPIRED and end is None:
            end = self.today - timedelta(days=rng.randrange(1, 900))
        since = (
            start
            if status is PolicyStatus.ACTIVE
            else self.today - timedelta(days=rng.randrange(1, 400))
        )
        record = RegisterRecord(
            enp=enp,
            policy_type=ptype,
            status=status,
            status_since=max(since, start),
            smo_ogrn=rng.choice(self.insurers),
            okato=self.okato,
            start=start,
            end=end,
            clinic=f"{rng.choice(self.clinics):06d}",
            name_hash=name_hash.name_hash(self.key, surname, given, patronymic, born),
        )
        revoked = None
        if ptype in (PolicyType.PAPER, PolicyType.CARD) and rng.random() < 0.01:
            carrier = Carrier.PAPER if ptype is PolicyType.PAPER else Carrier.CARD
            revoked = DocumentRevocation(
                enp,
                carrier,
                self.today - timedelta(days=rng.randrange(1, 700)),
                rng.choice(list(RevocationReason)),
            )
        return Person(record, surname, given, patronymic, sex, born, tuple(aliases), revoked)


def generate(
    out_dir: str | Path,
    *,
    persons: int,
    region: str,
    seed: int,
    deltas: int = 2,
    delta_fraction: float = 0.005,
    created_at: datetime | None = None,
    valid_hours: float = 72.0,
    signing_key: PrivateKey | None = None,
) -> GeneratedRegister:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    # The last part is stamped ``created_at`` (default: now); earlier parts an hour apart before it.
    latest = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    created = latest - timedelta(hours=deltas)
    today = latest.date()
    key = signing_key or demo_signing_key(seed)
    match_key = demo_match_key(seed)
    people = _People(rng, region, match_key, today)
    by_enp: dict[str, Person] = {}
    while len(by_enp) < persons:
        p = people.person()
        by_enp.setdefault(p.record.enp, p)
    changed_in: dict[str, int] = dict.fromkeys(by_enp, 1)
    deleted: dict[str, int] = {}
    files = [out / "full-000001.omssnap"]
    _write(
        files[0],
        SnapshotKind.FULL,
        region,
        1,
        None,
        created,
        valid_hours,
        key,
        match_key,
        list(by_enp.values()),
        [],
        [],
    )
    for i in range(deltas):
        seq = i + 2
        stamp = created + timedelta(hours=i + 1)
        n_change = max(1, int(len(by_enp) * delta_fraction))
        live = sorted(by_enp)
        upserts: list[Person] = []
        for enp in rng.sample(live, min(n_change, len(live))):
            p = by_enp[enp]
            status = rng.choice([s for s in PolicyStatus if s is not p.record.status])
            upd = replace(p, record=replace(p.record, status=status, status_since=stamp.date()))
            by_enp[enp] = upd
            upserts.append(upd)
            changed_in[enp] = seq
        for _ in range(max(1, n_change // 4)):  # newborns: digital policy, active
            baby = people.person(born=stamp.date() - timedelta(days=rng.randrange(0, 30)))
            if baby.record.enp in by_enp:
                continue
            baby = replace(
                baby,
                record=replace(
                    baby.record,
                    policy_type=PolicyType.DIGITAL,
                    status=PolicyStatus.ACTIVE,
                    end=None,
                ),
                aliases=(),
            )
            by_enp[baby.record.enp] = baby
            upserts.append(baby)
            changed_in[baby.record.enp] = seq
        gone = [
            e
            for e in rng.sample(sorted(by_enp), min(max(1, n_change // 8), len(by_enp)))
            if changed_in.get(e) != seq
        ]
        for enp in gone:
            deleted[enp] = seq
            del by_enp[enp]
        path = out / f"delta-{seq:06d}.omssnap"
        _write(
            path,
            SnapshotKind.DELTA,
            region,
            seq,
            seq - 1,
            stamp,
            valid_hours,
            key,
            match_key,
            upserts,
            gone,
            [],
        )
        files.append(path)
    pub = out / "registry-snapshot.pub.pem"
    pub.write_bytes(key.public_key().to_pem())
    write_private(out / "registry-snapshot.key.pem", key.to_pem())
    write_private_text(out / "match.key", match_key.hex() + "\n")
    _write_csv(out / "persons.csv", by_enp, changed_in, deleted, people)
    manifest = {
        "region": region,
        "seed": seed,
        "persons": persons,
        "files": [f.name for f in files],
        "key_id": key.public_key().key_id(),
        "name_hash": {"alg": name_hash.ALG, "key_id": name_hash.key_id(match_key)},
        "created_at": latest.isoformat(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    dirs = write_directories(out, people, seed=seed, today=today)
    return GeneratedRegister(
        out, region, files, key.public_key().key_id(), pub, match_key, len(by_enp), dirs
    )


def _write(
    path: Path,
    kind: SnapshotKind,
    region: str,
    seq: int,
    base: int | None,
    created: datetime,
    valid_hours: float,
    key: PrivateKey,
    match_key: bytes,
    people: list[Person],
    deletions: list[str],
    revoked_keys: list[str],
) -> None:
    people = sorted(people, key=lambda p: int(p.record.enp))
    records = [pack_record(p.record) for p in people]
    aliases = [pack_alias(a) for p in people for a in p.aliases]
    revoked = [pack_revoked_doc(p.revoked) for p in people if p.revoked is not None]
    dels = [int(e).to_bytes(8, "big") for e in sorted(deletions, key=int)]
    rkeys = [k.encode("ascii") for k in revoked_keys]
    valid_until = created + timedelta(hours=valid_hours)
    header = SnapshotHeader(
        kind=kind,
        region=region,
        sequence=seq,
        base_sequence=base,
        created_at=created,
        register_valid_until=valid_until,
        revocations_valid_until=valid_until,
        counts=section_counts(
            records=len(records),
            aliases=len(aliases),
            deletions=len(dels),
            revoked_docs=len(revoked),
            revoked_keys=len(rkeys),
        ),
        key_id=key.public_key().key_id(),
        name_key_id=name_hash.key_id(match_key),
    )
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        w = SnapshotWriter(f, header)
        w.fixed_section(Section.RECORDS, records)
        w.var_section(Section.ALIASES, aliases)
        w.fixed_section(Section.DELETIONS, dels)
        w.fixed_section(Section.REVOKED_DOCS, revoked)
        w.var_section(Section.REVOKED_KEYS, rkeys)
        w.finish(lambda d: sign_digest(key, d))
    tmp.replace(path)


CSV_FIELDS = (
    "enp",
    "policy_type",
    "old_number",
    "temp_cert_number",
    "status",
    "status_since",
    "smo_ogrn",
    "okato",
    "start",
    "end",
    "clinic",
    "surname",
    "given_name",
    "patronymic",
    "sex",
    "birth_date",
    "revoked_carrier",
    "sequence",
    "deleted",
)


def _write_csv(
    path: Path,
    by_enp: dict[str, Person],
    changed_in: dict[str, int],
    deleted: dict[str, int],
    people: _People,
) -> None:
    with open(path, "w", newline="", encoding="utf-8", opener=private_opener) as f:
        w = csv.writer(f)
        w.writerow(CSV_FIELDS)
        for enp in sorted(by_enp, key=int):
            p = by_enp[enp]
            r = p.record
            alias = {a.kind: a.number for a in p.aliases}
            w.writerow(
                [
                    enp,
                    r.policy_type.name.lower(),
                    alias.get(AliasKind.OLD_NUMBER, ""),
                    alias.get(AliasKind.TEMP_CERT, ""),
                    r.status.name.lower(),
                    r.status_since.isoformat() if r.status_since else "",
                    r.smo_ogrn,
                    r.okato,
                    r.start.isoformat() if r.start else "",
                    r.end.isoformat() if r.end else "",
                    r.clinic or "",
                    p.surname,
                    p.given_name,
                    p.patronymic,
                    p.sex.value,
                    p.birth_date.isoformat(),
                    p.revoked.carrier.name.lower() if p.revoked else "",
                    changed_in.get(enp, 1),
                    "",
                ]
            )
        for enp, seq in sorted(deleted.items()):
            w.writerow([enp] + [""] * (len(CSV_FIELDS) - 3) + [seq, "yes"])


# --- reference directories (F002, F003) naming the generated codes -------------------------

# The insurer the demo's own paper policies and cards name (devkit.demo.DEMO_SMO_OGRN): a head
# office in Moscow and a branch in every generated region, so a lookup outside its regions shows
# the fallback to the ОГРН alone.
_DEMO_INSURER = (
    "1027739008440",
    'АО "СОГАЗ-Мед"',
    'Акционерное общество "Страховая компания "СОГАЗ-Мед"',
)
_INSURER_NAMES = (
    (
        'ООО "Капитал МС"',
        'Общество с ограниченной ответственностью "Капитал Медицинское Страхование"',
    ),
    ('АО "МАКС-М"', 'Акционерное общество "Медицинская акционерная страховая компания"'),
    (
        'ООО "СК "Ингосстрах-М"',
        'Общество с ограниченной ответственностью "Страховая компания "Ингосстрах-М"',
    ),
    ('АО "СК "Астрамед-МС"', 'Акционерное общество "Страховая компания "Астрамед-МС"'),
    (
        'ООО "РЕСО-Мед"',
        'Общество с ограниченной ответственностью "Страховая медицинская компания РЕСО-Мед"',
    ),
    ('АО "ВТБ МС"', 'Акционерное общество "ВТБ Медицинское страхование"'),
    (
        'ООО "АльфаСтрахование-ОМС"',
        'Общество с ограниченной ответственностью "АльфаСтрахование-ОМС"',
    ),
)
# Region: (short form in clinic names, genitive for full names, "in the region", towns).
_REGION_NAMES = {
    "50": (
        "МО",
        "Московской области",
        "в Московской области",
        (
            "Подольская",
            "Химкинская",
            "Мытищинская",
            "Балашихинская",
            "Коломенская",
            "Люберецкая",
            "Королёвская",
            "Одинцовская",
        ),
    ),
    "77": ("г. Москвы", "города Москвы", "в городе Москве", ("Московская",)),
    "78": ("СПб", "Санкт-Петербурга", "в Санкт-Петербурге", ("Санкт-Петербургская",)),
    "16": (
        "РТ",
        "Республики Татарстан",
        "в Республике Татарстан",
        ("Казанская", "Набережночелнинская", "Альметьевская"),
    ),
    "66": (
        "СО",
        "Свердловской области",
        "в Свердловской области",
        ("Екатеринбургская", "Нижнетагильская", "Каменская"),
    ),
}
_CLINIC_KINDS = (
    "городская поликлиника № {n}",
    "детская городская поликлиника № {n}",
    "городская больница № {n}",
    "стоматологическая поликлиника № {n}",
    "центральная районная больница",
)


def _xml_bytes(root: etree._Element) -> bytes:
    raw = etree.tostring(root, encoding="windows-1251", xml_declaration=True, pretty_print=True)
    assert isinstance(raw, bytes)  # noqa: S101 - an encoding given: always bytes
    return raw


def _xml_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def _ins_company(
    packet: etree._Element,
    rng: random.Random,
    *,
    okato: str,
    ogrn: str,
    smocod: str,
    short: str,
    full: str,
    head: bool,
    today: date,
) -> None:
    c = _sub(packet, "insCompany")
    _sub(c, "tf_okato", okato)
    _sub(c, "smocod", smocod)
    _sub(c, "nam_smop", full)
    _sub(c, "nam_smok", short)
    _sub(c, "inn", f"77{rng.randrange(10**7, 10**8)}")
    _sub(c, "Ogrn", ogrn)
    _sub(c, "KPP", f"{okato[:2]}{rng.randrange(10**6, 10**7)}")
    addr = _sub(c, "jurAddress")
    _sub(addr, "index_j", f"{rng.randrange(100000, 199999)}")
    _sub(addr, "addr_j", f"г. Москва, ул. Синтетическая, д. {rng.randrange(1, 99)}")
    _sub(c, "okopf", "12267")
    _sub(c, "org", "1" if head else "2")
    inc = _sub(c, "insInclude")
    _sub(inc, "d_begin", "01.01.2011")
    _sub(inc, "d_end", "")
    _sub(inc, "name_e", "")
    _sub(inc, "Nal_p", "1")
    _sub(c, "d_edit", _xml_date(today))


def write_directories(out: Path, people: _People, *, seed: int, today: date) -> tuple[Path, ...]:
    """``F002.xml`` and ``F003.xml`` (windows-1251, the published layout: docs/directories.md)
    naming every insurer ОГРН and clinic code the register uses, plus the demo cards' insurer,
    so ``directory import`` of them makes the demo show names. Drawn from a generator of their
    own: the register itself is the same with or without them."""
    rng = random.Random(f"directories|{seed}")
    region = people.region
    abbr, genitive, located, towns = _REGION_NAMES.get(
        region, ("", f"региона {region}", f"в регионе {region}", ("Городская",))
    )
    packet = etree.Element("packet", version="2.1", date=_xml_date(today))
    demo_ogrn, demo_short, demo_full = _DEMO_INSURER
    _ins_company(
        packet,
        rng,
        okato="45000",
        ogrn=demo_ogrn,
        smocod="77013",
        short=demo_short,
        full=demo_full,
        head=True,
        today=today,
    )
    if people.okato != "45000":
        _ins_company(
            packet,
            rng,
            okato=people.okato,
            ogrn=demo_ogrn,
            smocod=f"{int(region):02d}046",
            short=demo_short,
            full=f'Филиал акционерного общества "Страховая компания "СОГАЗ-Мед" {located}',
            head=False,
            today=today,
        )
    for i, ogrn in enumerate(dict.fromkeys(people.insurers)):
        if ogrn == demo_ogrn:
            continue
        short, full = _INSURER_NAMES[i % len(_INSURER_NAMES)]
        _ins_company(
            packet,
            rng,
            okato=people.okato,
            ogrn=ogrn,
            smocod=f"{int(region):02d}{i + 1:03d}",
            short=short,
            full=full,
            head=True,
            today=today,
        )
    f002 = out / "F002.xml"
    f002.write_bytes(_xml_bytes(packet))

    packet = etree.Element("packet", version="1.0", date=_xml_date(today))
    for i, code in enumerate(dict.fromkeys(f"{c:06d}" for c in people.clinics)):
        town = towns[i % len(towns)]
        kind = _CLINIC_KINDS[i % len(_CLINIC_KINDS)].format(n=i // len(_CLINIC_KINDS) + 1)
        what = f"{town} {kind}"
        what = what[0].upper() + what[1:]
        m = _sub(packet, "medCompany")
        _sub(m, "tf_okato", people.okato)
        _sub(m, "mcod", code)
        _sub(
            m,
            "nam_mop",
            f'Государственное бюджетное учреждение здравоохранения {genitive} "{what}"',
        )
        _sub(m, "nam_mok", " ".join(x for x in ("ГБУЗ", abbr, f'"{what}"') if x))
        _sub(m, "inn", f"{int(region):02d}{rng.randrange(10**7, 10**8)}")
        _sub(m, "Ogrn", _ogrn(rng))
        _sub(m, "KPP", f"{int(region):02d}{rng.randrange(10**6, 10**7)}")
        addr = _sub(m, "jurAddress")
        _sub(addr, "index_j", f"{rng.randrange(100000, 199999)}")
        _sub(addr, "addr_j", f"ул. Синтетическая, д. {i + 1}")
        _sub(m, "okopf", "75203")
        _sub(m, "vedpri", "2")
        _sub(m, "org", "1")
        inc = _sub(m, "medInclude")
        _sub(inc, "d_begin", "01.01.2011")
        _sub(inc, "d_end", "")
        _sub(inc, "name_e", "")
        _sub(m, "d_edit", _xml_date(today))
    f003 = out / "F003.xml"
    f003.write_bytes(_xml_bytes(packet))
    return (f002, f003)
