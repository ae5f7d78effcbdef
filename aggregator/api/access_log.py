"""Access log lines without secrets: the query string's token is redacted, headers never logged."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from aggregator.api.auth import redacted_url


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %d %d %.1fms',
            request.remote, request.method, redacted_url(request), response.status,
            response.body_length, time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
