"""The real photos the deskew path used to miss: small PDF417 images with 1-2 px rows turned to
odd angles (pdf417-1/04-08), and the quick pass a camera loop takes first.

Before the min-area-rectangle angle, the projection-profile refinement and the merge of a
symbol's split blobs, 26 of these 120 frames stayed unread (measured: 04 at 150/240°, 05 and
06 at 75/165/255/345°, 07 and 08 at every 15° off a right angle but 45°-multiples).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import zxingcpp

from verifier.imaging import Symbology, try_decode_image
from verifier.imaging.deskew import (
    candidate_crops,
    find_bar_regions,
    long_side_angle,
    merge_collinear,
    profile_angle,
    upright_crop,
)

from . import camera_media as cm
from . import synth

PDF = {Symbology.PDF417}
SMALL = ("pdf417-1/04", "pdf417-1/05", "pdf417-1/06", "pdf417-1/07", "pdf417-1/08")


@pytest.fixture(scope="module")
def photos() -> dict[str, cm.Photo]:
    found = {p.name: p for p in cm.real_photos(("pdf417-1",))}
    assert set(SMALL) <= set(found)
    return found


@pytest.mark.parametrize("name", SMALL)
def test_small_photos_read_at_every_angle(photos: dict[str, cm.Photo], name: str) -> None:
    """All 24 angles (every 15°) read with the exact expected content; no wrong read."""
    photo = photos[name]
    missed, wrong = [], 0
    for angle in range(0, 360, 15):
        found = try_decode_image(cm.rotate_photo(photo.image, float(angle)), PDF)
        wrong += sum(not cm.matches(photo, b.payload, b.text) for b in found)
        if not any(cm.matches(photo, b.payload, b.text) for b in found):
            missed.append(angle)
    assert wrong == 0
    assert missed == [], missed


@pytest.mark.parametrize(("name", "angle"), [("pdf417-1/07", 15.0), ("pdf417-1/05", 75.0)])
def test_box_angle_and_profile_are_within_half_a_degree(
    photos: dict[str, cm.Photo], name: str, angle: float
) -> None:
    """zxing-cpp reads these only within ~0.5° of the true angle; the gradient estimate is
    2° off or more, the blob's min-area rectangle and the projection profile are not."""
    img = cm.rotate_photo(photos[name].image, angle)
    region = find_bar_regions(img)[0]
    assert region.box_angle is not None
    truth = -angle  # undoing a counter-clockwise turn (mod 90: a turn by 90° reads as well)

    def off(a: float) -> float:
        return abs((a - truth + 45.0) % 90.0 - 45.0)

    assert off(region.box_angle) < 0.5, region
    # started 2° off, the profile search comes back to the symbol's own angle
    assert off(profile_angle(img, region, region.box_angle + 2.0)) < 0.5


def test_split_symbol_is_merged_back(photos: dict[str, cm.Photo]) -> None:
    """pdf417-1/08 turned 15°: start pattern, data and stop pattern fall apart into three blobs
    (wide gaps, large modules); the largest alone cuts both patterns off and does not read."""
    photo = photos["pdf417-1/08"]
    img = cm.rotate_photo(photo.image, 15.0)
    regions = find_bar_regions(img)
    assert len(regions) == 3
    merged = merge_collinear(regions[0], regions)
    assert merged.size[0] > regions[0].size[0] * 1.3

    def reads(crop_img: np.ndarray) -> bool:
        return any(
            cm.matches(photo, bytes(b.bytes), b.text)
            for b in zxingcpp.read_barcodes(crop_img, formats=zxingcpp.BarcodeFormat.PDF417)
            if b.valid
        )

    assert not reads(upright_crop(img, regions[0], -15.0).image)
    assert reads(upright_crop(img, merged, -15.0).image)


def test_rescue_crops_come_after_the_usual_ones() -> None:
    """A symbol the first crop reads never pays for the profile search: the first candidate
    is still the refined gradient angle."""
    payload = synth.random_payload(130, 77)
    img = synth.rotate(synth.make_symbol(Symbology.PDF417, payload, scale=2), 18.0)
    first = next(candidate_crops(img))
    assert abs(first.angle + 18.0) < 1.0
    (found,) = try_decode_image(img, PDF)
    assert found.payload == payload and found.deskewed


# --- the quick pass ---------------------------------------------------------------------------


def test_quick_pass_reads_upright_codes() -> None:
    qr = synth.make_symbol(Symbology.QR, b"https://example.test/enp/1234567890123456", scale=4)
    pdf_payload = synth.random_payload(130, 5)
    pdf = synth.make_symbol(Symbology.PDF417, pdf_payload, scale=3)
    (q,) = try_decode_image(qr, {Symbology.QR}, quick=True)
    assert q.payload == b"https://example.test/enp/1234567890123456"
    (p,) = try_decode_image(pdf, PDF, quick=True)
    assert p.payload == pdf_payload and not p.deskewed


def test_quick_pass_leaves_turns_inversion_and_deskew_to_the_full_read() -> None:
    """What the full read adds: a light-on-dark QR (a phone's dark mode), a PDF417 turned 90°
    and one turned 20° (deskew).  The quick pass finds none of them, the full read all."""
    text = b"5056410834001235"
    dark = np.ascontiguousarray(255 - synth.make_symbol(Symbology.QR, text, scale=4))
    payload = synth.random_payload(130, 9)
    pdf = synth.make_symbol(Symbology.PDF417, payload, scale=3)
    turned = np.ascontiguousarray(np.rot90(pdf))
    skewed = synth.rotate(pdf, 20.0)
    assert try_decode_image(dark, {Symbology.QR}, quick=True) == []
    assert [b.payload for b in try_decode_image(dark, {Symbology.QR})] == [text]
    for img in (turned, skewed):
        assert try_decode_image(img, PDF, quick=True) == []
        assert [b.payload for b in try_decode_image(img, PDF)] == [payload]


def testlong_side_angle_of_a_min_area_rectangle() -> None:
    """The box angle follows OpenCV's rotation convention, like the region's angle, whichever
    side cv2.minAreaRect reports first."""
    assert math.isclose(
        long_side_angle(((300.0, 200.0), (360.0, 90.0), -25.0)), -25.0, abs_tol=0.01
    )
    assert math.isclose(long_side_angle(((300.0, 200.0), (90.0, 360.0), 65.0)), -25.0, abs_tol=0.01)
