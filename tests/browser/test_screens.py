"""The desk and kiosk screens, live: scans on (pseudo-terminal) serial scanners and typed
numbers reach the pages over Server-Sent Events and show the right verdict, masked. The desk's
scanner and typed numbers reach the desk only; the hall scanner ([[screens.kiosk]]) the kiosk
only.

Every state is photographed into ``artifacts/browser/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers import (
    KIOSK_TOKEN,
    DaemonProcess,
    PtyScanner,
    Screen,
    new_daemon,
    open_screen,
    shot,
)
from tests.drivers.helpers import signed_policy_with_crlf
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.formats import paper_barcode
from verifier.identifiers import mask_enp

OUTCOME_COLOUR = {  # style.css: --ok, --bad, --warn, --unk
    "valid": "rgb(27, 122, 47)",
    "invalid": "rgb(179, 38, 30)",
    "not_insured": "rgb(179, 38, 30)",
    "annulled": "rgb(179, 38, 30)",
    "suspended": "rgb(178, 106, 0)",
    "expired": "rgb(178, 106, 0)",
    "unknown": "rgb(90, 90, 90)",
}
OUTCOME_RU = {
    "valid": "Полис действителен",
    "invalid": "Полис недействителен",
    "suspended": "Действие полиса приостановлено",
    "not_insured": "Не застрахован",
    "unknown": "Не удалось подтвердить полис",
}
KIND_RU = {  # what app.js shows for credential.kind (it showed the raw value before)
    "paper_policy": "бумажный полис (штрихкод)",
    "digital_policy": "цифровой полис",
    "manual": "номер введён вручную",
    "temporary_certificate": "временное свидетельство",
}
FULL_ENP = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
CLOCK = re.compile(r"^\d{1,2}:\d{2}:\d{2}$")
# "3\u00a0с назад": a no-break space keeps the age on one line
FROM_SNAPSHOT = re.compile(
    r"^локальная копия реестра, копия актуальна \(\d+\u00a0(с|мин|ч) назад\)$"
)
FROM_REGISTRY = re.compile(r"^онлайн-реестр(, ответ \d{1,2}:\d{2}:\d{2})?$")
NO_REASON = re.compile(r"^—?$")
SINCE = re.compile(r"^по данным реестра с \d{2}\.\d{2}\.\d{4}$")  # the register's date
INSURER = re.compile(r"^.+ \(ОГРН \d{13}\)$")  # the F002 name, then the code
ATTACHED = re.compile(r"^(прикреплён к нашей поликлинике|прикреплён к другой МО: .+ \(МО \d{6}\))$")
LOST = "нет связи с сервисом — переподключение…"
# A misread: line noise, no policy in it (and not starting with a paper-policy type byte).
# A genuinely signed policy whose 130 bytes hold CR and LF (tests/drivers/helpers.py); its
# person is not in the demo snapshot, so the online (demo) registry is asked too.
CRLF_POLICY = "paper policy, signed, CR and LF inside, not in the register"
GARBAGE = b"\xff\xfe\x00~NOISE#%\x07\x1b[0m"


def kind_shown(kind: str) -> re.Pattern[str]:
    """The credential kind in Russian, or (older app.js) its raw value; "—" for none."""
    if kind == "—":
        return re.compile("^—$")
    return re.compile(f"^({re.escape(kind)}|{re.escape(KIND_RU[kind])})$")


def masked_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1)


@dataclass(frozen=True)
class Read:
    """One scan on the desk scanner and what both screens must then show."""

    id: str
    label: str | None  # the demo sample (verifier.devkit.demo.demo_samples), None: GARBAGE
    suffix: bytes  # what the scanner appends: nothing for the binary record, CR for text
    outcome: str
    reason: str | re.Pattern[str]  # the message after "title: ", "" when there is none
    kind: str
    fresh: re.Pattern[str]


READS = [
    Read("paper-valid", "paper policy, signed, active", b"", "valid", "", "paper_policy",
         FROM_SNAPSHOT),
    Read("qr-valid", "digital policy QR", b"\r", "valid", "", "digital_policy", FROM_SNAPSHOT),
    Read("suspended", "suspended policy", b"\r", "suspended", SINCE,
         "digital_policy", FROM_SNAPSHOT),
    Read("paper-crlf-unknown-person", CRLF_POLICY, b"", "not_insured",
         "полис не найден в реестре застрахованных", "paper_policy", FROM_REGISTRY),
    Read("paper-forged", "paper policy, forged name", b"", "invalid",
         "электронная подпись неверна — возможна подделка", "paper_policy", re.compile("^—$")),
    Read("garbage", None, b"\r", "unknown", "код не похож на полис ОМС", "—", re.compile("^—$")),
]  # fmt: skip


@dataclass(frozen=True)
class Expected:
    enp: str | None  # the full ENP (must never appear), None: no credential
    names: tuple[str, ...]  # full surname, given name, patronymic (must never appear)


def expected_for(item: CredentialInput | None) -> Expected:
    if item is None:
        return Expected(None, ())
    if item.symbology == "pdf417":
        p = paper_barcode.decode(item.payload)
        return Expected(p.enp, (p.surname, p.given_name, p.patronymic))
    text = item.payload.decode()
    if text.startswith("https://"):
        return Expected(parse_qs(urlsplit(text).query)["enp"][0], ())
    return Expected(text, ())


@pytest.fixture(scope="package")
def samples(demo_template: tuple[Path, demo.DemoState]) -> dict[str, CredentialInput]:
    out = {label: item for label, _, item in demo.demo_samples(demo_template[1])}
    payload, _ = signed_policy_with_crlf()
    out[CRLF_POLICY] = CredentialInput(payload, "test", "pdf417")
    return out


# --- checks shared by the tests -------------------------------------------------------------


def assert_verdict(
    page: Page, outcome: str, reason: str | re.Pattern[str], *, min_px: float
) -> None:
    """Outcome attribute and class, the Russian title and reason, large white text on the
    outcome's colour.  ``reason`` "" is a verdict without one (the page shows a lone "—")."""
    box = page.locator("#verdict")
    expect(box).to_have_attribute("data-outcome", outcome)
    expect(box).to_have_class(f"verdict {outcome}")
    expect(page.locator("#status")).to_have_text(OUTCOME_RU[outcome])
    expect(page.locator("#reason")).to_have_text(reason or NO_REASON)
    background, size, colour = box.evaluate(
        "b => { const s = getComputedStyle(b.querySelector('.status'));"
        " return [getComputedStyle(b).backgroundColor, parseFloat(s.fontSize), s.color]; }"
    )
    assert (background, colour) == (OUTCOME_COLOUR[outcome], "rgb(255, 255, 255)")
    assert size >= min_px, f"status text is {size}px, want at least {min_px}px"


MASKED_ENP = re.compile(r"^\d{2}\*{10}\d{4}$")


def assert_masked(page: Page, exp: Expected, *, register_enp: bool = False) -> None:
    """The ENP only as 50**********1234, names only as И****: never in full, anywhere.
    ``register_enp``: the register names the ENP behind a temporary certificate."""
    body = page.locator("body").inner_text()
    assert not FULL_ENP.search(body), f"a full ENP is on screen: {FULL_ENP.search(body)}"
    shown = mask_enp(exp.enp) if exp.enp else MASKED_ENP if register_enp else "—"
    expect(page.locator("#enp")).to_have_text(shown)
    for name in exp.names:
        assert name not in body, f"full name {name!r} is on screen"
    masked = " ".join(masked_name(n) for n in exp.names)
    expect(page.locator("#who")).to_have_text(masked or "—")


# --- idle ------------------------------------------------------------------------------------


def test_idle_screens(desk: Screen, kiosk: Screen) -> None:
    for screen, status in ((desk, "Ожидание полиса"), (kiosk, "Поднесите полис к сканеру")):
        page = screen.page
        expect(page.locator("#conn")).to_have_text("на связи")
        expect(page.locator("#verdict")).to_have_attribute("data-outcome", "")
        expect(page.locator("#status")).to_have_text(status)
        assert page.title().startswith("Проверка полиса ОМС")
    expect(desk.page.locator("#error")).to_be_empty()
    expect(desk.page.locator("#history tr")).to_have_count(0)
    expect(kiosk.page.locator("form")).to_have_count(0)  # nothing to type on a kiosk
    shot(desk.page, "desk-idle")
    shot(kiosk.page, "kiosk-idle")


# --- the serial scanner ----------------------------------------------------------------------


@pytest.mark.parametrize("read", READS, ids=[r.id for r in READS])
def test_scanner_read_shows_verdict(
    read: Read,
    desk: Screen,
    kiosk: Screen,
    scanner: PtyScanner,
    hall_scanner: PtyScanner,
    samples: dict[str, CredentialInput],
) -> None:
    """The same read on the desk's scanner (the desk shows it) and on the hall's (the kiosk)."""
    item = samples[read.label] if read.label else None
    if item is not None and item.symbology == "pdf417":
        assert len(item.payload) == 130  # the binary record, sent as is: idle-gap framing
    scanner.write((item.payload if item else GARBAGE) + read.suffix)
    exp = expected_for(item)

    d = desk.page
    assert_verdict(d, read.outcome, read.reason, min_px=40)
    assert_masked(d, exp)
    expect(d.locator("#kind")).to_have_text(kind_shown(read.kind))
    expect(d.locator("#fresh")).to_have_text(read.fresh)
    expect(d.locator("#device")).to_have_text(scanner.source)
    expect(d.locator("#time")).to_have_text(CLOCK)
    if read.fresh is FROM_SNAPSHOT:
        expect(d.locator("#insurer")).to_have_text(INSURER)
        expect(d.locator("#clinic")).to_have_text(ATTACHED)
        expect(d.locator("#action")).not_to_have_text("—")
    row = d.locator("#history tr")
    expect(row).to_have_count(1)
    cells = row.first.locator("td")
    expect(cells).to_have_text(
        [CLOCK, OUTCOME_RU[read.outcome], mask_enp(exp.enp) if exp.enp else "—", scanner.source]
    )
    expect(d.locator("#error")).to_be_empty()
    expect(kiosk.page.locator("#verdict")).to_have_attribute("data-outcome", "")  # not the hall's

    hall_scanner.write((item.payload if item else GARBAGE) + read.suffix)
    k = kiosk.page
    assert_verdict(k, read.outcome, read.reason, min_px=60)
    assert_masked(k, exp)
    expect(k.locator("#fresh")).to_have_text(read.fresh)

    shot(d, f"desk-scan-{read.id}")
    shot(k, f"kiosk-scan-{read.id}")


def test_scans_follow_each_other(
    desk: Screen, kiosk: Screen, scanner: PtyScanner, samples: dict[str, CredentialInput]
) -> None:
    """Back-to-back reads (100 ms apart) stay separate reads; the newest verdict wins and the
    desk keeps a history, newest first. The desk's scanner never reaches the hall."""
    good = samples["paper policy, signed, active"].payload
    suspended = samples["suspended policy"].payload
    scanner.write(good)
    scanner.write(suspended + b"\r")
    scanner.write(good)
    rows = desk.page.locator("#history tr")
    expect(rows).to_have_count(3)
    expect(rows.locator("td:nth-child(2)")).to_have_text(
        [OUTCOME_RU["valid"], OUTCOME_RU["suspended"], OUTCOME_RU["valid"]]
    )
    expect(desk.page.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    expect(kiosk.page.locator("#verdict")).to_have_attribute("data-outcome", "")
    shot(desk.page, "desk-history")


# --- the desk's typed form -------------------------------------------------------------------


def submit(page: Page, value: str) -> None:
    page.locator("#enp-input").fill(value)
    page.get_by_role("button", name="Проверить").click()


TYPED: list[tuple[str, str, str, str | re.Pattern[str], str]] = [
    # (id, demo sample label, outcome, reason, kind)
    ("suspended", "suspended policy", "suspended", SINCE, "manual"),
    ("typo", "ENP with a typo", "invalid", "неверная контрольная цифра номера полиса", "manual"),
    ("temporary", "temporary certificate", "valid",
     re.compile(r"^действует до \d{2}\.\d{2}\.\d{4}$"), "temporary_certificate"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "label", "outcome", "reason", "kind"), TYPED,
                         ids=[t[0] for t in TYPED])  # fmt: skip
def test_typed_number(
    desk: Screen,
    samples: dict[str, CredentialInput],
    name: str,
    label: str,
    outcome: str,
    reason: str | re.Pattern[str],
    kind: str,
) -> None:
    value = samples[label].payload.decode()
    d = desk.page
    submit(d, value)
    assert_verdict(d, outcome, reason, min_px=40)
    exp = Expected(value if len(value) == 16 else None, ())
    # The API answer is full, but the screen shows the masked event.
    assert_masked(d, exp, register_enp=kind == "temporary_certificate")
    expect(d.locator("#kind")).to_have_text(kind_shown(kind))
    expect(d.locator("#device")).to_have_text("api:loopback")
    expect(d.locator("#enp-input")).to_have_value("")  # cleared once accepted
    expect(d.locator("#error")).not_to_contain_text("Не принято")
    shot(d, f"desk-typed-{name}")


TYPED_ERRORS = [  # (id, typed text, the error line: the specific reason in Russian)
    ("snils", "112-233-445 95", "Не принято: это СНИЛС, а не номер полиса: введите ЕНП из 16 цифр"),
    ("short", "12345", "Не принято: введено цифр: 5; в ЕНП 16 цифр, во временном свидетельстве 9"),
    ("words", "полис есть", "Не принято: не похоже ни на ЕНП, ни на временное свидетельство, ни на"
     " серию и номер старого полиса"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "error"), TYPED_ERRORS, ids=[t[0] for t in TYPED_ERRORS])
def test_typed_entry_that_is_no_policy_keeps_the_input(
    desk: Screen, name: str, value: str, error: str
) -> None:
    """Item 9: not the generic «код не похож на полис ОМС» verdict, but the reason, with the
    entry kept for correction and the verdict box untouched."""
    d = desk.page
    submit(d, value)
    expect(d.locator("#error")).to_have_text(error)
    expect(d.locator("#enp-input")).to_have_value(value)
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "")
    shot(d, f"desk-error-{name}")


def test_typed_entry_too_long_shows_error(desk: Screen) -> None:
    """A pasted blob over [http] max_json_bytes is refused: the error line says so, the verdict
    box is untouched and the entry stays for correction."""
    d = desk.page
    blob = "5" * 17_000
    submit(d, blob)
    expect(d.locator("#error")).to_have_text("Не принято: слишком длинный ввод")
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "")
    expect(d.locator("#status")).to_have_text("Ожидание полиса")
    expect(d.locator("#enp-input")).to_have_value(blob)
    shot(d, "desk-error-too-long")


def test_desk_with_a_kiosk_token_cannot_verify(
    chromium: BrowserContext, daemon: DaemonProcess, samples: dict[str, CredentialInput]
) -> None:
    """A desk screen opened with a read-only kiosk token sees the feed but may not verify."""
    screen = open_screen(chromium, f"{daemon.url}/desk?token={KIOSK_TOKEN}")
    try:
        d = screen.page
        submit(d, samples["suspended policy"].payload.decode())
        expect(d.locator("#error")).to_have_text("Не принято: нет прав на проверку с этого экрана")
        expect(d.locator("#verdict")).to_have_attribute("data-outcome", "")
        shot(d, "desk-error-forbidden")
    finally:
        screen.close()


def test_error_line_stays_empty_after_accepted_entry(
    desk: Screen, samples: dict[str, CredentialInput]
) -> None:
    submit(desk.page, samples["suspended policy"].payload.decode())
    expect(desk.page.locator("#verdict")).to_have_attribute("data-outcome", "suspended")
    expect(desk.page.locator("#error")).to_be_empty(timeout=500)


# --- the connection indicator ----------------------------------------------------------------


@pytest.fixture
def lone_daemon(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, demo.DemoState],
    chromium: BrowserContext,
) -> Iterator[DaemonProcess]:
    """A daemon of its own (no scanner) for a test to kill."""
    d = new_daemon(tmp_path_factory, demo_template[0], "browser-lone").start()
    yield d
    d.stop()


def test_daemon_killed_then_back(
    chromium: BrowserContext, lone_daemon: DaemonProcess, samples: dict[str, CredentialInput]
) -> None:
    desk = open_screen(chromium, f"{lone_daemon.url}/desk")
    kiosk = open_screen(chromium, f"{lone_daemon.url}/kiosk?token={KIOSK_TOKEN}")
    try:
        submit(desk.page, samples["temporary certificate"].payload.decode())
        expect(desk.page.locator("#verdict")).to_have_attribute("data-outcome", "valid")

        lone_daemon.kill()
        for screen in (desk, kiosk):
            conn = screen.page.locator("#conn")
            expect(conn).to_have_text(LOST)
            expect(conn).not_to_have_class("on")
        shot(desk.page, "desk-disconnected")  # the last verdict is still up (see the report)
        shot(kiosk.page, "kiosk-disconnected")

        # The same service back on the same port: EventSource reconnects by itself, and the
        # new stream carries verdicts.
        lone_daemon.restart()
        for screen in (desk, kiosk):
            expect(screen.page.locator("#conn")).to_have_text("на связи", timeout=15_000)
            expect(screen.page.locator("#conn")).to_have_class("on")
        submit(desk.page, samples["suspended policy"].payload.decode())
        expect(desk.page.locator("#verdict")).to_have_attribute("data-outcome", "suspended")
        expect(kiosk.page.locator("#verdict")).to_have_attribute("data-outcome", "")  # typed
        shot(kiosk.page, "kiosk-reconnected")
    finally:
        desk.close()
        kiosk.close()


def test_typed_entry_while_service_down_says_so(
    chromium: BrowserContext, lone_daemon: DaemonProcess, samples: dict[str, CredentialInput]
) -> None:
    screen = open_screen(chromium, f"{lone_daemon.url}/desk")
    try:
        lone_daemon.kill()
        expect(screen.page.locator("#conn")).to_have_text(LOST)
        submit(screen.page, samples["temporary certificate"].payload.decode())
        expect(screen.page.locator("#error")).to_have_text(re.compile(r"[^—\s]"), timeout=2_000)
    finally:
        screen.errors.clear()  # the unhandled rejection is the bug above, reported once
        screen.page.close()
