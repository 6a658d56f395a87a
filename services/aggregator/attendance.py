"""Part 1 of the yearly report, counted: meetings held and the attendance rate per RUC and year."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.aggregator.deps import Sessions
from services.aggregator.tables import AttendanceSummary
from services.aggregator.upserts import claim_event
from shared.auth import Principal
from shared.events import AttendanceReported
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.web import current_principal

router = APIRouter(tags=["stats"])  # mounted under /api/v1/stats by app.py


@dataclass(frozen=True)
class AttendanceFacts:
    meetings: int
    network_size: int
    attendances: int

    @property
    def possible(self) -> int:
        return self.meetings * self.network_size

    @property
    def rate(self) -> float | None:
        return round(self.attendances / self.possible, 4) if self.possible else None


def summarise(event: AttendanceReported) -> AttendanceFacts:
    """Pure: each member counts at most once per meeting."""
    return AttendanceFacts(
        meetings=len(event.meetings),
        network_size=event.network_size,
        attendances=sum(len(set(m.attendees)) for m in event.meetings),
    )


async def apply_attendance(session: AsyncSession, event: AttendanceReported, topic: str) -> bool:
    if not await claim_event(session, str(event.event_id), topic):
        return False
    current = await session.get(AttendanceSummary, (event.ruc_id, event.year), with_for_update=True)
    if current is not None and current.occurred_at > event.occurred_at:
        return True
    facts = summarise(event)
    await session.merge(
        AttendanceSummary(
            ruc_id=event.ruc_id,
            year=event.year,
            meetings=facts.meetings,
            network_size=facts.network_size,
            attendances=facts.attendances,
            event_id=str(event.event_id),
            occurred_at=event.occurred_at,
        )
    )
    return True


class RucAttendance(BaseModel):
    ruc_id: str
    meetings: int
    network_size: int
    attendances: int
    attendance_rate: float | None


class AttendanceStats(BaseModel):
    year: int
    ruc: list[RucAttendance]


@router.get("/attendance", response_model=AttendanceStats, responses={401: {}, 422: {}})
async def attendance_stats(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> AttendanceStats:
    """National roles see every RUC; a RUC token sees its own."""
    query = select(AttendanceSummary).where(col(AttendanceSummary.year) == year)
    if not principal.is_national:
        query = query.where(col(AttendanceSummary.ruc_id) == (principal.ruc_id or ""))
    async with sessions() as session:
        rows = (await session.execute(query.order_by(col(AttendanceSummary.ruc_id)))).scalars().all()
    out = []
    for row in rows:
        facts = AttendanceFacts(row.meetings, row.network_size, row.attendances)
        out.append(RucAttendance(ruc_id=row.ruc_id, meetings=row.meetings, network_size=row.network_size,
                                 attendances=row.attendances, attendance_rate=facts.rate))  # fmt: skip
    return AttendanceStats(year=year, ruc=out)
