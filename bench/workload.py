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


# RUC and a län each serves: reports of several RUC are keyed apart, so they spread over partitions
RUCS = [("gu", "14"), ("su", "01"), ("lnu", "07"), ("umu", "24"), ("liu", "05"), ("mau", "12")]


def report(n_insatser: int, seq: int, ruc: tuple[str, str] = RUCS[0]) -> dict[str, Any]:
    return {
        "ruc_id": ruc[0],
        "year": 2020,
        "huvudman": {"name": f"Kommun {seq % 40}", "lan_kod": ruc[1], "type": "kommunal"},
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
    client: httpx.AsyncClient,
    headers: dict[str, str],
    bodies: list[dict[str, Any]],
    clients: int = 8,
    by_ruc: dict[str, dict[str, str]] | None = None,
) -> float:
    """Seconds until every body got its 202, posted by ``clients`` concurrent clients (``by_ruc``:
    each body with its RUC's token, else ``headers``)."""
    queue = list(bodies)
    started = time.monotonic()

    async def submitter() -> None:
        while queue:
            body = queue.pop()
            chosen = by_ruc[body["ruc_id"]] if by_ruc else headers
            response = await client.post("/api/v1/reports", json=body, headers=chosen)
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
