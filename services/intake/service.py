"""Intake's use cases, one function each, called by every entry point alike (the JSON API, the
web form and the upload): what it takes to accept a report, with no HTTP in it but the 4xx it
refuses with. Its collaborators come in as one typed object (``Intake``), built by ``app.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.intake.batching import GroupCommit
from services.intake.idempotency import remember_key
from services.intake.limits import ensure_attendance_fits, ensure_report_fits
from services.intake.parts import AttendanceIn, SkaIn, attendance_event, save_part
from services.intake.relay import OutboxRelay
from services.intake.store import Receipt, record_submissions
from shared.auth import Principal
from shared.events import ReportSubmitted
from shared.inbound import Accepted, ReportIn
from shared.logging import bind_log_context
from shared.pseudonym import pseudonymise


@dataclass(frozen=True)
class Intake:
    """What accepting a report needs: the store, the relay to wake, the keys and limits."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    receipt_batches: GroupCommit[Receipt, tuple[ReportSubmitted, str]]
    relay: OutboxRelay
    pseudonym_key: str
    max_message_bytes: int
    idempotency_ttl_s: int
    accepted: Any  # the reports-accepted counter (prometheus)


def ensure_may_act(principal: Principal, ruc_id: str) -> None:
    if not principal.may_act_for(ruc_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Du får bara rapportera för ditt eget RUC / you may only report for your own RUC, "
            f"not {ruc_id!r}",
        )


async def accept_report(
    intake: Intake,
    report: ReportIn,
    principal: Principal,
    report_id: str | None = None,
    idempotency: tuple[int, str, str] | None = None,
) -> Accepted:
    """Record receipt and outbox row in one transaction: then it is accepted (the contract's 202,
    rev 2) and the relay publishes it; a 403 or 413 as HTTPException."""
    ensure_may_act(principal, report.ruc_id)
    receipt = Receipt(report, pseudonymise(intake.pseudonym_key, report.huvudman.name), report_id)
    ensure_report_fits(report, intake.max_message_bytes)
    if idempotency is None:  # stored with the receipts of concurrent requests (group commit)
        event, _body = await intake.receipt_batches.submit(receipt)
    else:  # alone: the key goes in the same transaction, and a clash must roll back only this one
        async with intake.engine.begin() as conn:
            [(event, _body)] = await record_submissions(conn, [receipt])
            token_id, key, digest = idempotency
            await remember_key(conn, token_id, key, digest, str(event.report_id), intake.idempotency_ttl_s)
    bind_log_context(event_id=event.event_id, report_id=event.report_id)
    intake.relay.nudge(event.version)  # the outbox row's seq
    intake.accepted.inc()
    return Accepted(report_id=str(event.report_id))


async def accept_attendance(intake: Intake, part: AttendanceIn, principal: Principal) -> None:
    """Part 1, stored with its outbox mark in one transaction; the relay publishes it."""
    ensure_may_act(principal, part.ruc_id)
    ensure_attendance_fits(attendance_event(part, intake.pseudonym_key), intake.max_message_bytes)
    async with intake.sessions.begin() as session:
        await save_part(session, "attendance", part)
    intake.relay.nudge()


async def accept_ska(intake: Intake, part: SkaIn, principal: Principal) -> None:
    """Part 2, the SKA narrative: kept by intake, published to no one."""
    ensure_may_act(principal, part.ruc_id)
    async with intake.sessions.begin() as session:
        await save_part(session, "ska", part)
