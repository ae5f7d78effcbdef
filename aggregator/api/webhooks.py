"""``POST`` on each source's webhook path: authenticate, read within the size limit, hand the
body to :meth:`~aggregator.pipeline.ingest.Ingest.submit`, answer.

202 only after the commit, with counts. A body that can never succeed is answered
400/413/415/422 (the ingest keeps it in ``rejected_payloads`` first); if even that cannot
be stored the answer is 503, so the sender retries and nothing disappears silently.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from aggregator.api.auth import redacted_headers, redacted_url
from aggregator.api.context import services_of
from aggregator.api.responses import error_response, json_response
from aggregator.api.schemas import IngestOut
from aggregator.errors import PayloadError
from aggregator.pipeline.ingest import Delivery
from aggregator.sources import SourceSpec


async def _read_body(request: web.Request, limit: int) -> tuple[bytes, int | None]:
    """The body, or its first ``limit`` bytes and the size it had when it is larger."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks), None
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], max(request.content_length or size, size)


async def receive(request: web.Request, spec: SourceSpec) -> web.Response:
    services = services_of(request)
    started = time.perf_counter()
    received_at = services.clock()
    services.auth.check_webhook(spec.source, request)
    limit = services.settings.max_body_bytes
    body, oversize = await _read_body(request, limit)
    delivery = Delivery(
        source=spec.source, body=body, received_at=received_at, body_size=oversize,
        media_type=request.content_type if "Content-Type" in request.headers else "",
        content_type=request.headers.get("Content-Type", ""),
        headers=lambda: {**redacted_headers(request), ":path": redacted_url(request)},
        remote=request.remote or "",
    )
    try:
        if oversize is not None:
            refused = PayloadError(f"body exceeds the {limit}-byte limit (setting max_body_bytes)",
                                   status=413, code="payload_too_large")
            await services.ingest.refuse(delivery, refused)
            raise refused
        result = await services.ingest.submit(delivery)
    except PayloadError as exc:
        return error_response(exc.status, exc.code or "invalid_payload", exc.message, exc.field)
    services.metrics.ingest_seconds.labels(spec.source.value).observe(
        time.perf_counter() - started)
    return json_response(IngestOut(**result.counts()), status=202)


def handler_for(spec: SourceSpec) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The webhook handler of one source."""

    async def handler(request: web.Request) -> web.Response:
        return await receive(request, spec)

    handler.__name__ = f"{spec.source.value}_webhook"
    handler.__doc__ = spec.summary
    return handler
