"""``POST /v1/verify``: a verdict for whatever a reader or an upload holds.

JSON (``text``/``hex``/``base64``), plain text, raw bytes, a PNG/JPEG photo of the barcode, or a
document file: the register extract as a PDF, the policy as a signed XML document.
``publish=true`` also shows the verdict on the desk screen.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from verifier.credential import CredentialInput, ReadSymbology
from verifier.errors import ImageError
from verifier.http import inputs
from verifier.http.context import RouteContext, caller_of, flag, lookup_args
from verifier.http.jsonbody import FastJSONResponse
from verifier.http.problems import ApiError
from verifier.messages_ru import exception_ru
from verifier.service.api import ImageBusy

DOCUMENT_TYPES = frozenset({"application/pdf", "application/xml", "text/xml"})
MEDIA_TYPES = (
    frozenset(
        {"application/json", "text/plain", "application/octet-stream", "image/png", "image/jpeg"}
    )
    | DOCUMENT_TYPES
)


def routes(ctx: RouteContext) -> list[BaseRoute]:
    async def image_input(body: bytes, source: str) -> CredentialInput:
        try:
            return await ctx.service.decode_image(body, source)
        except ImageBusy as exc:
            raise ApiError(503, exc.code, exception_ru(exc), {"Retry-After": "2"}) from exc
        except ImageError as exc:
            raise ApiError(422, exc.code, exception_ru(exc)) from exc

    @ctx.guard("verify", frozenset({"mode", "fresh", "typed", "publish"}))
    async def verify(request: Request) -> Response:
        caller = caller_of(request)
        mode, fresh = lookup_args(request)
        typed, publish = flag(request, "typed"), flag(request, "publish")
        ctype = inputs.media_type(request)
        cfg = ctx.cfg()
        binary = (
            ctype.startswith("image/")
            or ctype == "application/octet-stream"
            or ctype in DOCUMENT_TYPES
        )
        limit = cfg.max_body_bytes if binary else cfg.max_json_bytes
        if ctype not in MEDIA_TYPES:
            raise ApiError(
                415,
                "unsupported_media_type",
                "тип тела: JSON, text/plain, application/octet-stream, PNG, JPEG, PDF или XML",
            )
        body = await ctx.read_body(request, limit)
        source = f"api:{caller.name}"
        if ctype == "application/json":
            item = inputs.json_input(body, source, typed)
        elif ctype == "text/plain":
            try:
                item = CredentialInput.from_text(body.decode("utf-8"), source=source, manual=typed)
            except UnicodeDecodeError:
                raise ApiError(400, "bad_text", "текст не в кодировке UTF-8") from None
        elif ctype == "application/octet-stream":
            item = CredentialInput(body, source=source)
        elif ctype in DOCUMENT_TYPES:  # a PDF extract or a signed XML policy, as a file
            item = CredentialInput(body, source=source, symbology=ReadSymbology.DOCUMENT)
        else:  # image/png, image/jpeg
            item = await image_input(body, source)
        channel = "desk" if publish else "api"
        verdict = await ctx.service.verify(
            item, who=caller.name, channel=channel, mode=mode, fresh=fresh, publish=publish
        )
        return FastJSONResponse(verdict.to_dict(masked=caller.is_kiosk))

    return [Route("/v1/verify", verify, methods=["POST"])]
