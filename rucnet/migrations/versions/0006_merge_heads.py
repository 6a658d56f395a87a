"""merge the four branches on 0001 into one line

Revision ID: 0006
Revises: 0004, 0005

0002-0005 were each written against 0001, so the history had four heads. This revision joins
them without changing any, so every later revision follows one line. It names 0004 and 0005
only: 0004 already depends on 0002 and 0003, and Alembic keeps a revision's dependencies out of
``alembic_version`` once it is applied (a database upgraded to the old heads holds exactly 0004
and 0005; naming 0002 and 0003 too makes Alembic try to remove rows that are not there).
"""

from collections.abc import Sequence

revision: str = "0006"
down_revision: str | Sequence[str] | None = ("0004", "0005")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
