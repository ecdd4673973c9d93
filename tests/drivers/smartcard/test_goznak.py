"""The Goznak read sequence against the in-process emulator: byte-exact dumps, T=0 paths,
every error path, and fuzzing that only ever yields typed errors."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.smartcard import apdu, goznak
from drivers.smartcard.apdu import CardError, CardRemoved
from verifier.devkit.card_emulator import OTHER_ATR, CardImage, GoznakCardEmulator
from verifier.devkit.demo import card_dump_bytes, demo_issuer
from verifier.formats import goznak_card, tlv
from verifier.identifiers import Sex, make_enp

DUMP = card_dump_bytes()


def holder(**kw: object) -> goznak_card.CardHolder:
    base: dict[str, object] = {
        "surname": "Сидоров",
        "given_name": "Пётр",
        "patronymic": "Алексеевич",
        "birth_date": date(1975, 6, 30),
        "sex": Sex.MALE,
        "policy_number": make_enp("50", date(1975, 6, 30), Sex.MALE, 7),
        "snils": None,
        "expiry": None,
        "birthplace": "г. Тверь",
        "issued": date(2016, 4, 1),
    }
    base.update(kw)
    return goznak_card.CardHolder(**base)  # type: ignore[arg-type]


def big_dump(photo: int) -> bytes:
    """A holder template with a photo (7F40), so it spans many READ BINARY chunks."""
    inner = tlv.parse(goznak_card.encode_holder(holder()))[0].value
    photo_tlv = tlv.encode(0x7F40, tlv.encode(0x41, b"\x01") + tlv.encode(0x42, bytes(photo)))
    return tlv.encode(0x62, inner + photo_tlv) + DUMP[len(tlv.parse(DUMP)[0].raw) :]


def card(dump: bytes = DUMP, **kw: object) -> GoznakCardEmulator:
    return GoznakCardEmulator(CardImage.from_dump(dump), **kw)  # type: ignore[arg-type]


def read(c: GoznakCardEmulator, **kw: int) -> goznak.CardRead:
    return goznak.read_card(c.atr, c.transmit, **kw)


# --- happy paths --------------------------------------------------------------------------


def test_full_read_matches_the_dump_byte_for_byte() -> None:
    c = card()
    result = read(c)
    assert result.dump == DUMP
    assert result.insurer_file == 0x0301
    parsed = goznak_card.parse_dump(result.dump)
    assert parsed.holder.surname == "Петрова" and parsed.insurer is not None
    # the exact REFERENCE §4 sequence
    assert c.apdus[:3] == [
        bytes.fromhex("00A4040C09") + b"foms_root",
        bytes.fromhex("00A4040C07") + b"FOMS_ID",
        bytes.fromhex("00A4020C020201"),
    ]
    assert bytes.fromhex("00A4040C08") + b"FOMS_INS" in c.apdus
    assert bytes.fromhex("00CA01B002") in c.apdus
    assert bytes.fromhex("00A4020C020301") in c.apdus


def test_signed_demo_card_reads_back_exactly() -> None:
    dump = demo_issuer().card(holder())
    assert read(card(dump)).dump == dump


@pytest.mark.parametrize("photo", [100, 300, 4000])
@pytest.mark.parametrize("chunk", [1, 37, 220, 256])
def test_long_templates_are_read_in_chunks(photo: int, chunk: int) -> None:
    dump = big_dump(photo)
    c = card(dump)
    assert read(c, chunk=chunk).dump == dump
    reads = [a for a in c.apdus if a[1] == 0xB0]
    assert all(1 <= (a[4] or 256) <= chunk or a[4] == 1 for a in reads)


def test_read_chunks_never_exceed_220_bytes_by_default() -> None:
    c = card(big_dump(2000))
    read(c)
    assert max(a[4] for a in c.apdus if a[1] == 0xB0) == 220


@pytest.mark.parametrize("piece", [1, 5, 64, 256])
def test_t0_card_answering_everything_with_61xx(piece: int) -> None:
    dump = big_dump(600)
    c = card(dump, via_get_response=True, get_response_chunk=piece)
    assert read(c).dump == dump
    assert any(a[1] == 0xC0 for a in c.apdus)


def test_6cxx_from_the_card_is_resolved_by_resending() -> None:
    c = card()
    apdu.exchange(c.transmit, apdu.select_name(goznak.AID_ROOT))
    apdu.exchange(c.transmit, apdu.select_name(goznak.AID_ID))
    apdu.exchange(c.transmit, apdu.select_file_id(goznak.EF_HOLDER))
    holder_len = len(tlv.parse(DUMP)[0].raw)
    data = apdu.exchange(c.transmit, apdu.read_binary(0, 256))  # Le too long → 6Cxx → resend
    assert data == DUMP[:holder_len]
    assert c.apdus[-1] == bytes.fromhex("00B00000") + bytes([holder_len])


def test_card_with_6282_short_reads_instead_of_6c() -> None:
    c = card(strict_le=False)
    assert read(c).dump == DUMP


# --- ATR ----------------------------------------------------------------------------------


def test_goznak_atr_historical_bytes() -> None:
    assert goznak.historical_bytes(goznak.GOZNAK_ATR) == b"FOMSOMS"
    goznak.check_atr(goznak.GOZNAK_ATR)


@pytest.mark.parametrize(
    "atr",
    [
        OTHER_ATR,
        b"",
        b"\x3b",
        bytes.fromhex("3B00"),  # valid, no historical bytes
        bytes.fromhex("3BF71300008131FE45464F4D534F4D53"),  # TCK missing
        bytes.fromhex("3BF71300008131FE45464F4D534F4D53AA"),  # TCK wrong
        bytes.fromhex("3BF71300008131FE45464F4D534F4D"),  # truncated historical bytes
        bytes.fromhex("3BF7130000"),  # truncated interface bytes
        bytes.fromhex("3F0746524F4D534F4D53"),  # other historical bytes
        bytes.fromhex("12F71300008131FE45464F4D534F4D53A9"),  # bad TS
    ],
)
def test_other_or_broken_atr_is_unknown_card(atr: bytes) -> None:
    with pytest.raises(goznak.UnknownCard) as exc:
        goznak.check_atr(atr)
    assert exc.value.code == "card_unknown"


def test_unknown_card_gets_no_apdu() -> None:
    c = GoznakCardEmulator(CardImage.unknown())
    with pytest.raises(goznak.UnknownCard):
        read(c)
    assert c.apdus == []


# --- error paths --------------------------------------------------------------------------


def test_missing_holder_file() -> None:
    c = GoznakCardEmulator(CardImage(holder=None))
    with pytest.raises(apdu.FileNotFound) as exc:
        read(c)
    assert exc.value.sw == 0x6A82


def test_missing_current_insurer() -> None:
    c = GoznakCardEmulator(CardImage.from_dump(DUMP[: len(tlv.parse(DUMP)[0].raw)]))
    with pytest.raises(apdu.FileNotFound) as exc:
        read(c)
    assert exc.value.sw == 0x6A88


def test_insurer_record_id_pointing_nowhere() -> None:
    image = CardImage.from_dump(DUMP)
    image.current_insurer = 0x0999
    with pytest.raises(apdu.FileNotFound):
        read(GoznakCardEmulator(image))


@pytest.mark.parametrize(
    ("index", "answer", "error"),
    [
        (0, bytes.fromhex("6A82"), apdu.FileNotFound),  # SELECT foms_root
        (1, bytes.fromhex("6982"), apdu.SecurityStatus),  # SELECT FOMS_ID
        (2, bytes.fromhex("6A86"), apdu.WrongParameters),  # SELECT EF 0201
        (3, bytes.fromhex("6700"), apdu.WrongLength),  # first READ BINARY
        (3, bytes.fromhex("6F00"), apdu.UnknownStatus),
        (3, bytes.fromhex("9000"), goznak.CardFormatError),  # no data with 9000
        (3, bytes.fromhex("62629000"), goznak.CardFormatError),  # more than asked
        (3, bytes.fromhex("639000"), goznak.CardFormatError),  # wrong tag
        (4, bytes.fromhex("809000"), goznak.CardFormatError),  # indefinite length
        (4, bytes.fromhex("859000"), goznak.CardFormatError),  # 5-byte length form
        (4, b"\x90", apdu.TruncatedResponse),
        (4, b"", apdu.TruncatedResponse),
        (5, bytes.fromhex("6D00"), apdu.NotSupported),  # value chunk
        (6, bytes.fromhex("6A82"), apdu.FileNotFound),  # SELECT FOMS_INS
        (7, bytes.fromhex("0103059000"), goznak.CardFormatError),  # GET DATA: 3-byte file id
        (7, bytes.fromhex("6A88"), apdu.FileNotFound),
        (7, bytes.fromhex("61FF"), apdu.CardError),  # 61 then GET RESPONSE refused
        (8, bytes.fromhex("6A82"), apdu.FileNotFound),  # SELECT record
        (9, bytes.fromhex("629000"), goznak.CardFormatError),  # insurer file holds a 62
    ],
)
def test_every_step_fails_with_a_typed_error(
    index: int, answer: bytes, error: type[CardError]
) -> None:
    c = card(faults={index: answer})
    with pytest.raises(error) as exc:
        read(c)
    assert isinstance(exc.value, CardError) and exc.value.code.startswith("card_")


def _file_image(holder_raw: bytes) -> GoznakCardEmulator:
    image = CardImage.from_dump(DUMP)
    image.holder = holder_raw
    return GoznakCardEmulator(image)


def test_tlv_declaring_more_than_the_file_holds() -> None:
    raw = tlv.parse(DUMP)[0].raw
    lying = raw[:1] + bytes([raw[1] + 10]) + raw[2:]  # length byte says 10 more
    with pytest.raises((apdu.WrongParameters, goznak.CardFormatError)):
        read(_file_image(lying))


def test_garbage_inside_the_holder_template() -> None:
    garbage = tlv.encode(0x62, bytes.fromhex("5F21FF41"))  # child declares 255 bytes
    with pytest.raises(goznak.CardFormatError) as exc:
        read(_file_image(garbage))
    assert "garbage" in exc.value.message


def test_oversized_length_is_refused_before_reading_it() -> None:
    huge = bytes.fromhex("6283010000") + bytes(10)  # declares 65536 bytes
    c = _file_image(huge)
    with pytest.raises(goznak.CardFormatError):
        read(c)
    assert sum(1 for a in c.apdus if a[1] == 0xB0) == 5  # header bytes only


def test_card_pulled_mid_read() -> None:
    c = card()

    def transmit(command: bytes) -> bytes:
        if len(c.apdus) >= 5:
            raise CardRemoved("gone")
        return c.transmit(command)

    with pytest.raises(CardRemoved) as exc:
        goznak.read_card(c.atr, transmit)
    assert exc.value.code == "card_removed"


def test_bad_chunk_size() -> None:
    with pytest.raises(apdu.BadCommand):
        read(card(), chunk=0)


# --- fuzzing ------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_random_responses_only_give_typed_errors(answers: list[bytes]) -> None:
    queue = list(answers)

    def transmit(command: bytes) -> bytes:
        if not queue:
            raise CardRemoved("script exhausted")
        return queue.pop(0)

    try:
        result = goznak.read_card(goznak.GOZNAK_ATR, transmit)
    except CardError:
        return
    tlv.parse(result.dump)  # anything returned is at least well-formed TLV


@given(
    st.dictionaries(
        st.integers(0, 40),
        st.one_of(
            st.binary(max_size=8),
            st.sampled_from([b"\x61\x00", b"\x61\x05", b"\x6c\x00", b"\x6c\x01", b"\x90\x00"]),
        ),
        max_size=6,
    ),
    st.booleans(),
)
def test_random_faults_in_a_real_card_only_give_typed_errors(
    faults: dict[int, bytes], t0: bool
) -> None:
    c = card(faults=faults, via_get_response=t0, get_response_chunk=50)
    try:
        result = read(c)
    except CardError:
        return
    tlv.parse(result.dump)


@given(st.binary(max_size=400), st.binary(max_size=400))
def test_random_file_contents_only_give_typed_errors(h: bytes, i: bytes) -> None:
    image = CardImage(
        holder=b"\x62" + h, insurer_records={0x0301: b"\x64" + i}, current_insurer=0x0301
    )
    try:
        result = goznak.read_card(goznak.GOZNAK_ATR, GoznakCardEmulator(image).transmit)
    except CardError:
        return
    assert result.dump.startswith(b"\x62")


@given(st.binary(max_size=40))
def test_random_atr_is_accepted_or_unknown(atr: bytes) -> None:
    try:
        goznak.check_atr(atr)
    except goznak.UnknownCard:
        return
    assert goznak.historical_bytes(atr) == b"FOMSOMS"
