"""What the counts see of a stored record, written once for both places that read records.

``facts_of`` reads an ``insats_record`` row in Python (the live fold, verify); ``fact_columns``
gives the same facts as SQL expressions over the table (the recount groups millions of records
in the database). Each derived fact is written here twice, side by side, with the arithmetic kept
identical (a float multiplied and compared, never rounded by the database);
``tests/unit/test_batch_apply.py`` holds the two to each other (live against recount).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Integer, Table, case, cast, func, literal_column
from sqlalchemy.sql.elements import ColumnElement

from services.aggregator.counting import InsatsFacts, confidence_bucket, confidence_milli, flag


@functools.lru_cache(maxsize=1024)
def forms_json(school_forms: tuple[str, ...]) -> str:
    """The stored school forms: a handful of combinations, encoded once each."""
    return json.dumps(sorted(set(school_forms)))


@functools.lru_cache(maxsize=1024)
def stored_forms(encoded: str) -> tuple[str, ...]:
    return tuple(json.loads(encoded))


def facts_of(row: Any) -> InsatsFacts:
    """What the counts see of a record (an ``InsatsRow`` or a row mapping)."""
    get = row.__getitem__ if isinstance(row, Mapping) else functools.partial(getattr, row)
    confidence, participants = float(get("confidence")), get("participants")
    return InsatsFacts(
        ruc_id=get("ruc_id"),
        year=get("year"),
        lan_kod=get("lan_kod"),
        status=get("status"),
        school_forms=stored_forms(get("school_forms")),
        nsp_area=get("nsp_area"),
        area_source=get("area_source"),
        huvudman=get("huvudman_pseudonym"),
        classified_area=get("classified_area"),
        declared=flag(get("declared_area") is not None),
        needs_review=flag(bool(get("needs_review"))),
        model_version=get("model_version"),
        confidence_bucket=confidence_bucket(confidence),
        confidence_milli=confidence_milli(confidence),
        participants=participants or 0,
        participants_reported=int(participants is not None),
        start_month=start_month(get("started_on")),
    )


def start_month(started_on: Any) -> tuple[str, ...]:
    """The month an insats started, "YYYY-MM" (its record holds a date; SQLite's SQL a string)."""
    if not started_on:
        return ()
    return (started_on.isoformat()[:7] if isinstance(started_on, dt.date) else str(started_on)[:7],)


# Constants are written into the SQL (no bound parameters), so the GROUP BY repeats the SELECT's
# expressions word for word, as PostgreSQL asks.
def _sql(value: object) -> ColumnElement[Any]:
    return literal_column(f"'{value}'" if isinstance(value, str) else repr(value))


def grouped_facts(values: dict[str, Any]) -> InsatsFacts:
    """A group the recount's SQL returned (``fact_columns`` by name) as the facts it stands for."""
    if "school_forms" in values:
        values["school_forms"] = stored_forms(values["school_forms"])
    if "start_month" in values:
        values["start_month"] = start_month(values["start_month"])
    return InsatsFacts(**values)


def _flag(condition: ColumnElement[Any]) -> ColumnElement[str]:
    return case((condition, _sql("true")), else_=_sql("false"))


def _bucket(confidence: ColumnElement[float]) -> ColumnElement[str]:
    # floor(c × 10), capped at 9, by comparisons: the same double product Python truncates
    scaled = confidence * _sql(10.0)
    return case(*((scaled < _sql(float(k + 1)), _sql(str(k))) for k in range(9)), else_=_sql("9"))


def _milli(confidence: ColumnElement[float], dialect: str) -> ColumnElement[int]:
    # int(c × 1000 + 0.5): SQLite's CAST truncates as Python's int() does, PostgreSQL's rounds
    scaled = confidence * _sql(1000.0) + _sql(0.5)
    return cast(func.floor(scaled) if dialect == "postgresql" else scaled, Integer)


def fact_columns(records: Table, dialect: str) -> dict[str, ColumnElement[Any]]:
    """Every fact of ``InsatsFacts`` as an SQL expression over ``insats_record``."""
    c = records.c
    derived: dict[str, ColumnElement[Any]] = {
        "huvudman": c.huvudman_pseudonym,
        "declared": _flag(c.declared_area.is_not(None)),
        "needs_review": _flag(c.needs_review),
        "confidence_bucket": _bucket(c.confidence),
        "confidence_milli": _milli(c.confidence, dialect),
        "participants": func.coalesce(c.participants, _sql(0)),
        "participants_reported": case((c.participants.is_(None), _sql(0)), else_=_sql(1)),
        "start_month": func.to_char(c.started_on, _sql("YYYY-MM"))
        if dialect == "postgresql"
        else func.substr(c.started_on, _sql(1), _sql(7)),
    }
    return {f: derived[f] if f in derived else c[f] for f in InsatsFacts._fields}
