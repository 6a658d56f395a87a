"""The benchmarks' reports and the probes that count how far they have come."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.aggregator.tables import COUNT_TABLES
from services.classifier.store import Classification

FORMS = ["grundskola", "gymnasieskola", "forskoleklass", "komvux"]
Probe = Callable[[], Awaitable[int]]


def report(n_insatser: int, seq: int) -> dict[str, Any]:
    return {
        "ruc_id": "gu",
        "year": 2020,
        "huvudman": {"name": f"Kommun {seq % 40}", "lan_kod": "14", "type": "kommunal"},
        "insatser": [
            {
                "ref": f"b-{seq}-{i}",
                "title": "Språkutvecklande arbetssätt och studiehandledning på modersmålet",
                "description": "Kompetensutveckling för lärare i nyanländas lärande",
                "status": "completed" if i % 2 else "started",
                "school_forms": FORMS[: 1 + i % 3],
                "expected_effects": "Ökad måluppfyllelse",
                "actual_effects": "Bättre rutiner för mottagande" if i % 2 else "",
                "nsp_area": None,
            }
            for i in range(n_insatser)
        ],
    }


async def submit_all(
    client: httpx.AsyncClient, headers: dict[str, str], bodies: list[dict[str, Any]], clients: int = 8
) -> float:
    """Seconds until every body got its 202, posted by ``clients`` concurrent clients."""
    queue = list(bodies)
    started = time.monotonic()

    async def submitter() -> None:
        while queue:
            response = await client.post("/api/v1/reports", json=queue.pop(), headers=headers)
            assert response.status_code == 202, response.text

    await asyncio.gather(*(submitter() for _ in range(clients)))
    return time.monotonic() - started


def _scalar_probe(engine: AsyncEngine, query: Any) -> Probe:
    """One pooled connection per poll, not a new one."""

    async def probe() -> int:
        async with engine.connect() as conn:
            value = await conn.scalar(query)
        return int(value or 0)

    return probe


def counted(engine: AsyncEngine) -> Probe:
    """Insatser the aggregator has counted."""
    return _scalar_probe(engine, select(func.coalesce(func.sum(COUNT_TABLES["insats"].c.n), 0)))


def classified(engine: AsyncEngine) -> Probe:
    """Insatser the classifier has stored a classification for."""
    return _scalar_probe(engine, select(func.count()).select_from(Classification))
