"""Intake requests/s against a bare FastAPI endpoint doing the same validation (goal ≥ 60 %).

Both in-process over httpx's ASGI transport with 8 concurrent clients, so the figures compare the
work per request (auth, storing receipt and outbox row: the one round trip, to PostgreSQL), not a
network stack. Intake runs as deployed: its outbox relay publishes in the background of the same
process, so its cost is in the figure although it is off the request path.
``--rounds N`` repeats the baseline/intake pair N times, interleaved, and prints the ratio's range.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
from common import bearer, database, figure, run, running, settings_kw
from fastapi import FastAPI, status
from servers import environment
from workload import report

from services.intake.app import create_app as intake_app
from services.intake.settings import IntakeSettings
from shared.inbound import Accepted, ReportIn


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/v1/reports", status_code=status.HTTP_202_ACCEPTED)
    async def submit(report: ReportIn) -> Accepted:
        return Accepted(report_id="bare")

    return app


async def rate(client: httpx.AsyncClient, headers: dict[str, str], n: int, per_report: int) -> float:
    bodies = [report(per_report, s) for s in range(n)]
    started = time.monotonic()

    async def worker() -> None:
        while bodies:
            response = await client.post("/api/v1/reports", json=bodies.pop(), headers=headers)
            assert response.status_code == 202, response.text

    await asyncio.gather(*(worker() for _ in range(8)))
    return n / (time.monotonic() - started)


async def main(n: int, per_report: int, rounds: int) -> None:
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with environment(Path(tmp)) as bench, database("pg", bench) as url:
            gu = await bearer(url, "ruc", "gu")
            app = intake_app(IntakeSettings(**settings_kw(bench, url), rate_limit_per_minute=10**9))
            async with running(app, bare_app()) as (intake, bare):
                await rate(bare, {}, 50, per_report)  # warm both up
                await rate(intake, gu, 50, per_report)
                for _ in range(rounds):  # interleaved, so load from other work hits both alike
                    baseline = await rate(bare, {}, n, per_report)
                    pairs.append((await rate(intake, gu, n, per_report), baseline))
    print(f"intake, {n} reports of {per_report} insatser (PostgreSQL, {bench.name}, in-process ASGI)")
    for measured, baseline in pairs:
        figure("intake POST /api/v1/reports", measured, "requests/s", baseline, "≥ 60 %")
    if rounds > 1:
        ratios = sorted(m / b for m, b in pairs)
        low, high, median = ratios[0], ratios[-1], ratios[rounds // 2]
        print(f"  ratio over {rounds} rounds: {low:.0%}–{high:.0%}, median {median:.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--per-report", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="baseline/intake pairs, interleaved")
    args = parser.parse_args()
    run(main(args.reports, args.per_report, args.rounds))
