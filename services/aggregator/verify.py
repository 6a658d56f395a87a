"""Verify: recompute every count from the per-insats records (pure) and compare with the tables."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.aggregator.counting import CountKey, all_contributions, effective_area
from services.aggregator.store import COUNT_TABLES, OVERRIDES, RECORDS, facts_of


@dataclass(frozen=True)
class Difference:
    key: CountKey
    stored: int
    expected: int


@dataclass(frozen=True)
class VerifyReport:
    records: int
    differences: list[Difference] = field(default_factory=list)
    area_mismatches: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.area_mismatches


def compare(stored: Mapping[CountKey, int], expected: Mapping[CountKey, int]) -> list[Difference]:
    """Every key whose stored count is not what the records add up to (zeros count as absent)."""
    keys = sorted({k for k, n in stored.items() if n} | {k for k, n in expected.items() if n})
    return [
        Difference(k, stored.get(k, 0), expected.get(k, 0))
        for k in keys
        if stored.get(k, 0) != expected.get(k, 0)
    ]


def key_of(table_name: str, row: Any) -> CountKey:
    _, columns = COUNT_TABLES[table_name]
    dims = [str(row[c]) for c in columns]
    return CountKey(table_name, row["year"], row["ruc_id"], row["lan_kod"], row["status"], *dims)  # type: ignore[arg-type]


async def stored_counts(
    conn: AsyncConnection, tables: Mapping[str, Table] | None = None
) -> dict[CountKey, int]:
    counts: dict[CountKey, int] = {}
    for name, (live, _) in COUNT_TABLES.items():
        table = (tables or {}).get(name, live)
        for row in (await conn.execute(select(table))).mappings():
            if row["n"]:
                counts[key_of(name, row)] = int(row["n"])
    return counts


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
        expected: Counter[CountKey] = Counter()  # count_all, folded as the rows stream by
        records = 0
        mismatches: list[tuple[str, int, str]] = []
        async for row in stream_rows(conn, RECORDS):
            records += 1
            expected.update(all_contributions(facts_of(row)))
            key = (row["ruc_id"], row["year"], row["ref"])
            want = effective_area(overrides.get(key), row["declared_area"], row["classified_area"])
            if row["nsp_area"] != want:
                mismatches.append(key)
        stored = await stored_counts(conn)
    return VerifyReport(records=records, differences=compare(stored, expected), area_mismatches=mismatches)
