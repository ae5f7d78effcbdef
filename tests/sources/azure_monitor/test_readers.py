"""The small shared readers: ARM resource ids and times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aggregator.sources.azure_monitor.readers import parse_arm_id, parse_time
from tests.sources.azure_monitor.samples import SUB

# --- small readers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource_id", "expected"),
    [
        (f"/subscriptions/{SUB}/resourcegroups/test-RG/providers/microsoft.compute/"
         "virtualmachines/test-VM", (SUB, "test-RG", "microsoft.compute/virtualmachines",
                                     "test-VM")),
        ("/SUBSCRIPTIONS/s/RESOURCEGROUPS/rg/PROVIDERS/Microsoft.Sql/servers/srv/databases/db",
         ("s", "rg", "Microsoft.Sql/servers/databases", "srv/db")),
        ("/subscriptions/s/resourceGroups/rg/providers/microsoft.insights/components/app/"
         "providers/Microsoft.AlertsManagement/alerts/123",
         ("s", "rg", "microsoft.insights/components", "app")),
        (f"/subscriptions/{SUB}", (SUB, "", "", "")),
        (f"/subscriptions/{SUB}/", (SUB, "", "", "")),
        ("/subscriptions", ("", "", "", "")),
        ("/subscriptions/s/providers", ("s", "", "", "")),
        ("a0a0a0a0-bbbb-cccc-dddd-e1e1e1e1e1e1", ("", "", "", "")),
        ("", ("", "", "", "")),
        ("///", ("", "", "", "")),
    ],
    ids=["vm", "nested-upper", "extension", "subscription", "trailing-slash", "bare",
         "providers-only", "guid", "empty", "slashes"],
)
def test_arm_id_parser_tolerates_anything(resource_id: str,
                                          expected: tuple[str, str, str, str]) -> None:
    arm = parse_arm_id(resource_id)
    assert (arm.subscription, arm.resource_group, arm.resource_type, arm.resource_name) == expected


def test_parse_time_rejects_what_it_cannot_read() -> None:
    assert parse_time("2025W01") is None
    assert parse_time("0001-01-01T00:00:00+01:00") is None  # out of range in UTC
    assert parse_time("13/45/2019 1:00:00 PM") is None
    assert parse_time("2019-03-22") == datetime(2019, 3, 22, tzinfo=UTC)
