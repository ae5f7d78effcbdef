"""Sources: one pure module per sender, payload in, normalized alerts out; ``SOURCES`` registry."""

from __future__ import annotations

from datetime import datetime

from aggregator.model import Severity, Source
from aggregator.sources import alertmanager, azure_monitor
from aggregator.sources.spec import Parsed, Parser, SourceSpec, TokenPlace


def _am(payload: object, *, received_at: datetime, default_severity: Severity) -> Parsed:
    alerts = alertmanager.parse(payload, received_at=received_at,
                                default_severity=default_severity)
    value = alerts[0].raw.get("truncated_alerts", 0) if alerts else 0
    return Parsed(alerts, value if isinstance(value, int) else 0)


def _az(payload: object, *, received_at: datetime, default_severity: Severity) -> Parsed:
    return Parsed(azure_monitor.parse(payload, received_at=received_at,
                                      default_severity=default_severity))


SOURCES: dict[Source, SourceSpec] = {
    Source.ALERTMANAGER: SourceSpec(
        Source.ALERTMANAGER, _am, alertmanager.WIRE_MODEL, "/webhooks/alertmanager",
        "Receive an Alertmanager webhook (version 4)", (TokenPlace.BEARER,),
        "Authorization: Bearer <token>"),
    Source.AZURE_MONITOR: SourceSpec(
        Source.AZURE_MONITOR, _az, azure_monitor.WIRE_MODEL, "/webhooks/azure-monitor",
        "Receive an Azure Monitor action-group webhook",
        (TokenPlace.BEARER, TokenPlace.QUERY, TokenPlace.BASIC),
        "?token=<token> or https://user:<token>@host/... in the webhook URL"),
}

__all__ = ["SOURCES", "Parsed", "Parser", "SourceSpec", "TokenPlace"]
