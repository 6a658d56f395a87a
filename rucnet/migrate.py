"""Schema migrations with Alembic, for PostgreSQL and SQLite alike."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData
from sqlmodel import SQLModel

from shared.db import create_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Upgrade; when that applied a migration and reached the head, recount the count tables from
    the records by today's count spec (a migration that adds a count table leaves it to this, so
    no migration writes the counting rule again)."""
    before = current_revisions(url)
    command.upgrade(alembic_config(url), revision)
    if revision == "heads" and current_revisions(url) != before:
        asyncio.run(_recount(url))


def current_revisions(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def _recount(url: str) -> None:
    from services.aggregator.recount import recount_all

    engine = create_engine(url)
    try:
        await recount_all(engine)
    finally:
        await engine.dispose()


# Every module that defines a table, by owner; importing one registers its tables on SQLModel.metadata.
TABLE_MODULES = (
    "shared.auth",
    "rucnet.dlq",
    "services.aggregator.tables",
    "services.classifier.store",
    "services.intake.store",
    "services.intake.idempotency",
    "services.intake.parts",
    "services.intake.users",
    "services.intake.nsp_store",
)


def table_metadata() -> MetaData:
    """Every table as the models define them: what the migrations must build."""
    for name in TABLE_MODULES:
        importlib.import_module(name)
    return SQLModel.metadata
