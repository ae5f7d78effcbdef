"""Sources: one pure module per sender, payload in, normalized alerts out; the ``SOURCES``
registry, one line per sender, drives everything source-specific elsewhere (routes, OpenAPI,
token checks, parsing)."""

from __future__ import annotations

from aggregator.model import Source
from aggregator.sources import alertmanager, azure_monitor
from aggregator.sources.spec import Parsed, Parser, SourceSpec, TokenPlace

SOURCES: dict[Source, SourceSpec] = {
    Source.ALERTMANAGER: alertmanager.SPEC,
    Source.AZURE_MONITOR: azure_monitor.SPEC,
}

__all__ = ["SOURCES", "Parsed", "Parser", "SourceSpec", "TokenPlace"]
