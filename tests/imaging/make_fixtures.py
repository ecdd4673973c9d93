"""Regenerate the committed image fixtures under tests/data/imaging/ (run once by hand).

    python -m tests.imaging.make_fixtures      (from the repository root)

Writes small PNG/JPEG files and ``manifest.json`` mapping each file to its symbology and the
expected payload as hex.  The tests only read these files; they never rewrite them.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from verifier.imaging import Symbology

from . import synth

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "imaging"


def main() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    policy = synth.random_payload(130, 4242)
    entries = []

    def save(name: str, sym: Symbology, payload: bytes, img: synth.Gray, *, deskew: bool) -> None:
        path = DATA_DIR / name
        if name.endswith(".png"):
            ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        else:
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 45])
        assert ok
        path.write_bytes(buf.tobytes())
        entries.append(
            {
                "file": name,
                "symbology": sym.value,
                "payload_hex": payload.hex(),
                "needs_deskew": deskew,
            }
        )

    pdf = synth.make_symbol(Symbology.PDF417, policy, scale=2, margin=12)
    save("pdf417_policy_clean.png", Symbology.PDF417, policy, pdf, deskew=False)
    save(
        "pdf417_policy_rot15.jpg",
        Symbology.PDF417,
        policy,
        synth.blur(synth.rotate(pdf, 15.0), 0.7),
        deskew=True,
    )
    save(
        "pdf417_policy_rot-20.png",
        Symbology.PDF417,
        policy,
        cv2.threshold(synth.rotate(pdf, -20.0), 128, 255, cv2.THRESH_BINARY)[1],  # bilevel scan
        deskew=True,
    )
    binary = bytes(range(256))
    qr = synth.make_symbol(Symbology.QR, binary, scale=2, margin=8)
    save("qr_all_bytes.png", Symbology.QR, binary, qr, deskew=False)
    text = "ЕНП 5056410834001235"
    dm = synth.make_symbol(Symbology.DATAMATRIX, text, scale=3, margin=8)
    save(
        "datamatrix_text.jpg",
        Symbology.DATAMATRIX,
        synth.expected_bytes(Symbology.DATAMATRIX, text),
        dm,
        deskew=False,
    )
    az_payload = b"\x00\xff\xfe\x80OMS\x1b\x1d"
    az = synth.make_symbol(Symbology.AZTEC, az_payload, scale=3, margin=8)
    save("aztec_binary.png", Symbology.AZTEC, az_payload, synth.rotate(az, 30.0), deskew=False)
    (DATA_DIR / "manifest.json").write_text(json.dumps(entries, indent=2) + "\n")
    for e in entries:
        print(e["file"], (DATA_DIR / str(e["file"])).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
