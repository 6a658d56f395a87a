"""The rebuild's shadow tables and the writers that append to them (the swap: ``swap.py``).

The replay appends folded batches to ``<table>__shadow`` copies that have no keys, only the batch's
sequence number: PostgreSQL takes a batch by COPY, SQLite by one executemany per table. On
PostgreSQL the records go instead straight into ``insats_record__next``, the table that will
replace the live one (logged, shaped like it, no keys and no ``seq``: a record's batch is its
event's, in the processed events' shadow).
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
    insert,
    literal,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from services.aggregator.table_swap import NEXT, create_next, next_of
from services.aggregator.tables import (
    OVERRIDES,
    PROCESSED,
    RECORDS,
    REPORTS,
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
        if dialect == "postgresql" and live is RECORDS:
            shadow[live.name] = next_of(live)
            continue
        columns = [Column(c.name, c.type, nullable=c.nullable) for c in live.columns]
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
