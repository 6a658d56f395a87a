"""Intake's own record of every accepted report: the receipt, the audit trail and the outbox."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Index, bindparam, func, insert, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import Field, SQLModel, col, select

from shared.db import UtcDateTime
from shared.events import ReportSubmitted, utcnow
from shared.inbound import ReportIn

_UNSENT = text("published_at IS NULL AND failed_at IS NULL")


class ReportSubmission(SQLModel, table=True):
    __tablename__ = "report_submission"
    # The relay's query: the oldest rows neither published nor failed (migration 0009).
    __table_args__ = (
        Index("ix_report_submission_unsent", "seq", postgresql_where=_UNSENT, sqlite_where=_UNSENT),
    )

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
    # Set by the relay when the broker refused the event for good (over its size limit).
    failed_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    publish_error: str | None = Field(default=None, max_length=2000)


_TABLE = ReportSubmission.__table__  # type: ignore[attr-defined]
# Built once: SQLAlchemy caches their compiled form, so a request pays only for the round trips.
_INSERT = insert(_TABLE).returning(_TABLE.c.seq, sort_by_parameter_order=True)
_SET_EVENT = update(_TABLE).where(_TABLE.c.seq == bindparam("b_seq")).values(event_json=bindparam("b_json"))


def to_event(
    report: ReportIn, pseudonym: str, version: int, report_id: uuid.UUID, event_id: uuid.UUID | None = None
) -> ReportSubmitted:
    """The event keeps everything but the huvudman's name."""
    return ReportSubmitted.model_validate(
        {
            "event_id": event_id or uuid.uuid4(),
            "report_id": report_id,
            "version": version,
            "ruc_id": report.ruc_id,
            "year": report.year,
            "huvudman": {
                "pseudonym": pseudonym,
                "lan_kod": report.huvudman.lan_kod,
                "type": report.huvudman.type,
            },
            # the inbound insatser already passed stricter checks; their fields are the event's
            "insatser": [vars(i) for i in report.insatser],
        }
    )


@dataclass(frozen=True)
class Receipt:
    """A report to store; a correction names the report_id it replaces."""

    report: ReportIn
    pseudonym: str
    report_id: str | None = None


async def record_submissions(
    conn: AsyncConnection, receipts: Sequence[Receipt]
) -> list[tuple[ReportSubmitted, str]]:
    """Store reports and their events (the outbox) in the caller's transaction, in order.

    Two statements however many reports: the insert hands back each row's ``seq`` (the event's
    version, so it must come from the database), the update stores the events that carry them.
    Returns each event with its JSON, which is what gets published.
    """
    now = utcnow()
    ids = [(uuid.UUID(r.report_id) if r.report_id else uuid.uuid4(), uuid.uuid4()) for r in receipts]
    rows = [
        {
            "report_id": str(report_id),
            "event_id": str(event_id),
            "ruc_id": r.report.ruc_id,
            "year": r.report.year,
            "huvudman_name": r.report.huvudman.name,
            "huvudman_pseudonym": r.pseudonym,
            "event_json": "",
            "received_at": now,
        }
        for r, (report_id, event_id) in zip(receipts, ids, strict=True)
    ]
    seqs = (await conn.execute(_INSERT, rows)).scalars().all()
    events = [
        to_event(r.report, r.pseudonym, seq, report_id, event_id)
        for r, (report_id, event_id), seq in zip(receipts, ids, seqs, strict=True)
    ]
    stored = [(e, e.model_dump_json()) for e in events]
    await conn.execute(_SET_EVENT, [{"b_seq": e.version, "b_json": body} for e, body in stored])
    return stored


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
    """The latest version of each report, newest first; ``None`` lists every RUC (admin). A report
    whose latest version belongs to another RUC (an admin moved it) is no longer this RUC's."""
    query = select(ReportSubmission).order_by(col(ReportSubmission.seq).desc()).limit(limit * 4)
    if ruc_id is not None:
        query = query.where(col(ReportSubmission.ruc_id) == ruc_id)
    seen: set[str] = set()
    latest = []
    for row in (await session.execute(query)).scalars().all():
        if row.report_id not in seen:
            seen.add(row.report_id)
            latest.append(row)
    if ruc_id is not None and latest:
        newest = select(col(ReportSubmission.report_id), func.max(col(ReportSubmission.seq))).where(
            col(ReportSubmission.report_id).in_([r.report_id for r in latest])
        )
        grouped = await session.execute(newest.group_by(col(ReportSubmission.report_id)))
        last: dict[str, int | None] = {row[0]: row[1] for row in grouped.all()}
        latest = [r for r in latest if last.get(r.report_id) == r.seq]
    return latest[:limit]
