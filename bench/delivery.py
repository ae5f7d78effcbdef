"""Delivery benchmark: notifications per second from the outbox, through the worker, to the
loopback PagerDuty fake (via the real ``pagerduty`` client) and a real SMTP server.

    .venv/bin/python -m bench.delivery --database sqlite
    .venv/bin/python -m bench.delivery --database postgresql \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/test

It writes ``--count`` firing alerts through the real ingest path (100 per request, each
routed to the chosen channel), then starts ``--workers`` workers (each with its own
connection pool, as separate replicas would have) and times until the outbox is empty.
It checks afterwards that every notification was sent exactly once.

``--from-webhook`` measures the whole path instead: webhook -> database -> outbox worker ->
PagerDuty, alerts/s from the first POST until the fake has recorded a trigger for every
alert, and each alert's latency from its webhook's 202 to its trigger's arrival::

    .venv/bin/python -m bench.delivery --from-webhook --database sqlite --size 50 1
    .venv/bin/python -m bench.delivery --from-webhook --database postgresql --size 50 1 \\
        --json delivery.json

For each ``--size`` (alerts per Alertmanager request) it starts, afresh: the PagerDuty fake
over HTTPS in this process (a self-signed certificate, trusted by the service through the
channel's ``ca_file``), the service as a subprocess (``python -m aggregator serve`` on a free
loopback port, a SQLite file in a temporary directory or a fresh PostgreSQL schema, a YAML
config whose default route sends everything to that ``pagerduty`` channel, the default
``delivery`` settings, ``AGGREGATOR_LOG_LEVEL=WARNING``), and a load-generator process
(``bench.ingest``'s Generator: kubernetes-mixin shaped Alertmanager alerts, all new and
distinct, so each implies exactly one trigger) that posts ``--count`` alerts from
``--senders`` concurrent clients, back to back or at ``--rate`` alerts/s. Both processes
read the same monotonic clock (Linux ``CLOCK_MONOTONIC``), so the latency is the difference
of the 202's arrival at the sender and the trigger's arrival at the fake. Server CPU (user +
system) and peak RSS are read from ``/proc``.

Afterwards, once, it checks exactly-once delivery: the API (``GET /api/v1/alerts``) lists
one alert per alert sent, with its fingerprint; the fake got exactly one trigger per
fingerprint (its ``dedup_key``), none missing and none other; and the outbox
(``GET /api/v1/notifications``) holds one notification per alert, every one ``sent``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from sqlalchemy import func, select

from aggregator.channels.base import Channel
from aggregator.channels.email import EmailChannel, EmailConfig
from aggregator.channels.pagerduty import PagerDutyChannel, PagerDutyConfig
from aggregator.config.routing import NotificationSettings
from aggregator.config.service import DeliverySettings, Settings
from aggregator.delivery.worker import Worker
from aggregator.metrics import Metrics
from aggregator.model import Alert, Severity, Source, Status
from aggregator.pipeline.ingest import ingest
from aggregator.store import migrate
from aggregator.store.db import Database, make_database
from aggregator.store.tables import NotificationRow
from bench.ingest import (
    Generator,
    alertmanager_body,
    cpu_seconds,
    free_port,
    pct,
    rss_mb,
    start_server,
)
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake
from tests.fakes.smtp import SmtpServer, make_certificate


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


# --- from the webhook to a recorded PagerDuty trigger (--from-webhook) ----------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def label_key(labels: dict[str, str]) -> str:
    """An alert's identity as the sender knows it: its label set (the Alertmanager
    fingerprint is derived from it), canonically encoded."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


@dataclass
class Posted:
    """One webhook request as the sender saw it (``time.monotonic`` seconds)."""

    started: float  # its first attempt
    accepted: float | None  # when its 202 arrived; None when it never got one
    attempts: int
    new: int  # the answer's "new"
    keys: list[str]  # label_key of each alert it carried
    errors: list[str] = field(default_factory=list)


async def _post_all(base: str, alerts: list[bytes], size: int, senders: int,
                    rate: float) -> tuple[float, list[Posted]]:
    import aiohttp

    url = f"{base}/webhooks/alertmanager"
    chunks = [alerts[i:i + size] for i in range(0, len(alerts), size)]
    posted: list[Posted | None] = [None] * len(chunks)
    following = iter(range(len(chunks)))
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     trust_env=False) as session:
        began = time.monotonic()

        async def sender() -> None:
            for index in following:
                if rate:  # open loop: chunk i is due at began + i * size / rate
                    delay = began + index * size / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                chunk = chunks[index]
                body = alertmanager_body(chunk)
                keys = [label_key(json.loads(encoded)["labels"]) for encoded in chunk]
                record = Posted(started=time.monotonic(), accepted=None, attempts=0, new=0,
                                keys=keys)
                posted[index] = record
                while record.attempts < 20:  # what Alertmanager does: send it again
                    record.attempts += 1
                    pause = 0.2
                    try:
                        async with session.post(url, data=body, headers={
                                "Content-Type": "application/json"}) as response:
                            answer = await response.read()
                            if response.status == 202:
                                record.accepted = time.monotonic()
                                record.new = int(json.loads(answer)["new"])
                                break
                            record.errors.append(str(response.status))
                            with contextlib.suppress(ValueError):  # 503: Retry-After
                                pause = min(1.0, float(response.headers.get("Retry-After",
                                                                            pause)))
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        record.errors.append(type(exc).__name__)
                    await asyncio.sleep(pause)

        await asyncio.gather(*(sender() for _ in range(senders)))
    return began, [p for p in posted if p is not None]


def webhook_sender(conn: Connection, base: str, count: int, size: int, senders: int,
                   rate: float, seed: int) -> None:
    """Child process: make ``count`` new alerts, answer "ready", wait for "go", post them,
    answer (first POST time, [Posted])."""
    gen = Generator(seed)
    alerts = [gen.new_alertmanager() for _ in range(count)]
    conn.send("ready")
    if conn.recv() != "go":
        conn.close()
        return
    conn.send(asyncio.run(_post_all(base, alerts, size, senders, rate)))
    conn.close()


def _service_env(args: argparse.Namespace, config: Path, sqlite_path: Path,
                 schema: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("AGGREGATOR_") and key.lower() not in PROXY_VARIABLES}
    env.update(AGGREGATOR_CONFIG=str(config), AGGREGATOR_LOG_LEVEL="WARNING",
               PYTHONUNBUFFERED="1")
    if schema is None:
        env["AGGREGATOR_DATABASE_URL"] = f"sqlite+aiosqlite:///{sqlite_path}"
    else:
        env.update(AGGREGATOR_DATABASE_URL=args.url, AGGREGATOR_DATABASE_SCHEMA=schema)
    env.update(item.split("=", 1) for item in args.server_env)
    return env


async def _api_items(http: Any, base: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paginated list route of the service's API."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 500, **params}
    while True:
        async with http.get(f"{base}{path}", params=query) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status}: {body}")
        items.extend(body["items"])
        if not body.get("next_cursor"):
            return items
        query = {**query, "cursor": body["next_cursor"]}


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of the process's main thread and of all its other
    threads together (the PagerDuty client's pool, aiosqlite's, the loop's executor)."""
    main = others = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / tick
        if task.name == str(pid):
            main += used
        else:
            others += used
    return {"main": main, "others": others}


def _first_triggers(fake: PagerDutyFake) -> dict[str, float]:
    """dedup_key -> arrival (monotonic) of its first trigger the fake answered 202."""
    first: dict[str, float] = {}
    for received in fake.requests:
        if received.status == 202 and received.action == "trigger" and received.dedup_key:
            first.setdefault(received.dedup_key, received.monotonic)
    return first


async def webhook_run(args: argparse.Namespace, size: int) -> dict[str, Any]:
    """One measured run: fresh fake, service and database; ``--count`` alerts of ``size``."""
    import aiohttp

    tmp = tempfile.TemporaryDirectory(prefix="bench-delivery-")
    workdir = Path(tmp.name)
    sqlite_path = workdir / "bench.db"
    log_path = workdir / "server.log"
    schema: str | None = None
    server: subprocess.Popen[bytes] | None = None
    loader: Any = None
    parent: Connection | None = None
    fake: PagerDutyFake | None = None
    try:
        certificate = make_certificate(workdir)
        fake = await PagerDutyFake(certificate=certificate).start()
        if args.database == "postgresql":
            schema = f"bench_delivery_{uuid.uuid4().hex[:8]}"
            conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.close()
        config = workdir / "aggregator.yaml"
        config.write_text(yaml.safe_dump({"notifications": {
            "channels": {"pd": fake.channel_config(ca_file=str(certificate.cert_file))},
            "default_route": {"channels": ["pd"]},
        }}, sort_keys=False))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = await asyncio.to_thread(
            start_server, _service_env(args, config, sqlite_path, schema), port, log_path)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        loader = ctx.Process(target=webhook_sender, daemon=True, args=(
            child, base, args.count, size, args.senders, args.rate, args.seed))
        loader.start()
        child.close()

        async def receive() -> Any:
            assert parent is not None
            while not parent.poll():  # never block the loop: the fake answers on it
                if not loader.is_alive() and not parent.poll():
                    raise SystemExit("the load generator died")
                await asyncio.sleep(0.02)
            return parent.recv()

        if await receive() != "ready":
            raise SystemExit("the load generator did not start")
        cpu_before = cpu_seconds(server.pid)
        threads_before = thread_cpu(server.pid)
        bench_cpu_before = time.process_time()
        parent.send("go")
        go = time.monotonic()
        deadline = go + args.timeout
        sent: tuple[float, list[Posted]] | None = None
        rss_peak = 0.0
        triggered = 0
        scanned = 0
        seen: set[str] = set()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            rss_peak = max(rss_peak, rss_mb(server.pid))
            if server.poll() is not None:
                raise SystemExit(f"server died: {log_path.read_text()[-4000:]}")
            if sent is None and parent.poll():
                sent = parent.recv()
            for received in fake.requests[scanned:]:
                if received.status is None:  # not answered yet: look again next time
                    break
                scanned += 1
                if (received.status == 202 and received.action == "trigger"
                        and received.dedup_key not in seen):
                    seen.add(str(received.dedup_key))
            triggered = len(seen)
            if sent is not None and triggered >= args.count:
                break
        all_triggered = time.monotonic()
        cpu = cpu_seconds(server.pid) - cpu_before
        threads = {name: round(value - threads_before[name], 2)
                   for name, value in thread_cpu(server.pid).items()}
        bench_cpu = time.process_time() - bench_cpu_before
        rss_end = rss_mb(server.pid)
        if sent is None:
            raise SystemExit(f"the sender did not finish within {args.timeout:.0f} s")

        # --- the one check: what the API stored, what the fake got, what the outbox says ---
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                         trust_env=False) as http:
            while time.monotonic() < deadline + 15:  # the worker records after its batch
                if not await _api_items(http, base, "/api/v1/notifications",
                                        status="pending", limit=1):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a second trigger of anything would have arrived
            stored = await _api_items(http, base, "/api/v1/alerts")
            notifications = await _api_items(http, base, "/api/v1/notifications")
        began, posted = sent
        fingerprint_of = {label_key(item["labels"]): item["fingerprint"] for item in stored}
        accepted_at = {key: p.accepted for p in posted if p.accepted is not None
                       for key in p.keys}
        expected = {fingerprint_of[key] for key in accepted_at if key in fingerprint_of}
        triggers = collections.Counter(
            r.dedup_key for r in fake.requests
            if r.status == 202 and r.action == "trigger")
        first = _first_triggers(fake)
        latencies = sorted(first[fingerprint_of[key]] - at for key, at in accepted_at.items()
                           if fingerprint_of.get(key) in first)
        statuses = collections.Counter(n["status"] for n in notifications)
        accepted_times = [p.accepted for p in posted if p.accepted is not None]
        last_accepted = max(accepted_times, default=began)
        arrivals = [first[f] for f in expected if f in first]
        last_trigger = max(arrivals, default=all_triggered)
        first_trigger = min(arrivals, default=began)
        failed_requests = sum(1 for p in posted if p.accepted is None)
        check = {
            "alerts_sent": args.count,
            "alerts_accepted": len(accepted_at),
            "new_in_answers": sum(p.new for p in posted),
            "alerts_stored": len(stored),
            "distinct_fingerprints": len(set(fingerprint_of.values())),
            "not_stored": sum(1 for key in accepted_at if key not in fingerprint_of),
            "triggered_once": sum(1 for f in expected if triggers[f] == 1),
            "missing": sum(1 for f in expected if triggers[f] == 0),
            "doubled": sum(1 for f in expected if triggers[f] > 1),
            "unexpected_dedup_keys": sum(1 for key in triggers if key not in expected),
            "fake_requests": len(fake.requests),
            "fake_non_202": sum(1 for r in fake.requests if r.status != 202),
            "notifications": dict(statuses),
            "webhook_retries": sum(p.attempts - 1 for p in posted),
            "webhook_errors": collections.Counter(e for p in posted for e in p.errors),
            "failed_requests": failed_requests,
        }
        check["exactly_once"] = bool(
            len(accepted_at) == args.count == check["new_in_answers"] == len(stored)
            == check["distinct_fingerprints"] == len(expected) == check["triggered_once"]
            and check["missing"] == check["doubled"] == check["unexpected_dedup_keys"] == 0
            and statuses == collections.Counter({"sent": args.count}))
        ms = 1000.0
        result: dict[str, Any] = {
            "database": args.database, "size": size, "senders": args.senders,
            "offered_alerts_s": args.rate, "alerts": args.count,
            "requests": len(posted),
            "webhook_s": round(last_accepted - began, 3),
            "webhook_alerts_s": round(len(accepted_at) / (last_accepted - began), 1)
            if last_accepted > began else 0.0,
            "end_to_end_s": round(last_trigger - began, 3),
            "end_to_end_alerts_s": round(len(arrivals) / (last_trigger - began), 1)
            if last_trigger > began else 0.0,
            # the worker's own pace: first trigger to last
            "deliver_alerts_s": round((len(arrivals) - 1) / (last_trigger - first_trigger), 1)
            if last_trigger > first_trigger else 0.0,
            "first_trigger_after_s": round(first_trigger - began, 3),
            "latency_ms": {
                "p50": round(pct(latencies, 0.50) * ms, 1),
                "p90": round(pct(latencies, 0.90) * ms, 1),
                "p99": round(pct(latencies, 0.99) * ms, 1),
                "max": round((latencies[-1] if latencies else 0.0) * ms, 1),
                "min": round((latencies[0] if latencies else 0.0) * ms, 1),
                "mean": round(statistics.fmean(latencies) * ms, 1) if latencies else 0.0,
            },
            "server_cpu_s": round(cpu, 2),
            "server_cpu_us_per_alert": round(1e6 * cpu / args.count),
            # the event loop's thread vs the others (one GIL between them)
            "server_thread_cpu_s": threads,
            "server_rss_peak_mb": round(max(rss_peak, rss_end), 1),
            "server_rss_end_mb": round(rss_end, 1),
            "bench_process_cpu_s": round(bench_cpu, 2),  # the fake (TLS, JSON) and polling
            "check": {**check, "webhook_errors": dict(check["webhook_errors"])},
        }
        if not check["exactly_once"] or args.keep_log:
            print(f"server log tail:\n{log_path.read_text()[-3000:]}", flush=True)
        return result
    finally:
        if parent is not None:
            with contextlib.suppress(OSError):
                parent.send("stop")
            parent.close()
        if loader is not None:
            loader.join(10)
            if loader.is_alive():
                loader.kill()
                loader.join()
        if server is not None:
            server.terminate()
            try:
                await asyncio.to_thread(server.wait, 30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        if fake is not None:
            await fake.close()
        if schema is not None:
            conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.close()
        tmp.cleanup()


WEBHOOK_HEADER = (f"{'database':<10} {'size':>4} {'snd':>3} {'offered':>7} {'alerts':>6} "
                  f"{'webhook/s':>9} {'e2e/s':>7} {'deliver/s':>9} {'e2e s':>6} "
                  f"{'p50ms':>7} {'p90ms':>7} {'p99ms':>7} {'maxms':>7} {'cpu s':>6} "
                  f"{'cpuµs/a':>7} {'RSSMB':>5} {'once':>4}")


def webhook_line(r: dict[str, Any]) -> str:
    lat = r["latency_ms"]
    offered = f"{r['offered_alerts_s']:.0f}/s" if r["offered_alerts_s"] else "max"
    return (f"{r['database']:<10} {r['size']:>4} {r['senders']:>3} {offered:>7} "
            f"{r['alerts']:>6} {r['webhook_alerts_s']:>9.0f} {r['end_to_end_alerts_s']:>7.0f} "
            f"{r['deliver_alerts_s']:>9.0f} {r['end_to_end_s']:>6.1f} {lat['p50']:>7.0f} "
            f"{lat['p90']:>7.0f} {lat['p99']:>7.0f} {lat['max']:>7.0f} "
            f"{r['server_cpu_s']:>6.1f} {r['server_cpu_us_per_alert']:>7} "
            f"{r['server_rss_peak_mb']:>5.0f} {'yes' if r['check']['exactly_once'] else 'NO':>4}")


def describe_check(r: dict[str, Any]) -> str:
    c = r["check"]
    return (f"  size {r['size']}: exactly once: {'yes' if c['exactly_once'] else 'NO'}; "
            f"{c['alerts_accepted']} of {c['alerts_sent']} alerts answered 202 (new "
            f"{c['new_in_answers']}, {c['webhook_retries']} resends), {c['alerts_stored']} "
            f"stored with {c['distinct_fingerprints']} fingerprints; triggers: "
            f"{c['triggered_once']} dedup_keys once, {c['missing']} missing, {c['doubled']} "
            f"doubled, {c['unexpected_dedup_keys']} unexpected ({c['fake_requests']} requests "
            f"at the fake, {c['fake_non_202']} not 202); outbox {c['notifications']}; "
            f"first trigger {r['first_trigger_after_s']:.2f} s after the first POST; "
            f"server CPU {r['server_cpu_s']:.1f} s (loop thread "
            f"{r['server_thread_cpu_s']['main']:.1f} s, other threads "
            f"{r['server_thread_cpu_s']['others']:.1f} s); fake+bench process CPU "
            f"{r['bench_process_cpu_s']:.1f} s")


async def from_webhook(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    print(f"from webhook to PagerDuty trigger: database {args.database}, {args.count} alerts, "
          f"{args.senders} senders, {os.cpu_count()} CPUs", flush=True)
    results = []
    for size in args.size:
        result = await webhook_run(args, size)
        results.append(result)
        if len(results) == 1:
            print(WEBHOOK_HEADER)
        print(webhook_line(result), flush=True)
    for result in results:
        print(describe_check(result))
    report = {"mode": "from-webhook", "cpus": os.cpu_count(),
              "finished": datetime.now(UTC).isoformat(), "runs": results}
    return (0 if all(r["check"]["exactly_once"] for r in results) else 1), report


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
    hook = parser.add_argument_group(
        "--from-webhook", "webhook -> PagerDuty trigger through the service as a subprocess "
        "(--workers, --batch, --concurrency and --channel do not apply)")
    hook.add_argument("--from-webhook", action="store_true")
    hook.add_argument("--size", type=int, nargs="+", default=[50],
                      help="alerts per Alertmanager request; one fresh run per size")
    hook.add_argument("--senders", type=int, default=4, help="concurrent webhook clients")
    hook.add_argument("--rate", type=float, default=0.0,
                      help="offered alerts/s (open loop); 0: back to back")
    hook.add_argument("--timeout", type=float, default=90.0,
                      help="seconds a run may take from the first POST to the last trigger")
    hook.add_argument("--seed", type=int, default=1)
    hook.add_argument("--json", help="write the results to this file")
    hook.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                      help="extra environment of the service, e.g. "
                      "AGGREGATOR_DELIVERY__BATCH_SIZE=200 (repeatable)")
    hook.add_argument("--keep-log", action="store_true", help="print the server log's tail")
    args = parser.parse_args()
    if args.from_webhook:
        code, report = asyncio.run(from_webhook(args))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
        raise SystemExit(code)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
