"""The JSON API: thin routes over the store and the publisher.

``accept_report`` is the one path a report takes in, whichever door it came through (API, form, upload).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, status
from faststream.kafka import KafkaBroker
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.intake.batching import GroupCommit
from services.intake.idempotency import MAX_KEY_LENGTH, body_hash, find_key, remember_key
from services.intake.limits import ensure_attendance_fits, ensure_report_fits, limited_principal
from services.intake.outbox import PublishedMarks
from services.intake.parts import AttendanceIn, SkaIn, attendance_event, mark_part_published, save_part
from services.intake.publishing import ReportPublisher
from services.intake.store import Receipt, record_submissions, submission_versions
from shared import topics
from shared.auth import Principal
from shared.events import AttendanceReported, ReportSubmitted
from shared.logging import bind_log_context
from shared.pseudonym import pseudonymise
from shared.report import Accepted, ReportIn

router = APIRouter(prefix="/api/v1", tags=["reports"])
BROKER_DOWN = (
    "Meddelandekön svarar inte, rapporten skickas senare / "
    "broker unavailable, the report is kept and will be sent"
)


class Saved(BaseModel):
    status: str = "saved"


async def publish_attendance(broker: KafkaBroker, event: AttendanceReported) -> None:
    await broker.publish(event, topics.ATTENDANCE_REPORTED, key=event.ruc_id.encode())


def ensure_may_act(principal: Principal, ruc_id: str) -> None:
    if not principal.may_act_for(ruc_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Du får bara rapportera för ditt eget RUC / you may only report for your own RUC, "
            f"not {ruc_id!r}",
        )


async def _publish(app: FastAPI, event: ReportSubmitted, body: str) -> None:
    publisher: ReportPublisher = app.state.publisher
    marks: PublishedMarks = app.state.published_marks
    marks.sending(event.event_id)
    try:
        await publisher.publish(event, body)
    except BaseException as exc:
        marks.abandoned(event.event_id)  # the outbox relay sends it later
        if isinstance(exc, Exception):  # the client learns it is not accepted yet
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=BROKER_DOWN) from exc
        raise
    marks.acknowledged(event.event_id)  # marked published with others a few ms later
    app.state.metrics_accepted.inc()


async def accept_report(
    app: FastAPI,
    report: ReportIn,
    principal: Principal,
    report_id: str | None = None,
    idempotency: tuple[int, str, str] | None = None,
) -> Accepted:
    """Record, then publish: 202 only after the broker's ack (403 and 503 as HTTPException)."""
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
    await _publish(app, event, body)
    return Accepted(report_id=str(event.report_id))


async def replay(app: FastAPI, report_id: str) -> Accepted:
    """The first answer again; published now only if the first attempt never got the broker's ack."""
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    marks: PublishedMarks = app.state.published_marks
    async with sessions() as session:
        first = (await submission_versions(session, report_id))[0]
    if first.published_at is None and not marks.is_acknowledged(first.event_id):
        await _publish(app, ReportSubmitted.model_validate_json(first.event_json), first.event_json)
    return Accepted(report_id=report_id)


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
            return await replay(request.app, existing.report_id)
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
    responses={401: {}, 403: {}, 409: {}, 413: {}, 422: {}, 429: {}, 503: {}},
)


async def accept_attendance(app: FastAPI, part: AttendanceIn, principal: Principal) -> None:
    ensure_may_act(principal, part.ruc_id)
    ensure_attendance_fits(attendance_event(part, app.state.pseudonym_key), app.state.max_message_bytes)
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    async with sessions.begin() as session:
        await save_part(session, "attendance", part)
    try:
        await publish_attendance(app.state.broker, attendance_event(part, app.state.pseudonym_key))
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=BROKER_DOWN) from exc
    async with sessions.begin() as session:
        await mark_part_published(session, part.ruc_id, part.year, "attendance")


async def accept_ska(app: FastAPI, part: SkaIn, principal: Principal) -> None:
    ensure_may_act(principal, part.ruc_id)
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    async with sessions.begin() as session:
        await save_part(session, "ska", part)


_PART_RESPONSES: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 413: {}, 422: {}, 429: {}, 503: {}}


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
