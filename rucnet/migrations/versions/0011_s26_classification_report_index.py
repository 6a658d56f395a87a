"""classification report index: a batch finds what a report's later version left out by index

Revision ID: 0011_s26
Revises: 0010_h22u

``classification.report_id`` gets an index. Every classified batch reads the stored rows of its
reports (``services/classifier/store.py``: what a later version left out leaves the review queue);
without the index that read scanned the whole table, so storing a batch took longer the more
insatser were classified (159 ms a batch at 10 000 insatser, growing with the table).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011_s26"
down_revision: str | Sequence[str] | None = "0010_h22u"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_classification_report_id", "classification", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_classification_report_id", table_name="classification")
