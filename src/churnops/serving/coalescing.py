"""Single-customer predictions that arrive together share one model call, one store hand-over and one fsync.

Under concurrent load the event loop reads several requests in one turn. Each `/predict` (and each
WebSocket message) waits here on a future instead of calling the model itself; one callback, queued
behind them on the loop, scores them all at once, and their futures are settled once the group is
durable. A lone request waits one turn of the loop (microseconds), nothing more.

Each prediction is still stored with its own request id. What the group shares: the model version
(taken once per group), the time of the model call (each row's `latency_ms`) and, if scoring or the
write-ahead log fails, the error (every request of the group answers it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from churnops.serving.logs import request_id

Result = TypeVar("Result")


@dataclass(frozen=True)
class Waiting(Generic[Result]):
    record: dict[str, Any]
    request_id: str | None
    future: asyncio.Future[Result]


class Coalescer(Generic[Result]):
    """Collects the single records of one loop turn per endpoint and hands them to `run_group` together.

    `run_group(endpoint, group)` settles every future of the group (a result or an exception each).
    """

    def __init__(self, run_group: Callable[[str, list[Waiting[Result]]], Awaitable[None]]) -> None:
        self._run_group = run_group
        self._open: dict[str, list[Waiting[Result]]] = {}  # endpoint -> the group this turn is filling
        self._running: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones

    async def submit(self, record: dict[str, Any], endpoint: str) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        group = self._open.setdefault(endpoint, [])
        group.append(Waiting(record, request_id.get(), future))
        if len(group) == 1:
            loop.call_soon(self._close, endpoint)  # behind the requests already read this turn
        return await future  # a client gone meanwhile cancels only its own future: its prediction is still stored

    def _close(self, endpoint: str) -> None:
        group = self._open.pop(endpoint)
        task = asyncio.ensure_future(self._run_group(endpoint, group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)


def settle(group: list[Waiting[Result]], results: list[Result] | BaseException) -> None:
    """Each waiting request gets its result (or the group's error); a cancelled one is skipped."""
    for index, waiting in enumerate(group):
        if waiting.future.done():
            continue
        if isinstance(results, BaseException):
            waiting.future.set_exception(results)
        else:
            waiting.future.set_result(results[index])
