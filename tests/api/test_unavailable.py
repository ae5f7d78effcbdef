"""Transient failures answer 503 with Retry-After, and the service recovers by itself."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.api.context import SERVICES
from tests.api.helpers import Client, alerts, fixture, post
from tests.conftest import PG_URL, pg_schema

AM = "/webhooks/alertmanager"


class CuttableProxy:
    """A loopback TCP proxy to PostgreSQL that a test can cut and restore."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.up = True
        self.writers: set[asyncio.StreamWriter] = set()
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
        if not self.up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
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
    try:
        url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        assert url != PG_URL
        client: Client = await make_client(database_url=url, database_schema=schema)
        payload = fixture("alertmanager", "firing_single_alert_group.json")
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
        await proxy.stop()


async def test_sqlite_locked_answers_503_then_202(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    client: Client = await make_client(database_url=f"sqlite+aiosqlite:///{path}",
                                       sqlite_busy_timeout_ms=200)
    payload = fixture("alertmanager", "firing_single_alert_group.json")
    holder = sqlite3.connect(path, timeout=0.1, isolation_level=None)
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
    client: Client = await make_client(db_pool_size=1, db_pool_timeout=0.2)
    engine = client.app[SERVICES].db.engine
    async with engine.connect():
        response = await client.post(AM, json=fixture("alertmanager",
                                                      "firing_single_alert_group.json"))
        assert response.status == 503
        assert "pool" in (await response.json())["error"]["message"]
    assert (await client.post(AM, json=fixture("alertmanager",
                                               "firing_single_alert_group.json"))).status == 202
