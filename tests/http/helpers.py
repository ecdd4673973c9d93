"""Shared helpers: the OpenAPI document and schema validation of live responses."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import yaml

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "verifier" / "http" / "openapi.yaml"
DOCS_COPY = ROOT / "docs" / "api-openapi.yaml"
PROBLEM = "application/problem+json"


@cache
def spec() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    return doc


@cache
def _validator(name: str) -> Any:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": spec()["components"],
    }
    return jsonschema_rs.validator_for(schema, validate_formats=True)


def conforms(name: str, instance: Any) -> None:
    """Raise with every error when ``instance`` does not match components/schemas/``name``."""
    errors = [f"{e.instance_path}: {e.message}" for e in _validator(name).iter_errors(instance)]
    assert not errors, f"{name} does not conform: {errors}"


def assert_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].split(";")[0] == PROBLEM, r.headers["content-type"]
    body: dict[str, Any] = r.json()
    conforms("Problem", body)
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


ENP_RUN = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")


def policy_scope(
    enp: str,
    headers: list[Any],
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int] = ("127.0.0.1", 8471),
) -> dict[str, Any]:
    """A raw ASGI scope, as a server or an in-process caller may give one."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v1/policies/{enp}",
        "raw_path": f"/v1/policies/{enp}".encode(),
        "query_string": b"mode=offline",
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
    }
