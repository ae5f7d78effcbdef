"""Real Prometheus -> real Alertmanager -> the service (a real `aggregator serve` process)
-> a real SMTP server, all on loopback.

Prometheus scrapes a switch served by the test (``e2e_condition{check,pod} 0|1``) and
evaluates rules on it every second, so alerts fire and resolve on demand. The switch stays
off until Prometheus has discovered Alertmanager: alerts evaluated before that are dropped
and only re-sent a minute later (see shared/reference/alertmanager/BEHAVIOUR.md).

One test, in phases, because starting the stack costs about 6 s (Prometheus throttles
Alertmanager discovery to once every 5 s):

1. firing: two alerts (critical, warning) arrive with labels, annotations, links and
   severities, and each is mailed once;
2. repeats: Alertmanager's repeat_interval re-sends them; the service counts them
   (``occurrences``, one coalesced ``repeat`` event) and mails nobody;
3. resolution: switched off, they resolve with ``ends_at`` and a RESOLVED mail, once;
4. a wrong token is refused with 401, Alertmanager re-sends at every group_interval, and
   once the credentials file holds the right token (and Alertmanager reloads) the alert is
   stored exactly once.

The binaries come from Debian bookworm (``apt-get install prometheus
prometheus-alertmanager``: Prometheus 2.42, Alertmanager 0.25). Without them the test is
skipped, unless ``AGGREGATOR_REQUIRE_E2E=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.stack import (
    ALERTMANAGER_NAMES,
    PROMETHEUS_NAMES,
    SCRAPE_TIMEOUT,
    Condition,
    Exporter,
    Process,
    Rule,
    alertmanager_config,
    child_env,
    find_binary,
    free_ports,
    get_json,
    http,
    prometheus_config,
    rules_config,
    version_of,
    wait_until,
    write_yaml,
)
from tests.fakes.smtp import ReceivedMessage, SmtpServer

pytestmark = pytest.mark.timeout(150)

# Alertmanager route timers (seconds): short, so the whole module takes well under a minute.
GROUP_WAIT = 1
GROUP_INTERVAL = 2
REPEAT_INTERVAL = 10
WEBHOOK = "/webhooks/alertmanager"
RUNBOOKS = "https://runbooks.example.com/e2e"

API = Condition("api_down", "api-0")
BACKLOG = Condition("queue_backlog", "worker-0")
ROTATION = Condition("token_rotation", "api-1")
RULES = {
    "E2EApiDown": Rule("E2EApiDown", API, "critical", "API pod {{ $labels.pod }} is down",
                       f"{RUNBOOKS}/api-down"),
    "E2EQueueBacklog": Rule("E2EQueueBacklog", BACKLOG, "warning",
                            "Queue backlog on {{ $labels.pod }}", f"{RUNBOOKS}/queue-backlog"),
    "E2ETokenRotation": Rule("E2ETokenRotation", ROTATION, "major",
                             "Token rotation test on {{ $labels.pod }}", f"{RUNBOOKS}/token"),
}
SEVERITY = {"E2EApiDown": "critical", "E2EQueueBacklog": "warning", "E2ETokenRotation": "error"}
# One line of the service's access log (aggregator.api.access_log) for a refused webhook.
_REFUSED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO aggregator\.access \S+ "
    rf'"POST {re.escape(WEBHOOK)}" 401 ', re.MULTILINE)


@dataclass
class Stack:
    aggregator: str
    alertmanager: str
    prometheus: str
    exporter: Exporter
    smtp: SmtpServer
    token: str
    token_file: Path
    processes: list[Process]
    timings: dict[str, float] = field(default_factory=dict)

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.tail(60)}" for p in self.processes)

    def reload_alertmanager(self) -> None:
        status, body = http("POST", f"{self.alertmanager}/-/reload")
        assert status == 200, f"Alertmanager reload answered {status}: {body!r}"

    # -- the service's API -------------------------------------------------------------

    def alerts(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(f"{self.aggregator}/api/v1/alerts",
                                               limit=500)["items"]
        return items

    def alert(self, name: str) -> dict[str, Any] | None:
        """The one row of ``name`` (every phase has at most one episode per alert)."""
        rows = [row for row in self.alerts() if row["name"] == name]
        assert len(rows) <= 1, f"{name} stored {len(rows)} times: {rows}"
        return rows[0] if rows else None

    def occurrences_reach(self, name: str, count: int) -> bool:
        alert = self.alert(name)
        return alert is not None and alert["occurrences"] >= count

    def has_status(self, name: str, status: str) -> bool:
        alert = self.alert(name)
        return alert is not None and alert["status"] == status

    def events(self, alert_id: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(
            f"{self.aggregator}/api/v1/alerts/{alert_id}/events", limit=500)["items"]
        return items

    def notifications(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = get_json(f"{self.aggregator}/api/v1/notifications",
                                               limit=500)["items"]
        return items

    def webhook_answers(self, code: int) -> int:
        """``aggregator_http_requests_total`` of the Alertmanager webhook with ``code``."""
        status, body = http("GET", f"{self.aggregator}/metrics")
        assert status == 200
        total = 0.0
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if (sample.name == "aggregator_http_requests_total"
                        and sample.labels.get("route") == WEBHOOK
                        and sample.labels.get("code") == str(code)):
                    total += sample.value
        return int(total)

    def service_log_size(self) -> int:
        return self._service_log().stat().st_size

    def refusals(self, *, after: int) -> list[datetime]:
        """When the service answered the Alertmanager webhook with 401, one entry per request,
        from its own access log (``%(asctime)s``, milliseconds, the service's local time)
        past byte offset ``after``."""
        with self._service_log().open("rb") as log:
            log.seek(after)
            text = log.read().decode(errors="replace")
        return [datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f")
                for match in _REFUSED.finditer(text)]

    def _service_log(self) -> Path:
        return next(p for p in self.processes if p.name == "aggregator").log

    def mails(self, name: str, status: str) -> list[ReceivedMessage]:
        return [mail for mail in self.smtp.messages
                if name in mail.subject and f"[{status}" in mail.subject]


def _binaries_or_skip() -> tuple[str | None, str | None]:
    prometheus, alertmanager = find_binary(PROMETHEUS_NAMES), find_binary(ALERTMANAGER_NAMES)
    missing = [name for name, path in (("prometheus", prometheus),
                                       ("prometheus-alertmanager", alertmanager)) if not path]
    if missing:
        reason = (f"{' and '.join(missing)} not installed (apt-get install -y prometheus "
                  "prometheus-alertmanager)")
        if os.environ.get("AGGREGATOR_REQUIRE_E2E") == "1":
            pytest.fail(f"AGGREGATOR_REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)
    return prometheus, alertmanager


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    prometheus_bin, alertmanager_bin = _binaries_or_skip()
    assert prometheus_bin and alertmanager_bin
    print(f"\n{version_of(prometheus_bin)}\n{version_of(alertmanager_bin)}")
    agg_port, am_port, prom_port = free_ports(3)
    aggregator = f"http://127.0.0.1:{agg_port}"
    alertmanager = f"http://127.0.0.1:{am_port}"
    prometheus = f"http://127.0.0.1:{prom_port}"
    token = secrets.token_urlsafe(24)
    token_file = tmp_path / "alertmanager-token"
    token_file.write_text(token)
    env = child_env()

    with contextlib.ExitStack() as cleanup:  # unwinds in reverse: Prometheus stops first
        smtp = cleanup.enter_context(SmtpServer())
        exporter = cleanup.enter_context(Exporter([API, BACKLOG, ROTATION]))

        service_config = write_yaml(tmp_path / "aggregator.yaml", {
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'aggregator.db'}",
            "log_level": "INFO",  # the access log times the 401s (wrong_token_then_right)
            "auth": {"alertmanager_tokens": [token]},
            "notifications": {
                "channels": {"mail": smtp.email_config(subject_prefix="[e2e]")},
                "default_route": {"channels": ["mail"]},
            },
            "delivery": {"poll_interval": "PT0.1S", "backoff_initial": "PT0.2S",
                         "backoff_max": "PT1S"},
        })
        service = cleanup.enter_context(Process(
            "aggregator", [sys.executable, "-m", "aggregator", "serve", "--port", str(agg_port),
                           "--config", str(service_config)],
            log=tmp_path / "aggregator.log", cwd=tmp_path, env=env))

        am_config = alertmanager_config(
            tmp_path / "alertmanager.yml", webhook_url=f"{aggregator}{WEBHOOK}",
            credentials_file=token_file, group_wait=f"{GROUP_WAIT}s",
            group_interval=f"{GROUP_INTERVAL}s", repeat_interval=f"{REPEAT_INTERVAL}s")
        (tmp_path / "alertmanager-data").mkdir()
        am = cleanup.enter_context(Process(
            "alertmanager", [alertmanager_bin, f"--config.file={am_config}",
                             f"--storage.path={tmp_path / 'alertmanager-data'}",
                             f"--web.listen-address=127.0.0.1:{am_port}",
                             f"--web.external-url={alertmanager}",
                             "--cluster.listen-address=", "--log.level=debug"],
            log=tmp_path / "alertmanager.log", cwd=tmp_path, env=env))

        rules = rules_config(tmp_path / "rules.yml", list(RULES.values()))
        prom_config = prometheus_config(tmp_path / "prometheus.yml", rules_file=rules,
                                        alertmanager=f"127.0.0.1:{am_port}",
                                        target=exporter.target)
        prom = cleanup.enter_context(Process(
            "prometheus", [prometheus_bin, f"--config.file={prom_config}",
                           f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
                           f"--web.listen-address=127.0.0.1:{prom_port}",
                           f"--web.external-url={prometheus}", "--web.enable-lifecycle",
                           "--log.level=info"],
            log=tmp_path / "prometheus.log", cwd=tmp_path, env=env))

        result = Stack(aggregator=aggregator, alertmanager=alertmanager, prometheus=prometheus,
                       exporter=exporter, smtp=smtp, token=token, token_file=token_file,
                       processes=[service, am, prom])
        started = time.monotonic()
        try:
            service.wait_ready(f"{aggregator}/readyz")
            am.wait_ready(f"{alertmanager}/-/ready")
            prom.wait_ready(f"{prometheus}/-/ready")
        except BaseException:
            print(result.logs())
            raise
        result.timings["start: processes ready"] = time.monotonic() - started
        yield result
    # SIGTERM is a clean stop for all three (a kill after 15 s would show as -9).
    codes = {process.name: process.returncode for process in result.processes}
    assert codes == {"aggregator": 0, "alertmanager": 0, "prometheus": 0}, codes


def first_times(checks: dict[str, Callable[[], object]], *, since: float,
                timeout: float) -> dict[str, float]:
    """Seconds from ``since`` until each check first held (all of them, or fail)."""
    times: dict[str, float] = {}
    while True:
        for name, check in checks.items():
            if name not in times and check():
                times[name] = time.monotonic() - since
        if len(times) == len(checks):
            return times
        if time.monotonic() - since > timeout:
            missing = sorted(set(checks) - set(times))
            raise AssertionError(f"not reached within {timeout:.0f}s: {missing}")
        time.sleep(0.05)


def parse_time(value: str) -> datetime:
    """RFC 3339 from Go (up to nanoseconds, ``Z``) or from the service."""
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    return datetime.fromisoformat(value)


def gate(stack: Stack) -> None:
    """Switch nothing on before Prometheus knows Alertmanager, scraped once, loaded rules."""
    started = time.monotonic()

    def discovered() -> bool:
        data = get_json(f"{stack.prometheus}/api/v1/alertmanagers")["data"]
        return any(entry["url"].startswith(stack.alertmanager)
                   for entry in data["activeAlertmanagers"])

    def scraped() -> bool:
        targets = get_json(f"{stack.prometheus}/api/v1/targets", state="active")["data"]
        return any(t["health"] == "up" for t in targets["activeTargets"])

    def rules_loaded() -> bool:
        groups = get_json(f"{stack.prometheus}/api/v1/rules", type="alert")["data"]["groups"]
        return sum(len(group["rules"]) for group in groups) == len(RULES)

    wait_until(discovered, timeout=30, what="Prometheus to discover Alertmanager")
    wait_until(scraped, timeout=10, what="Prometheus to scrape the switch")
    wait_until(rules_loaded, timeout=10, what="Prometheus to load the rules")
    stack.timings["start: Alertmanager discovered by Prometheus"] = time.monotonic() - started


def prometheus_active_at(stack: Stack, name: str) -> datetime:
    alerts = get_json(f"{stack.prometheus}/api/v1/alerts")["data"]["alerts"]
    (alert,) = [a for a in alerts if a["labels"]["alertname"] == name]
    return parse_time(alert["activeAt"])


def test_prometheus_alertmanager_service_and_mail(stack: Stack) -> None:
    module_started = time.monotonic()
    try:
        gate(stack)
        firing(stack)
        repeats(stack)
        resolution(stack)
        wrong_token_then_right(stack)
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.timings["scenario (after start-up)"] = time.monotonic() - module_started
        print("\ntimings (seconds):")
        for name, seconds in stack.timings.items():
            print(f"  {name:<58} {seconds:6.2f}")


FIRST = ("E2EApiDown", "E2EQueueBacklog")


def firing(stack: Stack) -> None:
    switched_on = datetime.now(UTC)
    since = time.monotonic()
    stack.exporter.set(1, API, BACKLOG)
    checks: dict[str, Callable[[], object]] = {}
    for name in FIRST:
        checks[f"on -> stored ({name})"] = partial(stack.alert, name)
        checks[f"on -> mail ({name})"] = partial(stack.mails, name, "FIRING")
    stack.timings.update(first_times(checks, since=since, timeout=20))

    for name in FIRST:
        rule = RULES[name]
        alert = stack.alert(name)
        assert alert is not None
        labels = alert["labels"]
        assert labels == {"alertname": name, "check": rule.condition.check,
                          "pod": rule.condition.pod, "severity": rule.severity,
                          "team": "platform", "job": "e2e", "instance": stack.exporter.target,
                          "cluster": "e2e"}
        assert alert["source"] == "alertmanager"
        assert alert["status"] == "firing"
        assert alert["severity"] == SEVERITY[name]
        assert alert["summary"] == rule.summary.replace("{{ $labels.pod }}", rule.condition.pod)
        assert alert["description"] == (f"{name}: check {rule.condition.check} failed on pod "
                                        f"{rule.condition.pod} (value 1).")
        assert alert["annotations"]["runbook_url"] == rule.runbook_url
        links = {link["text"]: link["href"] for link in alert["links"]}
        assert links["Runbook"] == rule.runbook_url
        source = urllib.parse.urlsplit(links["Source (Prometheus)"])
        assert f"{source.scheme}://{source.netloc}" == stack.prometheus
        assert source.path == "/graph"
        query = urllib.parse.parse_qs(source.query)
        assert query["g0.expr"] == [f'e2e_condition{{check="{rule.condition.check}"}} == 1']
        assert alert["ends_at"] is None
        assert alert["occurrences"] == 1
        assert alert["raw"]["group_key"] == f'{{}}:{{alertname="{name}"}}'
        assert alert["raw"]["external_url"] == stack.alertmanager
        starts_at = parse_time(alert["starts_at"])
        # activeAt is an evaluation no earlier than the first sample of 1, stamped when its
        # scrape started: less than SCRAPE_TIMEOUT before the switch flipped (plus margin).
        assert starts_at >= switched_on - timedelta(seconds=SCRAPE_TIMEOUT + 1)
        # Alertmanager passes Prometheus' activeAt on as startsAt (millisecond precision).
        assert abs(starts_at - prometheus_active_at(stack, name)) < timedelta(milliseconds=2)
        stack.timings[f"Prometheus activeAt -> stored ({name})"] = (
            parse_time(alert["first_received_at"]) - starts_at).total_seconds()
        assert [event["kind"] for event in stack.events(alert["id"])] == ["opened"]

        (mail,) = stack.mails(name, "FIRING")
        assert mail.subject.startswith("[e2e] [FIRING:1]")
        assert f"({SEVERITY[name]})" in mail.subject
        assert mail.rcpt_tos == ("oncall@example.com",)
        assert rule.condition.pod in mail.text
        assert rule.runbook_url in mail.text
        assert alert["fingerprint"] in mail.text

    assert len(stack.smtp.messages) == 2  # one mail per Alertmanager group (request)
    sent = stack.notifications()
    assert sorted((n["channel"], n["action"], n["status"]) for n in sent) == [
        ("mail", "trigger", "sent")] * 2


def repeats(stack: Stack) -> None:
    since = time.monotonic()
    checks: dict[str, Callable[[], object]] = {
        f"first delivery -> repeat counted ({name})": partial(stack.occurrences_reach, name, 2)
        for name in FIRST}
    first_times(checks, since=since, timeout=REPEAT_INTERVAL + 2 * GROUP_INTERVAL + 5)
    time.sleep(0.5)  # five worker polls: a wrong repeat notification would be out by now
    for name in FIRST:
        alert = stack.alert(name)
        assert alert is not None
        assert alert["status"] == "firing"
        gap = parse_time(alert["last_received_at"]) - parse_time(alert["first_received_at"])
        stack.timings[f"repeat_interval {REPEAT_INTERVAL}s: repeat gap ({name})"] = (
            gap.total_seconds())
        # Re-sent at the first group_interval tick past repeat_interval (12 s here), and
        # received after whatever delay a loaded machine adds; never at a mere group_interval.
        assert (REPEAT_INTERVAL - 1 <= gap.total_seconds()
                <= REPEAT_INTERVAL + 2 * GROUP_INTERVAL + 3), gap
        kinds = {event["kind"]: event for event in stack.events(alert["id"])}
        assert set(kinds) == {"opened", "repeat"}
        assert kinds["repeat"]["count"] == alert["occurrences"] - 1
        assert len(stack.mails(name, "FIRING")) == 1
    assert len(stack.smtp.messages) == 2  # repeats notify nobody
    assert len(stack.notifications()) == 2


def resolution(stack: Stack) -> None:
    switched_off = datetime.now(UTC)
    since = time.monotonic()
    stack.exporter.set(0, API, BACKLOG)
    checks: dict[str, Callable[[], object]] = {}
    for name in FIRST:
        checks[f"off -> resolved stored ({name})"] = partial(stack.has_status, name, "resolved")
        checks[f"off -> RESOLVED mail ({name})"] = partial(stack.mails, name, "RESOLVED")
    stack.timings.update(first_times(checks, since=since, timeout=20))
    time.sleep(0.5)
    for name in FIRST:
        alert = stack.alert(name)
        assert alert is not None
        assert alert["ends_at"] is not None
        ends_at = parse_time(alert["ends_at"])
        # endsAt is the Prometheus evaluation that saw the condition gone: no earlier than
        # that sample's scrape started, less than SCRAPE_TIMEOUT before the switch flipped.
        assert switched_off - timedelta(seconds=SCRAPE_TIMEOUT + 1) <= ends_at
        assert ends_at <= parse_time(alert["last_received_at"])
        kinds = [event["kind"] for event in stack.events(alert["id"])]
        assert kinds[0] == "resolved"
        assert kinds.count("resolved") == 1
        (mail,) = stack.mails(name, "RESOLVED")
        assert "Ended at:" in mail.text
        assert len(stack.mails(name, "FIRING")) == 1
    assert len(stack.smtp.messages) == 4
    sent = stack.notifications()
    assert sorted((n["action"], n["status"]) for n in sent) == (
        [("resolve", "sent")] * 2 + [("trigger", "sent")] * 2)


def wrong_token_then_right(stack: Stack) -> None:
    name = "E2ETokenRotation"
    stack.token_file.write_text(f"wrong-{secrets.token_urlsafe(16)}")
    stack.reload_alertmanager()
    refused_before = stack.webhook_answers(401)
    log_offset = stack.service_log_size()
    since = time.monotonic()
    stack.exporter.set(1, ROTATION)
    stack.timings.update(first_times({
        "on (wrong token) -> first 401": lambda: len(stack.refusals(after=log_offset)) >= 1,
        "on (wrong token) -> second 401": lambda: len(stack.refusals(after=log_offset)) >= 2,
    }, since=since, timeout=15))
    assert stack.webhook_answers(401) >= refused_before + 2
    # Timed by the service's access log (one line per request, stamped as it is answered),
    # not by when this loop happened to see them. A 4xx is not retried within a flush (a
    # retry would follow after Alertmanager's backoff, 0.25-0.75 s), but re-sent at the
    # next group_interval tick (whose timer restarts when a flush starts, so never sooner).
    first, second = stack.refusals(after=log_offset)[:2]
    gap = (second - first).total_seconds()
    stack.timings[f"group_interval {GROUP_INTERVAL}s: gap between 401s"] = gap
    assert 1.0 <= gap <= GROUP_INTERVAL + 3, gap
    assert stack.alert(name) is None
    assert stack.mails(name, "FIRING") == []

    # Right after a 401, so the next group_interval tick (with the old dispatcher) is far
    # off. Alertmanager reads credentials_file on every request; the reload makes it flush
    # at once (a new group whose alerts are older than group_wait does not wait).
    stack.token_file.write_text(stack.token)
    stack.reload_alertmanager()
    since = time.monotonic()
    stack.timings.update(first_times({
        "right token + reload -> stored": lambda: stack.alert(name),
        "right token + reload -> mail": lambda: stack.mails(name, "FIRING"),
    }, since=since, timeout=15))
    refused = stack.webhook_answers(401)
    time.sleep(GROUP_INTERVAL + 1.5)  # a tick or two: no more 401s, no second row

    assert stack.webhook_answers(401) == refused
    alert = stack.alert(name)
    assert alert is not None
    assert alert["severity"] == "error"
    assert alert["occurrences"] == 1
    assert [event["kind"] for event in stack.events(alert["id"])] == ["opened"]
    assert len(stack.mails(name, "FIRING")) == 1
    for earlier in FIRST:  # the resolved alerts were mailed once, and never again
        assert len(stack.mails(earlier, "FIRING")) == 1
        assert len(stack.mails(earlier, "RESOLVED")) == 1
    assert len(stack.smtp.messages) == 5
    log = next(p for p in stack.processes if p.name == "alertmanager").log.read_text()
    assert "unexpected status code 401" in log
    assert stack.token not in log
