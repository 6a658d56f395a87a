"""Parts 1 and 2 of a RUC's yearly report: attendance at network meetings and the SKA narrative.

The inbound models are the one validation for the form and the API; the stored rows keep names
(a RUC sees its own huvudmän), the AttendanceReported event carries pseudonyms only.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Literal

from pydantic import Field, field_validator, model_validator
from sqlalchemy import Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field as SqlField
from sqlmodel import SQLModel, col, select

from shared.db import UtcDateTime
from shared.events import AttendanceReported, MeetingHeld, utcnow
from shared.inbound import Inbound, KnownRuc, LongText, ReportingYear, ShortText, YearScoped, reporting_year
from shared.pseudonym import pseudonymise

PartKind = Literal["attendance", "ska"]
MAX_MEMBERS, MAX_MEETINGS = 500, 100


class _ForRuc(YearScoped):
    ruc_id: KnownRuc
    year: ReportingYear


class MeetingIn(Inbound):
    date: dt.date
    attendees: list[ShortText] = Field(default_factory=list, max_length=MAX_MEMBERS)

    @field_validator("date")
    @classmethod
    def _in_reporting_year(cls, value: dt.date) -> dt.date:
        year = reporting_year()
        if year is not None and value.year != year:
            raise ValueError(f"träffen ligger inte i rapportåret {year} / meeting date outside {year}")
        return value


class AttendanceIn(_ForRuc):
    """The network's huvudmän (or samordnare) and, per meeting, who of them came."""

    members: list[ShortText] = Field(min_length=1, max_length=MAX_MEMBERS)
    meetings: list[MeetingIn] = Field(default_factory=list, max_length=MAX_MEETINGS)

    @model_validator(mode="after")
    def _attendees_are_members(self) -> AttendanceIn:
        known = {m.casefold() for m in self.members}
        for meeting in self.meetings:
            strangers = sorted({a for a in meeting.attendees if a.casefold() not in known})
            if strangers:
                raise ValueError(
                    f"deltagare som inte finns bland nätverkets medlemmar / attendees not among "
                    f"the members: {strangers}"
                )
        return self


class SkaIn(_ForRuc):
    narrative: LongText = Field(min_length=1)


class ReportPart(SQLModel, table=True):
    __tablename__ = "report_part"

    ruc_id: str = SqlField(primary_key=True, max_length=16)
    year: int = SqlField(primary_key=True)
    kind: str = SqlField(primary_key=True, max_length=16)
    body_json: str = SqlField(sa_type=Text)  # as migration 0003 made it
    updated_at: dt.datetime = SqlField(default_factory=utcnow, sa_type=UtcDateTime)
    published_at: dt.datetime | None = SqlField(default=None, sa_type=UtcDateTime)
    # Set by the relay when the part cannot be loaded or the broker refuses it (migration 0010);
    # saving the part again clears it, and so does `rucnet outbox retry`.
    failed_at: dt.datetime | None = SqlField(default=None, sa_type=UtcDateTime)
    publish_error: str | None = SqlField(default=None, max_length=2000)


def attendance_event(part: AttendanceIn, secret: str) -> AttendanceReported:
    members = {m.casefold(): pseudonymise(secret, m) for m in part.members}
    meetings = tuple(
        MeetingHeld(date=m.date, attendees=tuple(sorted({members[a.casefold()] for a in m.attendees})))
        for m in sorted(part.meetings, key=lambda m: m.date)
    )
    return AttendanceReported(
        ruc_id=part.ruc_id, year=part.year, network_size=len(members), meetings=meetings
    )


async def save_part(session: AsyncSession, kind: PartKind, part: AttendanceIn | SkaIn) -> None:
    await session.merge(
        ReportPart(
            ruc_id=part.ruc_id,
            year=part.year,
            kind=kind,
            body_json=part.model_dump_json(),
            updated_at=utcnow(),
            published_at=None,
            failed_at=None,
            publish_error=None,
        )
    )


async def mark_part_published(session: AsyncSession, ruc_id: str, year: int, kind: PartKind) -> None:
    row = await session.get(ReportPart, (ruc_id, year, kind))
    if row is not None:
        row.published_at = utcnow()


async def load_part(
    session: AsyncSession, ruc_id: str, year: int, kind: PartKind
) -> dict[str, object] | None:
    row = await session.get(ReportPart, (ruc_id, year, kind))
    if row is None:
        return None
    data: dict[str, object] = json.loads(row.body_json)
    return data


async def part_failed(session: AsyncSession, ruc_id: str, year: int, kind: PartKind) -> bool:
    """Whether the relay marked the stored part failed (it could not be sent on)."""
    row = await session.get(ReportPart, (ruc_id, year, kind))
    return row is not None and row.failed_at is not None


async def parts_of(session: AsyncSession, ruc_id: str) -> list[ReportPart]:
    query = select(ReportPart).where(col(ReportPart.ruc_id) == ruc_id).order_by(col(ReportPart.year).desc())
    return list((await session.execute(query)).scalars().all())
