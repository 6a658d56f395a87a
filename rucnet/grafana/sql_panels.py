"""The SQL behind every PostgreSQL panel: reads ``reporting.*`` views only.

Grafana substitutes ``$year`` (a number), ``$status`` (a code, quoted here) and ``$ruc`` (a
multi-value, which Grafana quotes and joins). Every query returns a ``Senast uppdaterad`` column.
"""

from __future__ import annotations

from shared.reference import ReferenceData

_UPDATED_TS = '(SELECT last_updated FROM reporting.data_freshness) AS "Senast uppdaterad"'
_UPDATED_MS = (
    '(SELECT extract(epoch FROM last_updated) * 1000 FROM reporting.data_freshness) AS "Senast uppdaterad"'
)

KEY_FIGURES = f"""
SELECT
  coalesce((SELECT n FROM reporting.national_total WHERE year = $year AND status = 'started'), 0)
    AS "Påbörjade insatser",
  coalesce((SELECT n FROM reporting.national_total WHERE year = $year AND status = 'completed'), 0)
    AS "Genomförda och uppföljda",
  coalesce((SELECT sum(n) FROM reporting.national_school_form
            WHERE year = $year AND status = 'started'), 0)::int AS "Summa per skolform",
  (SELECT count(*) FROM reporting.reporting_status
   WHERE year = $year AND reported)::int AS "Rapporterande RUC",
  {_UPDATED_MS}
"""

STARTED_BY_SCHOOL_FORM = """
SELECT school_form_sv AS "Skolform", n AS "Påbörjade insatser", last_updated AS "Senast uppdaterad"
FROM reporting.national_school_form
WHERE year = $year AND status = 'started'
ORDER BY school_form_order
"""

# What each area's count rests on (counting.BASIS_OF_SOURCE; reporting.nsp_basis_count's labels), so
# a reader sees how much of a bar is the classifier's tag that nobody has reviewed.
BASIS_COLUMNS = {
    "confirmed": "Bekräftat av analytiker",
    "declared": "Angivet av inrapportören",
    "unreviewed": "Ej granskat (klassificerat automatiskt)",
}
_BASIS_SPLIT = ",\n".join(
    f"       coalesce(sum(b.n) FILTER (WHERE b.basis = '{basis}'), 0)::int AS \"{label}\""
    for basis, label in BASIS_COLUMNS.items()
)
_COMPLETED_BY_BASIS = """
FROM reporting.national_nsp t
LEFT JOIN reporting.nsp_basis_count b
  ON b.year = t.year AND b.status = t.status AND b.nsp_area = t.nsp_area
WHERE t.year = $year AND t.status = 'completed'
GROUP BY t.nsp_area, t.nsp_area_sv, t.nsp_order, t.n, t.last_updated
ORDER BY t.nsp_order
"""

COMPLETED_BY_NSP = f"""
SELECT t.nsp_area_sv AS "NSP-område",
{_BASIS_SPLIT},
       t.last_updated AS "Senast uppdaterad"
{_COMPLETED_BY_BASIS}"""

STARTED_BY_SCHOOL_FORM_TABLE = """
SELECT school_form AS "Kod", school_form_sv AS "Skolform", n AS "Påbörjade insatser",
       last_updated AS "Senast uppdaterad"
FROM reporting.national_school_form
WHERE year = $year AND status = 'started'
ORDER BY school_form_order
"""

COMPLETED_BY_NSP_TABLE = f"""
SELECT t.nsp_area AS "Kod", t.nsp_area_sv AS "NSP-område", t.n AS "Genomförda och uppföljda insatser",
{_BASIS_SPLIT},
       t.last_updated AS "Senast uppdaterad"
{_COMPLETED_BY_BASIS}"""

TREND = """
SELECT year::text AS "År",
       coalesce(sum(n) FILTER (WHERE status = 'started'), 0)::int AS "Påbörjade",
       coalesce(sum(n) FILTER (WHERE status = 'completed'), 0)::int AS "Genomförda och uppföljda",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.national_total
GROUP BY year
ORDER BY year
"""

REGION_KEY_FIGURES = f"""
SELECT coalesce(sum(n) FILTER (WHERE status = 'started'), 0)::int AS "Påbörjade insatser",
       coalesce(sum(n) FILTER (WHERE status = 'completed'), 0)::int AS "Genomförda och uppföljda",
       count(DISTINCT ruc_id)::int AS "RUC med insatser",
       {_UPDATED_MS}
FROM reporting.insats_count
WHERE year = $year AND ruc_id IN ($ruc)
"""

PER_RUC = f"""
SELECT r.ruc_id AS "RUC", r.host AS "Lärosäte", r.lan_names AS "Län",
       coalesce(sum(c.n) FILTER (WHERE c.status = 'started'), 0)::int AS "Påbörjade",
       coalesce(sum(c.n) FILTER (WHERE c.status = 'completed'), 0)::int AS "Genomförda och uppföljda",
       {_UPDATED_TS}
FROM reporting.ruc r
LEFT JOIN reporting.insats_count c ON c.ruc_id = r.ruc_id AND c.year = $year
WHERE r.ruc_id IN ($ruc)
GROUP BY r.ruc_id, r.host, r.lan_names, r.sort_order
ORDER BY r.sort_order
"""

PER_RUC_CHART = f"""
SELECT r.host AS "Lärosäte",
       coalesce(sum(c.n) FILTER (WHERE c.status = 'started'), 0)::int AS "Påbörjade",
       coalesce(sum(c.n) FILTER (WHERE c.status = 'completed'), 0)::int AS "Genomförda och uppföljda",
       {_UPDATED_TS}
FROM reporting.ruc r
LEFT JOIN reporting.insats_count c ON c.ruc_id = r.ruc_id AND c.year = $year
WHERE r.ruc_id IN ($ruc)
GROUP BY r.host, r.sort_order
ORDER BY r.sort_order
"""

PER_LAN = """
SELECT lan_kod AS "Länskod", lan_name AS "Län",
       coalesce(sum(n) FILTER (WHERE status = 'started'), 0)::int AS "Påbörjade",
       coalesce(sum(n) FILTER (WHERE status = 'completed'), 0)::int AS "Genomförda och uppföljda",
       string_agg(DISTINCT ruc_id, ', ') AS "RUC",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.insats_count
WHERE year = $year AND ruc_id IN ($ruc)
GROUP BY lan_kod, lan_name
ORDER BY lan_kod
"""


def _nsp_columns(reference: ReferenceData) -> str:
    """One column per NSP area in the reference data: a pivot Grafana can show as it is."""
    return ",\n       ".join(
        f"coalesce(sum(n) FILTER (WHERE nsp_area = '{a.code}'), 0)::int AS \"{a.name_sv}\""
        for a in reference.nsp_areas
    )


def pivot_school_form_by_nsp(reference: ReferenceData) -> str:
    return f"""
SELECT school_form_sv AS "Skolform",
       {_nsp_columns(reference)},
       sum(n)::int AS "Totalt",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.school_form_nsp
WHERE year = $year AND status = '$status' AND ruc_id IN ($ruc)
GROUP BY school_form_sv, school_form_order
ORDER BY school_form_order
"""


def pivot_ruc_by_nsp(reference: ReferenceData) -> str:
    return f"""
SELECT ruc_name AS "Lärosäte",
       {_nsp_columns(reference)},
       sum(n)::int AS "Totalt",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.nsp_count
WHERE year = $year AND status = '$status' AND ruc_id IN ($ruc)
GROUP BY ruc_id, ruc_name
ORDER BY ruc_name
"""


REPORTING_KEY_FIGURES = f"""
SELECT count(*) FILTER (WHERE reported)::int AS "RUC som rapporterat",
       count(*) FILTER (WHERE timeliness = 'on_time')::int AS "I tid",
       count(*) FILTER (WHERE timeliness = 'late')::int AS "Sena",
       count(*) FILTER (WHERE timeliness = 'missing')::int AS "Saknas",
       count(*) FILTER (WHERE attendance_reported)::int AS "Närvaro rapporterad",
       min(deadline) AS "Frist",
       {_UPDATED_MS}
FROM reporting.reporting_status
WHERE year = $year
"""

REPORTING_PER_RUC = """
SELECT ruc_id AS "RUC", ruc_name AS "Lärosäte",
       CASE WHEN reported THEN 'Ja' ELSE 'Nej' END AS "Rapporterat",
       timeliness_sv AS "Tidsmässighet",
       insatser AS "Insatser", started AS "Påbörjade", completed AS "Genomförda",
       huvudman_count AS "Huvudmän",
       first_reported_at AS "Första rapport", last_reported_at AS "Senaste rapport",
       deadline AS "Frist", days_after_deadline AS "Dagar efter frist",
       CASE WHEN attendance_reported THEN 'Ja' ELSE 'Nej' END AS "Närvaro rapporterad",
       last_updated AS "Senast uppdaterad"
FROM reporting.reporting_status
WHERE year = $year
ORDER BY reported, ruc_name
"""

COMPLETENESS_PER_YEAR = """
SELECT year::text AS "År",
       count(*)::int AS "Förväntade RUC",
       count(*) FILTER (WHERE reported)::int AS "Har rapporterat",
       count(*) FILTER (WHERE timeliness = 'on_time')::int AS "I tid",
       round(100.0 * count(*) FILTER (WHERE reported) / nullif(count(*), 0), 1) AS "Andel (%)",
       sum(insatser)::int AS "Insatser",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.reporting_status
GROUP BY year
ORDER BY year DESC
"""

TIMELINESS_CHART = """
SELECT ruc_name AS "Lärosäte", days_after_deadline AS "Dagar efter frist",
       last_updated AS "Senast uppdaterad"
FROM reporting.reporting_status
WHERE year = $year AND reported
ORDER BY days_after_deadline, ruc_name
"""

ATTENDANCE = """
SELECT r.ruc_id AS "RUC", r.host AS "Lärosäte", a.meetings AS "Nätverksträffar",
       a.network_size AS "Huvudmän i nätverket", a.attendances AS "Närvarande (summa)",
       round(100 * a.attendance_rate, 1) AS "Närvarograd (%)", a.reported_at AS "Rapporterad",
       (SELECT last_updated FROM reporting.data_freshness) AS "Senast uppdaterad"
FROM reporting.ruc r
LEFT JOIN reporting.attendance a ON a.ruc_id = r.ruc_id AND a.year = $year
ORDER BY a.attendance_rate DESC NULLS LAST, r.sort_order
"""

CLASSIFICATION_KEY_FIGURES = f"""
SELECT (SELECT count(*) FROM reporting.review_queue WHERE year = $year AND flagged)::int
         AS "Väntar på granskning",
       (SELECT count(*) FROM reporting.review_queue WHERE year = $year)::int AS "Ej granskade automatiska",
       round(100.0 * coalesce(sum(n) FILTER (WHERE area_source = 'override'), 0) / nullif(sum(n), 0), 1)
         AS "Ändrade av analytiker (%)",
       round(100.0 * coalesce(sum(n) FILTER (WHERE area_source = 'declared'), 0) / nullif(sum(n), 0), 1)
         AS "Angivna av inrapportören (%)",
       round((sum(mean_confidence * n) FILTER (WHERE area_source = 'classifier')
              / nullif(sum(n) FILTER (WHERE area_source = 'classifier'), 0))::numeric, 2)
         AS "Medelkonfidens, automatiskt",
       {_UPDATED_MS}
FROM reporting.classification
WHERE year = $year
"""

REVIEW_BACKLOG = """
SELECT ruc_id AS "RUC", ref AS "Referens",
       CASE status WHEN 'started' THEN 'Påbörjad' ELSE 'Genomförd' END AS "Status",
       classified_area_sv AS "Föreslaget område", round(confidence::numeric, 2) AS "Konfidens",
       CASE WHEN flagged THEN 'Ja' ELSE 'Nej' END AS "Flaggad",
       model_version AS "Modellversion", updated_at AS "Inkom", last_updated AS "Senast uppdaterad"
FROM reporting.review_queue
WHERE year = $year
ORDER BY flagged DESC, confidence, ruc_id, ref
LIMIT 500
"""

REVIEW_ACTIVITY = """
SELECT day AS "Dag",
       coalesce(sum(n) FILTER (WHERE action = 'accept'), 0)::int AS "Godkända",
       coalesce(sum(n) FILTER (WHERE action <> 'accept'), 0)::int AS "Ändrade",
       sum(changed)::int AS "Byte av område",
       string_agg(DISTINCT model_version, ', ') AS "Modellversion",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.review_activity
WHERE year = $year
GROUP BY day
ORDER BY day DESC
LIMIT 60
"""

CONFIDENCE_DISTRIBUTION = f"""
SELECT replace(to_char(b / 10.0, 'FM0.0') || '–' || to_char((b + 1) / 10.0, 'FM0.0'), '.', ',')
         AS "Konfidens",
       coalesce(sum(c.n) FILTER (WHERE c.area_source = 'classifier'), 0)::int AS "Klassificerat automatiskt",
       coalesce(sum(c.n) FILTER (WHERE c.area_source = 'declared'), 0)::int AS "Angivet av inrapportören",
       coalesce(sum(c.n) FILTER (WHERE c.area_source = 'override'), 0)::int AS "Ändrat av analytiker",
       {_UPDATED_TS}
FROM generate_series(0, 9) AS b
LEFT JOIN reporting.confidence_bucket c ON c.bucket_from = b / 10.0 AND c.year = $year
GROUP BY b
ORDER BY b
"""

MODEL_VERSIONS = """
SELECT model_version AS "Modellversion", sum(n)::int AS "Insatser",
       round((sum(mean_confidence * n) / nullif(sum(n), 0))::numeric, 2) AS "Medelkonfidens",
       coalesce(sum(n) FILTER (WHERE awaiting_review), 0)::int AS "Väntar på granskning",
       coalesce(sum(n) FILTER (WHERE area_source = 'override'), 0)::int AS "Ändrade",
       max(records_updated_at) AS "Senast klassificerad",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.classification
WHERE year = $year
GROUP BY model_version
ORDER BY max(records_updated_at) DESC
"""

DISAGREEMENTS = """
SELECT classified_area_sv AS "Klassificerat område", nsp_area_sv AS "Gällande område",
       area_source_sv AS "Källa", sum(n)::int AS "Antal", max(last_updated) AS "Senast uppdaterad"
FROM reporting.classification
WHERE year = $year AND classified_area <> nsp_area
GROUP BY classified_area_sv, nsp_area_sv, area_source_sv
ORDER BY sum(n) DESC, classified_area_sv
"""
