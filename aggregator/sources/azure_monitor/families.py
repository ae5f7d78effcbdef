"""Readers of the payload families both the common schema and the legacy shapes carry
(private to ``azure_monitor``).

Owns :class:`Facts` (what one family adds on top of the envelope) and, per family, its wire
models and mapping to ``Facts``: metric criteria and dimensions, Smart Detector context, log
search (V1) fields, activity-log events (Administrative, Service Health, Resource Health,
Recommendation, Security, Autoscale) and the budget summary. Builds on ``readers`` and
``aggregator.sources.wire``; the per-``monitoringService`` table is ``contexts``.

Must not: do I/O, read settings, log, or raise anything but ``PayloadError`` for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field

from aggregator.model import Link, Severity
from aggregator.sources.azure_monitor.readers import (
    anchor_link,
    http_link,
    is_truthy,
    joined,
    parse_time,
    plain_key,
    severity_from_security,
    strip_html,
)
from aggregator.sources.wire import JsonMap, Text, WireModel, validate

# --- what a family contributes ----------------------------------------------------------------


@dataclass
class Facts:
    """What one payload family adds on top of the envelope (summary, labels, identity, ...)."""

    summary: str = ""
    description: str = ""
    name: str = ""
    resource: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    azure_labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)
    resolved: bool = False
    resolved_at: datetime | None = None
    severity: Severity | None = None

    def annotate(self, **values: str | None) -> None:
        self.annotations.update({key: value for key, value in values.items() if value})

    def link(self, href: str | None, text: str) -> None:
        link = http_link(href, text)
        if link is not None:
            self.links.append(link)


def budget_summary(*, spent: str | None, forecast: str | None, budget: str | None,
                   threshold: str | None, unit: str = "") -> str:
    """``"Spent $11,111.00 of budget $50.00, threshold $25.00"`` from the parts present."""
    head = f"Forecast {forecast}{unit}" if forecast else f"Spent {spent}{unit}" if spent else ""
    if not head:
        return ""
    if budget:
        head = f"{head} of budget {budget}{unit}"
    return f"{head}, threshold {threshold}{unit}" if threshold else head


# --- dimensions, metric criteria and Smart Detector context ----------------------------------


class Dimension(WireModel):
    name: Text = None
    value: Text = None


def dimension_pairs(dimensions: list[Dimension] | None) -> list[tuple[str, str]]:
    return [(dim.name, dim.value or "") for dim in dimensions or [] if dim.name]


def dimension_facts(pairs: list[tuple[str, str]], facts: Facts) -> None:
    """Dimensions become labels by their names and part of the identity."""
    facts.labels.update(dict(pairs))
    if pairs:
        facts.identity["dimensions"] = joined([f"{name}={value}" for name, value in pairs])


class MetricCriterion(WireModel):
    metric_name: Text = None
    metric_namespace: Text = None
    operator: Text = None
    threshold: Text = None
    time_aggregation: Text = None
    dimensions: list[Dimension] | None = None
    metric_value: Text = None
    web_test_name: Text = None


class MetricCondition(WireModel):
    window_size: Text = None
    all_of: list[MetricCriterion] | None = None


def metric_facts(condition: MetricCondition | None) -> Facts:
    """Summary ``"Transactions GreaterThan 0 (value 100)"`` per criterion, dimensions, values."""
    criteria = (condition.all_of if condition else None) or []
    facts = Facts()
    lines = []
    for item in criteria:
        line = " ".join(part for part in (item.metric_name, item.operator, item.threshold) if part)
        if item.metric_value is not None:
            line = f"{line} (value {item.metric_value})".strip()
        if item.web_test_name:
            line = f"{line} [web test {item.web_test_name}]"
        if line:
            lines.append(line)
    facts.summary = "; ".join(lines)
    dimension_facts([pair for item in criteria for pair in dimension_pairs(item.dimensions)], facts)
    if criteria:
        first = criteria[0]
        facts.annotate(metric_name=first.metric_name, metric_value=first.metric_value,
                       threshold=first.threshold, web_test_name=first.web_test_name)
    if condition is not None:
        facts.annotate(window_size=condition.window_size)
    return facts


class SmartDetectorContext(WireModel):
    detection_summary: Text = None
    detected_value: Text = None
    normal_value: Text = None
    detected_failure_rate: Text = None
    normal_failure_rate: Text = None
    smart_detector_id: Text = None
    smart_detector_name: Text = None
    links_table: list[dict[str, Any]] | None = None


def smart_detector_facts(context: SmartDetectorContext) -> Facts:
    facts = Facts(summary=context.detection_summary or "")
    facts.annotate(detected_value=context.detected_value or context.detected_failure_rate,
                   normal_value=context.normal_value or context.normal_failure_rate,
                   smart_detector=context.smart_detector_name or context.smart_detector_id)
    for row in context.links_table or []:
        for cell in row.values():
            link = anchor_link(cell) if isinstance(cell, str) else None
            if link is not None:
                facts.links.append(link)
    return facts


# --- log search (V1 fields, shared by the common schema and the legacy API) -----------------


class LogSearchFields(WireModel):
    """Log search alert V1 fields (common-schema ``alertContext`` or legacy top level)."""

    search_query: Text = None
    search_interval_start_time_utc: Text = None
    search_interval_endtime_utc: Text = None
    result_count: Text = None
    link_to_search_results: Text = None
    link_to_filtered_search_results_ui: Text = None
    link_to_search_results_api: Text = None
    link_to_filtered_search_results_api: Text = None
    threshold: Text = None
    operator: Text = None
    alert_type: Text = None
    workspace_id: Text = None
    application_id: Text = None
    dimensions: list[Dimension] | None = None


def search_links(facts: Facts, ui: str | None, filtered_ui: str | None, api: str | None,
                 filtered_api: str | None) -> None:
    facts.link(ui, "Log search results")
    facts.link(filtered_ui, "Filtered log search results")
    facts.link(api, "Log search results (API)")
    facts.link(filtered_api, "Filtered log search results (API)")


def log_search_facts(fields: LogSearchFields, operator: str | None, threshold: str | None) -> Facts:
    """Summary ``"Number of results: 2 result(s), threshold Greater Than 0"``, links, dimensions."""
    facts = Facts()
    count = f"{fields.result_count} result(s)" if fields.result_count is not None else ""
    rule = " ".join(part for part in (operator, threshold) if part)
    facts.summary = ", ".join(part for part in (count, f"threshold {rule}" if rule else "") if part)
    if facts.summary:
        facts.summary = f"{fields.alert_type or 'Log search'}: {facts.summary}"
    facts.annotate(search_query=fields.search_query, result_count=fields.result_count,
                   threshold=rule or None, alert_type=fields.alert_type,
                   search_interval_start=fields.search_interval_start_time_utc,
                   search_interval_end=fields.search_interval_endtime_utc)
    search_links(facts, fields.link_to_search_results, fields.link_to_filtered_search_results_ui,
                 fields.link_to_search_results_api, fields.link_to_filtered_search_results_api)
    dimension_facts(dimension_pairs(fields.dimensions), facts)
    if fields.workspace_id:
        facts.azure_labels["azure_workspace_id"] = fields.workspace_id
    if fields.application_id:
        facts.azure_labels["azure_application_id"] = fields.application_id
    return facts


# --- activity-log events (common-schema alertContext and legacy data.context.activityLog) -----


class ActivityEvent(WireModel):
    caller: Text = None
    correlation_id: Text = None
    description: Text = None
    event_description: Text = Field(None, alias="Activity Log Event Description")
    event_source: Text = None
    event_timestamp: Text = None
    event_data_id: Text = None
    level: Text = None
    operation_name: Text = None
    properties: JsonMap = None
    status: Text = None
    resource_id: Text = None
    resource_group_name: Text = None
    resource_type: Text = None
    subscription_id: Text = None


class _ServiceHealthProperties(WireModel):
    title: Text = None
    default_language_title: Text = None
    communication: Text = None
    default_language_content: Text = None
    incident_type: Text = None
    tracking_id: Text = None
    stage: Text = None
    service: Text = None
    region: Text = None
    impact_start_time: Text = None
    impact_mitigation_time: Text = None
    is_synthetic: Text = None


class _ResourceHealthProperties(WireModel):
    title: Text = None
    details: Text = None
    current_health_status: Text = None
    previous_health_status: Text = None
    event_type: Text = Field(None, alias="type")
    cause: Text = None


class _RecommendationProperties(WireModel):
    recommendation_name: Text = None
    recommendation_category: Text = None
    recommendation_impact: Text = None
    recommendation_type: Text = None
    recommendation_resource_link: Text = None


class _SecurityProperties(WireModel):
    severity: Text = None
    compromised_entity: Text = None
    threat_status: Text = None


class _AutoscaleProperties(WireModel):
    description: Text = None
    old_instances_count: Text = None
    new_instances_count: Text = None


# Service Health ``stage`` values that end an incident or maintenance (the alert stays "Fired").
RESOLVED_STAGES = frozenset({"resolved", "complete", "completed", "canceled", "cancelled", "rca"})
HEALTH_KINDS = frozenset({"servicehealth", "resourcehealth"})


def activity_facts(event: ActivityEvent, kind: str, *, at: str, shape: str) -> Facts:
    """Summary, description, status hints and identity parts of one activity-log event.

    ``kind`` is the event source without case or spaces (``administrative``, ``servicehealth``,
    ...). Service Health is resolved when its ``stage`` ends the incident; Resource Health
    when the resource is ``Available`` again (or the operation is ``.../Resolved/action``).
    """
    facts = Facts()
    props = event.properties or {}
    at_props = f"{at}.properties"
    operation = event.operation_name or ""
    event_text = event.event_description or event.description or ""
    if operation:
        facts.azure_labels["azure_operation_name"] = operation
        if kind not in HEALTH_KINDS:
            facts.identity["operation"] = operation.casefold()
    facts.annotate(caller=event.caller, event_status=event.status, level=event.level,
                   correlation_id=event.correlation_id)
    facts.name = f"Activity log: {operation}" if operation else "Activity log event"
    if kind == "servicehealth":
        _service_health(validate(_ServiceHealthProperties, props, at=at_props, shape=shape),
                        event, facts)
    elif kind == "resourcehealth":
        health = validate(_ResourceHealthProperties, props, at=at_props, shape=shape)
        facts.name = "Resource Health"
        facts.summary = health.title or ""
        facts.description = health.details or ""
        facts.annotate(current_health_status=health.current_health_status,
                       previous_health_status=health.previous_health_status,
                       health_event_type=health.event_type, cause=health.cause)
        if (plain_key(health.current_health_status) == "available"
                or "/resolved/" in operation.casefold()):
            facts.resolved = True
            facts.resolved_at = parse_time(event.event_timestamp)
    elif kind == "recommendation":
        advice = validate(_RecommendationProperties, props, at=at_props, shape=shape)
        facts.name = "Advisor recommendation"
        facts.summary = advice.recommendation_name or ""
        facts.annotate(recommendation_category=advice.recommendation_category,
                       recommendation_impact=advice.recommendation_impact)
        facts.link(advice.recommendation_resource_link, "Advisor recommendation")
        if advice.recommendation_type:
            facts.identity["recommendation"] = advice.recommendation_type.casefold()
    elif kind == "security":
        security = validate(_SecurityProperties, props, at=at_props, shape=shape)
        facts.name = "Security alert"
        facts.severity = severity_from_security(security.severity)
        facts.annotate(security_severity=security.severity,
                       compromised_entity=security.compromised_entity,
                       threat_status=security.threat_status)
    elif kind == "autoscale":
        scale = validate(_AutoscaleProperties, props, at=at_props, shape=shape)
        facts.summary = scale.description or ""
        facts.annotate(old_instances_count=scale.old_instances_count,
                       new_instances_count=scale.new_instances_count)
    if not facts.summary:
        facts.summary = event_text or " ".join(
            part for part in (operation, f"({event.status})" if event.status else "",
                              f"by {event.caller}" if event.caller else "") if part)
    if not facts.description and event_text != facts.summary:
        facts.description = event_text
    return facts


def _service_health(props: _ServiceHealthProperties, event: ActivityEvent, facts: Facts) -> None:
    facts.name = f"Service Health: {props.incident_type or 'event'}"
    facts.summary = props.title or props.default_language_title or ""
    facts.description = strip_html(props.communication or props.default_language_content)
    if props.tracking_id:
        facts.identity["tracking_id"] = props.tracking_id
        facts.azure_labels["azure_tracking_id"] = props.tracking_id
    elif facts.summary:
        facts.identity["title"] = facts.summary
    if props.incident_type:
        facts.azure_labels["azure_incident_type"] = props.incident_type
    if is_truthy(props.is_synthetic):
        facts.azure_labels["azure_test_notification"] = "true"
    facts.annotate(service=props.service, region=props.region, stage=props.stage,
                   impact_start_time=props.impact_start_time,
                   impact_mitigation_time=props.impact_mitigation_time)
    if plain_key(props.stage) in RESOLVED_STAGES:
        facts.resolved = True
        facts.resolved_at = parse_time(event.event_timestamp)
