"""Bearer tokens: random, shown once, stored only as a SHA-256 hash (they carry 256 bits of entropy)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
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


async def revoke_token(session: AsyncSession, token_id: int) -> bool:
    """True when the token existed; revoking twice keeps the first time."""
    row = await session.get(ApiToken, token_id)
    if row is None:
        return False
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return True


async def resolve_token_hash(session: AsyncSession, token_hash: str) -> Principal | None:
    row = (
        await session.execute(select(ApiToken).where(ApiToken.token_hash == token_hash))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.id is None:
        return None
    role: Role = row.role  # type: ignore[assignment]
    return Principal(role=role, ruc_id=row.ruc_id, token_id=row.id)


class TokenCache:
    """Valid tokens resolved in the last ``ttl_s`` seconds, so most requests skip the database.

    Only valid tokens are kept (keyed by hash). A revocation made in this process calls ``forget``
    and takes effect at once; one made by another process (the CLI, another replica) is seen within
    ``ttl_s``. ``generation`` lets a lookup that raced with a ``forget`` avoid caching a stale answer.
    """

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[str, tuple[float, Principal]] = {}

    def get(self, token_hash: str, now: float | None = None) -> Principal | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if entry[0] <= (time.monotonic() if now is None else now):
            del self._entries[token_hash]
            return None
        return entry[1]

    def put(self, token_hash: str, principal: Principal, generation: int, now: float | None = None) -> None:
        """Keep a lookup's answer, unless a token was forgotten since the lookup began."""
        if self.ttl_s <= 0 or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a burst of distinct tokens: start over rather than track ages
        expires = (time.monotonic() if now is None else now) + self.ttl_s
        self._entries[token_hash] = (expires, principal)

    def forget(self, token_id: int | None = None) -> None:
        """Drop a revoked token (``None``: every token) at once."""
        self.generation += 1
        if token_id is None:
            self._entries.clear()
            return
        for key in [k for k, (_, p) in self._entries.items() if p.token_id == token_id]:
            del self._entries[key]
