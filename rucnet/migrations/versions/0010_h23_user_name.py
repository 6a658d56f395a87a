"""intake users: the name pages and the review log show (an analyst signs in as a person)

Revision ID: 0010_h23
Revises: 0010_h22m
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_h23"
down_revision: str | None = "0010_h22m"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("intake_user") as batch:
        batch.add_column(sa.Column("name", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_user") as batch:
        batch.drop_column("name")
