"""Shared pieces of the fault tests: payloads, a fresh PostgreSQL schema, an
in-process app on a loopback port, and a listing of everything the API stored."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from aggregator.app import build_app
from aggregator.config.service import Settings
from tests.conftest import PG_URL, ServiceServer, pg_schema

AM = "/webhooks/alertmanager"
Client = TestClient[Any, Any]


def am_message(name: str, *, severity: str = "critical", description: str = "") -> dict[str, Any]:
    """An Alertmanager v4 message carrying one firing alert named ``name``."""
    labels = {"alertname": name, "severity": severity, "namespace": "faults",
              "cluster": "fault-test"}
    annotations = {"summary": f"{name} is failing",
                   "description": description or f"{name} failed in a fault test."}
    return {
        "version": "4", "receiver": "aggregator", "status": "firing",
        "groupKey": f'{{}}:{{alertname="{name}"}}', "truncatedAlerts": 0,
        "groupLabels": {"alertname": name}, "commonLabels": labels,
        "commonAnnotations": annotations, "externalURL": "http://127.0.0.1:9093",
        "alerts": [{
            "status": "firing", "labels": labels, "annotations": annotations,
            "startsAt": "2026-11-26T19:20:33.638Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://127.0.0.1:9090/graph", "fingerprint": uuid.uuid4().hex[:16],
        }],
    }



@contextlib.asynccontextmanager
async def running_app(channels: Any = None, **settings: Any) -> AsyncIterator[Client]:
    """The real application (migrations on start) behind a loopback test server."""
    app = build_app(Settings(**settings), channels=channels)
    client: Client = TestClient(ServiceServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def all_pages(get: Callable[[dict[str, Any]], Any], path: str,
                    **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list route; ``get(params)`` returns (status, body)."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 500, **params}
    while True:
        status, body = await get(query)
        assert status == 200, (path, status, body)
        items.extend(body["items"])
        if not body.get("next_cursor"):
            return items
        query = {**query, "cursor": body["next_cursor"]}


async def client_pages(client: Client, path: str, **params: Any) -> list[dict[str, Any]]:
    async def get(query: dict[str, Any]) -> tuple[int, Any]:
        response = await client.get(path, params=query)
        return response.status, await response.json()

    return await all_pages(get, path, **params)

__all__ = ["PG_URL", "pg_schema"]
