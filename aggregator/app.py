"""Composition root: settings -> database -> services -> aiohttp application.

The only place that wires things together. Nothing is created at import time: the
database engine is made (and migrated, unless ``migrate_on_start`` is off) when the
application starts, and disposed when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from aiohttp import web

from aggregator import housekeeping
from aggregator.api.access_log import AccessLogger
from aggregator.api.auth import Authenticator
from aggregator.api.context import SERVICES, Services
from aggregator.api.openapi import openapi
from aggregator.api.ratelimit import rate_limit_middleware
from aggregator.api.responses import error_middleware
from aggregator.api.routes import add_routes
from aggregator.channels import build_channels, configure
from aggregator.channels.base import Channel
from aggregator.config.service import Settings
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.pipeline.group_commit import GroupCommit
from aggregator.pipeline.ingest import IngestRequest, IngestResult, ingest_many, may_be_one_request
from aggregator.store import migrate
from aggregator.store.db import Database, make_database

log = logging.getLogger(__name__)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def runner_options() -> dict[str, Any]:
    """Options of the aiohttp runner, shared by ``serve`` and the tests.

    Handlers are never cancelled when a client disconnects (a half-done commit must
    finish), and the access log redacts tokens from query strings.
    """
    return {
        "handler_cancellation": False,
        "access_log_class": AccessLogger,
        "access_log": logging.getLogger("aggregator.access"),
    }


def ingest_queue(db: Database, settings: Settings,
                 metrics: Metrics) -> GroupCommit[IngestRequest, IngestResult]:
    """The group commit in front of the ingest transaction (one writer on SQLite)."""

    async def run(requests: Sequence[IngestRequest]) -> list[IngestResult]:
        return await ingest_many(
            db.write, requests, repeat_event_interval=settings.repeat_event_interval,
            expire_after=settings.expire_after, notifications=settings.notifications,
        )

    return GroupCommit(
        run, size=lambda request: len(request.alerts), alone=may_be_one_request,
        writers=1 if settings.is_sqlite else settings.ingest_writers,
        max_alerts=settings.ingest_batch_alerts, max_queued=settings.ingest_queue_alerts,
        on_batch=metrics.ingest_batch.observe,
    )


def build_app(settings: Settings, services: Services | None = None, *,
              run_housekeeping: bool = True, run_worker: bool | None = None,
              worker_only: bool = False,
              channels: Mapping[str, Channel] | None = None) -> web.Application:
    """The service. ``worker_only``: the outbox worker with /healthz, /readyz and /metrics.
    ``channels`` replaces the channels the settings describe (tests inject fakes' transports).
    """
    channel_configs = configure(settings)  # a bad channel entry is refused before start
    services = services or Services(
        settings=settings, auth=Authenticator.from_settings(settings.auth), metrics=Metrics()
    )
    rate_limit = rate_limit_middleware(settings.api_rate_limit, keyed_by_token=bool(
        settings.auth.api_read_tokens or settings.auth.api_write_tokens))
    app = web.Application(middlewares=[error_middleware, rate_limit],
                          client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    add_routes(app, openapi, health_only=worker_only)
    if worker_only:
        run_housekeeping, run_worker = False, True

    async def database(app: web.Application) -> AsyncIterator[None]:
        db = make_database(settings)
        try:
            if settings.migrate_on_start:
                await migrate.upgrade(db.engine)
                log.info("database schema at %s", migrate.head_revision())
        except BaseException:
            await db.engine.dispose()
            raise
        services.database = db
        services.schema_head = migrate.head_revision()
        queue = ingest_queue(db, settings, services.metrics)
        services.ingest = queue.submit
        yield
        await queue.aclose()  # what was accepted for commit is committed before the engine goes
        services.ingest = None
        services.database = None
        await db.engine.dispose()

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            housekeeping.run_forever(services.db, settings, services.clock, services.metrics),
            name="housekeeping",
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def worker(app: web.Application) -> AsyncIterator[None]:
        made = dict(channels) if channels is not None else build_channels(channel_configs)
        delivery = Worker(services.db, made, settings.delivery,
                          settings.notifications, services.metrics, services.clock)
        services.wake = delivery.wake
        services.wake_for_silences = delivery.wake_for_silences
        task = asyncio.create_task(delivery.run_forever(), name="outbox-worker")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await delivery.aclose()

    app.cleanup_ctx.append(database)
    if run_housekeeping:
        app.cleanup_ctx.append(background)
    if run_worker if run_worker is not None else settings.delivery.worker_in_serve:
        app.cleanup_ctx.append(worker)
    return app
