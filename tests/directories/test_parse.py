"""Parsing F002, F003 and F032 as published (windows-1251, <packet>, optional <zglv>), and
refusing hostile XML with stable codes, bounded in memory and time."""

from __future__ import annotations

import os
import threading
from datetime import date
from pathlib import Path

import pytest

from tests.directories.helpers import F002, F003, F032, ins, packet, zap
from verifier.directories import (
    DirectoryError,
    DirectoryFormat,
    DirectoryKind,
    parse_directory,
)


def test_f002_sample_windows_1251_with_zglv_and_both_ogrn_spellings() -> None:
    raw = F002.read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="windows-1251"?>')
    assert "СОГАЗ".encode("cp1251") in raw  # really single-byte Cyrillic, not UTF-8
    assert b"<ogrn>" in raw and b"<Ogrn>" in raw and b"<zglv>" in raw
    d = parse_directory(F002)
    assert d.format is DirectoryFormat.F002 and d.kind is DirectoryKind.INSURERS
    assert d.file_date == date(2024, 3, 15) and d.version == "2.1"
    assert d.source == "F002_sample.xml"
    by_key = {(i.ogrn, i.okato): i for i in d.insurers}
    assert set(by_key) == {
        ("1027739008440", "45000"),
        ("1027739008440", "46000"),  # this branch spells <ogrn>
        ("1028601441274", "46000"),
        ("1035000700911", "46000"),
    }
    head = by_key["1027739008440", "45000"]
    assert head.name == 'АО "СОГАЗ-Мед"'
    assert head.full_name == 'Акционерное общество "Страховая компания "СОГАЗ-Мед"'
    assert head.smocod == "77013" and head.head_office is True and head.excluded_on is None
    branch = by_key["1027739008440", "46000"]
    assert branch.head_office is False and branch.name == 'Московский филиал АО "СОГАЗ-Мед"'
    # No short name: the full one stands in; insInclude/d_end is kept.
    gone = by_key["1035000700911", "46000"]
    assert gone.name == gone.full_name
    assert gone.name.startswith("Общество с ограниченной ответственностью")
    assert gone.excluded_on == date(2019, 12, 31)


def test_f003_sample() -> None:
    d = parse_directory(F003)
    assert d.format is DirectoryFormat.F003 and d.kind is DirectoryKind.CLINICS
    assert d.file_date == date(2024, 3, 1)
    by_code = {c.code: c for c in d.clinics}
    assert set(by_code) == {"500103", "508940", "501200"}
    c = by_code["500103"]
    assert c.name == 'ГБУЗ МО "Подольская городская поликлиника № 3"'
    assert c.full_name.startswith("Государственное бюджетное учреждение здравоохранения")
    assert c.okato == "46000" and c.ogrn == "1025004700000"
    assert by_code["508940"].ogrn == "1035009550000"  # spelled <ogrn>
    assert by_code["501200"].excluded_on == date(2021, 12, 31)


def test_f032_flat_records_header_date_and_no_mcod_skipped() -> None:
    d = parse_directory(F032)
    assert d.format is DirectoryFormat.F032 and d.kind is DirectoryKind.CLINICS
    assert d.file_date == date(2024, 5, 20) and d.version == "3.7"  # from <zglv>
    assert {c.code for c in d.clinics} == {"500103", "508940"}
    assert d.skipped == 1  # an organisation outside OMS: no MCOD
    c = next(c for c in d.clinics if c.code == "500103")
    assert c.name == 'ГБУЗ МО "Подольская ГКБ"' and c.ogrn == "1025004700000"


def test_utf8_file_and_whitespace_in_names() -> None:
    body = zap(short='ГБУЗ МО\n      "Поликлиника   № 1"')
    d = parse_directory(packet(body, encoding="utf-8"))
    assert d.clinics[0].name == 'ГБУЗ МО "Поликлиника № 1"'


def test_duplicate_keys_keep_the_record_still_in_the_register() -> None:
    old = (
        "<medCompany><mcod>500103</mcod><nam_mok>Старая</nam_mok>"
        "<medInclude><d_end>01.01.2020</d_end></medInclude></medCompany>"
    )
    new = "<medCompany><mcod>500103</mcod><nam_mok>Новая</nam_mok></medCompany>"
    assert parse_directory(packet(old + new)).clinics[0].name == "Новая"
    assert parse_directory(packet(new + old)).clinics[0].name == "Новая"


def _code(data: bytes, **kw: int) -> str:
    with pytest.raises(DirectoryError) as info:
        parse_directory(data, **kw)
    return info.value.code


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE packet [\n <!ENTITY a "laughlaughlaughlaugh">\n'
    + b"".join(
        f' <!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">\n'.encode() for i in range(9)
    )
    + b"]>\n<packet><zap><MCOD>500103</MCOD><NAM_MOK>&j;</NAM_MOK></zap></packet>\n"
)


def test_billion_laughs_refused() -> None:
    assert _code(BILLION_LAUGHS) == "directory_dtd"


def test_external_entity_refused_and_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE packet [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<packet><zap><MCOD>500103</MCOD><NAM_MOK>&x;</NAM_MOK></zap></packet>"
    ).encode()
    with pytest.raises(DirectoryError) as info:
        parse_directory(xxe)
    assert info.value.code == "directory_dtd"
    assert "TOPSECRET" not in info.value.message


def test_dtd_in_utf16_is_refused_too() -> None:
    """The byte scan of the prolog does not see UTF-16; the parsed document info does."""
    text = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE packet [<!ENTITY x "y">]>'
        "<packet><zap><MCOD>500103</MCOD><NAM_MOK>&x;</NAM_MOK></zap></packet>"
    )
    assert _code(text.encode("utf-16")) == "directory_dtd"
    assert _code(b'<!DOCTYPE packet SYSTEM "http://example.invalid/x.dtd"><packet/>') == (
        "directory_dtd"
    )


def test_undeclared_entity_is_malformed_xml() -> None:
    assert _code(packet(zap(short="&x;"))) == "directory_xml"


def test_too_large_bytes_and_file(tmp_path: Path) -> None:
    big = packet(zap() + " " * 300_000)
    assert _code(big, max_bytes=100_000) == "directory_too_large"
    f = tmp_path / "F003.xml"
    f.write_bytes(big)
    with pytest.raises(DirectoryError) as info:
        parse_directory(f, max_bytes=100_000)
    assert info.value.code == "directory_too_large"


def test_endless_stream_stops_at_the_cap(tmp_path: Path) -> None:
    """A FIFO has no size to check up front: the reader counts what it reads."""
    fifo = tmp_path / "endless.xml"
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:
        try:
            with open(fifo, "wb") as w:
                w.write(b"<packet>")
                while not stop.is_set():
                    w.write(b" " * 65536)
        except BrokenPipeError:
            pass

    t = threading.Thread(target=feed, daemon=True)
    t.start()
    try:
        with pytest.raises(DirectoryError) as info:
            parse_directory(fifo, max_bytes=2 * 1024 * 1024)
        assert info.value.code == "directory_too_large"
    finally:
        stop.set()
        t.join(timeout=10)
    assert not t.is_alive()


def test_too_many_records() -> None:
    body = "".join(zap(mcod=f"50{i:04d}") for i in range(20))
    assert _code(packet(body), max_records=10) == "directory_too_many"
    assert len(parse_directory(packet(body), max_records=20).clinics) == 20


def test_deep_nesting_and_long_field_refused() -> None:
    deep = "<zap>" + "<a>" * 400 + "</a>" * 400 + "</zap>"
    assert _code(packet(deep)) == "directory_xml"
    assert _code(packet(zap(short="Я" * 5000))) == "directory_field"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "directory_xml"),
        (b"<packet><zap>", "directory_xml"),
        (b"\x00\x01\x02garbage", "directory_xml"),
        (b"<foo><zap/></foo>", "directory_format"),
        (packet("<TFOMS><tf_kod>50</tf_kod></TFOMS>"), "directory_format"),  # F001
        (packet(zap() + ins()), "directory_format"),
        (packet(""), "directory_empty"),
        (packet(zap(mcod="")), "directory_empty"),
        (packet(zap(mcod="50010")), "directory_field"),
        (packet(zap(mcod="50010X")), "directory_field"),
        (packet("<zap><MCOD>500103</MCOD></zap>"), "directory_field"),  # no name
        (packet(ins(ogrn="102773900844")), "directory_field"),
        (packet(ins(okato="")), "directory_field"),
        (
            packet("<insCompany><tf_okato>46000</tf_okato><nam_smok>x</nam_smok></insCompany>"),
            "directory_field",
        ),  # no ОГРН
        (packet(zap(), date="2024-02-01"), "directory_field"),
        (packet(zap(), date="31.02.2024"), "directory_field"),
        (
            '<?xml version="1.0" encoding="utf-8"?><packet><zap><MCOD>500103</MCOD>'
            "<NAM_MOK>Поликлиника</NAM_MOK></zap></packet>".encode("cp1251"),
            "directory_encoding",
        ),
        (b'<?xml version="1.0" encoding="x-klingon"?><packet/>', "directory_encoding"),
    ],
)
def test_malformed_files_refused_with_codes(data: bytes, code: str) -> None:
    assert _code(data) == code


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError) as info:
        parse_directory(tmp_path / "missing.xml")
    assert info.value.code == "bad_file"


def test_error_names_the_record_and_line() -> None:
    body = zap() + "\n" + zap(mcod="12")
    with pytest.raises(DirectoryError) as info:
        parse_directory(packet(body))
    assert "запись 2" in info.value.message and "строка 3" in info.value.message
