"""Russian texts for people, by stable error code: API problem ``detail``s and CLI error lines.

The codes stay English (machines branch on them); the exceptions' own messages stay English
for the log. A code without a text here falls back to the exception's message, so a new code
is never silent — add its Russian here.
"""

from __future__ import annotations

import re

from verifier.errors import OmsError

ERROR_RU: dict[str, str] = {
    # what was typed or scanned is no credential (verifier/recognize.py, formats/digital.py)
    "empty": "пустой ввод: введите номер полиса",
    "too_long": "слишком длинный ввод: это не полис ОМС",
    "unknown_binary": "двоичные данные не похожи ни на полис, ни на карту полиса",
    "snils_not_policy": "это СНИЛС, а не номер полиса: введите ЕНП из 16 цифр",
    "bad_length": "в ЕНП 16 цифр, во временном свидетельстве 9",
    "no_enp": "в тексте нет номера полиса (ЕНП из 16 цифр с верной контрольной цифрой)",
    "ambiguous_enp": "в тексте несколько разных номеров полиса: неясно, какой проверять",
    "unrecognized": (
        "не похоже ни на ЕНП, ни на временное свидетельство, ни на серию и номер старого полиса"
    ),
    # images
    "bad_image": "изображение не читается (нужен PNG или JPEG)",
    "no_barcode": "на изображении не найден штрихкод",
    "image_too_large": "изображение слишком большое",
    "image_busy": "идёт распознавание других изображений: повторите через пару секунд",
    # request bodies
    "bad_json": "тело запроса — не JSON (или не UTF-8)",
    "json_too_deep": "JSON слишком глубоко вложен",
    "json_too_large": "JSON слишком большой",
    "bad_search": "для поиска нужны фамилия, имя и правдоподобная дата рождения",
    "bad_card_data": "данные карты полиса повреждены",
}


def _count(message: str) -> str | None:
    m = re.match(r"(\d+) digits", message)
    return m.group(1) if m else None


def error_ru(code: str, fallback: str) -> str:
    """The Russian text for ``code``; ``fallback`` (the English message) if there is none."""
    return ERROR_RU.get(code, fallback)


def exception_ru(exc: OmsError) -> str:
    """The Russian text for a typed error, with the facts its message carries."""
    text = error_ru(exc.code, exc.message)
    if exc.code == "bad_length" and (n := _count(exc.message)):
        return f"введено цифр: {n}; {text}"
    return text
