"""Transient failures answer 503 with Retry-After, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aggregator.api.context import SERVICES
from tests.api.helpers import Client, alerts, post
from tests.conftest import PG_URL, pg_schema
from tests.helpers import load_payload

AM = "/webhooks/alertmanager"
# Settings of an app whose database sees only the requests' transactions: no outbox worker,
# and housekeeping with nothing to do (no expiry, no retention).
QUIET: dict[str, Any] = {"delivery": {"worker_in_serve": False},
                         "expire_after": timedelta(0), "retention": timedelta(0)}


class CuttableProxy:
    """A loopback TCP proxy to PostgreSQL that a test can cut and restore."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            await self._relay(reader, writer)
        finally:
            self.handlers.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                 self.upstream_port)
        except OSError:
            writer.close()
            return
        if not self.up:  # cut while connecting upstream: cut() did not see this one
            up_writer.close()
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    def restore(self) -> None:
        self.up = True

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        if self.handlers:  # every relay ends once cut: none outlives the proxy
            await asyncio.wait(self.handlers, timeout=5)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    if not PG_URL:
        pytest.skip("AGGREGATOR_TEST_DATABASE_URL not set (CI sets it)")
    async with pg_schema() as name:
        yield name


async def test_postgres_gone_answers_503_then_202_when_back(make_client: Any,
                                                            schema: str) -> None:
    proxy = CuttableProxy(5432)
    await proxy.start()
    client: Client | None = None
    try:
        url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert url != PG_URL
        client = await make_client(database_url=url, database_schema=schema)
        payload = load_payload("alertmanager", "firing_single_alert_group.json")
        await post(client, AM, payload)

        proxy.cut()
        response = await client.post(AM, json=payload)
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert (await response.json())["error"]["code"] == "unavailable"
        assert (await client.get("/readyz")).status == 503
        assert (await client.get("/api/v1/alerts")).status == 503

        proxy.restore()
        counts = await post(client, AM, payload)
        assert counts["repeats"] == 1
        (item,) = await alerts(client)
        assert item["occurrences"] == 2  # the refused delivery was not counted
        assert (await client.get("/readyz")).status == 200
    finally:
        if client is not None:  # the app (pool, worker) stops before its proxy goes away
            await client.close()
        await proxy.stop()


async def test_sqlite_locked_answers_503_then_202(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    # Only the requests write: no worker, and housekeeping with nothing to do (expiry and
    # retention off), so the lock below is taken at once and the last post finds it free.
    client: Client = await make_client(database_url=f"sqlite+aiosqlite:///{path}",
                                       sqlite_busy_timeout_ms=200, **QUIET)
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    holder = sqlite3.connect(path, timeout=5, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        response = await client.post(AM, json=payload)
        assert response.status == 503
        assert "locked" in (await response.json())["error"]["message"]
        assert response.headers["Retry-After"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (await post(client, AM, payload))["new"] == 1


async def test_pool_exhausted_answers_503(make_client: Any) -> None:
    # Nothing but the requests uses the one pooled connection (no worker, housekeeping with
    # nothing to do), so the test can hold it.
    client: Client = await make_client(db_pool_size=1, db_pool_timeout=0.2, **QUIET)
    engine = client.app[SERVICES].db.engine
    async with holding_the_connection(engine):
        response = await client.post(AM, json=load_payload("alertmanager",
                                                      "firing_single_alert_group.json"))
        assert response.status == 503
        assert "pool" in (await response.json())["error"]["message"]
    assert (await client.post(AM, json=load_payload("alertmanager",
                                               "firing_single_alert_group.json"))).status == 202


@contextlib.asynccontextmanager
async def holding_the_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Hold the pool's one connection, taken once free (at worst the app's startup may still
    use it for a moment)."""
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        try:
            connection = await engine.connect()
            break
        except PoolTimeoutError:
            if asyncio.get_running_loop().time() > deadline:
                raise
    try:
        yield connection
    finally:
        await connection.close()
