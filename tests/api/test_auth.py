"""Webhook and API tokens: which requests are refused, which roles may do what."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest

from tests.api.helpers import Client
from tests.helpers import load_payload

AM_TOKEN = "am-token-0123456789abcdef"
AZ_TOKEN = "az-token-0123456789abcdef"
READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"


@pytest.fixture
async def secured(make_client: Any) -> Client:
    client: Client = await make_client(auth={
        "alertmanager_tokens": [AM_TOKEN], "azure_monitor_tokens": [AZ_TOKEN],
        "api_read_tokens": [READ], "api_write_tokens": [WRITE],
    })
    return client


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong-token-0123456789"}, 401),
     ({"Authorization": f"Basic {AM_TOKEN}"}, 401),
     ({"Authorization": f"Bearer {AZ_TOKEN}"}, 401),
     ({"Authorization": f"Bearer {AM_TOKEN}"}, 202)],
    ids=["missing", "wrong", "not-bearer", "other-source-token", "right"],
)
async def test_alertmanager_needs_its_bearer_token(secured: Client, headers: dict[str, str],
                                                   status: int) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    response = await secured.post("/webhooks/alertmanager", headers=headers, json=payload)
    assert response.status == status
    if status == 401:
        assert (await response.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("params", "headers", "status"),
    [({}, {}, 401), ({"token": "wrong-token-0123456789"}, {}, 401),
     ({"token": AZ_TOKEN}, {}, 202),
     ({}, {"Authorization": "Basic " + base64.b64encode(f"azure:{AZ_TOKEN}".encode()).decode()},
      202),
     ({}, {"Authorization": "Basic " + base64.b64encode(b"azure:nope").decode()}, 401)],
    ids=["missing", "wrong-query", "query", "basic-auth-in-url", "wrong-basic"],
)
async def test_azure_token_in_query_or_basic_auth(secured: Client, params: dict[str, str],
                                                  headers: dict[str, str], status: int) -> None:
    response = await secured.post("/webhooks/azure-monitor", params=params, headers=headers,
                                  json=load_payload("azure_monitor", "common-metric-static.json"))
    assert response.status == status


async def test_basic_auth_in_the_url_as_azure_sends_it(secured: Client) -> None:
    url = secured.make_url("/webhooks/azure-monitor").with_user("azure").with_password(AZ_TOKEN)
    response = await secured.session.post(url, json=load_payload("azure_monitor",
                                                            "common-metric-static.json"))
    assert response.status == 202


@pytest.mark.parametrize(
    ("token", "status"), [(None, 401), ("nope-nope-nope-nope", 401), (READ, 200), (WRITE, 200)],
    ids=["missing", "wrong", "read", "write"],
)
async def test_api_needs_a_read_or_write_token(secured: Client, token: str | None,
                                               status: int) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    for path in ("/api/v1/alerts", "/api/v1/rejected"):
        response = await secured.get(path, headers=headers)
        assert response.status == status, path


async def test_health_and_openapi_are_open(secured: Client) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert (await secured.get(path)).status == 200, path


async def test_tokens_never_reach_logs_or_rejected_payloads(
    secured: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await secured.post("/webhooks/alertmanager", data=b"{not json",
                       headers={"Authorization": f"Bearer {AM_TOKEN}",
                                "Content-Type": "application/json"})
    await secured.post("/webhooks/azure-monitor", params={"token": AZ_TOKEN}, data=b"[1,",
                       headers={"Content-Type": "application/json"})
    await secured.post("/webhooks/alertmanager", json={},
                       headers={"Authorization": "Bearer wrong-token-0123456789"})
    response = await secured.get("/api/v1/rejected", headers={"Authorization": f"Bearer {READ}"})
    stored = await response.text()
    assert len((await response.json())["items"]) == 2
    for secret in (AM_TOKEN, AZ_TOKEN, "wrong-token-0123456789"):
        assert secret not in stored
        assert secret not in caplog.text
