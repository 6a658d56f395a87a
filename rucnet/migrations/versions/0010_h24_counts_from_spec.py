"""counts from the spec: the classification and huvudman count tables; the reporting status,
classification and confidence views read count tables instead of counting records

Revision ID: 0010_h24
Revises: 0010_h23

``count_classification`` and ``count_huvudman`` are the count spec's ``classification`` and
``huvudman`` tables (``services/aggregator/counting.py``). Like every count table since this
revision they are filled by ``rucnet.migrate.upgrade``, which recounts all count tables from the
records by the spec after any migration: no migration writes the counting rule again.

``reporting.reporting_status`` takes its started, completed and insatser from ``count_insats`` and
its huvudmän from the non-empty cells of ``count_huvudman``; ``reporting.classification`` and
``reporting.confidence_bucket`` sum ``count_classification`` (the mean confidence is its summed
thousandths over n). Same columns, same types, same order as 0004's; the times (first and last
report, last classified) still come from the records: they are not counts.
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0010_h24"
down_revision: str | Sequence[str] | None = "0010_h23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("year", "ruc_id", "lan_kod", "status")
CLASSIFICATION_KEYS = (
    ("nsp_area", 64),
    ("classified_area", 64),
    ("area_source", 16),
    ("declared", 5),
    ("needs_review", 5),
    ("model_version", 64),
    ("confidence_bucket", 1),
)

REPORTING_STATUS = """
WITH counted AS (
    SELECT ruc_id, year, sum(n) AS insatser,
           sum(CASE status WHEN 'started' THEN n ELSE 0 END) AS started,
           sum(CASE status WHEN 'completed' THEN n ELSE 0 END) AS completed
    FROM count_insats GROUP BY ruc_id, year
), huvudman AS (
    -- a huvudman is a non-empty cell of count_huvudman: its cells are counted, not records
    SELECT ruc_id, year, count(DISTINCT huvudman) AS huvudman_count
    FROM count_huvudman WHERE n <> 0 GROUP BY ruc_id, year
), held AS (
    SELECT ruc_id, year, min(updated_at) AS first_at, max(updated_at) AS last_at
    FROM insats_record GROUP BY ruc_id, year
), rec AS (
    SELECT h.ruc_id, h.year, c.insatser, c.started, c.completed, hm.huvudman_count, h.first_at, h.last_at
    FROM held h
    LEFT JOIN counted c ON c.ruc_id = h.ruc_id AND c.year = h.year
    LEFT JOIN huvudman hm ON hm.ruc_id = h.ruc_id AND hm.year = h.year
), grid AS (
    SELECT ruc_id, year FROM (
        SELECT ruc_id, year FROM reporting.ref_ruc_year
        EXCEPT SELECT ruc_id, year FROM ruc_activation WHERE NOT active
        UNION SELECT ruc_id, year FROM ruc_activation WHERE active
    ) registry
    WHERE year IN (SELECT year FROM reporting.report_year UNION SELECT year FROM report_arrival)
    UNION SELECT ruc_id, year FROM rec
    UNION SELECT ruc_id, year FROM report_arrival
), status AS (
    SELECT g.year, g.ruc_id, rec.ruc_id IS NOT NULL OR arr.ruc_id IS NOT NULL AS reported,
           coalesce(arr.first_at, rec.first_at) AS first_at,
           greatest(arr.last_at, rec.last_at) AS last_at,
           coalesce(d.deadline, make_date(g.year + 1, 1, 31)) AS deadline,
           att.ruc_id IS NOT NULL AS attendance_reported
    FROM grid g
    LEFT JOIN rec ON rec.ruc_id = g.ruc_id AND rec.year = g.year
    LEFT JOIN report_arrival arr ON arr.ruc_id = g.ruc_id AND arr.year = g.year
    LEFT JOIN reporting_deadline d ON d.year = g.year
    LEFT JOIN attendance_summary att ON att.ruc_id = g.ruc_id AND att.year = g.year
)
SELECT s.year, s.ruc_id, coalesce(r.host, s.ruc_id) AS ruc_name, s.reported,
       coalesce(rec.insatser, 0)::integer AS insatser,
       coalesce(rec.started, 0)::integer AS started,
       coalesce(rec.completed, 0)::integer AS completed,
       coalesce(rec.huvudman_count, 0)::integer AS huvudman_count,
       s.first_at AS first_reported_at, s.last_at AS last_reported_at, s.deadline,
       CASE WHEN s.first_at IS NULL THEN 'missing'
            WHEN s.first_at < ((s.deadline + 1)::timestamp AT TIME ZONE 'Europe/Stockholm') THEN 'on_time'
            ELSE 'late' END AS timeliness,
       CASE WHEN s.first_at IS NULL THEN 'Saknas'
            WHEN s.first_at < ((s.deadline + 1)::timestamp AT TIME ZONE 'Europe/Stockholm') THEN 'I tid'
            ELSE 'Sen' END AS timeliness_sv,
       ((s.first_at AT TIME ZONE 'Europe/Stockholm')::date - s.deadline) AS days_after_deadline,
       s.attendance_reported, f.last_updated
FROM status s
LEFT JOIN rec ON rec.ruc_id = s.ruc_id AND rec.year = s.year
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = s.ruc_id
CROSS JOIN reporting.data_freshness f"""

CLASSIFICATION = """
SELECT c.year, c.ruc_id, c.status, c.nsp_area, coalesce(a.name_sv, c.nsp_area) AS nsp_area_sv,
       c.classified_area, coalesce(ca.name_sv, c.classified_area) AS classified_area_sv,
       c.declared = 'true' AS declared,
       c.area_source, coalesce(src.name_sv, c.area_source) AS area_source_sv,
       (c.needs_review = 'true' AND c.area_source <> 'override') AS awaiting_review,
       c.model_version, sum(c.n)::integer AS n,
       (sum(c.confidence_milli) / 1000.0 / nullif(sum(c.n), 0))::double precision AS mean_confidence,
       max(u.updated_at) AS records_updated_at, max(f.last_updated) AS last_updated
FROM count_classification c
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = c.nsp_area
LEFT JOIN reporting.ref_nsp_area ca ON ca.nsp_area = c.classified_area
LEFT JOIN reporting.ref_area_source src ON src.area_source = c.area_source
LEFT JOIN (
    SELECT year, ruc_id, model_version, max(updated_at) AS updated_at
    FROM insats_record GROUP BY year, ruc_id, model_version
) u ON u.year = c.year AND u.ruc_id = c.ruc_id AND u.model_version = c.model_version
CROSS JOIN reporting.data_freshness f
GROUP BY c.year, c.ruc_id, c.status, c.nsp_area, a.name_sv, c.classified_area, ca.name_sv,
         c.declared, c.area_source, src.name_sv, c.needs_review, c.model_version
HAVING sum(c.n) <> 0"""

CONFIDENCE_BUCKET = """
SELECT c.year, c.model_version, c.area_source,
       (c.confidence_bucket::integer / 10.0)::numeric(3, 1) AS bucket_from,
       sum(c.n)::integer AS n, max(f.last_updated) AS last_updated
FROM count_classification c CROSS JOIN reporting.data_freshness f
GROUP BY c.year, c.model_version, c.area_source, c.confidence_bucket
HAVING sum(c.n) <> 0"""

VIEWS = {
    "reporting_status": REPORTING_STATUS,
    "classification": CLASSIFICATION,
    "confidence_bucket": CONFIDENCE_BUCKET,
}


def _grant(names: Sequence[str]) -> str:
    grants = "\n".join(f"        EXECUTE 'GRANT SELECT ON reporting.{n} TO rucnet_grafana';" for n in names)
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rucnet_grafana') THEN
{grants}
    END IF;
END
$$;"""


def _count_table(name: str, keys: Sequence[tuple[str, int]], measures: Sequence[str]) -> None:
    columns = [sa.Column("year", sa.Integer(), nullable=False)]
    columns += [sa.Column(c, sa.String(length=w), nullable=False) for c, w in (("ruc_id", 16), ("lan_kod", 2))]
    columns += [sa.Column("status", sa.String(length=16), nullable=False)]
    columns += [sa.Column(c, sa.String(length=w), nullable=False) for c, w in keys]
    columns += [sa.Column(m, sa.Integer(), nullable=False) for m in measures]
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*_KEY, *(c for c, _ in keys)))


def _replace_views(views: dict[str, str]) -> None:
    for name, body in views.items():
        op.execute(f"DROP VIEW IF EXISTS reporting.{name}")
        op.execute(f"CREATE VIEW reporting.{name} AS {body}")
    op.execute(_grant(list(views)))


def upgrade() -> None:
    _count_table("count_classification", CLASSIFICATION_KEYS, ("n", "confidence_milli"))
    _count_table("count_huvudman", (("huvudman", 32),), ("n",))
    if op.get_bind().dialect.name == "postgresql":
        _replace_views(VIEWS)


def _views_of_0004() -> dict[str, str]:
    """0004's bodies of the views this revision replaced (a migration, not application code)."""
    path = Path(__file__).with_name("0004_reporting_views.py")
    spec = importlib.util.spec_from_file_location("rucnet_migration_0004", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: body for name, body in module.VIEWS if name in VIEWS}


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _replace_views(_views_of_0004())
    op.drop_table("count_huvudman")
    op.drop_table("count_classification")
