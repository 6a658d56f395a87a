"""The aggregator's counting state: its tables, and the named row types the code passes around.

The count tables are built from ``counting.COUNT_SPEC`` (a new dimension or measure there is a
new column here, and the autogenerate test asks for its migration). The aggregator's other
tables live beside the code that owns them (``attendance.py``, ``completeness.py``, ``ruc_activation.py``);
``rucnet/migrate.py`` names every table module, for Alembic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from sqlalchemy import Column, Integer, String, Table
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


class InsatsRecord(SQLModel, table=True):
    """The latest version of one insats for one year: what the counts are derived from."""

    __tablename__ = "insats_record"

    ruc_id: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    ref: str = Field(primary_key=True, max_length=64)
    version: int
    lan_kod: str = Field(max_length=2)
    huvudman_pseudonym: str = Field(max_length=32)
    huvudman_type: str = Field(max_length=16)
    status: str = Field(max_length=16)
    school_forms: str = Field(description="JSON list of school form codes")
    title: str = Field(max_length=300)
    declared_area: str | None = Field(default=None, max_length=64)
    classified_area: str = Field(max_length=64)
    nsp_area: str = Field(max_length=64, description="the effective area the counts use")
    area_source: str = Field(max_length=16)
    confidence: float
    needs_review: bool = False
    model_version: str = Field(max_length=64)
    last_event_id: str = Field(max_length=36)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    # the report whose version holds the record: its next version retracts what it leaves out
    # ("" for records stored before 0007, until a rebuild)
    report_id: str = Field(default="", max_length=36, index=True, sa_column_kwargs={"server_default": ""})


class InsatsRow(NamedTuple):
    """An ``insats_record`` row, in its columns' order (the rebuild builds millions of them)."""

    ruc_id: str
    year: int
    ref: str
    version: int
    lan_kod: str
    huvudman_pseudonym: str
    huvudman_type: str
    status: str
    school_forms: str
    title: str
    declared_area: str | None
    classified_area: str
    nsp_area: str
    area_source: str
    confidence: float
    needs_review: bool
    model_version: str
    last_event_id: str
    updated_at: Any
    report_id: str

    @property
    def key(self) -> InsatsKey:
        return (self.ruc_id, self.year, self.ref)


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
RECORDS = _table(InsatsRecord)
RETRACTIONS = _table(InsatsRetraction)
REPORTS = _table(ReportVersion)
OVERRIDES = _table(AreaOverride)
PROCESSED = _table(ProcessedEvent)
RECORD_COLUMNS = InsatsRow._fields
# Every table the counting state lives in, in the order transactions lock them (processed first).
STATE_TABLES: tuple[Table, ...] = (
    PROCESSED,
    OVERRIDES,
    REPORTS,
    RECORDS,
    RETRACTIONS,
    *COUNT_TABLES.values(),
)
