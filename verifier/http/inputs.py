"""Request bodies and parameters into typed values, or an :class:`ApiError`.

JSON goes through :mod:`verifier.safejson` (bounded depth and size): a deeply nested array
is a 400, never a RecursionError.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Any

from starlette.requests import Request

from verifier.credential import CredentialInput
from verifier.http.problems import ApiError
from verifier.messages_ru import exception_ru
from verifier.safejson import JsonError
from verifier.safejson import loads as safe_loads

_ENP = re.compile(r"[0-9]{16}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def json_object(body: bytes) -> dict[str, Any]:
    """Bounded depth and size (a deeply nested array is a 400, never a RecursionError)."""
    try:
        doc = safe_loads(body, what="body")
    except JsonError as exc:
        raise ApiError(400, exc.code, exception_ru(exc)) from None
    if not isinstance(doc, dict):
        raise ApiError(422, "bad_request", "тело запроса должно быть JSON-объектом")
    return doc


def enp(value: str, *, status: int = 400) -> str:
    """Exactly 16 ASCII digits (the check digit is the verdict's business, not a 4xx)."""
    if not _ENP.fullmatch(value):
        raise ApiError(status, "bad_enp", "ЕНП — ровно 16 цифр")
    return value


def iso_date(value: str) -> date:
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "bad_request", "birth_date: дата в виде ГГГГ-ММ-ДД") from None


def person_fields(doc: dict[str, Any], required: tuple[str, ...]) -> dict[str, str]:
    """The required text fields of a person; ``patronymic``, when present, text or null."""
    fields = {k: doc.get(k) for k in required}
    missing = [k for k, v in fields.items() if not isinstance(v, str)]
    if missing:
        raise ApiError(
            422,
            "bad_request",
            f"нужны текстовые поля {', '.join(required)}: нет или не текст — {', '.join(missing)}",
        )
    patronymic = doc.get("patronymic")
    if patronymic is not None and not isinstance(patronymic, str):
        raise ApiError(422, "bad_request", "patronymic: текст или null")
    return {k: str(v) for k, v in fields.items()}


def json_input(body: bytes, source: str, typed_default: bool) -> CredentialInput:
    """``{"text": …, "typed": bool}``, ``{"hex": …}`` or ``{"base64": …}``: exactly one."""
    doc = json_object(body)
    unknown = sorted(set(doc) - {"text", "hex", "base64", "typed"})
    if unknown:
        raise ApiError(422, "bad_request", f"неизвестные поля: {', '.join(unknown)}")
    given = [k for k in ("text", "hex", "base64") if k in doc]
    if len(given) != 1:
        raise ApiError(422, "bad_request", "в JSON нужно ровно одно из полей text, hex, base64")
    field = given[0]
    value = doc[field]
    if not isinstance(value, str):
        raise ApiError(422, "bad_request", f"{field}: нужен текст")
    typed = doc.get("typed", typed_default)
    if not isinstance(typed, bool):
        raise ApiError(422, "bad_request", "typed: true или false")
    if field == "text":
        try:
            payload = value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escaped in the JSON
            raise ApiError(400, "bad_text", "текст — не допустимый Юникод") from None
        return CredentialInput(payload, source=source, manual=typed)
    if field == "hex":
        if not _HEX.fullmatch(value):
            raise ApiError(400, "bad_encoding", "hex: чётное число шестнадцатеричных цифр")
        return CredentialInput(bytes.fromhex(value), source=source)
    try:
        if not _B64.fullmatch(value):
            raise ValueError(value)
        return CredentialInput(base64.b64decode(value, validate=True), source=source)
    except (ValueError, binascii.Error):
        raise ApiError(400, "bad_encoding", "поле base64 не декодируется") from None
