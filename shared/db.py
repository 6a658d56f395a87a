"""Database engines: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) for `rucnet dev`."""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, Row, TypeDecorator, and_, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import Insert


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file (and its directory) for this user only, or make an existing one so:
    it holds huvudman names and password hashes. SQLite gives its -wal and -shm files the same mode."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Never open (and close) a database file that exists: closing any descriptor of a file drops
    # every POSIX lock this process holds on it, SQLite's own included, and another process
    # writing meanwhile then corrupts the database. Create a new one exclusively; chmod the rest.
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass
    path.chmod(0o600)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        private_sqlite_file(url)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    # Every statement planned for its own parameters and the table as it is now. asyncpg prepares
    # each statement, and after five runs PostgreSQL may keep a generic plan made while a table was
    # small: the aggregator's lookup of a batch's reports (``report_id IN (…)``) kept a sequential
    # scan and got slower with every row (0.02 → 0.6 s a batch over 100 000 insatser); planned
    # afresh it stays an index scan (planning costs a fraction of a millisecond a statement).
    engine = create_async_engine(
        url,
        pool_size=5,
        max_overflow=5,
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )
    ping_when_idle(engine)
    return engine


IDLE_PING_S = 1.0  # a connection back in the pool for longer than this is pinged before reuse


def ping_when_idle(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` for connections that sat idle: a dead one is replaced before use.

    SQLAlchemy's pre-ping on asyncpg is three round trips (begin, ``;``, rollback) at every checkout,
    several per consumer batch; a connection returned a moment ago is used as it is (one that died
    meanwhile fails its statement, which the consumers redeliver and the pool then replaces)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is not None and time.monotonic() - returned < IDLE_PING_S:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool discards it and tries a new connection
            raise DisconnectionError(str(exc)) from exc


def key_conditions(table: Any, keys: Sequence[tuple[str, int, str]], chunk: int = 500) -> list[Any]:
    """WHERE clauses that together select the rows of ``table`` with these (ruc_id, year, ref) keys.

    One per (ruc_id, year) and up to ``chunk`` refs: ``ruc_id = … AND year = … AND ref IN (…)``,
    which SQLite answers from the primary key (``rows_by_key`` uses it there). PostgreSQL does too
    while its statistics are fresh, but not on a table never analysed (see ``rows_by_key``). A row value
    ``(ruc_id, year, ref) IN ((…), …)`` of hundreds of keys it ran as a sequential scan testing each
    row against each key: in a run of 40 000 insatser such a lookup took 170–400 ms by the end, and
    the classifier's and aggregator's cost per event grew four- to fivefold from start to end.
    """
    refs: dict[tuple[str, int], list[str]] = {}
    for ruc_id, year, ref in keys:
        refs.setdefault((ruc_id, year), []).append(ref)
    return [
        and_(table.c.ruc_id == ruc_id, table.c.year == year, table.c.ref.in_(group[start : start + chunk]))
        for (ruc_id, year), group in refs.items()
        for start in range(0, len(group), chunk)
    ]


@functools.cache
def primary_key_lookup(table: Any, names: tuple[str, ...]) -> Any:
    """PostgreSQL's statement for ``rows_by_key``: binds ``rucs``, ``years`` and ``refs`` arrays."""
    picked = ", ".join(f"found.{name}" for name in names)
    return text(
        f"SELECT {picked} FROM unnest(CAST(:rucs AS VARCHAR[]), CAST(:years AS INTEGER[]), "
        "CAST(:refs AS VARCHAR[])) AS wanted(ruc_id, year, ref) CROSS JOIN LATERAL "
        f"(SELECT * FROM {table.name} AS t WHERE t.ruc_id = wanted.ruc_id AND t.year = wanted.year "
        "AND t.ref = wanted.ref LIMIT 1) AS found"
    ).columns(*(table.c[name] for name in names))


async def rows_by_key(
    session: AsyncSession, table: Any, keys: Sequence[tuple[str, int, str]], names: Sequence[str] = ()
) -> list[Row[Any]]:
    """The rows of ``table`` (columns ``names``, default all) with these (ruc_id, year, ref) keys.

    On PostgreSQL each key is one lookup of the primary key, whatever the table's statistics: the
    LATERAL subquery with its LIMIT cannot be flattened into a join, so the plan is a nested loop of
    unique-index probes. ``ref IN (…)`` per RUC and year (``key_conditions``, still used on SQLite)
    left the choice to the planner, and on a table never analysed (autovacuum off, or not yet run)
    it used only (ruc_id, year) from the index and filtered every row of that RUC and year by ref:
    at 80 000 rows of one RUC a lookup took 0.1 s alone and 0.7–3 s in a loaded run, and the
    pipeline's rate fell as its tables grew.
    """
    if not keys:
        return []
    names = tuple(names) or tuple(column.name for column in table.columns)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        rucs, years, refs = (list(column) for column in zip(*keys, strict=True))
        result = await session.execute(
            primary_key_lookup(table, names), {"rucs": rucs, "years": years, "refs": refs}
        )
        return list(result.all())
    found: list[Row[Any]] = []
    for condition in key_conditions(table, keys):
        found += (await session.execute(select(*(table.c[n] for n in names)).where(condition))).all()
    return found


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def insert_for(engine_or_session: AsyncEngine | AsyncSession, table: Any) -> Insert:
    """A dialect insert that supports ``on_conflict_do_*`` on both PostgreSQL and SQLite."""
    bind = engine_or_session.bind if isinstance(engine_or_session, AsyncSession) else engine_or_session
    dialect = bind.dialect.name if bind is not None else "postgresql"
    module: Any = sqlite if dialect == "sqlite" else postgresql
    result: Insert = module.insert(table)
    return result


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - health checks report, they do not raise
        return False
    return True


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones, so it stores UTC naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
