"""The non-common ("legacy") shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from aggregator.model import Severity, Status
from tests.sources.azure_monitor.samples import load, parse_one, refused


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


# --- what every alert of a shape carries ------------------------------------------------------

ABSENT = object()


def _set(payload: dict[str, Any], path: str, value: object) -> None:
    *parents, key = path.split(".")
    target = payload
    for part in parents:
        target = target[part]
    if value is ABSENT:
        del target[key]
    else:
        target[key] = value


@pytest.mark.parametrize(
    ("sample", "path", "value"),
    [
        ("legacy-metric-alert.json", "data.status", ABSENT),
        ("legacy-metric-alert.json", "data.status", "Fired"),
        ("legacy-metric-alert.json", "data.context.name", ABSENT),
        ("legacy-metric-alert.json", "data.context.name", " "),
        ("legacy-metric-alert.json", "data.context.timestamp", ABSENT),
        ("legacy-metric-alert.json", "data.context.timestamp", "soon"),
        ("legacy-classic-metric.json", "status", "Deactivated"),
        ("legacy-classic-metric.json", "context.name", None),
        ("legacy-classic-metric.json", "context.timestamp", ABSENT),
        ("legacy-activity-log.json", "data.context.activityLog.eventSource", ABSENT),
        ("legacy-activity-log.json", "data.context.activityLog.operationName", ""),
        ("legacy-activity-log.json", "data.context.activityLog.eventTimestamp", ABSENT),
        ("legacy-app-insights-log.json", "data.AlertRuleName", ABSENT),
        ("legacy-app-insights-log.json", "data.SearchIntervalEndtimeUtc", "yesterday"),
        ("legacy-log-analytics.json", "AlertRuleName", ""),
        ("legacy-log-analytics.json", "SearchIntervalEndtimeUtc", ABSENT),
        ("legacy-budget.json", "data.BudgetName", ABSENT),
        ("legacy-smart-detector-failure-anomalies.json", "properties.essentials.severity",
         "Sev9"),
        ("legacy-smart-detector-failure-anomalies.json",
         "properties.essentials.monitorCondition", ABSENT),
        ("legacy-smart-detector-failure-anomalies.json", "properties.essentials.startDateTime",
         ABSENT),
    ],
    ids=lambda value: "absent" if value is ABSENT else str(value).removesuffix(".json"),
)
def test_a_legacy_body_without_what_its_alerts_carry_is_refused(
    sample: str, path: str, value: object
) -> None:
    payload = load(sample)
    parse_one(payload)  # the sample itself is accepted
    _set(payload, path, value)
    error = refused(payload)
    assert error.field == path
    assert f"'{path}'" in error.message


def test_alerts_management_resource_needs_a_name_or_a_rule() -> None:
    payload = load("legacy-smart-detector-failure-anomalies.json")
    del payload["name"]
    assert parse_one(payload).name == "failure anomalies - test-rule"  # from the rule id
    del payload["properties"]["essentials"]["alertRule"]
    assert refused(payload).field == "name"


# --- Log Analytics' severity scale ------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("Low", Severity.INFO), ("Medium", Severity.WARNING), ("High", Severity.CRITICAL),
     ("low", Severity.INFO), ("Warning", Severity.WARNING), ("Critical", Severity.CRITICAL),
     ("Informational", Severity.INFO), ("0", Severity.CRITICAL), ("3", Severity.INFO),
     ("bogus", Severity.WARNING)],
)
@pytest.mark.parametrize("sample", ["legacy-log-analytics.json",
                                    "legacy-log-analytics-v1-test-action.json"],
                         ids=["oms", "upgraded-workspace"])
def test_log_analytics_severity_scale(sample: str, severity: str, expected: Severity) -> None:
    payload = load(sample)
    payload["Severity"] = severity
    assert parse_one(payload).severity is expected


def test_application_insights_log_alert_reads_the_same_scale() -> None:
    payload = load("legacy-app-insights-log.json")
    payload["data"]["Severity"] = "Low"
    assert parse_one(payload).severity is Severity.INFO
