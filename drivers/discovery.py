"""Finding scanners and cameras through sysfs (no udev library, no root).

Every function takes ``sys_root`` / ``dev_root`` so tests can point it at a fake tree; none of
them raises for a missing or odd sysfs entry, they just skip it.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# USB vendors whose devices are (mostly) barcode scanners; used to flag likely scanners.
SCANNER_VENDORS: dict[str, str] = {
    "0c2e": "Honeywell (Metrologic)",
    "0536": "Hand Held Products (Honeywell)",
    "05e0": "Zebra (Symbol)",
    "05f9": "Datalogic",
    "1eab": "Newland",
}
_SCANNER_NAME = re.compile(
    r"scan|barcode|bar code|imager|honeywell|zebra|symbol|datalogic|newland", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class UsbId:
    vendor: str  # 4 lowercase hex digits
    product: str | None = None  # None: any product of the vendor

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """``0c2e:0b61`` or ``0c2e`` (any product)."""
        vendor, _, product = text.strip().lower().partition(":")
        if not re.fullmatch(r"[0-9a-f]{4}", vendor) or (
            product and not re.fullmatch(r"[0-9a-f]{4}", product)
        ):
            raise ValueError(f"bad USB id {text!r}: use VID:PID in hex, e.g. 0c2e:0b61")
        return cls(vendor, product or None)

    def matches(self, vendor: str | None, product: str | None) -> bool:
        return vendor == self.vendor and (self.product is None or product == self.product)

    def __str__(self) -> str:
        return f"{self.vendor}:{self.product}" if self.product else self.vendor


@dataclass(frozen=True)
class DeviceInfo:
    """One device ``oms-verifier devices`` shows, with the source spec that opens it."""

    kind: str  # camera, serial, hidraw, evdev, pcsc
    path: str
    source: str  # e.g. "serial:/dev/ttyACM0"
    name: str = ""
    vendor: str | None = None
    product: str | None = None
    likely_scanner: bool = False
    details: dict[str, str] = field(default_factory=dict)
    controls: dict[str, object] | None = None  # cameras: what the device offers (see below)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "kind": self.kind,
            "path": self.path,
            "source": self.source,
            "name": self.name,
            "usb": f"{self.vendor}:{self.product}" if self.vendor else None,
            "likely_scanner": self.likely_scanner,
            "details": dict(self.details),
        }
        if self.controls is not None:
            out["controls"] = self.controls
        return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def usb_ids(device_dir: Path, *, max_up: int = 8) -> tuple[str | None, str | None, Path | None]:
    """(idVendor, idProduct, usb device dir) of the nearest USB ancestor of a sysfs device."""
    try:
        here = device_dir.resolve()
    except OSError:
        return None, None, None
    for _ in range(max_up):
        vendor = _read(here / "idVendor")
        if vendor is not None:
            return vendor.lower(), (_read(here / "idProduct") or "").lower() or None, here
        if here.parent == here:
            break
        here = here.parent
    return None, None, None


def _class_entries(sys_root: str, cls: str, pattern: str) -> list[Path]:
    base = Path(sys_root) / "class" / cls
    try:
        names = sorted(os.listdir(base), key=_natural)
    except OSError:
        return []
    return [base / n for n in names if re.fullmatch(pattern, n)]


def _natural(name: str) -> tuple[str, int]:
    m = re.match(r"(\D*)(\d*)", name)
    assert m is not None  # noqa: S101 - the pattern matches every string
    return m.group(1), int(m.group(2) or -1)


def _usb_name(usb_dir: Path | None) -> str:
    if usb_dir is None:
        return ""
    parts = [_read(usb_dir / "manufacturer"), _read(usb_dir / "product")]
    return " ".join(p for p in parts if p)


def _likely(vendor: str | None, name: str) -> bool:
    return (vendor in SCANNER_VENDORS) or bool(_SCANNER_NAME.search(name))


def list_tty(sys_root: str = "/sys", dev_root: str = "/dev") -> list[DeviceInfo]:
    """USB serial ports (ttyACM*, ttyUSB*) with their USB ids."""
    out = []
    for entry in _class_entries(sys_root, "tty", r"tty(ACM|USB)\d+"):
        vendor, product, usb_dir = usb_ids(entry / "device")
        name = _usb_name(usb_dir)
        path = f"{dev_root}/{entry.name}"
        out.append(
            DeviceInfo(
                "serial", path, f"serial:{path}", name, vendor, product, _likely(vendor, name)
            )
        )
    return out


def find_tty(usb: UsbId, *, sys_root: str = "/sys", dev_root: str = "/dev") -> list[str]:
    """Device paths of the serial ports whose USB device is ``usb``."""
    return [d.path for d in list_tty(sys_root, dev_root) if usb.matches(d.vendor, d.product)]


def list_hidraw(sys_root: str = "/sys", dev_root: str = "/dev") -> list[DeviceInfo]:
    out = []
    for entry in _class_entries(sys_root, "hidraw", r"hidraw\d+"):
        vendor, product, usb_dir = usb_ids(entry / "device")
        uevent = _read(entry / "device" / "uevent") or ""
        m = re.search(r"^HID_NAME=(.*)$", uevent, re.MULTILINE)
        name = m.group(1).strip() if m else _usb_name(usb_dir)
        path = f"{dev_root}/{entry.name}"
        out.append(
            DeviceInfo(
                "hidraw", path, f"hidraw:{path}", name, vendor, product, _likely(vendor, name)
            )
        )
    return out


def find_hidraw(usb: UsbId, *, sys_root: str = "/sys", dev_root: str = "/dev") -> list[str]:
    return [d.path for d in list_hidraw(sys_root, dev_root) if usb.matches(d.vendor, d.product)]


def _open_v4l2(path: str) -> Any:
    import cv2

    return cv2.VideoCapture(path, cv2.CAP_V4L2)


def camera_controls(
    target: str, *, video: bool = False, opener: Callable[[str], Any] = _open_v4l2
) -> dict[str, object]:
    """What ``devices --json`` says about a camera's controls (autofocus, focus, exposure,
    resolution, fps): the value the device reports for each it offers, the names it lacks.

    A video file has no controls; a busy or vanished camera says so. Never raises."""
    from drivers.camera import VIDEO_CONTROLS_NOTE, probe_controls

    if video:
        return {"applies": False, "note": VIDEO_CONTROLS_NOTE}
    try:
        cap = opener(target)
    except Exception:  # noqa: BLE001 - devices never raises: an odd node is reported, not fatal
        cap = None
    try:
        if cap is None or not cap.isOpened():
            return {"applies": True, "opened": False, "note": "cannot open (busy or absent)"}
        values = probe_controls(cap)
    finally:
        if cap is not None:
            cap.release()
    return {
        "applies": True,
        "opened": True,
        "supported": {k: v for k, v in values.items() if v is not None},
        "unsupported": [k for k, v in values.items() if v is None],
    }


def _char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


def list_video(
    sys_root: str = "/sys",
    dev_root: str = "/dev",
    *,
    probe: Callable[[str], dict[str, object]] | None = camera_controls,
) -> list[DeviceInfo]:
    """V4L2 nodes; ``index`` 0 is a device's capture node (others are metadata nodes).
    Capture nodes present under ``dev_root`` get ``controls`` from ``probe``."""
    out = []
    for entry in _class_entries(sys_root, "video4linux", r"video\d+"):
        vendor, product, _ = usb_ids(entry / "device")
        name = _read(entry / "name") or ""
        index = _read(entry / "index") or "0"
        path = f"{dev_root}/{entry.name}"
        details = {"index": index, "capture": "yes" if index == "0" else "probably not"}
        controls = probe(path) if probe and index == "0" and _char_device(path) else None
        out.append(
            DeviceInfo(
                "camera", path, f"camera:{path}", name, vendor, product, False, details, controls
            )
        )
    return out


def _hex_bits(text: str) -> int:
    """A sysfs capability bitmap ("120013" or "1 fffffffe 0"): words, most significant first."""
    value = 0
    for word in text.split():
        value = (value << 64) | int(word, 16)
    return value


def list_evdev(
    sys_root: str = "/sys", dev_root: str = "/dev", *, keyboards_only: bool = True
) -> list[DeviceInfo]:
    """Input event devices that can type (keyboards); ``likely_scanner`` by vendor or name."""
    out = []
    for entry in _class_entries(sys_root, "input", r"event\d+"):
        dev = entry / "device"
        name = _read(dev / "name") or ""
        vendor = (_read(dev / "id" / "vendor") or "").lower() or None
        product = (_read(dev / "id" / "product") or "").lower() or None
        try:
            keys = _hex_bits(_read(dev / "capabilities" / "key") or "0")
        except ValueError:
            keys = 0
        is_keyboard = bool(keys & (1 << 28)) and bool(keys & (1 << 2))  # Enter and "1"
        if keyboards_only and not is_keyboard:
            continue
        path = f"{dev_root}/input/{entry.name}"
        out.append(
            DeviceInfo(
                "evdev",
                path,
                f"evdev:{path}",
                name,
                vendor,
                product,
                _likely(vendor, name),
                {"keyboard": "yes" if is_keyboard else "no"},
            )
        )
    return out


def find_evdev(usb: UsbId, *, sys_root: str = "/sys", dev_root: str = "/dev") -> list[str]:
    return [d.path for d in list_evdev(sys_root, dev_root) if usb.matches(d.vendor, d.product)]
