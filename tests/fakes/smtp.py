"""A real SMTP server on loopback for tests: aiosmtpd in its own thread, plus fault injection.

Owns nothing of the service; channel, worker and end-to-end tests use it to see what was
really sent over a socket. Typical use::

    with SmtpServer() as smtp:                       # plain SMTP on 127.0.0.1:<free port>
        ...send...
        [mail] = await smtp.wait_for(1)
        mail.subject, mail.text, mail.html, mail.rcpt_tos

    cert = make_certificate(tmp_path)                # self-signed, CN localhost, IP 127.0.0.1
    with SmtpServer(security="starttls", certificate=cert, auth=("bot", "s3cret")) as smtp:
        ...                                          # STARTTLS required, then AUTH required

    smtp.fail_next(451)                              # next DATA answered 451, then 250 again
    smtp.fail_next(550, stage="rcpt")                # next RCPT TO refused with 550
    smtp.refuse_recipient("nobody@example.com")      # always 550 for that address
    smtp.down()  /  smtp.hang()  /  smtp.up()        # refuse connections / accept but never
                                                     # greet / serve again on the same port

Messages are recorded in a lock-protected list (the server runs in another thread), so
tests read them through :attr:`SmtpServer.messages` or :meth:`SmtpServer.wait_for`.
Failed AUTH answers 535 (``AuthResult(success=False, handled=False)``; the default
``handled=True`` would send no reply and hang the client).
"""

from __future__ import annotations

import asyncio
import errno
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_T = TypeVar("_T")
Security = Literal["none", "starttls", "tls"]
Stage = Literal["mail", "rcpt", "data"]

_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.1 Mailbox unavailable, try again later",
    451: "4.3.0 Local error in processing",
    452: "4.3.1 Insufficient system storage",
    530: "5.7.0 Authentication required",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message size exceeds fixed limit",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.6.0 Transaction failed",
}


#: How long binding a fake's port again (``up``) keeps trying while the port is taken.
REBIND_SECONDS = 5.0


def address_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


def reserve_port(host: str, port: int) -> socket.socket | None:
    """Hold ``port`` bound but not listening while a fake is down, or None if it is taken.

    Connecting to it is refused as when nothing is bound at all, but while the port is
    free any outgoing loopback connection could take it as its local (ephemeral) port and
    the fake could not listen there again; the kernel does not pick a port bound like this
    for outgoing connections. ``SO_REUSEADDR`` (which the fakes' listeners use too) lets
    it bind next to connections of the closed listener that are still closing.
    """
    try:
        return bound_socket(host, port)
    except OSError:
        return None


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` with ``SO_REUSEADDR``, not listening yet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (aiosmtpd cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class CertificateUnavailableError(RuntimeError):
    """No way to make a certificate here (no ``openssl`` binary); skip TLS tests."""


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate for ``localhost`` and ``127.0.0.1`` (also its own CA)."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificate(directory: Path) -> Certificate:
    """Write ``cert.pem``/``key.pem`` into ``directory`` with the ``openssl`` CLI.

    (The ``cryptography`` package is not a dependency, so it is not used.)
    Raises :class:`CertificateUnavailableError` when openssl is missing or fails.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateUnavailableError("the openssl command is not installed")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    try:
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key_file), "-out", str(cert_file), "-days", "2",
             "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise CertificateUnavailableError(f"openssl could not make a certificate: {exc}") from exc
    return Certificate(cert_file=cert_file, key_file=key_file)


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted mail: the envelope, the parsed message and how the session looked."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    login: str | None
    tls: bool

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        """The text/plain body (decoded)."""
        return self._part("plain")

    @property
    def html(self) -> str:
        """The text/html body (decoded)."""
        return self._part("html")

    def _part(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or part.get_content_subtype() != subtype:
            raise AssertionError(f"the message has no text/{subtype} part")
        content: str = part.get_content()
        return content


@dataclass
class _Fault:
    code: int
    text: str

    def reply(self) -> str:
        return f"{self.code} {self.text}"


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[ReceivedMessage] = field(default_factory=list)
    faults: dict[str, deque[_Fault]] = field(
        default_factory=lambda: {"mail": deque(), "rcpt": deque(), "data": deque()})
    refused: dict[str, _Fault] = field(default_factory=dict)
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)

    def take(self, stage: Stage) -> _Fault | None:
        with self.lock:
            queue = self.faults[stage]
            return queue.popleft() if queue else None


def _over_tls(server: SMTP) -> bool:
    """Implicit TLS leaves ``session.ssl`` unset; the transport knows."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


class _Handler:
    """aiosmtpd hooks: apply injected faults, enforce AUTH, record accepted mail."""

    def __init__(self, state: _State, *, auth_required: bool) -> None:
        self._state = state
        self._auth_required = auth_required

    # aiosmtpd finds its hooks by these exact names.
    async def handle_MAIL(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        mail_options: list[str],
    ) -> str:
        if self._auth_required and not session.authenticated:
            return f"530 {_DEFAULT_TEXT[530]}"
        fault = self._state.take("mail")
        if fault is not None:
            return fault.reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        with self._state.lock:
            refused = self._state.refused.get(address.lower())
        fault = refused or self._state.take("rcpt")
        if fault is not None:
            return fault.reply()
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope,
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            message=message,
            raw=raw,
            login=session.auth_data if isinstance(session.auth_data, str) else None,
            tls=session.ssl is not None or _over_tls(server),
        )
        with self._state.lock:  # one step: once fail_next returns, no DATA is accepted
            queue = self._state.faults["data"]
            if queue:
                return queue.popleft().reply()
            self._state.messages.append(received)
        return "250 2.0.0 Message accepted for delivery"


class _ClosingController(Controller):
    """aiosmtpd's threaded controller, but :meth:`stop` first closes the sessions still open.

    The stock ``stop()`` cancels the tasks and closes the loop with client connections still
    open; their transports are then collected unclosed (``ResourceWarning``), which the
    test suite turns into errors. It also serves on ``sock``, bound by the caller: the stock
    ``start()`` reports a port already taken only after its whole ``ready_timeout``.
    """

    def __init__(self, *args: Any, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sock = sock
        self._sessions: list[SMTP] = []

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock,
                                       ssl=self.ssl_context)

    def factory(self) -> SMTP:
        server = super().factory()
        # Forget the sessions that are over (connected, then lost); keep those whose
        # connection_made has not run yet (a burst of connections is accepted in one go).
        self._sessions = [s for s in self._sessions
                          if s.session is None or s.transport is not None]
        self._sessions.append(server)
        return server

    async def _close_sessions(self) -> None:
        if self.server is not None:
            self.server.close()  # accept no more connections while closing these
        for _ in range(2):  # again for connections accepted before the close took effect
            await asyncio.sleep(0.025)  # also lets connection_made / connection_lost run
            for server in self._sessions:
                if server.transport is not None:
                    server.transport.close()
        self._sessions = []
        await asyncio.sleep(0.025)  # let connection_lost run before the loop stops

    def stop(self, no_assert: bool = False) -> None:
        if self._thread is not None and self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._close_sessions(), self.loop)
            try:
                future.result(timeout=5)
            except Exception:  # noqa: S110 - stopping anyway
                pass
        super().stop(no_assert)


def _discard(controller: _ClosingController) -> None:
    """Clean up a controller whose ``start()`` failed: end its thread, close its event loop
    (left open when its server never started) and its socket."""
    thread = controller._thread
    if thread is not None:
        if controller.loop.is_running():
            controller.loop.call_soon_threadsafe(controller.loop.stop)
        thread.join(timeout=5)
        controller._thread = None
    if not controller.loop.is_running() and not controller.loop.is_closed():
        controller.loop.close()
    controller._sock.close()


class SmtpServer:
    """A loopback SMTP server for one test (or module). Start with ``with`` or ``start()``.

    ``security``: ``none`` (plain), ``starttls`` (STARTTLS offered and required before MAIL)
    or ``tls`` (implicit TLS, port-465 style); the TLS modes need ``certificate``.
    ``auth=(user, password)`` requires a successful AUTH LOGIN/PLAIN before MAIL (only
    offered over TLS; plain-text AUTH is refused as unsafe).
    """

    def __init__(self, *, security: Security = "none", certificate: Certificate | None = None,
                 auth: tuple[str, str] | None = None, host: str = "127.0.0.1",
                 port: int | None = None) -> None:
        if security != "none" and certificate is None:
            raise ValueError(f"security={security!r} needs a certificate (make_certificate)")
        if auth is not None and security == "none":
            raise ValueError("AUTH without TLS is refused; use security='starttls' or 'tls'")
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._pick_port = port is None  # free_port's pick; replaced if taken before first use
        self._served = False
        self._reserved: socket.socket | None = None  # the port, held while down
        self.security: Security = security
        self.certificate = certificate
        self.auth = auth
        self._state = _State()
        self._controller: _ClosingController | None = None
        self._blackhole: socket.socket | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Serve SMTP (again) on :attr:`port`; blocks until the server answers."""
        self._close_blackhole()
        self._release_port()
        if self._controller is None:
            self._controller = self._bind(self._start_controller)
        return self

    def stop(self) -> None:
        """Stop serving; afterwards connections to :attr:`port` are refused."""
        self._release_port()
        self._close_blackhole()
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def state(self) -> Literal["up", "down", "hanging"]:
        if self._blackhole is not None:
            return "hanging"
        return "up" if self._controller is not None else "down"

    def down(self) -> None:
        """Refuse connections (nothing listens on the port) until :meth:`up`.

        The port stays reserved meanwhile (bound, not listening; see :func:`reserve_port`)."""
        self.stop()
        self._reserved = reserve_port(self.host, self.port)

    def up(self) -> None:
        """Serve SMTP again after :meth:`down` or :meth:`hang`."""
        self.start()

    def hang(self) -> None:
        """Accept TCP connections but never send the greeting (a stuck server)."""
        self.stop()
        self._blackhole = self._bind(self._listen_blackhole)

    def _listen_blackhole(self) -> socket.socket:
        listener = bound_socket(self.host, self.port)
        listener.listen(64)  # the kernel completes handshakes; nobody ever reads or writes
        return listener

    def _start_controller(self) -> _ClosingController:
        sock = bound_socket(self.host, self.port)
        try:
            controller = self._make_controller(sock)
        except BaseException:
            sock.close()
            raise
        try:
            controller.start()
        except BaseException:
            _discard(controller)
            raise
        return controller

    def _bind(self, listen: Callable[[], _T]) -> _T:
        """``listen()``, again while the port is taken (for up to ``REBIND_SECONDS``).

        Binding the same port again can find it taken: a connection may have picked it as
        its local port while it was free (before :meth:`down` reserved it, or around a
        :meth:`hang`). A port never served yet (picked by :func:`free_port`, then free
        until now) is simply replaced by another free one.
        """
        deadline = time.monotonic() + REBIND_SECONDS
        delay = 0.01
        while True:
            try:
                result = listen()
            except OSError as exc:
                if not address_in_use(exc):
                    raise
                if self._pick_port and not self._served:
                    self.port = free_port(self.host)
                    continue
                if time.monotonic() > deadline:
                    raise
            else:
                self._served = True
                return result
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _release_port(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    def _close_blackhole(self) -> None:
        if self._blackhole is not None:
            self._blackhole.close()
            self._blackhole = None

    def _make_controller(self, sock: socket.socket) -> _ClosingController:
        kwargs: dict[str, Any] = {
            "sock": sock,
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "localhost",  # skip socket.getfqdn()
            "ready_timeout": 5.0,
        }
        if self.certificate is not None and self.security == "starttls":
            kwargs["tls_context"] = self.certificate.server_context()
            kwargs["require_starttls"] = True
        elif self.certificate is not None and self.security == "tls":
            kwargs["ssl_context"] = self.certificate.server_context()
        if self.auth is not None:
            kwargs["authenticator"] = self._authenticate
            # AUTH is enforced in handle_MAIL; aiosmtpd's auth_required with
            # auth_require_tls=False (needed for implicit TLS) emits a warning.
            kwargs["auth_require_tls"] = self.security == "starttls"
        handler = _Handler(self._state, auth_required=self.auth is not None)
        return _ClosingController(handler, **kwargs)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope,
                      mechanism: str, auth_data: Any) -> AuthResult:
        assert self.auth is not None
        ok = (isinstance(auth_data, LoginPassword)
              and (auth_data.login.decode(errors="replace"),
                   auth_data.password.decode(errors="replace")) == self.auth)
        login = auth_data.login.decode(errors="replace") if isinstance(
            auth_data, LoginPassword) else ""
        with self._state.lock:
            self._state.auth_attempts.append((login, ok))
        if ok:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)  # -> 535; handled=True hangs clients

    # -- what was received -------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of the accepted mails, oldest first."""
        with self._state.lock:
            return list(self._state.messages)

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        """``(login, succeeded)`` per AUTH attempt (never the password)."""
        with self._state.lock:
            return list(self._state.auth_attempts)

    def clear(self) -> None:
        """Forget received mail (faults stay)."""
        with self._state.lock:
            self._state.messages.clear()

    async def wait_for(
        self, count: int = 1, timeout: float = 5.0,
    ) -> list[ReceivedMessage]:
        """At least ``count`` mails, polling without blocking the event loop."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.messages
            if len(received) >= count:
                return received
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} mail(s) within {timeout}s, got {len(received)}")
            await asyncio.sleep(0.01)

    def wait_for_blocking(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Like :meth:`wait_for` for synchronous tests (blocks the calling thread)."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.messages
            if len(received) >= count:
                return received
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} mail(s) within {timeout}s, got {len(received)}")
            time.sleep(0.01)

    # -- fault injection ---------------------------------------------------------------

    def fail_next(self, code: int, count: int = 1, *, stage: Stage = "data",
                  text: str | None = None) -> None:
        """Answer the next ``count`` MAIL, RCPT or DATA commands with ``code`` (then 250).

        ``stage="rcpt"`` counts RCPT TO commands, so with two recipients ``count=1``
        refuses only the first (a partial refusal) and ``count=2`` refuses both.
        """
        reply = text or _DEFAULT_TEXT.get(code, "Injected failure")
        with self._state.lock:
            self._state.faults[stage].extend(_Fault(code, reply) for _ in range(count))

    def refuse_recipient(self, address: str, code: int = 550, text: str | None = None) -> None:
        """Always answer RCPT TO ``address`` with ``code`` (until :meth:`clear_faults`)."""
        with self._state.lock:
            self._state.refused[address.lower()] = _Fault(
                code, text or _DEFAULT_TEXT.get(code, "Recipient refused"))

    def clear_faults(self) -> None:
        with self._state.lock:
            for queue in self._state.faults.values():
                queue.clear()
            self._state.refused.clear()

    # -- for the code under test ---------------------------------------------------------

    def email_config(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``EmailConfig`` that reach this server.

        Fills host, port, security, sender/recipient, ``ca_file`` (TLS modes) and the
        credentials (when ``auth`` is set); ``overrides`` win.
        """
        values: dict[str, Any] = {
            "type": "email",
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "from": "alerts@example.com",
            "to": ["oncall@example.com"],
            "timeout": 5.0,
        }
        if self.certificate is not None:
            values["ca_file"] = self.certificate.cert_file
        if self.auth is not None:
            values["username"], values["password"] = self.auth
        values.update(overrides)
        return values
