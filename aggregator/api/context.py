"""What the handlers share, stored on the aiohttp application under typed keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from aggregator.api.auth import Authenticator
from aggregator.metrics import Metrics
from aggregator.pipeline.ingest import IngestRequest, IngestResult
from aggregator.settings import Settings
from aggregator.store.db import Database


def utc_now() -> datetime:
    return datetime.now(UTC)


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
