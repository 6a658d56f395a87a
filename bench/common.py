"""What every benchmark shares: a fresh embedded broker, a fresh PostgreSQL database (or SQLite),
services run in-process through their lifespans, and small timing helpers. Prints, never asserts.

``RUCNET_BENCH_KAFKA_BOOTSTRAP=host:port`` runs the benchmarks against that Kafka instead of an
embedded Tansu (a 1 M insatser run needs one: Tansu keeps its log in memory and slows down as it
grows). The benchmarks delete and recreate rucnet's topics and consumer groups there first: point
it at a scratch cluster only.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rucnet.embedded_broker import EmbeddedBroker, free_port  # noqa: E402
from rucnet.migrate import upgrade  # noqa: E402
from shared import topics  # noqa: E402
from shared.auth import create_token  # noqa: E402
from shared.broker import ensure_topics  # noqa: E402
from shared.db import create_engine, session_factory  # noqa: E402
from shared.settings import RucnetSettings  # noqa: E402

PG_ADMIN = os.environ.get("RUCNET_BENCH_PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
EXTERNAL_KAFKA = os.environ.get("RUCNET_BENCH_KAFKA_BOOTSTRAP")
BROKER_NAME = f"Kafka at {EXTERNAL_KAFKA}" if EXTERNAL_KAFKA else "embedded Tansu"


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


@asynccontextmanager
async def broker(workdir: Path, partitions: int = 3) -> AsyncIterator[str]:
    if EXTERNAL_KAFKA:
        await reset_topics(EXTERNAL_KAFKA)
        await ensure_topics(RucnetSettings(kafka_bootstrap=EXTERNAL_KAFKA, kafka_partitions=partitions))
        yield EXTERNAL_KAFKA
        return
    embedded = EmbeddedBroker(free_port(), workdir / "tansu.log")
    embedded.start()
    try:
        await ensure_topics(RucnetSettings(kafka_bootstrap=embedded.bootstrap, kafka_partitions=partitions))
        yield embedded.bootstrap
    finally:
        embedded.stop()


async def reset_topics(bootstrap: str, timeout_s: float = 60.0) -> None:
    """An external broker as fresh as an embedded one: rucnet's topics deleted, and gone.

    Kafka drops a group's offsets of a deleted topic; should any remain (a broker that keeps them),
    the benchmark stops instead of letting a consumer skip the new records.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while present := [t for t in await admin.list_topics() if t in topics.ALL_TOPICS]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topics {present} were not deleted in {timeout_s}s")
            with contextlib.suppress(KafkaError):  # already being deleted
                await admin.delete_topics(present)
            await asyncio.sleep(0.5)
        groups = {group for group, *_ in await admin.list_consumer_groups()}
        for group in {topics.CLASSIFIER_GROUP, topics.AGGREGATOR_GROUP} & groups:
            if await admin.list_consumer_group_offsets(group):
                raise RuntimeError(f"group {group} still has offsets at {bootstrap}: delete it first")
    finally:
        await admin.close()


@asynccontextmanager
async def database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """A migrated, empty database: ``pg`` (dropped afterwards) or ``sqlite`` (in the work dir)."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name = f"rucnet_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def settings_kw(bootstrap: str, url: str, workdir: Path, **extra: Any) -> dict[str, Any]:
    return {
        "kafka_bootstrap": bootstrap,
        "database_url": url,
        "data_dir": workdir,
        "kafka_idempotence": False,
        "kafka_fetch_max_wait_ms": 20,
        "pseudonym_secret": "bench-secret",
        "log_level": "WARNING",
        **extra,
    }


@asynccontextmanager
async def running(*apps: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    async with AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://b"))
            )
        yield clients


async def bearer(url: str, role: str, ruc_id: str | None = None) -> dict[str, str]:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        raw = await create_token(session, role, ruc_id)  # type: ignore[arg-type]
    await engine.dispose()
    return {"Authorization": f"Bearer {raw}"}


async def wait_for(probe: Callable[[], Awaitable[int]], target: int, timeout_s: float) -> float:
    """Seconds until ``probe()`` reaches ``target`` (bounded polling)."""
    started = time.monotonic()
    while await probe() < target:
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"did not reach {target} in {timeout_s}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def figure(name: str, value: float, unit: str, baseline: float | None = None, goal: str = "") -> None:
    ratio = f"  ({value / baseline:.0%} of baseline {baseline:,.1f} {unit})" if baseline else ""
    print(f"  {name:<46} {value:>12,.1f} {unit}{ratio}{'  goal ' + goal if goal else ''}", flush=True)


__all__ = ["statistics"]
