"""Barcode image decoding: 2-D symbols from camera frames and image files, exact bytes.

Only :mod:`verifier.errors` is imported from the rest of the project.
"""

from __future__ import annotations

from verifier.imaging.decode import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodedBarcode,
    NoBarcodeFound,
    decode_image,
    decode_image_bytes,
    decode_image_file,
    load_image_bytes,
    try_decode_image,
)
from verifier.imaging.header import ImageTooLarge
from verifier.imaging.limits import DecodeLimits, ImageBusy
from verifier.imaging.symbology import ALL_SYMBOLOGIES, Symbology

__all__ = [
    "ALL_SYMBOLOGIES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DecodeLimits",
    "DecodedBarcode",
    "ImageBusy",
    "ImageTooLarge",
    "NoBarcodeFound",
    "Symbology",
    "decode_image",
    "decode_image_bytes",
    "decode_image_file",
    "load_image_bytes",
    "try_decode_image",
]
