"""The migrations build what the models define: autogenerate against a migrated PostgreSQL
finds no difference (a model changed without its migration fails here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from rucnet.migrate import table_metadata
from shared.db import create_engine

pytestmark = pytest.mark.integration


def differences(url: str) -> list[Any]:
    def compare(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, table_metadata()))

    async def run() -> list[Any]:
        engine = create_engine(url)
        async with engine.connect() as conn:
            found = await conn.run_sync(compare)
        await engine.dispose()
        return found

    return asyncio.run(run())


def test_autogenerate_finds_no_difference_between_models_and_migrations(pg_url: str) -> None:
    assert differences(pg_url) == []
