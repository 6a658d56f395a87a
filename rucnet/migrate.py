"""Schema migrations with Alembic, for PostgreSQL and SQLite alike."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData
from sqlmodel import SQLModel

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


# Every module that defines a table, by owner; importing one registers its tables on SQLModel.metadata.
TABLE_MODULES = (
    "shared.auth",
    "rucnet.dlq",
    "services.aggregator.tables",
    "services.aggregator.attendance",
    "services.aggregator.completeness",
    "services.aggregator.ruc_activation",
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
