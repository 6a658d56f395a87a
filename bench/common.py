"""What every benchmark shares: fresh databases on the run's PostgreSQL (``servers.py`` starts it
and the broker), services run in-process through their lifespans, and small timing helpers.
Prints, never asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
from faststream.kafka import KafkaBroker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rucnet.migrate import upgrade  # noqa: E402
from tests.inprocess import bearer, running  # noqa: E402  (the integration tests run services alike)

if TYPE_CHECKING:
    from servers import Bench


def run(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run``, with SIGTERM cancelling ``main`` as Ctrl-C does, so that a benchmark that
    is stopped still stops its broker and drops its database."""

    async def cancellable() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await main

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(cancellable())


@contextlib.contextmanager
def started_brokers() -> Iterator[list[KafkaBroker]]:
    """The services' FastStream brokers started meanwhile (not every app keeps its own in sight)."""
    started: list[KafkaBroker] = []
    original = KafkaBroker.start

    async def start(self: KafkaBroker) -> None:
        started.append(self)
        await original(self)

    KafkaBroker.start = start  # type: ignore[method-assign]
    try:
        yield started
    finally:
        KafkaBroker.start = original  # type: ignore[method-assign]


async def consumers_joined(brokers: list[KafkaBroker], timeout_s: float = 60.0) -> None:
    """Until every subscriber of ``brokers`` has partitions: their start-up (the first group join)
    is over, so a clock started now times the work (bounded polling)."""
    deadline = time.monotonic() + timeout_s
    for subscriber in (s for broker in brokers for s in broker.subscribers):
        while subscriber.consumer is None or not subscriber.consumer.assignment():  # type: ignore[attr-defined]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{subscriber} has no partitions after {timeout_s}s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def database(kind: str, bench: Bench) -> AsyncIterator[str]:
    """A migrated, empty database: ``pg`` (dropped afterwards) or ``sqlite`` (in the work dir)."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{bench.work / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name = f"rucnet_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(bench.pg_admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    base = bench.pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    url = f"{base}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        conn = await asyncpg.connect(bench.pg_admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def fetch_wait_ms(bench: Bench) -> int:
    """Production's 100 ms on Kafka, which cuts a waiting fetch short when data arrives; Tansu
    answers a waiting fetch only at its timeout, so 20 ms there."""
    return 100 if bench.kafka else 20


def settings_kw(bench: Bench, url: str, **extra: Any) -> dict[str, Any]:
    """The services' settings for a run: production's idempotent producer on Kafka (Tansu has none)."""
    return {
        "kafka_bootstrap": bench.bootstrap,
        "database_url": url,
        "data_dir": bench.work,
        "kafka_idempotence": bench.kafka,
        "kafka_fetch_max_wait_ms": fetch_wait_ms(bench),
        "pseudonym_secret": "bench-secret-of-at-least-32-characters",
        "log_level": "WARNING",
        **extra,
    }


async def tokens_by_ruc(url: str, bodies: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """A bearer token for each RUC the bodies report for."""
    return {ruc: await bearer(url, "ruc", ruc) for ruc in sorted({b["ruc_id"] for b in bodies})}


async def wait_for(probe: Callable[[], Awaitable[int]], target: int, timeout_s: float) -> float:
    """Seconds until ``probe()`` reaches ``target`` (bounded polling)."""
    started = time.monotonic()
    while await probe() < target:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"did not reach {target} in {timeout_s}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def healthy(client: httpx.AsyncClient, timeout_s: float = 120.0) -> None:
    """Wait (bounded) until the service behind ``client`` answers ``/healthz`` with 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{client.base_url} not healthy in {timeout_s}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def figure(name: str, value: float, unit: str, baseline: float | None = None, goal: str = "") -> None:
    ratio = f"  ({value / baseline:.0%} of baseline {baseline:,.1f} {unit})" if baseline else ""
    print(f"  {name:<46} {value:>12,.1f} {unit}{ratio}{'  goal ' + goal if goal else ''}", flush=True)


__all__ = ["bearer", "running", "statistics"]
