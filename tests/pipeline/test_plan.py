"""Notification planning (pure): only state changes notify, silences, acks, resolves."""

from __future__ import annotations

import functools
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.channels import CHANNELS
from aggregator.channels.email import EmailChannel
from aggregator.config.routing import Match, NotificationSettings
from aggregator.model import Severity, Status
from aggregator.notice import Action, Reason
from aggregator.pipeline import plan as notify
from aggregator.pipeline.dedup import Verdict, judge
from aggregator.pipeline.identity import Keyed
from aggregator.pipeline.plan import Planner
from aggregator.store.records import FingerprintState, StoredAlert
from tests.factories import keyed

NOW = datetime(2026, 11, 26, 20, tzinfo=UTC)
SETTINGS = NotificationSettings.model_validate({
    "channels": {"pd": {"type": "pagerduty", "routing_key": "k" * 32},
                 "mail": {"type": "email", "host": "h", "from": "a@b.c", "to": ["d@e.f"]}},
    "routes": [{"match": {"min_severity": "error"}, "channels": ["pd", "mail"],
                "repeat_interval": "PT1H"}],
})


LABELS = {"alertname": "A", "pod": "api-0"}
# A critical alert about one pod, firing for an hour by NOW.
pod_alert = functools.partial(keyed, name="A", labels=LABELS, starts_at=NOW - timedelta(hours=1))


def planner(silences: list[tuple[uuid.UUID, Match]] | None = None,
            now: datetime = NOW) -> Planner:
    return Planner(SETTINGS, silences or [], now, "g1")


def test_new_firing_triggers_every_routed_channel_in_one_group_per_channel() -> None:
    plan = planner().decisions(judge([pod_alert(labels=LABELS | {"pod": "a"}),
                                    pod_alert(labels=LABELS | {"pod": "b"})], {}))
    assert [(p.channel, p.action, p.reason) for p in plan.notifications] == [
        ("pd", Action.TRIGGER, Reason.NEW), ("mail", Action.TRIGGER, Reason.NEW)] * 2
    assert {p.group_key for p in plan.notifications if p.channel == "mail"} == {
        "g1:mail:trigger"}
    (notified,) = {frozenset(v) for v in plan.notified.values()}
    assert notified == {"pd", "mail"}


def test_below_every_route_goes_to_the_default_log_channel() -> None:
    plan = planner().decisions(judge([pod_alert(severity=Severity.INFO)], {}))
    assert [p.channel for p in plan.notifications] == ["log"]


def stored_from(item: Keyed, **changes: Any) -> StoredAlert:
    """The stored episode a first delivery of ``item`` makes, with ``changes``."""
    return replace(judge([item], {})[0].target, **changes)


def states_with(stored: StoredAlert) -> dict[str, FingerprintState]:
    return {stored.fingerprint: FingerprintState(open=stored, by_ref={stored.source_ref: stored})}


def test_repeat_notifies_only_after_the_interval_and_never_when_acknowledged() -> None:
    item = pod_alert()
    at = (NOW - timedelta(minutes=30)).isoformat()
    notified = {"pd": {"at": at, "send_resolved": True}, "mail": {"at": at,
                                                                   "send_resolved": True}}
    fresh = stored_from(item, notified=notified)
    assert planner().decisions(judge([item], states_with(fresh))).notifications == []
    later = NOW + timedelta(minutes=31)
    plan = planner(now=later).decisions(judge([item], states_with(fresh)))
    assert {(p.channel, p.reason) for p in plan.notifications} == {
        ("pd", Reason.REPEAT), ("mail", Reason.REPEAT)}
    acked = stored_from(item, notified=notified, acknowledged=True)
    plan = planner(now=later).decisions(judge([item], states_with(acked)))
    assert [p for p in plan.notifications if p.reason is Reason.REPEAT] == []


def test_silenced_new_alert_is_marked_and_notifies_nobody() -> None:
    silence = uuid.uuid4()
    plan = planner([(silence, Match.model_validate({"labels": ["pod=api-0"]}))]).decisions(
        judge([pod_alert()], {}))
    assert plan.notifications == []
    assert list(plan.silenced.values()) == [silence]


def test_resolve_goes_to_channels_that_got_the_firing_even_when_silenced() -> None:
    item = pod_alert()
    notified = {"pd": {"at": NOW.isoformat(), "send_resolved": True},
                "mail": {"at": NOW.isoformat(), "send_resolved": False}}
    stored = stored_from(item, notified=notified, silenced_by=uuid.uuid4())
    resolved = pod_alert(status=Status.RESOLVED, ends_at=NOW)
    decisions = judge([resolved], states_with(stored))
    assert decisions[0].verdict is Verdict.RESOLVED
    plan = planner([(uuid.uuid4(), Match.model_validate({"labels": ["pod=api-0"]}))]
                   ).decisions(decisions)
    assert [(p.channel, p.action) for p in plan.notifications] == [("pd", Action.RESOLVE)]


def test_acknowledge_goes_only_to_pagerduty_channels_that_got_the_firing() -> None:
    item = pod_alert()
    stored = stored_from(item, notified={"pd": {"at": NOW.isoformat()},
                                         "mail": {"at": NOW.isoformat()}})
    p = planner()
    p.acknowledged(item.alert, stored, "alice", "on it")
    (only,) = p.plan.notifications
    assert (only.channel, only.action, only.snapshot.acknowledged_by) == (
        "pd", Action.ACKNOWLEDGE, "alice")


def test_who_hears_an_acknowledge_is_the_channel_class_s_capability(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The planner asks ``acknowledges`` of the registered class, never the type's name."""

    class AcknowledgingMail(EmailChannel):
        acknowledges = True

    monkeypatch.setattr(notify, "CHANNELS", {**CHANNELS, "email": AcknowledgingMail})
    item = keyed()
    stored = stored_from(item, notified={"pd": {"at": NOW.isoformat()},
                                         "mail": {"at": NOW.isoformat()}})
    p = planner()
    p.acknowledged(item.alert, stored, "alice", None)
    assert [(n.channel, n.action) for n in p.plan.notifications] == [
        ("mail", Action.ACKNOWLEDGE), ("pd", Action.ACKNOWLEDGE)]


def test_severity_lowered_notifies_nobody_raised_notifies() -> None:
    item = pod_alert(severity=Severity.ERROR)
    stored = stored_from(item, notified={"pd": {"at": NOW.isoformat()}})
    lowered = judge([pod_alert(severity=Severity.WARNING)], states_with(stored))
    assert planner().decisions(lowered).notifications == []
    raised = judge([pod_alert(severity=Severity.CRITICAL)], states_with(stored))
    assert {p.reason for p in planner().decisions(raised).notifications} == {
        Reason.SEVERITY_RAISED}
