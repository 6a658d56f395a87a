"""``GET /api/v1/reports/{report_id}`` (contract rev 3): a report as its RUC submitted it, with each
insats's NSP state. Thin: the use case is ``report_view.load_report``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from services.intake.deps import ApiPrincipal, Sessions
from services.intake.report_view import load_report, report_json
from shared.events import HuvudmanType, InsatsStatus

router = APIRouter(prefix="/api/v1", tags=["reports"])


class NspOut(BaseModel):
    area: str | None = Field(description="the area the insats is counted under; null until classified")
    basis: Literal["declared", "confirmed", "unreviewed"] | None = Field(
        description="declared (by the RUC), confirmed (by an analyst), unreviewed (the classifier's tag); "
        "null until classified"
    )
    suggested: list[str] = Field(description="the classifier's areas, best first")
    needs_review: bool


class InsatsOut(BaseModel):
    ref: str
    title: str
    description: str
    status: InsatsStatus
    school_forms: list[str]
    expected_effects: str
    actual_effects: str
    nsp_area: str | None = Field(description="the area the RUC declared, as submitted")
    nsp: NspOut


class HuvudmanOut(BaseModel):
    name: str
    lan_kod: str
    type: HuvudmanType


class ReportOut(BaseModel):
    report_id: str
    version: int = Field(description="intake's acceptance number of this (the latest) version")
    received_at: dt.datetime
    ruc_id: str
    year: int
    huvudman: HuvudmanOut
    insatser: list[InsatsOut]


NOT_FOUND = "Rapporten finns inte / no such report"


@router.get("/reports/{report_id}", response_model=ReportOut, responses={401: {}, 404: {}, 429: {}})
async def get_report(
    sessions: Sessions,
    principal: ApiPrincipal,
    report_id: Annotated[str, Path(max_length=36)],
) -> dict[str, Any]:
    """The report's latest version as submitted, each insats with its NSP state. Another RUC's
    report is answered like one that does not exist."""
    report = await load_report(sessions, principal.role, principal.ruc_id, report_id)
    if report is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
    return report_json(report)
