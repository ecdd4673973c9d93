"""Seeded generators of hostile reads, one per credential kind.

Each case is a :class:`CredentialInput` exactly as a driver would hand it over (bytes from a
barcode scanner or a card reader, text from a keyboard), plus a label saying how it was made.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from tests.adversarial.world import Issuer, Person, Truth, paper_data, read_through_emulator
from verifier.credential import CredentialInput
from verifier.formats import goznak_card, paper_barcode, tlv
from verifier.identifiers import Sex, enp_checksum_ok, make_enp

KINDS = (
    "paper_type1",
    "paper_type2",
    "card",
    "digital",
    "manual_enp",
    "temp_cert",
    "old_number",
)


@dataclass(frozen=True)
class Case:
    kind: str
    mutation: str
    item: CredentialInput


class Pools:
    """People to build credentials for, by what kind of credential they would carry."""

    def __init__(self, truth: Truth, rng: random.Random) -> None:
        self.truth = truth
        ps = truth.persons
        self.paper = [p for p in ps if p.policy_type == "paper"]
        self.card = [p for p in ps if p.policy_type == "card"]
        self.temp = [p for p in ps if p.temp_cert]
        self.old = [p for p in ps if p.old_number]
        self.revoked_paper = [p for p in ps if p.revoked_carrier == "paper"]
        self.revoked_card = [p for p in ps if p.revoked_carrier == "card"]
        self.inactive = [p for p in ps if p.status != "active"]
        self.deleted = sorted(truth.deleted)
        self.strangers = [_stranger(truth, rng, "50", i) for i in range(20)]
        self.foreigners = [_stranger(truth, rng, "77", i) for i in range(10)]

    def pick(self, rng: random.Random, main: list[Person], revoked: list[Person]) -> Person:
        """Mostly ordinary holders, with the register's hard cases over-represented."""
        r = rng.random()
        if r < 0.12 and revoked:
            return rng.choice(revoked)
        if r < 0.22 and self.inactive:
            return rng.choice(self.inactive)
        if r < 0.26:
            return rng.choice(self.strangers + self.foreigners)
        return rng.choice(main)

    def other_same_sex(self, rng: random.Random, p: Person, pool: list[Person]) -> Person:
        for _ in range(50):
            q = rng.choice(pool)
            if q.sex is p.sex and (q.surname, q.given_name) != (p.surname, p.given_name):
                return q
        return rng.choice(pool)


def _stranger(truth: Truth, rng: random.Random, region: str, i: int) -> Person:
    """A person the register does not know (or, region 77, another region's)."""
    while True:
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 25000))
        sex = rng.choice([Sex.MALE, Sex.FEMALE])
        enp = make_enp(region, born, sex, rng.randrange(0, 99999))
        if enp not in truth.by_enp and enp not in truth.deleted:
            break
    return Person(
        enp=enp,
        policy_type="paper",
        status="",
        start=None,
        end=None,
        surname="Незнакомов" if sex is Sex.MALE else "Незнакомова",
        given_name="Пётр" if sex is Sex.MALE else "Ольга",
        patronymic="Ильич" if sex is Sex.MALE else "Ильинична",
        sex=sex,
        birth_date=born,
        smo_ogrn="1027739008440",
        okato="46000",
        temp_cert=f"{rng.randrange(10**8, 10**9)}",
        old_number=f"50Б{rng.randrange(10**6, 10**7)}",
        revoked_carrier="",
        row={},
    )


# --- byte-level mutations ----------------------------------------------------------------------


def bitflip(rng: random.Random, raw: bytes, start: int = 0) -> bytes:
    b = bytearray(raw)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(start, len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def byteset(rng: random.Random, raw: bytes, start: int = 0) -> bytes:
    b = bytearray(raw)
    i = rng.randrange(start, len(b))
    b[i] = rng.choice([0x00, 0xFF, 0x80, 0x7F, rng.randrange(256)])
    return bytes(b)


def relength(rng: random.Random, raw: bytes) -> bytes:
    b = bytearray(raw)
    op = rng.randrange(5)
    if op == 0:
        return bytes(b[: rng.randrange(1, len(b))])
    if op == 1:
        return bytes(b + bytes(rng.randrange(256) for _ in range(rng.randint(1, 4))))
    if op == 2:  # scanner noise: a stray byte or two inside
        for _ in range(rng.randint(1, 2)):
            b.insert(rng.randrange(1, len(b)), rng.randrange(256))
        return bytes(b)
    if op == 3:
        i = rng.randrange(1, len(b))
        del b[i : i + rng.randint(1, 3)]
        return bytes(b)
    return bytes(b * 2)[:4100]


# --- paper policies ---------------------------------------------------------------------------


def paper_cases(
    kind: str, rng: random.Random, pools: Pools, issuer: Issuer, n: int
) -> Iterator[Case]:
    btype = (
        paper_barcode.BarcodeType.TYPE1
        if kind == "paper_type1"
        else paper_barcode.BarcodeType.TYPE2
    )
    mutations: list[tuple[str, int]] = [
        ("genuine", 10),
        ("bitflip", 14),
        ("byteset", 8),
        ("relength", 5),
        ("swap_signature", 8),
        ("untrusted_key", 8),
        ("zero_signature", 5),
        ("swapped_name", 12),
        ("swapped_name_and_birth", 5),
        ("swapped_name_dodge", 5),
        ("shifted_birth", 3),
        ("revoked", 8),
        ("junk", 5),
        ("other_type_signature", 3),
    ]
    names, weights = zip(*mutations, strict=True)

    def scanned(raw: bytes) -> CredentialInput:
        return CredentialInput(raw, source="adversarial", symbology="pdf417")

    for _ in range(n):
        m = rng.choices(names, weights)[0]
        p = pools.pick(rng, pools.paper, pools.revoked_paper)
        if m == "revoked" and pools.revoked_paper:
            p = rng.choice(pools.revoked_paper)
        good = issuer.paper(p, btype)
        raw = good.payload
        if m == "bitflip":
            raw = bitflip(rng, raw)
        elif m == "byteset":
            raw = byteset(rng, raw)
        elif m == "relength":
            raw = relength(rng, raw)
        elif m == "swap_signature":
            other = issuer.paper(rng.choice(pools.paper), btype)
            raw = good.data + other.sig_field
        elif m == "untrusted_key":
            raw = issuer.paper(
                p, btype, rng.choice(["rogue_paper", "rogue_paper_numbered"])
            ).payload
        elif m == "zero_signature":
            raw = good.data + bytes(65)
        elif m in ("swapped_name", "swapped_name_and_birth", "shifted_birth", "swapped_name_dodge"):
            q = pools.other_same_sex(rng, p, pools.paper)
            if m == "swapped_name_dodge":  # another surname, and no given name to compare
                data = paper_data(
                    p, btype, surname=q.surname, given_name="", patronymic=q.patronymic
                )
            elif m == "swapped_name":
                data = paper_data(
                    p, btype, surname=q.surname, given_name=q.given_name, patronymic=q.patronymic
                )
            elif m == "swapped_name_and_birth":
                data = paper_data(
                    p,
                    btype,
                    surname=q.surname,
                    given_name=q.given_name,
                    patronymic=q.patronymic,
                    birth_date=q.birth_date,
                )
            else:
                data = paper_data(
                    p, btype, birth_date=p.birth_date + timedelta(days=rng.choice([-1, 1, 365]))
                )
            sig = rng.choice(
                [
                    good.sig_field,
                    issuer.sign_paper(data, "rogue_paper"),
                    bytes(65),
                    bytes(64) + bytes([1]),
                ]
            )
            raw = data + sig
        elif m == "junk":
            raw = bytes([btype.value]) + bytes(rng.randrange(256) for _ in range(129))
        elif m == "other_type_signature":
            other_type = (
                paper_barcode.BarcodeType.TYPE2
                if btype is paper_barcode.BarcodeType.TYPE1
                else paper_barcode.BarcodeType.TYPE1
            )
            raw = good.data + issuer.paper(p, other_type).sig_field
        yield Case(kind, m, scanned(raw))


# --- cards ------------------------------------------------------------------------------------


def _children(template: bytes) -> list[bytes]:
    return [t.raw for t in tlv.parse(tlv.parse(template)[0].value)]


def _wrap(tag: int, children: list[bytes]) -> bytes:
    return tlv.encode(tag, b"".join(children))


def card_cases(rng: random.Random, pools: Pools, issuer: Issuer, n: int) -> Iterator[Case]:
    mutations: list[tuple[str, int]] = [
        ("genuine", 10),
        ("bitflip", 12),
        ("byteset", 6),
        ("tlv_remove", 8),
        ("tlv_duplicate", 6),
        ("tlv_reorder", 6),
        ("top_level_shuffle", 4),
        ("holder_only", 7),
        ("insurer_without_7f60", 7),
        ("certificate_without_signature", 5),
        ("signature_without_certificate", 3),
        ("empty_7f60", 3),
        ("untrusted_key", 7),
        ("swap_signature_block", 5),
        ("swap_insurer_record", 4),
        ("swapped_name", 9),
        ("swapped_name_and_birth", 4),
        ("swapped_name_dodge", 5),
        ("revoked", 8),
        ("junk", 4),
    ]
    names, weights = zip(*mutations, strict=True)
    main = pools.card + pools.paper[:60]  # a few paper holders who also carry a card
    genuine_cache: dict[str, bytes] = {}

    def item(raw: bytes) -> CredentialInput:
        return CredentialInput(raw, source="adversarial:pcsc", symbology="card")

    for _ in range(n):
        m = rng.choices(names, weights)[0]
        p = pools.pick(rng, main, pools.revoked_card)
        if m == "revoked" and pools.revoked_card:
            p = rng.choice(pools.revoked_card)
        good = issuer.card(p)
        holder, insurer = good.holder, good.insurer
        if m == "genuine":
            if p.enp not in genuine_cache:  # what the PC/SC driver reads from such a card
                genuine_cache[p.enp] = read_through_emulator(good.dump)
            raw = genuine_cache[p.enp]
        elif m == "bitflip":
            raw = bitflip(rng, good.dump)
        elif m == "byteset":
            raw = byteset(rng, good.dump)
        elif m in ("tlv_remove", "tlv_duplicate", "tlv_reorder"):
            which = rng.choice(["holder", "insurer", "sigblock"])
            if which == "sigblock":
                ins = _children(insurer)
                block = tlv.parse(ins[-1])[0]
                kids = [t.raw for t in tlv.parse(block.value)]
                kids = _mutate_list(rng, m, kids)
                raw = holder + _wrap(0x64, [*ins[:-1], _wrap(0x7F60, kids)])
            else:
                tmpl = holder if which == "holder" else insurer
                kids = _mutate_list(rng, m, _children(tmpl))
                new = _wrap(0x62 if which == "holder" else 0x64, kids)
                raw = new + insurer if which == "holder" else holder + new
        elif m == "top_level_shuffle":
            parts = [holder, insurer]
            op = rng.randrange(4)
            if op == 0:
                parts = [insurer, holder]
            elif op == 1:
                parts = [holder, holder, insurer]
            elif op == 2:
                parts = [holder, insurer, insurer]
            else:
                other = issuer.card(pools.other_same_sex(rng, p, main))
                parts = [holder, insurer, other.holder]
            raw = b"".join(parts)
        elif m == "holder_only":
            raw = holder
        elif m == "insurer_without_7f60":
            raw = holder + goznak_card.encode_insurer(good.signed_part, None, None)
        elif m == "certificate_without_signature":
            raw = holder + _wrap(
                0x64,
                [good.signed_part, tlv.encode(0x7F60, tlv.encode(0x5F62, good.certificate))],
            )
        elif m == "signature_without_certificate":
            raw = holder + goznak_card.encode_insurer(good.signed_part, good.signature, None)
        elif m == "empty_7f60":
            raw = holder + _wrap(0x64, [good.signed_part, tlv.encode(0x7F60, b"")])
        elif m == "untrusted_key":
            bad = issuer.card(p, rng.choice(["rogue_insurer", "insurer_under_rogue"]))
            raw = bad.dump
        elif m == "swap_signature_block":
            other = issuer.card(rng.choice(main), start=date(2019, 7, 1))
            raw = holder + goznak_card.encode_insurer(
                good.signed_part, other.signature, other.certificate
            )
        elif m == "swap_insurer_record":
            other = issuer.card(rng.choice(main), start=date(2018, 1, 9))
            raw = holder + other.insurer
        elif m in ("swapped_name", "swapped_name_and_birth", "swapped_name_dodge"):
            q = pools.other_same_sex(rng, p, main)
            change: dict[str, object] = {
                "surname": q.surname,
                "given_name": q.given_name,
                "patronymic": q.patronymic,
            }
            if m == "swapped_name_and_birth":
                change["birth_date"] = q.birth_date
            if m == "swapped_name_dodge":  # another name, and nothing left to compare it with
                if rng.random() < 0.5:
                    change["birth_date"] = None
                else:
                    change["given_name"] = ""
            raw = issuer.holder(p, **change) + insurer
            if rng.random() < 0.3:
                raw = issuer.holder(p, **change)  # and unsigned, too
        elif m == "revoked":
            raw = good.dump if rng.random() < 0.7 else holder
        else:  # junk behind a holder tag
            raw = bytes([0x62]) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 300)))
        yield Case("card", m, item(raw))


def _mutate_list(rng: random.Random, m: str, kids: list[bytes]) -> list[bytes]:
    kids = list(kids)
    if not kids:
        return kids
    if m == "tlv_remove":
        del kids[rng.randrange(len(kids))]
    elif m == "tlv_duplicate":
        i = rng.randrange(len(kids))
        kids.insert(rng.randrange(len(kids) + 1), kids[i])
    else:
        if len(kids) > 1:
            i, j = rng.sample(range(len(kids)), 2)
            kids[i], kids[j] = kids[j], kids[i]
    return kids


# --- text credentials -------------------------------------------------------------------------


def _digit_change(rng: random.Random, s: str) -> str:
    idx = [i for i, ch in enumerate(s) if ch.isdigit()]
    if not idx:
        return s
    i = rng.choice(idx)
    return s[:i] + str((int(s[i]) + rng.randint(1, 9)) % 10) + s[i + 1 :]


def _transpose(rng: random.Random, s: str) -> str:
    idx = [
        i for i in range(len(s) - 1) if s[i].isdigit() and s[i + 1].isdigit() and s[i] != s[i + 1]
    ]
    if not idx:
        return s
    i = rng.choice(idx)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


_NOISE = ["\u200b", "\ufeff", "\u00a0", "\u0660", "\uff11", "٣", "𝟓", "\u202e", "\x00", "\x1b"]


def _noise(rng: random.Random, s: str) -> str:
    i = rng.randrange(len(s) + 1)
    return s[:i] + rng.choice(_NOISE) + s[i:]


def enp_cases(kind: str, rng: random.Random, pools: Pools, n: int) -> Iterator[Case]:
    manual = kind == "manual_enp"
    everyone = pools.truth.persons
    mutations = [
        ("genuine", 30),
        ("digit_change", 18),
        ("transpose", 8),
        ("two_enps", 4),
        ("noise", 10),
        ("non_utf8", 4),
        ("deleted", 5),
        ("other_region", 5),
        ("stranger", 5),
        ("too_long", 2),
        ("another_valid_enp", 6),
    ]
    names, weights = zip(*mutations, strict=True)

    def form(enp: str) -> str:
        if manual:
            return rng.choice(
                [
                    enp,
                    f"ЕНП {enp}",
                    f"полис ОМС № {enp}",
                    " ".join(enp[i : i + 4] for i in range(0, 16, 4)),
                    f"ENP:{enp}",
                ]
            )
        return rng.choice(
            [
                enp,
                f"https://www.gosuslugi.ru/oms?enp={enp}",
                f"https://www.gosuslugi.ru/oms/{enp}",
                f"https://example.test/check?id=1234&enp={enp}&ts=1700000000",
                f"ОМС {enp} до 2030",
                "-".join(enp[i : i + 4] for i in range(0, 16, 4)),
            ]
        )

    for _ in range(n):
        m = rng.choices(names, weights)[0]
        p = pools.pick(rng, everyone, [])
        enp = p.enp
        if m == "deleted" and pools.deleted:
            enp = rng.choice(pools.deleted)
        elif m == "other_region":
            enp = rng.choice(pools.foreigners).enp
        elif m == "stranger":
            enp = rng.choice(pools.strangers).enp
        text = form(enp)
        payload: bytes | None = None
        if m == "digit_change":
            text = _digit_change(rng, text)
        elif m == "transpose":
            text = _transpose(rng, text)
        elif m == "two_enps":
            text = f"{text} {rng.choice(everyone).enp}"
        elif m == "noise":
            text = _noise(rng, text)
        elif m == "non_utf8":
            payload = text.encode() + rng.choice([b"\xff", b"\xc3", b"\x80\x80"])
        elif m == "too_long":
            text = text + " " * 4096
        elif m == "another_valid_enp":  # a one-digit typo that happens to pass the check digit
            for _ in range(40):
                cand = _digit_change(rng, enp)
                if cand != enp and enp_checksum_ok(cand):
                    text = form(cand)
                    break
        item = (
            CredentialInput(payload, source="adversarial", manual=manual)
            if payload is not None
            else CredentialInput.from_text(
                text, source="adversarial", manual=manual, symbology=None if manual else "qr"
            )
        )
        yield Case(kind, m, item)


def number_cases(kind: str, rng: random.Random, pools: Pools, n: int) -> Iterator[Case]:
    temp = kind == "temp_cert"
    pool = pools.temp if temp else pools.old
    mutations = [
        ("genuine", 35),
        ("digit_change", 20),
        ("transpose", 8),
        ("stranger", 10),
        ("noise", 8),
        ("truncated", 5),
        ("lookalike_letters", 6 if not temp else 0),
        ("scanned_not_typed", 8),
    ]
    names, weights = zip(*mutations, strict=True)

    def form(number: str) -> str:
        if temp:
            return rng.choice([number, f"{number[:3]} {number[3:6]} {number[6:]}", f" {number} "])
        series, digits = number[:3], number[3:]
        return rng.choice(
            [
                f"{series} {digits}",
                f"{series}{digits}",
                f"{series} № {digits}",
                f"{series.lower()} {digits}",
            ]
        )

    for _ in range(n):
        m = rng.choices(names, weights)[0]
        p = rng.choice(pool) if rng.random() > 0.1 else rng.choice(pools.strangers)
        number = p.temp_cert if temp else p.old_number
        if m == "stranger":
            s = rng.choice(pools.strangers)
            number = s.temp_cert if temp else s.old_number
        text = form(number)
        if m == "digit_change":
            text = _digit_change(rng, text)
        elif m == "transpose":
            text = _transpose(rng, text)
        elif m == "noise":
            text = _noise(rng, text)
        elif m == "truncated":
            text = text[:-1]
        elif m == "lookalike_letters":
            text = text.replace("А", "A").replace("В", "B").replace("Е", "E").replace("К", "K")
        manual = m != "scanned_not_typed"
        yield Case(
            kind,
            m,
            CredentialInput.from_text(text, source="adversarial", manual=manual),
        )


def generate_cases(
    kind: str, rng: random.Random, pools: Pools, issuer: Issuer, n: int
) -> Iterator[Case]:
    makers: dict[str, Callable[[], Iterator[Case]]] = {
        "paper_type1": lambda: paper_cases(kind, rng, pools, issuer, n),
        "paper_type2": lambda: paper_cases(kind, rng, pools, issuer, n),
        "card": lambda: card_cases(rng, pools, issuer, n),
        "digital": lambda: enp_cases(kind, rng, pools, n),
        "manual_enp": lambda: enp_cases(kind, rng, pools, n),
        "temp_cert": lambda: number_cases(kind, rng, pools, n),
        "old_number": lambda: number_cases(kind, rng, pools, n),
    }
    return makers[kind]()
