"""An admin manages the people who log in: list, create, disable, enable, reset a password (the
CLI, `rucnet user`, has the same verbs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from services.intake.deps import Sessions, Throttle
from services.intake.tokens import admin_principal
from services.intake.users import (
    IntakeUser,
    all_users,
    checked_email,
    create_user,
    set_disabled,
    set_password,
)
from shared.auth import Principal
from shared.reference import load_reference

router = APIRouter(prefix="/api/v1/users", tags=["users"])


class UserInfo(BaseModel):
    id: int
    email: str
    role: str
    ruc_id: str | None
    name: str | None = None
    created_at: dt.datetime
    disabled_at: dt.datetime | None


def usable_password(value: SecretStr) -> SecretStr:
    if "\x00" in value.get_secret_value():  # the login form refuses it: it could never be used
        raise ValueError("otillåtet tecken (NUL) i lösenordet / NUL character in the password")
    return value


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    password: SecretStr = Field(min_length=10, max_length=200)
    role: Literal["ruc", "skolverket", "admin"]
    ruc_id: str | None = None
    name: str | None = Field(default=None, max_length=200, description="as pages and logs show the person")

    @field_validator("email")
    @classmethod
    def _storable(cls, value: str) -> str:
        checked_email(value)
        return value

    @field_validator("password")
    @classmethod
    def _usable(cls, value: SecretStr) -> SecretStr:
        return usable_password(value)

    @model_validator(mode="after")
    def _ruc_for_ruc_staff(self) -> UserIn:
        if self.role == "ruc" and self.ruc_id not in load_reference().ruc_ids:
            raise ValueError("en RUC-användare behöver ett känt RUC / a RUC user needs a known ruc_id")
        return self


def _info(user: IntakeUser) -> UserInfo:
    return UserInfo.model_validate(user, from_attributes=True)


AdminDep = Annotated[Principal, Depends(admin_principal)]


@router.get("", response_model=list[UserInfo], responses={401: {}, 403: {}, 429: {}})
async def list_users(
    sessions: Sessions, _admin: Annotated[Principal, Depends(admin_principal)]
) -> list[UserInfo]:
    async with sessions() as session:
        return [_info(r) for r in await all_users(session)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserInfo,
    responses={401: {}, 403: {}, 409: {}, 422: {}},
)
async def add_user(
    sessions: Sessions, body: UserIn, _admin: Annotated[Principal, Depends(admin_principal)]
) -> UserInfo:
    try:
        async with sessions.begin() as session:
            user = await create_user(
                session, body.email, body.password.get_secret_value(), body.role, body.ruc_id, body.name
            )
            info = _info(user)
    except IntegrityError as exc:
        async with sessions() as session:
            existing = (
                await session.execute(
                    select(IntakeUser).where(col(IntakeUser.email) == body.email.casefold())
                )
            ).scalar_one_or_none()
        where = f" (user {existing.id})" if existing is not None else ""
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"E-postadressen finns redan{where}; inget ändrades. Nytt lösenord: "
            f"PUT /api/v1/users/{{id}}/password; spärrad: POST /api/v1/users/{{id}}/enable / "
            f"e-mail already in use{where}; nothing changed (reset the password or enable instead)",
        ) from exc
    return info


UserId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_ANSWERS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 422: {}}


async def _change(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    change: Callable[[AsyncSession, IntakeUser], Awaitable[None]],
) -> UserInfo:
    async with sessions.begin() as session:
        user = await session.get(IntakeUser, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Okänd användare / no such user")
        await change(session, user)
        return _info(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_ANSWERS)
async def disable_user(sessions: Sessions, _admin: AdminDep, user_id: UserId) -> Response:
    """Disabling ends the user's sessions at once; the row stays for the audit trail."""
    await _change(sessions, user_id, lambda session, user: set_disabled(session, user, True))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{user_id}/disable", response_model=UserInfo, responses=_ANSWERS)
async def disable(sessions: Sessions, _admin: AdminDep, user_id: UserId) -> UserInfo:
    """The same as DELETE, answering with the user: cannot log in, sessions ended."""
    return await _change(sessions, user_id, lambda session, user: set_disabled(session, user, True))


@router.post("/{user_id}/enable", response_model=UserInfo, responses=_ANSWERS)
async def enable(sessions: Sessions, _admin: AdminDep, user_id: UserId) -> UserInfo:
    """A disabled user may log in again, with the password they had."""
    return await _change(sessions, user_id, lambda session, user: set_disabled(session, user, False))


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: SecretStr = Field(min_length=10, max_length=200)

    @field_validator("password")
    @classmethod
    def _usable(cls, value: SecretStr) -> SecretStr:
        return usable_password(value)


@router.put("/{user_id}/password", status_code=status.HTTP_204_NO_CONTENT, responses=_ANSWERS)
async def reset_password(sessions: Sessions, _admin: AdminDep, user_id: UserId, body: PasswordIn) -> Response:
    """A new password for the user's next login; the sessions opened with the old one end."""
    password = body.password.get_secret_value()
    await _change(sessions, user_id, lambda session, user: set_password(session, user, password))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class Unlocked(BaseModel):
    email: str
    cleared: int = Field(description="clients whose login delays on this account were cleared")


@router.post("/{user_id}/unlock", response_model=Unlocked, responses={401: {}, 403: {}, 404: {}, 422: {}})
async def unlock_user(
    sessions: Sessions,
    throttle: Throttle,
    _admin: Annotated[Principal, Depends(admin_principal)],
    user_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Unlocked:
    """End the login delays on a user's account, from every client (docs/operations.md, *Logins*)."""
    async with sessions() as session:
        user = await session.get(IntakeUser, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Okänd användare / no such user")
    return Unlocked(email=user.email, cleared=throttle.unlock(user.email))
