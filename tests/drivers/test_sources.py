from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.base import SourceSpec, SourceSpecError
from drivers.camera import CameraDriver
from drivers.discovery import (
    DeviceInfo,
    UsbId,
    find_evdev,
    find_hidraw,
    find_tty,
    list_evdev,
    list_hidraw,
    list_tty,
    list_video,
)
from drivers.framing import FramingConfig
from drivers.hid_pos import MICROSCAN_LAYOUT, HidPosDriver
from drivers.keyboard_wedge import KeyboardWedgeDriver
from drivers.serial_scanner import SerialScannerDriver
from drivers.sources import list_devices, open_source, split_options


def test_open_source_kinds() -> None:
    cam = open_source("camera:0", hold_off=1.5)
    assert isinstance(cam, CameraDriver) and cam.source.target == 0 and cam.name == "camera:0"
    assert cam.processor.hold_off.seconds == 1.5
    vid = open_source("video:/tmp/clip.avi?loop=no&realtime=no&formats=pdf417,qr")
    assert isinstance(vid, CameraDriver) and vid.source.kind == "video"
    assert not vid.loop and not vid.realtime and vid.name == "video:/tmp/clip.avi"
    assert {f.value for f in vid.processor.formats} == {"pdf417", "qr"}
    url = open_source("camera:rtsp://cam.local/stream?channel=1")
    assert (
        isinstance(url, CameraDriver) and url.source.target == "rtsp://cam.local/stream?channel=1"
    )

    ser = open_source("serial:/dev/ttyACM0?baudrate=115200&framing=suffix:cr")
    assert isinstance(ser, SerialScannerDriver) and ser.baudrate == 115200
    assert ser.framer.config == FramingConfig.parse("suffix:cr")
    by_id = open_source(SourceSpec.parse("serial:usb:0c2e:0b61"), framing="idle:80ms")
    assert isinstance(by_id, SerialScannerDriver) and by_id.usb == UsbId("0c2e", "0b61")
    assert by_id.device is None and by_id.name == "serial:usb:0c2e:0b61"

    hid = open_source("hidraw:/dev/hidraw2?layout=microscan")
    assert isinstance(hid, HidPosDriver) and hid.layout is MICROSCAN_LAYOUT
    wedge = open_source("evdev:usb:05e0?keymap=ru&grab=yes")
    assert isinstance(wedge, KeyboardWedgeDriver) and wedge.decoder.keymap.name == "ru"
    assert wedge.usb == UsbId("05e0") and wedge.grab


@pytest.mark.parametrize(
    "spec",
    [
        "scanner:/dev/x",
        "serial:",
        "serial:/dev/ttyACM0?baudrate=fast",
        "serial:/dev/ttyACM0?colour=red",
        "serial:usb:zzzz",
        "evdev:/dev/input/event0?keymap=de",
        "hidraw:/dev/hidraw0?layout=other",
        "video:x.avi?loop=maybe",
        "camera:0?formats=code39",
        "serial:/dev/ttyACM0?framing=stx",
    ],
)
def test_bad_specs(spec: str) -> None:
    with pytest.raises(SourceSpecError):
        open_source(spec)


@pytest.mark.parametrize("kind", ["camera", "video", "serial", "hidraw", "evdev"])
def test_spec_built_without_a_device_is_refused(kind: str) -> None:
    """A SourceSpec made directly (not parsed) may lack the device: a typed refusal."""
    with pytest.raises(SourceSpecError, match="needs a device"):
        open_source(SourceSpec(kind, None))


def test_pcsc_is_lazy() -> None:
    try:
        import drivers.smartcard  # noqa: F401
    except ImportError:
        with pytest.raises(SourceSpecError, match="smart-card driver is not available"):
            open_source("pcsc")
    else:  # the other helper's driver is in: it must at least construct or say why not
        try:
            driver = open_source("pcsc")
        except SourceSpecError:
            return
        assert hasattr(driver, "run") and hasattr(driver, "health")


def test_split_options() -> None:
    assert split_options(SourceSpec.parse("serial:/dev/x?baudrate=9600&aim=off")) == (
        "/dev/x",
        {"baudrate": 9600, "aim": "off"},
    )
    assert split_options(SourceSpec.parse("pcsc")) == (None, {})


def _fake_sysfs(root: Path) -> Path:
    """A tiny sysfs: a Honeywell CDC scanner (ttyACM0), a generic ttyUSB0, a HID POS hidraw0,
    a wedge keyboard event3, a mouse event4 and a webcam video0/video1."""
    sys_ = root / "sys"
    usb = sys_ / "devices/pci0000:00/usb1"
    scanner = usb / "1-1"
    cam = usb / "1-2"
    serial_adapter = usb / "1-3"
    for d, vid, pid, prod in ((scanner, "0c2e", "0b61", "Honeywell 1900"),
                              (cam, "046d", "0825", "Webcam C270"),
                              (serial_adapter, "0403", "6001", "FT232R")):  # fmt: skip
        d.mkdir(parents=True)
        (d / "idVendor").write_text(vid + "\n")
        (d / "idProduct").write_text(pid + "\n")
        (d / "product").write_text(prod + "\n")

    def link(cls: str, name: str, target: Path) -> Path:
        entry = sys_ / "class" / cls / name
        entry.mkdir(parents=True)
        target.mkdir(parents=True, exist_ok=True)
        (entry / "device").symlink_to(target)
        return entry

    link("tty", "ttyACM0", scanner / "1-1:1.0")
    link("tty", "ttyUSB0", serial_adapter / "1-3:1.0" / "ttyUSB0")
    link("tty", "ttyS0", sys_ / "devices/platform/serial8250")
    hid = link("hidraw", "hidraw0", scanner / "1-1:1.1" / "0003:0C2E:0B61.0001")
    (hid / "device" / "uevent").write_text("HID_NAME=Honeywell HID POS\n")
    for n, idx in (("video0", "0"), ("video1", "1")):
        v = link("video4linux", n, cam / "1-2:1.0")
        (v / "name").write_text("Webcam C270\n")
        (v / "index").write_text(idx + "\n")
    for n, name, vid, keys in (("event3", "Honeywell Imaging Scanner", "0c2e", "1 10000004"),
                               ("event4", "Logitech Mouse", "046d", "0")):  # fmt: skip
        e = link("input", n, sys_ / "devices/virtual/input" / n)
        dev = e / "device"
        (dev / "id").mkdir()
        (dev / "name").write_text(name + "\n")
        (dev / "id" / "vendor").write_text(vid + "\n")
        (dev / "id" / "product").write_text("0b61\n")
        (dev / "capabilities").mkdir()
        (dev / "capabilities" / "key").write_text(keys + "\n")
    return sys_


def test_discovery_on_fake_sysfs(tmp_path: Path) -> None:
    sys_ = str(_fake_sysfs(tmp_path))
    ttys = list_tty(sys_)
    assert [(d.path, d.vendor, d.product, d.likely_scanner) for d in ttys] == [
        ("/dev/ttyACM0", "0c2e", "0b61", True),
        ("/dev/ttyUSB0", "0403", "6001", False),
    ]
    assert find_tty(UsbId.parse("0c2e:0b61"), sys_root=sys_) == ["/dev/ttyACM0"]
    assert find_tty(UsbId.parse("0c2e"), sys_root=sys_) == ["/dev/ttyACM0"]
    assert find_tty(UsbId.parse("05e0"), sys_root=sys_) == []
    (hid,) = list_hidraw(sys_)
    assert hid.name == "Honeywell HID POS" and hid.source == "hidraw:/dev/hidraw0"
    assert find_hidraw(UsbId.parse("0c2e:0b61"), sys_root=sys_) == ["/dev/hidraw0"]
    vids = list_video(sys_)
    assert [(v.path, v.details["index"]) for v in vids] == [
        ("/dev/video0", "0"),
        ("/dev/video1", "1"),
    ]
    (kbd,) = list_evdev(sys_)  # the mouse is no keyboard
    assert kbd.path == "/dev/input/event3" and kbd.likely_scanner
    assert find_evdev(UsbId.parse("0c2e:0b61"), sys_root=sys_) == ["/dev/input/event3"]
    devices = list_devices(sys_root=sys_, dev_root=str(tmp_path / "dev"))
    kinds = [d.kind for d in devices]
    assert kinds[:6] == ["camera", "camera", "serial", "serial", "hidraw", "evdev"]
    json.dumps([d.to_dict() for d in devices])


def test_list_devices_here_never_raises() -> None:
    devices = list_devices()
    assert isinstance(devices, list) and all(isinstance(d, DeviceInfo) for d in devices)
    print(f"\n{len(devices)} device(s) here:", json.dumps([d.to_dict() for d in devices])[:400])
    assert list_devices(sys_root="/nonexistent", dev_root="/nonexistent") == [] or all(
        d.kind == "pcsc" for d in list_devices(sys_root="/nonexistent")
    )


def test_usb_id_parse() -> None:
    assert str(UsbId.parse("0C2E:0B61")) == "0c2e:0b61"
    for bad in ("0c2e:", "xyz", "0c2e:0b6", "12345"):
        if bad == "0c2e:":
            assert UsbId.parse(bad) == UsbId("0c2e")
            continue
        with pytest.raises(ValueError, match="bad USB id"):
            UsbId.parse(bad)
