"""A bounded async load generator over real HTTP (httpx), for store-count and outage tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class LoadResult:
    successes: int = 0
    failures: list[str] = field(default_factory=list)
    prediction_ids: list[str] = field(default_factory=list)


def drive(url: str, customers: list[dict[str, Any]], total: int, concurrency: int = 8) -> LoadResult:
    """Send `total` single-customer /predict requests from `concurrency` connections."""
    return asyncio.run(_drive(url, customers, total, concurrency))


async def _drive(url: str, customers: list[dict[str, Any]], total: int, concurrency: int) -> LoadResult:
    result = LoadResult()
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def worker() -> None:
            for index in counter:
                try:
                    response = await client.post("/predict", json=customers[index % len(customers)])
                except httpx.HTTPError as error:
                    result.failures.append(repr(error))
                    continue
                if response.status_code == 200:
                    result.successes += 1
                    result.prediction_ids.append(response.json()["prediction_id"])
                else:
                    result.failures.append(f"{response.status_code}: {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result
