"""API tokens listed and revoked by an admin (the HTTP side and the CLI share these helpers)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.intake.deps import ApiPrincipal, Sessions, TokenCacheDep
from shared.auth import ApiToken, Principal, revoke_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


class TokenInfo(BaseModel):
    id: int
    role: str
    ruc_id: str | None
    label: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


async def list_tokens(session: AsyncSession) -> list[TokenInfo]:
    rows = (await session.execute(select(ApiToken).order_by(col(ApiToken.id)))).scalars().all()
    return [TokenInfo.model_validate(r, from_attributes=True) for r in rows if r.id is not None]


async def admin_principal(principal: ApiPrincipal) -> Principal:
    if principal.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Endast administratörer / admins only")
    return principal


@router.get("", response_model=list[TokenInfo], responses={401: {}, 403: {}, 429: {}})
async def get_tokens(
    sessions: Sessions, _admin: Annotated[Principal, Depends(admin_principal)]
) -> list[TokenInfo]:
    async with sessions() as session:
        return await list_tokens(session)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={401: {}, 403: {}, 404: {}, 422: {}, 429: {}},
)
async def delete_token(
    sessions: Sessions,
    cache: TokenCacheDep,
    _admin: Annotated[Principal, Depends(admin_principal)],
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    async with sessions.begin() as session:
        found = await revoke_token(session, token_id)
    cache.forget(token_id)  # after the commit: no lookup re-caches it
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Okänd token / no such token")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
