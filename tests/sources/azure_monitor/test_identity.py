"""What names the problem (identity) and the episode (``source_ref``), common and legacy."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from aggregator.model import Status
from tests.sources.azure_monitor.samples import SUB, load, parse_one

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
