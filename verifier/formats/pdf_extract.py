"""The register extract as a PDF file: barcodes on its pages, the ENP in its text, its signature.

Why this shape: patients download «выписка из ЕРЗ» as a PDF and send or show it. What the
desk needs from it is (1) the barcode payloads (rendered pages, decoded by
:mod:`verifier.imaging`), (2) failing those, a check-digit-valid ENP in the text layer, and
(3) the CMS signature the file carries (a PDF signature dictionary: ``/ByteRange`` +
``/Contents``) or one given beside it (``.sig``/``.p7s``), verified by
:mod:`verifier.crypto.cms`. The ENP is looked up in the register either way: a signature
says who made the file, not that the policy is in force.

Hostile files: PDFium (via pypdfium2, wheels with no system dependency) is only handed a file
that passed a raw pre-scan, under :class:`PdfLimits`: file size, page count, page size,
render pixels, and every Flate stream inflated here first with an output cap (a zip bomb
is refused before PDFium would inflate it), image XObject dimensions, no LZW/RunLength
streams (which the pre-scan cannot bound cheaply). PDFium is not thread-safe: one lock.
"""

from __future__ import annotations

import ctypes
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]

from verifier.crypto.cms import CmsError, CmsVerification, SignerTrust, verify_cms
from verifier.errors import InputError, RecognitionError
from verifier.formats.digital import EnpClaim, extract_enp
from verifier.identifiers import enp_checksum_ok
from verifier.imaging import DecodedBarcode, try_decode_image

__all__ = [
    "PdfError",
    "PdfExtract",
    "PdfLimits",
    "PdfSignature",
    "analyze_pdf",
    "find_enp_in_text",
    "is_pdf",
]


class PdfError(InputError):
    """A PDF that is refused or cannot be read; ``code`` says why.

    Codes: ``pdf_malformed``, ``pdf_too_large``, ``pdf_too_many_pages``,
    ``pdf_page_too_large``, ``pdf_stream_too_large`` (a decompression bomb),
    ``pdf_image_too_large``, ``pdf_unsupported_filter``, ``pdf_encrypted``, ``pdf_busy``.
    """

    code = "pdf_malformed"


@dataclass(frozen=True)
class PdfLimits:
    """Caps for one PDF; defaults fit a one- or two-page register extract many times over."""

    max_bytes: int = 10 * 1024 * 1024
    max_pages: int = 20  # a document with more pages is refused whole
    render_pages: int = 4  # pages rendered for barcodes (the extract's barcode is on page 1)
    render_dpi: int = 200
    max_render_pixels: int = 12_000_000  # per page; the DPI is lowered to fit
    max_page_points: float = 14_400.0  # the PDF user-space limit (200 in), per side
    max_stream_bytes: int = 64 * 1024 * 1024  # inflated size of one stream
    max_total_stream_bytes: int = 256 * 1024 * 1024  # inflated size of all streams
    max_image_pixels: int = 60_000_000  # width*height of one image XObject
    max_text_chars: int = 200_000
    lock_timeout_s: float = 10.0


@dataclass(frozen=True)
class PdfSignature:
    """One CMS signature found for the file: embedded (``/ByteRange``) or given beside it."""

    source: Literal["embedded", "detached"]
    sub_filter: str
    byte_range: tuple[int, int, int, int] | None
    covers_whole_file: bool  # False: bytes were appended after signing (incremental update)
    verification: CmsVerification | None
    error_code: str | None = None  # why it could not be checked (CmsError.code)
    error: str | None = None

    @property
    def valid(self) -> bool:
        """A verified signature over the whole file; never True for a partial cover."""
        return (
            self.verification is not None
            and self.verification.valid
            and self.covers_whole_file
            and self.error_code is None
        )


@dataclass(frozen=True)
class PdfExtract:
    """What a PDF yielded; ``enp`` comes from the text layer only when no barcode decoded."""

    page_count: int
    pages_rendered: int
    barcodes: tuple[DecodedBarcode, ...] = field(repr=False)
    barcode_pages: tuple[int, ...]  # page index (0-based) of each barcode
    enp: EnpClaim | None = field(repr=False)
    enp_source: Literal["text", "none"]
    signatures: tuple[PdfSignature, ...]
    text_chars: int = 0


_lock = threading.Lock()


def is_pdf(data: bytes) -> bool:
    """A PDF header within the first KiB (what readers accept)."""
    return b"%PDF-" in bytes(data[:1024])


# --- raw pre-scan --------------------------------------------------------------------------

_STREAM: Final = re.compile(rb"stream(?:\r\n|\n|\r)")
_NAME_ESC: Final = re.compile(rb"#([0-9A-Fa-f]{2})")
_FILTER: Final = re.compile(rb"/Filter\s*(\[[^\]]*\]|/[A-Za-z0-9]+)")
_FILTER_NAME: Final = re.compile(rb"/([A-Za-z0-9]+)")
_WIDTH: Final = re.compile(rb"/Width\s+(\d{1,12})")
_HEIGHT: Final = re.compile(rb"/Height\s+(\d{1,12})")
_ALLOWED_FILTERS: Final = frozenset(
    {
        b"FlateDecode",
        b"Fl",
        b"DCTDecode",
        b"DCT",
        b"JPXDecode",
        b"CCITTFaxDecode",
        b"CCF",
        b"JBIG2Decode",
        b"ASCIIHexDecode",
        b"AHx",
        b"ASCII85Decode",
        b"A85",
        b"Crypt",
    }
)
_FLATE: Final = frozenset({b"FlateDecode", b"Fl"})
_ASCII: Final = frozenset({b"ASCIIHexDecode", b"AHx", b"ASCII85Decode", b"A85"})


def _inflated_size(data: bytes, start: int, cap: int) -> int:
    """How many bytes the zlib stream at ``start`` inflates to, stopping just past ``cap``.

    Output is produced and dropped 1 MiB at a time, so memory stays flat whatever the ratio.
    """
    d = zlib.decompressobj()
    total = 0
    pos = start
    step = 1024 * 1024
    while pos < len(data) and not d.eof and total <= cap:
        pending = data[pos : pos + 64 * 1024]
        pos += len(pending)
        try:
            while pending and total <= cap:
                total += len(d.decompress(pending, step))
                pending = d.unconsumed_tail
        except zlib.error:
            return total  # corrupt data: PDFium stops at the same point
    return total


def _prescan(data: bytes, limits: PdfLimits) -> None:
    """Refuse streams whose decoded size cannot be bounded or is over the caps."""
    total = 0
    prev_end = 0
    for m in _STREAM.finditer(data):
        start = m.start()
        if data[max(0, start - 3) : start] == b"end":
            continue
        dict_start = data.rfind(b"obj", prev_end, start)
        head = data[dict_start if dict_start >= 0 else max(prev_end, start - 65536) : start]
        head = head[-65536:]
        prev_end = m.end()
        head = _NAME_ESC.sub(lambda x: bytes([int(x.group(1), 16)]), head)
        fm = _FILTER.search(head)
        filters = _FILTER_NAME.findall(fm.group(1)) if fm else []
        for name in filters:
            if name not in _ALLOWED_FILTERS:
                raise PdfError(
                    f"stream filter /{name.decode('latin-1')} is refused",
                    code="pdf_unsupported_filter",
                )
        if b"/Image" in head:
            w, h = _WIDTH.search(head), _HEIGHT.search(head)
            if w and h and int(w.group(1)) * int(h.group(1)) > limits.max_image_pixels:
                raise PdfError("an image in the PDF is too large", code="pdf_image_too_large")
        if filters and filters[0] in _FLATE:
            size = _inflated_size(data, m.end(), limits.max_stream_bytes)
            total += size
            if size > limits.max_stream_bytes or total > limits.max_total_stream_bytes:
                raise PdfError(
                    "a compressed stream inflates past the limit", code="pdf_stream_too_large"
                )
        elif len(filters) > 1 and filters[0] in _ASCII and filters[1] in _FLATE:
            # the inner inflate cannot be bounded without decoding the ASCII layer first;
            # real extracts do not use such chains, so refuse rather than guess
            raise PdfError("ASCII-wrapped Flate streams are refused", code="pdf_unsupported_filter")


# --- PDFium ----------------------------------------------------------------------------------


class _Locked:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __enter__(self) -> None:
        if not _lock.acquire(timeout=self.timeout):
            raise PdfError("PDF reader busy, retry later", code="pdf_busy")

    def __exit__(self, *exc: object) -> None:
        _lock.release()


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        text = str(exc)
        if "password" in text.lower():
            raise PdfError("the PDF is password-protected", code="pdf_encrypted") from exc
        raise PdfError(f"the PDF cannot be read: {text[:200]}") from exc


def _page_images(
    doc: pdfium.PdfDocument, count: int, limits: PdfLimits
) -> Iterator[tuple[int, np.ndarray]]:
    for index in range(count):
        page = doc[index]
        try:
            width, height = page.get_size()
            if not (0 < width <= limits.max_page_points and 0 < height <= limits.max_page_points):
                raise PdfError("a page of the PDF is too large", code="pdf_page_too_large")
            scale = limits.render_dpi / 72.0
            pixels = width * height * scale * scale
            if pixels > limits.max_render_pixels:
                scale *= (limits.max_render_pixels / pixels) ** 0.5
            bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
            try:
                image = np.array(bitmap.to_numpy(), copy=True)
            finally:
                bitmap.close()
        finally:
            page.close()
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        yield index, image


def _text(doc: pdfium.PdfDocument, count: int, limits: PdfLimits) -> str:
    parts: list[str] = []
    used = 0
    for index in range(count):
        page = doc[index]
        try:
            width, height = page.get_size()
            if not (0 < width <= limits.max_page_points and 0 < height <= limits.max_page_points):
                raise PdfError("a page of the PDF is too large", code="pdf_page_too_large")
            textpage = page.get_textpage()
            try:
                n = min(textpage.count_chars(), limits.max_text_chars - used)
                if n > 0:
                    parts.append(textpage.get_text_range(0, n))
                    used += n
            finally:
                textpage.close()
        finally:
            page.close()
        if used >= limits.max_text_chars:
            break
    return "\n".join(parts)


@dataclass(frozen=True)
class _RawSignature:
    sub_filter: str
    byte_range: tuple[int, ...]
    contents: bytes


def _raw_signatures(doc: pdfium.PdfDocument) -> list[_RawSignature]:
    out: list[_RawSignature] = []
    count = pdfium_c.FPDF_GetSignatureCount(doc.raw)
    for i in range(max(0, min(count, 8))):
        sig = pdfium_c.FPDF_GetSignatureObject(doc.raw, i)
        if not sig:
            continue
        n = pdfium_c.FPDFSignatureObj_GetContents(sig, None, 0)
        contents = b""
        if 0 < n <= 1024 * 1024:
            buf = ctypes.create_string_buffer(n)
            pdfium_c.FPDFSignatureObj_GetContents(sig, buf, n)
            contents = buf.raw[:n]
        k = pdfium_c.FPDFSignatureObj_GetByteRange(sig, None, 0)
        byte_range: tuple[int, ...] = ()
        if 0 < k <= 16:
            arr = (ctypes.c_int * k)()
            pdfium_c.FPDFSignatureObj_GetByteRange(sig, arr, k)
            byte_range = tuple(int(v) for v in arr)
        m = pdfium_c.FPDFSignatureObj_GetSubFilter(sig, None, 0)
        sub_filter = ""
        if 0 < m <= 256:
            sbuf = ctypes.create_string_buffer(m)
            pdfium_c.FPDFSignatureObj_GetSubFilter(sig, sbuf, m)
            sub_filter = sbuf.value.decode("latin-1")
        out.append(_RawSignature(sub_filter, byte_range, contents))
    return out


def _der_length(blob: bytes) -> int:
    """Length of the leading DER TLV (the /Contents hex string is zero-padded)."""
    if len(blob) < 2 or blob[0] != 0x30:
        return len(blob)
    first = blob[1]
    if first < 0x80:
        return min(len(blob), 2 + first)
    n = first & 0x7F
    if n == 0 or n > 4 or len(blob) < 2 + n:
        return len(blob)  # indefinite length (BER): let the parser find the end
    return min(len(blob), 2 + n + int.from_bytes(blob[2 : 2 + n], "big"))


def _embedded(data: bytes, raw: _RawSignature, trust: SignerTrust | None) -> PdfSignature:
    br = raw.byte_range
    if len(br) != 4:
        return PdfSignature(
            "embedded", raw.sub_filter, None, False, None, "pdf_bad_byte_range", "no /ByteRange"
        )
    a, b, c, d = br
    rng = (a, b, c, d)
    sane = a == 0 and b >= 0 and c >= b and d >= 0 and c + d <= len(data)
    if not sane:
        return PdfSignature(
            "embedded", raw.sub_filter, rng, False, None, "pdf_bad_byte_range", "bad /ByteRange"
        )
    gap = data[a + b : c]
    # the gap must be exactly the hex string PDFium read as /Contents
    if not (gap.startswith(b"<") and gap.endswith(b">")):
        return PdfSignature(
            "embedded",
            raw.sub_filter,
            rng,
            False,
            None,
            "pdf_bad_byte_range",
            "/ByteRange gap is not the /Contents string",
        )
    try:
        gap_bytes = bytes.fromhex(gap[1:-1].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        gap_bytes = b""
    if gap_bytes != raw.contents:
        return PdfSignature(
            "embedded",
            raw.sub_filter,
            rng,
            False,
            None,
            "pdf_bad_byte_range",
            "/ByteRange gap differs from /Contents",
        )
    whole = c + d == len(data)
    if raw.sub_filter not in ("adbe.pkcs7.detached", "ETSI.CAdES.detached"):
        return PdfSignature(
            "embedded",
            raw.sub_filter,
            rng,
            whole,
            None,
            "unsupported_algorithm",
            f"signature SubFilter {raw.sub_filter!r} is not supported",
        )
    signed = data[a : a + b] + data[c : c + d]
    cms_blob = raw.contents[: _der_length(raw.contents)]
    return _verify("embedded", raw.sub_filter, rng, whole, cms_blob, signed, trust)


def _verify(
    source: Literal["embedded", "detached"],
    sub_filter: str,
    rng: tuple[int, int, int, int] | None,
    whole: bool,
    blob: bytes,
    content: bytes,
    trust: SignerTrust | None,
) -> PdfSignature:
    if trust is None:
        return PdfSignature(source, sub_filter, rng, whole, None, "not_checked", "no trust given")
    try:
        result = verify_cms(blob, content=content, trust=trust)
    except CmsError as exc:
        return PdfSignature(source, sub_filter, rng, whole, None, exc.code, exc.message)
    return PdfSignature(source, sub_filter, rng, whole, result)


# --- text-layer ENP --------------------------------------------------------------------------

_GROUPED_RUN: Final = re.compile(r"(?<![0-9])[0-9]{4}(?:[ \u00a0\-][0-9]{4}){3}(?![0-9])")


def find_enp_in_text(text: str) -> EnpClaim | None:
    """The one check-digit-valid ENP in a page's text (bare or grouped by 4), else None.

    Raises RecognitionError(ambiguous_enp) when the text holds several different ones.
    """
    found: set[str] = set()
    try:
        claim = extract_enp(text)
        if enp_checksum_ok(claim.enp):
            found.add(claim.enp)
    except RecognitionError as exc:
        if exc.code == "ambiguous_enp":
            raise
    for m in _GROUPED_RUN.finditer(text):
        digits = re.sub(r"[^0-9]", "", m.group(0))
        if enp_checksum_ok(digits):
            found.add(digits)
    if len(found) > 1:
        raise RecognitionError(
            f"the PDF text holds {len(found)} different valid ENPs", code="ambiguous_enp"
        )
    if not found:
        return None
    return EnpClaim(found.pop(), embedded=True)


# --- entry point -----------------------------------------------------------------------------


def analyze_pdf(
    data: bytes,
    *,
    limits: PdfLimits | None = None,
    trust: SignerTrust | None = None,
    detached_signature: bytes | None = None,
    decode_barcodes: bool = True,
) -> PdfExtract:
    """Barcodes, text-layer ENP and signatures of one PDF; raises :class:`PdfError`.

    ``trust=None`` finds signatures without verifying them (``error_code='not_checked'``).
    ``detached_signature``: a ``.sig``/``.p7s`` given beside the file, over all its bytes.
    """
    lim = limits or PdfLimits()
    raw = bytes(data)
    if len(raw) > lim.max_bytes:
        raise PdfError(f"PDF larger than {lim.max_bytes} bytes", code="pdf_too_large")
    if not is_pdf(raw):
        raise PdfError("not a PDF file")
    _prescan(raw, lim)
    barcodes: list[DecodedBarcode] = []
    pages_of: list[int] = []
    with _Locked(lim.lock_timeout_s):
        doc = _open(raw)
        try:
            page_count = len(doc)
            if page_count < 1:
                raise PdfError("the PDF has no pages")
            if page_count > lim.max_pages:
                raise PdfError(
                    f"the PDF has {page_count} pages (limit {lim.max_pages})",
                    code="pdf_too_many_pages",
                )
            rendered = min(page_count, lim.render_pages)
            if decode_barcodes:
                for index, image in _page_images(doc, rendered, lim):
                    for bc in try_decode_image(image):
                        barcodes.append(bc)
                        pages_of.append(index)
            text = _text(doc, page_count, lim)
            raw_sigs = _raw_signatures(doc)
        except pdfium.PdfiumError as exc:
            raise PdfError(f"the PDF cannot be read: {str(exc)[:200]}") from exc
        finally:
            doc.close()
    enp = None if barcodes else find_enp_in_text(text)
    signatures = [_embedded(raw, s, trust) for s in raw_sigs]
    if detached_signature is not None:
        signatures.append(
            _verify("detached", "", None, True, bytes(detached_signature), raw, trust)
        )
    return PdfExtract(
        page_count=page_count,
        pages_rendered=rendered if decode_barcodes else 0,
        barcodes=tuple(barcodes),
        barcode_pages=tuple(pages_of),
        enp=enp,
        enp_source="text" if enp is not None else "none",
        signatures=tuple(signatures),
        text_chars=len(text),
    )
