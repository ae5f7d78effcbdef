"""Dedup decisions (pure): episodes, repeats, late and reordered deliveries."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.model import Severity, Status
from aggregator.pipeline.dedup import Verdict, judge
from aggregator.pipeline.identity import Keyed
from aggregator.store.records import FingerprintState, StoredAlert
from tests.factories import keyed

T0 = datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
LABELS = {"alertname": "KubePodCrashLooping", "pod": "api-0"}


# One problem throughout: a crash-looping pod (one episode per start, as Alertmanager names
# them), whose deliveries the tests judge.
crashloop = functools.partial(keyed, name="KubePodCrashLooping", labels=LABELS,
                              severity=Severity.WARNING, summary="crash", starts_at=T0)


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
    item = crashloop()
    assert verdicts([item, item, item], {}) == [Verdict.NEW, Verdict.REPEAT, Verdict.REPEAT]


def test_repeat_of_open_episode() -> None:
    item = crashloop()
    assert verdicts([item], state(stored(item))) == [Verdict.REPEAT]


def test_changed_severity_is_reported_with_its_changes() -> None:
    item = crashloop()
    raised = crashloop(severity=Severity.CRITICAL, summary="worse")
    (decision,) = judge([raised], state(stored(item)))
    assert decision.verdict is Verdict.CHANGED
    assert decision.changes["severity"] == ("warning", "critical")
    assert decision.changes["summary"] == ("crash", "worse")


def test_resolve_closes_the_open_episode() -> None:
    firing = crashloop()
    resolved = crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=5))
    (decision,) = judge([resolved], state(stored(firing)))
    assert decision.verdict is Verdict.RESOLVED
    assert decision.target.ends_at == T0 + timedelta(minutes=5)


def test_firing_after_resolved_opens_a_new_episode() -> None:
    first = crashloop()
    old = stored(first, Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    again = crashloop(starts_at=T0 + timedelta(minutes=10))
    (decision,) = judge([again], state(old))
    assert decision.verdict is Verdict.NEW
    assert decision.target.id != old.id


def test_late_firing_retry_never_reopens_a_resolved_episode() -> None:
    first = crashloop()
    old = stored(first, Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    assert verdicts([first], state(old)) == [Verdict.STALE]


def test_firing_older_than_the_last_resolution_is_stale_even_with_another_ref() -> None:
    old = stored(crashloop(), Status.RESOLVED, ends=T0 + timedelta(minutes=5))
    earlier = crashloop(starts_at=T0 + timedelta(minutes=2), source_ref="other")
    assert verdicts([earlier], state(old)) == [Verdict.STALE]


def test_resolved_that_arrives_first_stays_resolved() -> None:
    resolved = crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=5))
    firing = crashloop()
    decisions = judge([resolved, firing], {})
    assert [d.verdict for d in decisions] == [Verdict.NEW, Verdict.STALE]
    assert decisions[0].target.status is Status.RESOLVED


def test_duplicate_resolve_is_a_repeat() -> None:
    resolved = crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=5))
    row = stored(resolved)
    assert verdicts([resolved], state(row)) == [Verdict.REPEAT]


def test_resolve_without_episode_id_pairs_with_the_open_alert() -> None:
    firing = crashloop(source_ref="legacy|T0")
    resolved = crashloop(status=Status.RESOLVED, starts_at=T0 + timedelta(minutes=5),
                         ends_at=T0 + timedelta(minutes=5), source_ref="legacy|T5")
    assert verdicts([resolved], state(stored(firing))) == [Verdict.RESOLVED]


def test_resolve_older_than_the_open_episode_is_stale() -> None:
    newer = crashloop(starts_at=T0 + timedelta(minutes=10), source_ref="new")
    resolved_old = crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=5),
                             source_ref="old")
    assert verdicts([resolved_old], state(stored(newer))) == [Verdict.STALE]


@pytest.mark.parametrize("order", ["fire-resolve", "resolve-fire"])
def test_order_of_delivery_does_not_change_the_outcome(order: str) -> None:
    firing = crashloop()
    resolved = crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=5))
    items = [firing, resolved] if order == "fire-resolve" else [resolved, firing]
    decisions = judge(items, {})
    final = decisions[-1].target
    assert final.status is Status.RESOLVED
    assert len({d.target.id for d in decisions}) == 1


def test_judge_does_not_modify_the_given_state() -> None:
    firing = crashloop()
    states = state(stored(firing))
    before = (states[firing.fingerprint].open, dict(states[firing.fingerprint].by_ref))
    judge([crashloop(status=Status.RESOLVED, ends_at=T0 + timedelta(minutes=1))], states)
    assert (states[firing.fingerprint].open, states[firing.fingerprint].by_ref) == before
