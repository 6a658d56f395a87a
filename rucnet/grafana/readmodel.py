"""The read model Grafana and the national report use: schema, role, views and reference labels.

The views themselves are created by migration 0004 (PostgreSQL only); 0007 points
``school_form_nsp`` at its count table and 0010_h24 points ``reporting_status``, ``classification``
and ``confidence_bucket`` at theirs: every view that shows a number of insatser sums a count table
of the aggregator's count spec, none counts records (``tests/integration/test_counting_views.py``
holds each to the oracle). The labels
they join come from small ``reporting.ref_*`` tables, which migration 0004 filled with a frozen copy
of shared/data/*.json; after an edit of those files ``rucnet grafana refresh-reference`` re-fills
them.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.reference import ReferenceData

SCHEMA = "reporting"
ROLE = "rucnet_grafana"

# Every view the Grafana role may read (granted by migration 0004). A migration adding a view
# appends it here and grants it; tests check this list against the database.
VIEWS: tuple[str, ...] = (
    "data_freshness",
    "report_year",
    "ruc",
    "insats_count",
    "school_form_count",
    "nsp_count",
    "national_total",
    "national_school_form",
    "national_nsp",
    "school_form_nsp",
    "reporting_status",
    "attendance",
    "classification",
    "review_queue",
    "review_activity",
    "confidence_bucket",
    "nsp_basis_count",  # migration 0009: per NSP area, what it rests on (confirmed, declared, unreviewed)
    "start_month_count",  # migration 0012_h24: per month of start (insatser that give a start date)
)

STATUS_SV = {"started": "Påbörjad", "completed": "Genomförd och uppföljd"}
AREA_SOURCE_SV = {
    "declared": "Angivet av inrapportören",
    "classifier": "Klassificerat automatiskt",
    "override": "Ändrat av analytiker",
}


def reference_rows(reference: ReferenceData) -> dict[str, list[dict[str, object]]]:
    """The rows of each ``reporting.ref_*`` table, in the order the dashboards sort by."""
    return {
        "ref_ruc": [{"ruc_id": r.id, "host": r.host, "sort_order": i} for i, r in enumerate(reference.ruc)],
        "ref_ruc_lan": [{"ruc_id": r.id, "lan_kod": kod} for r in reference.ruc for kod in r.lan],
        "ref_ruc_year": [{"ruc_id": r.id, "year": y} for r in reference.ruc for y in r.active_years],
        "ref_lan": [{"lan_kod": x.kod, "name_sv": x.name_sv, "letter": x.letter} for x in reference.lan],
        "ref_school_form_name": [
            {"school_form": s.code, "valid_from": n.valid_from, "name_sv": n.name_sv, "sort_order": i}
            for i, s in enumerate(reference.school_forms)
            for n in s.names
        ],
        "ref_nsp_area": [
            {
                "nsp_area": a.code,
                "name_sv": a.name_sv,
                "official": a.official,
                "valid_from": a.valid_from,
                "valid_to": a.valid_to,
                "sort_order": i,
            }
            for i, a in enumerate(reference.nsp_areas)
        ],
        "ref_status": [
            {"status": code, "name_sv": name, "sort_order": i}
            for i, (code, name) in enumerate(STATUS_SV.items())
        ],
        "ref_area_source": [{"area_source": code, "name_sv": name} for code, name in AREA_SOURCE_SV.items()],
    }


async def refresh_reference(conn: AsyncConnection, reference: ReferenceData) -> dict[str, int]:
    """Replace the label tables' rows with the current reference data; callers commit."""
    counts: dict[str, int] = {}
    for table, rows in reference_rows(reference).items():
        await conn.execute(text(f"DELETE FROM {SCHEMA}.{table}"))
        if rows:
            columns = list(rows[0])
            await conn.execute(
                text(
                    f"INSERT INTO {SCHEMA}.{table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
        counts[table] = len(rows)
    return counts
