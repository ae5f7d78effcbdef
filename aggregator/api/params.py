"""Query strings, JSON bodies and path ids into pydantic models; 400/422 name the field."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from aggregator.api.schemas import decode_cursor
from aggregator.errors import PayloadError

M = TypeVar("M", bound=BaseModel)
_REPEATABLE = {"severity", "label"}


def _raise_first(exc: ValidationError, status: int, prefix: str) -> None:
    first = exc.errors(include_url=False)[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    raise PayloadError(f"{prefix}{field}: {first['msg']}", field=field, status=status) from exc


def query(request: web.Request, model: type[M]) -> M:
    data: dict[str, Any] = {}
    for key in request.query:
        values = request.query.getall(key)
        if key in _REPEATABLE:
            data[key] = [part for value in values for part in value.split(",") if part]
        else:
            data[key] = values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _raise_first(exc, 400, "query parameter ")
        raise  # unreachable


async def body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}", status=400) from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        _raise_first(exc, 422, "")
        raise  # unreachable


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError as exc:
        raise web.HTTPNotFound(text=f"no {what} with this id") from exc


def path_int(request: web.Request, name: str, what: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError as exc:
        raise web.HTTPNotFound(text=f"no {what} with this id") from exc


def int_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        _, key = decode_cursor(cursor)
        return int(key)
    except ValueError as exc:
        raise PayloadError("cursor is not valid; use next_cursor from the previous page",
                           field="cursor", status=400) from exc
