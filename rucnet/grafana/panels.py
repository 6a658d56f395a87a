"""Grafana dashboard JSON built in code: datasources, targets, panels, variables and layout.

Plain dictionaries in the shape Grafana 11/12 stores (schemaVersion 39); the dashboards module
says what to show, this one how Grafana wants it written.
"""

from __future__ import annotations

from dataclasses import dataclass
from textwrap import dedent
from typing import Any

Json = dict[str, Any]

POSTGRES_UID = "rucnet-postgres"
PROMETHEUS_UID = "rucnet-prometheus"
PG: Json = {"type": "grafana-postgresql-datasource", "uid": POSTGRES_UID}
PROM: Json = {"type": "prometheus", "uid": PROMETHEUS_UID}
SCHEMA_VERSION = 39
UPDATED = "Senast uppdaterad"
TAG = "rucnet"
GRID_WIDTH = 24


def sql(raw: str, ref: str = "A") -> Json:
    return {
        "refId": ref,
        "datasource": PG,
        "editorMode": "code",
        "format": "table",
        "rawQuery": True,
        "rawSql": dedent(raw).strip(),
    }


def promql(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> Json:
    return {
        "refId": ref,
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
    }


def _by_name(name: str, **properties: Any) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def _field_config(unit: str | None = None, overrides: list[Json] | None = None, **custom: Any) -> Json:
    defaults: Json = {"color": {"mode": "palette-classic"}, "custom": custom, "mappings": []}
    if unit:
        defaults["unit"] = unit
    return {"defaults": defaults, "overrides": overrides or []}


def _panel(kind: str, title: str, description: str, targets: list[Json], **rest: Any) -> Json:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        **rest,
    }


def stat(
    title: str, description: str, targets: list[Json], units: dict[str, str] | None = None, unit: str = "none"
) -> Json:
    """Several numbers side by side; a ``Senast uppdaterad`` field (epoch ms) shows as a date."""
    overrides = [_by_name(name, unit=u) for name, u in (units or {}).items()]
    overrides.append(_by_name(UPDATED, unit="dateTimeAsIso", decimals=0))
    return _panel(
        "stat",
        title,
        description,
        targets,
        fieldConfig=_field_config(unit=unit, overrides=overrides),
        options={
            "reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
            "orientation": "auto",
            "textMode": "value_and_name",
            "colorMode": "none",
            "graphMode": "none",
            "justifyMode": "auto",
            "wideLayout": True,
        },
    )


def barchart(
    title: str, description: str, targets: list[Json], x_field: str, horizontal: bool = True
) -> Json:
    """Bars per category; the time of the last update stays out of the bars but is in the tooltip."""
    hidden = _by_name(UPDATED, **{"custom.hideFrom": {"viz": True, "legend": True, "tooltip": False}})
    return _panel(
        "barchart",
        title,
        description,
        targets,
        fieldConfig=_field_config(
            overrides=[hidden], fillOpacity=80, lineWidth=1, gradientMode="none", axisPlacement="auto"
        ),
        options={
            "orientation": "horizontal" if horizontal else "vertical",
            "xField": x_field,
            "showValue": "always",
            "stacking": "none",
            "groupWidth": 0.7,
            "barWidth": 0.9,
            "xTickLabelRotation": 0,
            "xTickLabelSpacing": 0,
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "multi", "sort": "none"},
        },
    )


def table(title: str, description: str, targets: list[Json], units: dict[str, str] | None = None) -> Json:
    overrides = [_by_name(name, unit=u) for name, u in (units or {}).items()]
    return _panel(
        "table",
        title,
        description,
        targets,
        fieldConfig=_field_config(overrides=overrides, align="auto", cellOptions={"type": "auto"}),
        options={"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}},
    )


def timeseries(title: str, description: str, targets: list[Json], unit: str = "short") -> Json:
    return _panel(
        "timeseries",
        title,
        description,
        targets,
        fieldConfig=_field_config(
            unit=unit, drawStyle="line", lineWidth=1, fillOpacity=10, showPoints="never", spanNulls=False
        ),
        options={
            "legend": {"showLegend": True, "displayMode": "list", "placement": "bottom", "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


def query_variable(name: str, label: str, datasource: Json, query: str, multi: bool = False) -> Json:
    variable: Json = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": datasource,
        "query": query,
        "definition": query,
        "refresh": 1,
        "sort": 0,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }
    if multi:
        variable["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return variable


def custom_variable(name: str, label: str, options: list[tuple[str, str]], default: str) -> Json:
    """A fixed list of (text, value); Grafana writes it as ``text : value`` pairs."""
    text = {v: t for t, v in options}[default]
    return {
        "type": "custom",
        "name": name,
        "label": label,
        "query": ",".join(f"{t} : {v}" for t, v in options),
        "current": {"selected": True, "text": text, "value": default},
        "options": [{"selected": v == default, "text": t, "value": v} for t, v in options],
        "multi": False,
        "includeAll": False,
        "hide": 0,
    }


@dataclass(frozen=True)
class Cell:
    """A panel with its size in grid units (24 across)."""

    width: int
    height: int
    panel: Json


def layout(rows: list[list[Cell]]) -> list[Json]:
    """Place rows of panels top to bottom, left to right, and number them."""
    panels: list[Json] = []
    y = 0
    for row in rows:
        x = 0
        for cell in row:
            if x + cell.width > GRID_WIDTH:
                raise ValueError(f"row too wide at {cell.panel['title']!r}")
            panel = {"id": len(panels) + 1, "gridPos": {"x": x, "y": y, "w": cell.width, "h": cell.height}}
            panels.append(panel | cell.panel)
            x += cell.width
        y += max(cell.height for cell in row)
    return panels


def dashboard(uid: str, title: str, description: str, rows: list[list[Cell]], variables: list[Json]) -> Json:
    return {
        "id": None,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "editable": False,
        "graphTooltip": 1,
        "timezone": "browser",
        "weekStart": "monday",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "5m",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "title": "rucnet",
                "tags": [TAG],
                "asDropdown": True,
                "includeVars": False,
                "keepTime": True,
                "targetBlank": False,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables},
        "panels": layout(rows),
    }
