"""Idempotency-Key: a retried POST finds the report its first attempt recorded, and nothing new."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from shared.db import UtcDateTime
from shared.events import utcnow

MAX_KEY_LENGTH = 200


class IdempotencyKey(SQLModel, table=True):
    __tablename__ = "idempotency_key"

    token_id: int = Field(primary_key=True)
    key: str = Field(primary_key=True, max_length=MAX_KEY_LENGTH)
    body_hash: str = Field(max_length=64)
    report_id: str = Field(max_length=36)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def find_key(session: AsyncSession, token_id: int, key: str, ttl_s: int) -> IdempotencyKey | None:
    row = await session.get(IdempotencyKey, (token_id, key))
    if row is None or row.created_at < utcnow() - dt.timedelta(seconds=ttl_s):
        return None
    return row


async def remember_key(
    session: AsyncSession, token_id: int, key: str, digest: str, report_id: str, ttl_s: int
) -> None:
    """Stored in the same transaction as the report: both exist, or neither."""
    cutoff = utcnow() - dt.timedelta(seconds=ttl_s)
    await session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < cutoff))
    session.add(IdempotencyKey(token_id=token_id, key=key, body_hash=digest, report_id=report_id))
