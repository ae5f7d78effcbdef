"""Deciding what an incoming alert means against the stored state (pure, no I/O).

For each incoming alert the stored state of its fingerprint is: the open (firing) episode,
the episodes whose ``source_ref`` matches, and the most recently ended episode. The rules,
firing first:

- same episode already resolved              -> STALE (a late retry never reopens it)
- same episode open, or another open episode -> REPEAT (CHANGED when severity/text moved)
- no open episode, but the last one ended at or after this one started -> STALE
- otherwise                                  -> NEW episode

and resolved:

- same episode open                          -> RESOLVED
- same episode already resolved              -> REPEAT
- open episode that started before this end  -> RESOLVED (pairs sources without episode ids)
- open episode that started after this end   -> STALE
- last ended episode that covers this one    -> REPEAT
- otherwise                                  -> NEW, stored resolved (a resolve that came first)

Source timestamps decide, never arrival order. Decisions are applied to a working copy so
several alerts of one request that touch one fingerprint see each other.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from aggregator.model import Alert, Status
from aggregator.pipeline.identity import Keyed
from aggregator.store.records import FingerprintState, StoredAlert


class Verdict(enum.StrEnum):
    NEW = "new"
    REPEAT = "repeat"
    CHANGED = "changed"
    RESOLVED = "resolved"
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    keyed: Keyed
    target: StoredAlert
    changes: dict[str, tuple[object, object]] = field(default_factory=dict)


def _content_changes(stored: StoredAlert, alert: Alert) -> dict[str, tuple[object, object]]:
    changes: dict[str, tuple[object, object]] = {}
    for name in ("severity", "summary", "description", "annotations"):
        old, new = getattr(stored, name), getattr(alert, name)
        if old != new:
            changes[name] = (old, new)
    return changes


def _stored_from(alert_id: uuid.UUID, item: Keyed) -> StoredAlert:
    alert = item.alert
    return StoredAlert(
        id=alert_id, fingerprint=item.fingerprint, source_ref=alert.source_ref,
        status=alert.status, severity=alert.severity.value, summary=alert.summary,
        description=alert.description, annotations=dict(alert.annotations),
        starts_at=alert.starts_at, ends_at=alert.ends_at,
    )


def _judge_firing(state: FingerprintState, item: Keyed) -> tuple[Verdict, StoredAlert | None]:
    alert = item.alert
    episode = state.by_ref.get(alert.source_ref)
    if episode is not None and episode.status is Status.RESOLVED:
        return Verdict.STALE, episode
    target = episode or state.open
    if target is not None:
        return Verdict.REPEAT, target
    last = state.last_ended
    if last is not None and last.ends_at is not None and last.ends_at >= alert.starts_at:
        return Verdict.STALE, last
    return Verdict.NEW, None


def _judge_resolved(state: FingerprintState, item: Keyed) -> tuple[Verdict, StoredAlert | None]:
    alert = item.alert
    ends_at = alert.ends_at or alert.starts_at
    episode = state.by_ref.get(alert.source_ref)
    if episode is not None:
        return (Verdict.RESOLVED if episode.status is Status.FIRING else Verdict.REPEAT), episode
    if state.open is not None:
        if ends_at >= state.open.starts_at:
            return Verdict.RESOLVED, state.open
        return Verdict.STALE, state.open
    last = state.last_ended
    if last is not None and last.ends_at is not None and alert.starts_at <= last.ends_at:
        return Verdict.REPEAT, last
    return Verdict.NEW, None


def judge(
    items: Iterable[Keyed],
    states: dict[str, FingerprintState],
    *,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> list[Decision]:
    """One decision per incoming alert, in order. ``states`` is not modified."""
    work = {fp: FingerprintState(s.open, dict(s.by_ref), s.last_ended) for fp, s in states.items()}
    decisions: list[Decision] = []
    for item in items:
        state = work.setdefault(item.fingerprint, FingerprintState())
        alert = item.alert
        if alert.status is Status.FIRING:
            verdict, target = _judge_firing(state, item)
        else:
            verdict, target = _judge_resolved(state, item)

        if verdict is Verdict.NEW or target is None:
            created = _stored_from(new_id(), item)
            if created.status is Status.RESOLVED and created.ends_at is None:
                created = replace(created, ends_at=created.starts_at)
            state.by_ref[created.source_ref] = created
            if created.status is Status.FIRING:
                state.open = created
            else:
                state.last_ended = created
            decisions.append(Decision(Verdict.NEW, item, created))
            continue

        if verdict is not Verdict.STALE:
            target = replace(target, occurrences=target.occurrences + 1)
        if verdict is Verdict.RESOLVED:
            ends_at = alert.ends_at or alert.starts_at
            updated = replace(target, status=Status.RESOLVED,
                              ends_at=max(ends_at, target.starts_at), acknowledged=False)
            state.open = None if state.open and state.open.id == target.id else state.open
            state.last_ended = updated
            _replace_ref(state, updated)
            decisions.append(Decision(Verdict.RESOLVED, item, updated))
            continue

        if verdict is Verdict.REPEAT and target.status is Status.FIRING:
            changes = _content_changes(target, alert)
            if changes:
                updated = replace(
                    target, severity=alert.severity.value, summary=alert.summary,
                    description=alert.description, annotations=dict(alert.annotations),
                )
                state.open = updated
                _replace_ref(state, updated)
                decisions.append(Decision(Verdict.CHANGED, item, updated, changes))
                continue
        if verdict is Verdict.REPEAT:
            if state.open is not None and state.open.id == target.id:
                state.open = target
            if state.last_ended is not None and state.last_ended.id == target.id:
                state.last_ended = target
            _replace_ref(state, target)
        decisions.append(Decision(verdict, item, target))
    return decisions


def _replace_ref(state: FingerprintState, updated: StoredAlert) -> None:
    for ref, stored in list(state.by_ref.items()):
        if stored.id == updated.id:
            state.by_ref[ref] = updated
