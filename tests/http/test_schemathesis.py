"""Schemathesis against the OpenAPI document on a live daemon: no 5xx, responses conform.

Runs on the ``locked`` daemon (token-less callers get 401, as the security schemes say) with
the admin token; the streaming route (/v1/events) and the HTML pages are left out.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from tests.http.conftest import ADMIN_TOKEN, Server
from tests.http.helpers import OPENAPI

JSON_ROUTES = r"^/(v1/(policies|verify|match|search|scans|status|snapshot)|healthz|readyz|metrics)"


schema = schemathesis.openapi.from_path(OPENAPI).include(path_regex=JSON_ROUTES)


@schema.auth()
class AdminToken:
    """The admin token, set through schemathesis rather than as a fixed header.

    A negative case that drops the required Authorization header then goes out without it (and
    must get 401); a fixed header would put it back and make schemathesis call the accepted
    request a schema violation.
    """

    def get(self, case: schemathesis.Case[Any], ctx: schemathesis.AuthContext) -> str:
        return ADMIN_TOKEN

    def set(self, case: schemathesis.Case[Any], data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


# A text/plain or binary body of /v1/verify is any byte string: the generator's "negative"
# body there (null, an object) is serialized into bytes that are a valid body after all.
BYTE_BODIES = ("text/plain", "application/octet-stream", "image/", "application/pdf", "/xml")


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,  # the same examples on every CI run: a failure is reproducible
)
def test_api_conforms(case: schemathesis.Case[Any], locked: Server) -> None:
    # /v1/verify answers 422 for well-formed input that is no credential (or an image with no
    # barcode): no schema can say which strings are policies, so "schema-valid must be
    # accepted" does not hold there. Every other check (and every other route) keeps it.
    excluded: list[Any] = (
        [positive_data_acceptance] if case.operation.path in ("/v1/verify", "/v1/search") else []
    )
    media = case.media_type or ""
    if any(kind in media for kind in BYTE_BODIES):
        excluded.append(negative_data_rejection)
    response = case.call_and_validate(base_url=locked.url, excluded_checks=excluded, timeout=10)
    # The token really went out: without this, a broken auth hook would turn every case into a
    # 401 that every check above accepts.
    if not case.operation.schema.is_security_param_negated(case):
        assert response.status_code != 401, response.text
