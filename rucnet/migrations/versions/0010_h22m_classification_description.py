"""classification description: the review card shows an insats's description beside its effects

Revision ID: 0010_h22m
Revises: 0010_h21

``classification.description``: the insats's description as submitted (the model reads the
effects; the analyst needs the whole insats). Rows stored before this revision get "" until the
insats is classified again. A ``review_state`` of ``retracted`` (a later version of the report
left the insats out) needs no schema change.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_h22m"
down_revision: str | Sequence[str] | None = "0010_h21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("classification", sa.Column("description", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("classification") as batch:
        batch.drop_column("description")
