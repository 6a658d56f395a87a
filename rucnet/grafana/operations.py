"""Ops' dashboard: the services' own metrics from Prometheus (throughput, lag, dead letters, errors)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from rucnet.grafana.board import Cell, dashboard, query_variable
from rucnet.grafana.panels import PROM, promql, stat, timeseries


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
