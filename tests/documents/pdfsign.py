"""Test helper: put a CMS signature made by another tool into a PDF made by another tool.

The base PDF comes from ghostscript/img2pdf, normalised by ``qpdf --qdf`` (classic xref
table); this helper only appends an incremental update with a signature field and a
zero-filled /Contents placeholder, as any PDF signer does, and hands the /ByteRange bytes to
``sign`` (which runs ``openssl cms -sign``). No GOST-capable PDF signer ships in Debian.
"""

from __future__ import annotations

import re
from collections.abc import Callable

PLACEHOLDER_BYTES = 8192


def _catalog(pdf: bytes) -> tuple[int, bytes]:
    trailer = pdf[pdf.rindex(b"trailer") :]
    m = re.search(rb"/Root\s+(\d+)\s+0\s+R", trailer)
    assert m, "no /Root in trailer"
    num = int(m.group(1))
    obj = re.search(rb"(?s)\n%d 0 obj\s*(<<.*?>>)\s*endobj" % num, pdf)
    assert obj, "catalog object not found"
    return num, obj.group(1)


def _first_page(pdf: bytes) -> int:
    for m in re.finditer(rb"(?s)\n(\d+) 0 obj(.*?)endobj", pdf):
        if re.search(rb"/Type\s*/Page(?![s])", m.group(2)):
            return int(m.group(1))
    raise AssertionError("no page object")


def add_signature(
    pdf: bytes,
    sign: Callable[[bytes], bytes],
    *,
    sub_filter: bytes = b"adbe.pkcs7.detached",
) -> bytes:
    """Append a signature (incremental update); ``sign(signed_bytes) -> DER CMS``."""
    size = int(re.findall(rb"/Size\s+(\d+)", pdf)[-1])
    startxref = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    cat_num, cat_dict = _catalog(pdf)
    page = _first_page(pdf)
    sig_num, field_num = size, size + 1
    placeholder = b"0" * (2 * PLACEHOLDER_BYTES)
    br_slot = b"/ByteRange [0 0000000000 0000000000 0000000000]"
    body = bytearray(pdf if pdf.endswith(b"\n") else pdf + b"\n")
    offsets: dict[int, int] = {}

    offsets[sig_num] = len(body)
    body += (
        b"%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /%s " % (sig_num, sub_filter)
        + br_slot
        + b" /Contents <"
        + placeholder
        + b"> /M (D:20250101000000Z) >>\nendobj\n"
    )
    offsets[field_num] = len(body)
    body += (
        b"%d 0 obj\n<< /Type /Annot /Subtype /Widget /FT /Sig /T (Signature1) /F 132 "
        b"/Rect [0 0 0 0] /V %d 0 R /P %d 0 R >>\nendobj\n" % (field_num, sig_num, page)
    )
    new_cat = cat_dict[:-2] + b" /AcroForm << /Fields [%d 0 R] /SigFlags 3 >> >>" % field_num
    offsets[cat_num] = len(body)
    body += b"%d 0 obj\n%s\nendobj\n" % (cat_num, new_cat)
    xref_at = len(body)
    body += b"xref\n"
    for num in sorted(offsets):
        body += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    body += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 2,
        cat_num,
        startxref,
        xref_at,
    )
    out = bytes(body)
    lt = out.index(b"/Contents <", offsets[sig_num]) + len(b"/Contents ")
    gt = lt + 2 + len(placeholder)
    byte_range = (0, lt, gt, len(out) - gt)
    slot = b"/ByteRange [%d %010d %010d %010d]" % byte_range
    assert len(slot) == len(br_slot)
    out = out.replace(br_slot, slot, 1)
    signed = out[: byte_range[1]] + out[byte_range[2] :]
    cms = sign(signed)
    assert len(cms) <= PLACEHOLDER_BYTES, "CMS larger than the placeholder"
    hexed = cms.hex().encode().ljust(len(placeholder), b"0")
    return out[: lt + 1] + hexed + out[gt - 1 :]
