"""Dashboards with grafana-foundation-sdk: variables, the grid, the dashboard itself and its JSON.

``panels.py`` builds what goes on a dashboard; this module places it and writes (or reads back)
the JSON Grafana stores, with the SDK's encoder and parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import dashboard as sdk_dashboard
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from rucnet.grafana.panels import TAG, Json, Panel
from rucnet.grafana.sql_query import register_variant

GRID_WIDTH = 24


def query_variable(
    name: str, label: str, datasource: model.DataSourceRef, query: str, multi: bool = False
) -> sdk_dashboard.QueryVariable:
    variable = (
        sdk_dashboard.QueryVariable(name)
        .label(label)
        .datasource(datasource)
        .query(query)
        .refresh(model.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(model.VariableSort.DISABLED)
        .multi(multi)
        .include_all(multi)
        .options([])
        .hide(model.VariableHide.DONT_HIDE)
    )
    if multi:
        variable.current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    return variable


def custom_variable(
    name: str, label: str, options: list[tuple[str, str]], default: str
) -> sdk_dashboard.CustomVariable:
    """A fixed list of (text, value); Grafana writes it as ``text : value`` pairs."""
    text = {v: t for t, v in options}[default]
    return (
        sdk_dashboard.CustomVariable(name)
        .label(label)
        .values(",".join(f"{t} : {v}" for t, v in options))
        .current(model.VariableOption(selected=True, text=text, value=default))
        .options([model.VariableOption(selected=v == default, text=t, value=v) for t, v in options])
        .multi(False)
        .include_all(False)
        .hide(model.VariableHide.DONT_HIDE)
    )


@dataclass(frozen=True)
class Cell:
    """A panel with its size in grid units (24 across)."""

    width: int
    height: int
    panel: Panel


def layout(rows: list[list[Cell]]) -> list[Panel]:
    """Place rows of panels top to bottom, left to right, and number them."""
    panels: list[Panel] = []
    y = 0
    for row in rows:
        x = 0
        for cell in row:
            if x + cell.width > GRID_WIDTH:
                raise ValueError(f"row too wide at {cell.panel.build().title!r}")
            position = model.GridPos(x=x, y=y, w=cell.width, h=cell.height)
            panels.append(cell.panel.id(len(panels) + 1).grid_pos(position))
            x += cell.width
        y += max(cell.height for cell in row)
    return panels


def dashboard(
    uid: str, title: str, description: str, rows: list[list[Cell]], variables: list[Any]
) -> sdk_dashboard.Dashboard:
    board = (
        sdk_dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([TAG])
        .readonly()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .timezone("browser")
        .week_start("monday")
        .fiscal_year_start_month(0)
        .live_now(False)
        .refresh("5m")
        .version(1)
        .time("now-24h", "now")
        .link(
            sdk_dashboard.DashboardLink("rucnet")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags([TAG])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
            .target_blank(False)
            .icon("external link")
            .tooltip("")
            .url("")
        )
        .variables(variables)
        .annotations([])
    )
    for panel in layout(rows):
        board.with_panel(panel)
    return board


def to_json(board: sdk_dashboard.Dashboard) -> Json:
    """The dashboard as Grafana stores it: the SDK's own encoding, as plain JSON values."""
    encoded: Json = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def from_json(data: Json) -> model.Dashboard:
    """Parse dashboard JSON into the SDK's typed models (panel options, field config, queries)."""
    plugins.register_default_plugins()
    register_variant()
    return model.Dashboard.from_json(data)
