"""EmailChannel against a real SMTP server on loopback (tests/fakes/smtp.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from aggregator.channels.email import EmailChannel, EmailConfig
from aggregator.errors import PermanentError, RetryableError
from aggregator.model import Link, Severity, Status
from aggregator.notice import Action, AlertSnapshot, Reason
from tests.factories import STARTS_AT, notice, snapshot
from tests.fakes.smtp import (
    Certificate,
    SmtpServer,
)

PASSWORD = "hunter2-Sup3rSecret"



@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def tls_smtp(certificate: Certificate) -> Iterator[SmtpServer]:
    """STARTTLS required, then AUTH required (AUTH only offered after STARTTLS)."""
    with SmtpServer(security="starttls", certificate=certificate,
                    auth=("bot", PASSWORD)) as server:
        yield server


def channel(server: SmtpServer, **overrides: Any) -> EmailChannel:
    return EmailChannel("mail", EmailConfig(**server.email_config(**overrides)))


# -- content -------------------------------------------------------------------------------


async def test_fifty_alerts_are_one_mail_listing_all(smtp: SmtpServer) -> None:
    alerts = [snapshot(f"Alert{i:02d}", summary=f"summary number {i:02d}") for i in range(50)]

    await channel(smtp).send(notice(*alerts))

    [mail] = await smtp.wait_for(1)
    assert len(smtp.messages) == 1
    assert mail.rcpt_tos == ("oncall@example.com",)
    assert "[FIRING:50] Alert00 and 49 more (warning)" in mail.subject
    for i in range(50):
        assert f"Alert{i:02d}" in mail.text
        assert f"summary number {i:02d}" in mail.text
        assert f"Alert{i:02d}" in mail.html
        assert f"summary number {i:02d}" in mail.html


async def test_headers_and_multipart_alternative(smtp: SmtpServer) -> None:
    alerts = [
        snapshot("KubePodNotReady", severity=Severity.WARNING),
        snapshot("KubeNodeNotReady", severity=Severity.ERROR),
        snapshot("KubePodNotReady", severity=Severity.CRITICAL),
    ]

    await channel(smtp, subject_prefix="[prod]").send(notice(*alerts))

    [mail] = await smtp.wait_for(1)
    message = mail.message
    assert message["From"] == "alerts@example.com"
    assert message["To"] == "oncall@example.com"
    assert message["Subject"] == "[prod] [FIRING:3] KubePodNotReady and 1 more (critical)"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(
        "@example.com>")
    assert abs(parsedate_to_datetime(message["Date"]) - datetime.now(UTC)) < timedelta(
        minutes=1)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert mail.mail_from == "alerts@example.com"
    # most severe first in the body too
    assert mail.text.index("critical") < mail.text.index("[error") < mail.text.index(
        "[warning")


async def test_body_lists_every_field(smtp: SmtpServer) -> None:
    alert = snapshot(
        "DiskFull", severity=Severity.ERROR, status=Status.RESOLVED,
        description="the disk is full", resource="node-7", occurrences=4,
        ends_at=STARTS_AT + timedelta(minutes=30), labels={"namespace": "payments"},
        annotations={"runbook": "see wiki"},
        links=(Link(href="https://grafana.example.com/d/1", text="Dashboard"),))

    await channel(smtp).send(notice(alert, action=Action.RESOLVE, reason=Reason.RESOLVED))

    [mail] = await smtp.wait_for(1)
    for body in (mail.text, mail.html):
        for expected in ("DiskFull", "error", "resolved", "DiskFull summary", "the disk is full",
                         "node-7", "2026-11-26 21:00:00 UTC", "2026-11-26 21:30:00 UTC",
                         "namespace", "payments", "runbook", "see wiki", "Dashboard",
                         "https://grafana.example.com/d/1", alert.fingerprint):
            assert expected in body
        assert "Occurrences" in body
    assert '<a href="https://grafana.example.com/d/1">Dashboard</a>' in mail.html


@pytest.mark.parametrize(
    ("action", "reason", "alerts", "subject", "in_body"),
    [
        (Action.RESOLVE, Reason.RESOLVED,
         (snapshot("A", status=Status.RESOLVED), snapshot("B", status=Status.RESOLVED)),
         "[alert] [RESOLVED:2] A and 1 more (warning)", "resolved"),
        (Action.RESOLVE, Reason.EXPIRED, (snapshot("A"),),
         "[alert] [RESOLVED:1] A (warning)", "expired"),
        (Action.ACKNOWLEDGE, Reason.ACKNOWLEDGED,
         (snapshot("A", severity=Severity.CRITICAL, acknowledged_by="alice",
                   acknowledged_at=STARTS_AT, comment="looking into it"),),
         "[alert] [ACKNOWLEDGED] A (critical) by alice", "looking into it"),
        (Action.TRIGGER, Reason.SEVERITY_RAISED, (snapshot("A", severity=Severity.ERROR),),
         "[alert] [FIRING:1] A (error)", "severity raised"),
        (Action.TRIGGER, Reason.REPEAT, (snapshot("A"), snapshot("A")),
         "[alert] [FIRING:2] A (warning)", "repeat"),
    ],
    ids=["resolved", "expired", "acknowledged", "severity-raised", "repeat-same-name"],
)
async def test_subject_per_action(smtp: SmtpServer, action: Action, reason: Reason,
                                  alerts: tuple[AlertSnapshot, ...], subject: str,
                                  in_body: str) -> None:
    await channel(smtp).send(notice(*alerts, action=action, reason=reason))

    [mail] = await smtp.wait_for(1)
    assert mail.subject == subject
    assert in_body in mail.text
    assert in_body in mail.html
    assert reason.value in mail.text


async def test_html_is_escaped_and_text_is_not(smtp: SmtpServer) -> None:
    alert = snapshot(
        "XSS", labels={"pod": "<script>alert(1)</script>"}, summary="a & b",
        description="Café ☕ naïve",
        links=(Link(href="javascript:alert(1)", text="click"),
               Link(href="https://ok.example.com/?a=1&b=2", text="ok")))

    await channel(smtp).send(notice(alert))

    [mail] = await smtp.wait_for(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert "<script>" not in mail.html
    assert "a &amp; b" in mail.html
    assert 'href="javascript:' not in mail.html
    assert '<a href="https://ok.example.com/?a=1&amp;b=2">ok</a>' in mail.html
    assert "pod = <script>alert(1)</script>" in mail.text
    assert "a & b" in mail.text
    assert "Café ☕ naïve" in mail.text
    assert "Café ☕ naïve" in mail.html


async def test_templates_dir_overrides_per_file(smtp: SmtpServer, tmp_path: Path) -> None:
    (tmp_path / "subject.txt").write_text("CUSTOM {{ count }} {{ first_name }} {{ action }}\n")
    (tmp_path / "body.txt").write_text(
        "{% for a in alerts %}* {{ a.name }}: {{ a.labels.team }}\n{% endfor %}")

    await channel(smtp, templates_dir=tmp_path).send(
        notice(snapshot("A", labels={"team": "<core>"})))

    [mail] = await smtp.wait_for(1)
    assert mail.subject == "CUSTOM 1 A trigger"
    assert mail.text.strip() == "* A: <core>"
    assert "&amp;lt;" not in mail.html  # the packaged body.html, escaped exactly once
    assert "team=&lt;core&gt;" in mail.html


@pytest.mark.parametrize(
    ("template", "source"),
    [("subject.txt", "{{ no_such_variable }}"),
     ("body.txt", "{% for a in alerts %}{{ a.no_such_field }}{% endfor %}"),
     ("body.html", "{% if %}broken"),
     ("body.txt", "{{ alerts | no_such_filter }}")],
    ids=["undefined-variable", "undefined-attribute", "syntax-error", "unknown-filter"],
)
async def test_template_error_is_permanent(smtp: SmtpServer, tmp_path: Path, template: str,
                                           source: str) -> None:
    (tmp_path / template).write_text(source)

    with pytest.raises(PermanentError, match=template):
        await channel(smtp, templates_dir=tmp_path).send(notice(snapshot()))

    assert smtp.messages == []


def test_message_id_is_stable_per_notice(smtp: SmtpServer) -> None:
    mail = channel(smtp)
    one = notice(snapshot())

    assert mail.compose(one)["Message-ID"] == mail.compose(one)["Message-ID"]
    assert mail.compose(one)["Message-ID"] != mail.compose(notice(snapshot()))["Message-ID"]
    assert mail.groups is True
    assert mail.name == "mail"


# -- TLS and authentication ----------------------------------------------------------------


async def test_starttls_and_auth_with_ca_file(tls_smtp: SmtpServer) -> None:
    mail = channel(tls_smtp)

    await mail.send(notice(snapshot()))
    await mail.aclose()

    [received] = await tls_smtp.wait_for(1)
    assert received.tls
    assert received.login == "bot"


async def test_implicit_tls_and_auth(certificate: Certificate) -> None:
    with SmtpServer(security="tls", certificate=certificate, auth=("bot", PASSWORD)) as server:
        await channel(server).send(notice(snapshot()))

        [received] = await server.wait_for(1)
        assert received.tls
        assert received.login == "bot"


async def test_unverifiable_certificate_is_retryable(tls_smtp: SmtpServer) -> None:
    """A self-signed certificate without ``ca_file``: retryable (may be a rotation in
    progress; the worker's max age marks it dead), with a message pointing at ca_file."""
    with pytest.raises(RetryableError, match="certificate verification failed") as caught:
        await channel(tls_smtp, ca_file=None).send(notice(snapshot()))

    assert "ca_file" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert tls_smtp.messages == []
    assert tls_smtp.auth_attempts == []  # the password never left the client


async def test_validate_certs_off_accepts_self_signed(tls_smtp: SmtpServer) -> None:
    await channel(tls_smtp, ca_file=None, validate_certs=False).send(notice(snapshot()))

    assert len(await tls_smtp.wait_for(1)) == 1


async def test_starttls_is_never_opportunistic(smtp: SmtpServer) -> None:
    """``security: starttls`` against a server that does not offer it fails; no plain text."""
    with pytest.raises(PermanentError, match="STARTTLS"):
        await channel(smtp, security="starttls").send(notice(snapshot()))

    assert smtp.messages == []


async def test_wrong_password_is_permanent_and_not_leaked(
        tls_smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PermanentError) as caught:
        await channel(tls_smtp, password=PASSWORD + "-wrong").send(notice(snapshot()))

    error = caught.value
    assert error.status_code == 535
    assert "authentication" in error.message
    for text in (str(error), repr(error), error.message, str(error.__cause__),
                 repr(error.__cause__), caplog.text):
        assert PASSWORD not in text
    assert tls_smtp.auth_attempts and not any(ok for _, ok in tls_smtp.auth_attempts)


# -- SMTP replies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "code", "error"),
    [("data", 451, RetryableError), ("data", 452, RetryableError),
     ("data", 421, RetryableError), ("mail", 450, RetryableError),
     ("rcpt", 450, RetryableError), ("rcpt", 550, PermanentError),
     ("rcpt", 553, PermanentError), ("data", 554, PermanentError),
     ("mail", 553, PermanentError)],
    ids=lambda v: str(v) if not isinstance(v, type) else v.__name__,
)
async def test_reply_codes_are_classified(smtp: SmtpServer, stage: Any, code: int,
                                          error: type[Exception]) -> None:
    smtp.fail_next(code, stage=stage)

    with pytest.raises(error) as caught:
        await channel(smtp).send(notice(snapshot()))

    assert isinstance(caught.value, RetryableError | PermanentError)
    assert caught.value.status_code == code
    assert str(code) in str(caught.value)
    assert smtp.messages == []


async def test_451_then_success(tls_smtp: SmtpServer) -> None:
    tls_smtp.fail_next(451)
    mail = channel(tls_smtp)

    with pytest.raises(RetryableError) as caught:
        await mail.send(notice(snapshot()))
    assert caught.value.status_code == 451
    assert PASSWORD not in str(caught.value)

    await mail.send(notice(snapshot()))  # the worker's retry
    assert len(await tls_smtp.wait_for(1)) == 1


async def test_some_recipients_refused_is_delivered(
        smtp: SmtpServer, caplog: pytest.LogCaptureFixture) -> None:
    smtp.refuse_recipient("gone@example.com")

    await channel(smtp, to=["gone@example.com", "oncall@example.com"]).send(notice(snapshot()))

    [mail] = await smtp.wait_for(1)
    assert mail.rcpt_tos == ("oncall@example.com",)
    assert "1 of 2 recipients were refused" in caplog.text


async def test_all_recipients_refused_is_permanent(smtp: SmtpServer) -> None:
    smtp.refuse_recipient("a@example.com")
    smtp.refuse_recipient("b@example.com", code=553)

    with pytest.raises(PermanentError, match="all recipients refused") as caught:
        await channel(smtp, to=["a@example.com", "b@example.com"]).send(notice(snapshot()))

    assert caught.value.status_code == 550


async def test_mixed_refusals_with_a_4xx_are_retryable(smtp: SmtpServer) -> None:
    smtp.refuse_recipient("a@example.com", code=550)
    smtp.refuse_recipient("b@example.com", code=452)

    with pytest.raises(RetryableError) as caught:
        await channel(smtp, to=["a@example.com", "b@example.com"]).send(notice(snapshot()))

    assert caught.value.status_code == 452


# -- network -------------------------------------------------------------------------------


async def test_server_down_is_retryable_quickly(smtp: SmtpServer) -> None:
    smtp.down()
    started = time.monotonic()

    with pytest.raises(RetryableError) as caught:
        await channel(smtp, timeout=10).send(notice(snapshot()))

    assert time.monotonic() - started < 5  # refused at once: the 10 s timeout not waited out
    assert caught.value.status_code is None

    smtp.up()
    await channel(smtp).send(notice(snapshot()))
    assert len(await smtp.wait_for(1)) == 1


async def test_silent_server_is_retryable_within_timeout(tls_smtp: SmtpServer) -> None:
    tls_smtp.hang()
    started = time.monotonic()

    with pytest.raises(RetryableError) as caught:
        await channel(tls_smtp, timeout=0.3).send(notice(snapshot()))

    # Ended by the 0.3 s timeout, not by the default (20 s) or aiosmtplib's (60 s).
    assert 0.25 < time.monotonic() - started < 5
    assert "time" in str(caught.value).lower()
    assert PASSWORD not in str(caught.value)
