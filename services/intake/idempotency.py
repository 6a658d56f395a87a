"""Idempotency-Key: a retried POST finds the report its first attempt recorded, and nothing new."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import Field, SQLModel

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
    conn: AsyncConnection, token_id: int, key: str, digest: str, report_id: str, ttl_s: int
) -> None:
    """Stored in the same transaction as the report: both exist, or neither."""
    table = IdempotencyKey.__table__  # type: ignore[attr-defined]
    now = utcnow()
    await conn.execute(delete(table).where(table.c.created_at < now - dt.timedelta(seconds=ttl_s)))
    row = {"token_id": token_id, "key": key, "body_hash": digest, "report_id": report_id, "created_at": now}
    await conn.execute(insert(table), row)
