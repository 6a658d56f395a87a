"""The completeness and deadline routes: thin over ``completeness.py``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel

from services.aggregator.completeness import Completeness, deadlines_set, set_deadline, year_completeness
from services.aggregator.deps import Sessions
from shared.auth import Principal
from shared.events import utcnow
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.period import default_deadline, open_year, year_span
from shared.web import current_principal, national_principal

stats = APIRouter(tags=["completeness"])  # mounted under /api/v1/stats by app.py, as the counts
router = APIRouter(prefix="/api/v1", tags=["completeness"])


@stats.get("/completeness", response_model=Completeness, responses={401: {}, 403: {}, 422: {}})
async def completeness(
    sessions: Sessions,
    _principal: Annotated[Principal, Depends(national_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> Completeness:
    async with sessions() as session:
        return await year_completeness(session, year)


class DeadlineIn(BaseModel):
    deadline: dt.date


@router.put("/deadlines/{year}", response_model=DeadlineIn, responses={401: {}, 403: {}, 422: {}})
async def put_deadline(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    year: Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)],
    body: DeadlineIn,
) -> DeadlineIn:
    """Admins set a year's deadline (a date; it lasts until midnight, Swedish time)."""
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Endast administratörer / admins only")
    async with sessions.begin() as session:
        await set_deadline(session, year, body.deadline)
    return body


class YearDeadline(BaseModel):
    year: int
    deadline: dt.date
    set_by_admin: bool


class ReportingPeriod(BaseModel):
    first_year: int
    last_year: int
    open_year: int
    deadlines: list[YearDeadline]


@router.get("/deadlines", response_model=ReportingPeriod, responses={401: {}})
async def reporting_period(
    sessions: Sessions, _principal: Annotated[Principal, Depends(current_principal)]
) -> ReportingPeriod:
    """The years a report may be for, each one's deadline, and the year open now (any token)."""
    async with sessions() as session:
        set_ = await deadlines_set(session)
    first, last = year_span()
    return ReportingPeriod(
        first_year=first,
        last_year=last,
        open_year=open_year(utcnow(), set_),
        deadlines=[
            YearDeadline(year=y, deadline=set_.get(y) or default_deadline(y), set_by_admin=y in set_)
            for y in range(first, last + 1)
        ],
    )
