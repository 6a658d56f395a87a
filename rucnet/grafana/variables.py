"""What the dashboards share: their variables and the note on freshness every SQL panel carries."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import CustomVariable, QueryVariable

from rucnet.grafana.board import custom_variable, query_variable
from rucnet.grafana.panels import PG

FRESH = " Senast uppdaterad: när läsmodellen senast ändrades (visas i panelen)."


def year() -> QueryVariable:
    return query_variable("year", "År", PG, "SELECT year FROM reporting.report_year ORDER BY year DESC")


def ruc() -> QueryVariable:
    return query_variable(
        "ruc",
        "RUC",
        PG,
        "SELECT ruc_id AS __value, host || ' (' || ruc_id || ')' AS __text "
        "FROM reporting.ruc ORDER BY sort_order",
        multi=True,
    )


def status() -> CustomVariable:
    return custom_variable(
        "status",
        "Status",
        [("Genomförda och uppföljda", "completed"), ("Påbörjade", "started")],
        default="completed",
    )
