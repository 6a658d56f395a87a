"""The rebuild's swap: the shadow tables' winners replace the live state.

The swap is one transaction: it locks the live tables against the aggregator's writes (PostgreSQL:
EXCLUSIVE, so dashboards still read the old numbers; SQLite: the single write lock), replaces the
live rows with the winner per key (records: highest version, then latest batch; overrides: latest
decision, then event id; reports: highest version; the first processed event), retracts the records
whose report has a later version (as ``folding.py`` does live), lays the overrides over the records
and recounts them (``recount.py``: the live rule, no record passes through Python). PostgreSQL
ranks only the keys appended more than once (a hash over the keys finds them) and deletes the
beaten rows in place; it then builds the new table's indexes and renames it in place of the live
one (``table_swap.py``). SQLite upserts the rows into the live tables in the order appended.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, and_, exists, insert, select, text, true, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from services.aggregator.recount import recount
from services.aggregator.shadow import LATEST_BY, REPLAYED_TABLES
from services.aggregator.table_swap import build_indexes, create_next, next_of, swap_in
from services.aggregator.tables import (
    COUNT_TABLES,
    OVERRIDES,
    PROCESSED,
    RECORDS,
    REPORTS,
    RETRACTIONS,
    STATE_TABLES,
)

# PostgreSQL: the tables built beside the live ones and renamed in (the large ones; the rest is
# emptied and refilled in place)
REBUILT = (RECORDS, PROCESSED, REPORTS)


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


async def _retract_superseded(conn: AsyncConnection, rec: Table, rep: Table = REPORTS) -> None:
    """A record whose report has a later version (one that left it out) is retracted."""
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
    number of records. PostgreSQL builds the new ``insats_record``, ``processed_event`` and
    ``report_version`` beside the live ones and swaps them in by rename (``table_swap.py``);
    SQLite replaces the rows in place."""
    if conn.dialect.name != "postgresql":
        for table in STATE_TABLES:
            await conn.execute(table.delete())
        for table in REPLAYED_TABLES:
            await conn.execute(_copy_winners(conn, table, shadow[table.name]))
        await _retract_superseded(conn, RECORDS)
        await _overrides_onto_records(conn, RECORDS)
        return await recount(conn)
    await conn.execute(text("SET LOCAL work_mem = '128MB'"))  # a million keys hashed in memory
    for table in (OVERRIDES, RETRACTIONS, *COUNT_TABLES.values()):
        await conn.execute(table.delete())
    await conn.exec_driver_sql(_insert_winners(OVERRIDES, shadow[OVERRIDES.name], OVERRIDES))
    built = {table: next_of(table) for table in REBUILT}  # each replaces its live table at the end
    built[RECORDS] = shadow[RECORDS.name]  # filled by the replay
    for table in (PROCESSED, REPORTS):
        await create_next(conn, table)
        await conn.exec_driver_sql(_insert_winners(table, shadow[table.name], built[table]))
    records = built[RECORDS]
    await conn.exec_driver_sql(_delete_beaten_records(records, shadow[PROCESSED.name]))
    await _retract_superseded(conn, records, built[REPORTS])
    await _overrides_onto_records(conn, records)
    indexes = {table: await build_indexes(conn, table, built[table]) for table in REBUILT}
    counted = await recount(conn, records)
    for table in REBUILT:
        await swap_in(conn, table, built[table], indexes[table])
    return counted
