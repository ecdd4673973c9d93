"""Issue 12 in real Chromium: the desk with its workstation token sees the patient in full and
can copy the ENP; the kiosk shows only its own scanner's reads, masked, and returns to idle
after ``kiosk_reset_s``; the desk's search form finds a generated person by name and birth
date offline. Screenshots of every outcome on the desk and the kiosk go to artifacts/screens/.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.helpers import (
    DESK_TOKEN,
    KIOSK_TOKEN,
    SCREENS,
    DaemonProcess,
    PtyScanner,
    Screen,
    new_daemon,
    open_screen,
    screens_toml,
    shot,
)
from verifier.credential import CredentialInput
from verifier.devkit import demo
from verifier.identifiers import mask_enp

FULL_ENP = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
PAPER = "paper policy, signed, active"
# demo --json verifies offline; the daemon has the demo registry online, which has the last word
# on a number the snapshot lacks: the registry's own "not found" is not_insured.
ONLINE_OUTCOME = {"not in the snapshot": "not_insured", "another region's ENP": "not_insured"}


@pytest.fixture(scope="module")
def people(demo_template: tuple[Path, demo.DemoState]) -> list[dict[str, str]]:
    with (demo_template[1].registry_dir / "persons.csv").open(encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if not r["deleted"]]


@pytest.fixture(scope="module")
def samples(demo_template: tuple[Path, demo.DemoState]) -> list[tuple[str, str, CredentialInput]]:
    return demo.demo_samples(demo_template[1])


def by_label(samples: list[tuple[str, str, CredentialInput]], label: str) -> CredentialInput:
    return next(item for name, _, item in samples if name == label)


@pytest.fixture
def desk_full(chromium: BrowserContext, daemon: DaemonProcess) -> Iterator[Screen]:
    """The desk page with this workstation's desk token, entered once in the form (kept in
    the browser's local storage) — forgotten again afterwards."""
    screen = open_screen(chromium, f"{daemon.url}/desk")
    page = screen.page
    page.locator("#token-input").fill(DESK_TOKEN)
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("#token-state")).to_have_text(
        "Рабочее место регистратуры: ФИО и ЕНП видны полностью"
    )
    yield screen
    page.get_by_role("button", name="Забыть токен").click()
    expect(page.locator("#token-state")).not_to_have_class("full")
    screen.close()


def scan_line(item: CredentialInput) -> bytes:
    """What a scanner sends: the binary record as is, a text barcode with its CR."""
    return item.payload if item.symbology == "pdf417" else item.payload + b"\r"


def test_desk_role_sees_name_birth_date_and_full_enp(
    chromium: BrowserContext,
    daemon: DaemonProcess,
    desk_full: Screen,
    scanner: PtyScanner,
    samples: list[tuple[str, str, CredentialInput]],
    people: list[dict[str, str]],
) -> None:
    d = desk_full.page
    item = by_label(samples, PAPER)
    scanner.write(scan_line(item))
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    row = next(r for r in people if r["enp"] == d.locator("#enp").inner_text())
    expect(d.locator("#who")).to_have_text(
        " ".join(x.upper() for x in (row["surname"], row["given_name"], row["patronymic"]))
    )
    y, m, day = row["birth_date"].split("-")
    expect(d.locator("#birth")).to_have_text(f"{day}.{m}.{y}")
    expect(d.locator("#action")).to_have_text("Примите пациента.")
    expect(d.locator("#insurer")).to_have_text(re.compile(r"^.+ \(ОГРН \d{13}\)$"))
    expect(d.locator("#clinic")).to_have_text("прикреплён к нашей поликлинике")
    # The copy button puts the full ENP on the clipboard.
    chromium.grant_permissions(["clipboard-read", "clipboard-write"], origin=daemon.url)
    d.get_by_role("button", name="Копировать").click()
    expect(d.locator("#copy-enp")).to_have_text("Скопировано")
    assert d.evaluate("navigator.clipboard.readText()") == row["enp"]
    shot(d, "desk-full-valid-paper", SCREENS)
    # Kept by the browser: a reload (or tomorrow's start) needs no token typed again.
    d.reload()
    d.wait_for_selector("#conn.on")
    expect(d.locator("#token-state")).to_have_class("full")
    scanner.write(scan_line(item))
    expect(d.locator("#enp")).to_have_text(row["enp"])


def test_desk_without_the_desk_role_stays_masked(
    desk: Screen, scanner: PtyScanner, samples: list[tuple[str, str, CredentialInput]]
) -> None:
    """The token-less loopback page (admin role) sees the desk channel masked, no copy."""
    d = desk.page
    scanner.write(scan_line(by_label(samples, PAPER)))
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    expect(d.locator("#enp")).to_have_text(re.compile(r"^\d{2}\*{10}\d{4}$"))
    expect(d.locator("#copy-enp")).to_be_hidden()
    assert not FULL_ENP.search(d.locator("body").inner_text())
    expect(d.locator("#token-state")).to_have_class("masked")


def test_kiosk_shows_only_its_own_scanner_masked(
    desk_full: Screen,
    kiosk: Screen,
    scanner: PtyScanner,
    hall_scanner: PtyScanner,
    samples: list[tuple[str, str, CredentialInput]],
) -> None:
    d, k = desk_full.page, kiosk.page
    suspended = by_label(samples, "suspended policy").payload.decode()
    d.locator("#enp-input").fill(suspended)  # a hand-typed desk check...
    d.get_by_role("button", name="Проверить").click()
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "suspended")
    scanner.write(scan_line(by_label(samples, PAPER)))  # ...and the desk scanner's read
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    expect(d.locator("#history tr")).to_have_count(2)
    expect(k.locator("#verdict")).to_have_attribute("data-outcome", "")  # the hall saw neither
    expect(k.locator("body")).to_have_attribute("data-state", "idle")

    item = by_label(samples, PAPER)
    hall_scanner.write(scan_line(item))
    expect(k.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    enp = next(r for r in (d.locator("#enp").inner_text(),))
    expect(k.locator("#enp")).to_have_text(mask_enp(enp))
    expect(k.locator("#who")).to_have_text(re.compile(r"^[А-ЯЁ]\*+ [А-ЯЁ]\*+ [А-ЯЁ]\*+$"))
    assert not FULL_ENP.search(k.locator("body").inner_text())
    expect(d.locator("#history tr")).to_have_count(2)  # and the desk did not get the hall's


@pytest.fixture
def quick_kiosk_daemon(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, demo.DemoState],
    chromium: BrowserContext,
) -> Iterator[tuple[DaemonProcess, PtyScanner]]:
    """A daemon of its own whose kiosk resets after 2 s."""
    hall = PtyScanner()
    d = new_daemon(
        tmp_path_factory,
        demo_template[0],
        "browser-quick-kiosk",
        hall.source,
        extra_toml=screens_toml((hall.source,), reset_s=2),
    ).start()
    yield d, hall
    d.stop()
    hall.close()


def test_kiosk_returns_to_idle_after_kiosk_reset_s(
    chromium: BrowserContext,
    quick_kiosk_daemon: tuple[DaemonProcess, PtyScanner],
    samples: list[tuple[str, str, CredentialInput]],
) -> None:
    daemon, hall = quick_kiosk_daemon
    screen = open_screen(chromium, f"{daemon.url}/kiosk?token={KIOSK_TOKEN}")
    try:
        k = screen.page
        hall.write(scan_line(by_label(samples, "suspended policy")))
        expect(k.locator("#verdict")).to_have_attribute("data-outcome", "suspended")
        expect(k.locator("body")).to_have_attribute("data-state", "verdict")
        shot(k, "kiosk-before-reset", SCREENS)
        # Back to the idle screen by itself: no trace of the previous patient.
        expect(k.locator("body")).to_have_attribute("data-state", "idle", timeout=15_000)
        expect(k.locator("#verdict")).to_have_attribute("data-outcome", "")
        expect(k.locator("#status")).to_have_text("Поднесите полис к сканеру")
        expect(k.locator("#enp")).to_have_text("—")
        expect(k.locator("#who")).to_have_text("—")
        shot(k, "kiosk-after-reset", SCREENS)
    finally:
        screen.close()


def search(page: Page, row: dict[str, str], mode: str = "offline") -> None:
    page.locator("#s-surname").fill(row["surname"])
    page.locator("#s-given").fill(row["given_name"])
    page.locator("#s-patronymic").fill(row["patronymic"])
    page.locator("#s-birth").fill(row["birth_date"])
    page.locator("#s-mode").select_option(mode)
    page.get_by_role("button", name="Найти").click()


def test_desk_search_finds_a_generated_person_offline(
    desk_full: Screen, people: list[dict[str, str]], kiosk: Screen
) -> None:
    d = desk_full.page
    row = next(r for r in people if r["status"] == "active" and r["patronymic"] and not r["end"])
    search(d, row)
    expect(d.locator("#search-state")).to_have_text("Найдено: 1 (локальная копия реестра)")
    found = d.locator("#search-results li")
    expect(found).to_have_count(1)
    expect(found.first.locator(".found-enp")).to_have_text(row["enp"])
    expect(found.first).to_have_attribute("data-outcome", "valid")
    # The one candidate is shown in full in the verdict box; nothing went to the hall.
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    expect(d.locator("#enp")).to_have_text(row["enp"])
    expect(d.locator("#who")).to_have_text(
        f"{row['surname']} {row['given_name']} {row['patronymic']}"
    )
    expect(kiosk.page.locator("#verdict")).to_have_attribute("data-outcome", "")
    shot(d, "desk-search-found", SCREENS)

    search(d, {**row, "birth_date": "1901-01-01"})
    expect(d.locator("#search-state")).to_have_text("Никого не найдено (локальная копия реестра)")
    expect(d.locator("#search-results li")).to_have_count(0)
    shot(d, "desk-search-nobody", SCREENS)


def test_search_without_a_desk_token_says_so(desk: Screen, people: list[dict[str, str]]) -> None:
    d = desk.page
    search(d, people[0])
    expect(d.locator("#search-error")).to_have_text(
        "Поиск не выполнен: нужен токен рабочего места регистратуры"
    )


# --- every outcome on the desk and on the kiosk ---------------------------------------------


def test_screenshots_of_every_outcome(
    daemon: DaemonProcess,
    desk_full: Screen,
    kiosk: Screen,
    hall_scanner: PtyScanner,
    samples: list[tuple[str, str, CredentialInput]],
) -> None:
    """Each demo sample published to the desk (as the MIS or a desk scanner would) and read
    on the hall scanner; both pages photographed with the expected outcome showing."""
    d, k = desk_full.page, kiosk.page
    with httpx.Client(base_url=daemon.url, timeout=20) as c:
        for i, (label, offline, item) in enumerate(samples, start=1):
            expected = ONLINE_OUTCOME.get(label, offline)
            slug = f"{i:02d}-{expected}-" + re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
            body = (
                {"text": item.payload.decode(), "typed": item.manual}
                if item.symbology not in ("pdf417", "card", "document")
                else {"hex": item.payload.hex()}
            )
            r = c.post(
                "/v1/verify",
                params={"publish": "true"},
                json=body,
                headers={"Authorization": f"Bearer {DESK_TOKEN}"},
            )
            assert r.status_code == 200, r.text
            expect(d.locator("#history tr")).to_have_count(i)  # this sample's event is in
            expect(d.locator("#verdict")).to_have_attribute("data-outcome", expected)
            shot(d, f"desk-{slug}", SCREENS)
            if item.symbology == "card":
                continue  # a card is read by a card reader, not by the hall's barcode scanner
            k.evaluate("document.getElementById('verdict').dataset.outcome = 'waiting'")
            hall_scanner.write(scan_line(item))
            expect(k.locator("#verdict")).to_have_attribute("data-outcome", expected)
            assert not FULL_ENP.search(k.locator("body").inner_text())
            shot(k, f"kiosk-{slug}", SCREENS)


@pytest.mark.parametrize(
    ("label", "name"),
    [("register extract (PDF)", "extract.pdf"), ("signed XML policy", "policy.xml")],
)
def test_desk_takes_a_document_file(
    desk_full: Screen,
    samples: list[tuple[str, str, CredentialInput]],
    tmp_path: Path,
    label: str,
    name: str,
) -> None:
    """The clerk picks (or drops) the file the patient sent: the verdict shows like a scan."""
    path = tmp_path / name
    path.write_bytes(by_label(samples, label).payload)
    d = desk_full.page
    d.locator("#file-input").set_input_files(str(path))
    expect(d.locator("#verdict")).to_have_attribute("data-outcome", "valid")
    expect(d.locator("#error")).to_have_text("")
    shot(d, f"desk-file-{name.replace('.', '-')}", SCREENS)
