"""Analysts sign in to the review page with the login an admin issued them (`rucnet user create
--role skolverket --name …`, or POST /api/v1/users): their e-mail address and password.

The people are intake's (``intake_user``, which intake owns and writes); the classifier only reads
the few columns it needs, so services share the table's rows, never each other's code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import Principal, Role
from shared.passwords import hashing, verifies

_PEOPLE = sa.table(
    "intake_user",
    sa.column("id"),
    sa.column("email"),
    sa.column("password_hash"),
    sa.column("role"),
    sa.column("name"),
    sa.column("disabled_at"),
)
NATIONAL = ("skolverket", "admin")


@dataclass(frozen=True)
class Analyst:
    user_id: int
    email: str
    role: Role
    name: str | None
    credential: str  # a digest of the password hash: a new password ends sessions opened with the old

    @property
    def principal(self) -> Principal:
        # as intake's web users: negative ids keep people apart from API tokens
        return Principal(role=self.role, ruc_id=None, token_id=-self.user_id)

    @property
    def shown_name(self) -> str:
        return (self.name or self.email)[:120]


def _analyst(row: sa.Row[tuple[object, ...]] | None) -> Analyst | None:
    if row is None or row.disabled_at is not None or row.role not in NATIONAL:
        return None
    credential = hashlib.sha256(str(row.password_hash).encode()).hexdigest()
    return Analyst(int(row.id), str(row.email), row.role, row.name, credential)


async def analyst_by_id(session: AsyncSession, user_id: int) -> Analyst | None:
    """The signed-in person, while they may still review (not disabled, still national)."""
    row = (await session.execute(sa.select(_PEOPLE).where(_PEOPLE.c.id == user_id))).one_or_none()
    return _analyst(row)


async def sign_in(sessions: async_sessionmaker[AsyncSession], email: str, password: str) -> Analyst | None:
    """The analyst whose password this is; None for a wrong pair, a disabled login or RUC staff."""
    query = sa.select(_PEOPLE).where(_PEOPLE.c.email == email.strip().casefold())
    async with sessions() as session:
        row = (await session.execute(query)).one_or_none()
    if not await hashing.run(verifies, str(row.password_hash) if row else "", password[:1000]):
        return None
    return _analyst(row)
