"""The ingest path in order: identity -> lock -> load state -> judge -> persist, one transaction."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aggregator.model import Alert, Status
from aggregator.pipeline.dedup import Decision, Verdict, judge
from aggregator.pipeline.identity import keyed
from aggregator.store import alerts as alert_store


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one request did; the webhook answers with :meth:`counts`."""

    decisions: tuple[Decision, ...]
    truncated: int = 0

    def counts(self) -> dict[str, int]:
        verdicts = Counter(decision.verdict for decision in self.decisions)
        # A resolve that arrives before its firing creates a row, but is counted as resolved.
        resolved_first = sum(
            1 for d in self.decisions
            if d.verdict is Verdict.NEW and d.target.status is Status.RESOLVED
        )
        return {
            "received": len(self.decisions),
            "new": verdicts[Verdict.NEW] - resolved_first,
            "repeats": verdicts[Verdict.REPEAT] + verdicts[Verdict.CHANGED],
            "resolved": verdicts[Verdict.RESOLVED] + resolved_first,
            "stale": verdicts[Verdict.STALE],
            "truncated": self.truncated,
        }


async def ingest(
    sessions: async_sessionmaker[AsyncSession],
    alerts: list[Alert],
    *,
    received_at: datetime,
    repeat_event_interval: timedelta,
    expire_after: timedelta,
    truncated: int = 0,
) -> IngestResult:
    """Store what the alerts mean; returns only after the transaction committed."""
    items = keyed(alerts)
    async with sessions() as session, session.begin():
        await alert_store.lock_fingerprints(session, [item.fingerprint for item in items])
        states = await alert_store.load_states(
            session, [(item.fingerprint, item.alert.source_ref) for item in items]
        )
        decisions = judge(items, states)
        await alert_store.apply(
            session, decisions, received_at=received_at,
            repeat_event_interval=repeat_event_interval, expire_after=expire_after,
        )
    return IngestResult(tuple(decisions), truncated)
