"""What the handlers share, stored on the aiohttp application under a typed key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from aggregator.api.auth import Authenticator
from aggregator.clock import Clock
from aggregator.config.service import Settings
from aggregator.metrics import Metrics
from aggregator.pipeline.ingest import Ingest
from aggregator.store.db import Database


def _nothing() -> None:
    return None


@dataclass
class Services:
    """Complete when built (``app.build_app``): nothing is filled in at start-up. The
    database engine connects on first use; the application's start migrates it."""

    settings: Settings
    auth: Authenticator
    metrics: Metrics
    db: Database
    ingest: Ingest
    clock: Clock
    schema_head: str | None
    #: ask the outbox worker of this process for a pass now (nothing without one)
    wake: Callable[[], None] = _nothing
    #: a silence was created or ended: look for alerts it no longer holds now
    silences_changed: Callable[[], None] = _nothing


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
