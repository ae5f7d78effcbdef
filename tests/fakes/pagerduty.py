"""A loopback fake of the PagerDuty Events API v2 (``POST /v2/enqueue``) for tests.

Owns: an aiohttp server on 127.0.0.1 that validates events as PagerDuty documents them
(400 ``invalid event`` with ``errors``, 202 ``success`` with the ``dedup_key``), enforces the
512 KB body limit, keeps alert state per (routing key, dedup key), records every request,
and injects faults (forced statuses, Retry-After, delays, dropped connections, requests held
without an answer, an outage with connection refused on the same port, a sliding-window rate
limit). :class:`LoopbackTransport` lets the real ``pagerduty`` client keep its
``https://events.pagerduty.com`` URL while the bytes go to the fake.

Usage::

    async with pagerduty_fake() as fake:
        channel = PagerDutyChannel("pd", config, transport=fake.transport())
        fake.fail_next(2, status=500)
        ...
        assert fake.incident(fingerprint).status == "acknowledged"

    cert = make_certificate(tmp_path)               # tests.fakes.smtp: self-signed, 127.0.0.1
    async with pagerduty_fake(certificate=cert) as fake:   # HTTPS on 127.0.0.1 only
        config = PagerDutyConfig(**fake.channel_config())  # events_url=fake.url, ca_file=cert
        channel = PagerDutyChannel("pd", config)    # the real client, real TLS, no transport
        fake.hang_next()                            # held without an answer (never applied)
        fake.respond_with(lambda received: Fault(hang=True))   # ... every request from now
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
from aiohttp import web

from tests.fakes.smtp import REBIND_SECONDS, Certificate, address_in_use, reserve_port

#: A syntactically valid 32-character integration key for tests.
ROUTING_KEY = "R0UT1NGk3yF0rT3sts0nlyAbCdEf0123"
MAX_BODY_BYTES = 512 * 1024
SEVERITIES = frozenset({"critical", "error", "warning", "info"})
ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})

assert len(ROUTING_KEY) == 32


@dataclass(frozen=True)
class Fault:
    """How to answer one request instead of (or before) processing it.

    ``status`` set: answer it (with ``body`` or a PagerDuty-like default, and ``Retry-After``
    when ``retry_after`` is given). ``status`` None: process normally after ``delay``
    seconds. ``disconnect``: close the connection without an answer. ``hang``: hold the
    request without an answer until the client gives up (closes the connection),
    :meth:`PagerDutyFake.release` or the fake closes; a held request is never applied.
    """

    status: int | None = None
    retry_after: float | str | None = None
    body: Any = None
    delay: float = 0.0
    disconnect: bool = False
    hang: bool = False


@dataclass
class Received:
    """One request as it arrived, and what the fake did with it."""

    received_at: datetime
    monotonic: float
    path: str
    headers: dict[str, str]
    size: int
    body: Any  # the decoded JSON, or None when it did not decode
    status: int | None = None  # the answer; None when the connection was dropped
    response: Any = None
    applied: bool = False  # changed (or opened) an alert

    @property
    def action(self) -> str | None:
        return self.body.get("event_action") if isinstance(self.body, dict) else None

    @property
    def dedup_key(self) -> str | None:
        return self.body.get("dedup_key") if isinstance(self.body, dict) else None


@dataclass
class FakeAlert:
    """A PagerDuty alert: opened by a trigger, then acknowledged and/or resolved."""

    routing_key: str
    dedup_key: str
    status: str  # "triggered" | "acknowledged" | "resolved"
    opened_at: datetime
    payload: dict[str, Any]
    links: list[Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # every applied body

    @property
    def open(self) -> bool:
        return self.status != "resolved"


Responder = Callable[[Received], Fault | None]


class PagerDutyFake:
    """The fake server. Start with ``async with`` or :meth:`start`; see the module doc."""

    def __init__(self, *, port: int = 0, rate_limit: int | None = None,
                 routing_keys: set[str] | None = None,
                 certificate: Certificate | None = None) -> None:
        # certificate: serve HTTPS with it (make_certificate in tests.fakes.smtp); else HTTP
        self.certificate = certificate
        self.rate_limit = rate_limit  # events per routing key per sliding 60 s; None = off
        self.routing_keys = routing_keys  # None accepts any 32-character key
        self.requests: list[Received] = []
        self.alerts: list[FakeAlert] = []  # every alert ever opened, oldest first
        self._open: dict[tuple[str, str], FakeAlert] = {}
        self._faults: collections.deque[Fault] = collections.deque()
        self._responder: Responder | None = None
        self._windows: dict[str, collections.deque[float]] = {}
        self._port = port
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()
        # the requests held by a hang fault right now, each with what releases it
        self._held: dict[asyncio.Future[None], Received] = {}
        self._reserved: socket.socket | None = None  # the port, held while down

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> PagerDutyFake:
        """Listen on the port (a free one the first time). Binding the same port again can
        find it taken for a moment (see :func:`tests.fakes.smtp.reserve_port`): tried again
        for up to ``REBIND_SECONDS``."""
        self._release_port()
        deadline = time.monotonic() + REBIND_SECONDS
        delay = 0.01
        while True:
            try:
                await self._listen()
                return self
            except OSError as exc:
                if self._port == 0 or not address_in_use(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _listen(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v2/enqueue", self._handle)
        app.router.add_post("/v2/change/enqueue", self._handle_change)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True,
                               shutdown_timeout=0.5)
        await runner.setup()
        tls = self.certificate.server_context() if self.certificate is not None else None
        site = web.TCPSite(runner, "127.0.0.1", self._port, ssl_context=tls)  # loopback only
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._port = runner.addresses[0][1]
        self._runner = runner

    async def close(self) -> None:
        self._release_port()
        await self._stop()

    async def _stop(self) -> None:
        self.release()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> PagerDutyFake:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def down(self) -> None:
        """Stop listening and drop open connections: clients get connection refused.

        The port stays reserved (bound, not listening: still a refusal) until :meth:`up`,
        so no outgoing connection can take it as its local port meanwhile."""
        await self._stop()
        self._release_port()
        self._reserved = reserve_port("127.0.0.1", self._port)

    async def up(self) -> None:
        """Listen again on the same port (state and records are kept)."""
        if self._runner is None:
            await self.start()

    def _release_port(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        await self.down()
        try:
            yield
        finally:
            await self.up()

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        scheme = "https" if self.certificate is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    def channel_config(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for ``PagerDutyConfig`` reaching this fake without a transport
        (HTTPS fakes only: the client refuses http): ``events_url`` and ``ca_file``."""
        if self.certificate is None:
            raise ValueError("the client needs https: start the fake with a certificate, or "
                             "use transport()")
        values: dict[str, Any] = {"type": "pagerduty", "routing_key": ROUTING_KEY,
                                  "events_url": self.url,
                                  "ca_file": self.certificate.cert_file}
        values.update(overrides)
        return values

    def transport(self, **kwargs: Any) -> LoopbackTransport:
        """A transport for ``EventsApiV2Client`` / ``PagerDutyChannel`` that reaches this fake."""
        return LoopbackTransport(self, **kwargs)

    # --- fault injection ----------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, retry_after: float | str | None = None,
                  body: Any = None) -> None:
        """Answer the next ``n`` requests with ``status`` (nothing is recorded as applied)."""
        self._faults.extend(Fault(status=status, retry_after=retry_after, body=body)
                            for _ in range(n))

    def slow_next(self, n: int = 1, delay: float = 1.0) -> None:
        """Wait ``delay`` seconds before processing each of the next ``n`` requests."""
        self._faults.extend(Fault(delay=delay) for _ in range(n))

    def disconnect_next(self, n: int = 1) -> None:
        """Close the connection without answering the next ``n`` requests."""
        self._faults.extend(Fault(disconnect=True) for _ in range(n))

    def hang_next(self, n: int = 1) -> None:
        """Hold each of the next ``n`` requests without an answer (see ``Fault.hang``)."""
        self._faults.extend(Fault(hang=True) for _ in range(n))

    @property
    def held_requests(self) -> list[Received]:
        """The requests held right now by a hang fault (their clients are still waiting)."""
        return [received for held, received in self._held.items() if not held.done()]

    @property
    def hanging(self) -> int:
        """How many requests are held right now."""
        return len(self.held_requests)

    def release(self) -> None:
        """Drop the connection of every held request (still unanswered, never applied)."""
        for held in self._held:
            if not held.done():
                held.set_result(None)

    def respond_with(self, responder: Responder | None) -> None:
        """Consulted for every request once the queued faults are used up; None to remove."""
        self._responder = responder

    def reset(self) -> None:
        """Forget records, alerts and pending faults (the listener stays as it is)."""
        self.requests.clear()
        self.alerts.clear()
        self._open.clear()
        self._faults.clear()
        self._responder = None
        self._windows.clear()

    # --- inspection ---------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return len(self.requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Bodies of the events answered 202, in arrival order."""
        return [r.body for r in self.requests if r.status == 202 and isinstance(r.body, dict)]

    def incident(self, dedup_key: str, routing_key: str | None = None) -> FakeAlert | None:
        """The newest alert with ``dedup_key`` (and ``routing_key``, if given)."""
        for alert in reversed(self.alerts):
            if alert.dedup_key == dedup_key and routing_key in (None, alert.routing_key):
                return alert
        return None

    async def wait_for_requests(self, count: int) -> list[Received]:
        """Wait until at least ``count`` requests have arrived (answered or not).

        Gives up with ``TimeoutError`` after 10 s; wrap it in ``asyncio.timeout`` for less.
        """
        async with asyncio.timeout(10), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    # --- the endpoint -------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Received:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        received = Received(
            received_at=datetime.now(UTC), monotonic=time.monotonic(), path=request.path,
            headers=dict(request.headers), size=len(raw), body=body)
        self.requests.append(received)
        async with self._arrived:
            self._arrived.notify_all()
        return received

    def _next_fault(self, received: Received) -> Fault | None:
        if self._faults:
            return self._faults.popleft()
        if self._responder is not None:
            return self._responder(received)
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        fault = self._next_fault(received)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.hang:
                # Ends when the client closes the connection (aiohttp then cancels this
                # handler: handler_cancellation) or by release(); then no answer at all.
                held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._held[held] = received
                try:
                    await held
                finally:
                    del self._held[held]
            if fault.hang or fault.disconnect:
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError  # aiohttp ends the handler quietly
            if fault.status is not None:
                return self._answer(received, fault.status, _fault_body(fault),
                                    retry_after=fault.retry_after)
        if self.rate_limit is not None and self._throttled(received):
            return self._answer(received, 429, {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. "
                           "Please retry later."})
        errors = validate_event(received.body, received.size, self.routing_keys)
        if errors:
            return self._answer(received, 400, {"status": "invalid event",
                                                "message": "Event object is invalid",
                                                "errors": errors})
        event: dict[str, Any] = received.body
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        received.applied = self._apply(event, dedup_key, received.received_at)
        return self._answer(received, 202, {"status": "success", "message": "Event processed",
                                            "dedup_key": dedup_key})

    async def _handle_change(self, request: web.Request) -> web.StreamResponse:
        received = await self._record(request)
        return self._answer(received, 202, {"status": "success",
                                            "message": "Change event processed"})

    def _answer(self, received: Received, status: int, body: Any, *,
                retry_after: float | str | None = None) -> web.Response:
        received.status = status
        received.response = body
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    def _throttled(self, received: Received) -> bool:
        key = received.body.get("routing_key") if isinstance(received.body, dict) else None
        window = self._windows.setdefault(str(key), collections.deque())
        while window and received.monotonic - window[0] >= 60.0:
            window.popleft()
        if self.rate_limit is not None and len(window) >= self.rate_limit:
            return True
        window.append(received.monotonic)
        return False

    def _apply(self, event: dict[str, Any], dedup_key: str, at: datetime) -> bool:
        """PagerDuty's dedup rules: ack/resolve only touch an open alert of the same key."""
        slot = (event["routing_key"], dedup_key)
        alert = self._open.get(slot)
        action = event["event_action"]
        if action == "trigger":
            if alert is None:
                alert = FakeAlert(routing_key=slot[0], dedup_key=dedup_key, status="triggered",
                                  opened_at=at, payload=event["payload"],
                                  links=list(event.get("links") or []))
                self.alerts.append(alert)
                self._open[slot] = alert
            else:  # deduplicated into the open alert; its state does not change
                alert.payload = event["payload"]
            alert.events.append(event)
            return True
        if alert is None:
            return False  # dropped, as PagerDuty does
        alert.events.append(event)
        if action == "acknowledge":
            alert.status = "acknowledged"
        else:
            alert.status = "resolved"
            del self._open[slot]
        return True


def _fault_body(fault: Fault) -> Any:
    if fault.body is not None:
        return fault.body
    status = fault.status or 500
    if status == 429:
        return {"status": "throttle event",
                "message": "Requests for this service are arriving too quickly. "
                           "Please retry later."}
    if status == 400:
        return {"status": "invalid event", "message": "Event object is invalid",
                "errors": ["forced by the test"]}
    if status >= 500:
        return "<html><body><h1>Server Error</h1></body></html>"
    return {"status": "error", "message": f"forced HTTP {status}"}


def _blank(value: Any) -> bool:
    return not isinstance(value, str) or not value.strip()


def validate_event(body: Any, size: int, routing_keys: set[str] | None = None) -> list[str]:
    """PagerDuty's documented checks for an Events API v2 body; empty when valid."""
    if size > MAX_BODY_BYTES:
        return [f"Payload too large: {size} bytes (the limit is {MAX_BODY_BYTES} bytes)"]
    if not isinstance(body, dict):
        return ["Event object is not valid JSON"]
    errors: list[str] = []
    key = body.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif routing_keys is not None and key not in routing_keys:
        errors.append("Invalid routing key")
    action = body.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is missing or blank" if action is None else
                      "'event_action' must be one of trigger, acknowledge, resolve")
    dedup_key = body.get("dedup_key")
    if dedup_key is not None:
        if not isinstance(dedup_key, str):
            errors.append("'dedup_key' must be a string")
        elif len(dedup_key) > 255:
            errors.append("Length of 'dedup_key' is too long (maximum is 255 characters)")
    if action in ("acknowledge", "resolve") and _blank(dedup_key):
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        errors.extend(_validate_payload(body.get("payload")))
    links = body.get("links", [])
    if not isinstance(links, list) or any(
            not isinstance(link, dict) or _blank(link.get("href")) for link in links):
        errors.append("'links' must be a list of objects with an 'href'")
    images = body.get("images", [])
    if not isinstance(images, list) or any(
            not isinstance(image, dict) or _blank(image.get("src")) for image in images):
        errors.append("'images' must be a list of objects with a 'src'")
    return errors


def _validate_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors: list[str] = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or _blank(summary):
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("Length of 'payload.summary' is too long (maximum is 1024 characters)")
    if _blank(payload.get("source")):
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' must be one of critical, error, warning, info")
    timestamp = payload.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(str(timestamp))
        except ValueError:
            errors.append("'payload.timestamp' is not an ISO 8601 date-time")
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict | str):
        errors.append("'payload.custom_details' must be an object")
    return errors


class LoopbackTransport(httpx2.HTTPTransport):
    """Sends every request (e.g. ``https://events.pagerduty.com/v2/enqueue``) to the fake
    on 127.0.0.1, reading the port at request time (so it follows restarts), over plain
    HTTP (or HTTPS when the fake has a certificate: pass ``verify=`` for it).

    The ``pagerduty`` client refuses non-https base URLs, so this is how it reaches a fake
    while keeping its real configuration.
    """

    def __init__(self, fake: PagerDutyFake, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fake = fake

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        scheme = "https" if self._fake.certificate is not None else "http"
        request.url = request.url.copy_with(scheme=scheme, host="127.0.0.1",
                                            port=self._fake.port)
        return super().handle_request(request)


@contextlib.asynccontextmanager
async def pagerduty_fake(**kwargs: Any) -> AsyncIterator[PagerDutyFake]:
    """Start a fake (``PagerDutyFake(**kwargs)``) for the body of the ``async with``."""
    fake = PagerDutyFake(**kwargs)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
