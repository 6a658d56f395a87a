"""The JSON API: thin routes over intake's use cases (``service.py``).

``service.accept_report`` is the one path a report takes in, whichever door it came through (API,
form, upload).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.deps import IntakeDep
from services.intake.idempotency import MAX_KEY_LENGTH, body_hash, find_key
from services.intake.limits import ensure_attendance_fits, limited_principal
from services.intake.parts import AttendanceIn, SkaIn, attendance_event, save_part
from services.intake.relay import OutboxRelay
from services.intake.service import accept_report, ensure_may_act
from shared.auth import Principal
from shared.report import Accepted, ReportIn

router = APIRouter(prefix="/api/v1", tags=["reports"])


class Saved(BaseModel):
    status: str = "saved"


async def submit_report(
    report: ReportIn,
    request: Request,
    intake: IntakeDep,
    principal: Annotated[Principal, Depends(limited_principal)],
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> Accepted:
    ensure_may_act(principal, report.ruc_id)
    if idempotency_key is None:
        return await accept_report(intake, report, principal)
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
                intake, report, principal, idempotency=(principal.token_id, idempotency_key, digest)
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
