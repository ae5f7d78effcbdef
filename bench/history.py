"""History at scale: the history API, ingest and retention with 100,000 alerts in the tables.

    .venv/bin/python -m bench.history --url postgresql+asyncpg://postgres@127.0.0.1:5432/test \\
        [--json out.json]

PostgreSQL only. In a fresh schema (dropped at the end) it

1. migrates (``python -m aggregator migrate``) and seeds ``--alerts`` alerts (100,000) and
   ``--events`` alert events (1,000,000) server-side (``INSERT ... SELECT`` from
   ``generate_series``): kubernetes-mixin-like Alertmanager alerts and Azure Monitor
   alerts, 20,000 problems (fingerprints) of 5 episodes each, ``first_received_at`` over
   the last ~90 days, about 1.6% firing (at most one per fingerprint: the newest episode),
   the rest resolved by the source or expired, 5% acknowledged; events opened, repeat
   (coalesced, one per 5-minute bucket), changed, acknowledged, resolved, expired; ten
   alerts carry 10,001 events each. Then ``VACUUM (ANALYZE)``, as autovacuum would have
   done on a table of that age (and so that it does not start during the measurements);
2. starts ``aggregator serve`` on the schema (API rate limit off) and measures
   ``GET /api/v1/alerts`` with every filter it has, without one, with cursors deep in
   the history and following ``next_cursor`` for 200 pages, and
   ``GET /api/v1/alerts/{id}/events`` of alerts with many events: ``--requests`` per case
   sequentially and again from ``--clients`` concurrent clients; target p95 < 50 ms;
3. measures ingest with bench/ingest.py's load generator (closed loop, 50-alert then
   1-alert Alertmanager messages, ``--ingest-concurrency`` clients, ``--ingest-seconds``
   each) against the seeded schema and against an empty fresh schema; target: seeded
   within 20% of empty;
4. runs the service's housekeeping pass (``aggregator.background.run_once``: expiry, then
   retention in batches of ``housekeeping_batch_size`` alerts with their events, each
   batch its own transaction) from this process, as a second replica would, while each
   ingest phase runs again (``--retention-seconds``): before each phase a shorter
   retention (``--retention-days``, 65 then 41 days) puts a backlog of about a quarter of
   the history out of retention. It reports the rows deleted, the longest batch
   transaction (how long its row locks are held), the CPU the deleting took (this
   process and its PostgreSQL backends), errors, how much of the phase the deleting
   covered, and ingest throughput and p99 beside the seeded figures of step 3.

The API cases draw their values (namespaces, pods, resource names, cursors 50-100% deep,
alerts with 10,001 events) from the seeded data; ``--cases`` picks some by name. The load
generator, the server, PostgreSQL and this process share the machine: on 2 cores the
concurrent rows measure queueing for the CPU as much as the queries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from aggregator.api.schemas import encode_cursor
from bench.ingest import (
    APPS,
    CLUSTERS,
    HEADER,
    NAMESPACES,
    ROOT,
    RULES,
    RUNBOOK,
    Phase,
    PhaseResult,
    cpu_seconds,
    family,
    free_port,
    line,
    load_generator,
    pct,
    rss_mb,
    start_server,
    summarize,
)

TARGET_P95_MS = 50.0
TARGET_INGEST_RATIO = 0.8
FINGERPRINTS_SHARE = 5  # episodes per fingerprint
HEAVY_ALERTS = 10
HEAVY_REPEATS = 10_000
SPAN_DAYS = 89.5  # first_received_at spread; under the default 90-day retention

# Azure Monitor rules: (name, severity, signal type, monitoring service, resource type,
# summary format: %1$s the resource name, %2$s the cluster)
AZURE_RULES = [
    ("aks-node-notready", "critical", "Metric", "Platform",
     "microsoft.containerservice/managedclusters",
     "Node pool of %2$s has NotReady nodes (resource %1$s)"),
    ("crashloopbackoff-pods", "error", "Log", "Log Analytics",
     "microsoft.operationalinsights/workspaces",
     "Pods in CrashLoopBackOff reported by KubePodInventory in %1$s"),
    ("storage-availability-low", "warning", "Metric", "Platform",
     "microsoft.storage/storageaccounts",
     "Availability of storage account %1$s dropped below 99%%"),
    ("node-cpu-high", "warning", "Metric", "Platform",
     "microsoft.compute/virtualmachinescalesets",
     "CPU usage above 90%% on scale set %1$s of %2$s"),
    ("availability-test-failed", "error", "Metric", "Application Insights",
     "microsoft.insights/components",
     "Availability test failed from 3 locations for %1$s"),
    ("monthly-budget-80", "info", "Budget", "Cost Management",
     "microsoft.consumption/budgets",
     "Budget %1$s reached 80%% of its amount"),
]

# --- seeding -------------------------------------------------------------------------------


def _alertmanager_rules() -> list[list[str]]:
    """Per rule: name, severity, summary, description format, label key 1, value format 1,
    label key 2, value format 2. Formats take %1$s namespace, %2$s app-suffix, %3$s app,
    %4$s suffix."""
    values = {"namespace": "%1$s", "pod": "%2$s", "container": "%3$s", "deployment": "%2$s",
              "job_name": "%3$s-migrate-%4$s", "statefulset": "%2$s",
              "horizontalpodautoscaler": "%2$s", "persistentvolumeclaim": "data-%3$s-%4$s"}
    rows = []
    for name, (severity, kinds, summary, description) in RULES.items():
        keys = [*kinds, "", ""][:2]
        rows.append([name, severity, summary,
                     description.replace("%", "%%").format(**values),
                     keys[0], values.get(keys[0], ""), keys[1], values.get(keys[1], "")])
    return rows


RULES_SQL = r"""
CREATE TEMP TABLE am_rules AS
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[], $8::text[]) WITH ORDINALITY
    AS t(name, severity, summary, descr, k1, f1, k2, f2, n);
"""

AZ_RULES_SQL = r"""
CREATE TEMP TABLE az_rules AS
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
    WITH ORDINALITY AS t(name, severity, signal, service, rtype, sfmt, n);
"""

SEED_SQL = r"""
CREATE TEMP TABLE seed AS
WITH base AS (
    SELECT i, i % $3::int AS f, (hashint4(i % $3::int) & 2147483647) AS h,
           (hashint4(i + 7919) & 2147483647) AS r,
           $1::timestamptz - make_interval(secs => $4::float8 * 86400)
               + make_interval(secs => $4::float8 * 86400 * i / $2::int + (i % 7) * 9) AS first_at
    FROM generate_series(0, $2::int - 1) AS i
), shaped AS (
    SELECT b.*,
           b.f % 5 = 0 AS azure,
           1 + b.h % $8::int AS rule,
           1 + (b.h / 11) % $9::int AS azrule,
           ($5::text[])[1 + floor(array_length($5::text[], 1)
                                  * ((b.h % 1000) / 1000.0) ^ 2)::int] AS ns,
           ($6::text[])[1 + (b.h / 101) % array_length($6::text[], 1)] AS cluster,
           ($7::text[])[1 + (b.h / 13) % array_length($7::text[], 1)] AS app,
           to_hex(b.h) AS sfx,
           b.i >= $2::int - $3::int AND b.h % 100 < 8 AS firing,
           b.r % 100 < 5 AS acked,
           b.r % 100 >= 97 AS changed,
           b.i < $2::int / 2 AND b.i % ($2::int / 20) = 17 AS heavy
    FROM base b
)
SELECT s.*,
       gen_random_uuid() AS id,
       encode(sha256(convert_to('bench-fp-' || s.f, 'UTF8')), 'hex') AS fingerprint,
       s.app || '-' || s.sfx AS appsfx,
       'st' || s.sfx || substr(s.cluster, 6, 2) AS resname,
       CASE WHEN s.azure THEN 'azure_monitor' ELSE 'alertmanager' END AS source,
       CASE WHEN s.azure AND z.signal = 'Log' THEN 'expired' ELSE 'source' END AS reason,
       0 AS nrep,
       s.first_at AS last_at
FROM shaped s JOIN az_rules z ON z.n = s.azrule
"""

ALERTS_SQL = r"""
INSERT INTO alerts (id, fingerprint, source, source_ref, name, status, severity, summary,
                    description, resource, labels, annotations, links, starts_at, ends_at,
                    resolved_reason, expires_at, first_received_at, last_received_at,
                    occurrences, acknowledged_at, acknowledged_by, silenced_by, notified, raw)
SELECT s.id, s.fingerprint, s.source, v.source_ref, v.name, v.status, v.severity, v.summary,
       v.description, v.resource, v.labels, v.annotations, v.links, v.starts_at, v.ends_at,
       v.resolved_reason, v.expires_at, s.first_at, s.last_at,
       1 + s.nrep + (s.r % 400) * (s.r % 3) / 2,
       CASE WHEN s.acked THEN s.first_at + interval '4 minutes' END,
       CASE WHEN s.acked THEN (ARRAY['alice', 'bob', 'carol'])[1 + s.r % 3] END,
       NULL, '{}'::jsonb,
       CASE WHEN s.azure THEN jsonb_build_object(
                'schemaId', 'azureMonitorCommonAlertSchema',
                'data', jsonb_build_object(
                    'essentials', jsonb_build_object(
                        'alertId', v.source_ref, 'alertRule', v.name,
                        'severity', 'Sev' || (s.h % 4), 'signalType', z.signal,
                        'monitorCondition', CASE WHEN v.status = 'firing' THEN 'Fired'
                                                 ELSE 'Resolved' END,
                        'monitoringService', z.service,
                        'alertTargetIDs', jsonb_build_array(v.resource),
                        'configurationItems', jsonb_build_array(s.resname),
                        'originAlertId', s.fingerprint,
                        'firedDateTime', v.starts_at, 'description', v.summary,
                        'essentialsVersion', '1.0', 'alertContextVersion', '1.0'),
                    'alertContext', jsonb_build_object(
                        'properties', jsonb_build_object('cluster', s.cluster),
                        'conditionType', 'SingleResourceMultipleMetricCriteria')))
            ELSE jsonb_build_object(
                'alert', jsonb_build_object(
                    'status', v.status, 'labels', v.labels, 'annotations', v.annotations,
                    'startsAt', v.starts_at, 'endsAt', coalesce(v.ends_at::text,
                                                                '0001-01-01T00:00:00Z'),
                    'generatorURL', 'http://prometheus-k8s.monitoring.svc:9090/graph?g0.expr='
                                    || v.name || '&g0.tab=1',
                    'fingerprint', substr(s.fingerprint, 1, 16)),
                'receiver', 'aggregator', 'externalURL',
                'http://alertmanager-main.monitoring.svc:9093',
                'groupKey', '{}:{namespace="' || s.ns || '"}', 'truncatedAlerts', 0)
       END
FROM seed s
JOIN am_rules a ON a.n = s.rule
JOIN az_rules z ON z.n = s.azrule
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN s.azure THEN z.name || '-' || s.cluster ELSE a.name END AS name,
        CASE WHEN s.firing THEN 'firing' ELSE 'resolved' END AS status,
        CASE WHEN s.azure THEN z.severity ELSE a.severity END AS severity,
        CASE WHEN s.azure THEN format(z.sfmt, s.resname, s.cluster)
             ELSE a.summary END AS summary,
        CASE WHEN s.azure THEN format(z.sfmt, s.resname, s.cluster)
                               || '. Fired by rule ' || z.name || '.'
             ELSE format(a.descr, s.ns, s.appsfx, s.app, s.sfx) END AS description,
        CASE WHEN s.azure THEN '/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/'
                               || 'resourcegroups/rg-' || s.cluster || '/providers/'
                               || z.rtype || '/' || s.resname
             ELSE s.ns || '/' || a.k1 || '/' || format(a.f1, s.ns, s.appsfx, s.app, s.sfx)
             END AS resource,
        CASE WHEN s.azure THEN jsonb_build_object(
                 'azure_subscription_id', 'aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e',
                 'azure_resource_group', 'rg-' || s.cluster,
                 'azure_resource_type', z.rtype,
                 'azure_resource_name', s.resname,
                 'azure_monitoring_service', z.service,
                 'azure_signal_type', z.signal,
                 'cluster', s.cluster, 'namespace', s.ns)
             ELSE jsonb_build_object(
                 'alertname', a.name, 'cluster', s.cluster, 'namespace', s.ns,
                 'job', 'kube-state-metrics', 'prometheus', 'monitoring/k8s',
                 'severity', a.severity, 'endpoint', 'http',
                 'service', 'kube-state-metrics',
                 'instance', '10.244.' || (s.h % 8) || '.' || (s.h % 250) || ':8080')
                 || jsonb_build_object(a.k1, format(a.f1, s.ns, s.appsfx, s.app, s.sfx))
                 || CASE WHEN a.k2 = '' THEN '{}'::jsonb
                         ELSE jsonb_build_object(a.k2, format(a.f2, s.ns, s.appsfx, s.app,
                                                              s.sfx)) END
        END AS labels,
        CASE WHEN s.azure THEN '{}'::jsonb
             ELSE jsonb_build_object(
                 'summary', a.summary,
                 'description', format(a.descr, s.ns, s.appsfx, s.app, s.sfx),
                 'runbook_url', $1 || lower(a.name)) END AS annotations,
        CASE WHEN s.azure THEN jsonb_build_array(jsonb_build_object(
                 'href', 'https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/'
                         || 'AlertDetails.ReactView/alertId/' || s.id, 'text', 'Azure portal'))
             ELSE jsonb_build_array(
                 jsonb_build_object('href', 'http://prometheus-k8s.monitoring.svc:9090/graph',
                                    'text', 'Prometheus'),
                 jsonb_build_object('href', $1 || lower(a.name), 'text', 'runbook'))
             END AS links,
        s.first_at - interval '90 seconds' AS starts_at,
        CASE WHEN s.firing THEN NULL
             WHEN s.reason = 'expired' THEN s.last_at + interval '24 hours'
             ELSE s.last_at END AS ends_at,
        CASE WHEN s.firing THEN NULL ELSE s.reason END AS resolved_reason,
        CASE WHEN s.azure AND z.signal = 'Log'
             THEN s.last_at + interval '24 hours' END AS expires_at,
        CASE WHEN s.azure THEN '/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/providers/'
                               || 'Microsoft.AlertsManagement/alerts/' || s.id
             ELSE substr(s.fingerprint, 1, 16) || '@'
                  || to_char((s.first_at - interval '90 seconds') AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS.MS"+00:00"') END AS source_ref
) AS v
"""

EVENTS_SQL = r"""
INSERT INTO alert_events (alert_id, kind, at, count, bucket, detail)
SELECT alert_id, kind, at, count, bucket, detail FROM (
    SELECT s.id AS alert_id, 'opened' AS kind, s.first_at AS at, 1 AS count,
           NULL::bigint AS bucket,
           jsonb_build_object('source_ref', substr(s.fingerprint, 1, 16), 'status', 'firing',
                              'starts_at', s.first_at - interval '90 seconds',
                              'ends_at', NULL, 'first_delivery', true) AS detail
    FROM seed s
    UNION ALL
    SELECT s.id, 'repeat', least(s.first_at + (k + 1) * s.step, s.last_at),
           1 + (s.r + k) % 12,
           floor(extract(epoch FROM s.first_at) / 300)::bigint + k + 1,
           jsonb_build_object('window_start', s.first_at + (k + 1) * s.step,
                              'window_seconds', 300)
    FROM (SELECT *, greatest(interval '300 seconds', (last_at - first_at) / (nrep + 1)) AS step
          FROM seed) s
    CROSS JOIN LATERAL generate_series(0, s.nrep - 1) AS k
    UNION ALL
    SELECT s.id, 'changed', s.first_at + (s.last_at - s.first_at) / 3, 1, NULL,
           jsonb_build_object('status', 'firing',
                              'changes', jsonb_build_object('severity',
                                                            jsonb_build_array('warning',
                                                                              'critical')))
    FROM seed s WHERE s.changed
    UNION ALL
    SELECT s.id, 'acknowledged', s.first_at + interval '4 minutes', 1, NULL,
           jsonb_build_object('by', 'alice', 'comment', 'looking into it')
    FROM seed s WHERE s.acked
    UNION ALL
    SELECT s.id, CASE WHEN s.reason = 'expired' THEN 'expired' ELSE 'resolved' END,
           CASE WHEN s.reason = 'expired' THEN s.last_at + interval '24 hours'
                ELSE s.last_at END, 1, NULL,
           CASE WHEN s.reason = 'expired'
                THEN jsonb_build_object('ends_at', s.last_at + interval '24 hours',
                                        'reason', 'no delivery before expires_at')
                ELSE jsonb_build_object('status', 'resolved', 'ends_at', s.last_at) END
    FROM seed s WHERE NOT s.firing
) AS e
ORDER BY at
"""


async def seed(pg: asyncpg.Connection, alerts: int, events: int, now: datetime,
               fingerprints: int) -> dict[str, Any]:
    """Fill the alerts and alert_events tables; returns timings and counts."""
    am = [list(c) for c in zip(*_alertmanager_rules(), strict=True)]
    az = [list(c) for c in zip(*AZURE_RULES, strict=True)]
    timings: dict[str, Any] = {}
    began = time.perf_counter()
    await pg.execute(RULES_SQL, *am)
    await pg.execute(AZ_RULES_SQL, *az)
    await pg.execute(SEED_SQL, now, alerts, fingerprints, SPAN_DAYS, NAMESPACES, CLUSTERS,
                     APPS, len(RULES), len(AZURE_RULES))
    # Repeats fill the history up to `events`: the heavy alerts HEAVY_REPEATS each, the rest
    # spread evenly. Durations leave room for one repeat per 5-minute bucket.
    fixed = await pg.fetchval(
        "SELECT count(*) + count(*) FILTER (WHERE NOT firing) + count(*) FILTER (WHERE acked)"
        " + count(*) FILTER (WHERE changed) + $1::int * count(*) FILTER (WHERE heavy) FROM seed",
        HEAVY_REPEATS)
    spread = max(0, events - fixed)
    await pg.execute(
        """
        UPDATE seed SET
            nrep = $1::int / $2::int + CASE WHEN i < $1::int % $2::int THEN 1 ELSE 0 END
                   + CASE WHEN heavy THEN $3::int ELSE 0 END
        """, spread, alerts, HEAVY_REPEATS)
    await pg.execute(
        """
        UPDATE seed SET last_at = CASE
            WHEN firing THEN greatest(first_at, $1::timestamptz
                                      - make_interval(secs => 30 + r % 1800))
            WHEN heavy THEN first_at + make_interval(secs => 301 * (nrep + 1))
            ELSE least($1::timestamptz - interval '1 minute',
                       first_at + make_interval(secs => 300 * (nrep + 1) + (r % 1000) ^ 3 / 4000))
            END
        """, now)
    # An alert expires 24 h after its last delivery: younger ones were resolved by the source.
    await pg.execute("UPDATE seed SET reason = 'source' WHERE reason = 'expired'"
                     " AND last_at > $1::timestamptz - interval '24 hours'", now)
    await pg.execute("CREATE UNIQUE INDEX ON seed (i)")
    timings["prepare_s"] = round(time.perf_counter() - began, 1)
    t0 = time.perf_counter()
    await pg.execute(ALERTS_SQL, RUNBOOK)
    timings["alerts_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    await pg.execute(EVENTS_SQL)
    timings["events_s"] = round(time.perf_counter() - t0, 1)
    await pg.execute("DROP TABLE seed, am_rules, az_rules")
    timings["seed_s"] = round(time.perf_counter() - began, 1)
    t0 = time.perf_counter()
    await pg.execute("VACUUM (ANALYZE) alerts")
    await pg.execute("VACUUM (ANALYZE) alert_events")
    timings["vacuum_analyze_s"] = round(time.perf_counter() - t0, 1)
    row = await pg.fetchrow(
        "SELECT count(*) AS alerts, count(*) FILTER (WHERE status = 'firing') AS firing,"
        " count(*) FILTER (WHERE resolved_reason = 'expired') AS expired,"
        " count(*) FILTER (WHERE acknowledged_at IS NOT NULL) AS acknowledged,"
        " count(*) FILTER (WHERE source = 'azure_monitor') AS azure,"
        " count(DISTINCT fingerprint) AS fingerprints,"
        " min(first_received_at) AS oldest FROM alerts")
    counts = dict(row)
    counts["oldest"] = counts["oldest"].isoformat()
    counts["events"] = await pg.fetchval("SELECT count(*) FROM alert_events")
    counts["max_events_per_alert"] = await pg.fetchval(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM alert_events GROUP BY alert_id) AS c")
    counts["alerts_size_mb"] = round(await pg.fetchval(
        "SELECT pg_total_relation_size('alerts')") / 2**20, 1)
    counts["events_size_mb"] = round(await pg.fetchval(
        "SELECT pg_total_relation_size('alert_events')") / 2**20, 1)
    return {**timings, **counts}


# --- the API cases ---------------------------------------------------------------------------

Params = list[tuple[str, str]]


@dataclass
class Case:
    name: str
    path: str = "/api/v1/alerts"
    params: list[Params] = field(default_factory=list)  # cycled, one per request
    paths: list[str] = field(default_factory=list)  # instead of path, cycled
    chain: int = 0  # follow next_cursor this many pages (sequential by nature)


@dataclass
class Timing:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    items: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)


async def _get(session: Any, url: str, params: Params, timing: Timing,
               parse: bool = False) -> dict[str, Any] | None:
    """One GET, timed to the last byte. The body is parsed only when the caller needs its
    cursor: the client shares the 2 cores with the server and PostgreSQL."""
    started = time.perf_counter()
    try:
        async with session.get(url, params=params) as response:
            body = await response.read()
            status = response.status
    except Exception as exc:  # every failure is counted, none stops the run
        timing.errors += 1
        kind = type(exc).__name__
        timing.error_kinds[kind] = timing.error_kinds.get(kind, 0) + 1
        return None
    timing.latencies.append(time.perf_counter() - started)
    if status != 200:
        timing.errors += 1
        timing.error_kinds[str(status)] = timing.error_kinds.get(str(status), 0) + 1
        return None
    timing.items += body.count(b'{"id":')  # items of a page; 1 for one alert
    if not parse:
        return {}
    data: dict[str, Any] = json.loads(body)
    return data


async def run_case(session: Any, base: str, case: Case, requests: int,
                   clients: int) -> Timing:
    timing = Timing()
    if case.chain:
        # `clients` chains side by side, each `case.chain // clients` pages (sequential: 1).
        starts = case.params or [[]]

        async def chain(start: Params, pages: int) -> None:
            cursor: str | None = None
            for _ in range(pages):
                params = [*start, *([("cursor", cursor)] if cursor else [])]
                data = await _get(session, base + case.path, params, timing, parse=True)
                cursor = data.get("next_cursor") if data else None
                if not cursor:
                    cursor = None  # the end of the history: start over from the top
        per = max(1, case.chain // clients)
        await asyncio.gather(*(chain(starts[n % len(starts)], per) for n in range(clients)))
        return timing
    queue = list(range(requests))

    async def client() -> None:
        while queue:
            n = queue.pop()
            path = case.paths[n % len(case.paths)] if case.paths else case.path
            params = case.params[n % len(case.params)] if case.params else []
            await _get(session, base + path, params, timing)

    await asyncio.gather(*(client() for _ in range(clients)))
    return timing


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def build_cases(pg: asyncpg.Connection, rng: random.Random, now: datetime,
                      n: int) -> list[Case]:
    """Every filter of GET /api/v1/alerts, cursors and events; values drawn from the data."""
    def draw(values: list[Any]) -> list[Any]:
        return [rng.choice(values) for _ in range(n)]

    pods = [r[0] for r in await pg.fetch(
        "SELECT labels->>'pod' FROM alerts WHERE labels ? 'pod' ORDER BY random() LIMIT 200")]
    resources = [r[0] for r in await pg.fetch(
        "SELECT labels->>'azure_resource_name' FROM alerts WHERE source = 'azure_monitor'"
        " ORDER BY random() LIMIT 200")]
    total = await pg.fetchval("SELECT count(*) FROM alerts")
    deep = [(r[0], r[1]) for r in await pg.fetch(
        "SELECT first_received_at, id FROM (SELECT first_received_at, id, row_number() OVER"
        " (ORDER BY first_received_at DESC, id DESC) AS rn FROM alerts) AS t"
        " WHERE rn > $1 ORDER BY random() LIMIT $2", total // 2, n)]
    cursors = [encode_cursor(at, key) for at, key in deep]
    heavy = [str(r[0]) for r in await pg.fetch(
        "SELECT alert_id FROM alert_events GROUP BY alert_id ORDER BY count(*) DESC"
        " LIMIT $1", HEAVY_ALERTS)]
    some = [str(r[0]) for r in await pg.fetch(
        "SELECT id FROM alerts ORDER BY random() LIMIT 200")]
    common_q = ["crash", "replicas", "Ready", "throttling", "filling up", "storage",
                "KubeJob", "CPU"]
    skewed = NAMESPACES[:4]  # the noisy namespaces
    quiet = NAMESPACES[-4:]
    ages = [now - timedelta(days=d) for d in (20, 35, 50, 65, 80)]
    cases = [
        Case("no filter", params=[[]]),
        Case("status=firing", params=[[("status", "firing")]]),
        Case("status=resolved", params=[[("status", "resolved")]]),
        Case("severity=critical", params=[[("severity", "critical")]]),
        Case("severity=critical,error",
             params=[[("severity", "critical,error")], [("severity", "critical"),
                                                       ("severity", "error")]]),
        Case("severity=info", params=[[("severity", "info")]]),
        Case("source=azure_monitor", params=[[("source", "azure_monitor")]]),
        Case("source=alertmanager", params=[[("source", "alertmanager")]]),
        Case("acknowledged=true", params=[[("acknowledged", "true")]]),
        Case("acknowledged=false", params=[[("acknowledged", "false")]]),
        Case("label namespace (noisy)",
             params=[[("label", f"namespace={v}")] for v in draw(skewed)]),
        Case("label namespace (quiet)",
             params=[[("label", f"namespace={v}")] for v in draw(quiet)]),
        Case("label namespace+cluster",
             params=[[("label", f"namespace={a}"), ("label", f"cluster={b}")]
                     for a, b in zip(draw(NAMESPACES), draw(CLUSTERS), strict=True)]),
        Case("label pod (1 problem)", params=[[("label", f"pod={v}")] for v in draw(pods)]),
        Case("label no match",
             params=[[("label", f"namespace=gone-{rng.getrandbits(24):x}")] for _ in range(n)]),
        Case("q common", params=[[("q", v)] for v in draw(common_q)]),
        Case("q rare (1 problem)", params=[[("q", v)] for v in draw(resources)]),
        Case("q no match",
             params=[[("q", f"nomatch{rng.getrandbits(24):x}")] for _ in range(n)]),
        Case("q + status=firing", params=[[("q", v), ("status", "firing")]
                                          for v in draw(common_q)]),
        Case("since 15 min", params=[[("since", _iso(now - timedelta(minutes=15)))]]),
        Case("since 1 h", params=[[("since", _iso(now - timedelta(hours=1)))]]),
        Case("since 7 d", params=[[("since", _iso(now - timedelta(days=7)))]]),
        Case("until 20-80 d ago", params=[[("until", _iso(v))] for v in draw(ages)]),
        Case("since+until window 1 d",
             params=[[("since", _iso(v - timedelta(days=1))), ("until", _iso(v))]
                     for v in draw(ages)]),
        Case("all filters",
             params=[[("status", "resolved"), ("severity", "warning,error"),
                      ("source", "alertmanager"), ("label", f"namespace={v}"),
                      ("q", "pod"), ("acknowledged", "false"),
                      ("since", _iso(now - timedelta(days=60)))] for v in draw(NAMESPACES)]),
        Case("limit=500", params=[[("limit", "500")]]),
        Case("deep cursor (50-100% back)", params=[[("cursor", c)] for c in cursors]),
        Case("deep cursor + status=resolved",
             params=[[("cursor", c), ("status", "resolved")] for c in cursors]),
        Case("deep cursor + label namespace",
             params=[[("cursor", c), ("label", f"namespace={v}")]
                     for c, v in zip(cursors, draw(NAMESPACES), strict=True)]),
        Case("deep cursor + q common",
             params=[[("cursor", c), ("q", v)]
                     for c, v in zip(cursors, draw(common_q), strict=True)]),
        Case("next_cursor x200 pages", params=[[]], chain=n),
        Case("next_cursor x200, severity=warning", params=[[("severity", "warning")]], chain=n),
        Case("next_cursor x200, label ns",
             params=[[("label", f"namespace={NAMESPACES[0]}")]], chain=n),
        Case("events, heavy alert first page",
             paths=[f"/api/v1/alerts/{a}/events" for a in heavy], params=[[]]),
        Case("events, heavy alert x200 pages", path=f"/api/v1/alerts/{heavy[0]}/events",
             params=[[]], chain=n),
        Case("events, any alert", paths=[f"/api/v1/alerts/{a}/events" for a in some],
             params=[[]]),
        Case("one alert by id", paths=[f"/api/v1/alerts/{a}" for a in some], params=[[]]),
    ]
    return cases


def _ms(values: list[float], q: float) -> float:
    return round(pct(values, q) * 1000, 1)


def case_summary(name: str, clients: int, timing: Timing) -> dict[str, Any]:
    lat = sorted(timing.latencies)
    p95 = _ms(lat, 0.95)
    return {"case": name, "clients": clients, "requests": len(lat), "errors": timing.errors,
            "error_kinds": timing.error_kinds,
            "items_per_request": round(timing.items / len(lat), 1) if lat else 0.0,
            "p50_ms": _ms(lat, 0.50), "p95_ms": p95, "p99_ms": _ms(lat, 0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else 0.0,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else 0.0,
            "pass": bool(lat) and timing.errors == 0 and p95 < TARGET_P95_MS}


CASE_HEADER = (f"{'case':<36} {'cl':>3} {'req':>5} {'items':>6} {'p50ms':>7} {'p95ms':>7} "
               f"{'p99ms':>7} {'maxms':>7} {'err':>4}  p95<{TARGET_P95_MS:.0f}ms")


def case_line(s: dict[str, Any]) -> str:
    return (f"{s['case']:<36} {s['clients']:>3} {s['requests']:>5} "
            f"{s['items_per_request']:>6.1f} {s['p50_ms']:>7.1f} {s['p95_ms']:>7.1f} "
            f"{s['p99_ms']:>7.1f} {s['max_ms']:>7.1f} {s['errors']:>4}  "
            f"{'PASS' if s['pass'] else 'FAIL'}")


async def measure_api(base: str, cases: list[Case], requests: int,
                      clients: list[int]) -> list[dict[str, Any]]:
    import aiohttp

    results = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm = Timing()
        for _ in range(20):
            await _get(session, base + "/api/v1/alerts", [], warm)
        print(CASE_HEADER, flush=True)
        for case in cases:
            for count in clients:
                timing = await run_case(session, base, case, requests, count)
                summary = case_summary(case.name, count, timing)
                results.append(summary)
                print(case_line(summary), flush=True)
    return results


# --- ingest (bench/ingest.py's load generator in its own process) -----------------------------

class Loader:
    """bench.ingest's load generator process; runs Phases against one server."""

    def __init__(self, base: str, seed: int) -> None:
        ctx = mp.get_context("spawn")
        self.parent, child = ctx.Pipe()
        self.process = ctx.Process(target=load_generator, args=(child, base, seed), daemon=True)
        self.process.start()

    async def run(self, phase: Phase, server: subprocess.Popen[bytes]) -> tuple[PhaseResult,
                                                                                 float]:
        self.parent.send(phase)
        peak = 0.0
        while not self.parent.poll(0):
            peak = max(peak, rss_mb(server.pid))
            if server.poll() is not None:
                raise SystemExit("server died")
            await asyncio.sleep(0.25)
        result: PhaseResult = self.parent.recv()
        return result, peak

    def close(self) -> None:
        if self.process.is_alive():
            self.parent.send(None)
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def ingest_phases(args: argparse.Namespace) -> list[Phase]:
    return [Phase(f"alertmanager x{size}", "alertmanager", size,
                  concurrency=args.ingest_concurrency, duration=args.ingest_seconds)
            for size in args.ingest_sizes]


def _server_ports(pid: int) -> set[int]:
    """Local ports of the server's connections to PostgreSQL (port 5432), so that
    pg_stat_activity can be read for its backends only: the server is shared."""
    inodes = set()
    for member in family(pid):
        try:
            fds = list(Path(f"/proc/{member}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                parts = row.split()
                if parts[9] in inodes and parts[2].endswith(":1538"):
                    ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports


async def sample_waits(url: str, pid: int, stop: asyncio.Event) -> dict[str, int]:
    """What the server's active backends wait on, sampled every 50 ms ("CPU" when they
    wait on nothing); the sampler's own connection is left out."""
    counts: dict[str, int] = {}
    pg = await _psql(url)
    try:
        while not stop.is_set():
            rows = await pg.fetch(
                "SELECT wait_event_type, wait_event FROM pg_stat_activity"
                " WHERE client_port = ANY($1::int[]) AND state = 'active'",
                list(_server_ports(pid)))
            for row in rows:
                key = (f"{row['wait_event_type']}:{row['wait_event']}"
                       if row["wait_event_type"] else "CPU")
                counts[key] = counts.get(key, 0) + 1
            await asyncio.sleep(0.05)
    finally:
        await pg.close()
    return counts


def _top_waits(counts: dict[str, int], n: int = 4) -> str:
    total = sum(counts.values()) or 1
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in top)


async def run_ingest(loader: Loader, server: subprocess.Popen[bytes], pg: asyncpg.Connection,
                     phases: list[Phase], label: str, url: str) -> list[dict[str, Any]]:
    summaries = []
    for phase in phases:
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_waits(url, server.pid, stop))
        cpu = cpu_seconds(server.pid)
        try:
            result, peak = await loader.run(phase, server)
        finally:
            stop.set()
            waits = await sampler
        cpu = cpu_seconds(server.pid) - cpu
        rows = await pg.fetchval("SELECT count(*) FROM alerts")
        summary = summarize(result, rss_mb(server.pid), peak, rows, cpu)
        summary["database"] = label
        summary["backend_waits"] = waits
        summaries.append(summary)
        print(f"{label:<8} {line(summary)}\n         server's backends: {_top_waits(waits)}",
              flush=True)
        await asyncio.sleep(1.0)
    return summaries


# --- retention ---------------------------------------------------------------------------------

@dataclass
class Transactions:
    """Durations of the write transactions a housekeeping pass ran (enter to commit), and
    the PostgreSQL backends that ran them (for their CPU time)."""

    durations: list[float] = field(default_factory=list)
    backends: set[int] = field(default_factory=set)


def _proc_cpu(pid: int) -> float:
    """User + system seconds of a local process (a PostgreSQL backend on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_database(settings: Any, record: Transactions) -> Any:
    """The service's Database whose write sessions are timed from BEGIN to COMMIT."""
    from sqlalchemy import event

    from aggregator.store.db import Database, make_database

    db = make_database(settings)
    factory = db.write_sessions

    @event.listens_for(db.engine.sync_engine, "connect")
    def _connected(dbapi_connection: Any, _record: Any) -> None:
        record.backends.add(dbapi_connection.driver_connection.get_server_pid())

    @contextlib.asynccontextmanager
    async def write() -> AsyncIterator[Any]:
        started = time.perf_counter()
        try:
            async with factory() as session:
                yield session
        finally:
            record.durations.append(time.perf_counter() - started)

    return Database(engine=db.engine, write_sessions=write,  # type: ignore[arg-type]
                    read_sessions=db.read_sessions)


async def housekeeping_passes(settings: Any, stop: asyncio.Event,
                              report: dict[str, Any]) -> None:
    """aggregator.background.run_once, pass after pass, until ``stop`` (and the backlog)."""
    from aggregator.background import run_once

    record = Transactions()
    db = timed_database(settings, record)
    passes = deleted = expired = errors = 0
    began = time.perf_counter()
    python_cpu = time.process_time()
    last_delete = 0.0
    try:
        while True:
            try:
                e, d = await run_once(db, settings, datetime.now(UTC))
                expired += e
                deleted += d
                if d:
                    last_delete = time.perf_counter() - began
            except Exception as exc:  # counted and reported, as the service logs them
                errors += 1
                d = -1
                report.setdefault("error_kinds", []).append(repr(exc)[:200])
            passes += 1
            if stop.is_set() and d == 0:
                break
            await asyncio.sleep(0.5)
    finally:
        # CPU of this process (mostly housekeeping; the load generator is another process)
        # and of the backends that ran it, read before the pool closes them.
        report["python_cpu_s"] = round(time.process_time() - python_cpu, 2)
        report["postgres_cpu_s"] = round(sum(_proc_cpu(pid) for pid in record.backends), 2)
        await db.engine.dispose()
    lat = sorted(record.durations)
    report.update(
        passes=passes, deleted_rows=deleted, expired=expired, errors=errors,
        transactions=len(lat), drained_s=round(last_delete, 1),
        longest_batch_ms=round(lat[-1] * 1000, 1) if lat else 0.0,
        batch_p50_ms=_ms(lat, 0.5), batch_p95_ms=_ms(lat, 0.95),
    )


def retention_phases(args: argparse.Namespace) -> list[Phase]:
    return [Phase(f"alertmanager x{size}", "alertmanager", size,
                  concurrency=args.ingest_concurrency, duration=args.retention_seconds)
            for size in args.ingest_sizes]


# What aggregator.store.retention.delete_before deletes: alerts resolved before the cutoff.
DUE_SQL = """
SELECT count(*) AS alerts,
       (SELECT count(*) FROM alert_events e JOIN alerts a ON a.id = e.alert_id
        WHERE a.status = 'resolved' AND a.ends_at < $1) AS events
FROM alerts WHERE status = 'resolved' AND ends_at < $1
"""


async def retention_round(args: argparse.Namespace, schema: str,
                          server: subprocess.Popen[bytes], pg: asyncpg.Connection,
                          loader: Loader, phase: Phase, days: float) -> dict[str, Any]:
    """A retention of ``days`` (a backlog to delete) drained while ``phase`` ingests."""
    from aggregator.config.service import Settings

    retention = timedelta(days=days)
    cutoff = datetime.now(UTC) - retention
    due = await pg.fetchrow(DUE_SQL, cutoff)
    settings = Settings(database_url=args.url, database_schema=schema, retention=retention,
                        log_level="WARNING")
    stop = asyncio.Event()
    hk: dict[str, Any] = {"retention_days": days, "alerts_due": due["alerts"],
                          "events_due": due["events"],
                          "batch_size": settings.housekeeping_batch_size}
    task = asyncio.create_task(housekeeping_passes(settings, stop, hk))
    try:
        (ingest,) = await run_ingest(loader, server, pg, [phase], "cleanup", args.url)
    finally:
        stop.set()
        await task
    left = await pg.fetchrow(DUE_SQL, cutoff)
    hk["alerts_left"], hk["events_left"] = left["alerts"], left["events"]
    hk["overlap"] = round(min(1.0, hk["drained_s"] / phase.duration), 2)
    print(f"         retention {days:g} d: {hk['deleted_rows']:,} alerts and "
          f"{due['events'] - left['events']:,} events deleted in {hk['drained_s']:.1f} s "
          f"({100 * hk['overlap']:.0f}% of the phase), {hk['transactions']} transactions, "
          f"longest {hk['longest_batch_ms']:.0f} ms; errors {hk['errors']}; CPU "
          f"{hk['postgres_cpu_s']:.1f} s in its PostgreSQL backends, {hk['python_cpu_s']:.1f} s "
          "in this process (with the wait sampler)",
          flush=True)
    return {"housekeeping": hk, "ingest": ingest}


# --- main -----------------------------------------------------------------------------------------

async def _psql(url: str, schema: str | None = None) -> asyncpg.Connection:
    settings = {"search_path": schema} if schema else {}
    return await asyncpg.connect(url.replace("+asyncpg", ""), server_settings=settings)


async def _create_schema(url: str, prefix: str) -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    pg = await _psql(url)
    try:
        await pg.execute(f"CREATE SCHEMA {schema}")
    finally:
        await pg.close()
    return schema


async def _drop_schema(url: str, schema: str) -> None:
    pg = await _psql(url)
    try:
        await pg.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await pg.close()


def _env(args: argparse.Namespace, schema: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(AGGREGATOR_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
               AGGREGATOR_DATABASE_URL=args.url, AGGREGATOR_DATABASE_SCHEMA=schema,
               AGGREGATOR_API_RATE_LIMIT__PER_SECOND="0",
               AGGREGATOR_PROCESSES=str(args.processes))
    return env


def _migrate(env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "aggregator", "migrate"], cwd=ROOT, env=env, check=True,
        capture_output=True)
    return time.perf_counter() - began


@contextlib.asynccontextmanager
async def _server(env: dict[str, str], log: Path) -> AsyncIterator[tuple[str,
                                                                            subprocess.Popen[bytes]]]:
    port = free_port()
    server = start_server(env, port, log)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


def _ingest_ratio(empty: list[dict[str, Any]], seeded: list[dict[str, Any]]) -> list[dict[str,
                                                                                          Any]]:
    rows = []
    for e, s in zip(empty, seeded, strict=True):
        ratio = s["alerts_s"] / e["alerts_s"] if e["alerts_s"] else 0.0
        rows.append({"phase": e["phase"], "empty_alerts_s": e["alerts_s"],
                     "seeded_alerts_s": s["alerts_s"], "ratio": round(ratio, 3),
                     "empty_p99_ms": e["p99_ms"], "seeded_p99_ms": s["p99_ms"],
                     "empty_cpu_us_per_alert": e["server_cpu_us_per_alert"],
                     "seeded_cpu_us_per_alert": s["server_cpu_us_per_alert"],
                     "pass": ratio >= TARGET_INGEST_RATIO})
    return rows


async def _step(title: str, work: Callable[[], Awaitable[Any]]) -> Any:
    print(f"\n== {title}", flush=True)
    return await work()


async def run(args: argparse.Namespace) -> dict[str, Any]:

    rng = random.Random(args.seed)
    tmp = tempfile.TemporaryDirectory(prefix="bench-history-")
    schemas: list[str] = []
    report: dict[str, Any] = {"cpus": os.cpu_count(), "alerts": args.alerts,
                              "events": args.events}
    try:
        schema = await _create_schema(args.url, "bench_history")
        schemas.append(schema)
        env = _env(args, schema)
        print(f"schema {schema}; {os.cpu_count()} CPUs", flush=True)
        report["migrate_s"] = round(_migrate(env), 1)
        pg = await _psql(args.url, schema)
        try:
            now = datetime.now(UTC)
            seeded = await _step(
                f"1. seeding {args.alerts:,} alerts and {args.events:,} events",
                lambda: seed(pg, args.alerts, args.events, now, args.alerts // FINGERPRINTS_SHARE))
            report["seed"] = seeded
            print(json.dumps(seeded), flush=True)
            print(f"seeded in {seeded['seed_s']:.1f} s (alerts {seeded['alerts_s']:.1f} s, "
                  f"events {seeded['events_s']:.1f} s), VACUUM ANALYZE "
                  f"{seeded['vacuum_analyze_s']:.1f} s", flush=True)
            cases = await build_cases(pg, rng, datetime.now(UTC), args.requests)
            if args.cases:
                cases = [c for c in cases if any(w in c.name for w in args.cases)]
            async with _server(env, Path(tmp.name) / "seeded.log") as (base, server):
                report["api"] = await _step(
                    f"2. GET latency, {args.requests} requests per case, clients "
                    f"{args.clients}", lambda: measure_api(base, cases, args.requests,
                                                           args.clients))
                if args.no_ingest:
                    return report
                # 3. ingest: an empty schema first, then the seeded one.
                print("\n== 3. ingest, empty vs seeded\n" + f"{'database':<8} {HEADER}",
                      flush=True)
                empty_schema = await _create_schema(args.url, "bench_history_empty")
                schemas.append(empty_schema)
                empty_env = _env(args, empty_schema)
                async with _server(empty_env, Path(tmp.name) / "empty.log") as (ebase, eserver):
                    epg = await _psql(args.url, empty_schema)
                    loader = Loader(ebase, args.seed)
                    try:
                        empty = await run_ingest(loader, eserver, epg, ingest_phases(args),
                                                 "empty", args.url)
                    finally:
                        loader.close()
                        await epg.close()
                await _drop_schema(args.url, empty_schema)
                schemas.remove(empty_schema)
                loader = Loader(base, args.seed)
                try:
                    full = await run_ingest(loader, server, pg, ingest_phases(args), "seeded",
                                            args.url)
                finally:
                    loader.close()
                report["ingest"] = {"empty": empty, "seeded": full,
                                    "compare": _ingest_ratio(empty, full)}
                # 4. retention while ingest runs: one backlog per ingest phase.
                print(f"\n== 4. retention while ingest runs\n{'database':<8} {HEADER}",
                      flush=True)
                rounds = []
                loader = Loader(base, args.seed + 1)
                try:
                    for n, phase in enumerate(retention_phases(args)):
                        days = args.retention_days[min(n, len(args.retention_days) - 1)]
                        rounds.append(await retention_round(args, schema, server, pg, loader,
                                                            phase, days))
                finally:
                    loader.close()
                report["retention"] = {
                    "rounds": rounds,
                    "compare": _ingest_ratio(full, [r["ingest"] for r in rounds])}
        finally:
            await pg.close()
    finally:
        for leftover in schemas:
            if not args.keep_schema:
                await _drop_schema(args.url, leftover)
        tmp.cleanup()
    return report


def print_report(report: dict[str, Any]) -> bool:
    ok = True
    print("\n==== summary")
    s = report["seed"]
    print(f"seeding: {s['alerts']:,} alerts ({s['firing']:,} firing, {s['expired']:,} expired, "
          f"{s['acknowledged']:,} acknowledged, {s['azure']:,} Azure, "
          f"{s['fingerprints']:,} fingerprints), {s['events']:,} events (max "
          f"{s['max_events_per_alert']:,} per alert) in {s['seed_s']:.1f} s; VACUUM ANALYZE "
          f"{s['vacuum_analyze_s']:.1f} s; alerts {s['alerts_size_mb']} MB, events "
          f"{s['events_size_mb']} MB")
    print(f"\nGET latency (target p95 < {TARGET_P95_MS:.0f} ms on PostgreSQL)")
    print(CASE_HEADER)
    for row in report["api"]:
        print(case_line(row))
        ok = ok and row["pass"]
    failed = [f"{r['case']} (c{r['clients']})" for r in report["api"] if not r["pass"]]
    print(f"list/events cases: {len(report['api']) - len(failed)} PASS, {len(failed)} FAIL"
          + (f": {', '.join(failed)}" if failed else ""))
    if "ingest" in report:
        print(f"\ningest, seeded vs empty (target: within {100 - 100 * TARGET_INGEST_RATIO:.0f}%)")
        for row in report["ingest"]["compare"]:
            print(f"  {row['phase']:<18} empty {row['empty_alerts_s']:>7.0f} alerts/s "
                  f"(p99 {row['empty_p99_ms']:.1f} ms)  seeded {row['seeded_alerts_s']:>7.0f} "
                  f"alerts/s (p99 {row['seeded_p99_ms']:.1f} ms)  ratio {row['ratio']:.2f}  "
                  f"{'PASS' if row['pass'] else 'FAIL'}; server CPU per alert "
                  f"{row['empty_cpu_us_per_alert']} vs {row['seeded_cpu_us_per_alert']} µs")
            ok = ok and row["pass"]
        for kind in ("empty", "seeded"):
            for row in report["ingest"][kind]:
                print(f"    {kind:<6} {row['phase']:<18} server's backends: "
                      f"{_top_waits(row['backend_waits'])}")
    if "retention" in report:
        rounds = report["retention"]["rounds"]
        print("\nretention while ingest runs (background.run_once passes from a second "
              "process, batches of "
              f"{rounds[0]['housekeeping']['batch_size']} alerts, each its own transaction)")
        for r, row in zip(rounds, report["retention"]["compare"], strict=True):
            hk = r["housekeeping"]
            drained = hk["alerts_left"] == 0 and hk["events_left"] == 0
            print(f"  {row['phase']:<18} retention {hk['retention_days']:g} d: deleted "
                  f"{hk['deleted_rows']:,} alerts + {hk['events_due'] - hk['events_left']:,} "
                  f"events in {hk['drained_s']:.1f} s ({hk['transactions']} transactions; "
                  f"longest {hk['longest_batch_ms']:.0f} ms, p95 {hk['batch_p95_ms']:.0f}, "
                  f"p50 {hk['batch_p50_ms']:.0f}; CPU {hk['postgres_cpu_s']:.1f} s PostgreSQL + "
                  f"{hk['python_cpu_s']:.1f} s this process); left {hk['alerts_left']}; errors "
                  f"{hk['errors']}; ingest {row['seeded_alerts_s']:.0f} alerts/s "
                  f"(p99 {row['seeded_p99_ms']:.1f} ms, {r['ingest']['errors']} errors) vs "
                  f"{row['empty_alerts_s']:.0f} alerts/s (p99 {row['empty_p99_ms']:.1f} ms) "
                  f"without, ratio {row['ratio']:.2f}; deleting during "
                  f"{100 * hk['overlap']:.0f}% of the phase")
            print(f"    server's backends meanwhile: {_top_waits(r['ingest']['backend_waits'])}")
            ok = ok and hk["errors"] == 0 and r["ingest"]["errors"] == 0 and drained
    print(f"\nall targets met: {'yes' if ok else 'NO'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="requests per API case")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4],
                        help="concurrent API clients; each case runs once per value")
    parser.add_argument("--cases", nargs="*", help="only the API cases whose name contains one")
    parser.add_argument("--ingest-sizes", type=int, nargs="+", default=[50, 1])
    parser.add_argument("--ingest-concurrency", type=int, default=8)
    parser.add_argument("--ingest-seconds", type=float, default=6.0)
    parser.add_argument("--no-ingest", action="store_true", help="only seed and measure GETs")
    parser.add_argument("--retention-days", type=float, nargs="+", default=[65.0, 41.0],
                        help="retention of the housekeeping run beside each ingest phase "
                        "(the last one repeats); the history spans 89.5 days")
    parser.add_argument("--retention-seconds", type=float, default=3.0,
                        help="seconds of each ingest phase while housekeeping deletes")
    parser.add_argument("--processes", type=int, default=1,
                        help="serve processes sharing the port (the service's --processes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-schema", action="store_true")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    if not args.url.startswith("postgresql"):
        raise SystemExit("bench.history measures PostgreSQL: give --url postgresql+asyncpg://...")
    report = asyncio.run(run(args))
    report["finished"] = datetime.now(UTC).isoformat()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    ok = print_report(report) if "api" in report and "seed" in report else False
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
