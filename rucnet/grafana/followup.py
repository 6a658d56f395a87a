"""Following the reporting round: completeness and timeliness, and the NSP classification."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from rucnet.grafana import sql_panels as q
from rucnet.grafana.board import Cell, dashboard
from rucnet.grafana.panels import barchart, sql, stat, table
from rucnet.grafana.variables import FRESH, year


def reporting() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat(
                    "Rapportering $year",
                    "RUC som förväntas rapportera (aktiva i registret), hur många som rapporterat i tid "
                    "(före fristens slut, svensk tid) och som rapporterat närvaro." + FRESH,
                    [sql(q.REPORTING_KEY_FIGURES)],
                ),
            )
        ],
        [
            Cell(
                24,
                10,
                table(
                    "Rapportering per RUC $year",
                    "Fullständighet och tidsmässighet: om RUC har rapporterat, hur mycket, när den "
                    "första rapporten kom och hur det förhåller sig till fristen (standard 31 januari "
                    "året efter). Källa: reporting.reporting_status." + FRESH,
                    [sql(q.REPORTING_PER_RUC)],
                ),
            )
        ],
        [
            Cell(
                12,
                9,
                table(
                    "Fullständighet per år",
                    "Andel förväntade RUC som rapporterat, per år." + FRESH,
                    [sql(q.COMPLETENESS_PER_YEAR)],
                    units={"Andel (%)": "percent"},
                ),
            ),
            Cell(
                12,
                9,
                barchart(
                    "Första rapport i förhållande till fristen, $year",
                    "Dagar efter fristen per RUC som har rapporterat; negativt = före fristen." + FRESH,
                    [sql(q.TIMELINESS_CHART)],
                    x_field="Lärosäte",
                ),
            ),
        ],
        [
            Cell(
                24,
                9,
                table(
                    "Närvaro på nätverksträffar $year",
                    "Del 1 av RUC:ernas rapport: antal träffar, huvudmän i nätverket och närvarograd "
                    "(närvarande / möjliga). Tomt = ingen närvarorapport. Källa: reporting.attendance."
                    + FRESH,
                    [sql(q.ATTENDANCE)],
                    units={"Närvarograd (%)": "percent"},
                ),
            )
        ],
    ]
    return dashboard(
        "rucnet-rapportering",
        "Rapportering",
        "Fullständighet, tidsmässighet och närvaro i RUC:ernas årliga rapportering.",
        rows,
        [year()],
    )


def classification() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat(
                    "Klassificering $year",
                    "Granskningskö, andel ändrade av analytiker och konfidens." + FRESH,
                    [sql(q.CLASSIFICATION_KEY_FIGURES)],
                    units={"Ändrade av analytiker (%)": "percent", "Angivna av inrapportören (%)": "percent"},
                ),
            )
        ],
        [
            Cell(
                14,
                10,
                table(
                    "Granskningskö",
                    "Klassificerarens ogranskade förslag, flaggade (under granskningströskeln) och "
                    "lägst konfidens först (högst 500 rader). Endast RUC:ens egen referens visas, "
                    "aldrig huvudman eller text. Källa: reporting.review_queue." + FRESH,
                    [sql(q.REVIEW_BACKLOG)],
                ),
            ),
            Cell(
                10,
                10,
                barchart(
                    "Konfidensfördelning",
                    "Antal insatser per konfidensintervall och källa "
                    "för området. Källa: reporting.confidence_bucket." + FRESH,
                    [sql(q.CONFIDENCE_DISTRIBUTION)],
                    x_field="Konfidens",
                    horizontal=False,
                ),
            ),
        ],
        [
            Cell(
                12,
                8,
                table(
                    "Modellversioner",
                    "Insatser per klassificeringsmodellens version." + FRESH,
                    [sql(q.MODEL_VERSIONS)],
                ),
            ),
            Cell(
                12,
                8,
                table(
                    "Klassificerat område ≠ gällande område",
                    "Där det gällande området skiljer "
                    "sig från klassificerarens förslag, och varför (källa)." + FRESH,
                    [sql(q.DISAGREEMENTS)],
                ),
            ),
        ],
        [
            Cell(
                24,
                8,
                table(
                    "Granskningar per dag",
                    "Analytikernas beslut per dag: godkända förslag och ändrade områden (utan "
                    "analytikerns namn). Källa: reporting.review_activity." + FRESH,
                    [sql(q.REVIEW_ACTIVITY)],
                ),
            )
        ],
    ]
    return dashboard(
        "rucnet-klassificering",
        "Klassificering",
        "NSP-klassificeringen: granskningskö, ändringar, konfidens och modellversion.",
        rows,
        [year()],
    )
