"""``GET /v1/policies/{enp}``: the verdict for a typed ENP."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from verifier.credential import CredentialInput
from verifier.http import inputs
from verifier.http.context import RouteContext, caller_of, lookup_args
from verifier.http.jsonbody import FastJSONResponse


def routes(ctx: RouteContext) -> list[BaseRoute]:
    @ctx.guard("verify", frozenset({"mode", "fresh"}))
    async def policy(request: Request) -> Response:
        enp = inputs.enp(request.path_params["enp"])
        mode, fresh = lookup_args(request)
        caller = caller_of(request)
        item = CredentialInput.from_text(enp, source=f"api:{caller.name}", manual=True)
        verdict = await ctx.service.verify(
            item, who=caller.name, channel="api", mode=mode, fresh=fresh
        )
        return FastJSONResponse(verdict.to_dict(masked=caller.is_kiosk))

    return [Route("/v1/policies/{enp}", policy)]
