"""Azure Monitor sample payloads and the small helpers the tests share.

The samples are Microsoft's published payloads (``fixtures/payloads/azure_monitor``,
provenance in its ``SOURCES.md``); ``fragments/`` holds ``alertContext``-only examples that the
tests wrap in a common-schema envelope (``common``).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

import pytest

from aggregator.errors import PayloadError
from aggregator.model import Alert
from aggregator.sources import azure_monitor
from tests.helpers import PAYLOADS, load_payload

FIXTURES = PAYLOADS / "azure_monitor"
FRAGMENTS = FIXTURES / "fragments"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
SUB = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
SAMPLE_FILES = sorted(FIXTURES.glob("*.json"))


load = functools.partial(load_payload, "azure_monitor")


def fragment(name: str) -> dict[str, Any]:
    """The ``alertContext`` of a fragment file."""
    context: dict[str, Any] = load(f"fragments/{name}")["alertContext"]
    return context


def parse_one(payload: object) -> Alert:
    parsed = azure_monitor.parse(payload, received_at=NOW)
    assert parsed.truncated == 0
    alerts = parsed.alerts
    assert len(alerts) == 1
    return alerts[0]


def common(service: str, context: object, **essentials: Any) -> dict[str, Any]:
    """A common-schema envelope around an ``alertContext`` (for the documented fragments)."""
    base: dict[str, Any] = {
        "alertId": f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/1111",
        "alertRule": f"rule-{service}",
        "severity": "Sev2",
        "signalType": "Log",
        "monitorCondition": "Fired",
        "monitoringService": service,
        "alertTargetIDs": [f"/subscriptions/{SUB}/resourcegroups/rg/providers/"
                           "microsoft.operationalinsights/workspaces/ws"],
        "firedDateTime": "2019-03-22T13:40:00.123Z",
        "description": "rule description",
    }
    base.update(essentials)
    return {"schemaId": "azureMonitorCommonAlertSchema",
            "data": {"essentials": base, "alertContext": context, "customProperties": None}}


def refused(payload: object) -> PayloadError:
    """The ``PayloadError`` (always 422) that ``payload`` is refused with."""
    with pytest.raises(PayloadError) as caught:
        azure_monitor.parse(payload, received_at=NOW)
    assert caught.value.status == 422
    return caught.value
