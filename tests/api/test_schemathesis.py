"""Schemathesis over every operation of ``/openapi.json``, against the real service.

aiohttp is neither ASGI nor WSGI, so the application runs on a loopback port in a thread
with its own event loop, and schemathesis talks to it over HTTP. Bounded: a few examples
per operation, no deadline. Never a 5xx, except 503 with ``Retry-After`` on a webhook;
documented responses must match their schemas.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
)

from aggregator.api.routes import ROUTES  # noqa: E402
from aggregator.app import Role, build_app  # noqa: E402
from aggregator.config.service import Settings  # noqa: E402
from tests.conftest import ServiceServer  # noqa: E402

MAX_EXAMPLES = 25


class ServerThread:
    """The service on 127.0.0.1:<free port>, served by a loop in a background thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.server: ServiceServer | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="schemathesis-server",
                                       daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            app = build_app(self.settings, Role.API)
            self.server = ServiceServer(app, host="127.0.0.1")
            self.loop.run_until_complete(self.server.start_server())
        except BaseException as exc:  # reported to the test thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> str:
        self.thread.start()
        if not self.ready.wait(timeout=60):
            raise TimeoutError("the service did not start within 60 s")
        if self.error is not None:
            raise self.error
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "api.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", api_rate_limit=0)
    with ServerThread(settings) as url:
        yield url


def _operations(base_url: str) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def test_every_operation_is_fuzzed(base_url: str) -> None:
    """One hypothesis run per operation (schemathesis' pytest plugin is not used: its
    ``from_fixture`` does not work with pytest 9); failures are collected, then reported."""
    operations = _operations(base_url)
    assert len(operations) >= len(ROUTES)
    failures: dict[str, str] = {}
    for operation in operations:
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, timeout=30)
            status = response.status_code
            webhook = case.operation.path.startswith("/webhooks/")
            if status >= 500:
                assert webhook and status == 503 and response.headers.get("Retry-After"), (
                    f"{case.method} {case.formatted_path} answered {status}: "
                    f"{response.text[:500]}")
            case.validate_response(response, checks=[response_schema_conformance,
                                                      content_type_conformance])

        try:
            check()
        except Exception as exc:
            failures[f"{operation.method.upper()} {operation.path}"] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{name}: {text}" for name, text in failures.items())
