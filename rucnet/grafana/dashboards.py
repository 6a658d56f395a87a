"""The five rucnet dashboards: what Skolverket's analysts and ops look at, in Swedish.

Every SQL panel reads only ``reporting.*`` views (what the ``rucnet_grafana`` role may read) and
returns a ``Senast uppdaterad`` column: the last time the read model changed. Prometheus panels
are time series (their time axis is their freshness) or carry the last scrape time.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import CustomVariable, Dashboard, QueryVariable

from rucnet.grafana import sql_panels as q
from rucnet.grafana.board import Cell, custom_variable, dashboard, query_variable, to_json
from rucnet.grafana.panels import PG, PROM, Json, barchart, promql, sql, stat, table, timeseries
from shared.reference import ReferenceData, load_reference

FOLDER_UID = "rucnet"
FOLDER_TITLE = "RUC-nätverket"
_FRESH = " Senast uppdaterad: när läsmodellen senast ändrades (visas i panelen)."


def _year() -> QueryVariable:
    return query_variable("year", "År", PG, "SELECT year FROM reporting.report_year ORDER BY year DESC")


def _ruc() -> QueryVariable:
    return query_variable(
        "ruc",
        "RUC",
        PG,
        "SELECT ruc_id AS __value, host || ' (' || ruc_id || ')' AS __text "
        "FROM reporting.ruc ORDER BY sort_order",
        multi=True,
    )


def _status() -> CustomVariable:
    return custom_variable(
        "status",
        "Status",
        [("Genomförda och uppföljda", "completed"), ("Påbörjade", "started")],
        default="completed",
    )


def national() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat("Nyckeltal $year", "Nationella totaler för valt år." + _FRESH, [sql(q.KEY_FIGURES)]),
            )
        ],
        [
            Cell(
                12,
                11,
                barchart(
                    "Påbörjade insatser $year per skolform",
                    "PM-diagram 1. En insats kan avse flera skolformer, så summan är större än antalet "
                    "påbörjade insatser. Källa: reporting.national_school_form." + _FRESH,
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
                    "beslut, annars inrapportörens, annars klassificerarens. Källa: reporting.national_nsp."
                    + _FRESH,
                    [sql(q.COMPLETED_BY_NSP)],
                    x_field="NSP-område",
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
                    + _FRESH,
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
                    "Siffrorna i PM-diagram 1." + _FRESH,
                    [sql(q.STARTED_BY_SCHOOL_FORM_TABLE)],
                ),
            ),
            Cell(
                12,
                10,
                table(
                    "Genomförda per NSP-område (tabell)",
                    "Siffrorna i PM-diagram 2." + _FRESH,
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
        [_year()],
    )


def regions(reference: ReferenceData) -> Dashboard:
    pivot_nsp = q.pivot_school_form_by_nsp(reference)
    rows = [
        [Cell(24, 4, stat("Valda RUC $year", "Insatser i valda RUC." + _FRESH, [sql(q.REGION_KEY_FIGURES)]))],
        [
            Cell(
                12,
                10,
                table(
                    "Per RUC",
                    "Insatser per RUC (lärosäte) och status. Källa: reporting.insats_count." + _FRESH,
                    [sql(q.PER_RUC)],
                ),
            ),
            Cell(
                12,
                10,
                barchart(
                    "Insatser per RUC",
                    "Samma siffror som tabellen Per RUC." + _FRESH,
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
                    "län kan ha flera RUC. Källa: reporting.insats_count." + _FRESH,
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
                    "reporting.school_form_nsp." + _FRESH,
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
                    "Antal insatser per RUC och NSP-område. Källa: reporting.nsp_count." + _FRESH,
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
        [_year(), _ruc(), _status()],
    )


def reporting() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat(
                    "Rapportering $year",
                    "RUC som förväntas rapportera (aktiva i registret), hur många som rapporterat i tid "
                    "(före fristens slut, svensk tid) och som rapporterat närvaro." + _FRESH,
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
                    "året efter). Källa: reporting.reporting_status." + _FRESH,
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
                    "Andel förväntade RUC som rapporterat, per år." + _FRESH,
                    [sql(q.COMPLETENESS_PER_YEAR)],
                    units={"Andel (%)": "percent"},
                ),
            ),
            Cell(
                12,
                9,
                barchart(
                    "Första rapport i förhållande till fristen, $year",
                    "Dagar efter fristen per RUC som har rapporterat; negativt = före fristen." + _FRESH,
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
                    + _FRESH,
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
        [_year()],
    )


def classification() -> Dashboard:
    rows = [
        [
            Cell(
                24,
                4,
                stat(
                    "Klassificering $year",
                    "Granskningskö, andel ändrade av analytiker och konfidens." + _FRESH,
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
                    "aldrig huvudman eller text. Källa: reporting.review_queue." + _FRESH,
                    [sql(q.REVIEW_BACKLOG)],
                ),
            ),
            Cell(
                10,
                10,
                barchart(
                    "Konfidensfördelning",
                    "Antal insatser per konfidensintervall och källa "
                    "för området. Källa: reporting.confidence_bucket." + _FRESH,
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
                    "Insatser per klassificeringsmodellens version." + _FRESH,
                    [sql(q.MODEL_VERSIONS)],
                ),
            ),
            Cell(
                12,
                8,
                table(
                    "Klassificerat område ≠ gällande område",
                    "Där det gällande området skiljer "
                    "sig från klassificerarens förslag, och varför (källa)." + _FRESH,
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
                    "analytikerns namn). Källa: reporting.review_activity." + _FRESH,
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
        [_year()],
    )


def operations() -> Dashboard:
    service = query_variable(
        "service", "Tjänst", PROM, "label_values(faststream_received_messages_total, app_name)", multi=True
    )
    sel = 'app_name=~"$service"'
    live = " Tidsaxeln visar när värdena skrapades."
    rows = [
        [
            Cell(
                6,
                4,
                stat(
                    "Senast skrapad",
                    "När Prometheus senast hämtade tjänsternas mätvärden.",
                    [promql("max(timestamp(up)) * 1000", "Senast uppdaterad", instant=True)],
                    unit="dateTimeAsIso",
                ),
            ),
            Cell(
                6,
                4,
                stat(
                    "Tjänster uppe",
                    "Antal rucnet-tjänster som svarar på /metrics.",
                    [promql('sum(up{job=~"intake|classifier|aggregator"})', "Uppe", instant=True)],
                ),
            ),
            Cell(
                6,
                4,
                stat(
                    "Döda meddelanden",
                    "Totalt antal meddelanden i dead-letter-topicen sedan start.",
                    [promql("sum(rucnet_dead_letters_total) or vector(0)", "Döda", instant=True)],
                ),
            ),
            Cell(
                6,
                4,
                stat(
                    "Konsumentfördröjning",
                    "Meddelanden som väntar, summerat över partitioner.",
                    [
                        promql(
                            "sum(max by (topic, partition) (rucnet_consumer_lag)) or vector(0)",
                            "Fördröjning",
                            instant=True,
                        )
                    ],
                ),
            ),
        ],
        [
            Cell(
                12,
                8,
                timeseries(
                    "Genomströmning",
                    "Hanterade meddelanden per sekund per tjänst." + live,
                    [
                        promql(
                            f"sum by (app_name, handler) (rate(faststream_received_processed_"
                            f"messages_total{{{sel}}}[$__rate_interval]))",
                            "{{app_name}} {{handler}}",
                        )
                    ],
                    unit="ops",
                ),
            ),
            Cell(
                12,
                8,
                timeseries(
                    "Inrapportering och aggregering",
                    "Mottagna rapporter och händelser i aggregatorn per sekund." + live,
                    [
                        promql(
                            "sum(rate(rucnet_reports_accepted_total[$__rate_interval]))", "Mottagna rapporter"
                        ),
                        promql(
                            "sum by (outcome) (rate(rucnet_aggregator_events_total[$__rate_interval]))",
                            "Aggregator: {{outcome}}",
                            ref="B",
                        ),
                    ],
                    unit="ops",
                ),
            ),
        ],
        [
            Cell(
                12,
                8,
                timeseries(
                    "Konsumentfördröjning per topic",
                    "Meddelanden efter partitionens högvattenmärke efter senast hanterade meddelande." + live,
                    [promql("sum by (topic) (max by (topic, partition) (rucnet_consumer_lag))", "{{topic}}")],
                ),
            ),
            Cell(
                12,
                8,
                timeseries(
                    "Döda meddelanden per timme",
                    "Meddelanden som parkerats i dead-letter-topicen, per ursprunglig topic." + live,
                    [promql("sum by (topic) (increase(rucnet_dead_letters_total[1h]))", "{{topic}}")],
                ),
            ),
        ],
        [
            Cell(
                12,
                8,
                timeseries(
                    "Fel",
                    "Undantag vid hantering och publicering per sekund." + live,
                    [
                        promql(
                            f"sum by (app_name, handler, exception_type) (rate(faststream_"
                            f"received_processed_messages_exceptions_total{{{sel}}}"
                            f"[$__rate_interval]))",
                            "{{app_name}} {{exception_type}}",
                        ),
                        promql(
                            f"sum by (app_name, exception_type) (rate(faststream_published_"
                            f"messages_exceptions_total{{{sel}}}[$__rate_interval]))",
                            "{{app_name}} publicering {{exception_type}}",
                            ref="B",
                        ),
                    ],
                    unit="ops",
                ),
            ),
            Cell(
                12,
                8,
                timeseries(
                    "Hanteringstid (p95)",
                    "95:e percentilen av hanteringstiden per tjänst." + live,
                    [
                        promql(
                            f"histogram_quantile(0.95, sum by (le, app_name) (rate(faststream_"
                            f"received_processed_messages_duration_seconds_bucket{{{sel}}}"
                            f"[$__rate_interval])))",
                            "{{app_name}}",
                        )
                    ],
                    unit="s",
                ),
            ),
        ],
    ]
    return dashboard(
        "rucnet-drift",
        "Drift",
        "Genomströmning, konsumentfördröjning, döda meddelanden och fel, från tjänsternas /metrics.",
        rows,
        [service],
    )


def built_dashboards(reference: ReferenceData | None = None) -> dict[str, Dashboard]:
    """File name (without .json) → the SDK's dashboard builder, in the order they are listed."""
    reference = reference or load_reference()
    return {
        "01-nationell-oversikt": national(),
        "02-regioner": regions(reference),
        "03-rapportering": reporting(),
        "04-klassificering": classification(),
        "05-drift": operations(),
    }


def all_dashboards(reference: ReferenceData | None = None) -> dict[str, Json]:
    """File name (without .json) → dashboard JSON as Grafana stores it."""
    return {name: to_json(board) for name, board in built_dashboards(reference).items()}
