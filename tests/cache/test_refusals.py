"""Every refusal has its stable code, and the store serves exactly what it served before."""

from __future__ import annotations

import io
import json
import os
import stat
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cache.register_model import AliasKind, PolicyStatus, RegisterRecord
from cache.snapshot_format import HASH_NAME, SIG_MAGIC, SnapshotKind
from cache.snapshot_store import SignatureCheck, SnapshotRefused, SnapshotStore
from verifier.crypto import hashes
from verifier.crypto.signatures import sign_digest
from verifier.errors import OmsError
from verifier.trust import Purpose, TrustedKey, TrustStore

from . import golden
from .helpers import (
    CREATED,
    Register,
    Served,
    demo_key,
    key_checker,
    layout,
    record,
    served,
    small_full,
    snapshot_bytes,
    stage_tables,
)

OTHER_KEY = demo_key("someone else")


@dataclass
class Held:
    """A store holding the small register's full snapshot and its first delta (sequence 2)."""

    store: SnapshotStore
    reg: Register
    before: Served

    def now(self) -> Served:
        return served(self.store, *_probes(self.reg))

    def refuse(
        self, data: bytes, code: str, check: SignatureCheck | None = None
    ) -> SnapshotRefused:
        with pytest.raises(SnapshotRefused) as err:
            self.store.import_stream(io.BytesIO(data), check or self.reg.check)
        assert err.value.code == code, err.value.message
        self.assert_intact()
        return err.value

    def assert_intact(self) -> None:
        assert self.now() == self.before
        assert self.store.info().sequence == 2
        assert stage_tables(self.store.path) == []


def _probes(reg: Register) -> tuple[list[str], list[tuple[AliasKind, str]]]:
    enps = [r["enp"] for r in reg.rows]
    aliases = [(AliasKind.OLD_NUMBER, r["old_number"]) for r in reg.rows if r["old_number"]]
    aliases += [
        (AliasKind.TEMP_CERT, r["temp_cert_number"]) for r in reg.rows if r["temp_cert_number"]
    ]
    return enps, aliases


@pytest.fixture
def held(small_register: Register, db: Path) -> Held:
    store = SnapshotStore(db)
    for f in small_register.gen.files[:2]:
        store.import_file(f, small_register.check)
    return Held(store, small_register, served(store, *_probes(small_register)))


def _file(reg: Register, seq: int) -> bytes:
    return next(f for f in reg.gen.files if f.stem.endswith(f"{seq:06d}")).read_bytes()


def _flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def _other_records(n: int = 3) -> list[RegisterRecord]:
    return [record(5000000000000001 + i, status=PolicyStatus.ANNULLED) for i in range(n)]


# --- sequence -----------------------------------------------------------------------------------


def test_delta_whose_base_is_not_the_held_sequence(held: Held) -> None:
    held.refuse(_file(held.reg, 4), "delta_base_mismatch")  # base 3, store holds 2


def test_delta_already_applied(held: Held) -> None:
    held.refuse(_file(held.reg, 2), "delta_base_mismatch")  # base 1, store holds 2


def test_delta_that_does_not_advance(held: Held) -> None:
    key = demo_key(held.reg.seed)
    data = snapshot_bytes(
        key=key, kind=SnapshotKind.DELTA, sequence=2, base=2, records=_other_records()
    )
    held.refuse(data, "snapshot_old")


def test_delta_without_a_full_snapshot(small_register: Register, db: Path) -> None:
    store = SnapshotStore(db)
    with pytest.raises(SnapshotRefused) as err:
        store.import_file(small_register.gen.files[1], small_register.check)
    assert err.value.code == "delta_no_base"
    assert not store.info().present
    assert store.lookup_enp(small_register.live[0]["enp"]) is None
    assert stage_tables(db) == []


def test_full_snapshot_older_than_the_held_one(held: Held) -> None:
    held.refuse(_file(held.reg, 1), "snapshot_old")


def test_full_snapshot_equal_to_the_held_one(held: Held) -> None:
    data = snapshot_bytes(key=demo_key(held.reg.seed), sequence=2, records=_other_records())
    held.refuse(data, "snapshot_old")


def test_newer_full_snapshot_replaces_everything(held: Held) -> None:
    """The control for the two above: sequence 3 is accepted and replaces the whole register."""
    data = snapshot_bytes(key=demo_key(held.reg.seed), sequence=3, records=_other_records())
    held.store.import_stream(io.BytesIO(data), held.reg.check)
    assert held.store.info().sequence == 3
    assert held.store.info().records == 3
    assert held.store.lookup_enp(held.reg.live[0]["enp"]) is None


# --- signatures ---------------------------------------------------------------------------------


def test_one_flipped_byte_in_a_record(held: Held) -> None:
    data = _file(held.reg, 3)
    at = layout(data).records_of("RECS") + 2  # the status byte of the first record
    held.refuse(_flip(data, at), "snapshot_signature")


def test_one_flipped_byte_in_the_header(held: Held) -> None:
    data = _file(held.reg, 3)
    at = data.index(b'"created_at": "') + len('"created_at": "') + 3  # a digit of the year
    held.refuse(_flip(data, at), "snapshot_signature")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_one_flipped_byte_in_the_signature(held: Held, where: str) -> None:
    data = _file(held.reg, 3)
    sig = layout(data).sig + 6
    at = {"first": sig, "middle": sig + 32, "last": len(data) - 1}[where]
    held.refuse(_flip(data, at), "snapshot_signature")


def test_signed_by_another_key_under_the_trusted_key_id(held: Held) -> None:
    key = demo_key(held.reg.seed)
    data = snapshot_bytes(
        key=key,
        kind=SnapshotKind.DELTA,
        sequence=3,
        base=2,
        records=_other_records(),
        sign_with=OTHER_KEY,
    )
    held.refuse(data, "snapshot_signature")


def test_signed_by_an_unknown_key(held: Held) -> None:
    """The check function raises an OmsError for a key id it does not know."""
    data = snapshot_bytes(
        key=OTHER_KEY, kind=SnapshotKind.DELTA, sequence=3, base=2, records=_other_records()
    )
    err = held.refuse(data, "snapshot_key_unknown")
    assert OTHER_KEY.public_key().key_id() in err.message


def test_unknown_key_through_the_trust_store(held: Held) -> None:
    trust = TrustStore(
        [
            TrustedKey(
                demo_key(held.reg.seed).public_key().key_id(),
                Purpose.SNAPSHOT,
                demo_key(held.reg.seed).public_key(),
            )
        ]
    )

    check = trust.snapshot_checker(lambda: CREATED)

    data = snapshot_bytes(
        key=OTHER_KEY, kind=SnapshotKind.DELTA, sequence=3, base=2, records=_other_records()
    )
    held.refuse(data, "snapshot_key_unknown", check)
    held.store.import_stream(io.BytesIO(_file(held.reg, 3)), check)  # the real key still works
    assert held.store.info().sequence == 3


def test_check_function_error_keeps_its_code(held: Held) -> None:
    def check(key_id: str, digest: bytes, signature: bytes) -> bool:
        raise OmsError("trust store unreadable", code="trust_error")

    held.refuse(_file(held.reg, 3), "trust_error", check)


def test_signature_trailer_missing(held: Held) -> None:
    data = _file(held.reg, 3)
    sig = layout(data).sig
    held.refuse(data[:sig] + b"XXXX" + data[sig + 4 :], "snapshot_unsigned")


@pytest.mark.parametrize("length", [0, 63, 65, 127])
def test_signature_of_a_wrong_length(held: Held, length: int) -> None:
    data = _file(held.reg, 3)
    sig = layout(data).sig
    body = data[: sig + 4] + struct.pack(">H", length) + bytes(length)
    held.refuse(body, "bad_snapshot")


def test_signature_of_512_bit_length_for_a_256_bit_key(held: Held) -> None:
    """128 bytes is a GOST 2012-512 signature: the trust store calls that a bad signature."""
    key = demo_key(held.reg.seed)
    trust = TrustStore([TrustedKey(key.public_key().key_id(), Purpose.SNAPSHOT, key.public_key())])

    check = trust.snapshot_checker(lambda: CREATED)

    data = _file(held.reg, 3)
    sig = layout(data).sig
    held.refuse(
        data[: sig + 4] + struct.pack(">H", 128) + bytes(range(128)), "snapshot_signature", check
    )


# --- truncation ---------------------------------------------------------------------------------

_CUTS: dict[str, Callable[..., int]] = {
    "empty": lambda lay: 0,
    "inside magic": lambda lay: 5,
    "inside header length": lambda lay: 10,
    "header start": lambda lay: lay.header_start,
    "inside header": lambda lay: (lay.header_start + lay.header_end) // 2,
    "header end": lambda lay: lay.header_end,
    "inside section head": lambda lay: lay.sections["RECS"][0] + 5,
    "inside first record": lambda lay: lay.records_of("RECS") + 20,
    "record boundary": lambda lay: lay.records_of("RECS") + 44 * 3,
    "inside last record": lambda lay: lay.sections["ALIA"][0] - 1,
    "inside aliases": lambda lay: lay.records_of("ALIA") + 7,
    "inside deletions": lambda lay: lay.records_of("DELS") + 3,
    "right before END": lambda lay: lay.end,
    "inside END": lambda lay: lay.end + 6,
    "right after END": lambda lay: lay.sig,
    "inside SIG1": lambda lay: lay.sig + 2,
    "inside signature length": lambda lay: lay.sig + 5,
    "signature start": lambda lay: lay.sig + 6,
    "inside signature": lambda lay: lay.sig + 6 + 40,
    "one byte short": lambda lay: lay.total - 1,
}


@pytest.mark.parametrize("where", list(_CUTS))
def test_truncated_delta(held: Held, where: str) -> None:
    data = _file(held.reg, 3)
    lay = layout(data)
    assert lay.sections["ALIA"][1] and lay.sections["DELS"][1]
    cut = _CUTS[where](lay)
    assert 0 <= cut < len(data)
    held.refuse(data[:cut], "snapshot_truncated")


def test_truncated_at_every_offset(tmp_path: Path) -> None:
    """The small golden full snapshot cut at each of its ~1000 offsets: always truncated."""
    doc = golden.load()
    data = golden.file_bytes(doc, "full")
    key = demo_key(doc["key_seed"])
    check = key_checker(key.public_key())
    store = SnapshotStore(tmp_path / "g.sqlite3")
    store.import_stream(io.BytesIO(small_full(key, sequence=3)), check)
    enps = [r["enp"] for r in doc["full"]["records"]] + ["5000000000000001"]
    before = served(store, enps, [(AliasKind.TEMP_CERT, "123456789")])
    codes = {}
    for cut in range(len(data)):
        try:
            store.import_stream(io.BytesIO(data[:cut]), check)
        except SnapshotRefused as exc:
            codes[cut] = exc.code
    assert set(codes) == set(range(len(data)))
    assert {c for c in codes.values()} == {"snapshot_truncated"}
    assert served(store, enps, [(AliasKind.TEMP_CERT, "123456789")]) == before
    assert stage_tables(store.path) == []
    store.import_stream(io.BytesIO(data), check)  # and the whole file goes in
    assert store.info().sequence == 7


# --- structure ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "magic", [b"OMSSNAP\x02", b"omssnap\x01", b"\x00" * 8, b"PK\x03\x04\x14\x00\x00\x00"]
)
def test_wrong_magic(held: Held, magic: bytes) -> None:
    held.refuse(magic + _file(held.reg, 3)[8:], "snapshot_magic")


def test_not_a_snapshot_at_all(held: Held) -> None:
    held.refuse((held.reg.gen.out_dir / "persons.csv").read_bytes(), "snapshot_magic")


def test_unsupported_format_version(held: Held) -> None:
    data = snapshot_bytes(
        key=demo_key(held.reg.seed),
        kind=SnapshotKind.DELTA,
        sequence=3,
        base=2,
        records=_other_records(),
        format_version=2,
    )
    held.refuse(data, "snapshot_version")


def test_header_length_over_the_limit(held: Held) -> None:
    data = _file(held.reg, 3)
    held.refuse(data[:8] + struct.pack(">I", 64 * 1024 + 1) + data[12:], "bad_snapshot")


def test_header_that_is_not_json(held: Held) -> None:
    data = _file(held.reg, 3)
    lay = layout(data)
    junk = b"{" * (lay.header_end - lay.header_start)
    held.refuse(data[: lay.header_start] + junk + data[lay.header_end :], "bad_snapshot")


@pytest.mark.parametrize(
    ("counts", "why"),
    [
        ({"RECS": 4, "ALIA": 0, "DELS": 0, "REVP": 0, "REVK": 0}, "more records announced"),
        ({"RECS": 2, "ALIA": 0, "DELS": 0, "REVP": 0, "REVK": 0}, "fewer records announced"),
        ({"RECS": 3, "ALIA": 1, "DELS": 0, "REVP": 0, "REVK": 0}, "aliases announced"),
        ({"RECS": 3, "ALIA": 0, "DELS": 0, "REVP": 0}, "a section missing from counts"),
        ({"RECS": 3, "ALIA": 0, "DELS": 0, "REVP": 0, "REVK": 0, "XTRA": 2}, "unknown section"),
    ],
)
def test_header_counts_that_do_not_match_the_sections(
    held: Held, counts: dict[str, int], why: str
) -> None:
    """Signed by the real key: the refusal comes from the structure, not the signature."""
    data = snapshot_bytes(
        key=demo_key(held.reg.seed),
        kind=SnapshotKind.DELTA,
        sequence=3,
        base=2,
        records=_other_records(3),
        counts=counts,
    )
    held.refuse(data, "bad_snapshot")


def test_header_announces_a_section_the_file_lacks(held: Held) -> None:
    key = demo_key(held.reg.seed)
    data = snapshot_bytes(
        key=key,
        kind=SnapshotKind.DELTA,
        sequence=3,
        base=2,
        records=_other_records(),
        revoked_keys=["ab" * 16],
    )
    lay = layout(data)
    without_revk = data[: lay.sections["REVK"][0]] + data[lay.end :]  # header still says REVK 1
    held.refuse(without_revk, "bad_snapshot")


def test_duplicate_enp_in_a_snapshot(held: Held) -> None:
    recs = _other_records(2)
    data = snapshot_bytes(
        key=demo_key(held.reg.seed),
        kind=SnapshotKind.DELTA,
        sequence=3,
        base=2,
        records=[*recs, recs[0]],
    )
    held.refuse(data, "bad_snapshot")


@pytest.mark.parametrize("garbage", [b"\x00", b"\n", b"SIG1" + b"\x00" * 66, bytes(4096)])
def test_trailing_garbage(held: Held, garbage: bytes) -> None:
    held.refuse(_file(held.reg, 3) + garbage, "bad_snapshot")


def test_unreadable_file(held: Held, tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused) as err:
        held.store.import_file(tmp_path / "no-such.omssnap", held.reg.check)
    assert err.value.code == "snapshot_io"
    held.assert_intact()


# --- region -------------------------------------------------------------------------------------


def test_store_configured_for_another_region(small_register: Register, db: Path) -> None:
    store = SnapshotStore(db)
    with pytest.raises(SnapshotRefused) as err:
        store.import_file(small_register.gen.files[0], small_register.check, region="77")
    assert err.value.code == "snapshot_region"
    assert not store.info().present
    assert stage_tables(db) == []


def test_snapshot_of_another_region_than_the_held_one(held: Held) -> None:
    key = demo_key(held.reg.seed)
    full = snapshot_bytes(key=key, sequence=9, region="77", records=_other_records())
    held.refuse(full, "snapshot_region")
    delta = snapshot_bytes(
        key=key, kind=SnapshotKind.DELTA, sequence=3, base=2, region="77", records=_other_records()
    )
    held.refuse(delta, "snapshot_region")


def test_configured_region_matching_the_file_is_accepted(held: Held) -> None:
    held.store.import_stream(io.BytesIO(_file(held.reg, 3)), held.reg.check, region="50")
    assert held.store.info().sequence == 3


# --- several refusals in a row leave the store usable ------------------------------------------


def test_store_still_imports_after_a_run_of_refusals(held: Held) -> None:
    data = _file(held.reg, 3)
    lay = layout(data)
    held.refuse(data[: lay.end], "snapshot_truncated")
    held.refuse(_flip(data, lay.records_of("RECS") + 1), "snapshot_signature")
    held.refuse(data + b"!", "bad_snapshot")
    res = held.store.import_stream(io.BytesIO(data), held.reg.check)
    assert res.sequence == 3
    res = held.store.import_stream(io.BytesIO(_file(held.reg, 4)), held.reg.check)
    assert res.sequence == 4
    assert held.store.info().records == len(held.reg.live)


# --- hostile headers: typed refusals naming the field (issue 10, finding 8) --------------------


def _resigned(reg: Register, mutate: Callable[[dict[str, Any]], object], seq: int = 3) -> bytes:
    """The real delta ``seq`` with its header changed by ``mutate`` and signed again with the
    register's real key: a refusal can only come from the header, never from the signature."""
    data = _file(reg, seq)
    lay = layout(data)
    doc = json.loads(data[lay.header_start : lay.header_end])
    replaced = mutate(doc)
    head = (
        replaced
        if isinstance(replaced, bytes)
        else json.dumps(replaced if replaced is not None else doc).encode()
    )
    body = data[:8] + struct.pack(">I", len(head)) + head + data[lay.header_end : lay.sig]
    sig = sign_digest(demo_key(reg.seed), hashes.digest(HASH_NAME, body))
    return body + SIG_MAGIC + struct.pack(">H", len(sig)) + sig


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def mutate(doc: dict[str, Any]) -> None:
        for p in parents:
            doc = doc[p]
        doc[last] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def mutate(doc: dict[str, Any]) -> None:
        for p in parents:
            doc = doc[p]
        del doc[last]

    return mutate


HOSTILE_HEADERS: dict[str, tuple[Callable[[dict[str, Any]], object], str, str]] = {
    # case: (mutation, code, text the message must hold: the field it is about)
    "nested": (lambda _d: b"[" * 8000 + b"]" * 8000, "bad_snapshot", "nests deeper"),
    "nested_field": (
        lambda d: json.dumps(d).encode()[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "bad_snapshot",
        "nests deeper",
    ),
    "a_list": (lambda _d: [1, 2, 3], "bad_snapshot", "JSON object"),
    "sequence_string": (_set("sequence", "3"), "bad_snapshot", "sequence"),
    "sequence_float": (_set("sequence", 3.0), "bad_snapshot", "sequence"),
    "sequence_bool": (_set("sequence", True), "bad_snapshot", "sequence"),
    "sequence_negative": (_set("sequence", -1), "bad_snapshot", "sequence"),
    "sequence_over_sqlite": (_set("sequence", 2**64), "bad_snapshot", "sequence"),
    "base_sequence_bool": (_set("base_sequence", True), "bad_snapshot", "base_sequence"),
    "region_int": (_set("region", 50), "bad_snapshot", "region"),
    "key_id_int": (_set("key_id", 5), "bad_snapshot", "key_id"),
    "kind_unknown": (_set("kind", "partial"), "bad_snapshot", "kind"),
    "created_at_int": (_set("created_at", 5), "bad_snapshot", "created_at"),
    "created_at_garbage": (_set("created_at", "yesterday"), "bad_snapshot", "created_at"),
    "register_valid_until_int": (
        _set("parts.register.valid_until", 5),
        "bad_snapshot",
        "parts.register.valid_until",
    ),
    "revocations_valid_until_naive": (
        _set("parts.revocations.valid_until", "2030-01-01T00:00:00"),
        "bad_snapshot",
        "parts.revocations.valid_until",
    ),
    "parts_register_missing": (_drop("parts.register"), "bad_snapshot", "parts.register"),
    "parts_not_an_object": (_set("parts", "both"), "bad_snapshot", "parts"),
    "counts_a_list": (_set("counts", [3, 0]), "bad_snapshot", "counts"),
    "count_string": (
        lambda d: d["counts"].update(RECS=str(d["counts"]["RECS"])),  # the true count, quoted
        "bad_snapshot",
        "counts.RECS",
    ),
    "name_hash_string": (_set("name_hash", "hmac"), "bad_snapshot", "name_hash"),
    "name_hash_key_id_int": (_set("name_hash.key_id", 7), "bad_snapshot", "name_hash.key_id"),
    "format_version_bool": (_set("format_version", True), "snapshot_version", "version"),
}


@pytest.mark.parametrize("case", HOSTILE_HEADERS, ids=list(HOSTILE_HEADERS))
def test_hostile_header_is_a_typed_refusal_naming_the_field(held: Held, case: str) -> None:
    mutate, code, names = HOSTILE_HEADERS[case]
    err = held.refuse(_resigned(held.reg, mutate), code)
    assert names in err.message
    assert "Error(" not in err.message  # no Python exception repr for the operator


def test_resigned_header_helper_keeps_a_good_file_good(held: Held) -> None:
    """The control for the cases above: an unchanged header, re-signed, imports."""
    res = held.store.import_stream(io.BytesIO(_resigned(held.reg, lambda d: d)), held.reg.check)
    assert res.sequence == 3


ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "oms-verifier"


@pytest.mark.parametrize(
    "case", ["nested", "nested_field", "sequence_string", "sequence_over_sqlite"]
)
def test_cli_import_of_a_hostile_header_is_one_line_and_exit_2(
    held: Held, tmp_path: Path, case: str
) -> None:
    """A real ``oms-verifier snapshot import`` process: no traceback, ``error [code]``, exit 2."""
    assert CLI.is_file(), f"{CLI} is missing: the project's venv is not installed"
    mutate, code, _names = HOSTILE_HEADERS[case]
    snap = tmp_path / "full-000009.omssnap"
    snap.write_bytes(_resigned(held.reg, mutate))
    proc = subprocess.run(
        [str(CLI), "--state-dir", str(tmp_path / "state"), "snapshot", "import", str(snap)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"oms-verifier: error [{code}]: ")


@pytest.mark.parametrize("command", [["snapshot", "status"], ["lookup", "5056410834001235"]])
def test_a_corrupt_register_database_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    """Random bytes where register.sqlite3 should be: a typed refusal, never a traceback."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "register.sqlite3").write_bytes(bytes(range(256)) * 64)
    proc = subprocess.run(
        [str(CLI), "--state-dir", str(state), *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [proc.stderr.splitlines()[0]]
    assert proc.stderr.startswith("oms-verifier: error [store_unusable]: "), proc.stderr


def test_a_new_register_database_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    """ENPs and name hashes are personal data: never world-readable, even outside systemd."""
    old = os.umask(0o022)
    try:
        store = SnapshotStore(tmp_path / "register.sqlite3")
        store.info()
        store.close()
    finally:
        os.umask(old)
    for name in ("register.sqlite3", "register.sqlite3-wal", "register.sqlite3-shm"):
        path = tmp_path / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
