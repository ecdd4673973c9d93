"""Hand-made hostile PDFs (hostile files are crafted by nature; each is a valid-looking PDF)."""

from __future__ import annotations

import zlib

from verifier.devkit.documents import assemble_pdf as _assemble


def _stream(dict_extra: bytes, data: bytes) -> bytes:
    return b"<< /Length %d %s >>\nstream\n" % (len(data), dict_extra) + data + b"\nendstream"


def simple(
    media_box: bytes = b"[0 0 595 842]", content: bytes = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET"
) -> bytes:
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox %s /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>" % media_box,
            _stream(b"", content),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def many_pages(count: int) -> bytes:
    """One page object listed ``count`` times in the page tree."""
    kids = b" ".join(b"3 0 R" for _ in range(count))
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


def huge_media_box() -> bytes:
    return simple(media_box=b"[0 0 9000000 9000000]")


def deep_nesting(depth: int = 200_000) -> bytes:
    return simple(content=b"[" * depth + b"]" * depth)


def deep_dict_nesting(depth: int = 100_000) -> bytes:
    nested = b"<< /A " * depth + b"1" + b" >>" * depth
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R /X %s >>" % nested,
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        ]
    )


def zip_bomb(inflated: int = 512 * 1024 * 1024) -> bytes:
    """A page content stream of ~1-2 MiB that inflates to ``inflated`` bytes of spaces."""
    comp = zlib.compressobj(9)
    chunk = b" " * (1024 * 1024)
    parts = [comp.compress(chunk) for _ in range(inflated // len(chunk))]
    parts.append(comp.flush())
    data = b"".join(parts)
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            _stream(b"/Filter /FlateDecode", data),
        ]
    )


def escaped_filter_bomb(inflated: int = 512 * 1024 * 1024) -> bytes:
    """The same bomb with its filter name written with #xx escapes (/Fl#61teDecode)."""
    return zip_bomb(inflated).replace(b"/Filter /FlateDecode", b"/Filter /Fl#61teDecode")


def huge_image() -> bytes:
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
            _stream(b"", b"q 595 0 0 842 0 0 cm /Im1 Do Q"),
            _stream(
                b"/Type /XObject /Subtype /Image /Width 200000 /Height 200000 "
                b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode",
                zlib.compress(b"\x00" * 1024),
            ),
        ]
    )


def lzw_stream() -> bytes:
    return _assemble(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            _stream(b"/Filter /LZWDecode", b"\x80\x0b\x60\x50\x22\x0c\x0c\x85\x01"),
        ]
    )
