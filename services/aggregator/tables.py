"""The aggregator's counting state: its tables, and the named row types the code passes around.

The count tables are built from ``counting.COUNT_SPEC`` (a new dimension or measure there is a
new column here, and the autogenerate test asks for its migration). The tables of the reporting
round (arrivals, deadlines, attendance, which RUC are active) are declared here too, so that
Alembic (``rucnet/migrate.py`` names every table module) imports tables and no routes.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, NamedTuple, get_args, get_type_hints

from sqlalchemy import Boolean, Column, Date, Float, Integer, String, Table
from sqlmodel import Field, SQLModel

from services.aggregator.counting import COUNT_SPEC, CountTable
from shared.db import UtcDateTime
from shared.events import utcnow

InsatsKey = tuple[str, int, str]  # (ruc_id, year, ref): what identifies an insats in a year


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_event"

    event_id: str = Field(primary_key=True, max_length=36)
    topic: str = Field(max_length=100)
    processed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# The reporting round: who reported when, the deadlines, attendance, which RUC take part.


class ReportArrival(SQLModel, table=True):
    __tablename__ = "report_arrival"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    first_at: dt.datetime = Field(sa_type=UtcDateTime)
    last_at: dt.datetime = Field(sa_type=UtcDateTime)


class ReportingDeadline(SQLModel, table=True):
    __tablename__ = "reporting_deadline"

    year: int = Field(primary_key=True)
    deadline: dt.date
    set_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AttendanceSummary(SQLModel, table=True):
    """The latest attendance report of one RUC and year (a later report replaces the earlier)."""

    __tablename__ = "attendance_summary"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    meetings: int
    network_size: int
    attendances: int
    event_id: str = Field(max_length=36)
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime)


class RucActivation(SQLModel, table=True):
    """An admin's decision that a RUC is (or is not) part of the network in a year."""

    __tablename__ = "ruc_activation"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    active: bool
    changed_by: str = Field(max_length=64)
    changed_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Stored(NamedTuple):
    """How a field of a named row is stored: its column's type and options."""

    type: Any
    options: dict[str, Any] = {}


def stored(type_: Any, **options: Any) -> Stored:
    return Stored(type_, options)


class InsatsRow(NamedTuple):
    """The latest version of one insats for one year: what the counts are derived from.

    The one declaration of ``insats_record``: the table is built from these fields, in this order
    (``RECORDS``), and the code passes records as these named tuples (the rebuild builds millions;
    a tuple is made in C where a model runs Python for each)."""

    ruc_id: Annotated[str, stored(String(16), primary_key=True)]
    year: Annotated[int, stored(Integer, primary_key=True)]
    ref: Annotated[str, stored(String(64), primary_key=True)]
    version: Annotated[int, stored(Integer)]
    lan_kod: Annotated[str, stored(String(2))]
    huvudman_pseudonym: Annotated[str, stored(String(32))]
    huvudman_type: Annotated[str, stored(String(16))]
    status: Annotated[str, stored(String(16))]
    school_forms: Annotated[str, stored(String)]  # JSON list of school form codes
    title: Annotated[str, stored(String(300))]
    declared_area: Annotated[str | None, stored(String(64), nullable=True)]
    classified_area: Annotated[str, stored(String(64))]
    nsp_area: Annotated[str, stored(String(64))]  # the effective area the counts use
    area_source: Annotated[str, stored(String(16))]
    confidence: Annotated[float, stored(Float)]
    needs_review: Annotated[bool, stored(Boolean)]
    model_version: Annotated[str, stored(String(64))]
    last_event_id: Annotated[str, stored(String(36))]
    updated_at: Annotated[dt.datetime, stored(UtcDateTime)]
    # the report whose version holds the record: its next version retracts what it leaves out
    # ("" for records stored before 0007, until a rebuild)
    report_id: Annotated[str, stored(String(36), index=True, server_default="")]
    participants: Annotated[int | None, stored(Integer, nullable=True)]  # optional: how many took part
    started_on: Annotated[dt.date | None, stored(Date, nullable=True)]  # optional: when it started

    @property
    def key(self) -> InsatsKey:
        return (self.ruc_id, self.year, self.ref)


def _table_of(name: str, row: type[tuple[Any, ...]]) -> Table:
    """A table whose columns are a named row's fields, stored as their ``Stored`` says."""
    columns = []
    for field, hint in get_type_hints(row, include_extras=True).items():
        how = next(m for m in get_args(hint)[1:] if isinstance(m, Stored))
        options = {"nullable": False} | how.options
        columns.append(Column(field, how.type, **options))
    return Table(name, SQLModel.metadata, *columns)


class InsatsRetraction(SQLModel, table=True):
    """An insats a later version of its report left out: not counted, and no older version of any
    report may bring it back (whatever order the events arrive in)."""

    __tablename__ = "insats_retraction"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    version: int = Field(description="the version of the record it retracted")
    report_id: str = Field(max_length=36)


class RetractionRow(NamedTuple):
    ruc_id: str
    year: int
    ref: str
    version: int
    report_id: str


class ReportVersion(SQLModel, table=True):
    """The latest version seen of each report: an older one arriving later counts nothing."""

    __tablename__ = "report_version"

    report_id: str = Field(primary_key=True, max_length=36)
    version: int


class AreaOverride(SQLModel, table=True):
    """An analyst's decision, kept apart so it holds whichever arrives first: it or the report."""

    __tablename__ = "area_override"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    nsp_area: str = Field(max_length=64)
    event_id: str = Field(max_length=36)
    occurred_at: dt.datetime = Field(sa_type=UtcDateTime)


# the key columns' widths: a record's (``InsatsRecord``) where the column holds one of its fields
_WIDTHS = {
    "ruc_id": 16,
    "lan_kod": 2,
    "status": 16,
    "school_form": 32,
    "nsp_area": 64,
    "basis": 16,
    "classified_area": 64,
    "area_source": 16,
    "declared": 5,
    "needs_review": 5,
    "model_version": 64,
    "confidence_bucket": 1,
    "huvudman": 32,
    "start_month": 7,
}


def _count_table(name: CountTable) -> Table:
    spec = COUNT_SPEC[name]
    keys: list[Column[Any]] = [Column("year", Integer, primary_key=True)]
    keys += [Column(c, String(_WIDTHS[c]), primary_key=True) for c in ("ruc_id", "lan_kod", "status")]
    keys += [Column(d.column, String(_WIDTHS[d.column]), primary_key=True) for d in spec.dimensions]
    measures = [Column(m.column, Integer, nullable=False, default=0) for m in spec.measures]
    return Table(spec.table, SQLModel.metadata, *keys, *measures)


def _table(model: type[SQLModel]) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


COUNT_TABLES: dict[CountTable, Table] = {name: _count_table(name) for name in COUNT_SPEC}
RECORDS = _table_of("insats_record", InsatsRow)
RETRACTIONS = _table(InsatsRetraction)
REPORTS = _table(ReportVersion)
OVERRIDES = _table(AreaOverride)
PROCESSED = _table(ProcessedEvent)
# Every table the counting state lives in, in the order transactions lock them (processed first).
STATE_TABLES: tuple[Table, ...] = (
    PROCESSED,
    OVERRIDES,
    REPORTS,
    RECORDS,
    RETRACTIONS,
    *COUNT_TABLES.values(),
)
