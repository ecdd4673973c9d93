"""The pure APDU layer: encodings, response parsing, the T=0 61xx/6Cxx loop, typed errors."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from drivers.smartcard import apdu
from drivers.smartcard.apdu import Command


class Script:
    """A transmit function that answers from a list and records what it was sent."""

    def __init__(self, answers: Iterable[bytes]) -> None:
        self.answers = list(answers)
        self.sent: list[bytes] = []

    def __call__(self, command: bytes) -> bytes:
        self.sent.append(command)
        return self.answers.pop(0)


def test_reference_command_encodings() -> None:
    assert apdu.select_name("foms_root").encode() == bytes.fromhex("00A4040C09") + b"foms_root"
    assert apdu.select_name(b"FOMS_ID").encode() == bytes.fromhex("00A4040C07") + b"FOMS_ID"
    assert apdu.select_file_id(0x0201).encode() == bytes.fromhex("00A4020C020201")
    assert apdu.select_file_id(b"\x03\x01").encode() == bytes.fromhex("00A4020C020301")
    assert apdu.read_binary(0x0123, 220).encode() == bytes.fromhex("00B00123DC")
    assert apdu.get_data(0x01, 0xB0, 2).encode() == bytes.fromhex("00CA01B002")
    assert apdu.get_response(256).encode() == bytes.fromhex("00C0000000")
    assert apdu.select_aid is apdu.select_name
    assert str(apdu.get_data(1, 0xB0, 2)) == "00 CA 01 B0 02"


@pytest.mark.parametrize(
    "make",
    [
        lambda: apdu.read_binary(0x8000, 1),
        lambda: apdu.read_binary(-1, 1),
        lambda: apdu.read_binary(0, 0),
        lambda: apdu.read_binary(0, 257),
        lambda: apdu.select_name(b""),
        lambda: apdu.select_name(b"x" * 17),
        lambda: apdu.select_file_id(0x10000),
        lambda: apdu.select_file_id(b"\x01"),
        lambda: Command(0x100, 0, 0, 0),
        lambda: Command(0, 0, 0, 0, b"x" * 256),
    ],
)
def test_commands_that_do_not_fit_are_typed_errors(make: object) -> None:
    with pytest.raises(apdu.BadCommand) as exc:
        make().encode()  # type: ignore[operator]
    assert exc.value.code == "card_bad_command"


def test_parse_response() -> None:
    r = apdu.parse_response(bytes.fromhex("0102039000"))
    assert (r.data, r.sw, r.ok) == (b"\x01\x02\x03", 0x9000, True)
    assert str(r) == "010203 9000"
    for raw in (b"", b"\x90"):
        with pytest.raises(apdu.TruncatedResponse) as exc:
            apdu.parse_response(raw)
        assert exc.value.code == "card_truncated_response"


@pytest.mark.parametrize(
    ("sw", "cls", "code"),
    [
        (0x6A82, apdu.FileNotFound, "card_file_not_found"),
        (0x6A88, apdu.FileNotFound, "card_file_not_found"),
        (0x6700, apdu.WrongLength, "card_wrong_length"),
        (0x6C10, apdu.WrongLength, "card_wrong_length"),
        (0x6982, apdu.SecurityStatus, "card_security_status"),
        (0x6985, apdu.SecurityStatus, "card_security_status"),
        (0x6A86, apdu.WrongParameters, "card_wrong_parameters"),
        (0x6B00, apdu.WrongParameters, "card_wrong_parameters"),
        (0x6D00, apdu.NotSupported, "card_not_supported"),
        (0x6E00, apdu.NotSupported, "card_not_supported"),
        (0x6F00, apdu.UnknownStatus, "card_unknown_status"),
        (0x1234, apdu.UnknownStatus, "card_unknown_status"),
    ],
)
def test_status_words_map_to_stable_codes(sw: int, cls: type, code: str) -> None:
    err = apdu.status_error(sw, "what")
    assert isinstance(err, cls) and isinstance(err, apdu.CardError)
    assert err.code == code and err.sw == sw
    assert f"{sw:04X}" in err.message
    with pytest.raises(cls):
        apdu.Response(b"", sw >> 8, sw & 0xFF).check()


def test_plain_answer_needs_one_exchange() -> None:
    t = Script([bytes.fromhex("AABB9000")])
    assert apdu.exchange(t, apdu.get_data(1, 0xB0, 2)) == b"\xaa\xbb"
    assert len(t.sent) == 1


def test_61xx_is_resolved_with_chained_get_response() -> None:
    t = Script([bytes.fromhex("6105"), bytes.fromhex("0102036102"), bytes.fromhex("04059000")])
    r = apdu.transceive(t, apdu.select_name("foms_root", p2=0x00))
    assert r.ok and r.data == bytes.fromhex("0102030405")
    assert t.sent[1:] == [bytes.fromhex("00C0000005"), bytes.fromhex("00C0000002")]


def test_6100_means_256_bytes() -> None:
    t = Script([bytes.fromhex("6100"), bytes(256) + b"\x90\x00"])
    assert len(apdu.exchange(t, apdu.read_binary(0, 256))) == 256
    assert t.sent[1] == bytes.fromhex("00C0000000")


def test_6cxx_resends_the_same_command_with_the_right_le() -> None:
    t = Script([bytes.fromhex("6C03"), bytes.fromhex("0A0B0C9000")])
    assert apdu.exchange(t, apdu.read_binary(0x10, 200)) == b"\x0a\x0b\x0c"
    assert t.sent == [bytes.fromhex("00B00010C8"), bytes.fromhex("00B0001003")]


def test_6cxx_inside_a_get_response_chain() -> None:
    t = Script([bytes.fromhex("6104"), bytes.fromhex("6C02"), bytes.fromhex("01029000")])
    r = apdu.transceive(t, apdu.get_data(1, 0xB0, 2))
    assert r.data == b"\x01\x02"
    assert t.sent[2] == bytes.fromhex("00C0000002")


def test_6cxx_asking_for_the_same_le_is_an_error_not_a_loop() -> None:
    t = Script([bytes.fromhex("6C02")])
    with pytest.raises(apdu.WrongLength):
        apdu.transceive(t, apdu.get_data(1, 0xB0, 2))


def test_endless_61xx_is_bounded() -> None:
    t = Script([bytes.fromhex("0161FF")] * (apdu.MAX_EXCHANGES + 1))
    with pytest.raises(apdu.ProtocolLoop) as exc:
        apdu.transceive(t, apdu.read_binary(0, 1))
    assert exc.value.code == "card_protocol_loop"
    assert len(t.sent) == apdu.MAX_EXCHANGES


def test_endless_empty_61xx_stalls_out_quickly() -> None:
    t = Script([bytes.fromhex("6105")] * 100)
    with pytest.raises(apdu.ProtocolLoop):
        apdu.transceive(t, apdu.read_binary(0, 5))
    assert len(t.sent) == apdu.MAX_STALLS + 1


def test_long_legit_chain_of_one_byte_pieces() -> None:
    t = Script([b"\x61\x01"] + [b"\x07\x61\x01"] * 299 + [b"\x07\x90\x00"])
    assert apdu.exchange(t, apdu.read_binary(0, 1)) == b"\x07" * 300


def test_alternating_6cxx_is_bounded() -> None:
    t = Script([bytes.fromhex("6C01"), bytes.fromhex("6C02")] * 50)
    with pytest.raises(apdu.ProtocolLoop):
        apdu.transceive(t, apdu.read_binary(0, 3))


def test_chained_data_is_size_bounded() -> None:
    t = Script([bytes(255) + b"\x61\x00"] * 400)
    with pytest.raises(apdu.ProtocolLoop):
        apdu.transceive(t, apdu.read_binary(0, 1), max_exchanges=1000)
    assert len(t.sent) < 400


def test_truncated_answer_in_a_chain() -> None:
    t = Script([bytes.fromhex("6105"), b"\x01"])
    with pytest.raises(apdu.TruncatedResponse):
        apdu.transceive(t, apdu.read_binary(0, 5))


def test_errors_after_61xx_keep_their_status() -> None:
    t = Script([bytes.fromhex("6105"), bytes.fromhex("6A82")])
    with pytest.raises(apdu.FileNotFound):
        apdu.exchange(t, apdu.select_name("foms_root"))
