"""Source specs → drivers, and the device list behind ``oms-verifier devices --json``.

Spec forms (see :class:`drivers.base.SourceSpec`)::

    camera:0                         device index
    camera:/dev/video0               V4L2 node (or a /dev/oms-camera-* symlink)
    camera:rtsp://host/stream        network stream (no ?options: the URL keeps its query)
    video:/path/clip.avi             video file, native frame rate, looped
    serial:/dev/ttyACM0              USB-CDC scanner by path
    serial:usb:0c2e:0b61             ... by USB vendor:product (found again on every reconnect)
    hidraw:/dev/hidraw3  hidraw:usb:0c2e   HID POS scanner
    evdev:/dev/input/event5  evdev:usb:05e0:1200   keyboard wedge (grabbed)
    pcsc  pcsc:ACS ACR38U 00 00      PC/SC reader (drivers.smartcard, imported lazily)

Driver options come as keyword arguments or after ``?`` in the spec
(``serial:/dev/ttyACM0?baudrate=115200&framing=suffix:cr``); keywords win.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from drivers.base import Driver, SourceSpec, SourceSpecError
from drivers.discovery import (
    DeviceInfo,
    list_evdev,
    list_hidraw,
    list_tty,
    list_video,
)

__all__ = ["DeviceInfo", "list_devices", "open_source", "split_options"]

_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}
_INT_OPTIONS = {"baudrate", "width", "height", "keep_events"}
_FLOAT_OPTIONS = {"hold_off", "idle", "fps", "max_decode_fps"}
_BOOL_OPTIONS = {"loop", "realtime", "deskew", "grab", "exclusive"}


def _coerce(key: str, value: str) -> Any:
    try:
        if key in _INT_OPTIONS:
            return int(value)
        if key in _FLOAT_OPTIONS:
            return float(value)
    except ValueError:
        raise SourceSpecError(f"option {key}={value!r}: not a number") from None
    if key in _BOOL_OPTIONS:
        if value.lower() not in _BOOL:
            raise SourceSpecError(f"option {key}={value!r}: use yes or no")
        return _BOOL[value.lower()]
    if key == "formats":
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


def split_options(spec: SourceSpec) -> tuple[str | None, dict[str, Any]]:
    """(target without ``?options``, options).  URLs keep their query string."""
    target = spec.target
    if target is None or "://" in target or "?" not in target:
        return target, {}
    target, _, query = target.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise SourceSpecError(f"bad options {query!r}: use key=value&key=value") from None
    return target, {k: _coerce(k, v) for k, v in pairs}


def _target(spec: SourceSpec, target: str | None) -> str:
    """The device of a spec built without :meth:`SourceSpec.parse` (which refuses none)."""
    if target is None:
        raise SourceSpecError(f"source {spec.kind}: needs a device, index or path after the colon")
    return target


def _device_or_usb(target: str) -> dict[str, Any]:
    if target.lower().startswith("usb:"):
        return {"device": None, "usb": target[4:]}
    return {"device": target}


def open_source(spec: SourceSpec | str, **options: Any) -> Driver:
    """A driver for ``spec`` (not started: call its ``run``).  Raises :class:`SourceSpecError`
    for a bad spec or option; device trouble is never raised here (drivers wait and retry)."""
    if isinstance(spec, str):
        spec = SourceSpec.parse(spec)
    target, opts = split_options(spec)
    opts.update(options)
    name = str(spec).split("?")[0] if "://" not in str(spec) else str(spec)
    opts.setdefault("name", name)
    factory: Callable[..., Driver]
    try:
        if spec.kind in ("camera", "video"):
            from drivers.camera import CameraDriver

            return CameraDriver(_target(spec, target), video=spec.kind == "video", **opts)
        if spec.kind == "serial":
            from drivers.serial_scanner import SerialScannerDriver

            factory = SerialScannerDriver
            return factory(**_device_or_usb(_target(spec, target)), **opts)
        if spec.kind == "hidraw":
            from drivers.hid_pos import HidPosDriver

            factory = HidPosDriver
            return factory(**_device_or_usb(_target(spec, target)), **opts)
        if spec.kind == "evdev":
            from drivers.keyboard_wedge import KeyboardWedgeDriver

            factory = KeyboardWedgeDriver
            return factory(**_device_or_usb(_target(spec, target)), **opts)
        if spec.kind == "pcsc":
            return _open_pcsc(target, opts)
    except SourceSpecError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise SourceSpecError(f"source {spec}: {exc}") from exc
    raise SourceSpecError(f"unknown source kind {spec.kind!r}")


def _open_pcsc(reader: str | None, opts: dict[str, Any]) -> Driver:
    cls: Any = None
    problem: Exception | None = None
    for module_name in ("drivers.smartcard", "drivers.smartcard.monitor"):
        try:
            cls = getattr(importlib.import_module(module_name), "PcscDriver", None)
        except ImportError as exc:
            problem = exc
            continue
        if cls is not None:
            break
    if cls is None:
        raise SourceSpecError(
            f"pcsc: the smart-card driver is not available ({problem or 'no PcscDriver'}); "
            "install pyscard and the drivers.smartcard module"
        )
    from_spec = getattr(cls, "from_spec", None)
    if callable(from_spec):
        driver: Driver = from_spec(SourceSpec("pcsc", reader), **opts)
    else:
        driver = cls(reader, **opts)
    return driver


def _pcsc_readers() -> list[DeviceInfo]:
    try:
        system = importlib.import_module("smartcard.System")
        names = [str(r) for r in system.readers()]
    except Exception:  # noqa: BLE001 - no pyscard, no pcscd, no readers (pyscard raises its own types): nothing to list
        return []
    return [DeviceInfo("pcsc", n, f"pcsc:{n}", n, likely_scanner=False) for n in names]


def list_devices(sys_root: str = "/sys", dev_root: str = "/dev") -> list[DeviceInfo]:
    """Cameras, serial ports, hidraw devices, keyboard-like input devices and PC/SC readers
    present now.  Never raises: a part that cannot be listed is left out."""
    out: list[DeviceInfo] = []
    listers: list[Callable[[], list[DeviceInfo]]] = [
        lambda: list_video(sys_root, dev_root),
        lambda: list_tty(sys_root, dev_root),
        lambda: list_hidraw(sys_root, dev_root),
        lambda: list_evdev(sys_root, dev_root),
        _pcsc_readers,
    ]
    for lister in listers:
        try:
            out += lister()
        except Exception:  # noqa: BLE001, S112 - list_devices promises never to raise: a part that cannot be listed is left out
            continue
    for info in out:  # note stable udev symlinks that point at a device
        link = _symlink_for(info.path, dev_root)
        if link:
            info.details["symlink"] = link
    return out


def _symlink_for(path: str, dev_root: str) -> str | None:
    try:
        names = os.listdir(dev_root)
        real = os.path.realpath(path)
        for n in sorted(names):
            if n.startswith("oms-"):
                full = os.path.join(dev_root, n)
                if os.path.realpath(full) == real:
                    return full
    except OSError:
        return None
    return None
