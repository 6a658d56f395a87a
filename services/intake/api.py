"""The JSON API: thin routes over intake's use cases (``service.py``).

``service.accept_report`` is the one path a report takes in, whichever door it came through (API,
form, upload).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from services.intake.deps import ApiPrincipal, IntakeDep
from services.intake.idempotency import MAX_KEY_LENGTH, body_hash, find_key
from services.intake.parts import AttendanceIn, SkaIn
from services.intake.service import accept_attendance, accept_report, accept_ska, ensure_may_act
from shared.inbound import Accepted, ReportIn

router = APIRouter(prefix="/api/v1", tags=["reports"])


class Saved(BaseModel):
    status: str = "saved"


async def submit_report(
    report: ReportIn,
    request: Request,
    intake: IntakeDep,
    principal: ApiPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=MAX_KEY_LENGTH, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> Accepted:
    ensure_may_act(principal, report.ruc_id)
    if idempotency_key is None:
        return await accept_report(intake, report, principal)
    digest = body_hash(await request.body())
    for _attempt in range(2):
        async with intake.sessions() as session:
            existing = await find_key(session, principal.token_id, idempotency_key, intake.idempotency_ttl_s)
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


_PART_RESPONSES: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 413: {}, 422: {}, 429: {}}


@router.post(
    "/attendance", status_code=status.HTTP_202_ACCEPTED, response_model=Saved, responses=_PART_RESPONSES
)
async def submit_attendance(part: AttendanceIn, intake: IntakeDep, principal: ApiPrincipal) -> Saved:
    """Part 1: network meetings and who attended; a later submission for the year replaces it."""
    await accept_attendance(intake, part, principal)
    return Saved(status="accepted")


@router.post("/ska", response_model=Saved, responses=_PART_RESPONSES)
async def submit_ska(part: SkaIn, intake: IntakeDep, principal: ApiPrincipal) -> Saved:
    """Part 2: the network's work with systematic quality work (SKA), a narrative kept by intake."""
    await accept_ska(intake, part, principal)
    return Saved()
