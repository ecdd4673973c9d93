"""``POST /v1/match``: does this ENP belong to this person (the register's keyed name hash)?

An oracle about people: JSON only and rate-limited per caller (``[http] match_per_minute``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from verifier.http import inputs
from verifier.http.context import RouteContext
from verifier.service.api import MatchOutcome

_DETAIL = {
    MatchOutcome.NO_KEY: "ключ хеша ФИО не настроен",
    MatchOutcome.NOT_IN_REGISTER: "ЕНП нет в локальной копии реестра",
    MatchOutcome.COMPARED: "сверено с ключевым хешем ФИО из реестра",
}


def routes(ctx: RouteContext) -> list[BaseRoute]:
    @ctx.guard("verify")
    async def match(request: Request) -> Response:
        ctx.oracle_gate(request, "match")
        body = await ctx.read_body(request, ctx.cfg().max_json_bytes)
        doc = inputs.json_object(body)
        fields = inputs.person_fields(doc, ("enp", "surname", "given_name", "birth_date"))
        patronymic = doc.get("patronymic")
        born = inputs.iso_date(fields["birth_date"])
        enp = inputs.enp(fields["enp"], status=422)
        answer = await ctx.service.match(
            enp, fields["surname"], fields["given_name"], patronymic, born
        )
        return JSONResponse({"match": answer.match, "detail": _DETAIL[answer.outcome]})

    return [Route("/v1/match", match, methods=["POST"])]
