"""Grafana panels and their queries, built with grafana-foundation-sdk (the 11.4 line, as compose).

The SDK's builders are generated from Grafana's own schemas: a field Grafana 11.4 does not have
or a value outside one of its enums is a Python error here, not a blank panel on Skolverket's
screen. ``dashboards.py`` says what to show; this module says how, in the SDK's terms, and
``board.py`` places the panels on a dashboard.
"""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from grafana_foundation_sdk.builders import barchart as sdk_barchart
from grafana_foundation_sdk.builders import common as sdk_common
from grafana_foundation_sdk.builders import dashboard as sdk_dashboard
from grafana_foundation_sdk.builders import prometheus as sdk_prometheus
from grafana_foundation_sdk.builders import stat as sdk_stat
from grafana_foundation_sdk.builders import table as sdk_table
from grafana_foundation_sdk.builders import timeseries as sdk_timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import prometheus as prom_model

from rucnet.grafana.sql_query import DATASOURCE_TYPE, Sql

Json = dict[str, Any]
Panel = sdk_stat.Panel | sdk_barchart.Panel | sdk_table.Panel | sdk_timeseries.Panel
Target = Sql | sdk_prometheus.Dataquery

POSTGRES_UID = "rucnet-postgres"
PROMETHEUS_UID = "rucnet-prometheus"
PG = model.DataSourceRef(type_val=DATASOURCE_TYPE, uid=POSTGRES_UID)
PROM = model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
UPDATED = "Senast uppdaterad"
TAG = "rucnet"


def _legend() -> sdk_common.VizLegendOptions:
    return (
        sdk_common.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .calcs([])
    )


def sql(raw: str, ref: str = "A") -> Sql:
    return Sql(dedent(raw).strip()).ref_id(ref).datasource(PG)


def promql(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> sdk_prometheus.Dataquery:
    query = (
        sdk_prometheus.Dataquery()
        .ref_id(ref)
        .datasource(PROM)
        .editor_mode(prom_model.QueryEditorMode.CODE)
        .expr(expr)
        .legend_format(legend or "__auto")
    )
    return query.instant() if instant else query.range()


def _props(**properties: Any) -> list[model.DynamicConfigValue]:
    return [model.DynamicConfigValue(id_val=key, value=value) for key, value in properties.items()]


def _common(panel: Panel, title: str, description: str, targets: list[Target]) -> None:
    """What every panel has: texts, the datasource of its first target, targets, palette colours."""
    source = targets[0].build().datasource
    assert source is not None
    panel.title(title).description(description).datasource(source).targets(list(targets))
    panel.color_scheme(sdk_dashboard.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC)).mappings([])


def _units(panel: Panel, units: dict[str, str] | None) -> None:
    for name, unit in (units or {}).items():
        panel.override_by_name(name, _props(unit=unit))


def stat(
    title: str,
    description: str,
    targets: list[Target],
    units: dict[str, str] | None = None,
    unit: str = "none",
) -> sdk_stat.Panel:
    """Several numbers side by side; a ``Senast uppdaterad`` field (epoch ms) shows as a date."""
    panel = sdk_stat.Panel()
    _common(panel, title, description, targets)
    _units(panel, units)
    return (
        panel.unit(unit)
        .override_by_name(UPDATED, _props(unit="dateTimeAsIso", decimals=0))
        .reduce_options(sdk_common.ReduceDataOptions().values(False).calcs(["lastNotNull"]).fields(""))
        .orientation(common.VizOrientation.AUTO)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .color_mode(common.BigValueColorMode.NONE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .wide_layout(True)
    )


def barchart(
    title: str,
    description: str,
    targets: list[Target],
    x_field: str,
    horizontal: bool = True,
    stacked: bool = False,
) -> sdk_barchart.Panel:
    """Bars per category (``stacked``: each value column a part of one bar); the time of the last
    update stays out of the bars but is in the tooltip."""
    hidden = sdk_common.HideSeriesConfig().viz(True).legend(True).tooltip(False).build()
    panel = sdk_barchart.Panel()
    _common(panel, title, description, targets)
    return (
        panel.override_by_name(UPDATED, _props(**{"custom.hideFrom": hidden}))
        .fill_opacity(80)
        .line_width(1)
        .gradient_mode(common.GraphGradientMode.NONE)
        .axis_placement(common.AxisPlacement.AUTO)
        .orientation(common.VizOrientation.HORIZONTAL if horizontal else common.VizOrientation.VERTICAL)
        .x_field(x_field)
        .show_value(common.VisibilityMode.ALWAYS)
        .stacking(common.StackingMode.NORMAL if stacked else common.StackingMode.NONE)
        .group_width(0.7)
        .bar_width(0.9)
        .x_tick_label_rotation(0)
        .x_tick_label_spacing(0)
        .legend(_legend())
        .tooltip(
            sdk_common.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.NONE)
        )
    )


def table(
    title: str, description: str, targets: list[Target], units: dict[str, str] | None = None
) -> sdk_table.Panel:
    panel = sdk_table.Panel()
    _common(panel, title, description, targets)
    _units(panel, units)
    return (
        panel.align(common.FieldTextAlignment.AUTO)
        .cell_options(common.TableAutoCellOptions())
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .footer(sdk_common.TableFooterOptions().show(False).reducer(["sum"]))
    )


def timeseries(
    title: str, description: str, targets: list[Target], unit: str = "short"
) -> sdk_timeseries.Panel:
    panel = sdk_timeseries.Panel()
    _common(panel, title, description, targets)
    return (
        panel.unit(unit)
        .draw_style(common.GraphDrawStyle.LINE)
        .line_width(1)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .legend(_legend())
        .tooltip(
            sdk_common.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
