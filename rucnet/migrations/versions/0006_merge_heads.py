"""merge the four branches on 0001 into one line

Revision ID: 0006
Revises: 0004, 0005

0002-0005 were each written against 0001, so the history had four heads. 0004 (which needs 0002
and 0003) now names them as its parents, and this revision joins 0004 and 0005, so every later
revision follows one line. No revision's id or operations changed: a database upgraded to the old
heads holds 0004 and 0005 in ``alembic_version`` (Alembic had already dropped 0002 and 0003 from
it as 0004's dependencies) and upgrades from there. (Naming all four here instead makes Alembic
remove version rows that such a database does not have.)
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
