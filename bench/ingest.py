"""Ingest benchmark: webhook deliveries per second and their latency, over loopback HTTP.

    .venv/bin/python -m bench.ingest --database sqlite
    .venv/bin/python -m bench.ingest --database postgresql \\
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/test --json pg.json

It starts the service as a subprocess (``python -m aggregator serve`` on a free loopback
port; a SQLite file in a temporary directory or a fresh PostgreSQL schema; no tokens; the
default notifications, i.e. the log channel; ``AGGREGATOR_LOG_LEVEL=WARNING``) and drives
it from a separate load-generator process (an aiohttp client) with Alertmanager messages
shaped like kubernetes-mixin alerts (1 or 50 alerts per request) and Azure Monitor
common-schema metric alerts: about 20% of the alerts sent are new problems, the rest are
identical resends of alerts already accepted (a resend picks only alerts whose first
delivery was answered 202, so the expected database content is known exactly).

Phases, one server and one database for all of them (the tables grow as they would):

- closed loop: for each payload size (``--sizes``) and each concurrency (``--concurrency``)
  that many clients send back to back for ``--duration`` seconds; Azure at each
  concurrency too (unless ``--no-azure``);
- open loop: ``--rate`` alerts/s offered (payloads of ``--rate-sizes`` alerts) on a fixed
  schedule for ``--duration`` seconds; latency counts from the scheduled send time, so a
  server that falls behind shows it (no coordinated omission).

After each phase it waits until the outbox worker has sent the notifications the phase
implied (``outbox_drain_s`` in the JSON), so each phase starts on an idle server. The
``cpuµs/a`` column is the server's CPU time (user + system, all its processes) per
accepted alert: the figure that other load on the machine moves least.

Afterwards it checks in the database that every accepted alert is stored exactly once:
rows == distinct fingerprints == distinct new alerts accepted, and the sum of
``occurrences`` == the number of alert deliveries answered 202.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AZURE_TEMPLATE = ROOT / "tests/fixtures/payloads/azure_monitor/common-metric-static.json"
NEW_SHARE = 0.2

# --- payloads ------------------------------------------------------------------------------

RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/"
NAMESPACES = ["payments", "checkout", "orders", "catalog", "search", "identity", "ingress-nginx",
              "monitoring", "kube-system", "cert-manager", "argocd", "logging"]
APPS = ["api", "worker", "web", "gateway", "consumer", "scheduler", "cache", "db-proxy"]
CLUSTERS = ["prod-eu-1", "prod-eu-2", "prod-us-1"]

# name -> (severity, extra label kinds, summary, description template)
RULES: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "KubePodCrashLooping": (
        "warning", ("pod", "container"), "Pod is crash looping.",
        'Pod {namespace}/{pod} ({container}) is in waiting state (reason: "CrashLoopBackOff").'),
    "KubePodNotReady": (
        "warning", ("pod",), "Pod has been in a non-ready state for more than 15 minutes.",
        "Pod {namespace}/{pod} has been in a non-ready state for longer than 15 minutes."),
    "KubeDeploymentReplicasMismatch": (
        "warning", ("deployment",),
        "Deployment has not matched the expected number of replicas.",
        "Deployment {namespace}/{deployment} has not matched the expected number of replicas "
        "for longer than 15 minutes."),
    "KubeContainerWaiting": (
        "warning", ("pod", "container"),
        "Pod container waiting longer than 1 hour",
        "pod/{pod} in namespace {namespace} on container {container} has been in waiting "
        "state for longer than 1 hour."),
    "KubeJobFailed": (
        "warning", ("job_name",), "Job failed to complete.",
        "Job {namespace}/{job_name} failed to complete. Removing failed job after "
        "investigation should clear this alert."),
    "KubeHpaMaxedOut": (
        "warning", ("horizontalpodautoscaler",), "HPA is running at max replicas",
        "HPA {namespace}/{horizontalpodautoscaler} has been running at max replicas for "
        "longer than 15 minutes."),
    "CPUThrottlingHigh": (
        "info", ("pod", "container"), "Processes experience elevated CPU throttling.",
        "27.3% throttling of CPU in namespace {namespace} for container {container} in pod "
        "{pod}."),
    "KubePersistentVolumeFillingUp": (
        "critical", ("persistentvolumeclaim",), "PersistentVolume is filling up.",
        "The PersistentVolume claimed by {persistentvolumeclaim} in Namespace {namespace} is "
        "only 2.51% free."),
    "KubeStatefulSetReplicasMismatch": (
        "warning", ("statefulset",),
        "StatefulSet has not matched the expected number of replicas.",
        "StatefulSet {namespace}/{statefulset} has not matched the expected number of "
        "replicas for longer than 15 minutes."),
}
RULE_NAMES = list(RULES)


class Generator:
    """Makes new alerts (pre-encoded JSON) and remembers the accepted ones for resends."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0
        self.accepted_am: list[bytes] = []
        self.accepted_az: list[bytes] = []
        self.azure = json.loads(AZURE_TEMPLATE.read_text())

    def _suffix(self) -> str:
        self.serial += 1
        return f"{self.serial:x}-{self.rng.getrandbits(24):06x}"

    def new_alertmanager(self) -> bytes:
        rng = self.rng
        name = rng.choice(RULE_NAMES)
        severity, kinds, summary, description = RULES[name]
        namespace, app, suffix = rng.choice(NAMESPACES), rng.choice(APPS), self._suffix()
        labels = {"alertname": name, "cluster": rng.choice(CLUSTERS), "namespace": namespace,
                  "job": "kube-state-metrics", "prometheus": "monitoring/k8s",
                  "severity": severity, "endpoint": "http", "service": "kube-state-metrics",
                  "instance": "10.244.1.17:8080"}
        values = {"pod": f"{app}-{suffix}", "container": app, "deployment": f"{app}-{suffix}",
                  "job_name": f"{app}-migrate-{suffix}", "statefulset": f"{app}-{suffix}",
                  "horizontalpodautoscaler": f"{app}-{suffix}",
                  "persistentvolumeclaim": f"data-{app}-{suffix}"}
        for kind in kinds:
            labels[kind] = values[kind]
        starts = datetime.now(UTC) - timedelta(seconds=rng.randint(60, 3600))
        alert = {
            "status": "firing",
            "labels": labels,
            "annotations": {
                "summary": summary,
                "description": description.format(namespace=namespace, **values),
                "runbook_url": RUNBOOK + name.lower(),
            },
            "startsAt": starts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus-k8s.monitoring.svc:9090/graph?g0.expr="
                            f"kube_pod_status_ready%7Bnamespace%3D%22{namespace}%22%7D&g0.tab=1",
            "fingerprint": f"{rng.getrandbits(64):016x}",
        }
        return json.dumps(alert, separators=(",", ":")).encode()

    def new_azure(self) -> bytes:
        payload = json.loads(json.dumps(self.azure))
        essentials = payload["data"]["essentials"]
        suffix = self._suffix().replace("-", "")
        account = f"stbench{suffix}"
        essentials["alertId"] = ("/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/providers/"
                                 f"Microsoft.AlertsManagement/alerts/{uuid.uuid4()}")
        essentials["alertTargetIDs"] = [
            "/subscriptions/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e/resourcegroups/rg-bench/"
            f"providers/microsoft.storage/storageaccounts/{account}"]
        essentials["configurationItems"] = [account]
        fired = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        essentials["firedDateTime"] = fired
        condition = payload["data"]["alertContext"]["condition"]
        condition["windowStartTime"] = condition["windowEndTime"] = fired
        return json.dumps(payload, separators=(",", ":")).encode()

    def pick(self, azure: bool) -> tuple[bytes, bool]:
        """One alert to send: (encoded, is_new)."""
        pool = self.accepted_az if azure else self.accepted_am
        if pool and self.rng.random() >= NEW_SHARE:
            return pool[self.rng.randrange(len(pool))], False
        return (self.new_azure() if azure else self.new_alertmanager()), True


def alertmanager_body(alerts: list[bytes]) -> bytes:
    head = (b'{"receiver":"aggregator-webhook","status":"firing","alerts":[')
    tail = (b'],"groupLabels":{"namespace":"bench"},"commonLabels":{"job":"kube-state-metrics"},'
            b'"commonAnnotations":{},"externalURL":"http://alertmanager-main.monitoring.svc:9093",'
            b'"version":"4","groupKey":"{}:{namespace=\\"bench\\"}","truncatedAlerts":0}')
    return head + b",".join(alerts) + tail


# --- load generator (its own process) --------------------------------------------------------

@dataclass
class Phase:
    name: str
    source: str  # alertmanager | azure
    size: int  # alerts per request
    concurrency: int = 0  # closed loop
    rate: float = 0.0  # open loop: alerts/s
    duration: float = 10.0


@dataclass
class PhaseResult:
    phase: Phase
    elapsed: float = 0.0
    requests: int = 0
    ok_requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    alerts_ok: int = 0  # alert deliveries answered 202
    new_ok: int = 0  # distinct new alerts answered 202
    new_failed: int = 0  # new alerts whose only delivery failed (state unknown)
    latencies: list[float] = field(default_factory=list)  # seconds, per request
    late: int = 0  # open loop: sends that started behind schedule by > 10 ms


async def _send(session: Any, url: str, body: bytes) -> tuple[int, str]:
    try:
        async with session.post(url, data=body,
                                headers={"Content-Type": "application/json"}) as response:
            await response.read()
            return response.status, str(response.status)
    except Exception as exc:  # every failure is counted, none stops the run
        return 0, type(exc).__name__


async def _run_phase(gen: Generator, base: str, phase: Phase) -> PhaseResult:
    import aiohttp

    azure = phase.source == "azure"
    url = f"{base}/webhooks/{'azure-monitor' if azure else 'alertmanager'}"
    result = PhaseResult(phase)
    pool = gen.accepted_az if azure else gen.accepted_am

    async def one(scheduled: float | None) -> None:
        picked = [gen.pick(azure) for _ in range(phase.size)]
        body = picked[0][0] if azure else alertmanager_body([p[0] for p in picked])
        started = time.perf_counter() if scheduled is None else scheduled
        status, kind = await _send(session, url, body)
        result.latencies.append(time.perf_counter() - started)
        result.requests += 1
        if status == 202:
            result.ok_requests += 1
            result.alerts_ok += len(picked)
            fresh = {encoded for encoded, new in picked if new}
            result.new_ok += len(fresh)
            pool.extend(fresh)
        else:
            result.errors += 1
            result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1
            result.new_failed += sum(1 for _, new in picked if new)

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.perf_counter()
        deadline = began + phase.duration
        if phase.concurrency:
            async def client() -> None:
                while time.perf_counter() < deadline:
                    await one(None)
            await asyncio.gather(*(client() for _ in range(phase.concurrency)))
        else:
            interval = phase.size / phase.rate
            tasks: set[asyncio.Task[None]] = set()
            n = 0
            while True:
                scheduled = began + n * interval
                if scheduled >= deadline:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -0.01:
                    result.late += 1
                task = asyncio.create_task(one(scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                n += 1
            if tasks:
                await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - began
    return result


def load_generator(conn: Connection, base: str, seed: int) -> None:
    """Child process: receives Phases, answers PhaseResults, stops on None."""
    gen = Generator(seed)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        while True:
            phase = await loop.run_in_executor(None, conn.recv)
            if phase is None:
                return
            conn.send(await _run_phase(gen, base, phase))

    asyncio.run(serve())
    conn.close()


# --- the server under test -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def family(pid: int) -> list[int]:
    """The process and its descendants (``serve`` with ``processes`` > 1 forks copies)."""
    pids = [pid]
    for current in pids:
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the server processes have used so far (Linux ``/proc``)."""
    total = 0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of the server: RSS of one process; with forked copies, the sum of
    their proportional set sizes (pages they share counted once, not once per copy)."""
    members = family(pid)
    source, field = (("status", "VmRSS:") if len(members) == 1 else ("smaps_rollup", "Pss:"))
    total = 0.0
    for member in members:
        try:
            for line in Path(f"/proc/{member}/{source}").read_text().splitlines():
                if line.startswith(field):
                    total += int(line.split()[1]) / 1024
                    break
        except OSError:
            continue
    return total


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "aggregator", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    import urllib.request
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not become ready within 60 s")


# --- database checks ---------------------------------------------------------------------------

COUNT_SQL = ("SELECT count(*), count(DISTINCT fingerprint), coalesce(sum(occurrences), 0), "
             "sum(CASE WHEN status = 'firing' THEN 1 ELSE 0 END) FROM alerts")


PENDING_SQL = "SELECT count(*) FROM notifications WHERE status = 'pending'"


async def db_counts(args: argparse.Namespace, schema: str | None, sqlite_path: Path) -> dict[str,
                                                                                              int]:
    if args.database == "sqlite":
        con = sqlite3.connect(sqlite_path, timeout=30)
        try:
            row = con.execute(COUNT_SQL).fetchone()
            events = con.execute("SELECT count(*) FROM alert_events").fetchone()[0]
            outbox = con.execute("SELECT count(*) FROM notifications").fetchone()[0]
            pending = con.execute(PENDING_SQL).fetchone()[0]
        finally:
            con.close()
    else:
        import asyncpg
        con = await asyncpg.connect(args.url.replace("+asyncpg", ""),
                                    server_settings={"search_path": schema or "public"})
        try:
            row = tuple(await con.fetchrow(COUNT_SQL))
            events = await con.fetchval("SELECT count(*) FROM alert_events")
            outbox = await con.fetchval("SELECT count(*) FROM notifications")
            pending = await con.fetchval(PENDING_SQL)
        finally:
            await con.close()
    rows, distinct, occurrences, firing = (int(v or 0) for v in row)
    return {"rows": rows, "distinct_fingerprints": distinct, "occurrences": occurrences,
            "firing": firing, "events": int(events), "notifications": int(outbox),
            "pending": int(pending)}


async def drained(args: argparse.Namespace, schema: str | None, sqlite_path: Path,
                  limit: float = 120.0) -> float:
    """Wait until the outbox worker has sent everything (phases start on an idle server);
    the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if (await db_counts(args, schema, sqlite_path))["pending"] == 0:
            break
        await asyncio.sleep(0.25)
    return time.monotonic() - started


# --- reporting ---------------------------------------------------------------------------------

def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(result: PhaseResult, rss: float, rss_peak: float, rows: int,
              cpu: float = 0.0) -> dict[str, Any]:
    lat = sorted(result.latencies)
    ms = 1000.0
    return {
        "phase": result.phase.name, "source": result.phase.source, "size": result.phase.size,
        "concurrency": result.phase.concurrency, "offered_alerts_s": result.phase.rate,
        "seconds": round(result.elapsed, 2), "requests": result.requests,
        "alerts_s": round(result.alerts_ok / result.elapsed, 1) if result.elapsed else 0.0,
        "requests_s": round(result.ok_requests / result.elapsed, 1) if result.elapsed else 0.0,
        "p50_ms": round(pct(lat, 0.50) * ms, 2), "p90_ms": round(pct(lat, 0.90) * ms, 2),
        "p99_ms": round(pct(lat, 0.99) * ms, 2), "max_ms": round((lat[-1] if lat else 0) * ms, 2),
        "mean_ms": round(statistics.fmean(lat) * ms, 2) if lat else 0.0,
        "errors": result.errors, "error_kinds": result.error_kinds,
        "alerts_ok": result.alerts_ok, "new_ok": result.new_ok,
        "new_share": round(result.new_ok / result.alerts_ok, 3) if result.alerts_ok else 0.0,
        "late_sends": result.late, "rss_mb": round(rss, 1), "rss_peak_mb": round(rss_peak, 1),
        "rows_stored": rows, "server_cpu_s": round(cpu, 2),
        # server CPU per accepted alert: a figure that other load on the machine moves less
        "server_cpu_us_per_alert": round(1e6 * cpu / result.alerts_ok) if result.alerts_ok else 0,
    }


HEADER = (f"{'phase':<22} {'c/rate':>7} {'alerts/s':>9} {'req/s':>8} {'p50ms':>7} {'p90ms':>7} "
          f"{'p99ms':>7} {'maxms':>8} {'err':>5} {'new%':>5} {'RSSMB':>6} {'rows':>8} "
          f"{'cpuµs/a':>8}")


def line(s: dict[str, Any]) -> str:
    load = f"{s['concurrency']}" if s["concurrency"] else f"{s['offered_alerts_s']:.0f}/s"
    return (f"{s['phase']:<22} {load:>7} {s['alerts_s']:>9.0f} {s['requests_s']:>8.0f} "
            f"{s['p50_ms']:>7.1f} {s['p90_ms']:>7.1f} {s['p99_ms']:>7.1f} {s['max_ms']:>8.1f} "
            f"{s['errors']:>5} {100 * s['new_share']:>5.1f} {s['rss_peak_mb']:>6.0f} "
            f"{s['rows_stored']:>8} {s['server_cpu_us_per_alert']:>8}")


def phases(args: argparse.Namespace) -> list[Phase]:
    planned: list[Phase] = []
    for size in args.sizes:
        for concurrency in args.concurrency:
            planned.append(Phase(f"alertmanager x{size}", "alertmanager", size,
                                 concurrency=concurrency, duration=args.duration))
    if not args.no_azure:
        for concurrency in args.concurrency:
            planned.append(Phase("azure x1", "azure", 1, concurrency=concurrency,
                                 duration=args.duration))
    if args.rate:
        for size in args.rate_sizes:
            planned.append(Phase(f"rate alertmanager x{size}", "alertmanager", size,
                                 rate=args.rate, duration=args.duration))
    return planned


# --- main ----------------------------------------------------------------------------------------

async def run(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    tmp = tempfile.TemporaryDirectory(prefix="bench-ingest-")
    sqlite_path = Path(tmp.name) / "bench.db"
    schema: str | None = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGGREGATOR_")}
    env.update(AGGREGATOR_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1")
    env["AGGREGATOR_PROCESSES"] = str(args.processes)
    env.update(item.split("=", 1) for item in args.server_env)
    if args.database == "sqlite":
        env["AGGREGATOR_DATABASE_URL"] = f"sqlite+aiosqlite:///{sqlite_path}"
    else:
        import asyncpg
        schema = f"bench_ingest_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.close()
        env["AGGREGATOR_DATABASE_URL"] = args.url
        env["AGGREGATOR_DATABASE_SCHEMA"] = schema
    port = free_port()
    server = start_server(env, port, Path(tmp.name) / "server.log")
    print(f"server pid {server.pid} on 127.0.0.1:{port}, database {args.database}"
          f"{' schema ' + schema if schema else ''}; {os.cpu_count()} CPUs", flush=True)
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    loader = ctx.Process(target=load_generator, args=(child, f"http://127.0.0.1:{port}",
                                                      args.seed), daemon=True)
    loader.start()
    summaries: list[dict[str, Any]] = []
    totals = {"alerts_ok": 0, "new_ok": 0, "new_failed": 0, "errors": 0, "requests": 0}
    rss_peak_all = 0.0
    check: dict[str, Any] = {}
    try:
        print(HEADER, flush=True)
        for phase in phases(args):
            cpu_before = cpu_seconds(server.pid)
            parent.send(phase)
            rss_peak = 0.0
            while not parent.poll(0.25):
                rss_peak = max(rss_peak, rss_mb(server.pid))
                if server.poll() is not None:
                    raise SystemExit(f"server died: {(Path(tmp.name) / 'server.log').read_text()}")
            result: PhaseResult = parent.recv()
            cpu = cpu_seconds(server.pid) - cpu_before
            rss_peak_all = max(rss_peak_all, rss_peak)
            counts = await db_counts(args, schema, sqlite_path)
            summary = summarize(result, rss_mb(server.pid), rss_peak, counts["rows"], cpu)
            summaries.append(summary)
            for key in totals:
                totals[key] += getattr(result, key)
            summary["outbox_drain_s"] = round(await drained(args, schema, sqlite_path), 2)
            print(line(summary), flush=True)
            if args.pause:
                await asyncio.sleep(args.pause)
        counts = await db_counts(args, schema, sqlite_path)
        exact = totals["new_failed"] == 0
        check = {
            **counts, **totals,
            "rows_eq_distinct_fingerprints": counts["rows"] == counts["distinct_fingerprints"],
            "distinct_fingerprints_eq_new_accepted":
                counts["distinct_fingerprints"] == totals["new_ok"] if exact
                else totals["new_ok"] <= counts["distinct_fingerprints"]
                <= totals["new_ok"] + totals["new_failed"],
            "occurrences_eq_alerts_accepted":
                counts["occurrences"] == totals["alerts_ok"] if exact
                else counts["occurrences"] >= totals["alerts_ok"],
        }
        check["exactly_once"] = bool(check["rows_eq_distinct_fingerprints"]
                                     and check["distinct_fingerprints_eq_new_accepted"]
                                     and check["occurrences_eq_alerts_accepted"])
        unknown = "" if exact else f" (+{totals['new_failed']} new in failed requests)"
        print(f"\ndatabase check: rows {counts['rows']}, distinct fingerprints "
              f"{counts['distinct_fingerprints']}, new alerts accepted {totals['new_ok']}{unknown}"
              f"; sum(occurrences) {counts['occurrences']}, alert deliveries answered 202 "
              f"{totals['alerts_ok']}; events {counts['events']}, outbox rows "
              f"{counts['notifications']}")
        print(f"exactly once: {'yes' if check['exactly_once'] else 'NO'}; errors "
              f"{totals['errors']} of {totals['requests']} requests; peak server RSS "
              f"{rss_peak_all:.0f} MB", flush=True)
    finally:
        if loader.is_alive():
            parent.send(None)
            loader.join(10)
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if args.keep_log:
            print((Path(tmp.name) / "server.log").read_text()[-4000:])
        if schema and not args.keep_schema:
            import asyncpg
            conn = await asyncpg.connect(args.url.replace("+asyncpg", ""))
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
            await conn.close()
        tmp.cleanup()
    report = {
        "database": args.database, "processes": args.processes, "cpus": os.cpu_count(),
        "duration_s": args.duration,
        "finished": datetime.now(UTC).isoformat(), "phases": summaries, "check": check,
        "server_rss_peak_mb": round(rss_peak_all, 1),
    }
    return (0 if check.get("exactly_once") and totals["errors"] == 0 else 1), report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 8, 32],
                        help="closed-loop client counts (none: only the open-loop phases)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 50],
                        help="alerts per Alertmanager request")
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="offered alerts/s of the open-loop phase (0: skip it)")
    parser.add_argument("--rate-sizes", type=int, nargs="+", default=[1, 50],
                        help="alerts per request in the open-loop phases")
    parser.add_argument("--no-azure", action="store_true")
    parser.add_argument("--processes", type=int, default=1,
                        help="serve processes sharing the port (the service's --processes)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between phases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment of the server, e.g. "
                        "AGGREGATOR_DELIVERY__WORKER_IN_SERVE=false (repeatable)")
    parser.add_argument("--keep-schema", action="store_true")
    parser.add_argument("--keep-log", action="store_true", help="print the server log's tail")
    args = parser.parse_args()
    code, report = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
