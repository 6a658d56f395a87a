"""The tables issue 3 added, imported so they register on SQLModel.metadata (for Alembic)."""

from services.aggregator import attendance, completeness
from services.intake import idempotency, parts, users

TABLE_MODULES = (attendance, completeness, idempotency, parts, users)
