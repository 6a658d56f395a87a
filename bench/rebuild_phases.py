"""A diagnostic: the rebuild at N insatser on PostgreSQL, in this process, phase by phase.

The events of `bench_rebuild.py` from a list instead of the topic (no broker), the same replay and
swap: prints the replay's and the swap's time, every swap statement that took over 50 ms, the CPU
of this process and of the fold workers, and the write-ahead log written. What bounds
`bench_rebuild.py`'s figure; prints, never asserts.

    cd bench && ../.venv/bin/python rebuild_phases.py --insatser 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import ConsumerRecord
from bench_rebuild import events
from common import run
from sqlalchemy.ext.asyncio import AsyncConnection

import services.aggregator.rebuild as rebuild
from rucnet.local_pg import LocalPostgres
from rucnet.migrate import upgrade
from shared import topics
from shared.db import create_engine

SHOWN_S = 0.05


class ListReader:
    def __init__(self, payloads: list[bytes], size: int = 2000) -> None:
        self.pending = [
            [
                ConsumerRecord(topics.REPORTS_CLASSIFIED, 0, i, 0, 0, b"gu", p, None, 0, len(p), ())
                for i, p in enumerate(payloads[start : start + size], start)
            ]
            for start in range(0, len(payloads), size)
        ]

    async def batches(self) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        while self.pending:
            yield self.pending.pop(0)


def show_slow_statements() -> None:
    for name in ("execute", "exec_driver_sql"):
        original = getattr(AsyncConnection, name)

        def timed(original: Any = original) -> Any:
            async def call(self: AsyncConnection, statement: Any, *args: Any, **kwargs: Any) -> Any:
                started = time.monotonic()
                try:
                    return await original(self, statement, *args, **kwargs)
                finally:
                    if (took := time.monotonic() - started) > SHOWN_S:
                        print(f"    {took:6.2f} s  {' '.join(str(statement).split())[:100]}")

            return call

        setattr(AsyncConnection, name, timed())


def timed_phase(owner: Any, name: str, label: str) -> None:
    original = getattr(owner, name)

    async def call(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return await original(*args, **kwargs)
        finally:
            print(f"  {label}: {time.monotonic() - started:.2f} s")

    setattr(owner, name, call)


def cpu(who: int) -> float:
    used = resource.getrusage(who)
    return used.ru_utime + used.ru_stime


async def main(n: int) -> None:
    payloads = events(n)
    local = LocalPostgres(Path(f"/tmp/rucnet-rebuild-phases-{uuid.uuid4().hex[:6]}"))
    await asyncio.to_thread(local.start)
    try:
        admin = await asyncpg.connect(local.admin_dsn.rsplit("/", 1)[0] + "/postgres")
        await admin.execute("CREATE DATABASE phases")
        await admin.close()
        dsn = local.admin_dsn.rsplit("/", 1)[0] + "/phases"
        await asyncio.to_thread(upgrade, dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
        engine = create_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
        show_slow_statements()
        timed_phase(rebuild.Replay, "stream_to", "replay")
        timed_phase(rebuild, "swap", "swap (under the lock, with the catch-up before it)")
        conn = await asyncpg.connect(dsn)
        wal = await conn.fetchval("SELECT pg_current_wal_lsn()")
        own, workers = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        result = await rebuild.rebuild_from(engine, ListReader(payloads))
        written = await conn.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal)
        size = await conn.fetchval("SELECT pg_total_relation_size('insats_record')")
        await conn.close()
        await engine.dispose()
        print(
            f"{n:,} insatser: {result.seconds:.2f} s = {rebuild.rate_per_minute(result) / 1e6:.2f} M/min;"
            f" CPU here {cpu(resource.RUSAGE_SELF) - own:.1f} s, fold workers"
            f" {cpu(resource.RUSAGE_CHILDREN) - workers:.1f} s; WAL {int(written) / 1e6:.0f} MB;"
            f" insats_record with its indexes {size / 1e6:.0f} MB"
        )
    finally:
        await asyncio.to_thread(local.stop)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--insatser", type=int, default=1_000_000)
    run(main(parser.parse_args().insatser))
