"""Alertmanager webhook v4 -> normalized alerts, against real captures of Alertmanager 0.25."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.errors import PayloadError
from aggregator.model import Severity, Source, Status
from aggregator.sources import alertmanager
from tests.helpers import PAYLOADS, load_payload
from tests.strategies import json_values, mutate

FIXTURES = PAYLOADS / "alertmanager"
NOW = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
load = functools.partial(load_payload, "alertmanager")


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_every_capture_parses_one_alert_per_entry(path: Path) -> None:
    payload = load(path.name)
    alerts = alertmanager.parse(payload, received_at=NOW)
    assert len(alerts) == len(payload["alerts"])
    for alert, entry in zip(alerts, payload["alerts"], strict=True):
        assert alert.source is Source.ALERTMANAGER
        assert alert.name == entry["labels"]["alertname"]
        assert alert.labels == entry["labels"]
        assert alert.identity == entry["labels"]
        assert alert.status.value == entry["status"]
        assert alert.source_ref.startswith(entry["fingerprint"] + "@")


def test_firing_alert_fields() -> None:
    (alert,) = alertmanager.parse(load("firing_single_alert_group.json"), received_at=NOW)
    assert alert.status is Status.FIRING
    assert alert.severity is Severity.CRITICAL
    assert alert.summary == "Node is not ready."
    assert alert.description.startswith("worker-3 has been unready")
    assert alert.ends_at is None  # 0001-01-01T00:00:00Z is Go's zero time
    assert alert.starts_at == datetime(2026, 11, 26, 19, 20, 33, 638000, tzinfo=UTC)
    assert alert.resource == "node/worker-3"
    hrefs = [link.href for link in alert.links]
    assert hrefs[0].startswith("http://127.0.0.1:19090/graph?g0.expr=")
    assert hrefs[1] == "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubenodenotready"


def test_group_status_firing_can_carry_a_resolved_alert() -> None:
    payload = load("partially_resolved_group.json")
    assert payload["status"] == "firing"
    resolved, firing = alertmanager.parse(payload, received_at=NOW)
    assert resolved.status is Status.RESOLVED
    assert resolved.ends_at == datetime(2026, 11, 26, 19, 20, 42, 638000, tzinfo=UTC)
    assert firing.status is Status.FIRING
    assert firing.ends_at is None


def test_truncated_alerts_and_escaped_receiver_are_kept_as_sent() -> None:
    payload = load("truncated_max_alerts_2_no_auth_dotted_receiver.json")
    alerts = alertmanager.parse(payload, received_at=NOW)
    assert {a.raw["truncated_alerts"] for a in alerts} == {1}
    assert {a.raw["receiver"] for a in alerts} == {payload["receiver"]}
    assert "\\." in payload["receiver"]


def test_fingerprint_matches_alertmanager_when_missing() -> None:
    payload = load("firing_multi_alert_group.json")
    expected = [entry["fingerprint"] for entry in payload["alerts"]]
    for entry in payload["alerts"]:
        del entry["fingerprint"]
    refs = [a.source_ref.split("@")[0] for a in alertmanager.parse(payload, received_at=NOW)]
    assert refs == expected


@pytest.mark.parametrize(
    ("label", "expected"),
    [("critical", Severity.CRITICAL), ("PAGE", Severity.CRITICAL), ("p1", Severity.CRITICAL),
     ("major", Severity.ERROR), ("Warning", Severity.WARNING), ("medium", Severity.WARNING),
     ("none", Severity.INFO), ("p5", Severity.INFO), ("bogus", Severity.WARNING),
     (None, Severity.WARNING)],
)
def test_severity_label_mapping(label: str | None, expected: Severity) -> None:
    payload = load("firing_single_alert_group.json")
    if label is None:
        del payload["alerts"][0]["labels"]["severity"]
    else:
        payload["alerts"][0]["labels"]["severity"] = label
    (alert,) = alertmanager.parse(payload, received_at=NOW)
    assert alert.severity is expected


def test_missing_severity_uses_configured_default() -> None:
    payload = load("firing_watchdog_group.json")
    payload["alerts"][0]["labels"].pop("severity", None)
    (alert,) = alertmanager.parse(payload, received_at=NOW, default_severity=Severity.INFO)
    assert alert.severity is Severity.INFO


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda p: p["alerts"][0]["labels"].update(severity=3), "alerts.0.labels.severity"),
        (lambda p: p["alerts"][0]["labels"].pop("alertname"), "alerts.0.labels.alertname"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
    ],
    ids=["no-alerts", "no-startsAt", "bad-status", "int-label", "no-alertname", "version-3",
         "bad-time"],
)
def test_invalid_payload_names_the_field(mutate: Any, field: str) -> None:
    payload = load("firing_single_alert_group.json")
    mutate(payload)
    with pytest.raises(PayloadError) as info:
        alertmanager.parse(payload, received_at=NOW)
    assert info.value.field == field
    assert info.value.status == 422


def test_resolved_without_end_is_rejected() -> None:
    payload = load("resolved_group.json")
    payload["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    with pytest.raises(PayloadError) as info:
        alertmanager.parse(payload, received_at=NOW)
    assert info.value.field == "alerts.0.endsAt"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_random_json_gives_alerts_or_payload_error(value: Any) -> None:
    try:
        alertmanager.parse(value, received_at=NOW)
    except PayloadError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_capture_gives_alerts_or_payload_error(data: st.DataObject) -> None:
    payload = mutate(data, load("partially_resolved_group.json"))
    try:
        alertmanager.parse(payload, received_at=NOW)
    except PayloadError:
        pass
