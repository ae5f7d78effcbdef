"""Azure Monitor webhooks -> normalized alerts, against Microsoft's published sample payloads.

Expectations in the tables are read off the fixture files (``fixtures/payloads/azure_monitor``,
provenance in its ``SOURCES.md``); ``fragments/`` holds ``alertContext``-only examples that the
tests wrap in a common-schema envelope.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Source, Status
from aggregator.sources import azure_monitor
from aggregator.sources._azure_common import parse_arm_id, parse_time
from tests.helpers import PAYLOADS, load_payload

FIXTURES = PAYLOADS / "azure_monitor"
FRAGMENTS = FIXTURES / "fragments"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
SUB = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
SAMPLE_FILES = sorted(FIXTURES.glob("*.json"))
load = functools.partial(load_payload, "azure_monitor")


def fragment(name: str) -> dict[str, Any]:
    """The ``alertContext`` of a fragment file."""
    context: dict[str, Any] = load(f"fragments/{name}")["alertContext"]
    return context


def parse_one(payload: object) -> Alert:
    alerts = azure_monitor.parse(payload, received_at=NOW)
    assert len(alerts) == 1
    return alerts[0]


def common(service: str, context: object, **essentials: Any) -> dict[str, Any]:
    """A common-schema envelope around an ``alertContext`` (for the documented fragments)."""
    base: dict[str, Any] = {
        "alertId": f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/1111",
        "alertRule": f"rule-{service}",
        "severity": "Sev2",
        "signalType": "Log",
        "monitorCondition": "Fired",
        "monitoringService": service,
        "alertTargetIDs": [f"/subscriptions/{SUB}/resourcegroups/rg/providers/"
                           "microsoft.operationalinsights/workspaces/ws"],
        "firedDateTime": "2019-03-22T13:40:00.123Z",
        "description": "rule description",
    }
    base.update(essentials)
    return {"schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": base, "alertContext": context, "customProperties": None}}


# --- every sample -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_sample_parses_to_a_sensible_alert(path: Path) -> None:
    payload = load(path.name)
    pristine = copy.deepcopy(payload)
    alert = parse_one(payload)
    assert payload == pristine  # pure: the payload is not touched
    assert alert.source is Source.AZURE_MONITOR
    assert alert.raw == payload
    assert alert.name.strip()
    assert alert.summary.strip()
    assert alert.source_ref
    assert alert.identity
    assert alert.starts_at.tzinfo is not None
    assert (alert.ends_at is None) == (alert.status is Status.FIRING)
    assert all(isinstance(value, str) for value in alert.labels.values())
    assert all(link.href.startswith(("https://", "http://")) for link in alert.links)


# name, status, severity, labels (subset), summary (None: not checked)
EXPECTED: dict[str, tuple[str, Status, Severity, dict[str, str], str | None]] = {
    "common-activity-log-administrative": (
        "test-activityLogAlertRule", Status.FIRING, Severity.INFO,
        {"azure_subscription_id": SUB, "azure_resource_group": "test-RG",
         "azure_resource_type": "microsoft.compute/virtualmachines",
         "azure_resource_name": "test-VM",
         "azure_monitoring_service": "Activity Log - Administrative",
         "azure_signal_type": "Activity Log"},
        "Microsoft.Compute/virtualMachines/restart/action (Succeeded) by user@contoso.com"),
    "common-availability-test": (
        "test-availabilityTest-test-applicationInsights", Status.FIRING, Severity.INFO,
        {"azure_resource_type": "microsoft.insights/components",
         "azure_resource_name": "test-applicationInsights", "customKey1": "value1",
         "azure_monitoring_service": "Platform", "azure_signal_type": "Metric"}, None),
    "common-cost-budget-actual": (
        "Budget: Test_actual_cost_budget", Status.FIRING, Severity.WARNING,
        {"azure_subscription_id": SUB, "azure_monitoring_service": "CostAlerts",
         "azure_budget_name": "Test_actual_cost_budget"},
        "Spent $11,111.00 of budget $50.00, threshold $25.00"),
    "common-cost-budget-forecasted": (
        "Budget: Test_forcasted_budget", Status.FIRING, Severity.WARNING,
        {"azure_subscription_id": SUB, "azure_monitoring_service": "CostAlerts"},
        "Forecast $1111.11 of budget $50.00, threshold $50.00"),
    "common-log-alerts-v2-test-action": (
        "test-logAlertRule-v2", Status.FIRING, Severity.INFO,
        {"Computer": "test-computer", "customKey1": "value1",
         "azure_resource_type": "microsoft.operationalinsights/workspaces",
         "azure_signal_type": "Log", "azure_monitoring_service": "Log Alerts V2"},
        "Count GreaterThan 0 (value 3)"),
    "common-log-alerts-v2": (
        "AcmeRule", Status.FIRING, Severity.INFO,
        {"ResourceId": "/subscriptions/12345a-1234b-123c-123d-12345678e/resourceGroups/TEST/"
                       "providers/Microsoft.Compute/virtualMachines/testvm",
         "name1": "value1", "azure_resource_group": "ai-engineering",
         "azure_resource_name": "testvm"},
        "Count of CounterValue LowerThan 1 (value 0)"),
    "common-log-analytics-v1-metric-measurement": (
        "test-logAlertRule-v1-metricMeasurement", Status.FIRING, Severity.INFO,
        {"azure_monitoring_service": "Log Analytics",
         "azure_resource_name": "test-logAnalyticsWorkspace"},
        "Metric measurement: 2 result(s), threshold Greater Than 0"),
    "common-log-analytics-v1-num-results": (
        "test-logAlertRule-v1-numResults", Status.FIRING, Severity.INFO,
        {"azure_monitoring_service": "Log Analytics",
         "azure_workspace_id": "dddd3333-ee44-5555-66ff-777777aaaaaa"},
        "Number of results: 1 result(s), threshold Greater Than 0"),
    "common-metric-dynamic": (
        "test-dynamicMetricAlertRule", Status.FIRING, Severity.INFO,
        {"azure_resource_type": "Microsoft.Storage/storageAccounts",
         "azure_resource_name": "test-storageAccount", "customKey2": "value2"},
        "Transactions GreaterThan 0.3 (value 78.09)"),
    "common-metric-static-resolved": (
        "WCUS-R2-Gen2", Status.RESOLVED, Severity.INFO,
        {"ResourceId": "a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", "Key1": "Value1",
         "azure_resource_group": "pipelinealertrg", "azure_resource_name": "wcus-r2-gen2"},
        "Percentage CPU GreaterThan 25 (value 7.727)"),
    "common-metric-static": (
        "test-metricAlertRule", Status.FIRING, Severity.INFO,
        {"ApiName": "GetBlob", "customKey2": "value2",
         "azure_resource_type": "microsoft.storage/storageaccounts"},
        "Transactions GreaterThan 0 (value 100)"),
    "common-prometheus": (
        "RecommendedCIAlerts-aks0001/Average node CPU utilization is greater than 80%",
        Status.FIRING, Severity.INFO,
        {"cluster": "aks0001", "instance": "aks-agentpool-27465642-vmss000000",
         "azure_monitoring_service": "Prometheus", "azure_resource_name": "prom007"},
        "Average node CPU utilization is greater than 80%"),
    "common-resourcehealth": (
        "test-ResourceHealthAlertRule", Status.FIRING, Severity.INFO,
        {"azure_monitoring_service": "Resource Health", "azure_resource_name": "test-VM"},
        "Rebooted by user"),
    "common-servicehealth": (
        "test-ServiceHealthAlertRule", Status.RESOLVED, Severity.INFO,
        {"azure_signal_type": "Activity Log", "azure_subscription_id": SUB,
         "azure_test_notification": "true", "azure_monitoring_service": "ServiceHealth",
         "azure_tracking_id": "TEST-TTT"},
        "TestActionGroup-TestServiceHealthAlert"),
    "common-smart-detector": (
        "test-SmartAlertRule", Status.FIRING, Severity.INFO,
        {"azure_monitoring_service": "SmartDetector",
         "azure_resource_name": "test-applicationInsights"},
        "A degradation in the dependency duration over the last 24 hours"),
    "legacy-activity-log-recommendation": (
        "Advisor recommendation", Status.FIRING, Severity.INFO,
        {"azure_resource_name": "contosoStore",
         "azure_subscription_id": "12345-5645-123a-9867-123b45a6789",
         "azure_monitoring_service": "Activity Log - Recommendation"},
        "Enable Soft Delete to protect your blob data"),
    "legacy-activity-log-security": (
        "Security alert", Status.FIRING, Severity.WARNING,  # properties.severity: Medium
        {"azure_resource_group": "contoso",
         "azure_monitoring_service": "Activity Log - Security"}, None),
    "legacy-activity-log": (
        "Activity log: Microsoft.Compute/virtualMachines/restart/action", Status.FIRING,
        Severity.INFO,
        {"customKey1": "value1", "azure_resource_name": "test-VM",
         "azure_monitoring_service": "Activity Log - Administrative"}, None),
    "legacy-app-insights-log": (
        "AcmeRule", Status.FIRING, Severity.INFO,
        {"IP": "1.1.1.1", "azure_monitoring_service": "Application Insights",
         "azure_subscription_id": "12345a-1234b-123c-123d-12345678e"},
        "Metric measurement: 2 result(s), threshold Greater Than 0"),
    "legacy-budget": (
        "Budget: test-budgetName", Status.FIRING, Severity.WARNING,
        {"azure_subscription_id": SUB, "azure_resource_group": "test-RG"},
        "Spent 1111.32 USD of budget 10000 USD, threshold 8000.0 USD"),
    "legacy-classic-metric-vm": (
        "Alert_1_runscope12", Status.FIRING, Severity.WARNING,
        {"hello1": "World1!", "json_stuff": '{"color": "red"}',
         "azure_resource_name": "Helixtest1"},
        "Memory available GreaterThan 2 (value 1032190976 Bytes)"),
    "legacy-classic-metric": (
        "ruleName1", Status.FIRING, Severity.WARNING,
        {"key1": "value1", "azure_resource_type": "microsoft.foo/sites",
         "azure_resource_name": "mysite1"},
        "Requests GreaterThanOrEqual 10 (value 10 Count)"),
    "legacy-log-analytics-v1-test-action": (
        "test-logAlertRule-v1-metricMeasurement", Status.FIRING, Severity.INFO,
        {"azure_workspace_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb",
         "azure_monitoring_service": "Log Analytics"}, None),
    "legacy-log-analytics": (
        "AcmeRule", Status.FIRING, Severity.WARNING,
        {"Computer": "INC-Gen2Alert", "azure_monitoring_service": "Log Analytics"}, None),
    "legacy-log-custom-payload": ("AcmeRule", Status.FIRING, Severity.WARNING, {}, None),
    "legacy-metric-alert-2018-doc": (
        "StorageCheck", Status.FIRING, Severity.WARNING,
        {"GeoType": "Primary", "key1": "value1", "azure_resource_name": "diag500"},
        "Transactions GreaterThan 0 (value 1)"),
    "legacy-metric-alert-deactivated": (
        "CpuUtilHigh", Status.RESOLVED, Severity.INFO,
        {"azure_resource_name": "web01",
         "microsoft.resourceType": "Microsoft.Compute/virtualMachines"},
        "Percentage CPU GreaterThan 90 (value 85)"),
    "legacy-metric-alert-dynamic": (
        "test-metricAlertRule", Status.FIRING, Severity.INFO, {"customKey1": "value1"}, None),
    "legacy-metric-alert": (
        "test-metricAlertRule", Status.FIRING, Severity.INFO,
        {"ApiName": "GetBlob", "azure_monitoring_service": "Platform"},
        "Transactions GreaterThan 0 (value 100)"),
    "legacy-resourcehealth-test-action": (
        "Resource Health", Status.FIRING, Severity.INFO,
        {"customKey1": "value1", "azure_resource_name": "test-VM"}, "Rebooted by user"),
    "legacy-resourcehealth": (
        "Resource Health", Status.FIRING, Severity.INFO,
        {"azure_resource_type": "Microsoft.Compute/virtualMachines",
         "azure_monitoring_service": "Resource Health"},
        "Virtual Machine health status changed to unavailable"),
    "legacy-servicehealth": (
        "Service Health: Incident", Status.FIRING, Severity.INFO,
        {"azure_tracking_id": "0NIH-U2O",
         "azure_subscription_id": "cccc2c2c-dd3d-ee4e-ff5f-aaaaaa6a6a6a"},
        "Virtual Machines - Australia East"),
    "legacy-smart-detector-failure-anomalies": (
        "Failure Anomalies - test-rule", Status.RESOLVED, Severity.INFO,
        {"azure_monitoring_service": "Smart Detector", "azure_resource_name": "test-rule"},
        "An abnormal rise in failed request rate"),
}


def test_the_table_covers_every_sample() -> None:
    assert set(EXPECTED) == {path.stem for path in SAMPLE_FILES}


@pytest.mark.parametrize("stem", sorted(EXPECTED), ids=str)
def test_sample_maps_to_expected_fields(stem: str) -> None:
    name, status, severity, labels, summary = EXPECTED[stem]
    alert = parse_one(load(f"{stem}.json"))
    assert (alert.name, alert.status, alert.severity) == (name, status, severity)
    assert {key: alert.labels.get(key) for key in labels} == labels
    if summary is not None:
        assert alert.summary == summary


# --- common schema details --------------------------------------------------------------------


def test_metric_resolved_sample_times_rule_id_and_links() -> None:
    payload = load("common-metric-static-resolved.json")
    essentials = payload["data"]["essentials"]
    alert = parse_one(payload)
    assert alert.starts_at == datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)
    assert alert.ends_at == datetime(2019, 3, 22, 14, 3, 16, 224631, tzinfo=UTC)
    assert alert.source_ref == essentials["alertId"]
    assert alert.identity["rule"] == essentials["alertRuleId"].lower()
    assert alert.resource == essentials["alertTargetIDs"][0]
    assert alert.links[0].href == (
        "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView"
        "/alertId/" + quote(essentials["alertId"], safe=""))


def test_log_search_links_are_all_kept_with_readable_text() -> None:
    payload = load("common-log-alerts-v2-test-action.json")
    criterion = payload["data"]["alertContext"]["condition"]["allOf"][0]
    alert = parse_one(payload)
    hrefs = {link.href: link.text for link in alert.links}
    for key in ("linkToSearchResultsUI", "linkToFilteredSearchResultsUI",
                "linkToSearchResultsAPI", "linkToFilteredSearchResultsAPI"):
        assert criterion[key] in hrefs
    assert hrefs[criterion["linkToSearchResultsUI"]] == "Log search results"
    assert alert.annotations["search_query"] == "Heartbeat"


def test_prometheus_labels_and_identity() -> None:
    payload = load("common-prometheus.json")
    context = payload["data"]["alertContext"]
    alert = parse_one(payload)
    for key, value in context["labels"].items():
        assert alert.labels[key] == value
    assert alert.annotations["expression_value"] == "12.7m"
    assert alert.identity["rule_group"] == context["ruleGroup"].lower()
    other = copy.deepcopy(payload)
    other["data"]["alertContext"]["labels"]["instance"] = "aks-agentpool-27465642-vmss000001"
    assert parse_one(other).identity != alert.identity


def test_prometheus_fragment_annotations_become_summary() -> None:
    alert = parse_one(common("Prometheus", fragment("fragment-common-prometheus.json"),
                             alertRule="myRuleGroup/sql_up"))
    assert alert.summary == "alert on SQL availability"
    assert alert.annotations["summary"] == "alert on SQL availability"
    assert alert.labels["cluster"] == "myCluster1"
    assert alert.labels["Environment"] == "Prod"


def test_custom_properties_never_override_azure_labels() -> None:
    payload = load("common-metric-static.json")
    payload["data"]["customProperties"] = {"azure_subscription_id": "spoofed", "team": "db",
                                           "count": 3, "nested": {"a": [1]}, "none": None}
    alert = parse_one(payload)
    assert alert.labels["azure_subscription_id"] == SUB
    assert alert.labels["team"] == "db"
    assert alert.labels["count"] == "3"
    assert alert.labels["nested"] == '{"a": [1]}'
    assert alert.labels["none"] == ""


def test_context_properties_are_labels_when_custom_properties_are_absent() -> None:
    payload = load("common-log-alerts-v2.json")
    assert "customProperties" not in payload["data"]
    assert parse_one(payload).labels["name2"] == "value2"


def test_investigation_link_kept_and_non_http_links_dropped() -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"]["investigationLink"] = "https://portal.azure.com/#investigate/1"
    hrefs = {link.href for link in parse_one(payload).links}
    assert "https://portal.azure.com/#investigate/1" in hrefs
    payload["data"]["essentials"]["investigationLink"] = "javascript:alert(1)"
    assert all(not link.href.startswith("javascript") for link in parse_one(payload).links)


def test_no_portal_link_when_alert_id_is_not_an_alerts_management_id() -> None:
    alert = parse_one(load("common-cost-budget-actual.json"))
    assert alert.links == ()


@pytest.mark.parametrize(
    ("fired", "expected"),
    [
        ("2025-04-15T11:26:21.386Z", datetime(2025, 4, 15, 11, 26, 21, 386000, tzinfo=UTC)),
        ("2019-03-22T13:58:24.3713213Z", datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)),
        ("2019-08-25T11:11:34.2269098+00:00", datetime(2019, 8, 25, 11, 11, 34, 226909,
                                                       tzinfo=UTC)),
        ("2019-08-25T13:11:34+02:00", datetime(2019, 8, 25, 11, 11, 34, tzinfo=UTC)),
        ("3/22/2019 1:36:31 PM", datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC)),
        ("2019-03-22T13:36:31", datetime(2019, 3, 22, 13, 36, 31, tzinfo=UTC)),
        ("not a time", NOW),
        ("", NOW),
        (None, NOW),
        (1234, NOW),
    ],
    ids=["3-digits-Z", "7-digits-Z", "7-digits-offset", "other-offset", "us-style", "naive",
         "garbage", "empty", "null", "number"],
)
def test_fired_date_time_formats_and_fallback(fired: object, expected: datetime) -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"]["firedDateTime"] = fired
    assert parse_one(payload).starts_at == expected


def test_missing_fired_date_time_falls_back_to_received_at() -> None:
    payload = load("common-metric-static.json")
    del payload["data"]["essentials"]["firedDateTime"]
    assert parse_one(payload).starts_at == NOW


def test_resolved_without_resolved_date_time_ends_at_received_at() -> None:
    payload = load("common-metric-static-resolved.json")
    del payload["data"]["essentials"]["resolvedDateTime"]
    assert parse_one(payload).ends_at == NOW


# --- monitoringService matching and fallback ------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "spelling"),
    [
        ("common-activity-log-administrative", "activitylogadministrative"),
        ("common-activity-log-administrative", "ActivityLog Administrative"),
        ("common-activity-log-administrative", "ACTIVITY_LOG-ADMINISTRATIVE"),
        ("common-activity-log-administrative", "Activity Log \u2013 Administrative"),
        ("common-resourcehealth", "ResourceHealth"),
        ("common-resourcehealth", "resource-health"),
        ("common-smart-detector", "Smart Detector"),
        ("common-servicehealth", "service health"),
        ("common-prometheus", "PROMETHEUS"),
        ("common-metric-static", "platform"),
        ("common-log-alerts-v2", "LogAlertsV2"),
        ("common-log-analytics-v1-num-results", "log_analytics"),
        ("common-cost-budget-actual", "Cost Alerts"),
    ],
    ids=lambda value: str(value),
)
def test_monitoring_service_spelling_selects_the_same_family(stem: str, spelling: str) -> None:
    payload = load(f"{stem}.json")
    reference = parse_one(payload)
    payload["data"]["essentials"]["monitoringService"] = spelling
    alert = parse_one(payload)
    assert alert.labels["azure_monitoring_service"] == spelling  # kept as sent
    assert (alert.summary, alert.status, alert.identity, alert.links) == (
        reference.summary, reference.status, reference.identity, reference.links)


def test_unknown_monitoring_service_falls_back_to_a_generic_alert() -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"]["monitoringService"] = "Nagios"
    payload["data"]["essentials"]["severity"] = "Sev1"
    payload["data"]["alertContext"] = {"whatever": [1, 2, 3]}
    alert = parse_one(payload)
    essentials = payload["data"]["essentials"]
    assert alert.name == "test-metricAlertRule"
    assert alert.severity is Severity.ERROR
    assert alert.status is Status.FIRING
    assert alert.resource == essentials["alertTargetIDs"][0]
    assert alert.identity["targets"] == json.dumps(
        [essentials["alertTargetIDs"][0].lower()], separators=(",", ":"))
    assert alert.raw == payload
    assert alert.summary == essentials["description"]
    assert alert.labels["azure_monitoring_service"] == "Nagios"
    assert alert.labels["customKey1"] == "value1"


def test_context_that_does_not_fit_its_family_still_gives_an_alert() -> None:
    payload = load("common-metric-static.json")
    payload["data"]["alertContext"]["condition"] = "garbage"
    alert = parse_one(payload)
    assert alert.name == "test-metricAlertRule"
    assert "data.alertContext.condition" in alert.annotations["azure_context_warning"]


@pytest.mark.parametrize(
    ("service", "fragment_file", "summary", "status"),
    [
        ("Activity Log - Policy", "fragment-common-activity-log-policy.json",
         "Microsoft.Authorization/policies/audit/action (Succeeded) by <GUID>", Status.FIRING),
        ("Activity Log - Autoscale", "fragment-common-activity-log-autoscale.json",
         "The autoscale engine attempting to scale resource", Status.FIRING),
        ("Activity Log - Security", "fragment-common-activity-log-security.json",
         "Microsoft.Security/locations/alerts/activate/action (Active)", Status.FIRING),
        ("ServiceHealth", "fragment-common-servicehealth-string-enums.json",
         "Azure Synapse Analytics Scheduled Maintenance Pending", Status.FIRING),
        ("Application Insights", "fragment-common-app-insights-log.json",
         "Metric measurement: 2 result(s), threshold Less Than 10000", Status.FIRING),
        ("Log Analytics", "fragment-common-log-analytics.json",
         "Metric measurement: 2 result(s), threshold Less Than 10000", Status.FIRING),
        ("Simple Log Alert", "fragment-common-simple-log-alert.json",
         "Log search hit (value 1)", Status.FIRING),
        ("Prometheus", "fragment-common-prometheus.json", "alert on SQL availability",
         Status.FIRING),
    ],
    ids=lambda value: str(value).split(".")[0],
)
def test_documented_context_fragments_map_by_family(
    service: str, fragment_file: str, summary: str, status: Status
) -> None:
    alert = parse_one(common(service, fragment(fragment_file)))
    assert alert.summary.startswith(summary)
    assert alert.status is status
    assert alert.severity is Severity.WARNING  # Sev2 from the envelope
    assert "azure_context_warning" not in alert.annotations


def test_log_v1_fragment_dimensions_links_and_us_times() -> None:
    context = fragment("fragment-common-app-insights-log.json")
    alert = parse_one(common("Application Insights", context))
    assert alert.labels["IP"] == "1.1.1.1"
    assert alert.labels["azure_application_id"] == context["ApplicationId"]
    assert alert.identity["dimensions"] == '["IP=1.1.1.1"]'
    assert context["LinkToSearchResultsAPI"] in {link.href for link in alert.links}


def test_security_fragment_keeps_the_defender_facts() -> None:
    alert = parse_one(common("Activity Log - Security",
                             fragment("fragment-common-activity-log-security.json")))
    assert alert.annotations["compromised_entity"] == "testVM"
    assert alert.severity is Severity.WARNING  # the rule's Sev2 wins over properties.severity


# --- Service Health and Resource Health -------------------------------------------------------


def test_service_health_stage_resolved_is_resolved_although_fired() -> None:
    payload = load("common-servicehealth.json")
    assert payload["data"]["essentials"]["monitorCondition"] == "Fired"
    alert = parse_one(payload)
    assert alert.status is Status.RESOLVED
    assert alert.ends_at == datetime(2025, 4, 15, 18, 20, 36, 256000, tzinfo=UTC)
    assert alert.identity["tracking_id"] == "TEST-TTT"
    assert alert.summary == "TestActionGroup-TestServiceHealthAlert"
    assert alert.description == "ThisisatestfromServiceHealthAlert"  # HTML stripped


def test_service_health_active_stage_fires() -> None:
    payload = load("common-servicehealth.json")
    payload["data"]["alertContext"]["properties"]["stage"] = "Active"
    assert parse_one(payload).status is Status.FIRING


def test_service_health_update_with_new_alert_id_keeps_identity() -> None:
    first = load("common-servicehealth.json")
    first["data"]["alertContext"]["properties"]["stage"] = "Active"
    update = copy.deepcopy(first)
    update["data"]["essentials"]["alertId"] = (
        f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/other")
    update["data"]["alertContext"]["properties"]["stage"] = "RESOLVED"
    a, b = parse_one(first), parse_one(update)
    assert a.identity == b.identity
    assert a.source_ref != b.source_ref
    assert (a.status, b.status) == (Status.FIRING, Status.RESOLVED)


def test_service_health_incidents_with_different_tracking_ids_differ() -> None:
    first = load("common-servicehealth.json")
    second = copy.deepcopy(first)
    second["data"]["alertContext"]["properties"]["trackingId"] = "OTHER-123"
    assert parse_one(first).identity != parse_one(second).identity


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


def test_resource_health_available_again_resolves_the_same_problem() -> None:
    payload = load("common-resourcehealth.json")
    down = parse_one(payload)
    context = payload["data"]["alertContext"]
    context["operationName"] = "Microsoft.Resourcehealth/healthevent/Resolved/action"
    context["properties"].update(currentHealthStatus="Available",
                                 previousHealthStatus="Unavailable")
    up = parse_one(payload)
    assert (down.status, up.status) == (Status.FIRING, Status.RESOLVED)
    assert down.identity == up.identity


# --- identity ---------------------------------------------------------------------------------


def test_one_rule_on_two_resources_is_two_problems() -> None:
    payload = load("common-metric-static-resolved.json")
    other = copy.deepcopy(payload)
    other["data"]["essentials"]["alertTargetIDs"] = [
        "/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/"
        "microsoft.compute/virtualmachines/another-vm"]
    a, b = parse_one(payload), parse_one(other)
    assert a.identity["rule"] == b.identity["rule"]
    assert a.identity != b.identity


def test_one_rule_with_two_dimension_values_is_two_problems() -> None:
    payload = load("common-metric-static.json")
    other = copy.deepcopy(payload)
    other["data"]["alertContext"]["condition"]["allOf"][0]["dimensions"][0]["value"] = "PutBlob"
    assert parse_one(payload).identity != parse_one(other).identity


def test_identity_ignores_target_case_and_order() -> None:
    payload = load("common-metric-static.json")
    essentials = payload["data"]["essentials"]
    essentials["alertTargetIDs"] = [f"/subscriptions/{SUB}/resourceGroups/B/x", "/A"]
    other = copy.deepcopy(payload)
    other["data"]["essentials"]["alertTargetIDs"] = [
        "/a", f"/SUBSCRIPTIONS/{SUB}/resourcegroups/b/X"]
    assert parse_one(payload).identity == parse_one(other).identity


def test_rule_name_is_never_the_whole_identity_when_targets_exist() -> None:
    alert = parse_one(load("common-metric-static.json"))
    assert "alertRuleID" not in json.dumps(alert.raw)
    assert alert.identity["rule_name"] == "test-metricAlertRule"
    assert "targets" in alert.identity


def test_fired_and_resolved_of_one_alert_share_identity_and_source_ref() -> None:
    resolved = load("common-metric-static-resolved.json")
    fired = copy.deepcopy(resolved)
    fired["data"]["essentials"]["monitorCondition"] = "Fired"
    del fired["data"]["essentials"]["resolvedDateTime"]
    fired["data"]["alertContext"]["condition"]["allOf"][0]["metricValue"] = 31.5
    a, b = parse_one(fired), parse_one(resolved)
    assert (a.status, b.status) == (Status.FIRING, Status.RESOLVED)
    assert a.identity == b.identity
    assert a.source_ref == b.source_ref == resolved["data"]["essentials"]["alertId"]
    assert a.ends_at is None
    assert b.ends_at is not None


def test_rule_id_key_matches_without_regard_to_case() -> None:
    payload = load("common-metric-static-resolved.json")
    essentials = payload["data"]["essentials"]
    essentials["alertRuleID"] = essentials.pop("alertRuleId")
    assert parse_one(payload).identity == parse_one(load("common-metric-static-resolved.json")
                                                    ).identity


def test_legacy_metric_activated_and_deactivated_are_one_problem() -> None:
    activated = load("legacy-metric-alert.json")
    deactivated = copy.deepcopy(activated)
    deactivated["data"]["status"] = "Deactivated"
    deactivated["data"]["context"]["timestamp"] = "2021-11-15T09:50:12.9703687Z"
    a, b = parse_one(activated), parse_one(deactivated)
    assert (a.status, b.status) == (Status.FIRING, Status.RESOLVED)
    assert a.identity == b.identity
    assert b.ends_at == datetime(2021, 11, 15, 9, 50, 12, 970368, tzinfo=UTC)
    # No instance id in this shape: each notification has its own reference (documented).
    assert a.source_ref != b.source_ref
    assert a.source_ref.endswith("|2021-11-15T09:35:12.9703687Z")


def test_legacy_metric_two_resources_and_two_dimensions_differ() -> None:
    payload = load("legacy-metric-alert.json")
    other_resource = copy.deepcopy(payload)
    other_resource["data"]["context"]["resourceId"] += "2"
    other_dimension = copy.deepcopy(payload)
    other_dimension["data"]["context"]["condition"]["allOf"][0]["dimensions"][0]["value"] = "X"
    identities = [parse_one(p).identity for p in (payload, other_resource, other_dimension)]
    assert len({json.dumps(i, sort_keys=True) for i in identities}) == 3


def test_classic_metric_resolved() -> None:
    payload = load("legacy-classic-metric.json")
    activated = parse_one(payload)
    payload["status"] = "Resolved"
    resolved = parse_one(payload)
    assert resolved.status is Status.RESOLVED
    assert resolved.identity == activated.identity


def test_cost_alerts_identity_is_budget_and_scope() -> None:
    actual = parse_one(load("common-cost-budget-actual.json"))
    forecast = parse_one(load("common-cost-budget-forecasted.json"))
    assert actual.identity["scope"] == f"/subscriptions/{SUB}"
    assert actual.identity["budget"].endswith("/budgets/test_actual_cost_budget")
    assert actual.identity != forecast.identity


# --- custom payloads and bad input ------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"alertRule": "my rule", "severity": "Sev1", "LinkToSearch": "https://example.test/q"},
        {"ALERTNAME": "my rule", "severity": "Sev1", "LinkToSearch": "https://example.test/q"},
        {"rule_name": "my rule", "Severity": 1, "link": "https://example.test/q"},
    ],
    ids=["alertRule", "upper-alertname", "rule_name"],
)
def test_custom_payload_with_a_name_is_accepted(payload: dict[str, Any]) -> None:
    alert = parse_one(payload)
    assert alert.name == "my rule"
    assert alert.severity is Severity.ERROR
    assert alert.links[0].href == "https://example.test/q"
    assert alert.starts_at == NOW


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "$"),
        ("text", "$"),
        (None, "$"),
        (42, "$"),
        ({}, "schemaId"),
        ({"hello": "world", "data": {}}, "schemaId"),
        ({"schemaId": "SomethingElse", "data": {}}, "schemaId"),
        ({"schemaId": ["azureMonitorCommonAlertSchema"]}, "schemaId"),
        ({"schemaId": "azureMonitorCommonAlertSchema"}, "data"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": []}, "data"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": {}}, "data.essentials"),
        ({"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": "x"}},
         "data.essentials"),
        ({"schemaId": "azureMonitorCommonAlertSchema",
          "data": {"essentials": {"alertTargetIDs": "not-a-list"}}},
         "data.essentials.alertTargetIDs"),
        ({"schemaId": "azureMonitorCommonAlertSchema",
          "data": {"essentials": {"firedDateTime": ["x"]}}}, "data.essentials.firedDateTime"),
        ({"schemaId": "AzureMonitorMetricAlert", "data": {"status": "Activated"}},
         "data.context"),
        ({"schemaId": "Microsoft.Insights/activityLogs", "data": {"context": {}}},
         "data.context.activityLog"),
    ],
    ids=["list", "string", "null", "number", "empty", "no-shape", "unknown-schema",
         "schema-not-string", "no-data", "data-list", "no-essentials", "essentials-string",
         "targets-string", "fired-list", "metric-no-context", "activity-no-event"],
)
def test_bad_payloads_are_rejected_naming_the_field(payload: object, field: str) -> None:
    with pytest.raises(PayloadError) as caught:
        azure_monitor.parse(payload, received_at=NOW)
    assert caught.value.field == field
    assert caught.value.status == 422
    assert field in caught.value.message or field == "$"


def test_unrecognized_dict_message_lists_the_accepted_shapes() -> None:
    with pytest.raises(PayloadError, match="azureMonitorCommonAlertSchema") as caught:
        azure_monitor.parse({"foo": 1}, received_at=NOW)
    assert "alertname" in caught.value.message


def test_naive_received_at_is_taken_as_utc() -> None:
    payload = load("legacy-log-custom-payload.json")
    alert = azure_monitor.parse(payload, received_at=NOW.replace(tzinfo=None))[0]
    assert alert.starts_at == NOW


# --- small readers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (f"/subscriptions/{SUB}/resourcegroups/test-RG/providers/microsoft.compute/"
         "virtualmachines/test-VM", (SUB, "test-RG", "microsoft.compute/virtualmachines",
                                     "test-VM")),
        ("/SUBSCRIPTIONS/s/RESOURCEGROUPS/rg/PROVIDERS/Microsoft.Sql/servers/srv/databases/db",
         ("s", "rg", "Microsoft.Sql/servers/databases", "srv/db")),
        ("/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/app/"
         "providers/Microsoft.AlertsManagement/alerts/123",
         ("s", "rg", "microsoft.insights/components", "app")),
        (f"/subscriptions/{SUB}", (SUB, "", "", "")),
        (f"/subscriptions/{SUB}/", (SUB, "", "", "")),
        ("/subscriptions", ("", "", "", "")),
        ("/subscriptions/s/providers", ("s", "", "", "")),
        ("a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", ("", "", "", "")),
        ("", ("", "", "", "")),
        ("///", ("", "", "", "")),
    ],
    ids=["vm", "nested-upper", "extension", "subscription", "trailing-slash", "bare",
         "providers-only", "guid", "empty", "slashes"],
)
def test_arm_id_parser_tolerates_anything(resource_id: str,
                                          expected: tuple[str, str, str, str]) -> None:
    arm = parse_arm_id(resource_id)
    assert (arm.subscription, arm.resource_group, arm.resource_type, arm.resource_name) == expected


def test_parse_time_rejects_what_it_cannot_read() -> None:
    assert parse_time("2025W01") is None
    assert parse_time("0001-01-01T00:00:00+01:00") is None  # out of range in UTC
    assert parse_time("13/45/2019 1:00:00 PM") is None
    assert parse_time("2019-03-22") == datetime(2019, 3, 22, tzinfo=UTC)


# --- properties: any JSON gives alerts or a PayloadError, never anything else ---------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=16,
)
SAMPLES = {path.stem: load(path.name) for path in SAMPLE_FILES}
ODD_VALUES = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), st.text(max_size=6),
    st.lists(st.integers(), max_size=2), st.builds(dict), st.builds(lambda: [{}]),
    st.sampled_from(["", "Resolved", "Deactivated", "Sev0", "9", "2025-13-45T99:99:99Z",
                     "javascript:alert(1)", "/subscriptions//resourceGroups/", "http://[",
                     "Platform", "ServiceHealth", "Prometheus", "CostAlerts"]),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated_samples(draw: st.DrawFn) -> dict[str, Any]:
    payload: dict[str, Any] = copy.deepcopy(SAMPLES[draw(st.sampled_from(sorted(SAMPLES)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(payload))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = payload
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(ODD_VALUES)
    return payload


ENVELOPES = st.fixed_dictionaries(
    {"schemaId": st.sampled_from(["azureMonitorCommonAlertSchema", "AzureMonitorMetricAlert",
                                  "Microsoft.Insights/activityLogs",
                                  "Microsoft.Insights/LogAlert", "AIP Budget Notification"])},
    optional={"data": st.fixed_dictionaries(
        {}, optional={key: JSON_VALUES for key in
                      ("essentials", "alertContext", "customProperties", "status", "context",
                       "properties", "AlertRuleName", "BudgetName")})},
)


def outcome(payload: object) -> list[Alert] | PayloadError:
    try:
        return azure_monitor.parse(payload, received_at=NOW)
    except PayloadError as exc:
        return exc


CONTEXTS = [sample["data"]["alertContext"] for sample in SAMPLES.values()
            if "alertContext" in sample.get("data", {})] + [
    fragment(path.name) for path in sorted(FRAGMENTS.glob("*.json"))]
SERVICES = ["Platform", "Log Analytics", "Application Insights", "Log Alerts V2",
            "Simple Log Alert", "Activity Log - Administrative", "Activity Log - Policy",
            "Activity Log - Autoscale", "Activity Log - Security", "ServiceHealth",
            "Resource Health", "SmartDetector", "Prometheus", "CostAlerts", "Nagios"]
ESSENTIAL_KEYS = ("alertId", "alertRule", "alertRuleID", "severity", "signalType",
                  "monitorCondition", "alertTargetIDs", "firedDateTime", "resolvedDateTime",
                  "description", "investigationLink")
COMMON_BODIES = st.fixed_dictionaries({
    "schemaId": st.just("azureMonitorCommonAlertSchema"),
    "data": st.fixed_dictionaries(
        {"essentials": st.fixed_dictionaries(
            {"monitoringService": st.sampled_from(SERVICES)},
            optional={key: ODD_VALUES | JSON_VALUES for key in ESSENTIAL_KEYS})},
        optional={"alertContext": st.sampled_from(CONTEXTS) | JSON_VALUES,
                  "customProperties": JSON_VALUES}),
})


def assert_alerts_or_payload_error(payload: object) -> None:
    alerts = outcome(payload)
    if isinstance(alerts, PayloadError):
        assert alerts.status == 422
        assert alerts.field
        assert alerts.message
        return
    assert len(alerts) >= 1
    for alert in alerts:
        assert alert.name.strip()
        assert alert.identity
        assert alert.source_ref
        assert alert.starts_at.tzinfo is not None
        assert alert.ends_at is None or alert.ends_at >= alert.starts_at - timedelta(0)
        assert all(isinstance(value, str) for value in alert.labels.values())


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(JSON_VALUES)
def test_any_json_value_gives_alerts_or_payload_error(payload: object) -> None:
    assert_alerts_or_payload_error(payload)


@PROPERTY_SETTINGS
@given(ENVELOPES)
def test_known_schema_ids_with_random_bodies_give_alerts_or_payload_error(
    payload: dict[str, Any],
) -> None:
    assert_alerts_or_payload_error(payload)


@PROPERTY_SETTINGS
@given(COMMON_BODIES)
def test_common_schema_with_odd_essentials_and_any_context_never_crashes(
    payload: dict[str, Any],
) -> None:
    assert_alerts_or_payload_error(payload)


@PROPERTY_SETTINGS
@given(mutated_samples())
def test_mutated_samples_give_alerts_or_payload_error(payload: dict[str, Any]) -> None:
    assert_alerts_or_payload_error(payload)
