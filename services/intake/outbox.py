"""What intake stored but the broker has not acknowledged yet, beyond the reports themselves."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.intake.parts import AttendanceIn, ReportPart, attendance_event
from shared.events import AttendanceReported


async def unpublished_attendance(
    session: AsyncSession, secret: str, include_published: bool
) -> list[AttendanceReported]:
    query = select(ReportPart).where(col(ReportPart.kind) == "attendance")
    if not include_published:
        query = query.where(col(ReportPart.published_at).is_(None))
    rows = (await session.execute(query)).scalars().all()
    return [attendance_event(AttendanceIn.model_validate_json(r.body_json), secret) for r in rows]
