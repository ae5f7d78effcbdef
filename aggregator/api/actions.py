"""Write routes on alerts and notifications: acknowledge, unacknowledge, retry a dead one."""

from __future__ import annotations

from aiohttp import web

from aggregator.api import params
from aggregator.api.auth import Role
from aggregator.api.context import services_of
from aggregator.api.responses import json_response
from aggregator.api.schemas import (
    AckIn,
    AlertOut,
    NotificationOut,
)
from aggregator.errors import ConflictError
from aggregator.pipeline.acknowledge import set_acknowledged
from aggregator.store import outbox
from aggregator.store.tables import NotificationRow


async def _set_ack(request: web.Request, acknowledged: bool) -> web.Response:
    services = services_of(request)
    services.auth.check_api(request, Role.WRITE)
    alert_id = params.path_uuid(request, "alert_id", "alert")
    data = await params.body(request, AckIn)
    row, written = await set_acknowledged(
        services.db, services.settings.notifications, alert_id, by=data.by,
        comment=data.comment, now=services.clock(), acknowledged=acknowledged)
    if written:
        services.wake()
    return json_response(AlertOut.of(row))


async def acknowledge(request: web.Request) -> web.Response:
    """Acknowledge a firing alert: stops repeats, acknowledges the PagerDuty incident."""
    return await _set_ack(request, True)


async def unacknowledge(request: web.Request) -> web.Response:
    """Take an acknowledgement back: repeats resume."""
    return await _set_ack(request, False)


async def retry_notification(request: web.Request) -> web.Response:
    """Send a dead notification again (due now, with a fresh attempt budget), unless a later
    notification of the same alert on that channel already went out (409)."""
    services = services_of(request)
    services.auth.check_api(request, Role.WRITE)
    notification_id = params.path_int(request, "notification_id", "notification")
    async with services.db.write() as session, session.begin():
        row = await session.get(NotificationRow, notification_id)
        if row is None:
            raise web.HTTPNotFound(text=f"no notification with id {notification_id}")
        later = (await outbox.superseded_by(session, row, services.clock())
                 if row.status == outbox.DEAD else None)
        if later is not None:
            raise ConflictError(
                f"notification {notification_id} ({row.action}) is superseded by notification "
                f"{later.id} ({later.action}, {later.status}) of the same alert on channel "
                f"{row.channel!r}; sending it now would arrive out of order")
        if not await outbox.retry_dead(session, notification_id, services.clock()):
            raise ConflictError(f"notification {notification_id} is {row.status}; "
                                "only a dead one can be retried")
        await session.refresh(row)
    services.wake()
    return json_response(NotificationOut.model_validate(row))
