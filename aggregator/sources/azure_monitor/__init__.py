"""Azure Monitor action-group webhooks -> normalized alerts (pure; DESIGN 4.1, 4.2).

Owns ``parse()``: dispatch on the payload family (reference FACTS.md section 1) and the
common alert schema (``schemaId: azureMonitorCommonAlertSchema``) with one mapper per
``monitoringService``. The non-common ("legacy") shapes live in ``legacy``, bodies
without ``schemaId`` are told apart in ``schemaless``, the families both schemas carry
are mapped in ``families`` and the shared readers and ``Draft`` are in ``readers``.
Must not do I/O, read settings or log; the only exception it raises is ``PayloadError`` (422,
with the dotted ``field``).

Common schema: one mapper per ``monitoringService`` (compared without case, spaces, dashes
or underscores). For all of them ``name`` = ``alertRule``; ``description`` = the rule's
description unless the family has a better text; ``source_ref`` = ``essentials.alertId``
(shared by Fired and Resolved); identity = the lower-cased rule id (``alertRuleID``, key in
any case) or, lacking one, the rule name, plus the sorted lower-cased ``alertTargetIDs``.

- Platform (static, dynamic, availability test): summary ``Transactions GreaterThan 0
  (value 100)`` per criterion (what happened; the rule description stays in ``description``);
  dimensions join labels and identity; ``alertContext.properties`` become labels when
  ``customProperties`` is absent.
- Log Analytics / Application Insights (log V1): summary ``<AlertType>: 2 result(s),
  threshold Greater Than 0``; the ``LinkTo...`` links; ``Dimensions`` as for metrics.
- Log Alerts V2 / Simple Log Alert: summary ``Count of <column> LowerThan 1 (value 0)``; the
  four ``linkTo...`` links of each criterion; dimensions as for metrics.
- Activity Log - Administrative/Policy/Autoscale/Security/Recommendation: summary the event
  description, else ``<operation> (<status>) by <caller>``; identity adds ``operationName``.
- ServiceHealth: summary the incident ``title``, description its communication (HTML
  stripped); ``stage`` Resolved/Complete/Canceled/RCA -> resolved although ``Fired``, ending at
  the event timestamp; identity adds ``trackingId`` (an update comes with a new alertId).
- Resource Health: summary ``title``; ``currentHealthStatus: Available`` (or a
  ``.../Resolved/action`` operation) -> resolved, same identity as the outage.
- SmartDetector: summary ``DetectionSummary``; detected and normal values as annotations.
- Prometheus: the Prometheus labels join labels, its annotations are kept; summary the
  ``summary`` annotation, else the rule description; identity adds rule group and labels.
- CostAlerts: ``alertRule`` is null, so name ``Budget: <BudgetName>``; summary spend vs
  budget; resource the budget scope; identity adds budget id, scope, threshold type/amount.
- Anything else: envelope fields and custom properties only; the context stays in ``raw``.

A context that does not fit its family's model still gives an alert (the generic mapping)
with the reason in the annotation ``azure_context_warning``: Azure never retries a 4xx, so
only a broken envelope (``data``, ``essentials``) is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import Field, ValidationError

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Status
from aggregator.sources.azure_monitor import legacy, schemaless
from aggregator.sources.azure_monitor.families import (
    ActivityEvent,
    Dimension,
    Facts,
    LogSearchFields,
    MetricCondition,
    SmartDetectorContext,
    activity_facts,
    budget_summary,
    dimension_facts,
    dimension_pairs,
    log_search_facts,
    metric_facts,
    search_links,
    smart_detector_facts,
)
from aggregator.sources.azure_monitor.readers import (
    FALLBACK_NAME,
    Draft,
    JsonMap,
    Text,
    WireModel,
    alert_portal_link,
    arm_labels,
    aware,
    family_key,
    fill_missing,
    http_link,
    joined,
    normalized_signal_type,
    one_line,
    parse_arm_id,
    parse_time,
    severity_from,
    status_from,
    synthetic_ref,
    text_map,
    validate,
)
from aggregator.sources.wire import payload_error

_SHAPE = "Azure Monitor common alert schema"
_CONTEXT = "data.alertContext"


# --- wire models ----------------------------------------------------------------------------


class _Probe(WireModel):
    schema_id: Text = None


class _Essentials(WireModel):
    alert_id: Text = None
    alert_rule: Text = None
    alert_rule_id: Text = Field(None, alias="alertRuleID")
    severity: Text = None
    signal_type: Text = None
    monitor_condition: Text = None
    monitoring_service: Text = None
    alert_target_ids: list[Text] | None = Field(None, alias="alertTargetIDs")
    fired_date_time: Text = None
    resolved_date_time: Text = None
    description: Text = None
    investigation_link: Text = None
    target_resource_group: Text = None
    target_resource_type: Text = None


class _CommonData(WireModel):
    essentials: _Essentials
    alert_context: Any = None
    custom_properties: JsonMap = None


class _CommonAlert(WireModel):
    data: _CommonData


class _MetricContext(WireModel):
    properties: JsonMap = None
    condition_type: Text = None
    condition: MetricCondition | None = None


class _LogCriterion(WireModel):
    search_query: Text = None
    metric_measure_column: Text = None
    metric_measure: Text = None
    operator: Text = None
    threshold: Text = None
    time_aggregation: Text = None
    dimensions: list[Dimension] | None = None
    metric_value: Text = None
    link_to_search_results_ui: Text = None
    link_to_filtered_search_results_ui: Text = None
    link_to_search_results_api: Text = None
    link_to_filtered_search_results_api: Text = None


class _LogCondition(WireModel):
    window_size: Text = None
    all_of: list[_LogCriterion] | None = None


class _LogV2Context(WireModel):
    properties: JsonMap = None
    condition: _LogCondition | None = None


class _PrometheusContext(WireModel):
    expression: Text = None
    expression_value: Text = None
    labels: JsonMap = None
    annotations: JsonMap = None
    rule_group: Text = None


class _CostData(WireModel):
    scope: Text = None
    threshold_type: Text = None
    budget_threshold: Text = None
    notification_threshold_amount: Text = None
    budget_name: Text = None
    budget_id: Text = None
    unit: Text = None
    spent_amount: Text = None
    forecasted_total_for_period: Text = None


class _CostContext(WireModel):
    alert_category: Text = None
    alert_data: _CostData | None = None


# --- one mapper per monitoringService ---------------------------------------------------------

_Family = Callable[[_Essentials, object, bool], Facts]


def _generic(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    """Unknown services: envelope fields only; the context stays in ``raw``."""
    return Facts()


def _metric(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    metric = validate(_MetricContext, context, at=_CONTEXT, shape=_SHAPE)
    facts = metric_facts(metric.condition)
    if not has_custom:
        facts.labels = {**text_map(metric.properties), **facts.labels}
    facts.annotate(condition_type=metric.condition_type)
    return facts


def _log_v2(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    log = validate(_LogV2Context, context, at=_CONTEXT, shape=_SHAPE)
    criteria = (log.condition.all_of if log.condition else None) or []
    facts = Facts()
    lines = []
    for item in criteria:
        column = item.metric_measure_column or item.metric_measure
        measure = f"{item.time_aggregation} of {column}" if column else item.time_aggregation
        rule = " ".join(part for part in (measure, item.operator, item.threshold) if part)
        value = f"(value {item.metric_value})" if item.metric_value is not None else ""
        lines.append(f"{rule} {value}".strip() if item.operator else f"Log search hit {value}")
        search_links(facts, item.link_to_search_results_ui, item.link_to_filtered_search_results_ui,
                     item.link_to_search_results_api, item.link_to_filtered_search_results_api)
    facts.summary = "; ".join(line.strip() for line in lines)
    dimension_facts([pair for item in criteria for pair in dimension_pairs(item.dimensions)], facts)
    if criteria:
        first = criteria[0]
        facts.annotate(search_query=first.search_query, metric_value=first.metric_value,
                       threshold=first.threshold)
    if not has_custom:
        facts.labels = {**text_map(log.properties), **facts.labels}
    return facts


def _log_v1(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    fields = validate(LogSearchFields, context, at=_CONTEXT, shape=_SHAPE)
    return log_search_facts(fields, fields.operator, fields.threshold)


def _activity(kind: str) -> _Family:
    def family(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
        event = validate(ActivityEvent, context, at=_CONTEXT, shape=_SHAPE)
        facts = activity_facts(event, kind, at=_CONTEXT, shape=_SHAPE)
        if kind == "servicehealth" and facts.resolved and facts.resolved_at is None:
            facts.resolved_at = parse_time(essentials.fired_date_time)
        return facts

    return family


def _smart_detector(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    return smart_detector_facts(validate(SmartDetectorContext, context, at=_CONTEXT, shape=_SHAPE))


def _prometheus(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    prom = validate(_PrometheusContext, context, at=_CONTEXT, shape=_SHAPE)
    labels = text_map(prom.labels)
    notes = text_map(prom.annotations)
    facts = Facts(labels=labels, annotations=dict(notes))
    facts.summary = notes.get("summary", "")
    facts.description = notes.get("description", "")
    facts.annotate(expression=prom.expression, expression_value=prom.expression_value)
    facts.link(notes.get("runbook_url"), "Runbook")
    group = parse_arm_id(prom.rule_group).resource_name
    if "alertname" in labels:
        facts.name = f"{group}/{labels['alertname']}" if group else labels["alertname"]
    if prom.rule_group:
        facts.identity["rule_group"] = prom.rule_group.casefold()
    facts.identity["labels"] = joined([f"{key}={value}" for key, value in labels.items()])
    return facts


def _cost(essentials: _Essentials, context: object, has_custom: bool) -> Facts:
    cost = validate(_CostContext, context, at=_CONTEXT, shape=_SHAPE)
    data = cost.alert_data or _CostData()
    facts = Facts(resource=data.scope or "")
    if data.budget_name:
        facts.name = f"Budget: {data.budget_name}"
        facts.azure_labels["azure_budget_name"] = data.budget_name
    facts.summary = budget_summary(
        spent=data.spent_amount, forecast=data.forecasted_total_for_period,
        budget=data.budget_threshold, threshold=data.notification_threshold_amount)
    facts.annotate(spent_amount=data.spent_amount, budget=data.budget_threshold,
                   notification_threshold=data.notification_threshold_amount,
                   forecasted_total=data.forecasted_total_for_period, unit=data.unit,
                   alert_category=cost.alert_category)
    facts.identity.update({
        key: value for key, value in {
            "budget": (data.budget_id or data.budget_name or "").casefold(),
            "scope": (data.scope or "").rstrip("/").casefold(),
            "threshold_type": (data.threshold_type or "").casefold(),
            "threshold": data.notification_threshold_amount or "",
        }.items() if value
    })
    return facts


_FAMILIES: dict[str, _Family] = {
    "platform": _metric,
    "loganalytics": _log_v1,
    "applicationinsights": _log_v1,
    "logalertsv2": _log_v2,
    "simplelogalert": _log_v2,
    "activitylogadministrative": _activity("administrative"),
    "activitylogpolicy": _activity("policy"),
    "activitylogautoscale": _activity("autoscale"),
    "activitylogsecurity": _activity("security"),
    "activitylogrecommendation": _activity("recommendation"),
    "servicehealth": _activity("servicehealth"),
    "resourcehealth": _activity("resourcehealth"),
    "smartdetector": _smart_detector,
    "prometheus": _prometheus,
    "costalerts": _cost,
}


# --- the common schema --------------------------------------------------------------------------


def _from_common(payload: dict[str, Any], received_at: datetime) -> Alert:
    data = validate(_CommonAlert, payload, at="", shape=_SHAPE).data
    essentials = data.essentials
    family = _FAMILIES.get(family_key(essentials.monitoring_service), _generic)
    context = {} if data.alert_context is None else data.alert_context
    try:
        facts = family(essentials, context, data.custom_properties is not None)
    except PayloadError as exc:
        facts = Facts()
        facts.annotate(azure_context_warning=f"{exc.message} Mapped without the alert context.")

    targets = [target for target in essentials.alert_target_ids or [] if target]
    resource = targets[0] if targets else facts.resource
    name = one_line(essentials.alert_rule) or one_line(facts.name) or FALLBACK_NAME
    identity = _identity(essentials.alert_rule_id, name, targets)
    identity.update(facts.identity)

    status = Status.RESOLVED if facts.resolved else status_from(essentials.monitor_condition)
    starts_at = parse_time(essentials.fired_date_time) or received_at
    ends_at = None
    if status is Status.RESOLVED:
        ends_at = (parse_time(essentials.resolved_date_time) or facts.resolved_at
                   or (starts_at if facts.resolved else received_at))

    azure = arm_labels(resource)
    fill_missing(azure, azure_resource_group=essentials.target_resource_group,
                 azure_resource_type=essentials.target_resource_type,
                 azure_monitoring_service=(essentials.monitoring_service or "").strip(),
                 azure_signal_type=normalized_signal_type(essentials.signal_type))
    azure.update(facts.azure_labels)

    links = [alert_portal_link(essentials.alert_id),
             http_link(essentials.investigation_link, "Investigate in Azure Monitor")]
    return Draft(
        source_ref=essentials.alert_id or synthetic_ref(
            identity, essentials.fired_date_time or received_at.isoformat()),
        name=name,
        status=status,
        severity=severity_from(essentials.severity) or facts.severity or Severity.WARNING,
        starts_at=starts_at,
        ends_at=ends_at,
        summary=facts.summary or essentials.description or "",
        description=facts.description or essentials.description or "",
        resource=resource,
        labels={**text_map(data.custom_properties), **facts.labels},
        azure_labels=azure,
        annotations=facts.annotations,
        links=[link for link in links if link is not None] + facts.links,
        identity=identity,
        raw=payload,
    ).build()


def _identity(rule_id: str | None, name: str, targets: list[str]) -> dict[str, str]:
    """Rule id (lower-cased ARM id) or, lacking one, the rule name, plus the sorted targets."""
    identity = {"rule": rule_id.strip().casefold()} if rule_id and rule_id.strip() else {
        "rule_name": name}
    if targets:
        identity["targets"] = joined([target.strip().casefold() for target in targets])
    return identity


#: The common alert schema's wire model, published for the OpenAPI document.
WIRE_MODEL = _CommonAlert

# --- dispatch ---------------------------------------------------------------------------------

_Shape = Callable[[dict[str, Any], datetime], Alert]

_SCHEMAS: dict[str, _Shape] = {
    "azuremonitorcommonalertschema": _from_common,
    "azuremonitormetricalert": legacy.from_metric_alert,
    "microsoft.insights/activitylogs": legacy.from_activity_log,
    "microsoft.insights/logalert": legacy.from_log_alert,
    "aipbudgetnotification": legacy.from_budget,
}


def parse(payload: object, *, received_at: datetime,
          default_severity: Severity = Severity.WARNING) -> list[Alert]:
    """One Azure Monitor webhook body (as ``json.loads`` gave it) -> its alert(s).

    ``default_severity`` is accepted for the ``Source`` protocol; Azure alerts without a
    severity (budgets, custom payloads) are ``warning`` whatever it says.

    Raises ``PayloadError`` (422, ``field`` = dotted path) for anything that can never be
    accepted; never any other exception.
    """
    if not isinstance(payload, dict):
        kind = "an array" if isinstance(payload, list) else type(payload).__name__
        raise PayloadError(
            f"Azure Monitor payload must be a JSON object, got {kind}. "
            "Point the action group's webhook at this URL and send its body unchanged.",
            field="$",
        )
    del default_severity
    received_at = aware(received_at)
    schema_id = validate(_Probe, payload, at="", shape="Azure Monitor payload").schema_id
    try:
        if schema_id is not None:
            shape = _SCHEMAS.get(family_key(schema_id))
            if shape is None:
                raise PayloadError(
                    f"Unknown Azure Monitor schemaId {schema_id!r}. {legacy.ACCEPTED}",
                    field="schemaId",
                )
            return [shape(payload, received_at)]
        return [schemaless.from_schemaless(payload, received_at)]
    except ValidationError as exc:  # only from building the Alert itself
        raise payload_error(exc, at="", shape="Azure Monitor payload") from None
