"""The emulator itself: proper status words for wrong commands, and the vpcd wire protocol
(against a fake vpcd socket, so this runs without pcscd)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.smartcard import goznak
from verifier.devkit.card_emulator import (
    OTHER_ATR,
    CardImage,
    EmulatorError,
    GoznakCardEmulator,
    VirtualCard,
    main,
)
from verifier.devkit.demo import card_dump_bytes

DUMP = card_dump_bytes()


def sw(resp: bytes) -> str:
    return resp[-2:].hex().upper()


@pytest.fixture
def emu() -> GoznakCardEmulator:
    return GoznakCardEmulator(CardImage.from_dump(DUMP))


def in_holder_ef(e: GoznakCardEmulator) -> None:
    for c in ("00A4040C09" + b"foms_root".hex(), "00A4040C07" + b"FOMS_ID".hex(), "00A4020C020201"):
        assert sw(e.transmit(bytes.fromhex(c))) == "9000"


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("00A4", "6700"),  # shorter than a header
        ("80A4040C09" + b"foms_root".hex(), "6E00"),  # CLA
        ("0012000000", "6D00"),  # INS
        ("00A4040C08" + b"foms_roo".hex(), "6A82"),  # no such DF
        ("00A4040C07" + b"FOMS_ID".hex(), "6A82"),  # FOMS_ID only inside foms_root
        ("00A4090C020201", "6A86"),  # P1
        ("00A4040C", "6700"),  # SELECT without data
        ("00A4040C0A" + b"foms_root".hex(), "6700"),  # Lc larger than the data
        ("00B0000001", "6986"),  # READ BINARY with no current EF
        ("00C0000005", "6985"),  # GET RESPONSE with nothing pending
        ("00CA01B002", "6A88"),  # GET DATA outside FOMS_INS
    ],
)
def test_wrong_commands_get_proper_status_words(
    emu: GoznakCardEmulator, command: str, status: str
) -> None:
    assert sw(emu.transmit(bytes.fromhex(command))) == status


def test_read_binary_edge_cases(emu: GoznakCardEmulator) -> None:
    in_holder_ef(emu)
    assert sw(emu.transmit(bytes.fromhex("00B0000001"))) == "9000"
    assert sw(emu.transmit(bytes.fromhex("00B07F0001"))) == "6B00"  # offset past the end
    assert sw(emu.transmit(bytes.fromhex("00B0810001"))) == "6A81"  # short EF id
    assert sw(emu.transmit(bytes.fromhex("00B00000"))) == "6700"  # no Le
    assert emu.transmit(bytes.fromhex("00B0000000"))[-2] == 0x6C  # Le=256 past the end


def test_select_with_fci_goes_through_get_response(emu: GoznakCardEmulator) -> None:
    r = emu.transmit(bytes.fromhex("00A40400") + bytes([9]) + b"foms_root")
    assert r[0] == 0x61
    fci = emu.transmit(bytes.fromhex("00C00000") + r[1:2])
    assert fci[-2:] == b"\x90\x00" and fci[0] == 0x6F


def test_get_response_wrong_le_gets_6c(emu: GoznakCardEmulator) -> None:
    r = emu.transmit(bytes.fromhex("00A40400") + bytes([9]) + b"foms_root")
    assert sw(emu.transmit(bytes.fromhex("00C00000FF"))) == f"6C{r[1]:02X}"


def test_image_from_bad_dump() -> None:
    with pytest.raises(EmulatorError):
        CardImage.from_dump(b"\x62\x05\x00")
    with pytest.raises(EmulatorError):
        CardImage.from_dump(DUMP[len(DUMP) // 2 :][:0] + b"\x64\x00")
    assert CardImage.from_dump(DUMP).dump == DUMP


def test_unknown_card_has_no_oms_files() -> None:
    e = GoznakCardEmulator(CardImage.unknown())
    assert e.atr == OTHER_ATR
    assert sw(e.transmit(bytes.fromhex("00A4040C09") + b"foms_root")) == "6A82"


# --- vpcd wire protocol -------------------------------------------------------------------


class FakeVpcd:
    """Just enough of vpcd's side: accept one card, then exchange framed messages."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.conn.settimeout(5)
        self._accepted.set()

    def send(self, payload: bytes) -> None:
        assert self._accepted.wait(5) and self.conn is not None
        self.conn.sendall(struct.pack(">H", len(payload)) + payload)

    def recv(self) -> bytes | None:
        assert self.conn is not None
        head = self.conn.recv(2)
        if len(head) < 2:
            return None
        (n,) = struct.unpack(">H", head)
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.server.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    v = FakeVpcd()
    yield v
    v.close()


def test_vpcd_protocol_atr_power_and_apdus(vpcd: FakeVpcd) -> None:
    card = VirtualCard(GoznakCardEmulator(CardImage.from_dump(DUMP)), port=vpcd.port)
    card.insert(timeout=5)
    try:
        assert card.inserted
        vpcd.send(b"\x01")  # power on: no answer
        vpcd.send(b"\x04")  # get ATR
        assert vpcd.recv() == goznak.GOZNAK_ATR
        vpcd.send(bytes.fromhex("00A4040C09") + b"foms_root")
        assert vpcd.recv() == b"\x90\x00"
        vpcd.send(b"\x02")  # reset: no answer, state back to MF
        vpcd.send(bytes.fromhex("00A4040C07") + b"FOMS_ID")
        assert vpcd.recv() == b"\x6a\x82"
        assert card.served == 2
    finally:
        card.remove()
    assert not card.inserted


def test_vpcd_pull_after_drops_the_connection(vpcd: FakeVpcd) -> None:
    card = VirtualCard(GoznakCardEmulator(CardImage.from_dump(DUMP)), port=vpcd.port, pull_after=1)
    card.insert(timeout=5)
    try:
        vpcd.send(bytes.fromhex("00A4040C09") + b"foms_root")
        assert vpcd.recv() == b"\x90\x00"
        vpcd.send(bytes.fromhex("00A4040C07") + b"FOMS_ID")
        assert vpcd.recv() is None  # connection dropped, APDU unanswered
        assert card.wait_pulled(5)
    finally:
        card.remove()


def test_cli_reports_unreachable_vpcd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dump = tmp_path / "card.hex"
    dump.write_text(DUMP.hex())
    # nothing listens on that port; insert() retries until its timeout → exit 1
    import verifier.devkit.card_emulator as em

    orig = em.VirtualCard.insert
    em.VirtualCard.insert = lambda self, timeout=0.2: orig(self, 0.2)  # type: ignore[method-assign]
    try:
        assert main(["--port", str(port), "--dump", str(dump)]) == 1
    finally:
        em.VirtualCard.insert = orig  # type: ignore[method-assign]
    assert "cannot reach vpcd" in capsys.readouterr().err
    assert main(["--dump", str(tmp_path / "missing.bin")]) == 2
