"""The read API of the counts (mounted under /api/v1/stats): the national figures, per RUC, per
län, skolform × NSP and the trend over years.

Counts only: regions, codes and numbers. No huvudman identity (not even a pseudonym) leaves here.
A RUC token sees its own RUC; Skolverket (and admin) see every RUC and län. The sums come from
``queries.py`` (every measure of the spec); this module only shapes them into the contract.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.aggregator.counting import BASES, COUNT_SPEC, CountTable, counted
from services.aggregator.deps import Sessions
from services.aggregator.queries import national_counts, sums, where_region
from services.aggregator.tables import COUNT_TABLES
from shared.auth import Principal
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.reference import load_reference
from shared.web import current_principal, national_principal

router = APIRouter(tags=["stats"])
Year = Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)]
Status = Literal["started", "completed"]
MAX_TREND_YEARS = 30


class StartedStats(BaseModel):
    insatser: int
    by_school_form: dict[str, int]
    by_start_month: dict[str, int] = Field(
        default_factory=dict, description="per month of start (YYYY-MM), the insatser that give a start date"
    )


class CompletedStats(BaseModel):
    insatser: int
    by_nsp: dict[str, int]
    by_nsp_basis: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="per NSP area, its completed insatser by what the area rests on: confirmed "
        "(an analyst accepted or changed it), declared (by the samordnare) or unreviewed (the "
        "classifier's tag only); each area's three add up to its by_nsp",
    )
    participants: int = Field(
        0, description="participants summed over the completed insatser that report them"
    )
    participants_reported: int = Field(0, description="completed insatser that report their participants")


class NationalStats(BaseModel):
    year: int
    started: StartedStats
    completed: CompletedStats


def with_zeros(codes: tuple[str, ...], counts: dict[str, int]) -> dict[str, int]:
    """Every code of the year is present (0 when none); a counted code outside the list is kept."""
    return {code: counts.get(code, 0) for code in codes} | {k: v for k, v in counts.items() if k not in codes}


class StatusStats(BaseModel):
    insatser: int
    by_school_form: dict[str, int]
    by_nsp: dict[str, int]


class RegionStats(BaseModel):
    year: int
    ruc_id: str | None = None
    lan_kod: str | None = None
    started: StatusStats
    completed: StatusStats
    by_lan: dict[str, dict[str, int]]


class CrossStats(BaseModel):
    year: int
    status: Status
    ruc_id: str | None
    lan_kod: str | None
    cells: dict[str, dict[str, int]]


class TrendPoint(BaseModel):
    year: int
    started: int
    completed: int


class Trend(BaseModel):
    ruc_id: str | None
    lan_kod: str | None
    years: list[TrendPoint]


def _unknown(what: str, value: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[
            {
                "loc": [what],
                "field": what,
                "msg": f"okänd kod / unknown code {value!r}",
                "type": "value_error",
            }
        ],
    )


def checked_ruc(principal: Principal, ruc_id: str | None) -> str | None:
    """The RUC a request may see: a RUC token is held to its own RUC, national tokens to any."""
    if ruc_id is not None and ruc_id not in load_reference().ruc_ids:
        raise _unknown("ruc_id", ruc_id)
    if principal.is_national:
        return ruc_id
    if ruc_id is not None and ruc_id != principal.ruc_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Bara ditt eget RUC / your own RUC only")
    return principal.ruc_id


def checked_lan(lan_kod: str | None) -> str | None:
    if lan_kod is not None and lan_kod not in load_reference().lan_codes:
        raise _unknown("lan_kod", lan_kod)
    return lan_kod


async def _sums(
    session: AsyncSession,
    name: CountTable,
    group: list[str],
    years: tuple[int, int],
    ruc: str | None,
    lan: str | None,
) -> list[tuple[Any, ...]]:
    """The insatser counted per group: the key columns' values, then the count."""
    where = where_region(COUNT_TABLES[name], years, ruc, lan)
    measure = counted(COUNT_SPEC[name])
    return [
        (*s.key, s.measures[measure]) for s in await sums(session, name, group, where) if s.measures[measure]
    ]


async def region_stats(session: AsyncSession, year: int, ruc: str | None, lan: str | None) -> RegionStats:
    years = (year, year)
    per: dict[str, StatusStats] = {
        s: StatusStats(insatser=0, by_school_form={}, by_nsp={}) for s in ("started", "completed")
    }
    by_lan: dict[str, dict[str, int]] = {}
    for state, lan_kod, n in await _sums(session, "insats", ["status", "lan_kod"], years, ruc, lan):
        per[state].insatser += int(n)
        by_lan.setdefault(lan_kod, {"started": 0, "completed": 0})[state] = int(n)
    for state, form, n in await _sums(session, "school_form", ["status", "school_form"], years, ruc, lan):
        per[state].by_school_form[form] = int(n)
    for state, area, n in await _sums(session, "nsp", ["status", "nsp_area"], years, ruc, lan):
        per[state].by_nsp[area] = int(n)
    return RegionStats(
        year=year, ruc_id=ruc, lan_kod=lan, started=per["started"], completed=per["completed"], by_lan=by_lan
    )


@router.get("/national", response_model=NationalStats, responses={401: {}, 403: {}, 422: {}})
async def national(
    sessions: Sessions,
    _principal: Annotated[Principal, Depends(national_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> NationalStats:
    async with sessions() as session:
        counts = await national_counts(session, year)
    reference = load_reference()
    completed = counts.measures.get("completed", {})
    forms = tuple(sorted(reference.school_form_codes))
    areas = with_zeros(reference.nsp_codes_for(year), counts.completed_by_nsp)
    return NationalStats(
        year=year,
        started=StartedStats(
            insatser=counts.started_total,
            by_school_form=with_zeros(forms, counts.started_by_school_form),
            by_start_month={k[0]: n for k, n in sorted(counts.by("started", "start_month").items()) if n},
        ),
        completed=CompletedStats(
            insatser=counts.completed_total,
            by_nsp=areas,
            by_nsp_basis={a: with_zeros(BASES, counts.completed_by_nsp_basis.get(a, {})) for a in areas},
            participants=completed.get("participants", 0),
            participants_reported=completed.get("participants_reported", 0),
        ),
    )


@router.get("/ruc/{ruc_id}", response_model=RegionStats, responses={401: {}, 403: {}, 422: {}})
async def per_ruc(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    ruc_id: Annotated[str, Path(max_length=16)],
    year: Year,
) -> RegionStats:
    ruc = checked_ruc(principal, ruc_id)
    async with sessions() as session:
        return await region_stats(session, year, ruc, None)


@router.get("/lan/{lan_kod}", response_model=RegionStats, responses={401: {}, 403: {}, 422: {}})
async def per_lan(
    sessions: Sessions,
    _principal: Annotated[Principal, Depends(national_principal)],
    lan_kod: Annotated[str, Path(max_length=2)],
    year: Year,
) -> RegionStats:
    lan = checked_lan(lan_kod)
    async with sessions() as session:
        return await region_stats(session, year, None, lan)


@router.get("/school-form-nsp", response_model=CrossStats, responses={401: {}, 403: {}, 422: {}})
async def school_form_by_nsp(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    year: Year,
    status_: Annotated[Status, Query(alias="status")] = "completed",
    ruc_id: Annotated[str | None, Query(max_length=16)] = None,
    lan_kod: Annotated[str | None, Query(max_length=2)] = None,
) -> CrossStats:
    """Skolform × NSP: an insats counts in one cell per school form it targets."""
    ruc, lan = checked_ruc(principal, ruc_id), checked_lan(lan_kod)
    cells: dict[str, dict[str, int]] = {}
    async with sessions() as session:
        rows = await _sums(
            session, "school_form_nsp", ["status", "school_form", "nsp_area"], (year, year), ruc, lan
        )
    for state, form, area, n in rows:
        if state == status_:
            cells.setdefault(form, {})[area] = int(n)
    return CrossStats(year=year, status=status_, ruc_id=ruc, lan_kod=lan, cells=cells)


@router.get("/trend", response_model=Trend, responses={401: {}, 403: {}, 422: {}})
async def trend(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    from_year: Year,
    to_year: Year,
    ruc_id: Annotated[str | None, Query(max_length=16)] = None,
    lan_kod: Annotated[str | None, Query(max_length=2)] = None,
) -> Trend:
    if not 0 <= to_year - from_year < MAX_TREND_YEARS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=[
                {
                    "loc": ["query", "to_year"],
                    "field": "to_year",
                    "msg": f"to_year ≥ from_year, at most {MAX_TREND_YEARS} years",
                    "type": "value_error",
                }
            ],
        )
    ruc, lan = checked_ruc(principal, ruc_id), checked_lan(lan_kod)
    points = {y: TrendPoint(year=y, started=0, completed=0) for y in range(from_year, to_year + 1)}
    async with sessions() as session:
        for year, state, n in await _sums(
            session, "insats", ["year", "status"], (from_year, to_year), ruc, lan
        ):
            setattr(points[year], state, int(n))
    return Trend(ruc_id=ruc, lan_kod=lan, years=list(points.values()))
