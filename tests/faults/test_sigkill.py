"""SIGKILL of a real ``aggregator serve`` process in the middle of a stream of deliveries.

The service runs as a subprocess on loopback (SQLite file; PostgreSQL in a fresh schema
too when ``AGGREGATOR_TEST_DATABASE_URL`` is set) and sends every critical alert to two
channels: PagerDuty, through the real ``pagerduty`` client over HTTPS to the PagerDuty fake
(a self-signed certificate trusted through the channel's ``ca_file``), and e-mail to a real
SMTP server on loopback. Each request carries one distinct alert.

The fault sequence, each phase waited for by its condition, never by a fixed sleep:

1. Deliveries flow: pages and mails arrive.
2. Both targets refuse, answering at once: the fake answers every event 429 with
   ``Retry-After: 1`` (PagerDuty's throttle; the floor keeps the retries from flooding the
   test process), SMTP answers every end of DATA 451 (both retryable). From that instant
   nothing more is accepted (both fakes decide and record in one step), so the set of
   events the fake answered 202 and of mails SMTP accepted is final; the test waits until
   the database shows exactly that many notifications of each channel ``sent``.
3. PagerDuty hangs: the fake holds every event without an answer (never applied); SMTP
   keeps refusing. Once the fake holds a request, the worker is mid-send on a claimed row,
   and the service is killed right then, the held pages claimed but never recorded (with
   whatever else finished in the last quarter second, which the worker records at most
   that late). (SMTP does not hang as well: a batch of mails each waiting out its timeout
   would keep the worker from claiming any page for many seconds.)
4. Both fakes drop every connection while still refusing and holding, and only then serve
   normally again on the same ports: bytes the process wrote just before it died (a whole
   mail, an event) must not be read after the faults are lifted and accepted. The service
   restarts on the same database.

Why phase 2: the outbox is at-least-once. A request the target accepted but whose answer
(or whose recording in the database) the kill cut off is legitimately sent again after the
restart, and no outbox can close that window. Phase 2 empties it before the kill: every
accepted page and mail is recorded first, and whatever is in flight at the kill is held or
refused, never accepted. So each send must happen exactly once: every webhook delivery
answered 202 is stored, the deliveries that got no answer are re-sent (as a sender does),
each alert's trigger reached the fake exactly once by ``dedup_key`` and was mailed exactly
once, none is lost and none is dead. The rows the killed worker held are claimed again
when their lease ends: before the restart the test checks they are still leased, then
moves their lease back by its length, as if the service came back that much later,
rather than wait it out.

The remaining risk is a client timing out on a reply the target did send (PagerDuty 10 s,
mail 8 s; the test process serves the PagerDuty fake): on loopback that takes a stall of
many seconds. Before the kill the test then fails waiting for "every accepted page and mail
recorded"; after it, as a page or mail sent twice (the attempt logs are printed).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from aggregator.config.service import Settings
from aggregator.store.db import make_database
from aggregator.store.tables import NotificationRow
from tests.conftest import DATABASES, PG_URL
from tests.e2e.stack import Process, child_env, free_ports, write_yaml
from tests.fakes.pagerduty import Fault, PagerDutyFake, pagerduty_fake
from tests.fakes.smtp import Certificate, SmtpServer
from tests.faults.helpers import AM, all_pages, am_message, pg_schema
from tests.helpers import eventually

ROOT = Path(__file__).parents[2]
SENDERS = 4
FLOWING = 20  # pages and mails delivered before the faults begin
SUBJECT = re.compile(r"\[FIRING:1\] (\S+) ")
PD_TIMEOUT, MAIL_TIMEOUT = 10, 8  # s
# s; half of it must fit the longest send: PD 10 s + 1 (+1), mail 8 s + 2 s QUIT (+1). The
# test does not wait it out (see end_leases).
LEASE = 30



@contextlib.asynccontextmanager
async def database(kind: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    if kind == "sqlite":
        yield {"database_url": f"sqlite+aiosqlite:///{tmp_path / 'killed.db'}"}
        return
    async with pg_schema() as schema:
        yield {"database_url": PG_URL, "database_schema": schema}


class Service:
    """``python -m aggregator serve`` on a fixed loopback port, restartable."""

    def __init__(self, tmp_path: Path, config: Path) -> None:
        self.tmp_path = tmp_path
        self.config = config
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None
        self.starts = 0

    async def start(self) -> None:
        self.starts += 1
        self.process = Process(
            f"aggregator-{self.starts}",
            [sys.executable, "-m", "aggregator", "serve", "--port", str(self.port),
             "--config", str(self.config)],
            log=self.tmp_path / f"serve-{self.starts}.log", cwd=ROOT, env=service_env()).start()
        await asyncio.to_thread(self.process.wait_ready, f"{self.url}/readyz", 30.0)

    def kill(self) -> None:
        assert self.process is not None and self.process.running()
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.stop()
        assert self.process.returncode == -signal.SIGKILL

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def service_env() -> dict[str, str]:
    """The child's environment, without proxies: events go straight to the loopback fake."""
    return {key: value for key, value in child_env().items()
            if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


@pytest.mark.parametrize("kind", DATABASES)
async def test_sigkill_mid_stream_loses_nothing_and_sends_once(
        kind: str, tmp_path: Path, certificate: Certificate) -> None:
    with SmtpServer() as smtp:
        async with pagerduty_fake(certificate=certificate) as pd, \
                database(kind, tmp_path) as db:
            config = write_yaml(tmp_path / "aggregator.yaml", {
                **db,
                "log_level": "INFO",
                # Long timeouts: on a loaded 2-core machine a loopback reply can lag
                # seconds, and a reply lost to a timeout is a legitimate resend (the client
                # cannot know it was accepted).
                "delivery": {"poll_interval": 0.05, "backoff_initial": 0.05,
                             "backoff_max": 0.3, "lease": LEASE},
                "notifications": {
                    "channels": {
                        # https://127.0.0.1:<port>, trusted through ca_file
                        "pd": pd.channel_config(timeout=PD_TIMEOUT,
                                                ca_file=str(certificate.cert_file)),
                        "mail": {
                            "type": "email", "host": smtp.host, "port": smtp.port,
                            "security": "none", "from": "alerts@example.com",
                            "to": ["oncall@example.com"], "timeout": MAIL_TIMEOUT}},
                    "routes": [{"match": {"min_severity": "critical"},
                                "channels": ["pd", "mail"]}],
                },
            })
            service = Service(tmp_path, config)
            try:
                await run(service, smtp, pd, db)
            except BaseException:
                for n in range(1, service.starts + 1):
                    log = tmp_path / f"serve-{n}.log"
                    if log.exists():
                        print(f"--- serve-{n}.log ---\n{log.read_text()[-4000:]}")
                raise
            finally:
                service.stop()


async def end_leases(db: dict[str, Any]) -> int:
    """With the service dead: the claims its worker left unfinished, which must still be
    leased (not claimable again yet), get their lease moved back by its length, as if the
    restart came that much later; the restarted worker claims them again at once. Returns
    how many there were."""
    database = make_database(Settings(**db))
    try:
        async with database.write() as session, session.begin():
            now = datetime.now(UTC)
            claimed = (await session.execute(
                select(NotificationRow.id, NotificationRow.lease_until)
                .where(NotificationRow.status == "pending",
                       NotificationRow.lease_until.is_not(None)))).all()
            for row in claimed:
                assert row.lease_until > now, (row, now)  # the killed worker's lease runs
                await session.execute(
                    update(NotificationRow).where(NotificationRow.id == row.id)
                    .values(lease_until=row.lease_until - timedelta(seconds=LEASE)))
    finally:
        await database.engine.dispose()
    return len(claimed)


async def run(service: Service, smtp: SmtpServer, pd: PagerDutyFake,
              db: dict[str, Any]) -> None:
    accepted: list[str] = []
    unanswered: list[str] = []
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=10)

    async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:

        async def get(query: dict[str, Any], path: str) -> tuple[int, Any]:
            async with http.get(f"{service.url}{path}", params=query) as response:
                return response.status, await response.json()

        async def pages(path: str, **params: Any) -> list[dict[str, Any]]:
            return await all_pages(lambda q: get(q, path), path, **params)

        async def sender(index: int) -> None:
            n = 0
            while not stop.is_set():
                name = f"Killed{index}x{n}"
                n += 1
                try:
                    async with http.post(f"{service.url}{AM}", json=am_message(name)) as response:
                        await response.read()
                        assert response.status == 202, (name, response.status)
                        accepted.append(name)
                except (aiohttp.ClientError, TimeoutError):  # killed with it in flight
                    # (or, on a starved machine, no answer in 10 s): a sender resends it
                    unanswered.append(name)
                    return
                await asyncio.sleep(0.005)

        await service.start()
        senders = [asyncio.create_task(sender(i)) for i in range(SENDERS)]
        # 1. deliveries flow
        await eventually(lambda: len(pd.events) >= FLOWING and len(smtp.messages) >= FLOWING,
                         timeout=20, what=f"{FLOWING} pages and mails")

        # 2. refuse: from here on nothing is accepted, so what was accepted is final
        clock = asyncio.get_running_loop().time
        refused_at = clock()
        pd.respond_with(lambda _: Fault(status=429, retry_after=1))
        smtp.fail_next(451, 1_000_000, stage="data")
        paged, mailed_before = len(pd.events), len(smtp.messages)

        async def recorded() -> bool:
            sent_pd = await pages("/api/v1/notifications", status="sent", channel="pd")
            sent_mail = await pages("/api/v1/notifications", status="sent", channel="mail")
            return len(sent_pd) == paged and len(sent_mail) == mailed_before

        await eventually(recorded, timeout=20, interval=0.1,
                         what="every accepted page and mail recorded")
        assert (len(pd.events), len(smtp.messages)) == (paged, mailed_before)

        # 3. hang: pages stall inside the worker; kill it while it holds a claimed row
        hung_at = clock()
        pd.respond_with(lambda _: Fault(hang=True))
        await eventually(lambda: pd.hanging, timeout=10, what="a page held mid-send")
        held = {r.dedup_key for r in pd.held_requests}
        service.kill()
        killed_at = clock()
        stop.set()
        # 4. The killed process may have written requests the fakes have not read yet (a
        # whole mail, an event): drop them, closing every connection while the faults still
        # refuse and hold, so nothing it sent is accepted after its death; then serve
        # normally again on the same ports.
        await pd.down()
        smtp.down()
        pd.respond_with(None)
        smtp.clear_faults()
        await pd.up()
        smtp.up()
        await asyncio.gather(*senders)
        print(f"killed: {len(accepted)} accepted, {len(unanswered)} unanswered, {paged} paged, "
              f"{mailed_before} mailed, {len(held)} page(s) held mid-send; recorded after "
              f"{hung_at - refused_at:.1f} s, held after {killed_at - hung_at:.1f} s")
        assert accepted and paged < len(accepted) and mailed_before < len(accepted)
        assert (len(pd.events), len(smtp.messages)) == (paged, mailed_before)

        assert await end_leases(db) >= len(held)  # the held pages, at least
        await service.start()  # same port, same database

        stored_alerts = await pages("/api/v1/alerts")
        stored = {item["name"] for item in stored_alerts}
        missing = set(accepted) - stored
        assert not missing, f"answered 202 but not stored: {sorted(missing)}"
        assert stored <= set(accepted) | set(unanswered)

        for name in unanswered:  # what a sender does without an answer: send it again
            async with http.post(f"{service.url}{AM}", json=am_message(name)) as response:
                assert response.status == 202, await response.text()
        expected = set(accepted) | set(unanswered)
        alerts = {item["fingerprint"]: item for item in await pages("/api/v1/alerts")}
        assert {a["name"] for a in alerts.values()} == expected

        def paged_names() -> collections.Counter[str]:
            return collections.Counter(
                alerts[e["dedup_key"]]["name"] if e["dedup_key"] in alerts else e["dedup_key"]
                for e in pd.events if e["event_action"] == "trigger")

        def mailed() -> collections.Counter[str]:
            return collections.Counter(
                m.group(1) for m in (SUBJECT.search(msg.subject) for msg in smtp.messages)
                if m is not None)

        await eventually(lambda: set(paged_names()) >= expected and set(mailed()) >= expected,
                         timeout=30, what="a page and a mail for every alert")

        async def settled() -> bool:
            return not await pages("/api/v1/notifications", status="pending")

        await eventually(settled, timeout=10, what="no notification pending")
        await asyncio.sleep(0.3)  # a second copy of anything would have arrived by now

        pages_per_alert, mails = paged_names(), mailed()
        twice = {name: n for name, n in pages_per_alert.items() if n != 1}
        doubled = {name: count for name, count in mails.items() if count != 1}
        ids = {a["name"]: a["id"] for a in alerts.values()}
        for name in {*twice, *doubled} & set(ids):  # show the attempts of what went out twice
            _, body = await get({}, f"/api/v1/alerts/{ids[name]}/notifications")
            print(f"sent twice: {name}: {body}")
        assert not twice, f"triggered more than once per dedup_key: {twice}"
        assert set(pages_per_alert) == expected
        assert len(pd.events) == len(expected)  # triggers only, each once
        assert not doubled, f"mailed more than once: {doubled}"
        assert set(mails) == expected and len(smtp.messages) == len(expected)
        notifications = await pages("/api/v1/notifications")
        assert len(notifications) == 2 * len(expected)
        assert {n["status"] for n in notifications} == {"sent"}  # none dead, none pending

        # The killed worker held the held pages mid-send: claimed (an attempt counted) but
        # never finished (no attempt logged); they went out once, after the (moved) lease.
        orphaned = 0
        for dedup_key in held:
            status, body = await get({}, f"/api/v1/alerts/{alerts[dedup_key]['id']}"
                                         "/notifications")
            assert status == 200, body
            orphaned += sum(item["attempts"] > len(item["attempt_log"])
                            for item in body["items"] if item["channel"] == "pd")
            await asyncio.sleep(0.025)  # under the API's 50 requests/s
        assert orphaned > 0, held
