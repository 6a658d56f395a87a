"""reporting views: the read model Grafana and the national report read

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24

PostgreSQL only (SQLite, used by `rucnet dev`, has no schemas or roles: there this is a no-op).

- schema ``reporting`` with small reference tables (``ref_*``) filled from shared/data/*.json, so
  the views can carry Swedish labels; ``rucnet grafana refresh-reference`` re-fills them after an
  edit of the data files;
- views over the aggregator's tables (counts, records, overrides, report arrivals, deadlines,
  attendance) and the classifier's review tables, exposing counts, codes, labels and times:
  never a huvudman pseudonym, a name (of a huvudman or an analyst) or free text;
- role ``rucnet_grafana`` (NOLOGIN here; ops give it LOGIN and a password), which may read the
  views and nothing else: no grant on any base table, nor on the reference tables.

A later migration that adds a view for Grafana grants it explicitly:
``GRANT SELECT ON reporting.<view> TO rucnet_grafana`` (see docs/dashboards.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from rucnet.grafana.readmodel import ROLE, reference_rows
from shared.reference import load_reference

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
# The classifier's review tables (0002) and the aggregator's attendance and completeness tables
# (0003) must exist before views can read them; 0004 stays a branch on 0001 otherwise.
depends_on: str | Sequence[str] | None = ("0002", "0003")


REFERENCE_TABLES = """
CREATE TABLE reporting.ref_ruc (
    ruc_id varchar(16) PRIMARY KEY, host text NOT NULL, sort_order integer NOT NULL);
CREATE TABLE reporting.ref_ruc_lan (
    ruc_id varchar(16) NOT NULL, lan_kod varchar(2) NOT NULL, PRIMARY KEY (ruc_id, lan_kod));
CREATE TABLE reporting.ref_ruc_year (
    ruc_id varchar(16) NOT NULL, year integer NOT NULL, PRIMARY KEY (ruc_id, year));
CREATE TABLE reporting.ref_lan (
    lan_kod varchar(2) PRIMARY KEY, name_sv text NOT NULL, letter text NOT NULL);
CREATE TABLE reporting.ref_school_form_name (
    school_form varchar(32) NOT NULL, valid_from date NOT NULL, name_sv text NOT NULL,
    sort_order integer NOT NULL, PRIMARY KEY (school_form, valid_from));
CREATE TABLE reporting.ref_nsp_area (
    nsp_area varchar(64) PRIMARY KEY, name_sv text NOT NULL, official boolean NOT NULL,
    valid_from integer NOT NULL, valid_to integer, sort_order integer NOT NULL);
CREATE TABLE reporting.ref_status (
    status varchar(16) PRIMARY KEY, name_sv text NOT NULL, sort_order integer NOT NULL);
CREATE TABLE reporting.ref_area_source (
    area_source varchar(16) PRIMARY KEY, name_sv text NOT NULL);
"""

# School-form names change over time (Grundsärskola -> Anpassad grundskola, 2023-07-02): a year's
# figures carry the name in force when that year began (2020: "Särvux", as in the PM).
_SCHOOL_FORM_LABEL = """
LEFT JOIN LATERAL (
    SELECT r.name_sv, r.sort_order FROM reporting.ref_school_form_name r
    WHERE r.school_form = {alias}.school_form AND r.valid_from <= make_date({alias}.year, 1, 1)
    ORDER BY r.valid_from DESC LIMIT 1
) sf ON true"""

VIEWS: list[tuple[str, str]] = [
    (
        "data_freshness",
        """
SELECT greatest(
           (SELECT max(processed_at) FROM processed_event),
           (SELECT max(updated_at) FROM insats_record),
           (SELECT max(occurred_at) FROM area_override),
           (SELECT max(last_at) FROM report_arrival),
           (SELECT max(occurred_at) FROM attendance_summary),
           (SELECT max(updated_at) FROM classification),
           (SELECT max(at) FROM review_audit)) AS last_updated,
       (SELECT max(processed_at) FROM processed_event) AS last_event_at,
       (SELECT count(*) FROM processed_event) AS events_processed""",
    ),
    ("report_year", "SELECT DISTINCT year FROM insats_record"),
    (
        "ruc",
        """
SELECT r.ruc_id, r.host, r.sort_order,
       string_agg(l.name_sv, ', ' ORDER BY l.lan_kod) AS lan_names
FROM reporting.ref_ruc r
LEFT JOIN reporting.ref_ruc_lan rl ON rl.ruc_id = r.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = rl.lan_kod
GROUP BY r.ruc_id, r.host, r.sort_order""",
    ),
    (
        "insats_count",
        """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name,
       c.status, coalesce(s.name_sv, c.status) AS status_sv, c.n, f.last_updated
FROM count_insats c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
LEFT JOIN reporting.ref_status s ON s.status = c.status
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0""",
    ),
    (
        "school_form_count",
        """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name, c.status,
       c.school_form, coalesce(sf.name_sv, c.school_form) AS school_form_sv,
       coalesce(sf.sort_order, 999) AS school_form_order, c.n, f.last_updated
FROM count_school_form c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod"""
        + _SCHOOL_FORM_LABEL.format(alias="c")
        + """
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0""",
    ),
    (
        "nsp_count",
        """
SELECT c.year, c.ruc_id, coalesce(r.host, c.ruc_id) AS ruc_name,
       c.lan_kod, coalesce(l.name_sv, c.lan_kod) AS lan_name, c.status,
       c.nsp_area, coalesce(a.name_sv, c.nsp_area) AS nsp_area_sv,
       coalesce(a.sort_order, 999) AS nsp_order, c.n, f.last_updated
FROM count_nsp c
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = c.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = c.lan_kod
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = c.nsp_area
CROSS JOIN reporting.data_freshness f
WHERE c.n <> 0""",
    ),
    (
        "national_total",
        """
SELECT c.year, c.status, min(c.status_sv) AS status_sv, sum(c.n)::integer AS n,
       max(c.last_updated) AS last_updated
FROM reporting.insats_count c GROUP BY c.year, c.status""",
    ),
    (
        "national_school_form",
        """
SELECT c.year, c.status, c.school_form, min(c.school_form_sv) AS school_form_sv,
       min(c.school_form_order) AS school_form_order, sum(c.n)::integer AS n,
       max(c.last_updated) AS last_updated
FROM reporting.school_form_count c GROUP BY c.year, c.status, c.school_form""",
    ),
    (
        "national_nsp",
        """
SELECT c.year, c.status, c.nsp_area, min(c.nsp_area_sv) AS nsp_area_sv,
       min(c.nsp_order) AS nsp_order, sum(c.n)::integer AS n, max(c.last_updated) AS last_updated
FROM reporting.nsp_count c GROUP BY c.year, c.status, c.nsp_area""",
    ),
    (
        "school_form_nsp",
        """
SELECT i.year, i.ruc_id, coalesce(r.host, i.ruc_id) AS ruc_name, i.lan_kod,
       coalesce(l.name_sv, i.lan_kod) AS lan_name, i.status,
       i.school_form, coalesce(sf.name_sv, i.school_form) AS school_form_sv,
       coalesce(sf.sort_order, 999) AS school_form_order,
       i.nsp_area, coalesce(a.name_sv, i.nsp_area) AS nsp_area_sv, coalesce(a.sort_order, 999) AS nsp_order,
       count(*)::integer AS n, max(f.last_updated) AS last_updated
FROM (
    SELECT rec.year, rec.ruc_id, rec.lan_kod, rec.status, rec.nsp_area, form.school_form
    FROM insats_record rec
    CROSS JOIN LATERAL (
        SELECT DISTINCT value AS school_form FROM json_array_elements_text(rec.school_forms::json)
    ) form
) i
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = i.ruc_id
LEFT JOIN reporting.ref_lan l ON l.lan_kod = i.lan_kod
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = i.nsp_area"""
        + _SCHOOL_FORM_LABEL.format(alias="i")
        + """
CROSS JOIN reporting.data_freshness f
GROUP BY i.year, i.ruc_id, r.host, i.lan_kod, l.name_sv, i.status, i.school_form, sf.name_sv,
         sf.sort_order, i.nsp_area, a.name_sv, a.sort_order""",
    ),
    (
        # Completeness and timeliness per RUC and year, as the aggregator's completeness API
        # defines them: expected = active in the registry that year; first reported = intake's
        # stamp on the first accepted report (report_arrival), else when the aggregator first
        # stored a record; on time = before the end of the deadline day in Sweden (admin-set per
        # year, default 31 January of the following year).
        "reporting_status",
        """
WITH rec AS (
    SELECT ruc_id, year, count(*) AS insatser,
           count(*) FILTER (WHERE status = 'started') AS started,
           count(*) FILTER (WHERE status = 'completed') AS completed,
           count(DISTINCT huvudman_pseudonym) AS huvudman_count,
           min(updated_at) AS first_at, max(updated_at) AS last_at
    FROM insats_record GROUP BY ruc_id, year
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
CROSS JOIN reporting.data_freshness f""",
    ),
    (
        # Part 1 of the yearly report: network meetings and attendance, per RUC and year.
        "attendance",
        """
SELECT a.year, a.ruc_id, coalesce(r.host, a.ruc_id) AS ruc_name, a.meetings, a.network_size,
       a.attendances, a.meetings * a.network_size AS possible,
       CASE WHEN a.meetings * a.network_size > 0
            THEN round(a.attendances::numeric / (a.meetings * a.network_size), 4) END AS attendance_rate,
       a.occurred_at AS reported_at, f.last_updated
FROM attendance_summary a
LEFT JOIN reporting.ref_ruc r ON r.ruc_id = a.ruc_id
CROSS JOIN reporting.data_freshness f""",
    ),
    (
        "classification",
        """
SELECT i.year, i.ruc_id, i.status, i.nsp_area, coalesce(a.name_sv, i.nsp_area) AS nsp_area_sv,
       i.classified_area, coalesce(ca.name_sv, i.classified_area) AS classified_area_sv,
       i.declared_area IS NOT NULL AS declared,
       i.area_source, coalesce(src.name_sv, i.area_source) AS area_source_sv,
       (i.needs_review AND i.area_source <> 'override') AS awaiting_review,
       i.model_version, count(*)::integer AS n, avg(i.confidence) AS mean_confidence,
       max(i.updated_at) AS records_updated_at, max(f.last_updated) AS last_updated
FROM insats_record i
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = i.nsp_area
LEFT JOIN reporting.ref_nsp_area ca ON ca.nsp_area = i.classified_area
LEFT JOIN reporting.ref_area_source src ON src.area_source = i.area_source
CROSS JOIN reporting.data_freshness f
GROUP BY i.year, i.ruc_id, i.status, i.nsp_area, a.name_sv, i.classified_area, ca.name_sv,
         i.declared_area IS NOT NULL, i.area_source, src.name_sv,
         (i.needs_review AND i.area_source <> 'override'), i.model_version""",
    ),
    (
        # The classifier's review queue (unreviewed, classifier-decided insatser): the RUC's own
        # ref, never the title, text or huvudman. ``flagged`` = below the review threshold.
        "review_queue",
        """
SELECT c.year, c.ruc_id, c.ref, c.status, c.classified_area,
       coalesce(a.name_sv, c.classified_area) AS classified_area_sv, c.confidence,
       c.needs_review AS flagged, c.model_version, c.updated_at, f.last_updated
FROM classification c
LEFT JOIN reporting.ref_nsp_area a ON a.nsp_area = c.classified_area
CROSS JOIN reporting.data_freshness f
WHERE c.review_state = 'unreviewed' AND c.source = 'classifier'""",
    ),
    (
        # Analysts' review decisions per day, without the analyst's name.
        "review_activity",
        """
SELECT ra.year, (ra.at AT TIME ZONE 'Europe/Stockholm')::date AS day, ra.action, ra.model_version,
       count(*)::integer AS n, count(*) FILTER (WHERE ra.from_area IS DISTINCT FROM ra.to_area)::integer
       AS changed, max(ra.at) AS last_at, max(f.last_updated) AS last_updated
FROM review_audit ra CROSS JOIN reporting.data_freshness f
GROUP BY ra.year, (ra.at AT TIME ZONE 'Europe/Stockholm')::date, ra.action, ra.model_version""",
    ),
    (
        "confidence_bucket",
        """
SELECT i.year, i.model_version, i.area_source,
       (least(floor(i.confidence * 10), 9) / 10.0)::numeric(3, 1) AS bucket_from,
       count(*)::integer AS n, max(f.last_updated) AS last_updated
FROM insats_record i CROSS JOIN reporting.data_freshness f
GROUP BY i.year, i.model_version, i.area_source, least(floor(i.confidence * 10), 9)""",
    ),
]


def _grant_sql() -> str:
    grants = "\n".join(
        f"        EXECUTE 'GRANT SELECT ON reporting.{name} TO {ROLE}';" for name, _ in VIEWS
    )
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        BEGIN
            CREATE ROLE {ROLE} NOLOGIN;
            ALTER ROLE {ROLE} SET default_transaction_read_only = on;
            ALTER ROLE {ROLE} SET statement_timeout = '30s';
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- another database made it first
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role {ROLE}: create it as a superuser and re-grant';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        EXECUTE 'GRANT USAGE ON SCHEMA reporting TO {ROLE}';
{grants}
    END IF;
END
$$;
"""


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("CREATE SCHEMA IF NOT EXISTS reporting")
    for statement in REFERENCE_TABLES.split(";"):
        if statement.strip():
            op.execute(statement)
    # The label tables are filled from shared/data, as `rucnet grafana refresh-reference` does later.
    for table, rows in reference_rows(load_reference()).items():
        if rows:
            columns = list(rows[0])
            stmt = sa.text(
                f"INSERT INTO reporting.{table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            )
            bind.execute(stmt, rows)
    for name, body in VIEWS:
        op.execute(f"CREATE VIEW reporting.{name} AS {body}")
    op.execute(_grant_sql())


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP SCHEMA IF EXISTS reporting CASCADE")
    op.execute(
        f"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') THEN
        BEGIN
            DROP ROLE {ROLE};
        EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
            RAISE NOTICE 'role {ROLE} kept: it still has privileges elsewhere';
        END;
    END IF;
END
$$;
"""
    )
