"""Schemathesis against the OpenAPI document on a live daemon: no 5xx, responses conform.

Runs on the ``locked`` daemon (token-less callers get 401, as the security schemes say) with
the admin token; the streaming route (/v1/events) and the HTML pages are left out.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from tests.http.conftest import ADMIN_TOKEN, Server
from tests.http.helpers import OPENAPI

JSON_ROUTES = r"^/(v1/(policies|verify|match|search|scans|status|snapshot)|healthz|readyz|metrics)"


schema = schemathesis.openapi.from_path(OPENAPI).include(path_regex=JSON_ROUTES)


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
    excluded = (
        [positive_data_acceptance] if case.operation.path in ("/v1/verify", "/v1/search") else []
    )
    case.call_and_validate(
        base_url=locked.url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        excluded_checks=excluded,
        timeout=10,
    )
