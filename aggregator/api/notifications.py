"""Read routes of the outbox: an alert's notifications with their attempts, and all of them."""

from __future__ import annotations

from aiohttp import web

from aggregator.api import params
from aggregator.api.auth import Role
from aggregator.api.context import services_of
from aggregator.api.responses import json_response
from aggregator.api.schemas import (
    AttemptOut,
    ListQuery,
    NotificationOut,
    NotificationPage,
    NotificationQuery,
    encode_cursor,
)
from aggregator.store import queries
from aggregator.store.tables import NotificationRow


def _page(rows: list[NotificationRow], limit: int,
          attempts: dict[int, list[AttemptOut]] | None = None) -> NotificationPage:
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for row in rows:
        item = NotificationOut.model_validate(row)
        if attempts is not None:
            item = item.model_copy(update={"attempt_log": attempts.get(row.id, [])})
        items.append(item)
    cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
    return NotificationPage(items=items, next_cursor=cursor)


async def alert_notifications(request: web.Request) -> web.Response:
    """The notifications of one alert, newest first, each with its attempts."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    alert_id = params.path_uuid(request, "alert_id", "alert")
    query = params.query(request, ListQuery)
    async with services.db.read() as session, session.begin():
        if await queries.get_alert(session, alert_id) is None:
            raise web.HTTPNotFound(text=f"no alert with id {alert_id}")
        rows = await queries.list_notifications(
            session, alert_id=alert_id, after_id=params.int_cursor(query.cursor),
            limit=query.limit + 1)
        found = await queries.attempts_of(session, [row.id for row in rows])
    attempts = {key: [AttemptOut.model_validate(a) for a in value]
                for key, value in found.items()}
    return json_response(_page(rows, query.limit, attempts))


async def list_notifications(request: web.Request) -> web.Response:
    """All notifications, newest first; filter by ``status`` and ``channel``."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    query = params.query(request, NotificationQuery)
    async with services.db.read() as session, session.begin():
        rows = await queries.list_notifications(
            session, status=query.status, channel=query.channel,
            after_id=params.int_cursor(query.cursor), limit=query.limit + 1)
    return json_response(_page(rows, query.limit))
