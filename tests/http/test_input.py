"""Body caps (413 before the body is read in full) and bad input: 4xx problem+json, never 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http.conftest import MAX_BODY, MAX_JSON, MIS_TOKEN, Server
from tests.http.helpers import assert_problem


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    """A body without Content-Length (chunked transfer encoding)."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"0" * n
        sent += n


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "ctype", "limit"),
    [
        ("/v1/verify", "application/json", MAX_JSON),
        ("/v1/verify", "text/plain", MAX_JSON),
        ("/v1/verify", "application/octet-stream", MAX_BODY),
        ("/v1/verify", "image/png", MAX_BODY),
        ("/v1/match", "application/json", MAX_JSON),
    ],
)
def test_body_over_cap_is_413(
    api: Server, path: str, ctype: str, limit: int, declared: bool
) -> None:
    size = limit + 1
    body: bytes | Iterator[bytes] = b"0" * size if declared else chunks(size)
    with api.client(MIS_TOKEN) as c:
        r = c.post(path, content=body, headers={"content-type": ctype})
    assert_problem(r, 413, "too_large")


def test_body_at_cap_is_read(api: Server) -> None:
    """Exactly at the cap is not too large (the answer is about the content instead)."""
    with api.client(MIS_TOKEN) as c:
        r = c.post(
            "/v1/verify",
            content=chunks(MAX_BODY),
            headers={"content-type": "application/octet-stream"},
        )
        assert r.status_code in (200, 422), r.text
        r = c.post("/v1/verify", content=b" " * MAX_JSON, headers={"content-type": "text/plain"})
        assert_problem(r, 422)


BAD_VERIFY: list[tuple[str, dict[str, object], int, str]] = [
    (
        "malformed json",
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        400,
        "bad_json",
    ),
    (
        "json not utf-8",
        {"content": b'{"text": "\xff"}', "headers": {"content-type": "application/json"}},
        400,
        "bad_json",
    ),
    ("json array", {"json": ["5012345678901234"]}, 422, "bad_request"),
    ("json empty object", {"json": {}}, 422, "bad_request"),
    ("text not a string", {"json": {"text": 5012345678901234}}, 422, "bad_request"),
    (
        "typed not a bool",
        {"json": {"text": "5012345678901234", "typed": "yes"}},
        422,
        "bad_request",
    ),
    ("two inputs", {"json": {"text": "x", "hex": "00"}}, 422, "bad_request"),
    ("unknown field", {"json": {"text": "x", "enp": "1"}}, 422, "bad_request"),
    (
        "lone surrogate",
        {"content": b'{"text": "\\ud800"}', "headers": {"content-type": "application/json"}},
        400,
        "bad_text",
    ),
    ("bad hex", {"json": {"hex": "zz"}}, 400, "bad_encoding"),
    ("odd hex", {"json": {"hex": "abc"}}, 400, "bad_encoding"),
    ("hex with spaces", {"json": {"hex": "ab cd"}}, 400, "bad_encoding"),
    ("bad base64", {"json": {"base64": "!!!!"}}, 400, "bad_encoding"),
    ("unpadded base64", {"json": {"base64": "QUJD RA"}}, 400, "bad_encoding"),
    ("hex not a string", {"json": {"hex": 12}}, 422, "bad_request"),
    (
        "text/plain not utf-8",
        {"content": b"\xff\xfe", "headers": {"content-type": "text/plain"}},
        400,
        "bad_text",
    ),
    (
        "not an image",
        {"content": b"GIF89a....", "headers": {"content-type": "image/png"}},
        422,
        "bad_image",
    ),
    ("empty image", {"content": b"", "headers": {"content-type": "image/jpeg"}}, 422, "bad_image"),
    ("empty png", {"content": b"", "headers": {"content-type": "image/png"}}, 422, "bad_image"),
    (
        "unsupported media type",
        {"content": b"x", "headers": {"content-type": "image/gif"}},
        415,
        "unsupported_media_type",
    ),
    ("no media type", {"content": b"x"}, 415, "unsupported_media_type"),
    ("bad mode", {"json": {"text": "x"}, "params": {"mode": "maybe"}}, 400, "bad_mode"),
    ("bad fresh", {"json": {"text": "x"}, "params": {"fresh": "perhaps"}}, 400, "bad_parameter"),
    ("bad typed", {"json": {"text": "x"}, "params": {"typed": "2"}}, 400, "bad_parameter"),
    ("bad publish", {"json": {"text": "x"}, "params": {"publish": "yes"}}, 400, "bad_parameter"),
    ("empty text", {"json": {"text": ""}}, 422, "empty"),
    ("snils", {"json": {"text": "112-233-445 95", "typed": True}}, 422, "snils_not_policy"),
    (
        "garbage bytes",
        {"content": b"\x00\x01\x02", "headers": {"content-type": "application/octet-stream"}},
        422,
        "unknown_binary",
    ),
]


@pytest.mark.parametrize(
    ("what", "kw", "status", "code"), BAD_VERIFY, ids=[b[0] for b in BAD_VERIFY]
)
def test_bad_verify_input(
    api: Server, what: str, kw: dict[str, object], status: int, code: str
) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.post("/v1/verify", **kw)  # type: ignore[arg-type]
    assert_problem(r, status, code)


def test_image_without_barcode(api: Server) -> None:
    import cv2
    import numpy as np

    ok, png = cv2.imencode(".png", np.full((120, 160), 255, dtype=np.uint8))
    assert ok
    with api.client(MIS_TOKEN) as c:
        r = c.post("/v1/verify", content=png.tobytes(), headers={"content-type": "image/png"})
    assert_problem(r, 422, "no_barcode")


@pytest.mark.parametrize(
    "enp",
    [
        "1234",
        "50123456789012345",
        "abcdefghijklmnop",
        "5012-3456-7890-1234",
        "５０１２３４５６７８９０１２３４",
    ],
)
def test_bad_enp_in_path(api: Server, enp: str) -> None:
    with api.client(MIS_TOKEN) as c:
        assert_problem(c.get(f"/v1/policies/{enp}"), 400, "bad_enp")


def test_bad_policy_query(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        assert_problem(c.get("/v1/policies/5012345678901234?mode=x"), 400, "bad_mode")
        assert_problem(c.get("/v1/policies/5012345678901234?fresh=x"), 400, "bad_parameter")


def test_bad_checksum_enp_is_a_verdict(api: Server) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.get("/v1/policies/5012345678901235", params={"mode": "offline"})
        r2 = c.get("/v1/policies/5012345678901234", params={"mode": "offline"})
    outcomes = {r.json()["outcome"], r2.json()["outcome"]}
    assert "invalid" in outcomes  # one of two neighbours fails the Luhn digit


BAD_MATCH: list[tuple[str, object, int, str]] = [
    ("not json", b"{", 400, "bad_json"),
    ("array", b"[]", 422, "bad_request"),
    ("missing fields", b'{"enp": "5012345678901234"}', 422, "bad_request"),
    (
        "enp a number",
        b'{"enp": 5012345678901234, "surname": "A", "given_name": "B", "birth_date": "2000-01-01"}',
        422,
        "bad_request",
    ),
    (
        "surname null",
        b'{"enp": "5012345678901234", "surname": null, "given_name": "B",'
        b' "birth_date": "2000-01-01"}',
        422,
        "bad_request",
    ),
    (
        "bad date",
        b'{"enp": "5012345678901234", "surname": "A", "given_name": "B",'
        b' "birth_date": "2000-13-01"}',
        422,
        "bad_request",
    ),
    (
        "compact date",
        b'{"enp": "5012345678901234", "surname": "A", "given_name": "B", "birth_date": "20000101"}',
        422,
        "bad_request",
    ),
    (
        "patronymic number",
        b'{"enp": "5012345678901234", "surname": "A", "given_name": "B",'
        b' "patronymic": 3, "birth_date": "2000-01-01"}',
        422,
        "bad_request",
    ),
    (
        "short enp",
        b'{"enp": "501234", "surname": "A", "given_name": "B", "birth_date": "2000-01-01"}',
        422,
        "bad_enp",
    ),
    (
        "huge enp",
        b'{"enp": "' + b"9" * 40 + b'", "surname": "A", "given_name": "B",'
        b' "birth_date": "2000-01-01"}',
        422,
        "bad_enp",
    ),
]


@pytest.mark.parametrize(
    ("what", "body", "status", "code"), BAD_MATCH, ids=[b[0] for b in BAD_MATCH]
)
def test_bad_match_input(api: Server, what: str, body: bytes, status: int, code: str) -> None:
    with api.client(MIS_TOKEN) as c:
        r = c.post("/v1/match", content=body, headers={"content-type": "application/json"})
    assert_problem(r, status, code)
