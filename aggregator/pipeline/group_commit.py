"""Group commit: webhook requests that arrive together share one ingest transaction.

Under load most of a request's cost is the transaction around it (locks, state reads,
writes, COMMIT: about ten round trips to the database), not its alerts. Requests are
queued; whenever fewer than ``writers`` transactions are running, one starts with
everything queued so far (up to ``max_alerts`` alerts), and each request is answered when
the transaction that carried it has committed. An idle service still runs each request at
once, alone; a busy one batches more, by itself.

The queue is bounded (``max_queued`` alerts waiting): past it, :meth:`submit` refuses at
once with :class:`~aggregator.errors.TransientError` (503 and ``Retry-After``; both senders
retry), so a storm beyond what the database absorbs costs neither unbounded memory nor
answers that come after the sender gave up.

If a shared transaction fails, ``alone`` decides whether the failure may belong to one
request (a value the database refused): then each request is run again in a transaction
of its own, so one bad payload never fails its neighbours. A failure of the database
itself (unreachable, pool exhausted) fails them all at once, without retrying.

Pure asyncio: what a transaction does is the ``run`` callable's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aggregator.errors import TransientError

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass(slots=True)
class _Pending(Generic[Request, Result]):
    request: Request
    size: int
    future: asyncio.Future[Result] = field(repr=False)


class GroupCommit(Generic[Request, Result]):
    """Batches concurrent :meth:`submit` calls into calls of ``run``."""

    def __init__(
        self,
        run: Callable[[Sequence[Request]], Awaitable[Sequence[Result]]],
        *,
        size: Callable[[Request], int],
        alone: Callable[[BaseException], bool],
        writers: int = 1,
        max_alerts: int = 1000,
        max_queued: int = 20_000,
        on_batch: Callable[[int], None] = lambda requests: None,
    ) -> None:
        if writers < 1 or max_alerts < 1 or max_queued < 1:
            raise ValueError("writers, max_alerts and max_queued must be at least 1")
        self._run = run
        self._size = size
        self._alone = alone
        self._writers = writers
        self._max_alerts = max_alerts
        self._max_queued = max_queued
        self._queued = 0  # alerts waiting for a transaction
        self._on_batch = on_batch
        self._queue: list[_Pending[Request, Result]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0  # transactions started (a figure for tests and metrics)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def submit(self, request: Request) -> Result:
        """Returns ``run``'s result for this request once its transaction committed."""
        if self._closed:
            raise RuntimeError("the ingest queue is closed")
        size = max(1, self._size(request))
        if self._queue and self._queued + size > self._max_queued:
            raise TransientError(f"ingest queue full ({self._queued} alerts waiting for the "
                                 "database); retry shortly")
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(request, size, future))
        self._queued += size
        self._start_writers()
        # The transaction carries on if the caller goes away: a commit is never cut short.
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Refuse new requests and wait until everything queued is committed."""
        self._closed = True
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start_writers(self) -> None:
        while self._queue and len(self._tasks) < self._writers:
            batch = self._take()
            task = asyncio.get_running_loop().create_task(self._commit(batch),
                                                          name="ingest-commit")
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._start_writers()

    def _take(self) -> list[_Pending[Request, Result]]:
        taken = 0
        count = 0
        for pending in self._queue:
            if count and taken + pending.size > self._max_alerts:
                break
            taken += pending.size
            count += 1
        batch, self._queue = self._queue[:count], self._queue[count:]
        self._queued -= taken
        return batch

    async def _commit(self, batch: list[_Pending[Request, Result]]) -> None:
        self.batches += 1
        self._on_batch(len(batch))
        try:
            results = await self._run([pending.request for pending in batch])
        except BaseException as exc:  # every waiter gets the outcome
            if len(batch) > 1 and isinstance(exc, Exception) and self._alone(exc):
                for pending in batch:
                    await self._commit([pending])
                return
            for pending in batch:
                if pending.future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    pending.future.cancel()
                else:
                    pending.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
