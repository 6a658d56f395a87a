"""Recount: fill the count tables from the stored records by the count spec.

SQL groups the records by what each grouping of count tables sees (``counting.GROUPINGS``: a few
thousand groups for a million records; the facts as ``facts.fact_columns`` derives them) and
``counting.count_records`` counts the groups: the live rule, and no record passes through Python.
The rebuild's swap recounts after replacing the records; ``rucnet.migrate.upgrade`` recounts
after any migration (a new count table is filled, an old one refilled, by the spec of the day).
"""

from __future__ import annotations

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import GROUPINGS, count_records
from services.aggregator.facts import fact_columns, grouped_facts
from services.aggregator.tables import COUNT_TABLES, PROCESSED, RECORDS, STATE_TABLES
from services.aggregator.upserts import count_row


async def recount(conn: AsyncConnection, records: Table = RECORDS) -> int:
    """Fill the (emptied) count tables from the records (``records``: the rebuild's new table before
    it is swapped in); the number of records. Callers hold the transaction (and the locks:
    ``lock_live``)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":  # hash the groups in memory, not sort text on disk: ×2
        await conn.execute(text("SET LOCAL work_mem = '64MB'"))
    facts = fact_columns(records, dialect)
    total = 0
    rows: dict[str, list[dict[str, object]]] = {}
    for grouping in GROUPINGS.values():
        seen = [facts[f] for f in grouping.grouped]
        sums = [func.sum(facts[f]) for f in grouping.summed]
        query = select(*seen, *sums, func.count()).group_by(*seen)
        groups = []
        for row in await conn.execute(query):
            values = dict(zip((*grouping.grouped, *grouping.summed), row, strict=False))
            groups.append((grouped_facts(values), int(row[-1])))
        for key, measures in count_records(groups, grouping.tables).items():
            rows.setdefault(key.table, []).append(count_row(key, measures))
        total = sum(n for _, n in groups)  # the same in every grouping
    for name, table in COUNT_TABLES.items():
        if rows.get(name):
            await conn.execute(insert(table), rows[name])
    return total


async def lock_live(conn: AsyncConnection) -> None:
    """Hold off the aggregator's writes (it starts every transaction with processed_event)."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(t.name for t in STATE_TABLES)
        await conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    else:  # the first write takes SQLite's one write lock for the whole transaction
        await conn.execute(text(f"DELETE FROM {PROCESSED.name} WHERE 1 = 0"))


async def recount_all(engine: AsyncEngine) -> int:
    """Empty the count tables and recount them, in one transaction that holds off the aggregator."""
    async with engine.begin() as conn:
        await lock_live(conn)
        for table in COUNT_TABLES.values():
            await conn.execute(table.delete())
        return await recount(conn)
