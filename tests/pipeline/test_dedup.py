"""Dedup decisions (pure): episodes, repeats, late and reordered deliveries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.model import Alert, Severity, Source, Status
from aggregator.pipeline.dedup import Verdict, judge
from aggregator.pipeline.identity import Keyed, fingerprint
from aggregator.store.records import FingerprintState, StoredAlert

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
LABELS = {"alertname": "KubePodCrashLooping", "pod": "api-0"}


def alert(status: Status = Status.FIRING, starts: datetime = T0, ends: datetime | None = None,
          ref: str | None = None, severity: Severity = Severity.WARNING,
          summary: str = "crash") -> Keyed:
    a = Alert(
        source=Source.ALERTMANAGER, source_ref=ref or f"fp@{starts.isoformat()}",
        name="KubePodCrashLooping", status=status, severity=severity, summary=summary,
        starts_at=starts, ends_at=ends, identity=LABELS, labels=LABELS,
    )
    return Keyed(a, fingerprint(a))


def stored(item: Keyed, status: Status | None = None, ends: datetime | None = None) -> StoredAlert:
    a = item.alert
    return StoredAlert(
        id=uuid.uuid4(), fingerprint=item.fingerprint, source_ref=a.source_ref,
        status=status or a.status, severity=a.severity.value, summary=a.summary,
        description=a.description, annotations=dict(a.annotations), starts_at=a.starts_at,
        ends_at=ends if ends is not None else a.ends_at,
    )


def state(*rows: StoredAlert) -> dict[str, FingerprintState]:
    result: dict[str, FingerprintState] = {}
    for row in rows:
        s = result.setdefault(row.fingerprint, FingerprintState())
        s.by_ref[row.source_ref] = row
        if row.status is Status.FIRING:
            s.open = row
        elif s.last_ended is None or (row.ends_at or T0) > (s.last_ended.ends_at or T0):
            s.last_ended = row
    return result


def verdicts(items: list[Keyed], states: dict[str, FingerprintState]) -> list[Verdict]:
    return [d.verdict for d in judge(items, states)]


def test_first_firing_is_new_and_copies_in_one_request_are_repeats() -> None:
    item = alert()
    assert verdicts([item, item, item], {}) == [Verdict.NEW, Verdict.REPEAT, Verdict.REPEAT]


def test_repeat_of_open_episode() -> None:
    item = alert()
    assert verdicts([item], state(stored(item))) == [Verdict.REPEAT]


def test_changed_severity_is_reported_with_its_changes() -> None:
    item = alert()
    raised = alert(severity=Severity.CRITICAL, summary="worse")
    (decision,) = judge([raised], state(stored(item)))
    assert decision.verdict is Verdict.CHANGED
    assert decision.changes["severity"] == ("warning", "critical")
    assert decision.changes["summary"] == ("crash", "worse")


def test_resolve_closes_the_open_episode() -> None:
    firing = alert()
    resolved = alert(Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    (decision,) = judge([resolved], state(stored(firing)))
    assert decision.verdict is Verdict.RESOLVED
    assert decision.target.ends_at == T0 + timedelta(minutes=5)


def test_firing_after_resolved_opens_a_new_episode() -> None:
    first = alert()
    old = stored(first, Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    again = alert(starts=T0 + timedelta(minutes=10))
    (decision,) = judge([again], state(old))
    assert decision.verdict is Verdict.NEW
    assert decision.target.id != old.id


def test_late_firing_retry_never_reopens_a_resolved_episode() -> None:
    first = alert()
    old = stored(first, Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    assert verdicts([first], state(old)) == [Verdict.STALE]


def test_firing_older_than_the_last_resolution_is_stale_even_with_another_ref() -> None:
    old = stored(alert(), Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    earlier = alert(starts=T0 + timedelta(minutes=2), ref="other")
    assert verdicts([earlier], state(old)) == [Verdict.STALE]


def test_resolved_that_arrives_first_stays_resolved() -> None:
    resolved = alert(Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    firing = alert()
    decisions = judge([resolved, firing], {})
    assert [d.verdict for d in decisions] == [Verdict.NEW, Verdict.STALE]
    assert decisions[0].target.status is Status.RESOLVED


def test_duplicate_resolve_is_a_repeat() -> None:
    resolved = alert(Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    row = stored(resolved)
    assert verdicts([resolved], state(row)) == [Verdict.REPEAT]


def test_resolve_without_episode_id_pairs_with_the_open_alert() -> None:
    firing = alert(ref="legacy|T0")
    resolved = alert(Status.RESOLVED, starts=T0 + timedelta(minutes=5),
                     ends=T0 + timedelta(minutes=5), ref="legacy|T5")
    assert verdicts([resolved], state(stored(firing))) == [Verdict.RESOLVED]


def test_resolve_older_than_the_open_episode_is_stale() -> None:
    newer = alert(starts=T0 + timedelta(minutes=10), ref="new")
    resolved_old = alert(Status.RESOLVED, ends=T0 + timedelta(minutes=5), ref="old")
    assert verdicts([resolved_old], state(stored(newer))) == [Verdict.STALE]


@pytest.mark.parametrize("order", ["fire-resolve", "resolve-fire"])
def test_order_of_delivery_does_not_change_the_outcome(order: str) -> None:
    firing = alert()
    resolved = alert(Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    items = [firing, resolved] if order == "fire-resolve" else [resolved, firing]
    decisions = judge(items, {})
    final = decisions[-1].target
    assert final.status is Status.RESOLVED
    assert len({d.target.id for d in decisions}) == 1


def test_judge_does_not_modify_the_given_state() -> None:
    firing = alert()
    states = state(stored(firing))
    before = (states[firing.fingerprint].open, dict(states[firing.fingerprint].by_ref))
    judge([alert(Status.RESOLVED, ends=T0 + timedelta(minutes=1))], states)
    assert (states[firing.fingerprint].open, states[firing.fingerprint].by_ref) == before
