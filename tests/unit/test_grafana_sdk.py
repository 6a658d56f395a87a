"""The provisioned dashboards against grafana-foundation-sdk's models (Grafana 11.4's schemas)."""

from __future__ import annotations

import copy
import json
import re
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import barchart, prometheus, stat, table, timeseries

from rucnet.grafana import board, panels
from rucnet.grafana.dashboards import all_dashboards
from rucnet.grafana.sql_query import SqlQuery

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
OPTIONS = {
    "stat": stat.Options,
    "barchart": barchart.Options,
    "table": table.Options,
    "timeseries": timeseries.Options,
}
QUERIES = {"grafana-postgresql-datasource": SqlQuery, "prometheus": prometheus.Dataquery}


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _round_trip(data: dict[str, Any]) -> dict[str, Any]:
    back: dict[str, Any] = json.loads(json.dumps(board.from_json(data), cls=JSONEncoder))
    return back


def test_the_sdk_is_the_line_of_the_grafana_compose_runs() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    grafana = re.fullmatch(r"grafana/grafana:(\d+\.\d+)\.\d+", compose["services"]["grafana"]["image"])
    assert grafana is not None
    assert version("grafana-foundation-sdk").split("!")[1].startswith(grafana.group(1) + ".")


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_a_provisioned_dashboard_round_trips_through_the_sdks_models(path: Path) -> None:
    data = _load(path)
    assert _round_trip(data) == data


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_panel_parses_into_typed_options_and_queries(path: Path) -> None:
    parsed = board.from_json(_load(path))
    assert parsed.panels
    for panel in parsed.panels:
        assert isinstance(panel.options, OPTIONS[panel.type_val]), panel.title
        assert panel.datasource is not None
        assert panel.targets
        for target in panel.targets:
            assert not isinstance(target, UnknownDataquery), panel.title
            assert isinstance(target, QUERIES[str(panel.datasource.type_val)]), panel.title


def test_a_misspelt_field_does_not_survive_the_round_trip() -> None:
    """The negative control: the SDK keeps only what Grafana's schema has."""
    data = copy.deepcopy(all_dashboards()["01-nationell-oversikt"])
    table_panel = next(p for p in data["panels"] if p["type"] == "table")
    table_panel["options"]["showHedaer"] = True
    assert _round_trip(data) != data


def test_a_row_wider_than_the_grid_is_refused() -> None:
    def cell(width: int) -> board.Cell:
        return board.Cell(
            width, 4, panels.table("Tabell", "En tabell.", [panels.sql('SELECT 1 AS "Senast uppdaterad"')])
        )

    with pytest.raises(ValueError, match="row too wide"):
        board.layout([[cell(12), cell(13)]])
