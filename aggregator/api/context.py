"""What the handlers share, stored on the aiohttp application under typed keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from aggregator.api.auth import Authenticator
from aggregator.clock import utc_now
from aggregator.config.service import Settings
from aggregator.metrics import Metrics
from aggregator.pipeline.ingest import IngestRequest, IngestResult
from aggregator.store.db import Database


@dataclass
class Services:
    settings: Settings
    auth: Authenticator
    metrics: Metrics
    database: Database | None = None
    clock: Callable[[], datetime] = utc_now
    schema_head: str | None = None
    wake: Callable[[], None] = lambda: None
    wake_for_silences: Callable[[], None] = lambda: None
    # Set when the application starts: the group commit in front of the ingest transaction.
    ingest: Callable[[IngestRequest], Awaitable[IngestResult]] | None = None

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("database used before the application started")
        return self.database


SERVICES = web.AppKey("services", Services)


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]
