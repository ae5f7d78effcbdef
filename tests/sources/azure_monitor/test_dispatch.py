"""Dispatch on the payload family: custom payloads, and bad input refused naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.errors import PayloadError
from aggregator.model import Severity
from aggregator.sources import azure_monitor
from tests.sources.azure_monitor.samples import NOW, load, parse_one

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
    alert = azure_monitor.parse(payload, received_at=NOW.replace(tzinfo=None)).alerts[0]
    assert alert.starts_at == NOW
