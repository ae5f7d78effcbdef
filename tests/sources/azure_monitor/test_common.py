"""The common alert schema: envelope and essentials, and the generic fallback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from aggregator.model import Severity, Status
from tests.sources.azure_monitor.samples import NOW, SUB, load, parse_one, refused

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
    ],
    ids=["3-digits-Z", "7-digits-Z", "7-digits-offset", "other-offset", "us-style", "naive"],
)
def test_fired_date_time_formats(fired: object, expected: datetime) -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"]["firedDateTime"] = fired
    assert parse_one(payload).starts_at == expected


# A body whose firedDateTime is missing or unreadable is no real alert: refused (it used to
# start at received_at).
@pytest.mark.parametrize("fired", ["not a time", "", None, 1234, "<absent>"],
                         ids=["garbage", "empty", "null", "number", "absent"])
def test_missing_or_unreadable_fired_date_time_is_refused(fired: object) -> None:
    payload = load("common-metric-static.json")
    if fired == "<absent>":
        del payload["data"]["essentials"]["firedDateTime"]
    else:
        payload["data"]["essentials"]["firedDateTime"] = fired
    assert refused(payload).field == "data.essentials.firedDateTime"


# --- the essentials a real alert always has ---------------------------------------------------


def test_body_without_the_essentials_is_refused_naming_the_first_and_listing_all() -> None:
    error = refused({"schemaId": "azureMonitorCommonAlertSchema",
                     "data": {"essentials": {"severity": "Sev9"}}})
    assert error.field == "data.essentials.alertRule"
    for field in ("alertRule", "severity", "monitorCondition", "firedDateTime", "alertId"):
        assert f"'data.essentials.{field}'" in error.message
    assert "Sev0, Sev1, Sev2, Sev3 or Sev4" in error.message


ABSENT = object()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("alertRule", ABSENT), ("alertRule", None), ("alertRule", ""), ("alertRule", "  "),
        ("severity", ABSENT), ("severity", None), ("severity", "Sev9"), ("severity", "High"),
        ("severity", "3"),
        ("monitorCondition", ABSENT), ("monitorCondition", "Pending"),
        ("monitorCondition", "Activated"),
        ("firedDateTime", ABSENT),
        ("alertId", ABSENT), ("alertId", ""),
    ],
    ids=lambda value: "absent" if value is ABSENT else repr(value),
)
def test_a_missing_or_invalid_essential_is_refused(key: str, value: object) -> None:
    payload = load("common-metric-static.json")
    essentials = payload["data"]["essentials"]
    if value is ABSENT:
        del essentials[key]
    else:
        essentials[key] = value
    error = refused(payload)
    assert error.field == f"data.essentials.{key}"
    assert f"'data.essentials.{key}'" in error.message


@pytest.mark.parametrize(("severity", "condition"), [("sev2", "fired"), ("SEV 0", "RESOLVED")])
def test_essentials_match_without_regard_to_case_or_spacing(severity: str,
                                                            condition: str) -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"].update(severity=severity, monitorCondition=condition)
    assert parse_one(payload).name == "test-metricAlertRule"


def test_budget_alerts_may_lack_rule_and_severity_but_nothing_else() -> None:
    payload = load("common-cost-budget-actual.json")
    assert payload["data"]["essentials"]["alertRule"] is None
    assert parse_one(payload).severity is Severity.WARNING
    payload["data"]["essentials"]["severity"] = "Sev9"
    assert refused(payload).field == "data.essentials.severity"
    payload["data"]["essentials"]["severity"] = None
    del payload["data"]["essentials"]["firedDateTime"]
    assert refused(payload).field == "data.essentials.firedDateTime"


def test_unknown_monitoring_service_needs_the_essentials_too() -> None:
    payload = load("common-metric-static.json")
    payload["data"]["essentials"]["monitoringService"] = "Nagios"
    del payload["data"]["essentials"]["alertRule"]
    assert refused(payload).field == "data.essentials.alertRule"


def test_resolved_without_resolved_date_time_ends_at_received_at() -> None:
    payload = load("common-metric-static-resolved.json")
    del payload["data"]["essentials"]["resolvedDateTime"]
    assert parse_one(payload).ends_at == NOW


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
