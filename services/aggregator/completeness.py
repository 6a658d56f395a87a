"""Completeness and timeliness: which active RUC have reported for a year, when, and on time or late.
The rules and the store; the routes are ``completeness_api.py``, the tables in ``tables.py``.

"When" is intake's server stamp on the first accepted report (ReportSubmitted.occurred_at). The
deadline is admin-set per year; without one it is 31 January of the following year (Swedish time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.aggregator.counting import KnownCodes
from services.aggregator.ruc_activation import active_rucs
from services.aggregator.tables import AttendanceSummary, ReportArrival, ReportingDeadline
from shared.db import insert_for
from shared.events import AttendanceReported, ReportSubmitted, utcnow
from shared.period import deadline_end, default_deadline

Timeliness = Literal["on_time", "late", "missing"]


def ruc_problems(event: ReportSubmitted | AttendanceReported, known: KnownCodes) -> list[str]:
    return [] if event.ruc_id in known.ruc_ids else [f"unknown RUC {event.ruc_id!r}"]


def timeliness(first_at: dt.datetime | None, deadline: dt.date) -> Timeliness:
    if first_at is None:
        return "missing"
    return "on_time" if first_at < deadline_end(deadline) else "late"


async def record_arrivals(session: AsyncSession, events: Sequence[ReportSubmitted]) -> list[bool]:
    """The earliest and latest stamp per RUC and year: idempotent, so redelivery needs no dedupe."""
    spans: dict[tuple[str, int], tuple[dt.datetime, dt.datetime]] = {}
    for event in events:
        key, stamp = (event.ruc_id, event.year), event.occurred_at
        first, last = spans.get(key, (stamp, stamp))
        spans[key] = (min(first, stamp), max(last, stamp))
    table = ReportArrival.__table__  # type: ignore[attr-defined]
    stmt = insert_for(session, ReportArrival)
    stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=["ruc_id", "year"],
        set_={
            "first_at": _least(table.c.first_at, stmt.excluded.first_at),  # type: ignore[attr-defined]
            "last_at": _greatest(table.c.last_at, stmt.excluded.last_at),  # type: ignore[attr-defined]
        },
    )
    rows = [
        {"ruc_id": ruc_id, "year": year, "first_at": first, "last_at": last}
        for (ruc_id, year), (first, last) in sorted(spans.items())
    ]
    if rows:
        await session.execute(stmt, rows)
    return [True] * len(events)


def _least(a: Any, b: Any) -> Any:
    return case((a < b, a), else_=b)


def _greatest(a: Any, b: Any) -> Any:
    return case((a > b, a), else_=b)


class RucRow(BaseModel):
    ruc_id: str
    host: str
    reported: bool
    first_reported_at: dt.datetime | None
    last_reported_at: dt.datetime | None
    timeliness: Timeliness
    attendance_reported: bool


class Completeness(BaseModel):
    year: int
    deadline: dt.date
    active: int
    reported: int
    on_time: int
    late: int
    ruc: list[RucRow]


async def year_deadline(session: AsyncSession, year: int) -> dt.date:
    row = await session.get(ReportingDeadline, year)
    return row.deadline if row else default_deadline(year)


async def year_completeness(session: AsyncSession, year: int) -> Completeness:
    """Every active RUC's first and latest report for the year, on time or late, and attendance."""
    deadline = await year_deadline(session, year)
    arrivals = {
        a.ruc_id: a
        for a in (
            await session.execute(select(ReportArrival).where(col(ReportArrival.year) == year))
        ).scalars()
    }
    attended_rows = await session.execute(
        select(AttendanceSummary.ruc_id).where(col(AttendanceSummary.year) == year)
    )
    attended = set(attended_rows.scalars().all())
    rows = []
    for ruc in await active_rucs(session, year):
        arrival = arrivals.get(ruc.id)
        first = arrival.first_at if arrival else None
        rows.append(
            RucRow(
                ruc_id=ruc.id,
                host=ruc.host,
                reported=arrival is not None,
                first_reported_at=first,
                last_reported_at=arrival.last_at if arrival else None,
                timeliness=timeliness(first, deadline),
                attendance_reported=ruc.id in attended,
            )
        )
    return Completeness(
        year=year,
        deadline=deadline,
        active=len(rows),
        reported=sum(r.reported for r in rows),
        on_time=sum(r.timeliness == "on_time" for r in rows),
        late=sum(r.timeliness == "late" for r in rows),
        ruc=rows,
    )


async def set_deadline(session: AsyncSession, year: int, deadline: dt.date) -> None:
    await session.merge(ReportingDeadline(year=year, deadline=deadline, set_at=utcnow()))


async def deadlines_set(session: AsyncSession) -> dict[int, dt.date]:
    """The deadlines an admin has set, by year."""
    rows = (await session.execute(select(ReportingDeadline))).scalars().all()
    return {r.year: r.deadline for r in rows}
