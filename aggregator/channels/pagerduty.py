"""PagerDuty channel: one notice becomes one Events API v2 event, sent with one HTTP attempt.

Owns its settings (:class:`PagerDutyConfig`), the mapping of an :class:`AlertSnapshot` to an
event body (``dedup_key`` = fingerprint, trigger / acknowledge / resolve), keeping the body
under PagerDuty's 512 KB limit by trimming instead of rejecting, and the translation of the
``pagerduty`` package's errors into :class:`RetryableError` / :class:`PermanentError` (HTTP
statuses through the table :data:`STATUSES`). It acknowledges: an acknowledged alert's
incident is acknowledged in PagerDuty too.

It must not retry, sleep or loop: the outbox worker owns retries. The ``pagerduty`` client is
synchronous and retries on its own by default (429 without limit, 5xx, network errors, with
``time.sleep``), so every retry knob is turned off here and a 429 is stopped at the
``postprocess`` hook before the library's unbounded 429 loop can see it. Calls run in a small
dedicated thread pool, never the loop's default executor. The routing key never appears in an
error or a log line.

TLS: the client verifies the Events API's certificate against the system's CAs, or against
exactly the PEM bundle ``ca_file`` when it is set (a private relay or proxy, or a test fake);
``events_url`` stays https-only either way. A failed verification is retryable (as for a mail
server: it is a configuration problem or a certificate being rotated, and a lost page is
worse than a retried one) and says so in the attempt log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import functools
import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import httpx2
import pagerduty
from pydantic import Field, SecretStr, field_validator, model_validator

from aggregator.channels.base import ChannelConfig
from aggregator.channels.status import StatusRule, StatusTable
from aggregator.channels.tls import ca_bundle_context, certificate_failure, loadable_ca_bundle
from aggregator.config.secrets import read_secret
from aggregator.errors import PermanentError, RetryableError
from aggregator.notice import Action, AlertSnapshot, Notice

logger = logging.getLogger(__name__)

#: PagerDuty accepts 512 KB per event; stay well below it (measured on the encoded body).
BODY_BUDGET_BYTES = 500_000
MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255
_MAX_FIELD_CHARS = 1024  # source, component, group, class: PagerDuty shows them in one line
_VALUE_CAPS = (65_536, 16_384, 4_096, 1_024, 256, 64)  # successive caps for detail strings
_LINK_CAPS = (2_048, 256)
_ELLIPSIS = "…"

_COMPONENT_LABELS = ("container", "pod", "azure_resource_name")
_GROUP_LABELS = ("namespace", "azure_resource_group", "job")
_SOURCE_LABELS = ("cluster", "namespace", "azure_resource_name", "azure_resource_group")


class PagerDutyConfig(ChannelConfig):
    """PagerDuty Events API v2. ``routing_key`` is the service integration key."""

    type: Literal["pagerduty"]
    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    events_url: str = Field(
        default="https://events.pagerduty.com",
        description="Events API base URL (https only; https://events.eu.pagerduty.com in EU)",
    )
    timeout: float = Field(default=10.0, gt=0, le=120)
    ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies the Events API's TLS certificate instead of "
                    "the system's CAs (a private relay or proxy)")

    _ca_bundle = field_validator("ca_file")(loadable_ca_bundle)

    @model_validator(mode="after")
    def _key(self) -> PagerDutyConfig:
        if self.routing_key_file is not None:
            self.routing_key = read_secret(self.routing_key_file, "routing_key_file")
            self.routing_key_file = None
        if self.routing_key is None or not self.routing_key.get_secret_value():
            raise ValueError("routing_key (or routing_key_file) is required")
        if not self.events_url.startswith("https://"):
            raise ValueError("events_url must start with https://")
        return self

    def max_send_seconds(self) -> float:
        return self.timeout + 1.0  # one attempt, plus the thread hand-off


#: The Events API's answers (HTTP status). 2xx reaches here only without a ``dedup_key``
#: in the body: accepted or not, ask again later. Fields: ``status``, ``reason`` (PagerDuty's
#: message), ``channel``.
STATUSES: Final = StatusTable(
    rules=(
        StatusRule((429,), retry=True, retry_after=True,
                   text="PagerDuty rate limit (HTTP 429): {reason}"),
        StatusRule(frozenset({408, *range(500, 600)}), retry=True,
                   text="PagerDuty server error (HTTP {status}): {reason}"),
        StatusRule(range(200, 300), retry=True,
                   text="PagerDuty answered HTTP {status} with an unexpected body: {reason}"),
        StatusRule((400,), retry=False,
                   text="PagerDuty rejected the event (HTTP 400): {reason}"),
        StatusRule((401, 403, 404), retry=False,
                   text="PagerDuty refused the event (HTTP {status}): check the routing key "
                        "and events_url of channel {channel!r}; {reason}"),
    ),
    default=StatusRule((), retry=False, text="PagerDuty answered HTTP {status}: {reason}"),
)


class _RateLimitedError(Exception):
    """Raised from the client's ``postprocess`` hook so that a 429 ends the call at once."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__("rate limited")
        self.response = response


class _EventsClient(pagerduty.EventsApiV2Client):
    """The library client with its one unbounded retry (HTTP 429) cut off.

    ``ApiClient.request`` retries a 429 forever when ``retry[429]`` is 0 (the default) and at
    least once for any positive value; ``postprocess`` runs after every response and before
    that decision, and an exception raised there propagates (only transport errors are
    caught), so the 429 reaches us after exactly one request.
    """

    def postprocess(self, response: httpx2.Response) -> None:
        if response.status_code == 429:
            raise _RateLimitedError(response)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + _ELLIPSIS


def _first_label(labels: dict[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = labels.get(key, "").strip()
        if value:
            return value
    return ""


def dedup_key_of(alert: AlertSnapshot) -> str:
    """The fingerprint; an over-long one becomes its sha256 so the key stays stable."""
    if 0 < len(alert.fingerprint) <= MAX_DEDUP_KEY_CHARS:
        return alert.fingerprint
    return "sha256:" + hashlib.sha256(alert.fingerprint.encode()).hexdigest()


def trigger_payload(alert: AlertSnapshot, notice: Notice) -> dict[str, Any]:
    """The ``payload`` object of a trigger event (before any size trimming)."""
    summary = (alert.summary or alert.name).strip() or f"{alert.name or 'alert'} firing"
    source = (alert.resource.strip() or _first_label(alert.labels, _SOURCE_LABELS)
              or str(alert.source))
    payload: dict[str, Any] = {
        "summary": _clip(summary, MAX_SUMMARY_CHARS),
        "source": _clip(source, _MAX_FIELD_CHARS),
        "severity": str(alert.severity),
        "timestamp": alert.starts_at.isoformat(),
        "class": _clip(alert.name, _MAX_FIELD_CHARS),
        "custom_details": {
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "occurrences": alert.occurrences,
            "source": str(alert.source),
            "description": alert.description,
            "reason": str(notice.reason),
        },
    }
    component = _first_label(alert.labels, _COMPONENT_LABELS)
    if component:
        payload["component"] = _clip(component, _MAX_FIELD_CHARS)
    group = _first_label(alert.labels, _GROUP_LABELS)
    if group:
        payload["group"] = _clip(group, _MAX_FIELD_CHARS)
    return payload


def body_size(event: dict[str, Any], routing_key_length: int = 32) -> int:
    """Bytes of the body httpx2 will send (compact UTF-8 JSON, routing key included)."""
    sized = {**event, "routing_key": "k" * routing_key_length}
    return len(json.dumps(sized, ensure_ascii=False, separators=(",", ":")).encode())


def _cap_details(details: dict[str, Any], cap: int) -> bool:
    """Shorten every long string in ``details`` (description, label/annotation values)."""
    changed = False
    description = details.get("description")
    if isinstance(description, str) and len(description) > cap:
        details["description"] = _clip(description, cap)
        changed = True
    for field in ("labels", "annotations"):
        mapping = details.get(field)
        if not isinstance(mapping, dict):
            continue
        capped: dict[str, Any] = {}
        for key, value in mapping.items():
            new_key = _clip(key, min(cap, 256))
            new_value = _clip(value, cap) if isinstance(value, str) else value
            changed = changed or new_key != key or new_value != value
            capped[new_key] = new_value
        details[field] = capped
    return changed


def fit_event(event: dict[str, Any], budget: int = BODY_BUDGET_BYTES,
              routing_key_length: int = 32) -> dict[str, Any]:
    """Trim a trigger event until its body fits ``budget``; never gives up.

    Order: long strings in ``custom_details`` (ever smaller caps), then whole
    ``custom_details`` entries (the largest first), then links, then the summary and the
    other payload strings. ``custom_details["_trimmed"]`` is set once anything was cut.
    """

    def fits() -> bool:
        return body_size(event, routing_key_length) <= budget

    if fits():
        return event
    payload: dict[str, Any] = event["payload"]
    details: dict[str, Any] = payload.setdefault("custom_details", {})
    details["_trimmed"] = True
    for cap in _VALUE_CAPS:
        _cap_details(details, cap)
        if fits():
            return event
    dropped: list[str] = []
    while not fits():
        candidates = [k for k in details if k not in ("_trimmed", "_dropped")]
        if not candidates:
            break
        largest = max(candidates, key=lambda k: len(json.dumps(details[k], ensure_ascii=False)))
        del details[largest]
        dropped.append(largest)
        details["_dropped"] = dropped
    if fits():
        return event
    for cap in _LINK_CAPS:
        event["links"] = [{k: _clip(str(v), cap) for k, v in link.items()}
                          for link in event.get("links", [])]
        if fits():
            return event
    event.pop("links", None)
    for cap in (256, 64):
        for field in ("summary", "source", "component", "group", "class"):
            if isinstance(payload.get(field), str):
                payload[field] = _clip(payload[field], cap)
        if fits():
            break
    return event


def build_event(notice: Notice) -> dict[str, Any]:
    """The Events API body for ``notice`` without ``routing_key`` (the client adds it)."""
    if len(notice.alerts) != 1:
        raise PermanentError(
            f"a PagerDuty notice carries exactly one alert, got {len(notice.alerts)}")
    alert = notice.alerts[0]
    event: dict[str, Any] = {"event_action": str(notice.action),
                             "dedup_key": dedup_key_of(alert)}
    if notice.action is Action.TRIGGER:
        event["payload"] = trigger_payload(alert, notice)
        if alert.links:
            event["links"] = [{"href": link.href, "text": link.text} for link in alert.links]
    return event


def retry_after_of(response: httpx2.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _pagerduty_reason(response: httpx2.Response) -> str:
    """PagerDuty's ``message`` and ``errors`` from an error body, or a bit of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip()
    if not isinstance(body, dict):
        return str(body)[:300]
    message = str(body.get("message") or body.get("status") or "").strip()
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        listed = "; ".join(str(e) for e in errors)
        return f"{message}: {listed}" if message else listed
    return message


class PagerDutyChannel:
    """Sends one alert per notice to one PagerDuty service (its routing key)."""

    Config = PagerDutyConfig
    groups = False
    acknowledges = True
    statuses = STATUSES

    def __init__(
        self,
        name: str,
        config: PagerDutyConfig,
        *,
        executor: concurrent.futures.ThreadPoolExecutor | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        if config.routing_key is None:  # the config validator guarantees it
            raise ValueError("routing_key is required")
        self.name = name
        self.max_send_seconds = config.max_send_seconds()
        self._secret = config.routing_key.get_secret_value()
        self._owns_executor = executor is None
        self._executor = executor or concurrent.futures.ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="pagerduty")
        extra: dict[str, Any] = {} if transport is None else {"transport": transport}
        if config.ca_file is not None:
            # httpx2 takes the CA at construction (``verify=``): there is no session to
            # re-point afterwards, and ``verify=<path str>`` is deprecated there.
            extra["verify"] = ca_bundle_context(config.ca_file)
        client = _EventsClient(self._secret, base_url=config.events_url, **extra)
        # The constructor's timeout= is ignored: a class attribute (typed int) is sent instead.
        client.timeout = config.timeout  # type: ignore[assignment]
        client.retry = {}  # drop the 5xx retries (500: 2, 502: 4, 503/504: 6)
        client.retry[429] = 1  # bound, should postprocess ever stop seeing the 429 first
        client.max_network_attempts = 0  # the first transport error raises pagerduty.Error
        client.sleep_timer = 0.05
        self._client = client
        self._closed = False

    async def send(self, notice: Notice) -> None:
        if self._closed:
            raise RetryableError(f"channel {self.name!r} is closed")
        event = build_event(notice)
        if notice.action is Action.TRIGGER:
            event = fit_event(event, routing_key_length=len(self._secret))
        loop = asyncio.get_running_loop()
        call = functools.partial(self._post, event)
        await loop.run_in_executor(self._executor, call)
        logger.debug("pagerduty event accepted", extra={
            "channel": self.name, "action": str(notice.action),
            "dedup_key": event["dedup_key"]})

    def _post(self, event: dict[str, Any]) -> None:
        """Runs in the pool thread: one request, errors translated."""
        properties = {k: v for k, v in event.items() if k not in ("event_action", "dedup_key")}
        try:
            self._client.send_event(event["event_action"], dedup_key=event["dedup_key"],
                                    **properties)
        except _RateLimitedError as exc:
            raise self._http_error(exc.response) from exc
        except pagerduty.Error as exc:
            if isinstance(exc.response, httpx2.Response):  # HttpError, ServerHttpError
                raise self._http_error(exc.response) from exc
            # no response: the transport failed (refused, reset, timeout, TLS)
            cert = certificate_failure(exc)
            if cert is not None:
                raise RetryableError(self._scrub(
                    "PagerDuty TLS certificate verification failed: "
                    f"{cert.verify_message or cert} (set ca_file to the CA of events_url, "
                    "or fix the server certificate)")) from exc
            cause = exc.__cause__
            what = type(cause).__name__ if cause is not None else "error"
            detail = str(cause) if cause is not None else ""
            raise RetryableError(self._scrub(
                f"PagerDuty unreachable ({what}{': ' + detail if detail else ''})")) from exc
        except httpx2.HTTPError as exc:
            raise RetryableError(self._scrub(
                f"PagerDuty request failed ({type(exc).__name__}: {exc})")) from exc

    def _http_error(self, response: httpx2.Response) -> Exception:
        status = response.status_code
        text = STATUSES.rule(status).text.format(
            status=status, reason=_pagerduty_reason(response), channel=self.name)
        return STATUSES.error(status, self._scrub(text), retry_after=retry_after_of(response))

    def _scrub(self, text: str) -> str:
        """Remove the routing key from error text (a remote body could echo it)."""
        return text.replace(self._secret, "<routing key>")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._client.close)
        finally:
            if self._owns_executor:
                self._executor.shutdown(wait=False, cancel_futures=True)
