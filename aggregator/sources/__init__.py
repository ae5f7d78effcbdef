"""Sources: one pure module per sender, payload in, normalized alerts out; ``SOURCES`` registry."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from aggregator.model import Alert, Severity, Source
from aggregator.sources import alertmanager, azure_monitor


class Parser(Protocol):
    def __call__(
        self, payload: object, *, received_at: datetime, default_severity: Severity
    ) -> list[Alert]: ...


SOURCES: dict[Source, Parser] = {
    Source.ALERTMANAGER: alertmanager.parse,
    Source.AZURE_MONITOR: azure_monitor.parse,
}
