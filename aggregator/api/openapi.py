"""``/openapi.json``: OpenAPI 3.1 built from the route table and the pydantic models."""

from __future__ import annotations

import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aggregator import __version__
from aggregator.api.routes import ROUTES, Route
from aggregator.api.schemas import ErrorOut
from aggregator.sources import TokenPlace

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "400": "malformed request", "401": "missing or wrong token", "403": "token lacks the role",
    "404": "not found", "409": "conflicts with the current state",
    "413": "body above max_body_bytes", "415": "body is not JSON",
    "429": "too many API requests for this token (Retry-After; setting api_rate_limit)",
    "422": "payload does not match the source's schema", "503": "try again (Retry-After)",
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "read": [{"bearer": []}],
    "write": [{"bearer": []}],
}
# A webhook's security entries: the schemes of its source's token places, in this order.
_SCHEMES = {TokenPlace.QUERY: "queryToken", TokenPlace.BASIC: "basic",
            TokenPlace.BEARER: "bearer"}


def _security(route: Route) -> list[dict[str, list[str]]]:
    if route.source is not None:
        return [{scheme: []} for place, scheme in _SCHEMES.items()
                if place in route.source.token_places]
    return _SECURITY[route.auth] if route.auth is not None else []


def _models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = [ErrorOut]
    for route in ROUTES:
        for model in (route.response, route.body):
            if model is not None and model not in found:
                found.append(model)
    return found


def _parameters(route: Route) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    if route.query is not None:
        schema = route.query.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            repeated = prop.get("type") == "array"
            params.append({
                "name": name, "in": "query", "required": False,
                "description": prop.get("description", ""),
                "schema": prop, "explode": repeated,
            })
    return params


def build_document() -> dict[str, Any]:
    pairs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (model, "serialization") for model in _models()
    ]
    keys, schemas = models_json_schema(pairs, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    error_ref = keys[(ErrorOut, "serialization")]
    for route in ROUTES:
        operation: dict[str, Any] = {
            "summary": route.summary, "operationId": route.handler.__name__, "tags": [route.tag],
            "parameters": _parameters(route),
        }
        if route.response is not None:
            ok = {"description": "success", "content": {
                "application/json": {"schema": keys[(route.response, "serialization")]}}}
        else:
            ok = {"description": "success",
                  "content": {"text/plain": {"schema": {"type": "string"}}}}
        operation["responses"] = {str(route.status): ok}
        for code, text in _ERRORS.items():
            if route.auth is None and code in ("401", "403"):
                continue
            if code == "429" and route.auth not in ("read", "write"):
                continue
            operation["responses"][code] = {
                "description": text, "content": {"application/json": {"schema": error_ref}}}
        if route.body is not None:
            operation["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": keys[(route.body, "serialization")]}}}
        operation["security"] = _security(route)
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    paths["/openapi.json"] = {"get": {
        "summary": "This document", "operationId": "openapi", "tags": ["health"],
        "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1 document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Alert aggregator", "version": __version__,
                 "description": "Alertmanager and Azure Monitor webhooks in, one history out."},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "Azure: the password is the webhook token"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }


async def openapi(request: web.Request) -> web.Response:
    """Serve the OpenAPI document."""
    return web.json_response(build_document())
