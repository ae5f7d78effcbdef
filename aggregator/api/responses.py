"""JSON responses and the error middleware: which failures become which status codes.

Webhook routes never answer 500: an unexpected failure there is answered 503 with
``Retry-After``, since both senders retry a 503 and nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from aggregator.api.context import services_of
from aggregator.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    PayloadError,
    TransientError,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEBHOOK_PREFIX = "/webhooks/"


def json_response(model: BaseModel, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=model.model_dump_json().encode(), status=status,
        content_type="application/json", headers=headers or None,
    )


def error_response(status: int, code: str, message: str, field: str | None = None,
                   **headers: str) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, "field": field}
    return web.json_response({"error": body}, status=status, headers=headers or None)


def route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    services = services_of(request)
    retry_after = str(services.settings.retry_after_seconds)
    is_webhook = request.path.startswith(WEBHOOK_PREFIX)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            code = exc.reason.lower().replace(" ", "_")
            response = error_response(exc.status, code, exc.text or exc.reason,
                                      **_allow_header(exc))
        else:
            raise
    except AuthError as exc:
        if is_webhook:  # a sender with a wrong token loses alerts: say so loudly
            log.warning("refused %s from %s: %s", request.path, request.remote, exc.message)
        response = error_response(exc.status, "unauthorized" if exc.status == 401
                                  else "forbidden", exc.message)
    except PayloadError as exc:
        code = exc.code or ("invalid_request" if exc.status == 400 and not is_webhook
                            else "invalid_payload")
        response = error_response(exc.status, code, exc.message, exc.field)
    except NotFoundError as exc:
        response = error_response(404, "not_found", str(exc))
    except ConflictError as exc:
        response = error_response(409, "conflict", str(exc))
    except Exception as exc:
        # Database failures arrive translated (store/db.py); anything else is a bug.
        transient = exc if isinstance(exc, TransientError) else None
        if transient is None:
            log.exception("unhandled error on %s %s", request.method, route_name(request))
            if is_webhook:
                transient = TransientError("internal error; the delivery was not stored, retry",
                                           reason=type(exc).__name__)
        if transient is not None:
            log.warning("answering 503 on %s: %s (%s)", route_name(request), transient.message,
                        transient.reason)
            if is_webhook:
                source = request.path.removeprefix(WEBHOOK_PREFIX).replace("-", "_")
                services.metrics.unavailable.labels(source, transient.reason).inc()
            response = error_response(503, "unavailable", transient.message,
                                      **{"Retry-After": retry_after})
        else:
            response = error_response(500, "internal", "internal error; see the service log")
    services.metrics.requests.labels(route_name(request), request.method,
                                     str(response.status)).inc()
    return response


def _allow_header(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
