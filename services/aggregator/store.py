"""The one transaction that applies a batch of events to the aggregator's tables.

A batch costs a fixed handful of statements whatever its number of events and insatser; on
PostgreSQL, for a batch of new reports, four round trips between BEGIN and COMMIT: the event ids
claimed and the locks taken in one statement, the reports' versions read, the records, retractions
and overrides of the keys read in one statement, the events folded in memory (``folding.py``),
and every count delta and final row written in one statement (a data-modifying CTE per table).
A report seen before adds the read of the records it holds, and deletes when a version retracts.

Concurrent transactions on the same RUC and year or the same report (a
classified report and an override on two consumers, a report moved to another RUC, a rebalance)
are serialised by advisory locks on PostgreSQL; SQLite has a single writer, taken by the first
statement (the dedupe insert).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import COUNT_SPEC, CountKey, Measures, net_deltas
from services.aggregator.facts import facts_of
from services.aggregator.folding import Countable, State, fold
from services.aggregator.tables import (
    COUNT_TABLES,
    OVERRIDES,
    RECORDS,
    REPORTS,
    RETRACTIONS,
    InsatsKey,
    InsatsRow,
    RetractionRow,
)
from services.aggregator.upserts import (
    Write,
    claim_and_lock,
    count_row,
    delete_keys,
    lock_keys,
    read_by_key,
    report_lock,
    write_all,
)
from shared.events import ClassificationOverridden, utcnow


def _keys_of(event: Countable) -> list[InsatsKey]:
    if isinstance(event, ClassificationOverridden):
        return [(event.ruc_id, event.year, event.ref)]
    return [(event.ruc_id, event.year, i.ref) for i in event.insatser]


def _locks_of(events: Sequence[Countable]) -> set[tuple[object, ...]]:
    """The RUC and years the events touch, and their reports (see ``lock_keys``)."""
    keys = {key for event in events for key in _keys_of(event)}
    reports = {str(e.report_id) for e in events if not isinstance(e, ClassificationOverridden)}
    return {(r, y) for r, y, _ in keys} | {report_lock(r) for r in reports}


async def _fresh(
    session: AsyncSession, events: Sequence[tuple[Countable, str]]
) -> tuple[list[bool], list[Countable]]:
    """Claim the events, and lock what they all touch (a duplicate's share of it too: a superset);
    per event whether it is new, and the new ones in order (once each)."""
    claimed = await claim_and_lock(
        session, [(str(e.event_id), topic) for e, topic in events], _locks_of([e for e, _ in events])
    )
    fresh: list[Countable] = []
    outcomes = []
    for event, _topic in events:
        event_id = str(event.event_id)
        outcomes.append(event_id in claimed)
        if event_id in claimed:
            claimed.discard(event_id)  # the same event twice in one batch applies once
            fresh.append(event)
    return outcomes, fresh


async def _load(session: AsyncSession, events: Sequence[Countable]) -> State:
    """Read what the events touch (locked by ``_fresh``): their insatser, and every record their
    reports hold (a new version retracts what it leaves out, possibly in another RUC or year)."""
    keys = {key for event in events for key in _keys_of(event)}
    reports = sorted({str(e.report_id) for e in events if not isinstance(e, ClassificationOverridden)})
    locks = _locks_of(events)
    versions = select(REPORTS.c.report_id, REPORTS.c.version).where(REPORTS.c.report_id.in_(reports))
    known = {r.report_id: r.version for r in await session.execute(versions)} if reports else {}
    held: list[Any] = []
    if known:  # a report never seen holds no records (its records and version are written together)
        held_by = select(RECORDS.c.ruc_id, RECORDS.c.year, RECORDS.c.ref).where(
            RECORDS.c.report_id.in_(sorted(known))
        )
        held = list(await session.execute(held_by))
        more = {(r.ruc_id, r.year) for r in held} - locks  # a report moved elsewhere since
        if more:  # lock those too, then read again: what was read before the lock may have changed
            await lock_keys(session, more)
            held = list(await session.execute(held_by))
    all_keys = sorted(keys | {(r.ruc_id, r.year, r.ref) for r in held})
    records, retractions, overrides = await read_by_key(session, (RECORDS, RETRACTIONS, OVERRIDES), all_keys)
    names = list(OVERRIDES.columns.keys())
    return State(
        records={k: InsatsRow._make(v) for k, v in records.items()},
        retractions={k: RetractionRow._make(v) for k, v in retractions.items()},
        overrides={k: dict(zip(names, v, strict=True)) for k, v in overrides.items() if k in keys},
        reports=known,
    )


async def apply_events(session: AsyncSession, events: Sequence[tuple[Countable, str]]) -> list[bool]:
    """Apply classified reports and overrides (event, topic) in order; callers commit. For each,
    False when it was already applied (a redelivery or a replay)."""
    outcomes, fresh = await _fresh(session, events)
    if not fresh:
        return outcomes
    state = await _load(session, fresh)
    stored = dict(state.records)
    fold(state, fresh, utcnow())
    changes = []
    for key in state.changed:
        old, new = stored.get(key), state.records.get(key)
        if old is not new:  # an untouched row object: the same facts
            changes.append((facts_of(old) if old else None, facts_of(new) if new else None))
    await _write_state(session, state, _count_writes(net_deltas(changes)))
    return outcomes


def _count_writes(deltas: Mapping[CountKey, Measures]) -> list[Write]:
    """The count deltas as one write a table (added to the cells), rows in key order."""
    by_table: dict[str, list[dict[str, object]]] = {}
    for key in sorted(deltas):
        if any(deltas[key]):
            by_table.setdefault(key.table, []).append(count_row(key, deltas[key]))
    return [
        (COUNT_TABLES[name], [m.column for m in COUNT_SPEC[name].measures], rows)  # type: ignore[index]
        for name, rows in by_table.items()
    ]


async def _write_state(session: AsyncSession, state: State, counts: Sequence[Write]) -> None:
    """Deletes (when a version retracted records), then the counts and every changed row at once."""
    changed = sorted(state.changed)
    records, retractions = state.stored
    await delete_keys(session, RECORDS, [k for k in changed if k in records and k not in state.records])
    await delete_keys(
        session, RETRACTIONS, [k for k in changed if k in retractions and k not in state.retractions]
    )
    reports = [{"report_id": r, "version": state.reports[r]} for r in sorted(state.changed_reports)]
    await write_all(
        session,
        [
            *counts,
            (RECORDS, (), [state.records[k]._asdict() for k in changed if k in state.records]),
            (RETRACTIONS, (), [state.retractions[k]._asdict() for k in changed if k in state.retractions]),
            (OVERRIDES, (), [state.overrides[k] for k in sorted(state.changed_overrides)]),
            (REPORTS, (), reports),
        ],
    )
