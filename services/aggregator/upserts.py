"""The statements a batch's transaction runs: claim events, lock, upsert rows, add count deltas.

Each statement is built once per dialect and table and cached; a batch runs each as one
executemany. Helpers never commit: the caller's transaction holds them all.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Boolean, String, Table, column, delete, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import COUNT_SPEC, CountKey, Measures
from services.aggregator.tables import COUNT_TABLES, PROCESSED, STATE_TABLES, InsatsKey
from shared.db import insert_for, rows_by_key
from shared.events import utcnow

_STATEMENTS: dict[tuple[str, str, str], Any] = {}
ALL_TABLES = {table.name: table for table in STATE_TABLES}
REPORT_LOCKS = 64  # report ids hash into this many locks: PostgreSQL's lock table is small


def lock_id(key: tuple[object, ...]) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def report_lock(report_id: str) -> tuple[str, int]:
    return ("report", lock_id((report_id,)) % REPORT_LOCKS)


async def lock_keys(session: AsyncSession, keys: Iterable[tuple[object, ...]]) -> None:
    """Serialise transactions on the same RUC and year, or the same report (PostgreSQL); sorted, so
    two never deadlock on what they knew at the start.

    One lock per RUC and year, not per insats: a batch touches thousands of insatser but a handful
    of RUC, and PostgreSQL's lock table is small. Events are keyed by RUC, so replicas rarely meet.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({lock_id(key) for key in keys})
    if ids:
        await session.execute(
            text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ids AS bigint[])) AS k"),
            {"ids": ids},
        )


async def claim_event(session: AsyncSession, event_id: str, topic: str) -> bool:
    """Record the event as processed; False when it already was (a redelivery or a replay)."""
    return event_id in await claim_events(session, [(event_id, topic)])


async def claim_events(session: AsyncSession, events: Sequence[tuple[str, str]]) -> set[str]:
    """Record events (id, topic) as processed in one statement; the ids that were not already."""
    cache_key = (session.get_bind().dialect.name, PROCESSED.name, "claim")
    if cache_key not in _STATEMENTS:
        stmt = insert_for(session, PROCESSED).on_conflict_do_nothing(index_elements=["event_id"])  # type: ignore[attr-defined]
        _STATEMENTS[cache_key] = stmt.returning(PROCESSED.c.event_id)
    now = utcnow()
    rows = [{"event_id": e, "topic": t, "processed_at": now} for e, t in sorted(dict(events).items())]
    if not rows:
        return set()
    result = await session.execute(_STATEMENTS[cache_key], rows)
    return set(result.scalars().all())


def _upsert(session: AsyncSession, table: Table, add: Sequence[str] = ()) -> Any:
    """The dialect's upsert for a table, built once: replace whole rows, or add to the ``add`` columns."""
    cache_key = (session.get_bind().dialect.name, table.name, ",".join(add))
    if cache_key not in _STATEMENTS:
        keys = [c.name for c in table.primary_key.columns]
        stmt = insert_for(session, table)
        excluded = stmt.excluded  # type: ignore[attr-defined]
        if add:
            values = {c: table.c[c] + excluded[c] for c in add}
        else:
            values = {c.name: excluded[c.name] for c in table.columns if c.name not in keys}
        _STATEMENTS[cache_key] = stmt.on_conflict_do_update(index_elements=keys, set_=values)  # type: ignore[attr-defined]
    return _STATEMENTS[cache_key]


async def upsert_rows(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert or replace whole rows by primary key (executemany of one cached statement)."""
    if rows:
        await session.execute(_upsert(session, table), list(rows))


async def delete_keys(session: AsyncSession, table: Table, keys: Sequence[InsatsKey]) -> None:
    """Delete the rows of a table keyed by (ruc_id, year, ref)."""
    columns = tuple_(table.c.ruc_id, table.c.year, table.c.ref)
    for start in range(0, len(keys), 500):
        await session.execute(delete(table).where(columns.in_(keys[start : start + 500])))


def count_row(key: CountKey, values: Measures) -> dict[str, object]:
    """A count key and its measures as the row of its table."""
    spec = COUNT_SPEC[key.table]
    row: dict[str, object] = {
        "year": key.year,
        "ruc_id": key.ruc_id,
        "lan_kod": key.lan_kod,
        "status": key.status,
    }
    row.update(zip((d.column for d in spec.dimensions), key.dimensions, strict=True))
    row.update(zip((m.column for m in spec.measures), values, strict=True))
    return row


async def apply_deltas(session: AsyncSession, deltas: Mapping[CountKey, Measures]) -> None:
    """Add the deltas to the count tables: one executemany per table, rows in key order."""
    by_table: dict[str, list[dict[str, object]]] = {}
    for key in sorted(deltas):
        if any(deltas[key]):
            by_table.setdefault(key.table, []).append(count_row(key, deltas[key]))
    for name, rows in by_table.items():
        measures = [m.column for m in COUNT_SPEC[name].measures]  # type: ignore[index]
        await session.execute(_upsert(session, COUNT_TABLES[name], measures), rows)  # type: ignore[index]


# PostgreSQL: what a batch reads and writes, in as few statements (round trips) as it can --------

Write = tuple[Table, Sequence[str], Sequence[Mapping[str, object]]]  # table, columns to add to, rows


_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _pg_type(column: Any) -> str:
    """The column's type for its array parameter; a string without its length, since a cast to
    VARCHAR(n) cuts a longer value where the insert must refuse it (value too long)."""
    if isinstance(column.type, String):
        return "VARCHAR"
    return str(column.type.compile(dialect=_PG))


def _unnest(table: Table, columns: Sequence[str], prefix: str) -> str:
    """``unnest`` of one array parameter per column, each cast to the column's type."""
    arrays = ", ".join(f"CAST(:{prefix}{c} AS {_pg_type(table.c[c])}[])" for c in columns)
    return f"unnest({arrays})"


@functools.cache
def _write_all_statement(shape: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]) -> Any:
    """One data-modifying CTE per (table, columns to add to, columns written): one statement."""
    parts = []
    for i, (name, add, columns) in enumerate(shape):
        table = ALL_TABLES[name]
        keys = [c.name for c in table.primary_key.columns]
        if add:
            sets = ", ".join(f"{c} = {name}.{c} + EXCLUDED.{c}" for c in add)
        else:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in keys)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        parts.append(
            f"w{i} AS (INSERT INTO {name} ({', '.join(columns)}) SELECT * FROM "
            f"{_unnest(table, columns, f'w{i}_')} ON CONFLICT ({', '.join(keys)}) {action} RETURNING 1)"
        )
    counted = " + ".join(f"(SELECT count(*) FROM w{i})" for i in range(len(shape)))
    return text(f"WITH {', '.join(parts)} SELECT {counted}")


async def write_all(session: AsyncSession, writes: Sequence[Write]) -> None:
    """Upsert rows into several tables: on PostgreSQL in one statement (a data-modifying CTE per
    table, each fed by arrays, rows in the given order); elsewhere one executemany per table.
    A table's rows must have distinct keys (one statement may not touch a row twice)."""
    writes = [(table, add, rows) for table, add, rows in writes if rows]
    if not writes:
        return
    if session.get_bind().dialect.name != "postgresql":
        for table, add, rows in writes:
            await session.execute(_upsert(session, table, add), list(rows))
        return
    shape, params = [], {}
    for i, (table, add, rows) in enumerate(writes):
        columns = tuple(c.name for c in table.columns if c.name in rows[0])
        shape.append((table.name, tuple(add), columns))
        for c in columns:
            params[f"w{i}_{c}"] = [row[c] for row in rows]
    await session.execute(_write_all_statement(tuple(shape)), params)


@functools.cache
def _claim_and_lock_statement() -> Any:
    columns = ("event_id", "topic", "processed_at")
    return text(
        f"WITH claimed AS (INSERT INTO {PROCESSED.name} ({', '.join(columns)}) SELECT * FROM "
        f"{_unnest(PROCESSED, columns, 'c_')} ON CONFLICT (event_id) DO NOTHING RETURNING event_id), "
        "locked AS (SELECT count(pg_advisory_xact_lock(k)) AS n FROM unnest(CAST(:locks AS bigint[])) AS k) "
        "SELECT (SELECT n FROM locked) AS locks, ARRAY(SELECT event_id FROM claimed) AS claimed"
    )


async def claim_and_lock(
    session: AsyncSession, events: Sequence[tuple[str, str]], locks: Iterable[tuple[object, ...]]
) -> set[str]:
    """``claim_events`` and ``lock_keys`` in one statement on PostgreSQL (both in the transaction's
    first statement: the reads that follow, each with its own snapshot, see what the lock holders
    committed); the two statements elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        claimed = await claim_events(session, events)
        await lock_keys(session, locks)
        return claimed
    by_id = sorted(dict(events).items())
    if not by_id:
        return set()
    now = utcnow()
    params = {
        "c_event_id": [e for e, _ in by_id],
        "c_topic": [t for _, t in by_id],
        "c_processed_at": [now] * len(by_id),
        "locks": sorted({lock_id(key) for key in locks}),
    }
    row = (await session.execute(_claim_and_lock_statement(), params)).one()
    return set(row.claimed)


@functools.cache
def _read_by_key_statement(names: tuple[str, ...]) -> Any:
    joins, picked, typed = [], [], []
    for i, name in enumerate(names):
        table = ALL_TABLES[name]
        columns = [c.name for c in table.columns]
        joins.append(
            f"LEFT JOIN LATERAL (SELECT true AS found, {', '.join(columns)} FROM {name} AS t "
            "WHERE t.ruc_id = wanted.ruc_id AND t.year = wanted.year AND t.ref = wanted.ref LIMIT 1) "
            f"AS r{i} ON true"
        )
        picked += [f"r{i}.found AS r{i}_found"] + [f"r{i}.{c} AS r{i}_{c}" for c in columns]
        typed += [column(f"r{i}_found", Boolean)] + [column(f"r{i}_{c}", table.c[c].type) for c in columns]
    return text(
        f"SELECT {', '.join(picked)} FROM unnest(CAST(:rucs AS VARCHAR[]), CAST(:years AS INTEGER[]), "
        f"CAST(:refs AS VARCHAR[])) AS wanted(ruc_id, year, ref) {' '.join(joins)}"
    ).columns(*typed)


async def read_by_key(
    session: AsyncSession, tables: Sequence[Table], keys: Sequence[InsatsKey]
) -> list[dict[InsatsKey, tuple[Any, ...]]]:
    """Per table, key → its row's values (in column order) for the keys it holds: on PostgreSQL
    one statement for all the tables (a primary-key probe per key and table), else one per table."""
    if not keys:
        return [{} for _ in tables]
    if session.get_bind().dialect.name != "postgresql":
        found = [await rows_by_key(session, table, keys) for table in tables]
        return [{(r.ruc_id, r.year, r.ref): tuple(r) for r in rows} for rows in found]
    # one row per key, each table's columns behind a "found" flag (a LEFT JOIN finds none: NULLs)
    rucs, years, refs = (list(c) for c in zip(*keys, strict=True))
    statement = _read_by_key_statement(tuple(t.name for t in tables))
    result = await session.execute(statement, {"rucs": rucs, "years": years, "refs": refs})
    out: list[dict[InsatsKey, tuple[Any, ...]]] = [{} for _ in tables]
    keyed = [[list(table.columns.keys()).index(c) for c in ("ruc_id", "year", "ref")] for table in tables]
    for row in result:
        at = 0
        for i, table in enumerate(tables):
            width = len(table.columns)
            if row[at]:  # found
                values = tuple(row[at + 1 : at + 1 + width])
                ruc, year, ref = (values[k] for k in keyed[i])
                out[i][(ruc, year, ref)] = values
            at += 1 + width
    return out
