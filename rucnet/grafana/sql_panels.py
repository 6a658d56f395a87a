"""The SQL behind every PostgreSQL panel: reads ``reporting.*`` views only.

Grafana substitutes ``$year`` (a number), ``$status`` (a code, quoted here) and ``$ruc`` (a
multi-value, which Grafana quotes and joins). Every query returns a ``Senast uppdaterad`` column.
"""

from __future__ import annotations

from rucnet.grafana.readmodel import STATUS_SV
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


def _started_by_school_form(with_code: bool) -> str:
    code = 'school_form AS "Kod", ' if with_code else ""
    return f"""
SELECT {code}school_form_sv AS "Skolform", n AS "Påbörjade insatser",
       last_updated AS "Senast uppdaterad"
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


def _completed_by_nsp(with_code: bool) -> str:
    """Completed insatser per area, split by what the area rests on (the table adds code and total)."""
    code = 't.nsp_area AS "Kod", ' if with_code else ""
    total = ' t.n AS "Genomförda och uppföljda insatser",' if with_code else ""
    return f"""
SELECT {code}t.nsp_area_sv AS "NSP-område",{total}
{_BASIS_SPLIT},
       t.last_updated AS "Senast uppdaterad"
{_COMPLETED_BY_BASIS}"""


STARTED_BY_SCHOOL_FORM = _started_by_school_form(with_code=False)
COMPLETED_BY_NSP = _completed_by_nsp(with_code=False)
STARTED_BY_SCHOOL_FORM_TABLE = _started_by_school_form(with_code=True)
COMPLETED_BY_NSP_TABLE = _completed_by_nsp(with_code=True)


def per_status(alias: str = "", names: tuple[str, str] = ("Påbörjade", "Genomförda och uppföljda")) -> str:
    """One column per status: the counts' ``n`` summed over the status's rows (a pivot, not a count)."""
    c = f"{alias}." if alias else ""
    return ",\n       ".join(
        f"coalesce(sum({c}n) FILTER (WHERE {c}status = '{code}'), 0)::int AS \"{name}\""
        for code, name in zip(STATUS_SV, names, strict=True)
    )


PARTICIPANTS = f"""
SELECT round(participants::numeric / nullif(participants_reported, 0), 1) AS "Deltagare per genomförd insats",
       participants AS "Deltagare (summa)",
       participants_reported AS "Genomförda insatser med antal deltagare",
       {_UPDATED_MS}
FROM reporting.national_total
WHERE year = $year AND status = 'completed'
"""

# every month of the year (zeros too), and any month outside it an insats started in
STARTED_BY_START_MONTH = f"""
SELECT m.start_month AS "Startmånad", coalesce(sum(c.n), 0)::int AS "Påbörjade insatser",
       {_UPDATED_TS}
FROM (
    SELECT to_char(make_date($year, k, 1), 'YYYY-MM') AS start_month FROM generate_series(1, 12) AS k
    UNION SELECT start_month FROM reporting.start_month_count WHERE year = $year AND status = 'started'
) m
LEFT JOIN reporting.start_month_count c
       ON c.start_month = m.start_month AND c.year = $year AND c.status = 'started'
GROUP BY m.start_month
ORDER BY m.start_month
"""

TREND = f"""
SELECT year::text AS "År",
       {per_status()},
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.national_total
GROUP BY year
ORDER BY year
"""

REGION_KEY_FIGURES = f"""
SELECT {per_status(names=("Påbörjade insatser", "Genomförda och uppföljda"))},
       count(DISTINCT ruc_id)::int AS "RUC med insatser",
       {_UPDATED_MS}
FROM reporting.insats_count
WHERE year = $year AND ruc_id IN ($ruc)
"""


def _per_ruc(chart: bool) -> str:
    """Per RUC of the selection: a table (id, host, län) or a chart (host only)."""
    table = 'r.ruc_id AS "RUC", r.host AS "Lärosäte", r.lan_names AS "Län"'
    shown = 'r.host AS "Lärosäte"' if chart else table
    grouped = "r.host, r.sort_order" if chart else "r.ruc_id, r.host, r.lan_names, r.sort_order"
    return f"""
SELECT {shown},
       {per_status("c")},
       {_UPDATED_TS}
FROM reporting.ruc r
LEFT JOIN reporting.insats_count c ON c.ruc_id = r.ruc_id AND c.year = $year
WHERE r.ruc_id IN ($ruc)
GROUP BY {grouped}
ORDER BY r.sort_order
"""


PER_RUC = _per_ruc(chart=False)
PER_RUC_CHART = _per_ruc(chart=True)

PER_LAN = f"""
SELECT lan_kod AS "Länskod", lan_name AS "Län",
       {per_status()},
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


def _pivot_by_nsp(reference: ReferenceData, row: str, view: str, group_by: str, order_by: str) -> str:
    """Rows of ``view`` (a ``row`` each), a column per NSP area, for the chosen status and RUC."""
    return f"""
SELECT {row},
       {_nsp_columns(reference)},
       sum(n)::int AS "Totalt",
       max(last_updated) AS "Senast uppdaterad"
FROM reporting.{view}
WHERE year = $year AND status = '$status' AND ruc_id IN ($ruc)
GROUP BY {group_by}
ORDER BY {order_by}
"""


def pivot_school_form_by_nsp(reference: ReferenceData) -> str:
    return _pivot_by_nsp(
        reference, 'school_form_sv AS "Skolform"', "school_form_nsp", "school_form_sv, school_form_order",
        "school_form_order",
    )  # fmt: skip


def pivot_ruc_by_nsp(reference: ReferenceData) -> str:
    return _pivot_by_nsp(reference, 'ruc_name AS "Lärosäte"', "nsp_count", "ruc_id, ruc_name", "ruc_name")


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
