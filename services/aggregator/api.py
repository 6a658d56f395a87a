"""The read API. National views carry regions and codes, never a huvudman's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.aggregator.counting import BASES
from services.aggregator.queries import national_counts
from shared.auth import Principal
from shared.reference import load_reference
from shared.report import MAX_YEAR, MIN_YEAR
from shared.web import national_principal

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


class StartedStats(BaseModel):
    insatser: int
    by_school_form: dict[str, int]


class CompletedStats(BaseModel):
    insatser: int
    by_nsp: dict[str, int]
    by_nsp_basis: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="per NSP area, its completed insatser by what the area rests on: confirmed "
        "(an analyst accepted or changed it), declared (by the samordnare) or unreviewed (the "
        "classifier's tag only); each area's three add up to its by_nsp",
    )


class NationalStats(BaseModel):
    year: int
    started: StartedStats
    completed: CompletedStats


def with_zeros(codes: tuple[str, ...], counts: dict[str, int]) -> dict[str, int]:
    """Every code of the year is present (0 when none); a counted code outside the list is kept."""
    return {code: counts.get(code, 0) for code in codes} | {k: v for k, v in counts.items() if k not in codes}


@router.get("/national", response_model=NationalStats, responses={401: {}, 403: {}, 422: {}})
async def national(
    request: Request,
    _principal: Annotated[Principal, Depends(national_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> NationalStats:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        counts = await national_counts(session, year)
    reference = load_reference()
    forms = tuple(sorted(reference.school_form_codes))
    areas = with_zeros(reference.nsp_codes_for(year), counts.completed_by_nsp)
    return NationalStats(
        year=year,
        started=StartedStats(
            insatser=counts.started_total,
            by_school_form=with_zeros(forms, counts.started_by_school_form),
        ),
        completed=CompletedStats(
            insatser=counts.completed_total,
            by_nsp=areas,
            by_nsp_basis={a: with_zeros(BASES, counts.completed_by_nsp_basis.get(a, {})) for a in areas},
        ),
    )
