"""Properties: any JSON gives alerts or a ``PayloadError``, never anything else."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import PayloadError
from aggregator.model import Alert
from aggregator.sources import azure_monitor
from tests.sources.azure_monitor.samples import FRAGMENTS, NOW, SAMPLE_FILES, fragment, load

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
        return azure_monitor.parse(payload, received_at=NOW).alerts
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


# With the essentials a real alert has, any context still gives an alert (a context that does
# not fit its family is mapped without it), so the mappers meet odd contexts even though odd
# essentials are now refused before them.
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
    st.sampled_from(["", "2025-13-45T99:99:99Z", "2019-03-22T14:03:16.2246313Z",
                     "javascript:alert(1)", "http://[", "/subscriptions//resourceGroups/"]),
)
VALID_ESSENTIALS = st.fixed_dictionaries({
    "alertId": st.just("/subscriptions/s/providers/Microsoft.AlertsManagement/alerts/1"),
    "alertRule": st.sampled_from(["rule", "group/rule"]),
    "severity": st.sampled_from(["Sev0", "Sev1", "Sev2", "Sev3", "Sev4"]),
    "monitorCondition": st.sampled_from(["Fired", "Resolved"]),
    "firedDateTime": st.just("2025-04-15T18:17:12.851Z"),
    "monitoringService": st.sampled_from(SERVICES),
}, optional={key: SCALARS for key in ("alertRuleID", "signalType", "resolvedDateTime",
                                      "description", "investigationLink")})
BODIES_WITH_ESSENTIALS = st.fixed_dictionaries({
    "schemaId": st.just("azureMonitorCommonAlertSchema"),
    "data": st.fixed_dictionaries(
        {"essentials": VALID_ESSENTIALS},
        optional={"alertContext": st.sampled_from(CONTEXTS) | JSON_VALUES,
                  "customProperties": st.none() | st.dictionaries(st.text(max_size=8),
                                                                  JSON_VALUES, max_size=4)}),
})


@PROPERTY_SETTINGS
@given(BODIES_WITH_ESSENTIALS)
def test_common_schema_with_its_essentials_and_any_context_gives_an_alert(
    payload: dict[str, Any],
) -> None:
    alerts = outcome(payload)
    assert not isinstance(alerts, PayloadError), alerts
    assert_alerts_or_payload_error(payload)
