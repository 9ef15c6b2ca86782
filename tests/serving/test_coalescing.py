"""Single customers that arrive in the same turn of the event loop are handed over as one group."""

from __future__ import annotations

import asyncio
from typing import Any

from churnops.serving.coalescing import Coalescer, Waiting, settle
from churnops.serving.logs import request_id


def test_requests_of_one_loop_turn_form_one_group_each_with_its_own_result_and_request_id() -> None:
    groups: list[tuple[str, list[dict[str, Any]], list[str | None]]] = []

    async def run_group(endpoint: str, group: list[Waiting[int]]) -> None:
        groups.append((endpoint, [waiting.record for waiting in group], [waiting.request_id for waiting in group]))
        settle(group, [waiting.record["n"] * 10 for waiting in group])

    async def one(coalescer: Coalescer[int], n: int, endpoint: str = "predict") -> int:
        request_id.set(f"req-{n}")  # each task has its own copy of the context, as each request does
        return await coalescer.submit({"n": n}, endpoint)

    async def scenario() -> tuple[list[int], list[int]]:
        coalescer: Coalescer[int] = Coalescer(run_group)
        together = await asyncio.gather(*(one(coalescer, n) for n in range(5)), one(coalescer, 9, "websocket"))
        later = [await one(coalescer, 7)]  # alone: a group of one, one loop turn later
        return list(together), later

    together, later = asyncio.run(scenario())
    assert together == [0, 10, 20, 30, 40, 90]
    assert later == [70]
    assert groups == [
        ("predict", [{"n": n} for n in range(5)], [f"req-{n}" for n in range(5)]),
        ("websocket", [{"n": 9}], ["req-9"]),
        ("predict", [{"n": 7}], ["req-7"]),
    ]


def test_a_failed_group_answers_its_error_to_every_request_and_skips_a_cancelled_one() -> None:
    async def run_group(endpoint: str, group: list[Waiting[int]]) -> None:
        await asyncio.sleep(0.01)  # meanwhile the first request's client goes away
        settle(group, RuntimeError("the model failed"))

    async def scenario() -> list[BaseException | int]:
        coalescer: Coalescer[int] = Coalescer(run_group)
        tasks = [asyncio.ensure_future(coalescer.submit({"n": n}, "predict")) for n in range(3)]
        await asyncio.sleep(0)
        tasks[0].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    first, *others = asyncio.run(scenario())
    assert isinstance(first, asyncio.CancelledError)
    assert [str(error) for error in others] == ["the model failed", "the model failed"]
