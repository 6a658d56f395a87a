"""The services run in-process, as the integration tests and the benchmarks both run them: each
app through its lifespan (broker connections, consumers) with an HTTP client of its own, and a
bearer token straight from the token table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.auth import Role, create_token
from shared.db import create_engine, session_factory


@asynccontextmanager
async def running(*apps: FastAPI) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Start the apps' lifespans and give an HTTP client for each; stop them all afterwards."""
    async with AsyncExitStack() as stack:
        clients = []
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://t"))
            )
        yield clients


async def bearer(database_url: str, role: Role, ruc_id: str | None = None) -> dict[str, str]:
    """The Authorization header of a new token for ``role`` (and ``ruc_id``)."""
    engine = create_engine(database_url)
    async with session_factory(engine)() as session:
        raw = await create_token(session, role, ruc_id)
    await engine.dispose()
    return {"Authorization": f"Bearer {raw}"}
