"""Which RUC are active in a year: the registry file's default, changed by an admin per year."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.aggregator.deps import Sessions
from services.aggregator.tables import RucActivation
from shared.auth import Principal
from shared.inbound import MAX_YEAR, MIN_YEAR
from shared.reference import Ruc, load_reference
from shared.web import current_principal, national_principal

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])


def merge_active(registry: tuple[Ruc, ...], year: int, decisions: dict[str, bool]) -> list[Ruc]:
    """The registry's RUC active in ``year``: an admin's decision wins over the file's default."""
    return [r for r in registry if decisions.get(r.id, year in r.active_years)]


async def active_rucs(session: AsyncSession, year: int) -> list[Ruc]:
    rows = await session.execute(select(RucActivation).where(col(RucActivation.year) == year))
    decisions = {row.ruc_id: row.active for row in rows.scalars()}
    return merge_active(load_reference().ruc, year, decisions)


class RegistryEntry(BaseModel):
    ruc_id: str
    host: str
    lan: list[str]
    active: bool


class ActivationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool


@router.get("", response_model=list[RegistryEntry], responses={401: {}, 403: {}, 422: {}})
async def get_registry(
    sessions: Sessions,
    _principal: Annotated[Principal, Depends(national_principal)],
    year: Annotated[int, Query(ge=MIN_YEAR, le=MAX_YEAR)],
) -> list[RegistryEntry]:
    async with sessions() as session:
        active = {r.id for r in await active_rucs(session, year)}
    return [
        RegistryEntry(ruc_id=r.id, host=r.host, lan=list(r.lan), active=r.id in active)
        for r in load_reference().ruc
    ]


@router.put("/{year}/{ruc_id}", response_model=RegistryEntry, responses={401: {}, 403: {}, 404: {}, 422: {}})
async def put_activation(
    sessions: Sessions,
    principal: Annotated[Principal, Depends(current_principal)],
    year: Annotated[int, Path(ge=MIN_YEAR, le=MAX_YEAR)],
    ruc_id: Annotated[str, Path(max_length=16)],
    body: ActivationIn,
) -> RegistryEntry:
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Endast administratörer / admins only")
    if ruc_id not in load_reference().ruc_ids:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"Okänt RUC / unknown RUC {ruc_id!r}")
    async with sessions.begin() as session:
        await session.merge(
            RucActivation(
                ruc_id=ruc_id, year=year, active=body.active, changed_by=f"token:{principal.token_id}"
            )
        )
    ruc = load_reference().ruc_by_id(ruc_id)
    return RegistryEntry(ruc_id=ruc.id, host=ruc.host, lan=list(ruc.lan), active=body.active)
