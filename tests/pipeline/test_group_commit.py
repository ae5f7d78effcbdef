"""The group commit in front of the ingest transaction, with a controllable transaction.

The ``run`` here records the batches it gets and can be held open, so the tests decide
what is queued while a transaction runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from aggregator.errors import TransientError
from aggregator.pipeline.group_commit import GroupCommit


class Transactions:
    """Stands in for the database transaction: records batches, can be held, can fail."""

    def __init__(self, fail_on: str | None = None, fail_with: type[Exception] = ValueError):
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.running = 0
        self.most_running = 0
        self.fail_on = fail_on
        self.fail_with = fail_with

    async def run(self, requests: Sequence[str]) -> list[str]:
        self.batches.append(list(requests))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await self.gate.wait()
            if self.fail_on is not None and self.fail_on in requests:
                raise self.fail_with(f"refused {self.fail_on}")
            return [f"done:{request}" for request in requests]
        finally:
            self.running -= 1


def queue(tx: Transactions, *, writers: int = 1, max_alerts: int = 1000,
          alone: type[Exception] = ValueError, max_queued: int = 20_000) -> GroupCommit[str, str]:
    return GroupCommit(tx.run, size=lambda request: int(request.split(":")[1]),
                       alone=lambda exc: isinstance(exc, alone), writers=writers,
                       max_alerts=max_alerts, max_queued=max_queued)


async def test_an_idle_queue_runs_a_request_at_once_alone() -> None:
    tx = Transactions()
    assert await queue(tx).submit("a:1") == "done:a:1"
    assert tx.batches == [["a:1"]]


async def test_requests_that_arrive_during_a_transaction_share_the_next_one() -> None:
    tx = Transactions()
    commits = queue(tx)
    tx.gate.clear()
    first = asyncio.create_task(commits.submit("a:1"))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(commits.submit(f"r{n}:1")) for n in range(5)]
    await asyncio.sleep(0.01)
    assert tx.batches == [["a:1"]]  # the others wait for the running transaction
    tx.gate.set()
    assert await first == "done:a:1"
    assert await asyncio.gather(*rest) == [f"done:r{n}:1" for n in range(5)]
    assert tx.batches == [["a:1"], [f"r{n}:1" for n in range(5)]]
    assert commits.batches == 2


async def test_writers_bound_the_transactions_running_at_once() -> None:
    tx = Transactions()
    commits = queue(tx, writers=2)
    tx.gate.clear()
    tasks = [asyncio.create_task(commits.submit(f"r{n}:1")) for n in range(6)]
    await asyncio.sleep(0.01)
    assert commits.running == 2
    tx.gate.set()
    await asyncio.gather(*tasks)
    assert tx.most_running == 2
    assert sorted(r for batch in tx.batches for r in batch) == sorted(f"r{n}:1" for n in range(6))


async def test_a_batch_holds_at_most_max_alerts_but_a_big_request_still_goes_alone() -> None:
    tx = Transactions()
    commits = queue(tx, max_alerts=100)
    tx.gate.clear()
    first = asyncio.create_task(commits.submit("first:1"))
    await asyncio.sleep(0)
    sizes = [60, 30, 20, 500, 10]
    tasks = [asyncio.create_task(commits.submit(f"r{n}:{size}")) for n, size in enumerate(sizes)]
    await asyncio.sleep(0.01)
    tx.gate.set()
    await asyncio.gather(first, *tasks)
    assert tx.batches == [["first:1"], ["r0:60", "r1:30"], ["r2:20"], ["r3:500"], ["r4:10"]]


async def test_a_request_the_database_refuses_fails_alone_its_neighbours_commit() -> None:
    tx = Transactions(fail_on="bad:1")
    commits = queue(tx)
    tx.gate.clear()
    first = asyncio.create_task(commits.submit("first:1"))
    await asyncio.sleep(0)
    names = ["a:1", "bad:1", "b:1"]
    tasks = [asyncio.create_task(commits.submit(name)) for name in names]
    await asyncio.sleep(0.01)
    tx.gate.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert results[0] == "done:first:1"
    assert results[1] == "done:a:1" and results[3] == "done:b:1"
    assert isinstance(results[2], ValueError)
    # the shared try, then each request in a transaction of its own
    assert tx.batches == [["first:1"], names, ["a:1"], ["bad:1"], ["b:1"]]


async def test_a_database_outage_fails_the_whole_batch_at_once() -> None:
    tx = Transactions(fail_on="a:1", fail_with=ConnectionError)
    commits = queue(tx)
    tx.gate.clear()
    first = asyncio.create_task(commits.submit("first:1"))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(commits.submit(name)) for name in ("a:1", "b:1")]
    await asyncio.sleep(0.01)
    tx.gate.set()
    results = await asyncio.gather(first, *tasks, return_exceptions=True)
    assert results[0] == "done:first:1"
    assert all(isinstance(result, ConnectionError) for result in results[1:])
    assert tx.batches == [["first:1"], ["a:1", "b:1"]]  # no retry one by one


async def test_a_caller_that_goes_away_does_not_cut_the_commit_short() -> None:
    tx = Transactions()
    commits = queue(tx)
    tx.gate.clear()
    caller = asyncio.create_task(commits.submit("a:1"))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert commits.running == 1
    tx.gate.set()
    await commits.aclose()
    assert tx.batches == [["a:1"]] and tx.running == 0


async def test_close_commits_what_was_queued_and_refuses_new_requests() -> None:
    tx = Transactions()
    commits = queue(tx)
    tx.gate.clear()
    tasks = [asyncio.create_task(commits.submit(f"r{n}:1")) for n in range(3)]
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(commits.aclose())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="closed"):
        await commits.submit("late:1")
    tx.gate.set()
    await closing
    assert [task.result() for task in tasks] == [f"done:r{n}:1" for n in range(3)]


async def test_a_full_queue_refuses_at_once_with_a_transient_error() -> None:
    tx = Transactions()
    commits = queue(tx, max_queued=100)
    tx.gate.clear()
    running = asyncio.create_task(commits.submit("running:80"))  # taken: not queued
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(commits.submit(f"w{n}:40")) for n in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(TransientError, match="queue full"):
        await commits.submit("late:30")  # 80 queued + 30 > 100
    tx.gate.set()
    await asyncio.gather(running, *waiting)
    assert await commits.submit("after:30") == "done:after:30"  # room again
    assert ["late:30"] not in tx.batches


def test_writers_and_batch_size_must_be_positive() -> None:
    tx = Transactions()
    with pytest.raises(ValueError, match="at least 1"):
        queue(tx, writers=0)
    with pytest.raises(ValueError, match="at least 1"):
        queue(tx, max_alerts=0)
