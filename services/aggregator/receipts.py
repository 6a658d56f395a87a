"""How far one submitted report has come: classified and counted (for intake's receipt page)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import select

from services.aggregator.deps import Sessions
from services.aggregator.tables import RECORDS, ProcessedEvent
from shared.auth import Principal
from shared.events import derived_event_id
from shared.web import current_principal

router = APIRouter(prefix="/api/v1/reports", tags=["receipts"])


class CountedInsats(BaseModel):
    ref: str
    status: str
    nsp_area: str
    area_source: str
    needs_review: bool


class ReportStatus(BaseModel):
    report_id: str
    event_id: str
    counted: bool  # classified and counted: the aggregator stores both in one transaction
    processed_at: dt.datetime | None
    insatser: list[CountedInsats]


@router.get("/{report_id}/status", response_model=ReportStatus, responses={401: {}, 422: {}})
async def report_status(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    report_id: Annotated[uuid.UUID, Path()],
    event_id: Annotated[uuid.UUID, Query(description="the submission's event id (from intake)")],
) -> ReportStatus:
    """A RUC token sees only its own RUC's insatser; the processed flag carries no content."""
    classified_id = str(derived_event_id(event_id, "classified"))
    async with sessions() as session:
        processed = await session.get(ProcessedEvent, classified_id)
        query = select(RECORDS).where(RECORDS.c.last_event_id == classified_id)
        if not principal.is_national:
            query = query.where(RECORDS.c.ruc_id == (principal.ruc_id or ""))
        records = (await session.execute(query.order_by(RECORDS.c.ref))).all()
    return ReportStatus(
        report_id=str(report_id),
        event_id=str(event_id),
        counted=processed is not None,
        processed_at=processed.processed_at if processed else None,
        insatser=[
            CountedInsats(
                ref=r.ref,
                status=r.status,
                nsp_area=r.nsp_area,
                area_source=r.area_source,
                needs_review=r.needs_review,
            )  # fmt: skip
            for r in records
        ],
    )
