"""Silences: create, list, read, end. Matching alerts notify nobody while one is active."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from aiohttp import web

from aggregator.api import params
from aggregator.api.auth import Role
from aggregator.api.context import services_of
from aggregator.api.responses import json_response
from aggregator.api.schemas import SilenceIn, SilenceMatch, SilenceOut, SilencePage, SilenceQuery
from aggregator.config.routing import Match
from aggregator.errors import PayloadError
from aggregator.store import silences
from aggregator.store.tables import SilenceRow


def _silence_out(row: SilenceRow, now: datetime) -> SilenceOut:
    state: Literal["pending", "active", "expired"] = (
        "pending" if row.starts_at > now else "active" if row.ends_at > now else "expired")
    return SilenceOut(id=row.id, matchers=SilenceMatch.model_validate(row.matchers),
                      starts_at=row.starts_at, ends_at=row.ends_at, created_by=row.created_by,
                      comment=row.comment, created_at=row.created_at, state=state)


async def create_silence(request: web.Request) -> web.Response:
    """Silence alerts that match, from starts_at (default now) to ends_at."""
    services = services_of(request)
    services.auth.check_api(request, Role.WRITE)
    data = await params.body(request, SilenceIn)
    now = services.clock()
    starts_at = data.starts_at or now
    for name, moment in (("starts_at", starts_at), ("ends_at", data.ends_at)):
        if moment.tzinfo is None:
            raise PayloadError(f"{name} needs a timezone (e.g. Z)", field=name)
    if data.ends_at <= max(starts_at, now):
        raise PayloadError("ends_at must be in the future and after starts_at", field="ends_at")
    matchers = data.matchers.model_dump(exclude_none=True, exclude_defaults=True)
    if not matchers:
        raise PayloadError("a silence needs at least one matcher (source, severity, "
                           "min_severity or labels)", field="matchers")
    try:
        Match.model_validate(matchers)
    except ValueError as exc:
        raise PayloadError(f"matchers: {exc}", field="matchers.labels") from exc
    row = SilenceRow(id=uuid.uuid4(), matchers=matchers, starts_at=starts_at,
                     ends_at=data.ends_at, created_by=data.created_by, comment=data.comment,
                     created_at=now)
    async with services.db.write() as session, session.begin():
        await silences.create(session, row)
    return json_response(_silence_out(row, now), status=201)


async def list_silences(request: web.Request) -> web.Response:
    """Silences, newest first; ``state`` filters pending, active or expired ones."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    query = params.query(request, SilenceQuery)
    now = services.clock()
    async with services.db.read() as session, session.begin():
        rows = await silences.listing(session, now, query.state, query.limit)
    return json_response(SilencePage(items=[_silence_out(r, now) for r in rows],
                                     next_cursor=None))


async def get_silence(request: web.Request) -> web.Response:
    """One silence."""
    services = services_of(request)
    services.auth.check_api(request, Role.READ)
    silence_id = params.path_uuid(request, "silence_id", "silence")
    async with services.db.read() as session, session.begin():
        row = await session.get(SilenceRow, silence_id)
    if row is None:
        raise web.HTTPNotFound(text=f"no silence with id {silence_id}")
    return json_response(_silence_out(row, services.clock()))


async def delete_silence(request: web.Request) -> web.Response:
    """End a silence now; alerts it held that still fire notify at the worker's next pass."""
    services = services_of(request)
    services.auth.check_api(request, Role.WRITE)
    silence_id = params.path_uuid(request, "silence_id", "silence")
    now = services.clock()
    async with services.db.write() as session, session.begin():
        row = await silences.end(session, silence_id, now)
    if row is None:
        raise web.HTTPNotFound(text=f"no silence with id {silence_id}")
    services.silences_changed()
    return json_response(_silence_out(row, now))

