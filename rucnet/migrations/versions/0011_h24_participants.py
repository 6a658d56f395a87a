"""participants: an insats's optional number of participants, summed per count_insats cell

Revision ID: 0011_h24
Revises: 0010_h24

``insats_record.participants`` (null: not reported); ``count_insats`` gains the measures
``participants`` (summed) and ``participants_reported`` (insatser that gave a number), filled by
the recount ``rucnet.migrate.upgrade`` runs after this migration. ``reporting.insats_count`` and
``reporting.national_total`` append both columns (PostgreSQL).
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0011_h24"
down_revision: str | Sequence[str] | None = "0010_h24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = ("participants", "participants_reported")

INSATS_COUNT = """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name,
       c.status, coalesce(s.name_sv, c.status) AS status_sv, c.n, f.last_updated,
       c.participants, c.participants_reported
FROM count_insats c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
LEFT JOIN reporting.ref_status s ON s.status = c.status
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0"""

NATIONAL_TOTAL = """
SELECT c.year, c.status, min(c.status_sv) AS status_sv, sum(c.n)::integer AS n,
       max(c.last_updated) AS last_updated,
       sum(c.participants)::integer AS participants,
       sum(c.participants_reported)::integer AS participants_reported
FROM reporting.insats_count c GROUP BY c.year, c.status"""


def upgrade() -> None:
    with op.batch_alter_table("insats_record") as batch:
        batch.add_column(sa.Column("participants", sa.Integer(), nullable=True))
    with op.batch_alter_table("count_insats") as batch:
        for measure in MEASURES:
            batch.add_column(sa.Column(measure, sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE OR REPLACE VIEW reporting.insats_count AS {INSATS_COUNT}")
        op.execute(f"CREATE OR REPLACE VIEW reporting.national_total AS {NATIONAL_TOTAL}")


def _views_of_0004() -> dict[str, str]:
    """0004's bodies of the two views (a migration, not application code)."""
    path = Path(__file__).with_name("0004_reporting_views.py")
    spec = importlib.util.spec_from_file_location("rucnet_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: body for name, body in module.VIEWS if name in ("insats_count", "national_total")}


GRANT = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rucnet_grafana') THEN
        EXECUTE 'GRANT SELECT ON reporting.insats_count, reporting.national_total TO rucnet_grafana';
    END IF;
END
$$;"""


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # a view loses appended columns only by being remade
        views = _views_of_0004()
        op.execute("DROP VIEW reporting.national_total")
        op.execute("DROP VIEW reporting.insats_count")
        op.execute(f"CREATE VIEW reporting.insats_count AS {views['insats_count']}")
        op.execute(f"CREATE VIEW reporting.national_total AS {views['national_total']}")
        op.execute(GRANT)
    with op.batch_alter_table("count_insats") as batch:
        for measure in MEASURES:
            batch.drop_column(measure)
    with op.batch_alter_table("insats_record") as batch:
        batch.drop_column("participants")
