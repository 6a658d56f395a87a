"""outbox relay: a row the broker refused for good is marked failed; a partial index on what waits

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT = sa.text("published_at IS NULL AND failed_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("report_submission") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("publish_error", sa.String(length=2000), nullable=True))
    # The relay asks for the oldest unsent rows many times a second: an index of only those.
    op.create_index(
        "ix_report_submission_unsent", "report_submission", ["seq"], postgresql_where=UNSENT, sqlite_where=UNSENT
    )


def downgrade() -> None:
    op.drop_index("ix_report_submission_unsent", table_name="report_submission")
    with op.batch_alter_table("report_submission") as batch:
        batch.drop_column("publish_error")
        batch.drop_column("failed_at")
