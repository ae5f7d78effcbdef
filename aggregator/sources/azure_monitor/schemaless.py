"""Azure Monitor webhook bodies without a ``schemaId`` -> alerts (private to ``azure_monitor``).

Owns ``from_schemaless``: which shape such a body is, tried from the most
specific markers to the least (Alerts-Management resource, legacy Log Analytics, classic
metric alert, then any object that names the alert), and the last of these, a log alert's
custom JSON payload. The first three are mapped by ``legacy``, which shares their code with
the shapes that do carry a ``schemaId``. Must not do I/O or log; bad input is a ``PayloadError``.

A custom payload has no timestamp or instance id: it is always firing, starts at
``received_at`` and its ``source_ref`` is the identity values plus that time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aggregator.errors import PayloadError
from aggregator.model import Alert, Severity, Status
from aggregator.sources.azure_monitor.draft import Draft, synthetic_ref
from aggregator.sources.azure_monitor.legacy import (
    ACCEPTED,
    from_alerts_management,
    from_classic_metric,
    from_log_analytics,
)
from aggregator.sources.azure_monitor.readers import (
    azure_labels_for,
    http_link,
    joined,
    one_line,
    severity_from,
)
from aggregator.sources.wire import WireModel, validate


class CustomPayload(WireModel):
    """A log alert's custom JSON payload: any object that names the alert."""

    severity: Any = None
    description: Any = None
    subscription_id: Any = None
    resource_id: Any = None


_NAME_KEYS = ("alertrulename", "alertname", "alertrule", "alert_name", "alert_rule_name",
              "rulename", "rule_name")


def _scalar(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _custom_name(payload: dict[str, Any]) -> str | None:
    for wanted in _NAME_KEYS:
        for key, value in payload.items():
            if isinstance(key, str) and key.casefold() == wanted and _scalar(value):
                return _scalar(value)
    return None


def from_custom(payload: dict[str, Any], received_at: datetime, name: str) -> Alert:
    """A log alert's custom JSON payload: any object naming the alert; severity default warning."""
    custom = validate(CustomPayload, payload, at="", shape="custom log alert payload")
    resource = _scalar(custom.resource_id) or ""
    identity = {"rule_name": one_line(name)}
    subscription = _scalar(custom.subscription_id)
    if subscription:
        identity["subscription"] = subscription.casefold()
    if resource:
        identity["targets"] = joined([resource.casefold()])
    links = [http_link(value, key) for key, value in payload.items()
             if isinstance(key, str) and isinstance(value, str)
             and ("link" in key.casefold() or "url" in key.casefold())]
    description = _scalar(custom.description) or ""
    return Draft(
        source_ref=synthetic_ref(identity, received_at.isoformat()),
        name=name,
        status=Status.FIRING,
        severity=severity_from(_scalar(custom.severity)) or Severity.WARNING,
        starts_at=received_at,
        summary=description,
        description=description,
        resource=resource,
        azure_labels=azure_labels_for(resource, service="", signal=None,
                                      azure_subscription_id=subscription),
        links=[link for link in links if link is not None],
        identity=identity,
        raw=payload,
    ).build()


def from_schemaless(payload: dict[str, Any], received_at: datetime) -> Alert:
    """Shapes without ``schemaId``, the most specific markers first (see the module)."""
    keys = {key.casefold(): value for key, value in payload.items() if isinstance(key, str)}
    kind = keys.get("type")
    if isinstance(kind, str) and kind.strip().casefold() == "microsoft.alertsmanagement/alerts":
        return from_alerts_management(payload, received_at)
    if keys.keys() & {"workspaceid", "alertrulename", "searchquery"}:
        return from_log_analytics(payload, received_at)
    context = keys.get("context")
    if "status" in keys and isinstance(context, dict) and (
            "conditiontype" in {str(key).casefold() for key in context}
            or "/alertrules/" in str(context.get("id", "")).casefold()):
        return from_classic_metric(payload, received_at)
    name = _custom_name(payload)
    if name is not None:
        return from_custom(payload, received_at, name)
    raise PayloadError(
        f"Not an Azure Monitor payload: no 'schemaId' and no known shape. {ACCEPTED}",
        field="schemaId",
    )
