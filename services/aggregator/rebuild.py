"""Rebuild: replay the topics from the beginning into shadow tables, then swap them in at once.

The replay streams batches into ``<table>__shadow`` copies (records keep their highest version,
overrides their latest decision), so memory stays flat however long the topics are. The swap is one
transaction: it locks the live tables against the aggregator's writes (PostgreSQL: EXCLUSIVE, so
dashboards still read the old numbers; SQLite: the single write lock), reads what arrived since the
replay, lays the overrides over the records, recounts them with ``counting.all_contributions``, and
replaces the live rows. An aggregator running meanwhile waits, then dedupes against the new
``processed_event``: nothing is lost or counted twice.

Analyst overrides already stored are kept (merged with the replayed ones, the latest wins): the
embedded broker forgets everything on restart and intake re-sends only reports, not overrides.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from sqlalchemy import MetaData, Table, and_, exists, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import CountKey, KnownCodes, all_contributions
from services.aggregator.handlers import classified_problems, known_codes, override_problems
from services.aggregator.store import (
    COUNT_TABLES,
    OVERRIDES,
    PROCESSED,
    RECORDS,
    STATE_TABLES,
    count_rows,
    facts_of,
    override_wins,
    record_row,
)
from services.aggregator.verify import stream_rows
from shared import topics
from shared.events import ClassificationOverridden, ReportClassified, utcnow

SHADOW = "__shadow"
REPLAYED_TOPICS = (topics.REPORTS_CLASSIFIED, topics.CLASSIFICATIONS_OVERRIDDEN)
Progress = Callable[[int, int], None]


class TopicReader:
    """Reads topics from the beginning without a consumer group (commits nothing), up to their end.

    The end is where the partitions' end offsets are reached *and* a fetch comes back empty: Tansu's
    end offsets count batches, not records, so they are only a lower bound there.
    """

    def __init__(self, bootstrap: str, names: Sequence[str], idle_ms: int = 500) -> None:
        self.names = tuple(names)
        self.idle_ms = idle_ms
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self.partitions: list[TopicPartition] = []

    async def __aenter__(self) -> TopicReader:
        await self.consumer.start()
        await self.consumer.topics()  # fills the metadata partitions_for_topic reads
        for name in self.names:
            for partition in sorted(self.consumer.partitions_for_topic(name) or ()):
                self.partitions.append(TopicPartition(name, partition))
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.consumer.stop()

    async def _at_end(self) -> bool:
        ends = await self.consumer.end_offsets(self.partitions)
        return all([await self.consumer.position(tp) >= ends[tp] for tp in self.partitions])

    async def batches(self, max_records: int = 2000) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        idle = 0
        while True:
            fetched = await self.consumer.getmany(timeout_ms=100, max_records=max_records)
            records = [r for batch in fetched.values() for r in batch]
            if records:
                idle = 0
                yield records
                continue
            idle += 100
            if idle >= self.idle_ms and await self._at_end():
                return


@dataclass
class RebuildResult:
    events: int = 0
    insatser: int = 0
    overrides: int = 0
    skipped: int = 0
    records: int = 0
    seconds: float = 0.0


def shadow_tables() -> dict[str, Table]:
    metadata = MetaData()
    return {t.name: t.to_metadata(metadata, name=t.name + SHADOW) for t in STATE_TABLES}


def _insert(conn: AsyncConnection, table: Table) -> Any:
    module: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    return module.insert(table)


async def _upsert_guarded(
    conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], guard: Any
) -> None:
    if not rows:
        return
    stmt = _insert(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    others = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=keys, set_=others, where=guard(table, stmt.excluded)), rows
    )


def _newer_version(table: Table, excluded: Any) -> Any:
    return table.c.version <= excluded.version


def _later_decision(table: Table, excluded: Any) -> Any:
    return or_(
        table.c.occurred_at < excluded.occurred_at,
        and_(table.c.occurred_at == excluded.occurred_at, table.c.event_id <= excluded.event_id),
    )


async def apply_batch(
    conn: AsyncConnection,
    shadow: dict[str, Table],
    batch: list[ConsumerRecord[bytes, bytes]],
    known: KnownCodes,
    result: RebuildResult,
) -> None:
    """Fold a batch into the shadow tables; poison messages are skipped (they are dead letters)."""
    records: dict[tuple[str, int, str], dict[str, Any]] = {}
    overrides: dict[tuple[str, int, str], dict[str, Any]] = {}
    processed: list[dict[str, Any]] = []
    for message in batch:
        try:
            if message.topic == topics.CLASSIFICATIONS_OVERRIDDEN:
                override = ClassificationOverridden.model_validate_json(message.value or b"")
                if override_problems(override, known):
                    raise ValueError("unknown codes")
                key = (override.ruc_id, override.year, override.ref)
                if override_wins(overrides.get(key), override):
                    overrides[key] = {
                        "ruc_id": override.ruc_id,
                        "year": override.year,
                        "ref": override.ref,
                        "nsp_area": override.nsp_area,
                        "event_id": str(override.event_id),
                        "occurred_at": override.occurred_at,
                    }
                event_id, result.overrides = override.event_id, result.overrides + 1
            else:
                event = ReportClassified.model_validate_json(message.value or b"")
                if classified_problems(event, known):
                    raise ValueError("unknown codes")
                by_ref = {c.ref: c for c in event.classifications}
                for insats in event.insatser:
                    row = record_row(event, insats, None, by_ref)
                    key = (event.ruc_id, event.year, insats.ref)
                    if key not in records or records[key]["version"] <= event.version:
                        records[key] = row
                event_id, result.insatser = event.event_id, result.insatser + len(event.insatser)
        except (ValidationError, ValueError):
            result.skipped += 1
            continue
        result.events += 1
        processed.append({"event_id": str(event_id), "topic": message.topic, "processed_at": utcnow()})
    await _upsert_guarded(conn, shadow[RECORDS.name], list(records.values()), _newer_version)
    await _upsert_guarded(conn, shadow[OVERRIDES.name], list(overrides.values()), _later_decision)
    if processed:
        stmt = _insert(conn, shadow[PROCESSED.name]).on_conflict_do_nothing(index_elements=["event_id"])
        await conn.execute(stmt, processed)


async def _lock_live(conn: AsyncConnection) -> None:
    """Hold off the aggregator's writes (it starts every transaction with processed_event)."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(t.name for t in STATE_TABLES)
        await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    else:  # the first write takes SQLite's one write lock for the whole transaction
        await conn.execute(text(f"DELETE FROM {PROCESSED.name} WHERE 1 = 0"))


async def _overrides_onto_records(conn: AsyncConnection, shadow: dict[str, Table]) -> None:
    rec, ovr = shadow[RECORDS.name], shadow[OVERRIDES.name]
    match = and_(ovr.c.ruc_id == rec.c.ruc_id, ovr.c.year == rec.c.year, ovr.c.ref == rec.c.ref)
    await conn.execute(
        update(rec)
        .where(exists(select(ovr.c.ref).where(match)))
        .values(
            nsp_area=select(ovr.c.nsp_area).where(match).scalar_subquery(),
            area_source="override",
            needs_review=False,
        )
    )


async def _swap(conn: AsyncConnection, shadow: dict[str, Table], counts: Counter[CountKey]) -> None:
    for table in STATE_TABLES:
        await conn.execute(table.delete())
    for table in (PROCESSED, OVERRIDES, RECORDS):
        columns = [c.name for c in table.columns]
        source = shadow[table.name]
        await conn.execute(insert(table).from_select(columns, select(*(source.c[c] for c in columns))))
    by_table: dict[str, list[dict[str, object]]] = {}
    for key, n in sorted(counts.items()):
        if n:
            name, row = count_rows(key, n)
            by_table.setdefault(name, []).append(row)
    for name, rows in by_table.items():
        await conn.execute(insert(COUNT_TABLES[name][0]), rows)


async def _create_shadow(engine: AsyncEngine, shadow: dict[str, Table]) -> None:
    async with engine.begin() as conn:
        for table in shadow.values():
            await conn.run_sync(table.drop, checkfirst=True)
            await conn.run_sync(table.create)
        live, copy = OVERRIDES, shadow[OVERRIDES.name]
        columns = [c.name for c in live.columns]
        await conn.execute(insert(copy).from_select(columns, select(*(live.c[c] for c in columns))))


async def _drop_shadow(engine: AsyncEngine, shadow: dict[str, Table]) -> None:
    async with engine.begin() as conn:
        for table in shadow.values():
            await conn.run_sync(table.drop, checkfirst=True)


async def rebuild(engine: AsyncEngine, bootstrap: str, progress: Progress | None = None) -> RebuildResult:
    started = time.monotonic()
    result = RebuildResult()
    shadow = shadow_tables()
    known = known_codes()
    await _create_shadow(engine, shadow)
    try:
        async with TopicReader(bootstrap, REPLAYED_TOPICS) as reader:
            async for batch in reader.batches():
                async with engine.begin() as conn:
                    await apply_batch(conn, shadow, batch, known, result)
                if progress:
                    progress(result.events, result.insatser)
            async with engine.begin() as conn:
                await _lock_live(conn)
                async for batch in reader.batches():  # whatever arrived during the replay
                    await apply_batch(conn, shadow, batch, known, result)
                await _overrides_onto_records(conn, shadow)
                counts: Counter[CountKey] = Counter()
                async for row in stream_rows(conn, shadow[RECORDS.name]):
                    result.records += 1
                    counts.update(all_contributions(facts_of(row)))
                await _swap(conn, shadow, counts)
                if progress:
                    progress(result.events, result.insatser)
    finally:
        await _drop_shadow(engine, shadow)
    result.seconds = time.monotonic() - started
    return result


def rate_per_minute(result: RebuildResult) -> float:
    return result.insatser / max(result.seconds, 1e-9) * 60
