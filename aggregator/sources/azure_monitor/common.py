"""The common alert schema (``schemaId: azureMonitorCommonAlertSchema``) -> one alert
(private to ``azure_monitor``).

Owns the envelope and ``essentials`` wire models and ``from_common``, which joins the
essentials with what the ``monitoringService``'s context mapper (``contexts``) found. For every
service ``name`` = ``alertRule``; ``description`` = the rule's description unless the family
has a better text; ``source_ref`` = ``essentials.alertId`` (shared by Fired and Resolved);
identity = the lower-cased rule id (``alertRuleID``, key in any case) or, lacking one, the
rule name, plus the sorted lower-cased ``alertTargetIDs``.

The essentials a real alert always has are required: ``alertRule``, ``severity`` (Sev0-Sev4),
``monitorCondition`` (Fired/Resolved), ``firedDateTime`` and ``alertId``; without them a body
would be stored as a firing "Azure Monitor alert" that pages. Budget alerts (``CostAlerts``)
are the documented exception: Microsoft's budget samples carry a null ``alertRule`` and
``severity``.
A context that does not fit its family's model still gives an alert (the generic mapping)
with the reason in the annotation ``azure_context_warning``: Azure never retries a 4xx, so
only a broken envelope (``data``, ``essentials``) is rejected.

Must not: do I/O, read settings or log; bad input is a ``PayloadError``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Status
from aggregator.sources.azure_monitor.contexts import SHAPE, mapper_for
from aggregator.sources.azure_monitor.draft import FALLBACK_NAME, Draft, synthetic_ref
from aggregator.sources.azure_monitor.families import Facts
from aggregator.sources.azure_monitor.readers import (
    COMMON_SEVERITIES,
    alert_portal_link,
    arm_labels,
    family_key,
    fill_missing,
    http_link,
    joined,
    lacks_choice,
    lacks_text,
    lacks_time,
    normalized_signal_type,
    one_line,
    parse_time,
    severity_from,
    status_from,
    text_map,
)
from aggregator.sources.wire import JsonMap, Text, WireModel, require, validate

_ESSENTIALS = "data.essentials"
_WITHOUT_RULE = frozenset({"costalerts"})  # alertRule and severity are null (budgets)


class Essentials(WireModel):
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


class CommonData(WireModel):
    essentials: Essentials
    alert_context: Any = None
    custom_properties: JsonMap = None


class CommonAlert(WireModel):
    """``schemaId: azureMonitorCommonAlertSchema``: the common alert schema."""

    data: CommonData


def _require_essentials(essentials: Essentials) -> None:
    """Refuse what no real alert lacks (``PayloadError`` at ``data.essentials.<field>``)."""
    budget = family_key(essentials.monitoring_service) in _WITHOUT_RULE
    require(SHAPE, [
        (f"{_ESSENTIALS}.alertRule", None if budget else lacks_text(essentials.alert_rule)),
        (f"{_ESSENTIALS}.severity", None if budget and essentials.severity is None
         else lacks_choice(essentials.severity, COMMON_SEVERITIES)),
        (f"{_ESSENTIALS}.monitorCondition",
         lacks_choice(essentials.monitor_condition, ("Fired", "Resolved"))),
        (f"{_ESSENTIALS}.firedDateTime", lacks_time(essentials.fired_date_time)),
        (f"{_ESSENTIALS}.alertId", lacks_text(essentials.alert_id)),
    ])


def from_common(payload: dict[str, Any], received_at: datetime) -> Alert:
    data = validate(CommonAlert, payload, at="", shape=SHAPE).data
    essentials = data.essentials
    _require_essentials(essentials)
    family = mapper_for(essentials.monitoring_service)
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
