"""Building blocks shared by every Azure Monitor payload shape (private to ``azure_monitor``).

Owns: the lenient wire-model base (case-insensitive keys, numbers accepted as text), the
severity/status/time/ARM-ID readers, label/link/identity helpers, the wire models that the
common schema and the legacy shapes share (metric criteria, activity-log events, smart
detector context) and :class:`Draft`, which turns the collected parts into an ``Alert``.

Must not: do I/O, read settings, log, or raise anything but ``PayloadError`` for bad input.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from aggregator.errors import PayloadError
from aggregator.model import Alert, Link, Severity, Source, Status

FALLBACK_NAME = "Azure Monitor alert"
SUMMARY_LIMIT = 300
_PORTAL_ALERT = (
    "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId/"
)


# --- wire-model base ------------------------------------------------------------------------


def number_text(value: float) -> str:
    """``5.0`` -> ``"5"``, ``78.09`` -> ``"78.09"`` (metric values arrive as JSON numbers)."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _to_text(value: object) -> object:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    raise ValueError("must be a string or a number, not an object or array")


Text = Annotated[str | None, BeforeValidator(_to_text)]
"""A scalar the sender may spell as a string or a number (``"3"`` vs ``3``)."""

JsonMap = dict[str, Any] | None


class WireModel(BaseModel):
    """Base of every Azure wire model: unknown keys ignored, camelCase aliases, and key
    lookup without regard to case (``alertRuleID``/``alertRuleId``, ``SearchQuery``)."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _fold_key_case(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        wanted = {(info.alias or name).casefold(): info.alias or name
                  for name, info in cls.model_fields.items()}
        folded = dict(data)
        for key, value in data.items():
            alias = wanted.get(key.casefold()) if isinstance(key, str) else None
            if alias is not None and alias not in folded:
                folded[alias] = value
        return folded


_M = TypeVar("_M", bound=BaseModel)

_REASONS = {
    "missing": "is required",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON array",
    "string_type": "must be a string",
}


def payload_error(exc: ValidationError, *, at: str, shape: str) -> PayloadError:
    """The first pydantic error as a ``PayloadError`` naming the dotted field path."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    loc = [str(part) for part in errors[0]["loc"]] if errors else []
    path = ".".join([part for part in at.split(".") if part] + loc)
    reason = (_REASONS.get(errors[0]["type"], errors[0]["msg"].removeprefix("Value error, "))
              if errors else "is invalid")
    field_name = path or "$"
    return PayloadError(f"{shape}: field '{field_name}' {reason}.", field=field_name)


def validate(model: type[_M], value: object, *, at: str, shape: str) -> _M:
    """``model.model_validate(value)``; failures become ``PayloadError`` at ``at.<loc>``."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise payload_error(exc, at=at, shape=shape) from None


# --- scalar readers -------------------------------------------------------------------------

_SEVERITIES = {
    "sev0": Severity.CRITICAL, "0": Severity.CRITICAL, "critical": Severity.CRITICAL,
    "sev1": Severity.ERROR, "1": Severity.ERROR, "error": Severity.ERROR,
    "sev2": Severity.WARNING, "2": Severity.WARNING, "warning": Severity.WARNING,
    "sev3": Severity.INFO, "3": Severity.INFO, "sev4": Severity.INFO, "4": Severity.INFO,
    "informational": Severity.INFO, "info": Severity.INFO, "verbose": Severity.INFO,
}
# Activity-log ``level``: words, or the numeric EventLevel enum (1 Critical .. 5 Verbose).
_LEVELS = {
    "critical": Severity.CRITICAL, "1": Severity.CRITICAL,
    "error": Severity.ERROR, "2": Severity.ERROR,
    "warning": Severity.WARNING, "3": Severity.WARNING,
    "informational": Severity.INFO, "4": Severity.INFO,
    "verbose": Severity.INFO, "5": Severity.INFO,
}
# Defender for Cloud alert severity, found in Security activity-log events.
_SECURITY_SEVERITIES = {
    "critical": Severity.CRITICAL, "high": Severity.ERROR, "medium": Severity.WARNING,
    "low": Severity.INFO, "informational": Severity.INFO,
}
_STATUSES = {
    "fired": Status.FIRING, "activated": Status.FIRING, "active": Status.FIRING,
    "resolved": Status.RESOLVED, "deactivated": Status.RESOLVED,
}


def _key(value: str | None) -> str:
    return re.sub(r"\s+", "", value).casefold() if value else ""


def severity_from(value: str | None) -> Severity | None:
    """``Sev0``..``Sev4``, bare digits ``"0"``..``"4"`` or words; ``None`` if unknown."""
    return _SEVERITIES.get(_key(value))


def severity_from_level(value: str | None) -> Severity | None:
    return _LEVELS.get(_key(value))


def severity_from_security(value: str | None) -> Severity | None:
    return _SECURITY_SEVERITIES.get(_key(value))


def status_from(value: str | None) -> Status:
    """Fired/Activated -> firing, Resolved/Deactivated -> resolved; unknown -> firing."""
    return _STATUSES.get(_key(value), Status.FIRING)


_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")


def parse_time(value: str | None) -> datetime | None:
    """ISO-8601 (any fraction length, ``Z``/offset) or US ``3/22/2019 1:36:31 PM``, as UTC.

    Naive times are taken as UTC. Anything else gives ``None`` (the caller falls back).
    """
    if not value:
        return None
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text) if _ISO.fullmatch(text) else _parse_us(text)
        if parsed is None:
            return None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse_us(text: str) -> datetime | None:
    for fmt in _US_FORMATS:
        try:
            return datetime.strptime(text, fmt)  # naive: made UTC by the caller
        except ValueError:
            continue
    return None


def one_line(text: str | None, limit: int = SUMMARY_LIMIT) -> str:
    """Whitespace collapsed, cut at ``limit`` characters with an ellipsis."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def strip_html(text: str | None) -> str:
    """Service Health communications are HTML; keep the words."""
    if not text:
        return ""
    without_tags = re.sub(r"<[^>]*>", " ", text)
    return "\n".join(" ".join(line.split()) for line in html.unescape(without_tags).splitlines()
                     if line.strip())


def label_text(value: object) -> str:
    """Label values are strings: strings as they are, ``None`` as "", the rest as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, float):
        return number_text(value)
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return "<unrepresentable>"


def text_map(values: dict[str, Any] | None) -> dict[str, str]:
    return {key: label_text(value) for key, value in (values or {}).items() if key}


def joined(items: list[str]) -> str:
    """A multi-valued identity part: sorted, as a compact JSON array (unambiguous)."""
    return json.dumps(sorted(items), separators=(",", ":"), ensure_ascii=False)


def is_truthy(value: str | None) -> bool:
    return _key(value) in {"true", "1", "yes"}


# --- ARM resource IDs -----------------------------------------------------------------------


@dataclass(frozen=True)
class ArmId:
    subscription: str = ""
    resource_group: str = ""
    resource_type: str = ""
    resource_name: str = ""


def parse_arm_id(resource_id: str | None) -> ArmId:
    """Split ``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/...]``.

    Segment names match without regard to case; anything missing stays "". Nested types
    follow ARM (``ns/servers/databases``, ``srv/db``); a second ``providers`` ends the resource.
    """
    segments = [part for part in (resource_id or "").split("/") if part]
    lowered = [part.casefold() for part in segments]
    subscription = _segment_after(segments, lowered, "subscriptions")
    resource_group = _segment_after(segments, lowered, "resourcegroups")
    resource_type = resource_name = ""
    if "providers" in lowered:
        rest = segments[lowered.index("providers") + 1:]
        rest_lowered = lowered[lowered.index("providers") + 1:]
        if "providers" in rest_lowered:
            rest = rest[: rest_lowered.index("providers")]
        if rest:
            kinds, names = rest[1::2], rest[2::2]
            if kinds:
                resource_type = "/".join([rest[0], *kinds])
            resource_name = "/".join(names)
    return ArmId(subscription, resource_group, resource_type, resource_name)


def _segment_after(segments: list[str], lowered: list[str], key: str) -> str:
    if key not in lowered:
        return ""
    index = lowered.index(key) + 1
    return segments[index] if index < len(segments) else ""


def arm_labels(resource_id: str | None) -> dict[str, str]:
    arm = parse_arm_id(resource_id)
    pairs = {
        "azure_subscription_id": arm.subscription,
        "azure_resource_group": arm.resource_group,
        "azure_resource_type": arm.resource_type,
        "azure_resource_name": arm.resource_name,
    }
    return {key: value for key, value in pairs.items() if value}


def fill_missing(labels: dict[str, str], **fallbacks: str | None) -> None:
    """Set each ``fallbacks`` label that ``labels`` lacks (explicit payload fields)."""
    for key, value in fallbacks.items():
        if value and key not in labels:
            labels[key] = value


def family_key(value: str | None) -> str:
    """``"Activity Log - Administrative"`` -> ``"activitylogadministrative"``."""
    return re.sub(r"[\s_\-\u2010-\u2015]+", "", value or "").casefold()


def normalized_signal_type(value: str | None) -> str | None:
    known = {"metric": "Metric", "log": "Log", "activitylog": "Activity Log"}
    if not value or not value.strip():
        return None
    return known.get(re.sub(r"[\s_\-]+", "", value).casefold(), value.strip())


# --- links ------------------------------------------------------------------------------------


def http_link(href: str | None, text: str) -> Link | None:
    """A ``Link`` only for absolute http(s) URLs."""
    if not href or not href.strip():
        return None
    href = href.strip()
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.casefold() not in {"http", "https"} or not parts.netloc:
        return None
    return Link(href=href, text=text)


def alert_portal_link(alert_id: str | None) -> Link | None:
    """Portal page of an Alerts-Management alert (``…/Microsoft.AlertsManagement/alerts/{id}``)."""
    if not alert_id or "/providers/microsoft.alertsmanagement/alerts/" not in alert_id.casefold():
        return None
    return Link(href=_PORTAL_ALERT + quote(alert_id, safe="", errors="replace"),
                text="Alert in Azure portal")


_ANCHOR = re.compile(r"<a\s+href=\"(?P<href>.+?)\"(?:\s+target=\"[^\"]*\")?\s*>(?P<text>.*?)</a>",
                     re.IGNORECASE | re.DOTALL)


def anchor_link(fragment: str | None) -> Link | None:
    """The link inside an ``<a href="...">text</a>`` fragment (Smart Detection LinksTable)."""
    match = _ANCHOR.search(fragment or "")
    if match is None:
        return http_link(fragment, "Details")
    return http_link(match["href"], one_line(strip_html(match["text"])) or "Details")


# --- what a family contributes, and the final assembly ----------------------------------------


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


@dataclass
class Draft:
    """All parts of one alert; :meth:`build` merges labels (``azure_*`` win) and links."""

    source_ref: str
    name: str
    status: Status
    severity: Severity
    starts_at: datetime
    raw: dict[str, Any]
    identity: dict[str, str]
    ends_at: datetime | None = None
    summary: str = ""
    description: str = ""
    resource: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    azure_labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)

    def build(self) -> Alert:
        links: dict[str, Link] = {}
        for link in self.links:
            links.setdefault(link.href, link)
        ends_at = None
        if self.status is Status.RESOLVED:
            ends_at = max(self.ends_at or self.starts_at, self.starts_at)
        name = one_line(self.name) or FALLBACK_NAME
        return Alert(
            source=Source.AZURE_MONITOR,
            source_ref=self.source_ref,
            name=name,
            status=self.status,
            severity=self.severity,
            summary=one_line(self.summary) or name,
            description=(self.description or "").strip(),
            resource=self.resource,
            labels={**self.labels, **self.azure_labels},
            annotations=self.annotations,
            links=tuple(links.values()),
            starts_at=self.starts_at,
            ends_at=ends_at,
            identity=self.identity,
            # Only metric alerts (platform and managed Prometheus) send a resolve; log,
            # activity-log, smart-detector and budget alerts never do, so they expire.
            auto_resolves=self.azure_labels.get("azure_signal_type") == "Metric",
            raw=self.raw,
        )


def budget_summary(*, spent: str | None, forecast: str | None, budget: str | None,
                   threshold: str | None, unit: str = "") -> str:
    """``"Spent $11,111.00 of budget $50.00, threshold $25.00"`` from the parts present."""
    head = f"Forecast {forecast}{unit}" if forecast else f"Spent {spent}{unit}" if spent else ""
    if not head:
        return ""
    if budget:
        head = f"{head} of budget {budget}{unit}"
    return f"{head}, threshold {threshold}{unit}" if threshold else head


def synthetic_ref(identity: dict[str, str], stamp: str) -> str:
    """An episode reference for shapes without an instance id: identity values + timestamp."""
    return "|".join([*identity.values(), stamp])


def aware(moment: datetime) -> datetime:
    """``received_at`` as UTC; a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- shared wire models ----------------------------------------------------------------------


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
        if (_key(health.current_health_status) == "available"
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
    if _key(props.stage) in RESOLVED_STAGES:
        facts.resolved = True
        facts.resolved_at = parse_time(event.event_timestamp)
