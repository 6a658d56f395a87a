"""What every service's routes get by typed dependency (``Annotated`` aliases, as the full-stack
FastAPI template's ``deps.py`` does). A service's lifespan writes ``app.state``; this module and
each service's own ``deps.py`` are the only places that read it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import TokenCache


def sessions_of(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    return sessions


def token_cache_of(app: FastAPI) -> TokenCache | None:
    """Intake caches token lookups; the other services ask the database every time."""
    cache: TokenCache | None = getattr(app.state, "token_cache", None)
    return cache


async def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    return sessions_of(request.app)


Sessions = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
