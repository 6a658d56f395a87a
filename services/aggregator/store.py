"""The aggregator's tables and the one transaction that applies a batch of events to them.

A batch costs a fixed handful of statements whatever its number of events and insatser: the event
ids are claimed in one insert, the records and overrides it touches are read in one query each, the
events are folded in memory, and the count deltas and the final rows are upserted per table in one
statement each. Concurrent transactions on the same RUC and year (a classified report and an
override on two consumers, or a rebalance) are serialised by an advisory lock on PostgreSQL; SQLite
has a single writer, taken by the first statement (the dedupe insert).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, literal, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, select

from services.aggregator.counting import (
    CountKey,
    InsatsFacts,
    all_contributions,
    count_deltas,
    effective_area,
)
from shared.db import UtcDateTime, insert_for, rows_by_key
from shared.events import ClassificationOverridden, Insats, InsatsClassification, ReportClassified, utcnow

InsatsKey = tuple[str, int, str]


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=36)
    topic: str = Field(max_length=100)
    processed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class InsatsRecord(SQLModel, table=True):
    """The latest version of one insats for one year: what the counts are derived from."""

    __tablename__ = "insats_record"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    version: int
    lan_kod: str = Field(max_length=2)
    huvudman_pseudonym: str = Field(max_length=32)
    huvudman_type: str = Field(max_length=16)
    status: str = Field(max_length=16)
    school_forms: str = Field(description="JSON list of school form codes")
    title: str = Field(max_length=300)
    declared_area: str | None = Field(default=None, max_length=64)
    classified_area: str = Field(max_length=64)
    nsp_area: str = Field(max_length=64, description="the effective area the counts use")
    area_source: str = Field(max_length=16)
    confidence: float
    needs_review: bool = False
    model_version: str = Field(max_length=64)
    last_event_id: str = Field(max_length=36)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)

    def facts(self) -> InsatsFacts:
        return facts_of(self.model_dump())


class AreaOverride(SQLModel, table=True):
    """An analyst's decision, kept apart so it holds whichever arrives first: it or the report."""

    __tablename__ = "area_override"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    nsp_area: str = Field(max_length=64)
    event_id: str = Field(max_length=36)
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime)


class CountInsats(SQLModel, table=True):
    __tablename__ = "count_insats"

    year: int = Field(primary_key=True)
    ruc_id: str = Field(primary_key=True, max_length=16)
    lan_kod: str = Field(primary_key=True, max_length=2)
    status: str = Field(primary_key=True, max_length=16)
    n: int = 0


class CountSchoolForm(SQLModel, table=True):
    __tablename__ = "count_school_form"

    year: int = Field(primary_key=True)
    ruc_id: str = Field(primary_key=True, max_length=16)
    lan_kod: str = Field(primary_key=True, max_length=2)
    status: str = Field(primary_key=True, max_length=16)
    school_form: str = Field(primary_key=True, max_length=32)
    n: int = 0


class CountNsp(SQLModel, table=True):
    __tablename__ = "count_nsp"

    year: int = Field(primary_key=True)
    ruc_id: str = Field(primary_key=True, max_length=16)
    lan_kod: str = Field(primary_key=True, max_length=2)
    status: str = Field(primary_key=True, max_length=16)
    nsp_area: str = Field(primary_key=True, max_length=64)
    n: int = 0


class CountSchoolFormNsp(SQLModel, table=True):
    """Skolform × NSP: an insats counts once in each cell of its school forms and its area."""

    __tablename__ = "count_school_form_nsp"

    year: int = Field(primary_key=True)
    ruc_id: str = Field(primary_key=True, max_length=16)
    lan_kod: str = Field(primary_key=True, max_length=2)
    status: str = Field(primary_key=True, max_length=16)
    school_form: str = Field(primary_key=True, max_length=32)
    nsp_area: str = Field(primary_key=True, max_length=64)
    n: int = 0


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


# count table name in CountKey → (SQL table, the columns dimension and dimension2 go to)
COUNT_TABLES: dict[str, tuple[Table, tuple[str, ...]]] = {
    "insats": (_table(CountInsats), ()),
    "school_form": (_table(CountSchoolForm), ("school_form",)),
    "nsp": (_table(CountNsp), ("nsp_area",)),
    "school_form_nsp": (_table(CountSchoolFormNsp), ("school_form", "nsp_area")),
}
RECORDS = _table(InsatsRecord)
OVERRIDES = _table(AreaOverride)
PROCESSED = _table(ProcessedEvent)
# Every table the counting state lives in, in the order transactions lock them (processed first).
STATE_TABLES: tuple[Table, ...] = (
    PROCESSED,
    OVERRIDES,
    RECORDS,
    *(t for t, _ in COUNT_TABLES.values()),
)


def facts_of(row: Mapping[str, Any]) -> InsatsFacts:
    return InsatsFacts(
        ruc_id=row["ruc_id"],
        year=row["year"],
        lan_kod=row["lan_kod"],
        status=row["status"],
        school_forms=stored_forms(row["school_forms"]),
        nsp_area=row["nsp_area"],
    )


def count_rows(key: CountKey, n: int) -> tuple[str, dict[str, object]]:
    """A count key as the row of its table."""
    _, columns = COUNT_TABLES[key.table]
    values: dict[str, object] = {
        "year": key.year,
        "ruc_id": key.ruc_id,
        "lan_kod": key.lan_kod,
        "status": key.status,
        "n": n,
    }
    values.update(zip(columns, (key.dimension, key.dimension2), strict=False))
    return key.table, values


def lock_id(key: tuple[str, int]) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_insatser(session: AsyncSession, keys: Iterable[InsatsKey]) -> None:
    """Serialise transactions on the same RUC and year (PostgreSQL); sorted, so two never deadlock.

    One lock per RUC and year, not per insats: a batch touches thousands of insatser but a handful
    of RUC, and PostgreSQL's lock table is small. Events are keyed by RUC, so replicas rarely meet.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({lock_id((ruc_id, year)) for ruc_id, year, _ in keys})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ids AS bigint[])) AS k"),
        {"ids": ids},
    )


_STATEMENTS: dict[tuple[str, str, str], Any] = {}


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


def _upsert(session: AsyncSession, table: Table, mode: str) -> Any:
    """The dialect's upsert for a table, built once: ``replace`` whole rows, or ``add`` to ``n``."""
    cache_key = (session.get_bind().dialect.name, table.name, mode)
    if cache_key not in _STATEMENTS:
        keys = [c.name for c in table.primary_key.columns]
        stmt = insert_for(session, table)
        excluded = stmt.excluded  # type: ignore[attr-defined]
        if mode == "add":
            values = {"n": table.c.n + excluded.n}
        else:
            values = {c.name: excluded[c.name] for c in table.columns if c.name not in keys}
        _STATEMENTS[cache_key] = stmt.on_conflict_do_update(index_elements=keys, set_=values)  # type: ignore[attr-defined]
    return _STATEMENTS[cache_key]


async def upsert_rows(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, object]]) -> None:
    """Insert or replace whole rows by primary key (executemany of one cached statement)."""
    if rows:
        await session.execute(_upsert(session, table, "replace"), list(rows))


async def apply_deltas(session: AsyncSession, deltas: Mapping[CountKey, int]) -> None:
    """Add the deltas to the count tables: one executemany per table, rows in key order."""
    by_table: dict[str, list[dict[str, object]]] = {}
    for key in sorted(deltas):
        if deltas[key]:
            name, row = count_rows(key, deltas[key])
            by_table.setdefault(name, []).append(row)
    for name, rows in by_table.items():
        await session.execute(_upsert(session, COUNT_TABLES[name][0], "add"), rows)


async def _current(session: AsyncSession, table: Table, keys: Sequence[InsatsKey]) -> dict[InsatsKey, Any]:
    rows = await rows_by_key(session, table, keys)
    return {(r.ruc_id, r.year, r.ref): dict(r._mapping) for r in rows}


RECORD_COLUMNS = tuple(c.name for c in RECORDS.columns)


@functools.lru_cache(maxsize=1024)
def forms_json(school_forms: tuple[str, ...]) -> str:
    """The stored school forms: a handful of combinations, encoded once each."""
    return json.dumps(sorted(set(school_forms)))


@functools.lru_cache(maxsize=1024)
def stored_forms(encoded: str) -> tuple[str, ...]:
    return tuple(json.loads(encoded))


def record_values(
    event: ReportClassified,
    insats: Insats,
    classification: InsatsClassification,
    override: str | None,
    stamp: Any,
) -> tuple[Any, ...]:
    """One insats's record as a tuple in ``RECORD_COLUMNS`` order (the rebuild builds millions)."""
    return (
        event.ruc_id,
        event.year,
        insats.ref,
        event.version,
        event.huvudman.lan_kod,
        event.huvudman.pseudonym,
        event.huvudman.type,
        insats.status,
        forms_json(insats.school_forms),
        insats.title[:300],
        insats.nsp_area,
        classification.nsp_area,
        effective_area(override, insats.nsp_area, classification.nsp_area),
        "override" if override else classification.source,
        classification.confidence,
        classification.needs_review and not override,
        event.model_version,
        str(event.event_id),
        stamp,
    )


def record_row(
    event: ReportClassified, insats: Insats, override: str | None, by_ref: Mapping[str, Any]
) -> dict[str, object]:
    values = record_values(event, insats, by_ref[insats.ref], override, utcnow())
    return dict(zip(RECORD_COLUMNS, values, strict=True))


Countable = ReportClassified | ClassificationOverridden


async def apply_classified(session: AsyncSession, event: ReportClassified, topic: str) -> bool:
    """Apply one classified report; callers commit. Stale versions of an insats change nothing."""
    return (await apply_events(session, [(event, topic)]))[0]


async def apply_override(session: AsyncSession, event: ClassificationOverridden, topic: str) -> bool:
    return (await apply_events(session, [(event, topic)]))[0]


def _keys_of(event: Countable) -> list[InsatsKey]:
    if isinstance(event, ClassificationOverridden):
        return [(event.ruc_id, event.year, event.ref)]
    return [(event.ruc_id, event.year, i.ref) for i in event.insatser]


async def apply_events(session: AsyncSession, events: Sequence[tuple[Countable, str]]) -> list[bool]:
    """Apply classified reports and overrides (event, topic) in order; callers commit. For each,
    False when it was already applied (a redelivery or a replay).

    The batch costs a fixed handful of statements whatever its size: one dedupe insert, one lock,
    one read of the records and overrides it touches, the events folded in memory as if applied
    one by one, then one upsert per table of the final rows and of the count deltas between the
    stored and the final records.
    """
    claimed = await claim_events(session, [(str(e.event_id), topic) for e, topic in events])
    fresh: list[Countable] = []
    outcomes = []
    for event, _topic in events:
        event_id = str(event.event_id)
        outcomes.append(event_id in claimed)
        if event_id in claimed:
            claimed.discard(event_id)  # the same event twice in one batch applies once
            fresh.append(event)
    keys = sorted({key for event in fresh for key in _keys_of(event)})
    if not keys:
        return outcomes
    await lock_insatser(session, keys)
    records = await _current(session, RECORDS, keys)
    overrides = await _current(session, OVERRIDES, keys)
    stored = {key: facts_of(row) for key, row in records.items()}
    changed_records: set[InsatsKey] = set()
    changed_overrides: set[InsatsKey] = set()
    for event in fresh:
        if isinstance(event, ClassificationOverridden):
            key = (event.ruc_id, event.year, event.ref)
            if not override_wins(overrides.get(key), event):
                continue
            overrides[key] = {
                "ruc_id": event.ruc_id,
                "year": event.year,
                "ref": event.ref,
                "nsp_area": event.nsp_area,
                "event_id": str(event.event_id),
                "occurred_at": event.occurred_at,
            }
            changed_overrides.add(key)
            if key in records:
                records[key] = records[key] | {
                    "nsp_area": event.nsp_area,
                    "area_source": "override",
                    "needs_review": False,
                    "updated_at": utcnow(),
                }
                changed_records.add(key)
            continue
        insatser = {i.ref: i for i in event.insatser}  # a ref twice in one event: the last one holds
        by_ref = {c.ref: c for c in event.classifications}
        for ref in sorted(insatser):
            key = (event.ruc_id, event.year, ref)
            old = records.get(key)
            if old is not None and old["version"] > event.version:
                continue
            override = overrides.get(key)
            records[key] = record_row(
                event, insatser[ref], override["nsp_area"] if override else None, by_ref
            )
            changed_records.add(key)
    deltas: Counter[CountKey] = Counter()
    for key in changed_records:
        deltas.update(count_deltas(stored.get(key), facts_of(records[key]), all_contributions))
    await apply_deltas(session, deltas)
    await upsert_rows(session, RECORDS, [records[key] for key in sorted(changed_records)])
    await upsert_rows(session, OVERRIDES, [overrides[key] for key in sorted(changed_overrides)])
    return outcomes


def override_wins(current: Mapping[str, Any] | None, event: ClassificationOverridden) -> bool:
    """The latest decision holds; ties are broken by event id so every replica agrees."""
    if current is None:
        return True
    occurred = current["occurred_at"]
    occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC)
    return (event.occurred_at, str(event.event_id)) >= (occurred, current["event_id"])


@dataclass(frozen=True)
class NationalCounts:
    started_total: int
    started_by_school_form: dict[str, int]
    completed_total: int
    completed_by_nsp: dict[str, int]


async def national_counts(session: AsyncSession, year: int) -> NationalCounts:
    """The year's national figures, read in one statement: one snapshot, so a batch being applied
    meanwhile shows in all of them or in none."""
    insats, forms, nsp = (COUNT_TABLES[name][0] for name in ("insats", "school_form", "nsp"))
    parts = (
        select(literal("total"), insats.c.status, literal(""), func.sum(insats.c.n))
        .where(insats.c.year == year)
        .group_by(insats.c.status),
        select(literal("form"), forms.c.status, forms.c.school_form, func.sum(forms.c.n))
        .where(forms.c.year == year, forms.c.status == "started")
        .group_by(forms.c.status, forms.c.school_form),
        select(literal("nsp"), nsp.c.status, nsp.c.nsp_area, func.sum(nsp.c.n))
        .where(nsp.c.year == year, nsp.c.status == "completed")
        .group_by(nsp.c.status, nsp.c.nsp_area),
    )
    totals: dict[str, int] = {}
    by_form: dict[str, int] = {}
    by_nsp: dict[str, int] = {}
    for kind, status, key, n in await session.execute(union_all(*parts)):
        {"total": totals, "form": by_form, "nsp": by_nsp}[kind][key or status] = int(n or 0)
    return NationalCounts(
        started_total=totals.get("started", 0),
        started_by_school_form=by_form,
        completed_total=totals.get("completed", 0),
        completed_by_nsp=by_nsp,
    )
