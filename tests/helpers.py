"""Helpers every test folder shares: the payload captures, waiting for a state, and a
clock a test can move."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"


def load_payload(source: str, name: str) -> dict[str, Any]:
    """A webhook body from ``tests/fixtures/payloads/<source>/<name>``, a fresh copy."""
    data: dict[str, Any] = json.loads((PAYLOADS / source / name).read_text())
    return data


async def eventually(check: Callable[[], Any], *, what: str, timeout: float = 10.0,
                     interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; return that.

    A state wait: ``timeout`` only bounds how long a broken run takes, so it is generous for
    a loaded machine. On timeout the assertion names ``what`` and the last result.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out after {timeout:g}s waiting for {what} (last: {result!r:.300})")
        await asyncio.sleep(interval)


class MovableClock:
    """The wall clock plus an offset a test moves ahead, for the service's injectable clock
    (``Services.clock``, ``Worker(clock=...)``): time still passes, so polls, leases and
    backoff behave as usual, and an interval or a lease runs out without a sleep."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead

    def advance(self, delta: timedelta) -> None:
        self.ahead += delta
