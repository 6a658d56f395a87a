"""People who log in: argon2-hashed passwords, server-side sessions with a CSRF token each."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import Field, SQLModel, col, select

from shared.auth import Principal, Role
from shared.db import UtcDateTime
from shared.events import utcnow
from shared.passwords import hasher, hashing, verifies

MIN_PASSWORD = 10
_hasher, _hashing, _verifies = hasher, hashing, verifies


class IntakeUser(SQLModel, table=True):
    __tablename__ = "intake_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=254)
    password_hash: str = Field(max_length=200)
    role: str = Field(max_length=16)
    ruc_id: str | None = Field(default=None, max_length=16)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    disabled_at: dt.datetime | None = Field(default=None, sa_type=UtcDateTime)
    name: str | None = Field(default=None, max_length=200)  # as pages and logs show the person


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
    name: str | None = None

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


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(
            f"lösenordet måste ha minst {MIN_PASSWORD} tecken / "
            f"the password needs at least {MIN_PASSWORD} characters"
        )
    if "\x00" in password:  # the login form refuses it: such a password could never be used
        raise ValueError("otillåtet tecken (NUL) i lösenordet / NUL character in the password")
    return password


async def create_user(
    session: AsyncSession,
    email: str,
    password: str,
    role: Role,
    ruc_id: str | None,
    name: str | None = None,
) -> IntakeUser:
    _checked_password(password)
    if role == "ruc" and not ruc_id:
        raise ValueError("en RUC-användare behöver ett RUC / a RUC user needs --ruc")
    user = IntakeUser(
        email=checked_email(email),
        password_hash=await _hashing.run(_hasher.hash, password),
        role=role,
        ruc_id=ruc_id if role == "ruc" else None,
        name=(name or "").strip()[:200] or None,
    )
    session.add(user)
    await session.flush()
    return user


async def find_user(session: AsyncSession, email: str) -> IntakeUser | None:
    query = select(IntakeUser).where(col(IntakeUser.email) == normalise_email(email))
    return (await session.execute(query)).scalar_one_or_none()


async def all_users(session: AsyncSession) -> list[IntakeUser]:
    return list((await session.execute(select(IntakeUser).order_by(col(IntakeUser.id)))).scalars())


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(WebSession).where(col(WebSession.user_id) == user_id))


async def set_disabled(session: AsyncSession, user: IntakeUser, disabled: bool) -> None:
    """Disabling ends the user's sessions at once; the row stays for the audit trail."""
    assert user.id is not None
    if disabled:
        user.disabled_at = user.disabled_at or utcnow()
        await end_sessions(session, user.id)
    else:
        user.disabled_at = None
    session.add(user)


async def set_password(session: AsyncSession, user: IntakeUser, password: str) -> None:
    """A new password; every session opened with the old one ends (whoever may hold it)."""
    assert user.id is not None
    user.password_hash = await _hashing.run(_hasher.hash, _checked_password(password))
    session.add(user)
    await end_sessions(session, user.id)


async def has_password(user: IntakeUser, password: str) -> bool:
    return await _hashing.run(_verifies, user.password_hash, password)


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


@dataclass(frozen=True)
class SessionRules:
    """A login lasts ``idle_s`` after the last request (sliding), never more than ``max_s`` in all.
    The expiry moves at most once a ``step_s``: a receipt polled every 2 s writes no row each time."""

    idle_s: int = 8 * 3600
    max_s: int = 24 * 3600
    step_s: int = 60


async def resolve_session(
    session: AsyncSession, raw: str | None, rules: SessionRules | None = None
) -> SessionUser | None:
    """The session's user; with ``rules``, a live session's expiry slides forward (committed)."""
    if not raw or len(raw) > 100:
        return None
    row = await session.get(WebSession, _hash_id(raw))
    now = utcnow()
    if row is None or row.expires_at < now:
        return None
    user = await session.get(IntakeUser, row.user_id)
    if user is None or user.disabled_at is not None or user.id is None:
        return None
    if rules is not None:
        slid = min(
            now + dt.timedelta(seconds=rules.idle_s), row.created_at + dt.timedelta(seconds=rules.max_s)
        )
        if slid - row.expires_at >= dt.timedelta(seconds=rules.step_s):
            row.expires_at = slid
            await session.commit()
    role: Role = user.role  # type: ignore[assignment]
    return SessionUser(user.id, user.email, role, user.ruc_id, row.csrf_token, user.name)


async def close_session(session: AsyncSession, raw: str | None) -> None:
    if raw:
        await session.execute(delete(WebSession).where(col(WebSession.id_hash) == _hash_id(raw)))


def same_token(expected: str, given: str | None) -> bool:
    """An empty token (no cookie, an empty field) never matches, not even another empty one."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
