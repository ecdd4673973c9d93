"""Linux key codes → characters for keyboard-wedge scanners (pure, layout-independent).

A wedge scanner "types" its read as key presses.  Which keys it presses depends on the keyboard
layout it was *programmed* for, not on the desktop's current layout: a scanner set to the
Russian layout sends the key codes that mean Cyrillic letters in ЙЦУКЕН (``KEY_D`` for «в»).
The driver grabs the device exclusively and translates with its own map, so the desktop's
layout switcher never matters.  Codes are from ``linux/input-event-codes.h``.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- key codes (linux/input-event-codes.h) ---------------------------------------------------
KEY_ESC = 1
KEY_BACKSPACE = 14
KEY_TAB = 15
KEY_ENTER = 28
KEY_LEFTCTRL = 29
KEY_LEFTSHIFT = 42
KEY_RIGHTSHIFT = 54
KEY_LEFTALT = 56
KEY_SPACE = 57
KEY_CAPSLOCK = 58
KEY_KPENTER = 96
KEY_RIGHTCTRL = 97
KEY_RIGHTALT = 100

SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})
ENTER_KEYS = frozenset({KEY_ENTER, KEY_KPENTER})

# The physical (US-labelled) key for each code: the base of every layout.
_ROWS: tuple[tuple[int, str, str], ...] = (
    (2, "1234567890-=", "!@#$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
)
_KEYPAD: dict[int, str] = {
    71: "7",
    72: "8",
    73: "9",
    74: "-",
    75: "4",
    76: "5",
    77: "6",
    78: "+",
    79: "1",
    80: "2",
    81: "3",
    82: "0",
    83: ".",
    98: "/",
    55: "*",
}


@dataclass(frozen=True, slots=True)
class Keymap:
    """Key code → (unshifted, shifted) character."""

    name: str
    keys: dict[int, tuple[str, str]]
    letters: frozenset[int]  # keys Caps Lock affects

    def char(self, code: int, shift: bool, caps: bool = False) -> str | None:
        pair = self.keys.get(code)
        if pair is None:
            return None
        if caps and code in self.letters:
            shift = not shift
        return pair[1] if shift else pair[0]


def _base() -> dict[int, tuple[str, str]]:
    keys: dict[int, tuple[str, str]] = {}
    for first, plain, shifted in _ROWS:
        for i, (a, b) in enumerate(zip(plain, shifted, strict=True)):
            keys[first + i] = (a, b)
    keys[KEY_SPACE] = (" ", " ")
    keys[KEY_TAB] = ("\t", "\t")
    for code, ch in _KEYPAD.items():
        keys[code] = (ch, ch)
    return keys


def _us() -> Keymap:
    keys = _base()
    letters = frozenset(c for c, (a, _) in keys.items() if a.isalpha())
    return Keymap("us", keys, letters)


# ЙЦУКЕН as in the Linux "ru" and Windows "Russian" layouts, keyed by the US character on the key.
_RU_LETTERS = dict(
    zip(
        "qwertyuiop[]asdfghjkl;'`zxcvbnm,.",
        "йцукенгшщзхъфывапролджэёячсмитьбю",
        strict=True,
    )
)
_RU_SHIFTED_DIGITS = dict(zip("1234567890", '!"№;%:?*()', strict=True))


def _ru() -> Keymap:
    keys = _base()
    letters: set[int] = set()
    for code, (plain, _shifted) in list(keys.items()):
        if plain in _RU_LETTERS:
            cyr = _RU_LETTERS[plain]
            keys[code] = (cyr, cyr.upper())
            letters.add(code)
        elif plain in _RU_SHIFTED_DIGITS:
            keys[code] = (plain, _RU_SHIFTED_DIGITS[plain])
        elif plain == "/":
            if code == 53:  # main-block slash key: '.' and ','
                keys[code] = (".", ",")
        elif plain == "\\":
            keys[code] = ("\\", "/")
    return Keymap("ru", keys, frozenset(letters))


KEYMAPS: dict[str, Keymap] = {"us": _us(), "ru": _ru()}


def get_keymap(name: str) -> Keymap:
    try:
        return KEYMAPS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown keymap {name!r}: use {', '.join(KEYMAPS)}") from None


def keystrokes(text: str, keymap: Keymap) -> list[tuple[int, bool]]:
    """The (key code, shift) presses that type ``text`` in ``keymap`` (for tests and replays)."""
    reverse: dict[str, tuple[int, bool]] = {}
    for code, (plain, shifted) in sorted(keymap.keys.items(), reverse=True):
        reverse[shifted] = (code, True)
        reverse[plain] = (code, False)  # unshifted wins; lowest code wins (main block)
    try:
        return [reverse[ch] for ch in text]
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} cannot be typed in keymap {keymap.name}") from None
