"""``POST /v1/policies:batch``: verdicts for up to 1,000 numbers at once, in input order.

For the MIS's nightly reconciliation. Each item is what the single lookup takes (an ENP) or
a typed old policy number or temporary certificate; an item that is none of these — not
text, empty, too long, no credential — gets an ``unknown``/``unrecognized`` verdict in its
place, so one bad row never fails the batch. The batch is one audit row with its count.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from verifier.credential import CredentialInput
from verifier.errors import InputError
from verifier.http import inputs
from verifier.http.context import RouteContext, caller_of
from verifier.http.problems import ApiError
from verifier.service.api import BATCH_MAX, LookupMode

ITEM_MAX_CHARS = 64  # an ENP is 16, an old series and number or a certificate fewer than 40
# The body: room for BATCH_MAX items of ITEM_MAX_CHARS even as JSON \u escapes (6 bytes a
# character), with the punctuation; a 1,000-ENP batch is about 19 KB.
BATCH_MAX_BYTES = 512 * 1024
_FIELDS = frozenset({"enps", "mode"})


class BatchItemError(InputError):
    """A batch item that cannot even be read as text: answered in place, not as a 4xx."""

    code = "bad_type"


def _item(value: object, source: str, read_at: datetime) -> CredentialInput | InputError:
    """The item as the pipeline takes it (every item of a batch was read at one moment)."""
    if type(value) is str and len(value) == 16 and value.isascii() and value.isdigit():
        # A plain ENP, most of a batch: what the checks below make of it, without them.
        return CredentialInput(value.encode("ascii"), source, None, True, read_at)
    if not isinstance(value, str):
        return BatchItemError("элемент пакета — не текст", code="bad_type")
    if not value.strip():
        return BatchItemError("пустой элемент пакета", code="empty")
    if len(value) > ITEM_MAX_CHARS:
        return BatchItemError(f"элемент пакета длиннее {ITEM_MAX_CHARS} знаков", code="too_long")
    try:
        payload = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON
        return BatchItemError("элемент пакета — не допустимый Юникод", code="bad_text")
    return CredentialInput(payload, source=source, manual=True, read_at=read_at)


def routes(ctx: RouteContext) -> list[BaseRoute]:
    @ctx.guard("verify")
    async def batch(request: Request) -> Response:
        if inputs.media_type(request) != "application/json":
            raise ApiError(415, "unsupported_media_type", "тип тела: application/json")
        caller = caller_of(request)
        body = await ctx.read_body(request, BATCH_MAX_BYTES)
        doc = inputs.json_object(body)
        unknown = sorted(set(doc) - _FIELDS)
        if unknown:
            raise ApiError(422, "bad_request", f"неизвестные поля: {', '.join(unknown)}")
        enps = doc.get("enps")
        if not isinstance(enps, list):
            raise ApiError(422, "bad_request", "enps: нужен массив номеров")
        if len(enps) > BATCH_MAX:
            # 422, not 413: the body is within its cap; what it asks for is too much
            raise ApiError(422, "too_large", f"в пакете {len(enps)} номеров; не больше {BATCH_MAX}")
        mode_s = doc.get("mode", "auto")
        try:
            mode = LookupMode(mode_s) if isinstance(mode_s, str) else None
        except ValueError:
            mode = None
        if mode is None:
            raise ApiError(422, "bad_mode", "mode: offline, online или auto")
        source = f"api:{caller.name}"
        read_at = datetime.now(UTC)
        items = [_item(v, source, read_at) for v in enps]
        verdicts = await ctx.service.verify_batch(items, who=caller.name, mode=mode)
        masked = caller.is_kiosk

        def encode() -> bytes:
            # What dumps({"results": [v.to_dict(masked=masked) ...]}) writes, byte for byte:
            # a batch's verdicts of one group are written from shared pieces (to_json).
            return b'{"results":[' + b",".join([v.to_json(masked=masked) for v in verdicts]) + b"]}"

        # A thousand verdicts take some milliseconds to encode: not on the event loop.
        body = await asyncio.to_thread(encode)
        return Response(body, media_type="application/json")

    return [Route("/v1/policies:batch", batch, methods=["POST"])]
