"""People who log in: argon2-hashed passwords, server-side sessions with a CSRF token each."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from shared.auth import Principal, Role
from shared.db import UtcDateTime
from shared.events import utcnow
from shared.offload import BoundedThreads

_hasher = PasswordHasher()
MIN_PASSWORD = 10
# argon2 takes ~50 ms of CPU and 64 MiB per hash: in threads, off the event loop, and few at a time,
# so a burst of logins neither stalls the service nor runs it out of memory.
_hashing = BoundedThreads(1)


@functools.cache
def _dummy_hash() -> str:
    """Verifying against it when the e-mail is unknown keeps the timing of both failures alike."""
    return _hasher.hash("not-a-real-password")


def _verifies(password_hash: str, password: str) -> bool:
    """In a thread; an empty hash (no such user) verifies against the dummy and fails anyway."""
    try:
        return bool(_hasher.verify(password_hash or _dummy_hash(), password)) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class IntakeUser(SQLModel, table=True):
    __tablename__ = "intake_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=254)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=16)
    ruc_id: str | None = Field(default=None, max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)


class WebSession(SQLModel, table=True):
    """A login; the cookie holds a random id, the table only its hash."""

    __tablename__ = "web_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(index=True)
    csrf_token: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: dt.datetime = Field(sa_type=UtcDateTime)


@dataclass(frozen=True)
class SessionUser:
    user_id: int
    email: str
    role: Role
    ruc_id: str | None
    csrf_token: str

    @property
    def principal(self) -> Principal:
        # Web users act through the same Principal as API tokens; negative ids keep the two apart.
        return Principal(role=self.role, ruc_id=self.ruc_id, token_id=-self.user_id)


def normalise_email(email: str) -> str:
    return email.strip().casefold()


MAX_EMAIL = 254  # the column's length


def checked_email(email: str) -> str:
    """The e-mail as it is stored (normalised), or ValueError: a NUL or a control character
    (PostgreSQL text cannot hold NUL), or longer than the column once casefolded ("ß" → "ss")."""
    stored = normalise_email(email)
    if any(ord(c) < 32 or ord(c) == 127 for c in stored):
        raise ValueError("otillåtet tecken i e-postadressen / control or NUL character in the e-mail")
    if len(stored) > MAX_EMAIL:
        raise ValueError(f"e-postadressen är för lång / the e-mail is longer than {MAX_EMAIL} characters")
    return stored


def _hash_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_user(
    session: AsyncSession, email: str, password: str, role: Role, ruc_id: str | None
) -> IntakeUser:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"lösenordet måste ha minst {MIN_PASSWORD} tecken / password too short")
    if "\x00" in password:  # the login form refuses it: such a password could never be used
        raise ValueError("otillåtet tecken (NUL) i lösenordet / NUL character in the password")
    if role == "ruc" and not ruc_id:
        raise ValueError("en RUC-användare behöver ett RUC / a RUC user needs --ruc")
    user = IntakeUser(
        email=checked_email(email),
        password_hash=await _hashing.run(_hasher.hash, password),
        role=role,
        ruc_id=ruc_id if role == "ruc" else None,
    )
    session.add(user)
    await session.flush()
    return user


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], email: str, password: str
) -> IntakeUser | None:
    """The user if the password is theirs. No database connection is held while the password is
    checked: a burst of logins waiting for a hashing slot must not take the pool from /healthz."""
    query = select(IntakeUser).where(col(IntakeUser.email) == normalise_email(email))
    async with sessions() as session:
        user = (await session.execute(query)).scalar_one_or_none()
    if not await _hashing.run(_verifies, user.password_hash if user else "", password):
        return None
    if user is None or user.disabled_at is not None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        rehashed = await _hashing.run(_hasher.hash, password)
        async with sessions.begin() as session:
            stored = await session.get(IntakeUser, user.id)
            if stored is not None:
                stored.password_hash = rehashed
    return user


async def open_session(session: AsyncSession, user: IntakeUser, ttl_s: int) -> str:
    """Start a login; returns the cookie value (shown to the browser only)."""
    assert user.id is not None
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    await session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
    session.add(
        WebSession(
            id_hash=_hash_id(raw),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
    )
    return raw


async def resolve_session(session: AsyncSession, raw: str | None) -> SessionUser | None:
    if not raw or len(raw) > 100:
        return None
    row = await session.get(WebSession, _hash_id(raw))
    if row is None or row.expires_at < utcnow():
        return None
    user = await session.get(IntakeUser, row.user_id)
    if user is None or user.disabled_at is not None or user.id is None:
        return None
    role: Role = user.role  # type: ignore[assignment]
    return SessionUser(user.id, user.email, role, user.ruc_id, row.csrf_token)


async def close_session(session: AsyncSession, raw: str | None) -> None:
    if raw:
        await session.execute(delete(WebSession).where(col(WebSession.id_hash) == _hash_id(raw)))


def same_token(expected: str, given: str | None) -> bool:
    """An empty token (no cookie, an empty field) never matches, not even another empty one."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
