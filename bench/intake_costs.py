"""Where intake's time per request goes: CPU ms per request with one part at a time taken away,
and what its outbox relay costs per report, off the request path.

A diagnostic beside ``bench_intake.py`` (same apps, clients and payloads), not a goal figure: the
stand-ins below are only here. Each variant is run once per round, interleaved, and the medians
printed next to the bare endpoint of the same rounds:

- ``bare``: the goal's baseline, FastAPI validating the same ``ReportIn``;
- ``bare + await``: the same endpoint suspending once (``asyncio.sleep(0)``) before it answers,
  as any endpoint waiting for I/O does, so the eight clients' requests interleave;
- ``intake, no I/O``: intake with its receipt store replaced by a stand-in that builds the same
  events in memory (auth, rate limit, pseudonym, event, JSON; nothing awaited), relay held back;
- ``intake, relay held back``: the request path as deployed (receipt and outbox row committed in
  PostgreSQL: the one round trip), with nothing published meanwhile;
- ``intake``: as deployed, the relay publishing in the background of the same process;
- ``relay alone``: the relay draining what the held-back variant left (load, publish with
  acks=all, mark published), CPU ms and wall time per report, nothing else running.
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
from common import bearer, database, run, running, settings_kw
from fastapi import FastAPI, status
from servers import environment

from services.intake.app import create_app as intake_app
from services.intake.relay import OutboxRelay
from services.intake.settings import IntakeSettings
from services.intake.store import Receipt, to_event
from shared.events import ReportSubmitted
from shared.inbound import Accepted, ReportIn

Figure = tuple[float, float]  # (CPU ms per request or report, requests or reports per second)


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


async def nothing_sent() -> int:
    return 0


async def cpu_per_request(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> Figure:
    started = time.process_time()
    per_second = await rate(client, headers, n, 10)
    return (time.process_time() - started) / n * 1000, per_second


async def relay_cost(relay: OutboxRelay, n: int) -> Figure:
    """The relay's own pass (not the held-back background loop) over the backlog of ``n`` reports."""
    cpu, wall = time.process_time(), time.monotonic()
    while await OutboxRelay.pass_once(relay):
        pass
    return (time.process_time() - cpu) / n * 1000, n / (time.monotonic() - wall)


Measure = Callable[[], Awaitable[Figure]]


async def measure_all(
    app: FastAPI, clients: list[httpx.AsyncClient], gu: dict[str, str], n: int, rounds: int
) -> dict[str, list[Figure]]:
    intake, bare, suspending = clients
    batches, relay = app.state.receipt_batches, app.state.relay
    real_store = batches.handle

    def variant(store: Callable[[list[Receipt]], Awaitable[Any]], held_back: bool) -> Measure:
        async def measure() -> Figure:
            batches.handle = store
            if held_back:
                relay.pass_once = nothing_sent
            try:
                return await cpu_per_request(intake, gu, n)
            finally:
                batches.handle = real_store

        return measure

    async def relay_alone() -> Figure:
        try:  # the background loop still idles: this pass is the only one
            return await relay_cost(relay, n)
        finally:
            del relay.pass_once

    variants: dict[str, Measure] = {
        "bare": lambda: cpu_per_request(bare, {}, n),
        "bare + await": lambda: cpu_per_request(suspending, {}, n),
        "intake, no I/O": variant(stored_in_memory, held_back=True),
        "intake, relay held back": variant(real_store, held_back=True),
        "relay alone": relay_alone,
        "intake": variant(real_store, held_back=False),
    }
    for measure in variants.values():  # warm up
        await measure()
    figures: dict[str, list[Figure]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, measure in variants.items():
            figures[name].append(await measure())
    return figures


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with environment(Path(tmp)) as bench, database("pg", bench) as url:
            gu = await bearer(url, "ruc", "gu")
            app = intake_app(IntakeSettings(**settings_kw(bench, url), rate_limit_per_minute=10**9))
            async with running(app, bare_app(), suspending_app()) as clients:
                figures = await measure_all(app, clients, gu, n, rounds)
    print(
        f"intake costs ({bench.name}), {n} reports of 10 insatser per variant and round, "
        f"{rounds} rounds (medians)"
    )
    bare_ms = statistics.median(ms for ms, _ in figures["bare"])
    bare_rate = statistics.median(r for _, r in figures["bare"])
    for name, values in figures.items():
        ms = statistics.median(m for m, _ in values)
        per_second = statistics.median(r for _, r in values)
        if name.startswith("relay"):  # off the request path: its own cost, not a share of bare
            print(f"  {name:<26} {ms:6.3f} ms CPU/report           {per_second:8,.0f} reports/s")
            continue
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
