"""reporting views: the read model Grafana and the national report read

Revision ID: 0004
Revises: 0002, 0003
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

import datetime
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
# The classifier's review tables (0002) and the aggregator's attendance and completeness tables
# (0003) must exist before views can read them. Written first as a branch on 0001 that depended
# on both, which left 0002 and 0003 as heads of their own (no revision named them as its parent):
# as their merge it means the same (a database that has 0004 has both), and the history is a line.
down_revision: str | Sequence[str] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "rucnet_grafana"  # rucnet.grafana.readmodel.ROLE, frozen


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

# The label rows as shared/data held them when this revision was written, frozen here: a
# migration must build the same schema whenever it runs. Later edits of the data files reach
# the database through `rucnet grafana refresh-reference`.
REFERENCE_ROWS: dict[str, tuple[tuple[str, ...], list[tuple[object, ...]]]] = {
    "ref_ruc": (
        ("ruc_id", "host", "sort_order"),
        [
            ("ltu", "Luleå tekniska universitet", 0),
            ("umu", "Umeå universitet", 1),
            ("miun", "Mittuniversitetet", 2),
            ("hig", "Högskolan i Gävle", 3),
            ("du", "Högskolan Dalarna", 4),
            ("uu", "Uppsala universitet", 5),
            ("su", "Stockholms universitet", 6),
            ("sh", "Södertörns högskola", 7),
            ("mdu", "Mälardalens universitet", 8),
            ("oru", "Örebro universitet", 9),
            ("kau", "Karlstads universitet", 10),
            ("gu", "Göteborgs universitet", 11),
            ("hv", "Högskolan Väst", 12),
            ("ju", "Jönköping University", 13),
            ("liu", "Linköpings universitet", 14),
            ("lnu", "Linnéuniversitetet", 15),
            ("mau", "Malmö universitet", 16),
            ("hkr", "Högskolan Kristianstad", 17),
        ],
    ),
    "ref_ruc_lan": (
        ("ruc_id", "lan_kod"),
        [
            ("ltu", "25"),
            ("umu", "24"),
            ("miun", "22"),
            ("miun", "23"),
            ("hig", "21"),
            ("du", "20"),
            ("uu", "03"),
            ("uu", "09"),
            ("su", "01"),
            ("sh", "01"),
            ("mdu", "04"),
            ("mdu", "19"),
            ("oru", "18"),
            ("kau", "17"),
            ("gu", "14"),
            ("gu", "13"),
            ("hv", "14"),
            ("ju", "06"),
            ("liu", "05"),
            ("lnu", "07"),
            ("lnu", "08"),
            ("lnu", "10"),
            ("mau", "12"),
            ("hkr", "12"),
        ],
    ),
    "ref_ruc_year": (
        ("ruc_id", "year"),
        [
            ("ltu", 2019),
            ("ltu", 2020),
            ("ltu", 2021),
            ("ltu", 2022),
            ("ltu", 2023),
            ("ltu", 2024),
            ("ltu", 2025),
            ("ltu", 2026),
            ("umu", 2019),
            ("umu", 2020),
            ("umu", 2021),
            ("umu", 2022),
            ("umu", 2023),
            ("umu", 2024),
            ("umu", 2025),
            ("umu", 2026),
            ("miun", 2019),
            ("miun", 2020),
            ("miun", 2021),
            ("miun", 2022),
            ("miun", 2023),
            ("miun", 2024),
            ("miun", 2025),
            ("miun", 2026),
            ("hig", 2019),
            ("hig", 2020),
            ("hig", 2021),
            ("hig", 2022),
            ("hig", 2023),
            ("hig", 2024),
            ("hig", 2025),
            ("hig", 2026),
            ("du", 2019),
            ("du", 2020),
            ("du", 2021),
            ("du", 2022),
            ("du", 2023),
            ("du", 2024),
            ("du", 2025),
            ("du", 2026),
            ("uu", 2019),
            ("uu", 2020),
            ("uu", 2021),
            ("uu", 2022),
            ("uu", 2023),
            ("uu", 2024),
            ("uu", 2025),
            ("uu", 2026),
            ("su", 2019),
            ("su", 2020),
            ("su", 2021),
            ("su", 2022),
            ("su", 2023),
            ("su", 2024),
            ("su", 2025),
            ("su", 2026),
            ("sh", 2019),
            ("sh", 2020),
            ("sh", 2021),
            ("sh", 2022),
            ("sh", 2023),
            ("sh", 2024),
            ("sh", 2025),
            ("sh", 2026),
            ("mdu", 2019),
            ("mdu", 2020),
            ("mdu", 2021),
            ("mdu", 2022),
            ("mdu", 2023),
            ("mdu", 2024),
            ("mdu", 2025),
            ("mdu", 2026),
            ("oru", 2019),
            ("oru", 2020),
            ("oru", 2021),
            ("oru", 2022),
            ("oru", 2023),
            ("oru", 2024),
            ("oru", 2025),
            ("oru", 2026),
            ("kau", 2019),
            ("kau", 2020),
            ("kau", 2021),
            ("kau", 2022),
            ("kau", 2023),
            ("kau", 2024),
            ("kau", 2025),
            ("kau", 2026),
            ("gu", 2019),
            ("gu", 2020),
            ("gu", 2021),
            ("gu", 2022),
            ("gu", 2023),
            ("gu", 2024),
            ("gu", 2025),
            ("gu", 2026),
            ("hv", 2019),
            ("hv", 2020),
            ("hv", 2021),
            ("hv", 2022),
            ("hv", 2023),
            ("hv", 2024),
            ("hv", 2025),
            ("hv", 2026),
            ("ju", 2019),
            ("ju", 2020),
            ("ju", 2021),
            ("ju", 2022),
            ("ju", 2023),
            ("ju", 2024),
            ("ju", 2025),
            ("ju", 2026),
            ("liu", 2019),
            ("liu", 2020),
            ("liu", 2021),
            ("liu", 2022),
            ("liu", 2023),
            ("liu", 2024),
            ("liu", 2025),
            ("liu", 2026),
            ("lnu", 2019),
            ("lnu", 2020),
            ("lnu", 2021),
            ("lnu", 2022),
            ("lnu", 2023),
            ("lnu", 2024),
            ("lnu", 2025),
            ("lnu", 2026),
            ("mau", 2019),
            ("mau", 2020),
            ("mau", 2021),
            ("mau", 2022),
            ("mau", 2023),
            ("mau", 2024),
            ("mau", 2025),
            ("mau", 2026),
            ("hkr", 2019),
            ("hkr", 2020),
            ("hkr", 2021),
            ("hkr", 2022),
            ("hkr", 2023),
            ("hkr", 2024),
            ("hkr", 2025),
            ("hkr", 2026),
        ],
    ),
    "ref_lan": (
        ("lan_kod", "name_sv", "letter"),
        [
            ("01", "Stockholms län", "AB"),
            ("03", "Uppsala län", "C"),
            ("04", "Södermanlands län", "D"),
            ("05", "Östergötlands län", "E"),
            ("06", "Jönköpings län", "F"),
            ("07", "Kronobergs län", "G"),
            ("08", "Kalmar län", "H"),
            ("09", "Gotlands län", "I"),
            ("10", "Blekinge län", "K"),
            ("12", "Skåne län", "M"),
            ("13", "Hallands län", "N"),
            ("14", "Västra Götalands län", "O"),
            ("17", "Värmlands län", "S"),
            ("18", "Örebro län", "T"),
            ("19", "Västmanlands län", "U"),
            ("20", "Dalarnas län", "W"),
            ("21", "Gävleborgs län", "X"),
            ("22", "Västernorrlands län", "Y"),
            ("23", "Jämtlands län", "Z"),
            ("24", "Västerbottens län", "AC"),
            ("25", "Norrbottens län", "BD"),
        ],
    ),
    "ref_school_form_name": (
        ("school_form", "valid_from", "name_sv", "sort_order"),
        [
            ("forskola", datetime.date(1998, 1, 1), "Förskola", 0),
            ("forskoleklass", datetime.date(1998, 1, 1), "Förskoleklass", 1),
            ("fritidshem", datetime.date(1998, 1, 1), "Fritidshem", 2),
            ("grundskola", datetime.date(1998, 1, 1), "Grundskola", 3),
            ("grundsarskola", datetime.date(1998, 1, 1), "Grundsärskola", 4),
            ("grundsarskola", datetime.date(2023, 7, 2), "Anpassad grundskola", 4),
            ("specialskola", datetime.date(1998, 1, 1), "Specialskola", 5),
            ("sameskola", datetime.date(1998, 1, 1), "Sameskola", 6),
            ("gymnasieskola", datetime.date(1998, 1, 1), "Gymnasieskola", 7),
            ("gymnasiesarskola", datetime.date(1998, 1, 1), "Gymnasiesärskola", 8),
            ("gymnasiesarskola", datetime.date(2023, 7, 2), "Anpassad gymnasieskola", 8),
            ("komvux", datetime.date(1998, 1, 1), "Kommunal vuxenutbildning", 9),
            ("sarvux", datetime.date(1998, 1, 1), "Särvux", 10),
            ("sarvux", datetime.date(2020, 7, 1), "Komvux som särskild utbildning", 10),
            ("sarvux", datetime.date(2023, 7, 2), "Komvux som anpassad utbildning", 10),
        ],
    ),
    "ref_nsp_area": (
        ("nsp_area", "name_sv", "official", "valid_from", "valid_to", "sort_order"),
        [
            ("bedomning-och-betyg", "Bedömning och betyg", True, 2019, None, 0),
            ("digitalisering", "Digitalisering", True, 2019, None, 1),
            ("elevhalsa", "Elevhälsa och barns omsorg", True, 2019, None, 2),
            ("kunskaper-och-varden", "Kunskaper och värden", True, 2019, None, 3),
            ("lasa-skriva-rakna", "Läsa, skriva, räkna", True, 2021, None, 4),
            ("nyanlanda", "Nyanlända och flerspråkiga barns och elevers lärande", True, 2019, None, 5),
            ("skola-och-arbetsliv", "Skola och arbetsliv samt vidare studier", True, 2019, None, 6),
            ("styrning-och-ledning", "Styrning och ledning", True, 2019, None, 7),
            ("systematiskt-kvalitetsarbete", "Systematiskt kvalitetsarbete (SKA)", False, 2019, None, 8),
        ],
    ),
    "ref_status": (
        ("status", "name_sv", "sort_order"),
        [
            ("started", "Påbörjad", 0),
            ("completed", "Genomförd och uppföljd", 1),
        ],
    ),
    "ref_area_source": (
        ("area_source", "name_sv"),
        [
            ("declared", "Angivet av inrapportören"),
            ("classifier", "Klassificerat automatiskt"),
            ("override", "Ändrat av analytiker"),
        ],
    ),
}

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
    grants = "\n".join(f"        EXECUTE 'GRANT SELECT ON reporting.{name} TO {ROLE}';" for name, _ in VIEWS)
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
    for table, (columns, rows) in REFERENCE_ROWS.items():
        stmt = sa.text(
            f"INSERT INTO reporting.{table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})"
        )
        bind.execute(stmt, [dict(zip(columns, row, strict=True)) for row in rows])
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
