"""A typed query for Grafana's PostgreSQL datasource, in the SDK's own shape.

grafana-foundation-sdk 11.4 ships query types for Prometheus, Loki, BigQuery and others but none
for ``grafana-postgresql-datasource``. This one follows the SDK's convention (a ``Dataquery`` model
with ``to_json``/``from_json``, a builder, a variant registered with the SDK's runtime), with the
fields of Grafana's ``SQLQuery`` that the dashboards use, so panels hold typed targets and parsing a
dashboard back gives ``SqlQuery`` objects instead of the SDK's untyped ``UnknownDataquery``.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE_TYPE = "grafana-postgresql-datasource"


class SqlFormat(enum.StrEnum):
    TIME_SERIES = "time_series"
    TABLE = "table"


class SqlEditorMode(enum.StrEnum):
    BUILDER = "builder"
    CODE = "code"


class SqlQuery(cogvariants.Dataquery):
    def __init__(
        self,
        raw_sql: str = "",
        ref_id: str = "",
        datasource: dashboard.DataSourceRef | None = None,
        format_val: SqlFormat = SqlFormat.TABLE,
        editor_mode: SqlEditorMode = SqlEditorMode.CODE,
        raw_query: bool = True,
    ) -> None:
        self.raw_sql = raw_sql
        self.ref_id = ref_id
        self.datasource = datasource
        self.format_val = format_val
        self.editor_mode = editor_mode
        self.raw_query = raw_query

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {"refId": self.ref_id}
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        payload |= {
            "editorMode": self.editor_mode,
            "format": self.format_val,
            "rawQuery": self.raw_query,
            "rawSql": self.raw_sql,
        }
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        source = data.get("datasource")
        return cls(
            raw_sql=data.get("rawSql", ""),
            ref_id=data.get("refId", ""),
            datasource=dashboard.DataSourceRef.from_json(source) if source is not None else None,
            format_val=SqlFormat(data.get("format", SqlFormat.TABLE)),
            editor_mode=SqlEditorMode(data.get("editorMode", SqlEditorMode.CODE)),
            raw_query=data.get("rawQuery", True),
        )


class Sql(cogbuilder.Builder[SqlQuery]):
    """``Sql(raw).ref_id("A").datasource(ref)``: a raw SQL target returning a table."""

    def __init__(self, raw_sql: str) -> None:
        self._internal = SqlQuery(raw_sql=raw_sql)

    def build(self) -> SqlQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def datasource(self, datasource: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self

    def format(self, format_val: SqlFormat) -> Self:
        self._internal.format_val = format_val
        return self


def register_variant() -> None:
    """Let the SDK's parser turn PostgreSQL targets into ``SqlQuery`` (idempotent)."""
    cogruntime.register_dataquery_variant(
        cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=SqlQuery.from_json)
    )
