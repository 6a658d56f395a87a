"""Rebuild: replay the topics from the beginning into shadow tables, then swap them in at once.

The replay streams batches. Each is validated as the aggregator does (a poison message is skipped),
folded in memory (within the batch, records keep their highest version and overrides their latest
decision) and appended to ``<table>__shadow`` copies that have no keys, only the batch's sequence
number: PostgreSQL takes a batch by COPY, SQLite by one executemany per table. The next batch is
read and folded (in a thread) while the previous one is written, so memory holds a few batches
however long the topics are.

The swap is one transaction: it locks the live tables against the aggregator's writes (PostgreSQL:
EXCLUSIVE, so dashboards still read the old numbers; SQLite: the single write lock), appends what
arrived since the replay, replaces the live rows with the winner per key (records: highest version,
then latest batch; overrides: latest decision, then event id; reports: highest version; the first
processed event), retracts the records whose report has a later version (as ``folding.py`` does
live), lays the overrides over the records and recounts them: SQL groups the records by what the
counts see (a few thousand groups for a million records) and ``counting.count_records`` counts
the groups, so the rule is the live one and no record passes through Python. An aggregator running
meanwhile waits, then dedupes against the new ``processed_event``: nothing is lost or counted twice.

Analyst overrides already stored are kept (merged with the replayed ones, the latest wins): the
embedded broker forgets everything on restart and intake re-sends only reports, not overrides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import ConsumerRecord
from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import GROUPED_FACTS, SUMMED_FACTS, InsatsFacts, KnownCodes, count_records
from services.aggregator.folding import override_row, override_wins, record_row, stored_forms
from services.aggregator.handlers import classified_problems, known_codes, override_problems
from services.aggregator.tables import (
    COUNT_TABLES,
    OVERRIDES,
    PROCESSED,
    RECORD_COLUMNS,
    RECORDS,
    REPORTS,
    RETRACTIONS,
    STATE_TABLES,
    InsatsKey,
)
from services.aggregator.upserts import count_row
from shared import topics
from shared.events import ClassificationOverridden, ReportClassified, utcnow
from shared.topic_reader import TopicReader

SHADOW = "__shadow"
REPLAYED_TOPICS = (topics.REPORTS_CLASSIFIED, topics.CLASSIFICATIONS_OVERRIDDEN)
REPLAYED_TABLES = (PROCESSED, OVERRIDES, REPORTS, RECORDS)  # what the replay fills; the rest is derived
Progress = Callable[[int, int], None]
Row = tuple[Any, ...]

# The order of the tuples the replay builds; each ends with the batch's sequence number ("seq").
COLUMNS = {
    RECORDS.name: (*RECORD_COLUMNS, "seq"),
    OVERRIDES.name: ("ruc_id", "year", "ref", "nsp_area", "event_id", "occurred_at", "seq"),
    PROCESSED.name: ("event_id", "topic", "processed_at", "seq"),
    REPORTS.name: ("report_id", "version", "seq"),
}
_VERSION = COLUMNS[RECORDS.name].index("version")
# The row that holds per key at the swap: the greatest in these columns (compared in order), ties
# to the later batch; None: the first one seen (a processed event id).
LATEST_BY: dict[str, tuple[str, ...] | None] = {
    RECORDS.name: ("version",),
    OVERRIDES.name: ("occurred_at", "event_id"),
    PROCESSED.name: None,
    REPORTS.name: ("version",),
}


@dataclass
class RebuildResult:
    events: int = 0
    insatser: int = 0
    overrides: int = 0
    skipped: int = 0
    records: int = 0
    seconds: float = 0.0


@dataclass
class Folded:
    """One batch folded: the rows it leaves per key, as tuples in COLUMNS order."""

    seq: int
    records: dict[tuple[Any, ...], Row] = field(default_factory=dict)  # by InsatsKey
    overrides: dict[InsatsKey, dict[str, Any]] = field(default_factory=dict)
    processed: dict[str, Row] = field(default_factory=dict)
    reports: dict[str, Row] = field(default_factory=dict)  # by report id: its highest version


def record_values(event: ReportClassified, stamp: Any, seq: int) -> Iterator[Row]:
    """``folding.record_row`` of each insats (no override: the swap lays them on) and the batch's
    ``seq``. ``stamp`` is the batch's time, already bound for the driver."""
    by_ref = {c.ref: c for c in event.classifications}
    for insats in event.insatser:
        yield (*record_row(event, insats, by_ref[insats.ref], None, stamp), seq)


def _fold_classified(folded: Folded, payload: bytes, known: KnownCodes, stamp: Any) -> tuple[str, int]:
    event = ReportClassified.model_validate_json(payload)
    if classified_problems(event, known):
        raise ValueError("unknown codes")
    records, version = folded.records, event.version
    for row in record_values(event, stamp, folded.seq):  # a ref twice in one event: the last holds
        key = row[:3]
        held = records.get(key)
        if held is None or held[_VERSION] <= version:
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


def fold(
    batch: Sequence[ConsumerRecord[bytes, bytes]],
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


def shadow_tables(dialect: str) -> dict[str, Table]:
    """Keyless copies of the tables the replay fills, plus ``seq``: every batch is a plain append.
    PostgreSQL: unlogged, they are thrown away after the swap."""
    metadata = MetaData()
    prefixes = ["UNLOGGED"] if dialect == "postgresql" else []
    shadow = {}
    for live in REPLAYED_TABLES:
        if {c.name for c in live.columns} | {"seq"} != set(COLUMNS[live.name]):
            raise RuntimeError(f"{live.name} has columns the rebuild does not fill")
        shadow[live.name] = Table(
            live.name + SHADOW,
            metadata,
            *(Column(c.name, c.type, nullable=c.nullable) for c in live.columns),
            Column("seq", Integer, nullable=False),
            prefixes=prefixes,
        )
    return shadow


class ShadowWriter:
    """Appends folded batches to the shadow tables through the driver, without per-row SQLAlchemy
    work; the caller owns the transaction."""

    def __init__(self, conn: AsyncConnection, shadow: dict[str, Table]) -> None:
        self.conn = conn
        self.shadow = shadow
        occurred_at = OVERRIDES.c.occurred_at.type.dialect_impl(conn.dialect)
        self._bind_time = occurred_at.bind_processor(conn.dialect)

    def bind_time(self, value: dt.datetime) -> Any:
        """A datetime as the driver takes it (raw driver calls skip SQLAlchemy's type processing)."""
        return self._bind_time(value) if self._bind_time else value

    def rows(self, folded: Folded) -> dict[str, list[Row]]:
        columns = COLUMNS[OVERRIDES.name]
        overrides = [
            tuple(self.bind_time(o[c]) if c == "occurred_at" else o[c] for c in columns)
            for o in folded.overrides.values()
        ]
        return {
            RECORDS.name: list(folded.records.values()),
            OVERRIDES.name: overrides,
            PROCESSED.name: list(folded.processed.values()),
            REPORTS.name: list(folded.reports.values()),
        }

    async def write(self, folded: Folded) -> None:
        for name, rows in self.rows(folded).items():
            if rows:
                await self.append(self.shadow[name], COLUMNS[name], rows)

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        raise NotImplementedError


class CopyShadowWriter(ShadowWriter):
    """PostgreSQL: COPY (binary), inside the caller's transaction once it has run a statement."""

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        driver = (await self.conn.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.copy_records_to_table(table.name, records=rows, columns=columns)


class ExecutemanyShadowWriter(ShadowWriter):
    """SQLite: one executemany of plain tuples per table."""

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        await self.conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def shadow_writer(conn: AsyncConnection, shadow: dict[str, Table]) -> ShadowWriter:
    if conn.dialect.name == "postgresql":
        return CopyShadowWriter(conn, shadow)
    return ExecutemanyShadowWriter(conn, shadow)


@dataclass
class Replay:
    """What the replay and the swap's catch-up share: codes, counters and the batch sequence."""

    writer: ShadowWriter
    result: RebuildResult
    known: KnownCodes = field(default_factory=known_codes)
    seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # 0: stored overrides

    def fold(self, batch: Sequence[ConsumerRecord[bytes, bytes]]) -> Folded:
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
                    async with self.writer.conn.begin():
                        await self.writer.write(batch)
                    if progress:
                        progress(self.result.events, self.result.insatser)
        except BaseExceptionGroup as failed:  # the reader's or the writer's error, not a group of one
            raise failed.exceptions[0] from failed


async def _lock_live(conn: AsyncConnection) -> None:
    """Hold off the aggregator's writes (it starts every transaction with processed_event)."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(t.name for t in STATE_TABLES)
        await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    else:  # the first write takes SQLite's one write lock for the whole transaction
        await conn.execute(text(f"DELETE FROM {PROCESSED.name} WHERE 1 = 0"))


def _copy_winners(conn: AsyncConnection, live: Table, shadow: Table) -> Any:
    """INSERT into the live table the shadow row that holds for each key (LATEST_BY)."""
    columns = [c.name for c in live.columns]
    keys = [c.name for c in live.primary_key.columns]
    latest = LATEST_BY[live.name]
    if conn.dialect.name == "sqlite":  # upserts in the order the rows were appended: no sort
        appended = select(*(shadow.c[c] for c in columns)).where(true()).order_by(text("rowid"))
        stmt = sqlite.insert(live).from_select(columns, appended)
        if latest is None:
            return stmt.on_conflict_do_nothing(index_elements=keys)
        newer = tuple_(*(live.c[c] for c in latest)) <= tuple_(*(stmt.excluded[c] for c in latest))
        others = {c: stmt.excluded[c] for c in columns if c not in keys}
        return stmt.on_conflict_do_update(index_elements=keys, set_=others, where=newer)
    # PostgreSQL: one statement may not update a row twice, so rank the rows per key
    order = [shadow.c.seq] if latest is None else [*(shadow.c[c].desc() for c in latest), shadow.c.seq.desc()]
    rank = func.row_number().over(partition_by=[shadow.c[c] for c in keys], order_by=order)
    ranked = select(*(shadow.c[c] for c in columns), rank.label("rank")).subquery()
    return insert(live).from_select(
        columns, select(*(ranked.c[c] for c in columns)).where(ranked.c.rank == 1)
    )


async def _overrides_onto_records(conn: AsyncConnection) -> None:
    rec, ovr = RECORDS, OVERRIDES
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


async def _retract_superseded(conn: AsyncConnection) -> None:
    """A record whose report has a later version (one that left it out) is retracted."""
    rec, rep = RECORDS, REPORTS
    later = exists(
        select(rep.c.report_id).where(rep.c.report_id == rec.c.report_id, rep.c.version > rec.c.version)
    )
    columns = [c.name for c in RETRACTIONS.columns]
    await conn.execute(
        insert(RETRACTIONS).from_select(columns, select(*(rec.c[c] for c in columns)).where(later))
    )
    await conn.execute(rec.delete().where(later))


async def _recount(conn: AsyncConnection) -> int:
    """Fill the (emptied) count tables from the records: SQL groups them by what the counts see
    (a few thousand groups), ``counting.count_records`` counts the groups. The number of records."""
    if conn.dialect.name == "postgresql":  # hash the groups in memory, not sort text on disk: ×2
        await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    seen = [RECORDS.c[c] for c in GROUPED_FACTS]
    sums = [func.sum(RECORDS.c[c]) for c in SUMMED_FACTS]
    groups = []
    for row in await conn.execute(select(*seen, *sums, func.count()).group_by(*seen)):
        values = dict(zip((*GROUPED_FACTS, *SUMMED_FACTS), row, strict=False))
        values["school_forms"] = stored_forms(values["school_forms"])
        groups.append((InsatsFacts(**values), int(row[-1])))
    rows: dict[str, list[dict[str, object]]] = {}
    for key, measures in count_records(groups).items():
        rows.setdefault(key.table, []).append(count_row(key, measures))
    for name, table in COUNT_TABLES.items():
        if rows.get(name):
            await conn.execute(insert(table), rows[name])
    return sum(n for _, n in groups)


async def _swap(conn: AsyncConnection, shadow: dict[str, Table]) -> int:
    """Replace the live rows with the shadow's winners, lay the overrides on and recount; the
    number of records."""
    for table in STATE_TABLES:
        await conn.execute(table.delete())
    for table in REPLAYED_TABLES:
        await conn.execute(_copy_winners(conn, table, shadow[table.name]))
    await _retract_superseded(conn)
    await _overrides_onto_records(conn)
    return await _recount(conn)


async def _create_shadow(conn: AsyncConnection, shadow: dict[str, Table]) -> None:
    await _drop_shadow(conn, shadow)
    for table in shadow.values():
        await conn.run_sync(table.create)
    columns = [c.name for c in OVERRIDES.columns]  # the stored overrides, as batch 0
    stored = select(*(OVERRIDES.c[c] for c in columns), literal(0))
    await conn.execute(insert(shadow[OVERRIDES.name]).from_select([*columns, "seq"], stored))


async def _drop_shadow(conn: AsyncConnection, shadow: dict[str, Table]) -> None:
    for table in shadow.values():
        await conn.run_sync(table.drop, checkfirst=True)


class Reader(Protocol):
    """Where the replay reads from: ``TopicReader`` (the topics up to their end), or a test's list."""

    def batches(self) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]: ...


async def _replay_and_swap(
    conn: AsyncConnection, reader: Reader, result: RebuildResult, progress: Progress | None
) -> None:
    shadow = shadow_tables(conn.dialect.name)
    replay = Replay(shadow_writer(conn, shadow), result)
    async with conn.begin():
        await _create_shadow(conn, shadow)
    try:
        await replay.stream(reader, progress)
        async with conn.begin():
            await _lock_live(conn)
            await replay.catch_up(reader)  # whatever arrived during the replay
            result.records = await _swap(conn, shadow)
        if progress:
            progress(result.events, result.insatser)
    finally:
        async with conn.begin():
            await _drop_shadow(conn, shadow)


async def rebuild_from(
    engine: AsyncEngine, reader: Reader, progress: Progress | None = None
) -> RebuildResult:
    started = time.monotonic()
    result = RebuildResult()
    async with engine.connect() as conn:  # one connection, so the batches' COPY can join its transaction
        await _replay_and_swap(conn, reader, result, progress)
    result.seconds = time.monotonic() - started
    return result


async def rebuild(engine: AsyncEngine, bootstrap: str, progress: Progress | None = None) -> RebuildResult:
    async with TopicReader(bootstrap, REPLAYED_TOPICS) as reader:
        return await rebuild_from(engine, reader, progress)


def rate_per_minute(result: RebuildResult) -> float:
    return result.insatser / max(result.seconds, 1e-9) * 60
