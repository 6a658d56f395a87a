"""start month: an insats's optional start date, and started insatser per month of start

Revision ID: 0012_h24
Revises: 0011_h24

``insats_record.started_on`` (null: not given). ``count_start_month`` is the count spec's
``start_month`` table (``services/aggregator/counting.py``: a dimension derived from the start
date in ``facts.py``), filled by the recount ``rucnet.migrate.upgrade`` runs after this migration.
``reporting.start_month_count`` shows it to Grafana (PostgreSQL), granted as 0004's views are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_h24"
down_revision: str | Sequence[str] | None = "0011_h24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name, c.status,
       c.start_month, c.n, f.last_updated
FROM count_start_month c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0"""
GRANT = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rucnet_grafana') THEN
        EXECUTE 'GRANT SELECT ON reporting.start_month_count TO rucnet_grafana';
    END IF;
END
$$;"""


def upgrade() -> None:
    with op.batch_alter_table("insats_record") as batch:
        batch.add_column(sa.Column("started_on", sa.Date(), nullable=True))
    op.create_table(
        "count_start_month",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ruc_id", sa.String(length=16), nullable=False),
        sa.Column("lan_kod", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start_month", sa.String(length=7), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "ruc_id", "lan_kod", "status", "start_month"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE VIEW reporting.start_month_count AS {VIEW}")
        op.execute(GRANT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP VIEW IF EXISTS reporting.start_month_count")
    op.drop_table("count_start_month")
    with op.batch_alter_table("insats_record") as batch:
        batch.drop_column("started_on")
