"""Completeness and timeliness: which active RUC have reported for a year, when, and on time or late.

"When" is intake's server stamp on the first accepted report (ReportSubmitted.occurred_at). The
deadline is admin-set per year; without one it is 31 January of the following year (Swedish time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import BaseModel
from sqlalchemy import case
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from services.aggregator.attendance import AttendanceSummary
from services.aggregator.counting import KnownCodes
from services.aggregator.ruc_activation import active_rucs
from shared.auth import Principal
from shared.db import UtcDateTime, insert_for
from shared.events import AttendanceReported, ReportSubmitted, utcnow
from shared.period import deadline_end, default_deadline, open_year, year_span
from shared.report import MAX_YEAR, MIN_YEAR
from shared.web import current_principal, national_principal

router = APIRouter(prefix="/api/v1", tags=["completeness"])
Timeliness = Literal["on_time", "late", "missing"]


class ReportArrival(SQLModel, table=True):
    __tablename__ = "report_arrival"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    first_at: dt.datetime = Field(sa_type=UtcDateTime)
    last_at: dt.datetime = Field(sa_type=UtcDateTime)


class ReportingDeadline(SQLModel, table=True):
    __tablename__ = "reporting_deadline"

    year: int = Field(primary_key=True)
    deadline: dt.date
    set_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def ruc_problems(event: ReportSubmitted | AttendanceReported, known: KnownCodes) -> list[str]:
    return [] if event.ruc_id in known.ruc_ids else [f"unknown RUC {event.ruc_id!r}"]


def timeliness(first_at: dt.datetime | None, deadline: dt.date) -> Timeliness:
    if first_at is None:
        return "missing"
    return "on_time" if first_at < deadline_end(deadline) else "late"


async def record_arrival(session: AsyncSession, event: ReportSubmitted, _topic: str) -> bool:
    return (await record_arrivals(session, [event]))[0]


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


@router.get("/stats/completeness", response_model=Completeness, responses={401: {}, 403: {}, 422: {}})
async def completeness(
    request: Request,
    _principal: Annotated[Principal, Depends(national_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> Completeness:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        deadline = await year_deadline(session, year)
        arrivals = {
            a.ruc_id: a
            for a in (
                await session.execute(select(ReportArrival).where(col(ReportArrival.year) == year))
            ).scalars()
        }
        attended = set(
            (
                await session.execute(
                    select(AttendanceSummary.ruc_id).where(col(AttendanceSummary.year) == year)
                )
            )
            .scalars()
            .all()
        )
        expected = await active_rucs(session, year)
    rows = []
    for ruc in expected:
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


class DeadlineIn(BaseModel):
    deadline: dt.date


async def set_deadline(session: AsyncSession, year: int, deadline: dt.date) -> None:
    await session.merge(ReportingDeadline(year=year, deadline=deadline, set_at=utcnow()))


@router.put("/deadlines/{year}", response_model=DeadlineIn, responses={401: {}, 403: {}, 422: {}})
async def put_deadline(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    year: Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)],
    body: DeadlineIn,
) -> DeadlineIn:
    """Admins set a year's deadline (a date; it lasts until midnight, Swedish time)."""
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Endast administratörer / admins only")
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions.begin() as session:
        await set_deadline(session, year, body.deadline)
    return body


class YearDeadline(BaseModel):
    year: int
    deadline: dt.date
    set_by_admin: bool


class ReportingPeriod(BaseModel):
    first_year: int
    last_year: int
    open_year: int
    deadlines: list[YearDeadline]


@router.get("/deadlines", response_model=ReportingPeriod, responses={401: {}})
async def reporting_period(
    request: Request, _principal: Annotated[Principal, Depends(current_principal)]
) -> ReportingPeriod:
    """The years a report may be for, each one's deadline, and the year open now (any token)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        rows = (await session.execute(select(ReportingDeadline))).scalars().all()
    set_ = {r.year: r.deadline for r in rows}
    first, last = year_span()
    return ReportingPeriod(
        first_year=first,
        last_year=last,
        open_year=open_year(utcnow(), set_),
        deadlines=[
            YearDeadline(year=y, deadline=set_.get(y) or default_deadline(y), set_by_admin=y in set_)
            for y in range(first, last + 1)
        ],
    )
