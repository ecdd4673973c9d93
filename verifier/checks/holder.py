"""``holder``: does the name and birth date on the credential belong to the register's person?

Without the paper-policy signing key (it is not public, so every real deployment lacks it) a
forger can print a genuine ENP under another name; a chip card's holder data is not signed at
all. The register's keyed name hash is what binds the person to the policy. A mismatch is
``unknown``, not ``invalid``: a genuine old policy can carry a name changed since (marriage),
so the clerk compares the identity document with the register.

Paper name fields are fixed (56/68 six-bit characters): a full field may be cut short, so a
full field that does not match is "cannot compare" (still ``unknown``), never a silent pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cache import name_hash
from cache.register_model import RegisterRecord
from verifier.credential import ALWAYS_SIGNED, Credential
from verifier.verdict import CheckName, CheckResult, Reason, failed, passed, skipped

NAME = CheckName.HOLDER


@dataclass(frozen=True, slots=True)
class MatchKey:
    """The register's name-hash key, and the key id the snapshot says its hashes use."""

    key: bytes
    key_id: str

    @classmethod
    def of(cls, key: bytes) -> MatchKey:
        return cls(key, name_hash.key_id(key))


def carries_holder(c: Credential) -> bool:
    """Any holder data at all — and always for the signed carriers, which name their holder
    when genuine: leaving the name out must never skip the comparison (it is "incomplete")."""
    return c.kind in ALWAYS_SIGNED or bool(
        c.surname or c.given_name or c.patronymic or c.birth_date
    )


def comparable(c: Credential) -> bool:
    """Surname and birth date are needed; an empty given name or patronymic is compared as
    empty (some people have none), so leaving a field out never skips the comparison."""
    return bool(c.surname and c.birth_date)


def _incomplete() -> CheckResult:
    return failed(
        NAME,
        Reason.HOLDER_MISMATCH,
        "данных владельца мало для сверки: нет фамилии или даты рождения",
    )


class HolderMatcher:
    """Compares the credential's holder with the register record that answered."""

    def __init__(
        self, key: MatchKey | None, snapshot_key_id: Callable[[], str | None] = lambda: None
    ) -> None:
        self.key = key
        self.snapshot_key_id = snapshot_key_id  # read per check: the snapshot can be replaced

    def check_holder(self, c: Credential, record: RegisterRecord | None) -> CheckResult:
        if not carries_holder(c):
            return skipped(NAME, "на документе нет ФИО и даты рождения")
        if record is None:
            return skipped(NAME, "нет записи реестра для сверки")
        if self.key is None:
            return skipped(NAME, "не настроен ключ сверки ФИО", Reason.HOLDER_NOT_CHECKED)
        expected = self.snapshot_key_id()
        if expected and expected != self.key.key_id:
            return skipped(
                NAME,
                f"ключ сверки ФИО {self.key.key_id} не совпадает с ключом копии реестра {expected}",
                Reason.HOLDER_NOT_CHECKED,
            )
        if not record.name_hash.strip(b"\0"):
            return skipped(NAME, "в реестре нет данных для сверки ФИО", Reason.HOLDER_NOT_CHECKED)
        surname, birth_date = c.surname, c.birth_date
        if not comparable(c) or surname is None or birth_date is None:
            return _incomplete()
        if name_hash.matches(
            self.key.key,
            record.name_hash,
            surname,
            c.given_name or "",
            c.patronymic,
            birth_date,
        ):
            return passed(NAME, "ФИО и дата рождения совпадают с реестром")
        if c.name_field_full:
            return failed(
                NAME,
                Reason.HOLDER_NAME_TRUNCATED,
                "поле ФИО заполнено до конца (возможно, обрезано) и не совпадает с реестром",
            )
        return failed(NAME, Reason.HOLDER_MISMATCH, "ФИО или дата рождения не совпадают с реестром")


class NoHolderMatcher:
    def check_holder(self, c: Credential, record: RegisterRecord | None) -> CheckResult:
        if not carries_holder(c):
            return skipped(NAME, "на документе нет ФИО и даты рождения")
        return skipped(NAME, "не настроен ключ сверки ФИО", Reason.HOLDER_NOT_CHECKED)
