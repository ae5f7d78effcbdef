"""Azure Monitor's non-common ("legacy") webhook shapes -> alerts (private to ``azure_monitor``).

Owns the shapes without the common schema: ``AzureMonitorMetricAlert``,
``Microsoft.Insights/activityLogs``, ``Microsoft.Insights/LogAlert``, ``AIP Budget
Notification`` and the schemaless ones (legacy Log Analytics, classic metric alerts, the
Alerts-Management resource), plus ``ACCEPTED``, the list of every accepted shape for error
messages. Telling the schemaless shapes apart, and a log alert's custom JSON, belong to
``schemaless``. Must not do I/O or log; bad input is a ``PayloadError``.

None of these carries an alert-instance id, so ``source_ref`` is built from the identity
values plus the event timestamp (``<rule>|<targets>|<dimensions>|<timestamp>``), or is the
activity-log ``eventDataId``. A "resolved" (``Deactivated``) therefore arrives with a
``source_ref`` the firing one did not have: the pipeline resolves the open alert of the same
fingerprint in that case. ``name`` is the rule name where the shape has one; activity-log
events have none, so theirs is ``Service Health: <incidentType>``, ``Resource Health``,
``Advisor recommendation``, ``Security alert`` or ``Activity log: <operationName>``, and
their identity is event source + resource + operation (+ ``trackingId``).

Each shape requires what its documentation gives every alert of it, the fields that say which
rule, what state and when (a ``PayloadError`` names the first one missing or unreadable):
metric alerts ``data.status`` (Activated/Deactivated), ``data.context.name`` and
``.timestamp``; classic alerts ``status`` (Activated/Resolved), ``context.name`` and
``.timestamp``; activity-log alerts the event's ``eventSource``, ``operationName`` and
``eventTimestamp``; log search alerts ``AlertRuleName`` and ``SearchIntervalEndtimeUtc``;
budgets ``BudgetName``; the Alerts-Management resource its ``name`` (or rule id) and, as in
the common schema, ``severity`` (Sev0-Sev4), ``monitorCondition`` and ``startDateTime``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Status
from aggregator.sources.azure_monitor.draft import FALLBACK_NAME, Draft, synthetic_ref
from aggregator.sources.azure_monitor.families import (
    ActivityEvent,
    Facts,
    LogSearchFields,
    MetricCondition,
    SmartDetectorContext,
    activity_facts,
    budget_summary,
    log_search_facts,
    metric_facts,
    smart_detector_facts,
)
from aggregator.sources.azure_monitor.readers import (
    COMMON_SEVERITIES,
    alert_portal_link,
    azure_labels_for,
    family_key,
    fill_missing,
    http_link,
    joined,
    lacks_choice,
    lacks_text,
    lacks_time,
    normalized_signal_type,
    one_line,
    parse_arm_id,
    parse_time,
    severity_from,
    severity_from_level,
    severity_from_log_search,
    status_from,
    text_map,
)
from aggregator.sources.wire import JsonMap, Text, WireModel, require, validate

ACCEPTED = (
    "Accepted: the common alert schema (schemaId 'azureMonitorCommonAlertSchema', recommended: "
    "enable 'Use common alert schema' on the webhook action), schemaId 'AzureMonitorMetricAlert', "
    "'Microsoft.Insights/activityLogs', 'Microsoft.Insights/LogAlert' or 'AIP Budget "
    "Notification'; without schemaId: legacy Log Analytics alerts (WorkspaceId/AlertRuleName/"
    "SearchQuery), classic metric alerts (status + context.conditionType), Alerts Management "
    "resources (type 'Microsoft.AlertsManagement/alerts'), or a custom log alert payload that "
    "names the alert (key alertname, AlertRuleName or alertRule)."
)

_ACTIVITY_SERVICES = {
    "servicehealth": "ServiceHealth",
    "resourcehealth": "Resource Health",
}


# --- wire models ----------------------------------------------------------------------------


class _RuleContext(WireModel):
    """``data.context`` of metric alerts and ``context`` of classic alerts."""

    timestamp: Text = None
    id: Text = None
    name: Text = None
    description: Text = None
    condition_type: Text = None
    subscription_id: Text = None
    resource_group_name: Text = None
    resource_name: Text = None
    resource_type: Text = None
    resource_id: Text = None
    portal_link: Text = None


class _MetricAlertContext(_RuleContext):
    severity: Text = None
    condition: MetricCondition | None = None


class _MetricAlertData(WireModel):
    status: Text = None
    context: _MetricAlertContext
    properties: JsonMap = None


class MetricAlert(WireModel):
    """``schemaId: AzureMonitorMetricAlert``: a metric alert without the common schema."""

    data: _MetricAlertData


class _ClassicCondition(WireModel):
    metric_name: Text = None
    metric_unit: Text = None
    metric_value: Text = None
    threshold: Text = None
    window_size: Text = None
    time_aggregation: Text = None
    operator: Text = None


class _ClassicContext(_RuleContext):
    condition: _ClassicCondition | None = None


class ClassicAlert(WireModel):
    """No ``schemaId``: a classic (retired) metric or event alert."""

    status: Text = None
    context: _ClassicContext
    properties: JsonMap = None


class _ActivityContext(WireModel):
    activity_log: ActivityEvent


class _ActivityData(WireModel):
    status: Text = None
    context: _ActivityContext
    properties: JsonMap = None


class ActivityLogAlert(WireModel):
    """``schemaId: Microsoft.Insights/activityLogs``: an activity-log alert."""

    data: _ActivityData


class LogSearchAlert(LogSearchFields):
    """No ``schemaId``: a Log Analytics log alert (API up to 2018-04-16), flat."""

    subscription_id: Text = None
    alert_rule_name: Text = None
    description: Text = None
    severity: Text = None
    alert_threshold_operator: Text = None
    alert_threshold_value: Text = None
    resource_id: Text = None


class AppInsightsLogAlert(WireModel):
    """``schemaId: Microsoft.Insights/LogAlert``: an Application Insights log alert."""

    data: LogSearchAlert


class _BudgetData(WireModel):
    subscription_id: Text = None
    resource_group: Text = None
    spending_amount: Text = None
    budget: Text = None
    unit: Text = None
    budget_name: Text = None
    budget_type: Text = None
    notification_threshold_amount: Text = None


class BudgetNotification(WireModel):
    """``schemaId: AIP Budget Notification``: a Cost Management budget."""

    data: _BudgetData


class _AlertsManagementEssentials(WireModel):
    severity: Text = None
    signal_type: Text = None
    alert_state: Text = None
    monitor_condition: Text = None
    monitor_service: Text = None
    target_resource: Text = None
    target_resource_name: Text = None
    target_resource_group: Text = None
    target_resource_type: Text = None
    source_created_id: Text = None
    alert_rule: Text = None
    start_date_time: Text = None
    monitor_condition_resolved_date_time: Text = None
    description: Text = None


class _AlertsManagementProperties(WireModel):
    essentials: _AlertsManagementEssentials
    context: Any = None


class AlertsManagementAlert(WireModel):
    """No ``schemaId``, ``type: Microsoft.AlertsManagement/alerts``: the alert resource."""

    id: Text = None
    name: Text = None
    properties: _AlertsManagementProperties


# --- shared assembly ------------------------------------------------------------------------


def _rule_identity(rule_id: str | None, name: str, resource: str) -> dict[str, str]:
    identity = {"rule": rule_id.casefold()} if rule_id else {"rule_name": name}
    if resource:
        identity["targets"] = joined([resource.casefold()])
    return identity


def _rule_alert(payload: dict[str, Any], received_at: datetime, context: _RuleContext, *,
                status: str | None, severity: Severity | None, facts: Facts,
                properties: dict[str, Any] | None) -> Alert:
    """Metric and classic alerts: a rule (``context.id``) on one resource at a timestamp."""
    resource = context.resource_id or ""
    name = one_line(context.name) or FALLBACK_NAME
    identity = _rule_identity(context.id, name, resource)
    identity.update(facts.identity)
    starts_at = parse_time(context.timestamp) or received_at
    return Draft(
        source_ref=synthetic_ref(identity, context.timestamp or received_at.isoformat()),
        name=name,
        status=status_from(status),
        severity=severity or Severity.WARNING,
        starts_at=starts_at,
        ends_at=starts_at,
        summary=facts.summary or context.description or "",
        description=context.description or "",
        resource=resource,
        labels={**text_map(properties), **facts.labels},
        azure_labels=azure_labels_for(
            resource, service="Platform", signal="Metric",
            azure_subscription_id=context.subscription_id,
            azure_resource_group=context.resource_group_name,
            azure_resource_type=context.resource_type, azure_resource_name=context.resource_name),
        annotations=facts.annotations,
        links=[link for link in [http_link(context.portal_link, "Resource in Azure portal")]
               if link is not None],
        identity=identity,
        raw=payload,
    ).build()


# --- one function per shape -------------------------------------------------------------------


def from_metric_alert(payload: dict[str, Any], received_at: datetime) -> Alert:
    """``AzureMonitorMetricAlert``: ``Activated`` fires, ``Deactivated`` resolves."""
    shape = "Azure Monitor metric alert (AzureMonitorMetricAlert)"
    data = validate(MetricAlert, payload, at="", shape=shape).data
    require(shape, [
        ("data.status", lacks_choice(data.status, ("Activated", "Deactivated"))),
        ("data.context.name", lacks_text(data.context.name)),
        ("data.context.timestamp", lacks_time(data.context.timestamp)),
    ])
    facts = metric_facts(data.context.condition)
    facts.annotate(condition_type=data.context.condition_type)
    return _rule_alert(payload, received_at, data.context, status=data.status,
                       severity=severity_from(data.context.severity), facts=facts,
                       properties=data.properties)


def from_classic_metric(payload: dict[str, Any], received_at: datetime) -> Alert:
    """Classic (retired) metric/event alert: top-level ``status`` + ``context``."""
    shape = "Azure classic metric alert"
    alert = validate(ClassicAlert, payload, at="", shape=shape)
    require(shape, [
        ("status", lacks_choice(alert.status, ("Activated", "Resolved"))),
        ("context.name", lacks_text(alert.context.name)),
        ("context.timestamp", lacks_time(alert.context.timestamp)),
    ])
    condition = alert.context.condition or _ClassicCondition()
    facts = Facts()
    if condition.metric_name:
        value = " ".join(part for part in (condition.metric_value, condition.metric_unit) if part)
        facts.summary = " ".join(
            part for part in (condition.metric_name, condition.operator, condition.threshold,
                              f"(value {value})" if value else "") if part)
    facts.annotate(condition_type=alert.context.condition_type,
                   metric_value=condition.metric_value, threshold=condition.threshold,
                   window_size=condition.window_size)
    return _rule_alert(payload, received_at, alert.context, status=alert.status, severity=None,
                       facts=facts, properties=alert.properties)


def from_activity_log(payload: dict[str, Any], received_at: datetime) -> Alert:
    """``Microsoft.Insights/activityLogs``, split by ``eventSource``."""
    shape = "Azure activity log alert (Microsoft.Insights/activityLogs)"
    data = validate(ActivityLogAlert, payload, at="", shape=shape).data
    event = data.context.activity_log
    at = "data.context.activityLog"
    require(shape, [
        (f"{at}.eventSource", lacks_text(event.event_source)),
        (f"{at}.operationName", lacks_text(event.operation_name)),
        (f"{at}.eventTimestamp", lacks_time(event.event_timestamp)),
    ])
    kind = family_key(event.event_source)
    facts = activity_facts(event, kind, at=at, shape=shape)
    resource = event.resource_id or (
        f"/subscriptions/{event.subscription_id}" if event.subscription_id else "")
    identity = {"event_source": kind or "unknown"}
    if resource:
        identity["targets"] = joined([resource.casefold()])
    identity.update(facts.identity)
    starts_at = parse_time(event.event_timestamp) or received_at
    service = _ACTIVITY_SERVICES.get(kind, f"Activity Log - {event.event_source or 'Unknown'}")
    azure = azure_labels_for(resource, service=service, signal="Activity Log",
                             azure_subscription_id=event.subscription_id,
                             azure_resource_group=event.resource_group_name,
                             azure_resource_type=event.resource_type)
    azure.update(facts.azure_labels)
    return Draft(
        source_ref=event.event_data_id or synthetic_ref(
            identity, event.event_timestamp or received_at.isoformat()),
        name=facts.name,
        status=Status.RESOLVED if facts.resolved else status_from(data.status),
        severity=facts.severity or severity_from_level(event.level) or Severity.WARNING,
        starts_at=starts_at,
        ends_at=facts.resolved_at or starts_at,
        summary=facts.summary,
        description=facts.description,
        resource=resource,
        labels={**text_map(data.properties), **facts.labels},
        azure_labels=azure,
        annotations=facts.annotations,
        links=facts.links,
        identity=identity,
        raw=payload,
    ).build()


def from_log_alert(payload: dict[str, Any], received_at: datetime) -> Alert:
    """``Microsoft.Insights/LogAlert``: Application Insights log alert, fields under ``data``."""
    shape = "Application Insights log alert (Microsoft.Insights/LogAlert)"
    fields = validate(AppInsightsLogAlert, payload, at="", shape=shape).data
    _require_log_search(fields, at="data.", shape=shape)
    return _log_search_alert(payload, received_at, fields, service="Application Insights")


def from_log_analytics(payload: dict[str, Any], received_at: datetime) -> Alert:
    """Log Analytics log alert (API up to 2018-04-16): flat, no ``schemaId``."""
    shape = "Log Analytics log alert"
    fields = validate(LogSearchAlert, payload, at="", shape=shape)
    _require_log_search(fields, at="", shape=shape)
    return _log_search_alert(payload, received_at, fields, service="Log Analytics")


def _require_log_search(fields: LogSearchAlert, *, at: str, shape: str) -> None:
    require(shape, [
        (f"{at}AlertRuleName", lacks_text(fields.alert_rule_name)),
        (f"{at}SearchIntervalEndtimeUtc", lacks_time(fields.search_interval_endtime_utc)),
    ])


def _log_search_alert(payload: dict[str, Any], received_at: datetime, fields: LogSearchAlert,
                      *, service: str) -> Alert:
    facts = log_search_facts(fields, fields.alert_threshold_operator or fields.operator,
                             fields.alert_threshold_value or fields.threshold)
    name = one_line(fields.alert_rule_name) or FALLBACK_NAME
    resource = fields.resource_id or ""
    identity = _rule_identity(None, name, resource)
    scope = {"subscription": fields.subscription_id, "workspace": fields.workspace_id,
             "application": fields.application_id}
    identity.update({key: value.casefold() for key, value in scope.items() if value})
    identity.update(facts.identity)
    azure = azure_labels_for(resource, service=service, signal="Log",
                             azure_subscription_id=fields.subscription_id)
    azure.update(facts.azure_labels)
    return Draft(
        source_ref=synthetic_ref(
            identity, fields.search_interval_endtime_utc or received_at.isoformat()),
        name=name,
        status=Status.FIRING,
        severity=severity_from_log_search(fields.severity) or Severity.WARNING,
        starts_at=parse_time(fields.search_interval_endtime_utc) or received_at,
        summary=facts.summary,
        description=fields.description or "",
        resource=resource,
        labels=facts.labels,
        azure_labels=azure,
        annotations=facts.annotations,
        links=facts.links,
        identity=identity,
        raw=payload,
    ).build()


def from_budget(payload: dict[str, Any], received_at: datetime) -> Alert:
    """``AIP Budget Notification``: no timestamp, no instance id; always firing, warning."""
    shape = "Azure budget notification (AIP Budget Notification)"
    data = validate(BudgetNotification, payload, at="", shape=shape).data
    require(shape, [("data.BudgetName", lacks_text(data.budget_name))])
    scope = f"/subscriptions/{data.subscription_id}" if data.subscription_id else ""
    if scope and data.resource_group:
        scope = f"{scope}/resourceGroups/{data.resource_group}"
    name = f"Budget: {data.budget_name}" if data.budget_name else "Budget"
    identity = {"budget": (data.budget_name or "").casefold(), "scope": scope.casefold(),
                "threshold": data.notification_threshold_amount or ""}
    unit = f" {data.unit}" if data.unit else ""
    facts = Facts(summary=budget_summary(
        spent=data.spending_amount, forecast=None, budget=data.budget,
        threshold=data.notification_threshold_amount, unit=unit))
    facts.annotate(spent_amount=data.spending_amount, budget=data.budget, unit=data.unit,
                   notification_threshold=data.notification_threshold_amount,
                   budget_type=data.budget_type)
    azure = azure_labels_for(scope, service="CostAlerts", signal=None)
    fill_missing(azure, azure_budget_name=data.budget_name)
    return Draft(
        source_ref=synthetic_ref(identity, received_at.isoformat()),
        name=name,
        status=Status.FIRING,
        severity=Severity.WARNING,
        starts_at=received_at,
        summary=facts.summary,
        resource=scope,
        azure_labels=azure,
        annotations=facts.annotations,
        identity=identity,
        raw=payload,
    ).build()


def from_alerts_management(payload: dict[str, Any], received_at: datetime) -> Alert:
    """The Alerts-Management resource shape (``type: Microsoft.AlertsManagement/alerts``)."""
    shape = "Azure Alerts Management alert resource"
    alert = validate(AlertsManagementAlert, payload, at="", shape=shape)
    essentials = alert.properties.essentials
    at = "properties.essentials"
    require(shape, [
        ("name", lacks_text(alert.name or parse_arm_id(essentials.alert_rule).resource_name)),
        (f"{at}.severity", lacks_choice(essentials.severity, COMMON_SEVERITIES)),
        (f"{at}.monitorCondition", lacks_choice(essentials.monitor_condition,
                                                ("Fired", "Resolved"))),
        (f"{at}.startDateTime", lacks_time(essentials.start_date_time)),
    ])
    facts = Facts()
    if family_key(essentials.monitor_service) == "smartdetector":
        try:
            facts = smart_detector_facts(validate(
                SmartDetectorContext, alert.properties.context or {}, at="properties.context",
                shape=shape))
        except PayloadError as exc:
            facts.annotate(azure_context_warning=exc.message)
    resource = essentials.target_resource or ""
    name = (one_line(alert.name) or parse_arm_id(essentials.alert_rule).resource_name
            or FALLBACK_NAME)
    identity = _rule_identity(essentials.alert_rule, name, resource)
    starts_at = parse_time(essentials.start_date_time) or received_at
    facts.annotate(alert_state=essentials.alert_state)
    return Draft(
        source_ref=alert.id or essentials.source_created_id or synthetic_ref(
            identity, essentials.start_date_time or received_at.isoformat()),
        name=name,
        status=status_from(essentials.monitor_condition),
        severity=severity_from(essentials.severity) or Severity.WARNING,
        starts_at=starts_at,
        ends_at=parse_time(essentials.monitor_condition_resolved_date_time) or received_at,
        summary=facts.summary or essentials.description or "",
        description=essentials.description or "",
        resource=resource,
        azure_labels=azure_labels_for(
            resource, service=(essentials.monitor_service or "").strip(),
            signal=normalized_signal_type(essentials.signal_type),
            azure_resource_group=essentials.target_resource_group,
            azure_resource_type=essentials.target_resource_type,
            azure_resource_name=essentials.target_resource_name),
        annotations=facts.annotations,
        links=[link for link in [alert_portal_link(alert.id)] if link is not None] + facts.links,
        identity=identity,
        raw=payload,
    ).build()
