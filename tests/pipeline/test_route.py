"""Routing (pure): first match wins, continue, default route, matchers, silences."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from aggregator.config.routing import LabelMatcher, Match, NotificationSettings
from aggregator.model import Severity
from aggregator.pipeline.route import label_matches, matches, silenced_by, targets

SETTINGS = NotificationSettings.model_validate({
    "channels": {"pd": {"type": "pagerduty", "routing_key": "k" * 32},
                 "mail": {"type": "email", "host": "h", "from": "a@b.c", "to": ["d@e.f"]}},
    "routes": [
        {"match": {"min_severity": "critical"}, "channels": ["pd", "mail"],
         "repeat_interval": "PT4H"},
        {"match": {"labels": ["namespace=~pay.*"]}, "channels": ["mail"], "continue": True,
         "send_resolved": False},
        {"match": {"source": ["azure_monitor"]}, "channels": ["pd"]},
    ],
})


def channels(source: str, severity: Severity, **labels: str) -> list[tuple[str, bool]]:
    return [(t.channel, t.send_resolved) for t in targets(SETTINGS, source, severity, labels)]


def test_first_match_wins() -> None:
    assert channels("azure_monitor", Severity.CRITICAL, namespace="payments") == [
        ("pd", True), ("mail", True)]


def test_continue_lets_later_routes_add_channels() -> None:
    assert channels("azure_monitor", Severity.WARNING, namespace="payments") == [
        ("mail", False), ("pd", True)]


def test_default_route_when_nothing_matches() -> None:
    assert channels("alertmanager", Severity.INFO, namespace="kube-system") == [("log", True)]


def test_repeat_interval_comes_from_the_route() -> None:
    (pd, _mail) = targets(SETTINGS, "alertmanager", Severity.CRITICAL, {})
    assert pd.repeat_interval == timedelta(hours=4)


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("team=db", {"team": "db"}, True), ("team=db", {}, False),
    ("team!=db", {"team": "web"}, True), ("team!=db", {}, True),
    ("pod=~api-.*", {"pod": "api-0"}, True), ("pod=~api", {"pod": "api-0"}, False),
    ("pod!~api-.*", {"pod": "web-0"}, True), ('team="db"', {"team": "db"}, True),
])
def test_label_matchers(text: str, labels: dict[str, str], expected: bool) -> None:
    assert label_matches(LabelMatcher.parse(text), labels) is expected


@pytest.mark.parametrize("bad", ["team", "=x", "team=~(unclosed", "1abc=x"])
def test_bad_matchers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="matcher"):
        LabelMatcher.parse(bad)


def test_severity_set_and_minimum() -> None:
    assert matches(Match(severity=[Severity.ERROR]), "alertmanager", Severity.ERROR, {})
    assert not matches(Match(severity=[Severity.ERROR]), "alertmanager", Severity.CRITICAL, {})
    assert matches(Match(min_severity=Severity.ERROR), "alertmanager", Severity.CRITICAL, {})
    assert not matches(Match(min_severity=Severity.ERROR), "alertmanager", Severity.WARNING, {})


def test_silenced_by_first_matching_silence() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    silences = [(first, Match.model_validate({"labels": ["pod=a"]})),
                (second, Match.model_validate({"labels": ["namespace=x"]}))]
    assert silenced_by(silences, "alertmanager", Severity.INFO, {"namespace": "x"}) == second
    assert silenced_by(silences, "alertmanager", Severity.INFO, {"pod": "b"}) is None


def test_unknown_channel_in_a_route_is_refused() -> None:
    with pytest.raises(ValueError, match="no channel named 'nope'"):
        NotificationSettings.model_validate({"routes": [{"channels": ["nope"]}]})
