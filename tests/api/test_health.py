"""Liveness, readiness (database reachable and migrated) and metrics."""

from __future__ import annotations

from typing import Any

from aggregator.store import migrate
from tests.api.helpers import Client, post
from tests.helpers import load_payload


async def test_healthz_and_readyz(client: Client) -> None:
    assert (await (await client.get("/healthz")).json())["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert migrate.head_revision() in (await ready.json())["detail"]


async def test_readyz_refuses_an_unmigrated_database(make_client: Any) -> None:
    client: Client = await make_client(migrate_on_start=False)
    response = await client.get("/readyz")
    assert response.status == 503
    assert "aggregator migrate" in (await response.json())["detail"]
    # and a webhook into the unmigrated database is a 503, not a 500
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    response = await client.post("/webhooks/alertmanager", json=payload)
    assert response.status == 503


async def test_metrics_count_requests_alerts_and_latency(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_multi_alert_group.json")
    await post(client, "/webhooks/alertmanager", payload)
    await post(client, "/webhooks/alertmanager", payload)
    await client.post("/webhooks/alertmanager", data=b"nope",
                      headers={"Content-Type": "application/json"})
    text = await (await client.get("/metrics")).text()
    assert ('aggregator_http_requests_total{code="202",method="POST",'
            'route="/webhooks/alertmanager"} 2.0') in text
    assert 'aggregator_alerts_total{outcome="new",source="alertmanager"} 3.0' in text
    assert 'aggregator_alerts_total{outcome="repeat",source="alertmanager"} 3.0' in text
    assert 'aggregator_rejected_payloads_total{code="400",source="alertmanager"} 1.0' in text
    assert 'aggregator_ingest_seconds_count{source="alertmanager"} 2.0' in text


async def test_503_answers_are_counted_by_source(make_client: Any) -> None:
    client: Client = await make_client(migrate_on_start=False)
    await client.post("/webhooks/azure-monitor",
                      json=load_payload("azure_monitor", "common-metric-static.json"))
    text = await (await client.get("/metrics")).text()
    assert 'aggregator_webhook_unavailable_total{reason="OperationalError",' \
           'source="azure_monitor"} 1.0' in text or \
           'aggregator_webhook_unavailable_total{reason="ProgrammingError",' \
           'source="azure_monitor"} 1.0' in text
