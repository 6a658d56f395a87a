"""An admin manages the people who log in: list, create, disable (the CLI has the same verbs)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.intake.throttle import LoginThrottle
from services.intake.tokens import admin_principal
from services.intake.users import IntakeUser, WebSession, checked_email, create_user
from shared.auth import Principal
from shared.events import utcnow
from shared.reference import load_reference

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserInfo(BaseModel):
    id: int
    email: str
    role: str
    ruc_id: str | None
    created_at: dt.datetime
    disabled_at: dt.datetime | None


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: SecretStr = Field(min_length=10, max_length=200)
    role: Literal["ruc", "skolverket", "admin"]
    ruc_id: str | None = None

    @field_validator("email")
    @classmethod
    def _storable(cls, value: str) -> str:
        checked_email(value)
        return value

    @field_validator("password")
    @classmethod
    def _usable(cls, value: SecretStr) -> SecretStr:
        if "\x00" in value.get_secret_value():  # the login form refuses it: it could never be used
            raise ValueError("otillåtet tecken (NUL) i lösenordet / NUL character in the password")
        return value

    @model_validator(mode="after")
    def _ruc_for_ruc_staff(self) -> UserIn:
        if self.role == "ruc" and self.ruc_id not in load_reference().ruc_ids:
            raise ValueError("en RUC-användare behöver ett känt RUC / a RUC user needs a known ruc_id")
        return self


def _info(user: IntakeUser) -> UserInfo:
    return UserInfo.model_validate(user, from_attributes=True)


@router.get("", response_model=list[UserInfo], responses={401: {}, 403: {}, 429: {}})
async def list_users(
    request: Request, _admin: Annotated[Principal, Depends(admin_principal)]
) -> list[UserInfo]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        rows = (await session.execute(select(IntakeUser).order_by(col(IntakeUser.id)))).scalars().all()
    return [_info(r) for r in rows]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserInfo,
    responses={401: {}, 403: {}, 409: {}, 422: {}},
)
async def add_user(
    request: Request, body: UserIn, _admin: Annotated[Principal, Depends(admin_principal)]
) -> UserInfo:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    try:
        async with sessions.begin() as session:
            user = await create_user(
                session, body.email, body.password.get_secret_value(), body.role, body.ruc_id
            )
            info = _info(user)
    except IntegrityError as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="E-postadressen finns redan / e-mail already in use"
        ) from exc
    return info


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses={401: {}, 403: {}, 404: {}, 422: {}}
)
async def disable_user(
    request: Request,
    _admin: Annotated[Principal, Depends(admin_principal)],
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    """Disabling ends the user's sessions at once; the row stays for the audit trail."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions.begin() as session:
        user = await session.get(IntakeUser, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Okänd användare / no such user")
        if user.disabled_at is None:
            user.disabled_at = utcnow()
        for web_session in (
            await session.execute(select(WebSession).where(col(WebSession.user_id) == user_id))
        ).scalars():
            await session.delete(web_session)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class Unlocked(BaseModel):
    email: str
    cleared: int = Field(description="clients whose login delays on this account were cleared")


@router.post("/{user_id}/unlock", response_model=Unlocked, responses={401: {}, 403: {}, 404: {}, 422: {}})
async def unlock_user(
    request: Request,
    _admin: Annotated[Principal, Depends(admin_principal)],
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Unlocked:
    """End the login delays on a user's account, from every client (docs/operations.md, *Logins*)."""
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with sessions() as session:
        user = await session.get(IntakeUser, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Okänd användare / no such user")
    throttle: LoginThrottle = request.app.state.login_throttle
    return Unlocked(email=user.email, cleared=throttle.unlock(user.email))
