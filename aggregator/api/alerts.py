"""History API: alerts (filters, cursor pagination), one alert, its events, rejected payloads."""

from __future__ import annotations

import uuid

from aiohttp import web

from aggregator.api import params
from aggregator.api.auth import Role
from aggregator.api.context import services_of
from aggregator.api.responses import json_response
from aggregator.api.schemas import (
    AlertEventOut,
    AlertEventPage,
    AlertOut,
    AlertPage,
    AlertQuery,
    ListQuery,
    RejectedOut,
    RejectedPage,
    decode_cursor,
    encode_cursor,
)
from aggregator.errors import PayloadError
from aggregator.store import queries, rejected


def _labels(pairs: list[str]) -> list[tuple[str, str]]:
    result = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise PayloadError(f"label filter {pair!r} must be key=value", field="label",
                               status=400)
        result.append((key, value))
    return result


async def list_alerts(request: web.Request) -> web.Response:
    """List alert episodes, newest first (by first receipt)."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    query = params.query(request, AlertQuery)
    after = None
    if query.cursor:
        try:
            at, key = decode_cursor(query.cursor)
            after = (at, uuid.UUID(key))
        except ValueError as exc:
            raise PayloadError(str(exc).split(";")[0] + "; use next_cursor from the previous "
                               "page", field="cursor", status=400) from exc
    flt = queries.AlertFilter(
        status=query.status.value if query.status else None,
        severities=[s.value for s in query.severity],
        source=query.source.value if query.source else None,
        labels=_labels(query.label), text=query.q, since=query.since, until=query.until,
        acknowledged=query.acknowledged, after=after,
    )
    async with services.db.read() as session, session.begin():
        rows = await queries.list_alerts(session, flt, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(rows[-1].first_received_at, rows[-1].id) if more and rows else None
    return json_response(AlertPage(items=[AlertOut.of(r) for r in rows], next_cursor=cursor))


async def get_alert(request: web.Request) -> web.Response:
    """One alert episode."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    alert_id = params.path_uuid(request, "alert_id", "alert")
    async with services.db.read() as session, session.begin():
        row = await queries.get_alert(session, alert_id)
    if row is None:
        raise web.HTTPNotFound(text=f"no alert with id {alert_id}")
    return json_response(AlertOut.of(row))


async def list_alert_events(request: web.Request) -> web.Response:
    """The history of one alert episode, newest first."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    alert_id = params.path_uuid(request, "alert_id", "alert")
    query = params.query(request, ListQuery)
    after = params.int_cursor(query.cursor)
    async with services.db.read() as session, session.begin():
        if await queries.get_alert(session, alert_id) is None:
            raise web.HTTPNotFound(text=f"no alert with id {alert_id}")
        rows = await queries.list_events(session, alert_id, after, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(rows[-1].at, rows[-1].id) if more and rows else None
    return json_response(AlertEventPage(items=[AlertEventOut.of(r) for r in rows],
                                        next_cursor=cursor))


async def list_rejected(request: web.Request) -> web.Response:
    """Webhook bodies that were refused, newest first, with secrets stripped from headers."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    query = params.query(request, ListQuery)
    after = params.int_cursor(query.cursor)
    async with services.db.read() as session, session.begin():
        rows = await rejected.listing(session, after, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = encode_cursor(rows[-1].received_at, rows[-1].id) if more and rows else None
    return json_response(RejectedPage(items=[RejectedOut.of(r) for r in rows],
                                      next_cursor=cursor))
