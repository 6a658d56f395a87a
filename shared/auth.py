"""Bearer tokens: random, shown once, stored only as a SHA-256 hash (they carry 256 bits of entropy)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, select

from shared.db import UtcDateTime
from shared.events import utcnow

Role = Literal["ruc", "skolverket", "admin"]


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    role: str = Field(max_length=16)
    ruc_id: str | None = Field(default=None, max_length=16)
    label: str = Field(default="", max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


@dataclass(frozen=True)
class Principal:
    role: Role
    ruc_id: str | None
    token_id: int

    @property
    def is_national(self) -> bool:
        return self.role in ("skolverket", "admin")

    def may_act_for(self, ruc_id: str) -> bool:
        return self.role == "admin" or (self.role == "ruc" and self.ruc_id == ruc_id)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(session: AsyncSession, role: Role, ruc_id: str | None, label: str = "") -> str:
    raw = "rucnet_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=hash_token(raw), role=role, ruc_id=ruc_id, label=label))
    await session.commit()
    return raw


async def resolve_token(session: AsyncSession, raw: str) -> Principal | None:
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    role: Role = row.role  # type: ignore[assignment]
    return Principal(role=role, ruc_id=row.ruc_id, token_id=row.id)
