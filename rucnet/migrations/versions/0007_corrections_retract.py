"""corrections retract: records know their report, reports their latest version; the skolform ×
NSP view reads its count table

Revision ID: 0007
Revises: 0006

- ``insats_record.report_id``: the report whose version holds the record, so that the report's
  next version retracts what it leaves out. Records stored before this revision get "" (held by
  no report) until ``rucnet aggregates rebuild`` fills them in from the topics.
- ``report_version``: the latest version seen of each report (an older one arriving later counts
  nothing); ``insats_retraction``: insatser a later version left out, so no older version can
  bring them back.
- ``reporting.school_form_nsp`` (PostgreSQL) read ``insats_record`` and counted again; it now
  reads ``count_school_form_nsp``, so the counting rule lives in one place (the aggregator's
  count spec). Same columns, same order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same columns with the same types as 0004's (its school_form came out of JSON as text).
SCHOOL_FORM_NSP = """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name, c.lan_kod,
       coalesce(l.name_sv, c.lan_kod) AS lan_name, c.status,
       c.school_form::text AS school_form, coalesce(sf.name_sv, c.school_form) AS school_form_sv,
       coalesce(sf.sort_order, 999) AS school_form_order,
       c.nsp_area, coalesce(a.name_sv, c.nsp_area) AS nsp_area_sv, coalesce(a.sort_order, 999) AS nsp_order,
       c.n, f.last_updated
FROM count_school_form_nsp c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = c.nsp_area
LEFT JOIN LATERAL (
    SELECT x.name_sv, x.sort_order FROM reporting.ref_school_form_name x
    WHERE x.school_form = c.school_form AND x.valid_from <= make_date(c.year, 1, 1)
    ORDER BY x.valid_from DESC LIMIT 1
) sf ON true
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0"""


def upgrade() -> None:
    with op.batch_alter_table("insats_record") as batch:
        batch.add_column(sa.Column("report_id", sa.String(length=36), nullable=False, server_default=""))
        batch.create_index("ix_insats_record_report_id", ["report_id"], unique=False)
    op.create_table(
        "report_version",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )
    op.create_table(
        "insats_retraction",
        sa.Column("ruc_id", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("ruc_id", "year", "ref"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE OR REPLACE VIEW reporting.school_form_nsp AS {SCHOOL_FORM_NSP}")


def downgrade() -> None:
    # reporting.school_form_nsp keeps reading count_school_form_nsp (there since 0005): the same
    # columns and numbers as 0004's recount, so the older schema needs nothing else.
    op.drop_table("insats_retraction")
    op.drop_table("report_version")
    with op.batch_alter_table("insats_record") as batch:
        batch.drop_index("ix_insats_record_report_id")
        batch.drop_column("report_id")
