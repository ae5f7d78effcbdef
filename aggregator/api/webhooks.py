"""``POST /webhooks/{source}``: authenticate, read within the size limit, parse, ingest, answer.

202 only after the commit, with counts. A body that can never succeed is answered
400/413/415/422 and kept in ``rejected_payloads``; if even that cannot be stored the
answer is 503, so the sender retries and nothing disappears silently.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import DataError

from aggregator.api.auth import redacted_headers, redacted_url
from aggregator.api.context import Services, services_of
from aggregator.api.responses import error_response, json_response
from aggregator.api.schemas import IngestOut
from aggregator.errors import PayloadError
from aggregator.model import Source
from aggregator.pipeline.ingest import IngestRequest
from aggregator.sources import SOURCES, Parsed
from aggregator.store.history import add_rejected
from aggregator.store.tables import RejectedPayloadRow

log = logging.getLogger(__name__)

_JSON_TYPES = ("application/json", "text/json")


class _RejectedError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 body: bytes = b"", body_size: int = 0) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.body, self.body_size = body, body_size


async def _read_body(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            kept = b"".join(chunks)[:limit]
            declared = request.content_length or size
            raise _RejectedError(413, "payload_too_large",
                            f"body exceeds the {limit}-byte limit (setting max_body_bytes)",
                            body=kept, body_size=max(declared, size))


def _reject_on_constant(name: str) -> object:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _storable(text: str) -> str:
    # U+0000 and lone surrogates are valid JSON escapes, but PostgreSQL cannot store them
    # and they cannot be encoded as UTF-8 (the fingerprint hashes UTF-8): use U+FFFD.
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _without_nul(value: Any) -> Any:
    """Every string made storable (see ``_storable``), keys included."""
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


# A NUL or a UTF-16 surrogate can only reach a JSON string as an escape: look for those.
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _decode(body: bytes, content_type: str) -> object:
    if content_type and not (content_type in _JSON_TYPES or content_type.endswith("+json")):
        raise _RejectedError(415, "unsupported_media_type",
                        f"Content-Type must be application/json, not {content_type}",
                        body=body, body_size=len(body))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _RejectedError(400, "invalid_json", f"body is not valid UTF-8 (byte {exc.start})",
                        body=body, body_size=len(body)) from exc
    try:
        payload = json.loads(text, parse_constant=_reject_on_constant, parse_float=_finite)
    except RecursionError as exc:
        raise _RejectedError(400, "invalid_json", "JSON nested too deeply",
                        body=body, body_size=len(body)) from exc
    except ValueError as exc:
        raise _RejectedError(400, "invalid_json", f"body is not valid JSON: {exc}",
                        body=body, body_size=len(body)) from exc
    # Walk the payload only when such an escape occurs (almost never).
    return _without_nul(payload) if _UNSTORABLE_ESCAPE.search(text) else payload


def _parse(services: Services, source: Source, payload: object, received_at: datetime,
           body: bytes) -> Parsed:
    try:
        return SOURCES[source].parse(payload, received_at=received_at,
                                     default_severity=services.settings.default_severity)
    except PayloadError as exc:
        raise _RejectedError(exc.status, "invalid_payload", exc.message, exc.field,
                        body=body, body_size=len(body)) from exc
    except RecursionError as exc:
        raise _RejectedError(422, "invalid_payload", "payload nested too deeply",
                        body=body, body_size=len(body)) from exc


async def _keep(services: Services, source: Source, request: web.Request,
                rejected: _RejectedError, received_at: datetime) -> None:
    row = RejectedPayloadRow(
        received_at=received_at, source=source.value, status_code=rejected.status,
        reason=_without_nul(rejected.message[:4000]), field=_without_nul(rejected.field),
        content_type=request.headers.get("Content-Type", "")[:256],
        remote=(request.remote or "")[:256],
        headers={**redacted_headers(request), ":path": redacted_url(request)},
        body=rejected.body, body_size=rejected.body_size,
    )
    async with services.db.write() as session, session.begin():
        await add_rejected(session, row)


async def _refuse(services: Services, source: Source, request: web.Request,
                  rejected: _RejectedError, received_at: datetime) -> web.Response:
    services.metrics.rejected.labels(source.value, str(rejected.status)).inc()
    log.info("rejected %s payload (%d): %s", source.value, rejected.status, rejected.message)
    await _keep(services, source, request, rejected, received_at)
    return error_response(rejected.status, rejected.code, rejected.message, rejected.field)


async def receive(request: web.Request, source: Source) -> web.Response:
    services = services_of(request)
    started = time.perf_counter()
    received_at = services.clock()
    services.auth.check_webhook(source, request)
    try:
        body = await _read_body(request, services.settings.max_body_bytes)
        payload = _decode(body, request.content_type if "Content-Type" in request.headers else "")
        parsed = _parse(services, source, payload, received_at, body)
    except _RejectedError as rejected:
        return await _refuse(services, source, request, rejected, received_at)

    alerts, truncated = parsed.alerts, parsed.truncated
    try:
        if services.ingest is None:
            raise RuntimeError("ingest used before the application started")
        result = await services.ingest(IngestRequest(alerts, received_at, truncated))
    except DataError as exc:
        # The database refused a value for good (retrying cannot help): keep it, say why.
        refused = _RejectedError(422, "invalid_payload",
                                 f"the database refused a value: {str(exc.orig)[:300]}",
                                 body=body, body_size=len(body))
        return await _refuse(services, source, request, refused, received_at)
    if result.notifications:
        services.wake()
    for decision in result.decisions:
        services.metrics.alerts.labels(source.value, decision.verdict.value).inc()
    if truncated:
        services.metrics.truncated.inc(truncated)
    services.metrics.ingest_seconds.labels(source.value).observe(time.perf_counter() - started)
    return json_response(IngestOut(**result.counts()), status=202)


async def alertmanager_webhook(request: web.Request) -> web.Response:
    """Receive an Alertmanager webhook (version 4) message."""
    return await receive(request, Source.ALERTMANAGER)


async def azure_monitor_webhook(request: web.Request) -> web.Response:
    """Receive an Azure Monitor action-group webhook (common schema or a legacy schema)."""
    return await receive(request, Source.AZURE_MONITOR)


__all__ = ["alertmanager_webhook", "azure_monitor_webhook", "error_response"]
