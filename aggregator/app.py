"""Composition root: settings -> database -> services -> aiohttp application.

The only place that wires things together. Nothing is created at import time; everything
is built by :func:`build_app` (the database engine connects on first use), migrated when
the application starts (unless ``migrate_on_start`` is off), and closed when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from aiohttp import web

from aggregator.api.access_log import AccessLogger
from aggregator.api.auth import Authenticator
from aggregator.api.context import SERVICES, Services
from aggregator.api.openapi import openapi
from aggregator.api.ratelimit import rate_limit_middleware
from aggregator.api.responses import error_middleware
from aggregator.api.routes import add_routes
from aggregator.background import Background
from aggregator.channels import build_channels, configure
from aggregator.channels.base import Channel
from aggregator.clock import Clock, utc_now
from aggregator.config.service import Settings
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.pipeline.ingest import Ingest
from aggregator.store import migrate
from aggregator.store.db import make_database

log = logging.getLogger(__name__)


class Role(enum.StrEnum):
    """What one process of the service does."""

    SERVE = "serve"  # API, background jobs, and the worker when delivery.worker_in_serve
    SERVE_COPY = "serve-copy"  # another process of serve --processes N: no expiry/retention
    WORKER = "worker"  # only the outbox worker, with /healthz, /readyz and /metrics
    API = "api"  # only the API: nothing runs in the background (tests, tools)


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


def _task_context(name: str, run: Callable[[], Coroutine[Any, Any, None]]
                  ) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    """A cleanup context that runs ``run()`` as a task while the application runs."""

    @contextlib.asynccontextmanager
    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run(), name=name)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


def build_app(settings: Settings, role: Role = Role.SERVE, *,
              channels: Mapping[str, Channel] | None = None,
              clock: Clock = utc_now) -> web.Application:
    """The service in ``role``. ``channels`` replaces the channels the settings describe
    (tests inject fakes' transports)."""
    channel_configs = configure(settings)  # a bad channel entry is refused before start
    db = make_database(settings)
    metrics = Metrics()
    worker: Worker | None = None
    if role is Role.WORKER or (role in (Role.SERVE, Role.SERVE_COPY)
                               and settings.delivery.worker_in_serve):
        made = dict(channels) if channels is not None else build_channels(channel_configs)
        worker = Worker(db, made, settings.delivery, metrics, clock)
    wake = worker.wake if worker is not None else (lambda: None)
    background = (Background(db, settings, metrics, clock, wake=wake,
                             housekeeping=role is Role.SERVE)
                  if role in (Role.SERVE, Role.SERVE_COPY) else None)
    services = Services(
        settings=settings, auth=Authenticator.from_settings(settings.auth), metrics=metrics,
        db=db, ingest=Ingest(db, settings, metrics, wake=wake), clock=clock,
        schema_head=migrate.head_revision(), wake=wake,
        silences_changed=background.silences_changed if background is not None
        else (lambda: None),
    )
    rate_limit = rate_limit_middleware(settings.api_rate_limit, keyed_by_token=bool(
        settings.auth.api_read_tokens or settings.auth.api_write_tokens))
    app = web.Application(middlewares=[error_middleware, rate_limit],
                          client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    add_routes(app, openapi, health_only=role is Role.WORKER)

    async def database(app: web.Application) -> AsyncIterator[None]:
        try:
            if settings.migrate_on_start:
                await migrate.upgrade(db.engine)
                log.info("database schema at %s", services.schema_head)
        except BaseException:
            await db.engine.dispose()
            raise
        yield
        await services.ingest.aclose()  # what was accepted for commit is committed first
        await db.engine.dispose()

    app.cleanup_ctx.append(database)
    if background is not None:
        app.cleanup_ctx.append(_task_context("background", background.run_forever))
    if worker is not None:
        delivery = worker

        async def deliver(app: web.Application) -> AsyncIterator[None]:
            async with _task_context("outbox-worker", delivery.run_forever)(app):
                yield
            await delivery.aclose()

        app.cleanup_ctx.append(deliver)
    return app
