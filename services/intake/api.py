"""The JSON API: thin routes over the store and the publisher.

``accept_report`` is the one path a report takes in, whichever door it came through (API, form, upload).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.intake.batching import GroupCommit
from services.intake.idempotency import MAX_KEY_LENGTH, body_hash, find_key, remember_key
from services.intake.limits import ensure_attendance_fits, ensure_report_fits, limited_principal
from services.intake.parts import AttendanceIn, SkaIn, attendance_event, save_part
from services.intake.relay import OutboxRelay
from services.intake.store import Receipt, record_submissions
from shared.auth import Principal
from shared.events import ReportSubmitted
from shared.logging import bind_log_context
from shared.pseudonym import pseudonymise
from shared.report import Accepted, ReportIn

router = APIRouter(prefix="/api/v1", tags=["reports"])


class Saved(BaseModel):
    status: str = "saved"


def ensure_may_act(principal: Principal, ruc_id: str) -> None:
    if not principal.may_act_for(ruc_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Du får bara rapportera för ditt eget RUC / you may only report for your own RUC, "
            f"not {ruc_id!r}",
        )


def _stored(app: FastAPI) -> None:
    """Durably stored: the outbox relay publishes it from here (the contract's 202, rev 2)."""
    relay: OutboxRelay = app.state.relay
    relay.nudge()
    app.state.metrics_accepted.inc()


async def accept_report(
    app: FastAPI,
    report: ReportIn,
    principal: Principal,
    report_id: str | None = None,
    idempotency: tuple[int, str, str] | None = None,
) -> Accepted:
    """Record receipt and outbox row in one transaction: then it is accepted (403 as HTTPException)."""
    ensure_may_act(principal, report.ruc_id)
    receipt = Receipt(report, pseudonymise(app.state.pseudonym_key, report.huvudman.name), report_id)
    ensure_report_fits(report, app.state.max_message_bytes)
    if idempotency is None:  # stored with the receipts of concurrent requests (group commit)
        batches: GroupCommit[Receipt, tuple[ReportSubmitted, str]] = app.state.receipt_batches
        event, body = await batches.submit(receipt)
    else:  # alone: the key goes in the same transaction, and a clash must roll back only this one
        engine: AsyncEngine = app.state.engine
        async with engine.begin() as conn:
            [(event, body)] = await record_submissions(conn, [receipt])
            token_id, key, digest = idempotency
            await remember_key(conn, token_id, key, digest, str(event.report_id), app.state.idempotency_ttl_s)
    bind_log_context(event_id=event.event_id, report_id=event.report_id)
    _stored(app)
    return Accepted(report_id=str(event.report_id))


async def submit_report(
    report: ReportIn,
    request: Request,
    principal: Annotated[Principal, Depends(limited_principal)],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> Accepted:
    ensure_may_act(principal, report.ruc_id)
    if idempotency_key is None:
        return await accept_report(request.app, report, principal)
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    digest = body_hash(await request.body())
    ttl = request.app.state.idempotency_ttl_s
    for _attempt in range(2):
        async with sessions() as session:
            existing = await find_key(session, principal.token_id, idempotency_key, ttl)
        if existing is not None:
            if existing.body_hash != digest:
                raise HTTPException(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    detail="Idempotency-Key har redan använts för en annan rapport / "
                    "Idempotency-Key reused with a different body",
                )
            return Accepted(report_id=existing.report_id)  # stored then; the relay publishes it
        try:
            return await accept_report(
                request.app, report, principal, idempotency=(principal.token_id, idempotency_key, digest)
            )
        except IntegrityError:  # a concurrent first attempt won the key: answer as it did
            continue
    raise HTTPException(status.HTTP_409_CONFLICT, detail="Samma Idempotency-Key pågår / key in use")


router.add_api_route(
    "/reports",
    submit_report,
    methods=["POST"],
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={401: {}, 403: {}, 409: {}, 413: {}, 422: {}, 429: {}},
)


async def accept_attendance(app: FastAPI, part: AttendanceIn, principal: Principal) -> None:
    ensure_may_act(principal, part.ruc_id)
    ensure_attendance_fits(attendance_event(part, app.state.pseudonym_key), app.state.max_message_bytes)
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    async with sessions.begin() as session:
        await save_part(session, "attendance", part)
    relay: OutboxRelay = app.state.relay
    relay.nudge()


async def accept_ska(app: FastAPI, part: SkaIn, principal: Principal) -> None:
    ensure_may_act(principal, part.ruc_id)
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    async with sessions.begin() as session:
        await save_part(session, "ska", part)


_PART_RESPONSES: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 413: {}, 422: {}, 429: {}}


@router.post(
    "/attendance", status_code=status.HTTP_202_ACCEPTED, response_model=Saved, responses=_PART_RESPONSES
)
async def submit_attendance(
    part: AttendanceIn, request: Request, principal: Annotated[Principal, Depends(limited_principal)]
) -> Saved:
    """Part 1: network meetings and who attended; a later submission for the year replaces it."""
    await accept_attendance(request.app, part, principal)
    return Saved(status="accepted")


@router.post("/ska", response_model=Saved, responses=_PART_RESPONSES)
async def submit_ska(
    part: SkaIn, request: Request, principal: Annotated[Principal, Depends(limited_principal)]
) -> Saved:
    """Part 2: the network's work with systematic quality work (SKA), a narrative kept by intake."""
    await accept_ska(request.app, part, principal)
    return Saved()
