"""Key lookups are one ``ref IN (…)`` per RUC and year, so PostgreSQL can use the primary key."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql

from shared.db import key_conditions

TABLE = Table(
    "insats_record",
    MetaData(),
    Column("ruc_id", String, primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("ref", String, primary_key=True),
)


def rendered(condition: object) -> str:
    return str(condition.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))  # type: ignore[attr-defined]


def test_keys_are_grouped_by_ruc_and_year_and_cut_into_chunks() -> None:
    keys = [("gu", 2020, f"r{i}") for i in range(5)] + [("su", 2020, "a"), ("gu", 2021, "b")]
    conditions = [rendered(c) for c in key_conditions(TABLE, keys, chunk=3)]
    assert conditions == [
        "insats_record.ruc_id = 'gu' AND insats_record.year = 2020 AND insats_record.ref IN ('r0', 'r1', 'r2')",
        "insats_record.ruc_id = 'gu' AND insats_record.year = 2020 AND insats_record.ref IN ('r3', 'r4')",
        "insats_record.ruc_id = 'su' AND insats_record.year = 2020 AND insats_record.ref IN ('a')",
        "insats_record.ruc_id = 'gu' AND insats_record.year = 2021 AND insats_record.ref IN ('b')",
    ]


def test_no_keys_need_no_query() -> None:
    assert key_conditions(TABLE, []) == []
