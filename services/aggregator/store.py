"""The aggregator's tables and the one transaction that applies an event to them.

Each event costs a fixed handful of statements whatever its number of insatser: the records it
touches are read in one query, the count deltas are summed and upserted per table in one statement,
and the new records are upserted in one. Concurrent transactions on the same insats (a classified
report and an override on two consumers, or a rebalance) are serialised by a per-insats lock on
PostgreSQL; SQLite has a single writer, taken by the first statement (the dedupe insert).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from services.aggregator.counting import (
    CountKey,
    InsatsFacts,
    all_contributions,
    count_deltas,
    effective_area,
)
from shared.db import UtcDateTime, insert_for
from shared.events import ClassificationOverridden, Insats, ReportClassified, utcnow

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
        school_forms=tuple(json.loads(row["school_forms"])),
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


def lock_id(key: InsatsKey) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_insatser(session: AsyncSession, keys: Iterable[InsatsKey]) -> None:
    """Serialise transactions on the same insats (PostgreSQL); sorted, so two never deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted({lock_id(k) for k in keys})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:ids AS bigint[])) AS k"),
        {"ids": ids},
    )


_STATEMENTS: dict[tuple[str, str, str], Any] = {}


async def claim_event(session: AsyncSession, event_id: str, topic: str) -> bool:
    """Record the event as processed; False when it already was (a redelivery or a replay)."""
    cache_key = (session.get_bind().dialect.name, PROCESSED.name, "claim")
    if cache_key not in _STATEMENTS:
        stmt = insert_for(session, PROCESSED)
        _STATEMENTS[cache_key] = stmt.on_conflict_do_nothing(index_elements=["event_id"])  # type: ignore[attr-defined]
    row = {"event_id": event_id, "topic": topic, "processed_at": utcnow()}
    result = await session.execute(_STATEMENTS[cache_key], row)
    return bool(result.rowcount)  # type: ignore[attr-defined]


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
    pk = tuple_(table.c.ruc_id, table.c.year, table.c.ref)
    rows = (await session.execute(table.select().where(pk.in_(keys)))).mappings().all()
    return {(r["ruc_id"], r["year"], r["ref"]): r for r in rows}


def record_row(
    event: ReportClassified, insats: Insats, override: str | None, by_ref: Mapping[str, Any]
) -> dict[str, object]:
    classification = by_ref[insats.ref]
    return {
        "ruc_id": event.ruc_id,
        "year": event.year,
        "ref": insats.ref,
        "version": event.version,
        "lan_kod": event.huvudman.lan_kod,
        "huvudman_pseudonym": event.huvudman.pseudonym,
        "huvudman_type": event.huvudman.type,
        "status": insats.status,
        "school_forms": json.dumps(sorted(set(insats.school_forms))),
        "title": insats.title[:300],
        "declared_area": insats.nsp_area,
        "classified_area": classification.nsp_area,
        "nsp_area": effective_area(override, insats.nsp_area, classification.nsp_area),
        "area_source": "override" if override else classification.source,
        "confidence": classification.confidence,
        "needs_review": classification.needs_review and not override,
        "model_version": event.model_version,
        "last_event_id": str(event.event_id),
        "updated_at": utcnow(),
    }


async def apply_classified(session: AsyncSession, event: ReportClassified, topic: str) -> bool:
    """Apply one classified report; callers commit. Stale versions of an insats change nothing."""
    if not await claim_event(session, str(event.event_id), topic):
        return False
    insatser = {i.ref: i for i in event.insatser}  # a ref twice in one event: the last one holds
    by_ref = {c.ref: c for c in event.classifications}
    keys = [(event.ruc_id, event.year, ref) for ref in sorted(insatser)]
    await lock_insatser(session, keys)
    olds = await _current(session, RECORDS, keys)
    overrides = await _current(session, OVERRIDES, keys)
    deltas: Counter[CountKey] = Counter()
    rows = []
    for key in keys:
        old = olds.get(key)
        if old is not None and old["version"] > event.version:
            continue
        override = overrides.get(key)
        row = record_row(event, insatser[key[2]], override["nsp_area"] if override else None, by_ref)
        deltas.update(count_deltas(facts_of(old) if old else None, facts_of(row), all_contributions))
        rows.append(row)
    await apply_deltas(session, deltas)
    await upsert_rows(session, RECORDS, rows)
    return True


def override_wins(current: Mapping[str, Any] | None, event: ClassificationOverridden) -> bool:
    """The latest decision holds; ties are broken by event id so every replica agrees."""
    if current is None:
        return True
    occurred = current["occurred_at"]
    occurred = occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.UTC)
    return (event.occurred_at, str(event.event_id)) >= (occurred, current["event_id"])


async def apply_override(session: AsyncSession, event: ClassificationOverridden, topic: str) -> bool:
    if not await claim_event(session, str(event.event_id), topic):
        return False
    key = (event.ruc_id, event.year, event.ref)
    await lock_insatser(session, [key])
    current = (await _current(session, OVERRIDES, [key])).get(key)
    if not override_wins(current, event):
        return True
    override = {
        "ruc_id": event.ruc_id,
        "year": event.year,
        "ref": event.ref,
        "nsp_area": event.nsp_area,
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at,
    }
    await upsert_rows(session, OVERRIDES, [override])
    old = (await _current(session, RECORDS, [key])).get(key)
    if old is not None:
        new = dict(old) | {
            "nsp_area": event.nsp_area,
            "area_source": "override",
            "needs_review": False,
            "updated_at": utcnow(),
        }
        await apply_deltas(session, count_deltas(facts_of(old), facts_of(new), all_contributions))
        await upsert_rows(session, RECORDS, [new])
    return True


@dataclass(frozen=True)
class NationalCounts:
    started_total: int
    started_by_school_form: dict[str, int]
    completed_total: int
    completed_by_nsp: dict[str, int]


async def _grouped(session: AsyncSession, dimension: Any, year: int, status: str) -> dict[str, int]:
    table = dimension.class_
    rows = await session.execute(
        select(dimension, func.sum(table.n))
        .where(table.year == year, table.status == status)
        .group_by(dimension)
    )
    return {str(k): int(v) for k, v in rows.all()}


async def _total(session: AsyncSession, year: int, status: str) -> int:
    value = await session.scalar(
        select(func.coalesce(func.sum(CountInsats.n), 0)).where(
            col(CountInsats.year) == year, col(CountInsats.status) == status
        )
    )
    return int(value or 0)


async def national_counts(session: AsyncSession, year: int) -> NationalCounts:
    return NationalCounts(
        started_total=await _total(session, year, "started"),
        started_by_school_form=await _grouped(session, col(CountSchoolForm.school_form), year, "started"),
        completed_total=await _total(session, year, "completed"),
        completed_by_nsp=await _grouped(session, col(CountNsp.nsp_area), year, "completed"),
    )
