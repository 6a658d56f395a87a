"""The one transaction that applies a batch of events to the aggregator's tables.

A batch costs a fixed handful of statements whatever its number of events and insatser: the event
ids are claimed in one insert, the state it touches is read in a few queries, the events are
folded in memory (``folding.py``), and the count deltas and the final rows are written per table
in one statement each. Concurrent transactions on the same RUC and year or the same report (a
classified report and an override on two consumers, a report moved to another RUC, a rebalance)
are serialised by advisory locks on PostgreSQL; SQLite has a single writer, taken by the first
statement (the dedupe insert).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import net_deltas
from services.aggregator.facts import facts_of
from services.aggregator.folding import Countable, State, fold
from services.aggregator.tables import (
    OVERRIDES,
    RECORDS,
    REPORTS,
    RETRACTIONS,
    InsatsKey,
    InsatsRow,
    RetractionRow,
)
from services.aggregator.upserts import (
    apply_deltas,
    claim_events,
    delete_keys,
    lock_keys,
    report_lock,
    upsert_rows,
)
from shared.db import rows_by_key
from shared.events import ClassificationOverridden, utcnow


def _keys_of(event: Countable) -> list[InsatsKey]:
    if isinstance(event, ClassificationOverridden):
        return [(event.ruc_id, event.year, event.ref)]
    return [(event.ruc_id, event.year, i.ref) for i in event.insatser]


async def _by_key(session: AsyncSession, table: Table, keys: Sequence[InsatsKey]) -> dict[InsatsKey, Any]:
    return {(r.ruc_id, r.year, r.ref): r for r in await rows_by_key(session, table, keys)}


async def _fresh(
    session: AsyncSession, events: Sequence[tuple[Countable, str]]
) -> tuple[list[bool], list[Countable]]:
    """Claim the events; per event whether it is new, and the new ones in order (once each)."""
    claimed = await claim_events(session, [(str(e.event_id), topic) for e, topic in events])
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
    """Lock and read what the events touch: their insatser, and every record their reports hold
    (a new version retracts what it leaves out, possibly in another RUC or year)."""
    keys = {key for event in events for key in _keys_of(event)}
    reports = sorted({str(e.report_id) for e in events if not isinstance(e, ClassificationOverridden)})
    locks: set[tuple[object, ...]] = {(r, y) for r, y, _ in keys} | {report_lock(r) for r in reports}
    await lock_keys(session, locks)
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
    records = {k: InsatsRow._make(r) for k, r in (await _by_key(session, RECORDS, all_keys)).items()}
    return State(
        records=records,
        retractions={
            k: RetractionRow._make(r) for k, r in (await _by_key(session, RETRACTIONS, all_keys)).items()
        },
        overrides={k: dict(r._mapping) for k, r in (await _by_key(session, OVERRIDES, sorted(keys))).items()},
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
    await apply_deltas(session, net_deltas(changes))
    await _write_state(session, state)
    return outcomes


async def _write_state(session: AsyncSession, state: State) -> None:
    changed = sorted(state.changed)
    records, retractions = state.stored
    await delete_keys(session, RECORDS, [k for k in changed if k in records and k not in state.records])
    await delete_keys(
        session, RETRACTIONS, [k for k in changed if k in retractions and k not in state.retractions]
    )
    await upsert_rows(session, RECORDS, [state.records[k]._asdict() for k in changed if k in state.records])
    await upsert_rows(
        session, RETRACTIONS, [state.retractions[k]._asdict() for k in changed if k in state.retractions]
    )
    await upsert_rows(session, OVERRIDES, [state.overrides[k] for k in sorted(state.changed_overrides)])
    reports = [{"report_id": r, "version": state.reports[r]} for r in sorted(state.changed_reports)]
    await upsert_rows(session, REPORTS, reports)
