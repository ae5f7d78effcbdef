"""Per-token rate limit of the API: a token bucket per caller, answered 429 with Retry-After.

Webhooks are never limited (a dropped alert is worse than a busy service; the database
answers 503 when it is overloaded) and neither are the health routes (probes, scrapes).
A caller is the SHA-256 of its bearer token when the API has tokens, else its remote
address; the token itself is never kept. ``api_rate_limit.per_second`` 0 turns it off.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from aggregator.api.responses import WEBHOOK_PREFIX, Handler, error_response
from aggregator.config.service import RateLimitSettings

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class TokenBuckets:
    """One bucket per key: ``burst`` requests at once, refilled at ``rate`` per second.

    ``take`` answers 0.0 when the request may pass, else the seconds until it could. At
    most ``max_keys`` buckets are kept; the least recently used is dropped first (a dropped
    bucket comes back full, which only ever errs on the side of letting a request pass).
    """

    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("need rate > 0, burst >= 1 and max_keys >= 1")
        self.rate, self.burst, self.max_keys, self.clock = rate, float(burst), max_keys, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def caller_key(request: web.Request, keyed_by_token: bool) -> str:
    """The bucket's key: a hash of the bearer token, or the remote address."""
    token = _bearer(request) if keyed_by_token else None
    if token is not None:
        return "token:" + hashlib.sha256(token.encode()).hexdigest()
    return f"remote:{request.remote or ''}"


def is_exempt(path: str) -> bool:
    return path.startswith(WEBHOOK_PREFIX) or path in HEALTH_PATHS


def rate_limit_middleware(settings: RateLimitSettings, *, keyed_by_token: bool,
                          clock: Callable[[], float] = time.monotonic,
                          ) -> Middleware:
    """The aiohttp middleware; a pass-through when the limit is off."""
    buckets = (TokenBuckets(settings.per_second, settings.burst, max_keys=settings.max_keys,
                            clock=clock) if settings.per_second > 0 else None)

    @web.middleware
    async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if buckets is None or is_exempt(request.path):
            return await handler(request)
        wait = buckets.take(caller_key(request, keyed_by_token))
        if wait <= 0:
            return await handler(request)
        retry_after = str(max(1, math.ceil(wait)))
        return error_response(
            429, "rate_limited",
            f"more than {settings.per_second:g} requests per second (burst {settings.burst}) "
            f"with this token; retry after {retry_after} s (setting api_rate_limit)",
            **{"Retry-After": retry_after})

    return rate_limit
