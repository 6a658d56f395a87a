"""aggregates ops: the skolform × NSP count table and DLQ replays

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "count_school_form_nsp",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ruc_id", sa.String(length=16), nullable=False),
        sa.Column("lan_kod", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("school_form", sa.String(length=32), nullable=False),
        sa.Column("nsp_area", sa.String(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "ruc_id", "lan_kod", "status", "school_form", "nsp_area"),
    )
    op.create_table(
        "dead_letter_replay",
        sa.Column("dead_letter_id", sa.String(length=36), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dead_letter_id"),
    )
    # Records counted before this table existed get their cells from the recount that
    # ``rucnet.migrate.upgrade`` runs by the count spec after any migration (revision 0010_h24; this
    # revision filled the table itself before then, with a copy of the rule).


def downgrade() -> None:
    op.drop_table("dead_letter_replay")
    op.drop_table("count_school_form_nsp")
