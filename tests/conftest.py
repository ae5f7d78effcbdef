"""Shared fixtures: a migrated database per test (SQLite file; PostgreSQL schema when
``AGGREGATOR_TEST_DATABASE_URL`` is set) and the real application on a loopback port."""

from __future__ import annotations

import asyncio
import asyncio.runners
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import AppRunner

from aggregator.app import build_app, runner_options
from aggregator.clock import Clock, utc_now
from aggregator.config.service import Settings
from aggregator.store import migrate
from aggregator.store.db import Database, make_database
from tests.fakes.smtp import Certificate, CertificateUnavailableError, make_certificate

PG_URL = os.environ.get("AGGREGATOR_TEST_DATABASE_URL", "")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@contextlib.asynccontextmanager
async def pg_schema() -> AsyncIterator[str]:
    """A fresh schema on the shared PostgreSQL server (never anything else), dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(asyncpg_dsn(PG_URL))
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield schema
    finally:
        conn = await asyncpg.connect(asyncpg_dsn(PG_URL))
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@pytest.fixture(params=DATABASES)
async def db_settings(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[dict[str, Any]]:
    """Settings keys naming an empty database of the parametrized kind."""
    if request.param == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"}
        return
    async with pg_schema() as schema:
        yield {"database_url": PG_URL, "database_schema": schema}


class ServiceServer(TestServer):
    """A test server whose runner has the same options as ``aggregator serve``."""

    async def _make_runner(self, **kwargs: Any) -> AppRunner:
        return AppRunner(self.app, **runner_options())


MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def make_client(db_settings: dict[str, Any]) -> AsyncIterator[MakeClient]:
    """Start the real application (migrations run on start) with extra settings."""
    clients: list[TestClient[Any, Any]] = []

    async def make(_channels: Any = None, _clock: Clock | None = None,
                   **overrides: Any) -> TestClient[Any, Any]:
        """``_channels`` replaces the configured channels, ``_clock`` the service's clock."""
        settings = Settings(**{**db_settings, **overrides})
        app = build_app(settings, channels=_channels, clock=_clock or utc_now)
        client = TestClient(ServiceServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


@pytest.fixture
def is_postgres(db_settings: dict[str, Any]) -> bool:
    return str(db_settings["database_url"]).startswith("postgresql")


async def gather(*aws: Awaitable[Any]) -> list[Any]:
    return list(await asyncio.gather(*aws))



def _bounded_cancel_all_tasks(loop: asyncio.AbstractEventLoop) -> None:
    """Loop teardown that cannot hang the run: cancel what is left, wait at most 10 s, and
    print any task that ignored its cancellation (with its stack) so CI shows it.

    pytest-asyncio closes each test's loop with ``asyncio.runners._cancel_all_tasks``, which
    waits without limit; twice, under two concurrent test runs, a leftover task did not end
    there and the run stalled. This keeps the evidence and the run alive.
    """
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    _, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=10))
    for task in stuck:
        print(f"task ignored cancellation at loop close: {task!r}", file=sys.stderr)
        task.print_stack(file=sys.stderr)


asyncio.runners._cancel_all_tasks = _bounded_cancel_all_tasks  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for the TLS fakes (SMTP, PagerDuty); made with ``openssl``.
    Without it the TLS tests skip, or fail under ``AGGREGATOR_REQUIRE_TOOLS=1`` (CI)."""
    try:
        return make_certificate(tmp_path_factory.mktemp("tls"))
    except CertificateUnavailableError as exc:
        if os.environ.get("AGGREGATOR_REQUIRE_TOOLS") == "1":
            pytest.fail(f"TLS tests need a self-signed certificate: {exc}")
        pytest.skip(f"TLS tests need a self-signed certificate: {exc}")


@pytest.fixture
async def db(db_settings: dict[str, Any]) -> AsyncIterator[Database]:
    """A migrated database (each parameter of ``db_settings``) for store-level tests."""
    database = make_database(Settings(**db_settings))
    await migrate.upgrade(database.engine)
    yield database
    await database.engine.dispose()
