"""nsp basis: per NSP area, how many insatser an analyst confirmed, the samordnare declared, or
only the classifier tagged

Revision ID: 0009
Revises: 0008

``count_nsp_basis`` is the count spec's ``nsp_basis`` table (``services/aggregator/counting.py``):
the ``count_nsp`` cells split by the basis of the area. It is filled from the stored records by the
recount ``rucnet.migrate.upgrade`` runs after any migration (since 0010_h24; this revision used to
copy ``BASIS_OF_SOURCE`` into SQL), so the split adds up to ``count_nsp`` at once; the existing
tables and views are unchanged. ``reporting.nsp_basis_count`` (PostgreSQL) shows it to Grafana, with Swedish
labels, granted to the Grafana role as 0004's views are. Accepts made before this revision published nothing, so the insatser they
concern count as unreviewed until an analyst decides on them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIEW = """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name, c.status,
       c.nsp_area, coalesce(a.name_sv, c.nsp_area) AS nsp_area_sv,
       coalesce(a.sort_order, 999) AS nsp_order, c.basis,
       CASE c.basis WHEN 'confirmed' THEN 'Bekräftat av analytiker'
                    WHEN 'declared' THEN 'Angivet av inrapportören'
                    ELSE 'Ej granskat (klassificerat automatiskt)' END AS basis_sv,
       c.n, f.last_updated
FROM count_nsp_basis c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = c.nsp_area
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0"""
GRANT = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rucnet_grafana') THEN
        EXECUTE 'GRANT SELECT ON reporting.nsp_basis_count TO rucnet_grafana';
    END IF;
END
$$;"""


def upgrade() -> None:
    op.create_table(
        "count_nsp_basis",
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ruc_id", sa.String(length=16), nullable=False),
        sa.Column("lan_kod", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("nsp_area", sa.String(length=64), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "ruc_id", "lan_kod", "status", "nsp_area", "basis"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE VIEW reporting.nsp_basis_count AS {VIEW}")
        op.execute(GRANT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP VIEW IF EXISTS reporting.nsp_basis_count")
    op.drop_table("count_nsp_basis")
