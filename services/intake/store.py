"""Intake's own record of every accepted report: the receipt, the audit trail and the outbox."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.db import UtcDateTime
from shared.events import HuvudmanRef, Insats, ReportSubmitted, utcnow
from shared.report import ReportIn


class ReportSubmission(SQLModel, table=True):
    __tablename__ = "report_submission"

    seq: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(index=True, max_length=36)
    event_id: str = Field(unique=True, max_length=36)
    ruc_id: str = Field(index=True, max_length=16)
    year: int = Field(index=True)
    huvudman_name: str = Field(max_length=300)
    huvudman_pseudonym: str = Field(max_length=32)
    event_json: str = ""
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    published_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


def to_event(report: ReportIn, pseudonym: str, version: int, report_id: uuid.UUID) -> ReportSubmitted:
    """The event keeps everything but the huvudman's name."""
    return ReportSubmitted(
        report_id=report_id,
        version=version,
        ruc_id=report.ruc_id,
        year=report.year,
        huvudman=HuvudmanRef(pseudonym=pseudonym, lan_kod=report.huvudman.lan_kod, type=report.huvudman.type),
        insatser=tuple(Insats.model_validate(i.model_dump()) for i in report.insatser),
    )


async def record_submission(
    session: AsyncSession, report: ReportIn, pseudonym: str, report_id: str | None = None
) -> ReportSubmitted:
    """Store a report and its event (the outbox); a correction passes the report_id it replaces."""
    row = ReportSubmission(
        report_id=report_id or str(uuid.uuid4()),
        event_id="",
        ruc_id=report.ruc_id,
        year=report.year,
        huvudman_name=report.huvudman.name,
        huvudman_pseudonym=pseudonym,
    )
    session.add(row)
    await session.flush()
    assert row.seq is not None
    event = to_event(report, pseudonym, row.seq, uuid.UUID(row.report_id))
    row.event_id = str(event.event_id)
    row.event_json = event.model_dump_json()
    return event


async def mark_published(session: AsyncSession, event_id: uuid.UUID) -> None:
    await session.execute(
        update(ReportSubmission)
        .where(col(ReportSubmission.event_id) == str(event_id))
        .values(published_at=utcnow())
    )


async def unpublished(session: AsyncSession, include_published: bool) -> list[ReportSubmitted]:
    query = select(ReportSubmission).order_by(col(ReportSubmission.seq))
    if not include_published:
        query = query.where(col(ReportSubmission.published_at).is_(None))
    rows = (await session.execute(query)).scalars().all()
    return [ReportSubmitted.model_validate_json(r.event_json) for r in rows if r.event_json]


async def submission_versions(session: AsyncSession, report_id: str) -> list[ReportSubmission]:
    """Every accepted version of one report, oldest first."""
    query = (
        select(ReportSubmission)
        .where(col(ReportSubmission.report_id) == report_id)
        .order_by(col(ReportSubmission.seq))
    )
    return list((await session.execute(query)).scalars().all())


async def latest_submissions(
    session: AsyncSession, ruc_id: str | None, limit: int = 500
) -> list[ReportSubmission]:
    """The latest version of each report, newest first; ``None`` lists every RUC (admin)."""
    query = select(ReportSubmission).order_by(col(ReportSubmission.seq).desc()).limit(limit * 4)
    if ruc_id is not None:
        query = query.where(col(ReportSubmission.ruc_id) == ruc_id)
    seen: set[str] = set()
    latest = []
    for row in (await session.execute(query)).scalars().all():
        if row.report_id not in seen:
            seen.add(row.report_id)
            latest.append(row)
    return latest[:limit]
