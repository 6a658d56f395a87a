"""`rucnet demo 2020`: Skolverket's 2020 data set sent through a running system's HTTP API.

The 18 RUC each get a token and send their reports in order (the RUC at the same time), exactly
as the end-to-end test does; then the command waits until the national figures are counted.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rucnet.dataset2020 import COMPLETED_TOTAL_2020, STARTED_TOTAL_2020, plan_2020

console = Console()
LABEL = "rucnet demo 2020"


@dataclass(frozen=True)
class Urls:
    intake: str
    classifier: str
    aggregator: str

    @classmethod
    def from_env(cls) -> Urls:
        """The ports `rucnet dev` uses: the same RUCNET_*_PORT variables and defaults."""

        def url(name: str, default: int) -> str:
            return f"http://127.0.0.1:{os.environ.get(f'RUCNET_{name}_PORT', default)}"

        return cls(url("INTAKE", 8000), url("CLASSIFIER", 8001), url("AGGREGATOR", 8002))


def running(urls: Urls) -> list[str]:
    """The services that do not answer their health check."""
    down = []
    for name, url in (("intake", urls.intake), ("aggregator", urls.aggregator)):
        try:
            if httpx.get(f"{url}/healthz", timeout=3).status_code != 200:
                down.append(f"{name} ({url})")
        except httpx.HTTPError:
            down.append(f"{name} ({url})")
    return down


async def create_tokens(db_url: str, ruc_ids: list[str]) -> tuple[dict[str, str], str]:
    from shared.auth import create_token
    from shared.db import create_engine, session_factory

    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as session:
            tokens = {r: await create_token(session, "ruc", r, LABEL) for r in ruc_ids}
            national = await create_token(session, "skolverket", None, "Skolverkets analytiker (demo)")
    finally:
        await engine.dispose()
    return tokens, national


async def submit(urls: Urls, tokens: dict[str, str], progress: Progress) -> None:
    by_ruc: dict[str, list[dict[str, Any]]] = {}
    for submission in plan_2020():
        by_ruc.setdefault(submission.ruc_id, []).append(submission.payload)
    task = progress.add_task("Sending reports", total=sum(len(r) for r in by_ruc.values()))
    async with httpx.AsyncClient(base_url=urls.intake, timeout=30) as client:

        async def ruc_sends(ruc_id: str, reports: list[dict[str, Any]]) -> None:
            headers = {"Authorization": f"Bearer {tokens[ruc_id]}"}
            for report in reports:
                response = await client.post("/api/v1/reports", json=report, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"{ruc_id}: HTTP {response.status_code} {response.text[:300]}")
                progress.advance(task)

        await asyncio.gather(*(ruc_sends(r, reports) for r, reports in by_ruc.items()))


def national(urls: Urls, token: str) -> tuple[int, int]:
    response = httpx.get(
        f"{urls.aggregator}/api/v1/stats/national",
        params={"year": 2020},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    return int(body["started"]["insatser"]), int(body["completed"]["insatser"])


def wait_counted(urls: Urls, token: str, progress: Progress, timeout_s: float) -> tuple[int, int]:
    """Bounded polling until the aggregator shows the PM's totals (or the time is up)."""
    goal = STARTED_TOTAL_2020 + COMPLETED_TOTAL_2020
    task = progress.add_task("Counted nationally", total=goal)
    deadline = time.monotonic() + timeout_s
    while True:
        started, completed = national(urls, token)
        progress.update(task, completed=min(goal, started + completed))
        if (started, completed) == (STARTED_TOTAL_2020, COMPLETED_TOTAL_2020) or time.monotonic() > deadline:
            return started, completed
        time.sleep(0.3)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def where_to_look(urls: Urls, national_token: str, started: int, completed: int) -> None:
    console.print(
        f"\n2020: [bold]{started}[/] started and [bold]{completed}[/] completed insatser "
        f"(Skolverket's PM: {STARTED_TOTAL_2020} and {COMPLETED_TOTAL_2020}).\n"
        f"Where to look:\n"
        f"  national figures  curl '{urls.aggregator}/api/v1/stats/national?year=2020' "
        f"-H 'Authorization: Bearer {national_token}'\n"
        f"  review page       {urls.classifier}/review  (log in with the Skolverket token above)\n"
        f"  web form          {urls.intake}/  (log in with a user from `rucnet user create`)\n"
        f"  the PM's tables   rucnet report --year 2020 --out pm-2020",
        soft_wrap=True,
    )
