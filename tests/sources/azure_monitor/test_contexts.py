"""The common schema's ``alertContext`` per ``monitoringService``: spellings, documented
fragments, log search, Prometheus, Service Health and Resource Health."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from aggregator.model import Severity, Status
from tests.sources.azure_monitor.samples import SUB, common, fragment, load, parse_one


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
