"""Small helpers for HTTP tests: post payloads, list alerts (payloads: ``tests.helpers``)."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]


def shifted(payload: dict[str, Any], minutes: float) -> dict[str, Any]:
    """A copy of an Alertmanager message with every timestamp moved by ``minutes``."""
    result = copy.deepcopy(payload)
    for entry in result["alerts"]:
        for key in ("startsAt", "endsAt"):
            value = entry[key]
            if not value.startswith("0001-"):
                moved = datetime.fromisoformat(value) + timedelta(minutes=minutes)
                entry[key] = moved.isoformat().replace("+00:00", "Z")
    return result


async def post(client: Client, path: str, payload: Any, *, status: int = 202,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await client.post(path, data=json.dumps(payload),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    body: dict[str, Any] = await response.json()
    assert response.status == status, body
    return body


async def alerts(client: Client, headers: dict[str, str] | None = None,
                 **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/alerts", params=params, headers=headers)
    body = await response.json()
    assert response.status == 200, body
    items: list[dict[str, Any]] = body["items"]
    return items


async def events(client: Client, alert_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/alerts/{alert_id}/events", params={"limit": 500})
    assert response.status == 200
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items
