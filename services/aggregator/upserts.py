"""The statements a batch's transaction runs: claim events, lock, upsert rows, add count deltas.

Each statement is built once per dialect and table and cached; a batch runs each as one
executemany. Helpers never commit: the caller's transaction holds them all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, delete, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import COUNT_SPEC, CountKey, Measures
from services.aggregator.tables import COUNT_TABLES, PROCESSED, InsatsKey
from shared.db import insert_for
from shared.events import utcnow

_STATEMENTS: dict[tuple[str, str, str], Any] = {}
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
