"""The common schema's ``alertContext``, one mapper per ``monitoringService`` (private to
``azure_monitor``).

Owns the context wire models only the common schema carries (metric, Log Alerts V2,
Prometheus, cost) and the table from ``monitoringService`` (compared without case, spaces,
dashes or underscores) to the mapper that turns its context into :class:`Facts`; the
families the legacy shapes carry too are read with ``families``.

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

A mapper raises ``PayloadError`` when the context does not fit its family's model; the caller
(``common``) then maps the alert without it.

Must not: do I/O, read settings or log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

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
    family_key,
    joined,
    parse_arm_id,
    parse_time,
    text_map,
)
from aggregator.sources.wire import JsonMap, Text, WireModel, validate

if TYPE_CHECKING:  # common imports this module; the mappers only annotate with its model
    from aggregator.sources.azure_monitor.common import Essentials

SHAPE = "Azure Monitor common alert schema"
_CONTEXT = "data.alertContext"


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

Mapper = Callable[["Essentials", object, bool], Facts]
"""``(essentials, alertContext, has customProperties) -> Facts``."""


def _generic(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    """Unknown services: envelope fields only; the context stays in ``raw``."""
    return Facts()


def _metric(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    metric = validate(_MetricContext, context, at=_CONTEXT, shape=SHAPE)
    facts = metric_facts(metric.condition)
    if not has_custom:
        facts.labels = {**text_map(metric.properties), **facts.labels}
    facts.annotate(condition_type=metric.condition_type)
    return facts


def _log_v2(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    log = validate(_LogV2Context, context, at=_CONTEXT, shape=SHAPE)
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


def _log_v1(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    fields = validate(LogSearchFields, context, at=_CONTEXT, shape=SHAPE)
    return log_search_facts(fields, fields.operator, fields.threshold)


def _activity(kind: str) -> Mapper:
    def family(essentials: Essentials, context: object, has_custom: bool) -> Facts:
        event = validate(ActivityEvent, context, at=_CONTEXT, shape=SHAPE)
        facts = activity_facts(event, kind, at=_CONTEXT, shape=SHAPE)
        if kind == "servicehealth" and facts.resolved and facts.resolved_at is None:
            facts.resolved_at = parse_time(essentials.fired_date_time)
        return facts

    return family


def _smart_detector(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    return smart_detector_facts(validate(SmartDetectorContext, context, at=_CONTEXT, shape=SHAPE))


def _prometheus(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    prom = validate(_PrometheusContext, context, at=_CONTEXT, shape=SHAPE)
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


def _cost(essentials: Essentials, context: object, has_custom: bool) -> Facts:
    cost = validate(_CostContext, context, at=_CONTEXT, shape=SHAPE)
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


_FAMILIES: dict[str, Mapper] = {
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


def mapper_for(monitoring_service: str | None) -> Mapper:
    """The mapper of a ``monitoringService``; an unknown one gets the generic mapping."""
    return _FAMILIES.get(family_key(monitoring_service), _generic)
