"""History API: filters, cursor pagination, single alert, events, errors, OpenAPI."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from aggregator.api.routes import ROUTES
from tests.api.helpers import Client, alerts, post, shifted
from tests.helpers import load_payload

AM = "/webhooks/alertmanager"


async def _seed(client: Client) -> None:
    await post(client, AM, load_payload("alertmanager", "firing_single_alert_group.json"))
    await post(client, AM, load_payload("alertmanager", "firing_multi_alert_group.json"))
    await post(client, AM, load_payload("alertmanager", "firing_crashloop_group.json"))
    await post(client, AM, load_payload("alertmanager", "partially_resolved_group.json"))
    await post(client, "/webhooks/azure-monitor", load_payload("azure_monitor",
                                                          "common-metric-static.json"))


async def test_filters_by_status_severity_source(client: Client) -> None:
    await _seed(client)
    everything = await alerts(client)
    assert len(everything) == 7
    assert {i["status"] for i in await alerts(client, status="resolved")} == {"resolved"}
    assert len(await alerts(client, status="resolved")) == 1
    critical = await alerts(client, severity="critical")
    assert [i["name"] for i in critical] == ["KubeNodeNotReady"]
    both = await alerts(client, severity="critical,info")
    assert {i["severity"] for i in both} == {"critical", "info"}
    azure = await alerts(client, source="azure_monitor")
    assert [i["source"] for i in azure] == ["azure_monitor"]


async def test_label_filters_combine(client: Client) -> None:
    await _seed(client)
    payments = await alerts(client, label="namespace=payments")
    assert payments and all(i["labels"]["namespace"] == "payments" for i in payments)
    response = await client.get("/api/v1/alerts", params=[
        ("label", "namespace=payments"), ("label", "container=api")])
    narrowed = (await response.json())["items"]
    assert narrowed and len(narrowed) < len(payments)
    assert all(i["labels"]["container"] == "api" for i in narrowed)
    assert await alerts(client, label="namespace=nowhere") == []
    azure = await alerts(client, label="ApiName=GetBlob")
    assert [i["source"] for i in azure] == ["azure_monitor"]


async def test_text_search_over_name_and_summary(client: Client) -> None:
    await _seed(client)
    by_name = await alerts(client, q="nodenotready")
    assert [i["name"] for i in by_name] == ["KubeNodeNotReady"]
    by_summary = await alerts(client, q="crash looping")
    assert by_summary and all("crash" in i["summary"].lower() for i in by_summary)
    assert await alerts(client, q="100%_") == []


async def test_since_and_until(client: Client) -> None:
    await _seed(client)
    (newest, *_) = await alerts(client)
    assert len(await alerts(client, since=newest["last_received_at"])) >= 1
    assert await alerts(client, until="2000-01-01T00:00:00Z") == []
    assert await alerts(client, since="2999-01-01T00:00:00Z") == []


async def test_cursor_pagination_newest_first_without_gaps(client: Client) -> None:
    base = load_payload("alertmanager", "firing_single_alert_group.json")
    for n in range(7):
        payload = copy.deepcopy(base)
        payload["alerts"][0]["labels"]["node"] = f"worker-{n}"
        await post(client, AM, payload)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = await (await client.get("/api/v1/alerts", params=params)).json()
        seen += [i["labels"]["node"] for i in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"worker-{n}" for n in reversed(range(7))]


async def test_cursor_pages_through_alerts_received_in_one_request(client: Client) -> None:
    """Alerts of one delivery share first_received_at: the cursor's id breaks the tie, so
    pages neither repeat nor skip any of them, with or without a filter."""
    base = load_payload("alertmanager", "firing_single_alert_group.json")
    payload = copy.deepcopy(base)
    payload["alerts"] = []
    for n in range(11):
        entry = copy.deepcopy(base["alerts"][0])
        entry["labels"]["node"] = f"worker-{n}"
        if n % 2:
            entry.update(status="resolved", endsAt="2026-11-26T19:30:00Z")
        payload["alerts"].append(entry)
    await post(client, AM, payload)
    everything = await alerts(client)
    assert len({i["first_received_at"] for i in everything}) == 1
    assert [i["id"] for i in everything] == sorted((i["id"] for i in everything), reverse=True)
    for params, expected in [({}, everything),
                             ({"status": "resolved"},
                              [i for i in everything if i["status"] == "resolved"])]:
        seen: list[str] = []
        cursor = None
        while True:
            query: dict[str, Any] = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
            body = await (await client.get("/api/v1/alerts", params=query)).json()
            seen += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == [i["id"] for i in expected], params


async def test_bad_query_parameters_are_400_naming_the_field(client: Client) -> None:
    for params, field in [({"limit": 0}, "limit"), ({"limit": 501}, "limit"),
                          ({"status": "open"}, "status"), ({"cursor": "garbage"}, "cursor"),
                          ({"label": "novalue"}, "label"), ({"since": "yesterday"}, "since"),
                          ({"bogus": "1"}, "bogus")]:
        response = await client.get("/api/v1/alerts", params=params)
        assert response.status == 400, params
        assert (await response.json())["error"]["field"].startswith(field), params


async def test_single_alert_and_its_events(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    await post(client, AM, payload)
    await post(client, AM, payload)
    resolved = shifted(payload, 0)
    resolved["alerts"][0].update(status="resolved", endsAt="2026-11-26T19:30:00Z")
    await post(client, AM, resolved)
    (item,) = await alerts(client)
    one = await (await client.get(f"/api/v1/alerts/{item['id']}")).json()
    assert one == item
    body = await (await client.get(f"/api/v1/alerts/{item['id']}/events")).json()
    assert [e["kind"] for e in body["items"]] == ["resolved", "repeat", "opened"]
    assert body["items"][0]["detail"]["ends_at"].startswith("2026-11-26T19:30:00")
    page = await (await client.get(f"/api/v1/alerts/{item['id']}/events",
                                   params={"limit": 1})).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await (await client.get(f"/api/v1/alerts/{item['id']}/events",
                                   params={"cursor": page["next_cursor"]})).json()
    assert [e["kind"] for e in rest["items"]] == ["repeat", "opened"]


async def test_unknown_alert_is_404(client: Client) -> None:
    for path in (f"/api/v1/alerts/{uuid.uuid4()}", "/api/v1/alerts/not-a-uuid",
                 f"/api/v1/alerts/{uuid.uuid4()}/events"):
        response = await client.get(path)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


async def test_openapi_describes_every_route(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert str(route.status) in operation["responses"]
    app_routes = {(r.method, r.resource.canonical) for r in client.app.router.routes()
                  if r.method != "HEAD" and r.resource is not None}
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert app_routes == documented
    schemas = document["components"]["schemas"]
    for name in ("AlertOut", "AlertPage", "IngestOut", "ErrorOut", "RejectedPage"):
        assert name in schemas
    assert "severity" in schemas["AlertOut"]["properties"]
    params = {p["name"] for p in document["paths"]["/api/v1/alerts"]["get"]["parameters"]}
    assert {"status", "severity", "source", "label", "q", "since", "until", "cursor",
            "limit"} <= params
