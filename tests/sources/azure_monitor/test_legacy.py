"""The non-common ("legacy") shapes."""

from __future__ import annotations

from datetime import UTC, datetime

from aggregator.model import Status
from tests.sources.azure_monitor.samples import load, parse_one


def test_legacy_service_health_resolved_stage() -> None:
    payload = load("legacy-servicehealth.json")
    firing = parse_one(payload)
    payload["data"]["context"]["activityLog"]["properties"]["stage"] = "Resolved"
    payload["data"]["context"]["activityLog"]["eventTimestamp"] = "2017-10-19T01:00:00+00:00"
    payload["data"]["context"]["activityLog"]["eventDataId"] = "another-event"
    resolved = parse_one(payload)
    assert resolved.status is Status.RESOLVED
    assert resolved.ends_at == datetime(2017, 10, 19, 1, 0, tzinfo=UTC)
    assert resolved.identity == firing.identity
