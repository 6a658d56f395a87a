"""The dashboards and provisioning as Grafana 11/12 reads them, checked without a Grafana binary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rucnet.grafana.dashboards import FOLDER_UID, all_dashboards
from rucnet.grafana.panels import UPDATED
from rucnet.grafana.provisioning import DASHBOARDS_PATH, ENV_VARS, expand_env, rendered_files

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
BOARDS = all_dashboards()
PANELS = [(name, panel) for name, board in BOARDS.items() for panel in board["panels"]]
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}
PANEL_TYPES = {"stat", "barchart", "table", "timeseries"}


def _provisioned_datasources() -> list[dict[str, Any]]:
    text = (DEPLOY / "provisioning" / "datasources" / "rucnet.yaml").read_text(encoding="utf-8")
    sources: list[dict[str, Any]] = yaml.safe_load(text)["datasources"]
    return sources


def _queries(panel: dict[str, Any]) -> list[str]:
    return [t.get("rawSql") or t.get("expr") or "" for t in panel["targets"]]


def test_the_committed_files_are_what_generate_writes() -> None:
    for rel, content in rendered_files().items():
        path = DEPLOY / rel
        assert path.exists(), f"{rel} missing: run `rucnet grafana generate`"
        assert path.read_text(encoding="utf-8") == content, f"{rel} is stale: run `rucnet grafana generate`"
    committed = {p.name for p in (DEPLOY / "dashboards").glob("*.json")}
    assert committed == {f"{name}.json" for name in BOARDS}


def test_there_are_five_dashboards_with_swedish_titles_and_unique_uids() -> None:
    titles = [b["title"] for b in BOARDS.values()]
    assert titles == ["Nationell översikt", "Regioner", "Rapportering", "Klassificering", "Drift"]
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(set(uids)) == len(uids)
    assert all(re.fullmatch(r"[a-z0-9-]{1,40}", uid) for uid in uids)


@pytest.mark.parametrize("name", list(BOARDS))
def test_a_dashboard_has_the_structure_grafana_stores(name: str) -> None:
    board = BOARDS[name]
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time", "tags"):
        assert key in board
    assert board["schemaVersion"] >= 39
    assert "id" not in board  # provisioning and the API assign ids; uids identify
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
    json.dumps(board)  # serialisable as is


@pytest.mark.parametrize("name", list(BOARDS))
def test_panels_sit_on_the_grid_without_overlapping(name: str) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in BOARDS[name]["panels"]:
        pos = panel["gridPos"]
        assert pos["w"] > 0
        assert pos["h"] > 0
        assert pos["x"] >= 0
        assert pos["y"] >= 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[f"{n}:{p['title']}" for n, p in PANELS])
def test_a_panel_uses_a_provisioned_datasource_and_defined_variables(
    name: str, panel: dict[str, Any]
) -> None:
    assert panel["type"] in PANEL_TYPES
    uids = {ds["uid"]: ds["type"] for ds in _provisioned_datasources()}
    for ref in [panel["datasource"]] + [t["datasource"] for t in panel["targets"]]:
        assert uids.get(ref["uid"]) == ref["type"], f"{ref} is not provisioned"
    defined = {v["name"] for v in BOARDS[name]["templating"]["list"]} | BUILTIN_VARIABLES
    text = " ".join([panel["title"], *_queries(panel)])
    used = set(re.findall(r"\$\{?(\w+)", text))
    assert used <= defined, f"undefined variables {used - defined}"
    assert panel["description"], "every panel says what it shows"


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[f"{n}:{p['title']}" for n, p in PANELS])
def test_a_panel_shows_when_its_data_was_last_updated(name: str, panel: dict[str, Any]) -> None:
    for query in _queries(panel):
        if panel["datasource"]["type"] == "prometheus":
            # Time series carry their time axis; a stat shows the scrape time or is beside it.
            assert panel["type"] == "timeseries" or "Senast" in panel["title"] or name == "05-drift"
        else:
            assert f'AS "{UPDATED}"' in query, f"{panel['title']} lacks a {UPDATED} column"


@pytest.mark.parametrize(("name", "panel"), PANELS, ids=[f"{n}:{p['title']}" for n, p in PANELS])
def test_sql_panels_read_only_reporting_views(name: str, panel: dict[str, Any]) -> None:
    for target in panel["targets"]:
        if "rawSql" not in target:
            continue
        relations = re.findall(r"(?<!epoch )\b(?:FROM|JOIN)\s+([\w.]+)", target["rawSql"], flags=re.I)
        assert relations
        for relation in relations:
            assert relation.startswith("reporting.") or relation == "generate_series", relation


def test_variables_have_the_fields_grafana_needs() -> None:
    for board in BOARDS.values():
        for variable in board["templating"]["list"]:
            assert {"name", "type", "query", "label"} <= set(variable)
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] in {ds["uid"] for ds in _provisioned_datasources()}


def test_the_datasource_file_is_in_the_current_provisioning_format() -> None:
    data = yaml.safe_load(
        (DEPLOY / "provisioning" / "datasources" / "rucnet.yaml").read_text(encoding="utf-8")
    )
    assert data["apiVersion"] == 1
    pg, prom = data["datasources"]
    assert pg["type"] == "grafana-postgresql-datasource"
    assert pg["uid"] == "rucnet-postgres"
    assert set(pg["jsonData"]) >= {"database", "sslmode"}
    assert "database" not in pg
    assert "password" not in pg
    assert pg["secureJsonData"] == {"password": "$RUCNET_GRAFANA_DB_PASSWORD"}
    assert prom["type"] == "prometheus"
    assert prom["uid"] == "rucnet-prometheus"
    placeholders = set(re.findall(r"\$(\w+)", json.dumps(data)))
    assert placeholders == set(ENV_VARS)


def test_env_placeholders_expand_like_grafana_does() -> None:
    env = {"RUCNET_GRAFANA_DB_HOST": "db:5432", "X": "x"}
    assert expand_env({"url": "$RUCNET_GRAFANA_DB_HOST", "l": ["${X}/a"]}, env) == {
        "url": "db:5432",
        "l": ["x/a"],
    }


def test_the_dashboard_provider_reads_the_mounted_directory() -> None:
    data = yaml.safe_load(
        (DEPLOY / "provisioning" / "dashboards" / "rucnet.yaml").read_text(encoding="utf-8")
    )
    assert data["apiVersion"] == 1
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == DASHBOARDS_PATH == "/var/lib/grafana/dashboards"
    assert provider["folderUid"] == FOLDER_UID
