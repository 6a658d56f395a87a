"""The JSON API: thin routes over the store and the publisher."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.store import mark_published, record_submission
from shared import topics
from shared.auth import Principal
from shared.events import ReportSubmitted
from shared.pseudonym import pseudonymise
from shared.report import Accepted, ReportIn
from shared.web import current_principal

router = APIRouter(prefix="/api/v1", tags=["reports"])


async def publish_submission(broker: KafkaBroker, event: ReportSubmitted) -> None:
    """Returns once the broker has acknowledged (acks=all); keyed by RUC to keep its order."""
    await broker.publish(event, topics.REPORTS_SUBMITTED, key=event.ruc_id.encode())


@router.post(
    "/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses={401: {}, 403: {}, 422: {}, 503: {}},
)
async def submit_report(
    report: ReportIn, request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Accepted:
    if not principal.may_act_for(report.ruc_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"Du får bara rapportera för ditt eget RUC / you may only report for your own RUC, "
            f"not {report.ruc_id!r}",
        )
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    broker: KafkaBroker = request.app.state.broker
    pseudonym = pseudonymise(request.app.state.pseudonym_key, report.huvudman.name)
    async with sessions.begin() as session:
        event = await record_submission(session, report, pseudonym)
    try:
        await publish_submission(broker, event)
    except Exception as exc:  # the outbox re-sends it; the client learns it is not yet accepted
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Meddelandekön svarar inte, rapporten skickas senare / broker unavailable, "
            "the report is kept and will be sent",
        ) from exc
    async with sessions.begin() as session:
        await mark_published(session, event.event_id)
    request.app.state.metrics_accepted.inc()
    return Accepted(report_id=str(event.report_id))
