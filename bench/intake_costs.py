"""Where intake's time per request goes: CPU ms per request with one part at a time taken away.

A diagnostic beside ``bench_intake.py`` (same apps, clients and payloads), not a goal figure: the
stand-ins below are only here. Each variant is run once per round, interleaved, and the medians
printed next to the bare endpoint of the same rounds:

- ``bare``: the goal's baseline, FastAPI validating the same ``ReportIn``;
- ``bare + await``: the same endpoint suspending once (``asyncio.sleep(0)``) before it answers,
  as any endpoint waiting for I/O does, so the eight clients' requests interleave;
- ``intake, no I/O``: intake with its receipt store and its publish replaced by stand-ins that
  build the same events in memory (auth, rate limit, pseudonym, event, JSON; nothing awaited);
- ``intake, no publish`` / ``intake, no receipt store``: one of the two round trips kept;
- ``intake``: as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from bench_intake import bare_app, rate
from common import bearer, broker, database, run, running, settings_kw
from fastapi import FastAPI, status

from services.intake.app import create_app as intake_app
from services.intake.publishing import ReportPublisher
from services.intake.settings import IntakeSettings
from services.intake.store import Receipt, to_event
from shared.events import ReportSubmitted
from shared.report import Accepted, ReportIn


def suspending_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/reports", status_code=status.HTTP_202_ACCEPTED)
    async def submit(report: ReportIn) -> Accepted:
        await asyncio.sleep(0)
        return Accepted(report_id="bare")

    return app


async def stored_in_memory(batch: list[Receipt]) -> list[tuple[ReportSubmitted, str]]:
    events = [to_event(r.report, r.pseudonym, 1, uuid.uuid4()) for r in batch]
    return [(event, event.model_dump_json()) for event in events]


async def not_published(self: ReportPublisher, event: ReportSubmitted, body: str) -> None:
    return None


async def cpu_per_request(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> tuple[float, float]:
    started = time.process_time()
    per_second = await rate(client, headers, n, 10)
    return (time.process_time() - started) / n * 1000, per_second


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        async with broker(work) as bootstrap, database("pg", work) as url:
            gu = await bearer(url, "ruc", "gu")
            app = intake_app(IntakeSettings(**settings_kw(bootstrap, url, work), rate_limit_per_minute=10**9))
            async with running(app, bare_app(), suspending_app()) as (intake, bare, suspending):
                batches = app.state.receipt_batches
                real_store, real_publish = batches.handle, ReportPublisher.publish

                def variant(
                    store: Callable[[list[Receipt]], Awaitable[Any]], publish: Any
                ) -> Callable[[], Awaitable[tuple[float, float]]]:
                    async def measure() -> tuple[float, float]:
                        batches.handle, ReportPublisher.publish = store, publish  # type: ignore[method-assign]
                        try:
                            return await cpu_per_request(intake, gu, n)
                        finally:
                            batches.handle, ReportPublisher.publish = real_store, real_publish  # type: ignore[method-assign]

                    return measure

                variants: dict[str, Callable[[], Awaitable[tuple[float, float]]]] = {
                    "bare": lambda: cpu_per_request(bare, {}, n),
                    "bare + await": lambda: cpu_per_request(suspending, {}, n),
                    "intake, no I/O": variant(stored_in_memory, not_published),
                    "intake, no publish": variant(real_store, not_published),
                    "intake, no receipt store": variant(stored_in_memory, real_publish),
                    "intake": variant(real_store, real_publish),
                }
                for measure in variants.values():  # warm up
                    await measure()
                figures: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
                for _ in range(rounds):
                    for name, measure in variants.items():
                        figures[name].append(await measure())
    print(f"intake costs, {n} reports of 10 insatser per variant and round, {rounds} rounds (medians)")
    bare_ms = statistics.median(ms for ms, _ in figures["bare"])
    bare_rate = statistics.median(r for _, r in figures["bare"])
    for name, values in figures.items():
        ms = statistics.median(m for m, _ in values)
        per_second = statistics.median(r for _, r in values)
        print(
            f"  {name:<26} {ms:6.3f} ms CPU/request ({ms - bare_ms:+.3f})"
            f" {per_second:8,.0f} requests/s ({per_second / bare_rate:4.0%} of bare)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    run(main(args.reports, args.rounds))
