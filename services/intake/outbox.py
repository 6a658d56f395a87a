"""What an operator does with the outbox: list the rows waiting or failed, and send failed ones again.

A failed row stays in the outbox with its error (``relay.py`` marks it); retrying clears the mark so
the running relay sends it at its next pass (within ``RUCNET_OUTBOX_INTERVAL_S``). A row that still
cannot be sent is marked failed again with the new error: retrying never loses a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake.parts import ReportPart
from services.intake.store import ReportSubmission

_REPORTS = ReportSubmission.__table__  # type: ignore[attr-defined]
_PARTS = ReportPart.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OutboxEntry:
    """One row as the CLI shows it; ``ident`` is what ``rucnet outbox retry`` takes."""

    kind: str  # "report" or "attendance"
    ident: str  # a report's seq, or "ruc:year" for an attendance part
    ruc_id: str
    year: int
    report_id: str | None
    stored_at: dt.datetime
    failed_at: dt.datetime | None
    error: str | None


async def outbox_entries(conn: AsyncConnection, failed: bool, limit: int = 1000) -> list[OutboxEntry]:
    """The rows marked failed (``failed``), or those still waiting to be sent; oldest first."""
    r, p = _REPORTS.c, _PARTS.c
    report_state = (
        r.failed_at.is_not(None) if failed else and_(r.published_at.is_(None), r.failed_at.is_(None))
    )
    part_state = p.failed_at.is_not(None) if failed else and_(p.published_at.is_(None), p.failed_at.is_(None))
    reports = await conn.execute(
        select(r.seq, r.ruc_id, r.year, r.report_id, r.received_at, r.failed_at, r.publish_error)
        .where(report_state)
        .order_by(r.seq)
        .limit(limit)
    )
    parts = await conn.execute(
        select(p.ruc_id, p.year, p.updated_at, p.failed_at, p.publish_error)
        .where(p.kind == "attendance", part_state)
        .order_by(p.updated_at)
        .limit(limit)
    )
    entries = [
        OutboxEntry(
            "report", str(x.seq), x.ruc_id, x.year, x.report_id, x.received_at, x.failed_at, x.publish_error
        )
        for x in reports
    ]
    entries += [
        OutboxEntry("attendance", f"{x.ruc_id}:{x.year}", x.ruc_id, x.year, None, x.updated_at, x.failed_at,
                    x.publish_error)
        for x in parts
    ]  # fmt: skip
    return entries


def parse_ident(ident: str) -> int | tuple[str, int]:
    """A report's seq (``12``) or an attendance part (``gu:2020``); ValueError otherwise."""
    if ident.isdigit():
        return int(ident)
    ruc_id, _, year = ident.partition(":")
    if not ruc_id or not year.isdigit():
        raise ValueError(f"{ident!r}: give a report's seq (12) or an attendance part as RUC:YEAR (gu:2020)")
    return ruc_id, int(year)


async def retry_failed(conn: AsyncConnection, idents: Sequence[str] = ()) -> int:
    """Clear the failed mark of the named rows (all failed rows when none are named); how many."""
    targets = [parse_ident(i) for i in idents]
    seqs = [t for t in targets if isinstance(t, int)]
    parts = [t for t in targets if isinstance(t, tuple)]
    r, p = _REPORTS.c, _PARTS.c
    cleared = {"failed_at": None, "publish_error": None}
    retried = 0
    if seqs or not targets:
        which = r.failed_at.is_not(None) if not targets else and_(r.failed_at.is_not(None), r.seq.in_(seqs))
        retried += (await conn.execute(update(_REPORTS).where(which).values(cleared))).rowcount
    if parts or not targets:
        named = or_(*(and_(p.ruc_id == ruc, p.year == year) for ruc, year in parts)) if parts else None
        which = and_(
            p.kind == "attendance", p.failed_at.is_not(None), *([named] if named is not None else [])
        )
        retried += (await conn.execute(update(_PARTS).where(which).values(cleared))).rowcount
    return retried
