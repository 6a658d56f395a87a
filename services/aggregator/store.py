"""The aggregator's tables and the one transaction that applies an event to them."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from services.aggregator.counting import CountKey, InsatsFacts, count_deltas, effective_area
from shared.db import UtcDateTime, insert_for
from shared.events import ClassificationOverridden, ReportClassified, utcnow


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
        return InsatsFacts(
            ruc_id=self.ruc_id,
            year=self.year,
            lan_kod=self.lan_kod,
            status=self.status,
            school_forms=tuple(json.loads(self.school_forms)),
            nsp_area=self.nsp_area,
        )


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


COUNT_TABLES: dict[str, tuple[type[SQLModel], str | None]] = {
    "insats": (CountInsats, None),
    "school_form": (CountSchoolForm, "school_form"),
    "nsp": (CountNsp, "nsp_area"),
}


async def claim_event(session: AsyncSession, event_id: str, topic: str) -> bool:
    """Record the event as processed; False when it already was (a redelivery or a replay)."""
    stmt = insert_for(session, ProcessedEvent).values(event_id=event_id, topic=topic, processed_at=utcnow())
    result = await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id"]))  # type: ignore[attr-defined]
    return bool(result.rowcount)


async def apply_deltas(session: AsyncSession, deltas: dict[CountKey, int]) -> None:
    for key, n in deltas.items():
        model, column = COUNT_TABLES[key.table]
        values: dict[str, object] = {
            "year": key.year,
            "ruc_id": key.ruc_id,
            "lan_kod": key.lan_kod,
            "status": key.status,
            "n": n,
        }
        if column:
            values[column] = key.dimension
        stmt = insert_for(session, model).values(**values)
        table = model.__table__  # type: ignore[attr-defined]
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=[c.name for c in table.primary_key.columns],
            set_={"n": table.c.n + stmt.excluded.n},  # type: ignore[attr-defined]
        )
        await session.execute(stmt)


async def _replace_record(session: AsyncSession, old: InsatsRecord | None, new: InsatsRecord) -> None:
    await apply_deltas(session, count_deltas(old.facts() if old else None, new.facts()))
    await session.merge(new)


async def apply_classified(session: AsyncSession, event: ReportClassified, topic: str) -> bool:
    """Apply one classified report; callers commit. Stale versions of an insats change nothing."""
    if not await claim_event(session, str(event.event_id), topic):
        return False
    by_ref = {c.ref: c for c in event.classifications}
    for insats in event.insatser:
        key = (event.ruc_id, event.year, insats.ref)
        old = await session.get(InsatsRecord, key, with_for_update=True)
        if old is not None and old.version > event.version:
            continue
        override = await session.get(AreaOverride, key)
        classification = by_ref[insats.ref]
        area = effective_area(
            override.nsp_area if override else None, insats.nsp_area, classification.nsp_area
        )
        new = InsatsRecord(
            ruc_id=event.ruc_id,
            year=event.year,
            ref=insats.ref,
            version=event.version,
            lan_kod=event.huvudman.lan_kod,
            huvudman_pseudonym=event.huvudman.pseudonym,
            huvudman_type=event.huvudman.type,
            status=insats.status,
            school_forms=json.dumps(sorted(insats.school_forms)),
            title=insats.title,
            declared_area=insats.nsp_area,
            classified_area=classification.nsp_area,
            nsp_area=area,
            area_source="override" if override else classification.source,
            confidence=classification.confidence,
            needs_review=classification.needs_review,
            model_version=event.model_version,
            last_event_id=str(event.event_id),
        )
        await _replace_record(session, old, new)
    return True


async def apply_override(session: AsyncSession, event: ClassificationOverridden, topic: str) -> bool:
    if not await claim_event(session, str(event.event_id), topic):
        return False
    key = (event.ruc_id, event.year, event.ref)
    current = await session.get(AreaOverride, key, with_for_update=True)
    if current is not None and current.occurred_at > event.occurred_at:
        return True
    await session.merge(
        AreaOverride(
            ruc_id=event.ruc_id,
            year=event.year,
            ref=event.ref,
            nsp_area=event.nsp_area,
            event_id=str(event.event_id),
            occurred_at=event.occurred_at,
        )
    )
    old = await session.get(InsatsRecord, key, with_for_update=True)
    if old is not None:
        new = InsatsRecord.model_validate(
            old.model_dump()
            | {
                "nsp_area": event.nsp_area,
                "area_source": "override",
                "needs_review": False,
                "updated_at": utcnow(),
            }
        )
        await _replace_record(session, old, new)
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
        select(dimension, func.sum(table.n)).where(table.year == year, table.status == status).group_by(dimension)
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
