"""The rebuild's shadow tables and its swap.

The replay appends folded batches to ``<table>__shadow`` copies that have no keys, only the batch's
sequence number: PostgreSQL takes a batch by COPY, SQLite by one executemany per table.

The swap is one transaction: it locks the live tables against the aggregator's writes (PostgreSQL:
EXCLUSIVE, so dashboards still read the old numbers; SQLite: the single write lock), replaces the
live rows with the winner per key (records: highest version, then latest batch; overrides: latest
decision, then event id; reports: highest version; the first processed event), retracts the records
whose report has a later version (as ``folding.py`` does live), lays the overrides over the records
and recounts them (``recount.py``: the live rule, no record passes through Python).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    and_,
    exists,
    insert,
    literal,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from services.aggregator.recount import recount
from services.aggregator.table_swap import NEXT, build_indexes, create_next, swap_in
from services.aggregator.tables import (
    OVERRIDES,
    PROCESSED,
    RECORDS,
    REPORTS,
    RETRACTIONS,
    STATE_TABLES,
    InsatsKey,
    InsatsRow,
)

SHADOW = "__shadow"
REPLAYED_TABLES = (PROCESSED, OVERRIDES, REPORTS, RECORDS)  # what the replay fills; the rest is derived
Row = tuple[Any, ...]

# The columns of the rows the writer appends; each ends with the batch's sequence number ("seq").
COLUMNS = {
    RECORDS.name: (*InsatsRow._fields, "seq"),
    OVERRIDES.name: ("ruc_id", "year", "ref", "nsp_area", "event_id", "occurred_at", "seq"),
    PROCESSED.name: ("event_id", "topic", "processed_at", "seq"),
    REPORTS.name: ("report_id", "version", "seq"),
}
# The row that holds per key at the swap: the greatest in these columns (compared in order), ties
# to the later batch; None: the first one seen (a processed event id).
LATEST_BY: dict[str, tuple[str, ...] | None] = {
    RECORDS.name: ("version",),
    OVERRIDES.name: ("occurred_at", "event_id"),
    PROCESSED.name: None,
    REPORTS.name: ("version",),
}


@dataclass
class Folded:
    """One batch folded: the rows it leaves per key (processed events and reports as tuples in
    COLUMNS order, seq last)."""

    seq: int
    records: dict[InsatsKey, InsatsRow] = field(default_factory=dict)
    overrides: dict[InsatsKey, dict[str, Any]] = field(default_factory=dict)
    processed: dict[str, Row] = field(default_factory=dict)
    reports: dict[str, Row] = field(default_factory=dict)  # by report id: its highest version


def shadow_tables(dialect: str) -> dict[str, Table]:
    """Keyless copies of the tables the replay fills, plus ``seq``: every batch is a plain append.
    PostgreSQL: unlogged, they are thrown away after the swap; the records go straight into the
    new ``insats_record`` (``table_swap.NEXT``: logged, no ``seq``, no keys until the swap)."""
    metadata = MetaData()
    prefixes = ["UNLOGGED"] if dialect == "postgresql" else []
    shadow = {}
    for live in REPLAYED_TABLES:
        if {c.name for c in live.columns} | {"seq"} != set(COLUMNS[live.name]):
            raise RuntimeError(f"{live.name} has columns the rebuild does not fill")
        columns = [Column(c.name, c.type, nullable=c.nullable) for c in live.columns]
        if dialect == "postgresql" and live is RECORDS:
            shadow[live.name] = Table(live.name + NEXT, metadata, *columns)
            continue
        seq = Column("seq", Integer, nullable=False)
        shadow[live.name] = Table(live.name + SHADOW, metadata, *columns, seq, prefixes=prefixes)
    return shadow


class ShadowWriter:
    """Appends folded batches to the shadow tables through the driver, without per-row SQLAlchemy
    work; the caller owns the transaction."""

    def __init__(self, dialect: Dialect, shadow: dict[str, Table]) -> None:
        self.shadow = shadow
        self.columns = {name: tuple(c.name for c in table.columns) for name, table in shadow.items()}
        occurred_at = OVERRIDES.c.occurred_at.type.dialect_impl(dialect)
        self._bind_time = occurred_at.bind_processor(dialect)

    def bind_time(self, value: dt.datetime) -> Any:
        """A datetime as the driver takes it (raw driver calls skip SQLAlchemy's type processing)."""
        return self._bind_time(value) if self._bind_time else value

    def rows(self, folded: Folded) -> dict[str, list[Row]]:
        columns, seq = COLUMNS[OVERRIDES.name], folded.seq
        overrides = [
            tuple(self.bind_time(o[c]) if c == "occurred_at" else o[c] for c in columns)
            for o in folded.overrides.values()
        ]
        with_seq = "seq" in self.columns[RECORDS.name]
        return {
            RECORDS.name: [(*r, seq) for r in folded.records.values()]
            if with_seq
            else [*folded.records.values()],
            OVERRIDES.name: overrides,
            PROCESSED.name: list(folded.processed.values()),
            REPORTS.name: list(folded.reports.values()),
        }

    async def write(self, folded: Folded) -> None:
        for name, rows in self.rows(folded).items():
            if rows:
                await self.append(self.shadow[name], self.columns[name], rows)

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        raise NotImplementedError


class CopyShadowWriter(ShadowWriter):
    """PostgreSQL: COPY (binary) on an asyncpg connection: the rebuild's own (``driver`` gives it;
    inside the caller's transaction once it has run a statement) or a fold worker's."""

    def __init__(
        self, dialect: Dialect, shadow: dict[str, Table], driver: Callable[[], Awaitable[Any]]
    ) -> None:
        super().__init__(dialect, shadow)
        self.driver = driver

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        driver = await self.driver()
        await driver.copy_records_to_table(table.name, records=rows, columns=columns)


class ExecutemanyShadowWriter(ShadowWriter):
    """SQLite: one executemany of plain tuples per table."""

    def __init__(self, conn: AsyncConnection, shadow: dict[str, Table]) -> None:
        super().__init__(conn.dialect, shadow)
        self.conn = conn

    async def append(self, table: Table, columns: tuple[str, ...], rows: list[Row]) -> None:
        names, marks = ", ".join(columns), ", ".join("?" * len(columns))
        await self.conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


def shadow_writer(conn: AsyncConnection, shadow: dict[str, Table]) -> ShadowWriter:
    if conn.dialect.name != "postgresql":
        return ExecutemanyShadowWriter(conn, shadow)

    async def driver() -> Any:
        return (await conn.get_raw_connection()).driver_connection

    return CopyShadowWriter(conn.dialect, shadow, driver)


def _copy_winners(conn: AsyncConnection, live: Table, shadow: Table) -> Any:
    """SQLite: INSERT into the live table the shadow row that holds for each key (LATEST_BY), by
    upserts in the order the rows were appended (no sort)."""
    columns = [c.name for c in live.columns]
    keys = [c.name for c in live.primary_key.columns]
    latest = LATEST_BY[live.name]
    appended = select(*(shadow.c[c] for c in columns)).where(true()).order_by(text("rowid"))
    stmt = sqlite.insert(live).from_select(columns, appended)
    if latest is None:
        return stmt.on_conflict_do_nothing(index_elements=keys)
    newer = tuple_(*(live.c[c] for c in latest)) <= tuple_(*(stmt.excluded[c] for c in latest))
    others = {c: stmt.excluded[c] for c in columns if c not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=others, where=newer)


def _insert_winners(live: Table, shadow: Table, into: Table) -> str:
    """PostgreSQL: INSERT into ``into`` every shadow row but those another row of the same key beats
    (LATEST_BY). Only keys appended more than once are ranked (a hash of the keys finds them), so
    the million rows of a rebuild are copied, not sorted."""
    columns = ", ".join(c.name for c in live.columns)
    keys = ", ".join(c.name for c in live.primary_key.columns)
    latest = LATEST_BY[live.name]
    order = "seq" if latest is None else ", ".join([*(f"{c} DESC" for c in latest), "seq DESC"])
    return (
        f"INSERT INTO {into.name} ({columns}) SELECT {columns} FROM {shadow.name} s"
        " WHERE NOT EXISTS (SELECT FROM ("
        f"SELECT l.ctid, row_number() OVER (PARTITION BY {keys} ORDER BY {order}) AS rank"
        f" FROM {shadow.name} l JOIN (SELECT {keys} FROM {shadow.name} GROUP BY {keys}"
        f" HAVING count(*) > 1) twice USING ({keys})) beaten WHERE rank > 1 AND beaten.ctid = s.ctid)"
    )


def _delete_beaten_records(records: Table, processed: Table) -> str:
    """PostgreSQL: delete the replayed records another of the same key beats (LATEST_BY; ties to
    the batch that held its event last, as in ``_insert_winners``: the new table has no ``seq``,
    the processed events' shadow has it). Only keys appended more than once are ranked."""
    keys = ", ".join(c.name for c in RECORDS.primary_key.columns)
    return (
        f"DELETE FROM {records.name} WHERE ctid IN (SELECT ctid FROM ("
        f"SELECT r.ctid, row_number() OVER (PARTITION BY {keys}"
        " ORDER BY r.version DESC, held.seq DESC, r.ctid DESC) AS rank"
        f" FROM {records.name} r JOIN (SELECT {keys} FROM {records.name} GROUP BY {keys}"
        f" HAVING count(*) > 1) twice USING ({keys}) JOIN (SELECT event_id, max(seq) AS seq"
        f" FROM {processed.name} GROUP BY event_id) held ON held.event_id = r.last_event_id"
        ") beaten WHERE rank > 1)"
    )


async def _overrides_onto_records(conn: AsyncConnection, rec: Table) -> None:
    ovr = OVERRIDES
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


async def _retract_superseded(conn: AsyncConnection, rec: Table) -> None:
    """A record whose report has a later version (one that left it out) is retracted."""
    rep = REPORTS
    later = exists(
        select(rep.c.report_id).where(rep.c.report_id == rec.c.report_id, rep.c.version > rec.c.version)
    )
    columns = [c.name for c in RETRACTIONS.columns]
    if conn.dialect.name == "postgresql":  # one pass: the deleted rows are the retractions
        gone = rec.delete().where(later).returning(*(rec.c[c] for c in columns)).cte("gone")
        await conn.execute(insert(RETRACTIONS).from_select(columns, select(*(gone.c[c] for c in columns))))
        return
    await conn.execute(
        insert(RETRACTIONS).from_select(columns, select(*(rec.c[c] for c in columns)).where(later))
    )
    await conn.execute(rec.delete().where(later))


async def swap(conn: AsyncConnection, shadow: dict[str, Table]) -> int:
    """Replace the live rows with the shadow's winners, lay the overrides on and recount; the
    number of records. PostgreSQL builds the new ``insats_record`` beside the live one and swaps
    it in by rename (``table_swap.py``); SQLite replaces the rows in place."""
    if conn.dialect.name != "postgresql":
        for table in STATE_TABLES:
            await conn.execute(table.delete())
        for table in REPLAYED_TABLES:
            await conn.execute(_copy_winners(conn, table, shadow[table.name]))
        await _retract_superseded(conn, RECORDS)
        await _overrides_onto_records(conn, RECORDS)
        return await recount(conn)
    await conn.execute(text("SET LOCAL work_mem = '128MB'"))  # a million keys hashed in memory
    for table in STATE_TABLES:
        if table is not RECORDS:
            await conn.execute(table.delete())
    for table in (PROCESSED, OVERRIDES, REPORTS):
        await conn.exec_driver_sql(_insert_winners(table, shadow[table.name], table))
    records = shadow[RECORDS.name]  # the new insats_record, filled by the replay
    await conn.exec_driver_sql(_delete_beaten_records(records, shadow[PROCESSED.name]))
    await _retract_superseded(conn, records)
    await _overrides_onto_records(conn, records)
    indexes = await build_indexes(conn, RECORDS, records)
    counted = await recount(conn, records)
    await swap_in(conn, RECORDS, records, indexes)
    return counted


async def create_shadow(conn: AsyncConnection, shadow: dict[str, Table]) -> None:
    await drop_shadow(conn, shadow)
    for table in shadow.values():
        if table.name == RECORDS.name + NEXT:
            await create_next(conn, RECORDS)  # like the live table, its defaults and constraints
        else:
            await conn.run_sync(table.create)
    columns = [c.name for c in OVERRIDES.columns]  # the stored overrides, as batch 0
    stored = select(*(OVERRIDES.c[c] for c in columns), literal(0))
    await conn.execute(insert(shadow[OVERRIDES.name]).from_select([*columns, "seq"], stored))


async def drop_shadow(conn: AsyncConnection, shadow: dict[str, Table]) -> None:
    for table in shadow.values():
        await conn.run_sync(table.drop, checkfirst=True)
