"""Verify: recompute every count from the per-insats records (pure) and compare with the tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import (
    COUNT_SPEC,
    CountKey,
    CountTable,
    Measures,
    add_into,
    contributions,
    effective_area,
    nonzero,
)
from services.aggregator.facts import facts_of
from services.aggregator.tables import COUNT_TABLES, OVERRIDES, RECORDS


@dataclass(frozen=True)
class Difference:
    key: CountKey
    stored: Measures
    expected: Measures


@dataclass(frozen=True)
class VerifyReport:
    records: int
    differences: list[Difference] = field(default_factory=list)
    area_mismatches: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.area_mismatches


def compare(stored: Mapping[CountKey, Measures], expected: Mapping[CountKey, Measures]) -> list[Difference]:
    """Every key whose stored measures are not what the records add up to (zeros count as absent)."""
    stored, expected = nonzero(stored), nonzero(expected)
    zeros = {k: (0,) * len(COUNT_SPEC[k.table].measures) for k in (*stored, *expected)}
    return [
        Difference(k, stored.get(k, zero), expected.get(k, zero))
        for k, zero in sorted(zeros.items())
        if stored.get(k, zero) != expected.get(k, zero)
    ]


def key_of(name: CountTable, row: Any) -> tuple[CountKey, Measures]:
    """A count table's row as its key and measures."""
    spec = COUNT_SPEC[name]
    dims = tuple(str(row[d.column]) for d in spec.dimensions)
    key = CountKey(name, row["year"], row["ruc_id"], row["lan_kod"], row["status"], dims)
    return key, tuple(int(row[m.column]) for m in spec.measures)


async def stored_counts(conn: AsyncConnection) -> dict[CountKey, Measures]:
    counts: dict[CountKey, Measures] = {}
    for name, table in COUNT_TABLES.items():
        counts |= dict(key_of(name, row) for row in (await conn.execute(select(table))).mappings())
    return nonzero(counts)


async def stream_rows(conn: AsyncConnection, table: Table, chunk: int = 5000) -> AsyncIterator[Any]:
    result = await conn.stream(select(table).execution_options(yield_per=chunk))
    async for row in result.mappings():
        yield row


async def verify(engine: AsyncEngine) -> VerifyReport:
    async with engine.connect() as conn:
        overrides = {
            (r["ruc_id"], r["year"], r["ref"]): r["nsp_area"]
            for r in (await conn.execute(select(OVERRIDES))).mappings()
        }
        expected: dict[CountKey, Measures] = {}  # counting.count_records, folded as the rows stream by
        records = 0
        mismatches: list[tuple[str, int, str]] = []
        async for row in stream_rows(conn, RECORDS):
            records += 1
            add_into(expected, contributions(facts_of(row)))
            key = (row["ruc_id"], row["year"], row["ref"])
            want = effective_area(overrides.get(key), row["declared_area"], row["classified_area"])
            if row["nsp_area"] != want:
                mismatches.append(key)
        stored = await stored_counts(conn)
    return VerifyReport(records=records, differences=compare(stored, expected), area_mismatches=mismatches)
