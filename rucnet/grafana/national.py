"""Skolverket's national figures (the PM's two charts) and the regional breakdowns."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from rucnet.grafana import sql_panels as q
from rucnet.grafana.board import Cell, dashboard
from rucnet.grafana.panels import barchart, sql, stat, table
from rucnet.grafana.variables import FRESH, ruc, status, year
from shared.reference import ReferenceData


def national() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat("Nyckeltal $year", "Nationella totaler för valt år." + FRESH, [sql(q.KEY_FIGURES)]),
            )
        ],
        [
            Cell(
                12,
                11,
                barchart(
                    "Påbörjade insatser $year per skolform",
                    "PM-diagram 1. En insats kan avse flera skolformer, så summan är större än antalet "
                    "påbörjade insatser. Källa: reporting.national_school_form." + FRESH,
                    [sql(q.STARTED_BY_SCHOOL_FORM)],
                    x_field="Skolform",
                ),
            ),
            Cell(
                12,
                11,
                barchart(
                    "Genomförda och uppföljda insatser $year per NSP-område",
                    "PM-diagram 2. Varje genomförd insats räknas under ett NSP-område: analytikerns "
                    "beslut, annars inrapportörens, annars klassificerarens. Stapeln är delad efter vad "
                    "området vilar på, så att det syns hur mycket som är klassificerarens ogranskade "
                    "förslag. Källa: reporting.national_nsp och reporting.nsp_basis_count." + FRESH,
                    [sql(q.COMPLETED_BY_NSP)],
                    x_field="NSP-område",
                    stacked=True,
                ),
            ),
        ],
        [
            Cell(
                24,
                8,
                barchart(
                    "Utveckling över år",
                    "Påbörjade och genomförda insatser per rapportår. Källa: reporting.national_total."
                    + FRESH,
                    [sql(q.TREND)],
                    x_field="År",
                    horizontal=False,
                ),
            )
        ],
        [
            Cell(
                12,
                10,
                table(
                    "Påbörjade per skolform (tabell)",
                    "Siffrorna i PM-diagram 1." + FRESH,
                    [sql(q.STARTED_BY_SCHOOL_FORM_TABLE)],
                ),
            ),
            Cell(
                12,
                10,
                table(
                    "Genomförda per NSP-område (tabell)",
                    "Siffrorna i PM-diagram 2." + FRESH,
                    [sql(q.COMPLETED_BY_NSP_TABLE)],
                ),
            ),
        ],
    ]
    return dashboard(
        "rucnet-nationell",
        "Nationell översikt",
        "Skolverkets nationella siffror: PM:ets två diagram för valt år, totaler och utveckling över år.",
        rows,
        [year()],
    )


def regions(reference: ReferenceData) -> Dashboard:
    pivot_nsp = q.pivot_school_form_by_nsp(reference)
    rows = [
        [Cell(24, 4, stat("Valda RUC $year", "Insatser i valda RUC." + FRESH, [sql(q.REGION_KEY_FIGURES)]))],
        [
            Cell(
                12,
                10,
                table(
                    "Per RUC",
                    "Insatser per RUC (lärosäte) och status. Källa: reporting.insats_count." + FRESH,
                    [sql(q.PER_RUC)],
                ),
            ),
            Cell(
                12,
                10,
                barchart(
                    "Insatser per RUC",
                    "Samma siffror som tabellen Per RUC." + FRESH,
                    [sql(q.PER_RUC_CHART)],
                    x_field="Lärosäte",
                ),
            ),
        ],
        [
            Cell(
                24,
                9,
                table(
                    "Per län",
                    "Insatser per huvudmannens län. En RUC kan verka i flera län och ett "
                    "län kan ha flera RUC. Källa: reporting.insats_count." + FRESH,
                    [sql(q.PER_LAN)],
                ),
            ),
        ],
        [
            Cell(
                24,
                9,
                table(
                    "Skolform × NSP-område ($status)",
                    "Antal insatser per skolform och NSP-område "
                    "för valda RUC; en insats räknas under varje skolform den avser. Källa: "
                    "reporting.school_form_nsp." + FRESH,
                    [sql(pivot_nsp)],
                ),
            ),
        ],
        [
            Cell(
                24,
                9,
                table(
                    "NSP-område per RUC ($status)",
                    "Antal insatser per RUC och NSP-område. Källa: reporting.nsp_count." + FRESH,
                    [sql(q.pivot_ruc_by_nsp(reference))],
                ),
            ),
        ],
    ]
    return dashboard(
        "rucnet-regioner",
        "Regioner",
        "Insatser per RUC och per län, skolform × NSP-område, för valt år och valda RUC.",
        rows,
        [year(), ruc(), status()],
    )
