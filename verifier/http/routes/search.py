"""``POST /v1/search``: find a patient by name and birth date (token only, rate-limited)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from verifier.http import inputs
from verifier.http.context import RouteContext
from verifier.http.problems import ApiError
from verifier.messages_ru import exception_ru
from verifier.service.api import LookupMode, PersonQuery, SearchError

_SEARCH_FIELDS = frozenset({"surname", "given_name", "patronymic", "birth_date", "mode"})


def routes(ctx: RouteContext) -> list[BaseRoute]:
    @ctx.guard("search", token_only=True)
    async def search(request: Request) -> Response:
        caller = ctx.oracle_gate(request, "search")
        body = await ctx.read_body(request, ctx.cfg().max_json_bytes)
        doc = inputs.json_object(body)
        unknown = sorted(set(doc) - _SEARCH_FIELDS)
        if unknown:
            raise ApiError(422, "bad_request", f"неизвестные поля: {', '.join(unknown)}")
        fields = inputs.person_fields(doc, ("surname", "given_name", "birth_date"))
        mode_s = doc.get("mode", "auto")
        try:
            mode = LookupMode(mode_s) if isinstance(mode_s, str) else None
        except ValueError:
            mode = None
        if mode is None:
            raise ApiError(422, "bad_mode", "mode: offline, online или auto")
        patronymic = doc.get("patronymic")
        try:
            query = PersonQuery(
                surname=fields["surname"],
                given_name=fields["given_name"],
                patronymic=patronymic or None,
                birth_date=inputs.iso_date(fields["birth_date"]),
            )
        except SearchError as exc:
            raise ApiError(422, exc.code, exception_ru(exc)) from None
        result = await ctx.service.search(query, who=caller.name, mode=mode)
        return JSONResponse(
            {
                "source": result.source.value,
                "candidates": [v.to_dict(masked=caller.is_kiosk) for v in result.candidates],
                "notes": list(result.notes),
            }
        )

    return [Route("/v1/search", search, methods=["POST"])]
