"""RFC 9457 problem responses: a stable English ``code`` for machines, a Russian ``detail``.

Routes raise :class:`ApiError`; the guard (verifier/http/context.py) and the app's exception
handlers turn it, typed input errors and Starlette's own 404/405/500 into problems.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PROBLEM = "application/problem+json"


class ApiError(Exception):
    """A refusal with its HTTP status, stable code, Russian detail and extra headers."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {
        "type": f"https://oms-verifier.example/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def not_found(request: Request, exc: Exception) -> Response:
    return problem(404, "not_found", "такого ресурса нет")


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    allow = getattr(exc, "headers", None) or {}
    headers = {"Allow": allow["Allow"]} if "Allow" in allow else None
    return problem(405, "method_not_allowed", "этот метод здесь не разрешён", headers)


def internal_error() -> JSONResponse:
    """The 500 problem: what went wrong is in the service's log, never in the answer."""
    return problem(500, "internal_error", "внутренняя ошибка; подробности в журнале сервиса")


async def server_error(request: Request, exc: Exception) -> Response:
    return internal_error()
