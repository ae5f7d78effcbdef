"""The route table: one entry per route, used both to register handlers and to describe them.

``/openapi.json`` is generated from this table and the pydantic models it names, so the
document cannot drift from what is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from aggregator.api import actions, alerts, health, notifications, silences, webhooks
from aggregator.api.schemas import (
    AckIn,
    AlertEventPage,
    AlertOut,
    AlertPage,
    AlertQuery,
    HealthOut,
    IngestOut,
    ListQuery,
    NotificationOut,
    NotificationPage,
    NotificationQuery,
    RejectedPage,
    SilenceIn,
    SilenceOut,
    SilencePage,
    SilenceQuery,
)
from aggregator.model import Source
from aggregator.sources import SOURCES

_ALERTMANAGER = SOURCES[Source.ALERTMANAGER]
_AZURE_MONITOR = SOURCES[Source.AZURE_MONITOR]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    response: type[BaseModel] | None = None
    status: int = 200
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: str | None = None  # "webhook:<source>", "read", "write" or None (open)
    tag: str = "alerts"


ROUTES: tuple[Route, ...] = (
    Route("POST", _ALERTMANAGER.path, webhooks.alertmanager_webhook,
          _ALERTMANAGER.summary, IngestOut, 202,
          body=_ALERTMANAGER.wire_model, auth="webhook:alertmanager", tag="webhooks"),
    Route("POST", _AZURE_MONITOR.path, webhooks.azure_monitor_webhook,
          _AZURE_MONITOR.summary, IngestOut, 202,
          body=_AZURE_MONITOR.wire_model, auth="webhook:azure_monitor", tag="webhooks"),
    Route("GET", "/api/v1/alerts", alerts.list_alerts, "List alerts, newest first",
          AlertPage, query=AlertQuery, auth="read"),
    Route("GET", "/api/v1/alerts/{alert_id}", alerts.get_alert, "Get one alert", AlertOut,
          auth="read"),
    Route("GET", "/api/v1/alerts/{alert_id}/events", alerts.list_alert_events,
          "List the events of one alert, newest first", AlertEventPage, query=ListQuery,
          auth="read"),
    Route("GET", "/api/v1/rejected", alerts.list_rejected,
          "List refused webhook bodies, newest first", RejectedPage, query=ListQuery,
          auth="read"),
    Route("POST", "/api/v1/alerts/{alert_id}/ack", actions.acknowledge,
          "Acknowledge a firing alert", AlertOut, body=AckIn, auth="write"),
    Route("POST", "/api/v1/alerts/{alert_id}/unack", actions.unacknowledge,
          "Take back an acknowledgement", AlertOut, body=AckIn, auth="write"),
    Route("GET", "/api/v1/alerts/{alert_id}/notifications", notifications.alert_notifications,
          "List the notifications of one alert with their attempts", NotificationPage,
          query=ListQuery, auth="read", tag="notifications"),
    Route("GET", "/api/v1/notifications", notifications.list_notifications,
          "List notifications, newest first", NotificationPage, query=NotificationQuery,
          auth="read", tag="notifications"),
    Route("POST", "/api/v1/notifications/{notification_id}/retry", actions.retry_notification,
          "Send a dead notification again", NotificationOut, auth="write",
          tag="notifications"),
    Route("POST", "/api/v1/silences", silences.create_silence, "Create a silence", SilenceOut,
          201, body=SilenceIn, auth="write", tag="silences"),
    Route("GET", "/api/v1/silences", silences.list_silences, "List silences, newest first",
          SilencePage, query=SilenceQuery, auth="read", tag="silences"),
    Route("GET", "/api/v1/silences/{silence_id}", silences.get_silence, "Get one silence",
          SilenceOut, auth="read", tag="silences"),
    Route("DELETE", "/api/v1/silences/{silence_id}", silences.delete_silence,
          "End a silence now", SilenceOut, auth="write", tag="silences"),
    Route("GET", "/healthz", health.healthz, "Liveness", HealthOut, tag="health"),
    Route("GET", "/readyz", health.readyz, "Readiness: database reachable and migrated",
          HealthOut, tag="health"),
    Route("GET", "/metrics", health.metrics, "Prometheus metrics", tag="health"),
)


def add_routes(app: web.Application, openapi: Callable[[web.Request],
               Awaitable[web.StreamResponse]], *, health_only: bool = False) -> None:
    """All routes; only health and metrics for the standalone worker."""
    for route in ROUTES:
        if not health_only or route.tag == "health":
            app.router.add_route(route.method, route.path, route.handler)
    if not health_only:
        app.router.add_get("/openapi.json", openapi)
