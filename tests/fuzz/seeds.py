"""Seed corpora for the fuzz targets, from the repo's own test vectors and encoders.

Valid inputs are built with the project's encoders (paper barcode, card TLV, snapshot golden
files, certificate builder, the card emulator), so the fuzzer starts deep inside each parser
instead of at "bad length". ``python -m tests.fuzz.seeds DIR`` writes them as files, one
folder per target (what ``scripts/fuzz.sh`` starts from); the pytest replay calls
:func:`seeds` directly.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date
from hashlib import sha1
from pathlib import Path
from typing import Any

from cache.register_model import AliasKind, PolicyStatus, PolicyType, RegisterRecord
from drivers.hid_pos import MICROSCAN_LAYOUT, POS_LAYOUT
from drivers.keyboard_wedge import EVENT_32, EVENT_64
from drivers.keymaps import get_keymap
from drivers.smartcard import goznak
from tests.fuzz import targets
from tests.vectors import DATA, load_json
from verifier.crypto import cms, keys, xmldsig
from verifier.devkit import card_emulator as emulator
from verifier.devkit.encoders import build_reports, pack_events, type_events
from verifier.formats import goznak_card, paper_barcode
from verifier.identifiers import Sex
from verifier.registry import protocol

SHARED = DATA.parent.parent.parent / "shared" / "testdata"
ENP = "5056410834001235"


def _paper() -> list[bytes]:
    out = []
    for row in load_json("paper_barcode/people.json")["people"]:
        data = paper_barcode.encode_data(
            barcode_type=paper_barcode.BarcodeType(row["barcode_type"]),
            enp=row["enp"],
            surname=row["surname"],
            given_name=row["given_name"],
            patronymic=row["patronymic"],
            sex=Sex(row["sex"]),
            birth_date=date.fromisoformat(row["birth_date"]),
            expiry=date.fromisoformat(row["expiry"]) if row["expiry"] else None,
            smo_ogrn=row["smo_ogrn"],
            okato=row["okato"],
        )
        out.append(data + bytes(range(65)))
    vec = load_json("trust/openssl_paper_vector.json")
    out.append(bytes.fromhex(vec["data_hex"]) + bytes.fromhex(vec["signature_hex"]) + b"\x01")
    out.append(out[0][:65] + b"\x0d\x0a" + out[0][65:])  # stray bytes from a scanner
    return out


def card_dump(*, signed: bool = True) -> bytes:
    holder = goznak_card.CardHolder(
        surname="Иванов",
        given_name="Иван",
        patronymic="Иванович",
        birth_date=date(1985, 3, 15),
        sex=Sex.MALE,
        policy_number=ENP,
        snils="112-233-445 95",
        expiry=None,
        birthplace="г. Москва",
        issued=date(2021, 6, 1),
    )
    part = goznak_card.encode_insurer_signed_part(
        "1027739008440", "45000", date(2021, 6, 1), date(2031, 6, 1)
    )
    cert = targets.root_certificate().der if signed else None
    sig = bytes(range(64)) if signed else None
    return goznak_card.encode_holder(holder) + goznak_card.encode_insurer(part, sig, cert)


def _card() -> list[bytes]:
    full = card_dump()
    return [full, card_dump(signed=False), full[: full.index(b"\x64")]]


def _digital_texts() -> list[str]:
    doc = load_json("recognize/texts.json")
    texts = [row["text"] for row in doc["scanned"]] + [row["text"] for row in doc["typed"]]
    texts += [
        "５０５６４１０８３４００１２３５",  # fullwidth digits
        "٥٠٥٦٤١٠٨٣٤٠٠١٢٣٥",  # Arabic-Indic digits
        "https://x.ru/?enp=５０５６４１０８３４００１２３５",
        "ВС ١٢٣٤٥٦٧٨٩",
        "ЕАА ١٢٣٤٥٦٧",
        "112-233-445 95",
    ]
    return texts


def _identifiers() -> list[bytes]:
    doc = load_json("identifiers/enp_examples.json")
    values = [r["enp"] for r in doc["enp"] if "enp" in r] + [
        r["facet"] for r in doc["enp"] if "facet" in r
    ]
    values += [r["facet"] for r in doc["facet_by_hand"]]
    return [v.encode() for v in values] + [t.encode() for t in _digital_texts()]


def _recognize() -> list[bytes]:
    out = [b"\x00" + t.encode() for t in _digital_texts()]
    out += [b"\x80" + t.encode() for t in _digital_texts()[:12]]
    out += [b"\x02" + p for p in _paper()]
    out += [b"\x05" + c for c in _card()] + [b"\x00" + card_dump()]
    return out


def _snapshot() -> list[bytes]:
    return [
        (DATA / "cache" / "golden-full-000007.omssnap").read_bytes(),
        (DATA / "cache" / "golden-delta-000008.omssnap").read_bytes(),
    ]


def _registry() -> list[bytes]:
    record = RegisterRecord(
        enp=ENP,
        policy_type=PolicyType.PAPER,
        status=PolicyStatus.ACTIVE,
        status_since=date(2021, 6, 1),
        smo_ogrn="1027739008440",
        okato="45000",
        start=date(2021, 6, 1),
        end=None,
        clinic="7701001",
        name_hash=bytes(8),
    )
    nonce = "00112233445566778899aabbccddeeff"
    at = targets.FIXED_NOW
    docs = protocol.documents_of({})
    found = protocol.answer_to_wire(
        nonce=nonce,
        query=protocol.Query.enp(ENP),
        answered_at=at,
        record=record,
        key_id="registry-1",
        signature=bytes(64),
        documents=docs,
    )
    alias = protocol.Query.alias(AliasKind.TEMP_CERT, "123456789")
    by_alias = protocol.answer_to_wire(
        nonce=nonce,
        query=alias,
        answered_at=at,
        record=record,
        key_id="registry-1",
        signature=bytes(64),
        alias=alias,
        documents=docs,
    )
    missing = protocol.answer_to_wire(
        nonce=nonce,
        query=protocol.Query.enp(ENP),
        answered_at=at,
        record=None,
        key_id="registry-1",
        signature=bytes(64),
    )
    index = {
        "region": "50",
        "full": {"name": "full-000007.omssnap", "sequence": 7},
        "latest_sequence": 8,
        "deltas": [{"name": "delta-000008.omssnap", "sequence": 8, "base_sequence": 7}],
    }
    problem = protocol.problem(404, "not_found", "нет такого полиса")

    def enc(doc: Any) -> bytes:
        return json.dumps(doc, ensure_ascii=False).encode()

    return [
        b"\x00" + enc(found),
        b"\x00" + enc(by_alias),
        b"\x01" + enc({"candidates": [found, by_alias]}),
        b"\x02" + enc({"now": "2026-03-01T12:00:00Z"}),
        b"\x03" + enc(index),
        b"\x04" + enc(missing),
        b"\x05" + enc(problem),
    ]


def _pem_files() -> list[bytes]:
    out = []
    root = SHARED / "trust" / "goznak-cvp-root.pem"
    if root.exists():
        out.append(root.read_bytes())
    return out


def _x509() -> list[bytes]:
    cert = targets.root_certificate()
    return [cert.der, cert.to_pem(), *_pem_files()]


def _keys() -> list[bytes]:
    priv = keys.PrivateKey(
        keys.Algorithm.GOST2012_512, keys.paramset_oid_for(keys.Algorithm.GOST2012_512, "A"), 12345
    )
    pub = priv.public_key()
    vec = load_json("trust/openssl_paper_vector.json")
    return [
        b"\x00" + pub.to_der(),
        b"\x00" + pub.to_pem(),
        b"\x00" + vec["public_key_pem"].encode(),
        b"\x01" + priv.to_der(),
        b"\x01" + priv.to_pem(),
    ]


def _trust_list() -> list[bytes]:
    pub_pem = targets._TRUST_LIST_KEY.public_key().to_pem().decode()
    entries = [
        {"purpose": "paper_barcode", "public_key_pem": pub_pem, "key_number": 1, "id": "p1"},
        {
            "purpose": "paper_barcode",
            "public_key_pem": pub_pem,
            "key_number": 2,
            "state": "retired",
            "not_before": "2020-01-01T00:00:00Z",
            "not_after": "2030-01-01T00:00:00+03:00",
            "paper_layout": {"order": "r||s", "hash_name": "streebog256"},
        },
        {
            "purpose": "card_insurer_root",
            "certificate_pem": targets.root_certificate().to_pem().decode(),
        },
        {"purpose": "snapshot", "public_key_pem": pub_pem, "state": "revoked"},
    ]
    doc = {"signer": targets.TRUST_LIST_KEY_ID, "version": 3, "keys": entries}
    return [json.dumps(doc).encode(), json.dumps({**doc, "keys": entries[:1]}).encode()]


def _trust_descriptor() -> list[bytes]:
    out = [
        b'purpose = "paper_barcode"\npublic_key = "paper.pub.pem"\nkey_number = 2\n',
        b'purpose = "card_insurer_root"\ncertificate = "root.pem"\n',
        b'purpose = "snapshot"\npublic_key = "paper.pub.pem"\nstate = "retired"\n'
        b"not_before = 2020-01-01T00:00:00Z\n",
        b'purpose = "paper_barcode"\npublic_key = "paper.pub.pem"\nkey_number = 3\n'
        b'[paper_layout]\nkey_number_offset = 0\nsignature_offset = 1\norder = "r||s"\n',
    ]
    for case in load_json("trust/bad_descriptors.json")["cases"]:
        out.append(case["toml"].encode())
    return out


POLICY_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OmsPolicy xmlns="urn:oms-verifier:assumed:policy:1" Id="policy">'
    "<Enp>5056410834001235</Enp><Holder><Surname>ИВАНОВ</Surname><FirstName>ИВАН</FirstName>"
    "<Patronymic>ИВАНОВИЧ</Patronymic><BirthDate>1985-03-15</BirthDate></Holder>"
    "<Insurer><Ogrn>1027700000001</Ogrn><Name>СМО &amp; Ко</Name></Insurer>"
    "<IssueDate>2023-01-10</IssueDate><ValidFrom>10.01.2023</ValidFrom><ValidTo/>"
    "</OmsPolicy>"
).encode()
TK26 = DATA / "documents" / "tk26"


def _cms() -> list[bytes]:
    key, cert = targets.document_signer()
    content = b"oms-verifier fuzz content"
    out = [
        b"\x00" + cms.sign_cms(content, key, cert, signing_time=targets.FIXED_NOW),
        b"\x01" + cms.sign_cms(content, key, cert, detached=True),
        b"\x00" + cms.sign_cms(content, key, cert, signed_attributes=False, pem=True),
    ]
    out += [b"\x00" + p.read_bytes() for p in sorted(TK26.glob("signed_*.pem"))]
    return out


def _xml_policy() -> list[bytes]:
    key, cert = targets.document_signer()
    signed = xmldsig.sign_enveloped(POLICY_XML, key, cert)
    by_id = xmldsig.sign_enveloped(POLICY_XML, key, cert, reference_id="policy")
    return [b"\x00" + signed, b"\x00" + by_id, b"\x01" + POLICY_XML]


def minimal_pdf(text: str = ENP) -> bytes:
    """A one-page PDF with ``text`` in its text layer, xref offsets computed."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf() -> list[bytes]:
    return [minimal_pdf(), minimal_pdf("Номер полиса 5056410834001235")]


def _apdu_session(dump: bytes, **kw: Any) -> list[bytes]:
    """Record a real read of the emulated card: the answers, in order."""
    card = emulator.GoznakCardEmulator(emulator.CardImage.from_dump(dump), **kw)
    answers: list[bytes] = []

    def transmit(command: bytes) -> bytes:
        answer = card.transmit(command)
        answers.append(answer)
        return answer

    goznak.read_card(card.atr, transmit, chunk=109)
    return answers


def _apdu() -> list[bytes]:
    out = []
    for dump in (card_dump(), card_dump(signed=False)):
        for kw in ({}, {"via_get_response": True, "get_response_chunk": 64}):
            answers = _apdu_session(dump, **kw)
            out.append(bytes((54,)) + targets.pack_chunks(answers))  # chunk = 54 * 2 + 1 = 109
    atr = goznak.GOZNAK_ATR
    out.append(bytes((0x80 | 54,)) + targets.pack_chunks([atr, *_apdu_session(card_dump())]))
    return out


def _framing() -> list[bytes]:
    paper = _paper()[0]
    out = []
    for cfg in range(8):
        parts = b""
        for piece in (b"]L2" + paper[:100], paper[100:], b"\r\n", ENP.encode() + b"\r", b"\n"):
            parts += b"\x01" + targets.pack_chunks([piece])  # 1 ms after the previous piece
        out.append(bytes((cfg,)) + parts + b"\x64\x00")
    out.append(b"\x08" + targets.pack_chunks([b"idle:80ms+0x0d0a"]) + b"\x01\x05hello")
    return out


def _aim() -> list[bytes]:
    return [b"]Q2\\000026" + ENP.encode(), b"]L2" + _paper()[0], b"]d1\\\\x", b"]z3abc", b"]C0x"]


def _hid_pos() -> list[bytes]:
    paper = _paper()[0]
    out = [b"\x00" + b"".join(build_reports(paper, "]L2", POS_LAYOUT))]
    out.append(b"\x00" + b"".join(build_reports(ENP.encode(), "]Q1", POS_LAYOUT)))
    out.append(b"\x01" + b"".join(build_reports(paper, None, MICROSCAN_LAYOUT)))
    out.append(b"\x02" + b"".join(build_reports(b"]Q2\\000026" + ENP.encode(), None, POS_LAYOUT)))
    for name in ("hidpos_paper_policy.hidpos", "microscan_paper_policy.hidpos"):
        path = DATA / "drivers" / name
        if path.exists():
            out.append((b"\x01" if "microscan" in name else b"\x00") + path.read_bytes())
    return out


def _wedge() -> list[bytes]:
    out = []
    for flags, fmt, km in ((0, EVENT_64, "us"), (1, EVENT_32, "us"), (2, EVENT_64, "ru")):
        text = ENP + " ]Q1AbC" if km == "us" else "ВС 123456789"
        out.append(bytes((flags,)) + pack_events(type_events(text, get_keymap(km)), fmt))
    for path in sorted((DATA / "drivers").glob("wedge_*")):
        flags = 1 if path.suffix == ".evdev32" else 0
        flags |= 2 if "_ru_" in path.name else 0
        out.append(bytes((flags,)) + path.read_bytes())
    return out


def _safejson() -> list[bytes]:
    out = [b'{"a": [1, 2.5, "x\\"y", null, true], "b": {"c": []}}', b"[]", b'"\\u0000"']
    out += [s[1:] for s in _registry()] + _trust_list()
    return out


_BUILDERS: dict[str, Callable[[], list[bytes]]] = {
    "paper_barcode": _paper,
    "tlv_card": _card,
    "digital": lambda: [t.encode() for t in _digital_texts()],
    "identifiers": _identifiers,
    "recognize": _recognize,
    "pipeline": _recognize,
    "snapshot": _snapshot,
    "registry": _registry,
    "x509": _x509,
    "keys": _keys,
    "trust_list": _trust_list,
    "trust_descriptor": _trust_descriptor,
    "cms": _cms,
    "xml_policy": _xml_policy,
    "pdf": _pdf,
    "apdu": _apdu,
    "framing": _framing,
    "aim": _aim,
    "hid_pos": _hid_pos,
    "wedge": _wedge,
    "safejson": _safejson,
}


def seeds(name: str) -> list[bytes]:
    return _BUILDERS[name]()


def write(directory: Path, names: list[str] | None = None) -> dict[str, int]:
    """Write ``DIR/<target>/<sha1>`` seed files; returns how many per target."""
    counts = {}
    for name in names or list(_BUILDERS):
        d = directory / name
        d.mkdir(parents=True, exist_ok=True)
        items = seeds(name)
        for item in items:
            (d / sha1(item, usedforsecurity=False).hexdigest()).write_bytes(item)
        counts[name] = len(items)
    return counts


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tests.fuzz.seeds DIR [TARGET...]", file=sys.stderr)
        return 2
    counts = write(Path(argv[0]), argv[1:] or None)
    print(json.dumps(counts, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
