"""Ingest through the real HTTP app: normalization, dedup, episodes (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.helpers import Client, alerts, events, post, shifted
from tests.helpers import PAYLOADS, load_payload

AM = "/webhooks/alertmanager"
AZ = "/webhooks/azure-monitor"


async def test_alertmanager_firing_is_stored_normalized(client: Client) -> None:
    counts = await post(client, AM, load_payload("alertmanager", "firing_single_alert_group.json"))
    assert counts == {"received": 1, "new": 1, "repeats": 0, "resolved": 0, "stale": 0,
                      "truncated": 0}
    (item,) = await alerts(client)
    assert item["name"] == "KubeNodeNotReady"
    assert item["status"] == "firing"
    assert item["severity"] == "critical"
    assert item["source"] == "alertmanager"
    assert item["labels"]["node"] == "worker-3"
    assert item["occurrences"] == 1
    assert item["ends_at"] is None
    assert [link["text"] for link in item["links"]] == ["Source (Prometheus)", "Runbook"]
    kinds = [e["kind"] for e in await events(client, item["id"])]
    assert kinds == ["opened"]


async def test_repeats_bump_occurrences_and_are_logged_coalesced(make_client: Any) -> None:
    # Repeats coalesce per window of wall-clock time (floor(epoch / interval)); with the
    # default 5 minutes the posts could straddle a window boundary and log two events.
    client: Client = await make_client(repeat_event_interval=timedelta(days=36_500))
    payload = load_payload("alertmanager", "repeat_notification.json")
    for _ in range(5):
        await post(client, AM, payload)
    counts = await post(client, AM, payload)
    assert counts["repeats"] == 1 and counts["new"] == 0
    (item,) = await alerts(client)
    assert item["occurrences"] == 6
    assert item["last_received_at"] >= item["first_received_at"]
    history = await events(client, item["id"])
    assert [e["kind"] for e in history] == ["repeat", "opened"]
    assert history[0]["count"] == 5


async def test_ha_pair_copies_merge_into_one_alert(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_multi_alert_group.json")
    peer = copy.deepcopy(payload)
    peer["externalURL"] = "http://alertmanager-1.monitoring:9093"
    await post(client, AM, payload)
    counts = await post(client, AM, peer)
    assert counts["repeats"] == 3 and counts["new"] == 0
    listed = await alerts(client)
    assert len(listed) == 3
    assert {item["occurrences"] for item in listed} == {2}


async def test_concurrent_identical_deliveries_give_one_open_alert(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    peer = copy.deepcopy(payload)
    peer["externalURL"] = "http://alertmanager-1.monitoring:9093"
    results = await asyncio.gather(
        *(post(client, AM, payload) for _ in range(20)), post(client, AM, peer)
    )
    assert sum(r["new"] for r in results) == 1
    assert sum(r["repeats"] for r in results) == 20
    (item,) = await alerts(client, status="firing")
    assert item["occurrences"] == 21


async def test_group_firing_carries_a_resolved_alert(client: Client) -> None:
    await post(client, AM, load_payload("alertmanager", "firing_crashloop_group.json"))
    counts = await post(client, AM, load_payload("alertmanager", "partially_resolved_group.json"))
    assert counts["resolved"] == 1 and counts["repeats"] == 1
    by_pod = {item["labels"]["pod"]: item for item in await alerts(client)}
    statuses = sorted(item["status"] for item in by_pod.values())
    assert statuses == ["firing", "resolved"]
    resolved = next(item for item in by_pod.values() if item["status"] == "resolved")
    assert resolved["ends_at"] is not None
    assert resolved["resolved_reason"] == "source"


async def test_firing_after_resolved_opens_a_new_episode(client: Client) -> None:
    firing = load_payload("alertmanager", "firing_single_alert_group.json")
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-11-26T19:25:00Z"
    await post(client, AM, firing)
    assert (await post(client, AM, resolved))["resolved"] == 1
    refire = shifted(firing, 10)
    assert (await post(client, AM, refire))["new"] == 1
    listed = await alerts(client)
    assert [item["status"] for item in listed] == ["firing", "resolved"]
    assert listed[0]["fingerprint"] == listed[1]["fingerprint"]
    assert listed[0]["id"] != listed[1]["id"]
    assert len(await alerts(client, status="firing")) == 1


async def test_stale_firing_never_reopens_a_resolved_episode(client: Client) -> None:
    firing = load_payload("alertmanager", "firing_single_alert_group.json")
    resolved = copy.deepcopy(firing)
    resolved["alerts"][0].update(status="resolved", endsAt="2026-11-26T19:25:00Z")
    await post(client, AM, firing)
    await post(client, AM, resolved)
    counts = await post(client, AM, firing)  # a late retry of the first delivery
    assert counts["stale"] == 1 and counts["new"] == 0
    (item,) = await alerts(client)
    assert item["status"] == "resolved"
    assert [e["kind"] for e in await events(client, item["id"])] == ["stale", "resolved", "opened"]


async def test_resolved_that_arrives_first_stays_resolved(client: Client) -> None:
    firing = load_payload("alertmanager", "firing_single_alert_group.json")
    resolved = copy.deepcopy(firing)
    resolved["alerts"][0].update(status="resolved", endsAt="2026-11-26T19:25:00Z")
    assert (await post(client, AM, resolved))["resolved"] == 1
    assert (await post(client, AM, firing))["stale"] == 1
    (item,) = await alerts(client)
    assert item["status"] == "resolved"
    assert item["ends_at"].startswith("2026-11-26T19:25:00")
    assert await alerts(client, status="firing") == []


async def test_truncated_alerts_are_recorded(client: Client) -> None:
    payload = load_payload("alertmanager", "truncated_max_alerts_2_no_auth_dotted_receiver.json")
    counts = await post(client, AM, payload)
    assert counts["truncated"] == 1 and counts["new"] == 2
    item = (await alerts(client))[0]
    assert item["raw"]["truncated_alerts"] == 1
    assert item["raw"]["receiver"] == payload["receiver"]
    metrics = await (await client.get("/metrics")).text()
    assert "aggregator_alertmanager_truncated_alerts_total 1.0" in metrics


async def test_empty_alert_list_is_accepted(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    payload["alerts"] = []
    assert (await post(client, AM, payload))["received"] == 0


async def rejected(client: Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await client.get("/api/v1/rejected")).json())["items"]
    return items


async def test_alertmanager_alert_without_alertname_is_stored_named_by_its_summary(
    client: Client,
) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    del payload["alerts"][0]["labels"]["alertname"]
    assert (await post(client, AM, payload))["new"] == 1
    (item,) = await alerts(client)
    assert item["name"] == "Node is not ready."
    assert item["status"] == "firing" and item["severity"] == "critical"
    assert "alertname" not in item["labels"]
    assert await rejected(client) == []


async def test_alertmanager_alert_with_no_labels_is_422_and_kept(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    payload["alerts"][0]["labels"] = {}
    body = await post(client, AM, payload, status=422)
    assert body["error"]["field"] == "alerts.0.labels"
    (row,) = await rejected(client)
    assert row["field"] == "alerts.0.labels" and row["source"] == "alertmanager"
    assert await alerts(client) == []


async def test_alertmanager_resolved_with_go_zero_end_resolves_the_open_alert(
    client: Client,
) -> None:
    firing = load_payload("alertmanager", "firing_single_alert_group.json")
    resolved = copy.deepcopy(firing)
    resolved["status"] = "resolved"
    resolved["alerts"][0].update(status="resolved", endsAt="0001-01-01T00:00:00Z")
    await post(client, AM, firing)
    before = datetime.now(UTC)
    assert (await post(client, AM, resolved))["resolved"] == 1
    after = datetime.now(UTC)
    (item,) = await alerts(client)
    assert item["status"] == "resolved" and item["resolved_reason"] == "source"
    assert before <= datetime.fromisoformat(item["ends_at"]) <= after  # at its receipt
    assert await alerts(client, status="firing") == []
    assert await rejected(client) == []


async def test_alertmanager_resolved_first_with_go_zero_end_records_the_missing_end(
    client: Client,
) -> None:
    resolved = load_payload("alertmanager", "firing_single_alert_group.json")
    resolved["alerts"][0].update(status="resolved", endsAt="0001-01-01T00:00:00Z")
    assert (await post(client, AM, resolved))["resolved"] == 1
    (item,) = await alerts(client)
    assert item["status"] == "resolved" and item["ends_at"] is not None
    assert item["raw"]["ends_at_missing"] is True


# --- Azure Monitor ---------------------------------------------------------------------------


async def test_azure_metric_alert_fired_then_resolved(client: Client) -> None:
    fired = load_payload("azure_monitor", "common-metric-static-resolved.json")
    fired["data"]["essentials"]["monitorCondition"] = "Fired"
    fired["data"]["essentials"].pop("resolvedDateTime", None)
    assert (await post(client, AZ, fired))["new"] == 1
    resolved = load_payload("azure_monitor", "common-metric-static-resolved.json")
    assert (await post(client, AZ, resolved))["resolved"] == 1
    (item,) = await alerts(client)
    assert item["status"] == "resolved"
    assert item["source"] == "azure_monitor"
    assert item["occurrences"] == 2
    assert item["labels"]["azure_monitoring_service"] == "Platform"


async def test_azure_resolve_without_targets_resolves_the_fired_alert(client: Client) -> None:
    """``alertTargetIDs`` is optional in the common schema: a ``Resolved`` that leaves it
    out still names the episode by ``essentials.alertId``, and resolves it."""
    fired = load_payload("azure_monitor", "common-metric-static-resolved.json")
    fired["data"]["essentials"]["monitorCondition"] = "Fired"
    fired["data"]["essentials"].pop("resolvedDateTime", None)
    assert (await post(client, AZ, fired))["new"] == 1
    other = copy.deepcopy(fired)  # another alert of the same rule stays open
    other["data"]["essentials"]["alertId"] = fired["data"]["essentials"]["alertId"] + "-other"
    other["data"]["essentials"]["alertTargetIDs"] = ["/subscriptions/x/resourceGroups/y/other"]
    assert (await post(client, AZ, other))["new"] == 1
    resolved = load_payload("azure_monitor", "common-metric-static-resolved.json")
    del resolved["data"]["essentials"]["alertTargetIDs"]
    assert (await post(client, AZ, resolved)) == {
        "received": 1, "new": 0, "repeats": 0, "resolved": 1, "stale": 0, "truncated": 0}
    by_ref = {item["source_ref"]: item for item in await alerts(client)}
    assert len(by_ref) == 2
    assert by_ref[fired["data"]["essentials"]["alertId"]]["status"] == "resolved"
    assert by_ref[other["data"]["essentials"]["alertId"]]["status"] == "firing"


async def test_one_azure_rule_on_two_resources_is_two_alerts(client: Client) -> None:
    first = load_payload("azure_monitor", "common-metric-static.json")
    second = copy.deepcopy(first)
    essentials = second["data"]["essentials"]
    essentials["alertId"] = essentials["alertId"][:-4] + "beef"
    essentials["alertTargetIDs"] = [essentials["alertTargetIDs"][0] + "-two"]
    await post(client, AZ, first)
    assert (await post(client, AZ, second))["new"] == 1
    listed = await alerts(client, status="firing")
    assert len(listed) == 2
    assert len({item["fingerprint"] for item in listed}) == 2


async def test_one_azure_rule_on_two_dimension_values_is_two_alerts(client: Client) -> None:
    first = load_payload("azure_monitor", "common-metric-static.json")
    second = copy.deepcopy(first)
    essentials = second["data"]["essentials"]
    essentials["alertId"] = essentials["alertId"][:-4] + "cafe"
    condition = second["data"]["alertContext"]["condition"]["allOf"][0]
    condition["dimensions"] = [{"name": "ApiName", "value": "PutBlob"}]
    await post(client, AZ, first)
    assert (await post(client, AZ, second))["new"] == 1
    apis = sorted(item["labels"]["ApiName"] for item in await alerts(client))
    assert apis == ["GetBlob", "PutBlob"]


async def test_service_health_stage_resolved_resolves_the_incident(client: Client) -> None:
    active = load_payload("azure_monitor", "common-servicehealth.json")
    properties = active["data"]["alertContext"]["properties"]
    properties["stage"] = "Active"
    update = copy.deepcopy(active)
    update["data"]["essentials"]["alertId"] += "-update"
    resolved = copy.deepcopy(active)
    resolved["data"]["essentials"]["alertId"] += "-resolved"
    resolved["data"]["alertContext"]["properties"]["stage"] = "Resolved"
    other = copy.deepcopy(active)
    other["data"]["essentials"]["alertId"] += "-other"
    other["data"]["alertContext"]["properties"]["trackingId"] = "OTHER-123"

    assert (await post(client, AZ, active))["new"] == 1
    assert (await post(client, AZ, update))["repeats"] == 1  # new alertId, same trackingId
    assert (await post(client, AZ, other))["new"] == 1  # another incident is another problem
    assert (await post(client, AZ, resolved))["resolved"] == 1
    by_status = {item["status"]: item for item in await alerts(client)}
    assert by_status["resolved"]["occurrences"] == 3
    assert len(await alerts(client, status="firing")) == 1


async def test_azure_unknown_monitoring_service_is_stored_not_rejected(client: Client) -> None:
    payload = load_payload("azure_monitor", "common-metric-static.json")
    payload["data"]["essentials"]["monitoringService"] = "Brand New Service"
    payload["data"]["alertContext"] = {"whatever": {"nested": [1, 2]}}
    assert (await post(client, AZ, payload))["new"] == 1
    (item,) = await alerts(client)
    assert item["name"] == "test-metricAlertRule"
    assert item["severity"] == "info"
    assert item["raw"]["data"]["alertContext"] == {"whatever": {"nested": [1, 2]}}


async def test_azure_common_body_without_the_essentials_is_422_and_kept(client: Client) -> None:
    payload = {"schemaId": "azureMonitorCommonAlertSchema",
               "data": {"essentials": {"severity": "Sev9"}}}
    body = await post(client, AZ, payload, status=422)
    assert body["error"]["code"] == "invalid_payload"
    assert body["error"]["field"] == "data.essentials.alertRule"
    (row,) = await rejected(client)
    assert row["source"] == "azure_monitor" and row["status_code"] == 422
    assert row["field"] == "data.essentials.alertRule"
    assert await alerts(client) == []


async def test_azure_common_body_with_an_invalid_essential_is_422_naming_it(
    client: Client,
) -> None:
    payload = load_payload("azure_monitor", "common-metric-static.json")
    payload["data"]["essentials"]["monitorCondition"] = "Pending"
    body = await post(client, AZ, payload, status=422)
    assert body["error"]["field"] == "data.essentials.monitorCondition"
    assert "Fired or Resolved" in body["error"]["message"]
    (row,) = await rejected(client)
    assert row["field"] == "data.essentials.monitorCondition"


async def test_azure_legacy_body_without_its_rule_name_is_422_and_kept(client: Client) -> None:
    payload = load_payload("azure_monitor", "legacy-metric-alert.json")
    del payload["data"]["context"]["name"]
    body = await post(client, AZ, payload, status=422)
    assert body["error"]["field"] == "data.context.name"
    (row,) = await rejected(client)
    assert row["field"] == "data.context.name"
    assert await alerts(client) == []


async def test_log_analytics_severity_low_is_stored_as_info(client: Client) -> None:
    for name, severity in [("legacy-log-analytics.json", "Low"),
                           ("legacy-log-analytics-v1-test-action.json", "High")]:
        payload = load_payload("azure_monitor", name)
        payload["Severity"] = severity
        assert (await post(client, AZ, payload))["new"] == 1
    by_name = {item["name"]: item["severity"] for item in await alerts(client)}
    assert by_name == {"AcmeRule": "info", "test-logAlertRule-v1-metricMeasurement": "critical"}


async def test_every_azure_sample_is_accepted(client: Client) -> None:
    names = sorted(p.name for p in (PAYLOADS / "azure_monitor").glob("*.json"))
    assert len(names) >= 30
    for name in names:
        await post(client, AZ, load_payload("azure_monitor", name))
    listed = await alerts(client, limit=500)
    assert len(listed) >= len(names) - 5  # some samples are episodes of one another
    assert all(item["name"] for item in listed)


# --- bad input ---------------------------------------------------------------------------------


async def test_invalid_json_is_400_and_kept(client: Client) -> None:
    response = await client.post(AM, data=b'{"alerts": [', headers={
        "Content-Type": "application/json", "Authorization": "Bearer not-configured-anyway"})
    assert response.status == 400
    body = await response.json()
    assert body["error"]["code"] == "invalid_json"
    rejected = await (await client.get("/api/v1/rejected")).json()
    (row,) = rejected["items"]
    assert row["status_code"] == 400 and row["body"] == '{"alerts": ['
    assert row["headers"]["authorization"] == "[redacted]"
    assert "not-configured-anyway" not in str(rejected)


async def test_schema_invalid_is_422_naming_the_field_and_kept(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    payload["alerts"][0]["startsAt"] = "soon"
    body = await post(client, AM, payload, status=422)
    assert body["error"]["field"] == "alerts.0.startsAt"
    assert "startsAt" in body["error"]["message"]
    (row,) = (await (await client.get("/api/v1/rejected")).json())["items"]
    assert row["field"] == "alerts.0.startsAt" and row["source"] == "alertmanager"


async def test_invalid_utf8_is_400(client: Client) -> None:
    response = await client.post(AZ, data=b'{"a": "\xff\xfe"}',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "UTF-8" in (await response.json())["error"]["message"]
    (row,) = (await (await client.get("/api/v1/rejected")).json())["items"]
    assert row["body_base64"] == "eyJhIjogIv/+In0="


async def test_wrong_content_type_is_415(client: Client) -> None:
    response = await client.post(AM, data=b"alerts=1",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 415


async def test_body_above_the_limit_is_413_and_kept_truncated(make_client: Any) -> None:
    client = await make_client(max_body_bytes=2048)
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    payload["alerts"][0]["annotations"]["description"] = "x" * 5000
    response = await client.post(AM, json=payload)
    assert response.status == 413
    (row,) = (await (await client.get("/api/v1/rejected")).json())["items"]
    assert row["body_truncated"] is True
    assert len(row["body"]) == 2048 and row["body_size"] > 5000


async def test_nul_characters_are_stored_replaced(client: Client) -> None:
    payload = load_payload("alertmanager", "firing_single_alert_group.json")
    payload["alerts"][0]["annotations"]["summary"] = "bad\u0000byte"
    await post(client, AM, payload)
    (item,) = await alerts(client)
    assert item["summary"] == "bad\ufffdbyte"


async def test_out_of_range_number_is_400(client: Client) -> None:
    response = await client.post(AM, data=b'{"version": "4", "alerts": [], "x": 1e400}',
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "out of range" in (await response.json())["error"]["message"]


async def test_very_long_episode_reference_is_hashed_consistently(client: Client) -> None:
    fired = load_payload("azure_monitor", "common-metric-static-resolved.json")
    fired["data"]["essentials"]["monitorCondition"] = "Fired"
    resolved = load_payload("azure_monitor", "common-metric-static-resolved.json")
    for payload in (fired, resolved):
        payload["data"]["essentials"]["alertId"] += "x" * 600
    await post(client, AZ, fired)
    assert (await post(client, AZ, resolved))["resolved"] == 1
    (item,) = await alerts(client)
    assert item["source_ref"].startswith("sha256:")
