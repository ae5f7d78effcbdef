"""The e-mail channel: one notice becomes one mail (text + HTML) sent once over SMTP.

Owns its settings (:class:`EmailConfig`), rendering the packaged (or a configured
``templates_dir``'s) Jinja2 templates, building the :class:`~email.message.EmailMessage`,
one aiosmtplib exchange per notice, and the translation of every SMTP/TLS/network failure
into :class:`RetryableError` or :class:`PermanentError`. It must not retry, sleep, keep state
between sends or put the SMTP password into any error text or log record: the outbox worker
owns retries and the attempt log. It groups (one mail lists the alerts of one request) and
does not acknowledge.

Error classification (``status_code`` is the SMTP reply code when there was one; reply
codes are classified by the table :data:`STATUSES`)::

    connection refused/reset, DNS, SMTPConnectError (also a      -> RetryableError
      non-220 greeting), SMTPServerDisconnected
    timeout of a step or of the whole exchange                   -> RetryableError
    TLS handshake or certificate verification failure           -> RetryableError
    any other 4xx reply (421, 450, 451, 452; 454 on AUTH)        -> RetryableError(code)
    all recipients refused, at least one with a 4xx              -> RetryableError(first 4xx)
    all recipients refused with 5xx (550, 553, ...)              -> PermanentError(first code)
    5xx on MAIL FROM or DATA (530, 552, 553, 554, ...)           -> PermanentError(code)
    authentication failed (535, 534)                             -> PermanentError(code)
    server lacks STARTTLS/AUTH/SMTPUTF8 (SMTPNotSupported, ...)  -> PermanentError
    template error (syntax, undefined variable, filter, ...)     -> PermanentError
    some recipients refused, others accepted                     -> success, logged (WARNING)

Certificate verification failures are *retryable*: they are usually a configuration problem
(set ``ca_file``), but also happen while a server certificate is being rotated, and losing
an alert mail is worse than retrying it until the worker's max age marks it dead; the error
text says "certificate verification failed" so the attempt log points at the fix.
A partly refused recipient list counts as delivered: the mail reached someone, and retrying
would duplicate it for everyone who got it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any, Final, Literal

import aiosmtplib
import jinja2
from pydantic import Field, SecretStr, field_validator, model_validator

from aggregator.channels.base import ChannelConfig
from aggregator.channels.status import StatusRule, StatusTable
from aggregator.channels.tls import certificate_failure, loadable_ca_bundle
from aggregator.config.secrets import read_secret
from aggregator.errors import DeliveryError, PermanentError, RetryableError
from aggregator.model import Severity, severity_rank
from aggregator.notice import Action, Notice, Reason

logger = logging.getLogger(__name__)

DEFAULT_TEMPLATES: Final = Path(__file__).parent / "templates"
"""The packaged ``subject.txt``, ``body.txt`` and ``body.html``."""
QUIT_TIMEOUT: Final = 2.0
"""Seconds for the courtesy QUIT after an accepted mail."""


class EmailConfig(ChannelConfig):
    """SMTP delivery with aiosmtplib. ``security``: starttls (587), tls (465) or none."""

    type: Literal["email"]
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[alert]"
    templates_dir: Path | None = Field(
        default=None, description="folder with subject.txt, body.txt, body.html to override")
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the SMTP server's certificate instead of "
                    "the system's CAs (a private mail relay)")
    validate_certs: bool = True
    timeout: float = Field(default=20.0, gt=0, le=300)

    _ca_bundle = field_validator("ca_file")(loadable_ca_bundle)

    @model_validator(mode="after")
    def _check(self) -> EmailConfig:
        if self.password_file is not None:
            self.password = read_secret(self.password_file, "password_file")
            self.password_file = None
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if self.password is not None and self.security == "none":
            raise ValueError("refusing to send a password without TLS; set security: starttls")
        for address in (self.sender, *self.to):
            if "@" not in address:
                raise ValueError(f"{address!r} is not an e-mail address")
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise ValueError(f"templates_dir {self.templates_dir} is not a folder")
        return self

    def max_send_seconds(self) -> float:
        # Connect..DATA is bounded by timeout; the courtesy QUIT after it by QUIT_TIMEOUT.
        return self.timeout + min(self.timeout, QUIT_TIMEOUT)


#: SMTP reply codes (RFC 5321 4.2.1): 4xx is transient, 5xx permanent. Anything else on an
#: error (a reply the client did not expect at that step) is retried.
STATUSES: Final = StatusTable(
    rules=(StatusRule(range(400, 500), retry=True), StatusRule(range(500, 600), retry=False)),
    default=StatusRule((), retry=True),
)

_STATUS_LABEL: Final = {
    Action.TRIGGER: "FIRING",
    Action.RESOLVE: "RESOLVED",
    Action.ACKNOWLEDGE: "ACKNOWLEDGED",
}
_STATUS_COLOUR: Final = {
    Action.TRIGGER: "#c0392b",
    Action.RESOLVE: "#27ae60",
    Action.ACKNOWLEDGE: "#2c3e50",
}
_SEVERITY_COLOUR: Final = {
    Severity.CRITICAL: "#8e0000",
    Severity.ERROR: "#c0392b",
    Severity.WARNING: "#d35400",
    Severity.INFO: "#2471a3",
}
_REASON_TEXT: Final = {
    Reason.NEW: "new alert",
    Reason.SEVERITY_RAISED: "severity raised",
    Reason.REPEAT: "still firing (repeat notification)",
    Reason.SILENCE_ENDED: "silence ended while still firing",
    Reason.RESOLVED: "resolved",
    Reason.EXPIRED: "expired without an update from the source",
    Reason.ACKNOWLEDGED: "acknowledged",
}
_WEB_SCHEMES: Final = ("http://", "https://", "mailto:")
_DOMAIN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?")


def _timestamp(value: datetime | None) -> str:
    """``2026-11-26 22:00:00 UTC`` (the ``ts`` filter); ``-`` for no value."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _is_web_link(value: object) -> bool:
    """The ``web_link`` test: only these hrefs become anchors (no ``javascript:``)."""
    return isinstance(value, str) and value.lower().startswith(_WEB_SCHEMES)


def build_environment(templates_dir: Path | None) -> jinja2.Environment:
    """A template environment: ``templates_dir`` first, then the packaged defaults.

    ``.html`` templates are autoescaped, ``.txt`` ones are not; unknown variables fail.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(templates_dir))
    loaders.append(jinja2.FileSystemLoader(DEFAULT_TEMPLATES))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm"), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["ts"] = _timestamp
    env.tests["web_link"] = _is_web_link
    return env


def template_context(notice: Notice, *, channel: str, subject_prefix: str) -> dict[str, Any]:
    """What the templates see (documented here because user templates rely on it).

    ``alerts`` are the notice's snapshots, most severe first (stable otherwise);
    ``names`` the distinct alert names in that order, ``first_name`` and ``more_names``
    (how many other distinct names) build "KubePodNotReady and 2 more".
    """
    alerts = sorted(notice.alerts, key=lambda a: severity_rank(a.severity))
    names = list(dict.fromkeys(a.name for a in alerts))
    acknowledged_by = list(dict.fromkeys(a.acknowledged_by for a in alerts if a.acknowledged_by))
    highest = alerts[0].severity if alerts else Severity.INFO
    return {
        "notice": notice,
        "channel": channel,
        "subject_prefix": subject_prefix,
        "action": notice.action.value,
        "reason": notice.reason.value,
        "reason_text": _REASON_TEXT.get(notice.reason, notice.reason.value),
        "status_label": _STATUS_LABEL[notice.action],
        "status_colour": _STATUS_COLOUR[notice.action],
        "severity_colours": {s.value: c for s, c in _SEVERITY_COLOUR.items()},
        "created_at": notice.created_at,
        "alerts": alerts,
        "count": len(alerts),
        "names": names,
        "first_name": names[0] if names else "(no alerts)",
        "more_names": max(len(names) - 1, 0),
        "highest_severity": highest.value,
        "acknowledged_by": acknowledged_by,
    }


def _message_id(notice: Notice, sender: str) -> str:
    """Stable per notice, so a retry after a lost reply lets mail clients drop the duplicate."""
    domain = parseaddr(sender)[1].rpartition("@")[2]
    if not _DOMAIN.fullmatch(domain):
        domain = "aggregator.invalid"
    key = "|".join([notice.channel, notice.action.value, notice.reason.value,
                    notice.created_at.isoformat(), *(str(a.id) for a in notice.alerts)])
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


class _SMTP(aiosmtplib.SMTP):
    """aiosmtplib's ``close()`` only starts closing (a TLS close even waits for the peer's
    close_notify, up to 30 s); abort instead, so no socket outlives :meth:`EmailChannel.send`.
    Only called after QUIT was answered or when the exchange failed."""

    def close(self) -> None:
        transport = self.transport
        super().close()
        if isinstance(transport, asyncio.WriteTransport):
            transport.abort()


class EmailChannel:
    """Sends each notice as one mail to ``config.to`` (``groups``: a notice lists many alerts).

    A new SMTP connection per send (alert mail is rare; nothing to keep healthy). The whole
    exchange, connect to the end of DATA, is bounded by ``config.timeout``; so is each step.
    """

    Config = EmailConfig
    groups = True
    acknowledges = False
    statuses = STATUSES

    def __init__(self, name: str, config: EmailConfig) -> None:
        self.name = name
        self.max_send_seconds = config.max_send_seconds()
        self._config = config
        self._env = build_environment(config.templates_dir)

    # -- composing ---------------------------------------------------------------------

    def compose(self, notice: Notice) -> EmailMessage:
        """The mail for ``notice``. A template that fails to load or render → PermanentError."""
        context = template_context(notice, channel=self.name,
                                   subject_prefix=self._config.subject_prefix)
        subject = " ".join(self._render("subject.txt", context).split())
        text = self._render("body.txt", context)
        html = self._render("body.html", {**context, "subject": subject})
        message = EmailMessage()
        message["From"] = self._config.sender
        message["To"] = ", ".join(self._config.to)
        message["Subject"] = subject
        message["Date"] = format_datetime(datetime.now(UTC))
        message["Message-ID"] = _message_id(notice, self._config.sender)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    def _render(self, template: str, context: Mapping[str, Any]) -> str:
        try:
            return self._env.get_template(template).render(context)
        except jinja2.TemplateSyntaxError as exc:
            raise PermanentError(
                f"template {template}: syntax error at line {exc.lineno}: {exc.message}"
            ) from exc
        except jinja2.TemplateError as exc:
            raise PermanentError(f"template {template}: {exc}") from exc
        except Exception as exc:  # a user template can raise anything; rendering is pure
            raise PermanentError(f"template {template}: {type(exc).__name__}: {exc}") from exc

    # -- sending -----------------------------------------------------------------------

    def _client(self) -> _SMTP:
        config = self._config
        return _SMTP(
            hostname=config.host,
            port=config.port,
            use_tls=config.security == "tls",
            # True, never the opportunistic None: a stripped STARTTLS advertisement must
            # fail the send instead of downgrading AUTH to plain text.
            start_tls=config.security == "starttls",
            username=config.username,
            password=config.password.get_secret_value() if config.password else None,
            validate_certs=config.validate_certs,
            cert_bundle=str(config.ca_file) if config.ca_file is not None else None,
            timeout=config.timeout,
        )

    async def send(self, notice: Notice) -> None:
        """Send ``notice`` once; raise RetryableError/PermanentError (see the module table)."""
        message = self.compose(notice)
        client = self._client()
        try:
            try:
                async with asyncio.timeout(self._config.timeout):
                    await client.connect()
                    refused, _ = await client.send_message(
                        message, sender=self._config.sender, recipients=self._config.to)
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise self._translate(exc) from exc
            # Delivered once DATA is accepted; QUIT is a courtesy with a short bound, so a
            # server that stalls on it can never make the worker count the mail as failed.
            with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(min(self._config.timeout, QUIT_TIMEOUT)):
                    await client.quit()
        finally:
            client.close()
            await asyncio.sleep(0)  # one loop turn: the aborted socket's close runs now
        if refused:
            logger.warning(
                "mail delivered, but %d of %d recipients were refused",
                len(refused), len(self._config.to),
                extra={"channel": self.name,
                       "refused": {r: f"{c.code} {c.message}" for r, c in refused.items()}},
            )
        logger.info("mail sent", extra={"channel": self.name, "alerts": len(notice.alerts),
                                        "action": notice.action.value})

    async def aclose(self) -> None:
        """Nothing to release: every send opens and closes its own connection."""

    # -- error translation -------------------------------------------------------------

    def _translate(self, exc: BaseException) -> DeliveryError:
        where = f"SMTP {self._config.host}:{self._config.port}"
        error = self._classify(exc)
        error.message = self._scrub(f"{where}: {error.message}")
        error.args = (error.message,)
        return error

    def _classify(self, exc: BaseException) -> DeliveryError:
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            codes = [r.code for r in exc.recipients]
            detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            temporary = [c for c in codes if STATUSES.retries(c)]
            if temporary:
                return RetryableError(f"all recipients refused: {detail}",
                                      status_code=temporary[0])
            return PermanentError(f"all recipients refused: {detail}",
                                  status_code=codes[0] if codes else None)
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            text = f"authentication as {self._config.username!r} failed: {exc.code} {exc.message}"
            hint = "" if STATUSES.retries(exc.code) else " (fix username/password)"
            return STATUSES.error(exc.code, text + hint)
        cert = certificate_failure(exc)
        if cert is not None:
            return RetryableError(
                f"TLS certificate verification failed: {cert.verify_message or cert} "
                "(set ca_file to the server's CA, or fix the server certificate)")
        if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected
                      | aiosmtplib.SMTPTimeoutError):
            # Whatever the code (a 554 greeting too): no exchange happened, try again later.
            code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) else None
            return RetryableError(f"{type(exc).__name__}: {exc}", status_code=code)
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return STATUSES.error(exc.code, f"server replied {exc.code} {exc.message}")
        if isinstance(exc, aiosmtplib.SMTPException):
            # SMTPNotSupported and friends: the server lacks STARTTLS/AUTH/SMTPUTF8.
            return PermanentError(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, TimeoutError):
            return RetryableError(f"timed out after {self._config.timeout:g}s")
        return RetryableError(f"{type(exc).__name__}: {exc}")  # OSError, ssl.SSLError

    def _scrub(self, text: str) -> str:
        password = self._config.password.get_secret_value() if self._config.password else ""
        if password:
            text = text.replace(password, "***")
        return text[:1000]
