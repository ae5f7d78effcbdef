"""``/healthz`` (process answers), ``/readyz`` (database reachable, migrated), ``/metrics``."""

from __future__ import annotations

import logging

from aiohttp import web

from aggregator.api.context import services_of
from aggregator.api.responses import json_response
from aggregator.api.schemas import HealthOut
from aggregator.errors import TransientError
from aggregator.metrics import CONTENT_TYPE
from aggregator.store import migrate
from aggregator.store.db import translate

log = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the event loop answers."""
    return json_response(HealthOut(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers and its schema is at the head revision."""
    services = services_of(request)
    try:
        current = await migrate.current_revision(services.db.engine)
    except Exception as exc:
        if not isinstance(translate(exc), TransientError):
            raise
        return json_response(HealthOut(status="unavailable", detail="database unreachable"),
                             status=503)
    head = services.schema_head
    if current != head:
        detail = (f"database schema at {current or 'nothing'}, expected {head}; "
                  "run aggregator migrate")
        return json_response(HealthOut(status="unavailable", detail=detail), status=503)
    return json_response(HealthOut(status="ok", detail=f"schema {current}"))


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics in the text exposition format."""
    body = services_of(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
