"""part failures: an attendance part the relay cannot load or the broker refuses is marked failed
alone, like a report (0008), so the rows behind it go on and an operator can list and retry it

Revision ID: 0010_h21
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_h21"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("report_part") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("publish_error", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report_part") as batch:
        batch.drop_column("publish_error")
        batch.drop_column("failed_at")
