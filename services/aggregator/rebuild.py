"""Rebuild: replay the topics from the beginning into shadow tables, then swap them in at once.

The replay streams batches. Each is validated as the aggregator does (a poison message is skipped),
folded in memory (within the batch, records keep their highest version and overrides their latest
decision) and appended to ``<table>__shadow`` copies that have no keys, only the batch's sequence
number (PostgreSQL: the records go straight into the new ``insats_record__next``, see
``shadow.py``). PostgreSQL: worker processes fold the batches and COPY them, each on its own
connection (``fold_workers.py``), while this process reads. SQLite: the next batch is folded (in a
thread) while the previous one is written by one executemany per table. Either way memory holds a
few batches however long the topics are.

The swap (``swap.py``) is one transaction that replaces the live state with what the replay
built, recounted by the live rule; an aggregator running meanwhile waits, then dedupes against
the new ``processed_event``: nothing is lost or counted twice.

Analyst overrides already stored are kept (merged with the replayed ones, the latest wins): the
embedded broker forgets everything on restart and intake re-sends only reports, not overrides.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import KnownCodes
from services.aggregator.fold_workers import IN_FLIGHT, WORKERS, Counted, fold_and_copy, fold_workers
from services.aggregator.fold_workers import Message as WorkerMessage
from services.aggregator.folding import override_row, override_wins, record_values
from services.aggregator.handlers import classified_problems, known_codes, override_problems
from services.aggregator.recount import lock_live
from services.aggregator.shadow import (
    Folded,
    ShadowWriter,
    create_shadow,
    drop_shadow,
    shadow_tables,
    shadow_writer,
)
from services.aggregator.swap import swap
from shared import topics
from shared.events import ClassificationOverridden, ReportClassified, utcnow
from shared.topic_reader import TopicReader

GC_YOUNG = 50_000  # allocations between collections of the youngest generation (Python's default: 700)
REPLAYED_TOPICS = (topics.REPORTS_CLASSIFIED, topics.CLASSIFICATIONS_OVERRIDDEN)
Progress = Callable[[int, int], None]


@dataclass
class RebuildResult:
    events: int = 0
    insatser: int = 0
    overrides: int = 0
    skipped: int = 0
    records: int = 0
    seconds: float = 0.0

    def add(self, counted: Counted) -> None:
        self.events += counted.events
        self.insatser += counted.insatser
        self.overrides += counted.overrides
        self.skipped += counted.skipped


def _fold_classified(folded: Folded, payload: bytes, known: KnownCodes, stamp: Any) -> tuple[str, int]:
    event = ReportClassified.model_validate_json(payload)
    if classified_problems(event, known):
        raise ValueError("unknown codes")
    records, version = folded.records, event.version
    # no override here (the swap lays them on); a ref twice: the last holds
    for row in record_values(event, stamp):
        key = (row.ruc_id, row.year, row.ref)
        held = records.get(key)
        if held is None or held.version <= version:
            records[key] = row
    report = str(event.report_id)
    latest = folded.reports.get(report)
    if latest is None or latest[1] < version:
        folded.reports[report] = (report, version, folded.seq)
    return str(event.event_id), len(event.insatser)


def _fold_override(folded: Folded, payload: bytes, known: KnownCodes) -> str:
    override = ClassificationOverridden.model_validate_json(payload)
    if override_problems(override, known):
        raise ValueError("unknown codes")
    key = (override.ruc_id, override.year, override.ref)
    if override_wins(folded.overrides.get(key), override):
        folded.overrides[key] = override_row(override) | {"seq": folded.seq}
    return str(override.event_id)


class Message(Protocol):
    """What the fold reads of a message: a consumer record, or ``fold_workers.Message``."""

    @property
    def topic(self) -> str: ...
    @property
    def value(self) -> bytes | None: ...


def fold(
    batch: Sequence[Message],
    known: KnownCodes,
    stamp: Any,
    seq: int,
    result: RebuildResult,
) -> Folded:
    """Validate and fold a batch; poison messages are skipped (they are dead letters)."""
    folded = Folded(seq)
    for message in batch:
        try:
            if message.topic == topics.CLASSIFICATIONS_OVERRIDDEN:
                event_id = _fold_override(folded, message.value or b"", known)
                result.overrides += 1
            else:
                event_id, insatser = _fold_classified(folded, message.value or b"", known, stamp)
                result.insatser += insatser
        except (ValidationError, ValueError):
            result.skipped += 1
            continue
        result.events += 1
        folded.processed.setdefault(event_id, (event_id, message.topic, stamp, seq))
    return folded


@dataclass
class Replay:
    """What the replay and the swap's catch-up share: codes, counters and the batch sequence."""

    conn: AsyncConnection
    writer: ShadowWriter
    result: RebuildResult
    known: KnownCodes = field(default_factory=known_codes)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # 0: stored overrides

    def fold(self, batch: Sequence[Message]) -> Folded:
        stamp = self.writer.bind_time(utcnow())
        return fold(batch, self.known, stamp, next(self.seq), self.result)

    async def catch_up(self, reader: Reader) -> None:
        async for batch in reader.batches():
            await self.writer.write(self.fold(batch))

    async def stream(self, reader: Reader, progress: Progress | None) -> None:
        """Read and fold the next batch while the previous one is written (one waits between).
        The fold runs in a thread so that it cannot hold up the writer's round trips: the
        interpreter switches between them every few milliseconds, and the database works on."""
        folded: asyncio.Queue[Folded | None] = asyncio.Queue(maxsize=1)

        async def read() -> None:
            async for batch in reader.batches():
                await folded.put(await asyncio.to_thread(self.fold, batch))
            await folded.put(None)

        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(read())
                while (batch := await folded.get()) is not None:
                    async with self.conn.begin():
                        await self.writer.write(batch)
                    if progress:
                        progress(self.result.events, self.result.insatser)
        except BaseExceptionGroup as failed:  # the reader's or the writer's error, not a group of one
            raise failed.exceptions[0] from failed

    async def stream_to(self, pool: ProcessPoolExecutor, reader: Reader, progress: Progress | None) -> None:
        """PostgreSQL: hand the batches, numbered as read, to the fold workers (``fold_workers``),
        a few per worker ahead of them; return when all are committed."""
        loop = asyncio.get_running_loop()
        running: set[asyncio.Future[Counted]] = set()

        async def settle(until: int) -> None:
            nonlocal running
            while len(running) > until:
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    self.result.add(future.result())
                if progress:
                    progress(self.result.events, self.result.insatser)

        try:
            async for batch in reader.batches():
                messages = [WorkerMessage(m.topic, m.value or b"") for m in batch]
                running.add(loop.run_in_executor(pool, fold_and_copy, messages, next(self.seq), utcnow()))
                await settle(IN_FLIGHT * WORKERS - 1)
            await settle(0)
        finally:
            for future in running:
                future.cancel()


class Reader(Protocol):
    """Where the replay reads from: ``TopicReader`` (the topics up to their end), or a test's list."""

    def batches(self) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]: ...


async def _replay_and_swap(
    conn: AsyncConnection, reader: Reader, result: RebuildResult, progress: Progress | None
) -> None:
    shadow = shadow_tables(conn.dialect.name)
    writes_by_copy = conn.dialect.name == "postgresql"
    replay = Replay(conn, shadow_writer(conn, shadow), result)
    async with conn.begin():
        await create_shadow(conn, shadow)
    try:
        workers = fold_workers(conn.engine.url, replay.known) if writes_by_copy else nullcontext(None)
        with workers as pool:
            if pool is not None:
                await replay.stream_to(pool, reader, progress)
            else:
                await replay.stream(reader, progress)
        async with conn.begin():
            await lock_live(conn)
            await replay.catch_up(reader)  # whatever arrived during the replay
            result.records = await swap(conn, shadow)
        if progress:
            progress(result.events, result.insatser)
    finally:
        async with conn.begin():
            await drop_shadow(conn, shadow)


async def rebuild_from(
    engine: AsyncEngine, reader: Reader, progress: Progress | None = None
) -> RebuildResult:
    started = time.monotonic()
    result = RebuildResult()
    # The fold makes millions of named records (GC-tracked, where plain tuples of plain values are
    # not) and holds only a few batches: collect the youngest generation less often, as before.
    threshold = gc.get_threshold()
    gc.set_threshold(GC_YOUNG, *threshold[1:])
    try:
        async with engine.connect() as conn:  # one connection, so the batches' COPY joins its transaction
            await _replay_and_swap(conn, reader, result, progress)
    finally:
        gc.set_threshold(*threshold)
    result.seconds = time.monotonic() - started
    return result


async def rebuild(engine: AsyncEngine, bootstrap: str, progress: Progress | None = None) -> RebuildResult:
    async with TopicReader(bootstrap, REPLAYED_TOPICS) as reader:
        return await rebuild_from(engine, reader, progress)


def rate_per_minute(result: RebuildResult) -> float:
    return result.insatser / max(result.seconds, 1e-9) * 60
