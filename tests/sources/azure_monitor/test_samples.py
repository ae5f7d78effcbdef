"""Every published Azure Monitor sample parses, and to the fields read off the file."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from aggregator.model import Severity, Source, Status
from tests.sources.azure_monitor.samples import SAMPLE_FILES, SUB, load, parse_one

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
