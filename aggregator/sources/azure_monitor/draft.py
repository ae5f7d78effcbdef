"""The final assembly of one Azure Monitor alert (private to ``azure_monitor``).

Owns :class:`Draft` (every part of one alert, collected by a shape's mapper; :meth:`Draft.build`
merges labels, ``azure_*`` winning, drops duplicate links and decides ``auto_resolves``),
``FALLBACK_NAME`` and ``synthetic_ref``, the episode reference of shapes without an instance id.

Must not: do I/O, read settings or log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aggregator.model import Alert, Link, Severity, Source, Status
from aggregator.sources.azure_monitor.readers import one_line

FALLBACK_NAME = "Azure Monitor alert"


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


def synthetic_ref(identity: dict[str, str], stamp: str) -> str:
    """An episode reference for shapes without an instance id: identity values + timestamp."""
    return "|".join([*identity.values(), stamp])
