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
    alerts = alertmanager.parse(payload, received_at=NOW).alerts
    assert len(alerts) == len(payload["alerts"])
    for alert, entry in zip(alerts, payload["alerts"], strict=True):
        assert alert.source is Source.ALERTMANAGER
        assert alert.name == entry["labels"]["alertname"]
        assert alert.labels == entry["labels"]
        assert alert.identity == entry["labels"]
        assert alert.status.value == entry["status"]
        assert alert.source_ref.startswith(entry["fingerprint"] + "@")


def test_firing_alert_fields() -> None:
    (alert,) = alertmanager.parse(load("firing_single_alert_group.json"), received_at=NOW).alerts
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
    resolved, firing = alertmanager.parse(payload, received_at=NOW).alerts
    assert resolved.status is Status.RESOLVED
    assert resolved.ends_at == datetime(2026, 11, 26, 19, 20, 42, 638000, tzinfo=UTC)
    assert firing.status is Status.FIRING
    assert firing.ends_at is None


def test_truncated_alerts_and_escaped_receiver_are_kept_as_sent() -> None:
    payload = load("truncated_max_alerts_2_no_auth_dotted_receiver.json")
    parsed = alertmanager.parse(payload, received_at=NOW)
    assert parsed.truncated == 1
    alerts = parsed.alerts
    assert {a.raw["truncated_alerts"] for a in alerts} == {1}
    assert {a.raw["receiver"] for a in alerts} == {payload["receiver"]}
    assert "\\." in payload["receiver"]


def test_fingerprint_matches_alertmanager_when_missing() -> None:
    payload = load("firing_multi_alert_group.json")
    expected = [entry["fingerprint"] for entry in payload["alerts"]]
    for entry in payload["alerts"]:
        del entry["fingerprint"]
    refs = [a.source_ref.split("@")[0] for a in alertmanager.parse(payload, received_at=NOW).alerts]
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
    (alert,) = alertmanager.parse(payload, received_at=NOW).alerts
    assert alert.severity is expected


def test_missing_severity_uses_configured_default() -> None:
    payload = load("firing_watchdog_group.json")
    payload["alerts"][0]["labels"].pop("severity", None)
    (alert,) = alertmanager.parse(payload, received_at=NOW, default_severity=Severity.INFO).alerts
    assert alert.severity is Severity.INFO


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts.0.status"),
        (lambda p: p["alerts"][0]["labels"].update(severity=3), "alerts.0.labels.severity"),
        (lambda p: p["alerts"][0].update(labels={}), "alerts.0.labels"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
    ],
    ids=["no-alerts", "no-startsAt", "bad-status", "int-label", "no-labels", "version-3",
         "bad-time"],
)
def test_invalid_payload_names_the_field(mutate: Any, field: str) -> None:
    payload = load("firing_single_alert_group.json")
    mutate(payload)
    with pytest.raises(PayloadError) as info:
        alertmanager.parse(payload, received_at=NOW)
    assert info.value.field == field
    assert info.value.status == 422


@pytest.mark.parametrize("ends_at", ["0001-01-01T00:00:00Z", None], ids=["go-zero", "absent"])
def test_resolved_without_end_resolves_at_receipt(ends_at: str | None) -> None:
    payload = load("resolved_group.json")
    if ends_at is None:
        del payload["alerts"][0]["endsAt"]
    else:
        payload["alerts"][0]["endsAt"] = ends_at
    (alert,) = alertmanager.parse(payload, received_at=NOW).alerts
    assert alert.status is Status.RESOLVED
    assert alert.ends_at == NOW
    assert alert.raw["ends_at_missing"] is True


def test_resolved_without_end_never_ends_before_it_starts() -> None:
    payload = load("resolved_group.json")
    payload["alerts"][0]["endsAt"] = "0001-01-01T00:00:00Z"
    early = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)  # before startsAt (sender clock ahead)
    (alert,) = alertmanager.parse(payload, received_at=early).alerts
    assert alert.ends_at == alert.starts_at


def test_resolved_with_an_end_does_not_say_it_was_missing() -> None:
    for alert in alertmanager.parse(load("partially_resolved_group.json"),
                                    received_at=NOW).alerts:
        assert "ends_at_missing" not in alert.raw


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"summary": "Disk almost full.", "description": "Only 3% left."}, "Disk almost full."),
        ({"summary": "  ", "description": "Only 3%\nleft on /var."}, "Only 3% left on /var."),
        ({"runbook_url": "https://runbooks.example/disk"},
         "instance=db-0:9100, job=node, severity=critical"),
    ],
    ids=["summary", "description", "labels"],
)
def test_alert_without_alertname_is_named_from_its_text_or_labels(
    annotations: dict[str, str], expected: str
) -> None:
    payload = load("firing_single_alert_group.json")
    labels = {"severity": "critical", "job": "node", "instance": "db-0:9100"}
    payload["alerts"][0].update(labels=labels, annotations=annotations)
    del payload["alerts"][0]["fingerprint"]
    (alert,) = alertmanager.parse(payload, received_at=NOW).alerts
    assert alert.name == expected
    assert alert.labels == labels
    assert alert.identity == labels  # the name never joins the identity
    assert alert.severity is Severity.CRITICAL
    assert alert.status is Status.FIRING


def test_empty_alertname_label_is_no_name() -> None:
    payload = load("firing_single_alert_group.json")
    payload["alerts"][0]["labels"]["alertname"] = ""
    (alert,) = alertmanager.parse(payload, received_at=NOW).alerts
    assert alert.name == "Node is not ready."


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
