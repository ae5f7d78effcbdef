"""Delivery benchmark: notifications per second from the outbox, through the worker, to the
loopback PagerDuty fake (via the real ``pagerduty`` client) and a real SMTP server.

    .venv/bin/python -m bench.delivery --database sqlite
    .venv/bin/python -m bench.delivery --database postgresql \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/test

It writes ``--count`` firing alerts through the real ingest path (100 per request, each
routed to the chosen channel), then starts ``--workers`` workers (each with its own
connection pool, as separate replicas would have) and times until the outbox is empty.
It checks afterwards that every notification was sent exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import func, select

from aggregator.channels.base import Channel
from aggregator.channels.email import EmailChannel
from aggregator.channels.pagerduty import PagerDutyChannel
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.model import Alert, Severity, Source, Status
from aggregator.notification_settings import EmailConfig, NotificationSettings, PagerDutyConfig
from aggregator.pipeline.ingest import ingest
from aggregator.settings import DeliverySettings, Settings
from aggregator.store import migrate
from aggregator.store.db import Database, make_database
from aggregator.store.tables import NotificationRow
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake
from tests.fakes.smtp import SmtpServer


def now() -> datetime:
    return datetime.now(UTC)


def alert(n: int, run: str) -> Alert:
    labels = {"alertname": "KubePodCrashLooping", "namespace": "payments",
              "pod": f"payments-api-{n}", "container": "api", "severity": "critical",
              "cluster": "prod-eu-1", "run": run}
    return Alert(source=Source.ALERTMANAGER, source_ref=f"{run}-{n}", name=labels["alertname"],
                 status=Status.FIRING, severity=Severity.CRITICAL,
                 summary="Pod is crash looping.", labels=labels,
                 annotations={"description": f"Pod payments/payments-api-{n} is crash looping."},
                 starts_at=now(), identity=labels)


async def pending(db: Database) -> int:
    async with db.read() as session:
        count = await session.scalar(select(func.count()).select_from(NotificationRow)
                                     .where(NotificationRow.status == "pending"))
    return int(count or 0)


async def run(args: argparse.Namespace) -> None:
    schema = None
    tmp = tempfile.TemporaryDirectory()
    if args.database == "sqlite":
        settings = Settings(database_url=f"sqlite+aiosqlite:///{Path(tmp.name) / 'bench.db'}")
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.close()
        settings = Settings(database_url=args.url, database_schema=schema)
    pd = await PagerDutyFake().start()
    smtp = SmtpServer().start()
    channels: dict[str, object] = {
        "pd": {"type": "pagerduty", "routing_key": ROUTING_KEY},
        "mail": {"type": "email", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                 "from": "alerts@example.com", "to": ["oncall@example.com"]},
    }
    chosen = {"pagerduty": ["pd"], "email": ["mail"], "both": ["pd", "mail"]}[args.channel]
    routes = NotificationSettings.model_validate(
        {"channels": channels, "default_route": {"channels": chosen}})
    db = make_database(settings)
    pools = [db] + [make_database(settings) for _ in range(args.workers - 1)]
    try:
        await migrate.upgrade(db.engine)
        run_id = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        for start in range(0, args.count, 100):
            batch = [alert(n, run_id) for n in range(start, min(start + 100, args.count))]
            await ingest(db.write, batch, received_at=now(), notifications=routes,
                         repeat_event_interval=timedelta(minutes=5),
                         expire_after=timedelta(hours=24))
        ingest_s = time.perf_counter() - started
        rows = await pending(db)

        delivery = DeliverySettings(batch_size=args.batch, concurrency=args.concurrency,
                                    backoff_initial=timedelta(milliseconds=50))
        workers = []
        for pool in pools:
            made: dict[str, Channel] = {
                "pd": PagerDutyChannel("pd", PagerDutyConfig.model_validate(channels["pd"]),
                                       transport=pd.transport()),
                "mail": EmailChannel("mail", EmailConfig.model_validate(channels["mail"])),
            }
            workers.append(Worker(pool, made, delivery, routes, Metrics(), now))

        async def drain(worker: Worker) -> None:
            while await pending(db):
                if await worker.run_once() == 0:
                    await asyncio.sleep(0.01)

        started = time.perf_counter()
        await asyncio.gather(*(drain(w) for w in workers))
        send_s = time.perf_counter() - started
        triggers = Counter(e["dedup_key"] for e in pd.events if e["event_action"] == "trigger")
        mails = len(smtp.messages)
        doubled = sum(1 for c in triggers.values() if c > 1)
        expected_pd = args.count if "pd" in chosen else 0
        print(f"database={args.database} workers={args.workers} channel={args.channel} "
              f"alerts={args.count}")
        print(f"  ingest: {args.count / ingest_s:8.0f} alerts/s ({rows} outbox rows written)")
        print(f"  deliver: {rows / send_s:8.0f} notifications/s "
              f"({rows} rows in {send_s:.2f} s; PagerDuty events {len(triggers)}, mails {mails})")
        print(f"  exactly once: {'yes' if doubled == 0 and len(triggers) == expected_pd else 'NO'}"
              f" (doubled {doubled}, missing {expected_pd - len(triggers)})")
        for worker in workers:
            await worker.aclose()
    finally:
        for pool in pools:
            await pool.engine.dispose()
        await pd.close()
        smtp.stop()
        if schema:
            conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.close()
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--channel", choices=["pagerduty", "email", "both"], default="both")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
